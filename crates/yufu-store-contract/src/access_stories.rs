//! Contract stories for [`yufu_store::Access`]: sessions, API tokens, staff
//! users, customer logins, the audit chain, payments, refunds and webhooks.
//! Each is an `async fn(&TestDb)` registered in `tests/contract.rs`, so it
//! runs on SQLite and on PostgreSQL alike.

use yufu_access::audit::{AuditEntry, NewAuditEntry, verify_chain};
use yufu_domain::*;
use yufu_store::access::{
    ApiTokenRow, AuditFilter, DeliveryRow, PaymentRejection, PaymentRow, RefundRequest,
    SessionKind, SessionRow, WebhookRow,
};
use yufu_store::{Page, Store, StoreError};

use crate::TestDb;

fn name(s: &str) -> Name {
    s.parse().unwrap()
}

async fn org(store: &dyn Store, n: &str) -> Organisation {
    store
        .create_organisation(&NewOrganisation { name: name(n) })
        .await
        .unwrap()
}

async fn customer(store: &dyn Store, org: OrganisationId) -> Customer {
    let new = NewCustomer::new(
        org,
        CustomerKind::Person,
        "陈小明",
        Some("13800138000"),
        None,
        None,
    )
    .unwrap();
    store.create_customer(&new).await.unwrap()
}

async fn account(store: &dyn Store, org: OrganisationId, customer: CustomerId, n: &str) -> Account {
    store
        .create_account(&NewAccount {
            organisation_id: org,
            number: n.parse().unwrap(),
            customer_id: customer,
            class: CustomerClass::Residential,
        })
        .await
        .unwrap()
}

async fn staff(store: &dyn Store, org: OrganisationId, username: &str) -> StaffUser {
    store
        .create_staff_user(&NewStaffUser {
            organisation_id: org,
            username: username.parse().unwrap(),
            display_name: name("值班员"),
            role: Role::Cashier,
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        })
        .await
        .unwrap()
}

/// Asserts `r` is `NotFound` for `entity`.
fn not_found<T: std::fmt::Debug>(r: Result<T, StoreError>, entity: &str) {
    match r {
        Err(StoreError::NotFound { entity: e, .. }) => assert_eq!(e, entity),
        other => panic!("expected {entity} not found, got {other:?}"),
    }
}

pub async fn sessions_live_until_revoked_or_expired(db: &TestDb) {
    let store = db.shared();
    let access = store.access();
    let o = org(store.as_ref(), "Sessions").await;
    let p = org(store.as_ref(), "Elsewhere").await;
    let u = staff(store.as_ref(), o.id, "clerk").await;
    let c = customer(store.as_ref(), o.id).await;
    let session = |n: u32, kind: SessionKind, subject: &str, org: OrganisationId| SessionRow {
        id: format!("ses-{n}"),
        token_hash: format!("hash-{n}"),
        kind,
        subject_id: subject.to_owned(),
        organisation_id: org,
        csrf_token: format!("csrf-{n}"),
        ip: "203.0.113.7".into(),
        user_agent: "Mozilla/5.0 (浏览器)".into(),
        created_at_ms: 100 + i64::from(n),
        last_seen_at_ms: 100 + i64::from(n),
        expires_at_ms: 10_000,
        revoked_at_ms: None,
    };
    let staff_id = u.id.to_string();
    let customer_id = c.id.to_string();
    let s1 = session(1, SessionKind::Staff, &staff_id, o.id);
    let s2 = session(2, SessionKind::Customer, &customer_id, o.id);
    let s3 = SessionRow {
        expires_at_ms: 999,
        ..session(3, SessionKind::Staff, &staff_id, o.id)
    };
    let s4 = SessionRow {
        revoked_at_ms: Some(50),
        ..session(4, SessionKind::Staff, &staff_id, o.id)
    };
    let s5 = session(5, SessionKind::Staff, &staff_id, p.id);
    let s6 = session(6, SessionKind::Customer, &customer_id, o.id);
    for s in [&s1, &s2, &s3, &s4, &s5, &s6] {
        access.create_session(s).await.unwrap();
    }

    assert_eq!(
        access.find_session("hash-1").await.unwrap(),
        Some(s1.clone())
    );
    assert_eq!(
        access.find_session("hash-2").await.unwrap().unwrap().kind,
        SessionKind::Customer
    );
    assert_eq!(
        access.find_session("ses-1").await.unwrap(),
        None,
        "by hash, not id"
    );
    assert_eq!(access.find_session("nope").await.unwrap(), None);

    // Touching only moves last_seen forward, and only of that session.
    access.touch_session("ses-1", 300).await.unwrap();
    access.touch_session("ses-1", 200).await.unwrap();
    access.touch_session("ses-unknown", 400).await.unwrap();
    let s1 = SessionRow {
        last_seen_at_ms: 300,
        ..s1
    };
    assert_eq!(
        access.find_session("hash-1").await.unwrap(),
        Some(s1.clone())
    );
    assert_eq!(
        access.find_session("hash-2").await.unwrap(),
        Some(s2.clone()),
        "another session is untouched"
    );

    // Live only: not expired (s3), not revoked (s4), not another organisation's (s5); newest first.
    assert_eq!(
        access.list_sessions(o.id, 1_000).await.unwrap(),
        vec![s6.clone(), s2.clone(), s1.clone()]
    );
    assert_eq!(
        access.list_sessions(o.id, 500).await.unwrap().len(),
        4,
        "s3 is still live before it expires"
    );
    assert!(
        access.list_sessions(o.id, 10_000).await.unwrap().is_empty(),
        "all expired at their end"
    );
    assert_eq!(
        access.list_sessions(p.id, 1_000).await.unwrap(),
        vec![s5.clone()]
    );

    // Revoking: true once, then false, and the first time stays.
    assert!(access.revoke_session("ses-1", 400).await.unwrap());
    assert!(!access.revoke_session("ses-1", 450).await.unwrap());
    assert!(
        !access.revoke_session("ses-4", 450).await.unwrap(),
        "already revoked"
    );
    assert!(!access.revoke_session("ses-unknown", 450).await.unwrap());
    assert_eq!(
        access
            .find_session("hash-1")
            .await
            .unwrap()
            .unwrap()
            .revoked_at_ms,
        Some(400)
    );
    assert_eq!(
        access
            .find_session("hash-4")
            .await
            .unwrap()
            .unwrap()
            .revoked_at_ms,
        Some(50)
    );
    assert_eq!(
        access.list_sessions(o.id, 1_000).await.unwrap(),
        vec![s6.clone(), s2.clone()]
    );

    // Every session of one subject, once; others keep theirs.
    assert_eq!(
        access.revoke_sessions_of(&customer_id, 600).await.unwrap(),
        2
    );
    assert_eq!(
        access.revoke_sessions_of(&customer_id, 700).await.unwrap(),
        0
    );
    assert_eq!(
        access
            .find_session("hash-6")
            .await
            .unwrap()
            .unwrap()
            .revoked_at_ms,
        Some(600)
    );
    assert!(access.list_sessions(o.id, 1_000).await.unwrap().is_empty());
    // The staff user's remaining unrevoked sessions: s3 (expired) and s5 (other organisation).
    assert_eq!(access.revoke_sessions_of(&staff_id, 800).await.unwrap(), 2);
    assert!(access.list_sessions(p.id, 1_000).await.unwrap().is_empty());
    assert_eq!(
        access
            .find_session("hash-1")
            .await
            .unwrap()
            .unwrap()
            .revoked_at_ms,
        Some(400),
        "an earlier revocation is kept"
    );
}

