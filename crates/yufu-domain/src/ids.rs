//! Opaque identifiers. Every entity gets a UUIDv7: globally unique, generated
//! without a round trip to the database, and time-ordered, so keyset paging by id
//! returns rows in creation order on both backends.

use std::fmt;
use std::str::FromStr;

use crate::DomainError;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// A new, time-ordered identifier.
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }

            pub fn as_uuid(&self) -> uuid::Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<uuid::Uuid> for $name {
            fn from(value: uuid::Uuid) -> Self {
                Self(value)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // Lower-case hyphenated form: the one stored as TEXT in both
                // backends, whose byte order matches the UUIDv7 time order.
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = DomainError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::parse_str(s)
                    .map(Self)
                    .map_err(|e| DomainError::invalid($field, format!("not a UUID: {e}")))
            }
        }
    };
}

id_type!(
    /// An organisation: the operator (utility, property manager, park) that owns everything else.
    OrganisationId,
    "organisation_id"
);
id_type!(
    /// A site (园区/小区): a campus, estate or park.
    SiteId,
    "site_id"
);
id_type!(
    /// A building (楼栋) within a site.
    BuildingId,
    "building_id"
);
id_type!(
    /// A unit (户/单元): the premises a meter supplies.
    UnitId,
    "unit_id"
);
id_type!(
    /// A customer (用户): a person or a company.
    CustomerId,
    "customer_id"
);
id_type!(
    /// An account (账户): the prepaid balance.
    AccountId,
    "account_id"
);
id_type!(
    /// A meter (表计).
    MeterId,
    "meter_id"
);
id_type!(
    /// A staff user of the console.
    StaffUserId,
    "staff_user_id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text() {
        let id = MeterId::new();
        let back: MeterId = id.to_string().parse().expect("parses");
        assert_eq!(id, back);
    }

    #[test]
    fn ids_sort_by_creation_as_text() {
        let ids: Vec<SiteId> = (0..50).map(|_| SiteId::new()).collect();
        let mut texts: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let original = texts.clone();
        texts.sort();
        assert_eq!(
            texts, original,
            "UUIDv7 text order must equal creation order"
        );
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let err = "not-an-id".parse::<UnitId>().unwrap_err();
        assert!(err.to_string().starts_with("unit_id: not a UUID"), "{err}");
    }
}
id_type!(
    /// A device model of the catalogue (maker + model).
    DeviceModelId,
    "model_id"
);
id_type!(
    /// A supplier (供应商).
    SupplierId,
    "supplier_id"
);
id_type!(
    /// A purchase contract (采购合同).
    ContractId,
    "contract_id"
);
id_type!(
    /// A delivery (到货) against a contract.
    DeliveryId,
    "delivery_id"
);
id_type!(
    /// An installation plan (安装计划): one device into one unit.
    InstallationId,
    "installation_id"
);
id_type!(
    /// A staff certification (上岗证) for a utility.
    CertificationId,
    "certification_id"
);
id_type!(
    /// A replacement rollout plan (逐步更新计划).
    RolloutId,
    "rollout_id"
);
