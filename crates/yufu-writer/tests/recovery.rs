//! The writer rebuilds exactly the same engine from a checkpoint plus the
//! journal after it, or from the journal alone, and keeps numbering where
//! it stopped.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use yufu_domain::balance::{BalancePolicy, ProtectedWindows};
use yufu_domain::{AccountId, Fen, MeterId, Utility};
use yufu_engine::{ReadingIn, ReadingResult, RechargeIn};
use yufu_store::Store;
use yufu_store_contract::TestDb;
use yufu_tariff::MeterParams;
use yufu_writer::{ConfigChange, Writer, WriterConfig};

const TARIFF: &str =
    include_str!("../../../examples/tariffs/guangdong-residential-electricity.toml");

fn config(checkpoint_every: u64) -> WriterConfig {
    WriterConfig {
        checkpoint_every,
        checkpoint_on_shutdown: false,
        tick_every: Duration::from_secs(3600),
        ..WriterConfig::default()
    }
}

async fn fleet(writer: &Writer, n: usize) -> Vec<(AccountId, MeterId)> {
    let ids: Vec<_> = (0..n).map(|_| (AccountId::new(), MeterId::new())).collect();
    let mut changes = vec![
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
    ];
    for (a, m) in &ids {
        changes.push(ConfigChange::Account {
            id: *a,
            policy: BalancePolicy::new(vec![Fen(500)], Fen(0)).unwrap(),
            site: "s".into(),
        });
        changes.push(ConfigChange::Meter {
            id: *m,
            account: *a,
            utility: Utility::Electricity,
            params: MeterParams::default(),
            tariff: "o/t".into(),
            from_ms: 0,
            shared: None,
        });
    }
    writer.configure(changes).await.unwrap();
    ids
}

async fn round(writer: &Writer, ids: &[(AccountId, MeterId)], r: i64) {
    let at = Timestamp::from_second(1_767_225_600).unwrap() + SignedDuration::from_hours(r);
    let readings = ids
        .iter()
        .enumerate()
        .map(|(i, (_, m))| ReadingIn {
            meter: *m,
            at,
            register: u64::try_from(r).unwrap() * (1000 + u64::try_from(i).unwrap() * 7),
            rates: None,
        })
        .collect();
    let results = writer.ingest(readings).await.unwrap();
    assert!(
        results
            .iter()
            .all(|r| matches!(r, ReadingResult::Accepted(_))),
        "{results:?}"
    );
}

async fn state(writer: &Writer, ids: &[(AccountId, MeterId)]) -> Vec<String> {
    let mut out = Vec::new();
    for (a, m) in ids {
        let acct = writer.account(*a).await.unwrap().unwrap();
        let meter = writer.meter(*m).await.unwrap().unwrap();
        out.push(format!(
            "{acct:?} {:?} {:?}",
            meter.readings_head, meter.pending
        ));
    }
    out
}

async fn restart_matches(checkpoint_every: u64, checkpoint_midway: bool) {
    let db = TestDb::sqlite().await;
    let store: Arc<dyn Store> = db.shared();
    let (writer, task) = yufu_writer::start(store.clone(), config(checkpoint_every))
        .await
        .unwrap();
    let ids = fleet(&writer, 30).await;
    for r in 0..4 {
        round(&writer, &ids, r).await;
        if checkpoint_midway && r == 1 {
            writer.checkpoint().await.unwrap();
        }
    }
    for (i, (a, _)) in ids.iter().enumerate().step_by(3) {
        writer
            .recharge(RechargeIn {
                account: *a,
                amount: Fen(5_000),
                channel: "counter".into(),
                reference: format!("r{i}"),
                key: format!("k{i}"),
            })
            .await
            .unwrap();
    }
    round(&writer, &ids, 4).await;
    let before = state(&writer, &ids).await;
    drop(writer);
    task.handle.await.unwrap();

    let (writer, task) = yufu_writer::start(store.clone(), config(checkpoint_every))
        .await
        .unwrap();
    if checkpoint_midway || checkpoint_every > 0 {
        assert!(
            task.recovered.checkpoint_seq > 0,
            "a checkpoint was taken and used: {:?}",
            task.recovered
        );
    }
    assert!(task.recovered.replayed > 0);
    assert_eq!(
        state(&writer, &ids).await,
        before,
        "replay rebuilt a different engine"
    );
    // A recharge key from before the restart is still a replay (found in the
    // store, not in memory) and a changed body is refused.
    let (a, _) = ids[0];
    let again = writer
        .recharge(RechargeIn {
            account: a,
            amount: Fen(5_000),
            channel: "counter".into(),
            reference: "r0".into(),
            key: "k0".into(),
        })
        .await
        .unwrap();
    assert!(again.replay);
    let reused = writer
        .recharge(RechargeIn {
            account: a,
            amount: Fen(6_000),
            channel: "counter".into(),
            reference: "r0".into(),
            key: "k0".into(),
        })
        .await;
    assert!(reused.is_err());
    // Numbering continues after the stored tail, and the ledger adds up.
    round(&writer, &ids, 5).await;
    for t in store.journal().ledger_totals().await.unwrap() {
        assert_eq!(t.sum_fen, t.last_balance_fen);
        assert_eq!(t.entries, t.max_seq);
        let view = writer.account(t.account_id).await.unwrap().unwrap();
        assert_eq!(view.balance_fen, t.sum_fen);
    }
    // Replayed readings are not stored twice.
    assert_eq!(store.journal().readings_count().await.unwrap(), 30 * 6);
    drop(writer);
    task.handle.await.unwrap();
    db.finish().await;
}

