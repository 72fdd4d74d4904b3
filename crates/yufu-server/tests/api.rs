//! The `/api/v1` data resources over a real socket, on SQLite (and on
//! PostgreSQL when `YUFU_TEST_DATABASE_URL` is set).
#![allow(clippy::unwrap_used)]

mod common;

use common::TestServer as Api;
use serde_json::{Value, json};
use yufu_store_contract::TestDb;
use yufu_test_utils::http_request;

async fn the_data_model_over_http(db: TestDb) {
    let api = Api::start(db).await;
    let org = api
        .created("/api/v1/organisations", json!({ "name": "广州演示物业" }))
        .await;
    let org_id = org["id"].as_str().unwrap();
    let site = api
        .created("/api/v1/sites", json!({ "organisation_id": org_id, "code": "GZ-TH01", "name": "天河园区", "city": "广州" }))
        .await;
    assert_eq!(site["timezone"], "Asia/Shanghai");
    let site_id = site["id"].as_str().unwrap();
    let (status, got) = api
        .call("GET", &format!("/api/v1/sites/{site_id}"), None)
        .await;
    assert_eq!((status, &got), (200, &site));
    let building = api
        .created(
            "/api/v1/buildings",
            json!({ "site_id": site_id, "code": "A", "name": "A栋", "floors": 6 }),
        )
        .await;
    let unit = api
        .created(
            "/api/v1/units",
            json!({ "building_id": building["id"], "code": "A-101", "floor": 1, "kind": "residential", "area_sqm": "89.5" }),
        )
        .await;
    assert_eq!(unit["area_sqm"], "89.50");

    let customer = api
        .created(
            "/api/v1/customers",
            json!({ "organisation_id": org_id, "kind": "person", "name": "陈小明", "phone": "13800138000", "id_number": "44010619900101123X" }),
        )
        .await;
    assert_eq!(customer["name"], "陈**", "personal data is masked");
    assert_eq!(customer["phone"], "138****8000");
    assert_eq!(customer["id_number"], "4401**********123X");
    let account = api
        .created(
            "/api/v1/accounts",
            json!({ "organisation_id": org_id, "number": "GZ000001", "customer_id": customer["id"], "class": "residential" }),
        )
        .await;
    assert_eq!(account["balance_fen"], 0);

    let meter = api
        .created(
            "/api/v1/meters",
            json!({ "organisation_id": org_id, "serial": "e-gz-000001", "utility": "electricity", "model": "DDZY1102",
                    "protocol": "dlt645_2007", "comm_address": "000000100001" }),
        )
        .await;
    assert_eq!(
        (
            meter["serial"].as_str(),
            meter["status"].as_str(),
            meter["multiplier"].as_u64()
        ),
        (Some("E-GZ-000001"), Some("in_stock"), Some(1))
    );
    let meter_id = meter["id"].as_str().unwrap();
    let (status, linked) = api
        .call(
            "PUT",
            &format!("/api/v1/meters/{meter_id}/assignment"),
            Some(json!({ "unit_id": unit["id"], "account_id": account["id"] })),
        )
        .await;
    assert_eq!(status, 200, "{linked}");
    assert_eq!(linked["account_id"], account["id"]);
    let (_, list) = api
        .call(
            "GET",
            &format!("/api/v1/organisations/{org_id}/meters?utility=electricity"),
            None,
        )
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let (_, none) = api
        .call(
            "GET",
            &format!("/api/v1/organisations/{org_id}/meters?utility=water"),
            None,
        )
        .await;
    assert!(none["items"].as_array().unwrap().is_empty());

    // Errors: each a JSON body with a code, and the right status.
    let (status, e) = api
        .call("POST", "/api/v1/meters", Some(json!({ "organisation_id": org_id, "serial": "E-GZ-000001", "utility": "electricity",
            "model": "X", "protocol": "dlt645_2007", "comm_address": "000000100002" })))
        .await;
    assert_eq!((status, e["code"].as_str()), (409, Some("conflict")), "{e}");
    let (status, e) = api
        .call(
            "POST",
            "/api/v1/meters",
            Some(
                json!({ "organisation_id": org_id, "serial": "W1", "utility": "water",
            "model": "X", "protocol": "dlt645_2007", "comm_address": "000000100002" }),
            ),
        )
        .await;
    assert_eq!((status, e["code"].as_str()), (422, Some("invalid")), "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("does not serve water"),
        "{e}"
    );
    let (status, e) = api.call("POST", "/api/v1/units", Some(json!({ "building_id": building["id"], "code": "A-102", "floor": 1, "kind": "castle", "area_sqm": "1" }))).await;
    assert_eq!(status, 422, "{e}");
    let (status, e) = api.call("POST", "/api/v1/sites", Some(json!({ "organisation_id": org_id, "code": "X", "name": "n", "city": "c", "colour": "red" }))).await;
    assert_eq!(
        (status, e["code"].as_str()),
        (422, Some("invalid")),
        "unknown fields are refused: {e}"
    );
    let (status, e) = api
        .call(
            "POST",
            "/api/v1/sites",
            Some(Value::String("{not json".into())),
        )
        .await;
    assert!(status == 400 || status == 422, "{status} {e}");
    let (status, e) = api.call("GET", "/api/v1/meters/not-an-id", None).await;
    assert_eq!((status, e["code"].as_str()), (422, Some("invalid")), "{e}");
    let (status, e) = api
        .call(
            "GET",
            "/api/v1/meters/01a20dd2-7146-7037-ae9a-4b351c13497e",
            None,
        )
        .await;
    assert_eq!(
        (status, e["code"].as_str()),
        (404, Some("not_found")),
        "{e}"
    );
    let (status, e) = api
        .call(
            "PUT",
            &format!("/api/v1/meters/{meter_id}/assignment"),
            Some(json!({ "unit_id": "01a20dd2-7146-7037-ae9a-4b351c13497e" })),
        )
        .await;
    assert_eq!(
        (status, e["code"].as_str()),
        (422, Some("invalid_reference")),
        "{e}"
    );
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_model_over_http_on_sqlite() {
    the_data_model_over_http(TestDb::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_model_over_http_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    the_data_model_over_http(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tariffs_are_uploaded_revised_and_assigned() {
    let api = Api::start(TestDb::sqlite().await).await;
    let org = api
        .created("/api/v1/organisations", json!({ "name": "O" }))
        .await;
    let org_id = org["id"].as_str().unwrap().to_owned();
    let upload = |text: String| {
        let (addr, path) = (api.addr, format!("/api/v1/organisations/{org_id}/tariffs"));
        let auth = format!("Bearer {}", api.admin_token);
        async move {
            tokio::task::spawn_blocking(move || {
                http_request(
                    addr,
                    "POST",
                    &path,
                    &[
                        ("Content-Type", "application/toml"),
                        ("Authorization", &auth),
                    ],
                    Some(&text),
                )
                .unwrap()
            })
            .await
            .unwrap()
        }
    };
    let residential =
        include_str!("../../../examples/tariffs/guangdong-residential-electricity.toml");
    let r = upload(residential.to_owned()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let first: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        (first["code"].as_str(), first["revision"].as_i64()),
        (Some("guangdong-residential-electricity"), Some(1))
    );
    assert!(first["summary"].as_str().unwrap().contains("0.8883"));
    let again: Value = serde_json::from_str(&upload(residential.to_owned()).await.body).unwrap();
    assert_eq!(again["revision"], 2);
    let broken = upload(residential.replace("\"0.6383\"", "\"0.63831\"")).await;
    assert_eq!(broken.status, 422);
    assert!(
        broken.body.contains("line") && broken.body.contains("decimals"),
        "{}",
        broken.body
    );
    let water = upload(
        include_str!("../../../examples/tariffs/guangzhou-residential-water.toml").to_owned(),
    )
    .await;
    assert_eq!(water.status, 201, "{}", water.body);

    let (_, list) = api
        .call(
            "GET",
            &format!("/api/v1/organisations/{org_id}/tariffs"),
            None,
        )
        .await;
    let codes: Vec<(&str, i64)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["code"].as_str().unwrap(), t["revision"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        codes,
        vec![
            ("guangdong-residential-electricity", 2),
            ("guangzhou-residential-water", 1)
        ]
    );
    let (status, one) = api
        .call(
            "GET",
            &format!("/api/v1/organisations/{org_id}/tariffs/guangdong-residential-electricity"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(one["source_toml"].as_str(), Some(residential));
    let (status, _) = api
        .call(
            "GET",
            &format!("/api/v1/organisations/{org_id}/tariffs/none-such"),
            None,
        )
        .await;
    assert_eq!(status, 404);

    let meter = api
        .created("/api/v1/meters", json!({ "organisation_id": org_id, "serial": "E1", "utility": "electricity", "model": "M",
            "protocol": "dlt645_2007", "comm_address": "000000000001" }))
        .await;
    let path = format!("/api/v1/meters/{}/tariff", meter["id"].as_str().unwrap());
    let (status, m) = api
        .call(
            "PUT",
            &path,
            Some(json!({ "tariff_code": "guangdong-residential-electricity" })),
        )
        .await;
    assert_eq!(
        (status, m["tariff_code"].as_str()),
        (200, Some("guangdong-residential-electricity")),
        "{m}"
    );
    let (status, e) = api
        .call(
            "PUT",
            &path,
            Some(json!({ "tariff_code": "guangzhou-residential-water" })),
        )
        .await;
    assert_eq!(
        (status, e["code"].as_str()),
        (422, Some("invalid_reference")),
        "{e}"
    );
    let (status, m) = api
        .call("PUT", &path, Some(json!({ "tariff_code": null })))
        .await;
    assert_eq!((status, &m["tariff_code"]), (200, &Value::Null));
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_page_through_everything_once() {
    let api = Api::start(TestDb::sqlite().await).await;
    let org = api
        .created("/api/v1/organisations", json!({ "name": "O" }))
        .await;
    let org_id = org["id"].as_str().unwrap();
    for i in 0..5 {
        api.created(
            "/api/v1/sites",
            json!({ "organisation_id": org_id, "code": format!("S{i}"), "name": "n", "city": "c" }),
        )
        .await;
    }
    let mut seen = Vec::new();
    let mut path = format!("/api/v1/organisations/{org_id}/sites?limit=2");
    loop {
        let (status, page) = api.call("GET", &path, None).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["code"].as_str().unwrap().to_owned()),
        );
        match page["next_after"].as_str() {
            Some(after) => {
                path = format!("/api/v1/organisations/{org_id}/sites?limit=2&after={after}")
            }
            None => break,
        }
    }
    assert_eq!(seen, vec!["S0", "S1", "S2", "S3", "S4"]);
    api.stop().await;
}
