//! The engine's durable half: an append-only journal, its projections and
//! checkpoints.
//!
//! Why it looks like this: the ingest targets (hundreds of thousands of
//! readings per second, each committed before it is acknowledged) rule out
//! updating a meter row and an account row per reading, and even rule out a
//! random-key secondary index on the hot tables — with group commit every
//! batch would rewrite most of that index's pages into the WAL (measured
//! here: 33 000 readings/s with one, 644 000/s without). So every hot table
//! is append-only with a key that only grows (`seq`, `no`), and each row
//! carries a pointer to the previous row of the same meter or account
//! (`prev_seq`, `prev_no`). A page of a meter's readings or an account's
//! ledger is a walk down that chain from its head, which the writer keeps in
//! memory (and in checkpoints). Rare rows (recharges, commands, alarms) keep
//! ordinary indexes.
//!
//! The writer (crate `yufu-writer`) is the only caller of the append and
//! checkpoint methods.

use async_trait::async_trait;
use yufu_domain::{AccountId, MeterId};

use crate::StoreResult;

/// A reading as stored: it was applied by the engine at `received_ms` and
/// is part of the journal at `seq`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ReadingRow {
    /// Journal position (shared sequence with [`EventRow::seq`]).
    pub seq: i64,
    pub meter_id: MeterId,
    pub at_ms: i64,
    pub register: i64,
    /// Per-rate registers as JSON (`[r1, r2, r3, r4]`), if the meter sent them.
    pub rates: Option<String>,
    /// The engine's `now` when it applied the reading (replay passes it again).
    pub received_ms: i64,
    /// Verdict name: `billed`, `opening`, `negative_delta`, …
    pub verdict: String,
    /// Quantity billed in the tariff's base units, if billed.
    pub quantity: Option<i64>,
    /// Total charge in fen, if billed.
    pub charge_fen: Option<i64>,
    /// The meter's previous stored reading (`seq`), if any.
    pub prev_seq: Option<i64>,
}

/// Any other engine request (recharge, configuration change, command
/// transition, scheduler tick), as JSON, in journal order.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct EventRow {
    pub seq: i64,
    /// The engine's `now` when it applied the event.
    pub at_ms: i64,
    /// `recharge`, `config`, `command`, `tick`.
    pub kind: String,
    pub body: String,
}

/// A ledger entry as stored.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct EntryRow {
    /// Global append order (grows by one per entry).
    pub no: i64,
    pub account_id: AccountId,
    /// 1, 2, 3… per account, gap-free.
    pub seq: i64,
    /// `EntryKind` as snake_case text.
    pub kind: String,
    pub amount_fen: i64,
    pub balance_after_fen: i64,
    /// `Cause` as JSON.
    pub cause: String,
    pub idempotency_key: String,
    pub at_ms: i64,
    /// The journal position of the request that posted it.
    pub journal_seq: i64,
    /// The account's previous entry (`no`), if any.
    pub prev_no: Option<i64>,
}

/// The record that makes a recharge idempotent across restarts.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RechargeRow {
    pub account_id: AccountId,
    pub idempotency_key: String,
    pub amount_fen: i64,
    pub channel: String,
    pub reference: String,
    /// The entry it posted (`EntryRow::no`).
    pub entry_no: i64,
    pub at_ms: i64,
}

/// A meter command's current state (inserted when queued, updated on every
/// transition).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CommandRow {
    /// Assigned by the writer, grows.
    pub no: i64,
    pub meter_id: MeterId,
    /// `CommandKind` as snake_case text.
    pub kind: String,
    /// `CommandState` as snake_case text.
    pub state: String,
    pub attempts: i64,
    pub reason: String,
    pub queued_at_ms: i64,
    pub updated_at_ms: i64,
}

/// One state change of a command, kept for ever.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TransitionRow {
    pub command_no: i64,
    /// `None` for the transition that queued it.
    pub from_state: Option<String>,
    pub to_state: String,
    pub reason: String,
    pub at_ms: i64,
}

