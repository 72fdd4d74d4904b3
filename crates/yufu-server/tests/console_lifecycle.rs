//! The device-lifecycle console pages over HTTP (issue 8): a device taken
//! through the API from contract to scrap, and a second one rejected and
//! returned, then followed in the console by a signed-in manager — the
//! register, the device page with its whole state history, the contract's
//! delivery progress, the delivery, the supplier scorecard, installations
//! and the replacement plan — in Chinese and English; and who may open
//! which page (site scope, roles). Runs on SQLite and, when configured,
//! PostgreSQL.
#![allow(clippy::unwrap_used)]

mod common;

use common::TestServer;
use serde_json::{Value, json};
use yufu_access::SiteScope;
use yufu_domain::Role;
use yufu_store_contract::TestDb;
use yufu_test_utils::HttpResponse;

/// A page with the session cookie, in the language asked for.
async fn page(api: &TestServer, cookie: &str, path: &str, lang: &str) -> HttpResponse {
    api.raw_exact(
        "GET",
        path,
        vec![
            ("Cookie".into(), cookie.to_owned()),
            ("Accept-Language".into(), lang.to_owned()),
        ],
        None,
    )
    .await
}

/// A page with a bearer token.
async fn page_as(api: &TestServer, token: &str, path: &str) -> HttpResponse {
    api.get(path, &[("Authorization", &format!("Bearer {token}"))])
        .await
}

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

/// POST as the admin token; the status must be `want`.
async fn post(api: &TestServer, path: &str, body: Value, want: u16) -> Value {
    let (status, out) = api.call("POST", path, Some(body)).await;
    assert_eq!(status, want, "POST {path}: {out}");
    out
}

/// The rows of the table with this test id (up to its end).
fn table<'a>(body: &'a str, testid: &str) -> &'a str {
    let at = body
        .find(&format!("data-testid=\"{testid}\""))
        .unwrap_or_else(|| panic!("no {testid} in page:\n{body}"));
    let rest = &body[at..];
    &rest[..rest.find("</table>").unwrap()]
}

/// The cells' text of each `history-row`, tags removed.
fn history(body: &str) -> Vec<String> {
    table(body, "device-history")
        .split("data-testid=\"history-row\"")
        .skip(1)
        .map(|row| {
            let row = &row[..row.find("</tr>").unwrap()];
            let mut text = String::new();
            let mut in_tag = true; // the row starts inside its <tr …> tag
            for ch in row.chars() {
                match ch {
                    '<' => in_tag = true,
                    '>' => {
                        in_tag = false;
                        text.push(' ');
                    }
                    c if !in_tag => text.push(c),
                    _ => {}
                }
            }
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        })
        .collect()
}

fn today() -> jiff::civil::Date {
    jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
        .date()
}

struct Story {
    contract: String,
    delivery: String,
    supplier: String,
    /// Contract to scrap.
    scrapped: String,
    /// Rejected at acceptance and returned.
    returned: String,
    /// The fleet's meter (in a unit of the site, registered before the
    /// register: untracked).
    fleet_meter: String,
    site: String,
}

