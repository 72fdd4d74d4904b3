//! Yufu's meter telemetry contract: which telemetry keys a meter (or the
//! gateway in front of it) sends, and what they mean to the prepaid engine.
//! Everything else a device sends (voltage, signal strength, …) is accepted
//! and ignored here.

use crate::{SwitchState, TelemetrySample, TelemetryValue};

/// A hazard or fault a meter reports (stored as an alarm of that name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeviceEvent {
    Tamper,
    CoverOpen,
    Magnetic,
    GasLeak,
    LowBattery,
    ValveFault,
}

impl DeviceEvent {
    pub const ALL: [DeviceEvent; 6] = [
        DeviceEvent::Tamper,
        DeviceEvent::CoverOpen,
        DeviceEvent::Magnetic,
        DeviceEvent::GasLeak,
        DeviceEvent::LowBattery,
        DeviceEvent::ValveFault,
    ];

    /// The telemetry key and alarm kind.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceEvent::Tamper => "tamper",
            DeviceEvent::CoverOpen => "cover_open",
            DeviceEvent::Magnetic => "magnetic",
            DeviceEvent::GasLeak => "gas_leak",
            DeviceEvent::LowBattery => "low_battery",
            DeviceEvent::ValveFault => "valve_fault",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == name)
    }
}

impl std::fmt::Display for DeviceEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one telemetry sample tells the engine.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MeterReport {
    /// The device's timestamp (ms); `None`: use the time of receipt.
    pub ts_ms: Option<i64>,
    /// The cumulative register in base units: Wh for electricity, litres
    /// for water and gas.
    pub register: Option<u64>,
    /// Per-rate registers (sharp, peak, flat, valley) in Wh, when all four
    /// were sent.
    pub rates: Option<[u64; 4]>,
    /// The relay or valve position the meter reports.
    pub relay: Option<SwitchState>,
    pub valve: Option<SwitchState>,
    /// Events raised (`true`) or cleared (`false`).
    pub events: Vec<(DeviceEvent, bool)>,
}

impl MeterReport {
    /// True when the sample carried nothing the engine uses.
    pub fn is_empty(&self) -> bool {
        self.register.is_none()
            && self.relay.is_none()
            && self.valve.is_none()
            && self.events.is_empty()
    }
}

/// Why a sample broke the contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error("`{key}`: {reason}")]
    BadValue { key: String, reason: String },
    #[error("both `{0}` and `{1}` were sent; send one")]
    Both(&'static str, &'static str),
}

