//! The store contract: every behaviour here holds on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use yufu_domain::*;
use yufu_store::journal::{
    AlarmRow, Checkpoint, CommandRow, EntryRow, EventRow, JournalBatch, JournalRecord, JournalTail,
    LedgerTotal, OutboxRow, ReadingRow, RechargeRow, TransitionRow,
};
use yufu_store::{MeterFilter, Page, Store, StoreError};
use yufu_store_contract::TestDb;
use yufu_store_contract::access_stories::*;

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
    journal_batch_round_trips,
    empty_journal_has_zero_tail_and_no_checkpoint,
    checkpoints_keep_only_the_latest,
    large_append_is_split_into_statements,
    balance_rules_and_protected_windows_round_trip,
    meter_sharing_round_trips_within_the_organisation,
    device_tokens_resolve_until_revoked,
    sessions_live_until_revoked_or_expired,
    api_tokens_are_unique_and_revocable,
    staff_users_page_and_update_role_and_scope,
    customer_logins_upsert_and_accounts_resolve,
    audit_chain_appends_pages_and_verifies,
    audit_search_filters_newest_first,
    payments_are_recorded_once_per_transaction,
    refund_requests_are_decided_once,
    webhook_deliveries_queue_until_done,
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
    // Transactions that read before they write (assigning a meter checks
    // the meter first) wait their turn too, rather than failing because
    // another write landed in between (SQLite's SQLITE_BUSY).
    let mut tasks = Vec::new();
    for (i, m) in all.iter().enumerate() {
        let (a, b, id) = (store.clone(), store.clone(), m.id);
        tasks.push(tokio::spawn(async move {
            a.assign_meter(id, None, None).await.map(|_| ())
        }));
        tasks.push(tokio::spawn(async move {
            b.create_meter(&new_meter(o.id, &format!("W{i:03}"), Utility::Water))
                .await
                .map(|_| ())
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
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

// --- journal ------------------------------------------------------------------

fn reading(seq: i64, meter: MeterId, register: i64, prev_seq: Option<i64>) -> ReadingRow {
    ReadingRow {
        seq,
        meter_id: meter,
        at_ms: 1_700_000_000_000 + seq,
        register,
        rates: (seq % 2 == 0).then(|| format!("[{register}, 0, 0, 0]")),
        received_ms: 1_700_000_000_500 + seq,
        verdict: if prev_seq.is_some() {
            "billed"
        } else {
            "opening"
        }
        .into(),
        quantity: prev_seq.map(|_| 40),
        charge_fen: prev_seq.map(|_| 25),
        prev_seq,
    }
}

fn event(seq: i64, kind: &str) -> EventRow {
    EventRow {
        seq,
        at_ms: 1_700_000_000_000 + seq,
        kind: kind.into(),
        body: format!(r#"{{"seq":{seq},"note":"充值"}}"#),
    }
}

fn entry(
    no: i64,
    account: AccountId,
    seq: i64,
    amount: i64,
    balance: i64,
    prev_no: Option<i64>,
) -> EntryRow {
    EntryRow {
        no,
        account_id: account,
        seq,
        kind: if amount > 0 { "recharge" } else { "charge" }.into(),
        amount_fen: amount,
        balance_after_fen: balance,
        cause: format!(r#"{{"no":{no}}}"#),
        idempotency_key: format!("key-{no}"),
        at_ms: 1_700_000_001_000 + no,
        journal_seq: no + 2,
        prev_no,
    }
}

fn command(no: i64, meter: MeterId, state: &str, attempts: i64, updated: i64) -> CommandRow {
    CommandRow {
        no,
        meter_id: meter,
        kind: "cut_off".into(),
        state: state.into(),
        attempts,
        reason: format!("{state} #{attempts}"),
        queued_at_ms: 1_700_000_002_000 + no,
        updated_at_ms: updated,
    }
}

fn transition(no: i64, from: Option<&str>, to: &str, at_ms: i64) -> TransitionRow {
    TransitionRow {
        command_no: no,
        from_state: from.map(Into::into),
        to_state: to.into(),
        reason: "because".into(),
        at_ms,
    }
}

fn alarm(meter: MeterId, kind: &str, at_ms: i64) -> AlarmRow {
    AlarmRow {
        meter_id: meter,
        kind: kind.into(),
        detail: "表计开盖".into(),
        raised_at_ms: at_ms,
    }
}

async fn journal_batch_round_trips(db: &TestDb) {
    let journal = db.store().journal();
    let (m1, m2) = (MeterId::new(), MeterId::new());
    let (a1, a2) = (AccountId::new(), AccountId::new());

    // Two meters' readings interleaved, each chained to its previous one,
    // and events in between (one shared seq).
    let readings = vec![
        reading(1, m1, 100, None),
        reading(2, m2, 500, None),
        reading(4, m1, 140, Some(1)),
        reading(5, m1, 180, Some(4)),
        reading(6, m2, 530, Some(2)),
    ];
    let events = vec![event(3, "recharge"), event(7, "tick")];
    let entries = vec![
        entry(1, a1, 1, 10_000, 10_000, None),
        entry(2, a1, 2, -300, 9_700, Some(1)),
        entry(3, a2, 1, -50, -50, None),
        entry(4, a1, 3, -200, 9_500, Some(2)),
    ];
    let recharge = RechargeRow {
        account_id: a1,
        idempotency_key: "wx-20240101-0001".into(),
        amount_fen: 10_000,
        channel: "wechat".into(),
        reference: "4200001234".into(),
        entry_no: 1,
        at_ms: 1_700_000_000_003,
    };
    let first = JournalBatch {
        readings: readings.clone(),
        events: events.clone(),
        entries: entries.clone(),
        recharges: vec![recharge.clone()],
        commands: vec![
            command(1, m1, "queued", 0, 10),
            command(2, m1, "queued", 0, 11),
            command(3, m2, "queued", 0, 12),
        ],
        transitions: vec![
            transition(1, None, "queued", 10),
            transition(2, None, "queued", 11),
        ],
        outbox: vec![
            OutboxRow {
                account_id: Some(a1),
                kind: "low_balance".into(),
                body: "{}".into(),
                created_at_ms: 1,
            },
            OutboxRow {
                account_id: None,
                kind: "staff".into(),
                body: "{}".into(),
                created_at_ms: 2,
            },
        ],
        alarms: vec![
            alarm(m1, "tamper", 1),
            alarm(m2, "offline", 2),
            alarm(m1, "reverse", 3),
        ],
        alarm_clears: vec![],
    };
    journal.append(&first).await.unwrap();
    journal.append(&JournalBatch::default()).await.unwrap();
    // A second batch moves command 1 on, and command 2 twice (both versions
    // in one batch: the last one wins).
    let second = JournalBatch {
        commands: vec![
            command(1, m1, "sent", 1, 20),
            command(2, m1, "sent", 1, 21),
            command(2, m1, "failed", 3, 22),
        ],
        transitions: vec![
            transition(1, Some("queued"), "sent", 20),
            transition(2, Some("queued"), "sent", 21),
            transition(2, Some("sent"), "failed", 22),
        ],
        ..Default::default()
    };
    journal.append(&second).await.unwrap();

    // The journal in seq order, readings and events merged.
    let all = journal.journal_after(0, 100).await.unwrap();
    assert_eq!(
        all.iter().map(JournalRecord::seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5, 6, 7]
    );
    assert_eq!(all[0], JournalRecord::Reading(readings[0].clone()));
    assert_eq!(all[2], JournalRecord::Event(events[0].clone()));
    assert_eq!(all[4], JournalRecord::Reading(readings[3].clone()));
    assert_eq!(all[6], JournalRecord::Event(events[1].clone()));
    let page = journal.journal_after(2, 3).await.unwrap();
    assert_eq!(
        page.iter().map(JournalRecord::seq).collect::<Vec<_>>(),
        vec![3, 4, 5]
    );
    let page = journal.journal_after(5, 10).await.unwrap();
    assert_eq!(
        page.iter().map(JournalRecord::seq).collect::<Vec<_>>(),
        vec![6, 7]
    );
    assert!(journal.journal_after(7, 10).await.unwrap().is_empty());
    assert!(journal.journal_after(0, 0).await.unwrap().is_empty());

    assert_eq!(
        journal.tail().await.unwrap(),
        JournalTail {
            seq: 7,
            entry_no: 4,
            command_no: 3
        }
    );

    // Recharges are found by (account, key) with the entry they posted.
    assert_eq!(
        journal.find_recharge(a1, "wx-20240101-0001").await.unwrap(),
        Some((recharge, entries[0].clone()))
    );
    assert_eq!(journal.find_recharge(a1, "wx-other").await.unwrap(), None);
    assert_eq!(
        journal.find_recharge(a2, "wx-20240101-0001").await.unwrap(),
        None
    );

    // Chains: newest first, limited, ending at the first row.
    let nos = |v: Vec<EntryRow>| v.into_iter().map(|e| e.no).collect::<Vec<_>>();
    assert_eq!(
        nos(journal.ledger_chain(4, 10).await.unwrap()),
        vec![4, 2, 1]
    );
    assert_eq!(nos(journal.ledger_chain(4, 2).await.unwrap()), vec![4, 2]);
    assert_eq!(nos(journal.ledger_chain(2, 10).await.unwrap()), vec![2, 1]);
    assert_eq!(nos(journal.ledger_chain(3, 10).await.unwrap()), vec![3]);
    assert_eq!(
        nos(journal.ledger_chain(99, 10).await.unwrap()),
        Vec::<i64>::new()
    );
    assert_eq!(
        journal.ledger_chain(4, 1).await.unwrap(),
        vec![entries[3].clone()]
    );
    let seqs = |v: Vec<ReadingRow>| v.into_iter().map(|r| r.seq).collect::<Vec<_>>();
    assert_eq!(
        journal.reading_chain(5, 10).await.unwrap(),
        vec![
            readings[3].clone(),
            readings[2].clone(),
            readings[0].clone()
        ]
    );
    assert_eq!(seqs(journal.reading_chain(5, 2).await.unwrap()), vec![5, 4]);
    assert_eq!(
        seqs(journal.reading_chain(6, 10).await.unwrap()),
        vec![6, 2]
    );
    assert_eq!(
        seqs(journal.reading_chain(3, 10).await.unwrap()),
        Vec::<i64>::new()
    );

    // Commands show their latest state, newest first.
    assert_eq!(
        journal.meter_commands(m1, 10).await.unwrap(),
        vec![
            command(2, m1, "failed", 3, 22),
            command(1, m1, "sent", 1, 20)
        ]
    );
    assert_eq!(journal.meter_commands(m1, 1).await.unwrap().len(), 1);
    assert_eq!(
        journal.meter_commands(m2, 10).await.unwrap(),
        vec![command(3, m2, "queued", 0, 12)]
    );
    assert!(
        journal
            .meter_commands(MeterId::new(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        journal.command_transitions(2).await.unwrap(),
        vec![
            transition(2, None, "queued", 11),
            transition(2, Some("queued"), "sent", 21),
            transition(2, Some("sent"), "failed", 22),
        ]
    );
    assert_eq!(journal.command_transitions(3).await.unwrap(), vec![]);

    let rows = |v: Vec<yufu_store::journal::AlarmView>| {
        v.into_iter()
            .map(|a| {
                assert_eq!(a.cleared_at_ms, None);
                alarm(a.meter_id, &a.kind, a.raised_at_ms)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        rows(journal.meter_alarms(m1, 10).await.unwrap()),
        vec![alarm(m1, "reverse", 3), alarm(m1, "tamper", 1)]
    );
    assert_eq!(
        rows(journal.meter_alarms(m1, 1).await.unwrap()),
        vec![alarm(m1, "reverse", 3)]
    );
    assert_eq!(
        rows(journal.meter_alarms(m2, 10).await.unwrap()),
        vec![alarm(m2, "offline", 2)]
    );
    // Clearing closes only the open alarms of that meter and kind, and the
    // fleet-wide list filters and pages.
    journal
        .append(&JournalBatch {
            alarms: vec![alarm(m2, "offline", 40)],
            alarm_clears: vec![yufu_store::journal::AlarmClear {
                meter_id: m2,
                kind: "offline".into(),
                cleared_at_ms: 41,
            }],
            ..JournalBatch::default()
        })
        .await
        .unwrap();
    let m2_alarms = journal.meter_alarms(m2, 10).await.unwrap();
    assert_eq!(m2_alarms.len(), 2);
    assert!(m2_alarms.iter().all(|a| a.cleared_at_ms == Some(41)));
    assert_eq!(
        journal.meter_alarms(m1, 10).await.unwrap()[0].cleared_at_ms,
        None
    );
    use yufu_store::journal::AlarmFilter;
    let all = journal
        .list_alarms(&AlarmFilter {
            limit: 10,
            ..AlarmFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 4);
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    let open = journal
        .list_alarms(&AlarmFilter {
            open_only: true,
            limit: 10,
            ..AlarmFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        open.iter().map(|a| a.meter_id).collect::<Vec<_>>(),
        vec![m1, m1]
    );
    let tamper = journal
        .list_alarms(&AlarmFilter {
            kind: Some("tamper".into()),
            limit: 10,
            ..AlarmFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(tamper.len(), 1);
    let page2 = journal
        .list_alarms(&AlarmFilter {
            before_id: Some(all[1].id),
            limit: 10,
            ..AlarmFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(page2, all[2..].to_vec());

    let mut totals = journal.ledger_totals().await.unwrap();
    totals.sort_by_key(|t| t.account_id);
    let mut expected = vec![
        LedgerTotal {
            account_id: a1,
            sum_fen: 9_500,
            entries: 3,
            max_seq: 3,
            last_balance_fen: 9_500,
        },
        LedgerTotal {
            account_id: a2,
            sum_fen: -50,
            entries: 1,
            max_seq: 1,
            last_balance_fen: -50,
        },
    ];
    expected.sort_by_key(|t| t.account_id);
    assert_eq!(totals, expected);

    assert_eq!(journal.readings_count().await.unwrap(), 5);
    assert_eq!(db.count_rows("outbox").await, 2);

    // A seq that is already stored is refused, and nothing of that batch lands.
    let err = journal
        .append(&JournalBatch {
            events: vec![event(8, "tick")],
            readings: vec![reading(5, m1, 999, Some(5))],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert_eq!(journal.tail().await.unwrap().seq, 7);
}

async fn empty_journal_has_zero_tail_and_no_checkpoint(db: &TestDb) {
    let journal = db.store().journal();
    assert_eq!(journal.tail().await.unwrap(), JournalTail::default());
    assert_eq!(
        journal.tail().await.unwrap(),
        JournalTail {
            seq: 0,
            entry_no: 0,
            command_no: 0
        }
    );
    assert_eq!(journal.latest_checkpoint().await.unwrap(), None);
    assert!(journal.journal_after(0, 10).await.unwrap().is_empty());
    assert!(journal.ledger_totals().await.unwrap().is_empty());
    assert_eq!(journal.readings_count().await.unwrap(), 0);
}

async fn checkpoints_keep_only_the_latest(db: &TestDb) {
    let journal = db.store().journal();
    let first = Checkpoint {
        seq: 10,
        at_ms: 1_000,
        chunks: vec!["a".into(), "b".into(), "c".into()],
    };
    journal.save_checkpoint(&first).await.unwrap();
    assert_eq!(journal.latest_checkpoint().await.unwrap(), Some(first));

    // Twelve chunks: chunk_index order, not text order (10 after 9).
    let second = Checkpoint {
        seq: 20,
        at_ms: 2_000,
        chunks: (0..12)
            .map(|i| format!("{{\"part\":{i},\"名\":\"甲\"}}"))
            .collect(),
    };
    journal.save_checkpoint(&second).await.unwrap();
    assert_eq!(
        journal.latest_checkpoint().await.unwrap(),
        Some(second.clone())
    );
    assert_eq!(
        db.count_rows("checkpoints").await,
        1,
        "older checkpoints are deleted"
    );
    assert_eq!(
        db.count_rows("checkpoint_chunks").await,
        12,
        "with their chunks"
    );

    // A finished checkpoint is never rewritten: the same seq again is a conflict.
    let again = journal.save_checkpoint(&second).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    assert_eq!(journal.latest_checkpoint().await.unwrap(), Some(second));

    // No chunks at all is a valid checkpoint.
    let empty = Checkpoint {
        seq: 25,
        at_ms: 2_500,
        chunks: vec![],
    };
    journal.save_checkpoint(&empty).await.unwrap();
    assert_eq!(journal.latest_checkpoint().await.unwrap(), Some(empty));
    assert_eq!(db.count_rows("checkpoint_chunks").await, 0);

    // Many chunks, each its own write.
    let big = Checkpoint {
        seq: 30,
        at_ms: 3_000,
        chunks: (0..300).map(|i| i.to_string()).collect(),
    };
    journal.save_checkpoint(&big).await.unwrap();
    assert_eq!(
        journal.latest_checkpoint().await.unwrap(),
        Some(big.clone())
    );
    assert_eq!(db.count_rows("checkpoints").await, 1);

    // A checkpoint being written is invisible until finished, and one that
    // claims more chunks than were put is refused.
    journal.put_checkpoint_chunk(40, 0, "x").await.unwrap();
    assert_eq!(journal.latest_checkpoint().await.unwrap(), Some(big));
    let short = journal.finish_checkpoint(40, 4_000, 2).await;
    assert!(
        matches!(short, Err(StoreError::Corrupt { .. })),
        "{short:?}"
    );
    journal.put_checkpoint_chunk(40, 1, "y").await.unwrap();
    journal.finish_checkpoint(40, 4_000, 2).await.unwrap();
    let head = journal.latest_checkpoint_head().await.unwrap().unwrap();
    assert_eq!((head.seq, head.chunks), (40, 2));
    assert_eq!(journal.checkpoint_chunk(40, 1).await.unwrap(), "y");
    assert_eq!(db.count_rows("checkpoint_chunks").await, 2);
}

async fn large_append_is_split_into_statements(db: &TestDb) {
    let journal = db.store().journal();
    let meters: Vec<MeterId> = (0..100).map(|_| MeterId::new()).collect();
    let n: i64 = 50_000;
    let readings: Vec<ReadingRow> = (1..=n)
        .map(|seq| {
            let meter = meters[usize::try_from(seq).unwrap() % meters.len()];
            let prev = (seq > 100).then(|| seq - 100);
            reading(seq, meter, seq, prev)
        })
        .collect();
    let account = AccountId::new();
    let entries: Vec<EntryRow> = (1..=5_000)
        .map(|no| entry(no, account, no, -1, -no, (no > 1).then(|| no - 1)))
        .collect();
    journal
        .append(&JournalBatch {
            readings,
            entries,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(journal.readings_count().await.unwrap(), n);
    assert_eq!(
        journal.tail().await.unwrap(),
        JournalTail {
            seq: n,
            entry_no: 5_000,
            command_no: 0
        }
    );
    let chain = journal.reading_chain(n, 1_000).await.unwrap();
    assert_eq!(chain.len(), 500, "one meter has n / 100 readings");
    assert_eq!(chain.last().unwrap().seq, 100);
    assert_eq!(journal.ledger_chain(5_000, 3).await.unwrap().len(), 3);
    let after = journal.journal_after(n - 10, 100).await.unwrap();
    assert_eq!(after.len(), 10);
    let totals = journal.ledger_totals().await.unwrap();
    assert_eq!(
        totals,
        vec![LedgerTotal {
            account_id: account,
            sum_fen: -5_000,
            entries: 5_000,
            max_seq: 5_000,
            last_balance_fen: -5_000
        }]
    );
}

async fn balance_rules_and_protected_windows_round_trip(db: &TestDb) {
    use yufu_domain::balance::{BalancePolicy, ProtectedWindows};
    let store = db.store();
    let o = org(store, "O").await;
    let c = customer(store, o.id).await;
    let a = account(store, o.id, c.id, "GZ0001").await;
    assert_eq!(
        store.account_rules(a.id).await.unwrap(),
        None,
        "class default"
    );
    let rules = BalancePolicy::new(vec![Fen(5000), Fen(1000)], Fen(-2000)).unwrap();
    store.set_account_rules(a.id, Some(&rules)).await.unwrap();
    assert_eq!(store.account_rules(a.id).await.unwrap(), Some(rules));
    store.set_account_rules(a.id, None).await.unwrap();
    assert_eq!(store.account_rules(a.id).await.unwrap(), None);
    let missing = store.set_account_rules(AccountId::new(), None).await;
    assert!(
        matches!(missing, Err(StoreError::NotFound { .. })),
        "{missing:?}"
    );

    let s = site(store, o.id, "S1").await;
    assert_eq!(
        store.site_windows(s.id).await.unwrap(),
        ProtectedWindows::default()
    );
    let windows = ProtectedWindows {
        nightly: Some(("22:00".parse().unwrap(), "08:00".parse().unwrap())),
        weekends: true,
        holidays: ["2026-10-01".parse().unwrap(), "2026-10-02".parse().unwrap()]
            .into_iter()
            .collect(),
    };
    store.set_site_windows(s.id, &windows).await.unwrap();
    assert_eq!(store.site_windows(s.id).await.unwrap(), windows);
    let missing = store.site_windows(SiteId::new()).await;
    assert!(
        matches!(missing, Err(StoreError::NotFound { .. })),
        "{missing:?}"
    );
}

async fn meter_sharing_round_trips_within_the_organisation(db: &TestDb) {
    use yufu_domain::apportion::{ShareRule, SharedGroup};
    let store = db.store();
    let o = org(store, "O").await;
    let c = customer(store, o.id).await;
    let a = account(store, o.id, c.id, "GZ0001").await;
    let b = account(store, o.id, c.id, "GZ0002").await;
    let m = store
        .create_meter(&new_meter(o.id, "E-1", Utility::Electricity))
        .await
        .unwrap();
    assert_eq!(store.meter_sharing(m.id).await.unwrap(), None);
    let group = SharedGroup {
        rule: ShareRule::Area,
        members: vec![(a.id, 6_000), (b.id, 12_000)],
    };
    store.set_meter_sharing(m.id, Some(&group)).await.unwrap();
    assert_eq!(store.meter_sharing(m.id).await.unwrap(), Some(group));
    let p = org(store, "P").await;
    let pc = customer(store, p.id).await;
    let foreign = account(store, p.id, pc.id, "GZ0003").await;
    let bad = SharedGroup {
        rule: ShareRule::Equal,
        members: vec![(foreign.id, 1)],
    };
    let refused = store.set_meter_sharing(m.id, Some(&bad)).await;
    assert!(
        matches!(refused, Err(StoreError::Reference(_))),
        "{refused:?}"
    );
    store.set_meter_sharing(m.id, None).await.unwrap();
    assert_eq!(store.meter_sharing(m.id).await.unwrap(), None);
}

async fn device_tokens_resolve_until_revoked(db: &TestDb) {
    let store = db.store();
    let o = org(store, "Tokens").await;
    let other = org(store, "Other").await;
    let meter = store
        .create_meter(&new_meter(o.id, "E-TOK-1", Utility::Electricity))
        .await
        .unwrap();
    let token = |hash: &str, meter: Option<MeterId>, org: OrganisationId| yufu_store::DeviceToken {
        token_hash: hash.into(),
        organisation_id: org,
        meter_id: meter,
        name: "E-TOK-1".into(),
        created_at_ms: 5,
    };
    store
        .add_device_token(&token("aa11", Some(meter.id), o.id))
        .await
        .unwrap();
    store
        .add_device_token(&token("bb22", None, o.id))
        .await
        .unwrap();
    // A token cannot speak for another organisation's meter, and a hash is unique.
    assert!(matches!(
        store
            .add_device_token(&token("cc33", Some(meter.id), other.id))
            .await,
        Err(StoreError::Reference(_))
    ));
    assert!(
        store
            .add_device_token(&token("aa11", None, o.id))
            .await
            .is_err()
    );
    assert_eq!(
        store.find_device_token("aa11").await.unwrap(),
        Some(token("aa11", Some(meter.id), o.id))
    );
    assert_eq!(
        store
            .find_device_token("bb22")
            .await
            .unwrap()
            .unwrap()
            .meter_id,
        None
    );
    assert_eq!(store.find_device_token("zz").await.unwrap(), None);
    assert_eq!(store.revoke_device_tokens(meter.id, 9).await.unwrap(), 1);
    assert_eq!(store.revoke_device_tokens(meter.id, 10).await.unwrap(), 0);
    assert_eq!(store.find_device_token("aa11").await.unwrap(), None);
    // Meters are found by communication address across organisations.
    store
        .create_meter(&new_meter(other.id, "E-TOK-2", Utility::Electricity))
        .await
        .unwrap();
    let found = store
        .find_meters_by_comm_address("000000000001")
        .await
        .unwrap();
    assert_eq!(found.len(), 2);
    assert!(
        store
            .find_meters_by_comm_address("999999999999")
            .await
            .unwrap()
            .is_empty()
    );
}