pub async fn api_tokens_are_unique_and_revocable(db: &TestDb) {
    let store = db.shared();
    let access = store.access();
    let o = org(store.as_ref(), "Tokens").await;
    let p = org(store.as_ref(), "Elsewhere").await;
    let token = |id: &str, hash: &str, org: OrganisationId, role: Role| ApiTokenRow {
        id: id.into(),
        token_hash: hash.into(),
        name: format!("集成 {id}"),
        organisation_id: org,
        role,
        site_scope: None,
        created_by: "user:admin".into(),
        created_at_ms: 10,
        expires_at_ms: 1_000_000,
        revoked_at_ms: None,
        last_used_at_ms: None,
    };
    let t2 = token("tok-2", "h2", o.id, Role::Admin);
    let t1 = ApiTokenRow {
        site_scope: Some("site-a site-b".into()),
        ..token("tok-1", "h1", o.id, Role::Finance)
    };
    let t3 = token("tok-3", "h3", p.id, Role::Auditor);
    for t in [&t2, &t1, &t3] {
        access.create_api_token(t).await.unwrap();
    }
    assert_eq!(access.find_api_token("h1").await.unwrap(), Some(t1.clone()));
    assert_eq!(access.find_api_token("h2").await.unwrap(), Some(t2.clone()));
    assert_eq!(
        access.find_api_token("tok-1").await.unwrap(),
        None,
        "by hash, not id"
    );
    assert_eq!(access.find_api_token("zz").await.unwrap(), None);

    let dup = access
        .create_api_token(&token("tok-9", "h1", o.id, Role::Admin))
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    let dup_id = access
        .create_api_token(&token("tok-1", "h9", o.id, Role::Admin))
        .await;
    assert!(matches!(dup_id, Err(StoreError::Conflict(_))), "{dup_id:?}");
    let orphan = access
        .create_api_token(&token("tok-8", "h8", OrganisationId::new(), Role::Admin))
        .await;
    assert!(
        matches!(orphan, Err(StoreError::Reference(_))),
        "{orphan:?}"
    );
    assert_eq!(
        access.list_api_tokens(o.id).await.unwrap(),
        vec![t1.clone(), t2.clone()],
        "by id, only this organisation's, nothing refused landed"
    );
    assert_eq!(access.list_api_tokens(p.id).await.unwrap(), vec![t3]);

    // Use is recorded at most once a minute and never moves back.
    let last_used = move || async move {
        access
            .find_api_token("h1")
            .await
            .unwrap()
            .unwrap()
            .last_used_at_ms
    };
    access.touch_api_token("tok-1", 100_000).await.unwrap();
    assert_eq!(last_used().await, Some(100_000));
    access.touch_api_token("tok-1", 130_000).await.unwrap();
    assert_eq!(last_used().await, Some(100_000), "within the minute");
    access.touch_api_token("tok-1", 50_000).await.unwrap();
    assert_eq!(last_used().await, Some(100_000), "never backwards");
    access.touch_api_token("tok-1", 170_000).await.unwrap();
    assert_eq!(last_used().await, Some(170_000));
    assert_eq!(
        access
            .find_api_token("h2")
            .await
            .unwrap()
            .unwrap()
            .last_used_at_ms,
        None,
        "another token is untouched"
    );

    assert!(access.revoke_api_token("tok-1", 200_000).await.unwrap());
    assert!(!access.revoke_api_token("tok-1", 300_000).await.unwrap());
    assert!(
        !access
            .revoke_api_token("tok-unknown", 300_000)
            .await
            .unwrap()
    );
    let revoked = access.find_api_token("h1").await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at_ms, Some(200_000));
    assert_eq!(
        access.list_api_tokens(o.id).await.unwrap(),
        vec![revoked, t2],
        "a revoked token is still listed, as revoked"
    );
}

