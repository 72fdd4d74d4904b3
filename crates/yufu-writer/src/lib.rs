#![doc = include_str!("../README.md")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use tokio::sync::{mpsc, oneshot, watch};
use yufu_domain::balance::{BalancePolicy, Supply};
use yufu_domain::command::{Command, RetryPolicy};
use yufu_domain::{AccountId, MeterId};
use yufu_engine::{
    Engine, LedgerEntry, PostError, PostIn, ReadingIn, ReadingResult, RechargeError, RechargeIn,
};
use yufu_store::journal::{JournalBatch, JournalRecord};
use yufu_store::{Store, StoreError};

pub mod dispatch;
pub mod event;
// --- meter swap (issue 8 helper) ---
#[cfg(test)]
mod inherit_tests;
#[cfg(test)]
mod post_tests;
mod state;
pub mod sync;

pub use event::{CommandEvent, ConfigChange};
use state::{State, from_ms, ms};

/// Requests the writer takes from its channel before one commit. Bigger
/// batches amortise the fsync; the bound keeps one commit short.
pub const MAX_BATCH: usize = 20_000;
/// Checkpoint items per stored chunk.
const CHUNK_ITEMS: usize = 10_000;
/// Journal records read per replay round trip.
const REPLAY_PAGE: u32 = 50_000;

#[derive(Clone, Debug)]
pub struct WriterConfig {
    /// Take a checkpoint after this many journal records (0: only on
    /// shutdown). Replay after a crash re-applies at most this many.
    pub checkpoint_every: u64,
    /// Take a checkpoint when the last handle is dropped.
    pub checkpoint_on_shutdown: bool,
    /// How often fixed charges and deferred cut-offs are looked at.
    pub tick_every: Duration,
    pub retry: RetryPolicy,
    /// Channel capacity (requests waiting for the writer).
    pub queue: usize,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            checkpoint_every: 1_000_000,
            checkpoint_on_shutdown: true,
            tick_every: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            queue: 1024,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    #[error("the writer has stopped")]
    Stopped,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the journal cannot be replayed: {0}")]
    Replay(String),
    #[error("{0}")]
    Invalid(String),
}

/// What a recharge request got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RechargeAnswer {
    pub entry: LedgerEntryView,
    /// True when the key was seen before: nothing new was credited.
    pub replay: bool,
}

/// A ledger entry as callers see it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LedgerEntryView {
    pub account_id: AccountId,
    pub seq: i64,
    pub kind: String,
    pub amount_fen: i64,
    pub balance_after_fen: i64,
    pub idempotency_key: String,
    pub at: Timestamp,
}

