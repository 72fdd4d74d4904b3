//! Writing values back to JSON text, decimals exact.

use serde_json::Value;

use crate::telemetry::{KeyValues, TelemetrySample, TelemetryValue};

/// Appends one value as JSON. A `Decimal` whose text is not a JSON number
/// (only possible if built by hand) is written as a JSON string instead, so
/// the output is always valid JSON.
pub(crate) fn value(out: &mut String, v: &TelemetryValue) {
    match v {
        TelemetryValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        TelemetryValue::Long(n) => out.push_str(&n.to_string()),
        TelemetryValue::Decimal(text) if is_json_number(text) => out.push_str(text),
        TelemetryValue::Decimal(text) | TelemetryValue::Text(text) => string(out, text),
        TelemetryValue::Json(json) => out.push_str(&json.to_string()),
    }
}

pub(crate) fn string(out: &mut String, s: &str) {
    out.push_str(&Value::from(s).to_string());
}

/// `{"k": v, …}`.
pub(crate) fn object(out: &mut String, values: &KeyValues) {
    out.push('{');
    for (i, (key, v)) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        string(out, key);
        out.push(':');
        value(out, v);
    }
    out.push('}');
}

/// A plain object for a server-timed sample, `{"ts", "values"}` otherwise.
pub(crate) fn sample(out: &mut String, s: &TelemetrySample) {
    match s.ts_ms {
        None => object(out, &s.values),
        Some(ts) => {
            out.push_str("{\"ts\":");
            out.push_str(&ts.to_string());
            out.push_str(",\"values\":");
            object(out, &s.values);
            out.push('}');
        }
    }
}

/// RFC 8259 number grammar: `-? (0 | [1-9][0-9]*) (\.[0-9]+)? ([eE][+-]?[0-9]+)?`.
fn is_json_number(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::is_json_number;

    #[test]
    fn json_number_grammar() {
        for ok in [
            "0",
            "-0",
            "1",
            "123.4500",
            "-0.1",
            "1e3",
            "1E+3",
            "2.5e-7",
            "18446744073709551616",
        ] {
            assert!(is_json_number(ok), "{ok}");
        }
        for bad in [
            "", "-", "01", "1.", ".5", "+1", "1e", "1e+", "NaN", "1 ", "0x1", "1.2.3", "--1",
        ] {
            assert!(!is_json_number(bad), "{bad}");
        }
    }
}
