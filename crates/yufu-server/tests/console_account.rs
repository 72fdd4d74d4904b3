//! The console's account page, cashier counter and tariff pages, rendered
//! for real callers (pages accept an API token as well as the session
//! cookie): balance, ledger and masking by role; a counter recharge and the
//! reconnect that follows it; tariffs as tables, an upload the API refuses,
//! and a quote. Runs on SQLite and, when configured, PostgreSQL.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Fleet, TestServer};
use serde_json::{Value, json};
use yufu_access::SiteScope;
use yufu_domain::Role;
use yufu_store_contract::TestDb;
use yufu_test_utils::HttpResponse;

async fn token(api: &TestServer, name: &str, role: Role, sites: &SiteScope) -> String {
    yufu_server::access_api::issue_token(api.db.store(), api.org, name, role, sites, 1, "test")
        .await
        .unwrap()
        .0
}

async fn page(api: &TestServer, path: &str, token: &str) -> HttpResponse {
    api.get(path, &[("Authorization", &format!("Bearer {token}"))])
        .await
}

/// A POST with the caller's token and extra headers: status and JSON.
async fn post(
    api: &TestServer,
    token: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: String,
) -> (u16, Value) {
    let mut h = vec![("Authorization".to_owned(), format!("Bearer {token}"))];
    h.extend(
        headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let r = api.raw_exact("POST", path, h, Some(body)).await;
    (
        r.status,
        serde_json::from_str(&r.body).unwrap_or(Value::String(r.body)),
    )
}

/// The text of the first element carrying `data-testid="id"`, tags removed.
fn testid(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("data-testid=\"{id}\""))?;
    let rest = &html[at..];
    let open = rest.find('>')? + 1;
    let close = rest[open..].find("</")?;
    Some(rest[open..open + close].trim().to_owned())
}

/// Opening reading, then 10 kWh in March: billed; a residential account
/// starting at zero is cut off. Returns the charge in fen.
async fn consume(api: &TestServer, f: &Fleet) -> i64 {
    let (status, out) = api
        .call(
            "POST",
            "/api/v1/readings",
            Some(json!({ "readings": [
                { "meter_id": f.meter, "at": "2026-03-01T00:00:00+08:00", "register": 100_000 },
                { "meter_id": f.meter, "at": "2026-03-02T00:00:00+08:00", "register": 110_000 },
            ]})),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    out["results"][1]["charge_fen"].as_i64().unwrap()
}

fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", fen.abs() / 100, fen.abs() % 100)
}

