//! Character encoding detection.

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The character encoding a file was read in.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// UTF-8 without a byte-order mark.
    Utf8,
    /// UTF-8 starting with the byte-order mark `EF BB BF` (Excel's "CSV UTF-8").
    Utf8Bom,
    /// GB18030 (a superset of GBK and GB2312): what Chinese Excel writes for "CSV".
    Gb18030,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Utf8Bom => "utf-8-bom",
            Encoding::Gb18030 => "gb18030",
        }
    }
}

/// UTF-8 (with/without BOM) if the bytes are valid UTF-8, else GB18030
/// (Chinese Excel's default); returns the text (without the BOM) and what was
/// detected.
///
/// A file that starts with the UTF-8 BOM is always read as UTF-8: bytes that
/// are not valid UTF-8 become U+FFFD, which [`parse`](crate::parse) reports
/// for the cell they are in. Likewise for bytes that are not valid GB18030.
pub fn decode(bytes: &[u8]) -> (String, Encoding) {
    if let Some(rest) = bytes.strip_prefix(BOM) {
        return (
            String::from_utf8_lossy(rest).into_owned(),
            Encoding::Utf8Bom,
        );
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return (text.to_owned(), Encoding::Utf8);
    }
    let (text, _malformed) = encoding_rs::GB18030.decode_without_bom_handling(bytes);
    (text.into_owned(), Encoding::Gb18030)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_encoding() {
        assert_eq!(decode(b"a,b"), ("a,b".to_owned(), Encoding::Utf8));
        assert_eq!(decode(b""), (String::new(), Encoding::Utf8));
        assert_eq!(
            decode("\u{feff}名,b".as_bytes()),
            ("名,b".to_owned(), Encoding::Utf8Bom)
        );
        // 陈 in GB18030 is B3 C2: not valid UTF-8.
        assert_eq!(decode(b"\xB3\xC2"), ("陈".to_owned(), Encoding::Gb18030));
        let (text, enc) = decode(b"\xEF\xBB\xBF\xB3\xC2");
        assert_eq!(enc, Encoding::Utf8Bom);
        assert!(text.contains('\u{FFFD}'));
    }
}
