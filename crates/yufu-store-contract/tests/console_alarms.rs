//! The store contract of the console's alarm handling, users and sessions
//! part of `Console`: alarms acknowledged and resolved once, the alarm
//! search filtering in SQL (state, kind, serial, site scope, organisation,
//! paging), staff users with their scope, and live sessions paged newest
//! first. Every story runs on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used)]

use yufu_domain::*;
use yufu_store::console::{AlarmSearch, AlarmState};
use yufu_store::journal::{AlarmClear, AlarmRow, JournalBatch};
use yufu_store::{Store, StoreError};
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
    alarms_are_acknowledged_and_resolved_once,
    alarm_search_filters_and_pages,
    staff_page_and_live_sessions,
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

/// A site with one building and one unit, and an electricity meter with
/// `serial` installed in the unit.
async fn installed_meter(
    store: &dyn Store,
    org: OrganisationId,
    site_code: &str,
    serial: &str,
) -> (SiteId, MeterId) {
    let site = store
        .create_site(&NewSite {
            organisation_id: org,
            code: site_code.parse().unwrap(),
            name: name("天河花园"),
            city: name("广州"),
            timezone: TimeZoneName::shanghai(),
        })
        .await
        .unwrap();
    let building = store
        .create_building(&NewBuilding {
            site_id: site.id,
            code: "A".parse().unwrap(),
            name: name("A栋"),
            floors: 6,
        })
        .await
        .unwrap();
    let unit = store
        .create_unit(&NewUnit {
            building_id: building.id,
            code: "101".parse().unwrap(),
            floor: 1,
            kind: UnitKind::Residential,
            area: AreaCentiSqm::parse_sqm("80.00").unwrap(),
        })
        .await
        .unwrap();
    let meter = loose_meter(store, org, serial).await;
    store
        .assign_meter(meter, Some(unit.id), None)
        .await
        .unwrap();
    (site.id, meter)
}

/// A meter in stock (no unit, so no site).
async fn loose_meter(store: &dyn Store, org: OrganisationId, serial: &str) -> MeterId {
    store
        .create_meter(&NewMeter {
            organisation_id: org,
            serial: serial.parse().unwrap(),
            utility: Utility::Electricity,
            model: name("DDZY1102"),
            protocol: MeterProtocol::Dlt645_2007,
            comm_address: "000000000001".parse().unwrap(),
            multiplier: Multiplier::new(1).unwrap(),
        })
        .await
        .unwrap()
        .id
}

async fn raise(store: &dyn Store, alarms: &[(MeterId, &str, i64)]) {
    store
        .journal()
        .append(&JournalBatch {
            alarms: alarms
                .iter()
                .map(|(m, k, at)| AlarmRow {
                    meter_id: *m,
                    kind: (*k).to_owned(),
                    detail: format!("{k} at {at}"),
                    raised_at_ms: *at,
                })
                .collect(),
            ..JournalBatch::default()
        })
        .await
        .unwrap();
}

/// The ids of `search`'s answer, newest first.
async fn ids(store: &dyn Store, search: &AlarmSearch) -> Vec<i64> {
    store
        .console()
        .search_alarms(search)
        .await
        .unwrap()
        .iter()
        .map(|a| a.id)
        .collect()
}

