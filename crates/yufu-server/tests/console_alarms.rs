//! Alarm handling through the API (acknowledge, resolve, both 409s, site
//! scope, permission), the alarms page's filters, the users page and the
//! audit page, rendered for real callers (pages accept an API token as
//! well as the session cookie). Runs on SQLite and, when configured,
//! PostgreSQL.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Fleet, TestServer};
use serde_json::{Value, json};
use yufu_access::SiteScope;
use yufu_domain::{MeterId, Role};
use yufu_store::console::AlarmSearch;
use yufu_store::journal::{AlarmRow, JournalBatch};
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

/// A POST with the caller's token and the body as given (none at all
/// when `None`): status and JSON.
async fn post(api: &TestServer, token: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut h = vec![("Authorization".to_owned(), format!("Bearer {token}"))];
    if body.is_some() {
        h.push(("Content-Type".to_owned(), "application/json".to_owned()));
    }
    let r = api
        .raw_exact("POST", path, h, body.map(|b| b.to_string()))
        .await;
    (
        r.status,
        serde_json::from_str(&r.body).unwrap_or(Value::String(r.body)),
    )
}

/// Raises alarms on the fleet's meter (as the engine would) and answers
/// their ids, in the order given.
async fn raise(api: &TestServer, f: &Fleet, kinds: &[&str]) -> Vec<i64> {
    let meter: MeterId = f.meter.parse().unwrap();
    let store = api.db.store();
    let before = store
        .console()
        .search_alarms(&AlarmSearch {
            state: yufu_store::console::AlarmState::All,
            ..AlarmSearch::open(api.org, 1)
        })
        .await
        .unwrap()
        .first()
        .map_or(0, |a| a.id);
    store
        .journal()
        .append(&JournalBatch {
            alarms: kinds
                .iter()
                .map(|k| AlarmRow {
                    meter_id: meter,
                    kind: (*k).to_owned(),
                    detail: format!("{k} reported by the meter"),
                    raised_at_ms: 1_795_653_000_000,
                })
                .collect(),
            ..JournalBatch::default()
        })
        .await
        .unwrap();
    let mut ids: Vec<i64> = store
        .console()
        .search_alarms(&AlarmSearch {
            state: yufu_store::console::AlarmState::All,
            ..AlarmSearch::open(api.org, 500)
        })
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .filter(|id| *id > before)
        .collect();
    ids.reverse();
    assert_eq!(ids.len(), kinds.len());
    ids
}

fn rows(r: &HttpResponse) -> usize {
    r.body.matches("data-testid=\"alarm-row\"").count()
}

