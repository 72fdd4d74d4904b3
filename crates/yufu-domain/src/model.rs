//! The entities of the foundation data model and their "new" forms.
//!
//! The tree: organisation → sites → buildings → units (premises). Beside it:
//! customers → accounts (the prepaid balance) → meters, and staff users. A `NewX`
//! holds validated input; the store turns it into an `X` with an id and a
//! creation instant.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;

use crate::{
    AccountId, AccountNumber, AreaCentiSqm, BuildingId, Code, CommAddress, CustomerId, DomainError,
    Fen, MeterId, MeterSerial, Multiplier, Name, OrganisationId, Personal, SiteId, StaffUserId,
    TariffCode, TimeZoneName, UnitId, Username,
};

/// An enum stored as its snake_case text in both databases and in JSON.
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident, $field:literal { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = DomainError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(DomainError::UnknownVariant {
                        field: $field,
                        value: other.to_owned(),
                        expected: concat!($($text, " "),+),
                    }),
                }
            }
        }
    };
}
pub(crate) use text_enum;

text_enum!(
    /// What a meter measures.
    Utility, "utility" {
        /// 电 — registers in Wh.
        Electricity = "electricity",
        /// 水 — registers in litres.
        Water = "water",
        /// 燃气 — registers in litres.
        Gas = "gas",
    }
);

text_enum!(
    /// How Yufu talks to a meter.
    MeterProtocol, "protocol" {
        Dlt645_2007 = "dlt645_2007",
        Dlt645_1997 = "dlt645_1997",
        Cjt188 = "cjt188",
        /// The ThingsBoard-style MQTT device API.
        Mqtt = "mqtt",
    }
);

impl MeterProtocol {
    /// Whether a meter of this utility can speak this protocol: DL/T 645 is for
    /// electricity meters, CJ/T 188 for water, gas and heat meters.
    pub fn serves(self, utility: Utility) -> bool {
        match self {
            MeterProtocol::Dlt645_2007 | MeterProtocol::Dlt645_1997 => {
                utility == Utility::Electricity
            }
            MeterProtocol::Cjt188 => utility != Utility::Electricity,
            MeterProtocol::Mqtt => true,
        }
    }
}

text_enum!(
    /// Where a meter is in its life. The device-lifecycle issue refines this
    /// into the full inventory state machine.
    MeterStatus, "status" {
        InStock = "in_stock",
        Installed = "installed",
        InService = "in_service",
        Faulty = "faulty",
        Removed = "removed",
        Retired = "retired",
    }
);

text_enum!(
    /// The use of a unit (premises).
    UnitKind, "kind" {
        Residential = "residential",
        Commercial = "commercial",
        Industrial = "industrial",
        Office = "office",
        Public = "public",
        Other = "other",
    }
);

text_enum!(
    /// A person (个人) or a company (单位).
    CustomerKind, "kind" {
        Person = "person",
        Company = "company",
    }
);

text_enum!(
    /// The customer class of an account: selects default tariffs, warning and
    /// cut-off levels.
    CustomerClass, "class" {
        Residential = "residential",
        Commercial = "commercial",
        Industrial = "industrial",
        Public = "public",
    }
);

text_enum!(
    AccountStatus, "status" {
        Active = "active",
        Closed = "closed",
    }
);

