//! Access control end to end over real sockets: every route × every role,
//! sessions with CSRF, lockout, the audit chain (with a tampered row),
//! personal data encrypted at rest, and payment callbacks (replay,
//! duplicate, bad signature).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::{Fleet, TEST_PROVIDER, TEST_PROVIDER_SECRET, TestServer};
use serde_json::{Value, json};
use yufu_access::{Actor, SiteScope};
use yufu_domain::Role;
use yufu_store_contract::TestDb;

/// Who may call each documented route (by method and template). Written
/// out by hand, apart from the policy table, so a change to either shows
/// here. "staff" = every staff role; "-" = nobody signed in needs to be.
const MATRIX: &[(&str, &str, &str)] = &[
    ("GET", "/healthz", "public"),
    ("GET", "/readyz", "public"),
    ("GET", "/metrics", "public"),
    ("GET", "/api/v1/version", "public"),
    ("POST", "/api/v1/auth/login", "public"),
    ("POST", "/api/v1/portal/login", "public"),
    ("POST", "/api/v1/payments/{provider}/callback", "public"),
    ("POST", "/api/v1/auth/logout", "staff customer"),
    ("GET", "/api/v1/auth/me", "staff customer"),
    ("GET", "/api/v1/users", "admin"),
    ("POST", "/api/v1/users", "admin"),
    ("PUT", "/api/v1/users/{id}", "admin"),
    ("PUT", "/api/v1/users/{id}/password", "admin"),
    ("GET", "/api/v1/tokens", "admin"),
    ("POST", "/api/v1/tokens", "admin"),
    ("DELETE", "/api/v1/tokens/{id}", "admin"),
    ("GET", "/api/v1/sessions", "admin"),
    ("DELETE", "/api/v1/sessions/{id}", "admin"),
    ("GET", "/api/v1/audit", "admin auditor"),
    ("GET", "/api/v1/audit/verify", "admin auditor"),
    ("GET", "/api/v1/organisations", "staff"),
    ("POST", "/api/v1/organisations", "admin manager"),
    ("GET", "/api/v1/organisations/{id}/sites", "staff"),
    ("GET", "/api/v1/organisations/{id}/meters", "staff"),
    ("GET", "/api/v1/organisations/{id}/tariffs", "staff"),
    (
        "POST",
        "/api/v1/organisations/{id}/tariffs",
        "admin manager",
    ),
    ("GET", "/api/v1/organisations/{id}/tariffs/{code}", "staff"),
    ("POST", "/api/v1/sites", "admin manager"),
    ("GET", "/api/v1/sites/{id}", "staff"),
    ("GET", "/api/v1/sites/{id}/protected-windows", "staff"),
    (
        "PUT",
        "/api/v1/sites/{id}/protected-windows",
        "admin manager",
    ),
    ("POST", "/api/v1/buildings", "admin manager"),
    ("POST", "/api/v1/units", "admin manager"),
    ("POST", "/api/v1/customers", "admin manager"),
    ("GET", "/api/v1/customers", "staff"),
    ("GET", "/api/v1/customers/{id}", "staff"),
    (
        "PUT",
        "/api/v1/accounts/{id}/portal-password",
        "admin manager service_agent",
    ),
    ("POST", "/api/v1/accounts", "admin manager"),
    ("GET", "/api/v1/accounts/{id}", "staff"),
    ("GET", "/api/v1/accounts/{id}/balance", "staff"),
    ("GET", "/api/v1/accounts/{id}/ledger", "staff"),
    ("GET", "/api/v1/accounts/{id}/balance-rules", "staff"),
    (
        "PUT",
        "/api/v1/accounts/{id}/balance-rules",
        "admin manager",
    ),
    (
        "DELETE",
        "/api/v1/accounts/{id}/balance-rules",
        "admin manager",
    ),
    (
        "POST",
        "/api/v1/accounts/{id}/recharges",
        "admin manager cashier",
    ),
    (
        "GET",
        "/api/v1/accounts/{id}/recharges/{key}/receipt",
        "admin manager cashier",
    ),
    ("POST", "/api/v1/meters", "admin manager"),
    ("GET", "/api/v1/meters/{id}", "staff"),
    ("PUT", "/api/v1/meters/{id}/assignment", "admin manager"),
    ("PUT", "/api/v1/meters/{id}/tariff", "admin manager"),
    ("GET", "/api/v1/meters/{id}/sharing", "staff"),
    ("PUT", "/api/v1/meters/{id}/sharing", "admin manager"),
    ("DELETE", "/api/v1/meters/{id}/sharing", "admin manager"),
    ("GET", "/api/v1/meters/{id}/readings", "staff"),
    ("GET", "/api/v1/meters/{id}/commands", "staff"),
    (
        "POST",
        "/api/v1/meters/{id}/commands",
        "admin manager service_agent technician",
    ),
    ("GET", "/api/v1/meters/{id}/alarms", "staff"),
    ("GET", "/api/v1/meters/{id}/connectivity", "staff"),
    (
        "POST",
        "/api/v1/meters/{id}/device-token",
        "admin manager service_agent technician",
    ),
    (
        "DELETE",
        "/api/v1/meters/{id}/device-token",
        "admin manager service_agent technician",
    ),
    (
        "POST",
        "/api/v1/meters/{id}/safety-hold/release",
        "admin manager service_agent technician",
    ),
    ("GET", "/api/v1/alarms", "staff"),
    ("GET", "/api/v1/alarms/{id}", "staff"),
    (
        "POST",
        "/api/v1/alarms/{id}/acknowledge",
        "admin manager service_agent technician",
    ),
    (
        "POST",
        "/api/v1/alarms/{id}/resolve",
        "admin manager service_agent technician",
    ),
    ("GET", "/api/v1/connectivity", "staff"),
    ("POST", "/api/v1/readings", "admin manager technician"),
    ("GET", "/api/v1/payments", "admin manager finance auditor"),
    (
        "POST",
        "/api/v1/reconciliation/{provider}",
        "admin manager finance auditor",
    ),
    ("POST", "/api/v1/import/{kind}", "admin manager"),
    ("GET", "/api/v1/export/{kind}", "admin manager"),
    (
        "GET",
        "/api/v1/finance/journal",
        "admin manager finance auditor",
    ),
    (
        "GET",
        "/api/v1/finance/settlement",
        "admin manager finance auditor",
    ),
    ("GET", "/api/v1/webhooks", "admin"),
    ("POST", "/api/v1/webhooks", "admin"),
    ("DELETE", "/api/v1/webhooks/{id}", "admin"),
    ("GET", "/api/v1/webhooks/{id}/deliveries", "admin"),
    (
        "POST",
        "/api/v1/accounts/{id}/refunds",
        "admin finance cashier service_agent",
    ),
    ("GET", "/api/v1/refunds", "admin manager finance auditor"),
    (
        "POST",
        "/api/v1/refunds/{id}/approve",
        "admin manager finance",
    ),
    (
        "POST",
        "/api/v1/refunds/{id}/reject",
        "admin manager finance",
    ),
    ("GET", "/api/v1/portal/me", "customer"),
    ("GET", "/api/v1/portal/accounts/{id}/ledger", "customer"),
    ("POST", "/api/v1/portal/payment-orders", "customer"),
    ("POST", "/api/v1/portal/tickets", "customer"),
    ("GET", "/api/v1/portal/tickets", "customer"),
    ("GET", "/api/v1/tickets", "admin manager service_agent"),
    (
        "POST",
        "/api/v1/tickets/{id}/reply",
        "admin manager service_agent",
    ),
    // device lifecycle (issue 8)
    ("GET", "/api/v1/device-models", "staff"),
    ("POST", "/api/v1/device-models", "admin manager"),
    ("GET", "/api/v1/suppliers", "staff"),
    ("POST", "/api/v1/suppliers", "admin manager"),
    ("GET", "/api/v1/suppliers/{id}", "staff"),
    (
        "POST",
        "/api/v1/suppliers/{id}/qualifications",
        "admin manager",
    ),
    ("GET", "/api/v1/contracts", "staff"),
    ("POST", "/api/v1/contracts", "admin manager"),
    ("GET", "/api/v1/contracts/{id}", "staff"),
    ("POST", "/api/v1/contracts/{id}/approve", "admin finance"),
    ("POST", "/api/v1/contracts/{id}/cancel", "admin finance"),
    ("POST", "/api/v1/contracts/{id}/deliveries", "admin manager"),
    ("GET", "/api/v1/deliveries/{id}", "staff"),
    ("POST", "/api/v1/deliveries/{id}/serials", "admin manager"),
    ("GET", "/api/v1/devices", "staff"),
    ("GET", "/api/v1/meters/{id}/device", "staff"),
    ("POST", "/api/v1/meters/{id}/acceptance", "admin manager"),
    // The gate lets every staff role in; the handler checks the
    // action's own permission (the empty body here is 422 first).
    ("POST", "/api/v1/meters/{id}/lifecycle", "staff"),
    (
        "POST",
        "/api/v1/meters/{id}/remove",
        "admin manager technician",
    ),
    ("POST", "/api/v1/meters/{id}/scrap", "admin manager"),
    (
        "POST",
        "/api/v1/meters/{id}/commission",
        "admin manager technician",
    ),
    (
        "POST",
        "/api/v1/meters/{id}/swap",
        "admin manager technician",
    ),
    ("GET", "/api/v1/certifications", "staff"),
    ("POST", "/api/v1/certifications", "admin manager"),
    (
        "POST",
        "/api/v1/certifications/{id}/revoke",
        "admin manager",
    ),
    ("GET", "/api/v1/installations", "staff"),
    ("POST", "/api/v1/installations", "admin manager"),
    ("GET", "/api/v1/installations/{id}", "staff"),
    (
        "POST",
        "/api/v1/installations/{id}/complete",
        "admin manager technician",
    ),
    ("POST", "/api/v1/installations/{id}/cancel", "admin manager"),
    ("GET", "/api/v1/replacement/due", "staff"),
    ("POST", "/api/v1/replacement/cost-benefit", "staff"),
    ("GET", "/api/v1/rollouts", "staff"),
    ("POST", "/api/v1/rollouts", "admin manager"),
    ("GET", "/api/v1/rollouts/{id}", "staff"),
    (
        "POST",
        "/api/v1/rollouts/{id}/approve-pilot",
        "admin manager",
    ),
    ("GET", "/api/v1/sites/{id}/demand", "staff"),
    // 404 unless the payment simulator is on (it is off in tests).
    ("POST", "/api/v1/paysim/{id}/pay", "public"),
];