impl From<&LedgerEntry> for LedgerEntryView {
    fn from(e: &LedgerEntry) -> Self {
        Self {
            account_id: e.account,
            seq: i64::try_from(e.seq).unwrap_or(i64::MAX),
            kind: serde_json::to_value(e.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            amount_fen: e.amount.0,
            balance_after_fen: e.balance_after.0,
            idempotency_key: e.idempotency_key.clone(),
            at: e.at,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RechargeFailure {
    #[error(transparent)]
    Engine(#[from] RechargeError),
    #[error(transparent)]
    Writer(#[from] WriterError),
}

/// What posting an entry by hand got (see [`Writer::post_entry`]).
pub type PostAnswer = RechargeAnswer;

#[derive(Debug, thiserror::Error)]
pub enum PostFailure {
    #[error(transparent)]
    Engine(#[from] PostError),
    #[error(transparent)]
    Writer(#[from] WriterError),
}

impl LedgerEntryView {
    fn from_row(entry: yufu_store::journal::EntryRow) -> Self {
        Self {
            account_id: entry.account_id,
            seq: entry.seq,
            kind: entry.kind,
            amount_fen: entry.amount_fen,
            balance_after_fen: entry.balance_after_fen,
            idempotency_key: entry.idempotency_key,
            at: from_ms(entry.at_ms),
        }
    }
}

/// The committed entry posted by hand with this key, if any (see
/// [`Writer::post_entry`]). Every answered post is committed, so this finds
/// it whether it was posted before or after the last restart.
pub async fn find_posted(
    store: &dyn Store,
    account: AccountId,
    key: &str,
) -> Result<Option<LedgerEntryView>, StoreError> {
    Ok(store
        .journal()
        .find_recharge(account, &event::post_record_key(key))
        .await?
        .map(|(_, entry)| LedgerEntryView::from_row(entry)))
}

/// An account as the engine holds it (committed state).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AccountView {
    pub account_id: AccountId,
    pub balance_fen: i64,
    pub last_seq: u64,
    pub supply: Supply,
    pub policy: Option<BalancePolicy>,
    /// The newest ledger entry's `no` (head of the chain), if any.
    #[serde(skip)]
    pub ledger_head: Option<i64>,
}

/// A meter as the engine holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeterView {
    pub meter_id: MeterId,
    pub account_id: Option<AccountId>,
    pub tariff: Option<String>,
    pub readings_head: Option<i64>,
    pub pending: Vec<Command>,
    /// Why the valve is held shut for safety, if it is.
    pub safety_hold: Option<String>,
}

impl Request {
    /// Its weight in a batch: readings count one each.
    fn size(&self) -> usize {
        match self {
            Request::Readings { readings, .. } => readings.len().max(1),
            _ => 1,
        }
    }
}

enum Request {
    Readings {
        readings: Vec<ReadingIn>,
        reply: oneshot::Sender<Vec<ReadingResult>>,
    },
    Recharge {
        req: RechargeIn,
        reply: oneshot::Sender<Result<RechargeAnswer, RechargeFailure>>,
    },
    Post {
        req: PostIn,
        reply: oneshot::Sender<Result<PostAnswer, PostFailure>>,
    },
    Config {
        changes: Vec<ConfigChange>,
        reply: oneshot::Sender<Result<(), String>>,
    },
    Command {
        event: CommandEvent,
        reply: Option<oneshot::Sender<bool>>,
    },
    Tick {
        reply: Option<oneshot::Sender<()>>,
    },
    Operator {
        event: CommandEvent,
        reply: oneshot::Sender<Result<(), String>>,
    },
    Account {
        id: AccountId,
        reply: oneshot::Sender<Option<AccountView>>,
    },
    Meter {
        id: MeterId,
        reply: oneshot::Sender<Option<MeterView>>,
    },
    Summary {
        reply: oneshot::Sender<yufu_engine::AccountSummary>,
    },
    DueCommands {
        reply: oneshot::Sender<DueCommands>,
    },
    Checkpoint {
        reply: oneshot::Sender<Result<(), WriterError>>,
    },
    // --- meter swap (issue 8 helper) ---
    Preview {
        reading: ReadingIn,
        reply: oneshot::Sender<Option<yufu_tariff::Verdict>>,
    },
    Billing {
        id: MeterId,
        reply: oneshot::Sender<Option<yufu_tariff::BillingState>>,
    },
    Alarms {
        raise: Vec<yufu_store::journal::AlarmRow>,
        clear: Vec<yufu_store::journal::AlarmClear>,
        reply: oneshot::Sender<Result<(), String>>,
    },
}

/// The handle every producer uses; cheap to clone.
#[derive(Clone, Debug)]
pub struct Writer {
    tx: mpsc::Sender<Request>,
    /// Bumped after every commit that queued or changed a command.
    commands_changed: watch::Receiver<u64>,
}

impl Writer {
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Request,
    ) -> Result<T, WriterError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| WriterError::Stopped)?;
        rx.await.map_err(|_| WriterError::Stopped)
    }

    /// Prices and posts readings; answers after they are committed.
    pub async fn ingest(
        &self,
        readings: Vec<ReadingIn>,
    ) -> Result<Vec<ReadingResult>, WriterError> {
        self.ask(|reply| Request::Readings { readings, reply })
            .await
    }

    /// Queues readings behind everything already queued and returns where
    /// the answer will arrive (after the commit). Callers that keep several
    /// batches in flight use this so the writer sees them in the order they
    /// were queued — a later batch overtaking an earlier one would make the
    /// earlier readings of a meter out of order.
    pub async fn ingest_queued(
        &self,
        readings: Vec<ReadingIn>,
    ) -> Result<oneshot::Receiver<Vec<ReadingResult>>, WriterError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request::Readings { readings, reply })
            .await
            .map_err(|_| WriterError::Stopped)?;
        Ok(rx)
    }

    /// Credits a recharge once per (account, key); answers after commit.
    pub async fn recharge(&self, req: RechargeIn) -> Result<RechargeAnswer, RechargeFailure> {
        self.ask(|reply| Request::Recharge { req, reply }).await?
    }

    /// Posts a refund or an adjustment once per (account, key), through the
    /// engine (the balance rules run after it, so a debit may schedule a
    /// cut-off); answers after commit. Journaled, so replay after a restart
    /// posts it again exactly; a repeat with the same request, before or
    /// after a restart, answers the original entry (`replay`), and the same
    /// key with a different request is refused. A refund that would take
    /// the balance below zero is refused ([`PostError::BeyondBalance`]).
    pub async fn post_entry(&self, req: PostIn) -> Result<PostAnswer, PostFailure> {
        self.ask(|reply| Request::Post { req, reply }).await?
    }

    /// Applies configuration changes in order (stops at the first error).
    pub async fn configure(&self, changes: Vec<ConfigChange>) -> Result<(), WriterError> {
        self.ask(|reply| Request::Config { changes, reply })
            .await?
            .map_err(WriterError::Invalid)
    }

    /// Reports a command's progress; answers whether it changed anything.
    pub async fn command(&self, event: CommandEvent) -> Result<bool, WriterError> {
        self.ask(|reply| Request::Command {
            event,
            reply: Some(reply),
        })
        .await
    }

    /// Queues a command an operator asked for; refused with the reason
    /// (meter not billed, wrong utility, one already pending).
    pub async fn queue_command(
        &self,
        meter: MeterId,
        kind: yufu_domain::command::CommandKind,
        reason: String,
    ) -> Result<(), WriterError> {
        let event = CommandEvent::Queue {
            meter,
            kind,
            reason,
        };
        self.ask(|reply| Request::Operator { event, reply })
            .await?
            .map_err(WriterError::Invalid)
    }

    /// Shuts a meter's valve for safety and holds it shut (see
    /// [`yufu_engine::Engine::safety_shutoff`]); journaled.
    pub async fn safety_shutoff(&self, meter: MeterId, reason: String) -> Result<(), WriterError> {
        let event = CommandEvent::Safety { meter, reason };
        self.ask(|reply| Request::Operator { event, reply })
            .await?
            .map_err(WriterError::Invalid)
    }

    /// Lifts a safety hold; the valve reopens if the account is in credit.
    pub async fn release_safety(&self, meter: MeterId, reason: String) -> Result<(), WriterError> {
        let event = CommandEvent::ReleaseSafety { meter, reason };
        self.ask(|reply| Request::Operator { event, reply })
            .await?
            .map_err(WriterError::Invalid)
    }

    /// Stores alarms raised and clears open ones, in the next group commit
    /// (the writer is the only writer of the alarm table's inserts, so they
    /// batch with everything else).
    pub async fn alarms(
        &self,
        raise: Vec<yufu_store::journal::AlarmRow>,
        clear: Vec<yufu_store::journal::AlarmClear>,
    ) -> Result<(), WriterError> {
        self.ask(|reply| Request::Alarms {
            raise,
            clear,
            reply,
        })
        .await?
        .map_err(WriterError::Invalid)
    }

    /// Runs the scheduler's work now (fixed charges, deferred cut-offs).
    pub async fn tick(&self) -> Result<(), WriterError> {
        self.ask(|reply| Request::Tick { reply: Some(reply) }).await
    }

    pub async fn account(&self, id: AccountId) -> Result<Option<AccountView>, WriterError> {
        self.ask(|reply| Request::Account { id, reply }).await
    }

    /// Accounts counted by balance state (the console's dashboard).
    pub async fn account_summary(&self) -> Result<yufu_engine::AccountSummary, WriterError> {
        self.ask(|reply| Request::Summary { reply }).await
    }

    pub async fn meter(&self, id: MeterId) -> Result<Option<MeterView>, WriterError> {
        self.ask(|reply| Request::Meter { id, reply }).await
    }

    /// Commands due now, and when the next one needs attention.
    pub async fn due_commands(&self) -> Result<DueCommands, WriterError> {
        self.ask(|reply| Request::DueCommands { reply }).await
    }

    pub async fn checkpoint(&self) -> Result<(), WriterError> {
        self.ask(|reply| Request::Checkpoint { reply }).await?
    }

    // --- meter swap (issue 8 helper) ---

    /// The verdict the reading would get now, without applying or storing
    /// it (`None`: the meter is not billed). A meter swap checks its final
    /// reading with this first, so a refused swap leaves nothing behind.
    /// Another reading may change the answer before an ingest that follows.
    pub async fn preview(
        &self,
        reading: ReadingIn,
    ) -> Result<Option<yufu_tariff::Verdict>, WriterError> {
        self.ask(|reply| Request::Preview { reading, reply }).await
    }

    /// A billed meter's billing state (last billed reading, tier-period
    /// usage, sub-fen carry), as applied so far.
    pub async fn billing_state(
        &self,
        id: MeterId,
    ) -> Result<Option<yufu_tariff::BillingState>, WriterError> {
        self.ask(|reply| Request::Billing { id, reply }).await
    }

    /// Changes whenever a commit queued or changed a command.
    pub fn commands_changed(&self) -> watch::Receiver<u64> {
        self.commands_changed.clone()
    }
}

/// The running writer task.
#[derive(Debug)]
pub struct WriterTask {
    pub handle: tokio::task::JoinHandle<()>,
    /// What start-up found: checkpoint position and records replayed.
    pub recovered: Recovery,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Recovery {
    pub checkpoint_seq: i64,
    pub replayed: u64,
    pub millis: u128,
}

/// Rebuilds the engine from the latest checkpoint and the journal after it,
/// then starts the writer task.
pub async fn start(
    store: Arc<dyn Store>,
    config: WriterConfig,
) -> Result<(Writer, WriterTask), WriterError> {
    let started = Instant::now();
    // One writer per journal, across processes too.
    store.journal().claim_writer().await?;
    let (mut state, recovery) = recover(store.as_ref(), &config).await?;
    let recovered = Recovery {
        millis: started.elapsed().as_millis(),
        ..recovery
    };
    tracing::info!(
        checkpoint_seq = recovered.checkpoint_seq,
        replayed = recovered.replayed,
        millis = recovered.millis,
        "engine recovered"
    );
    let (tx, rx) = mpsc::channel(config.queue.max(1));
    let (changed_tx, changed_rx) = watch::channel(0u64);
    // Commands pending from before a restart need the dispatcher too.
    if state.engine.next_command_due().is_some() {
        changed_tx.send_modify(|v| *v += 1);
    }
    let since = recovered.replayed;
    let handle = tokio::spawn(async move {
        let mut run = Run {
            store,
            config,
            since_checkpoint: since,
            changed: changed_tx,
        };
        run.main(&mut state, rx).await;
    });
    Ok((
        Writer {
            tx,
            commands_changed: changed_rx,
        },
        WriterTask { handle, recovered },
    ))
}

async fn recover(
    store: &dyn Store,
    config: &WriterConfig,
) -> Result<(State, Recovery), WriterError> {
    let journal = store.journal();
    let mut state = State::new(Engine::new(config.retry));
    let mut recovery = Recovery::default();
    if let Some(head) = journal.latest_checkpoint_head().await? {
        recovery.checkpoint_seq = head.seq;
        // One chunk at a time, like it was written.
        for index in 0..head.chunks {
            let chunk = journal.checkpoint_chunk(head.seq, index).await?;
            for line in chunk.lines().filter(|l| !l.is_empty()) {
                let item = serde_json::from_str(line)
                    .map_err(|e| WriterError::Replay(format!("checkpoint {}: {e}", head.seq)))?;
                state.restore(item).map_err(WriterError::Replay)?;
            }
        }
    }
    let mut after = recovery.checkpoint_seq;
    let mut scratch = JournalBatch::default();
    loop {
        let records = journal.journal_after(after, REPLAY_PAGE).await?;
        let Some(last) = records.last() else { break };
        after = last.seq();
        for record in records {
            recovery.replayed += 1;
            replay_one(&mut state, record, &mut scratch)?;
            scratch = JournalBatch::default();
        }
    }
    // Replay must land exactly where the stored journal ends, or the engine
    // and the store disagree and nothing may be written on top.
    let tail = journal.tail().await?;
    if state.next_entry_no != tail.entry_no + 1 {
        return Err(WriterError::Replay(format!(
            "replay posted up to ledger entry {} but the store holds up to {}",
            state.next_entry_no - 1,
            tail.entry_no
        )));
    }
    state.next_seq = state.next_seq.max(tail.seq + 1);
    state.next_command_no = state.next_command_no.max(tail.command_no + 1);
    Ok((state, recovery))
}

fn replay_one(
    state: &mut State,
    record: JournalRecord,
    scratch: &mut JournalBatch,
) -> Result<(), WriterError> {
    match record {
        JournalRecord::Reading(r) => {
            let rates = match &r.rates {
                Some(text) => Some(yufu_tariff::RateRegisters(
                    serde_json::from_str(text).map_err(|e| {
                        WriterError::Replay(format!("reading {}: rates: {e}", r.seq))
                    })?,
                )),
                None => None,
            };
            let reading = ReadingIn {
                meter: r.meter_id,
                at: from_ms(r.at_ms),
                register: u64::try_from(r.register).unwrap_or(0),
                rates,
            };
            let result = state.reading(&reading, from_ms(r.received_ms), Some(r.seq), scratch);
            if !matches!(result, ReadingResult::Accepted(_)) {
                return Err(WriterError::Replay(format!(
                    "stored reading {} of meter {} replays as {result:?}",
                    r.seq, r.meter_id
                )));
            }
        }
        JournalRecord::Event(e) => {
            let now = from_ms(e.at_ms);
            let bad = |what: &str, err: &dyn std::fmt::Display| {
                WriterError::Replay(format!("event {} ({what}): {err}", e.seq))
            };
            match e.kind.as_str() {
                event::KIND_CONFIG => {
                    let change: ConfigChange =
                        serde_json::from_str(&e.body).map_err(|err| bad("config", &err))?;
                    state
                        .config(&change, now, Some(e.seq), scratch)
                        .map_err(|err| bad("config", &err))?;
                }
                event::KIND_RECHARGE => {
                    let body: event::RechargeBody =
                        serde_json::from_str(&e.body).map_err(|err| bad("recharge", &err))?;
                    state
                        .recharge(body.into(), now, Some(e.seq), scratch)
                        .map_err(|err| bad("recharge", &err))?;
                }
                event::KIND_POST => {
                    let body: event::PostBody =
                        serde_json::from_str(&e.body).map_err(|err| bad("post", &err))?;
                    state
                        .post_entry(body.into(), now, Some(e.seq), scratch)
                        .map_err(|err| bad("post", &err))?;
                }
                event::KIND_COMMAND => {
                    let ev: CommandEvent =
                        serde_json::from_str(&e.body).map_err(|err| bad("command", &err))?;
                    state.command(&ev, now, Some(e.seq), scratch);
                }
                event::KIND_TICK => state.tick(now, Some(e.seq), scratch),
                other => return Err(bad("kind", &format!("unknown kind '{other}'"))),
            }
        }
    }
    Ok(())
}

struct Run {
    store: Arc<dyn Store>,
    config: WriterConfig,
    since_checkpoint: u64,
    changed: watch::Sender<u64>,
}

fn commit_result(
    joined: Result<Result<(), StoreError>, tokio::task::JoinError>,
) -> Result<(), String> {
    match joined {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(format!("commit task: {e}")),
    }
}

/// A batch applied to the engine, waiting to be committed.
#[derive(Default)]
struct Prepared {
    batch: JournalBatch,
    answers: Vec<Answer>,
    checkpoint_replies: Vec<oneshot::Sender<Result<(), WriterError>>>,
    /// Readings and other requests applied (bounded by `MAX_BATCH`).
    size: usize,
}

impl Prepared {
    fn is_empty(&self) -> bool {
        self.answers.is_empty() && self.checkpoint_replies.is_empty() && self.batch.is_empty()
    }

