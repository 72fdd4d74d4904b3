//! One device through its whole life by the services alone (real SQLite
//! store, real writer): contract → second-role approval → delivery → serial
//! import → acceptance → stock → installation (certification and checklist
//! gates) → fault and repair → removal → scrap, and the history that
//! records it. Each gate is shown refusing what it must.

use std::sync::Arc;

use jiff::civil::date;
use yufu_domain::lifecycle::{Action, CheckItem, CheckResult, DeviceState};
use yufu_domain::*;
use yufu_lifecycle::service::{self, LifecycleError};
use yufu_store::Store;
use yufu_store_contract::TestDb;

mod common;
use common::{TARIFF, ctx, household, p, place};

fn refused(r: Result<impl std::fmt::Debug, LifecycleError>) -> String {
    match r {
        Err(LifecycleError::Refused(m)) => m,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_device_from_contract_to_scrapyard() {
    let db = TestDb::sqlite().await;
    let store: Arc<dyn Store> = db.shared();
    let s = store.as_ref();
    let (org, site, building) = place(s, "Lifecycle").await;
    let (unit, account) = household(s, org.id, building.id, "A-101", "LC0001").await;
    let installer = s
        .create_staff_user(&NewStaffUser {
            organisation_id: org.id,
            username: p("wang.installer"),
            display_name: p("王师傅"),
            role: Role::Technician,
            password_hash: "x".into(),
        })
        .await
        .expect("installer");

    let (writer, task) = yufu_writer::start(
        Arc::clone(&store),
        yufu_writer::WriterConfig {
            checkpoint_every: 0,
            checkpoint_on_shutdown: false,
            ..Default::default()
        },
    )
    .await
    .expect("writer");

    let manager = ctx(s, Some(&writer), org.id, "user:li.manager", "manager");
    let other_manager = ctx(s, Some(&writer), org.id, "user:zhou.manager", "manager");
    let finance = ctx(s, Some(&writer), org.id, "user:chen.finance", "finance");

    // Catalogue, supplier, contract.
    let model = service::create_model(
        &manager,
        serde_json::from_value(serde_json::json!({
            "maker": "林洋", "model": "DDZY71", "utility": "electricity", "protocol": "dlt645_2007",
            "phases": 1, "accuracy_class": "2", "service_life_years": 10,
            "features": ["remote_switch", "multi_rate"], "list_price_fen": 32000
        }))
        .expect("model json"),
    )
    .await
    .expect("model");
    let supplier = service::create_supplier(
        &manager,
        serde_json::from_value(serde_json::json!({"name": "广州电表有限公司", "contact_name": "刘", "contact_phone": "020-1234"}))
            .expect("supplier json"),
    )
    .await
    .expect("supplier");
    let due = date(2030, 1, 1);
    let view = service::create_contract(
        &manager,
        serde_json::from_value(serde_json::json!({
            "number": "HT-2026-001", "supplier_id": supplier.id, "warranty_months": 24,
            "transport_fen": 5000, "installation_fen": 10000, "commissioning_fen": 2000,
            "lines": [{"model_id": model.id, "quantity": 2, "unit_price_fen": 30000, "delivery_due": due.to_string()}]
        }))
        .expect("contract json"),
    )
    .await
    .expect("contract");
    assert_eq!(view.goods_fen, 60_000);
    assert_eq!(
        view.total_fen, 77_000,
        "goods + transport + installation + commissioning"
    );
    let contract = view.contract.id;

    // A delivery needs an approved contract; approval needs a second person of a second role.
    let d_in = || {
        serde_json::from_value(
            serde_json::json!({"note_number": "SH-1", "delivered_on": "2026-01-05"}),
        )
        .expect("delivery")
    };
    assert!(matches!(
        service::create_delivery(&manager, contract, d_in()).await,
        Err(LifecycleError::Conflict(_))
    ));
    assert!(
        refused(service::approve_contract(&manager, contract).await).contains("another person")
    );
    assert!(
        refused(service::approve_contract(&other_manager, contract).await).contains("second role")
    );
    let approved = service::approve_contract(&finance, contract)
        .await
        .expect("approved");
    assert_eq!(
        approved.contract.approved_by.as_deref(),
        Some("user:chen.finance")
    );
    let delivery = service::create_delivery(&manager, contract, d_in())
        .await
        .expect("delivery");

    // Serial import: a dry run with bad rows reports each, precisely, and writes nothing.
    let bad = "serial,comm_address,contract_line\n000000000101,000000000101,1\n000000000102,12AB,1\n000000000103,000000000103,2\n";
    let report = service::import_serials(&manager, delivery.id, bad.as_bytes(), true)
        .await
        .expect("report");
    let lines: Vec<u64> = report.problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, vec![3, 4], "{:?}", report.problems);
    assert!(
        report.problems[1].message.contains("has no line 2"),
        "{:?}",
        report.problems[1]
    );
    assert!(report.devices.is_empty());
    // Three devices against a line of two: the first one too many is named.
    let too_many = "serial\n000000000101\n000000000102\n000000000103\n";
    let report = service::import_serials(&manager, delivery.id, too_many.as_bytes(), false)
        .await
        .expect("report");
    assert_eq!(report.problems.len(), 1);
    assert_eq!(report.problems[0].line, 4, "{:?}", report.problems);
    let good = "serial,note\n000000000101,box 1\n000000000102,box 1\n";
    let dry = service::import_serials(&manager, delivery.id, good.as_bytes(), true)
        .await
        .expect("dry");
    assert!(dry.problems.is_empty() && dry.devices.iter().all(|d| d.meter_id.is_none()));
    assert!(
        s.find_meter_by_serial(org.id, &p("000000000101"))
            .await
            .expect("lookup")
            .is_none(),
        "a dry run writes nothing"
    );
    let done = service::import_serials(&manager, delivery.id, good.as_bytes(), false)
        .await
        .expect("import");
    let ids: Vec<MeterId> = done
        .devices
        .iter()
        .map(|d| d.meter_id.expect("created"))
        .collect();
    let again = service::import_serials(&manager, delivery.id, good.as_bytes(), false)
        .await
        .expect("again");
    assert!(
        again
            .problems
            .iter()
            .any(|p| p.message.contains("already registered")
                || p.message.contains("left to deliver"))
    );
    // The store holds the line's quantity itself, so two imports racing
    // past the service's check cannot over-fill it.
    let extra = yufu_store::lifecycle::NewDevice {
        serial: p("000000000150"),
        comm_address: p("000000000150"),
        line_no: 1,
        model: model.clone(),
        note: None,
    };
    let over = s
        .procurement()
        .receive_devices(&delivery, org.id, &[extra], "test", 0)
        .await;
    assert!(
        matches!(over, Err(yufu_store::StoreError::Conflict(ref m)) if m.contains("0 devices left")),
        "{over:?}"
    );

    // Acceptance: one passes (warranty from today, 24 months), one is rejected and returned.
    let pass = serde_json::from_value(
        serde_json::json!({"appearance_ok": true, "accessories_ok": true, "function_ok": true}),
    )
    .expect("check");
    let d = service::check_device(&manager, ids[0], pass)
        .await
        .expect("accepted");
    assert_eq!(d.state, DeviceState::Accepted);
    assert_eq!(
        d.warranty_ends_on,
        Some(yufu_domain::lifecycle::warranty_end(manager.today, 24).expect("end"))
    );
    let fail_without_reason = serde_json::from_value(
        serde_json::json!({"appearance_ok": false, "accessories_ok": true, "function_ok": true}),
    )
    .expect("check");
    assert!(matches!(
        service::check_device(&manager, ids[1], fail_without_reason).await,
        Err(LifecycleError::Invalid(_))
    ));
    let fail = serde_json::from_value(serde_json::json!({"appearance_ok": false, "accessories_ok": true, "function_ok": true, "reason": "cracked cover"})).expect("check");
    assert_eq!(
        service::check_device(&manager, ids[1], fail)
            .await
            .expect("rejected")
            .state,
        DeviceState::Rejected
    );
    assert_eq!(
        service::act(&manager, ids[1], Action::ReturnToSupplier, "RMA 7")
            .await
            .expect("returned")
            .state,
        DeviceState::Returned
    );
    // An illegal move is refused with the ways that exist.
    let err = service::act(&manager, ids[0], Action::ReportFault, "?")
        .await
        .expect_err("illegal");
    assert!(
        err.to_string().contains("from accepted it can stock"),
        "{err}"
    );
    service::act(&manager, ids[0], Action::Stock, "shelf B3")
        .await
        .expect("stock");
    let progress = service::contract_view(&manager, contract)
        .await
        .expect("view");
    assert_eq!(
        (
            progress.lines[0].accepted,
            progress.lines[0].returned,
            progress.lines[0].outstanding
        ),
        (1, 1, 1)
    );

    // Installation: refused without a certification, with an expired one, with another utility's.
    let plan = |on: jiff::civil::Date| -> service::PlanIn {
        serde_json::from_value(serde_json::json!({
            "meter_id": ids[0], "unit_id": unit.id, "account_id": account.id, "tariff_code": TARIFF,
            "scheduled_on": on.to_string(), "installer_id": installer.id
        }))
        .expect("plan")
    };
    let today = manager.today;
    assert!(
        refused(service::plan_installation(&manager, plan(today)).await)
            .contains("holds no valid electricity certification")
    );
    let cert = |utility: &str,
                from: jiff::civil::Date,
                to: jiff::civil::Date|
     -> service::CertificationIn {
        serde_json::from_value(
            serde_json::json!({"staff_user_id": installer.id, "utility": utility, "number": "C-1",
            "issued_on": from.to_string(), "expires_on": to.to_string()}),
        )
        .expect("cert")
    };
    let yesterday = today.yesterday().expect("yesterday");
    service::add_certification(&manager, cert("electricity", date(2020, 1, 1), yesterday))
        .await
        .expect("expired cert");
    service::add_certification(&manager, cert("gas", date(2020, 1, 1), date(2040, 1, 1)))
        .await
        .expect("gas cert");
    let why = refused(service::plan_installation(&manager, plan(today)).await);
    assert!(
        why.contains(&format!("expired {yesterday}")) && why.contains("gas C-1"),
        "{why}"
    );
    service::add_certification(&manager, cert("electricity", date(2020, 1, 1), today))
        .await
        .expect("valid cert");
    let planned = service::plan_installation(&manager, plan(today))
        .await
        .expect("planned");

    // The checklist gate: a failed item is recorded and refused; the meter stays in stock.
    let item = |item, passed| CheckResult {
        item,
        passed,
        note: if passed {
            String::new()
        } else {
            "no earth".into()
        },
    };
    let failed = service::CompleteIn {
        checklist: vec![
            item(CheckItem::Wiring, true),
            item(CheckItem::Grounding, false),
        ],
        opening_reading: 1_000,
    };
    assert!(
        refused(service::complete_installation(&manager, planned.id, failed).await)
            .contains("grounding (no earth)")
    );
    assert_eq!(
        service::installation(&manager, planned.id)
            .await
            .expect("plan")
            .status
            .as_str(),
        "planned"
    );
    assert!(
        s.field()
            .get_installation(planned.id)
            .await
            .expect("plan")
            .checklist
            .is_some(),
        "the failed checklist is recorded"
    );
    let ok = service::CompleteIn {
        checklist: vec![
            item(CheckItem::Wiring, true),
            item(CheckItem::Grounding, true),
        ],
        opening_reading: 1_000,
    };
    service::complete_installation(&manager, planned.id, ok)
        .await
        .expect("installed");
    let meter = s.get_meter(ids[0]).await.expect("meter");
    assert_eq!(
        (meter.unit_id, meter.account_id, meter.status),
        (Some(unit.id), Some(account.id), MeterStatus::Installed)
    );
    let engine = writer
        .meter(ids[0])
        .await
        .expect("writer")
        .expect("the engine bills it");
    assert!(
        engine.readings_head.is_some(),
        "the opening reading reached the engine"
    );

    // Commissioning needs a live device (tests/commission.rs); here the
    // device moves by hand past it to show the rest of the life.
    for (from, to, action) in [
        (
            DeviceState::Installed,
            DeviceState::Commissioned,
            Action::Commission,
        ),
        (
            DeviceState::Commissioned,
            DeviceState::InService,
            Action::PutInService,
        ),
    ] {
        s.procurement()
            .move_device(&yufu_store::lifecycle::Transition {
                meter: ids[0],
                from,
                to,
                action,
                actor: "test".into(),
                reason: "test".into(),
                detail: "{}".into(),
                at_ms: jiff::Timestamp::now().as_millisecond(),
            })
            .await
            .expect("move");
    }
    service::act(&manager, ids[0], Action::ReportFault, "display blank")
        .await
        .expect("faulty");
    service::act(&manager, ids[0], Action::StartRepair, "ticket 9")
        .await
        .expect("repair");
    service::act(&manager, ids[0], Action::Repair, "display replaced")
        .await
        .expect("back in service");
    // The swap (数据迁移): the old meter's final reading billed, the new
    // one (a meter registered before lifecycle records) takes over the unit
    // and account from its own opening reading.
    let replacement = s
        .create_meter(&NewMeter {
            organisation_id: org.id,
            serial: p("000000000199"),
            utility: Utility::Electricity,
            model: p("DDZY71"),
            protocol: MeterProtocol::Dlt645_2007,
            comm_address: p("000000000199"),
            multiplier: Multiplier::new(1).expect("multiplier"),
        })
        .await
        .expect("replacement");
    // The register lists an untracked meter by the state of its status.
    let in_stock = s
        .procurement()
        .list_devices(
            org.id,
            &yufu_store::lifecycle::DeviceFilter {
                state: Some(DeviceState::InStock),
                ..Default::default()
            },
            None,
            100,
            0,
        )
        .await
        .expect("list");
    assert_eq!(
        in_stock
            .iter()
            .map(|d| (d.serial.as_str(), d.tracked))
            .collect::<Vec<_>>(),
        [("000000000199", false)]
    );
    let in_service_refused = serde_json::from_value::<service::SwapIn>(serde_json::json!({
        "new_meter_id": ids[0], "final_reading": 2_000, "opening_reading": 5, "reason": "self"
    }))
    .expect("swap json");
    assert!(
        service::swap_meter(&manager, replacement.id, in_service_refused)
            .await
            .is_err(),
        "an in-stock meter cannot be swapped out"
    );
    let swap_in = serde_json::from_value::<service::SwapIn>(serde_json::json!({
        "new_meter_id": replacement.id, "final_reading": 2_000, "opening_reading": 5,
        "reason": "display fault came back"
    }))
    .expect("swap json");
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    // A later instant than the installation's opening reading.
    let later = ctx(s, Some(&writer), org.id, "user:li.manager", "manager");
    let swap = service::swap_meter(&later, ids[0], swap_in)
        .await
        .expect("swap");
    assert_eq!((swap.account_id, swap.unit_id), (account.id, unit.id));
    assert!(
        swap.final_charge.0 > 0,
        "the final kWh since installation is billed: {swap:?}"
    );
    let old = s.get_meter(ids[0]).await.expect("old");
    let new = s.get_meter(replacement.id).await.expect("new");
    assert_eq!(
        (old.unit_id, old.account_id, old.status),
        (None, None, MeterStatus::Removed)
    );
    assert_eq!(
        (new.unit_id, new.account_id, new.status),
        (Some(unit.id), Some(account.id), MeterStatus::Installed)
    );
    assert_eq!(new.tariff_code.as_ref().map(|t| t.as_str()), Some(TARIFF));
    let new_view = service::device_view(&manager, replacement.id)
        .await
        .expect("new view");
    assert_eq!(new_view.device.state, DeviceState::Installed);
    assert_eq!(new_view.swaps.len(), 1);
    // The new meter leaves again by plain removal: the engine stops billing it.
    let removed = service::remove(&manager, replacement.id, "building demolished")
        .await
        .expect("removed");
    assert_eq!(
        (removed.state, removed.unit_id),
        (DeviceState::Removed, None)
    );
    let removed = service::device_view(&manager, ids[0])
        .await
        .expect("old view")
        .device;
    assert_eq!((removed.state, removed.faults), (DeviceState::Removed, 1));
    let disposal = serde_json::from_value(
        serde_json::json!({"method": "recycler", "reason": "end of life", "record": "GZ-RC-88"}),
    )
    .expect("disposal");
    service::scrap(&manager, ids[0], disposal)
        .await
        .expect("scrapped");

    let view = service::device_view(&manager, ids[0]).await.expect("view");
    let path: Vec<&str> = view.history.iter().map(|e| e.to_state.as_str()).collect();
    assert_eq!(
        path,
        [
            "ordered",
            "received",
            "accepted",
            "in_stock",
            "installed",
            "commissioned",
            "in_service",
            "faulty",
            "under_repair",
            "in_service",
            "removed",
            "scrapped"
        ]
    );
    assert!(
        view.history
            .iter()
            .all(|e| !e.actor.is_empty() && !e.reason.is_empty())
    );
    assert_eq!(view.disposal.expect("disposal").record, "GZ-RC-88");
    assert!(view.next_actions.is_empty(), "scrapped is final");
    assert_eq!(
        s.get_meter(ids[0]).await.expect("meter").status,
        MeterStatus::Retired
    );

    let card = service::scorecard(&manager, supplier.id)
        .await
        .expect("scorecard");
    assert_eq!(
        (
            card.facts.checked,
            card.facts.passed,
            card.facts.delivered,
            card.facts.field_faults
        ),
        (2, 1, 2, 1)
    );

    // Demand (需求评估): the unit lost its meter, so the site needs one
    // electricity meter (the catalogue's model) and, asked for water too,
    // one water meter (no water model in the catalogue yet).
    let demand = service::demand(&manager, site.id, &[Utility::Electricity, Utility::Water])
        .await
        .expect("demand");
    let lines: Vec<(Utility, Option<DeviceModelId>, u64, u64)> = demand
        .lines
        .iter()
        .map(|l| (l.utility, l.model_id, l.new_installations, l.replacements))
        .collect();
    assert_eq!(
        lines,
        [
            (Utility::Electricity, Some(model.id), 1, 0),
            (Utility::Water, None, 1, 0)
        ]
    );
    let only_gas = service::demand(&manager, site.id, &[Utility::Gas])
        .await
        .expect("demand");
    assert_eq!(only_gas.lines.len(), 1, "{only_gas:?}");

    drop(writer);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), task.handle).await;
}
