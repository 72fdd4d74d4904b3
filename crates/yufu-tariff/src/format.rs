//! The TOML tariff file format (documented in `docs/tariffs.md`).
//!
//! Parsing is two steps: serde reads the file into spanned raw structs
//! (unknown keys and wrong types are refused there, with toml's own line),
//! then `build` checks the meaning — bounds increasing, months covered once,
//! bands without gaps or overlaps, prices with at most four decimals — and
//! names the line of the offending value.

use std::ops::Range;

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use serde::Deserialize;
use toml::Spanned;
use yufu_domain::{Fen, Utility};

use crate::model::*;

/// A tariff file problem: the file, the line when known, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {message}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
pub struct TariffFileError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTariff {
    id: Spanned<String>,
    name: Spanned<String>,
    utility: Spanned<String>,
    timezone: Option<Spanned<String>>,
    source: Option<String>,
    #[serde(default)]
    version: Vec<Spanned<RawVersion>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVersion {
    effective_from: Spanned<toml::Value>,
    kind: Spanned<String>,
    price: Option<Spanned<String>>,
    period: Option<Spanned<String>>,
    period_start_month: Option<Spanned<i64>>,
    prices: Option<Spanned<toml::Value>>,
    bounds: Option<Vec<Spanned<RawBounds>>>,
    schedule: Option<Vec<Spanned<RawSchedule>>>,
    surcharge: Option<Spanned<RawTiers>>,
    #[serde(default)]
    fixed: Vec<Spanned<RawFixed>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTiers {
    period: Option<Spanned<String>>,
    period_start_month: Option<Spanned<i64>>,
    prices: Spanned<Vec<Spanned<String>>>,
    bounds: Vec<Spanned<RawBounds>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBounds {
    months: Option<Spanned<Vec<Spanned<i64>>>>,
    upper: Spanned<Vec<Spanned<toml::Value>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    months: Option<Spanned<Vec<Spanned<i64>>>>,
    bands: Spanned<Vec<Spanned<RawSpan>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpan {
    from: Spanned<String>,
    to: Spanned<String>,
    band: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFixed {
    name: Spanned<String>,
    every: Spanned<String>,
    amount: Spanned<String>,
}

/// Turns byte offsets into line numbers and builds errors.
struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    fn line(&self, span: &Range<usize>) -> usize {
        let end = span.start.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    fn err(&self, span: &Range<usize>, message: impl Into<String>) -> TariffFileError {
        TariffFileError {
            file: self.file.to_owned(),
            line: Some(self.line(span)),
            message: message.into(),
        }
    }
}

/// Parses a tariff file. `file` is the name used in error messages; no IO.
pub fn parse_tariff(file: &str, text: &str) -> Result<Tariff, TariffFileError> {
    let ctx = Ctx { file, text };
    let raw: RawTariff = toml::from_str(text).map_err(|e| TariffFileError {
        file: file.to_owned(),
        line: e.span().map(|s| ctx.line(&s)),
        message: e
            .message()
            .lines()
            .next()
            .unwrap_or("invalid TOML")
            .to_owned(),
    })?;
    build(&ctx, raw)
}

fn build(ctx: &Ctx<'_>, raw: RawTariff) -> Result<Tariff, TariffFileError> {
    let id = raw.id.get_ref();
    if id.is_empty()
        || id.len() > 64
        || !id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(ctx.err(
            &raw.id.span(),
            format!("id '{id}' must be 1–64 of a–z, 0–9 and '-'"),
        ));
    }
    if raw.name.get_ref().trim().is_empty() {
        return Err(ctx.err(&raw.name.span(), "name must not be empty"));
    }
    let utility: Utility = raw
        .utility
        .get_ref()
        .parse()
        .map_err(|e: yufu_domain::DomainError| ctx.err(&raw.utility.span(), e.to_string()))?;
    let timezone = raw
        .timezone
        .as_ref()
        .map_or("Asia/Shanghai", |t| t.get_ref().as_str())
        .to_owned();
    let tz = TimeZone::get(&timezone).map_err(|_| {
        let span = raw.timezone.as_ref().map_or(0..0, Spanned::span);
        ctx.err(
            &span,
            format!("unknown time zone '{timezone}'; use an IANA name such as Asia/Shanghai"),
        )
    })?;
    if raw.version.is_empty() {
        return Err(TariffFileError {
            file: ctx.file.to_owned(),
            line: None,
            message: "no [[version]]: a tariff needs at least one version".into(),
        });
    }
    let mut versions: Vec<TariffVersion> = Vec::with_capacity(raw.version.len());
    for v in &raw.version {
        let version = build_version(ctx, utility, &tz, v.get_ref())?;
        if let Some(prev) = versions.last()
            && version.effective_date <= prev.effective_date
        {
            return Err(ctx.err(
                &v.get_ref().effective_from.span(),
                format!(
                    "effective_from {} is not after the previous version's {}; list versions in date order",
                    version.effective_date, prev.effective_date
                ),
            ));
        }
        versions.push(version);
    }
    Ok(Tariff {
        id: id.clone(),
        name: raw.name.get_ref().trim().to_owned(),
        utility,
        source: raw.source,
        timezone,
        tz,
        versions,
    })
}

fn effective_date(ctx: &Ctx<'_>, value: &Spanned<toml::Value>) -> Result<Date, TariffFileError> {
    let text = match value.get_ref() {
        toml::Value::Datetime(dt) if dt.time.is_none() && dt.offset.is_none() => dt.to_string(),
        toml::Value::String(s) => s.clone(),
        _ => String::new(),
    };
    text.parse::<Date>().map_err(|_| {
        ctx.err(
            &value.span(),
            "effective_from must be a date like 2024-01-01",
        )
    })
}

fn build_version(
    ctx: &Ctx<'_>,
    utility: Utility,
    tz: &TimeZone,
    v: &RawVersion,
) -> Result<TariffVersion, TariffFileError> {
    let effective_date = effective_date(ctx, &v.effective_from)?;
    let effective_from = tz
        .to_timestamp(DateTime::from_parts(effective_date, Time::midnight()))
        .map_err(|e| ctx.err(&v.effective_from.span(), format!("effective_from: {e}")))?;
    // Keys that belong to other kinds are mistakes, not things to ignore.
    let stray = |allowed: &[&str]| -> Result<(), TariffFileError> {
        let present: [(&str, Option<Range<usize>>); 7] = [
            ("price", v.price.as_ref().map(Spanned::span)),
            ("period", v.period.as_ref().map(Spanned::span)),
            (
                "period_start_month",
                v.period_start_month.as_ref().map(Spanned::span),
            ),
            ("prices", v.prices.as_ref().map(Spanned::span)),
            (
                "bounds",
                v.bounds.as_ref().and_then(|b| b.first()).map(Spanned::span),
            ),
            (
                "schedule",
                v.schedule
                    .as_ref()
                    .and_then(|b| b.first())
                    .map(Spanned::span),
            ),
            ("surcharge", v.surcharge.as_ref().map(Spanned::span)),
        ];
        for (key, span) in present {
            if let Some(span) = span
                && !allowed.contains(&key)
            {
                return Err(ctx.err(
                    &span,
                    format!("`{key}` does not belong in a {} version", v.kind.get_ref()),
                ));
            }
        }
        Ok(())
    };
    let missing = |key: &str| {
        ctx.err(
            &v.kind.span(),
            format!("a {} version needs `{key}`", v.kind.get_ref()),
        )
    };
    let pricing = match v.kind.get_ref().as_str() {
        "flat" => {
            stray(&["price"])?;
            let price = v.price.as_ref().ok_or_else(|| missing("price"))?;
            Pricing::Flat {
                price: price_of(ctx, price)?,
            }
        }
        "tiered" => {
            stray(&["period", "period_start_month", "prices", "bounds"])?;
            let prices_value = v.prices.as_ref().ok_or_else(|| missing("prices"))?;
            let prices = string_array(
                ctx,
                prices_value,
                "prices of a tiered version are a list like [\"0.5883\", \"0.6383\"]",
            )?;
            let bounds = v
                .bounds
                .as_ref()
                .ok_or_else(|| missing("[[version.bounds]]"))?;
            Pricing::Tiered(tiers(
                ctx,
                v.period.as_ref(),
                v.period_start_month.as_ref(),
                &prices,
                prices_value.span(),
                bounds,
                &v.kind.span(),
            )?)
        }
        "time_of_use" => {
            stray(&["prices", "schedule", "surcharge"])?;
            let prices_value = v
                .prices
                .as_ref()
                .ok_or_else(|| missing("[version.prices]"))?;
            let schedule = v
                .schedule
                .as_ref()
                .ok_or_else(|| missing("[[version.schedule]]"))?;
            let surcharge = v
                .surcharge
                .as_ref()
                .map(|s| {
                    let r = s.get_ref();
                    let prices: Vec<Spanned<String>> = r.prices.get_ref().clone();
                    tiers(
                        ctx,
                        r.period.as_ref(),
                        r.period_start_month.as_ref(),
                        &prices,
                        r.prices.span(),
                        &r.bounds,
                        &s.span(),
                    )
                })
                .transpose()?;
            Pricing::TimeOfUse {
                schedule: tou(ctx, prices_value, schedule, &v.kind.span())?,
                surcharge,
            }
        }
        other => {
            return Err(ctx.err(
                &v.kind.span(),
                format!("unknown kind '{other}'; expected flat, tiered or time_of_use"),
            ));
        }
    };
    let _ = utility;
    let fixed_charges = v
        .fixed
        .iter()
        .map(|f| {
            let f = f.get_ref();
            let every = match f.every.get_ref().as_str() {
                "day" => FixedEvery::Day,
                "month" => FixedEvery::Month,
                other => {
                    return Err(ctx.err(
                        &f.every.span(),
                        format!("unknown every '{other}'; expected day or month"),
                    ));
                }
            };
            if f.name.get_ref().trim().is_empty() {
                return Err(ctx.err(&f.name.span(), "a fixed charge needs a name"));
            }
            Ok(FixedCharge {
                name: f.name.get_ref().trim().to_owned(),
                every,
                amount: fen_of(ctx, &f.amount)?,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(TariffVersion {
        effective_date,
        effective_from,
        pricing,
        fixed_charges,
    })
}

fn price_of(ctx: &Ctx<'_>, s: &Spanned<String>) -> Result<Price, TariffFileError> {
    Price::parse_yuan(s.get_ref()).map_err(|e| ctx.err(&s.span(), format!("price {e}")))
}

/// A yuan amount with at most two decimals, as fen.
fn fen_of(ctx: &Ctx<'_>, s: &Spanned<String>) -> Result<Fen, TariffFileError> {
    let t = s.get_ref().trim();
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    let ok = !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit());
    if !ok {
        return Err(ctx.err(&s.span(), format!("amount '{t}' is not yuan like \"2.00\"")));
    }
    if frac.len() > 2 {
        return Err(ctx.err(
            &s.span(),
            format!(
                "amount '{t}' has {} decimals; amounts carry at most 2 (fen)",
                frac.len()
            ),
        ));
    }
    let whole: i64 = whole
        .parse()
        .map_err(|_| ctx.err(&s.span(), format!("amount '{t}' is too large")))?;
    let frac: i64 = format!("{frac:0<2}").parse().unwrap_or(0);
    whole
        .checked_mul(100)
        .and_then(|w| w.checked_add(frac))
        .map(Fen)
        .ok_or_else(|| ctx.err(&s.span(), format!("amount '{t}' is too large")))
}

fn string_array(
    ctx: &Ctx<'_>,
    value: &Spanned<toml::Value>,
    what: &str,
) -> Result<Vec<Spanned<String>>, TariffFileError> {
    let toml::Value::Array(items) = value.get_ref() else {
        return Err(ctx.err(&value.span(), what));
    };
    items
        .iter()
        .map(|i| match i {
            // Values inside a plain toml::Value carry no span of their own:
            // the list's span is the best line we have.
            toml::Value::String(s) => Ok(Spanned::new(value.span(), s.clone())),
            _ => Err(ctx.err(
                &value.span(),
                format!("{what}; write prices as strings so no decimals are lost"),
            )),
        })
        .collect()
}

/// Months 1–12 listed by the entries, each exactly once; an entry without
/// `months` is allowed only when it is the only one (it means every month).
fn months_of<T>(
    ctx: &Ctx<'_>,
    entries: &[Spanned<T>],
    months: impl Fn(&T) -> Option<&Spanned<Vec<Spanned<i64>>>>,
    what: &str,
    whole: &Range<usize>,
) -> Result<[usize; 12], TariffFileError> {
    let mut owner = [usize::MAX; 12];
    for (i, e) in entries.iter().enumerate() {
        match months(e.get_ref()) {
            None if entries.len() == 1 => owner = [0; 12],
            None => {
                return Err(ctx.err(
                    &e.span(),
                    format!("with several {what} entries each needs `months`"),
                ));
            }
            Some(list) => {
                for m in list.get_ref() {
                    let n = *m.get_ref();
                    if !(1..=12).contains(&n) {
                        return Err(ctx.err(&m.span(), format!("month {n} is not 1–12")));
                    }
                    let slot = usize::try_from(n - 1).unwrap_or(0);
                    if owner[slot] != usize::MAX {
                        return Err(
                            ctx.err(&m.span(), format!("month {n} is listed twice in {what}"))
                        );
                    }
                    owner[slot] = i;
                }
            }
        }
    }
    if let Some(m) = owner.iter().position(|o| *o == usize::MAX) {
        return Err(ctx.err(whole, format!("month {} has no {what}", m + 1)));
    }
    Ok(owner)
}

fn period_of(
    ctx: &Ctx<'_>,
    period: Option<&Spanned<String>>,
    start: Option<&Spanned<i64>>,
) -> Result<TierPeriod, TariffFileError> {
    let kind = match period.map(|p| p.get_ref().as_str()) {
        None | Some("month") => PeriodKind::Month,
        Some("season") => PeriodKind::Season,
        Some("year") => PeriodKind::Year,
        Some(other) => {
            let span = period.map_or(0..0, Spanned::span);
            return Err(ctx.err(
                &span,
                format!("unknown period '{other}'; expected month, season or year"),
            ));
        }
    };
    let start_month = match start {
        None => 1,
        Some(s) if (1..=12).contains(s.get_ref()) => i8::try_from(*s.get_ref()).unwrap_or(1),
        Some(s) => {
            return Err(ctx.err(
                &s.span(),
                format!("period_start_month {} is not 1–12", s.get_ref()),
            ));
        }
    };
    Ok(TierPeriod { kind, start_month })
}

/// A bound in kWh or m³ (an integer, or a string with up to three decimals)
/// in base units.
fn bound_of(ctx: &Ctx<'_>, v: &Spanned<toml::Value>) -> Result<u64, TariffFileError> {
    let bad = || {
        ctx.err(&v.span(), "a bound is a whole number of kWh or m³, or a string with up to 3 decimals like \"12.5\"")
    };
    let text = match v.get_ref() {
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::String(s) => s.trim().to_owned(),
        _ => return Err(bad()),
    };
    let (whole, frac) = text.split_once('.').unwrap_or((&text, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 3
    {
        return Err(bad());
    }
    let whole: u64 = whole.parse().map_err(|_| bad())?;
    let frac: u64 = format!("{frac:0<3}").parse().map_err(|_| bad())?;
    let base = whole
        .checked_mul(BASE_PER_UNIT)
        .and_then(|w| w.checked_add(frac))
        .ok_or_else(bad)?;
    if base == 0 {
        return Err(ctx.err(&v.span(), "a bound must be above 0"));
    }
    Ok(base)
}

#[allow(clippy::too_many_arguments)]
fn tiers(
    ctx: &Ctx<'_>,
    period: Option<&Spanned<String>>,
    start: Option<&Spanned<i64>>,
    prices: &[Spanned<String>],
    prices_span: Range<usize>,
    bounds: &[Spanned<RawBounds>],
    whole: &Range<usize>,
) -> Result<Tiers, TariffFileError> {
    let period = period_of(ctx, period, start)?;
    let prices: Vec<Price> = prices
        .iter()
        .map(|p| price_of(ctx, p))
        .collect::<Result<_, _>>()?;
    let owner = months_of(ctx, bounds, |b| b.months.as_ref(), "bounds", whole)?;
    let mut per_entry: Vec<Vec<u64>> = Vec::with_capacity(bounds.len());
    for b in bounds {
        let upper = &b.get_ref().upper;
        let values: Vec<u64> = upper
            .get_ref()
            .iter()
            .map(|v| bound_of(ctx, v))
            .collect::<Result<_, _>>()?;
        if let Some(w) = values.windows(2).find(|w| w[1] <= w[0]) {
            return Err(ctx.err(
                &upper.span(),
                format!(
                    "bounds must increase: {} is not above {}",
                    show_units(w[1]),
                    show_units(w[0])
                ),
            ));
        }
        if values.len() + 1 != prices.len() {
            return Err(ctx.err(
                &prices_span,
                format!(
                    "{} bounds need {} prices, got {}",
                    values.len(),
                    values.len() + 1,
                    prices.len()
                ),
            ));
        }
        per_entry.push(values);
    }
    let bounds = std::array::from_fn(|m| per_entry[owner[m]].clone());
    Ok(Tiers {
        period,
        bounds,
        prices,
    })
}

fn minutes(ctx: &Ctx<'_>, s: &Spanned<String>) -> Result<u16, TariffFileError> {
    let bad = || {
        ctx.err(
            &s.span(),
            format!(
                "'{}' is not a time like \"08:00\" (00:00–24:00)",
                s.get_ref()
            ),
        )
    };
    let (h, m) = s.get_ref().split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u16 = h.parse().map_err(|_| bad())?;
    let m: u16 = m.parse().map_err(|_| bad())?;
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

fn hhmm(min: u16) -> String {
    format!("{:02}:{:02}", min / 60, min % 60)
}

fn tou(
    ctx: &Ctx<'_>,
    prices_value: &Spanned<toml::Value>,
    schedule: &[Spanned<RawSchedule>],
    whole: &Range<usize>,
) -> Result<TouSchedule, TariffFileError> {
    let toml::Value::Table(table) = prices_value.get_ref() else {
        return Err(ctx.err(
            &prices_value.span(),
            "prices of a time_of_use version are a table: [version.prices] peak = \"1.0200\" …",
        ));
    };
    let mut prices: [Option<Price>; 4] = [None; 4];
    for (key, value) in table {
        let band = Band::parse(key).ok_or_else(|| {
            ctx.err(
                &prices_value.span(),
                format!("unknown band '{key}'; expected critical_peak, peak, flat or valley"),
            )
        })?;
        let toml::Value::String(s) = value else {
            return Err(ctx.err(
                &prices_value.span(),
                format!("price of {key} must be a string like \"1.0200\""),
            ));
        };
        prices[band.index()] = Some(price_of(
            ctx,
            &Spanned::new(prices_value.span(), s.clone()),
        )?);
    }
    let owner = months_of(ctx, schedule, |s| s.months.as_ref(), "schedule", whole)?;
    let mut used = [false; 4];
    let mut days: Vec<Vec<BandSpan>> = Vec::with_capacity(schedule.len());
    for entry in schedule {
        let mut spans: Vec<(BandSpan, Range<usize>)> = Vec::new();
        for s in entry.get_ref().bands.get_ref() {
            let r = s.get_ref();
            let start_min = minutes(ctx, &r.from)?;
            let end_min = minutes(ctx, &r.to)?;
            if end_min <= start_min {
                return Err(ctx.err(
                    &s.span(),
                    format!(
                        "span {}–{} ends before it starts",
                        hhmm(start_min),
                        hhmm(end_min)
                    ),
                ));
            }
            let band = Band::parse(r.band.get_ref()).ok_or_else(|| {
                ctx.err(
                    &r.band.span(),
                    format!(
                        "unknown band '{}'; expected critical_peak, peak, flat or valley",
                        r.band.get_ref()
                    ),
                )
            })?;
            if prices[band.index()].is_none() {
                return Err(ctx.err(
                    &r.band.span(),
                    format!("band {} has no price in [version.prices]", band.as_str()),
                ));
            }
            used[band.index()] = true;
            spans.push((
                BandSpan {
                    start_min,
                    end_min,
                    band,
                },
                s.span(),
            ));
        }
        spans.sort_by_key(|(s, _)| s.start_min);
        let mut covered = 0u16;
        for (i, (s, span)) in spans.iter().enumerate() {
            if s.start_min < covered {
                let prev = spans[i - 1].0;
                return Err(ctx.err(
                    span,
                    format!(
                        "{}–{} overlaps {}–{}",
                        hhmm(s.start_min),
                        hhmm(s.end_min),
                        hhmm(prev.start_min),
                        hhmm(prev.end_min)
                    ),
                ));
            }
            if s.start_min > covered {
                return Err(ctx.err(
                    &entry.span(),
                    format!("nothing covers {}–{}", hhmm(covered), hhmm(s.start_min)),
                ));
            }
            covered = s.end_min;
        }
        if covered < 1440 {
            return Err(ctx.err(
                &entry.span(),
                format!("nothing covers {}–24:00", hhmm(covered)),
            ));
        }
        days.push(spans.into_iter().map(|(s, _)| s).collect());
    }
    if let Some(b) = Band::ALL
        .into_iter()
        .find(|b| prices[b.index()].is_some() && !used[b.index()])
    {
        return Err(ctx.err(
            &prices_value.span(),
            format!("price for {} is set but no schedule uses it", b.as_str()),
        ));
    }
    Ok(TouSchedule {
        days: std::array::from_fn(|m| days[owner[m]].clone()),
        prices,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TIERED: &str = r#"id = "t"
name = "tiered"
utility = "electricity"

[[version]]
effective_from = 2024-01-01
kind = "tiered"
prices = ["0.5883", "0.6383", "0.8883"]

[[version.bounds]]
months = [11, 12, 1, 2, 3, 4]
upper = [200, 400]

[[version.bounds]]
months = [5, 6, 7, 8, 9, 10]
upper = [260, 600]
"#;

    const TOU: &str = r#"id = "tou"
name = "tou"
utility = "electricity"

[[version]]
effective_from = "2024-01-01"
kind = "time_of_use"

[version.prices]
peak = "1.0200"
flat = "0.6000"
valley = "0.2280"

[[version.schedule]]
bands = [
  { from = "00:00", to = "08:00", band = "valley" },
  { from = "08:00", to = "10:00", band = "flat" },
  { from = "10:00", to = "12:00", band = "peak" },
  { from = "12:00", to = "24:00", band = "flat" },
]
"#;

    fn error(text: &str) -> TariffFileError {
        parse_tariff("t.toml", text).unwrap_err()
    }

    fn line_of(text: &str, needle: &str) -> usize {
        text.lines().position(|l| l.contains(needle)).unwrap() + 1
    }

    #[test]
    fn parses_tiers_by_month() {
        let t = parse_tariff("t.toml", TIERED).unwrap();
        let Pricing::Tiered(tiers) = &t.versions[0].pricing else {
            panic!()
        };
        assert_eq!(tiers.bounds[6], vec![260_000, 600_000]);
        assert_eq!(tiers.bounds[0], vec![200_000, 400_000]);
        assert_eq!(tiers.prices, vec![Price(5883), Price(6383), Price(8883)]);
        assert_eq!(
            t.versions[0].effective_from.to_string(),
            "2023-12-31T16:00:00Z"
        );
        assert_eq!(t.timezone, "Asia/Shanghai");
    }

    #[test]
    fn parses_time_of_use() {
        let t = parse_tariff("t.toml", TOU).unwrap();
        let Pricing::TimeOfUse {
            schedule,
            surcharge,
        } = &t.versions[0].pricing
        else {
            panic!()
        };
        assert!(surcharge.is_none());
        assert_eq!(schedule.days[3].len(), 4);
        assert_eq!(schedule.prices[Band::CriticalPeak.index()], None);
    }

    #[test]
    fn errors_name_the_line() {
        let cases: Vec<(String, &str, &str)> = vec![
            (
                TIERED.replace("\"0.6383\"", "\"0.63831\""),
                "0.63831",
                "5 decimals",
            ),
            (
                TIERED.replace("upper = [260, 600]", "upper = [600, 260]"),
                "[600, 260]",
                "bounds must increase: 260 is not above 600",
            ),
            (
                TIERED.replace(
                    "months = [5, 6, 7, 8, 9, 10]",
                    "months = [5, 6, 7, 8, 9, 10, 1]",
                ),
                "[5, 6, 7, 8, 9, 10, 1]",
                "month 1 is listed twice",
            ),
            (
                TIERED.replace("kind = \"tiered\"", "kind = \"tiered\"\nprice = \"1\""),
                "price = \"1\"",
                "`price` does not belong in a tiered version",
            ),
            (
                TIERED.replace("utility = \"electricity\"", "utility = \"steam\""),
                "steam",
                "unknown value 'steam'",
            ),
            (
                TIERED.replace("name = \"tiered\"", "name = \"tiered\"\ncolour = \"red\""),
                "colour",
                "unknown field `colour`",
            ),
            (
                TIERED.replace("kind = \"tiered\"", "kind = \"stepped\""),
                "stepped",
                "unknown kind 'stepped'",
            ),
            (
                TOU.replace(
                    "{ from = \"10:00\", to = \"12:00\"",
                    "{ from = \"09:00\", to = \"12:00\"",
                ),
                "09:00",
                "09:00–12:00 overlaps 08:00–10:00",
            ),
            (
                TOU.replace("to = \"24:00\"", "to = \"23:00\""),
                "[[version.schedule]]",
                "nothing covers 23:00–24:00",
            ),
            (
                TOU.replace("\"12:00\", to = \"24:00\"", "\"12:00\", to = \"25:00\""),
                "25:00",
                "'25:00' is not a time",
            ),
            (
                TOU.replace("band = \"peak\"", "band = \"sharp\""),
                "sharp",
                "unknown band 'sharp'",
            ),
            (
                TIERED.replace("timezone", "x").replace(
                    "utility = \"electricity\"",
                    "utility = \"electricity\"\ntimezone = \"Asia/Shangai\"",
                ),
                "Shangai",
                "unknown time zone",
            ),
        ];
        for (text, needle, message) in cases {
            let e = error(&text);
            assert!(e.message.contains(message), "{message:?} not in {e}");
            assert_eq!(e.line, Some(line_of(&text, needle)), "{e}");
            assert!(!e.to_string().contains('\n'));
        }
    }

    #[test]
    fn months_must_all_be_covered() {
        let text = TIERED.replace("months = [5, 6, 7, 8, 9, 10]", "months = [6, 7, 8, 9, 10]");
        assert!(error(&text).message.contains("month 5 has no bounds"));
        let text = TIERED.replace(
            "[\"0.5883\", \"0.6383\", \"0.8883\"]",
            "[\"0.5883\", \"0.6383\"]",
        );
        assert!(
            error(&text)
                .message
                .contains("2 bounds need 3 prices, got 2")
        );
    }

    #[test]
    fn versions_must_be_in_date_order() {
        let text = format!(
            "{TIERED}\n[[version]]\neffective_from = 2023-06-01\nkind = \"flat\"\nprice = \"0.6\"\n"
        );
        let e = error(&text);
        assert!(
            e.message
                .contains("not after the previous version's 2024-01-01"),
            "{e}"
        );
        assert_eq!(e.line, Some(line_of(&text, "2023-06-01")));
    }

    #[test]
    fn fixed_charges_are_fen() {
        let text = format!(
            "{TIERED}\n[[version.fixed]]\nname = \"service\"\nevery = \"month\"\namount = \"2.5\"\n"
        );
        let t = parse_tariff("t.toml", &text).unwrap();
        assert_eq!(t.versions[0].fixed_charges[0].amount, Fen(250));
        let text = text.replace("\"2.5\"", "\"2.505\"");
        let e = error(&text);
        assert!(e.message.contains("at most 2"), "{e}");
        assert_eq!(e.line, Some(line_of(&text, "2.505")));
    }

    proptest! {
        #[test]
        fn never_panics(text in "\\PC{0,400}") {
            let _ = parse_tariff("fuzz.toml", &text);
        }

        #[test]
        fn never_panics_on_mutated_tariffs(cut in 0usize..600, insert in "[\\[\\]=\",0-9a-z. \n]{0,8}") {
            let mut text = TIERED.to_owned();
            let at = cut.min(text.len());
            if text.is_char_boundary(at) {
                text.insert_str(at, &insert);
            }
            let _ = parse_tariff("fuzz.toml", &text);
        }
    }
}
