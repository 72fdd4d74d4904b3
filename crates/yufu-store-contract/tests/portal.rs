//! The store contract of the customer portal's part of `Console`: tickets
//! (sealed at rest, paged newest first), payment orders (settled once),
//! an account's notifications and the ledger window behind the portal's
//! chart. Every story runs on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used)]

use yufu_domain::*;
use yufu_store::Store;
use yufu_store::console::{PaymentOrderRow, TicketRow};
use yufu_store::journal::{EntryRow, JournalBatch, OutboxRow};
use yufu_store_contract::TestDb;

/// Runs each story against both backends: `sqlite::NAME` and `postgres::NAME`.
macro_rules! contract {
    ($($story:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $story() {
                    let db = yufu_store_contract::TestDb::sqlite().await;
                    super::$story(&db).await;
                    db.finish().await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $story() {
                    let Some(db) = yufu_store_contract::TestDb::postgres().await else { return };
                    super::$story(&db).await;
                    db.finish().await;
                }
            )+
        }
    };
}

contract!(
    tickets_are_sealed_paged_and_answered,
    payment_orders_settle_once,
    notifications_come_newest_first_per_account,
    ledger_window_stops_past_its_start,
    ticket_texts_are_resealed_under_a_new_key,
);

/// An organisation, a customer and an account of theirs.
async fn fleet(store: &dyn Store, number: &str) -> (OrganisationId, CustomerId, AccountId) {
    let org = store
        .create_organisation(&NewOrganisation {
            name: format!("门户测试物业 {number}").parse().unwrap(),
        })
        .await
        .unwrap();
    let customer = store
        .create_customer(
            &NewCustomer::new(
                org.id,
                CustomerKind::Person,
                "陈小明",
                Some("13800138000"),
                None,
                None,
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let account = store
        .create_account(&NewAccount {
            organisation_id: org.id,
            number: number.parse().unwrap(),
            customer_id: customer.id,
            class: CustomerClass::Residential,
        })
        .await
        .unwrap();
    (org.id, customer.id, account.id)
}

fn ticket(
    org: OrganisationId,
    customer: CustomerId,
    account: Option<AccountId>,
    n: i64,
) -> TicketRow {
    TicketRow {
        id: uuid::Uuid::now_v7().to_string(),
        organisation_id: org,
        customer_id: customer,
        account_id: account,
        kind: if n % 2 == 0 { "complaint" } else { "question" }.into(),
        subject: format!("停电第{n}次 outage-secret-{n}"),
        body: format!("楼道的表又跳闸了 body-secret-{n}"),
        status: "open".into(),
        reply: None,
        replied_by: None,
        created_at_ms: 1_700_000_000_000 + n,
        updated_at_ms: 1_700_000_000_000 + n,
    }
}

async fn tickets_are_sealed_paged_and_answered(db: &TestDb) {
    let store = db.store();
    let (org, customer, account) = fleet(store, "GZ710001").await;
    let (_, other_customer, _) = fleet(store, "GZ710002").await;
    let console = store.console();
    let mut made = Vec::new();
    for n in 0..5 {
        let t = ticket(org, customer, (n == 0).then_some(account), n);
        console.create_ticket(&t).await.unwrap();
        made.push(t);
    }
    // The same id twice is a conflict, not a second row.
    assert!(console.create_ticket(&made[0]).await.is_err());
    console
        .create_ticket(&ticket(org, other_customer, None, 9))
        .await
        .unwrap();

    // Read back opened, exactly.
    assert_eq!(
        console.get_ticket(&made[0].id).await.unwrap().as_ref(),
        Some(&made[0])
    );
    assert_eq!(console.get_ticket("nope").await.unwrap(), None);

    // A customer's own tickets, newest first, page by page, each once.
    let first = console.customer_tickets(customer, None, 2).await.unwrap();
    assert_eq!(
        first.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        vec![made[4].id.as_str(), made[3].id.as_str()]
    );
    let last = first.last().unwrap();
    let rest = console
        .customer_tickets(customer, Some((last.created_at_ms, &last.id)), 10)
        .await
        .unwrap();
    assert_eq!(
        rest.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        vec![
            made[2].id.as_str(),
            made[1].id.as_str(),
            made[0].id.as_str()
        ]
    );

    // Staff's answer, sealed too; the status filter follows it.
    assert!(
        console
            .answer_ticket(
                &made[1].id,
                "已派人检修 reply-secret",
                "user:admin",
                "answered",
                42
            )
            .await
            .unwrap()
    );
    assert!(
        !console
            .answer_ticket("nope", "x", "user:admin", "answered", 42)
            .await
            .unwrap()
    );
    let answered = console.get_ticket(&made[1].id).await.unwrap().unwrap();
    assert_eq!(answered.reply.as_deref(), Some("已派人检修 reply-secret"));
    assert_eq!(answered.replied_by.as_deref(), Some("user:admin"));
    assert_eq!(answered.status, "answered");
    assert_eq!(answered.updated_at_ms, 42);
    let open = console
        .list_tickets(org, Some("open"), None, 100)
        .await
        .unwrap();
    assert_eq!(
        open.len(),
        5,
        "four of the first customer's and the other's"
    );
    assert!(open.iter().all(|t| t.status == "open"));
    let all = console.list_tickets(org, None, None, 3).await.unwrap();
    assert_eq!(all.len(), 3);
    let last = all.last().unwrap();
    let more = console
        .list_tickets(org, None, Some((last.created_at_ms, &last.id)), 100)
        .await
        .unwrap();
    assert_eq!(all.len() + more.len(), 6);

    // No ticket text is stored in the clear.
    for needle in ["outage-secret", "body-secret", "reply-secret", "跳闸"] {
        let clear = db
            .count_rows(&format!(
                "tickets WHERE subject LIKE '%{needle}%' OR body LIKE '%{needle}%' \
                 OR reply LIKE '%{needle}%'"
            ))
            .await;
        assert_eq!(clear, 0, "{needle} is stored in the clear");
    }
}

async fn payment_orders_settle_once(db: &TestDb) {
    let store = db.store();
    let (org, customer, account) = fleet(store, "GZ720001").await;
    let console = store.console();
    let order = PaymentOrderRow {
        id: uuid::Uuid::now_v7().to_string(),
        organisation_id: org,
        account_id: account,
        customer_id: customer,
        provider: "paysim".into(),
        amount_fen: 5_000,
        status: "pending".into(),
        created_at_ms: 1_000,
        paid_at_ms: None,
    };
    console.create_payment_order(&order).await.unwrap();
    assert_eq!(
        console.get_payment_order(&order.id).await.unwrap(),
        Some(order.clone())
    );
    assert_eq!(console.get_payment_order("nope").await.unwrap(), None);
    assert!(
        console
            .settle_payment_order(&order.id, "paid", 2_000)
            .await
            .unwrap()
    );
    // The first outcome stands.
    assert!(
        !console
            .settle_payment_order(&order.id, "paid", 3_000)
            .await
            .unwrap()
    );
    assert!(
        !console
            .settle_payment_order(&order.id, "cancelled", 3_000)
            .await
            .unwrap()
    );
    let paid = console.get_payment_order(&order.id).await.unwrap().unwrap();
    assert_eq!(
        (paid.status.as_str(), paid.paid_at_ms),
        ("paid", Some(2_000))
    );

    // A cancelled order keeps no payment time and cannot be paid after.
    let other = PaymentOrderRow {
        id: uuid::Uuid::now_v7().to_string(),
        ..order.clone()
    };
    console.create_payment_order(&other).await.unwrap();
    assert!(
        console
            .settle_payment_order(&other.id, "cancelled", 2_500)
            .await
            .unwrap()
    );
    assert!(
        !console
            .settle_payment_order(&other.id, "paid", 2_600)
            .await
            .unwrap()
    );
    let cancelled = console.get_payment_order(&other.id).await.unwrap().unwrap();
    assert_eq!(
        (cancelled.status.as_str(), cancelled.paid_at_ms),
        ("cancelled", None)
    );
    // An order for an account that does not exist is refused.
    let orphan = PaymentOrderRow {
        id: uuid::Uuid::now_v7().to_string(),
        account_id: AccountId::new(),
        ..order
    };
    assert!(console.create_payment_order(&orphan).await.is_err());
}

fn outbox(account: Option<AccountId>, kind: &str, at: i64) -> OutboxRow {
    OutboxRow {
        account_id: account,
        kind: kind.into(),
        body: format!("{{\"kind\":\"{kind}\"}}"),
        created_at_ms: at,
    }
}

async fn notifications_come_newest_first_per_account(db: &TestDb) {
    let (a, b) = (AccountId::new(), AccountId::new());
    db.store()
        .journal()
        .append(&JournalBatch {
            outbox: vec![
                outbox(Some(a), "low_balance", 1),
                outbox(Some(b), "recharged", 2),
                outbox(None, "staff", 3),
                outbox(Some(a), "cutoff_scheduled", 4),
                outbox(Some(a), "recharged", 5),
            ],
            ..Default::default()
        })
        .await
        .unwrap();
    let console = db.store().console();
    let mine = console.account_notifications(a, 10).await.unwrap();
    assert_eq!(
        mine.iter().map(|n| n.kind.as_str()).collect::<Vec<_>>(),
        vec!["recharged", "cutoff_scheduled", "low_balance"]
    );
    assert_eq!(mine[0].created_at_ms, 5);
    assert_eq!(mine[0].body, "{\"kind\":\"recharged\"}");
    assert_eq!(mine[0].sent_at_ms, None);
    assert_eq!(console.account_notifications(a, 2).await.unwrap().len(), 2);
    assert_eq!(console.account_notifications(b, 10).await.unwrap().len(), 1);
    assert!(
        console
            .account_notifications(AccountId::new(), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

fn entry(no: i64, account: AccountId, kind: &str, amount: i64, at: i64) -> EntryRow {
    EntryRow {
        no,
        account_id: account,
        seq: no,
        kind: kind.into(),
        amount_fen: amount,
        balance_after_fen: 0,
        cause: "{}".into(),
        idempotency_key: format!("k{no}"),
        at_ms: at,
        journal_seq: no,
        prev_no: (no > 1).then(|| no - 1),
    }
}

async fn ledger_window_stops_past_its_start(db: &TestDb) {
    let a = AccountId::new();
    // Ten entries a day apart: at day 1, 2, … 10.
    let day = 86_400_000;
    let entries: Vec<EntryRow> = (1..=10)
        .map(|n| {
            let kind = if n == 1 { "recharge" } else { "consumption" };
            entry(n, a, kind, if n == 1 { 10_000 } else { -100 * n }, n * day)
        })
        .collect();
    db.store()
        .journal()
        .append(&JournalBatch {
            entries,
            ..Default::default()
        })
        .await
        .unwrap();
    let console = db.store().console();
    // From day 7 on: days 10, 9, 8, 7 and the first one before (day 6).
    let window = console.ledger_window(10, 7 * day, 1_000).await.unwrap();
    assert_eq!(
        window.iter().map(|p| p.at_ms / day).collect::<Vec<_>>(),
        vec![10, 9, 8, 7, 6]
    );
    assert_eq!(window[0].kind, "consumption");
    assert_eq!(window[0].amount_fen, -1_000);
    // The limit bounds the walk whatever the window.
    assert_eq!(console.ledger_window(10, 0, 3).await.unwrap().len(), 3);
    // The whole chain when the window reaches back past its start.
    let all = console.ledger_window(10, 0, 1_000).await.unwrap();
    assert_eq!(all.len(), 10);
    assert_eq!(all[9].kind, "recharge");
    assert!(console.ledger_window(99, 0, 10).await.unwrap().is_empty());
}

async fn ticket_texts_are_resealed_under_a_new_key(db: &TestDb) {
    let store = db.store();
    let (org, customer, _) = fleet(store, "GZ730001").await;
    let old = yufu_store::Vault::generate_key_line("old").unwrap();
    let new = yufu_store::Vault::generate_key_line("new").unwrap();
    let vault = |text: &str| std::sync::Arc::new(yufu_store::Vault::from_key_text(text).unwrap());
    store.set_vault(vault(&old));
    let console = store.console();
    let mut t = ticket(org, customer, None, 1);
    t.reply = Some("回复 reply".into());
    console.create_ticket(&t).await.unwrap();
    let other = ticket(org, customer, None, 2);
    console.create_ticket(&other).await.unwrap();
    // Nothing to do while the key is current.
    assert_eq!(console.reseal_tickets().await.unwrap(), (2, 0));
    // A new active key: both re-sealed, then the old key can go.
    store.set_vault(vault(&format!("{old}\n{new}")));
    assert_eq!(console.reseal_tickets().await.unwrap(), (2, 2));
    assert_eq!(console.reseal_tickets().await.unwrap(), (2, 0));
    store.set_vault(vault(&new));
    assert_eq!(console.get_ticket(&t.id).await.unwrap(), Some(t));
    assert_eq!(console.get_ticket(&other.id).await.unwrap(), Some(other));
}
