//! Fault injection: rates in parts per million per report, a plan that
//! turns them into decisions, and an outbox that carries the decisions out.

use std::fmt;
use std::str::FromStr;

use yufu_domain::Utility;

use crate::rng::{PPM, Rng};

/// The events a meter reports are the platform's own device-event
/// contract (`yufu-devapi`), so the simulator cannot drift from it.
pub use yufu_devapi::DeviceEvent;

/// How often each fault happens, in parts per million per report (a reading
/// sent, or a request answered over TCP).
///
/// Written on the command line as `key=probability` pairs, e.g.
/// `drop=0.01,duplicate=0.005,gas_leak=0.0001`; see [`FromStr`]. The rates
/// share one draw per report, so they must add up to at most 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FaultRates {
    /// The report is lost.
    pub drop: u32,
    /// The report arrives twice.
    pub duplicate: u32,
    /// The report is held and arrives after the next one.
    pub out_of_order: u32,
    /// The report and the next 2–7 are held and arrive together.
    pub late_burst: u32,
    /// The meter goes quiet for 5–30 reports.
    pub silence: u32,
    /// A tamper, cover-open or magnetic event is raised.
    pub tamper: u32,
    /// Gas meters only: a leak is detected, the valve closes and locks.
    pub gas_leak: u32,
}

/// Why a fault-rate string was refused. Each message names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultParseError {
    #[error("fault rate {item:?} is not key=value")]
    MissingValue { item: String },
    #[error("unknown fault key {key:?}; expected one of {}", FaultRates::KEYS.join(", "))]
    UnknownKey { key: String },
    #[error("fault key {key}: {value:?} is not a probability from 0 to 1 ({reason})")]
    BadValue {
        key: String,
        value: String,
        reason: &'static str,
    },
    #[error("fault key {key} is given twice")]
    Repeated { key: String },
    #[error("fault rates add up to {total_ppm} ppm, more than 1")]
    TooLarge { total_ppm: u64 },
}

impl FaultRates {
    /// The keys, in the order reports draw them.
    pub const KEYS: [&'static str; 7] = [
        "drop",
        "duplicate",
        "out_of_order",
        "late_burst",
        "silence",
        "tamper",
        "gas_leak",
    ];

    /// No faults at all.
    pub const NONE: FaultRates = FaultRates {
        drop: 0,
        duplicate: 0,
        out_of_order: 0,
        late_burst: 0,
        silence: 0,
        tamper: 0,
        gas_leak: 0,
    };

    fn slot(&mut self, key: &str) -> Option<&mut u32> {
        Some(match key {
            "drop" => &mut self.drop,
            "duplicate" => &mut self.duplicate,
            "out_of_order" => &mut self.out_of_order,
            "late_burst" => &mut self.late_burst,
            "silence" => &mut self.silence,
            "tamper" => &mut self.tamper,
            "gas_leak" => &mut self.gas_leak,
            _ => return None,
        })
    }

    fn values(&self) -> [u32; 7] {
        [
            self.drop,
            self.duplicate,
            self.out_of_order,
            self.late_burst,
            self.silence,
            self.tamper,
            self.gas_leak,
        ]
    }

    fn total(&self) -> u64 {
        self.values().iter().map(|v| u64::from(*v)).sum()
    }
}

/// Parses `key=value,key=value`. Values are decimal probabilities from 0 to
/// 1 with at most six decimals (`0.01`, `1`, `0.000125`), kept as ppm
/// without going through floating point. Unlisted keys are 0; an empty
/// string means no faults. Spaces around items are allowed.
impl FromStr for FaultRates {
    type Err = FaultParseError;

    fn from_str(s: &str) -> Result<Self, FaultParseError> {
        let mut rates = FaultRates::NONE;
        let mut seen: Vec<String> = Vec::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (key, value) =
                item.split_once('=')
                    .ok_or_else(|| FaultParseError::MissingValue {
                        item: item.to_owned(),
                    })?;
            let (key, value) = (key.trim(), value.trim());
            let slot = rates.slot(key).ok_or_else(|| FaultParseError::UnknownKey {
                key: key.to_owned(),
            })?;
            if seen.iter().any(|k| k == key) {
                return Err(FaultParseError::Repeated {
                    key: key.to_owned(),
                });
            }
            *slot = parse_ppm(value).map_err(|reason| FaultParseError::BadValue {
                key: key.to_owned(),
                value: value.to_owned(),
                reason,
            })?;
            seen.push(key.to_owned());
        }
        let total_ppm = rates.total();
        if total_ppm > u64::from(PPM) {
            return Err(FaultParseError::TooLarge { total_ppm });
        }
        Ok(rates)
    }
}

