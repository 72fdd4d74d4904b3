//! The store contract of the console's meter page, site tree and search
//! part of `Console`: the reading chain walked back only as far as a chart
//! needs, serial and account-number prefixes on their indexes, customers by
//! the blind index of their name (filled on create and by reseal), meters
//! of a page of units, accounts by id, and audit rows of a meter. Every
//! story runs on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used)]

use yufu_access::audit::{AuditEntry, NewAuditEntry};
use yufu_domain::*;
use yufu_store::Store;
use yufu_store::journal::{JournalBatch, ReadingRow};
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
    the_reading_walk_stops_one_past_the_window,
    serials_and_account_numbers_match_by_prefix,
    customers_are_found_by_their_whole_name,
    a_page_of_units_brings_its_meters_and_accounts,
    a_meters_audit_rows_come_newest_first,
);

fn name(s: &str) -> Name {
    s.parse().unwrap()
}

async fn org(store: &dyn Store, n: &str) -> OrganisationId {
    store
        .create_organisation(&NewOrganisation { name: name(n) })
        .await
        .unwrap()
        .id
}

async fn customer(store: &dyn Store, org: OrganisationId, who: &str) -> Customer {
    let new = NewCustomer::new(
        org,
        CustomerKind::Person,
        who,
        Some("13800138000"),
        None,
        None,
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

async fn meter(store: &dyn Store, org: OrganisationId, serial: &str) -> Meter {
    store
        .create_meter(&NewMeter {
            organisation_id: org,
            serial: serial.parse().unwrap(),
            utility: Utility::Electricity,
            model: name("DDZY1102"),
            protocol: MeterProtocol::Dlt645_2007,
            comm_address: "000000000001".parse().unwrap(),
            multiplier: Multiplier::ONE,
        })
        .await
        .unwrap()
}

fn reading(seq: i64, meter: MeterId, at_ms: i64, prev_seq: Option<i64>) -> ReadingRow {
    ReadingRow {
        seq,
        meter_id: meter,
        at_ms,
        register: 1_000 + seq,
        rates: None,
        received_ms: at_ms + 5,
        verdict: "billed".into(),
        quantity: Some(1),
        charge_fen: Some(1),
        prev_seq,
    }
}

async fn the_reading_walk_stops_one_past_the_window(db: &TestDb) {
    let store = db.store();
    let (m, other) = (MeterId::new(), MeterId::new());
    // Meter m reads every 100 ms at seq 1, 3, 5, … 19 (at 100 … 1000);
    // another meter's readings sit in between.
    let mut readings = Vec::new();
    for i in 0..10 {
        let seq = 2 * i + 1;
        readings.push(reading(seq, m, 100 * (i + 1), (i > 0).then(|| seq - 2)));
        readings.push(reading(
            seq + 1,
            other,
            100 * (i + 1),
            (i > 0).then(|| seq - 1),
        ));
    }
    store
        .journal()
        .append(&JournalBatch {
            readings,
            ..JournalBatch::default()
        })
        .await
        .unwrap();
    let console = store.console();
    let seqs = |rows: Vec<ReadingRow>| rows.iter().map(|r| r.seq).collect::<Vec<_>>();
    // Since 750: 800, 900, 1000 and the first older one (700).
    let rows = console.reading_chain_since(19, 750, 100).await.unwrap();
    assert!(rows.iter().all(|r| r.meter_id == m));
    assert_eq!(seqs(rows), [19, 17, 15, 13]);
    // Exactly on a reading's time: it is inside, the one before is the edge.
    assert_eq!(
        seqs(console.reading_chain_since(19, 800, 100).await.unwrap()),
        [19, 17, 15, 13]
    );
    assert_eq!(
        seqs(console.reading_chain_since(19, 801, 100).await.unwrap()),
        [19, 17, 15]
    );
    // The limit bounds the walk.
    assert_eq!(
        seqs(console.reading_chain_since(19, 0, 4).await.unwrap()),
        [19, 17, 15, 13]
    );
    // Everything newer than the head: the head alone.
    assert_eq!(
        seqs(console.reading_chain_since(19, 5_000, 100).await.unwrap()),
        [19]
    );
    // The whole chain, down to its first reading.
    let all = console.reading_chain_since(19, 0, 100).await.unwrap();
    assert_eq!(all.len(), 10);
    assert_eq!(all.last().unwrap().prev_seq, None);
    assert_eq!(all[0], reading(19, m, 1000, Some(17)));
    // A head that is not there: nothing.
    assert!(
        console
            .reading_chain_since(999, 0, 100)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn serials_and_account_numbers_match_by_prefix(db: &TestDb) {
    let store = db.store();
    let o = org(store, "一号物业").await;
    let elsewhere = org(store, "二号物业").await;
    for s in [
        "E-GZ-0001",
        "E-GZ-0002",
        "E-GZ-00030",
        "E-GZ1",
        "E-H-0001",
        "EGZ-0001",
    ] {
        meter(store, o, s).await;
    }
    meter(store, elsewhere, "E-GZ-0009").await;
    let console = store.console();
    let serials = |ms: Vec<Meter>| ms.iter().map(|m| m.serial.to_string()).collect::<Vec<_>>();
    assert_eq!(
        serials(
            console
                .meters_by_serial_prefix(o, "E-GZ-", 10)
                .await
                .unwrap()
        ),
        ["E-GZ-0001", "E-GZ-0002", "E-GZ-00030"]
    );
    assert_eq!(
        serials(
            console
                .meters_by_serial_prefix(o, "E-GZ-0003", 10)
                .await
                .unwrap()
        ),
        ["E-GZ-00030"]
    );
    // A whole serial is its own prefix; the limit holds.
    assert_eq!(
        serials(
            console
                .meters_by_serial_prefix(o, "E-GZ-0001", 10)
                .await
                .unwrap()
        ),
        ["E-GZ-0001"]
    );
    assert_eq!(
        serials(console.meters_by_serial_prefix(o, "E", 2).await.unwrap()),
        ["E-GZ-0001", "E-GZ-0002"]
    );
    assert!(
        console
            .meters_by_serial_prefix(o, "X", 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Another organisation's meters are never found.
    assert_eq!(
        serials(
            console
                .meters_by_serial_prefix(elsewhere, "E-GZ-", 10)
                .await
                .unwrap()
        ),
        ["E-GZ-0009"]
    );

    let c = customer(store, o, "陈小明").await;
    for n in ["GZ0001", "GZ0002", "GZ00010", "GZA1", "SZ0001"] {
        account(store, o, c.id, n).await;
    }
    let numbers = |as_: Vec<Account>| as_.iter().map(|a| a.number.to_string()).collect::<Vec<_>>();
    assert_eq!(
        numbers(
            console
                .accounts_by_number_prefix(o, "GZ000", 10)
                .await
                .unwrap()
        ),
        ["GZ0001", "GZ00010", "GZ0002"]
    );
    assert_eq!(
        numbers(
            console
                .accounts_by_number_prefix(o, "GZ0001", 10)
                .await
                .unwrap()
        ),
        ["GZ0001", "GZ00010"]
    );
    assert!(
        console
            .accounts_by_number_prefix(elsewhere, "GZ", 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn customers_are_found_by_their_whole_name(db: &TestDb) {
    let store = db.store();
    let o = org(store, "一号物业").await;
    let elsewhere = org(store, "二号物业").await;
    let chen = customer(store, o, "陈小明").await;
    let chen2 = customer(store, o, "陈小明").await;
    let lee = customer(store, o, "Lee  Ka Ming").await;
    customer(store, elsewhere, "陈小明").await;
    let console = store.console();
    let ids = |cs: Vec<Customer>| cs.iter().map(|c| c.id).collect::<Vec<_>>();
    let mut both = vec![chen.id, chen2.id];
    both.sort();
    assert_eq!(
        ids(console.customers_by_name(o, "陈小明", 10).await.unwrap()),
        both
    );
    // Spacing and case do not matter; part of a name does not match.
    assert_eq!(
        ids(console
            .customers_by_name(o, " 陈小明\u{3000}", 10)
            .await
            .unwrap()),
        both
    );
    assert_eq!(
        ids(console
            .customers_by_name(o, "lee ka ming", 10)
            .await
            .unwrap()),
        [lee.id]
    );
    assert!(
        console
            .customers_by_name(o, "陈小", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        console
            .customers_by_name(o, "   ", 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Found customers come back opened, as created.
    let found = console
        .customers_by_name(o, "LEE KA MING", 1)
        .await
        .unwrap();
    assert_eq!(found, vec![lee.clone()]);
    assert_eq!(
        console
            .customers_by_name(o, "陈小明", 1)
            .await
            .unwrap()
            .len(),
        1
    );

    // A row written before the name index existed (or under another key)
    // is found again once personal data is resealed.
    db.execute("UPDATE customers SET name_index = NULL").await;
    assert!(
        console
            .customers_by_name(o, "陈小明", 10)
            .await
            .unwrap()
            .is_empty()
    );
    let report = store.reseal_personal_data().await.unwrap();
    assert_eq!(report.resealed, 4);
    assert_eq!(
        ids(console.customers_by_name(o, "陈小明", 10).await.unwrap()),
        both
    );
    assert_eq!(store.reseal_personal_data().await.unwrap().resealed, 0);
}

async fn a_page_of_units_brings_its_meters_and_accounts(db: &TestDb) {
    let store = db.store();
    let o = org(store, "一号物业").await;
    let site = store
        .create_site(&NewSite {
            organisation_id: o,
            code: "GZ-TH01".parse().unwrap(),
            name: name("天河"),
            city: name("广州"),
            timezone: TimeZoneName::shanghai(),
        })
        .await
        .unwrap();
    let b = store
        .create_building(&NewBuilding {
            site_id: site.id,
            code: "A".parse().unwrap(),
            name: name("A栋"),
            floors: 6,
        })
        .await
        .unwrap();
    let mut units = Vec::new();
    for code in ["101", "102", "103"] {
        units.push(
            store
                .create_unit(&NewUnit {
                    building_id: b.id,
                    code: code.parse().unwrap(),
                    floor: 1,
                    kind: UnitKind::Residential,
                    area: AreaCentiSqm::parse_sqm("80.00").unwrap(),
                })
                .await
                .unwrap(),
        );
    }
    let c = customer(store, o, "陈小明").await;
    let a1 = account(store, o, c.id, "GZ0001").await;
    let a2 = account(store, o, c.id, "GZ0002").await;
    let m1 = meter(store, o, "E1").await;
    let m2 = meter(store, o, "W1").await;
    let m3 = meter(store, o, "E3").await;
    meter(store, o, "LOOSE").await;
    store
        .assign_meter(m1.id, Some(units[0].id), Some(a1.id))
        .await
        .unwrap();
    store
        .assign_meter(m2.id, Some(units[0].id), None)
        .await
        .unwrap();
    store
        .assign_meter(m3.id, Some(units[2].id), Some(a2.id))
        .await
        .unwrap();
    let console = store.console();
    let found = console
        .meters_in_units(&[units[0].id, units[1].id], 100)
        .await
        .unwrap();
    let mut want = vec![m1.id, m2.id];
    want.sort();
    assert_eq!(found.iter().map(|m| m.id).collect::<Vec<_>>(), want);
    assert!(found.iter().all(|m| m.unit_id == Some(units[0].id)));
    let all = console
        .meters_in_units(&units.iter().map(|u| u.id).collect::<Vec<_>>(), 100)
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(
        console
            .meters_in_units(&units.iter().map(|u| u.id).collect::<Vec<_>>(), 2)
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(console.meters_in_units(&[], 10).await.unwrap().is_empty());

    let accounts = console
        .accounts_by_ids(&[a2.id, AccountId::new(), a1.id])
        .await
        .unwrap();
    let mut want = vec![a1.clone(), a2.clone()];
    want.sort_by_key(|a| a.id);
    assert_eq!(accounts, want);
    assert!(console.accounts_by_ids(&[]).await.unwrap().is_empty());
}

async fn a_meters_audit_rows_come_newest_first(db: &TestDb) {
    let store = db.store();
    let access = store.access();
    let row = |at_ms: i64, target: &str| NewAuditEntry {
        at_ms,
        actor: "user:alice".into(),
        source: "198.51.100.4".into(),
        action: "PUT /api/v1/meters/{id}/tariff".into(),
        target: target.into(),
        before: None,
        after: None,
        status: 200,
    };
    let mut prev: Option<(i64, String)> = None;
    let mut chain: Vec<AuditEntry> = Vec::new();
    for (at, target) in [
        (1, "/api/v1/meters/M1/tariff"),
        (2, "/api/v1/meters/M2/tariff"),
        (3, "/api/v1/meters/M1/commands"),
        (4, "/api/v1/meters/M1/commandsX"),
        (5, "/api/v1/meters/M1/commands"),
    ] {
        let e = row(at, target).chain(prev.as_ref().map(|(s, h)| (*s, h.as_str())));
        prev = Some((e.seq, e.hash.clone()));
        chain.push(e);
    }
    access.append_audit(&chain).await.unwrap();
    let console = store.console();
    let targets = [
        "/api/v1/meters/M1/tariff".to_owned(),
        "/api/v1/meters/M1/commands".to_owned(),
    ];
    let at = |rows: Vec<AuditEntry>| rows.iter().map(|e| e.at_ms).collect::<Vec<_>>();
    assert_eq!(
        at(console.audit_of_targets(&targets, 10).await.unwrap()),
        [5, 3, 1]
    );
    assert_eq!(
        at(console.audit_of_targets(&targets, 2).await.unwrap()),
        [5, 3]
    );
    assert_eq!(
        console.audit_of_targets(&targets, 1).await.unwrap(),
        [chain[4].clone()]
    );
    assert!(console.audit_of_targets(&[], 10).await.unwrap().is_empty());
}
