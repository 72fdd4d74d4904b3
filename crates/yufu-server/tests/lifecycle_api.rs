//! The device lifecycle API end to end over real sockets, on a real store
//! and the real engine writer: contract → approval by a second person of a
//! second role → delivery → serials (dry run with bad rows, then for real)
//! → acceptance (pass and reject) → return to supplier / stock →
//! installation behind the certification and checklist gates →
//! commissioning (failing: the meter bills no account) → removal →
//! retirement and scrapping, each device's history listing every state in
//! order; the per-action permission of `/lifecycle`, and site scope on
//! installations.
#![allow(clippy::unwrap_used)]

mod common;

use common::TestServer;
use serde_json::{Value, json};
use yufu_access::SiteScope;
use yufu_domain::Role;
use yufu_store_contract::TestDb;

/// An API token of the test organisation. `name` is who the services
/// record (`token:NAME`): two tokens of one role are two people.
async fn token(api: &TestServer, name: &str, role: Role, scope: SiteScope) -> String {
    yufu_server::access_api::issue_token(
        api.db.shared().as_ref(),
        api.org,
        name,
        role,
        &scope,
        1,
        "test",
    )
    .await
    .unwrap()
    .0
}

/// The organisation's civil day, as the services count it, shifted by `days`.
fn day(days: i64) -> String {
    let zone = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
    let today = jiff::Timestamp::now().to_zoned_datetime(zone).date();
    today
        .checked_add(jiff::Span::new().days(days))
        .unwrap()
        .to_string()
}

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_owned()
}

/// A caller with a bearer token.
struct As<'a> {
    api: &'a TestServer,
    token: String,
}

impl As<'_> {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.api
            .call_as(Some(&self.token), method, path, body)
            .await
    }

    /// A call that must answer `status`; returns the body.
    async fn expect(&self, status: u16, method: &str, path: &str, body: Option<Value>) -> Value {
        let (got, out) = self.call(method, path, body).await;
        assert_eq!(got, status, "{method} {path}: {out}");
        out
    }
}

/// The device's state, from its page.
async fn state(admin: &As<'_>, meter: &str) -> String {
    let v = admin
        .expect(200, "GET", &format!("/api/v1/meters/{meter}/device"), None)
        .await;
    s(&v["device"]["state"])
}

