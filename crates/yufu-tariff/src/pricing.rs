//! Pricing a reading: the reading rules of `billing.md`, the apportioning of
//! consumption over time-of-use bands, tier periods and tariff versions, and
//! the rounding rule. Pure: the caller supplies every input, nothing is read.
//!
//! Time: consumption between two readings at `t0` and `t1` happened in the
//! half-open interval `[t0, t1)`. A reading at exactly 00:00 on 1 July closes
//! June. When that interval crosses a band, month or version boundary and no
//! per-rate registers say how it split, the quantity is apportioned by time
//! (uniform rate), and the charge says so (`apportioned`).

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time};

use crate::model::{Band, Price, Pricing, Tariff, Tiers};

/// Amounts are exact in units of 1e-5 fen: quantity (base units) × price
/// (0.0001 yuan per 1000 base units) = 1e-7 yuan = 1e-5 fen.
pub const EXACT_PER_FEN: i128 = 100_000;

/// Segments one reading may be split into. A gap longer than this (about
/// 45 years of six time-of-use bands a day) is refused rather than looped over.
pub const MAX_SEGMENTS: usize = 100_000;

/// The months precomputed for fast month look-ups: 1970-01 to 2199-12.
const CALENDAR_FIRST_YEAR: i16 = 1970;
const CALENDAR_YEARS: i16 = 230;

/// What pricing needs to know about the meter.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct MeterParams {
    /// CT × PT ratio (倍率): consumption = register advance × multiplier.
    pub multiplier: u32,
    /// The register wraps to zero at this value (base units): e.g.
    /// 1_000_000_000 Wh for a six-digit kWh register with two decimals.
    pub register_modulus: u64,
    /// The most consumption (after the multiplier) that is plausible per hour
    /// of elapsed time; more is held for review. `None`: no limit.
    pub max_per_hour: Option<u64>,
}

impl Default for MeterParams {
    fn default() -> Self {
        Self {
            multiplier: 1,
            register_modulus: 1_000_000_000,
            max_per_hour: None,
        }
    }
}

/// Per-rate registers, indexed by [`Band::index`]: critical peak (DL/T 645
/// "sharp"), peak, flat, valley.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct RateRegisters(pub [u64; 4]);

/// A reading as it arrives.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Reading {
    pub at: Timestamp,
    /// The cumulative total register, in base units (Wh or litres).
    pub register: u64,
    pub rates: Option<RateRegisters>,
    /// An operator reviewed this reading and accepts its size: the
    /// plausibility limit does not apply.
    pub approved: bool,
}

impl Reading {
    pub fn new(at: Timestamp, register: u64) -> Self {
        Self {
            at,
            register,
            rates: None,
            approved: false,
        }
    }
}

/// The last reading that was billed.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct LastReading {
    pub at: Timestamp,
    pub register: u64,
    pub rates: Option<RateRegisters>,
}

impl LastReading {
    pub fn of(reading: &Reading) -> Self {
        Self {
            at: reading.at,
            register: reading.register,
            rates: reading.rates,
        }
    }
}

/// Consumption so far in the current tier period.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct PeriodUsage {
    /// The period's first day (local, in the tariff's zone).
    pub start: Date,
    /// Base units after the multiplier.
    pub used: u64,
}

/// A meter's billing state: everything pricing remembers between readings.
/// The engine stores it with the meter and passes it back in.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct BillingState {
    pub last: Option<LastReading>,
    pub period: Option<PeriodUsage>,
    /// The exact total minus the fen posted, in 1e-5 fen; always in
    /// `[-50_000, 50_000)`, so posted fen = exact total rounded half-up.
    pub carry: i64,
}

/// What a charge line is for.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum LineKind {
    Flat,
    /// Tier 1, 2, 3…
    Tier(u8),
    Band(Band),
    /// A tier adder on top of time-of-use.
    Surcharge(u8),
}

impl LineKind {
    /// `flat`, `tier_1`, `peak`, `surcharge_tier_2`, …
    pub fn label(&self) -> String {
        match self {
            LineKind::Flat => "flat".to_owned(),
            LineKind::Tier(n) => format!("tier_{n}"),
            LineKind::Band(b) => b.as_str().to_owned(),
            LineKind::Surcharge(n) => format!("surcharge_tier_{n}"),
        }
    }
}

impl serde::Serialize for LineKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.label())
    }
}

