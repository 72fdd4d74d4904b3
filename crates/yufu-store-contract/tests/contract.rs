//! The store contract: every behaviour here holds on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use yufu_domain::*;
use yufu_store::{MeterFilter, Page, Store, StoreError};
use yufu_store_contract::TestDb;

/// Runs each story against both backends: `sqlite::NAME` and `postgres::NAME`.
macro_rules! contract {
    ($($story:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $story() {
                    let db = yufu_store_contract::TestDb::sqlite().await;
                    super::$story(&db).await;
                    db.finish().await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $story() {
                    let Some(db) = yufu_store_contract::TestDb::postgres().await else { return };
                    super::$story(&db).await;
                    db.finish().await;
                }
            )+
        }
    };
}

contract!(
    migrations_are_idempotent,
    site_tree_round_trips,
    codes_are_unique_within_their_parent,
    references_must_exist,
    customers_keep_personal_data_exactly,
    accounts_belong_to_their_customers_organisation,
    meters_round_trip_and_filter,
    meter_serials_are_unique_per_organisation,
    meters_link_only_within_their_organisation,
    paging_visits_every_row_once_in_creation_order,
    staff_users_are_unique_and_keep_their_hash,
    missing_rows_are_not_found,
    fleet_counts_count_everything,
    concurrent_writes_all_land,
    tariffs_are_revised_and_assigned_by_utility,
);

fn name(s: &str) -> Name {
    s.parse().unwrap()
}

fn code(s: &str) -> Code {
    s.parse().unwrap()
}

async fn org(store: &dyn Store, n: &str) -> Organisation {
    store
        .create_organisation(&NewOrganisation { name: name(n) })
        .await
        .unwrap()
}

async fn site(store: &dyn Store, org: OrganisationId, c: &str) -> Site {
    store
        .create_site(&NewSite {
            organisation_id: org,
            code: code(c),
            name: name("天河示范园区"),
            city: name("广州 Guangzhou"),
            timezone: TimeZoneName::shanghai(),
        })
        .await
        .unwrap()
}

async fn building(store: &dyn Store, site: SiteId, c: &str) -> Building {
    store
        .create_building(&NewBuilding {
            site_id: site,
            code: code(c),
            name: name("A栋"),
            floors: 18,
        })
        .await
        .unwrap()
}

async fn unit(store: &dyn Store, building: BuildingId, c: &str) -> Unit {
    store
        .create_unit(&NewUnit {
            building_id: building,
            code: code(c),
            floor: 2,
            kind: UnitKind::Residential,
            area: AreaCentiSqm::parse_sqm("89.37").unwrap(),
        })
        .await
        .unwrap()
}

async fn customer(store: &dyn Store, org: OrganisationId) -> Customer {
    let new = NewCustomer::new(
        org,
        CustomerKind::Person,
        "陈小明",
        Some("13800138000"),
        Some("44010619900101123X"),
        Some("广州市天河区示范路1号"),
    )
    .unwrap();
    store.create_customer(&new).await.unwrap()
}

async fn account(store: &dyn Store, org: OrganisationId, customer: CustomerId, n: &str) -> Account {
    store
        .create_account(&NewAccount {
            organisation_id: org,
            number: n.parse().unwrap(),
            customer_id: customer,
            class: CustomerClass::Residential,
        })
        .await
        .unwrap()
}

fn new_meter(org: OrganisationId, serial: &str, utility: Utility) -> NewMeter {
    let (protocol, address) = match utility {
        Utility::Electricity => (MeterProtocol::Dlt645_2007, "000000000001"),
        Utility::Water | Utility::Gas => (MeterProtocol::Cjt188, "00000000000001"),
    };
    NewMeter {
        organisation_id: org,
        serial: serial.parse().unwrap(),
        utility,
        model: name("DDZY1102"),
        protocol,
        comm_address: address.parse().unwrap(),
        multiplier: Multiplier::new(40).unwrap(),
    }
}

async fn migrations_are_idempotent(db: &TestDb) {
    let store = db.store();
    store.ping().await.unwrap();
    assert_eq!(
        store.migrate().await.unwrap().applied,
        0,
        "a second migrate applies nothing"
    );
    assert_eq!(store.fleet_counts().await.unwrap(), Default::default());
}