    fn fail(self, why: &str) {
        for answer in self.answers {
            answer.send(Err(why));
        }
        for reply in self.checkpoint_replies {
            let _ = reply.send(Err(WriterError::Invalid(why.to_owned())));
        }
    }
}

/// An answer to send once the batch is committed.
enum Answer {
    Readings(oneshot::Sender<Vec<ReadingResult>>, Vec<ReadingResult>),
    Recharge(
        oneshot::Sender<Result<RechargeAnswer, RechargeFailure>>,
        Result<RechargeAnswer, RechargeFailure>,
    ),
    Post(
        oneshot::Sender<Result<PostAnswer, PostFailure>>,
        Result<PostAnswer, PostFailure>,
    ),
    Config(oneshot::Sender<Result<(), String>>, Result<(), String>),
    Command(Option<oneshot::Sender<bool>>, bool),
    Tick(Option<oneshot::Sender<()>>),
    Account(oneshot::Sender<Option<AccountView>>, Option<AccountView>),
    Summary(
        oneshot::Sender<yufu_engine::AccountSummary>,
        yufu_engine::AccountSummary,
    ),
    Meter(oneshot::Sender<Option<MeterView>>, Option<MeterView>),
    Due(oneshot::Sender<DueCommands>, DueCommands),
    // --- meter swap (issue 8 helper) ---
    Preview(
        oneshot::Sender<Option<yufu_tariff::Verdict>>,
        Option<yufu_tariff::Verdict>,
    ),
    Billing(
        oneshot::Sender<Option<yufu_tariff::BillingState>>,
        Option<yufu_tariff::BillingState>,
    ),
}

pub type DueCommands = (
    Vec<(MeterId, yufu_domain::command::CommandKind)>,
    Option<Timestamp>,
);

impl Answer {
    /// Sends the answer; after a failed commit every write is reported as failed.
    fn send(self, committed: Result<(), &str>) {
        match (self, committed) {
            (Answer::Readings(tx, results), Ok(())) => {
                let _ = tx.send(results);
            }
            (Answer::Readings(tx, results), Err(e)) => {
                let failed = results
                    .iter()
                    .map(|_| ReadingResult::Rejected(format!("not stored: {e}")))
                    .collect();
                let _ = tx.send(failed);
            }
            (Answer::Recharge(tx, result), Ok(())) => {
                let _ = tx.send(result);
            }
            (Answer::Recharge(tx, _), Err(e)) => {
                let _ = tx.send(Err(WriterError::Store(StoreError::Unavailable(
                    e.to_owned(),
                ))
                .into()));
            }
            (Answer::Post(tx, result), Ok(())) => {
                let _ = tx.send(result);
            }
            (Answer::Post(tx, _), Err(e)) => {
                let _ = tx.send(Err(WriterError::Store(StoreError::Unavailable(
                    e.to_owned(),
                ))
                .into()));
            }
            (Answer::Config(tx, result), Ok(())) => {
                let _ = tx.send(result);
            }
            (Answer::Config(tx, _), Err(e)) => {
                let _ = tx.send(Err(format!("not stored: {e}")));
            }
            (Answer::Command(tx, changed), committed) => {
                if let Some(tx) = tx {
                    let _ = tx.send(changed && committed.is_ok());
                }
            }
            (Answer::Tick(tx), _) => {
                if let Some(tx) = tx {
                    let _ = tx.send(());
                }
            }
            (Answer::Account(tx, view), _) => {
                let _ = tx.send(view);
            }
            (Answer::Summary(tx, sum), _) => {
                let _ = tx.send(sum);
            }
            (Answer::Meter(tx, view), _) => {
                let _ = tx.send(view);
            }
            (Answer::Due(tx, due), _) => {
                let _ = tx.send(due);
            }
            (Answer::Preview(tx, verdict), _) => {
                let _ = tx.send(verdict);
            }
            (Answer::Billing(tx, state), _) => {
                let _ = tx.send(state);
            }
        }
    }
}

/// A batch applied to the engine whose commit is running.
struct InFlight {
    commit: tokio::task::JoinHandle<Result<(), StoreError>>,
    /// The commit's result once it has been awaited (a finished task must
    /// not be awaited twice).
    done: Option<Result<(), String>>,
    answers: Vec<Answer>,
    checkpoint_replies: Vec<oneshot::Sender<Result<(), WriterError>>>,
    records: u64,
    commands_changed: bool,
}

impl Run {
    async fn main(&mut self, state: &mut State, mut rx: mpsc::Receiver<Request>) {
        let mut tick = tokio::time::interval(self.config.tick_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        // While one commit runs, the next batch is applied from whatever
        // arrives meanwhile (the engine works on one core while the database
        // writes on the other); it is committed as soon as the first lands.
        // Commits stay in order, and every answer waits for its own commit.
        let mut inflight: Option<InFlight> = None;
        let mut current = Prepared::default();
        let mut open = true;
        while open || inflight.is_some() || !current.is_empty() {
            tokio::select! {
                biased;
                _ = async {
                    if let Some(f) = inflight.as_mut() {
                        f.done = Some(commit_result((&mut f.commit).await));
                    }
                }, if inflight.is_some() => {
                    if !self.settle(state, inflight.take()).await {
                        std::mem::take(&mut current).fail("an earlier batch failed to commit");
                        if !self.rebuild(state).await {
                            return;
                        }
                    }
                }
                // Before requests: under a steady stream of readings the
                // scheduler must still get its turn.
                _ = tick.tick(), if open => {
                    self.apply(state, vec![Request::Tick { reply: None }], &mut current).await;
                }
                req = rx.recv(), if open && current.size < MAX_BATCH => match req {
                    Some(first) => {
                        let mut pending = vec![first];
                        let mut size = current.size + 1;
                        while size < MAX_BATCH {
                            match rx.try_recv() {
                                Ok(req) => {
                                    size += req.size();
                                    pending.push(req);
                                }
                                Err(_) => break,
                            }
                        }
                        self.apply(state, pending, &mut current).await;
                    }
                    None => open = false,
                },
            }
            if inflight.is_none() && !current.is_empty() {
                let flight = self.start_commit(std::mem::take(&mut current));
                let due = self.config.checkpoint_every > 0
                    && self.since_checkpoint + flight.records >= self.config.checkpoint_every;
                if due || !flight.checkpoint_replies.is_empty() {
                    // A checkpoint describes committed state only.
                    if !self.settle(state, Some(flight)).await && !self.rebuild(state).await {
                        return;
                    }
                } else {
                    inflight = Some(flight);
                }
            }
        }
        if self.config.checkpoint_on_shutdown
            && let Err(e) = self.checkpoint(state).await
        {
            tracing::warn!(error = %e, "checkpoint at shutdown failed; the journal will be replayed");
        }
    }

    fn start_commit(&self, prepared: Prepared) -> InFlight {
        let store = Arc::clone(&self.store);
        let Prepared {
            batch,
            answers,
            checkpoint_replies,
            ..
        } = prepared;
        let records = u64::try_from(batch.readings.len() + batch.events.len()).unwrap_or(0);
        let commands_changed = !batch.commands.is_empty();
        let commit = tokio::spawn(async move {
            if batch.is_empty() {
                Ok(())
            } else {
                store.journal().append(&batch).await
            }
        });
        InFlight {
            commit,
            done: None,
            answers,
            checkpoint_replies,
            records,
            commands_changed,
        }
    }

    /// Waits for a commit, answers its senders and takes a checkpoint when
    /// one is due. Returns false when the commit failed (the caller must
    /// rebuild the engine).
    async fn settle(&mut self, state: &mut State, flight: Option<InFlight>) -> bool {
        let Some(mut flight) = flight else {
            return true;
        };
        let replies = std::mem::take(&mut flight.checkpoint_replies);
        if !self.settle_quietly(flight).await {
            for reply in replies {
                let _ = reply.send(Err(WriterError::Invalid("the batch did not commit".into())));
            }
            return false;
        }
        let due = self.config.checkpoint_every > 0
            && self.since_checkpoint >= self.config.checkpoint_every;
        if due || !replies.is_empty() {
            let result = self.checkpoint(state).await;
            if let Err(e) = &result {
                tracing::warn!(error = %e, "checkpoint failed; the journal will be replayed");
            }
            for reply in replies {
                let _ = reply.send(match &result {
                    Ok(()) => Ok(()),
                    Err(e) => Err(WriterError::Invalid(e.to_string())),
                });
            }
        }
        true
    }

    /// Waits for a commit and answers its senders. Returns whether it committed.
    async fn settle_quietly(&mut self, flight: InFlight) -> bool {
        let committed = match flight.done {
            Some(done) => done,
            None => commit_result(flight.commit.await),
        };
        for answer in flight.answers {
            answer.send(committed.as_ref().map(|_| ()).map_err(String::as_str));
        }
        for reply in flight.checkpoint_replies {
            let _ = reply.send(match &committed {
                Ok(()) => Ok(()),
                Err(e) => Err(WriterError::Invalid(e.clone())),
            });
        }
        match committed {
            Ok(()) => {
                if flight.commands_changed {
                    self.changed.send_modify(|v| *v += 1);
                }
                self.since_checkpoint += flight.records;
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "commit failed");
                false
            }
        }
    }