/// Every `to_state` of the device's history, oldest first.
async fn history(admin: &As<'_>, meter: &str) -> Vec<String> {
    let v = admin
        .expect(200, "GET", &format!("/api/v1/meters/{meter}/device"), None)
        .await;
    v["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| s(&e["to_state"]))
        .collect()
}

/// A site with one building and `units` units: (site id, unit ids).
async fn site(api: &TestServer, code: &str, units: usize) -> (String, Vec<String>) {
    let site = api
        .created(
            "/api/v1/sites",
            json!({"organisation_id": api.org.to_string(), "code": code, "name": code, "city": "广州"}),
        )
        .await;
    let building = api
        .created(
            "/api/v1/buildings",
            json!({"site_id": site["id"], "code": "A", "name": "A栋", "floors": 6}),
        )
        .await;
    let mut ids = Vec::new();
    for i in 0..units {
        let unit = api
            .created(
                "/api/v1/units",
                json!({"building_id": building["id"], "code": format!("10{i}"), "floor": 1,
                    "kind": "residential", "area_sqm": "80.00"}),
            )
            .await;
        ids.push(s(&unit["id"]));
    }
    (s(&site["id"]), ids)
}

/// The serials file of the dry run: lines 3, 4 and 5 are bad (a serial
/// with a space, an address with a '#', a serial already on line 2).
const BAD_SERIALS: &str = "serial,comm_address,note\n\
LC-E0001,000000710001,\n\
LC E0002,000000710002,\n\
LC-E0003,0000#0710003,\n\
LC-E0001,000000710004,\n\
LC-E0005,000000710005,\n";

const GOOD_SERIALS: &str = "serial,comm_address,note\n\
LC-E0001,000000710001,\n\
LC-E0002,000000710002,\n\
LC-E0003,000000710003,second pallet\n\
LC-E0004,000000710004,\n";

async fn full_life(db: TestDb) {
    let api = TestServer::start(db).await;
    let admin = As {
        api: &api,
        token: api.admin_token.clone(),
    };
    let admin2 = As {
        api: &api,
        token: token(&api, "second-admin", Role::Admin, SiteScope::All).await,
    };
    let manager = As {
        api: &api,
        token: token(&api, "store-manager", Role::Manager, SiteScope::All).await,
    };
    let finance = As {
        api: &api,
        token: token(&api, "finance", Role::Finance, SiteScope::All).await,
    };
    let tech = As {
        api: &api,
        token: token(&api, "installer", Role::Technician, SiteScope::All).await,
    };

    // The catalogue, a supplier, a contract drafted by the admin.
    let model = admin
        .expect(
            201,
            "POST",
            "/api/v1/device-models",
            Some(
                json!({"maker": "Holley", "model": "DDSY285", "utility": "electricity",
                "protocol": "dlt645_2007", "accuracy_class": "2.0", "service_life_years": 10,
                "features": ["remote_switch"], "list_price_fen": 18000}),
            ),
        )
        .await;
    let supplier = admin
        .expect(
            201,
            "POST",
            "/api/v1/suppliers",
            Some(json!({"name": "华立科技", "contact_name": "李工", "contact_phone": "0571-88888888"})),
        )
        .await;
    let contract = admin
        .expect(
            201,
            "POST",
            "/api/v1/contracts",
            Some(
                json!({"number": "CG-2026-001", "supplier_id": supplier["id"],
                "lines": [{"model_id": model["id"], "quantity": 5, "unit_price_fen": 17500,
                    "delivery_due": day(30)}],
                "transport_fen": 2000, "warranty_months": 24}),
            ),
        )
        .await;
    assert_eq!(contract["total_fen"], 5 * 17500 + 2000, "{contract}");
    let c = s(&contract["contract"]["id"]);
    let approve = format!("/api/v1/contracts/{c}/approve");

    // Approval: not by the drafter, not by another of the drafter's role,
    // not by a role without the permission; finance may.
    let same_person = admin.expect(422, "POST", &approve, None).await;
    assert!(
        s(&same_person["message"]).contains("by you"),
        "{same_person}"
    );
    let same_role = admin2.expect(422, "POST", &approve, None).await;
    assert!(
        s(&same_role["message"]).contains("second role"),
        "{same_role}"
    );
    tech.expect(403, "POST", &approve, None).await;
    // No delivery against a draft.
    admin
        .expect(
            409,
            "POST",
            &format!("/api/v1/contracts/{c}/deliveries"),
            Some(json!({"note_number": "DN-0", "delivered_on": day(-1)})),
        )
        .await;
    let approved = finance.expect(200, "POST", &approve, None).await;
    assert_eq!(approved["contract"]["approved_by"], "token:finance");

    // The approval is in the audit log under the contract.
    let audit = admin
        .expect(
            200,
            "GET",
            &format!("/api/v1/audit?target=contract:{c}"),
            None,
        )
        .await;
    let actions: Vec<String> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == 200)
        .map(|r| format!("{} {}", s(&r["actor"]), s(&r["action"])))
        .collect();
    assert!(
        actions.contains(&"token:finance POST /api/v1/contracts/{id}/approve".to_owned()),
        "{audit}"
    );

    // A delivery and its serials.
    let delivery = manager
        .expect(
            201,
            "POST",
            &format!("/api/v1/contracts/{c}/deliveries"),
            Some(json!({"note_number": "DN-2026-0001", "delivered_on": day(-1)})),
        )
        .await;
    let d = s(&delivery["id"]);
    let serials = |dry: bool, csv: &str| {
        let path = format!("/api/v1/deliveries/{d}/serials?dry_run={dry}");
        let csv = csv.to_owned();
        let t = manager.token.clone();
        let api = &api;
        async move {
            let r = api
                .raw(
                    "POST",
                    &path,
                    &[
                        ("Authorization", &format!("Bearer {t}")),
                        ("Content-Type", "text/csv"),
                    ],
                    Some(csv),
                )
                .await;
            (r.status, serde_json::from_str::<Value>(&r.body).unwrap())
        }
    };
    let (status, report) = serials(true, BAD_SERIALS).await;
    assert_eq!(status, 422, "{report}");
    let mut lines: Vec<u64> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["line"].as_u64().unwrap())
        .collect();
    lines.dedup();
    assert_eq!(lines, [3, 4, 5], "{report}");
    assert_eq!(report["devices"], json!([]));
    let (status, report) = serials(true, GOOD_SERIALS).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["devices"].as_array().unwrap().len(), 4);
    assert!(report["devices"][0]["meter_id"].is_null(), "{report}");
    let listed = admin
        .expect(
            200,
            "GET",
            &format!("/api/v1/devices?delivery_id={d}"),
            None,
        )
        .await;
    assert_eq!(listed["items"], json!([]), "a dry run creates nothing");
    let (status, report) = serials(false, GOOD_SERIALS).await;
    assert_eq!(status, 200, "{report}");
    let ids: Vec<String> = report["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| s(&x["meter_id"]))
        .collect();
    assert_eq!(ids.len(), 4);
    // The same file again: every serial is known now (and the line has
    // only one device left to deliver).
    let (status, again) = serials(true, GOOD_SERIALS).await;
    assert_eq!(status, 422, "{again}");
    let known: Vec<u64> = again["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| s(&p["message"]).contains("already registered"))
        .map(|p| p["line"].as_u64().unwrap())
        .collect();
    assert_eq!(known, [2, 3, 4, 5], "{again}");
    let received = admin
        .expect(
            200,
            "GET",
            &format!("/api/v1/devices?delivery_id={d}&state=received"),
            None,
        )
        .await;
    assert_eq!(received["items"].as_array().unwrap().len(), 4);
    let view = admin
        .expect(200, "GET", &format!("/api/v1/deliveries/{d}"), None)
        .await;
    assert_eq!(view["contract_number"], "CG-2026-001");

    // Acceptance: three pass, one fails and goes back to the supplier.
    for m in &ids[..3] {
        let d = manager
            .expect(
                200,
                "POST",
                &format!("/api/v1/meters/{m}/acceptance"),
                Some(json!({"appearance_ok": true, "accessories_ok": true, "function_ok": true})),
            )
            .await;
        assert_eq!(d["state"], "accepted", "{d}");
        assert!(d["warranty_ends_on"].is_string(), "{d}");
    }
    let bad = &ids[3];
    // A failed check needs its reason.
    manager
        .expect(
            422,
            "POST",
            &format!("/api/v1/meters/{bad}/acceptance"),
            Some(json!({"appearance_ok": true, "accessories_ok": true, "function_ok": false})),
        )
        .await;
    let rejected = manager
        .expect(
            200,
            "POST",
            &format!("/api/v1/meters/{bad}/acceptance"),
            Some(
                json!({"appearance_ok": true, "accessories_ok": true, "function_ok": false,
                "reason": "relay does not switch"}),
            ),
        )
        .await;
    assert_eq!(rejected["state"], "rejected");
    let act = |m: &str| format!("/api/v1/meters/{m}/lifecycle");
    // The action decides the permission: a technician may not return stock.
    let refused = tech
        .expect(
            403,
            "POST",
            &act(bad),
            Some(json!({"action": "return_to_supplier", "reason": "failed acceptance"})),
        )
        .await;
    assert!(
        s(&refused["message"]).contains("manage_procurement"),
        "{refused}"
    );
    manager
        .expect(
            200,
            "POST",
            &act(bad),
            Some(json!({"action": "return_to_supplier", "reason": "failed acceptance"})),
        )
        .await;
    // A move the state does not allow is 409, naming the legal ones.
    let illegal = manager
        .expect(
            409,
            "POST",
            &act(bad),
            Some(json!({"action": "stock", "reason": "oops"})),
        )
        .await;
    assert!(s(&illegal["message"]).contains("final"), "{illegal}");
    // Moves with their own route are not taken here.
    manager
        .expect(
            422,
            "POST",
            &act(&ids[0]),
            Some(json!({"action": "install", "reason": "no"})),
        )
        .await;
    for m in &ids[..3] {
        let d = manager
            .expect(
                200,
                "POST",
                &act(m),
                Some(json!({"action": "stock", "reason": "into the store room"})),
            )
            .await;
        assert_eq!(d["state"], "in_stock");
    }
    let progress = admin
        .expect(200, "GET", &format!("/api/v1/contracts/{c}"), None)
        .await;
    let line = &progress["lines"][0];
    assert_eq!(
        (
            &line["delivered"],
            &line["returned"],
            &line["outstanding"],
            &line["awaiting_check"]
        ),
        (&json!(3), &json!(1), &json!(2), &json!(0)),
        "{progress}"
    );

    // Installation: a technician without a certification is refused.
    let (_, units) = site(&api, "LC01", 2).await;
    let installer = admin
        .expect(
            201,
            "POST",
            "/api/v1/users",
            Some(
                json!({"username": "wang.installer", "display_name": "王师傅", "role": "technician",
                "password": "installer-password-1"}),
            ),
        )
        .await;
    let installer_id = s(&installer["id"]);
    let plan = |meter: &str, unit: &str| {
        json!({"meter_id": meter, "unit_id": unit, "scheduled_on": day(1),
            "installer_id": installer_id, "note": "morning"})
    };
    let uncertified = admin
        .expect(
            422,
            "POST",
            "/api/v1/installations",
            Some(plan(&ids[0], &units[0])),
        )
        .await;
    let why = s(&uncertified["message"]);
    assert!(
        why.contains("electricity") && why.contains("wang.installer"),
        "{why}"
    );
    // A technician may install but not certify.
    tech.expect(
        403,
        "POST",
        "/api/v1/certifications",
        Some(
            json!({"staff_user_id": installer_id, "utility": "electricity", "number": "DG-1",
            "issued_on": day(-30), "expires_on": day(365)}),
        ),
    )
    .await;
    let cert = admin
        .expect(
            201,
            "POST",
            "/api/v1/certifications",
            Some(json!({"staff_user_id": installer_id, "utility": "electricity", "number": "DG-44-0001",
                "issued_on": day(-30), "expires_on": day(365)})),
        )
        .await;
    let certs = admin
        .expect(
            200,
            "GET",
            &format!("/api/v1/certifications?staff_user_id={installer_id}"),
            None,
        )
        .await;
    assert_eq!(certs.as_array().unwrap().len(), 1);
    assert_eq!(certs[0]["id"], cert["id"]);
    let p1 = admin
        .expect(
            201,
            "POST",
            "/api/v1/installations",
            Some(plan(&ids[0], &units[0])),
        )
        .await;
    assert_eq!(p1["status"], "planned");
    let p1 = s(&p1["id"]);
    let complete = |p: &str| format!("/api/v1/installations/{p}/complete");
    let failed = tech
        .expect(
            422,
            "POST",
            &complete(&p1),
            Some(json!({"checklist": [{"item": "wiring", "passed": true},
                {"item": "grounding", "passed": false, "note": "no earth"}], "opening_reading": 0})),
        )
        .await;
    assert!(s(&failed["message"]).contains("grounding"), "{failed}");
    let after = admin
        .expect(200, "GET", &format!("/api/v1/installations/{p1}"), None)
        .await;
    assert_eq!(after["status"], "planned", "{after}");
    assert!(
        s(&after["checklist"]).contains("no earth"),
        "the failed checklist is recorded: {after}"
    );
    assert_eq!(state(&admin, &ids[0]).await, "in_stock");
    let ok = json!({"checklist": [{"item": "wiring", "passed": true},
        {"item": "grounding", "passed": true}], "opening_reading": 1250});
    let done = tech
        .expect(200, "POST", &complete(&p1), Some(ok.clone()))
        .await;
    assert_eq!(done["status"], "installed", "{done}");
    assert_eq!(done["opening_reading"], 1250);
    assert_eq!(state(&admin, &ids[0]).await, "installed");
    // Completing twice is 409.
    tech.expect(409, "POST", &complete(&p1), Some(ok.clone()))
        .await;

    // Commissioning: the writer runs, but the meter bills no account, so
    // the run fails at once with the reason and the meter stays installed.
    let run = tech
        .expect(
            200,
            "POST",
            &format!("/api/v1/meters/{}/commission", ids[0]),
            None,
        )
        .await;
    assert_eq!(run["outcome"], "failed", "{run}");
    assert!(s(&run["reason"]).contains("account"), "{run}");
    assert_eq!(state(&admin, &ids[0]).await, "installed");

    // Removal, then retirement (the technician may remove, not retire).
    let removed = tech
        .expect(
            200,
            "POST",
            &format!("/api/v1/meters/{}/remove", ids[0]),
            Some(json!({"reason": "the shop closed"})),
        )
        .await;
    assert_eq!(removed["state"], "removed");
    assert!(removed["unit_id"].is_null(), "{removed}");
    tech.expect(
        403,
        "POST",
        &act(&ids[0]),
        Some(json!({"action": "retire", "reason": "old"})),
    )
    .await;
    manager
        .expect(
            200,
            "POST",
            &act(&ids[0]),
            Some(json!({"action": "retire", "reason": "model withdrawn"})),
        )
        .await;

    // A second device: installed, removed, scrapped with its disposal.
    let p2 = admin
        .expect(
            201,
            "POST",
            "/api/v1/installations",
            Some(plan(&ids[1], &units[1])),
        )
        .await;
    tech.expect(200, "POST", &complete(&s(&p2["id"])), Some(ok.clone()))
        .await;
    tech.expect(
        200,
        "POST",
        &format!("/api/v1/meters/{}/remove", ids[1]),
        Some(json!({"reason": "burnt terminal"})),
    )
    .await;
    let disposal =
        json!({"method": "recycler", "reason": "burnt beyond repair", "record": "HS-2026-17"});
    tech.expect(
        403,
        "POST",
        &format!("/api/v1/meters/{}/scrap", ids[1]),
        Some(disposal.clone()),
    )
    .await;
    let scrapped = manager
        .expect(
            200,
            "POST",
            &format!("/api/v1/meters/{}/scrap", ids[1]),
            Some(disposal),
        )
        .await;
    assert_eq!(scrapped["state"], "scrapped");

    // Every state of each life, in order.
    assert_eq!(
        history(&admin, &ids[0]).await,
        [
            "ordered",
            "received",
            "accepted",
            "in_stock",
            "installed",
            "removed",
            "retired"
        ]
    );
    assert_eq!(
        history(&admin, &ids[1]).await,
        [
            "ordered",
            "received",
            "accepted",
            "in_stock",
            "installed",
            "removed",
            "scrapped"
        ]
    );
    assert_eq!(
        history(&admin, &ids[3]).await,
        ["ordered", "received", "rejected", "returned"]
    );
    let page = admin
        .expect(
            200,
            "GET",
            &format!("/api/v1/meters/{}/device", ids[0]),
            None,
        )
        .await;
    let by: Vec<String> = page["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| s(&e["actor"]))
        .collect();
    assert_eq!(
        by[4..],
        ["token:installer", "token:installer", "token:store-manager"]
    );
    assert_eq!(page["commissioning"][0]["outcome"], "failed", "{page}");
    assert_eq!(page["installations"][0]["status"], "installed", "{page}");
    assert_eq!(page["next_actions"], json!([]), "retired is final");
    let page = admin
        .expect(
            200,
            "GET",
            &format!("/api/v1/meters/{}/device", ids[1]),
            None,
        )
        .await;
    assert_eq!(page["disposal"]["record"], "HS-2026-17", "{page}");
    assert_eq!(page["disposal"]["disposed_by"], "token:store-manager");
    api.stop().await;
}

#[tokio::test]
async fn a_device_from_contract_to_scrapyard_sqlite() {
    full_life(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn a_device_from_contract_to_scrapyard_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    full_life(db).await;
}

#[tokio::test]
async fn roles_and_site_scope() {
    let api = TestServer::start(TestDb::sqlite().await).await;
    let admin = As {
        api: &api,
        token: api.admin_token.clone(),
    };
    let tech = As {
        api: &api,
        token: token(&api, "tech", Role::Technician, SiteScope::All).await,
    };
    let manager = As {
        api: &api,
        token: token(&api, "manager", Role::Manager, SiteScope::All).await,
    };
    let finance = As {
        api: &api,
        token: token(&api, "finance", Role::Finance, SiteScope::All).await,
    };
    let model = admin
        .expect(
            201,
            "POST",
            "/api/v1/device-models",
            Some(
                json!({"maker": "Sanchuan", "model": "LXSY-15", "utility": "water",
                "protocol": "cjt188", "accuracy_class": "B", "service_life_years": 6,
                "list_price_fen": 9000}),
            ),
        )
        .await;
    let supplier = admin
        .expect(
            201,
            "POST",
            "/api/v1/suppliers",
            Some(json!({"name": "三川", "contact_name": "张", "contact_phone": "0797-1"})),
        )
        .await;
    let body = json!({"number": "CG-W-1", "supplier_id": supplier["id"], "warranty_months": 12,
        "lines": [{"model_id": model["id"], "quantity": 2, "unit_price_fen": 8500, "delivery_due": day(10)}]});
    // A technician cannot buy; finance cannot draft either.
    tech.expect(403, "POST", "/api/v1/contracts", Some(body.clone()))
        .await;
    finance
        .expect(403, "POST", "/api/v1/contracts", Some(body.clone()))
        .await;
    // A manager drafts; finance (a second role) approves.
    let c = manager
        .expect(201, "POST", "/api/v1/contracts", Some(body))
        .await;
    let c = s(&c["contract"]["id"]);
    manager
        .expect(403, "POST", &format!("/api/v1/contracts/{c}/approve"), None)
        .await;
    let approved = finance
        .expect(200, "POST", &format!("/api/v1/contracts/{c}/approve"), None)
        .await;
    assert_eq!(approved["contract"]["status"], "approved", "{approved}");
    // Everyone with read_fleet reads; the supplier's scorecard is there.
    let card = tech
        .expect(
            200,
            "GET",
            &format!("/api/v1/suppliers/{}", s(&supplier["id"])),
            None,
        )
        .await;
    assert_eq!(card["supplier"]["name"], "三川");

    // Installations are scoped by the unit's site.
    let delivery = manager
        .expect(
            201,
            "POST",
            &format!("/api/v1/contracts/{c}/deliveries"),
            Some(json!({"note_number": "DN-W-1", "delivered_on": day(-1)})),
        )
        .await;
    let r = api
        .raw(
            "POST",
            &format!("/api/v1/deliveries/{}/serials", s(&delivery["id"])),
            &[("Content-Type", "text/csv")],
            Some("serial,comm_address\nW-0001,00000000000001\n".into()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let report: Value = serde_json::from_str(&r.body).unwrap();
    let meter = s(&report["devices"][0]["meter_id"]);
    admin
        .expect(
            200,
            "POST",
            &format!("/api/v1/meters/{meter}/acceptance"),
            Some(json!({"appearance_ok": true, "accessories_ok": true, "function_ok": true})),
        )
        .await;
    admin
        .expect(
            200,
            "POST",
            &format!("/api/v1/meters/{meter}/lifecycle"),
            Some(json!({"action": "stock", "reason": "store"})),
        )
        .await;
    let (mine, units) = site(&api, "SC01", 1).await;
    let (other, _) = site(&api, "SC02", 0).await;
    let installer = admin
        .expect(
            201,
            "POST",
            "/api/v1/users",
            Some(
                json!({"username": "li.water", "display_name": "李", "role": "technician",
                "password": "installer-password-2"}),
            ),
        )
        .await;
    admin
        .expect(
            201,
            "POST",
            "/api/v1/certifications",
            Some(
                json!({"staff_user_id": installer["id"], "utility": "water", "number": "W-1",
                "issued_on": day(-1), "expires_on": day(100)}),
            ),
        )
        .await;
    let plan = admin
        .expect(
            201,
            "POST",
            "/api/v1/installations",
            Some(
                json!({"meter_id": meter, "unit_id": units[0], "scheduled_on": day(2),
                "installer_id": installer["id"]}),
            ),
        )
        .await;
    let p = s(&plan["id"]);
    let inside = As {
        api: &api,
        token: token(
            &api,
            "tech-in",
            Role::Technician,
            SiteScope::Only([mine.parse().unwrap()].into()),
        )
        .await,
    };
    let outside = As {
        api: &api,
        token: token(
            &api,
            "tech-out",
            Role::Technician,
            SiteScope::Only([other.parse().unwrap()].into()),
        )
        .await,
    };
    let seen = inside
        .expect(200, "GET", "/api/v1/installations", None)
        .await;
    assert_eq!(seen.as_array().unwrap().len(), 1);
    let unseen = outside
        .expect(200, "GET", "/api/v1/installations", None)
        .await;
    assert_eq!(unseen, json!([]));
    inside
        .expect(200, "GET", &format!("/api/v1/installations/{p}"), None)
        .await;
    outside
        .expect(404, "GET", &format!("/api/v1/installations/{p}"), None)
        .await;
    outside
        .expect(
            404,
            "POST",
            &format!("/api/v1/installations/{p}/complete"),
            Some(json!({"checklist": [{"item": "sealing", "passed": true}], "opening_reading": 0})),
        )
        .await;
    // Organisation-wide lists stay closed to site-scoped staff.
    outside.expect(403, "GET", "/api/v1/contracts", None).await;
    // The planned installation can be cancelled once.
    let cancelled = manager
        .expect(
            200,
            "POST",
            &format!("/api/v1/installations/{p}/cancel"),
            None,
        )
        .await;
    assert_eq!(cancelled["status"], "cancelled");
    manager
        .expect(
            409,
            "POST",
            &format!("/api/v1/installations/{p}/cancel"),
            None,
        )
        .await;
    api.stop().await;
}