text_enum!(
    /// A staff role. What each may do is decided by the access-control crate.
    Role, "role" {
        Admin = "admin",
        Manager = "manager",
        Finance = "finance",
        Cashier = "cashier",
        ServiceAgent = "service_agent",
        Technician = "technician",
        Auditor = "auditor",
    }
);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrganisation {
    pub name: Name,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Organisation {
    pub id: OrganisationId,
    pub name: Name,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSite {
    pub organisation_id: OrganisationId,
    pub code: Code,
    pub name: Name,
    pub city: Name,
    pub timezone: TimeZoneName,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Site {
    pub id: SiteId,
    pub organisation_id: OrganisationId,
    pub code: Code,
    pub name: Name,
    pub city: Name,
    pub timezone: TimeZoneName,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBuilding {
    pub site_id: SiteId,
    pub code: Code,
    pub name: Name,
    pub floors: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Building {
    pub id: BuildingId,
    pub site_id: SiteId,
    pub code: Code,
    pub name: Name,
    pub floors: u16,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUnit {
    pub building_id: BuildingId,
    pub code: Code,
    /// Floor number; negative for basements.
    pub floor: i16,
    pub kind: UnitKind,
    pub area: AreaCentiSqm,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Unit {
    pub id: UnitId,
    pub building_id: BuildingId,
    pub code: Code,
    pub floor: i16,
    pub kind: UnitKind,
    pub area: AreaCentiSqm,
    pub created_at: Timestamp,
}

/// Contact details of a customer. Every field is personal data: see [`Personal`].
/// Deliberately not `Serialize`, so no handler can send it out unmasked by
/// accident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCustomer {
    pub organisation_id: OrganisationId,
    pub kind: CustomerKind,
    pub name: Personal<String>,
    pub phone: Option<Personal<String>>,
    pub id_number: Option<Personal<String>>,
    pub address: Option<Personal<String>>,
}

impl NewCustomer {
    /// Validates the contact details: a name of 1–100 characters, a phone number
    /// of 5–20 digits (with optional `+`, spaces and dashes), an ID number of
    /// 1–32 letters and digits (resident ID, passport or USCC for companies).
    pub fn new(
        organisation_id: OrganisationId,
        kind: CustomerKind,
        name: &str,
        phone: Option<&str>,
        id_number: Option<&str>,
        address: Option<&str>,
    ) -> Result<Self, DomainError> {
        let name = Name::parse_field("customer.name", name)?;
        if name.as_str().chars().count() > 100 {
            return Err(DomainError::TooLong {
                field: "customer.name",
                max: 100,
                len: name.as_str().chars().count(),
            });
        }
        let phone = phone
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(check_phone)
            .transpose()?;
        let id_number = id_number
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|s| {
                if s.len() > 32 || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    Err(DomainError::invalid(
                        "customer.id_number",
                        "1–32 letters and digits",
                    ))
                } else {
                    Ok(Personal::new(s.to_ascii_uppercase()))
                }
            })
            .transpose()?;
        let address = address
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|s| {
                Name::parse_field("customer.address", s)
                    .map(|n| Personal::new(n.as_str().to_owned()))
            })
            .transpose()?;
        Ok(Self {
            organisation_id,
            kind,
            name: Personal::new(name.as_str().to_owned()),
            phone,
            id_number,
            address,
        })
    }
}

fn check_phone(s: &str) -> Result<Personal<String>, DomainError> {
    let digits = s.bytes().filter(u8::is_ascii_digit).count();
    let shape_ok = s
        .char_indices()
        .all(|(i, c)| c.is_ascii_digit() || c == ' ' || c == '-' || (c == '+' && i == 0));
    if !shape_ok || !(5..=20).contains(&digits) {
        return Err(DomainError::invalid(
            "customer.phone",
            "5–20 digits, optionally with a leading '+', spaces or dashes",
        ));
    }
    Ok(Personal::new(s.to_owned()))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub id: CustomerId,
    pub organisation_id: OrganisationId,
    pub kind: CustomerKind,
    pub name: Personal<String>,
    pub phone: Option<Personal<String>>,
    pub id_number: Option<Personal<String>>,
    pub address: Option<Personal<String>>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    pub organisation_id: OrganisationId,
    pub number: AccountNumber,
    pub customer_id: CustomerId,
    pub class: CustomerClass,
}

/// The prepaid balance. `balance` is a cache of the sum of the account's ledger
/// entries (the engine issue adds the ledger); it starts at zero and only the
/// ledger may move it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Account {
    pub id: AccountId,
    pub organisation_id: OrganisationId,
    pub number: AccountNumber,
    pub customer_id: CustomerId,
    pub class: CustomerClass,
    pub status: AccountStatus,
    pub balance: Fen,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMeter {
    pub organisation_id: OrganisationId,
    pub serial: MeterSerial,
    pub utility: Utility,
    pub model: Name,
    pub protocol: MeterProtocol,
    pub comm_address: CommAddress,
    pub multiplier: Multiplier,
}

impl NewMeter {
    /// Checks the cross-field rules: the protocol serves the utility and the
    /// address has the protocol's shape.
    pub fn validate(&self) -> Result<(), DomainError> {
        if !self.protocol.serves(self.utility) {
            return Err(DomainError::invalid(
                "protocol",
                format!("{} does not serve {} meters", self.protocol, self.utility),
            ));
        }
        self.comm_address.check_for(self.protocol)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Meter {
    pub id: MeterId,
    pub organisation_id: OrganisationId,
    pub serial: MeterSerial,
    pub utility: Utility,
    pub model: Name,
    pub protocol: MeterProtocol,
    pub comm_address: CommAddress,
    pub multiplier: Multiplier,
    pub status: MeterStatus,
    pub unit_id: Option<UnitId>,
    pub account_id: Option<AccountId>,
    /// The tariff it is priced with, if assigned.
    pub tariff_code: Option<TariffCode>,
    pub created_at: Timestamp,
}

/// A tariff file as uploaded (validated by the tariff core before it gets here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTariffRevision {
    pub organisation_id: OrganisationId,
    pub code: TariffCode,
    pub utility: Utility,
    pub name: String,
    pub source_toml: String,
}

/// One stored revision of a tariff; the latest revision of a code is in force.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TariffRevision {
    pub organisation_id: OrganisationId,
    pub code: TariffCode,
    /// 1, 2, 3… per code.
    pub revision: i64,
    pub utility: Utility,
    pub name: String,
    pub source_toml: String,
    pub created_at: Timestamp,
}

/// A staff user. The password arrives already hashed (argon2id PHC string):
/// hashing is CPU work that belongs off the async runtime, not in the domain.
#[derive(Clone, PartialEq, Eq)]
pub struct NewStaffUser {
    pub organisation_id: OrganisationId,
    pub username: Username,
    pub display_name: Name,
    pub role: Role,
    pub password_hash: String,
}

impl fmt::Debug for NewStaffUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewStaffUser")
            .field("organisation_id", &self.organisation_id)
            .field("username", &self.username)
            .field("display_name", &self.display_name)
            .field("role", &self.role)
            .field("password_hash", &"<redacted>")
            .finish()
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct StaffUser {
    pub id: StaffUserId,
    pub organisation_id: OrganisationId,
    pub username: Username,
    pub display_name: Name,
    pub role: Role,
    pub password_hash: String,
    pub active: bool,
    pub created_at: Timestamp,
}

impl fmt::Debug for StaffUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaffUser")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .field("active", &self.active)
            .field("password_hash", &"<redacted>")
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_through_text() {
        for u in Utility::ALL {
            assert_eq!(u.as_str().parse::<Utility>().expect("ok"), *u);
        }
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().expect("ok"), *r);
        }
        let err = "steam".parse::<Utility>().unwrap_err().to_string();
        assert!(err.contains("electricity water gas"), "{err}");
    }

    #[test]
    fn protocol_must_serve_utility() {
        let m = NewMeter {
            organisation_id: OrganisationId::new(),
            serial: "E1".parse().expect("ok"),
            utility: Utility::Water,
            model: "DDZY".parse().expect("ok"),
            protocol: MeterProtocol::Dlt645_2007,
            comm_address: "000000000001".parse().expect("ok"),
            multiplier: Multiplier::ONE,
        };
        let err = m.validate().unwrap_err().to_string();
        assert!(err.contains("does not serve water"), "{err}");
    }

    #[test]
    fn customers_validate_contact_details() {
        let org = OrganisationId::new();
        let c = NewCustomer::new(
            org,
            CustomerKind::Person,
            " 陈小明 ",
            Some("138 0013 8000"),
            None,
            Some(""),
        )
        .expect("valid");
        assert_eq!(c.name.expose(), "陈小明");
        assert!(c.address.is_none());
        assert!(
            NewCustomer::new(org, CustomerKind::Person, "陈", Some("call me"), None, None).is_err()
        );
        assert!(NewCustomer::new(org, CustomerKind::Person, "", None, None, None).is_err());
        assert!(
            NewCustomer::new(
                org,
                CustomerKind::Company,
                "X",
                None,
                Some("91440101-MA5"),
                None
            )
            .is_err()
        );
    }

    #[test]
    fn password_hash_never_in_debug() {
        let u = NewStaffUser {
            organisation_id: OrganisationId::new(),
            username: "admin".parse().expect("ok"),
            display_name: "Admin".parse().expect("ok"),
            role: Role::Admin,
            password_hash: "$argon2id$secret".into(),
        };
        assert!(!format!("{u:?}").contains("secret"));
    }
}
