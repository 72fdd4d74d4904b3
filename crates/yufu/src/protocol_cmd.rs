//! `yufu protocol decode|encode`: the meter codecs at the command line, for
//! commissioning and for reading captures from the field. One JSON object
//! per decode; a frame that does not decode prints `{"error": …}` and exits 2.

use serde_json::{Value, json};

/// Which codec.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Protocol {
    /// DL/T 645-2007 / 1997 (electricity)
    Dlt645,
    /// CJ/T 188-2004 (water, gas, heat)
    Cjt188,
}

/// The byte order of a CJ/T 188 data identifier (field devices differ).
#[derive(Debug, Clone, Copy, clap::ValueEnum, Default)]
pub enum DiOrder {
    /// `1F 90` for 901F (the standard's example)
    #[default]
    LowFirst,
    /// `90 1F`
    HighFirst,
}

impl From<DiOrder> for yufu_cjt188::DiOrder {
    fn from(o: DiOrder) -> Self {
        match o {
            DiOrder::LowFirst => yufu_cjt188::DiOrder::LowFirst,
            DiOrder::HighFirst => yufu_cjt188::DiOrder::HighFirst,
        }
    }
}

/// CJ/T 188 meter types accepted by `encode`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum MeterKind {
    Water,
    HotWater,
    Gas,
    Heat,
}

