//! Money. A balance or a ledger amount is an integer number of fen (分, 0.01 yuan):
//! never a float. Prices (0.0001 yuan) and rounding live with the tariff core.

use std::fmt;

/// An amount of money in fen (0.01 yuan). Negative values are legal: an account
/// in overdraft (透支) has a negative balance.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Fen(pub i64);

impl Fen {
    pub const ZERO: Fen = Fen(0);

    /// Checked addition: an overflow of i64 fen (about 9.2e16 yuan) is a bug
    /// upstream, so it is reported rather than wrapped.
    pub fn checked_add(self, other: Fen) -> Option<Fen> {
        self.0.checked_add(other.0).map(Fen)
    }
}

impl fmt::Display for Fen {
    /// Shows yuan with exactly two decimals, e.g. `-12.05`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl fmt::Debug for Fen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fen({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn displays_yuan() {
        assert_eq!(Fen(45881).to_string(), "458.81");
        assert_eq!(Fen(-5).to_string(), "-0.05");
        assert_eq!(Fen(0).to_string(), "0.00");
        assert_eq!(Fen(i64::MIN).to_string(), "-92233720368547758.08");
    }

    proptest! {
        #[test]
        fn display_parses_back_to_the_same_fen(n in any::<i64>()) {
            let text = Fen(n).to_string();
            let negative = text.starts_with('-');
            let digits: String = text.chars().filter(char::is_ascii_digit).collect();
            let magnitude: i128 = digits.parse().expect("digits");
            let value = if negative { -magnitude } else { magnitude };
            prop_assert_eq!(value, i128::from(n));
        }
    }
}
