#![doc = include_str!("../README.md")]

pub mod apportion;
pub mod balance;
pub mod command;
mod error;
pub mod evaluation;
mod ids;
pub mod ledger;
pub mod lifecycle;
mod model;
mod money;
mod personal;
mod text;

pub use error::DomainError;
pub use ids::{
    AccountId, BuildingId, CertificationId, ContractId, CustomerId, DeliveryId, DeviceModelId,
    InstallationId, MeterId, OrganisationId, RolloutId, SiteId, StaffUserId, SupplierId, UnitId,
};
pub use model::{
    Account, AccountStatus, Building, Customer, CustomerClass, CustomerKind, Meter, MeterProtocol,
    MeterStatus, NewAccount, NewBuilding, NewCustomer, NewMeter, NewOrganisation, NewSite,
    NewStaffUser, NewTariffRevision, NewUnit, Organisation, Role, Site, StaffUser, TariffRevision,
    Unit, UnitKind, Utility,
};
pub use money::Fen;
pub use personal::Personal;
pub use text::{
    AccountNumber, AreaCentiSqm, Code, CommAddress, MeterSerial, Multiplier, Name, TariffCode,
    TimeZoneName, Username,
};
