//! The store contract of the device lifecycle in the field (`Field`):
//! certifications valid by their days, installation plans (one planned per
//! meter, completed with the device's move), commissioning runs (one
//! running per meter, the moves of a passed run), swaps (both meters move,
//! a rollout member is marked), rollouts (each meter in one), disposal, and
//! the reads replacement planning uses (field devices, fault facts per
//! model, site coverage, a group's facts over a window). A move from the
//! wrong state is refused with `Conflict` and nothing of the call is
//! written. Every story runs on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used)]

use yufu_domain::lifecycle::{Action, DeviceState};
use yufu_domain::*;
use yufu_store::journal::{JournalBatch, ReadingRow};
use yufu_store::lifecycle::*;
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
    certifications_are_valid_within_their_days,
    an_installation_is_planned_once_and_completed_with_the_move,
    one_commissioning_run_at_a_time_and_a_pass_puts_in_service,
    a_swap_moves_both_meters_and_marks_the_rollout_member,
    a_meter_is_in_one_rollout,
    field_devices_and_fault_facts_per_model,
    site_coverage_counts_units_with_a_fitted_meter,
    group_facts_count_within_the_window,
    a_removed_meter_is_scrapped_with_its_disposal,
);

const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;
/// A UTC midnight (2023-12-09), the time base of the stories.
const T0: i64 = 19_700 * DAY;

fn name(s: &str) -> Name {
    s.parse().unwrap()
}

fn date(s: &str) -> jiff::civil::Date {
    s.parse().unwrap()
}