async fn alarms_are_acknowledged_and_resolved_once(db: &TestDb) {
    let store = db.store();
    let o = org(store, "告警测试物业").await;
    let (site, meter) = installed_meter(store, o, "TH01", "E-1").await;
    raise(
        store,
        &[(meter, "tamper", 1_000), (meter, "low_battery", 2_000)],
    )
    .await;
    let all = ids(store, &AlarmSearch::open(o, 10)).await;
    assert_eq!(all.len(), 2);
    let (battery, tamper) = (all[0], all[1]);
    let console = store.console();

    let a = console.get_alarm(tamper).await.unwrap();
    assert_eq!(
        (
            a.meter_id,
            a.meter_serial.as_str(),
            a.organisation_id,
            a.site_id
        ),
        (meter, "E-1", o, Some(site))
    );
    assert_eq!((a.kind.as_str(), a.raised_at_ms), ("tamper", 1_000));
    assert!(a.acked_at_ms.is_none() && a.resolved_at_ms.is_none() && a.cleared_at_ms.is_none());

    // Acknowledged once; the second changes nothing.
    assert!(
        console
            .acknowledge_alarm(tamper, "user:zhang", 5_000, Some("on my way"))
            .await
            .unwrap()
    );
    assert!(
        !console
            .acknowledge_alarm(tamper, "user:li", 6_000, None)
            .await
            .unwrap()
    );
    let a = console.get_alarm(tamper).await.unwrap();
    assert_eq!(a.acked_at_ms, Some(5_000));
    assert_eq!(a.acked_by.as_deref(), Some("user:zhang"));
    assert_eq!(a.ack_note.as_deref(), Some("on my way"));

    // Resolved once; it keeps the first acknowledgement.
    assert!(
        console
            .resolve_alarm(tamper, "user:li", 7_000, "seal replaced")
            .await
            .unwrap()
    );
    assert!(
        !console
            .resolve_alarm(tamper, "user:wang", 8_000, "again")
            .await
            .unwrap()
    );
    let a = console.get_alarm(tamper).await.unwrap();
    assert_eq!(
        (
            a.resolved_at_ms,
            a.resolved_by.as_deref(),
            a.resolution_note.as_deref()
        ),
        (Some(7_000), Some("user:li"), Some("seal replaced"))
    );
    assert_eq!(a.acked_by.as_deref(), Some("user:zhang"));

    // Resolving an alarm nobody acknowledged acknowledges it too; a
    // resolved alarm cannot be acknowledged any more.
    assert!(
        console
            .resolve_alarm(battery, "user:li", 9_000, "battery swapped")
            .await
            .unwrap()
    );
    let b = console.get_alarm(battery).await.unwrap();
    assert_eq!(
        (b.acked_at_ms, b.acked_by.as_deref(), b.ack_note.as_deref()),
        (Some(9_000), Some("user:li"), None)
    );
    assert!(
        !console
            .acknowledge_alarm(battery, "user:zhang", 10_000, None)
            .await
            .unwrap()
    );

    // Unknown alarms.
    assert!(matches!(
        console.get_alarm(999_999).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(
        !console
            .acknowledge_alarm(999_999, "user:zhang", 1, None)
            .await
            .unwrap()
    );
    assert!(
        !console
            .resolve_alarm(999_999, "user:zhang", 1, "x")
            .await
            .unwrap()
    );
}

async fn alarm_search_filters_and_pages(db: &TestDb) {
    let store = db.store();
    let console = store.console();
    let o = org(store, "告警筛选物业").await;
    let (s1, m1) = installed_meter(store, o, "S1", "E-1").await;
    let (s2, m2) = installed_meter(store, o, "S2", "E-2").await;
    let loose = loose_meter(store, o, "E-3").await;
    let other = org(store, "别家物业").await;
    let (_, foreign) = installed_meter(store, other, "S9", "E-1").await;
    raise(
        store,
        &[
            (m1, "tamper", 1),        // open, then acknowledged
            (m1, "comm_fault", 2),    // cleared by the engine
            (m2, "gas_leak", 3),      // resolved
            (m2, "low_battery", 4),   // new
            (loose, "comm_fault", 5), // new, on a meter in no site
            (foreign, "tamper", 6),   // another organisation's
        ],
    )
    .await;
    store
        .journal()
        .append(&JournalBatch {
            alarm_clears: vec![AlarmClear {
                meter_id: m1,
                kind: "comm_fault".into(),
                cleared_at_ms: 7,
            }],
            ..JournalBatch::default()
        })
        .await
        .unwrap();
    let every = ids(
        store,
        &AlarmSearch {
            state: AlarmState::All,
            ..AlarmSearch::open(o, 50)
        },
    )
    .await;
    assert_eq!(
        every.len(),
        5,
        "the other organisation's alarm is not listed"
    );
    let id = |at: usize| every[5 - at];
    let (tamper, comm, gas, battery, loose_comm) = (id(1), id(2), id(3), id(4), id(5));
    assert!(
        console
            .acknowledge_alarm(tamper, "user:a", 10, None)
            .await
            .unwrap()
    );
    assert!(
        console
            .resolve_alarm(gas, "user:a", 11, "fixed")
            .await
            .unwrap()
    );

    let search = |state: AlarmState| AlarmSearch {
        state,
        ..AlarmSearch::open(o, 50)
    };
    assert_eq!(
        ids(store, &search(AlarmState::Open)).await,
        vec![loose_comm, battery, tamper]
    );
    assert_eq!(
        ids(store, &search(AlarmState::New)).await,
        vec![loose_comm, battery]
    );
    assert_eq!(
        ids(store, &search(AlarmState::Acknowledged)).await,
        vec![tamper]
    );
    assert_eq!(ids(store, &search(AlarmState::Resolved)).await, vec![gas]);
    assert_eq!(ids(store, &search(AlarmState::Cleared)).await, vec![comm]);

    // Kinds in and out (a severity is a set of kinds).
    let kinds = AlarmSearch {
        kinds: vec!["tamper".into(), "gas_leak".into()],
        ..search(AlarmState::All)
    };
    assert_eq!(ids(store, &kinds).await, vec![gas, tamper]);
    let not_kinds = AlarmSearch {
        not_kinds: vec!["tamper".into(), "gas_leak".into(), "comm_fault".into()],
        ..search(AlarmState::All)
    };
    assert_eq!(ids(store, &not_kinds).await, vec![battery]);

    // One meter by serial, within the organisation only.
    let serial = AlarmSearch {
        meter_serial: Some("E-1".into()),
        ..search(AlarmState::All)
    };
    assert_eq!(ids(store, &serial).await, vec![comm, tamper]);
    let unknown = AlarmSearch {
        meter_serial: Some("NOPE".into()),
        ..search(AlarmState::All)
    };
    assert!(ids(store, &unknown).await.is_empty());

    // Site scope: only meters installed in those sites.
    let scoped = AlarmSearch {
        sites: Some(vec![s2]),
        ..search(AlarmState::All)
    };
    assert_eq!(ids(store, &scoped).await, vec![battery, gas]);
    let both = AlarmSearch {
        sites: Some(vec![s1, s2]),
        ..search(AlarmState::Open)
    };
    assert_eq!(ids(store, &both).await, vec![battery, tamper]);
    let none = AlarmSearch {
        sites: Some(vec![]),
        ..search(AlarmState::All)
    };
    assert!(ids(store, &none).await.is_empty());

    // Keyset paging, newest first.
    let page1 = AlarmSearch {
        limit: 2,
        ..search(AlarmState::All)
    };
    let first = ids(store, &page1).await;
    assert_eq!(first, vec![loose_comm, battery]);
    let page2 = AlarmSearch {
        before_id: Some(battery),
        ..page1.clone()
    };
    assert_eq!(ids(store, &page2).await, vec![gas, comm]);
    let page3 = AlarmSearch {
        before_id: Some(comm),
        ..page1
    };
    assert_eq!(ids(store, &page3).await, vec![tamper]);

    // Rows carry what the page shows.
    let rows = console
        .search_alarms(&search(AlarmState::Resolved))
        .await
        .unwrap();
    assert_eq!(rows[0].meter_serial, "E-2");
    assert_eq!(rows[0].site_id, Some(s2));
    assert_eq!(rows[0].resolution_note.as_deref(), Some("fixed"));
    let loose_row = console.get_alarm(loose_comm).await.unwrap();
    assert_eq!(loose_row.site_id, None);

    // Alarms follow their meter: installing the loose meter in site 1
    // brings its alarm into site 1's list, and moving E-2 there too.
    let unit_in_s1 = store.get_meter(m1).await.unwrap().unit_id.unwrap();
    store
        .assign_meter(loose, Some(unit_in_s1), None)
        .await
        .unwrap();
    let in_s1 = AlarmSearch {
        sites: Some(vec![s1]),
        ..search(AlarmState::All)
    };
    assert_eq!(ids(store, &in_s1).await, vec![loose_comm, comm, tamper]);
    assert_eq!(
        console.get_alarm(loose_comm).await.unwrap().site_id,
        Some(s1)
    );
    store
        .assign_meter(m2, Some(unit_in_s1), None)
        .await
        .unwrap();
    assert_eq!(
        ids(store, &in_s1).await,
        vec![loose_comm, battery, gas, comm, tamper]
    );
    let in_s2 = AlarmSearch {
        sites: Some(vec![s2]),
        ..search(AlarmState::All)
    };
    assert!(ids(store, &in_s2).await.is_empty());
}

async fn staff_page_and_live_sessions(db: &TestDb) {
    use yufu_store::access::{SessionKind, SessionRow};
    let store = db.store();
    let o = org(store, "用户测试物业").await;
    let other = org(store, "别家物业").await;
    let mut made = Vec::new();
    for (i, role) in [Role::Admin, Role::Cashier, Role::Technician]
        .into_iter()
        .enumerate()
    {
        let u = store
            .create_staff_user(&NewStaffUser {
                organisation_id: o,
                username: format!("user{i}").parse().unwrap(),
                display_name: name("员工"),
                role,
                password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            })
            .await
            .unwrap();
        made.push(u.id);
    }
    store
        .create_staff_user(&NewStaffUser {
            organisation_id: other,
            username: "elsewhere".parse().unwrap(),
            display_name: name("员工"),
            role: Role::Admin,
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        })
        .await
        .unwrap();
    let site = SiteId::new();
    store
        .access()
        .update_staff_user(made[1], Role::Cashier, false, Some(&site.to_string()))
        .await
        .unwrap();
    made.sort();
    let console = store.console();
    let first = console.staff_page(o, None, 2).await.unwrap();
    assert_eq!(
        first.iter().map(|u| u.id).collect::<Vec<_>>(),
        made[..2].to_vec()
    );
    let rest = console.staff_page(o, Some(first[1].id), 2).await.unwrap();
    assert_eq!(
        rest.iter().map(|u| u.id).collect::<Vec<_>>(),
        made[2..].to_vec()
    );
    let all = console.staff_page(o, None, 10).await.unwrap();
    let cashier = all.iter().find(|u| u.role == Role::Cashier).unwrap();
    assert_eq!(cashier.username, "user1");
    assert!(!cashier.active);
    assert_eq!(cashier.site_scope, Some(site.to_string()));
    assert!(
        all.iter()
            .filter(|u| u.role != Role::Cashier)
            .all(|u| u.active && u.site_scope.is_none())
    );

    // Sessions: live ones newest first (by expiry), with the staff name.
    let session =
        |n: u32, kind: SessionKind, subject: String, org: OrganisationId, expires: i64| {
            SessionRow {
                id: format!("s{n:03}"),
                token_hash: format!("hash{n}"),
                kind,
                subject_id: subject,
                organisation_id: org,
                csrf_token: format!("csrf{n}"),
                ip: "127.0.0.1".into(),
                user_agent: "test".into(),
                created_at_ms: expires - 1_000,
                last_seen_at_ms: expires - 1_000,
                expires_at_ms: expires,
                revoked_at_ms: None,
            }
        };
    let access = store.access();
    let rows = [
        session(1, SessionKind::Staff, made[0].to_string(), o, 10_000),
        session(2, SessionKind::Staff, made[0].to_string(), o, 20_000),
        session(
            3,
            SessionKind::Customer,
            CustomerId::new().to_string(),
            o,
            20_000,
        ),
        session(4, SessionKind::Staff, made[2].to_string(), o, 500), // expired
        session(5, SessionKind::Staff, made[2].to_string(), o, 30_000), // revoked below
        session(6, SessionKind::Staff, made[0].to_string(), other, 40_000),
    ];
    for r in &rows {
        access.create_session(r).await.unwrap();
    }
    assert!(access.revoke_session("s005", 1).await.unwrap());
    let live = console.live_sessions(o, 1_000, None, 10).await.unwrap();
    assert_eq!(
        live.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        vec!["s003", "s002", "s001"]
    );
    assert_eq!(live[1].username.as_deref(), Some("user0"));
    assert_eq!(
        (live[0].kind.as_str(), live[0].username.as_deref()),
        ("customer", None)
    );
    // Paged by (expiry, id), ties included.
    let page1 = console.live_sessions(o, 1_000, None, 1).await.unwrap();
    let after = (page1[0].expires_at_ms, page1[0].id.clone());
    let page2 = console
        .live_sessions(o, 1_000, Some(after), 1)
        .await
        .unwrap();
    assert_eq!(page2[0].id, "s002");
    let after = (page2[0].expires_at_ms, page2[0].id.clone());
    let page3 = console
        .live_sessions(o, 1_000, Some(after), 5)
        .await
        .unwrap();
    assert_eq!(
        page3.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        vec!["s001"]
    );
}