/// Reads a sample under the meter telemetry contract (see the README).
///
/// # Errors
/// [`ReportError`] naming the key; a sample with a bad register is refused
/// whole, so a half-understood reading is never billed.
pub fn meter_report(sample: &TelemetrySample) -> Result<MeterReport, ReportError> {
    let mut report = MeterReport {
        ts_ms: sample.ts_ms,
        ..MeterReport::default()
    };
    let mut kwh = None;
    let mut wh = None;
    let mut m3 = None;
    let mut litres = None;
    let mut rates: [Option<u64>; 4] = [None; 4];
    let mut event_names: Vec<DeviceEvent> = Vec::new();
    for (key, value) in &sample.values {
        let bad = |reason: &str| ReportError::BadValue {
            key: key.clone(),
            reason: reason.to_owned(),
        };
        match key.as_str() {
            "energy_kwh" => kwh = Some(milli(value).map_err(|r| bad(&r))?),
            "energy_wh" | "energy" => wh = Some(whole(value).map_err(|r| bad(&r))?),
            "volume_m3" => m3 = Some(milli(value).map_err(|r| bad(&r))?),
            "volume_l" | "volume" => litres = Some(whole(value).map_err(|r| bad(&r))?),
            "relay" => report.relay = Some(switch(value).map_err(|r| bad(&r))?),
            "valve" => report.valve = Some(switch(value).map_err(|r| bad(&r))?),
            "event" | "events" => match value {
                TelemetryValue::Text(list) => {
                    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                        let e = DeviceEvent::parse(name).ok_or_else(|| {
                            bad(&format!(
                                "unknown event {name:?}; known: tamper, cover_open, magnetic, gas_leak, low_battery, valve_fault"
                            ))
                        })?;
                        event_names.push(e);
                    }
                }
                _ => return Err(bad("expected a string of event names")),
            },
            other => {
                if let Some(i) = rate_index(other, "_kwh") {
                    rates[i] = Some(milli(value).map_err(|r| bad(&r))?);
                } else if let Some(i) = rate_index(other, "_wh") {
                    rates[i] = Some(whole(value).map_err(|r| bad(&r))?);
                } else if let Some(e) = DeviceEvent::parse(other) {
                    match value {
                        TelemetryValue::Bool(on) => report.events.push((e, *on)),
                        _ => return Err(bad("expected true (raised) or false (cleared)")),
                    }
                }
            }
        }
    }
    for e in event_names {
        if !report.events.iter().any(|(x, _)| *x == e) {
            report.events.push((e, true));
        }
    }
    report.register = match (kwh, wh, m3, litres) {
        (Some(_), Some(_), _, _) => return Err(ReportError::Both("energy_kwh", "energy_wh")),
        (_, _, Some(_), Some(_)) => return Err(ReportError::Both("volume_m3", "volume_l")),
        (Some(_) | None, _, Some(_) | None, _)
            if (kwh.is_some() || wh.is_some()) && (m3.is_some() || litres.is_some()) =>
        {
            return Err(ReportError::Both("energy", "volume"));
        }
        (k, w, m, l) => k.or(w).or(m).or(l),
    };
    if let [Some(a), Some(b), Some(c), Some(d)] = rates {
        report.rates = Some([a, b, c, d]);
    }
    Ok(report)
}

/// `energy_t1_kwh` … `energy_t4_kwh` → 0 … 3.
fn rate_index(key: &str, suffix: &str) -> Option<usize> {
    let n = key.strip_prefix("energy_t")?.strip_suffix(suffix)?;
    match n {
        "1" => Some(0),
        "2" => Some(1),
        "3" => Some(2),
        "4" => Some(3),
        _ => None,
    }
}

fn whole(value: &TelemetryValue) -> Result<u64, String> {
    match value {
        TelemetryValue::Long(v) => u64::try_from(*v).map_err(|_| "must not be negative".to_owned()),
        TelemetryValue::Text(t) | TelemetryValue::Decimal(t) => decimal(t, 0),
        _ => Err("expected a whole number".to_owned()),
    }
}

/// A decimal in kWh or m³ to thousandths (Wh, litres), exactly.
fn milli(value: &TelemetryValue) -> Result<u64, String> {
    match value {
        TelemetryValue::Long(v) => u64::try_from(*v)
            .ok()
            .and_then(|v| v.checked_mul(1000))
            .ok_or_else(|| "must be a non-negative number within range".to_owned()),
        TelemetryValue::Text(t) | TelemetryValue::Decimal(t) => decimal(t, 3),
        _ => Err("expected a number".to_owned()),
    }
}

/// Parses plain decimal text (`123.45`) scaled by 10^`scale`; digits beyond
/// the scale must be zeros (a meter cannot have more resolution than the
/// register's base unit, and rounding would create or lose consumption).
fn decimal(text: &str, scale: u32) -> Result<u64, String> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !(frac.is_empty() || digits(frac)) {
        return Err(format!(
            "{text:?} is not a plain non-negative decimal (no sign, exponent or spaces)"
        ));
    }
    let scale_len = usize::try_from(scale).unwrap_or(0);
    let (kept, extra) = frac.split_at(frac.len().min(scale_len));
    if extra.bytes().any(|b| b != b'0') {
        return Err(format!(
            "{text:?} has more than {scale} decimal places (finer than the register)"
        ));
    }
    let mut value: u64 = 0;
    for b in int.bytes().chain(kept.bytes()) {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or_else(|| format!("{text:?} is out of range"))?;
    }
    for _ in kept.len()..scale_len {
        value = value
            .checked_mul(10)
            .ok_or_else(|| format!("{text:?} is out of range"))?;
    }
    Ok(value)
}