    async fn rebuild(&mut self, state: &mut State) -> bool {
        tracing::error!("rebuilding the engine from the journal");
        match recover(self.store.as_ref(), &self.config).await {
            Ok((fresh, _)) => {
                *state = fresh;
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot rebuild the engine; the writer stops");
                false
            }
        }
    }

    async fn apply(&mut self, state: &mut State, pending: Vec<Request>, into: &mut Prepared) {
        // The journal keeps milliseconds: apply with exactly what replay
        // will pass again.
        let now = from_ms(ms(Timestamp::now()));
        for req in &pending {
            into.size += req.size();
        }
        let Prepared {
            batch,
            answers,
            checkpoint_replies,
            ..
        } = into;
        for req in pending {
            match req {
                Request::Readings { readings, reply } => {
                    let results = readings
                        .iter()
                        .map(|r| state.reading(r, now, None, batch))
                        .collect();
                    answers.push(Answer::Readings(reply, results));
                }
                Request::Recharge { req, reply } => {
                    let result = self.recharge(state, req, now, batch).await;
                    answers.push(Answer::Recharge(reply, result));
                }
                Request::Post { req, reply } => {
                    let result = self.post_entry(state, req, now, batch).await;
                    answers.push(Answer::Post(reply, result));
                }
                Request::Config { changes, reply } => {
                    let mut result = Ok(());
                    for change in &changes {
                        if let Err(e) = state.config(change, now, None, batch) {
                            result = Err(e);
                            break;
                        }
                    }
                    answers.push(Answer::Config(reply, result));
                }
                Request::Command { event, reply } => {
                    let changed = state.command(&event, now, None, batch);
                    answers.push(Answer::Command(reply, changed));
                }
                Request::Tick { reply } => {
                    state.tick(now, None, batch);
                    answers.push(Answer::Tick(reply));
                }
                Request::Operator { event, reply } => {
                    let result = state.operator_command(&event, now, None, batch);
                    answers.push(Answer::Config(reply, result));
                }
                // Reads answer from the state as applied so far; they are
                // sent after the commit, so they never show uncommitted data.
                Request::Account { id, reply } => {
                    answers.push(Answer::Account(reply, account_view(state, id)));
                }
                Request::Meter { id, reply } => {
                    answers.push(Answer::Meter(reply, meter_view(state, id)));
                }
                Request::Summary { reply } => {
                    answers.push(Answer::Summary(reply, state.engine.account_summary()));
                }
                Request::DueCommands { reply } => {
                    let due = state.engine.due_commands(now);
                    let next = state.engine.next_command_due();
                    answers.push(Answer::Due(reply, (due, next)));
                }
                Request::Checkpoint { reply } => checkpoint_replies.push(reply),
                // --- meter swap (issue 8 helper): reads, answered after the commit ---
                Request::Preview { reading, reply } => {
                    answers.push(Answer::Preview(reply, state.engine.preview(&reading)));
                }
                Request::Billing { id, reply } => {
                    answers.push(Answer::Billing(reply, state.engine.billing_state(id)));
                }
                Request::Alarms {
                    raise,
                    clear,
                    reply,
                } => {
                    batch.alarms.extend(raise);
                    batch.alarm_clears.extend(clear);
                    answers.push(Answer::Config(reply, Ok(())));
                }
            }
        }
    }