/// One line of a charge.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct ChargeLine {
    pub kind: LineKind,
    /// Base units (Wh or litres), after the multiplier.
    pub quantity: u64,
    pub unit_price: Price,
    /// This line's share of the posted fen: the lines of a charge sum to its total.
    pub amount_fen: i64,
    /// The exact amount in 1e-5 fen.
    #[serde(skip)]
    pub exact: i128,
}

/// A billed reading.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct Charge {
    /// Consumption, base units after the multiplier.
    pub quantity: u64,
    pub lines: Vec<ChargeLine>,
    pub total_fen: i64,
    /// The quantity was split over bands, tier periods or versions by time,
    /// not by registers.
    pub apportioned: bool,
    /// The register wrapped around its capacity.
    pub rollover: bool,
    /// Per-rate registers priced the bands.
    pub used_rate_registers: bool,
}

/// The verdict on one reading. Only `Billed` and `Opening` (and
/// `NoTariff`, to unblock the meter) move the billing state.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Priced and to be posted.
    Billed(Charge),
    /// The meter's first reading: the baseline, nothing to bill.
    Opening,
    /// Same instant and value as the last billed reading: ignore.
    Duplicate,
    /// Same instant as the last billed reading, different value: reject and alarm.
    Conflict { billed_register: u64, register: u64 },
    /// Older than the last billed reading: store, do not bill, flag.
    OutOfOrder { last_billed_at: Timestamp },
    /// The register (or a rate register) went backwards without a plausible
    /// wrap: not billed; possible tamper or fault.
    NegativeDelta { from: u64, to: u64 },
    /// More consumption than plausible for the elapsed time: held for review.
    ImplausibleJump { quantity: u64, limit: u64 },
    /// A register value at or above the register's capacity.
    RegisterOutOfRange { register: u64, modulus: u64 },
    /// Consumption before the tariff's first version: not priced (tariffs
    /// never apply retroactively); the baseline moves on so later readings
    /// bill, and the quantity is reported for review.
    NoTariff {
        quantity: u64,
        first_effective: Timestamp,
    },
    /// The gap needs more than [`MAX_SEGMENTS`] segments.
    GapTooLong { from: Timestamp, to: Timestamp },
}

impl Verdict {
    /// A sentence for a person (notes in quotes, alarms).
    pub fn explain(&self) -> String {
        match self {
            Verdict::Billed(c) => format!("billed {} fen", c.total_fen),
            Verdict::Opening => "opening reading: the baseline, not billed".into(),
            Verdict::Duplicate => "duplicate of the last billed reading: ignored".into(),
            Verdict::Conflict {
                billed_register,
                register,
            } => format!(
                "same instant as the last billed reading but register {register} instead of {billed_register}: rejected"
            ),
            Verdict::OutOfOrder { last_billed_at } => {
                format!("older than the last billed reading ({last_billed_at}): not billed again")
            }
            Verdict::NegativeDelta { from, to } => {
                format!("register went backwards from {from} to {to}: not billed, needs review")
            }
            Verdict::ImplausibleJump { quantity, limit } => format!(
                "consumption {quantity} exceeds the plausible {limit} for the elapsed time: held for review"
            ),
            Verdict::RegisterOutOfRange { register, modulus } => {
                format!(
                    "register {register} is not below the register capacity {modulus}: rejected"
                )
            }
            Verdict::NoTariff {
                quantity,
                first_effective,
            } => format!(
                "consumption {quantity} before the tariff's first version ({first_effective}): not priced"
            ),
            Verdict::GapTooLong { from, to } => {
                format!("gap from {from} to {to} is too long to apportion")
            }
        }
    }
}

/// A verdict and the state to keep.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Priced {
    pub verdict: Verdict,
    pub state: BillingState,
}

/// A tariff prepared for pricing: the tariff plus a table of month starts in
/// its zone, so the common case needs no time-zone arithmetic. Build it once
/// per tariff and reuse it for every reading.
#[derive(Clone, Debug)]
pub struct Pricer {
    tariff: Tariff,
    month_starts: Vec<Timestamp>,
    month_dates: Vec<Date>,
}

/// One stretch of time with one price context.
#[derive(Clone, Copy, Debug)]
struct Segment {
    start: Timestamp,
    end: Timestamp,
    version: usize,
    month: Date,
    band: Option<Band>,
}