async fn site_tree_round_trips(db: &TestDb) {
    let store = db.store();
    let o = org(store, "广州演示物业").await;
    assert_eq!(store.get_organisation(o.id).await.unwrap(), o);
    assert_eq!(
        store.find_organisation_by_name(&o.name).await.unwrap(),
        Some(o.clone())
    );
    assert_eq!(
        store
            .find_organisation_by_name(&name("nobody"))
            .await
            .unwrap(),
        None
    );

    let s = site(store, o.id, "GZ-TH01").await;
    assert_eq!(store.get_site(s.id).await.unwrap(), s);
    let b = building(store, s.id, "A").await;
    assert_eq!(store.get_building(b.id).await.unwrap(), b);
    let u = unit(store, b.id, "1-0203").await;
    let back = store.get_unit(u.id).await.unwrap();
    assert_eq!(back, u);
    assert_eq!(back.area.get(), 8937, "area kept to the 0.01 m²");
    assert_eq!(store.unit_organisation(u.id).await.unwrap(), o.id);

    assert_eq!(
        store.list_sites(o.id, &Page::default()).await.unwrap(),
        vec![s.clone()]
    );
    assert_eq!(
        store.list_buildings(s.id, &Page::default()).await.unwrap(),
        vec![b.clone()]
    );
    assert_eq!(
        store.list_units(b.id, &Page::default()).await.unwrap(),
        vec![u]
    );
    let other = org(store, "另一家").await;
    assert!(
        store
            .list_sites(other.id, &Page::default())
            .await
            .unwrap()
            .is_empty()
    );
}

