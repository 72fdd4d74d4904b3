//! What a tariff is. Every number is an integer: prices in 0.0001 yuan per
//! billing unit (kWh, m³), quantities in register base units (Wh, litres).

use std::fmt;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use yufu_domain::{Fen, Utility};

/// Register base units per billing unit: 1000 Wh per kWh, 1000 L per m³.
pub const BASE_PER_UNIT: u64 = 1000;
/// Price units per yuan: prices carry four decimals of a yuan.
pub const PRICE_PER_YUAN: i64 = 10_000;

/// A unit price in 0.0001 yuan per kWh (electricity) or per m³ (water, gas).
/// Negative prices are refused at parse time; zero is allowed (e.g. a tier
/// adder of nothing).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize)]
#[serde(transparent)]
pub struct Price(pub i64);

impl Price {
    /// Parses a decimal yuan amount with at most four decimals, e.g. `"0.5883"`,
    /// without floating point. The error says what is wrong.
    pub fn parse_yuan(s: &str) -> Result<Price, String> {
        let t = s.trim();
        let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
        if whole.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(format!("'{s}' is not a price in yuan like \"0.5883\""));
        }
        if frac.len() > 4 {
            return Err(format!(
                "'{s}' has {} decimals; prices carry at most 4 (0.0001 yuan)",
                frac.len()
            ));
        }
        let whole: i64 = whole.parse().map_err(|_| format!("'{s}' is too large"))?;
        let frac: i64 = format!("{frac:0<4}")
            .parse()
            .map_err(|_| format!("'{s}' is not a price"))?;
        whole
            .checked_mul(PRICE_PER_YUAN)
            .and_then(|w| w.checked_add(frac))
            .filter(|p| *p <= 1_000_000 * PRICE_PER_YUAN)
            .map(Price)
            .ok_or_else(|| format!("'{s}' is above 1,000,000 yuan per unit"))
    }
}

impl fmt::Display for Price {
    /// Yuan with four decimals: `0.5883`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let a = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:04}", a / 10_000, a % 10_000)
    }
}

impl fmt::Debug for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Price({self})")
    }
}

/// A quantity in base units shown in kWh or m³: `260`, or `12.5` with
/// up to three decimals.
pub fn show_units(base: u64) -> String {
    if base.is_multiple_of(BASE_PER_UNIT) {
        (base / BASE_PER_UNIT).to_string()
    } else {
        let frac = format!("{:03}", base % BASE_PER_UNIT);
        format!("{}.{}", base / BASE_PER_UNIT, frac.trim_end_matches('0'))
    }
}

/// A time-of-use band (时段).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Band {
    /// 尖峰 — DL/T 645's "sharp" (尖) register.
    CriticalPeak,
    /// 峰
    Peak,
    /// 平
    Flat,
    /// 谷
    Valley,
}

impl Band {
    pub const ALL: [Band; 4] = [Band::CriticalPeak, Band::Peak, Band::Flat, Band::Valley];

    pub fn as_str(self) -> &'static str {
        match self {
            Band::CriticalPeak => "critical_peak",
            Band::Peak => "peak",
            Band::Flat => "flat",
            Band::Valley => "valley",
        }
    }

    pub fn index(self) -> usize {
        match self {
            Band::CriticalPeak => 0,
            Band::Peak => 1,
            Band::Flat => 2,
            Band::Valley => 3,
        }
    }

    pub fn parse(s: &str) -> Option<Band> {
        Band::ALL.into_iter().find(|b| b.as_str() == s)
    }
}

/// How long a tier period (阶梯周期) lasts.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodKind {
    Month,
    /// Three months.
    Season,
    Year,
}

impl PeriodKind {
    pub fn months(self) -> i8 {
        match self {
            PeriodKind::Month => 1,
            PeriodKind::Season => 3,
            PeriodKind::Year => 12,
        }
    }
}

/// The tier period: its length and the month periods are anchored at (1 =
/// January), e.g. seasons starting in March are Mar–May, Jun–Aug, …
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize)]
pub struct TierPeriod {
    pub kind: PeriodKind,
    pub start_month: i8,
}

impl TierPeriod {
    /// The first day of the period that contains `date`.
    pub fn start_of(&self, date: Date) -> Date {
        let len = i32::from(self.kind.months());
        let months_since_anchor =
            (i32::from(date.month()) - i32::from(self.start_month)).rem_euclid(len);
        let first = date.first_of_month();
        // Stepping back whole months from the first of a month cannot fail
        // for any date jiff can represent after year -9998.
        first
            .checked_sub(jiff::Span::new().months(months_since_anchor))
            .unwrap_or(first)
    }

    /// The first day of the next period.
    pub fn next_start(&self, period_start: Date) -> Date {
        period_start
            .checked_add(jiff::Span::new().months(self.kind.months()))
            .unwrap_or(Date::MAX)
    }
}