impl Pricer {
    pub fn new(tariff: Tariff) -> Self {
        let mut month_starts =
            Vec::with_capacity(usize::try_from(CALENDAR_YEARS).unwrap_or(0) * 12);
        let mut month_dates = Vec::with_capacity(month_starts.capacity());
        for year in CALENDAR_FIRST_YEAR..CALENDAR_FIRST_YEAR + CALENDAR_YEARS {
            for month in 1..=12 {
                let Ok(d) = Date::new(year, month, 1) else {
                    continue;
                };
                if let Ok(t) = tariff
                    .tz
                    .to_timestamp(DateTime::from_parts(d, Time::midnight()))
                {
                    month_starts.push(t);
                    month_dates.push(d);
                }
            }
        }
        Self {
            tariff,
            month_starts,
            month_dates,
        }
    }

    pub fn tariff(&self) -> &Tariff {
        &self.tariff
    }

    /// The first day of the local month containing `t`, that month's start
    /// and the next month's start.
    fn month_of(&self, t: Timestamp) -> (Date, Timestamp, Timestamp) {
        let i = self.month_starts.partition_point(|s| *s <= t);
        if i >= 1 && i < self.month_starts.len() {
            return (
                self.month_dates[i - 1],
                self.month_starts[i - 1],
                self.month_starts[i],
            );
        }
        // Outside the table: do the arithmetic.
        let d = self.tariff.tz.to_datetime(t).date().first_of_month();
        let start = self.local_midnight(d);
        let next = self.local_midnight(
            d.checked_add(jiff::Span::new().months(1))
                .unwrap_or(Date::MAX),
        );
        (d, start, next)
    }

    fn local_midnight(&self, d: Date) -> Timestamp {
        self.tariff
            .tz
            .to_timestamp(DateTime::from_parts(d, Time::midnight()))
            .unwrap_or(Timestamp::MAX)
    }

    fn version_end(&self, version: usize) -> Timestamp {
        self.tariff
            .versions
            .get(version + 1)
            .map_or(Timestamp::MAX, |v| v.effective_from)
    }

    /// Splits `[t0, t1)` at every version, month (when tiers or bands care)
    /// and band boundary.
    fn segments(&self, t0: Timestamp, t1: Timestamp) -> Option<Vec<Segment>> {
        let mut out = Vec::with_capacity(4);
        let mut cursor = t0;
        while cursor < t1 {
            if out.len() >= MAX_SEGMENTS {
                return None;
            }
            let seg = self.segment_at(cursor, t1)?;
            cursor = seg.end;
            out.push(seg);
        }
        Some(out)
    }

    /// The segment starting at `cursor`: it ends at `t1` or at the first
    /// version, month or band boundary before it.
    fn segment_at(&self, cursor: Timestamp, t1: Timestamp) -> Option<Segment> {
        let version = self.tariff.version_index_at(cursor)?;
        let mut end = t1.min(self.version_end(version));
        let pricing = &self.tariff.versions[version].pricing;
        let (month, _, next_month) = self.month_of(cursor);
        let mut band = None;
        match pricing {
            Pricing::Flat { .. } => {}
            Pricing::Tiered(_) => end = end.min(next_month),
            Pricing::TimeOfUse { schedule, .. } => {
                end = end.min(next_month);
                let local = self.tariff.tz.to_datetime(cursor);
                let minute =
                    u16::try_from(i32::from(local.hour()) * 60 + i32::from(local.minute()))
                        .unwrap_or(0);
                let spans = &schedule.days[usize::from(month.month().unsigned_abs()) - 1];
                if let Some(span) = spans
                    .iter()
                    .find(|s| s.start_min <= minute && minute < s.end_min)
                {
                    band = Some(span.band);
                    let span_end = if span.end_min >= 1440 {
                        self.local_midnight(local.date().tomorrow().unwrap_or(Date::MAX))
                    } else {
                        let t = Time::new(
                            i8::try_from(span.end_min / 60).unwrap_or(0),
                            i8::try_from(span.end_min % 60).unwrap_or(0),
                            0,
                            0,
                        )
                        .unwrap_or(Time::midnight());
                        self.tariff
                            .tz
                            .to_timestamp(DateTime::from_parts(local.date(), t))
                            .unwrap_or(Timestamp::MAX)
                    };
                    end = end.min(span_end);
                }
            }
        }
        // A DST gap can put a local boundary at or before the cursor:
        // always make progress.
        if end <= cursor {
            end = t1.min(
                cursor
                    .checked_add(jiff::SignedDuration::from_secs(60))
                    .unwrap_or(t1),
            );
        }
        Some(Segment {
            start: cursor,
            end,
            version,
            month,
            band,
        })
    }

