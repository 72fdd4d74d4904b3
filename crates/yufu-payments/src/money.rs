//! Showing integer fen as yuan. No floats: the digits are cut out of the
//! integer.

/// Formats fen as yuan with thousands separators and exactly two decimals:
/// `123456` → `"1,234.56"`, `5` → `"0.05"`, `-250` → `"-2.50"`.
pub fn format_yuan(fen: i64) -> String {
    format_yuan_wide(i128::from(fen))
}

/// [`format_yuan`] for the wide totals of a reconciliation.
pub(crate) fn format_yuan_wide(fen: i128) -> String {
    let abs = fen.unsigned_abs();
    let digits = (abs / 100).to_string();
    let cents = abs % 100;
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 4);
    if fen < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out.push('.');
    if cents < 10 {
        out.push('0');
    }
    out.push_str(&cents.to_string());
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats_yuan() {
        for (fen, text) in [
            (0, "0.00"),
            (5, "0.05"),
            (10, "0.10"),
            (100, "1.00"),
            (99_999, "999.99"),
            (100_000, "1,000.00"),
            (123_456, "1,234.56"),
            (100_000_000, "1,000,000.00"),
            (-5, "-0.05"),
            (-250, "-2.50"),
            (-123_456, "-1,234.56"),
            (i64::MAX, "92,233,720,368,547,758.07"),
            (i64::MIN, "-92,233,720,368,547,758.08"),
        ] {
            assert_eq!(format_yuan(fen), text, "{fen}");
        }
    }

    proptest! {
        #[test]
        fn formatted_yuan_reads_back(fen in any::<i64>()) {
            let text = format_yuan(fen);
            let (int, dec) = text.split_once('.').unwrap();
            prop_assert_eq!(dec.len(), 2);
            let groups: Vec<&str> = int.trim_start_matches('-').split(',').collect();
            prop_assert!((1..=3).contains(&groups[0].len()));
            prop_assert!(groups[1..].iter().all(|g| g.len() == 3));
            let digits: String = text.chars().filter(char::is_ascii_digit).collect();
            let magnitude: i128 = digits.parse().unwrap();
            let value = if text.starts_with('-') { -magnitude } else { magnitude };
            prop_assert_eq!(value, i128::from(fen));
        }
    }
}
