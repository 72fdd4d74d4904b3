//! What the service tests share: an organisation with the Guangdong
//! residential electricity tariff, one site and one building, units and
//! accounts in it, and the service context.

#![allow(dead_code)] // each test file uses its own part

use yufu_domain::*;
use yufu_lifecycle::service::Ctx;
use yufu_store::Store;

pub const ELECTRICITY: &str =
    include_str!("../../../../examples/tariffs/guangdong-residential-electricity.toml");
pub const TARIFF: &str = "guangdong-residential-electricity";

pub fn p<T: std::str::FromStr<Err = DomainError>>(s: &str) -> T {
    s.parse().expect("valid test value")
}

/// An organisation named `name` with the tariff, a site and a building.
pub async fn place(store: &dyn Store, name: &str) -> (Organisation, Site, Building) {
    let org = store
        .create_organisation(&NewOrganisation { name: p(name) })
        .await
        .expect("organisation");
    store
        .add_tariff_revision(&NewTariffRevision {
            organisation_id: org.id,
            code: p(TARIFF),
            utility: Utility::Electricity,
            name: "Residential".into(),
            source_toml: ELECTRICITY.to_owned(),
        })
        .await
        .expect("tariff");
    let site = store
        .create_site(&NewSite {
            organisation_id: org.id,
            code: p("S1"),
            name: p("Site"),
            city: p("广州"),
            timezone: TimeZoneName::shanghai(),
        })
        .await
        .expect("site");
    let building = store
        .create_building(&NewBuilding {
            site_id: site.id,
            code: p("A"),
            name: p("A"),
            floors: 1,
        })
        .await
        .expect("building");
    (org, site, building)
}

/// A residential unit `code` in the building, and an account (number
/// `number`) of a new customer.
pub async fn household(
    store: &dyn Store,
    org: OrganisationId,
    building: BuildingId,
    code: &str,
    number: &str,
) -> (Unit, Account) {
    let unit = store
        .create_unit(&NewUnit {
            building_id: building,
            code: p(code),
            floor: 1,
            kind: UnitKind::Residential,
            area: AreaCentiSqm::new(9000).expect("area"),
        })
        .await
        .expect("unit");
    let customer = store
        .create_customer(
            &NewCustomer::new(org, CustomerKind::Person, "陈伟", None, None, None)
                .expect("customer"),
        )
        .await
        .expect("customer");
    let account = store
        .create_account(&NewAccount {
            organisation_id: org,
            number: p(number),
            customer_id: customer.id,
            class: CustomerClass::Residential,
        })
        .await
        .expect("account");
    (unit, account)
}

/// The service context for `actor` of `role`, now, today in UTC.
pub fn ctx<'a>(
    store: &'a dyn Store,
    writer: Option<&'a yufu_writer::Writer>,
    org: OrganisationId,
    actor: &'a str,
    role: &'a str,
) -> Ctx<'a> {
    let now = jiff::Timestamp::now();
    Ctx {
        store,
        writer,
        org,
        actor,
        role,
        now,
        today: jiff::tz::TimeZone::UTC.to_datetime(now).date(),
    }
}