    async fn recharge(
        &self,
        state: &mut State,
        req: RechargeIn,
        now: Timestamp,
        batch: &mut JournalBatch,
    ) -> Result<RechargeAnswer, RechargeFailure> {
        // The engine remembers keys since start-up; older ones are in the
        // store's recharges table.
        if state.engine.has_account(req.account)
            && !state.engine.knows_recharge(req.account, &req.key)
            && let Some((stored, entry)) = self
                .store
                .journal()
                .find_recharge(req.account, &req.key)
                .await
                .map_err(WriterError::from)?
            // Rows of entries posted by hand have keys no recharge may use:
            // such a key is left to the engine, which refuses it.
            && entry.kind == "recharge"
        {
            {
                let same = stored.amount_fen == req.amount.0
                    && stored.channel == req.channel
                    && stored.reference == req.reference;
                if !same {
                    return Err(RechargeError::KeyReused(req.key).into());
                }
                return Ok(RechargeAnswer {
                    entry: LedgerEntryView::from_row(entry),
                    replay: true,
                });
            }
        }
        let done = state.recharge(req, now, None, batch)?;
        Ok(RechargeAnswer {
            entry: LedgerEntryView::from(&done.entry),
            replay: done.replay,
        })
    }

    async fn post_entry(
        &self,
        state: &mut State,
        req: PostIn,
        now: Timestamp,
        batch: &mut JournalBatch,
    ) -> Result<PostAnswer, PostFailure> {
        // As for recharges: the engine remembers keys since start-up, older
        // ones are in the store.
        if state.engine.has_account(req.account)
            && !state.engine.knows_post(req.account, &req.key)
            && let Some((stored, entry)) = self
                .store
                .journal()
                .find_recharge(req.account, &event::post_record_key(&req.key))
                .await
                .map_err(WriterError::from)?
        {
            let same = stored.amount_fen == req.amount.0
                && stored.channel == event::post_record_channel(req.kind)
                && serde_json::from_str::<yufu_domain::ledger::Cause>(&stored.reference)
                    .is_ok_and(|cause| cause == req.cause);
            if !same {
                return Err(PostError::KeyReused(req.key).into());
            }
            return Ok(PostAnswer {
                entry: LedgerEntryView::from_row(entry),
                replay: true,
            });
        }
        let done = state.post_entry(req, now, None, batch)?;
        Ok(PostAnswer {
            entry: LedgerEntryView::from(&done.entry),
            replay: done.replay,
        })
    }