async fn codes_are_unique_within_their_parent(db: &TestDb) {
    let store = db.store();
    let o = org(store, "O").await;
    let s1 = site(store, o.id, "S1").await;
    let err = store
        .create_site(&NewSite {
            organisation_id: o.id,
            code: code("S1"),
            name: name("dup"),
            city: name("广州"),
            timezone: TimeZoneName::shanghai(),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(ref m) if m.contains("S1")),
        "{err}"
    );
    // The same building code on two sites is fine; twice on one site is not.
    let s2 = site(store, o.id, "S2").await;
    building(store, s1.id, "A").await;
    building(store, s2.id, "A").await;
    let err = store
        .create_building(&NewBuilding {
            site_id: s1.id,
            code: code("A"),
            name: name("A"),
            floors: 1,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    let err = store
        .create_organisation(&NewOrganisation { name: name("O") })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
}

async fn references_must_exist(db: &TestDb) {
    let store = db.store();
    let err = store
        .create_site(&NewSite {
            organisation_id: OrganisationId::new(),
            code: code("X"),
            name: name("X"),
            city: name("X"),
            timezone: TimeZoneName::shanghai(),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Reference(_)), "{err}");
    let err = store
        .create_building(&NewBuilding {
            site_id: SiteId::new(),
            code: code("A"),
            name: name("A"),
            floors: 1,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Reference(_)), "{err}");
    let err = store
        .create_unit(&NewUnit {
            building_id: BuildingId::new(),
            code: code("1"),
            floor: 1,
            kind: UnitKind::Office,
            area: AreaCentiSqm::default(),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Reference(_)), "{err}");
    assert_eq!(
        store.fleet_counts().await.unwrap(),
        Default::default(),
        "nothing half-written"
    );
}

async fn customers_keep_personal_data_exactly(db: &TestDb) {
    let store = db.store();
    let o = org(store, "O").await;
    let c = customer(store, o.id).await;
    let back = store.get_customer(c.id).await.unwrap();
    assert_eq!(back, c);
    assert_eq!(back.name.expose(), "陈小明");
    assert_eq!(back.phone.as_ref().unwrap().expose(), "13800138000");
    assert_eq!(
        back.id_number.as_ref().unwrap().expose(),
        "44010619900101123X"
    );
    let company = NewCustomer::new(
        o.id,
        CustomerKind::Company,
        "广州某某科技有限公司",
        None,
        None,
        None,
    )
    .unwrap();
    let company = store.create_customer(&company).await.unwrap();
    let back = store.get_customer(company.id).await.unwrap();
    assert_eq!(back.phone, None);
    assert_eq!(back.kind, CustomerKind::Company);
    let all = store.list_customers(o.id, &Page::default()).await.unwrap();
    assert_eq!(
        all.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![c.id, company.id]
    );
}

async fn accounts_belong_to_their_customers_organisation(db: &TestDb) {
    let store = db.store();
    let o = org(store, "O").await;
    let c = customer(store, o.id).await;
    let a = account(store, o.id, c.id, "GZ0001").await;
    assert_eq!(a.balance, Fen::ZERO, "a new account starts at zero");
    assert_eq!(a.status, AccountStatus::Active);
    assert_eq!(store.get_account(a.id).await.unwrap(), a);
    let found = store
        .find_account_by_number(o.id, &"gz0001".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(found, Some(a.clone()), "numbers are matched upper-cased");

    let dup = store
        .create_account(&NewAccount {
            organisation_id: o.id,
            number: "GZ0001".parse().unwrap(),
            customer_id: c.id,
            class: CustomerClass::Commercial,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(dup, StoreError::Conflict(ref m) if m.contains("GZ0001")),
        "{dup}"
    );

    let other = org(store, "P").await;
    let foreign = store
        .create_account(&NewAccount {
            organisation_id: other.id,
            number: "GZ0002".parse().unwrap(),
            customer_id: c.id,
            class: CustomerClass::Residential,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(foreign, StoreError::Reference(ref m) if m.contains("another organisation")),
        "{foreign}"
    );
    let missing = store
        .create_account(&NewAccount {
            organisation_id: o.id,
            number: "GZ0003".parse().unwrap(),
            customer_id: CustomerId::new(),
            class: CustomerClass::Residential,
        })
        .await
        .unwrap_err();
    assert!(matches!(missing, StoreError::Reference(_)), "{missing}");
    assert_eq!(
        store.list_accounts(o.id, &Page::default()).await.unwrap(),
        vec![a]
    );
}

async fn meters_round_trip_and_filter(db: &TestDb) {
    let store = db.store();
    let o = org(store, "O").await;
    let e = store
        .create_meter(&new_meter(o.id, "e-001", Utility::Electricity))
        .await
        .unwrap();
    let w = store
        .create_meter(&new_meter(o.id, "W-001", Utility::Water))
        .await
        .unwrap();
    let g = store
        .create_meter(&new_meter(o.id, "G-001", Utility::Gas))
        .await
        .unwrap();
    assert_eq!(e.serial.as_str(), "E-001");
    assert_eq!(e.status, MeterStatus::InStock);
    assert_eq!(e.multiplier.get(), 40);
    assert_eq!(store.get_meter(e.id).await.unwrap(), e);
    assert_eq!(
        store
            .find_meter_by_serial(o.id, &"E-001".parse().unwrap())
            .await
            .unwrap(),
        Some(e.clone())
    );

    let water = MeterFilter {
        utility: Some(Utility::Water),
        ..Default::default()
    };
    assert_eq!(
        store
            .list_meters(o.id, &water, &Page::default())
            .await
            .unwrap(),
        vec![w.clone()]
    );
    let g = store
        .set_meter_status(g.id, MeterStatus::Faulty)
        .await
        .unwrap();
    assert_eq!(g.status, MeterStatus::Faulty);
    let faulty = MeterFilter {
        status: Some(MeterStatus::Faulty),
        ..Default::default()
    };
    assert_eq!(
        store
            .list_meters(o.id, &faulty, &Page::default())
            .await
            .unwrap(),
        vec![g.clone()]
    );
    let all = store
        .list_meters(o.id, &MeterFilter::default(), &Page::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 3);

    // A protocol that cannot serve the utility is refused before any write.
    let mut bad = new_meter(o.id, "W-002", Utility::Water);
    bad.protocol = MeterProtocol::Dlt645_2007;
    assert!(store.create_meter(&bad).await.is_err());
    assert_eq!(
        store
            .list_meters(o.id, &MeterFilter::default(), &Page::default())
            .await
            .unwrap()
            .len(),
        3
    );
}

async fn meter_serials_are_unique_per_organisation(db: &TestDb) {
    let store = db.store();
    let o = org(store, "O").await;
    let p = org(store, "P").await;
    store
        .create_meter(&new_meter(o.id, "E1", Utility::Electricity))
        .await
        .unwrap();
    store
        .create_meter(&new_meter(p.id, "E1", Utility::Electricity))
        .await
        .unwrap();
    let err = store
        .create_meter(&new_meter(o.id, "e1", Utility::Electricity))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(ref m) if m.contains("E1")),
        "{err}"
    );
}

async fn meters_link_only_within_their_organisation(db: &TestDb) {
    let store = db.store();
    let o = org(store, "O").await;
    let s = site(store, o.id, "S").await;
    let b = building(store, s.id, "A").await;
    let u = unit(store, b.id, "101").await;
    let c = customer(store, o.id).await;
    let a = account(store, o.id, c.id, "A0001").await;
    let m = store
        .create_meter(&new_meter(o.id, "E1", Utility::Electricity))
        .await
        .unwrap();

    let linked = store
        .assign_meter(m.id, Some(u.id), Some(a.id))
        .await
        .unwrap();
    assert_eq!(
        (linked.unit_id, linked.account_id),
        (Some(u.id), Some(a.id))
    );
    let by_unit = MeterFilter {
        unit_id: Some(u.id),
        ..Default::default()
    };
    assert_eq!(
        store
            .list_meters(o.id, &by_unit, &Page::default())
            .await
            .unwrap(),
        vec![linked.clone()]
    );
    let by_account = MeterFilter {
        account_id: Some(a.id),
        ..Default::default()
    };
    assert_eq!(
        store
            .list_meters(o.id, &by_account, &Page::default())
            .await
            .unwrap()
            .len(),
        1
    );

    let p = org(store, "P").await;
    let ps = site(store, p.id, "S").await;
    let pb = building(store, ps.id, "A").await;
    let pu = unit(store, pb.id, "101").await;
    let err = store
        .assign_meter(m.id, Some(pu.id), Some(a.id))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Reference(ref msg) if msg.contains("another organisation")),
        "{err}"
    );
    let err = store
        .assign_meter(m.id, Some(UnitId::new()), None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Reference(_)), "{err}");
    assert_eq!(
        store.get_meter(m.id).await.unwrap(),
        linked,
        "a refused link changes nothing"
    );

    let unlinked = store.assign_meter(m.id, None, None).await.unwrap();
    assert_eq!((unlinked.unit_id, unlinked.account_id), (None, None));
}