/// The canonical string, only nonzero keys: parses back to the same rates.
impl fmt::Display for FaultRates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (key, ppm) in Self::KEYS.iter().zip(self.values()) {
            if ppm == 0 {
                continue;
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            let (whole, frac) = (ppm / PPM, ppm % PPM);
            if frac == 0 {
                write!(f, "{key}={whole}")?;
            } else {
                let digits = format!("{frac:06}");
                write!(f, "{key}={whole}.{}", digits.trim_end_matches('0'))?;
            }
        }
        Ok(())
    }
}

/// A decimal probability to parts per million, integers only.
fn parse_ppm(text: &str) -> Result<u32, &'static str> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected digits before the decimal point");
    }
    if text.contains('.') && frac.is_empty() {
        return Err("expected digits after the decimal point");
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected digits after the decimal point");
    }
    let (kept, rest) = frac.split_at(frac.len().min(6));
    if rest.bytes().any(|b| b != b'0') {
        return Err("finer than one part per million");
    }
    let whole = whole.trim_start_matches('0');
    if whole.len() > 1 {
        return Err("more than 1");
    }
    let whole: u32 = whole.parse().unwrap_or(0);
    let mut frac_ppm: u32 = kept.parse().unwrap_or(0);
    for _ in kept.len()..6 {
        frac_ppm *= 10;
    }
    let ppm = whole * PPM + frac_ppm;
    if ppm > PPM {
        return Err("more than 1");
    }
    Ok(ppm)
}

/// What to do with one report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultAction {
    /// Deliver it.
    Send,
    /// Lose it (over TCP: ignore the request, carry nothing out).
    Drop,
    /// Deliver it twice.
    Duplicate,
    /// Keep it and deliver it right after the next delivered report.
    HoldForOutOfOrder,
    /// Keep it with the other reports of the burst; all go out together
    /// with the first report delivered after the burst.
    LateBurst,
    /// The meter is quiet: nothing goes out. `reports` counts this one and
    /// those still to come in this quiet spell.
    Silence { reports: u32 },
    /// Raise a tamper-type event on the meter, then deliver as usual.
    Tamper { event: DeviceEvent },
    /// Gas meters only: detect a leak (the meter closes its own valve), then
    /// deliver as usual.
    GasLeak,
}

impl FaultAction {
    /// The event to inject into the meter before answering, if any.
    pub fn event(self) -> Option<DeviceEvent> {
        match self {
            FaultAction::Tamper { event } => Some(event),
            FaultAction::GasLeak => Some(DeviceEvent::GasLeak),
            _ => None,
        }
    }

    /// False when the report is lost in transit: the meter never sees a
    /// request it was meant to answer.
    pub fn reaches_meter(self) -> bool {
        !matches!(self, FaultAction::Drop | FaultAction::Silence { .. })
    }
}

/// Length of a late burst in reports, this one included.
const BURST_LEN: (u64, u64) = (3, 8);
/// Length of a silent spell in reports.
const SILENCE_LEN: (u64, u64) = (5, 30);

/// Turns [`FaultRates`] into one [`FaultAction`] per report, remembering
/// multi-report faults (a burst, a silent spell) between calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultPlan {
    rates: FaultRates,
    /// Reports still to hold in the current burst, after this one.
    burst_left: u32,
    /// Reports still to swallow in the current silence, after this one.
    silence_left: u32,
}

impl FaultPlan {
    pub fn new(rates: FaultRates) -> Self {
        FaultPlan {
            rates,
            burst_left: 0,
            silence_left: 0,
        }
    }

    pub fn rates(&self) -> FaultRates {
        self.rates
    }

