//! Remote monitoring: when each meter was last heard from, over what, and
//! whether it counts as offline. A meter silent for longer than
//! `offline_after` raises a `comm_fault` alarm; the alarm clears on the
//! first data that arrives again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use yufu_domain::MeterId;
use yufu_store::journal::{AlarmClear, AlarmRow};

/// The alarm kind of a silent meter.
pub const COMM_FAULT: &str = "comm_fault";

/// How a meter's data arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// Directly on the MQTT device API.
    Mqtt,
    /// Behind an MQTT gateway (concentrator).
    MqttGateway,
    /// Polled over DL/T 645 on TCP.
    Dlt645,
    /// Polled over CJ/T 188 on TCP.
    Cjt188,
    /// Posted to the HTTP readings API.
    Http,
}

#[derive(Clone, Copy, Debug)]
struct Seen {
    last_ms: i64,
    via: Option<Transport>,
    offline: bool,
}

/// A meter's connectivity as the API shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PresenceView {
    pub online: bool,
    /// When data last arrived (ms); for a meter not heard from since start
    /// this is the start time (the grace period).
    pub last_seen_ms: i64,
    pub via: Option<Transport>,
}

/// Counts for the dashboard.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PresenceCounts {
    pub online: u64,
    pub offline: u64,
}

/// Every watched meter's last contact.
#[derive(Debug)]
pub struct Presence {
    seen: Mutex<HashMap<MeterId, Seen>>,
    offline_after: Duration,
}

impl Presence {
    pub fn new(offline_after: Duration) -> Self {
        Self {
            seen: Mutex::default(),
            offline_after,
        }
    }

    pub fn offline_after(&self) -> Duration {
        self.offline_after
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<MeterId, Seen>> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts watching a meter as of `now_ms` (a grace period before it can
    /// be called offline); `offline` carries an alarm still open from
    /// before a restart, so its return clears it.
    pub fn watch(&self, meter: MeterId, now_ms: i64, offline: bool) {
        self.lock().entry(meter).or_insert(Seen {
            last_ms: now_ms,
            via: None,
            offline,
        });
    }

    /// Records contact from meters; returns the clears for those that were
    /// offline (the caller stores them).
    pub fn seen(&self, meters: &[(MeterId, Transport)], now_ms: i64) -> Vec<AlarmClear> {
        let mut clears = Vec::new();
        let mut seen = self.lock();
        for (meter, via) in meters {
            let entry = seen.entry(*meter).or_insert(Seen {
                last_ms: now_ms,
                via: Some(*via),
                offline: false,
            });
            entry.last_ms = entry.last_ms.max(now_ms);
            entry.via = Some(*via);
            if entry.offline {
                entry.offline = false;
                clears.push(AlarmClear {
                    meter_id: *meter,
                    kind: COMM_FAULT.to_owned(),
                    cleared_at_ms: now_ms,
                });
            }
        }
        clears
    }

    /// Marks meters silent for too long as offline; returns their alarms.
    pub fn sweep(&self, now_ms: i64) -> Vec<AlarmRow> {
        let limit = i64::try_from(self.offline_after.as_millis()).unwrap_or(i64::MAX);
        let mut alarms = Vec::new();
        for (meter, s) in self.lock().iter_mut() {
            if !s.offline && now_ms.saturating_sub(s.last_ms) > limit {
                s.offline = true;
                let via = s
                    .via
                    .map(|v| format!("{v:?}").to_lowercase())
                    .unwrap_or_else(|| "no contact since start".to_owned());
                alarms.push(AlarmRow {
                    meter_id: *meter,
                    kind: COMM_FAULT.to_owned(),
                    detail: format!(
                        "no data for more than {} s (last via {via})",
                        self.offline_after.as_secs()
                    ),
                    raised_at_ms: now_ms,
                });
            }
        }
        alarms
    }

    pub fn view(&self, meter: MeterId) -> Option<PresenceView> {
        self.lock().get(&meter).map(|s| PresenceView {
            online: !s.offline,
            last_seen_ms: s.last_ms,
            via: s.via,
        })
    }

    pub fn counts(&self) -> PresenceCounts {
        let seen = self.lock();
        let offline = seen.values().filter(|s| s.offline).count();
        PresenceCounts {
            online: u64::try_from(seen.len() - offline).unwrap_or(0),
            offline: u64::try_from(offline).unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_raises_once_and_data_clears() {
        let p = Presence::new(Duration::from_secs(60));
        let m = MeterId::new();
        p.watch(m, 0, false);
        assert!(p.sweep(60_000).is_empty(), "exactly the limit is not late");
        let alarms = p.sweep(60_001);
        assert_eq!(alarms.len(), 1);
        assert_eq!(alarms[0].kind, COMM_FAULT);
        assert!(p.sweep(120_000).is_empty(), "raised once");
        assert_eq!(
            p.counts(),
            PresenceCounts {
                online: 0,
                offline: 1
            }
        );
        let clears = p.seen(&[(m, Transport::Mqtt)], 130_000);
        assert_eq!(clears.len(), 1);
        assert!(p.seen(&[(m, Transport::Mqtt)], 131_000).is_empty());
        let v = p.view(m).expect("watched");
        assert!(v.online);
        assert_eq!(v.via, Some(Transport::Mqtt));
    }

    #[test]
    fn an_alarm_open_before_a_restart_clears_on_return() {
        let p = Presence::new(Duration::from_secs(60));
        let m = MeterId::new();
        p.watch(m, 0, true);
        assert!(p.sweep(1_000_000).is_empty(), "already offline");
        assert_eq!(p.seen(&[(m, Transport::Dlt645)], 1_000_001).len(), 1);
    }
}
