//! Consumption charts drawn on the server as SVG, so a phone shows them
//! without any chart library: pure functions from time buckets to markup.
//!
//! A chart is a row of bars, one per hour (day view) or per day (week and
//! month views), with the largest value and half of it on the vertical
//! axis and a thinned-out row of bucket labels below. Every piece of text
//! is escaped; values are integers in the utility's base unit (Wh, litres)
//! and the caller says how to print them.

use std::fmt::Write as _;

use super::fmt;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// Which period a chart covers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Range {
    /// The last 24 hours, by hour.
    Day,
    /// The last 7 days (China Standard Time), by day.
    Week,
    /// The last 30 days, by day.
    Month,
}

impl Range {
    pub(crate) const ALL: [Range; 3] = [Range::Day, Range::Week, Range::Month];

    /// `?range=`; the day view when absent or unknown.
    pub(crate) fn parse(v: Option<&str>) -> Range {
        match v {
            Some("week") => Range::Week,
            Some("month") => Range::Month,
            _ => Range::Day,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Range::Day => "day",
            Range::Week => "week",
            Range::Month => "month",
        }
    }

    /// (number of buckets, bucket length in ms).
    fn shape(self) -> (usize, i64) {
        match self {
            Range::Day => (24, HOUR_MS),
            Range::Week => (7, DAY_MS),
            Range::Month => (30, DAY_MS),
        }
    }

    /// Where the chart's first bucket starts, for a chart ending with the
    /// bucket that holds `now_ms`.
    pub(crate) fn since(self, now_ms: i64) -> i64 {
        let (n, width) = self.shape();
        let last = match self {
            // Hours in Guangzhou start on UTC hours (UTC+8, no DST).
            Range::Day => now_ms - now_ms.rem_euclid(HOUR_MS),
            Range::Week | Range::Month => fmt::day_start(now_ms),
        };
        last - (i64::try_from(n).unwrap_or(0) - 1) * width
    }
}

/// One bar: where its period starts, its label and its total.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct Bucket {
    pub start_ms: i64,
    pub label: String,
    pub value: i64,
}

/// The empty buckets of `range` ending with the one that holds `now_ms`,
/// labelled `HH` (hours) or `MM-DD` (days) in China Standard Time.
pub(crate) fn buckets(range: Range, now_ms: i64) -> Vec<Bucket> {
    let (n, width) = range.shape();
    let first = range.since(now_ms);
    (0..n)
        .map(|i| {
            let start_ms = first + i64::try_from(i).unwrap_or(0) * width;
            // fmt::time gives "YYYY-MM-DD HH:MM:SS".
            let t = fmt::time(start_ms);
            let label = match range {
                Range::Day => t.get(11..13),
                Range::Week | Range::Month => t.get(5..10),
            }
            .unwrap_or("")
            .to_owned();
            Bucket {
                start_ms,
                label,
                value: 0,
            }
        })
        .collect()
}

/// Adds `value` to the bucket that holds `at_ms`; outside them all it is
/// dropped.
pub(crate) fn add(buckets: &mut [Bucket], at_ms: i64, value: i64) {
    let (Some(first), Some(second)) = (buckets.first(), buckets.get(1)) else {
        if let Some(only) = buckets.first_mut()
            && at_ms >= only.start_ms
        {
            only.value = only.value.saturating_add(value);
        }
        return;
    };
    let width = second.start_ms - first.start_ms;
    if width <= 0 || at_ms < first.start_ms {
        return;
    }
    let i = (at_ms - first.start_ms) / width;
    if let Some(b) = usize::try_from(i).ok().and_then(|i| buckets.get_mut(i)) {
        b.value = b.value.saturating_add(value);
    }
}

/// Escapes text for SVG/HTML content and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

