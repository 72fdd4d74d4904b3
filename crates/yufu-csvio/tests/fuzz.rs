//! Parsing never panics, whatever the bytes.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use yufu_csvio::{Existing, Kind, check_references, parse};
use yufu_domain::OrganisationId;

struct Everything;
impl Existing for Everything {
    fn account_exists(&self, _: &str) -> bool {
        true
    }
    fn serial_exists(&self, _: &str) -> bool {
        true
    }
    fn unit_exists(&self, _: &str, _: &str, _: &str) -> bool {
        false
    }
    fn tariff_exists(&self, _: &str) -> bool {
        false
    }
}

fn kind() -> impl Strategy<Value = Kind> {
    prop::sample::select(Kind::ALL.to_vec())
}

proptest! {
    #[test]
    fn parse_never_panics_on_arbitrary_bytes(kind in kind(), bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut parsed = parse(kind, OrganisationId::new(), &bytes);
        check_references(&mut parsed, &Everything);
        prop_assert!(parsed.problems.windows(2).all(|w| w[0].row <= w[1].row));
    }

    /// Arbitrary cells under a valid header: never a panic, and every row is
    /// either parsed or has a problem.
    #[test]
    fn parse_never_panics_on_arbitrary_cells(
        kind in kind(),
        cells in prop::collection::vec(prop::collection::vec("[\\PC,\"\r\n ]{0,12}", 0..12), 0..8),
    ) {
        let mut file = kind.columns().join(",");
        file.push('\n');
        for row in &cells {
            file.push_str(&row.join(","));
            file.push('\n');
        }
        let parsed = parse(kind, OrganisationId::new(), file.as_bytes());
        let lines = file.lines().count().max(1);
        for p in &parsed.problems {
            prop_assert!(p.row >= 1 && p.row <= lines + 1, "{p}");
        }
        for (row, value) in &parsed.rows {
            prop_assert!(*row >= 2 && *row <= lines);
            prop_assert_eq!(value.kind(), kind);
            prop_assert!(!parsed.problems.iter().any(|p| p.row == *row));
        }
    }
}