fn allowed(who: &str, actor: Actor) -> bool {
    who.split_whitespace().any(|w| match (w, actor) {
        ("public", _) => true,
        ("staff", Actor::Staff(_)) => true,
        ("customer", Actor::Customer) => true,
        (name, a) => name == a.as_str(),
    })
}

async fn token(api: &TestServer, role: Role, scope: SiteScope) -> String {
    yufu_server::access_api::issue_token(
        api.db.shared().as_ref(),
        api.org,
        &format!("test-{role}"),
        role,
        &scope,
        1,
        "test",
    )
    .await
    .unwrap()
    .0
}

/// Signs in a customer through the portal: the session cookie and CSRF token.
async fn portal_session(api: &TestServer, f: &Fleet) -> (String, String) {
    let (status, _) = api
        .call(
            "PUT",
            &format!("/api/v1/accounts/{}/portal-password", f.account),
            Some(json!({"password": "customer-password-1"})),
        )
        .await;
    assert_eq!(status, 204);
    let r = api
        .raw_exact(
            "POST",
            "/api/v1/portal/login",
            vec![],
            Some(
                json!({"account_number": f.account_number, "password": "customer-password-1"})
                    .to_string(),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let cookie = r
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.split(';').next().unwrap().to_owned())
        .unwrap();
    let body: Value = serde_json::from_str(&r.body).unwrap();
    (cookie, body["csrf_token"].as_str().unwrap().to_owned())
}

fn fill(template: &str, f: &Fleet) -> String {
    let mut out = Vec::new();
    let parts: Vec<&str> = template.split('/').collect();
    for (i, p) in parts.iter().enumerate() {
        let v = match *p {
            "{id}" => match parts.get(i - 1).copied() {
                Some("organisations") => f.org.clone(),
                Some("sites") => f.site.clone(),
                Some("accounts") => f.account.clone(),
                Some("meters") => f.meter.clone(),
                Some("customers") => f.customer.clone(),
                _ => "00000000-0000-7000-8000-000000000000".into(),
            },
            "{code}" => "NOPE".into(),
            "{key}" => "nope".into(),
            "{provider}" => "nobody".into(),
            "{kind}" => "customers".into(),
            other => other.to_owned(),
        };
        out.push(v);
    }
    out.join("/")
}

async fn check_matrix(db: TestDb) {
    let api = TestServer::start(db).await;
    let f = api.fleet().await;
    // Every documented route is in the matrix, and every matrix row is a
    // documented route: a new route without an entry fails here.
    let doc = serde_json::to_value(yufu_server::openapi()).unwrap();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let listed: BTreeSet<(String, String)> = MATRIX
        .iter()
        .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    let missing: Vec<_> = documented.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "routes without a matrix entry: {missing:?}"
    );
    // Every documented route has a rule in the policy table.
    for (m, p) in &documented {
        assert!(
            yufu_server::policy::rule(&m.parse().unwrap(), p).is_some(),
            "{m} {p} has no access rule"
        );
    }
    let (cookie, csrf) = portal_session(&api, &f).await;
    let mut tokens = Vec::new();
    for role in Role::ALL {
        tokens.push((
            Actor::Staff(*role),
            token(&api, *role, SiteScope::All).await,
        ));
    }
    for (method, template, who) in MATRIX {
        if !documented.contains(&((*method).to_owned(), (*template).to_owned())) {
            continue;
        }
        let path = fill(template, &f);
        // Logging out would end the customer's session for the next rows.
        if *template == "/api/v1/auth/logout" {
            continue;
        }
        // Anonymous: protected routes answer 401.
        let anon = api
            .raw_exact(method, &path, vec![], Some("{}".into()))
            .await;
        let public = who.split_whitespace().any(|w| w == "public");
        assert_eq!(
            anon.status == 401,
            !public,
            "anonymous {method} {template}: {}",
            anon.status
        );
        for (actor, t) in &tokens {
            let r = api
                .raw_exact(
                    method,
                    &path,
                    vec![("Authorization".into(), format!("Bearer {t}"))],
                    Some("{}".into()),
                )
                .await;
            let denied = r.status == 401 || r.status == 403;
            assert_eq!(
                denied,
                !allowed(who, *actor),
                "{} {method} {template}: {} {}",
                actor.as_str(),
                r.status,
                r.body
            );
        }
        let r = api
            .raw_exact(
                method,
                &path,
                vec![
                    ("Cookie".into(), cookie.clone()),
                    ("X-CSRF-Token".into(), csrf.clone()),
                ],
                Some("{}".into()),
            )
            .await;
        let denied = r.status == 401 || r.status == 403;
        assert_eq!(
            denied,
            !allowed(who, Actor::Customer),
            "customer {method} {template}: {} {}",
            r.status,
            r.body
        );
    }
    api.stop().await;
}

