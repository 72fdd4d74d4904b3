//! The customer portal over real sockets: sign-in, the home page (balance,
//! days left, chart, ledger, notifications), an online recharge through
//! the payment simulator (credited once, by the provider callback), orders
//! for someone else's account refused, complaints and questions with
//! staff's answers (sealed at rest), staff kept out of the portal and the
//! simulator answering 404 when it is off.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Fleet, TestServer};
use serde_json::{Value, json};
use yufu_store_contract::TestDb;

const PASSWORD: &str = "portal-password-1";

/// A server with the payment simulator on, its provider registered and
/// its own address known (where the simulator delivers the callback).
async fn with_simulator(db: TestDb) -> TestServer {
    TestServer::start_with(db, |config, addr| {
        config.payment_simulator = true;
        config.payment_providers.push((
            yufu_server::SIMULATOR_PROVIDER.to_owned(),
            b"paysim-test-secret-0123456789".to_vec(),
        ));
        config.self_url = Some(format!("http://{addr}"));
    })
    .await
}

/// The customer service sets the portal password; the customer signs in.
/// The session cookie and CSRF token.
async fn sign_in(api: &TestServer, f: &Fleet) -> (String, String) {
    let (status, out) = api
        .call(
            "PUT",
            &format!("/api/v1/accounts/{}/portal-password", f.account),
            Some(json!({ "password": PASSWORD })),
        )
        .await;
    assert_eq!(status, 204, "{out}");
    let r = api
        .raw_exact(
            "POST",
            "/api/v1/portal/login",
            vec![],
            Some(json!({ "account_number": f.account_number, "password": PASSWORD }).to_string()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let cookie = r
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let body: Value = serde_json::from_str(&r.body).unwrap();
    (cookie, body["csrf_token"].as_str().unwrap().to_owned())
}

struct Customer {
    cookie: String,
    csrf: String,
}

impl Customer {
    fn headers(&self) -> Vec<(String, String)> {
        vec![
            ("Cookie".into(), self.cookie.clone()),
            ("X-CSRF-Token".into(), self.csrf.clone()),
            ("Accept-Language".into(), "en".into()),
        ]
    }

    async fn call(
        &self,
        api: &TestServer,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let r = api
            .raw_exact(method, path, self.headers(), body.map(|b| b.to_string()))
            .await;
        (
            r.status,
            serde_json::from_str(&r.body).unwrap_or(Value::String(r.body)),
        )
    }

    async fn page(&self, api: &TestServer, path: &str) -> yufu_test_utils::HttpResponse {
        api.raw_exact("GET", path, self.headers(), None).await
    }
}

/// The text of the first element carrying `data-testid="id"`, tags removed.
fn testid(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("data-testid=\"{id}\""))?;
    let rest = &html[at..];
    let open = rest.find('>')? + 1;
    let close = rest[open..].find("</")?;
    Some(rest[open..open + close].trim().to_owned())
}

/// Readings of the fleet's meter over the last days: an opening register,
/// then 10 kWh five days ago and 10 kWh yesterday, all priced.
async fn use_some(api: &TestServer, f: &Fleet) -> i64 {
    let at = |days: i64| {
        (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * days)).to_string()
    };
    let (status, out) = api
        .call(
            "POST",
            "/api/v1/readings",
            Some(json!({ "readings": [
                { "meter_id": f.meter, "at": at(10), "register": 100_000 },
                { "meter_id": f.meter, "at": at(5), "register": 110_000 },
                { "meter_id": f.meter, "at": at(1), "register": 120_000 },
            ]})),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    out["results"][1]["charge_fen"].as_i64().unwrap()
        + out["results"][2]["charge_fen"].as_i64().unwrap()
}

async fn balance(api: &TestServer, f: &Fleet) -> i64 {
    let (status, out) = api
        .call(
            "GET",
            &format!("/api/v1/accounts/{}/balance", f.account),
            None,
        )
        .await;
    assert_eq!(status, 200, "{out}");
    out["balance_fen"].as_i64().unwrap()
}

async fn portal_story(db: TestDb) {
    let api = with_simulator(db).await;
    let f = api.fleet().await;
    api.bill(&f).await;

    // The sign-in page is public; the portal itself asks for a sign-in.
    let r = api.raw_exact("GET", "/portal/login", vec![], None).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("data-testid=\"portal-login-form\""));
    assert!(r.body.contains("/api/v1/portal/login"));
    let r = api.raw_exact("GET", "/portal", vec![], None).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/portal/login?next=/portal"));

    let (cookie, csrf) = sign_in(&api, &f).await;
    let me = Customer { cookie, csrf };

    // Before any use: the balance, and no forecast.
    let r = me.page(&api, "/portal").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(testid(&r.body, "portal-balance").as_deref(), Some("0.00"));
    assert_eq!(testid(&r.body, "portal-days-left").as_deref(), Some("—"));
    assert!(r.body.contains("GZ900001"));
    assert!(r.body.contains("data-testid=\"portal-recharge-amount\""));

    // Some use: billed, so the balance goes below zero.
    let charged = use_some(&api, &f).await;
    assert!(charged > 0);
    assert_eq!(balance(&api, &f).await, -charged);

    // An online recharge: the order, then the provider's page, then "Pay".
    let (status, order) = me
        .call(
            &api,
            "POST",
            "/api/v1/portal/payment-orders",
            Some(json!({ "account_id": f.account, "amount_fen": 10_000, "provider": "paysim" })),
        )
        .await;
    assert_eq!(status, 201, "{order}");
    let id = order["order_id"].as_str().unwrap().to_owned();
    assert_eq!(order["pay_url"], format!("/paysim/{id}"));
    assert_eq!(order["status"], "pending");
    // Creating the order moved no money.
    assert_eq!(balance(&api, &f).await, -charged);
    let r = me.page(&api, &format!("/portal/pay/{id}")).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some(format!("/paysim/{id}").as_str()));
    // The provider's page needs no sign-in.
    let r = api
        .raw_exact("GET", &format!("/paysim/{id}"), vec![], None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(testid(&r.body, "paysim-amount").as_deref(), Some("100.00"));
    assert!(r.body.contains("data-testid=\"paysim-pay\""));
    assert!(r.body.contains("data-testid=\"paysim-cancel\""));
    assert!(r.body.contains("Test operator"));
    let pay = format!("/api/v1/paysim/{id}/pay");
    let (status, paid) = api.call_as(None, "POST", &pay, None).await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(paid["status"], "paid");
    assert_eq!(paid["balance_fen"], 10_000 - charged);
    assert_eq!(balance(&api, &f).await, 10_000 - charged);
    // Paying again is refused and credits nothing.
    let (status, again) = api.call_as(None, "POST", &pay, None).await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(balance(&api, &f).await, 10_000 - charged);
    // The provider's own retry of the same notice is a duplicate too: the
    // money came in through the callback, once.
    let (_, payments) = api
        .call(
            "GET",
            &format!(
                "/api/v1/payments?provider=paysim&date={}",
                jiff::tz::TimeZone::get("Asia/Shanghai")
                    .unwrap()
                    .to_datetime(jiff::Timestamp::now())
                    .date()
            ),
            None,
        )
        .await;
    let payments = payments.as_array().unwrap();
    assert_eq!(payments.len(), 1, "{payments:?}");
    assert_eq!(payments[0]["transaction_id"], id.as_str());
    assert_eq!(payments[0]["status"], "credited");
    let r = me.page(&api, &format!("/portal/pay/{id}")).await;
    assert_eq!(
        r.header("location"),
        Some(format!("/portal?paid={id}").as_str())
    );

    // Back in the portal: the payment, the new balance, a forecast, the
    // chart, the ledger and the engine's notifications.
    let r = me.page(&api, &format!("/portal?paid={id}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let html = &r.body;
    assert_eq!(
        testid(html, "portal-paid").as_deref(),
        Some("Payment received: 100.00 yuan credited.")
    );
    let shown = format!(
        "{}.{:02}",
        (10_000 - charged) / 100,
        (10_000 - charged) % 100
    );
    assert_eq!(testid(html, "portal-balance"), Some(shown.clone()));
    let days = testid(html, "portal-days-left").unwrap();
    assert!(
        days.parse::<i64>().is_ok_and(|d| d > 0),
        "days left: {days}"
    );
    assert!(html.contains("data-testid=\"portal-chart\"><svg class=\"chart\""));
    assert!(html.contains("data-testid=\"portal-ledger\""));
    assert!(html.contains(">Recharge<") && html.contains(">Usage<"));
    let notes = &html[html.find("data-testid=\"portal-notifications\"").unwrap()..];
    assert!(
        notes.contains(&format!(
            "100.00 yuan credited; your balance is {shown} yuan."
        )),
        "{notes}"
    );
    // The same page in Chinese.
    let mut zh = me.headers();
    zh.retain(|(k, _)| k != "Accept-Language");
    zh.push(("Accept-Language".into(), "zh-CN".into()));
    let r = api.raw_exact("GET", "/portal", zh, None).await;
    assert!(r.body.contains("预计可用天数"));
    assert!(r.body.contains("已到账"));

    // Someone else's account: not found, whoever asks to pay into it.
    let other_customer = api
        .created(
            "/api/v1/customers",
            json!({"organisation_id": f.org, "kind": "person", "name": "李四", "phone": "13900139000"}),
        )
        .await;
    let other = api
        .created(
            "/api/v1/accounts",
            json!({"organisation_id": f.org, "number": "GZ900002", "customer_id": other_customer["id"], "class": "residential"}),
        )
        .await;
    let other_id = other["id"].as_str().unwrap();
    let (status, out) = me
        .call(
            &api,
            "POST",
            "/api/v1/portal/payment-orders",
            Some(json!({ "account_id": other_id, "amount_fen": 100, "provider": "paysim" })),
        )
        .await;
    assert_eq!(status, 404, "{out}");
    // …and the portal does not show it when asked for it.
    let r = me.page(&api, &format!("/portal?account={other_id}")).await;
    assert!(!r.body.contains("GZ900002"));
    // Orders are for customers; an unknown provider or amount is refused.
    let (status, _) = api
        .call(
            "POST",
            "/api/v1/portal/payment-orders",
            Some(json!({ "account_id": f.account, "amount_fen": 100, "provider": "paysim" })),
        )
        .await;
    assert_eq!(status, 403);
    for (amount, provider) in [(100, "alipay"), (0, "paysim"), (10_000_001, "paysim")] {
        let (status, out) = me
            .call(
                &api,
                "POST",
                "/api/v1/portal/payment-orders",
                Some(
                    json!({ "account_id": f.account, "amount_fen": amount, "provider": provider }),
                ),
            )
            .await;
        assert_eq!(status, 422, "{amount} {provider}: {out}");
    }

    // A complaint, listed for the customer and for customer service.
    let subject = "楼道停电 secret-subject-42";
    let text = "三楼的表又跳闸了 secret-body-42";
    let (status, ticket) = me
        .call(
            &api,
            "POST",
            "/api/v1/portal/tickets",
            Some(json!({ "kind": "complaint", "subject": subject, "body": text, "account_id": f.account })),
        )
        .await;
    assert_eq!(status, 201, "{ticket}");
    assert_eq!(ticket["status"], "open");
    assert!(ticket.get("subject").is_none());
    let ticket_id = ticket["id"].as_str().unwrap().to_owned();
    for bad in [
        json!({ "kind": "praise", "subject": "x", "body": "y" }),
        json!({ "kind": "question", "subject": " ", "body": "y" }),
        json!({ "kind": "question", "subject": "x", "body": "y".repeat(2001) }),
    ] {
        let (status, _) = me
            .call(&api, "POST", "/api/v1/portal/tickets", Some(bad))
            .await;
        assert_eq!(status, 422);
    }
    let (status, mine) = me.call(&api, "GET", "/api/v1/portal/tickets", None).await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    assert_eq!(mine["items"][0]["subject"], subject);
    assert_eq!(mine["items"][0]["body"], text);
    assert_eq!(mine["items"][0]["reply"], Value::Null);
    let (status, staff) = api.call("GET", "/api/v1/tickets?status=open", None).await;
    assert_eq!(status, 200, "{staff}");
    assert_eq!(staff["items"][0]["id"], ticket_id.as_str());
    assert_eq!(staff["items"][0]["customer_id"], f.customer.as_str());
    let (status, _) = me.call(&api, "GET", "/api/v1/tickets", None).await;
    assert_eq!(status, 403);
    let reply_path = format!("/api/v1/tickets/{ticket_id}/reply");
    let (status, _) = me
        .call(&api, "POST", &reply_path, Some(json!({ "reply": "no" })))
        .await;
    assert_eq!(status, 403);
    let answer = "已派电工检修 secret-reply-42";
    let (status, out) = api
        .call("POST", &reply_path, Some(json!({ "reply": answer })))
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["status"], "answered");
    let (status, _) = api
        .call(
            "POST",
            "/api/v1/tickets/00000000-0000-7000-8000-000000000000/reply",
            Some(json!({ "reply": "x" })),
        )
        .await;
    assert_eq!(status, 404);
    let (_, mine) = me.call(&api, "GET", "/api/v1/portal/tickets", None).await;
    assert_eq!(mine["items"][0]["reply"], answer);
    assert_eq!(mine["items"][0]["status"], "answered");
    let r = me.page(&api, "/portal").await;
    let table = &r.body[r.body.find("data-testid=\"tickets-table\"").unwrap()..];
    assert!(table.contains(subject) && table.contains(answer));
    assert!(table.contains(">Answered<"));
    assert!(r.body.contains("data-testid=\"ticket-form\""));

    // Ticket text is sealed at rest: not in the database file, the WAL or
    // the audit log in the clear.
    if let Some(dir) = api.db.sqlite_dir() {
        let mut bytes = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
        }
        for needle in [
            "secret-subject-42",
            "secret-body-42",
            "secret-reply-42",
            "跳闸",
        ] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} is in the database file in the clear"
            );
        }
    }
    let clear = api
        .db
        .count_rows("tickets WHERE subject LIKE '%secret%' OR body LIKE '%secret%' OR reply LIKE '%secret%'")
        .await;
    assert_eq!(clear, 0);

    // Staff are sent away from the portal, customers away from the console.
    let admin = format!("Bearer {}", api.admin_token);
    let r = api
        .raw_exact(
            "GET",
            "/portal",
            vec![("Authorization".into(), admin)],
            None,
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/"));
    let r = me.page(&api, "/").await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/portal"));
    api.stop().await;
}