    /// Prices one reading against the meter's state. See [`Verdict`].
    pub fn price(&self, meter: &MeterParams, state: &BillingState, reading: &Reading) -> Priced {
        let keep = |verdict| Priced {
            verdict,
            state: *state,
        };
        if reading.register >= meter.register_modulus {
            return keep(Verdict::RegisterOutOfRange {
                register: reading.register,
                modulus: meter.register_modulus,
            });
        }
        let Some(last) = state.last else {
            let mut next = *state;
            next.last = Some(LastReading::of(reading));
            return Priced {
                verdict: Verdict::Opening,
                state: next,
            };
        };
        if reading.at == last.at {
            return keep(if reading.register == last.register {
                Verdict::Duplicate
            } else {
                Verdict::Conflict {
                    billed_register: last.register,
                    register: reading.register,
                }
            });
        }
        if reading.at < last.at {
            return keep(Verdict::OutOfOrder {
                last_billed_at: last.at,
            });
        }

        let limit = meter
            .max_per_hour
            .filter(|_| !reading.approved)
            .map(|per_hour| {
                let ms = (reading.at - last.at).as_millis().max(1);
                let hours = u64::try_from((ms + 3_599_999) / 3_600_000).unwrap_or(u64::MAX);
                per_hour.saturating_mul(hours)
            });
        let Some((register_advance, rollover)) = advance(
            last.register,
            reading.register,
            meter.register_modulus,
            limit,
            meter.multiplier,
        ) else {
            return keep(Verdict::NegativeDelta {
                from: last.register,
                to: reading.register,
            });
        };
        let Some(quantity) = register_advance.checked_mul(u64::from(meter.multiplier)) else {
            return keep(Verdict::ImplausibleJump {
                quantity: u64::MAX,
                limit: limit.unwrap_or(u64::MAX),
            });
        };
        if let Some(limit) = limit.filter(|l| quantity > *l) {
            return keep(Verdict::ImplausibleJump { quantity, limit });
        }

        let first = self
            .tariff
            .versions
            .first()
            .map_or(Timestamp::MAX, |v| v.effective_from);
        if last.at < first {
            let mut next = *state;
            next.last = Some(LastReading::of(reading));
            return Priced {
                verdict: Verdict::NoTariff {
                    quantity,
                    first_effective: first,
                },
                state: next,
            };
        }
        let wants_rates = last.rates.is_some()
            && reading.rates.is_some()
            && self
                .tariff
                .versions
                .iter()
                .any(|v| matches!(v.pricing, Pricing::TimeOfUse { .. }));
        let mut lines: Vec<ChargeLine> = Vec::with_capacity(3);
        let mut period = state.period;
        // The common case — one price context between two readings — needs
        // no segment list and no apportioning.
        if !wants_rates {
            let Some(first_seg) = self.segment_at(last.at, reading.at) else {
                return keep(Verdict::GapTooLong {
                    from: last.at,
                    to: reading.at,
                });
            };
            if first_seg.end >= reading.at {
                self.price_segment(
                    &first_seg,
                    first_seg.band,
                    quantity,
                    &mut period,
                    &mut lines,
                );
                return billed(
                    reading,
                    lines,
                    quantity,
                    state.carry,
                    period,
                    rollover,
                    false,
                    false,
                );
            }
        }
        let Some(segments) = self.segments(last.at, reading.at) else {
            return keep(Verdict::GapTooLong {
                from: last.at,
                to: reading.at,
            });
        };

        // Per-rate registers price the bands when the tariff has bands and
        // both readings carry them.
        let rate_quantities = match (
            &self.tariff.versions[segments[0].version].pricing,
            last.rates,
            reading.rates,
        ) {
            (Pricing::TimeOfUse { .. }, Some(old), Some(new)) => {
                let mut q = [0u64; 4];
                for (b, slot) in q.iter_mut().enumerate() {
                    let Some((adv, _)) = advance(
                        old.0[b],
                        new.0[b],
                        meter.register_modulus,
                        limit,
                        meter.multiplier,
                    ) else {
                        return keep(Verdict::NegativeDelta {
                            from: old.0[b],
                            to: new.0[b],
                        });
                    };
                    *slot = adv.saturating_mul(u64::from(meter.multiplier));
                }
                Some(q)
            }
            _ => None,
        };

        let apportioned;
        if let Some(rate_q) = rate_quantities {
            apportioned = segments.len() > 1;
            for band in Band::ALL {
                let q = rate_q[band.index()];
                if q == 0 {
                    continue;
                }
                let mine: Vec<&Segment> =
                    segments.iter().filter(|s| s.band == Some(band)).collect();
                // The meter's own schedule may differ from the tariff's: a band
                // with no time in this interval is priced in the last segment.
                let chosen: Vec<&Segment> = if mine.is_empty() {
                    vec![&segments[segments.len() - 1]]
                } else {
                    mine
                };
                let shares = apportion(q, &chosen);
                for (seg, share) in chosen.iter().zip(shares) {
                    self.price_segment(seg, Some(band), share, &mut period, &mut lines);
                }
            }
        } else {
            apportioned = segments.len() > 1;
            let refs: Vec<&Segment> = segments.iter().collect();
            let shares = apportion(quantity, &refs);
            for (seg, share) in segments.iter().zip(shares) {
                self.price_segment(seg, seg.band, share, &mut period, &mut lines);
            }
        }

        let quantity = rate_quantities.map_or(quantity, |q| q.iter().sum());
        billed(
            reading,
            lines,
            quantity,
            state.carry,
            period,
            rollover,
            apportioned,
            rate_quantities.is_some(),
        )
    }

