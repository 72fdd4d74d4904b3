//! Entries posted by hand through the writer: journaled, replayed after a
//! restart to the same balance, and idempotent before and after it.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use yufu_domain::balance::{BalancePolicy, ProtectedWindows};
use yufu_domain::ledger::{Cause, EntryKind};
use yufu_domain::{AccountId, Fen, MeterId, StaffUserId, Utility};
use yufu_engine::{PostError, PostIn, RechargeError, RechargeIn};
use yufu_store::Store;
use yufu_store_contract::TestDb;
use yufu_tariff::MeterParams;

use crate::{ConfigChange, PostFailure, RechargeFailure, Writer, WriterConfig, find_posted};

const TARIFF: &str =
    include_str!("../../../examples/tariffs/guangdong-residential-electricity.toml");

fn config() -> WriterConfig {
    WriterConfig {
        checkpoint_every: 0,
        checkpoint_on_shutdown: false,
        tick_every: Duration::from_secs(3600),
        ..WriterConfig::default()
    }
}

async fn account(writer: &Writer) -> AccountId {
    let (a, m) = (AccountId::new(), MeterId::new());
    writer
        .configure(vec![
            ConfigChange::Site {
                key: "s".into(),
                windows: ProtectedWindows::default(),
                tz: "Asia/Shanghai".into(),
            },
            ConfigChange::Tariff {
                key: "o/t".into(),
                revision: 1,
                toml: TARIFF.into(),
            },
            ConfigChange::Account {
                id: a,
                policy: BalancePolicy::new(vec![Fen(500)], Fen(0)).unwrap(),
                site: "s".into(),
            },
            ConfigChange::Meter {
                id: m,
                account: a,
                utility: Utility::Electricity,
                params: MeterParams::default(),
                tariff: "o/t".into(),
                from_ms: 0,
                shared: None,
            },
        ])
        .await
        .unwrap();
    a
}

fn refund(account: AccountId, fen: i64, key: &str) -> PostIn {
    PostIn {
        account,
        kind: EntryKind::Refund,
        amount: Fen(-fen),
        cause: Cause::Operator {
            staff_user_id: "00000000-0000-7000-8000-000000000001"
                .parse::<StaffUserId>()
                .unwrap(),
        },
        key: key.into(),
    }
}

async fn balance(writer: &Writer, a: AccountId) -> i64 {
    writer.account(a).await.unwrap().unwrap().balance_fen
}

async fn ledger_adds_up(store: &dyn Store, writer: &Writer) {
    for t in store.journal().ledger_totals().await.unwrap() {
        assert_eq!(t.sum_fen, t.last_balance_fen);
        assert_eq!(t.entries, t.max_seq);
        assert_eq!(balance(writer, t.account_id).await, t.sum_fen);
    }
}

async fn posts_survive_a_restart(db: TestDb, checkpoint: bool) {
    let store: Arc<dyn Store> = db.shared();
    let (writer, task) = crate::start(store.clone(), config()).await.unwrap();
    let a = account(&writer).await;
    writer
        .recharge(RechargeIn {
            account: a,
            amount: Fen(10_000),
            channel: "counter".into(),
            reference: "r1".into(),
            key: "pay-1".into(),
        })
        .await
        .unwrap();
    let first = writer
        .post_entry(refund(a, 3_000, "refund:1"))
        .await
        .unwrap();
    assert!(!first.replay);
    assert_eq!(first.entry.kind, "refund");
    assert_eq!(first.entry.amount_fen, -3_000);
    assert_eq!(first.entry.balance_after_fen, 7_000);
    assert_eq!(first.entry.idempotency_key, "refund:1");
    let again = writer
        .post_entry(refund(a, 3_000, "refund:1"))
        .await
        .unwrap();
    assert!(again.replay);
    assert_eq!(again.entry, first.entry);
    assert_eq!(balance(&writer, a).await, 7_000);
    // Beyond the balance: refused, nothing stored, the key still free.
    let big = writer.post_entry(refund(a, 7_001, "refund:2")).await;
    assert!(
        matches!(
            big,
            Err(PostFailure::Engine(PostError::BeyondBalance { .. }))
        ),
        "{big:?}"
    );
    assert_eq!(
        find_posted(store.as_ref(), a, "refund:2").await.unwrap(),
        None
    );
    // A reversal (an adjustment) of 2 000.
    let rev = writer
        .post_entry(PostIn {
            kind: EntryKind::Adjustment,
            ..refund(a, 2_000, "refund:3")
        })
        .await
        .unwrap();
    assert_eq!(rev.entry.kind, "adjustment");
    assert_eq!(balance(&writer, a).await, 5_000);
    if checkpoint {
        writer.checkpoint().await.unwrap();
    }
    let found = find_posted(store.as_ref(), a, "refund:1").await.unwrap();
    assert_eq!(found.as_ref().map(|e| e.seq), Some(first.entry.seq));
    // A recharge cannot reach a posted entry's row by its key.
    let sneaky = writer
        .recharge(RechargeIn {
            account: a,
            amount: Fen(-3_000),
            channel: "post:refund".into(),
            reference: "x".into(),
            key: "post refund:1".into(),
        })
        .await;
    assert!(
        matches!(
            sneaky,
            Err(RechargeFailure::Engine(RechargeError::Invalid(_)))
        ),
        "{sneaky:?}"
    );
    drop(writer);
    task.handle.await.unwrap();

    // After a restart: the same balance (replayed, or from the checkpoint),
    // a repeat answers the original entry and a different request is refused.
    let (writer, task) = crate::start(store.clone(), config()).await.unwrap();
    assert_eq!(balance(&writer, a).await, 5_000);
    let after = writer
        .post_entry(refund(a, 3_000, "refund:1"))
        .await
        .unwrap();
    assert!(after.replay);
    assert_eq!(after.entry.seq, first.entry.seq);
    assert_eq!(after.entry.balance_after_fen, 7_000);
    let reused = writer.post_entry(refund(a, 1_000, "refund:1")).await;
    assert!(
        matches!(reused, Err(PostFailure::Engine(PostError::KeyReused(_)))),
        "{reused:?}"
    );
    assert_eq!(balance(&writer, a).await, 5_000);
    // The key refused before is still free and posts now.
    let now_ok = writer
        .post_entry(refund(a, 5_000, "refund:2"))
        .await
        .unwrap();
    assert_eq!(now_ok.entry.balance_after_fen, 0);
    ledger_adds_up(store.as_ref(), &writer).await;
    drop(writer);
    task.handle.await.unwrap();
    db.finish().await;
}

#[tokio::test]
async fn posts_are_replayed_from_the_journal_on_sqlite() {
    posts_survive_a_restart(TestDb::sqlite().await, false).await;
}

#[tokio::test]
async fn posts_are_kept_by_a_checkpoint_on_sqlite() {
    posts_survive_a_restart(TestDb::sqlite().await, true).await;
}

#[tokio::test]
async fn posts_survive_a_restart_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    posts_survive_a_restart(db, false).await;
}