#[tokio::test]
async fn a_customer_signs_in_pays_online_once_and_asks_sqlite() {
    portal_story(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn a_customer_signs_in_pays_online_once_and_asks_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    portal_story(db).await;
}

#[tokio::test]
async fn the_simulator_is_not_there_unless_switched_on() {
    let api = TestServer::start(TestDb::sqlite().await).await;
    let f = api.fleet().await;
    api.bill(&f).await;
    let (cookie, csrf) = sign_in(&api, &f).await;
    let me = Customer { cookie, csrf };
    // No checkout to offer: the portal says so, and no order is made.
    let r = me.page(&api, "/portal").await;
    assert_eq!(r.status, 200);
    assert!(!r.body.contains("data-testid=\"portal-recharge-amount\""));
    let (status, out) = me
        .call(
            &api,
            "POST",
            "/api/v1/portal/payment-orders",
            Some(json!({ "account_id": f.account, "amount_fen": 100, "provider": "paysim" })),
        )
        .await;
    assert_eq!(status, 422, "{out}");
    // Even an order that exists cannot be paid with the simulator.
    let order = yufu_store::console::PaymentOrderRow {
        id: "0190a0a0-0000-7000-8000-000000000001".into(),
        organisation_id: f.org.parse().unwrap(),
        account_id: f.account.parse().unwrap(),
        customer_id: f.customer.parse().unwrap(),
        provider: yufu_server::SIMULATOR_PROVIDER.into(),
        amount_fen: 100,
        status: "pending".into(),
        created_at_ms: 1,
        paid_at_ms: None,
    };
    api.db
        .store()
        .console()
        .create_payment_order(&order)
        .await
        .unwrap();
    let r = api
        .raw_exact("GET", &format!("/paysim/{}", order.id), vec![], None)
        .await;
    assert_eq!(r.status, 404);
    let (status, _) = api
        .call_as(
            None,
            "POST",
            &format!("/api/v1/paysim/{}/pay", order.id),
            None,
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(balance(&api, &f).await, 0);
    api.stop().await;
}
