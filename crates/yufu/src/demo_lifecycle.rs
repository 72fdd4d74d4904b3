//! The demo's device-lifecycle story, seeded once per organisation through
//! the same services as the API: a catalogue, a supplier with its
//! qualifications, an approved purchase contract, two deliveries (one on
//! time, one late) and devices in the states a store room really holds —
//! accepted and in stock, waiting for the check, rejected and returned —
//! plus an electricity certification for the admin, so an installation can
//! be planned in the console at once.

use anyhow::Context as _;
use jiff::civil::date;
use yufu_domain::lifecycle::Action;
use yufu_domain::{OrganisationId, Username};
use yufu_lifecycle::service::{self, Ctx};
use yufu_store::Store;

fn json<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> anyhow::Result<T> {
    serde_json::from_value(v).context("demo lifecycle data")
}

fn ctx<'a>(store: &'a dyn Store, org: OrganisationId, actor: &'a str, role: &'a str) -> Ctx<'a> {
    let now = jiff::Timestamp::now();
    Ctx {
        store,
        writer: None,
        org,
        actor,
        role,
        now,
        today: jiff::tz::TimeZone::get("Asia/Shanghai")
            .map(|tz| tz.to_datetime(now).date())
            .unwrap_or_else(|_| jiff::tz::TimeZone::UTC.to_datetime(now).date()),
    }
}

