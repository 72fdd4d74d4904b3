//! A readable summary of a tariff, for `yufu tariff check` and for an
//! operator explaining a bill: prices in yuan, bounds in kWh or m³, months
//! with the same rules grouped.

use std::fmt::Write as _;

use crate::model::*;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn band_name(b: Band) -> &'static str {
    match b {
        Band::CriticalPeak => "critical peak 尖峰",
        Band::Peak => "peak 峰",
        Band::Flat => "flat 平",
        Band::Valley => "valley 谷",
    }
}

/// "Jan–Apr, Nov–Dec" for the months (0-based) where `pick` is true.
fn month_ranges(pick: impl Fn(usize) -> bool) -> String {
    let mut parts = Vec::new();
    let mut m = 0;
    while m < 12 {
        if !pick(m) {
            m += 1;
            continue;
        }
        let start = m;
        while m + 1 < 12 && pick(m + 1) {
            m += 1;
        }
        parts.push(if start == m {
            MONTHS[m].to_owned()
        } else {
            format!("{}–{}", MONTHS[start], MONTHS[m])
        });
        m += 1;
    }
    if parts.len() == 1 && parts[0] == "Jan–Dec" {
        "all months".to_owned()
    } else {
        parts.join(", ")
    }
}

/// Groups the 12 months by equal values, in order of first appearance.
fn groups<T: PartialEq>(per_month: &[T; 12]) -> Vec<(String, &T)> {
    let mut seen: Vec<&T> = Vec::new();
    for v in per_month {
        if !seen.contains(&v) {
            seen.push(v);
        }
    }
    seen.into_iter()
        .map(|v| (month_ranges(|m| per_month[m] == *v), v))
        .collect()
}

fn describe_tiers(out: &mut String, tiers: &Tiers, unit: &str, adder: bool) {
    let period = match tiers.period.kind {
        PeriodKind::Month => "per month".to_owned(),
        PeriodKind::Season => format!(
            "per season (3 months from {})",
            MONTHS[usize::try_from(tiers.period.start_month - 1).unwrap_or(0)]
        ),
        PeriodKind::Year => format!(
            "per year (from {})",
            MONTHS[usize::try_from(tiers.period.start_month - 1).unwrap_or(0)]
        ),
    };
    let what = if adder {
        "Surcharge tiers (added to the band price)"
    } else {
        "Tiers 阶梯"
    };
    let _ = writeln!(out, "    {what}, consumption counted {period}:");
    for (months, bounds) in groups(&tiers.bounds) {
        let _ = writeln!(out, "      {months}:");
        let mut lower = 0;
        for (i, price) in tiers.prices.iter().enumerate() {
            let range = match bounds.get(i) {
                Some(upper) => format!("{}–{} {unit}", show_units(lower), show_units(*upper)),
                None => format!("above {} {unit}", show_units(lower)),
            };
            let _ = writeln!(
                out,
                "        tier {}  {range:<20} {price} yuan/{unit}",
                i + 1
            );
            lower = bounds.get(i).copied().unwrap_or(lower);
        }
    }
}

fn hhmm(min: u16) -> String {
    format!("{:02}:{:02}", min / 60, min % 60)
}

/// The multi-line summary.
pub fn describe(tariff: &Tariff) -> String {
    let unit = tariff.unit_name();
    let mut out = String::new();
    let _ = writeln!(out, "{} ({})", tariff.name, tariff.id);
    let _ = writeln!(
        out,
        "  utility: {}   time zone: {}",
        tariff.utility, tariff.timezone
    );
    if let Some(source) = &tariff.source {
        let _ = writeln!(out, "  source: {source}");
    }
    for (i, v) in tariff.versions.iter().enumerate() {
        let until = tariff.versions.get(i + 1).map_or_else(
            || "until further notice".to_owned(),
            |n| format!("until {}", n.effective_date),
        );
        let _ = writeln!(
            out,
            "\n  Version from {} 00:00 ({until}):",
            v.effective_date
        );
        match &v.pricing {
            Pricing::Flat { price } => {
                let _ = writeln!(out, "    Flat 单一价格: {price} yuan/{unit}");
            }
            Pricing::Tiered(tiers) => describe_tiers(&mut out, tiers, unit, false),
            Pricing::TimeOfUse {
                schedule,
                surcharge,
            } => {
                let _ = writeln!(out, "    Time of use 分时:");
                for band in Band::ALL {
                    if let Some(p) = schedule.prices[band.index()] {
                        let _ = writeln!(out, "      {:<18} {p} yuan/{unit}", band_name(band));
                    }
                }
                for (months, spans) in groups(&schedule.days) {
                    let _ = writeln!(out, "      {months}:");
                    for s in spans {
                        let _ = writeln!(
                            out,
                            "        {}–{}  {}",
                            hhmm(s.start_min),
                            hhmm(s.end_min),
                            band_name(s.band)
                        );
                    }
                }
                if let Some(tiers) = surcharge {
                    describe_tiers(&mut out, tiers, unit, true);
                }
            }
        }
        for f in &v.fixed_charges {
            let every = match f.every {
                FixedEvery::Day => "day",
                FixedEvery::Month => "month",
            };
            let _ = writeln!(
                out,
                "    Fixed charge: {} — {} yuan per {every}",
                f.name, f.amount
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_ranges_group_and_wrap() {
        assert_eq!(month_ranges(|m| !(4..10).contains(&m)), "Jan–Apr, Nov–Dec");
        assert_eq!(month_ranges(|_| true), "all months");
        assert_eq!(month_ranges(|m| m == 6), "Jul");
    }
}