#[tokio::test]
async fn replaying_the_whole_journal_rebuilds_the_engine() {
    restart_matches(0, false).await;
}

#[tokio::test]
async fn a_checkpoint_plus_the_journal_after_it_rebuilds_the_engine() {
    restart_matches(0, true).await;
}

#[tokio::test]
async fn automatic_checkpoints_are_taken_and_used() {
    restart_matches(50, false).await;
}

/// The scheduler's tick posts each month's fixed fee once, and a restart
/// neither loses nor repeats one.
#[tokio::test]
async fn ticks_post_fixed_charges_once_per_period() {
    let db = TestDb::sqlite().await;
    let store: Arc<dyn Store> = db.shared();
    let (writer, task) = yufu_writer::start(store.clone(), config(0)).await.unwrap();
    let (account, meter) = (AccountId::new(), MeterId::new());
    // Commissioned three months and a bit ago: three monthly fees are due
    // (the month it started in is counted from its first full period on).
    let from = Timestamp::now() - SignedDuration::from_hours(24 * 100);
    writer
        .configure(vec![
            ConfigChange::Site {
                key: "s".into(),
                windows: ProtectedWindows::default(),
                tz: "Asia/Shanghai".into(),
            },
            ConfigChange::Tariff {
                key: "o/water".into(),
                revision: 1,
                toml: include_str!("../../../examples/tariffs/guangzhou-residential-water.toml")
                    .into(),
            },
            ConfigChange::Account {
                id: account,
                policy: BalancePolicy::new(vec![], Fen(-1_000_000)).unwrap(),
                site: "s".into(),
            },
            ConfigChange::Meter {
                id: meter,
                account,
                utility: Utility::Water,
                params: MeterParams::default(),
                tariff: "o/water".into(),
                from_ms: from.as_millisecond(),
                shared: None,
            },
        ])
        .await
        .unwrap();
    writer.tick().await.unwrap();
    let after_first = writer.account(account).await.unwrap().unwrap();
    assert!(after_first.last_seq >= 3, "{after_first:?}");
    assert_eq!(
        after_first.balance_fen,
        -200 * i64::try_from(after_first.last_seq).unwrap(),
        "every entry is a 2-yuan monthly fee"
    );
    writer.tick().await.unwrap();
    assert_eq!(
        writer.account(account).await.unwrap().unwrap(),
        after_first,
        "nothing twice"
    );
    drop(writer);
    task.handle.await.unwrap();

    let (writer, task) = yufu_writer::start(store.clone(), config(0)).await.unwrap();
    assert_eq!(
        writer.account(account).await.unwrap().unwrap(),
        after_first,
        "replayed"
    );
    writer.tick().await.unwrap();
    assert_eq!(writer.account(account).await.unwrap().unwrap(), after_first);
    drop(writer);
    task.handle.await.unwrap();
    db.finish().await;
}

/// A commit that fails (here a trigger refuses one reading) is answered as
/// not stored, the engine is rebuilt from the journal, and what comes next
/// is applied to the state the store really holds.
async fn a_failed_commit_rebuilds_the_engine(db: TestDb) {
    let store: Arc<dyn Store> = db.shared();
    let (writer, task) = yufu_writer::start(store.clone(), config(0)).await.unwrap();
    let ids = fleet(&writer, 3).await;
    round(&writer, &ids, 0).await;
    round(&writer, &ids, 1).await;
    let before = state(&writer, &ids).await;
    if db.is_postgres() {
        db.execute(
            "CREATE FUNCTION yufu_fail() RETURNS trigger AS $$ BEGIN \
             IF NEW.register = 999999 THEN RAISE EXCEPTION 'injected failure'; END IF; \
             RETURN NEW; END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER fail_on_magic BEFORE INSERT ON readings \
             FOR EACH ROW EXECUTE FUNCTION yufu_fail();",
        )
        .await;
    } else {
        db.execute(
            "CREATE TRIGGER fail_on_magic BEFORE INSERT ON readings WHEN NEW.register = 999999 \
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
        )
        .await;
    }
    let at = Timestamp::from_second(1_767_225_600).unwrap() + SignedDuration::from_hours(2);
    let results = writer
        .ingest(vec![ReadingIn {
            meter: ids[0].1,
            at,
            register: 999_999,
            rates: None,
        }])
        .await
        .unwrap();
    assert!(
        matches!(&results[0], ReadingResult::Rejected(why) if why.contains("not stored")),
        "{results:?}"
    );
    // Nothing of it stayed in the engine: the same state as before, and the
    // next readings are priced from there.
    assert_eq!(state(&writer, &ids).await, before);
    round(&writer, &ids, 2).await;
    for t in store.journal().ledger_totals().await.unwrap() {
        assert_eq!(t.sum_fen, t.last_balance_fen);
        assert_eq!(t.entries, t.max_seq);
        let view = writer.account(t.account_id).await.unwrap().unwrap();
        assert_eq!(view.balance_fen, t.sum_fen);
    }
    assert_eq!(store.journal().readings_count().await.unwrap(), 3 * 3);
    drop(writer);
    task.handle.await.unwrap();
    db.finish().await;
}

#[tokio::test]
async fn a_failed_commit_rebuilds_the_engine_on_sqlite() {
    a_failed_commit_rebuilds_the_engine(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn a_failed_commit_rebuilds_the_engine_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    a_failed_commit_rebuilds_the_engine(db).await;
}
