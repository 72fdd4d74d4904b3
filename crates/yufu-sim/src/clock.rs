//! Local time for the simulated meters: Asia/Shanghai, and the split of an
//! interval at local hour boundaries (load shape and TOU rates go by hour).

use std::sync::OnceLock;

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::{Offset, TimeZone};

/// Milliseconds in an hour.
pub(crate) const HOUR_MS: i64 = 3_600_000;

/// The meters' time zone: Asia/Shanghai from the tz database, or a fixed
/// UTC+8 when the database is missing (distroless images). China has had no
/// DST since 1991, so the fallback gives the same local times.
pub fn local_zone() -> &'static TimeZone {
    static ZONE: OnceLock<TimeZone> = OnceLock::new();
    ZONE.get_or_init(|| {
        TimeZone::get("Asia/Shanghai").unwrap_or_else(|_| TimeZone::fixed(Offset::constant(8)))
    })
}

/// The local wall-clock time of an instant.
pub fn local_time(at: Timestamp) -> DateTime {
    local_zone().to_datetime(at)
}

/// A piece of an interval that lies within one local clock hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    pub(crate) from_ms: i64,
    pub(crate) to_ms: i64,
    /// Local time at `from_ms`.
    pub(crate) local: DateTime,
    /// `from_ms` is exactly on a local hour boundary.
    pub(crate) on_the_hour: bool,
}

impl Segment {
    pub(crate) fn len_ms(&self) -> i64 {
        self.to_ms - self.from_ms
    }

    /// The local hour, 0..=23.
    pub(crate) fn hour(&self) -> usize {
        usize::try_from(self.local.hour()).unwrap_or(0)
    }
}

/// Splits `[from, to)` at local hour boundaries; empty when `to <= from`.
pub(crate) fn hour_segments(from: Timestamp, to: Timestamp) -> HourSegments {
    HourSegments {
        cursor: from.as_millisecond(),
        end: to.as_millisecond(),
    }
}

#[derive(Debug)]
pub(crate) struct HourSegments {
    cursor: i64,
    end: i64,
}

impl Iterator for HourSegments {
    type Item = Segment;

    fn next(&mut self) -> Option<Segment> {
        if self.cursor >= self.end {
            return None;
        }
        let at = Timestamp::from_millisecond(self.cursor).ok()?;
        let offset_ms = i64::from(local_zone().to_offset(at).seconds()) * 1000;
        let into_hour = (self.cursor + offset_ms).rem_euclid(HOUR_MS);
        let next_hour = self.cursor - into_hour + HOUR_MS;
        let segment = Segment {
            from_ms: self.cursor,
            to_ms: next_hour.min(self.end),
            local: local_zone().to_datetime(at),
            on_the_hour: into_hour == 0,
        };
        self.cursor = segment.to_ms;
        Some(segment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_local_hours() {
        // 2026-11-20 23:30 Asia/Shanghai is 15:30Z.
        let from: Timestamp = "2026-11-20T15:30:00Z".parse().unwrap();
        let to: Timestamp = "2026-11-20T17:15:00Z".parse().unwrap();
        let segs: Vec<_> = hour_segments(from, to).collect();
        assert_eq!(segs.len(), 3);
        assert_eq!(segs[0].hour(), 23);
        assert!(!segs[0].on_the_hour);
        assert_eq!(segs[0].len_ms(), HOUR_MS / 2);
        assert_eq!(segs[1].hour(), 0);
        assert!(segs[1].on_the_hour);
        assert_eq!(segs[1].local.day(), 21);
        assert_eq!(segs[2].len_ms(), HOUR_MS / 4);
        assert_eq!(hour_segments(to, from).count(), 0);
    }
}
