//! Refunds and reversals over real sockets: asked for by one person,
//! approved by another (never by the one who asked, never by a role without
//! the permission), posted once as a ledger entry, never beyond the balance
//! (a refund) or the recharge (a reversal).
#![allow(clippy::unwrap_used)]

mod common;

use common::TestServer;
use serde_json::{Value, json};
use yufu_access::SiteScope;
use yufu_domain::Role;
use yufu_store_contract::TestDb;

/// An account with a billed electricity meter (the engine knows it).
async fn billed_account(api: &TestServer) -> String {
    let f = api.fleet().await;
    api.bill(&f).await;
    f.account
}

async fn token(api: &TestServer, role: Role, name: &str) -> String {
    yufu_server::access_api::issue_token(
        api.db.shared().as_ref(),
        api.org,
        name,
        role,
        &SiteScope::All,
        1,
        "test",
    )
    .await
    .unwrap()
    .0
}

async fn recharge(api: &TestServer, account: &str, key: &str, fen: i64) {
    let r = api
        .raw(
            "POST",
            &format!("/api/v1/accounts/{account}/recharges"),
            &[("Idempotency-Key", key)],
            Some(json!({"amount_fen": fen, "channel": "counter", "reference": key}).to_string()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

async fn balance(api: &TestServer, account: &str) -> i64 {
    let (status, b) = api
        .call("GET", &format!("/api/v1/accounts/{account}/balance"), None)
        .await;
    assert_eq!(status, 200, "{b}");
    b["balance_fen"].as_i64().unwrap()
}

/// Every entry of the account, newest first; checks they add up to the balance.
async fn ledger(api: &TestServer, account: &str) -> Vec<Value> {
    let (status, page) = api
        .call(
            "GET",
            &format!("/api/v1/accounts/{account}/ledger?limit=500"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    let entries = page["entries"].as_array().unwrap().clone();
    let sum: i64 = entries
        .iter()
        .map(|e| e["amount_fen"].as_i64().unwrap())
        .sum();
    assert_eq!(sum, balance(api, account).await, "balance = sum of entries");
    entries
}

async fn ask(api: &TestServer, who: &str, account: &str, body: Value) -> (u16, Value) {
    api.call_as(
        Some(who),
        "POST",
        &format!("/api/v1/accounts/{account}/refunds"),
        Some(body),
    )
    .await
}

async fn decide(api: &TestServer, who: &str, id: &str, verb: &str, body: Value) -> (u16, Value) {
    api.call_as(
        Some(who),
        "POST",
        &format!("/api/v1/refunds/{id}/{verb}"),
        Some(body),
    )
    .await
}

async fn list(api: &TestServer, who: &str, query: &str) -> (u16, Value) {
    api.call_as(Some(who), "GET", &format!("/api/v1/refunds{query}"), None)
        .await
}

fn ids(listing: &Value) -> Vec<String> {
    listing["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn refunds_need_a_second_person(db: TestDb) {
    let api = TestServer::start(db).await;
    let account = billed_account(&api).await;
    recharge(&api, &account, "pay-1", 10_000).await;
    let cashier = token(&api, Role::Cashier, "test-cashier").await;
    let finance = token(&api, Role::Finance, "test-finance").await;
    let manager = token(&api, Role::Manager, "test-manager").await;
    let auditor = token(&api, Role::Auditor, "test-auditor").await;

    // A cashier asks; nothing moves yet.
    let (status, asked) = ask(
        &api,
        &cashier,
        &account,
        json!({"kind": "refund", "amount_fen": 3_000, "reason": "customer moves out"}),
    )
    .await;
    assert_eq!(status, 201, "{asked}");
    assert_eq!(asked["status"], "pending");
    assert_eq!(asked["amount_fen"], 3_000);
    assert!(
        asked["requested_by"]
            .as_str()
            .unwrap()
            .starts_with("token:")
    );
    let first = asked["id"].as_str().unwrap().to_owned();
    assert_eq!(balance(&api, &account).await, 10_000);
    // The cashier may not approve at all (the role lacks the permission).
    let (status, _) = decide(&api, &cashier, &first, "approve", json!({})).await;
    assert_eq!(status, 403);
    let (status, _) = decide(&api, &cashier, &first, "reject", json!({"note": "no"})).await;
    assert_eq!(status, 403);
    // A finance user may approve, but not what they asked for themselves.
    let (status, own) = ask(
        &api,
        &finance,
        &account,
        json!({"kind": "refund", "amount_fen": 1_000, "reason": "overpaid"}),
    )
    .await;
    assert_eq!(status, 201, "{own}");
    let own = own["id"].as_str().unwrap().to_owned();
    let (status, refused) = decide(&api, &finance, &own, "approve", json!({})).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (409, Some("conflict")),
        "{refused}"
    );
    let (status, _) = decide(&api, &finance, &own, "reject", json!({"note": "oops"})).await;
    assert_eq!(status, 409);
    assert_eq!(balance(&api, &account).await, 10_000);

    // A manager approves the cashier's: the balance drops by exactly the
    // amount, and the ledger shows one refund entry.
    let (status, approved) = decide(
        &api,
        &manager,
        &first,
        "approve",
        json!({"note": "checked the receipt"}),
    )
    .await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["request"]["status"], "approved");
    assert_eq!(
        approved["request"]["decided_by"]
            .as_str()
            .map(|s| s.starts_with("token:")),
        Some(true)
    );
    assert_eq!(approved["entry"]["kind"], "refund");
    assert_eq!(approved["entry"]["amount_fen"], -3_000);
    assert_eq!(approved["entry"]["balance_after_fen"], 7_000);
    let key = format!("refund:{first}");
    assert_eq!(approved["entry"]["idempotency_key"], key.as_str());
    assert_eq!(balance(&api, &account).await, 7_000);
    let refunds = |entries: &[Value]| {
        entries
            .iter()
            .filter(|e| e["kind"] == "refund")
            .cloned()
            .collect::<Vec<_>>()
    };
    let entries = ledger(&api, &account).await;
    let posted = refunds(&entries);
    assert_eq!(posted.len(), 1, "{entries:?}");
    assert_eq!(posted[0]["amount_fen"], -3_000);
    assert_eq!(posted[0]["idempotency_key"], key.as_str());

    // Approving again: 409, and no second entry.
    let (status, _) = decide(&api, &manager, &first, "approve", json!({})).await;
    assert_eq!(status, 409);
    let (status, _) = decide(&api, &finance, &first, "approve", json!({})).await;
    assert_eq!(status, 409);
    let (status, _) = decide(&api, &manager, &first, "reject", json!({"note": "late"})).await;
    assert_eq!(status, 409);
    assert_eq!(refunds(&ledger(&api, &account).await).len(), 1);
    assert_eq!(balance(&api, &account).await, 7_000);

    // Finance, auditors and managers read the list; filters work.
    let (status, approved_list) = list(&api, &auditor, "?status=approved").await;
    assert_eq!(status, 200, "{approved_list}");
    assert_eq!(ids(&approved_list), vec![first.clone()]);
    let (_, pending) = list(&api, &finance, "?status=pending&limit=10").await;
    assert_eq!(ids(&pending), vec![own.clone()]);
    let (_, all) = list(
        &api,
        &manager,
        &format!("?organisation_id={}&limit=1", api.org),
    )
    .await;
    assert_eq!(ids(&all), vec![first.clone()]);
    let (_, rest) = list(
        &api,
        &manager,
        &format!("?after={}", all["next_after"].as_str().unwrap()),
    )
    .await;
    assert_eq!(ids(&rest), vec![own.clone()]);
    assert_eq!(list(&api, &auditor, "?status=maybe").await.0, 400);
    assert_eq!(
        list(
            &api,
            &auditor,
            "?organisation_id=00000000-0000-7000-8000-000000000000"
        )
        .await
        .0,
        404
    );
    assert_eq!(list(&api, &cashier, "").await.0, 403);

    // The manager rejects the finance user's request: nothing is posted.
    let (status, _) = decide(&api, &manager, &own, "reject", json!({})).await;
    assert_eq!(status, 422, "a rejection needs a note");
    let (status, rejected) = decide(
        &api,
        &manager,
        &own,
        "reject",
        json!({"note": "not overpaid"}),
    )
    .await;
    assert_eq!(status, 200, "{rejected}");
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(rejected["note"], "not overpaid");
    let (status, _) = decide(&api, &manager, &own, "approve", json!({})).await;
    assert_eq!(status, 409);
    assert_eq!(balance(&api, &account).await, 7_000);

    // Unknown ids.
    let nobody = "00000000-0000-7000-8000-000000000000";
    assert_eq!(
        decide(&api, &manager, nobody, "approve", json!({})).await.0,
        404
    );
    assert_eq!(
        decide(&api, &manager, nobody, "reject", json!({"note": "x"}))
            .await
            .0,
        404
    );

    // Beyond the balance: refused when asked…
    let (status, out) = ask(
        &api,
        &cashier,
        &account,
        json!({"kind": "refund", "amount_fen": 7_001, "reason": "too much"}),
    )
    .await;
    assert_eq!(status, 422, "{out}");
    // …and when approved, if the balance went down meanwhile: 422, and the
    // request stays pending.
    let (_, a) = ask(
        &api,
        &cashier,
        &account,
        json!({"kind": "refund", "amount_fen": 5_000, "reason": "part one"}),
    )
    .await;
    let (_, b) = ask(
        &api,
        &cashier,
        &account,
        json!({"kind": "refund", "amount_fen": 4_000, "reason": "part two"}),
    )
    .await;
    let (a, b) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    assert_eq!(decide(&api, &manager, a, "approve", json!({})).await.0, 200);
    assert_eq!(balance(&api, &account).await, 2_000);
    let (status, out) = decide(&api, &manager, b, "approve", json!({})).await;
    assert_eq!(
        (status, out["code"].as_str()),
        (422, Some("invalid")),
        "{out}"
    );
    assert!(
        out["message"].as_str().unwrap().contains("below zero"),
        "{out}"
    );
    assert_eq!(balance(&api, &account).await, 2_000);
    let (_, pending) = list(&api, &manager, "?status=pending").await;
    assert_eq!(ids(&pending), vec![b.to_owned()]);
    assert_eq!(refunds(&ledger(&api, &account).await).len(), 2);

    // Reversals name a recharge of this account and never exceed it.
    recharge(&api, &account, "pay-2", 1_500).await;
    for (body, why) in [
        (
            json!({"kind": "reversal", "amount_fen": 1_600, "reason": "wrong account", "reverses": "pay-2"}),
            "more than the recharge",
        ),
        (
            json!({"kind": "reversal", "amount_fen": 100, "reason": "wrong account", "reverses": "pay-404"}),
            "no such recharge",
        ),
        (
            json!({"kind": "reversal", "amount_fen": 100, "reason": "wrong account"}),
            "no recharge named",
        ),
        (
            json!({"kind": "refund", "amount_fen": 100, "reason": "x", "reverses": "pay-2"}),
            "a refund names no recharge",
        ),
        (
            json!({"kind": "gift", "amount_fen": 100, "reason": "x"}),
            "unknown kind",
        ),
        (
            json!({"kind": "refund", "amount_fen": 0, "reason": "x"}),
            "zero",
        ),
        (
            json!({"kind": "refund", "amount_fen": 100, "reason": "  "}),
            "no reason",
        ),
    ] {
        let (status, out) = ask(&api, &cashier, &account, body).await;
        assert_eq!(status, 422, "{why}: {out}");
    }
    let (status, rev) = ask(
        &api,
        &cashier,
        &account,
        json!({"kind": "reversal", "amount_fen": 1_000, "reason": "credited to the wrong account", "reverses": "pay-2"}),
    )
    .await;
    assert_eq!(status, 201, "{rev}");
    assert_eq!(rev["reverses"], "pay-2");
    // What is left of the recharge is 500 fen.
    let (status, out) = ask(
        &api,
        &cashier,
        &account,
        json!({"kind": "reversal", "amount_fen": 600, "reason": "again", "reverses": "pay-2"}),
    )
    .await;
    assert_eq!(status, 422, "{out}");
    let (status, out) = decide(
        &api,
        &finance,
        rev["id"].as_str().unwrap(),
        "approve",
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["entry"]["kind"], "adjustment");
    assert_eq!(out["entry"]["amount_fen"], -1_000);
    assert_eq!(balance(&api, &account).await, 2_500);
    let entries = ledger(&api, &account).await;
    assert_eq!(
        entries.iter().filter(|e| e["kind"] == "adjustment").count(),
        1
    );

    // Every decision is in the audit log, with the request before and after.
    let (status, rows) = api
        .call(
            "GET",
            &format!("/api/v1/audit?target=refund:{first}&limit=50"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{rows}");
    let rows = rows.as_array().unwrap();
    assert!(
        rows.iter().any(
            |r| r["action"].as_str().is_some_and(|a| a.contains("/approve"))
                && r["after"].to_string().contains("approved")
        ),
        "{rows:?}"
    );
    api.stop().await;
}

#[tokio::test]
async fn refunds_need_a_second_person_and_post_once_sqlite() {
    refunds_need_a_second_person(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn refunds_need_a_second_person_and_post_once_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    refunds_need_a_second_person(db).await;
}