    /// Adds the lines for `quantity` consumed in `seg` (in `band`, for
    /// time-of-use), advancing the tier period usage.
    fn price_segment(
        &self,
        seg: &Segment,
        band: Option<Band>,
        quantity: u64,
        period: &mut Option<PeriodUsage>,
        lines: &mut Vec<ChargeLine>,
    ) {
        if quantity == 0 {
            return;
        }
        match &self.tariff.versions[seg.version].pricing {
            Pricing::Flat { price } => add_line(lines, LineKind::Flat, quantity, *price),
            Pricing::Tiered(tiers) => {
                split_tiers(tiers, seg.month, quantity, period, lines, LineKind::Tier)
            }
            Pricing::TimeOfUse {
                schedule,
                surcharge,
            } => {
                let band = band.unwrap_or(Band::Flat);
                add_line(lines, LineKind::Band(band), quantity, schedule.price(band));
                if let Some(tiers) = surcharge {
                    split_tiers(
                        tiers,
                        seg.month,
                        quantity,
                        period,
                        lines,
                        LineKind::Surcharge,
                    );
                }
            }
        }
    }
}

/// Posts the lines and builds the `Billed` verdict with the state to keep.
#[allow(clippy::too_many_arguments)]
fn billed(
    reading: &Reading,
    mut lines: Vec<ChargeLine>,
    quantity: u64,
    carry: i64,
    period: Option<PeriodUsage>,
    rollover: bool,
    apportioned: bool,
    used_rate_registers: bool,
) -> Priced {
    let (total_fen, carry) = post(&mut lines, carry);
    Priced {
        verdict: Verdict::Billed(Charge {
            quantity,
            lines,
            total_fen,
            apportioned,
            rollover,
            used_rate_registers,
        }),
        state: BillingState {
            last: Some(LastReading::of(reading)),
            period,
            carry,
        },
    }
}

/// The register advance from `from` to `to` and whether it wrapped. A smaller
/// `to` is a wrap only if the wrapped advance is plausible: within `limit`
/// when there is one, else under a tenth of the register's capacity (a real
/// wrap follows a reading near the top; a register that fell back is a fault).
fn advance(
    from: u64,
    to: u64,
    modulus: u64,
    limit: Option<u64>,
    multiplier: u32,
) -> Option<(u64, bool)> {
    if to >= from {
        return Some((to - from, false));
    }
    let wrapped = modulus.checked_sub(from)?.checked_add(to)?;
    let plausible = match limit {
        Some(l) => wrapped.saturating_mul(u64::from(multiplier)) <= l,
        None => wrapped < modulus / 10,
    };
    plausible.then_some((wrapped, true))
}