async fn handling(db: TestDb) {
    let api = TestServer::start(db).await;
    let f = api.fleet().await;
    let ids = raise(&api, &f, &["tamper", "low_battery", "comm_fault"]).await;
    let (tamper, battery, comm) = (ids[0], ids[1], ids[2]);
    let admin = api.admin_token.clone();
    let tech = token(&api, "tech", Role::Technician, &SiteScope::All).await;
    let cashier = token(&api, "cashier", Role::Cashier, &SiteScope::All).await;

    // Acknowledge with no body at all; it records who and when.
    let (status, out) = post(
        &api,
        &admin,
        &format!("/api/v1/alarms/{tamper}/acknowledge"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["state"], "acknowledged");
    assert_eq!(out["acknowledged_by"], "token:test-admin");
    assert!(out["acknowledged_at"].is_string());
    assert_eq!(out["meter_serial"], "E900001");
    assert_eq!(out["site_id"], f.site.as_str());
    // Twice: 409, saying who was first.
    let (status, out) = post(
        &api,
        &tech,
        &format!("/api/v1/alarms/{tamper}/acknowledge"),
        Some(json!({"note": "on my way"})),
    )
    .await;
    assert_eq!(status, 409, "{out}");
    let msg = out["message"].as_str().unwrap();
    assert!(
        msg.contains("already acknowledged by token:test-admin"),
        "{msg}"
    );

    // A role without operate_meters may not (and a read stays allowed).
    let (status, _) = post(
        &api,
        &cashier,
        &format!("/api/v1/alarms/{battery}/acknowledge"),
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = post(
        &api,
        &cashier,
        &format!("/api/v1/alarms/{battery}/resolve"),
        Some(json!({"note": "x"})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, one) = api
        .call_as(
            Some(&cashier),
            "GET",
            &format!("/api/v1/alarms/{battery}"),
            None,
        )
        .await;
    assert_eq!((status, one["state"].as_str()), (200, Some("open")));

    // Resolve: a note is required, and bounded.
    let resolve = format!("/api/v1/alarms/{tamper}/resolve");
    for bad in [
        json!({}),
        json!({"note": "   "}),
        json!({"note": "x".repeat(501)}),
    ] {
        let (status, out) = post(&api, &tech, &resolve, Some(bad)).await;
        assert_eq!(status, 422, "{out}");
    }
    let (status, out) = post(&api, &tech, &resolve, None).await;
    assert_eq!(status, 422, "{out}");
    let (status, out) = post(&api, &tech, &resolve, Some(json!({"nope": 1}))).await;
    assert_eq!(status, 422, "{out}");
    let (status, out) = post(
        &api,
        &tech,
        &resolve,
        Some(json!({"note": "seal replaced"})),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["state"], "resolved");
    assert_eq!(out["resolved_by"], "token:tech");
    assert_eq!(out["resolution_note"], "seal replaced");
    assert_eq!(out["acknowledged_by"], "token:test-admin");
    // Resolving again, or acknowledging a resolved alarm: 409.
    let (status, out) = post(&api, &admin, &resolve, Some(json!({"note": "again"}))).await;
    assert_eq!(status, 409);
    assert!(
        out["message"]
            .as_str()
            .unwrap()
            .contains("already resolved by token:tech")
    );
    let (status, _) = post(
        &api,
        &admin,
        &format!("/api/v1/alarms/{tamper}/acknowledge"),
        None,
    )
    .await;
    assert_eq!(status, 409);
    // Resolving one nobody acknowledged acknowledges it too.
    let (status, out) = post(
        &api,
        &tech,
        &format!("/api/v1/alarms/{battery}/resolve"),
        Some(json!({"note": "battery swapped"})),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["acknowledged_by"], "token:tech");

    // Unknown and malformed ids.
    let (status, _) = post(&api, &admin, "/api/v1/alarms/999999/acknowledge", None).await;
    assert_eq!(status, 404);
    let (status, _) = post(&api, &admin, "/api/v1/alarms/abc/acknowledge", None).await;
    assert_eq!(status, 422);

    // Site scope: another site's technician finds nothing; one of this
    // site may act.
    let other_site = api
        .created(
            "/api/v1/sites",
            json!({"organisation_id": f.org, "code": "HZ02", "name": "海珠", "city": "广州", "timezone": "Asia/Shanghai"}),
        )
        .await;
    let elsewhere = SiteScope::Only([other_site["id"].as_str().unwrap().parse().unwrap()].into());
    let here = SiteScope::Only([f.site.parse().unwrap()].into());
    let outsider = token(&api, "outsider", Role::Technician, &elsewhere).await;
    let insider = token(&api, "insider", Role::Technician, &here).await;
    let ack = format!("/api/v1/alarms/{comm}/acknowledge");
    let (status, _) = post(&api, &outsider, &ack, None).await;
    assert_eq!(status, 404);
    let (status, _) = api
        .call_as(
            Some(&outsider),
            "GET",
            &format!("/api/v1/alarms/{comm}"),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, out) = post(
        &api,
        &insider,
        &ack,
        Some(json!({"note": "checking the line"})),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["acknowledgement_note"], "checking the line");

    // Another organisation's admin does not see it at all.
    let other_org = api
        .db
        .store()
        .create_organisation(&yufu_domain::NewOrganisation {
            name: "别家物业".parse().unwrap(),
        })
        .await
        .unwrap();
    let (stranger, _) = yufu_server::access_api::issue_token(
        api.db.store(),
        other_org.id,
        "stranger",
        Role::Admin,
        &SiteScope::All,
        1,
        "test",
    )
    .await
    .unwrap();
    let (status, _) = api
        .call_as(
            Some(&stranger),
            "GET",
            &format!("/api/v1/alarms/{comm}"),
            None,
        )
        .await;
    assert_eq!(status, 404);

    // The audit log has each handling, with the alarm as its target.
    let (status, log) = api
        .call("GET", &format!("/api/v1/audit?target=alarm:{tamper}"), None)
        .await;
    assert_eq!(status, 200);
    let actions: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == 200)
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec![
            "POST /api/v1/alarms/{id}/resolve",
            "POST /api/v1/alarms/{id}/acknowledge"
        ]
    );
    api.stop().await;
}

async fn alarms_page(db: TestDb) {
    let api = TestServer::start(db).await;
    let f = api.fleet().await;
    let ids = raise(
        &api,
        &f,
        &["tamper", "comm_fault", "low_battery", "gas_leak"],
    )
    .await;
    let (tamper, comm, battery, gas) = (ids[0], ids[1], ids[2], ids[3]);
    let admin = api.admin_token.clone();
    let (status, _) = post(
        &api,
        &admin,
        &format!("/api/v1/alarms/{battery}/resolve"),
        Some(json!({"note": "battery swapped"})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = post(
        &api,
        &admin,
        &format!("/api/v1/alarms/{gas}/acknowledge"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let row = |id: i64| format!("data-alarm-id=\"{id}\"");

    // Default: open alarms (acknowledged included), newest first.
    let r = page(&api, "/alarms", &admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("data-testid=\"alarms-table\""));
    assert_eq!(rows(&r), 3);
    assert!(!r.body.contains(&row(battery)));
    let (g, t) = (
        r.body.find(&row(gas)).unwrap(),
        r.body.find(&row(tamper)).unwrap(),
    );
    assert!(g < t, "newest first");
    assert!(r.body.contains("E900001") && r.body.contains(&format!("/meters/{}", f.meter)));
    assert!(r.body.contains("Tampering"), "kinds are translated");
    // Acknowledge only where nobody has; resolve on every open one.
    assert_eq!(r.body.matches("data-testid=\"alarm-ack\"").count(), 2);
    assert_eq!(r.body.matches("data-testid=\"alarm-resolve\"").count(), 3);
    assert_eq!(r.body.matches("data-testid=\"alarm-note\"").count(), 3);
    assert!(r.body.contains("data-testid=\"alarm-filter\""));

    // The dashboard's link: critical only.
    let r = page(&api, "/alarms?severity=critical", &admin).await;
    assert_eq!(rows(&r), 2);
    assert!(r.body.contains(&row(gas)) && r.body.contains(&row(tamper)));
    assert!(!r.body.contains(&row(comm)));
    assert!(r.body.contains("<option value=\"critical\" selected>"));
    // By state.
    let r = page(&api, "/alarms?state=resolved", &admin).await;
    assert_eq!(rows(&r), 1);
    assert!(r.body.contains(&row(battery)) && r.body.contains("battery swapped"));
    let r = page(&api, "/alarms?state=acknowledged", &admin).await;
    assert_eq!(rows(&r), 1);
    assert!(r.body.contains(&row(gas)));
    let r = page(&api, "/alarms?state=new&severity=major", &admin).await;
    assert_eq!(rows(&r), 1);
    assert!(r.body.contains(&row(comm)));
    let r = page(&api, "/alarms?state=all&severity=minor", &admin).await;
    assert_eq!(rows(&r), 1);
    assert!(r.body.contains(&row(battery)));
    let r = page(
        &api,
        "/alarms?state=all&kind=comm_fault&serial=E900001",
        &admin,
    )
    .await;
    assert_eq!(rows(&r), 1);
    let r = page(&api, "/alarms?serial=NOPE", &admin).await;
    assert_eq!(rows(&r), 0);
    assert!(r.body.contains("data-testid=\"alarms-empty\""));
    // In Chinese.
    let r = page(&api, "/alarms?lang=zh", &admin).await;
    assert!(r.body.contains("窃电/破坏") && r.body.contains("确认告警"));
    // A filter the page does not know: 400.
    assert_eq!(
        page(&api, "/alarms?severity=huge", &admin).await.status,
        400
    );

    // An auditor reads but gets no buttons.
    let auditor = token(&api, "auditor", Role::Auditor, &SiteScope::All).await;
    let r = page(&api, "/alarms", &auditor).await;
    assert_eq!((r.status, rows(&r)), (200, 3));
    assert!(!r.body.contains("alarm-ack") && !r.body.contains("alarm-resolve"));
    // Scoped staff see their sites' alarms only.
    let other_site = api
        .created(
            "/api/v1/sites",
            json!({"organisation_id": f.org, "code": "HZ02", "name": "海珠", "city": "广州", "timezone": "Asia/Shanghai"}),
        )
        .await;
    let elsewhere = SiteScope::Only([other_site["id"].as_str().unwrap().parse().unwrap()].into());
    let outsider = token(&api, "outsider", Role::Technician, &elsewhere).await;
    let r = page(&api, "/alarms", &outsider).await;
    assert_eq!((r.status, rows(&r)), (200, 0));
    let insider = token(
        &api,
        "insider",
        Role::Technician,
        &SiteScope::Only([f.site.parse().unwrap()].into()),
    )
    .await;
    assert_eq!(rows(&page(&api, "/alarms", &insider).await), 3);

    // Paging: 50 a page, newest first, with a link to the next.
    raise(&api, &f, &["low_battery"; 52]).await;
    let r = page(&api, "/alarms?severity=minor", &admin).await;
    assert_eq!(rows(&r), 50);
    let next = r
        .body
        .split("data-testid=\"alarms-next\"")
        .next()
        .and_then(|s| s.rsplit("href=\"").next())
        .and_then(|s| s.split('"').next())
        .unwrap()
        .replace("&amp;", "&")
        .replace("&#38;", "&");
    assert!(
        next.starts_with("/alarms?state=open&severity=minor&before="),
        "{next}"
    );
    let r = page(&api, &next, &admin).await;
    assert_eq!(rows(&r), 2);
    assert!(!r.body.contains("alarms-next"));
    api.stop().await;
}

async fn users_and_audit_pages(db: TestDb) {
    let api = TestServer::start(db).await;
    let f = api.fleet().await;
    let admin = api.admin_token.clone();
    let cashier = token(&api, "cashier", Role::Cashier, &SiteScope::All).await;
    let auditor = token(&api, "auditor", Role::Auditor, &SiteScope::All).await;
    let scoped_admin = token(
        &api,
        "scoped-admin",
        Role::Admin,
        &SiteScope::Only([f.site.parse().unwrap()].into()),
    )
    .await;
    let (status, out) = api
        .call(
            "POST",
            "/api/v1/users",
            Some(
                json!({"username": "li.ming", "display_name": "李明", "role": "technician",
                "password": "a-long-enough-password", "sites": [f.site]}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{out}");

    // Users: for those who manage users only.
    assert_eq!(page(&api, "/users", &cashier).await.status, 403);
    assert_eq!(page(&api, "/users", &auditor).await.status, 403);
    let r = page(&api, "/users?created=li.ming", &admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    for id in [
        "users-table",
        "user-row",
        "user-create",
        "user-password",
        "user-created",
        "role-permissions",
        "tokens-table",
        "token-revoke",
    ] {
        assert!(r.body.contains(&format!("data-testid=\"{id}\"")), "{id}");
    }
    let li = r
        .body
        .split("data-username=\"li.ming\"")
        .nth(1)
        .and_then(|s| s.split("</tr>").next())
        .unwrap();
    assert!(li.contains("Technician") && li.contains("李明"));
    assert!(li.contains("天河花园"), "the scope shows site names");
    assert!(r.body.contains("test-admin") && r.body.contains("scoped-admin"));
    assert!(
        r.headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("cache-control") && v == "no-store")
    );
    // A generated password of 16 characters is offered.
    let pw = r
        .body
        .split("name=\"password\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap();
    assert_eq!(pw.len(), 16);
    // The permission table: one row per permission.
    assert_eq!(
        r.body
            .split("data-testid=\"role-permissions\"")
            .nth(1)
            .unwrap()
            .split("</table>")
            .next()
            .unwrap()
            .matches("<tr>")
            .count(),
        1 + yufu_access::Permission::ALL.len()
    );
    let r = page(&api, "/users", &scoped_admin).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("data-testid=\"users-scoped\"") && !r.body.contains("user-create"));

    // Audit: an acknowledgement shows, with its target.
    let ids = raise(&api, &f, &["tamper"]).await;
    let (status, _) = post(
        &api,
        &admin,
        &format!("/api/v1/alarms/{}/acknowledge", ids[0]),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(page(&api, "/audit", &cashier).await.status, 403);
    let r = page(&api, "/audit?action=acknowledge", &auditor).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("data-testid=\"audit-table\""));
    assert_eq!(r.body.matches("data-testid=\"audit-row\"").count(), 1);
    assert!(r.body.contains("POST /api/v1/alarms/{id}/acknowledge"));
    assert!(r.body.contains(&format!("alarm:{}", ids[0])));
    assert!(r.body.contains("token:test-admin"));
    let r = page(&api, "/audit?actor=token:test-admin&target=user:", &auditor).await;
    assert_eq!(r.body.matches("data-testid=\"audit-row\"").count(), 1);
    assert!(r.body.contains("POST /api/v1/users"));
    let r = page(&api, "/audit?actor=nobody", &auditor).await;
    assert!(r.body.contains("data-testid=\"audit-empty\""));
    let r = page(&api, "/audit?verify=1", &auditor).await;
    assert!(
        r.body
            .contains("data-testid=\"audit-verify-result\" data-intact=\"true\"")
    );
    let r = page(&api, "/audit", &scoped_admin).await;
    assert!(r.body.contains("data-testid=\"audit-scoped\"") && !r.body.contains("audit-row"));
    assert_eq!(
        page(&api, "/audit?from=yesterday", &auditor).await.status,
        400
    );
    api.stop().await;
}

#[tokio::test]
async fn alarms_are_acknowledged_and_resolved_through_the_api_sqlite() {
    handling(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn alarms_are_acknowledged_and_resolved_through_the_api_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    handling(db).await;
}

#[tokio::test]
async fn alarms_page_filters_by_severity_state_and_scope_sqlite() {
    alarms_page(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn alarms_page_filters_by_severity_state_and_scope_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    alarms_page(db).await;
}

#[tokio::test]
async fn users_and_audit_pages_sqlite() {
    users_and_audit_pages(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn users_and_audit_pages_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    users_and_audit_pages(db).await;
}