fn switch(value: &TelemetryValue) -> Result<SwitchState, String> {
    match value {
        TelemetryValue::Text(t) if t == "open" => Ok(SwitchState::Open),
        TelemetryValue::Text(t) if t == "closed" => Ok(SwitchState::Closed),
        _ => Err("expected \"open\" or \"closed\"".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_telemetry;

    fn report(json: &str) -> Result<MeterReport, ReportError> {
        let samples = parse_telemetry(json.as_bytes()).expect("valid telemetry");
        meter_report(&samples[0])
    }

    #[test]
    fn energy_in_kwh_is_exact_watt_hours() {
        let r = report(
            r#"{"ts": 1735689600000, "values": {"energy_kwh": 1234.5670, "voltage": 229.1}}"#,
        )
        .expect("ok");
        assert_eq!(r.register, Some(1_234_567));
        assert_eq!(r.ts_ms, Some(1_735_689_600_000));
        assert_eq!(
            report(r#"{"energy_kwh": 12}"#).expect("ok").register,
            Some(12_000)
        );
        assert_eq!(
            report(r#"{"energy_wh": 12}"#).expect("ok").register,
            Some(12)
        );
        assert_eq!(
            report(r#"{"energy_kwh": "0.001"}"#).expect("ok").register,
            Some(1)
        );
    }

    #[test]
    fn volume_in_cubic_metres_is_exact_litres() {
        assert_eq!(
            report(r#"{"volume_m3": 35.28}"#).expect("ok").register,
            Some(35_280)
        );
        assert_eq!(report(r#"{"volume_l": 7}"#).expect("ok").register, Some(7));
    }

    #[test]
    fn finer_than_the_register_or_negative_is_refused() {
        let e = report(r#"{"energy_kwh": 1.0005}"#).unwrap_err();
        assert!(e.to_string().contains("more than 3 decimal places"), "{e}");
        assert!(report(r#"{"energy_kwh": -1}"#).is_err());
        assert!(report(r#"{"energy_kwh": 1e3}"#).is_err());
        assert!(report(r#"{"energy_kwh": "abc"}"#).is_err());
        assert!(report(r#"{"energy_kwh": true}"#).is_err());
        assert!(report(r#"{"energy_kwh": 1, "energy_wh": 1000}"#).is_err());
        assert!(report(r#"{"energy_kwh": 1, "volume_m3": 1}"#).is_err());
        assert!(report(r#"{"energy_kwh": 99999999999999999999}"#).is_err());
    }

    #[test]
    fn rates_need_all_four() {
        let r = report(
            r#"{"energy_kwh": 10, "energy_t1_kwh": 1, "energy_t2_kwh": 2, "energy_t3_kwh": 3, "energy_t4_kwh": 4}"#,
        )
        .expect("ok");
        assert_eq!(r.rates, Some([1000, 2000, 3000, 4000]));
        let r = report(r#"{"energy_kwh": 10, "energy_t1_kwh": 1}"#).expect("ok");
        assert_eq!(r.rates, None);
    }

    #[test]
    fn switches_and_events() {
        let r =
            report(r#"{"valve": "closed", "gas_leak": true, "low_battery": false}"#).expect("ok");
        assert_eq!(r.valve, Some(SwitchState::Closed));
        assert_eq!(
            r.events,
            vec![
                (DeviceEvent::GasLeak, true),
                (DeviceEvent::LowBattery, false)
            ]
        );
        let r = report(r#"{"event": "tamper, cover_open"}"#).expect("ok");
        assert_eq!(
            r.events,
            vec![(DeviceEvent::Tamper, true), (DeviceEvent::CoverOpen, true)]
        );
        assert!(report(r#"{"event": "fire"}"#).is_err());
        assert!(report(r#"{"relay": "half"}"#).is_err());
        assert!(report(r#"{"tamper": "yes"}"#).is_err());
        assert!(report(r#"{"rssi": -70}"#).expect("ok").is_empty());
    }
}