/// A notification waiting to be sent (customer or staff).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct OutboxRow {
    pub account_id: Option<AccountId>,
    pub kind: String,
    /// The notification as JSON.
    pub body: String,
    pub created_at_ms: i64,
}

/// Something staff should look at.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AlarmRow {
    pub meter_id: MeterId,
    pub kind: String,
    pub detail: String,
    pub raised_at_ms: i64,
}

/// An alarm as stored, with its identity and whether it is still open.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AlarmView {
    pub id: i64,
    pub meter_id: MeterId,
    pub kind: String,
    pub detail: String,
    pub raised_at_ms: i64,
    pub cleared_at_ms: Option<i64>,
}

/// Closes a meter's open alarms of one kind (the condition went away, e.g.
/// a silent meter reported again).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AlarmClear {
    pub meter_id: MeterId,
    pub kind: String,
    pub cleared_at_ms: i64,
}

/// Which alarms [`Journal::list_alarms`] returns.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct AlarmFilter {
    pub kind: Option<String>,
    /// Only alarms not cleared yet.
    pub open_only: bool,
    /// Alarms with an id below this (paging, newest first).
    pub before_id: Option<i64>,
    pub limit: u32,
}

/// Everything one group commit appends, in one transaction.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct JournalBatch {
    pub readings: Vec<ReadingRow>,
    pub events: Vec<EventRow>,
    pub entries: Vec<EntryRow>,
    pub recharges: Vec<RechargeRow>,
    /// Inserted, or updated by `no` when already there.
    pub commands: Vec<CommandRow>,
    pub transitions: Vec<TransitionRow>,
    pub outbox: Vec<OutboxRow>,
    pub alarms: Vec<AlarmRow>,
    /// Applied after `alarms`, so a batch may raise and clear the same kind.
    pub alarm_clears: Vec<AlarmClear>,
}

impl JournalBatch {
    pub fn is_empty(&self) -> bool {
        self.readings.is_empty()
            && self.events.is_empty()
            && self.entries.is_empty()
            && self.recharges.is_empty()
            && self.commands.is_empty()
            && self.transitions.is_empty()
            && self.outbox.is_empty()
            && self.alarms.is_empty()
            && self.alarm_clears.is_empty()
    }
}

/// One journal record for replay: a reading or another event.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum JournalRecord {
    Reading(ReadingRow),
    Event(EventRow),
}

impl JournalRecord {
    pub fn seq(&self) -> i64 {
        match self {
            JournalRecord::Reading(r) => r.seq,
            JournalRecord::Event(e) => e.seq,
        }
    }
}

/// The highest positions used so far (0 when empty).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct JournalTail {
    /// Highest `seq` of readings and events.
    pub seq: i64,
    /// Highest ledger entry `no`.
    pub entry_no: i64,
    /// Highest command `no`.
    pub command_no: i64,
}

/// An account's ledger summed from its entries (for the invariant check).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct LedgerTotal {
    pub account_id: AccountId,
    pub sum_fen: i64,
    pub entries: i64,
    pub max_seq: i64,
    /// `balance_after_fen` of the entry with the highest `seq`.
    pub last_balance_fen: i64,
}

/// A stored checkpoint: the writer's whole state as of journal `seq`,
/// in chunks (opaque to the store).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Checkpoint {
    pub seq: i64,
    pub at_ms: i64,
    pub chunks: Vec<String>,
}

/// A finished checkpoint's position and size.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CheckpointHead {
    pub seq: i64,
    pub at_ms: i64,
    pub chunks: i64,
}