    /// The action for the next report of a meter of `utility`. One draw
    /// from `rng` picks among the rates in [`FaultRates::KEYS`] order;
    /// `gas_leak` counts only for gas meters (elsewhere it is a `Send`).
    pub fn decide(&mut self, rng: &mut Rng, utility: Utility) -> FaultAction {
        if self.silence_left > 0 {
            let reports = self.silence_left;
            self.silence_left -= 1;
            return FaultAction::Silence { reports };
        }
        if self.burst_left > 0 {
            self.burst_left -= 1;
            return FaultAction::LateBurst;
        }
        let draw = rng.below(u64::from(PPM));
        let r = self.rates;
        let gas_leak = if utility == Utility::Gas {
            r.gas_leak
        } else {
            0
        };
        let mut edge = 0u64;
        let mut hit = |rate: u32| {
            edge += u64::from(rate);
            draw < edge
        };
        if hit(r.drop) {
            FaultAction::Drop
        } else if hit(r.duplicate) {
            FaultAction::Duplicate
        } else if hit(r.out_of_order) {
            FaultAction::HoldForOutOfOrder
        } else if hit(r.late_burst) {
            let len = rng.between(BURST_LEN.0, BURST_LEN.1);
            self.burst_left = u32::try_from(len - 1).unwrap_or(0);
            FaultAction::LateBurst
        } else if hit(r.silence) {
            let len = u32::try_from(rng.between(SILENCE_LEN.0, SILENCE_LEN.1)).unwrap_or(1);
            self.silence_left = len - 1;
            FaultAction::Silence { reports: len }
        } else if hit(r.tamper) {
            const TAMPERS: [DeviceEvent; 3] = [
                DeviceEvent::Tamper,
                DeviceEvent::CoverOpen,
                DeviceEvent::Magnetic,
            ];
            let pick = usize::try_from(rng.below(3)).unwrap_or(0);
            FaultAction::Tamper {
                event: TAMPERS.get(pick).copied().unwrap_or(DeviceEvent::Tamper),
            }
        } else if hit(gas_leak) {
            FaultAction::GasLeak
        } else {
            FaultAction::Send
        }
    }
}

/// Reports held back at most per kind; beyond this the oldest is lost, as in
/// a DTU's full buffer.
pub const MAX_HELD: usize = 64;

/// Carries out [`FaultAction`]s on a stream of reports: says what to send
/// now and keeps what is held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbox<T> {
    out_of_order: Vec<T>,
    burst: Vec<T>,
}

impl<T> Default for Outbox<T> {
    fn default() -> Self {
        Outbox {
            out_of_order: Vec::new(),
            burst: Vec::new(),
        }
    }
}

impl<T: Clone> Outbox<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// What to send now, in order, for `report` under `action`. A delivered
    /// report releases what was held: first a finished burst (oldest first),
    /// then the report (twice for `Duplicate`), then reports held for
    /// out-of-order delivery, which so arrive after a newer one.
    pub fn route(&mut self, action: FaultAction, report: T) -> Vec<T> {
        match action {
            FaultAction::Drop | FaultAction::Silence { .. } => Vec::new(),
            FaultAction::HoldForOutOfOrder => {
                hold(&mut self.out_of_order, report);
                Vec::new()
            }
            FaultAction::LateBurst => {
                hold(&mut self.burst, report);
                Vec::new()
            }
            FaultAction::Send
            | FaultAction::Duplicate
            | FaultAction::Tamper { .. }
            | FaultAction::GasLeak => {
                let mut out: Vec<T> = self.burst.drain(..).collect();
                if action == FaultAction::Duplicate {
                    out.push(report.clone());
                }
                out.push(report);
                out.append(&mut self.out_of_order);
                out
            }
        }
    }

    /// Reports currently held back.
    pub fn held(&self) -> usize {
        self.out_of_order.len() + self.burst.len()
    }
}