#[tokio::test]
async fn every_route_answers_every_role_as_the_matrix_says_sqlite() {
    check_matrix(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn every_route_answers_every_role_as_the_matrix_says_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    check_matrix(db).await;
}

#[tokio::test]
async fn site_scope_hides_other_sites_and_customers_see_only_their_own() {
    let api = TestServer::start(TestDb::sqlite().await).await;
    let f = api.fleet().await;
    let other_site = api
        .created(
            "/api/v1/sites",
            json!({"organisation_id": f.org, "code": "HZ02", "name": "海珠", "city": "广州", "timezone": "Asia/Shanghai"}),
        )
        .await;
    let other: yufu_domain::SiteId = other_site["id"].as_str().unwrap().parse().unwrap();
    let mine: yufu_domain::SiteId = f.site.parse().unwrap();
    let scoped_out = token(&api, Role::Cashier, SiteScope::Only([other].into())).await;
    let scoped_in = token(&api, Role::Cashier, SiteScope::Only([mine].into())).await;
    let meter = format!("/api/v1/meters/{}", f.meter);
    let account = format!("/api/v1/accounts/{}/balance", f.account);
    assert_eq!(
        api.call_as(Some(&scoped_out), "GET", &meter, None).await.0,
        404
    );
    assert_eq!(
        api.call_as(Some(&scoped_out), "GET", &account, None)
            .await
            .0,
        404
    );
    assert_eq!(
        api.call_as(Some(&scoped_in), "GET", &meter, None).await.0,
        200
    );
    assert_eq!(
        api.call_as(Some(&scoped_in), "GET", &account, None).await.0,
        200
    );
    // Listing the organisation's sites shows only the scoped one.
    let (_, sites) = api
        .call_as(
            Some(&scoped_in),
            "GET",
            &format!("/api/v1/organisations/{}/sites", f.org),
            None,
        )
        .await;
    let ids: Vec<&str> = sites["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![f.site.as_str()]);
    // Organisation-wide routes are closed to scoped staff.
    let (status, _) = api
        .call_as(
            Some(&scoped_in),
            "GET",
            &format!("/api/v1/organisations/{}/meters", f.org),
            None,
        )
        .await;
    assert_eq!(status, 403);
    // A customer sees their own ledger, not another account's.
    let (cookie, _) = portal_session(&api, &f).await;
    let get = |path: String| {
        let cookie = cookie.clone();
        let api = &api;
        async move {
            api.raw_exact("GET", &path, vec![("Cookie".into(), cookie)], None)
                .await
        }
    };
    assert_eq!(
        get(format!("/api/v1/portal/accounts/{}/ledger", f.account))
            .await
            .status,
        200
    );
    let stranger = api
        .created(
            "/api/v1/customers",
            json!({"organisation_id": f.org, "kind": "person", "name": "李四"}),
        )
        .await;
    let theirs = api
        .created(
            "/api/v1/accounts",
            json!({"organisation_id": f.org, "number": "GZ900002", "customer_id": stranger["id"], "class": "residential"}),
        )
        .await;
    let r = get(format!(
        "/api/v1/portal/accounts/{}/ledger",
        theirs["id"].as_str().unwrap()
    ))
    .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let me = get("/api/v1/portal/me".into()).await;
    let me: Value = serde_json::from_str(&me.body).unwrap();
    assert_eq!(me["accounts"].as_array().unwrap().len(), 1);
    api.stop().await;
}

#[tokio::test]
async fn sessions_need_csrf_lock_out_guessers_and_end_when_revoked() {
    let api = TestServer::start(TestDb::sqlite().await).await;
    let (status, _) = api
        .call(
            "POST",
            "/api/v1/users",
            Some(json!({"username": "li.cashier", "display_name": "李收银", "role": "cashier", "password": "a-long-password-1"})),
        )
        .await;
    assert_eq!(status, 201);
    let login = |password: &'static str| {
        let api = &api;
        async move {
            api.raw_exact(
                "POST",
                "/api/v1/auth/login",
                vec![],
                Some(json!({"username": "li.cashier", "password": password}).to_string()),
            )
            .await
        }
    };
    let ok = login("a-long-password-1").await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let set_cookie = ok
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.clone())
        .unwrap();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let body: Value = serde_json::from_str(&ok.body).unwrap();
    let csrf = body["csrf_token"].as_str().unwrap().to_owned();
    let me = api
        .raw_exact(
            "GET",
            "/api/v1/auth/me",
            vec![("Cookie".into(), cookie.clone())],
            None,
        )
        .await;
    assert_eq!(me.status, 200);
    assert!(me.body.contains("\"role\":\"cashier\""), "{}", me.body);
    // A state-changing request with the cookie but without the CSRF token is refused.
    let no_csrf = api
        .raw_exact(
            "POST",
            "/api/v1/auth/logout",
            vec![("Cookie".into(), cookie.clone())],
            None,
        )
        .await;
    assert_eq!(no_csrf.status, 403, "{}", no_csrf.body);
    // An admin lists the session and revokes it: the cookie stops working.
    let (_, sessions) = api.call("GET", "/api/v1/sessions", None).await;
    let id = sessions[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        api.call("DELETE", &format!("/api/v1/sessions/{id}"), None)
            .await
            .0,
        204
    );
    let after = api
        .raw_exact(
            "GET",
            "/api/v1/auth/me",
            vec![("Cookie".into(), cookie)],
            None,
        )
        .await;
    assert_eq!(after.status, 401);
    let _ = csrf;
    // Five wrong passwords lock the user, with a clear message; then even
    // the right password is refused.
    for _ in 0..4 {
        assert_eq!(login("wrong-password-x").await.status, 401);
    }
    let locked = login("wrong-password-x").await;
    assert_eq!(locked.status, 423, "{}", locked.body);
    assert!(locked.body.contains("locked"), "{}", locked.body);
    assert_eq!(login("a-long-password-1").await.status, 423);
    // An API token works until revoked, then at once no more (its cached
    // lookup is dropped with it).
    let (status, created) = api
        .call(
            "POST",
            "/api/v1/tokens",
            Some(json!({"name": "billing", "role": "finance"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let t = created["token"].as_str().unwrap().to_owned();
    assert!(t.starts_with("yufu_pat_"));
    assert_eq!(
        api.call_as(Some(&t), "GET", "/api/v1/auth/me", None)
            .await
            .0,
        200
    );
    let (_, listed) = api.call("GET", "/api/v1/tokens", None).await;
    assert!(
        !listed.to_string().contains(&t),
        "the token is shown once only"
    );
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        api.call("DELETE", &format!("/api/v1/tokens/{id}"), None)
            .await
            .0,
        204
    );
    let (status, out) = api.call_as(Some(&t), "GET", "/api/v1/auth/me", None).await;
    assert_eq!(status, 401, "{out}");
    assert!(
        out["message"].as_str().unwrap().contains("revoked"),
        "{out}"
    );
    api.stop().await;
}

#[tokio::test]
async fn the_audit_log_chains_every_mutation_and_verify_finds_a_tampered_row() {
    let db = TestDb::sqlite().await;
    let api = TestServer::start(db).await;
    let f = api.fleet().await;
    let (status, _) = api
        .call(
            "POST",
            &format!("/api/v1/accounts/{}/recharges", f.account),
            Some(json!({"amount_fen": 5000, "channel": "counter", "reference": "R1"})),
        )
        .await;
    // Without its Idempotency-Key the recharge is refused — and still audited.
    assert_eq!(status, 400);
    let (_, rows) = api.call("GET", "/api/v1/audit?limit=500", None).await;
    let rows = rows.as_array().unwrap().clone();
    // Site, building, unit, customer, account, meter, assignment, the
    // portal password…: each mutation is a row, newest first.
    assert!(rows.len() >= 7, "{rows:?}");
    assert!(
        rows.iter()
            .any(|r| r["action"] == "POST /api/v1/customers" && r["actor"] == "token:test-admin")
    );
    // Personal data never enters the log.
    let text = serde_json::to_string(&rows).unwrap();
    assert!(
        !text.contains("13800138000") && !text.contains("陈小明"),
        "{text}"
    );
    let (_, v) = api.call("GET", "/api/v1/audit/verify", None).await;
    assert_eq!(v["intact"], true, "{v}");
    // An auditor may read it; a cashier may not.
    let auditor = token(&api, Role::Auditor, SiteScope::All).await;
    assert_eq!(
        api.call_as(Some(&auditor), "GET", "/api/v1/audit", None)
            .await
            .0,
        200
    );
    let cashier = token(&api, Role::Cashier, SiteScope::All).await;
    assert_eq!(
        api.call_as(Some(&cashier), "GET", "/api/v1/audit", None)
            .await
            .0,
        403
    );
    // Edit one row behind Yufu's back: verification names it.
    api.db
        .execute("UPDATE audit_log SET actor = 'user:nobody' WHERE seq = 3")
        .await;
    let (_, v) = api.call("GET", "/api/v1/audit/verify", None).await;
    assert_eq!(v["intact"], false, "{v}");
    assert_eq!(v["broken_seq"], 3, "{v}");
    api.stop().await;
}

#[tokio::test]
async fn personal_data_is_encrypted_at_rest_and_searchable_by_phone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pii.db");
    {
        let store = yufu_store_sqlite::SqliteStore::open(&path).await.unwrap();
        yufu_store::Store::migrate(&store).await.unwrap();
        let vault = yufu_store_contract::test_vault();
        yufu_store::Store::set_vault(&store, vault);
        let org = yufu_store::Store::create_organisation(
            &store,
            &yufu_domain::NewOrganisation {
                name: "O".parse().unwrap(),
            },
        )
        .await
        .unwrap();
        let new = yufu_domain::NewCustomer::new(
            org.id,
            yufu_domain::CustomerKind::Person,
            "陈小明",
            Some("+86 138-0013-8000"),
            Some("44010619900101123X"),
            Some("广州市天河区体育西路1号"),
        )
        .unwrap();
        let c = yufu_store::Store::create_customer(&store, &new)
            .await
            .unwrap();
        // Read back in the clear, and found by the phone in another format.
        let back = yufu_store::Store::get_customer(&store, c.id).await.unwrap();
        assert_eq!(back.name.expose(), "陈小明");
        let found = yufu_store::Store::find_customers_by_phone(&store, org.id, "13800138000")
            .await
            .unwrap();
        assert_eq!(found.len(), 1);
        assert!(
            yufu_store::Store::find_customers_by_phone(&store, org.id, "13900139000")
                .await
                .unwrap()
                .is_empty()
        );
        yufu_store::Store::close(&store).await;
    }
    // No plaintext anywhere in the database files (main file and WAL).
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    for needle in [
        "13800138000",
        "138-0013-8000",
        "陈小明",
        "44010619900101123X",
        "体育西路",
    ] {
        let found = bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
        assert!(!found, "{needle} is in the database file in the clear");
    }
    // …while the sealed envelopes are there.
    assert!(bytes.windows(4).any(|w| w == b"yv1:"));
}

async fn callback(api: &TestServer, body: &str, ts: i64, secret: &str) -> (u16, Value) {
    let sig = yufu_payments::sign(secret.as_bytes(), ts, body.as_bytes());
    let r = api
        .raw_exact(
            "POST",
            &format!("/api/v1/payments/{TEST_PROVIDER}/callback"),
            vec![
                ("X-Yufu-Timestamp".into(), ts.to_string()),
                ("X-Yufu-Signature".into(), sig),
            ],
            Some(body.to_owned()),
        )
        .await;
    (
        r.status,
        serde_json::from_str(&r.body).unwrap_or(Value::Null),
    )
}

async fn check_callbacks(db: TestDb) {
    let api = TestServer::start(db).await;
    let f = api.fleet().await;
    // Bill the meter, so the engine knows the account.
    api.bill(&f).await;
    let now = jiff::Timestamp::now().as_second();
    let notice = |tx: &str, amount: i64| {
        json!({"transaction_id": tx, "account_number": f.account_number, "amount_fen": amount,
               "currency": "CNY", "status": "paid", "paid_at": jiff::Timestamp::now().to_string()})
        .to_string()
    };
    let balance = || async {
        let (_, b) = api
            .call(
                "GET",
                &format!("/api/v1/accounts/{}/balance", f.account),
                None,
            )
            .await;
        b["balance_fen"].as_i64().unwrap()
    };
    let start = balance().await;
    let body = notice("T1001", 3000);
    let (status, out) = callback(&api, &body, now, TEST_PROVIDER_SECRET).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        (out["status"].as_str(), out["duplicate"].as_bool()),
        (Some("credited"), Some(false))
    );
    assert_eq!(balance().await, start + 3000);
    // The provider repeats the same callback: success, nothing more credited.
    let (status, out) = callback(&api, &body, now, TEST_PROVIDER_SECRET).await;
    assert_eq!(
        (status, out["duplicate"].as_bool()),
        (200, Some(true)),
        "{out}"
    );
    assert_eq!(balance().await, start + 3000);
    // The same transaction with another amount is a conflict, not a credit.
    let (status, _) = callback(&api, &notice("T1001", 9999), now, TEST_PROVIDER_SECRET).await;
    assert_eq!(status, 409);
    // A replay of an old signed callback is refused by its timestamp.
    let (status, out) = callback(
        &api,
        &notice("T1002", 100),
        now - 3600,
        TEST_PROVIDER_SECRET,
    )
    .await;
    assert_eq!(status, 401, "{out}");
    assert_eq!(out["code"], "stale_timestamp");
    // A forged signature is refused and recorded, never credited.
    let (status, out) = callback(&api, &notice("T1003", 100), now, "not-the-secret-000000").await;
    assert_eq!((status, out["code"].as_str()), (401, Some("bad_signature")));
    // An unknown account is refused and recorded as such.
    let unknown =
        json!({"transaction_id": "T1004", "account_number": "NOPE0001", "amount_fen": 100,
        "currency": "CNY", "status": "paid", "paid_at": jiff::Timestamp::now().to_string()})
        .to_string();
    assert_eq!(
        callback(&api, &unknown, now, TEST_PROVIDER_SECRET).await.0,
        422
    );
    assert_eq!(balance().await, start + 3000);
    let store = api.db.shared();
    assert_eq!(
        store
            .access()
            .list_payment_rejections(0, i64::MAX)
            .await
            .unwrap()
            .len(),
        2
    );
    // The day's payments and a reconciliation against a settlement file
    // that lacks T1001 and has an extra one.
    let today = jiff::tz::TimeZone::get("Asia/Shanghai")
        .unwrap()
        .to_datetime(jiff::Timestamp::now())
        .date();
    let (status, list) = api
        .call(
            "GET",
            &format!("/api/v1/payments?provider={TEST_PROVIDER}&date={today}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    let csv = format!(
        "transaction_id,amount_fen,paid_at\nT9999,500,{}\n",
        jiff::Timestamp::now()
    );
    let r = api
        .raw(
            "POST",
            &format!("/api/v1/reconciliation/{TEST_PROVIDER}?date={today}"),
            &[("Content-Type", "text/csv")],
            Some(csv),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rec: Value = serde_json::from_str(&r.body).unwrap();
    let kinds: BTreeSet<String> = rec["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            format!(
                "{}:{}",
                d["transaction_id"].as_str().unwrap(),
                d["kind"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "T1001:missing_at_provider".to_owned(),
            "T9999:missing_in_yufu".to_owned()
        ]
        .into()
    );
    api.stop().await;
}

#[tokio::test]
async fn payment_callbacks_credit_once_and_refuse_replays_sqlite() {
    check_callbacks(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn payment_callbacks_credit_once_and_refuse_replays_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    check_callbacks(db).await;
}
