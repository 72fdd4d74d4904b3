//! Meter swap support (issue 8 helper): the tier-usage handover
//! (`ConfigChange::Inherit`) is journaled once, rebuilt the same by replay
//! and by a checkpoint, and a repeat changes and journals nothing; a
//! preview stores nothing.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use yufu_domain::balance::{BalancePolicy, ProtectedWindows};
use yufu_domain::{AccountId, Fen, MeterId, Utility};
use yufu_engine::{ReadingIn, ReadingResult};
use yufu_store::Store;
use yufu_store_contract::TestDb;
use yufu_tariff::{MeterParams, Verdict};

use crate::{ConfigChange, WriterConfig};

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

fn meter(id: MeterId, account: AccountId) -> ConfigChange {
    ConfigChange::Meter {
        id,
        account,
        utility: Utility::Electricity,
        params: MeterParams::default(),
        tariff: "o/t".into(),
        from_ms: 0,
        shared: None,
    }
}

fn reading(meter: MeterId, at: &str, register: u64) -> ReadingIn {
    ReadingIn {
        meter,
        at: at.parse::<Timestamp>().unwrap(),
        register,
        rates: None,
    }
}

async fn tail(store: &dyn Store) -> i64 {
    store.journal().tail().await.unwrap().seq
}

async fn handover_survives_a_restart(db: TestDb, checkpoint: bool) {
    let store: Arc<dyn Store> = db.shared();
    let (writer, task) = crate::start(store.clone(), config()).await.unwrap();
    let (a, old, new) = (AccountId::new(), MeterId::new(), MeterId::new());
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
                policy: BalancePolicy::new(vec![], Fen(-10_000_000)).unwrap(),
                site: "s".into(),
            },
            meter(old, a),
        ])
        .await
        .unwrap();
    let old_readings = vec![
        reading(old, "2025-07-01T00:00:00+08:00", 0),
        reading(old, "2025-07-20T00:00:00+08:00", 250_333),
    ];
    writer.ingest(old_readings).await.unwrap();
    // A preview stores nothing and changes nothing.
    let before = tail(store.as_ref()).await;
    let preview = writer
        .preview(reading(old, "2025-07-21T00:00:00+08:00", 1))
        .await
        .unwrap();
    assert!(
        matches!(preview, Some(Verdict::NegativeDelta { .. })),
        "{preview:?}"
    );
    assert_eq!(tail(store.as_ref()).await, before);

    let moved = writer.billing_state(old).await.unwrap().unwrap();
    writer
        .configure(vec![
            meter(new, a),
            ConfigChange::Inherit { from: old, to: new },
        ])
        .await
        .unwrap();
    let inherited = writer.billing_state(new).await.unwrap().unwrap();
    assert_eq!(inherited.period, moved.period);
    assert_eq!(inherited.carry, moved.carry);
    assert_eq!(inherited.last, None);
    // A repeat (a retried swap) journals nothing.
    let before = tail(store.as_ref()).await;
    writer
        .configure(vec![ConfigChange::Inherit { from: old, to: new }])
        .await
        .unwrap();
    assert_eq!(tail(store.as_ref()).await, before);
    writer
        .configure(vec![ConfigChange::RemoveMeter { id: old }])
        .await
        .unwrap();
    let opening = writer
        .ingest(vec![reading(new, "2025-07-20T00:00:00+08:00", 42)])
        .await
        .unwrap();
    assert_eq!(opening, vec![ReadingResult::Accepted(Verdict::Opening)]);
    if checkpoint {
        writer.checkpoint().await.unwrap();
    }
    let expected = writer.billing_state(new).await.unwrap();
    drop(writer);
    task.handle.await.unwrap();

    let (writer, task) = crate::start(store.clone(), config()).await.unwrap();
    assert_eq!(writer.billing_state(new).await.unwrap(), expected);
    assert_eq!(writer.billing_state(old).await.unwrap(), None);
    let billed = writer
        .ingest(vec![reading(new, "2025-07-31T00:00:00+08:00", 50_042)])
        .await
        .unwrap();
    let ReadingResult::Accepted(Verdict::Billed(charge)) = &billed[0] else {
        panic!("{billed:?}");
    };
    // 250.333 kWh were used in July before the swap: these 50 kWh cross
    // into tier 2 at 260 kWh instead of starting tier 1 again.
    assert_eq!(charge.lines.len(), 2, "{charge:?}");
    drop(writer);
    task.handle.await.unwrap();
    db.finish().await;
}

#[tokio::test]
async fn the_handover_is_replayed_from_the_journal_on_sqlite() {
    handover_survives_a_restart(TestDb::sqlite().await, false).await;
}

#[tokio::test]
async fn the_handover_is_kept_by_a_checkpoint_on_sqlite() {
    handover_survives_a_restart(TestDb::sqlite().await, true).await;
}

#[tokio::test]
async fn the_handover_survives_a_restart_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    handover_survives_a_restart(db, false).await;
}