/// Procurement to scrapyard through the API, as an operator would.
async fn story(api: &TestServer) -> Story {
    let f = api.fleet().await;
    let (_, meter) = api
        .call("GET", &format!("/api/v1/meters/{}", f.meter), None)
        .await;
    let unit = meter["unit_id"].as_str().unwrap().to_owned();
    let finance = token(api, "finance", Role::Finance, SiteScope::All).await;

    let model = post(
        api,
        "/api/v1/device-models",
        json!({"maker": "威胜", "model": "DDSY102", "utility": "electricity", "protocol": "dlt645_2007",
               "phases": 1, "accuracy_class": "2.0", "service_life_years": 10,
               "features": ["remote_switch"], "list_price_fen": 28000}),
        201,
    )
    .await;
    let supplier = post(
        api,
        "/api/v1/suppliers",
        json!({"name": "深圳计量设备有限公司", "contact_name": "刘工", "contact_phone": "13900000000"}),
        201,
    )
    .await;
    let sid = supplier["id"].as_str().unwrap().to_owned();
    post(
        api,
        &format!("/api/v1/suppliers/{sid}/qualifications"),
        json!({"name": "计量器具型式批准证书", "number": "CPA-2019-1", "expires_on": "2020-01-01"}),
        201,
    )
    .await;
    let due = today().checked_add(jiff::Span::new().days(30)).unwrap();
    let contract = post(
        api,
        "/api/v1/contracts",
        json!({"number": "HT-2026-001", "supplier_id": sid,
               "lines": [{"model_id": model["id"], "quantity": 3, "unit_price_fen": 28000, "delivery_due": due.to_string()}],
               "transport_fen": 50000, "warranty_months": 24}),
        201,
    )
    .await;
    let kid = contract["contract"]["id"].as_str().unwrap().to_owned();
    // A second person of another role approves.
    let (status, out) = api
        .call_as(
            Some(&finance),
            "POST",
            &format!("/api/v1/contracts/{kid}/approve"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{out}");
    let delivery = post(
        api,
        &format!("/api/v1/contracts/{kid}/deliveries"),
        json!({"note_number": "SH-0001", "delivered_on": today().to_string()}),
        201,
    )
    .await;
    let did = delivery["id"].as_str().unwrap().to_owned();
    let r = api
        .raw(
            "POST",
            &format!("/api/v1/deliveries/{did}/serials?dry_run=false"),
            &[("Content-Type", "text/csv")],
            Some("serial,comm_address\nE700001,000000700001\nE700002,000000700002\n".into()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let report: Value = serde_json::from_str(&r.body).unwrap();
    let ids: Vec<String> = report["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["meter_id"].as_str().unwrap().to_owned())
        .collect();
    let (one, two) = (ids[0].clone(), ids[1].clone());

    // One device: accepted, stocked, installed by a certified technician,
    // removed and scrapped.
    post(
        api,
        &format!("/api/v1/meters/{one}/acceptance"),
        json!({"appearance_ok": true, "accessories_ok": true, "function_ok": true}),
        200,
    )
    .await;
    post(
        api,
        &format!("/api/v1/meters/{one}/lifecycle"),
        json!({"action": "stock", "reason": "入一号库房"}),
        200,
    )
    .await;
    let tech = post(
        api,
        "/api/v1/users",
        json!({"username": "zhao.tech", "display_name": "赵师傅", "role": "technician",
               "password": "a-long-enough-password"}),
        201,
    )
    .await;
    let yesterday = today().checked_sub(jiff::Span::new().days(1)).unwrap();
    post(
        api,
        "/api/v1/certifications",
        json!({"staff_user_id": tech["id"], "utility": "electricity", "number": "DG-001",
               "issued_on": yesterday.to_string(), "expires_on": due.to_string()}),
        201,
    )
    .await;
    let plan = post(
        api,
        "/api/v1/installations",
        json!({"meter_id": one, "unit_id": unit, "scheduled_on": today().to_string(),
               "installer_id": tech["id"]}),
        201,
    )
    .await;
    post(
        api,
        &format!("/api/v1/installations/{}/complete", plan["id"].as_str().unwrap()),
        json!({"checklist": [{"item": "wiring", "passed": true}, {"item": "grounding", "passed": true, "note": "接地良好"}],
               "opening_reading": 0}),
        200,
    )
    .await;
    post(
        api,
        &format!("/api/v1/meters/{one}/remove"),
        json!({"reason": "住户退租，拆表"}),
        200,
    )
    .await;
    post(
        api,
        &format!("/api/v1/meters/{one}/scrap"),
        json!({"method": "recycler", "reason": "外壳老化", "record": "HS-2026-07"}),
        200,
    )
    .await;

    // The other: fails its check, goes back to the supplier.
    post(
        api,
        &format!("/api/v1/meters/{two}/acceptance"),
        json!({"appearance_ok": false, "accessories_ok": true, "function_ok": true, "reason": "外壳破损"}),
        200,
    )
    .await;
    post(
        api,
        &format!("/api/v1/meters/{two}/lifecycle"),
        json!({"action": "return_to_supplier", "reason": "退回换货"}),
        200,
    )
    .await;
    Story {
        contract: kid,
        delivery: did,
        supplier: sid,
        scrapped: one,
        returned: two,
        fleet_meter: f.meter,
        site: f.site,
    }
}

/// A manager signs in with a password: the session cookie.
async fn sign_in(api: &TestServer) -> String {
    post(
        api,
        "/api/v1/users",
        json!({"username": "wang.manager", "display_name": "王经理", "role": "manager",
               "password": "another-long-password"}),
        201,
    )
    .await;
    let r = api
        .raw_exact(
            "POST",
            "/api/v1/auth/login",
            vec![],
            Some(
                json!({"username": "wang.manager", "password": "another-long-password"})
                    .to_string(),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_device_is_followed_from_contract_to_scrap_in_the_console_sqlite() {
    followed(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn a_device_is_followed_from_contract_to_scrap_in_the_console_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    followed(db).await;
}

async fn followed(db: TestDb) {
    let api = TestServer::start(db).await;
    let s = story(&api).await;
    let cookie = sign_in(&api).await;

    // The register: both devices (and the fleet's meter, registered before
    // the register, in stock), with their states in Chinese …
    let r = page(&api, &cookie, "/devices", "zh-CN").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("data-testid=\"nav-devices\""));
    assert!(r.body.contains("data-testid=\"nav-procurement\""));
    let rows = table(&r.body, "devices-table");
    assert_eq!(
        rows.matches("data-testid=\"device-row\"").count(),
        3,
        "{rows}"
    );
    assert!(rows.contains("E900001") && rows.contains("在库"), "{rows}");
    assert!(
        rows.contains("E700001") && rows.contains("已报废"),
        "{rows}"
    );
    assert!(
        rows.contains("E700002") && rows.contains("已退货"),
        "{rows}"
    );
    // … the filters, and English.
    let r = page(&api, &cookie, "/devices?state=scrapped", "zh-CN").await;
    let rows = table(&r.body, "devices-table");
    assert_eq!(rows.matches("data-testid=\"device-row\"").count(), 1);
    assert!(rows.contains(&s.scrapped) && !rows.contains(&s.returned));
    let r = page(&api, &cookie, "/devices?serial=E7000", "en").await;
    let rows = table(&r.body, "devices-table");
    assert!(
        rows.contains("Scrapped") && rows.contains("Returned"),
        "{rows}"
    );
    let r = page(&api, &cookie, "/devices?serial=X", "en").await;
    assert!(r.body.contains("data-testid=\"devices-empty\""));
    let r = page(&api, &cookie, "/devices?state=lost", "en").await;
    assert_eq!(r.status, 400);

    // The device page: the whole history, oldest first, who and why.
    let r = page(&api, &cookie, &format!("/devices/{}", s.scrapped), "zh-CN").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("data-state=\"scrapped\""));
    let h = history(&r.body);
    assert_eq!(h.len(), 7, "{h:#?}");
    let want = [
        ("登记 → 已订购", "订购（合同）"),
        ("已订购 → 已到货", "到货登记"),
        ("已到货 → 验收合格", "验收合格"),
        ("验收合格 → 在库", "入库"),
        ("在库 → 已安装", "安装"),
        ("已安装 → 已拆除", "拆除"),
        ("已拆除 → 已报废", "报废"),
    ];
    for (row, (moved, action)) in h.iter().zip(want) {
        assert!(row.contains(moved), "{row} lacks {moved}");
        assert!(row.contains(action), "{row} lacks {action}");
        assert!(row.contains("token:test-admin"), "{row}");
    }
    assert!(h[3].contains("入一号库房"));
    assert!(h[5].contains("住户退租，拆表"));
    assert!(h[6].contains("外壳老化"));
    // Instants in China Standard Time.
    let cst = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
        .date()
        .to_string();
    assert!(h[6].contains(&cst), "{}", h[6]);
    // Facts, acceptance, installation with its checklist, disposal.
    assert!(r.body.contains("HT-2026-001"));
    assert!(
        r.body
            .contains(&format!("/procurement/contracts/{}", s.contract))
    );
    let warranty = today()
        .checked_add(jiff::Span::new().months(24))
        .unwrap()
        .to_string();
    assert!(
        table(&r.body, "device-acceptance").contains("合格"),
        "the check is shown"
    );
    assert!(r.body.contains(&warranty), "warranty end {warranty}");
    assert!(r.body.contains("保修期内"));
    let inst = table(&r.body, "device-installations");
    assert!(inst.contains("zhao.tech") && inst.contains("接地") && inst.contains("接地良好"));
    assert!(r.body.contains("data-testid=\"device-disposal\""));
    assert!(r.body.contains("交回收商") && r.body.contains("HS-2026-07"));
    // Scrapped is final: no forms.
    assert!(!r.body.contains("data-testid=\"form-"));
    // English labels.
    let r = page(
        &api,
        &cookie,
        &format!("/devices/{}?lang=en", s.scrapped),
        "zh-CN",
    )
    .await;
    let h = history(&r.body);
    assert!(h[6].contains("Removed → Scrapped"), "{}", h[6]);
    assert!(h[2].contains("Received → Accepted"), "{}", h[2]);
    assert!(r.body.contains("State history"));

    // The returned one: rejected with its reason.
    let r = page(&api, &cookie, &format!("/devices/{}", s.returned), "zh-CN").await;
    let h = history(&r.body);
    assert_eq!(h.len(), 4, "{h:#?}");
    assert!(h[2].contains("已到货 → 验收不合格") && h[2].contains("外壳破损"));
    assert!(h[3].contains("验收不合格 → 已退货") && h[3].contains("退回换货"));

    // The contract: money in yuan and the delivery progress per line.
    let r = page(
        &api,
        &cookie,
        &format!("/procurement/contracts/{}", s.contract),
        "zh-CN",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("data-status=\"approved\"") && r.body.contains("已审批"));
    assert!(r.body.contains("data-testid=\"total-goods\">840.00<"));
    assert!(
        r.body.contains("data-testid=\"total-all\">1,340.00<"),
        "{}",
        table(&r.body, "contract-totals")
    );
    let line = table(&r.body, "contract-lines");
    for (k, v) in [
        ("ordered", 3),
        ("delivered", 1),
        ("awaiting", 0),
        ("accepted", 1),
        ("rejected", 0),
        ("returned", 1),
        ("outstanding", 2),
    ] {
        assert!(
            line.contains(&format!("data-k=\"{k}\">{v}<")),
            "{k} = {v}: {line}"
        );
    }
    assert!(
        r.body
            .contains(&format!("/procurement/deliveries/{}", s.delivery))
    );
    // Approved: deliveries may be recorded; no approval buttons any more.
    assert!(r.body.contains("data-testid=\"form-delivery\""));
    assert!(!r.body.contains("data-testid=\"form-approve\""));
    let r = page(
        &api,
        &cookie,
        &format!("/procurement/contracts/{}?lang=en", s.contract),
        "zh-CN",
    )
    .await;
    assert!(r.body.contains("Approved") && r.body.contains("Outstanding"));

    // A draft: approval and cancelling for those who approve, no
    // deliveries yet.
    let (_, models) = api.call("GET", "/api/v1/device-models", None).await;
    let draft = post(
        &api,
        "/api/v1/contracts",
        json!({"number": "HT-2026-002", "supplier_id": s.supplier,
               "lines": [{"model_id": models[0]["id"], "quantity": 1, "unit_price_fen": 100, "delivery_due": "2030-01-01"}],
               "warranty_months": 12}),
        201,
    )
    .await;
    let draft_page = format!(
        "/procurement/contracts/{}",
        draft["contract"]["id"].as_str().unwrap()
    );
    let r = page_as(&api, &api.admin_token, &draft_page).await;
    assert!(r.body.contains("data-status=\"draft\""), "{}", r.body);
    assert!(r.body.contains("data-testid=\"form-approve\""));
    assert!(r.body.contains("data-testid=\"form-cancel\""));
    assert!(!r.body.contains("data-testid=\"form-delivery\""));
    // A manager drafts but does not approve.
    let r = page(&api, &cookie, &draft_page, "en").await;
    assert!(r.body.contains("Draft") && !r.body.contains("data-testid=\"form-approve\""));
    for missing in [
        "/devices/not-an-id".to_owned(),
        format!("/devices/{}", yufu_domain::MeterId::new()),
        format!("/procurement/contracts/{}", yufu_domain::ContractId::new()),
        format!("/procurement/suppliers/{}", yufu_domain::SupplierId::new()),
        format!("/replacement/rollouts/{}", yufu_domain::RolloutId::new()),
    ] {
        assert_eq!(
            page(&api, &cookie, &missing, "en").await.status,
            404,
            "{missing}"
        );
    }

    // The overview, the delivery, the scorecard.
    let r = page(&api, &cookie, "/procurement", "zh-CN").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rows = table(&r.body, "contracts-table");
    assert!(rows.contains("HT-2026-001") && rows.contains("1,340.00") && rows.contains("1 / 3"));
    assert!(r.body.contains("data-testid=\"form-contract\""));
    let r = page(
        &api,
        &cookie,
        &format!("/procurement/deliveries/{}", s.delivery),
        "zh-CN",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rows = table(&r.body, "delivery-devices");
    assert_eq!(rows.matches("data-testid=\"device-row\"").count(), 2);
    assert!(r.body.contains("data-testid=\"form-serials\""));
    assert!(r.body.contains("data-raw=\"file\""));
    let r = page(
        &api,
        &cookie,
        &format!("/procurement/suppliers/{}", s.supplier),
        "en",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // One check of two passed, two delivered on time: (40×500 + 30×1000) / 700.
    assert!(
        r.body.contains("data-testid=\"supplier-score\">71<"),
        "{}",
        r.body
    );
    assert!(r.body.contains("1 of 2 acceptance checks passed"));
    assert!(r.body.contains("data-expired=\"true\"") && r.body.contains("Expired"));

    // Installations and the replacement plan.
    let r = page(&api, &cookie, "/installations?status=all", "zh-CN").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rows = table(&r.body, "installations-table");
    assert!(rows.contains("E700001") && rows.contains("已安装") && rows.contains("zhao.tech"));
    assert!(table(&r.body, "certifications-table").contains("DG-001"));
    let r = page(&api, &cookie, "/replacement", "en").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("data-testid=\"form-cost-benefit\""));

    // Site-scoped staff: not the organisation-wide pages; a device in their
    // site, yes; one elsewhere (here: in no site) is not found.
    let site: yufu_domain::SiteId = s.site.parse().unwrap();
    let scoped = token(
        &api,
        "scoped-tech",
        Role::Technician,
        SiteScope::Only([site].into()),
    )
    .await;
    for path in ["/devices", "/procurement", "/replacement"] {
        assert_eq!(page_as(&api, &scoped, path).await.status, 403, "{path}");
    }
    let r = page_as(&api, &scoped, &format!("/devices/{}", s.fleet_meter)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!r.body.contains("data-testid=\"nav-procurement\""));
    assert_eq!(
        page_as(&api, &scoped, &format!("/devices/{}", s.scrapped))
            .await
            .status,
        404
    );
    let r = page_as(&api, &scoped, "/installations").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        !r.body.contains("certifications-table"),
        "certifications span the organisation"
    );
    // The meter is in stock: installing it is planned by device managers,
    // not technicians.
    assert!(!r.body.contains("data-testid=\"form-"));
    assert!(!r.body.contains("data-testid=\"plan-install\""));
    let r = page(&api, &cookie, &format!("/devices/{}", s.fleet_meter), "en").await;
    assert!(
        r.body.contains("data-testid=\"plan-install\""),
        "{}",
        r.body
    );
    assert!(r.body.contains("In stock"));
    // Nobody signed in: to the sign-in page.
    let r = api.raw_exact("GET", "/devices", vec![], None).await;
    assert_eq!(r.status, 303, "{}", r.body);
    api.stop().await;
}