/// The engine's durable half. See the module docs.
#[async_trait]
pub trait Journal: Send + Sync + std::fmt::Debug + 'static {
    /// Makes this process the journal's only writer until it exits (a file
    /// lock beside a SQLite database, an advisory lock in PostgreSQL); a
    /// second `yufu` on the same database is refused with `Conflict`
    /// instead of interleaving its journal with ours. Claiming again from
    /// the same store is fine.
    async fn claim_writer(&self) -> StoreResult<()>;

    /// Appends everything in one transaction; returns after `COMMIT`.
    async fn append(&self, batch: &JournalBatch) -> StoreResult<()>;

    /// Readings and events with `seq > after`, in `seq` order, at most `limit`.
    async fn journal_after(&self, after: i64, limit: u32) -> StoreResult<Vec<JournalRecord>>;

    async fn tail(&self) -> StoreResult<JournalTail>;

    /// Stores chunk `index` of the checkpoint at `seq` being written; chunk
    /// 0 starts it over. Invisible until [`Journal::finish_checkpoint`].
    /// Chunks are written one by one so a checkpoint of a million meters
    /// never has to be in memory whole.
    async fn put_checkpoint_chunk(&self, seq: i64, index: i64, body: &str) -> StoreResult<()>;
    /// Makes the checkpoint at `seq` (all `chunks` put) the latest and
    /// deletes older ones, in one transaction.
    async fn finish_checkpoint(&self, seq: i64, at_ms: i64, chunks: i64) -> StoreResult<()>;
    /// The latest finished checkpoint, without its chunks.
    async fn latest_checkpoint_head(&self) -> StoreResult<Option<CheckpointHead>>;
    /// One chunk of a finished checkpoint. Read them while no checkpoint is
    /// being finished (at start-up, before the writer runs).
    async fn checkpoint_chunk(&self, seq: i64, index: i64) -> StoreResult<String>;

    /// Saves a whole checkpoint held in memory (small fleets, tests).
    async fn save_checkpoint(&self, checkpoint: &Checkpoint) -> StoreResult<()> {
        let mut count = 0_i64;
        for (index, chunk) in (0_i64..).zip(&checkpoint.chunks) {
            self.put_checkpoint_chunk(checkpoint.seq, index, chunk)
                .await?;
            count = index + 1;
        }
        self.finish_checkpoint(checkpoint.seq, checkpoint.at_ms, count)
            .await
    }

    /// The latest checkpoint with all its chunks.
    async fn latest_checkpoint(&self) -> StoreResult<Option<Checkpoint>> {
        let Some(head) = self.latest_checkpoint_head().await? else {
            return Ok(None);
        };
        let mut chunks = Vec::new();
        for index in 0..head.chunks {
            chunks.push(self.checkpoint_chunk(head.seq, index).await?);
        }
        Ok(Some(Checkpoint {
            seq: head.seq,
            at_ms: head.at_ms,
            chunks,
        }))
    }

    async fn find_recharge(
        &self,
        account: AccountId,
        key: &str,
    ) -> StoreResult<Option<(RechargeRow, EntryRow)>>;

    /// Walks an account's ledger down from entry `from` (inclusive),
    /// newest first, at most `limit` entries.
    async fn ledger_chain(&self, from: i64, limit: u32) -> StoreResult<Vec<EntryRow>>;
    /// Walks a meter's readings down from `from` (inclusive), newest first.
    async fn reading_chain(&self, from: i64, limit: u32) -> StoreResult<Vec<ReadingRow>>;

    /// A meter's commands, newest first.
    async fn meter_commands(&self, meter: MeterId, limit: u32) -> StoreResult<Vec<CommandRow>>;
    /// A command's transitions, oldest first.
    async fn command_transitions(&self, command_no: i64) -> StoreResult<Vec<TransitionRow>>;
    /// A meter's alarms, newest first.
    async fn meter_alarms(&self, meter: MeterId, limit: u32) -> StoreResult<Vec<AlarmView>>;
    /// Alarms of every meter, newest first.
    async fn list_alarms(&self, filter: &AlarmFilter) -> StoreResult<Vec<AlarmView>>;

    /// Every account's entries summed (the ledger invariant check).
    async fn ledger_totals(&self) -> StoreResult<Vec<LedgerTotal>>;
    /// How many readings are stored.
    async fn readings_count(&self) -> StoreResult<i64>;
}
