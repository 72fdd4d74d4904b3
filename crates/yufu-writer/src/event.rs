//! The journal's non-reading records, as JSON. Replay decodes them and
//! applies them through the same code as the live path, so every field the
//! engine depends on must be here.

use serde::{Deserialize, Serialize};
use yufu_domain::balance::{BalancePolicy, ProtectedWindows};
use yufu_domain::command::CommandKind;
use yufu_domain::{AccountId, Fen, MeterId, Utility};
use yufu_engine::SharedGroup;
use yufu_tariff::MeterParams;

/// A change of what the engine knows about the fleet.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum ConfigChange {
    /// A tariff (new, or a new revision replacing the old under the same key).
    Tariff {
        key: String,
        revision: i64,
        toml: String,
    },
    Site {
        key: String,
        windows: ProtectedWindows,
        tz: String,
    },
    Account {
        id: AccountId,
        policy: BalancePolicy,
        site: String,
    },
    Meter {
        id: MeterId,
        account: AccountId,
        utility: Utility,
        params: MeterParams,
        tariff: String,
        /// Fixed charges are due for periods after this instant (ms) for a
        /// new meter.
        from_ms: i64,
        shared: Option<SharedGroup>,
    },
    RemoveMeter {
        id: MeterId,
    },
    // --- meter swap (issue 8 helper) ---
    /// A meter swap (数据迁移): `to` replaces `from` on the same account and
    /// continues its tier-period usage, sub-fen carry and fixed-charge mark
    /// (see `yufu_engine::Engine::inherit_billing`). Both must be loaded.
    /// Moved, not copied: journaled once, a repeat finds nothing to move.
    Inherit {
        from: MeterId,
        to: MeterId,
    },
}

/// A recharge as journaled.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct RechargeBody {
    pub account: AccountId,
    pub amount: Fen,
    pub channel: String,
    pub reference: String,
    pub key: String,
}

impl From<&yufu_engine::RechargeIn> for RechargeBody {
    fn from(r: &yufu_engine::RechargeIn) -> Self {
        Self {
            account: r.account,
            amount: r.amount,
            channel: r.channel.clone(),
            reference: r.reference.clone(),
            key: r.key.clone(),
        }
    }
}

impl From<RechargeBody> for yufu_engine::RechargeIn {
    fn from(r: RechargeBody) -> Self {
        Self {
            account: r.account,
            amount: r.amount,
            channel: r.channel,
            reference: r.reference,
            key: r.key,
        }
    }
}

/// An entry posted by hand (a refund or a reversal), as journaled.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct PostBody {
    pub account: AccountId,
    pub kind: yufu_domain::ledger::EntryKind,
    pub amount: Fen,
    pub cause: yufu_domain::ledger::Cause,
    pub key: String,
}

impl From<&yufu_engine::PostIn> for PostBody {
    fn from(r: &yufu_engine::PostIn) -> Self {
        Self {
            account: r.account,
            kind: r.kind,
            amount: r.amount,
            cause: r.cause.clone(),
            key: r.key.clone(),
        }
    }
}

impl From<PostBody> for yufu_engine::PostIn {
    fn from(r: PostBody) -> Self {
        Self {
            account: r.account,
            kind: r.kind,
            amount: r.amount,
            cause: r.cause,
            key: r.key,
        }
    }
}

/// Entries posted by hand are made idempotent across restarts by the same
/// table as recharges (its primary key is (account, key)), under a key no
/// recharge can have: recharge keys are printable ASCII without spaces,
/// and these start with `post ` (a space).
pub fn post_record_key(key: &str) -> String {
    format!("post {key}")
}

/// The `channel` of a posted entry's row in the recharges table
/// (`post:refund`, `post:adjustment`); its `reference` is the cause as JSON.
pub fn post_record_channel(kind: yufu_domain::ledger::EntryKind) -> String {
    format!("post:{}", kind.as_str())
}

/// What the dispatcher reports about a command.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum CommandEvent {
    Sent {
        meter: MeterId,
        kind: CommandKind,
    },
    Acknowledged {
        meter: MeterId,
        kind: CommandKind,
    },
    Rejected {
        meter: MeterId,
        kind: CommandKind,
        reason: String,
    },
    /// Overdue acknowledgements are retried or time out.
    Expire,
    /// An operator asked for a command.
    Queue {
        meter: MeterId,
        kind: CommandKind,
        reason: String,
    },
    /// A meter reported a hazard (a gas leak): close its valve whatever the
    /// balance and hold it shut.
    Safety {
        meter: MeterId,
        reason: String,
    },
    /// Staff dealt with the hazard: lift the hold (the valve reopens if the
    /// account is in credit).
    ReleaseSafety {
        meter: MeterId,
        reason: String,
    },
}

/// The scheduler's periodic work: fixed charges and deferred cut-offs.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Tick;

/// Journal `kind` values.
pub const KIND_CONFIG: &str = "config";
pub const KIND_RECHARGE: &str = "recharge";
pub const KIND_COMMAND: &str = "command";
pub const KIND_TICK: &str = "tick";
/// An entry posted by hand ([`PostBody`]).
pub const KIND_POST: &str = "post";

/// Everything a checkpoint holds, one JSON object per line.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "c", rename_all = "snake_case")]
pub enum CheckpointItem {
    Counters {
        next_seq: i64,
        next_entry_no: i64,
        next_command_no: i64,
    },
    Tariff {
        key: String,
        revision: i64,
        toml: String,
    },
    Engine(Box<yufu_engine::SnapshotItem>),
    /// The head of the readings chain of a meter the engine no longer bills.
    MeterHead {
        id: MeterId,
        seq: i64,
    },
    Command {
        meter: MeterId,
        kind: CommandKind,
        no: i64,
        queued_at_ms: i64,
    },
}

/// Default balance rules per customer class, until an operator overrides
/// them per account: warnings at 20 and 5 yuan and cut-off at zero for
/// households and public accounts; businesses warned at 200 and 50 yuan
/// with a 50-yuan overdraft before cut-off.
pub fn default_policy(class: yufu_domain::CustomerClass) -> BalancePolicy {
    use yufu_domain::CustomerClass as C;
    let (warnings, cutoff) = match class {
        C::Residential | C::Public => (vec![Fen(2000), Fen(500)], Fen(0)),
        C::Commercial | C::Industrial => (vec![Fen(20000), Fen(5000)], Fen(-5000)),
    };
    BalancePolicy::new(warnings, cutoff).expect("the default policies are valid")
}