fn err(e: service::LifecycleError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Seeds the story unless the organisation already has a contract.
pub async fn seed(store: &dyn Store, org: OrganisationId) -> anyhow::Result<()> {
    if !store.procurement().list_contracts(org).await?.is_empty() {
        return Ok(());
    }
    let manager = ctx(store, org, "demo:manager", "manager");
    let finance = ctx(store, org, "demo:finance", "finance");
    let elec = service::create_model(
        &manager,
        json(serde_json::json!({
            "maker": "林洋 Linyang", "model": "DDZY71-Z", "utility": "electricity", "protocol": "dlt645_2007",
            "phases": 1, "accuracy_class": "2", "service_life_years": 10,
            "features": ["remote_switch", "multi_rate", "tamper_detection"], "list_price_fen": 32_000
        }))?,
    )
    .await
    .map_err(err)?;
    let water = service::create_model(
        &manager,
        json(serde_json::json!({
            "maker": "三川 Sanchuan", "model": "LXSY-15E", "utility": "water", "protocol": "cjt188",
            "accuracy_class": "2", "service_life_years": 6, "features": ["remote_valve"], "list_price_fen": 26_000
        }))?,
    )
    .await
    .map_err(err)?;
    service::create_model(
        &manager,
        json(serde_json::json!({
            "maker": "金卡 Goldcard", "model": "G2.5-IC", "utility": "gas", "protocol": "cjt188",
            "accuracy_class": "1.5", "service_life_years": 10, "features": ["remote_valve", "prepaid_card"],
            "list_price_fen": 45_000
        }))?,
    )
    .await
    .map_err(err)?;
    let supplier = service::create_supplier(
        &manager,
        json(serde_json::json!({
            "name": "广州穗能仪表有限公司 Suineng Meters", "contact_name": "林经理 Mr Lin",
            "contact_phone": "020-3888 0000", "address": "广州市天河区 Tianhe, Guangzhou"
        }))?,
    )
    .await
    .map_err(err)?;
    for (name, number, expires) in [
        (
            "营业执照 Business licence",
            "91440101MA5D000000",
            "2031-06-30",
        ),
        (
            "计量器具型式批准证书 Pattern approval",
            "2024C123-44",
            "2027-03-31",
        ),
        ("ISO 9001", "CN-QMS-2023-0815", "2026-09-30"),
    ] {
        service::add_qualification(
            &manager,
            supplier.id,
            json(serde_json::json!({"name": name, "number": number, "expires_on": expires}))?,
        )
        .await
        .map_err(err)?;
    }
    let contract = service::create_contract(
        &manager,
        json(serde_json::json!({
            "number": "HT-2026-0001", "supplier_id": supplier.id, "warranty_months": 24,
            "transport_fen": 30_000, "installation_fen": 60_000, "commissioning_fen": 20_000,
            "after_sales": "48 小时内上门维修 On site within 48 hours; spare parts for 8 years",
            "lines": [
                {"model_id": elec.id, "quantity": 6, "unit_price_fen": 30_500, "delivery_due": "2026-10-15"},
                {"model_id": water.id, "quantity": 4, "unit_price_fen": 24_800, "delivery_due": "2026-10-31"}
            ]
        }))?,
    )
    .await
    .map_err(err)?;
    let id = contract.contract.id;
    service::approve_contract(&finance, id).await.map_err(err)?;
    let first = service::create_delivery(
        &manager,
        id,
        json(serde_json::json!({"note_number": "SH-20261012", "delivered_on": "2026-10-12"}))?,
    )
    .await
    .map_err(err)?;
    let csv = "serial,comm_address,contract_line,note\n\
               DEMO-E-0001,000099000001,1,box 1\nDEMO-E-0002,000099000002,1,box 1\n\
               DEMO-E-0003,000099000003,1,box 1\nDEMO-E-0004,000099000004,1,box 2\n\
               DEMO-E-0005,000099000005,1,box 2\nDEMO-E-0006,000099000006,1,box 2\n";
    let report = service::import_serials(&manager, first.id, csv.as_bytes(), false)
        .await
        .map_err(err)?;
    anyhow::ensure!(
        report.problems.is_empty(),
        "demo serials: {:?}",
        report.problems
    );
    let ids: Vec<_> = report.devices.iter().filter_map(|d| d.meter_id).collect();
    let pass = || -> anyhow::Result<service::CheckIn> {
        json(
            serde_json::json!({"appearance_ok": true, "accessories_ok": true, "function_ok": true}),
        )
    };
    // DEMO-E-0004 and DEMO-E-0006 wait for their acceptance check (the
    // browser tests take one each through the rest of its life).
    for m in &ids[..3] {
        service::check_device(&manager, *m, pass()?)
            .await
            .map_err(err)?;
        service::act(&manager, *m, Action::Stock, "库位 B3 shelf B3")
            .await
            .map_err(err)?;
    }
    let cracked = json(serde_json::json!({
        "appearance_ok": false, "accessories_ok": true, "function_ok": true,
        "reason": "外壳破裂 cracked cover"
    }))?;
    service::check_device(&manager, ids[4], cracked)
        .await
        .map_err(err)?;
    service::act(
        &manager,
        ids[4],
        Action::ReturnToSupplier,
        "退货单 RMA-0007",
    )
    .await
    .map_err(err)?;

    // The water meters came late (due 2026-10-31), two of four so far.
    let second = service::create_delivery(
        &manager,
        id,
        json(serde_json::json!({"note_number": "SH-20261103", "delivered_on": "2026-11-03"}))?,
    )
    .await
    .map_err(err)?;
    let csv = "serial,comm_address,contract_line\n\
               DEMO-W-0001,00009900000001,2\nDEMO-W-0002,00009900000002,2\n";
    let report = service::import_serials(&manager, second.id, csv.as_bytes(), false)
        .await
        .map_err(err)?;
    anyhow::ensure!(
        report.problems.is_empty(),
        "demo serials: {:?}",
        report.problems
    );
    for m in report.devices.iter().filter_map(|d| d.meter_id) {
        service::check_device(&manager, m, pass()?)
            .await
            .map_err(err)?;
        service::act(&manager, m, Action::Stock, "库位 C1 shelf C1")
            .await
            .map_err(err)?;
    }

    // The admin may install electricity meters (so a plan can be tried).
    let admin: Username = crate::demo::ADMIN_USERNAME
        .parse()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(user) = store.find_staff_user(&admin).await? {
        service::add_certification(
            &manager,
            json(serde_json::json!({
                "staff_user_id": user.id, "utility": "electricity", "number": "低压电工证 LV-2025-001",
                "issued_on": date(2025, 1, 1).to_string(), "expires_on": date(2031, 12, 31).to_string()
            }))?,
        )
        .await
        .map_err(err)?;
    }
    tracing::info!(organisation = %org, "demo lifecycle seeded");
    Ok(())
}
