//! The dispatcher against the in-process simulated fleet: a meter that
//! answers, one that refuses, one that stays silent — each command ends in
//! the state it must, with its history and, on failure, an alarm.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use jiff::SignedDuration;
use yufu_domain::balance::{BalancePolicy, ProtectedWindows};
use yufu_domain::command::{CommandKind, RetryPolicy};
use yufu_domain::{AccountId, Fen, MeterId, Utility};
use yufu_store::Store;
use yufu_store_contract::TestDb;
use yufu_tariff::MeterParams;
use yufu_writer::dispatch::{Behaviour, SimulatedMeters, Switch};
use yufu_writer::{ConfigChange, WriterConfig};

const TARIFF: &str =
    include_str!("../../../examples/tariffs/guangdong-residential-electricity.toml");

async fn final_state(store: &dyn Store, meter: MeterId) -> (String, i64) {
    for _ in 0..300 {
        let cmds = store.journal().meter_commands(meter, 10).await.unwrap();
        if let Some(c) = cmds.first()
            && !matches!(c.state.as_str(), "queued" | "sent")
        {
            return (c.state.clone(), c.attempts);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the command of {meter} never finished");
}

#[tokio::test]
async fn commands_end_acknowledged_failed_or_timed_out() {
    let db = TestDb::sqlite().await;
    let store: Arc<dyn Store> = db.shared();
    let config = WriterConfig {
        checkpoint_every: 0,
        checkpoint_on_shutdown: false,
        retry: RetryPolicy {
            max_attempts: 3,
            ack_timeout: SignedDuration::from_millis(200),
            backoff_base: SignedDuration::from_millis(20),
            backoff_max: SignedDuration::from_millis(50),
        },
        ..WriterConfig::default()
    };
    let (writer, task) = yufu_writer::start(store.clone(), config).await.unwrap();
    let account = AccountId::new();
    let meters: Vec<MeterId> = (0..3).map(|_| MeterId::new()).collect();
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
        ConfigChange::Account {
            id: account,
            policy: BalancePolicy::new(vec![], Fen(-1_000_000)).unwrap(),
            site: "s".into(),
        },
    ];
    for m in &meters {
        changes.push(ConfigChange::Meter {
            id: *m,
            account,
            utility: Utility::Electricity,
            params: MeterParams::default(),
            tariff: "o/t".into(),
            from_ms: 0,
            shared: None,
        });
    }
    writer.configure(changes).await.unwrap();
    let fleet = SimulatedMeters::new(Duration::from_millis(5));
    fleet.set_behaviour(meters[1], Behaviour::Refuse);
    fleet.set_behaviour(meters[2], Behaviour::Silent);
    let dispatcher = tokio::spawn(yufu_writer::dispatch::run(
        writer.clone(),
        Arc::new(fleet.clone()),
    ));
    for m in &meters {
        writer
            .queue_command(*m, CommandKind::Trip, "test".into())
            .await
            .unwrap();
    }
    // One pending per kind: a second trip is refused while the first is in play.
    let again = writer
        .queue_command(meters[2], CommandKind::Trip, "again".into())
        .await;
    assert!(again.is_err(), "{again:?}");

    assert_eq!(
        final_state(store.as_ref(), meters[0]).await,
        ("acknowledged".into(), 1)
    );
    assert_eq!(fleet.switch(meters[0]), Switch::Open);
    assert_eq!(
        final_state(store.as_ref(), meters[1]).await,
        ("failed".into(), 3)
    );
    assert_eq!(
        fleet.switch(meters[1]),
        Switch::Closed,
        "a refusing relay did not move"
    );
    assert_eq!(fleet.received(meters[1]).len(), 3, "tried three times");
    assert_eq!(
        final_state(store.as_ref(), meters[2]).await,
        ("timed_out".into(), 3)
    );

    // Every transition is kept, and failures raise alarms.
    let failed = &store.journal().meter_commands(meters[1], 1).await.unwrap()[0];
    let steps: Vec<String> = store
        .journal()
        .command_transitions(failed.no)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.to_state)
        .collect();
    assert_eq!(
        steps,
        [
            "queued", "sent", "queued", "sent", "queued", "sent", "failed"
        ]
    );
    for m in &meters[1..] {
        let alarms = store.journal().meter_alarms(*m, 10).await.unwrap();
        assert!(
            alarms.iter().any(|a| a.kind == "command_failed"),
            "{alarms:?}"
        );
    }
    dispatcher.abort();
    drop(writer);
    let _ = task.handle.await;
    db.finish().await;
}
