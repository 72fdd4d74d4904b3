use crate::FrameError;

/// Parses hex as printed in documents and logs: `"68 61 01"`, `"686101"`,
/// any whitespace anywhere, either case. An odd digit count or a non-hex
/// character gives [`FrameError::BadHex`] with its character position.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::with_capacity(text.len() / 2);
    let mut high: Option<u8> = None;
    let mut last = 0;
    for (position, c) in text.chars().enumerate() {
        last = position;
        if c.is_whitespace() {
            continue;
        }
        let nibble = c
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
            .ok_or(FrameError::BadHex { position })?;
        match high.take() {
            Some(h) => out.push(h << 4 | nibble),
            None => high = Some(nibble),
        }
    }
    if high.is_some() {
        return Err(FrameError::BadHex { position: last });
    }
    Ok(out)
}

/// Formats bytes as `68 61 01` (upper case, space separated).
pub fn to_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex() {
        assert_eq!(parse_hex("68 aA\n0 1"), Ok(vec![0x68, 0xAA, 0x01]));
        assert_eq!(parse_hex(""), Ok(vec![]));
        assert_eq!(parse_hex("6"), Err(FrameError::BadHex { position: 0 }));
        assert_eq!(parse_hex("6g"), Err(FrameError::BadHex { position: 1 }));
        assert_eq!(to_hex(&[0x68, 0x0A]), "68 0A");
    }
}