/// Splits `total` over segments in proportion to their duration, exactly:
/// cumulative shares are floored, so the parts always sum to `total`.
fn apportion(total: u64, segments: &[&Segment]) -> Vec<u64> {
    if segments.len() == 1 {
        return vec![total];
    }
    let durations: Vec<i128> = segments
        .iter()
        .map(|s| (s.end - s.start).as_millis().max(0))
        .collect();
    let whole: i128 = durations.iter().sum();
    if whole == 0 {
        let mut v = vec![0; segments.len()];
        v[0] = total;
        return v;
    }
    let mut out = Vec::with_capacity(segments.len());
    let mut elapsed: i128 = 0;
    let mut given: u64 = 0;
    for d in durations {
        elapsed += d;
        let upto = u64::try_from(i128::from(total) * elapsed / whole).unwrap_or(total);
        out.push(upto - given);
        given = upto;
    }
    out
}

fn split_tiers(
    tiers: &Tiers,
    month: Date,
    quantity: u64,
    period: &mut Option<PeriodUsage>,
    lines: &mut Vec<ChargeLine>,
    kind: fn(u8) -> LineKind,
) {
    let start = tiers.period.start_of(month);
    let usage = match period {
        Some(p) if p.start == start => p,
        _ => period.insert(PeriodUsage { start, used: 0 }),
    };
    let bounds = &tiers.bounds[usize::from(month.month().unsigned_abs()) - 1];
    let mut left = quantity;
    let mut used = usage.used;
    for (i, price) in tiers.prices.iter().enumerate() {
        if left == 0 {
            break;
        }
        let room = bounds.get(i).map_or(u64::MAX, |b| b.saturating_sub(used));
        let take = left.min(room);
        if take > 0 {
            add_line(
                lines,
                kind(u8::try_from(i + 1).unwrap_or(u8::MAX)),
                take,
                *price,
            );
            used += take;
            left -= take;
        }
    }
    usage.used = used;
}

/// Adds to the line of the same kind and price, or starts one.
fn add_line(lines: &mut Vec<ChargeLine>, kind: LineKind, quantity: u64, price: Price) {
    let exact = i128::from(quantity) * i128::from(price.0);
    if let Some(line) = lines
        .iter_mut()
        .find(|l| l.kind == kind && l.unit_price == price)
    {
        line.quantity += quantity;
        line.exact += exact;
    } else {
        lines.push(ChargeLine {
            kind,
            quantity,
            unit_price: price,
            amount_fen: 0,
            exact,
        });
    }
}

/// Rounds half-up to the fen: floor(x / 1e5 + 1/2).
pub fn round_half_up(exact: i128) -> i128 {
    (exact + EXACT_PER_FEN / 2).div_euclid(EXACT_PER_FEN)
}

/// Posts the lines: each line's fen is the change in the rounded running
/// total (starting from the carried remainder), so the lines sum to the total
/// and the meter's posted fen always equal its exact total rounded half-up.
/// Returns the total fen and the new carry.
fn post(lines: &mut [ChargeLine], carry: i64) -> (i64, i64) {
    let mut running = i128::from(carry);
    let mut posted = round_half_up(running);
    let start = posted;
    for line in lines.iter_mut() {
        running += line.exact;
        let now = round_half_up(running);
        line.amount_fen = i64::try_from(now - posted).unwrap_or(i64::MAX);
        posted = now;
    }
    let total = posted - start;
    let new_carry = running - total * EXACT_PER_FEN;
    (
        i64::try_from(total).unwrap_or(i64::MAX),
        i64::try_from(new_carry).unwrap_or(0),
    )
}

/// Fixed charges falling due in `(from, to]`: each charge's periods (days or
/// months, local to the tariff) that start in that interval, with the version
/// in force at the period's start. The engine's scheduler posts each
/// (charge, period start) once; the pair is its idempotency key.
pub fn fixed_charges_due(
    tariff: &Tariff,
    from: Timestamp,
    to: Timestamp,
) -> Vec<(Date, crate::model::FixedCharge)> {
    let mut due = Vec::new();
    if to <= from {
        return due;
    }
    let tz = &tariff.tz;
    let mut day = tz.to_datetime(from).date();
    let last_day = tz.to_datetime(to).date();
    while day <= last_day {
        if let Ok(start) = tz.to_timestamp(DateTime::from_parts(day, Time::midnight()))
            && start > from
            && start <= to
            && let Some(version) = tariff.version_at(start)
        {
            for charge in &version.fixed_charges {
                let falls = match charge.every {
                    crate::model::FixedEvery::Day => true,
                    crate::model::FixedEvery::Month => day.day() == 1,
                };
                if falls {
                    due.push((day, charge.clone()));
                }
            }
        }
        let Some(next) = day.tomorrow().ok() else {
            break;
        };
        day = next;
    }
    due
}