pub async fn staff_users_page_and_update_role_and_scope(db: &TestDb) {
    let store = db.shared();
    let access = store.access();
    let o = org(store.as_ref(), "Staff").await;
    let p = org(store.as_ref(), "Elsewhere").await;
    let mut created = Vec::new();
    for n in ["ann", "ben", "cai", "dai", "eve"] {
        created.push(staff(store.as_ref(), o.id, n).await);
    }
    let outsider = staff(store.as_ref(), p.id, "zed").await;

    assert_eq!(
        access.get_staff_user(created[1].id).await.unwrap(),
        created[1]
    );
    not_found(
        access.get_staff_user(StaffUserId::new()).await,
        "staff user",
    );

    let mut seen = Vec::new();
    let mut page = Page::first(2);
    loop {
        let rows = access.list_staff_users(o.id, &page).await.unwrap();
        assert!(rows.len() <= 2, "{}", rows.len());
        let Some(last) = rows.last() else { break };
        page = Page::after(last.id, 2);
        seen.extend(rows);
    }
    assert_eq!(
        seen, created,
        "every user once, in creation order, none of another organisation"
    );
    assert_eq!(
        access
            .list_staff_users(p.id, &Page::default())
            .await
            .unwrap(),
        vec![outsider.clone()]
    );

    let u = &created[2];
    assert_eq!(
        access.staff_site_scope(u.id).await.unwrap(),
        None,
        "every site by default"
    );
    access
        .update_staff_user(u.id, Role::Technician, false, Some("site-a site-b"))
        .await
        .unwrap();
    assert_eq!(
        access.get_staff_user(u.id).await.unwrap(),
        StaffUser {
            role: Role::Technician,
            active: false,
            ..u.clone()
        }
    );
    assert_eq!(
        access.staff_site_scope(u.id).await.unwrap().as_deref(),
        Some("site-a site-b")
    );
    assert_eq!(
        access.get_staff_user(created[3].id).await.unwrap(),
        created[3],
        "another user is untouched"
    );
    assert_eq!(access.staff_site_scope(created[3].id).await.unwrap(), None);

    access
        .update_staff_user(u.id, Role::Manager, true, None)
        .await
        .unwrap();
    assert_eq!(
        access.get_staff_user(u.id).await.unwrap(),
        StaffUser {
            role: Role::Manager,
            ..u.clone()
        }
    );
    assert_eq!(access.staff_site_scope(u.id).await.unwrap(), None);

    not_found(
        access
            .update_staff_user(StaffUserId::new(), Role::Admin, true, None)
            .await,
        "staff user",
    );
    not_found(
        access.staff_site_scope(StaffUserId::new()).await,
        "staff user",
    );
}

