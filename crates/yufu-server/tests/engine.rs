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

/// An organisation with one site, the residential tariff, and `n` accounts
/// with one billed meter each; returns the site and (account, meter) ids.
async fn setup(api: &TestServer, n: usize) -> (String, Vec<(String, String)>) {
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
    let tariff = include_str!("../../../examples/tariffs/guangdong-residential-electricity.toml");
    let (addr, path) = (api.addr, format!("/api/v1/organisations/{org_id}/tariffs"));
    let auth = format!("Bearer {}", api.admin_token);
    let up = tokio::task::spawn_blocking(move || {
        http_request(
            addr,
            "POST",
            &path,
            &[
                ("Content-Type", "application/toml"),
                ("Authorization", &auth),
            ],
            Some(tariff),
        )
        .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(up.status, 201, "{}", up.body);
    let mut ids = Vec::new();
    for i in 1..=n {
        let unit = api
            .created("/api/v1/units", json!({ "building_id": building["id"], "code": format!("A-{i:03}"), "floor": 1, "kind": "residential", "area_sqm": "89.5" }))
            .await;
        let customer = api
            .created("/api/v1/customers", json!({ "organisation_id": org_id, "kind": "person", "name": "陈小明", "phone": "13800138000" }))
            .await;
        let account = api
            .created("/api/v1/accounts", json!({ "organisation_id": org_id, "number": format!("GZ{i:06}"), "customer_id": customer["id"], "class": "residential" }))
            .await;
        let account_id = account["id"].as_str().unwrap().to_owned();
        let meter = api
            .created("/api/v1/meters", json!({ "organisation_id": org_id, "serial": format!("E-{i}"), "utility": "electricity", "model": "DDZY1102", "protocol": "dlt645_2007", "comm_address": format!("{i:012}") }))
            .await;
        let meter_id = meter["id"].as_str().unwrap().to_owned();
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
        ids.push((account_id, meter_id));
    }
    (site["id"].as_str().unwrap().to_owned(), ids)
}

async fn prepaid_story(db: TestDb) {
    let api = TestServer::start(db).await;
    let (_, ids) = setup(&api, 1).await;
    let (account_id, meter_id) = ids[0].clone();

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

    // A register that went backwards is kept unbilled and raises an alarm.
    let back = json!({ "readings": [{ "meter_id": meter_id, "at": "2026-03-03T00:00:00+08:00", "register": 100_000 }] });
    let (_, out) = api.call("POST", "/api/v1/readings", Some(back)).await;
    assert_eq!(out["results"][0]["verdict"], "negative_delta", "{out}");
    let (_, alarms) = api
        .call("GET", &format!("/api/v1/meters/{meter_id}/alarms"), None)
        .await;
    assert_eq!(alarms["alarms"][0]["kind"], "negative_delta", "{alarms}");
    api.stop().await;
}

/// Own balance rules (an overdraft) and protected windows (a deferred cut-off).
async fn rules_story(db: TestDb) {
    let api = TestServer::start(db).await;
    let (site_id, ids) = setup(&api, 2).await;
    let ((overdraft, od_meter), (sheltered, sh_meter)) = (ids[0].clone(), ids[1].clone());
    let (_, rules) = api
        .call(
            "GET",
            &format!("/api/v1/accounts/{overdraft}/balance-rules"),
            None,
        )
        .await;
    assert_eq!(
        (rules["source"].as_str(), rules["cutoff_fen"].as_i64()),
        (Some("class"), Some(0))
    );
    let path = format!("/api/v1/accounts/{overdraft}/balance-rules");
    let (status, _) = api
        .call(
            "PUT",
            &path,
            Some(json!({ "warnings_fen": [100, 500], "cutoff_fen": 0 })),
        )
        .await;
    assert_eq!(status, 422, "warning levels must be highest first");
    let (status, rules) = api
        .call(
            "PUT",
            &path,
            Some(json!({ "warnings_fen": [500], "cutoff_fen": -100_000 })),
        )
        .await;
    assert_eq!(
        (status, rules["source"].as_str()),
        (200, Some("account")),
        "{rules}"
    );

    // Always protected: a cut-off that falls due waits.
    let windows = json!({ "nightly": { "start": "00:00", "end": "23:59" }, "weekends": true, "holidays": ["2026-10-01"] });
    let (status, out) = api
        .call(
            "PUT",
            &format!("/api/v1/sites/{site_id}/protected-windows"),
            Some(windows),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["nightly"]["start"], "00:00");
    let (_, back) = api
        .call(
            "GET",
            &format!("/api/v1/sites/{site_id}/protected-windows"),
            None,
        )
        .await;
    assert_eq!(back, out);

    let readings: Vec<Value> = [&od_meter, &sh_meter]
        .iter()
        .flat_map(|m| {
            [
                json!({ "meter_id": m, "at": "2026-03-01T00:00:00+08:00", "register": 0 }),
                json!({ "meter_id": m, "at": "2026-03-02T00:00:00+08:00", "register": 10_000 }),
            ]
        })
        .collect();
    let (status, out) = api
        .call(
            "POST",
            "/api/v1/readings",
            Some(json!({ "readings": readings })),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    let (_, b) = api
        .call(
            "GET",
            &format!("/api/v1/accounts/{overdraft}/balance"),
            None,
        )
        .await;
    assert!(b["balance_fen"].as_i64().unwrap() < 0);
    assert_eq!(b["supply"]["state"], "on", "within its overdraft: {b}");
    let (_, b) = api
        .call(
            "GET",
            &format!("/api/v1/accounts/{sheltered}/balance"),
            None,
        )
        .await;
    assert_eq!(
        b["supply"]["state"], "cut_pending",
        "in a protected window: {b}"
    );
    let (_, cmds) = api
        .call("GET", &format!("/api/v1/meters/{sh_meter}/commands"), None)
        .await;
    assert_eq!(
        cmds["commands"].as_array().unwrap().len(),
        0,
        "no trip yet: {cmds}"
    );

    // Back to the class default: the next change is judged by it.
    let (status, rules) = api.call("DELETE", &path, None).await;
    assert_eq!((status, rules["source"].as_str()), (200, Some("class")));
    api.stop().await;
}

/// A public-area meter's charge is split over its members by area, exact
/// to the fen, and its own account pays nothing.
async fn sharing_story(db: TestDb) {
    let api = TestServer::start(db).await;
    let (_, ids) = setup(&api, 3).await;
    let ((holder, shared_meter), (a, _), (b, _)) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
    let path = format!("/api/v1/meters/{shared_meter}/sharing");
    let (status, _) = api.call("GET", &path, None).await;
    assert_eq!(status, 404, "an ordinary meter");
    let (status, _) = api
        .call(
            "PUT",
            &path,
            Some(json!({ "rule": "area", "members": [{ "account_id": a }] })),
        )
        .await;
    assert_eq!(status, 422, "area needs areas");
    let group = json!({ "rule": "area", "members": [
        { "account_id": a, "area_sqm": "60.00" },
        { "account_id": b, "area_sqm": "120.00" },
    ]});
    let (status, out) = api.call("PUT", &path, Some(group.clone())).await;
    assert_eq!((status, &out), (200, &group), "{out}");
    let readings = json!({ "readings": [
        { "meter_id": shared_meter, "at": "2026-03-01T00:00:00+08:00", "register": 0 },
        { "meter_id": shared_meter, "at": "2026-03-02T00:00:00+08:00", "register": 30_000 },
    ]});
    let (_, out) = api.call("POST", "/api/v1/readings", Some(readings)).await;
    let charge = out["results"][1]["charge_fen"].as_i64().unwrap();
    let balance = |id: String| {
        let api = &api;
        async move {
            let (_, b) = api
                .call("GET", &format!("/api/v1/accounts/{id}/balance"), None)
                .await;
            b["balance_fen"].as_i64().unwrap()
        }
    };
    let (h, x, y) = (balance(holder).await, balance(a).await, balance(b).await);
    assert_eq!(h, 0, "the holder pays nothing");
    assert_eq!(x + y, -charge, "the shares add up to the charge");
    assert!((2 * x - y).abs() <= 2, "a third and two thirds: {x} {y}");
    let (status, _) = api.call("DELETE", &path, None).await;
    assert_eq!(status, 204);
    api.stop().await;
}

#[tokio::test]
async fn public_area_meters_split_by_area_on_sqlite() {
    sharing_story(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn public_area_meters_split_by_area_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    sharing_story(db).await;
}

#[tokio::test]
async fn own_rules_and_protected_windows_on_sqlite() {
    rules_story(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn own_rules_and_protected_windows_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    rules_story(db).await;
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

/// The device routes: tokens issued once and revoked, alarms listed and
/// paged, connectivity without a running gateway, safety-hold release.
async fn device_story(db: TestDb) {
    let api = TestServer::start(db).await;
    let (_, ids) = setup(&api, 1).await;
    let (_, meter_id) = ids[0].clone();
    let (status, out) = api
        .call(
            "POST",
            &format!("/api/v1/meters/{meter_id}/device-token"),
            None,
        )
        .await;
    assert_eq!(status, 201, "{out}");
    let token = out["token"].as_str().unwrap();
    assert_eq!(token.len(), 24);
    // Only the hash is kept.
    let hash = yufu_gateway::hash_token(token);
    let found = api
        .db
        .store()
        .find_device_token(&hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.meter_id.unwrap().to_string(), meter_id);
    assert_eq!(api.db.count_rows("device_tokens").await, 1);
    let (status, out) = api
        .call(
            "DELETE",
            &format!("/api/v1/meters/{meter_id}/device-token"),
            None,
        )
        .await;
    assert_eq!((status, out["revoked"].as_u64()), (200, Some(1)));
    assert!(
        api.db
            .store()
            .find_device_token(&hash)
            .await
            .unwrap()
            .is_none()
    );

    // A refused reading raises an alarm; it is listed per meter and fleet-wide.
    let (status, _) = post_raw(
        &api,
        "/api/v1/readings",
        &[],
        json!({ "readings": [
            { "meter_id": meter_id, "at": "2026-03-01T00:00:00+08:00", "register": 5_000 },
            { "meter_id": meter_id, "at": "2026-03-02T00:00:00+08:00", "register": 1_000 },
        ]})
        .to_string(),
    )
    .await;
    assert_eq!(status, 200);
    let (status, out) = api
        .call("GET", "/api/v1/alarms?open=true&limit=1", None)
        .await;
    assert_eq!(status, 200, "{out}");
    let alarms = out["alarms"].as_array().unwrap();
    assert_eq!(alarms.len(), 1, "{out}");
    assert_eq!(alarms[0]["meter_id"], meter_id.as_str());
    assert_eq!(alarms[0]["open"], true);
    let (_, mine) = api
        .call("GET", &format!("/api/v1/meters/{meter_id}/alarms"), None)
        .await;
    assert_eq!(mine["alarms"][0]["id"], alarms[0]["id"]);
    let (status, _) = api.call("GET", "/api/v1/alarms?limit=0", None).await;
    assert_eq!(status, 422);

    // No gateway in this server: a meter reads offline, the fleet count is 503.
    let (status, out) = api
        .call(
            "GET",
            &format!("/api/v1/meters/{meter_id}/connectivity"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        (out["online"].clone(), out["connected"].clone()),
        (json!(false), json!(false))
    );
    let (status, _) = api.call("GET", "/api/v1/connectivity", None).await;
    assert_eq!(status, 503);
    // Releasing a hold that is not there changes nothing; a reason is required.
    let path = format!("/api/v1/meters/{meter_id}/safety-hold/release");
    let (status, _) = api
        .call("POST", &path, Some(json!({ "reason": " " })))
        .await;
    assert_eq!(status, 422);
    let (status, out) = api
        .call("POST", &path, Some(json!({ "reason": "checked on site" })))
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["safety_hold"], Value::Null);
    let (status, _) = api
        .call(
            "GET",
            "/api/v1/meters/01890000-0000-7000-8000-000000000000/connectivity",
            None,
        )
        .await;
    assert_eq!(status, 404);
    api.stop().await;
}

#[tokio::test]
async fn device_routes_on_sqlite() {
    device_story(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn device_routes_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        eprintln!(
            "!!! SKIPPED: YUFU_TEST_DATABASE_URL is not set; the PostgreSQL half did not run"
        );
        return;
    };
    device_story(db).await;
}