    async fn checkpoint(&mut self, state: &State) -> Result<(), WriterError> {
        let started = Instant::now();
        let seq = state.next_seq - 1;
        let journal = self.store.journal();
        // Nothing new since the last one (e.g. a restart, then a shutdown):
        // the checkpoint we have is this state.
        if journal
            .latest_checkpoint_head()
            .await?
            .is_some_and(|head| head.seq == seq)
        {
            self.since_checkpoint = 0;
            return Ok(());
        }
        let mut chunk = String::new();
        let mut in_chunk = 0usize;
        let mut index = 0_i64;
        let mut items = 0usize;
        // Written chunk by chunk: a million meters' state is never in
        // memory twice.
        for item in state.checkpoint_iter() {
            let line = serde_json::to_string(&item)
                .map_err(|e| WriterError::Invalid(format!("checkpoint item: {e}")))?;
            chunk.push_str(&line);
            chunk.push('\n');
            in_chunk += 1;
            items += 1;
            if in_chunk == CHUNK_ITEMS {
                journal.put_checkpoint_chunk(seq, index, &chunk).await?;
                index += 1;
                chunk.clear();
                in_chunk = 0;
            }
        }
        if in_chunk > 0 {
            journal.put_checkpoint_chunk(seq, index, &chunk).await?;
            index += 1;
        }
        journal
            .finish_checkpoint(seq, ms(Timestamp::now()), index)
            .await?;
        self.since_checkpoint = 0;
        tracing::info!(
            seq,
            items,
            chunks = index,
            millis = started.elapsed().as_millis(),
            "checkpoint saved"
        );
        Ok(())
    }
}

fn account_view(state: &State, id: AccountId) -> Option<AccountView> {
    let balance = state.engine.balance(id)?;
    Some(AccountView {
        account_id: id,
        balance_fen: balance.0,
        last_seq: state.engine.last_seq(id).unwrap_or(0),
        supply: state.engine.supply(id).unwrap_or(Supply::On),
        policy: state.engine.policy(id).cloned(),
        ledger_head: Some(state.engine.account_mark(id)).filter(|m| *m > 0),
    })
}

fn meter_view(state: &State, id: MeterId) -> Option<MeterView> {
    let known = state.engine.has_meter(id);
    let head = Some(state.engine.meter_mark(id))
        .filter(|m| *m > 0)
        .or_else(|| state.orphan_heads.get(&id).copied());
    if !known && head.is_none() {
        return None;
    }
    Some(MeterView {
        meter_id: id,
        account_id: state.engine.meter_account(id),
        tariff: state.engine.meter_tariff(id).map(str::to_owned),
        readings_head: head,
        pending: state.engine.pending_commands(id),
        safety_hold: state.engine.safety_hold(id).map(str::to_owned),
    })
}