pub async fn customer_logins_upsert_and_accounts_resolve(db: &TestDb) {
    let store = db.shared();
    let access = store.access();
    let o = org(store.as_ref(), "Portal").await;
    let p = org(store.as_ref(), "Elsewhere").await;
    let c = customer(store.as_ref(), o.id).await;
    let d = customer(store.as_ref(), p.id).await;
    let a1 = account(store.as_ref(), o.id, c.id, "GZ0001").await;
    let a2 = account(store.as_ref(), o.id, c.id, "GZ0002").await;
    let b1 = account(store.as_ref(), p.id, d.id, "GZ0001").await;

    assert_eq!(access.customer_password(a1.id).await.unwrap(), None);
    access
        .set_customer_password(a1.id, "$argon2id$one", 10)
        .await
        .unwrap();
    assert_eq!(
        access.customer_password(a1.id).await.unwrap().as_deref(),
        Some("$argon2id$one")
    );
    access
        .set_customer_password(a1.id, "$argon2id$two", 20)
        .await
        .unwrap();
    assert_eq!(
        access.customer_password(a1.id).await.unwrap().as_deref(),
        Some("$argon2id$two")
    );
    assert_eq!(
        db.count_rows("customer_logins").await,
        1,
        "one login per account"
    );
    assert_eq!(access.customer_password(a2.id).await.unwrap(), None);
    let orphan = access
        .set_customer_password(AccountId::new(), "$argon2id$x", 30)
        .await;
    assert!(
        matches!(orphan, Err(StoreError::Reference(_))),
        "{orphan:?}"
    );
    assert_eq!(db.count_rows("customer_logins").await, 1);

    let by_id = |mut v: Vec<Account>| {
        v.sort_by_key(|a| a.id);
        v
    };
    let mut both = vec![a1.clone(), b1.clone()];
    both.sort_by_key(|a| a.id);
    assert_eq!(
        by_id(access.accounts_by_number("GZ0001").await.unwrap()),
        both
    );
    assert_eq!(
        access.accounts_by_number("GZ0002").await.unwrap(),
        vec![a2.clone()]
    );
    assert!(
        access
            .accounts_by_number("GZ9999")
            .await
            .unwrap()
            .is_empty()
    );

    assert_eq!(
        access.accounts_of_customer(c.id).await.unwrap(),
        vec![a1, a2],
        "by id"
    );
    assert_eq!(access.accounts_of_customer(d.id).await.unwrap(), vec![b1]);
    assert!(
        access
            .accounts_of_customer(CustomerId::new())
            .await
            .unwrap()
            .is_empty()
    );
}

fn audit_row(at_ms: i64, actor: &str, action: &str, target: &str) -> NewAuditEntry {
    NewAuditEntry {
        at_ms,
        actor: actor.into(),
        source: "198.51.100.4".into(),
        action: action.into(),
        target: target.into(),
        before: None,
        after: None,
        status: 200,
    }
}

/// Chains `rows` after `head` as the audit writer would.
fn chained(head: Option<(i64, String)>, rows: Vec<NewAuditEntry>) -> Vec<AuditEntry> {
    let mut prev = head;
    rows.into_iter()
        .map(|n| {
            let e = n.chain(prev.as_ref().map(|(s, h)| (*s, h.as_str())));
            prev = Some((e.seq, e.hash.clone()));
            e
        })
        .collect()
}

