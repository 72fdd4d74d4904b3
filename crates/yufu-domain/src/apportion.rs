//! Public-area apportionment (公摊): a shared meter's charge split over a
//! group of accounts by floor area, in equal shares, or by their own usage.
//! Exact to the fen: the shares always add up to the total (largest
//! remainder method), and no share is more than one fen from its exact
//! proportion.

use crate::{DomainError, Fen};

/// How a shared charge is divided.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShareRule {
    /// By each unit's floor area (0.01 m²).
    Area,
    /// The same for everyone.
    Equal,
    /// By each account's own consumption in the period.
    Usage,
}

/// The accounts that share a public-area meter's charges, and how.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SharedGroup {
    pub rule: ShareRule,
    /// Each member with its weight: floor area in 0.01 m² for
    /// [`ShareRule::Area`]; ignored for `Equal` and `Usage` (usage is the
    /// member's own metered consumption since the previous split).
    pub members: Vec<(crate::AccountId, u64)>,
}

/// Splits `total` over `weights` in proportion. Keys come back in the order
/// given. Ties in the remainder go to the earlier key, so the result is
/// deterministic. With [`ShareRule::Equal`] pass weight 1 for everyone.
pub fn split<K: Clone>(total: Fen, weights: &[(K, u64)]) -> Result<Vec<(K, Fen)>, DomainError> {
    let whole: u128 = weights.iter().map(|(_, w)| u128::from(*w)).sum();
    if whole == 0 {
        return Err(DomainError::invalid(
            "shares",
            "nothing to split by: every weight is zero",
        ));
    }
    let magnitude = u128::from(total.0.unsigned_abs());
    let mut shares: Vec<(usize, u128, u128)> = weights
        .iter()
        .enumerate()
        .map(|(i, (_, w))| {
            let exact = magnitude * u128::from(*w);
            (i, exact / whole, exact % whole)
        })
        .collect();
    let given: u128 = shares.iter().map(|(_, q, _)| q).sum();
    let mut left = magnitude - given;
    let mut order: Vec<usize> = (0..shares.len()).collect();
    // Largest remainder first; the stable sort keeps earlier keys first on ties.
    order.sort_by(|a, b| shares[*b].2.cmp(&shares[*a].2));
    for i in order {
        if left == 0 {
            break;
        }
        shares[i].1 += 1;
        left -= 1;
    }
    let sign = if total.0 < 0 { -1 } else { 1 };
    shares
        .into_iter()
        .map(|(i, q, _)| {
            let q = i64::try_from(q)
                .map_err(|_| DomainError::invalid("shares", "share out of range"))?;
            Ok((weights[i].0.clone(), Fen(sign * q)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn splits_by_weight_exactly() {
        let s = split(Fen(-1000), &[("a", 8950), ("b", 11230), ("c", 8950)]).unwrap();
        assert_eq!(s.iter().map(|(_, f)| f.0).sum::<i64>(), -1000);
        assert_eq!(
            s,
            vec![("a", Fen(-307)), ("b", Fen(-386)), ("c", Fen(-307))]
        );
        let equal = split(Fen(100), &[(1, 1), (2, 1), (3, 1)]).unwrap();
        assert_eq!(equal, vec![(1, Fen(34)), (2, Fen(33)), (3, Fen(33))]);
        assert!(split(Fen(100), &[(1, 0)]).is_err());
        assert_eq!(split(Fen(0), &[(1, 5)]).unwrap(), vec![(1, Fen(0))]);
    }

    proptest! {
        #[test]
        fn shares_add_up_and_stay_within_a_fen(total in -10_000_000i64..10_000_000, weights in prop::collection::vec(0u64..1_000_000, 1..50)) {
            prop_assume!(weights.iter().any(|w| *w > 0));
            let keyed: Vec<(usize, u64)> = weights.iter().copied().enumerate().collect();
            let shares = split(Fen(total), &keyed).unwrap();
            prop_assert_eq!(shares.iter().map(|(_, f)| f.0).sum::<i64>(), total);
            let whole: i128 = weights.iter().map(|w| i128::from(*w)).sum();
            for ((_, f), w) in shares.iter().zip(&weights) {
                // |share × whole − total × weight| < whole, i.e. within one fen.
                let diff = (i128::from(f.0) * whole - i128::from(total) * i128::from(*w)).abs();
                prop_assert!(diff < whole);
            }
        }
    }
}