async fn paging_visits_every_row_once_in_creation_order(db: &TestDb) {
    let store = db.store();
    let o = org(store, "O").await;
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(site(store, o.id, &format!("S{i}")).await.id);
    }
    let mut seen = Vec::new();
    let mut page = Page::first(3);
    loop {
        let rows = store.list_sites(o.id, &page).await.unwrap();
        assert!(rows.len() <= 3);
        let Some(last) = rows.last() else { break };
        page = Page::after(last.id, 3);
        seen.extend(rows.iter().map(|s| s.id));
    }
    assert_eq!(seen, created);
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 7);
}

async fn staff_users_are_unique_and_keep_their_hash(db: &TestDb) {
    let store = db.store();
    let o = org(store, "O").await;
    let new = NewStaffUser {
        organisation_id: o.id,
        username: "Admin".parse().unwrap(),
        display_name: name("系统管理员"),
        role: Role::Admin,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
    };
    let u = store.create_staff_user(&new).await.unwrap();
    assert!(u.active);
    let found = store
        .find_staff_user(&"admin".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, u);
    let err = store.create_staff_user(&new).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(ref m) if m.contains("admin")),
        "{err}"
    );
    store
        .set_staff_password(u.id, "$argon2id$new")
        .await
        .unwrap();
    let found = store.find_staff_user(&u.username).await.unwrap().unwrap();
    assert_eq!(found.password_hash, "$argon2id$new");
    assert!(matches!(
        store.set_staff_password(StaffUserId::new(), "x").await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(
        store
            .find_staff_user(&"nobody".parse().unwrap())
            .await
            .unwrap(),
        None
    );
}

async fn missing_rows_are_not_found(db: &TestDb) {
    let store = db.store();
    fn nf<T: std::fmt::Debug>(r: Result<T, StoreError>, entity: &str) {
        match r {
            Err(StoreError::NotFound { entity: e, .. }) => assert_eq!(e, entity),
            other => panic!("expected {entity} not found, got {other:?}"),
        }
    }
    nf(
        store.get_organisation(OrganisationId::new()).await,
        "organisation",
    );
    nf(store.get_site(SiteId::new()).await, "site");
    nf(store.get_building(BuildingId::new()).await, "building");
    nf(store.get_unit(UnitId::new()).await, "unit");
    nf(store.unit_organisation(UnitId::new()).await, "unit");
    nf(store.get_customer(CustomerId::new()).await, "customer");
    nf(store.get_account(AccountId::new()).await, "account");
    nf(store.get_meter(MeterId::new()).await, "meter");
    nf(
        store
            .set_meter_status(MeterId::new(), MeterStatus::Retired)
            .await,
        "meter",
    );
    nf(
        store.assign_meter(MeterId::new(), None, None).await,
        "meter",
    );
}

async fn fleet_counts_count_everything(db: &TestDb) {
    let store = db.store();
    let o = org(store, "O").await;
    let s = site(store, o.id, "S").await;
    let b = building(store, s.id, "A").await;
    unit(store, b.id, "101").await;
    unit(store, b.id, "102").await;
    let c = customer(store, o.id).await;
    account(store, o.id, c.id, "A0001").await;
    store
        .create_meter(&new_meter(o.id, "E1", Utility::Electricity))
        .await
        .unwrap();
    store
        .create_meter(&new_meter(o.id, "E2", Utility::Electricity))
        .await
        .unwrap();
    let w = store
        .create_meter(&new_meter(o.id, "W1", Utility::Water))
        .await
        .unwrap();
    store
        .set_meter_status(w.id, MeterStatus::InService)
        .await
        .unwrap();
    let counts = store.fleet_counts().await.unwrap();
    assert_eq!(
        (
            counts.organisations,
            counts.sites,
            counts.buildings,
            counts.units,
            counts.customers,
            counts.accounts
        ),
        (1, 1, 1, 2, 1, 1)
    );
    assert_eq!(counts.meters_total(), 3);
    assert_eq!(counts.meters_of(Utility::Electricity), 2);
    assert_eq!(counts.meters_of(Utility::Gas), 0);
    assert!(
        counts
            .meters
            .contains(&(Utility::Water, MeterStatus::InService, 1))
    );
}

async fn concurrent_writes_all_land(db: &TestDb) {
    let store = db.shared();
    let o = org(store.as_ref(), "O").await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .create_meter(&new_meter(o.id, &format!("E{i:03}"), Utility::Electricity))
                .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let all = store
        .list_meters(o.id, &MeterFilter::default(), &Page::first(100))
        .await
        .unwrap();
    assert_eq!(all.len(), 40);
}

#[test]
fn both_backends_carry_the_same_migrations() {
    let sqlite = yufu_store_sqlite::migration_names();
    let postgres = yufu_store_postgres::migration_names();
    assert!(!sqlite.is_empty());
    assert_eq!(
        sqlite, postgres,
        "every migration needs a twin with the same name"
    );
    let files = |dir: &str| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(format!(
            "{}/../{dir}/migrations",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
        v.sort();
        v
    };
    assert_eq!(files("yufu-store-sqlite"), files("yufu-store-postgres"));
}

async fn tariffs_are_revised_and_assigned_by_utility(db: &TestDb) {
    let store = db.store();
    let o = org(store, "O").await;
    let code: TariffCode = "gd-res".parse().unwrap();
    let new = |toml: &str| NewTariffRevision {
        organisation_id: o.id,
        code: code.clone(),
        utility: Utility::Electricity,
        name: "广东居民".into(),
        source_toml: toml.into(),
    };
    let r1 = store.add_tariff_revision(&new("v1")).await.unwrap();
    let r2 = store.add_tariff_revision(&new("v2")).await.unwrap();
    assert_eq!((r1.revision, r2.revision), (1, 2));
    assert_eq!(
        store.latest_tariff(o.id, &code).await.unwrap(),
        Some(r2.clone())
    );
    assert_eq!(
        store
            .latest_tariff(o.id, &"nope".parse().unwrap())
            .await
            .unwrap(),
        None
    );
    let water = NewTariffRevision {
        code: "water".parse().unwrap(),
        utility: Utility::Water,
        ..new("w1")
    };
    store.add_tariff_revision(&water).await.unwrap();
    let listed = store.list_tariffs(o.id).await.unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|t| (t.code.as_str(), t.revision))
            .collect::<Vec<_>>(),
        vec![("gd-res", 2), ("water", 1)]
    );
    // A code keeps its utility.
    let err = store
        .add_tariff_revision(&NewTariffRevision {
            utility: Utility::Gas,
            ..new("g")
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");

    let m = store
        .create_meter(&new_meter(o.id, "E1", Utility::Electricity))
        .await
        .unwrap();
    assert_eq!(m.tariff_code, None);
    let m = store.set_meter_tariff(m.id, Some(&code)).await.unwrap();
    assert_eq!(m.tariff_code, Some(code.clone()));
    assert_eq!(
        store.get_meter(m.id).await.unwrap().tariff_code,
        Some(code.clone())
    );
    let err = store
        .set_meter_tariff(m.id, Some(&"water".parse().unwrap()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Reference(ref msg) if msg.contains("water meters")),
        "{err}"
    );
    let other = org(store, "P").await;
    let pm = store
        .create_meter(&new_meter(other.id, "E1", Utility::Electricity))
        .await
        .unwrap();
    let err = store
        .set_meter_tariff(pm.id, Some(&code))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Reference(_)),
        "a tariff of another organisation: {err}"
    );
    assert_eq!(
        store
            .set_meter_tariff(m.id, None)
            .await
            .unwrap()
            .tariff_code,
        None
    );
}