pub async fn audit_chain_appends_pages_and_verifies(db: &TestDb) {
    let store = db.shared();
    let access = store.access();
    assert_eq!(access.audit_head().await.unwrap(), None);
    assert!(access.audit_after(0, 10).await.unwrap().is_empty());

    let first = chained(
        None,
        vec![
            NewAuditEntry {
                before: Some(r#"{"balance":"0.00","名":"甲"}"#.into()),
                after: Some(r#"{"balance":"50.00","名":"甲"}"#.into()),
                ..audit_row(
                    1_000,
                    "user:alice",
                    "POST /api/v1/accounts/{id}/recharges",
                    "account:A1",
                )
            },
            NewAuditEntry {
                status: 0,
                source: "cli".into(),
                ..audit_row(2_000, "cli:root", "audit verify", "audit")
            },
        ],
    );
    access.append_audit(&first).await.unwrap();
    let head = access.audit_head().await.unwrap();
    assert_eq!(head, Some((2, first[1].hash.clone())));
    let second = chained(
        head,
        vec![
            NewAuditEntry {
                before: Some(String::new()),
                ..audit_row(3_000, "user:bob", "PATCH /api/v1/meters/{id}", "meter:M1")
            },
            audit_row(
                4_000,
                "user:alice",
                "DELETE /api/v1/sessions/{id}",
                "session:S1",
            ),
            audit_row(5_000, "token:billing", "GET /api/v1/accounts", "account:A2"),
        ],
    );
    access.append_audit(&second).await.unwrap();
    let all: Vec<AuditEntry> = first.into_iter().chain(second).collect();
    assert_eq!(
        access.audit_head().await.unwrap(),
        Some((5, all[4].hash.clone()))
    );

    // Pages in seq order, each row exactly as written.
    let mut read = Vec::new();
    let mut after = 0;
    loop {
        let page = access.audit_after(after, 2).await.unwrap();
        assert!(page.len() <= 2, "{}", page.len());
        let Some(last) = page.last() else { break };
        after = last.seq;
        read.extend(page);
    }
    assert_eq!(read, all);
    assert_eq!(verify_chain(&read), Ok(5));
    assert_eq!(access.audit_after(3, 10).await.unwrap(), all[3..].to_vec());
    assert!(access.audit_after(5, 10).await.unwrap().is_empty());

    // A seq already written is a conflict, and nothing of that batch lands.
    let raced = chained(
        Some((1, all[0].hash.clone())),
        vec![audit_row(6_000, "user:eve", "POST /x", "x:1")],
    );
    let err = access.append_audit(&raced).await;
    assert!(matches!(err, Err(StoreError::Conflict(_))), "{err:?}");
    let mut batch = chained(
        Some((5, all[4].hash.clone())),
        vec![audit_row(6_000, "user:eve", "POST /y", "y:1")],
    );
    batch.push(raced[0].clone());
    let err = access.append_audit(&batch).await;
    assert!(matches!(err, Err(StoreError::Conflict(_))), "{err:?}");
    assert_eq!(
        access.audit_head().await.unwrap(),
        Some((5, all[4].hash.clone())),
        "the batch is one transaction"
    );
    assert_eq!(access.audit_after(0, 100).await.unwrap(), all);
}

pub async fn audit_search_filters_newest_first(db: &TestDb) {
    let store = db.shared();
    let access = store.access();
    let rows = chained(
        None,
        vec![
            audit_row(1_000, "user:alice", "POST /api/v1/accounts", "account:A1"), // 1
            audit_row(2_000, "user:bob", "PATCH /api/v1/meters/{id}", "meter:M1"), // 2
            audit_row(3_000, "user:alice", "discount 100% applied", "account:A2"), // 3
            audit_row(4_000, "user:alice", "discount 1000 applied", "account_x:A3"), // 4
            audit_row(5_000, "user:bob", "set_tariff", "tariff:T1"),               // 5
            audit_row(6_000, "user:bob", "set-tariff", "tariff:T2"),               // 6
            audit_row(7_000, "user:carol", "reset! now", "account:A1"),            // 7
            audit_row(8_000, "user:alice", "reset now", "account:A10"),            // 8
        ],
    );
    access.append_audit(&rows).await.unwrap();
    let search = move |f: AuditFilter| async move {
        access
            .search_audit(&AuditFilter { limit: 100, ..f })
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.seq)
            .collect::<Vec<_>>()
    };

    assert_eq!(
        search(AuditFilter::default()).await,
        vec![8, 7, 6, 5, 4, 3, 2, 1]
    );
    let newest = access
        .search_audit(&AuditFilter {
            limit: 2,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        newest,
        vec![rows[7].clone(), rows[6].clone()],
        "whole rows, newest first"
    );

    // Actor: exact, not a prefix.
    let actor = |a: &str| AuditFilter {
        actor: Some(a.into()),
        ..AuditFilter::default()
    };
    assert_eq!(search(actor("user:alice")).await, vec![8, 4, 3, 1]);
    assert_eq!(search(actor("user:ali")).await, Vec::<i64>::new());

    // Target: a prefix, literally (no wildcards).
    let target = |t: &str| AuditFilter {
        target_prefix: Some(t.into()),
        ..AuditFilter::default()
    };
    assert_eq!(search(target("account:")).await, vec![8, 7, 3, 1]);
    assert_eq!(search(target("account:A1")).await, vec![8, 7, 1]);
    assert_eq!(search(target("account_")).await, vec![4], "_ is literal");
    assert_eq!(
        search(target("account%")).await,
        Vec::<i64>::new(),
        "% is literal"
    );
    assert_eq!(
        search(target("A1")).await,
        Vec::<i64>::new(),
        "a prefix, not a substring"
    );

    // Action: a substring, literally.
    let action = |a: &str| AuditFilter {
        action_contains: Some(a.into()),
        ..AuditFilter::default()
    };
    assert_eq!(search(action("/api/v1/")).await, vec![2, 1]);
    assert_eq!(search(action("100%")).await, vec![3], "% is literal");
    assert_eq!(search(action("0% ")).await, vec![3]);
    assert_eq!(search(action("set_tariff")).await, vec![5], "_ is literal");
    assert_eq!(
        search(action("t! n")).await,
        vec![7],
        "the escape character is literal too"
    );
    assert_eq!(search(action("!")).await, vec![7]);
    assert_eq!(search(action("reset")).await, vec![8, 7]);
    assert_eq!(
        search(action("post")).await,
        Vec::<i64>::new(),
        "case matters"
    );
    assert_eq!(search(action("POST")).await, vec![1]);
    assert_eq!(
        search(action("")).await,
        vec![8, 7, 6, 5, 4, 3, 2, 1],
        "every action contains nothing"
    );

    // Time: from inclusive, to exclusive.
    let window = AuditFilter {
        from_ms: Some(3_000),
        to_ms: Some(6_000),
        ..AuditFilter::default()
    };
    assert_eq!(search(window).await, vec![5, 4, 3]);
    let since = AuditFilter {
        from_ms: Some(7_000),
        ..AuditFilter::default()
    };
    assert_eq!(search(since).await, vec![8, 7]);

    // Paging newest first with before_seq, combined with other filters.
    let page = |before: Option<i64>| AuditFilter {
        actor: Some("user:alice".into()),
        before_seq: before,
        limit: 2,
        ..AuditFilter::default()
    };
    let p1 = access.search_audit(&page(None)).await.unwrap();
    assert_eq!(p1.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![8, 4]);
    let p2 = access.search_audit(&page(Some(4))).await.unwrap();
    assert_eq!(p2.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![3, 1]);
    let p3 = access.search_audit(&page(Some(1))).await.unwrap();
    assert!(p3.is_empty());
    let everything = AuditFilter {
        actor: Some("user:alice".into()),
        target_prefix: Some("account:".into()),
        action_contains: Some("discount".into()),
        from_ms: Some(1_000),
        to_ms: Some(9_000),
        before_seq: Some(8),
        limit: 10,
    };
    assert_eq!(search(everything).await, vec![3]);
}

pub async fn payments_are_recorded_once_per_transaction(db: &TestDb) {
    let store = db.shared();
    let access = store.access();
    let o = org(store.as_ref(), "Payments").await;
    let c = customer(store.as_ref(), o.id).await;
    let a = account(store.as_ref(), o.id, c.id, "GZ0001").await;
    let pay = |id: &str, provider: &str, tx: &str, paid_at_ms: i64| PaymentRow {
        id: id.into(),
        provider: provider.into(),
        transaction_id: tx.into(),
        organisation_id: Some(o.id),
        account_id: Some(a.id),
        account_number: "GZ0001".into(),
        amount_fen: 5_000,
        status: "credited".into(),
        reason: None,
        paid_at_ms,
        received_at_ms: paid_at_ms + 5,
    };
    let t1 = pay("pay-1", "wechat", "T1", 1_000);
    assert!(access.record_payment(&t1).await.unwrap());
    let replay = PaymentRow {
        amount_fen: 9_999,
        status: "failed".into(),
        reason: Some("replayed".into()),
        ..pay("pay-1b", "wechat", "T1", 1_500)
    };
    assert!(!access.record_payment(&replay).await.unwrap());
    assert!(!access.record_payment(&t1).await.unwrap());
    assert_eq!(
        access.find_payment("wechat", "T1").await.unwrap(),
        Some(t1.clone()),
        "the first row is unchanged"
    );
    assert_eq!(db.count_rows("payments").await, 1);

    let other_provider = pay("pay-2", "alipay", "T1", 1_000);
    assert!(access.record_payment(&other_provider).await.unwrap());
    let refused = PaymentRow {
        organisation_id: None,
        account_id: None,
        account_number: "NOPE-1".into(),
        status: "refused".into(),
        reason: Some("未知账户 unknown account".into()),
        ..pay("pay-3", "wechat", "T2", 2_000)
    };
    assert!(access.record_payment(&refused).await.unwrap());
    let late = pay("pay-4", "wechat", "T3", 3_000);
    let early = pay("pay-5", "wechat", "T0", 999);
    assert!(access.record_payment(&late).await.unwrap());
    assert!(access.record_payment(&early).await.unwrap());
    assert_eq!(
        access.find_payment("wechat", "T2").await.unwrap(),
        Some(refused.clone())
    );
    assert_eq!(
        access.find_payment("alipay", "T1").await.unwrap(),
        Some(other_provider)
    );
    assert_eq!(access.find_payment("wechat", "T9").await.unwrap(), None);
    assert_eq!(access.find_payment("unionpay", "T1").await.unwrap(), None);

    assert_eq!(
        access.list_payments("wechat", 1_000, 3_000).await.unwrap(),
        vec![t1.clone(), refused.clone()],
        "[from, to), by paid_at, this provider only"
    );
    assert_eq!(
        access.list_payments("wechat", 0, 10_000).await.unwrap(),
        vec![early, t1, refused, late]
    );
    assert!(
        access
            .list_payments("wechat", 4_000, 5_000)
            .await
            .unwrap()
            .is_empty()
    );

    let rejection = |id: &str, at: i64| PaymentRejection {
        id: id.into(),
        provider: "wechat".into(),
        received_at_ms: at,
        source: "203.0.113.9".into(),
        code: "bad_signature".into(),
        reason: "签名不符 signature mismatch".into(),
        body_sha256: format!("{at:064x}"),
    };
    let (r1, r2, r3) = (
        rejection("rej-1", 100),
        rejection("rej-2", 200),
        rejection("rej-3", 300),
    );
    for r in [&r3, &r1, &r2] {
        access.record_payment_rejection(r).await.unwrap();
    }
    assert_eq!(
        access.list_payment_rejections(100, 300).await.unwrap(),
        vec![r1.clone(), r2.clone()],
        "[from, to), by received_at"
    );
    assert_eq!(
        access.list_payment_rejections(0, 1_000).await.unwrap(),
        vec![r1, r2, r3]
    );
    assert!(
        access
            .list_payment_rejections(301, 1_000)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn refund_requests_are_decided_once(db: &TestDb) {
    let store = db.shared();
    let access = store.access();
    let o = org(store.as_ref(), "Refunds").await;
    let p = org(store.as_ref(), "Elsewhere").await;
    let c = customer(store.as_ref(), o.id).await;
    let a = account(store.as_ref(), o.id, c.id, "GZ0001").await;
    let d = customer(store.as_ref(), p.id).await;
    let b = account(store.as_ref(), p.id, d.id, "GZ0001").await;
    let request = |n: u32, org: OrganisationId, account: AccountId| RefundRequest {
        id: format!("rf-{n:02}"),
        organisation_id: org,
        account_id: account,
        kind: if n.is_multiple_of(2) {
            "reversal"
        } else {
            "refund"
        }
        .into(),
        amount_fen: 100 * i64::from(n),
        reason: "多收 overcharged".into(),
        reverses: (n.is_multiple_of(2)).then(|| format!("recharge-{n}")),
        requested_by: "user:cashier".into(),
        requested_at_ms: i64::from(n),
        status: "pending".into(),
        decided_by: None,
        decided_at_ms: None,
        note: None,
    };
    let mine: Vec<RefundRequest> = (1..=5).map(|n| request(n, o.id, a.id)).collect();
    for r in mine.iter().rev() {
        access.create_refund_request(r).await.unwrap();
    }
    let theirs = request(6, p.id, b.id);
    access.create_refund_request(&theirs).await.unwrap();

    assert_eq!(access.get_refund_request("rf-02").await.unwrap(), mine[1]);
    not_found(access.get_refund_request("rf-99").await, "refund request");
    let dup = access.create_refund_request(&mine[0]).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    let orphan = access
        .create_refund_request(&request(7, o.id, AccountId::new()))
        .await;
    assert!(
        matches!(orphan, Err(StoreError::Reference(_))),
        "{orphan:?}"
    );

    let oid = o.id;
    let list_all = move |status: Option<&'static str>, limit: u32| async move {
        let mut seen = Vec::new();
        let mut page = Page::first(limit);
        loop {
            let rows = access
                .list_refund_requests(oid, status, &page)
                .await
                .unwrap();
            assert!(
                u32::try_from(rows.len()).unwrap() <= limit,
                "{}",
                rows.len()
            );
            let Some(last) = rows.last() else { break };
            page = Page::after(&last.id, limit);
            seen.extend(rows);
        }
        seen
    };
    assert_eq!(
        list_all(None, 2).await,
        mine,
        "by id, every page, this organisation only"
    );

    assert!(
        access
            .decide_refund_request("rf-02", "approved", "user:finance", 500, Some("核对无误"))
            .await
            .unwrap()
    );
    assert!(
        !access
            .decide_refund_request("rf-02", "rejected", "user:other", 600, None)
            .await
            .unwrap(),
        "someone decided first"
    );
    assert!(
        access
            .decide_refund_request("rf-03", "rejected", "user:finance", 700, None)
            .await
            .unwrap()
    );
    assert!(
        !access
            .decide_refund_request("rf-99", "approved", "user:finance", 700, None)
            .await
            .unwrap()
    );
    let approved = RefundRequest {
        status: "approved".into(),
        decided_by: Some("user:finance".into()),
        decided_at_ms: Some(500),
        note: Some("核对无误".into()),
        ..mine[1].clone()
    };
    assert_eq!(access.get_refund_request("rf-02").await.unwrap(), approved);
    assert_eq!(
        list_all(Some("pending"), 2).await,
        vec![mine[0].clone(), mine[3].clone(), mine[4].clone()]
    );
    assert_eq!(list_all(Some("approved"), 2).await, vec![approved]);
    assert_eq!(
        list_all(Some("rejected"), 2)
            .await
            .iter()
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>(),
        vec!["rf-03"]
    );
    assert_eq!(
        access
            .list_refund_requests(p.id, Some("pending"), &Page::default())
            .await
            .unwrap(),
        vec![theirs]
    );
}

pub async fn webhook_deliveries_queue_until_done(db: &TestDb) {
    let store = db.shared();
    let access = store.access();
    let o = org(store.as_ref(), "Hooks").await;
    let p = org(store.as_ref(), "Elsewhere").await;
    let hook = |id: &str, org: OrganisationId, active: bool| WebhookRow {
        id: id.into(),
        organisation_id: org,
        url: format!("https://example.com/hooks/{id}?a=1&b=二"),
        events: "recharge.created meter.alarm".into(),
        secret: "v1:sealed-secret".into(),
        active,
        created_by: "user:admin".into(),
        created_at_ms: 10,
    };
    let (w1, w2, w3) = (
        hook("wh-1", o.id, true),
        hook("wh-2", o.id, false),
        hook("wh-3", p.id, true),
    );
    for w in [&w2, &w1, &w3] {
        access.create_webhook(w).await.unwrap();
    }
    assert_eq!(access.get_webhook("wh-1").await.unwrap(), w1);
    assert_eq!(access.get_webhook("wh-2").await.unwrap(), w2);
    not_found(access.get_webhook("wh-9").await, "webhook");
    assert_eq!(
        access.list_webhooks(o.id).await.unwrap(),
        vec![w1.clone(), w2.clone()]
    );
    assert_eq!(access.list_webhooks(p.id).await.unwrap(), vec![w3.clone()]);
    let orphan = access
        .create_webhook(&hook("wh-8", OrganisationId::new(), true))
        .await;
    assert!(
        matches!(orphan, Err(StoreError::Reference(_))),
        "{orphan:?}"
    );
    let dup = access.create_webhook(&hook("wh-1", o.id, true)).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");

    access.set_webhook_active("wh-1", false).await.unwrap();
    assert!(!access.get_webhook("wh-1").await.unwrap().active);
    assert!(
        access.get_webhook("wh-3").await.unwrap().active,
        "another hook is untouched"
    );
    access.set_webhook_active("wh-1", true).await.unwrap();
    assert_eq!(access.get_webhook("wh-1").await.unwrap(), w1);
    not_found(access.set_webhook_active("wh-9", true).await, "webhook");

    let delivery = |id: &str, hook: &str, status: &str, next: i64| DeliveryRow {
        id: id.into(),
        webhook_id: hook.into(),
        event: "recharge.created".into(),
        payload: format!(r#"{{"delivery":"{id}","名":"甲"}}"#),
        status: status.into(),
        attempts: 0,
        next_attempt_at_ms: next,
        last_status: None,
        last_error: None,
        created_at_ms: 5,
        delivered_at_ms: None,
    };
    let d1 = delivery("dl-1", "wh-1", "pending", 100);
    let d2 = delivery("dl-2", "wh-1", "pending", 50);
    let d3 = DeliveryRow {
        attempts: 1,
        last_status: Some(204),
        delivered_at_ms: Some(12),
        ..delivery("dl-3", "wh-1", "delivered", 10)
    };
    let d4 = delivery("dl-4", "wh-1", "pending", 500);
    let d5 = delivery("dl-5", "wh-3", "pending", 150);
    let d6 = DeliveryRow {
        attempts: 8,
        last_status: Some(500),
        last_error: Some("gave up".into()),
        ..delivery("dl-6", "wh-1", "failed", 0)
    };
    let d7 = delivery("dl-7", "wh-1", "pending", 100);
    assert_eq!(
        access.webhook_cursor().await.unwrap(),
        0,
        "nothing read yet"
    );
    access
        .enqueue_deliveries(&[d7.clone(), d1.clone(), d2.clone(), d3.clone()], None)
        .await
        .unwrap();
    assert_eq!(
        access.webhook_cursor().await.unwrap(),
        0,
        "no cursor given, none moved"
    );
    access
        .enqueue_deliveries(&[d4.clone(), d5.clone(), d6.clone()], Some(42))
        .await
        .unwrap();
    assert_eq!(access.webhook_cursor().await.unwrap(), 42);
    access.enqueue_deliveries(&[], Some(43)).await.unwrap();
    assert_eq!(access.webhook_cursor().await.unwrap(), 43);

    // A refused batch lands nothing, cursor included.
    let bad = access
        .enqueue_deliveries(
            &[
                delivery("dl-8", "wh-1", "pending", 1),
                delivery("dl-9", "wh-9", "pending", 1),
            ],
            Some(99),
        )
        .await;
    assert!(matches!(bad, Err(StoreError::Reference(_))), "{bad:?}");
    let dup = access
        .enqueue_deliveries(
            &[delivery("dl-8", "wh-1", "pending", 1), d1.clone()],
            Some(99),
        )
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    assert_eq!(db.count_rows("webhook_deliveries").await, 7);
    assert_eq!(access.webhook_cursor().await.unwrap(), 43);

    // Due: pending and due now, oldest due first (ties by id), any hook.
    assert_eq!(
        access.due_deliveries(200, 10).await.unwrap(),
        vec![d2.clone(), d1.clone(), d7.clone(), d5.clone()]
    );
    assert_eq!(
        access.due_deliveries(200, 2).await.unwrap(),
        vec![d2.clone(), d1.clone()]
    );
    assert_eq!(
        access.due_deliveries(100, 10).await.unwrap(),
        vec![d2.clone(), d1.clone(), d7.clone()]
    );
    assert!(access.due_deliveries(49, 10).await.unwrap().is_empty());

    let d2_done = DeliveryRow {
        status: "delivered".into(),
        attempts: 1,
        last_status: Some(200),
        delivered_at_ms: Some(210),
        ..d2.clone()
    };
    let d1_retry = DeliveryRow {
        attempts: 1,
        next_attempt_at_ms: 1_000,
        last_status: Some(503),
        last_error: Some("upstream timeout".into()),
        ..d1.clone()
    };
    access.update_delivery(&d2_done).await.unwrap();
    access.update_delivery(&d1_retry).await.unwrap();
    assert_eq!(
        access.due_deliveries(300, 10).await.unwrap(),
        vec![d7.clone(), d5.clone()]
    );
    assert_eq!(
        access.due_deliveries(1_000, 10).await.unwrap(),
        vec![d7.clone(), d5.clone(), d4.clone(), d1_retry.clone()]
    );

    let mut seen = Vec::new();
    let mut page = Page::first(2);
    loop {
        let rows = access.list_deliveries("wh-1", &page).await.unwrap();
        assert!(rows.len() <= 2, "{}", rows.len());
        let Some(last) = rows.last() else { break };
        page = Page::after(&last.id, 2);
        seen.extend(rows);
    }
    assert_eq!(
        seen,
        vec![d1_retry, d2_done, d3, d4, d6, d7],
        "by id, every page, this hook only, as updated"
    );
    assert_eq!(
        access
            .list_deliveries("wh-3", &Page::default())
            .await
            .unwrap(),
        vec![d5]
    );
    assert!(
        access
            .list_deliveries("wh-2", &Page::default())
            .await
            .unwrap()
            .is_empty()
    );
}
