//! The four file kinds and their columns.

use std::fmt;
use std::str::FromStr;

/// What a file holds. Each kind has a fixed set of column names (a public
/// contract, see the crate docs); the column order in a file is free.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A customer and their first account.
    Customers,
    /// An extra account for an existing customer.
    Accounts,
    /// A meter installed in a unit.
    Meters,
    /// A meter received into stock, not installed.
    Devices,
}

const CUSTOMERS: &[&str] = &[
    "account_number",
    "account_class",
    "customer_kind",
    "name",
    "phone",
    "id_number",
    "address",
];
const ACCOUNTS: &[&str] = &["account_number", "customer_account_number", "account_class"];
const METERS: &[&str] = &[
    "serial",
    "utility",
    "model",
    "protocol",
    "comm_address",
    "multiplier",
    "site_code",
    "building_code",
    "unit_code",
    "account_number",
    "tariff_code",
];
const DEVICES: &[&str] = &[
    "serial",
    "utility",
    "model",
    "protocol",
    "comm_address",
    "multiplier",
];

impl Kind {
    pub const ALL: &'static [Kind] =
        &[Kind::Customers, Kind::Accounts, Kind::Meters, Kind::Devices];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Customers => "customers",
            Kind::Accounts => "accounts",
            Kind::Meters => "meters",
            Kind::Devices => "devices",
        }
    }

    /// Every column of this kind, in the order [`export`](crate::export) writes them.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Kind::Customers => CUSTOMERS,
            Kind::Accounts => ACCOUNTS,
            Kind::Meters => METERS,
            Kind::Devices => DEVICES,
        }
    }

    /// Whether `column` may be left out of the header and its cells left
    /// empty. All other columns of the kind are required.
    pub fn is_optional(self, column: &str) -> bool {
        let optional: &[&str] = match self {
            Kind::Customers => &["phone", "id_number", "address"],
            Kind::Accounts => &[],
            Kind::Meters => &["multiplier", "account_number", "tariff_code"],
            Kind::Devices => &["multiplier"],
        };
        optional.contains(&column)
    }

    /// The column holding the key that must be unique within a file.
    pub fn key_column(self) -> &'static str {
        match self {
            Kind::Customers | Kind::Accounts => "account_number",
            Kind::Meters | Kind::Devices => "serial",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A file kind name that is not one of [`Kind::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown file kind '{0}', expected one of: customers, accounts, meters, devices")]
pub struct UnknownKind(pub String);

impl FromStr for Kind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn kinds_round_trip_and_optional_columns_exist() {
        for k in Kind::ALL {
            assert_eq!(k.as_str().parse::<Kind>().unwrap(), *k);
            assert!(k.columns().contains(&k.key_column()));
            assert!(!k.is_optional(k.key_column()));
        }
        assert!("meter".parse::<Kind>().is_err());
        assert!(Kind::Customers.is_optional("phone"));
        assert!(!Kind::Customers.is_optional("name"));
        assert!(!Kind::Meters.is_optional("unit_code"));
        assert_eq!(Kind::Meters.columns().len(), 11);
    }
}