impl From<MeterKind> for yufu_cjt188::MeterType {
    fn from(k: MeterKind) -> Self {
        match k {
            MeterKind::Water => yufu_cjt188::MeterType::ColdWater,
            MeterKind::HotWater => yufu_cjt188::MeterType::HotWater,
            MeterKind::Gas => yufu_cjt188::MeterType::Gas,
            MeterKind::Heat => yufu_cjt188::MeterType::Heat,
        }
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ValveAction {
    Open,
    Close,
}

/// DL/T 645 relay control actions (C=1C).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RelayArg {
    Trip,
    CloseAllowed,
    DirectClose,
    KeepPowerOn,
    KeepPowerOff,
}

impl From<RelayArg> for yufu_dlt645::RelayAction {
    fn from(a: RelayArg) -> Self {
        match a {
            RelayArg::Trip => yufu_dlt645::RelayAction::Trip,
            RelayArg::CloseAllowed => yufu_dlt645::RelayAction::CloseAllowed,
            RelayArg::DirectClose => yufu_dlt645::RelayAction::DirectClose,
            RelayArg::KeepPowerOn => yufu_dlt645::RelayAction::KeepPowerOn,
            RelayArg::KeepPowerOff => yufu_dlt645::RelayAction::KeepPowerOff,
        }
    }
}

/// A bad input: the message for the user (exit code 2).
#[derive(Debug)]
pub struct BadInput(pub String);

/// `CamelCase` Debug names as `snake_case` (`ColdWater` → `cold_water`).
fn snake(debug: &str) -> String {
    let mut out = String::with_capacity(debug.len() + 4);
    for (i, c) in debug.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn hex_of(bytes: &[u8]) -> String {
    yufu_dlt645::to_hex(bytes)
}

/// Decodes `hex` (spaces allowed) and returns the JSON object to print.
pub fn decode(protocol: Protocol, hex: &str, order: DiOrder) -> Result<Value, Value> {
    match protocol {
        Protocol::Dlt645 => decode_dlt645(hex),
        Protocol::Cjt188 => decode_cjt188(hex, order),
    }
}

fn error(protocol: &str, e: &dyn std::fmt::Display) -> Value {
    json!({ "protocol": protocol, "error": e.to_string() })
}

fn decode_dlt645(hex: &str) -> Result<Value, Value> {
    let bytes = yufu_dlt645::parse_hex(hex).map_err(|e| error("dlt645", &e))?;
    let (frame, used) = yufu_dlt645::decode(&bytes).map_err(|e| error("dlt645", &e))?;
    let control = frame.control();
    let mut out = json!({
        "protocol": "dlt645",
        "bytes_used": used,
        "address": frame.address().to_string(),
        "control": {
            "byte": format!("{:02X}", control.to_byte()),
            "direction": serde_json::to_value(control.direction).unwrap_or(Value::Null),
            "error": control.error,
            "follow_up": control.follow_up,
            "function": serde_json::to_value(control.function).unwrap_or(Value::Null),
        },
        "data": hex_of(frame.data()),
    });
    match frame.message() {
        Ok(message) => out["message"] = serde_json::to_value(&message).unwrap_or(Value::Null),
        Err(e) => out["message_error"] = Value::String(e.to_string()),
    }
    if let Ok(reading) = frame.reading() {
        out["reading"] = serde_json::to_value(&reading).unwrap_or(Value::Null);
    }
    Ok(out)
}

fn decode_cjt188(hex: &str, order: DiOrder) -> Result<Value, Value> {
    let bytes = yufu_cjt188::parse_hex(hex).map_err(|e| error("cjt188", &e))?;
    let (frame, used) =
        yufu_cjt188::decode(&bytes, order.into()).map_err(|e| error("cjt188", &e))?;
    let mut out = json!({
        "protocol": "cjt188",
        "bytes_used": used,
        "meter_type": snake(&format!("{:?}", frame.meter_type)),
        "address": frame.address.to_string(),
        "control": format!("{:02X}", frame.control.0),
        "di": format!("{:04X}", frame.di),
        "ser": frame.ser,
        "payload": hex_of(&frame.payload),
    });
    if frame.di == yufu_cjt188::DI_READ_DATA
        && let Ok(r) = yufu_cjt188::ReadReply::from_frame(&frame)
    {
        let quantity = |q: &yufu_cjt188::Quantity| json!({ "centi": q.centi, "unit": snake(&format!("{:?}", q.unit)) });
        let c = r.clock;
        out["read_reply"] = json!({
            "current": quantity(&r.current),
            "settlement_day": quantity(&r.settlement_day),
            "clock": format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                c.year, c.month, c.day, c.hour, c.minute, c.second
            ),
            "valve": snake(&format!("{:?}", r.status.valve())),
            "battery_low": r.status.battery_low(),
            "status": hex_of(&r.status.0),
        });
    }
    if frame.di == yufu_cjt188::DI_VALVE
        && let Ok(v) = yufu_cjt188::ValveReply::from_frame(&frame)
    {
        out["valve_reply"] = json!({
            "valve": snake(&format!("{:?}", v.status.valve())),
            "battery_low": v.status.battery_low(),
        });
    }
    Ok(out)
}

/// `encode dlt645-read`: a read-data request.
pub fn dlt645_read(address: &str, di: &str) -> Result<String, BadInput> {
    let address: yufu_dlt645::Address = address
        .parse()
        .map_err(|e| BadInput(format!("--address: {e}")))?;
    let di = parse_di(di)?;
    Ok(hex_of(
        &yufu_dlt645::read_data(address, di).encode_with_wake_up(),
    ))
}

/// `encode dlt645-relay`: relay control with plaintext authentication.
/// `password` and `operator` are hex digits as printed on the meter's
/// documentation (e.g. `000000`), `expiry` is local `YYYY-MM-DD HH:MM:SS`.
pub fn dlt645_relay(
    address: &str,
    action: RelayArg,
    level: u8,
    password: &str,
    operator: &str,
    expiry: &str,
) -> Result<String, BadInput> {
    let address: yufu_dlt645::Address = address
        .parse()
        .map_err(|e| BadInput(format!("--address: {e}")))?;
    let hex_number = |what: &str, text: &str| {
        u32::from_str_radix(text, 16)
            .map_err(|_| BadInput(format!("--{what} '{text}': give hex digits, e.g. 000000")))
    };
    let auth = yufu_dlt645::Auth::new(
        level,
        hex_number("password", password)?,
        hex_number("operator", operator)?,
    )
    .map_err(|e| BadInput(format!("--password: {e}")))?;
    let t: jiff::civil::DateTime = expiry.parse().map_err(|e| {
        BadInput(format!(
            "--expiry '{expiry}': {e} (use YYYY-MM-DD HH:MM:SS)"
        ))
    })?;
    let narrow = |v: i8| u8::try_from(v).unwrap_or(0);
    let expiry = yufu_dlt645::DateTime::new(
        u16::try_from(t.year()).map_err(|_| BadInput("--expiry: year out of range".into()))?,
        narrow(t.month()),
        narrow(t.day()),
        narrow(t.hour()),
        narrow(t.minute()),
        narrow(t.second()),
    )
    .map_err(|e| BadInput(format!("--expiry: {e}")))?;
    let frame = yufu_dlt645::relay_control(address, action.into(), auth, expiry);
    Ok(hex_of(&frame.encode_with_wake_up()))
}

/// `encode dlt645-read-address`: the broadcast read-address request.
pub fn dlt645_read_address() -> String {
    hex_of(&yufu_dlt645::read_address().encode_with_wake_up())
}

fn parse_di(text: &str) -> Result<yufu_dlt645::Di, BadInput> {
    let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let bad = || {
        BadInput(format!(
            "--di '{text}': give 8 hex digits (2007) or 4 (1997)"
        ))
    };
    match clean.len() {
        8 => u32::from_str_radix(&clean, 16)
            .map(yufu_dlt645::Di::V2007)
            .map_err(|_| bad()),
        4 => u16::from_str_radix(&clean, 16)
            .map(yufu_dlt645::Di::V1997)
            .map_err(|_| bad()),
        _ => Err(bad()),
    }
}

/// `encode cjt188-read` and `encode cjt188-valve`.
pub fn cjt188(
    kind: MeterKind,
    address: &str,
    ser: u8,
    valve: Option<ValveAction>,
    order: DiOrder,
) -> Result<String, BadInput> {
    let address: yufu_cjt188::Address = address
        .parse()
        .map_err(|e| BadInput(format!("--address: {e}")))?;
    let frame = match valve {
        None => yufu_cjt188::read_data(kind.into(), address, ser),
        Some(action) => {
            let command = match action {
                ValveAction::Open => yufu_cjt188::Valve::Open,
                ValveAction::Close => yufu_cjt188::Valve::Close,
            };
            yufu_cjt188::valve(kind.into(), address, ser, command)
        }
    };
    let mut bytes = yufu_cjt188::WAKE_UP.to_vec();
    bytes.extend(
        frame
            .encode(order.into())
            .map_err(|e| BadInput(e.to_string()))?,
    );
    Ok(hex_of(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_names_become_snake_case() {
        assert_eq!(snake("ColdWater"), "cold_water");
        assert_eq!(snake("Open"), "open");
    }
}
