//! Formatting for pages: money, quantities and instants as a Guangzhou
//! office reads them. Pure functions.

use yufu_domain::Utility;

/// China Standard Time: UTC+8 all year (no daylight saving).
const CST_OFFSET_MS: i64 = 8 * 3_600_000;

/// Fen as yuan with two decimals and a sign: `-12.05`.
pub(crate) fn yuan(fen: i64) -> String {
    yufu_payments::format_yuan(fen)
}

/// An instant (ms since the epoch) in China Standard Time:
/// `2026-11-26 13:05:09`.
pub(crate) fn time(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms.saturating_add(CST_OFFSET_MS)) {
        Ok(t) => t.strftime("%Y-%m-%d %H:%M:%S").to_string(),
        Err(_) => "—".to_owned(),
    }
}

/// The start of the day (CST) containing `ms`, in ms since the epoch.
pub(crate) fn day_start(ms: i64) -> i64 {
    let local = ms + CST_OFFSET_MS;
    local - local.rem_euclid(86_400_000) - CST_OFFSET_MS
}

/// The start of the month (CST) containing `ms`.
pub(crate) fn month_start(ms: i64) -> i64 {
    let day = day_start(ms);
    match jiff::Timestamp::from_millisecond(day + CST_OFFSET_MS) {
        Ok(t) => {
            let dom: i64 = t.strftime("%d").to_string().parse().unwrap_or(1);
            day - (dom - 1) * 86_400_000
        }
        Err(_) => day,
    }
}

/// A register quantity in the utility's base unit (Wh for electricity,
/// litres for water and gas) as kWh / m³ with three decimals.
pub(crate) fn quantity(utility: Utility, base: i64) -> String {
    let _ = utility;
    let sign = if base < 0 { "-" } else { "" };
    let b = base.unsigned_abs();
    format!("{sign}{}.{:03}", b / 1000, b % 1000)
}

/// Percent-encodes a value for a query string.
pub(crate) fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(char::from(b));
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// How urgent an alarm kind is, for ordering and colour: safety first.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) enum Severity {
    Critical,
    Major,
    Minor,
}

impl Severity {
    pub(crate) const ALL: [Severity; 3] = [Severity::Critical, Severity::Major, Severity::Minor];

    pub(crate) fn of(kind: &str) -> Severity {
        match kind {
            // Gas escaping or someone at the meter: act now.
            "gas_leak" | "tamper" | "magnetic" => Severity::Critical,
            // A meter that cannot be billed or switched.
            "comm_fault" | "command_failed" | "valve_fault" | "cover_open" | "conflict" => {
                Severity::Major
            }
            _ => Severity::Minor,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Major => "major",
            Severity::Minor => "minor",
        }
    }

    /// The badge class in console.css.
    pub(crate) fn class(self) -> &'static str {
        match self {
            Severity::Critical => "bad",
            Severity::Major => "warn",
            Severity::Minor => "info",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_time_and_days() {
        assert_eq!(yuan(-1205), "-12.05");
        // 2026-11-26T00:30:00Z is 08:30 in Guangzhou.
        let t = 1_795_653_000_000;
        assert_eq!(time(t), "2026-11-26 08:30:00");
        assert_eq!(time(day_start(t)), "2026-11-26 00:00:00");
        assert_eq!(time(month_start(t)), "2026-11-01 00:00:00");
        // 23:30 UTC on the 25th is already the 26th in Guangzhou.
        assert_eq!(time(day_start(t - 3_600_000)), "2026-11-26 00:00:00");
        assert_eq!(quantity(Utility::Electricity, 12_345), "12.345");
        assert_eq!(url_encode("/meters/a b?x=1"), "/meters/a%20b%3Fx%3D1");
    }
}