fn is_conflict<T: std::fmt::Debug>(r: Result<T, StoreError>) -> String {
    match r {
        Err(StoreError::Conflict(m)) => m,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

/// An organisation with one site (one building) of `units` units, and a
/// technician.
struct Place {
    org: OrganisationId,
    site: SiteId,
    units: Vec<UnitId>,
    staff: StaffUserId,
}

async fn place(store: &dyn Store, org_name: &str, site_code: &str, units: usize) -> Place {
    let org = store
        .create_organisation(&NewOrganisation {
            name: name(org_name),
        })
        .await
        .unwrap()
        .id;
    let (site, units) = site(store, org, site_code, units).await;
    let staff = store
        .create_staff_user(&NewStaffUser {
            organisation_id: org,
            username: format!("tech{site_code}").to_lowercase().parse().unwrap(),
            display_name: name("王师傅"),
            role: Role::Technician,
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        })
        .await
        .unwrap()
        .id;
    Place {
        org,
        site,
        units,
        staff,
    }
}

async fn site(
    store: &dyn Store,
    org: OrganisationId,
    code: &str,
    units: usize,
) -> (SiteId, Vec<UnitId>) {
    let site = store
        .create_site(&NewSite {
            organisation_id: org,
            code: code.parse().unwrap(),
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
    let mut ids = Vec::new();
    for i in 0..units {
        let unit = store
            .create_unit(&NewUnit {
                building_id: building.id,
                code: format!("{}", 101 + i).parse().unwrap(),
                floor: 1,
                kind: UnitKind::Residential,
                area: AreaCentiSqm::parse_sqm("80.00").unwrap(),
            })
            .await
            .unwrap();
        ids.push(unit.id);
    }
    (site.id, ids)
}

/// A meter registered the old way (no lifecycle record, `in_stock`).
async fn plain_meter(
    store: &dyn Store,
    org: OrganisationId,
    serial: &str,
    utility: Utility,
) -> MeterId {
    let (protocol, address) = match utility {
        Utility::Electricity => (MeterProtocol::Dlt645_2007, "000000000001"),
        Utility::Water | Utility::Gas => (MeterProtocol::Cjt188, "00000000000001"),
    };
    store
        .create_meter(&NewMeter {
            organisation_id: org,
            serial: serial.parse().unwrap(),
            utility,
            model: name("DDZY1102"),
            protocol,
            comm_address: address.parse().unwrap(),
            multiplier: Multiplier::new(1).unwrap(),
        })
        .await
        .unwrap()
        .id
}

async fn catalogue_model(
    store: &dyn Store,
    org: OrganisationId,
    model: &str,
    life_years: u16,
) -> DeviceModel {
    let m = DeviceModel {
        id: DeviceModelId::new(),
        organisation_id: org,
        maker: "华立".into(),
        model: model.into(),
        utility: Utility::Electricity,
        protocol: MeterProtocol::Dlt645_2007,
        phases: 1,
        accuracy_class: "2".into(),
        service_life_years: life_years,
        features: vec!["remote_switch".into()],
        list_price: Fen(30_000),
        created_at_ms: T0 - 700 * DAY,
    };
    store.procurement().create_model(&m).await.unwrap();
    m
}

/// Devices of `model` delivered at `at_ms`, accepted on 2022-01-01 and put
/// in stock (state `in_stock`, with lifecycle records), in `serials` order.
async fn stocked(
    store: &dyn Store,
    org: OrganisationId,
    model: &DeviceModel,
    serials: &[&str],
    at_ms: i64,
) -> Vec<MeterId> {
    let p = store.procurement();
    let supplier = Supplier {
        id: SupplierId::new(),
        organisation_id: org,
        name: format!("供应商{}", serials[0]),
        contact_name: "李经理".into(),
        contact_phone: "13800138000".into(),
        address: "杭州".into(),
        created_at_ms: at_ms,
    };
    p.create_supplier(&supplier).await.unwrap();
    let contract = Contract {
        id: ContractId::new(),
        organisation_id: org,
        number: format!("HT-{}", serials[0]),
        supplier_id: supplier.id,
        status: ContractStatus::Draft,
        transport: Fen(0),
        installation: Fen(0),
        commissioning: Fen(0),
        warranty_months: 24,
        after_sales: String::new(),
        created_by: "user:li".into(),
        created_by_role: "manager".into(),
        created_at_ms: at_ms,
        approved_by: None,
        approved_at_ms: None,
        lines: vec![ContractLine {
            line_no: 1,
            model_id: model.id,
            quantity: u32::try_from(serials.len()).unwrap(),
            unit_price: Fen(25_000),
            delivery_due: date("2022-01-01"),
        }],
    };
    p.create_contract(&contract).await.unwrap();
    let delivery = Delivery {
        id: DeliveryId::new(),
        contract_id: contract.id,
        note_number: format!("SH-{}", serials[0]),
        delivered_on: date("2021-12-30"),
        received_by: "user:li".into(),
        created_at_ms: at_ms,
    };
    p.create_delivery(&delivery).await.unwrap();
    let devices: Vec<NewDevice> = serials
        .iter()
        .map(|s| NewDevice {
            serial: s.parse().unwrap(),
            comm_address: "000000000001".parse().unwrap(),
            line_no: 1,
            model: model.clone(),
            note: None,
        })
        .collect();
    let ids = p
        .receive_devices(&delivery, org, &devices, "user:li", at_ms)
        .await
        .unwrap();
    for id in &ids {
        p.record_acceptance(
            &AcceptanceCheck {
                meter_id: *id,
                appearance_ok: true,
                accessories_ok: true,
                function_ok: true,
                passed: true,
                reason: String::new(),
                checked_by: "user:li".into(),
                checked_at_ms: at_ms + 1,
            },
            date("2022-01-01"),
            None,
            &mv(
                *id,
                DeviceState::Received,
                DeviceState::Accepted,
                Action::Accept,
                at_ms + 1,
            ),
        )
        .await
        .unwrap();
        p.move_device(&mv(
            *id,
            DeviceState::Accepted,
            DeviceState::InStock,
            Action::Stock,
            at_ms + 2,
        ))
        .await
        .unwrap();
    }
    ids
}

fn mv(
    meter: MeterId,
    from: DeviceState,
    to: DeviceState,
    action: Action,
    at_ms: i64,
) -> Transition {
    Transition {
        meter,
        from,
        to,
        action,
        actor: "user:wang".into(),
        reason: format!("{action}"),
        detail: "{}".into(),
        at_ms,
    }
}

/// Moves a device through `steps` with `move_device`.
async fn walk(store: &dyn Store, meter: MeterId, steps: &[(DeviceState, Action, i64)]) {
    let mut state = store
        .procurement()
        .get_device(meter, 0)
        .await
        .unwrap()
        .state;
    for (to, action, at) in steps {
        store
            .procurement()
            .move_device(&mv(meter, state, *to, *action, *at))
            .await
            .unwrap();
        state = *to;
    }
}

/// From in stock to in service at `at` (installed 2 h and commissioned
/// 1 h before).
async fn into_service(store: &dyn Store, meter: MeterId, at: i64) {
    walk(
        store,
        meter,
        &[
            (DeviceState::Installed, Action::Install, at - 2 * HOUR),
            (DeviceState::Commissioned, Action::Commission, at - HOUR),
            (DeviceState::InService, Action::PutInService, at),
        ],
    )
    .await;
}

async fn status(store: &dyn Store, meter: MeterId) -> MeterStatus {
    store.get_meter(meter).await.unwrap().status
}

async fn state(store: &dyn Store, meter: MeterId) -> DeviceState {
    store
        .procurement()
        .get_device(meter, 0)
        .await
        .unwrap()
        .state
}

fn certification(
    p: &Place,
    utility: Utility,
    number: &str,
    issued: &str,
    expires: &str,
) -> Certification {
    Certification {
        id: CertificationId::new(),
        organisation_id: p.org,
        staff_user_id: p.staff,
        utility,
        number: number.into(),
        issued_on: date(issued),
        expires_on: date(expires),
        revoked_at_ms: None,
        created_at_ms: T0,
    }
}

async fn certifications_are_valid_within_their_days(db: &TestDb) {
    let store = db.store();
    let field = store.field();
    let p = place(store, "证书物业", "ZS01", 1).await;
    let other = place(store, "别家物业", "BJ01", 1).await;
    let early = certification(&p, Utility::Electricity, "E-1", "2024-01-01", "2024-06-30");
    let long = certification(&p, Utility::Electricity, "E-2", "2024-03-01", "2025-03-01");
    let water = certification(&p, Utility::Water, "W-1", "2024-01-01", "2024-05-31");
    let gas = certification(&p, Utility::Gas, "G-1", "2024-01-01", "2030-01-01");
    for c in [&early, &long, &water, &gas] {
        field.add_certification(c).await.unwrap();
    }
    let theirs = certification(
        &other,
        Utility::Electricity,
        "X-1",
        "2024-01-01",
        "2030-01-01",
    );
    field.add_certification(&theirs).await.unwrap();

    let valid = |u: Utility, on: &str| {
        let on = date(on);
        async move {
            field
                .valid_certification(p.staff, u, on)
                .await
                .unwrap()
                .map(|c| c.number)
        }
    };
    let e = Utility::Electricity;
    // Before any was issued; issued today; both valid: the longest-lasting.
    assert_eq!(valid(e, "2023-12-31").await, None);
    assert_eq!(valid(e, "2024-01-01").await.as_deref(), Some("E-1"));
    assert_eq!(valid(e, "2024-02-29").await.as_deref(), Some("E-1"));
    assert_eq!(valid(e, "2024-03-01").await.as_deref(), Some("E-2"));
    // Expires today: still valid; expired yesterday: not.
    assert_eq!(valid(e, "2025-03-01").await.as_deref(), Some("E-2"));
    assert_eq!(valid(e, "2025-03-02").await, None);
    assert_eq!(
        valid(Utility::Water, "2024-05-31").await.as_deref(),
        Some("W-1")
    );
    assert_eq!(valid(Utility::Water, "2024-06-01").await, None);

    // Revoked once; a revoked one is not valid.
    assert_eq!(
        valid(Utility::Gas, "2025-01-01").await.as_deref(),
        Some("G-1")
    );
    assert!(field.revoke_certification(gas.id, T0 + 5).await.unwrap());
    assert!(!field.revoke_certification(gas.id, T0 + 6).await.unwrap());
    assert_eq!(valid(Utility::Gas, "2025-01-01").await, None);
    assert!(matches!(
        field.revoke_certification(CertificationId::new(), T0).await,
        Err(StoreError::NotFound { .. })
    ));

    let all = field.list_certifications(p.org, None).await.unwrap();
    assert_eq!(all.len(), 4, "only the organisation's own");
    let revoked = all.iter().find(|c| c.id == gas.id).unwrap();
    assert_eq!(revoked.revoked_at_ms, Some(T0 + 5));
    assert_eq!(
        all.iter().find(|c| c.id == long.id).unwrap(),
        &long,
        "stored as given"
    );
    let mine = field
        .list_certifications(p.org, Some(p.staff))
        .await
        .unwrap();
    assert_eq!(mine.len(), 4);
    assert!(
        field
            .list_certifications(p.org, Some(other.staff))
            .await
            .unwrap()
            .is_empty()
    );
}

fn plan(p: &Place, meter: MeterId, unit: UnitId, on: &str) -> InstallationPlan {
    InstallationPlan {
        id: InstallationId::new(),
        organisation_id: p.org,
        meter_id: meter,
        unit_id: unit,
        site_id: p.site,
        account_id: None,
        tariff_code: Some("RES-E".into()),
        scheduled_on: date(on),
        installer_id: p.staff,
        status: InstallationStatus::Planned,
        checklist: None,
        opening_reading: None,
        note: "上午".into(),
        created_by: "user:zhang".into(),
        created_at_ms: T0,
        completed_by: None,
        completed_at_ms: None,
    }
}

async fn an_installation_is_planned_once_and_completed_with_the_move(db: &TestDb) {
    let store = db.store();
    let field = store.field();
    let p = place(store, "安装物业", "AZ01", 2).await;
    let elsewhere = place(store, "别家物业", "BJ02", 1).await;
    // An old-style meter: it gets its lifecycle record with its first move.
    let meter = plain_meter(store, p.org, "E-100", Utility::Electricity).await;
    let first = plan(&p, meter, p.units[0], "2024-05-01");
    field.create_installation(&first).await.unwrap();
    assert_eq!(field.get_installation(first.id).await.unwrap(), first);

    // A second planned installation of the same meter is refused.
    let again = plan(&p, meter, p.units[1], "2024-05-02");
    let why = is_conflict(field.create_installation(&again).await);
    assert!(why.contains("E-100"), "{why}");
    assert_eq!(db.count_rows("installation_plans").await, 1);
    // The plan's site must be its unit's.
    let mut wrong_site = plan(
        &p,
        plain_meter(store, p.org, "E-101", Utility::Electricity).await,
        p.units[0],
        "2024-05-03",
    );
    wrong_site.site_id = elsewhere.site;
    assert!(matches!(
        field.create_installation(&wrong_site).await,
        Err(StoreError::Reference(_))
    ));

    // Lists: by status, installer and site scope, only the organisation's.
    let list = |f: InstallationFilter| async move {
        field
            .list_installations(p.org, &f)
            .await
            .unwrap()
            .iter()
            .map(|x| x.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(list(InstallationFilter::default()).await, [first.id]);
    let planned = InstallationFilter {
        status: Some(InstallationStatus::Planned),
        installer: Some(p.staff),
        meter: Some(first.meter_id),
        sites: Some(vec![p.site]),
    };
    assert_eq!(list(planned.clone()).await, [first.id]);
    for f in [
        InstallationFilter {
            status: Some(InstallationStatus::Installed),
            ..InstallationFilter::default()
        },
        InstallationFilter {
            installer: Some(elsewhere.staff),
            ..InstallationFilter::default()
        },
        InstallationFilter {
            sites: Some(vec![elsewhere.site]),
            ..InstallationFilter::default()
        },
        InstallationFilter {
            sites: Some(Vec::new()),
            ..InstallationFilter::default()
        },
        InstallationFilter {
            meter: Some(MeterId::new()),
            ..InstallationFilter::default()
        },
    ] {
        assert!(list(f).await.is_empty());
    }
    assert!(
        field
            .list_installations(elsewhere.org, &InstallationFilter::default())
            .await
            .unwrap()
            .is_empty()
    );

    // A failed checklist is kept; the plan stays planned.
    field
        .record_checklist(first.id, r#"[{"item":"seal","ok":false}]"#)
        .await
        .unwrap();
    let kept = field.get_installation(first.id).await.unwrap();
    assert_eq!(kept.status, InstallationStatus::Planned);
    assert_eq!(
        kept.checklist.as_deref(),
        Some(r#"[{"item":"seal","ok":false}]"#)
    );

    // A move from the wrong state: refused, and nothing is written.
    let done = r#"[{"item":"seal","ok":true}]"#;
    let wrong = mv(
        meter,
        DeviceState::Received,
        DeviceState::Installed,
        Action::Install,
        T0 + DAY,
    );
    is_conflict(
        field
            .complete_installation(first.id, done, 1_234, "user:wang", T0 + DAY, &wrong)
            .await,
    );
    assert_eq!(field.get_installation(first.id).await.unwrap(), kept);
    assert_eq!(status(store, meter).await, MeterStatus::InStock);
    assert_eq!(db.count_rows("devices").await, 0);
    assert_eq!(db.count_rows("device_events").await, 0);
    // A move of another meter is refused too.
    let other_meter = mv(
        wrong_site.meter_id,
        DeviceState::InStock,
        DeviceState::Installed,
        Action::Install,
        T0 + DAY,
    );
    assert!(matches!(
        field
            .complete_installation(first.id, done, 1_234, "user:wang", T0 + DAY, &other_meter)
            .await,
        Err(StoreError::Reference(_))
    ));

    // Planned → installed, with the device's move in the same transaction.
    let t = mv(
        meter,
        DeviceState::InStock,
        DeviceState::Installed,
        Action::Install,
        T0 + DAY,
    );
    let installed = field
        .complete_installation(first.id, done, 1_234, "user:wang", T0 + DAY, &t)
        .await
        .unwrap();
    assert_eq!(
        installed,
        InstallationPlan {
            status: InstallationStatus::Installed,
            checklist: Some(done.into()),
            opening_reading: Some(1_234),
            completed_by: Some("user:wang".into()),
            completed_at_ms: Some(T0 + DAY),
            ..first.clone()
        }
    );
    assert_eq!(field.get_installation(first.id).await.unwrap(), installed);
    assert_eq!(status(store, meter).await, MeterStatus::Installed);
    assert_eq!(state(store, meter).await, DeviceState::Installed);
    let history = store.procurement().device_history(meter).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].from_state, history[0].to_state, history[0].at_ms),
        (Some(DeviceState::InStock), DeviceState::Installed, T0 + DAY)
    );

    // No longer planned: completing, cancelling or a checklist conflict.
    is_conflict(
        field
            .complete_installation(first.id, done, 1, "user:wang", T0 + 2 * DAY, &t)
            .await,
    );
    is_conflict(field.cancel_installation(first.id, "user:zhang", T0).await);
    is_conflict(field.record_checklist(first.id, "[]").await);
    assert_eq!(
        list(InstallationFilter {
            status: Some(InstallationStatus::Installed),
            ..InstallationFilter::default()
        })
        .await,
        [first.id]
    );

    // With no planned one left the meter can be planned again, and cancelled once.
    let second = plan(&p, meter, p.units[1], "2024-06-01");
    field.create_installation(&second).await.unwrap();
    field
        .cancel_installation(second.id, "user:zhang", T0 + 3 * DAY)
        .await
        .unwrap();
    let cancelled = field.get_installation(second.id).await.unwrap();
    assert_eq!(cancelled.status, InstallationStatus::Cancelled);
    assert_eq!(
        (cancelled.completed_by.as_deref(), cancelled.completed_at_ms),
        (Some("user:zhang"), Some(T0 + 3 * DAY))
    );
    is_conflict(field.cancel_installation(second.id, "user:zhang", T0).await);
    assert!(matches!(
        field.get_installation(InstallationId::new()).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        field
            .cancel_installation(InstallationId::new(), "user:zhang", T0)
            .await,
        Err(StoreError::NotFound { .. })
    ));

    // Two people planning the same meter at once: one plan wins.
    let raced = plain_meter(store, p.org, "E-102", Utility::Electricity).await;
    let (x, y) = (
        plan(&p, raced, p.units[0], "2024-07-01"),
        plan(&p, raced, p.units[1], "2024-07-01"),
    );
    let (rx, ry) = tokio::join!(field.create_installation(&x), field.create_installation(&y));
    assert!(
        matches!(
            (&rx, &ry),
            (Ok(()), Err(StoreError::Conflict(_))) | (Err(StoreError::Conflict(_)), Ok(()))
        ),
        "{rx:?} {ry:?}"
    );
}

fn run(id: &str, meter: MeterId, at: i64) -> CommissioningRun {
    CommissioningRun {
        id: id.into(),
        meter_id: meter,
        outcome: RunOutcome::Running,
        steps: "[]".into(),
        reason: String::new(),
        started_by: "user:wang".into(),
        started_at_ms: at,
        finished_at_ms: None,
    }
}

async fn one_commissioning_run_at_a_time_and_a_pass_puts_in_service(db: &TestDb) {
    let store = db.store();
    let field = store.field();
    let p = place(store, "调试物业", "TS01", 1).await;
    let meter = plain_meter(store, p.org, "E-200", Utility::Electricity).await;
    let other = plain_meter(store, p.org, "E-201", Utility::Electricity).await;
    for m in [meter, other] {
        walk(store, m, &[(DeviceState::Installed, Action::Install, T0)]).await;
    }

    field
        .start_run(&run("run-1", meter, T0 + 10))
        .await
        .unwrap();
    let why = is_conflict(field.start_run(&run("run-2", meter, T0 + 11)).await);
    assert!(why.contains("E-200"), "{why}");
    assert_eq!(db.count_rows("commissioning_runs").await, 1);
    // Another meter may run at the same time.
    field
        .start_run(&run("run-x", other, T0 + 12))
        .await
        .unwrap();

    // Finishing as running is no finish.
    is_conflict(
        field
            .finish_run("run-1", RunOutcome::Running, "[]", "", T0 + 20, &[])
            .await,
    );
    // Failed: the device stays installed.
    field
        .finish_run(
            "run-1",
            RunOutcome::Failed,
            r#"[{"step":"read","ok":false}]"#,
            "no answer",
            T0 + 20,
            &[],
        )
        .await
        .unwrap();
    let failed = field.get_run("run-1").await.unwrap();
    assert_eq!(
        failed,
        CommissioningRun {
            outcome: RunOutcome::Failed,
            steps: r#"[{"step":"read","ok":false}]"#.into(),
            reason: "no answer".into(),
            finished_at_ms: Some(T0 + 20),
            ..run("run-1", meter, T0 + 10)
        }
    );
    is_conflict(
        field
            .finish_run("run-1", RunOutcome::Passed, "[]", "", T0 + 21, &[])
            .await,
    );
    assert_eq!(state(store, meter).await, DeviceState::Installed);

    // A pass with moves from the wrong state: refused, the run still runs.
    field
        .start_run(&run("run-2", meter, T0 + 30))
        .await
        .unwrap();
    let wrong = [mv(
        meter,
        DeviceState::Commissioned,
        DeviceState::InService,
        Action::PutInService,
        T0 + 40,
    )];
    is_conflict(
        field
            .finish_run("run-2", RunOutcome::Passed, "[]", "", T0 + 40, &wrong)
            .await,
    );
    assert_eq!(
        field.get_run("run-2").await.unwrap().outcome,
        RunOutcome::Running
    );
    assert_eq!(state(store, meter).await, DeviceState::Installed);

    // Passed: installed → commissioned → in service, in order.
    let moves = [
        mv(
            meter,
            DeviceState::Installed,
            DeviceState::Commissioned,
            Action::Commission,
            T0 + 40,
        ),
        mv(
            meter,
            DeviceState::Commissioned,
            DeviceState::InService,
            Action::PutInService,
            T0 + 40,
        ),
    ];
    field
        .finish_run(
            "run-2",
            RunOutcome::Passed,
            r#"[{"step":"read","ok":true}]"#,
            "",
            T0 + 40,
            &moves,
        )
        .await
        .unwrap();
    assert_eq!(
        field.get_run("run-2").await.unwrap().outcome,
        RunOutcome::Passed
    );
    assert_eq!(state(store, meter).await, DeviceState::InService);
    assert_eq!(status(store, meter).await, MeterStatus::InService);

    let runs: Vec<String> = field
        .list_runs(meter)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(runs, ["run-2", "run-1"], "newest first");
    assert!(matches!(
        field.get_run("nope").await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        field
            .finish_run("nope", RunOutcome::Failed, "[]", "", T0, &[])
            .await,
        Err(StoreError::NotFound { .. })
    ));
}

fn rollout(org: OrganisationId, model: DeviceModelId, n: &str, at: i64) -> Rollout {
    Rollout {
        id: RolloutId::new(),
        organisation_id: org,
        name: n.into(),
        model_id: model,
        pilot_approved_by: None,
        pilot_approved_at_ms: None,
        created_by: "user:zhang".into(),
        created_at_ms: at,
    }
}

async fn a_swap_moves_both_meters_and_marks_the_rollout_member(db: &TestDb) {
    let store = db.store();
    let field = store.field();
    let p = place(store, "换表物业", "HB01", 1).await;
    let model = catalogue_model(store, p.org, "DDZY-NEW", 10).await;
    let customer = store
        .create_customer(
            &NewCustomer::new(p.org, CustomerKind::Person, "陈小明", None, None, None).unwrap(),
        )
        .await
        .unwrap();
    let account = store
        .create_account(&NewAccount {
            organisation_id: p.org,
            number: "HB-0001".parse().unwrap(),
            customer_id: customer.id,
            class: CustomerClass::Residential,
        })
        .await
        .unwrap();
    let old = plain_meter(store, p.org, "OLD-1", Utility::Electricity).await;
    let lonely = plain_meter(store, p.org, "OLD-2", Utility::Electricity).await;
    store
        .set_meter_status(old, MeterStatus::InService)
        .await
        .unwrap();
    store
        .set_meter_status(lonely, MeterStatus::InService)
        .await
        .unwrap();
    let new = stocked(store, p.org, &model, &["NEW-1"], T0 - 10 * DAY).await[0];
    let r = rollout(p.org, model.id, "2024 更换", T0);
    field.create_rollout(&r, &[(old, 0)]).await.unwrap();

    let swap = |old: MeterId, at: i64| MeterSwap {
        id: format!("swap-{at}"),
        organisation_id: p.org,
        old_meter_id: old,
        new_meter_id: new,
        account_id: account.id,
        unit_id: p.units[0],
        final_reading: 98_765,
        opening_reading: 3,
        final_charge: Fen(1_250),
        rollout_id: Some(r.id),
        actor: "user:wang".into(),
        reason: "轮换".into(),
        at_ms: at,
    };
    let moves = |old: MeterId, at: i64| {
        [
            mv(
                old,
                DeviceState::InService,
                DeviceState::Removed,
                Action::Remove,
                at,
            ),
            mv(
                new,
                DeviceState::InStock,
                DeviceState::Installed,
                Action::Install,
                at,
            ),
        ]
    };

    // A move from the wrong state: nothing of the swap is written.
    let mut wrong = moves(old, T0 + DAY);
    wrong[1].from = DeviceState::Accepted;
    is_conflict(field.record_swap(&swap(old, T0 + DAY), &wrong).await);
    assert_eq!(db.count_rows("meter_swaps").await, 0);
    assert_eq!(status(store, old).await, MeterStatus::InService);
    assert_eq!(state(store, new).await, DeviceState::InStock);
    // A meter that is not a member of the rollout named: refused the same.
    assert!(matches!(
        field
            .record_swap(&swap(lonely, T0 + DAY), &moves(lonely, T0 + DAY))
            .await,
        Err(StoreError::Reference(_))
    ));
    assert_eq!(db.count_rows("meter_swaps").await, 0);
    assert_eq!(status(store, lonely).await, MeterStatus::InService);
    assert_eq!(state(store, new).await, DeviceState::InStock);

    let s = swap(old, T0 + 2 * DAY);
    field
        .record_swap(&s, &moves(old, T0 + 2 * DAY))
        .await
        .unwrap();
    assert_eq!(field.swaps_of(old).await.unwrap(), std::slice::from_ref(&s));
    assert_eq!(field.swaps_of(new).await.unwrap(), std::slice::from_ref(&s));
    assert!(field.swaps_of(lonely).await.unwrap().is_empty());
    assert_eq!(status(store, old).await, MeterStatus::Removed);
    assert_eq!(state(store, old).await, DeviceState::Removed);
    assert_eq!(status(store, new).await, MeterStatus::Installed);
    let members = field.rollout_members(r.id).await.unwrap();
    assert_eq!(
        members,
        [RolloutMember {
            meter_id: old,
            serial: "OLD-1".into(),
            wave: 0,
            state: DeviceState::Removed,
            new_meter_id: Some(new),
            swapped_at_ms: Some(T0 + 2 * DAY),
        }]
    );
    // A swap outside any rollout, newest first in the list.
    walk(
        store,
        new,
        &[
            (DeviceState::Commissioned, Action::Commission, T0 + 3 * DAY),
            (DeviceState::InService, Action::PutInService, T0 + 3 * DAY),
        ],
    )
    .await;
    let other_new = stocked(store, p.org, &model, &["NEW-2"], T0).await[0];
    let later = MeterSwap {
        id: "swap-later".into(),
        old_meter_id: new,
        new_meter_id: other_new,
        rollout_id: None,
        at_ms: T0 + 5 * DAY,
        ..s.clone()
    };
    field
        .record_swap(
            &later,
            &[
                mv(
                    new,
                    DeviceState::InService,
                    DeviceState::Removed,
                    Action::Remove,
                    T0 + 5 * DAY,
                ),
                mv(
                    other_new,
                    DeviceState::InStock,
                    DeviceState::Installed,
                    Action::Install,
                    T0 + 5 * DAY,
                ),
            ],
        )
        .await
        .unwrap();
    assert_eq!(field.swaps_of(new).await.unwrap(), [later, s]);
}

async fn a_meter_is_in_one_rollout(db: &TestDb) {
    let store = db.store();
    let field = store.field();
    let p = place(store, "轮换物业", "LH01", 1).await;
    let elsewhere = place(store, "别家物业", "BJ03", 1).await;
    let model = catalogue_model(store, p.org, "DDZY-R", 10).await;
    let mut m = Vec::new();
    for s in ["R-1", "R-2", "R-3", "R-4"] {
        m.push(plain_meter(store, p.org, s, Utility::Electricity).await);
    }
    store
        .set_meter_status(m[1], MeterStatus::InService)
        .await
        .unwrap();
    let foreign = plain_meter(store, elsewhere.org, "F-1", Utility::Electricity).await;

    let first = rollout(p.org, model.id, "一期", T0);
    field
        .create_rollout(&first, &[(m[1], 1), (m[0], 0), (m[2], 1)])
        .await
        .unwrap();
    assert_eq!(field.get_rollout(first.id).await.unwrap(), first);
    let members = field.rollout_members(first.id).await.unwrap();
    let seen: Vec<(&str, u32, DeviceState)> = members
        .iter()
        .map(|x| (x.serial.as_str(), x.wave, x.state))
        .collect();
    assert_eq!(
        seen,
        [
            ("R-1", 0, DeviceState::InStock),
            ("R-2", 1, DeviceState::InService),
            ("R-3", 1, DeviceState::InStock)
        ],
        "by wave, then serial; untracked meters show their meters.status"
    );
    assert!(
        members
            .iter()
            .all(|x| x.new_meter_id.is_none() && x.swapped_at_ms.is_none())
    );

    // The same name; a member already in another rollout (named); a
    // meter listed twice; a meter of another organisation: all refused,
    // and nothing written.
    let why = is_conflict(
        field
            .create_rollout(&rollout(p.org, model.id, "一期", T0 + 1), &[(m[3], 0)])
            .await,
    );
    assert!(why.contains("一期"), "{why}");
    let why = is_conflict(
        field
            .create_rollout(
                &rollout(p.org, model.id, "二期", T0 + 1),
                &[(m[3], 0), (m[2], 0)],
            )
            .await,
    );
    assert!(why.contains("R-3"), "{why}");
    is_conflict(
        field
            .create_rollout(
                &rollout(p.org, model.id, "二期", T0 + 1),
                &[(m[3], 0), (m[3], 1)],
            )
            .await,
    );
    assert!(matches!(
        field
            .create_rollout(
                &rollout(p.org, model.id, "二期", T0 + 1),
                &[(m[3], 0), (foreign, 0)]
            )
            .await,
        Err(StoreError::Reference(_))
    ));
    assert_eq!(db.count_rows("rollouts").await, 1);
    assert_eq!(db.count_rows("rollout_members").await, 3);

    let second = rollout(p.org, model.id, "二期", T0 + 1);
    field.create_rollout(&second, &[(m[3], 0)]).await.unwrap();
    assert_eq!(field.rollout_of(m[0]).await.unwrap(), Some((first.id, 0)));
    assert_eq!(field.rollout_of(m[2]).await.unwrap(), Some((first.id, 1)));
    assert_eq!(field.rollout_of(m[3]).await.unwrap(), Some((second.id, 0)));
    assert_eq!(field.rollout_of(foreign).await.unwrap(), None);
    let listed: Vec<RolloutId> = field
        .list_rollouts(p.org)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(listed, [second.id, first.id], "newest first");
    assert!(field.list_rollouts(elsewhere.org).await.unwrap().is_empty());

    // The pilot is approved once.
    assert!(
        field
            .approve_pilot(first.id, "user:boss", T0 + 9)
            .await
            .unwrap()
    );
    assert!(
        !field
            .approve_pilot(first.id, "user:other", T0 + 10)
            .await
            .unwrap()
    );
    let approved = field.get_rollout(first.id).await.unwrap();
    assert_eq!(
        (
            approved.pilot_approved_by.as_deref(),
            approved.pilot_approved_at_ms
        ),
        (Some("user:boss"), Some(T0 + 9))
    );
    for missing in [
        field
            .approve_pilot(RolloutId::new(), "user:boss", T0)
            .await
            .err(),
        field.get_rollout(RolloutId::new()).await.err(),
        field.rollout_members(RolloutId::new()).await.err(),
    ] {
        assert!(
            matches!(missing, Some(StoreError::NotFound { .. })),
            "{missing:?}"
        );
    }
}

async fn field_devices_and_fault_facts_per_model(db: &TestDb) {
    let store = db.store();
    let field = store.field();
    let p = place(store, "评估物业", "PG01", 1).await;
    let m1 = catalogue_model(store, p.org, "DDZY-8", 8).await;
    let m2 = catalogue_model(store, p.org, "DDZY-10", 10).await;
    let m3 = catalogue_model(store, p.org, "DDZY-UNUSED", 12).await;
    let d = stocked(store, p.org, &m1, &["D-1", "D-2", "D-3"], T0 - 600 * DAY).await;
    let e = stocked(store, p.org, &m2, &["D-4", "D-5"], T0 - 600 * DAY).await;
    let (d1, d2, d4, d5) = (d[0], d[1], e[0], e[1]);
    store
        .assign_meter(d1, Some(p.units[0]), None)
        .await
        .unwrap();

    // d1: in service for 500 days, a fault 450 days ago (repaired) and one
    // 10 days ago (still faulty).
    into_service(store, d1, T0 - 500 * DAY).await;
    walk(
        store,
        d1,
        &[
            (DeviceState::Faulty, Action::ReportFault, T0 - 450 * DAY),
            (DeviceState::InService, Action::Repair, T0 - 449 * DAY),
            (DeviceState::Faulty, Action::ReportFault, T0 - 10 * DAY),
        ],
    )
    .await;
    // d2: in service for 100 days. d3 stays in stock.
    into_service(store, d2, T0 - 100 * DAY).await;
    // d4: 5 days in the field, then removed.
    into_service(store, d4, T0 - 100 * DAY).await;
    walk(
        store,
        d4,
        &[(DeviceState::Removed, Action::Remove, T0 - 95 * DAY)],
    )
    .await;
    // d5: in service 50 days ago, faulty and under repair since.
    into_service(store, d5, T0 - 50 * DAY).await;
    walk(
        store,
        d5,
        &[
            (DeviceState::Faulty, Action::ReportFault, T0 - 40 * DAY),
            (DeviceState::UnderRepair, Action::StartRepair, T0 - 39 * DAY),
        ],
    )
    .await;
    // In service without a catalogue model: not evaluated.
    let plain = plain_meter(store, p.org, "PLAIN-1", Utility::Electricity).await;
    store
        .set_meter_status(plain, MeterStatus::InService)
        .await
        .unwrap();

    let accepted = date("2022-01-01").to_datetime(jiff::civil::Time::midnight());
    let accepted_ms = jiff::tz::TimeZone::UTC
        .to_timestamp(accepted)
        .unwrap()
        .as_millisecond();
    let all = field.field_devices(p.org, None, 10, T0).await.unwrap();
    assert_eq!(
        all,
        [
            FieldDevice {
                meter_id: d1,
                serial: "D-1".into(),
                utility: Utility::Electricity,
                state: DeviceState::Faulty,
                model_id: m1.id,
                site_id: Some(p.site),
                life_start_ms: accepted_ms,
                service_life_years: 8,
                faults_last_year: 1,
            },
            FieldDevice {
                meter_id: d2,
                serial: "D-2".into(),
                utility: Utility::Electricity,
                state: DeviceState::InService,
                model_id: m1.id,
                site_id: None,
                life_start_ms: accepted_ms,
                service_life_years: 8,
                faults_last_year: 0,
            },
            FieldDevice {
                meter_id: d5,
                serial: "D-5".into(),
                utility: Utility::Electricity,
                state: DeviceState::UnderRepair,
                model_id: m2.id,
                site_id: None,
                life_start_ms: accepted_ms,
                service_life_years: 10,
                faults_last_year: 1,
            },
        ]
    );
    // Pages by meter id.
    let ids = |v: Vec<FieldDevice>| v.into_iter().map(|x| x.meter_id).collect::<Vec<_>>();
    assert_eq!(
        ids(field.field_devices(p.org, None, 2, T0).await.unwrap()),
        [d1, d2]
    );
    assert_eq!(
        ids(field.field_devices(p.org, Some(d2), 2, T0).await.unwrap()),
        [d5]
    );
    assert!(
        field
            .field_devices(p.org, Some(d5), 2, T0)
            .await
            .unwrap()
            .is_empty()
    );
    // 320 days on, d1's and d5's recent faults still count; 400 days on, none.
    let later = field
        .field_devices(p.org, None, 10, T0 + 320 * DAY)
        .await
        .unwrap();
    assert_eq!(
        later.iter().map(|x| x.faults_last_year).collect::<Vec<_>>(),
        [1, 0, 1]
    );
    let much_later = field
        .field_devices(p.org, None, 10, T0 + 400 * DAY)
        .await
        .unwrap();
    assert!(much_later.iter().all(|x| x.faults_last_year == 0));
    // Without acceptance data its life starts when it first went into service.
    db.execute(&format!(
        "UPDATE devices SET accepted_on = NULL WHERE meter_id = '{d2}'"
    ))
    .await;
    let d2_now = &field.field_devices(p.org, Some(d1), 1, T0).await.unwrap()[0];
    assert_eq!(
        (d2_now.meter_id, d2_now.life_start_ms),
        (d2, T0 - 100 * DAY)
    );

    // Faults ever and days in the field per model; a model without
    // devices shows zeros.
    let mut facts = field.model_fault_facts(p.org, T0).await.unwrap();
    facts.sort();
    let mut want = vec![(m1.id, 2, 600), (m2.id, 1, 55), (m3.id, 0, 0)];
    want.sort();
    assert_eq!(facts, want);
    let other = place(store, "别家物业", "BJ04", 1).await;
    assert!(
        field
            .model_fault_facts(other.org, T0)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn site_coverage_counts_units_with_a_fitted_meter(db: &TestDb) {
    let store = db.store();
    let field = store.field();
    let p = place(store, "覆盖物业", "FG01", 3).await;
    let (_, other_units) = site(store, p.org, "FG02", 1).await;
    let m1 = catalogue_model(store, p.org, "DDZY-A", 10).await;
    let m2 = catalogue_model(store, p.org, "DDZY-B", 10).await;
    let a = stocked(store, p.org, &m1, &["C-1", "C-2", "C-5"], T0 - 30 * DAY).await;
    let b = stocked(store, p.org, &m2, &["C-3", "C-4"], T0 - 30 * DAY).await;
    let u = &p.units;
    // Unit 1: an M1 meter in service and an M2 meter faulty; unit 2: an M1
    // meter installed; unit 3: an M2 meter still in stock (not fitted).
    for (meter, unit) in [
        (a[0], u[0]),
        (b[0], u[0]),
        (a[1], u[1]),
        (b[1], u[2]),
        (a[2], other_units[0]),
    ] {
        store.assign_meter(meter, Some(unit), None).await.unwrap();
    }
    into_service(store, a[0], T0 - 20 * DAY).await;
    into_service(store, b[0], T0 - 20 * DAY).await;
    walk(
        store,
        b[0],
        &[(DeviceState::Faulty, Action::ReportFault, T0 - 10 * DAY)],
    )
    .await;
    walk(
        store,
        a[1],
        &[(DeviceState::Installed, Action::Install, T0 - 20 * DAY)],
    )
    .await;
    // At the other site, in service: not counted here.
    into_service(store, a[2], T0 - 20 * DAY).await;
    // A water meter without a lifecycle record in unit 3, and a removed one
    // in unit 1.
    let water = plain_meter(store, p.org, "W-1", Utility::Water).await;
    store.assign_meter(water, Some(u[2]), None).await.unwrap();
    store
        .set_meter_status(water, MeterStatus::InService)
        .await
        .unwrap();
    let gone = plain_meter(store, p.org, "W-2", Utility::Water).await;
    store.assign_meter(gone, Some(u[0]), None).await.unwrap();
    store
        .set_meter_status(gone, MeterStatus::Removed)
        .await
        .unwrap();

    assert_eq!(status(store, a[1]).await, MeterStatus::Installed);
    assert_eq!(status(store, b[0]).await, MeterStatus::Faulty);
    let coverage = field.site_coverage(p.site).await.unwrap();
    assert_eq!(
        coverage,
        [
            SiteCoverage {
                utility: Utility::Electricity,
                units: 3,
                units_with_meter: 2,
                usual_model: Some(m1.id),
            },
            SiteCoverage {
                utility: Utility::Water,
                units: 3,
                units_with_meter: 1,
                usual_model: None,
            },
            SiteCoverage {
                utility: Utility::Gas,
                units: 3,
                units_with_meter: 0,
                usual_model: None,
            },
        ]
    );
    assert!(matches!(
        field.site_coverage(SiteId::new()).await,
        Err(StoreError::NotFound { .. })
    ));
}

fn reading(seq: i64, meter: MeterId, at_ms: i64) -> ReadingRow {
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
        prev_seq: None,
    }
}

async fn group_facts_count_within_the_window(db: &TestDb) {
    let store = db.store();
    let field = store.field();
    let p = place(store, "试点物业", "SD01", 1).await;
    let model = catalogue_model(store, p.org, "DDZY-P", 10).await;
    // Ids that do not exist, made first so they sort before the devices:
    // `a` ends the first list of 500, `b` starts the second.
    let ghosts: Vec<MeterId> = (0..499).map(|_| MeterId::new()).collect();
    let a = stocked(store, p.org, &model, &["P-1"], T0 - 30 * DAY).await[0];
    let b = stocked(store, p.org, &model, &["P-2"], T0 - 30 * DAY).await[0];
    let outsider = stocked(store, p.org, &model, &["P-3"], T0 - 30 * DAY).await[0];
    // The window: days 10 to 20 after T0.
    let (from, to) = (T0 + 10 * DAY, T0 + 20 * DAY);
    // a: in service throughout; a fault on day 12 (repaired on day 13) and
    // one on day 25, after the window.
    into_service(store, a, T0).await;
    walk(
        store,
        a,
        &[
            (DeviceState::Faulty, Action::ReportFault, T0 + 12 * DAY),
            (DeviceState::InService, Action::Repair, T0 + 13 * DAY),
            (DeviceState::Faulty, Action::ReportFault, T0 + 25 * DAY),
        ],
    )
    .await;
    // b: in service from day 15 to day 18.
    into_service(store, b, T0 + 15 * DAY).await;
    walk(
        store,
        b,
        &[(DeviceState::Removed, Action::Remove, T0 + 18 * DAY)],
    )
    .await;
    // The outsider: a fault in the window, not in the group.
    into_service(store, outsider, T0).await;
    walk(
        store,
        outsider,
        &[(DeviceState::Faulty, Action::ReportFault, T0 + 11 * DAY)],
    )
    .await;

    // Readings: a on days 9 (before), 10 (twice), 11 and 20 (the end, not
    // inside); b on day 15; the outsider on day 12.
    let readings = vec![
        reading(1, a, T0 + 9 * DAY + HOUR),
        reading(2, a, T0 + 10 * DAY + HOUR),
        reading(3, a, T0 + 10 * DAY + 2 * HOUR),
        reading(4, a, T0 + 11 * DAY),
        reading(5, b, T0 + 15 * DAY + HOUR),
        reading(6, outsider, T0 + 12 * DAY),
        reading(7, a, T0 + 20 * DAY),
    ];
    store
        .journal()
        .append(&JournalBatch {
            readings,
            ..JournalBatch::default()
        })
        .await
        .unwrap();

    let mut group = ghosts.clone();
    group.extend([a, b, a]);
    let facts = field.group_facts(&group, from, to).await.unwrap();
    assert_eq!(
        facts,
        GroupFactsRow {
            devices: 2,
            faults: 1,
            device_days: 10 + 3,
            reporting_days: 3,
        }
    );
    // A window before anything happened, and an empty group.
    assert_eq!(
        field
            .group_facts(&[a, b], T0 - 20 * DAY, T0 - 10 * DAY)
            .await
            .unwrap(),
        GroupFactsRow {
            devices: 2,
            ..GroupFactsRow::default()
        }
    );
    assert_eq!(
        field.group_facts(&[], from, to).await.unwrap(),
        GroupFactsRow::default()
    );

    // A meter registered in service before it had a lifecycle record:
    // in the field since it was registered, until its first recorded move.
    let old = plain_meter(store, p.org, "OLD-P", Utility::Electricity).await;
    store
        .set_meter_status(old, MeterStatus::InService)
        .await
        .unwrap();
    let created = store
        .get_meter(old)
        .await
        .unwrap()
        .created_at
        .as_millisecond();
    assert_eq!(
        field
            .group_facts(&[old], created, created + 2 * DAY)
            .await
            .unwrap()
            .device_days,
        2,
        "no history yet"
    );
    walk(
        store,
        old,
        &[
            (DeviceState::Faulty, Action::ReportFault, created + 5 * DAY),
            (
                DeviceState::UnderRepair,
                Action::StartRepair,
                created + 6 * DAY,
            ),
            (DeviceState::Removed, Action::Remove, created + 7 * DAY),
        ],
    )
    .await;
    let facts = field
        .group_facts(&[old], created + DAY, created + 3 * DAY)
        .await
        .unwrap();
    assert_eq!((facts.device_days, facts.faults), (2, 0));
    let facts = field
        .group_facts(&[old], created, created + 10 * DAY)
        .await
        .unwrap();
    assert_eq!((facts.device_days, facts.faults), (7, 1));
}

async fn a_removed_meter_is_scrapped_with_its_disposal(db: &TestDb) {
    let store = db.store();
    let field = store.field();
    let p = place(store, "报废物业", "BF01", 1).await;
    let meter = plain_meter(store, p.org, "S-1", Utility::Electricity).await;
    let busy = plain_meter(store, p.org, "S-2", Utility::Electricity).await;
    store
        .set_meter_status(meter, MeterStatus::Removed)
        .await
        .unwrap();
    store
        .set_meter_status(busy, MeterStatus::InService)
        .await
        .unwrap();
    let disposal = |m: MeterId| Disposal {
        meter_id: m,
        method: "recycler".into(),
        reason: "超期".into(),
        record: "HS-2024-001".into(),
        disposed_by: "user:zhang".into(),
        disposed_at_ms: T0,
    };
    let scrap = |m: MeterId| {
        mv(
            m,
            DeviceState::Removed,
            DeviceState::Scrapped,
            Action::Scrap,
            T0,
        )
    };

    // Not removed: refused, nothing written.
    is_conflict(field.record_disposal(&disposal(busy), &scrap(busy)).await);
    assert_eq!(field.disposal(busy).await.unwrap(), None);
    assert_eq!(status(store, busy).await, MeterStatus::InService);
    assert_eq!(db.count_rows("disposals").await, 0);
    // The move of another meter: refused.
    assert!(matches!(
        field.record_disposal(&disposal(meter), &scrap(busy)).await,
        Err(StoreError::Reference(_))
    ));

    field
        .record_disposal(&disposal(meter), &scrap(meter))
        .await
        .unwrap();
    assert_eq!(field.disposal(meter).await.unwrap(), Some(disposal(meter)));
    assert_eq!(state(store, meter).await, DeviceState::Scrapped);
    assert_eq!(
        status(store, meter).await,
        MeterStatus::Retired,
        "scrapped shows as retired"
    );
    // Once.
    is_conflict(field.record_disposal(&disposal(meter), &scrap(meter)).await);
    assert_eq!(db.count_rows("disposals").await, 1);
}