async fn account_story(db: TestDb) {
    let api = TestServer::start(db).await;
    let f = api.fleet().await;
    api.bill(&f).await;
    let charge = consume(&api, &f).await;
    let admin = api.admin_token.clone();
    let (status, out) = post(
        &api,
        &admin,
        &format!("/api/v1/accounts/{}/recharges", f.account),
        &[("Idempotency-Key", "acct-page-1")],
        json!({ "amount_fen": 10_000, "channel": "counter", "reference": "R-1" }).to_string(),
    )
    .await;
    assert_eq!(status, 201, "{out}");
    let path = format!("/accounts/{}", f.account);

    // Admin: balance, supply, rules, meters, recharges, ledger, customer in full.
    let r = page(&api, &path, &admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let html = &r.body;
    assert_eq!(
        testid(html, "account-balance").as_deref(),
        Some(yuan(10_000 - charge).as_str())
    );
    assert!(testid(html, "account-supply").is_some());
    assert!(html.contains("data-testid=\"ledger-table\""));
    assert!(html.contains("Consumption") && html.contains("Recharge"));
    assert!(html.contains("100.00"), "the recharge row");
    assert!(html.contains("acct-page-1/receipt"), "a receipt link");
    assert!(html.contains(&format!("href=\"/meters/{}\"", f.meter)));
    assert!(html.contains("E900001"));
    // Default residential rules: warnings 20.00 and 5.00, cut-off at 0.
    assert!(html.contains("20.00 · 5.00"), "warning levels");
    assert!(html.contains("陈小明") && html.contains("13800138000"));
    assert!(html.contains("44010619900101123X"));
    assert!(!html.contains("customer-masked"));

    // A technician may not read personal data: masked like the API does.
    let tech = token(&api, "tech", Role::Technician, &SiteScope::All).await;
    let r = page(&api, &path, &tech).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let html = &r.body;
    assert!(html.contains("customer-masked"));
    assert!(html.contains("陈**") && html.contains("138****8000"));
    for secret in ["陈小明", "13800138000", "44010619900101123X", "体育西路"] {
        assert!(!html.contains(secret), "{secret} leaked to a technician");
    }
    assert!(
        !html.contains("/receipt"),
        "no receipt links without recharge"
    );
    assert!(
        !html.contains("/counter?account="),
        "no counter link without recharge"
    );

    // The ledger pages down its chain: from the API's cursor only the
    // older entry (the consumption) is left.
    let (_, first) = api
        .call(
            "GET",
            &format!("/api/v1/accounts/{}/ledger?limit=1", f.account),
            None,
        )
        .await;
    let cursor = first["next_cursor"].as_i64().unwrap();
    let r = page(&api, &format!("{path}?before={cursor}"), &admin).await;
    assert_eq!(r.status, 200);
    let ledger = &r.body[r.body.find("data-testid=\"ledger-table\"").unwrap()..];
    assert!(ledger.contains("Consumption") && !ledger.contains(">Recharge<"));
    assert_eq!(
        page(&api, &format!("{path}?before=abc"), &admin)
            .await
            .status,
        400
    );

    // Chinese labels.
    let r = page(&api, &format!("{path}?lang=zh"), &admin).await;
    assert!(r.body.contains("账本明细") && r.body.contains("用量扣费"));

    // Out of scope: a technician of another site gets 404; no sign-in, the login page.
    let other = api
        .created(
            "/api/v1/sites",
            json!({"organisation_id": f.org, "code": "TH02", "name": "别处", "city": "广州"}),
        )
        .await;
    let scoped = token(
        &api,
        "scoped",
        Role::Technician,
        &SiteScope::Only([other["id"].as_str().unwrap().parse().unwrap()].into()),
    )
    .await;
    assert_eq!(page(&api, &path, &scoped).await.status, 404);
    let r = api.raw_exact("GET", &path, Vec::new(), None).await;
    assert!(
        (300..400).contains(&r.status) && r.header("location").unwrap().starts_with("/login"),
        "{} {:?}",
        r.status,
        r.headers
    );
    for missing in [
        "/accounts/not-an-id",
        "/accounts/01890000-0000-7000-8000-000000000000",
    ] {
        assert_eq!(page(&api, missing, &admin).await.status, 404, "{missing}");
    }
    api.stop().await;
}

#[tokio::test]
async fn account_page_on_sqlite() {
    account_story(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn account_page_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        eprintln!("!!! SKIPPED: YUFU_TEST_DATABASE_URL is not set");
        return;
    };
    account_story(db).await;
}

/// Re-reads the counter page until the reconnect shows `state`.
async fn counter_until(api: &TestServer, path: &str, token: &str, state: &str) -> String {
    for _ in 0..200 {
        let r = page(api, path, token).await;
        assert_eq!(r.status, 200, "{}", r.body);
        if r.body.contains(&format!("data-state=\"{state}\"")) {
            return r.body;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the counter never showed {state}");
}

async fn counter_story(db: TestDb) {
    let api = TestServer::start(db).await;
    let f = api.fleet().await;
    api.bill(&f).await;
    let charge = consume(&api, &f).await;
    let cashier = token(&api, "cashier", Role::Cashier, &SiteScope::All).await;
    let tech = token(&api, "tech", Role::Technician, &SiteScope::All).await;
    assert_eq!(page(&api, "/counter", &tech).await.status, 403);
    let r = page(&api, "/counter", &cashier).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("data-testid=\"counter-search\""));

    // Found by account number, meter serial and phone; the cut-off shows.
    let mut account_html = String::new();
    for q in ["GZ900001", "E900001", "138-0013-8000"] {
        let html = counter_until(&api, &format!("/counter?q={q}"), &cashier, "cut").await;
        assert!(html.contains("data-testid=\"counter-account\""), "{q}");
        assert_eq!(
            testid(&html, "counter-balance").as_deref(),
            Some(yuan(-charge).as_str()),
            "{q}"
        );
        account_html = html;
    }
    assert!(
        account_html.contains("陈小明"),
        "a cashier may read personal data"
    );
    assert!(account_html.contains(&format!(
        "data-api=\"/api/v1/accounts/{}/recharges\"",
        f.account
    )));
    assert!(account_html.contains("data-header=\"Idempotency-Key\""));
    assert!(account_html.contains("data-testid=\"recharge-amount\""));
    assert!(
        account_html.contains("data-refresh=\"3000\""),
        "follows while cut off"
    );
    let r = page(&api, "/counter?q=NOPE-404", &cashier).await;
    assert!(r.body.contains("counter-not-found"));

    // The form's request: the API credits it and the counter shows the rest.
    let (status, out) = post(
        &api,
        &cashier,
        &format!("/api/v1/accounts/{}/recharges", f.account),
        &[
            ("Idempotency-Key", "counter-0001"),
            ("Content-Type", "application/json"),
        ],
        json!({ "amount_fen": 5_000, "channel": "counter", "reference": "cashier" }).to_string(),
    )
    .await;
    assert_eq!(status, 201, "{out}");
    let after = 5_000 - charge;
    let path = format!("/counter?account={}&receipt=counter-0001", f.account);
    let html = counter_until(&api, &path, &cashier, "reconnected").await;
    assert_eq!(
        testid(&html, "counter-balance").as_deref(),
        Some(yuan(after).as_str())
    );
    assert!(html.contains("data-testid=\"counter-receipt\""));
    assert!(html.contains(&yuan(after)), "balance after on the receipt");
    let receipt = format!(
        "/api/v1/accounts/{}/recharges/counter-0001/receipt?lang=en",
        f.account
    );
    assert!(html.contains(&receipt), "the print link");
    assert!(html.contains("Reconnected"));
    let r = page(&api, &receipt, &cashier).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("50.00"));

    // An unknown receipt key says so; an account of no one's is 404.
    let r = page(
        &api,
        &format!("/counter?account={}&receipt=nope", f.account),
        &cashier,
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(!r.body.contains("counter-receipt"));
    assert_eq!(
        page(
            &api,
            "/counter?account=01890000-0000-7000-8000-000000000000",
            &cashier
        )
        .await
        .status,
        404
    );
    api.stop().await;
}

#[tokio::test]
async fn counter_on_sqlite() {
    counter_story(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn counter_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        eprintln!("!!! SKIPPED: YUFU_TEST_DATABASE_URL is not set");
        return;
    };
    counter_story(db).await;
}

async fn upload(api: &TestServer, org: &str, text: &str) -> (u16, Value) {
    post(
        api,
        &api.admin_token,
        &format!("/api/v1/organisations/{org}/tariffs"),
        &[("Content-Type", "application/toml")],
        text.to_owned(),
    )
    .await
}

async fn tariff_story(db: TestDb) {
    let api = TestServer::start(db).await;
    let org = api.org.to_string();
    let admin = api.admin_token.clone();
    let residential =
        include_str!("../../../examples/tariffs/guangdong-residential-electricity.toml");
    let tou = include_str!("../../../examples/tariffs/guangdong-commercial-tou.toml");
    assert_eq!(upload(&api, &org, residential).await.0, 201);
    assert_eq!(upload(&api, &org, tou).await.0, 201);

    let r = page(&api, "/tariffs", &admin).await;
    assert_eq!(r.status, 200);
    assert!(
        r.body
            .contains("href=\"/tariffs/guangdong-residential-electricity\"")
    );
    assert!(
        r.body
            .contains("href=\"/tariffs/guangdong-commercial-tou\"")
    );

    // Tiers with their bounds per season, in Chinese.
    let r = page(
        &api,
        "/tariffs/guangdong-residential-electricity?lang=zh",
        &admin,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let html = &r.body;
    assert!(html.contains("data-testid=\"tariff-table\""));
    assert!(html.contains("阶梯价格") && html.contains("第2档"));
    for v in [
        "0.5883",
        "0.6383",
        "0.8883",
        "0–200",
        "200–400",
        "0–260",
        "260–600",
    ] {
        assert!(html.contains(v), "{v}");
    }
    assert!(html.contains("5–10") && html.contains("1–4, 11–12"));
    assert!(html.contains("data-testid=\"tariff-upload\""));
    assert!(html.contains("data-testid=\"tariff-error\""));

    // Time of use: band prices and hours.
    let r = page(&api, "/tariffs/guangdong-commercial-tou", &admin).await;
    let html = &r.body;
    assert!(html.contains("Time of use"));
    for v in [
        "Critical peak",
        "Valley",
        "1.2750",
        "0.2280",
        "00:00–08:00",
        "15:00–17:00",
    ] {
        assert!(html.contains(v), "{v}");
    }

    // Quotes: 300 kWh in July = 260 × 0.5883 + 40 × 0.6383 = 178.49.
    let r = page(
        &api,
        "/tariffs/guangdong-residential-electricity?quote=300&month=2026-07",
        &admin,
    )
    .await;
    assert!(r.body.contains("data-testid=\"quote-result\""));
    assert_eq!(testid(&r.body, "quote-total").as_deref(), Some("178.49"));
    // 100 kWh over January's hours: (8 × 0.2280 + 9 × 0.6000 + 7 × 1.0200) / 24 × 100.
    let r = page(
        &api,
        "/tariffs/guangdong-commercial-tou?quote=100&month=2026-01",
        &admin,
    )
    .await;
    assert_eq!(testid(&r.body, "quote-total").as_deref(), Some("59.85"));
    assert!(r.body.contains("Valley") && r.body.contains("Peak"));
    let r = page(&api, "/tariffs/guangdong-commercial-tou?quote=abc", &admin).await;
    assert!(r.body.contains("data-testid=\"quote-error\""));
    assert!(!r.body.contains("data-testid=\"quote-result\""));
    // Before the first version: nothing is priced, and the page says why.
    let r = page(
        &api,
        "/tariffs/guangdong-commercial-tou?quote=10&month=2020-01",
        &admin,
    )
    .await;
    assert!(r.body.contains("data-testid=\"quote-result\""));
    assert!(!r.body.contains("quote-total"));

    // A bad file: the API names the line; the page's form shows that text.
    let bad = residential.replace("\"0.5883\"", "\"0.58831\"");
    let (status, out) = upload(&api, &org, &bad).await;
    assert_eq!(status, 422, "{out}");
    let message = out["message"].as_str().unwrap();
    assert!(
        message.contains("line") && message.contains("4 (0.0001 yuan)"),
        "{message}"
    );

    // Revisions: a second upload is revision 2; revision 1 stays readable.
    assert_eq!(upload(&api, &org, residential).await.0, 201);
    let r = page(&api, "/tariffs/guangdong-residential-electricity", &admin).await;
    assert!(
        r.body
            .contains("href=\"/tariffs/guangdong-residential-electricity?revision=1\"")
    );
    let r = page(
        &api,
        "/tariffs/guangdong-residential-electricity?revision=1",
        &admin,
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("name=\"revision\" value=\"1\""));
    for missing in [
        "/tariffs/guangdong-residential-electricity?revision=9",
        "/tariffs/no-such-tariff",
    ] {
        assert_eq!(page(&api, missing, &admin).await.status, 404, "{missing}");
    }

    // Who may upload: not a technician (they still read the tables).
    let tech = token(&api, "tech", Role::Technician, &SiteScope::All).await;
    let r = page(&api, "/tariffs/guangdong-commercial-tou", &tech).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("data-testid=\"tariff-table\""));
    assert!(!r.body.contains("tariff-upload"));
    let (status, _) = post(
        &api,
        &tech,
        &format!("/api/v1/organisations/{org}/tariffs"),
        &[("Content-Type", "application/toml")],
        tou.to_owned(),
    )
    .await;
    assert_eq!(status, 403);
    api.stop().await;
}

#[tokio::test]
async fn tariff_pages_on_sqlite() {
    tariff_story(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn tariff_pages_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        eprintln!("!!! SKIPPED: YUFU_TEST_DATABASE_URL is not set");
        return;
    };
    tariff_story(db).await;
}
