//! Normalisation before blind indexing.
//!
//! A blind index only finds exact matches, so every spelling a clerk might
//! type for the same value must collapse to one string before hashing. The
//! same function must be used when writing the index and when searching.

/// Normalises a phone number for [`Vault::blind_index`](crate::Vault::blind_index).
///
/// Keeps digits only (ASCII and full-width `０`–`９`, which Chinese input
/// methods produce), then drops a leading `86` / `0086` country code (`+86`
/// becomes `86` once the `+` is gone) when what remains is an 11-digit
/// mainland mobile number starting with `1`. So `+86 138-0013-8000`,
/// `0086 13800138000`, `８６１３８００１３８０００` and `13800138000` all give
/// `13800138000`.
///
/// Other numbers (landlines, foreign numbers) keep their digits unchanged:
/// stripping `86` from them could merge different numbers.
#[must_use]
pub fn normalize_phone(raw: &str) -> String {
    let digits: String = raw.chars().filter_map(ascii_digit).collect();
    for prefix in ["0086", "86"] {
        if let Some(rest) = digits.strip_prefix(prefix)
            && is_mainland_mobile(rest)
        {
            return rest.to_owned();
        }
    }
    digits
}

/// Normalises a resident ID number for
/// [`Vault::blind_index`](crate::Vault::blind_index): trims surrounding
/// whitespace and upper-cases a trailing check letter `x` (the 18-digit
/// mainland ID uses `X` for check value 10, and both cases are typed).
#[must_use]
pub fn normalize_id_number(raw: &str) -> String {
    let trimmed = raw.trim();
    match trimmed.strip_suffix('x') {
        Some(body) => format!("{body}X"),
        None => trimmed.to_owned(),
    }
}

/// Normalises a person's or company's name for
/// [`Vault::blind_index`](crate::Vault::blind_index): trims it, collapses
/// every run of whitespace (ASCII or the ideographic space U+3000 that
/// Chinese input methods type) to one ASCII space, and lower-cases it. So
/// `陈小明`, ` 陈小明　` and `Chen  Xiaoming` / `chen xiaoming` each find
/// their own row whichever way a clerk typed them. Names are sealed, so
/// search is by the whole normalised name, never by part of it.
#[must_use]
pub fn normalize_name(raw: &str) -> String {
    raw.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Maps ASCII and full-width digits to ASCII digits; everything else
/// (spaces, dashes, `+`, parentheses) is dropped.
fn ascii_digit(c: char) -> Option<char> {
    match c {
        '0'..='9' => Some(c),
        // U+FF10..=U+FF19 FULLWIDTH DIGIT ZERO..NINE map onto '0'..='9'.
        '\u{FF10}'..='\u{FF19}' => char::from_u32(u32::from(c) - 0xFF10 + u32::from('0')),
        _ => None,
    }
}

fn is_mainland_mobile(digits: &str) -> bool {
    digits.len() == 11 && digits.starts_with('1')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_formats_collapse() {
        for raw in [
            "13800138000",
            "+86 138-0013-8000",
            "+8613800138000",
            "86 13800138000",
            "0086-138 0013 8000",
            "(+86) 138 0013 8000",
            "８６１３８００１３８０００",
            " 138 0013 8000 ",
        ] {
            assert_eq!(normalize_phone(raw), "13800138000", "{raw}");
        }
    }

    #[test]
    fn phone_country_code_kept_when_not_a_mobile() {
        // Beijing landline with country code: 86 + 10-digit number.
        assert_eq!(normalize_phone("+86 10 1234 5678"), "861012345678");
        // 86 followed by 11 digits not starting with 1.
        assert_eq!(normalize_phone("8623800138000"), "8623800138000");
        // A bare 11-digit mobile that itself starts with 86 is not touched.
        assert_eq!(normalize_phone("1860000000"), "1860000000");
        assert_eq!(normalize_phone(""), "");
        assert_eq!(normalize_phone("n/a"), "");
    }

    #[test]
    fn names_ignore_spacing_and_case() {
        for raw in ["陈小明", " 陈小明　", "\t陈小明\n"] {
            assert_eq!(normalize_name(raw), "陈小明", "{raw:?}");
        }
        for raw in [
            "Chen Xiaoming",
            "  chen   XIAOMING ",
            "chen\u{3000}xiaoming",
        ] {
            assert_eq!(normalize_name(raw), "chen xiaoming", "{raw:?}");
        }
        assert_eq!(normalize_name("   "), "");
    }

    #[test]
    fn id_number_check_letter() {
        assert_eq!(
            normalize_id_number(" 11010519491231002x "),
            "11010519491231002X"
        );
        assert_eq!(
            normalize_id_number("11010519491231002X"),
            "11010519491231002X"
        );
        assert_eq!(
            normalize_id_number("110105194912310021\n"),
            "110105194912310021"
        );
        assert_eq!(normalize_id_number(""), "");
    }
}
