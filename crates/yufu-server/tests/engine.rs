//! The prepaid engine end to end over HTTP: readings move a balance, the
//! cut-off trips the (simulated) meter, a recharge reconnects it, and the
//! idempotency rules hold. Runs on SQLite and, in CI, PostgreSQL.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::TestServer;
use serde_json::{Value, json};
use yufu_store_contract::TestDb;
use yufu_test_utils::http_request;
use yufu_writer::dispatch::Switch;

async fn post_raw(
    api: &TestServer,
    path: &str,
    headers: &[(&'static str, &'static str)],
    body: String,
) -> (u16, Value) {
    let r = api.raw("POST", path, headers, Some(body)).await;
    (
        r.status,
        serde_json::from_str(&r.body).unwrap_or(Value::String(r.body)),
    )
}

/// Waits until the meter's newest command of `kind` reaches `state`.
async fn command_reaches(api: &TestServer, meter: &str, kind: &str, state: &str) -> Value {
    for _ in 0..200 {
        let (_, out) = api
            .call("GET", &format!("/api/v1/meters/{meter}/commands"), None)
            .await;
        if let Some(c) = out["commands"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["kind"] == kind)
            && c["state"] == state
        {
            return c.clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the {kind} command of {meter} never reached {state}");
}

async fn prepaid_story(db: TestDb) {
    let api = TestServer::start(db).await;
    let org = api
        .created("/api/v1/organisations", json!({ "name": "广州演示物业" }))
        .await;
    let org_id = org["id"].as_str().unwrap().to_owned();
    let site = api
        .created("/api/v1/sites", json!({ "organisation_id": org_id, "code": "GZ-TH01", "name": "天河园区", "city": "广州" }))
        .await;
    let building = api
        .created(
            "/api/v1/buildings",
            json!({ "site_id": site["id"], "code": "A", "name": "A栋", "floors": 6 }),
        )
        .await;
    let unit = api
        .created("/api/v1/units", json!({ "building_id": building["id"], "code": "A-101", "floor": 1, "kind": "residential", "area_sqm": "89.5" }))
        .await;
    let customer = api
        .created("/api/v1/customers", json!({ "organisation_id": org_id, "kind": "person", "name": "陈小明", "phone": "13800138000" }))
        .await;
    let account = api
        .created("/api/v1/accounts", json!({ "organisation_id": org_id, "number": "GZ000001", "customer_id": customer["id"], "class": "residential" }))
        .await;
    let account_id = account["id"].as_str().unwrap().to_owned();
    let meter = api
        .created("/api/v1/meters", json!({ "organisation_id": org_id, "serial": "E-1", "utility": "electricity", "model": "DDZY1102", "protocol": "dlt645_2007", "comm_address": "000000000001" }))
        .await;
    let meter_id = meter["id"].as_str().unwrap().to_owned();
    let tariff = include_str!("../../../examples/tariffs/guangdong-residential-electricity.toml");
    let (addr, path) = (api.addr, format!("/api/v1/organisations/{org_id}/tariffs"));
    let up = tokio::task::spawn_blocking(move || {
        http_request(
            addr,
            "POST",
            &path,
            &[("Content-Type", "application/toml")],
            Some(tariff),
        )
        .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(up.status, 201, "{}", up.body);
    let (status, _) = api
        .call(
            "PUT",
            &format!("/api/v1/meters/{meter_id}/assignment"),
            Some(json!({ "unit_id": unit["id"], "account_id": account_id })),
        )
        .await;
    assert_eq!(status, 200);
    let (status, out) = api
        .call(
            "PUT",
            &format!("/api/v1/meters/{meter_id}/tariff"),
            Some(json!({ "tariff_code": "guangdong-residential-electricity" })),
        )
        .await;
    assert_eq!(status, 200, "{out}");

    // Opening reading, then 10 kWh: billed, balance below zero, cut off.
    let readings = json!({ "readings": [
        { "meter_id": meter_id, "at": "2026-03-01T00:00:00+08:00", "register": 100_000 },
        { "meter_id": meter_id, "at": "2026-03-02T00:00:00+08:00", "register": 110_000 },
        { "meter_id": meter_id, "at": "2026-03-02T00:00:00+08:00", "register": 110_000 },
        { "meter_id": meter_id, "at": "2026-03-01T12:00:00+08:00", "register": 105_000 },
        { "meter_id": "not-a-meter", "at": "2026-03-02T00:00:00+08:00", "register": 1 },
    ]});
    let (status, out) = api
        .call("POST", "/api/v1/readings", Some(readings.clone()))
        .await;
    assert_eq!(status, 200, "{out}");
    let results = out["results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    assert_eq!(
        (
            results[0]["result"].as_str(),
            results[0]["verdict"].as_str()
        ),
        (Some("accepted"), Some("opening"))
    );
    assert_eq!(
        (
            results[1]["result"].as_str(),
            results[1]["verdict"].as_str()
        ),
        (Some("accepted"), Some("billed"))
    );
    let charge = results[1]["charge_fen"].as_i64().unwrap();
    assert!(charge > 0, "{out}");
    assert_eq!(results[2]["result"], "duplicate");
    assert_eq!(
        results[3]["result"], "rejected",
        "a late reading is refused"
    );
    assert_eq!(results[4]["result"], "rejected");
    // The whole batch again: nothing more is charged.
    let (_, again) = api.call("POST", "/api/v1/readings", Some(readings)).await;
    assert_eq!(again["results"][1]["result"], "duplicate");

    let (status, balance) = api
        .call(
            "GET",
            &format!("/api/v1/accounts/{account_id}/balance"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{balance}");
    assert_eq!(balance["balance_fen"].as_i64(), Some(-charge));
    assert_eq!(balance["supply"]["state"], "off");
    let trip = command_reaches(&api, &meter_id, "trip", "acknowledged").await;
    let states: Vec<&str> = trip["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["to"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["queued", "sent", "acknowledged"]);
    assert_eq!(api.meters.switch(meter_id.parse().unwrap()), Switch::Open);

    // Recharges: key required, idempotent, 409 on a reused key.
    let path = format!("/api/v1/accounts/{account_id}/recharges");
    let body =
        json!({ "amount_fen": 10_000, "channel": "counter", "reference": "R-1" }).to_string();
    let (status, _) = post_raw(&api, &path, &[], body.clone()).await;
    assert_eq!(status, 400, "no Idempotency-Key");
    let (status, first) = post_raw(
        &api,
        &path,
        &[("Idempotency-Key", "pay-0001")],
        body.clone(),
    )
    .await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(
        first["entry"]["balance_after_fen"].as_i64(),
        Some(10_000 - charge)
    );
    let (status, replay) = post_raw(&api, &path, &[("Idempotency-Key", "pay-0001")], body).await;
    assert_eq!(status, 200);
    assert_eq!(
        (replay["replay"].as_bool(), &replay["entry"]),
        (Some(true), &first["entry"])
    );
    let other =
        json!({ "amount_fen": 20_000, "channel": "counter", "reference": "R-1" }).to_string();
    let (status, conflict) = post_raw(&api, &path, &[("Idempotency-Key", "pay-0001")], other).await;
    assert_eq!((status, conflict["code"].as_str()), (409, Some("conflict")));
    command_reaches(&api, &meter_id, "close", "acknowledged").await;
    assert_eq!(api.meters.switch(meter_id.parse().unwrap()), Switch::Closed);

    // Ledger: newest first, paged, balance = sum of entries.
    let (_, page1) = api
        .call(
            "GET",
            &format!("/api/v1/accounts/{account_id}/ledger?limit=1"),
            None,
        )
        .await;
    assert_eq!(page1["entries"][0]["kind"], "recharge");
    let cursor = page1["next_cursor"].as_i64().unwrap();
    let (_, page2) = api
        .call(
            "GET",
            &format!("/api/v1/accounts/{account_id}/ledger?limit=5&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(page2["entries"].as_array().unwrap().len(), 1);
    assert_eq!(page2["entries"][0]["kind"], "consumption");
    assert!(page2["next_cursor"].is_null());
    let sum: i64 = [&page1, &page2]
        .iter()
        .flat_map(|p| p["entries"].as_array().unwrap().iter())
        .map(|e| e["amount_fen"].as_i64().unwrap())
        .sum();
    let (_, balance) = api
        .call(
            "GET",
            &format!("/api/v1/accounts/{account_id}/balance"),
            None,
        )
        .await;
    assert_eq!(balance["balance_fen"].as_i64(), Some(sum));
    let (_, acct) = api
        .call("GET", &format!("/api/v1/accounts/{account_id}"), None)
        .await;
    assert_eq!(acct["balance_fen"].as_i64(), Some(sum));

    let (_, stored) = api
        .call("GET", &format!("/api/v1/meters/{meter_id}/readings"), None)
        .await;
    let verdicts: Vec<&str> = stored["readings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["billed", "opening"]);
    api.stop().await;
}

#[tokio::test]
async fn the_prepaid_engine_over_http_on_sqlite() {
    prepaid_story(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn the_prepaid_engine_over_http_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    prepaid_story(db).await;
}