fn hold<T>(held: &mut Vec<T>, report: T) {
    if held.len() >= MAX_HELD {
        held.remove(0);
    }
    held.push(report);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names() {
        let names: Vec<&str> = DeviceEvent::ALL.iter().map(|e| e.as_str()).collect();
        assert_eq!(
            names,
            [
                "tamper",
                "cover_open",
                "magnetic",
                "gas_leak",
                "low_battery",
                "valve_fault"
            ]
        );
        assert_eq!(DeviceEvent::CoverOpen.to_string(), "cover_open");
    }

    #[test]
    fn parse_good() {
        let check = |text: &str, expect: FaultRates| {
            assert_eq!(text.parse::<FaultRates>(), Ok(expect), "{text:?}");
        };
        check("", FaultRates::NONE);
        check(
            "drop=0.01,duplicate=0.005,gas_leak=0.0001",
            FaultRates {
                drop: 10_000,
                duplicate: 5_000,
                gas_leak: 100,
                ..FaultRates::NONE
            },
        );
        check(
            " silence = 1 ",
            FaultRates {
                silence: PPM,
                ..FaultRates::NONE
            },
        );
        check(
            "tamper=0.000001,late_burst=0.1000000,out_of_order=00.5",
            FaultRates {
                tamper: 1,
                late_burst: 100_000,
                out_of_order: 500_000,
                ..FaultRates::NONE
            },
        );
        check("drop=0,,", FaultRates::NONE);
    }

    #[test]
    fn parse_bad_names_the_key() {
        let bad = |text: &str, needle: &str| {
            let err = text.parse::<FaultRates>().unwrap_err();
            assert!(err.to_string().contains(needle), "{text:?}: {err}");
        };
        bad("drop", "\"drop\"");
        bad("loss=0.1", "\"loss\"");
        bad("drop=0.1,drop=0.2", "drop");
        bad("drop=1.5", "drop");
        bad("duplicate=2", "duplicate");
        bad("duplicate=-0.1", "duplicate");
        bad("tamper=.5", "tamper");
        bad("tamper=0.", "tamper");
        bad("tamper=1e-3", "tamper");
        bad("silence=0.0000001", "silence");
        bad("gas_leak=abc", "gas_leak");
        bad("drop=0.6,silence=0.6", "more than 1");
    }

    #[test]
    fn display_round_trips() {
        let rates: FaultRates = "drop=0.01,duplicate=0.005,gas_leak=0.0001,silence=0.9"
            .parse()
            .unwrap();
        assert_eq!(
            rates.to_string(),
            "drop=0.01,duplicate=0.005,silence=0.9,gas_leak=0.0001"
        );
        assert_eq!(rates.to_string().parse(), Ok(rates));
    }

    #[test]
    fn plan_follows_the_rates() {
        let rates: FaultRates = "drop=0.1,duplicate=0.1,gas_leak=0.1".parse().unwrap();
        let mut plan = FaultPlan::new(rates);
        let mut rng = Rng::new(1);
        let n = 100_000;
        let mut drops = 0;
        let mut dups = 0;
        let mut leaks = 0;
        for _ in 0..n {
            match plan.decide(&mut rng, Utility::Electricity) {
                FaultAction::Drop => drops += 1,
                FaultAction::Duplicate => dups += 1,
                FaultAction::GasLeak => leaks += 1,
                _ => {}
            }
        }
        assert!((9_000..11_000).contains(&drops), "{drops}");
        assert!((9_000..11_000).contains(&dups), "{dups}");
        assert_eq!(leaks, 0, "gas leaks only on gas meters");
        let mut gas = FaultPlan::new(rates);
        let leaks = (0..n)
            .filter(|_| gas.decide(&mut rng, Utility::Gas) == FaultAction::GasLeak)
            .count();
        assert!((9_000..11_000).contains(&leaks), "{leaks}");
    }

    #[test]
    fn silence_and_bursts_span_reports() {
        let mut plan = FaultPlan::new("silence=1".parse().unwrap());
        let mut rng = Rng::new(2);
        let FaultAction::Silence { reports } = plan.decide(&mut rng, Utility::Water) else {
            panic!("expected silence");
        };
        assert!((5..=30).contains(&reports));
        for left in (1..reports).rev() {
            assert_eq!(
                plan.decide(&mut rng, Utility::Water),
                FaultAction::Silence { reports: left }
            );
        }

        let mut plan = FaultPlan::new("late_burst=1".parse().unwrap());
        // Every report is a burst when the rate is 1; count one burst's
        // length by switching the rates off after the first.
        assert_eq!(plan.decide(&mut rng, Utility::Gas), FaultAction::LateBurst);
        plan.rates = FaultRates::NONE;
        let mut len = 1;
        while plan.decide(&mut rng, Utility::Gas) == FaultAction::LateBurst {
            len += 1;
        }
        assert!((3..=8).contains(&len), "{len}");
    }

    #[test]
    fn outbox_orders() {
        let mut out = Outbox::new();
        assert_eq!(out.route(FaultAction::Send, 1), vec![1]);
        assert_eq!(out.route(FaultAction::Duplicate, 2), vec![2, 2]);
        assert_eq!(out.route(FaultAction::Drop, 3), Vec::<i32>::new());
        assert!(out.route(FaultAction::HoldForOutOfOrder, 4).is_empty());
        assert_eq!(out.route(FaultAction::Send, 5), vec![5, 4]);
        assert!(out.route(FaultAction::LateBurst, 6).is_empty());
        assert!(out.route(FaultAction::LateBurst, 7).is_empty());
        assert!(out.route(FaultAction::Silence { reports: 1 }, 8).is_empty());
        assert_eq!(out.held(), 2);
        assert_eq!(out.route(FaultAction::GasLeak, 9), vec![6, 7, 9]);
        assert_eq!(out.held(), 0);
        for i in 0..100 {
            out.route(FaultAction::LateBurst, i);
        }
        assert_eq!(out.held(), MAX_HELD);
    }
}