// The drawing's own coordinate system, in tenths of a user unit so all
// geometry stays in integers (the viewBox is 640 × 220; the SVG scales to
// its box).
const WIDTH: i64 = 6400;
const HEIGHT: i64 = 2200;
const LEFT: i64 = 640;
const RIGHT: i64 = 80;
const TOP: i64 = 120;
const BOTTOM: i64 = 260;
/// At most this many labels under the bars, so they never overlap.
const MAX_LABELS: usize = 8;

/// Tenths as SVG user units: `1234` → `123.4`.
fn u(tenths: i64) -> String {
    let sign = if tenths < 0 { "-" } else { "" };
    let t = tenths.unsigned_abs();
    format!("{sign}{}.{}", t / 10, t % 10)
}

/// `v / max` of `span`, rounded down, without overflow.
fn scale(v: i64, max: i64, span: i64) -> i64 {
    if max <= 0 {
        return 0;
    }
    let x = i128::from(v.clamp(0, max)) * i128::from(span) / i128::from(max);
    i64::try_from(x).unwrap_or(span)
}

/// The bar chart of `buckets` as an `<svg>` element. `title` names it for
/// screen readers; `unit` follows values in the bars' tooltips; `show`
/// prints a value (e.g. Wh as kWh). Negative values draw as zero.
pub(crate) fn bars(
    buckets: &[Bucket],
    title: &str,
    unit: &str,
    show: impl Fn(i64) -> String,
) -> String {
    let max = buckets.iter().map(|b| b.value).max().unwrap_or(0).max(0);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let base = TOP + plot_h;
    let mut s = String::with_capacity(256 + buckets.len() * 160);
    let _ = write!(
        s,
        "<svg class=\"chart\" viewBox=\"0 0 {} {}\" role=\"img\" \
         preserveAspectRatio=\"xMidYMid meet\" xmlns=\"http://www.w3.org/2000/svg\">\
         <title>{}</title>",
        WIDTH / 10,
        HEIGHT / 10,
        escape(title)
    );
    // The axis and its labels (the maximum and half of it); an empty
    // chart shows 0 only.
    let _ = write!(
        s,
        "<line class=\"axis\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\">0</text>",
        u(LEFT),
        u(base),
        u(WIDTH - RIGHT),
        u(base),
        u(LEFT - 60),
        u(base + 40),
    );
    if max > 0 {
        for (v, y) in [(max, TOP), (max / 2, TOP + plot_h / 2)] {
            let _ = write!(
                s,
                "<line class=\"axis\" stroke-dasharray=\"2 4\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>\
                 <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
                u(LEFT),
                u(y),
                u(WIDTH - RIGHT),
                u(y),
                u(LEFT - 60),
                u(y + 40),
                escape(&show(v)),
            );
        }
    }
    let n = i64::try_from(buckets.len().max(1)).unwrap_or(1);
    let every = buckets.len().div_ceil(MAX_LABELS).max(1);
    for (i, b) in buckets.iter().enumerate() {
        let i64_i = i64::try_from(i).unwrap_or(0);
        let left = LEFT + plot_w * i64_i / n;
        let right = LEFT + plot_w * (i64_i + 1) / n;
        let slot = right - left;
        let bar_w = (slot * 72 / 100).max(10);
        let x = left + (slot - bar_w) / 2;
        let v = b.value.max(0);
        let h = scale(v, max, plot_h);
        let _ = write!(
            s,
            "<rect class=\"bar\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\">\
             <title>{} · {} {}</title></rect>",
            u(x),
            u(base - h),
            u(bar_w),
            u(h),
            escape(&b.label),
            escape(&show(v)),
            escape(unit),
        );
        if i % every == 0 {
            let _ = write!(
                s,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                u(left + slot / 2),
                u(HEIGHT - 80),
                escape(&b.label),
            );
        }
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-26T00:30:00Z = 08:30 in Guangzhou.
    const NOW: i64 = 1_795_653_000_000;

    #[test]
    fn ranges_parse_and_start() {
        assert_eq!(Range::parse(Some("week")), Range::Week);
        assert_eq!(Range::parse(Some("month")), Range::Month);
        assert_eq!(Range::parse(Some("nonsense")), Range::Day);
        assert_eq!(Range::parse(None), Range::Day);
        // The day view ends with the 08:00 hour and starts 23 hours earlier.
        assert_eq!(fmt::time(Range::Day.since(NOW)), "2026-11-25 09:00:00");
        // Week and month views start at local midnight.
        assert_eq!(fmt::time(Range::Week.since(NOW)), "2026-11-20 00:00:00");
        assert_eq!(fmt::time(Range::Month.since(NOW)), "2026-10-28 00:00:00");
    }

    #[test]
    fn buckets_are_labelled_and_filled_by_time() {
        let mut day = buckets(Range::Day, NOW);
        assert_eq!(day.len(), 24);
        assert_eq!(day[0].label, "09");
        assert_eq!(day[23].label, "08");
        add(&mut day, NOW, 500);
        add(&mut day, NOW - 10 * 60_000, 250);
        let first = day[0].start_ms;
        add(&mut day, first, 7);
        // Before the first bucket, or after the last: dropped.
        add(&mut day, first - 1, 1_000);
        add(&mut day, NOW + 2 * HOUR_MS, 1_000);
        assert_eq!(day[23].value, 750);
        assert_eq!(day[0].value, 7);
        assert_eq!(day.iter().map(|b| b.value).sum::<i64>(), 757);

        let week = buckets(Range::Week, NOW);
        assert_eq!(
            week.iter().map(|b| b.label.as_str()).collect::<Vec<_>>(),
            [
                "11-20", "11-21", "11-22", "11-23", "11-24", "11-25", "11-26"
            ]
        );
        assert_eq!(buckets(Range::Month, NOW).len(), 30);
    }

    #[test]
    fn bars_scale_to_the_largest_and_escape_text() {
        let mut b = buckets(Range::Week, NOW);
        b[1].value = 2_000;
        b[6].value = 1_000;
        b[2].label = "<x&\"y\">".into();
        let svg = bars(&b, "Use <week>", "kWh", |v| format!("{}", v / 1000));
        assert!(svg.starts_with("<svg class=\"chart\""));
        assert!(svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 7);
        assert!(svg.contains("<title>Use &lt;week&gt;</title>"));
        assert!(svg.contains("&lt;x&amp;&quot;y&quot;&gt;"));
        assert!(!svg.contains("<x&"));
        // The tallest bar fills the plot; the half-height one half of it.
        assert_eq!(HEIGHT - TOP - BOTTOM, 1820);
        assert!(svg.contains("height=\"182.0\""));
        assert!(svg.contains("height=\"91.0\""));
        assert!(svg.contains("viewBox=\"0 0 640 220\""));
        // Axis labels: the maximum and half of it, printed by the caller.
        assert!(svg.contains(">2</text>") && svg.contains(">1</text>"));
        assert!(svg.contains("<title>11-21 · 2 kWh</title>"));
    }

    #[test]
    fn units_and_scaling_stay_integers() {
        assert_eq!(u(1234), "123.4");
        assert_eq!(u(-5), "-0.5");
        assert_eq!(scale(1, 3, 1820), 606);
        assert_eq!(scale(i64::MAX, i64::MAX, 1820), 1820);
        assert_eq!(scale(-4, 10, 1820), 0);
        assert_eq!(scale(4, 0, 1820), 0);
    }

    #[test]
    fn an_empty_chart_draws_flat_bars_and_only_zero() {
        let b = buckets(Range::Day, NOW);
        let svg = bars(&b, "t", "m³", |v| v.to_string());
        assert_eq!(svg.matches("height=\"0.0\"").count(), 24);
        assert!(!svg.contains("stroke-dasharray"));
        // 24 hourly bars get every third label: 8 of them.
        assert_eq!(svg.matches("text-anchor=\"middle\"").count(), 8);
        assert!(bars(&[], "t", "u", |v| v.to_string()).ends_with("</svg>"));
    }
}