/// Tiers (阶梯): consumption within a tier period is split at the bounds,
/// each part priced at its tier's price.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct Tiers {
    pub period: TierPeriod,
    /// Per calendar month (index 0 = January): the upper bounds, in base
    /// units, of every tier but the last; strictly increasing; the same
    /// number of bounds every month. Bounds of the month in which the
    /// consumption happens apply (Guangdong widens them May–October).
    pub bounds: [Vec<u64>; 12],
    /// One price per tier: `bounds.len() + 1` of them. For a surcharge on top
    /// of time-of-use these are adders.
    pub prices: Vec<Price>,
}

/// One span of a day in a time-of-use schedule, in minutes after local
/// midnight: `[start, end)`, `end` at most 1440.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize)]
pub struct BandSpan {
    pub start_min: u16,
    pub end_min: u16,
    pub band: Band,
}

/// Time-of-use (分时): which band each minute of the day is in, per month.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct TouSchedule {
    /// Per calendar month (index 0 = January): spans sorted by start,
    /// covering 00:00–24:00 exactly once.
    pub days: [Vec<BandSpan>; 12],
    /// Price per band, indexed by [`Band::index`]; every band the schedule
    /// uses has one.
    pub prices: [Option<Price>; 4],
}

impl TouSchedule {
    pub fn price(&self, band: Band) -> Price {
        self.prices[band.index()].unwrap_or_default()
    }
}

/// How consumption is priced.
#[expect(
    clippy::large_enum_variant,
    reason = "a tariff holds a handful of versions for its whole life; boxing buys nothing"
)]
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Pricing {
    Flat {
        price: Price,
    },
    Tiered(Tiers),
    TimeOfUse {
        schedule: TouSchedule,
        /// A tiered adder on top of the band price ("tier by total, adder by band").
        surcharge: Option<Tiers>,
    },
}

/// How often a fixed charge falls due.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FixedEvery {
    Day,
    Month,
}

/// A standing charge (e.g. a monthly service fee), posted by the engine's
/// scheduler once per period in the tariff's time zone.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct FixedCharge {
    pub name: String,
    pub every: FixedEvery,
    pub amount: Fen,
}

/// One version of a tariff: valid from its instant until the next version's.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct TariffVersion {
    /// Local date (in the tariff's zone) from whose midnight it applies.
    pub effective_date: Date,
    /// That midnight as an instant.
    pub effective_from: Timestamp,
    pub pricing: Pricing,
    pub fixed_charges: Vec<FixedCharge>,
}

/// A tariff: versions in effective order, all in one time zone.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Tariff {
    pub id: String,
    pub name: String,
    pub utility: Utility,
    /// Where the numbers come from (e.g. "Guangdong DRC, 2024 — example values").
    pub source: Option<String>,
    pub timezone: String,
    #[serde(skip)]
    pub tz: TimeZone,
    /// Sorted by `effective_from`, strictly increasing; never empty.
    pub versions: Vec<TariffVersion>,
}

impl Tariff {
    /// The index of the version in force at `at`, or `None` before the first.
    pub fn version_index_at(&self, at: Timestamp) -> Option<usize> {
        let n = self.versions.partition_point(|v| v.effective_from <= at);
        n.checked_sub(1)
    }

    /// The version in force at `at`.
    pub fn version_at(&self, at: Timestamp) -> Option<&TariffVersion> {
        self.version_index_at(at).map(|i| &self.versions[i])
    }

    /// The billing unit's name for people: kWh or m³.
    pub fn unit_name(&self) -> &'static str {
        match self.utility {
            Utility::Electricity => "kWh",
            Utility::Water | Utility::Gas => "m³",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn prices_parse_exactly() {
        assert_eq!(Price::parse_yuan("0.5883"), Ok(Price(5883)));
        assert_eq!(Price::parse_yuan("1.02"), Ok(Price(10200)));
        assert_eq!(Price::parse_yuan("3"), Ok(Price(30000)));
        assert!(
            Price::parse_yuan("0.58831")
                .unwrap_err()
                .contains("5 decimals")
        );
        assert!(Price::parse_yuan("-1").is_err());
        assert!(Price::parse_yuan("1e3").is_err());
        assert_eq!(Price(5883).to_string(), "0.5883");
        assert_eq!(Price(12750).to_string(), "1.2750");
    }

    #[test]
    fn tier_periods_start_where_they_should() {
        let month = TierPeriod {
            kind: PeriodKind::Month,
            start_month: 1,
        };
        assert_eq!(month.start_of(date(2026, 7, 31)), date(2026, 7, 1));
        let year = TierPeriod {
            kind: PeriodKind::Year,
            start_month: 1,
        };
        assert_eq!(year.start_of(date(2026, 7, 31)), date(2026, 1, 1));
        let season = TierPeriod {
            kind: PeriodKind::Season,
            start_month: 3,
        };
        assert_eq!(season.start_of(date(2026, 2, 10)), date(2025, 12, 1));
        assert_eq!(season.start_of(date(2026, 3, 1)), date(2026, 3, 1));
        assert_eq!(season.next_start(date(2025, 12, 1)), date(2026, 3, 1));
        let fiscal = TierPeriod {
            kind: PeriodKind::Year,
            start_month: 7,
        };
        assert_eq!(fiscal.start_of(date(2026, 6, 30)), date(2025, 7, 1));
    }
}
