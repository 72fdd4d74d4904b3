#![doc = include_str!("../README.md")]

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use jiff::Timestamp;
use jiff::tz::TimeZone;
pub use yufu_domain::apportion::SharedGroup;
use yufu_domain::apportion::{ShareRule, split};
use yufu_domain::balance::{self, AccountRules, BalancePolicy, Effect, ProtectedWindows, Supply};
use yufu_domain::command::{Admission, Command, CommandKind, RetryPolicy, admit};
use yufu_domain::ledger::{Cause, EntryKind, NewLedgerEntry};
use yufu_domain::{AccountId, DomainError, Fen, MeterId, Utility};
use yufu_tariff::{BillingState, MeterParams, Pricer, RateRegisters, Reading, Tariff, Verdict};

mod commands;
// --- meter swap (issue 8 helper): preview and tier-usage handover ---
mod handover;
#[cfg(test)]
mod post_tests;
mod snapshot;

pub use commands::{CommandRefused, CommandUpdate, SafetyShutoff};
pub use handover::Handover;
pub use snapshot::{AccountSnapshot, MeterSnapshot, SiteSnapshot, SnapshotItem};

/// Readings remembered per meter to recognise replays of recent ones (older
/// replays are caught by the store's unique (meter, instant) key).
pub const RECENT_READINGS: usize = 16;

/// A meter as the engine needs it.
#[derive(Clone, Debug)]
pub struct MeterSetup {
    pub id: MeterId,
    pub account: AccountId,
    pub utility: Utility,
    pub params: MeterParams,
    /// The id of a tariff added with [`Engine::add_tariff`].
    pub tariff: String,
    /// The meter's billing state (from the last checkpoint; default for a new meter).
    pub billing: BillingState,
    /// Fixed charges of its tariff are due for periods starting after this
    /// instant (its commissioning, or where the last posting stopped).
    pub fixed_charges_from: Timestamp,
    /// A public-area meter (公摊表): its charges are split over these accounts
    /// instead of going to `account`.
    pub shared: Option<SharedGroup>,
}

/// An account as the engine needs it.
#[derive(Clone, Debug)]
pub struct AccountSetup {
    pub id: AccountId,
    /// The balance so far: the sum of the entries already posted.
    pub balance: Fen,
    /// The last entry sequence number posted (0 for none).
    pub last_seq: u64,
    pub policy: BalancePolicy,
    /// The key of a site added with [`Engine::add_site`].
    pub site: String,
    /// The supply state as last recorded (`Supply::On` for a new account).
    pub supply: Supply,
}

/// An entry the engine posted: append it to the ledger.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct LedgerEntry {
    pub account: AccountId,
    /// 1, 2, 3… per account: gap-free, so a lost entry is visible.
    pub seq: u64,
    pub kind: EntryKind,
    pub amount: Fen,
    pub cause: Cause,
    pub idempotency_key: String,
    pub at: Timestamp,
    pub balance_after: Fen,
}

/// A message for the customer or staff, for the outbox.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notification {
    LowBalance {
        account: AccountId,
        level: Fen,
        balance: Fen,
    },
    CutoffScheduled {
        account: AccountId,
        at: Timestamp,
    },
    CutoffCancelled {
        account: AccountId,
    },
    Recharged {
        account: AccountId,
        amount: Fen,
        balance: Fen,
    },
}

/// Something for staff to look at.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct Alarm {
    pub meter: MeterId,
    /// The verdict that raised it, e.g. `negative_delta`.
    pub kind: &'static str,
    pub detail: String,
}

/// A command to put in the meter's durable queue.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct QueuedCommand {
    pub meter: MeterId,
    pub command: Command,
    /// A still-queued opposite command it replaced, if any.
    pub superseded: Option<CommandKind>,
}

/// The answer for a reading's sender.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ReadingResult {
    /// Stored with its verdict (billed, or kept unbilled and flagged).
    Accepted(Verdict),
    /// Seen before: nothing changes.
    Duplicate,
    /// Not stored, with the reason.
    Rejected(String),
}

/// What one call changed; the caller makes it durable, then answers.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Outcome {
    pub entries: Vec<LedgerEntry>,
    pub notifications: Vec<Notification>,
    pub alarms: Vec<Alarm>,
    pub commands: Vec<QueuedCommand>,
}

/// A reading as it arrives from any source.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ReadingIn {
    pub meter: MeterId,
    pub at: Timestamp,
    pub register: u64,
    pub rates: Option<RateRegisters>,
}

/// A recharge request; `key` is the caller's idempotency key.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RechargeIn {
    pub account: AccountId,
    pub amount: Fen,
    pub channel: String,
    pub reference: String,
    pub key: String,
}

#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum RechargeError {
    #[error("account {0} is not known to the engine")]
    UnknownAccount(AccountId),
    #[error("idempotency key '{0}' was used for a different request")]
    KeyReused(String),
    #[error(transparent)]
    Invalid(#[from] DomainError),
}

/// An entry staff post by hand (a refund or a reversal, approved by a
/// second person upstream): a [`EntryKind::Refund`] (negative) or an
/// [`EntryKind::Adjustment`] (either way, not zero). `key` is the caller's
/// idempotency key, unique per account among posted entries; it is the
/// entry's own key, so it may not use the prefixes of the engine's keys
/// ([`RESERVED_KEY_PREFIXES`]).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PostIn {
    pub account: AccountId,
    pub kind: EntryKind,
    pub amount: Fen,
    pub cause: Cause,
    pub key: String,
}

/// Entry keys the engine makes itself (recharges, readings, fixed charges);
/// a posted entry's key may not start with one.
pub const RESERVED_KEY_PREFIXES: [&str; 3] = ["recharge:", "reading:", "fixed:"];

#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum PostError {
    #[error("account {0} is not known to the engine")]
    UnknownAccount(AccountId),
    #[error("idempotency key '{0}' was used for a different request")]
    KeyReused(String),
    /// A refund pays back prepaid credit, never more than the balance.
    #[error(
        "a refund cannot take the balance below zero: the balance is {balance} yuan \
         and the refund {refund} yuan (a refund pays back prepaid credit, not more)"
    )]
    BeyondBalance { balance: Fen, refund: Fen },
    #[error(transparent)]
    Invalid(#[from] DomainError),
}

/// A posted entry's result: the same shape as a recharge's.
pub type Posted = Recharged;

/// A recharge's result: the entry, and whether this was a replay.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Recharged {
    pub entry: LedgerEntry,
    /// True when the key was seen before with the same request: nothing new
    /// was credited and `entry` is the original.
    pub replay: bool,
    pub outcome: Outcome,
}

#[derive(Clone, Debug)]
pub enum SetupError {
    UnknownTariff(String),
    UnknownSite(String),
    UnknownAccount(AccountId),
    UtilityMismatch { meter: Utility, tariff: Utility },
    // --- meter swap (issue 8 helper); InheritRefused: a tier-usage
    // handover (`Engine::inherit_billing`) that was refused ---
    UnknownMeter(MeterId),
    InheritRefused { to: MeterId, reason: String },
}

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SetupError::UnknownTariff(t) => write!(f, "tariff '{t}' is not loaded"),
            SetupError::UnknownSite(s) => write!(f, "site '{s}' is not loaded"),
            SetupError::UnknownAccount(a) => write!(f, "account {a} is not loaded"),
            SetupError::UtilityMismatch { meter, tariff } => {
                write!(f, "a {meter} meter cannot use a {tariff} tariff")
            }
            SetupError::UnknownMeter(m) => write!(f, "meter {m} is not loaded"),
            SetupError::InheritRefused { to, reason } => {
                write!(f, "meter {to} cannot inherit tier usage: {reason}")
            }
        }
    }
}

impl std::error::Error for SetupError {}

struct MeterSlot {
    account: AccountId,
    utility: Utility,
    params: MeterParams,
    /// Shared with every meter on the same tariff (interned).
    tariff: Arc<str>,
    billing: BillingState,
    recent: VecDeque<(Timestamp, u64)>,
    commands: Vec<Command>,
    fixed_charges_from: Timestamp,
    shared: Option<SharedGroup>,
    /// An opaque bookmark kept for the durable layer (the journal position
    /// of the meter's newest stored reading); 0 for none.
    mark: i64,
    /// Set by a safety shut-off (a gas leak): the valve stays closed whatever
    /// the balance until staff release it. Boxed away: almost always `None`.
    safety_hold: Option<Box<str>>,
}

/// Accounts by where their balance stands ([`Engine::account_summary`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct AccountSummary {
    pub total: u64,
    /// Supplied, with the balance below the first warning level.
    pub warning: u64,
    /// Supply cut (or the cut sent) for lack of credit.
    pub cut_off: u64,
    /// Out of credit, the cut deferred by a protected window.
    pub cut_pending: u64,
    /// Balance below zero (an overdraft allowance in use, or billing after a cut).
    pub in_arrears: u64,
}

struct AccountSlot {
    balance: Fen,
    last_seq: u64,
    policy: BalancePolicy,
    site: Arc<str>,
    rules: AccountRules,
    meters: Vec<MeterId>,
    /// Metered consumption (base units) since the last public-area split, the
    /// weight of a `Usage` share.
    usage_since_split: u64,
    /// An opaque bookmark kept for the durable layer (its newest ledger
    /// entry's number); 0 for none.
    mark: i64,
}

struct RechargeRecord {
    request: RechargeIn,
    entry: LedgerEntry,
}

struct PostRecord {
    request: PostIn,
    entry: LedgerEntry,
}

/// The single-writer state of the prepaid engine.
pub struct Engine {
    tariffs: HashMap<String, Pricer>,
    sites: HashMap<String, (ProtectedWindows, TimeZone)>,
    // Boxed: a map stores its values inline and keeps up to twice as many
    // slots as entries, which at a million meters doubled the memory.
    meters: HashMap<MeterId, Box<MeterSlot>>,
    accounts: HashMap<AccountId, Box<AccountSlot>>,
    /// Tariff and site keys, shared by the slots that name them.
    names: HashSet<Arc<str>>,
    recharges: HashMap<(AccountId, String), RechargeRecord>,
    /// Entries posted by hand since start-up, by (account, key).
    posts: HashMap<(AccountId, String), PostRecord>,
    /// Accounts whose cut-off waits for a protected window to end.
    deferred: HashSet<AccountId>,
    /// Meters with a command still in play (so the dispatcher need not scan
    /// every meter).
    with_commands: HashSet<MeterId>,
    retry: RetryPolicy,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("tariffs", &self.tariffs.len())
            .field("meters", &self.meters.len())
            .field("accounts", &self.accounts.len())
            .finish_non_exhaustive()
    }
}

impl Engine {
    pub fn new(retry: RetryPolicy) -> Self {
        Self {
            tariffs: HashMap::new(),
            sites: HashMap::new(),
            meters: HashMap::new(),
            accounts: HashMap::new(),
            recharges: HashMap::new(),
            posts: HashMap::new(),
            deferred: HashSet::new(),
            with_commands: HashSet::new(),
            names: HashSet::new(),
            retry,
        }
    }

    fn intern(&mut self, name: String) -> Arc<str> {
        if let Some(known) = self.names.get(name.as_str()) {
            return known.clone();
        }
        let name: Arc<str> = Arc::from(name);
        self.names.insert(name.clone());
        name
    }

    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    pub fn add_tariff(&mut self, tariff: Tariff) {
        self.tariffs.insert(tariff.id.clone(), Pricer::new(tariff));
    }

    pub fn add_site(&mut self, key: impl Into<String>, windows: ProtectedWindows, tz: TimeZone) {
        self.sites.insert(key.into(), (windows, tz));
    }

    pub fn add_account(&mut self, a: AccountSetup) -> Result<(), SetupError> {
        if !self.sites.contains_key(&a.site) {
            return Err(SetupError::UnknownSite(a.site));
        }
        // Warnings already crossed at this balance were given before; only a
        // new crossing notifies.
        let rules = AccountRules {
            balance: a.balance,
            warned: a.policy.levels_below(a.balance),
            supply: a.supply,
        };
        if matches!(a.supply, Supply::CutPending { .. }) {
            self.deferred.insert(a.id);
        }
        let site = self.intern(a.site);
        self.accounts.insert(
            a.id,
            Box::new(AccountSlot {
                balance: a.balance,
                last_seq: a.last_seq,
                policy: a.policy,
                site,
                rules,
                meters: Vec::new(),
                usage_since_split: 0,
                mark: 0,
            }),
        );
        Ok(())
    }

    pub fn add_meter(&mut self, m: MeterSetup) -> Result<(), SetupError> {
        let pricer = self
            .tariffs
            .get(&m.tariff)
            .ok_or_else(|| SetupError::UnknownTariff(m.tariff.clone()))?;
        if pricer.tariff().utility != m.utility {
            return Err(SetupError::UtilityMismatch {
                meter: m.utility,
                tariff: pricer.tariff().utility,
            });
        }
        let account = self
            .accounts
            .get_mut(&m.account)
            .ok_or(SetupError::UnknownAccount(m.account))?;
        account.meters.push(m.id);
        let tariff = self.intern(m.tariff);
        self.meters.insert(
            m.id,
            Box::new(MeterSlot {
                account: m.account,
                utility: m.utility,
                params: m.params,
                tariff,
                billing: m.billing,
                // Grows as readings arrive, up to RECENT_READINGS.
                recent: VecDeque::new(),
                commands: Vec::new(),
                fixed_charges_from: m.fixed_charges_from,
                shared: m.shared,
                mark: 0,
                safety_hold: None,
            }),
        );
        Ok(())
    }

    /// Every account counted by where its balance stands, for the
    /// console's dashboard: one pass over the accounts in memory.
    pub fn account_summary(&self) -> AccountSummary {
        let mut sum = AccountSummary::default();
        for a in self.accounts.values() {
            sum.total += 1;
            if a.balance.0 < 0 {
                sum.in_arrears += 1;
            }
            match a.rules.supply {
                Supply::Off => sum.cut_off += 1,
                Supply::CutPending { .. } => sum.cut_pending += 1,
                Supply::On => {
                    if a.policy.warnings().first().is_some_and(|w| a.balance < *w) {
                        sum.warning += 1;
                    }
                }
            }
        }
        sum
    }

    pub fn balance(&self, account: AccountId) -> Option<Fen> {
        self.accounts.get(&account).map(|a| a.balance)
    }

    pub fn supply(&self, account: AccountId) -> Option<Supply> {
        self.accounts.get(&account).map(|a| a.rules.supply)
    }

    pub fn billing_state(&self, meter: MeterId) -> Option<BillingState> {
        self.meters.get(&meter).map(|m| m.billing)
    }

    /// The meter's commands still in play.
    pub fn pending_commands(&self, meter: MeterId) -> Vec<Command> {
        self.meters
            .get(&meter)
            .map(|m| {
                m.commands
                    .iter()
                    .filter(|c| c.state.is_pending())
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Prices and posts one reading.
    pub fn ingest(&mut self, r: &ReadingIn, now: Timestamp) -> (ReadingResult, Outcome) {
        let mut out = Outcome::default();
        let Some(meter) = self.meters.get_mut(&r.meter) else {
            return (
                ReadingResult::Rejected(format!("meter {} is not known to the engine", r.meter)),
                out,
            );
        };
        if let Some((_, register)) = meter.recent.iter().find(|(at, _)| *at == r.at) {
            return if *register == r.register {
                (ReadingResult::Duplicate, out)
            } else {
                out.alarms.push(Alarm {
                    meter: r.meter,
                    kind: "conflict",
                    detail: format!(
                        "register {} at {} differs from the stored {register}",
                        r.register, r.at
                    ),
                });
                (
                    ReadingResult::Rejected(format!(
                        "a different value for {} is already stored",
                        r.at
                    )),
                    out,
                )
            };
        }
        let Some(pricer) = self.tariffs.get(&*meter.tariff) else {
            return (
                ReadingResult::Rejected(format!("tariff '{}' is not loaded", meter.tariff)),
                out,
            );
        };
        let reading = Reading {
            at: r.at,
            register: r.register,
            rates: r.rates,
            approved: false,
        };
        let priced = pricer.price(&meter.params, &meter.billing, &reading);
        let result = match &priced.verdict {
            Verdict::Duplicate => return (ReadingResult::Duplicate, out),
            v @ (Verdict::Conflict { .. } | Verdict::RegisterOutOfRange { .. }) => {
                out.alarms.push(Alarm {
                    meter: r.meter,
                    kind: verdict_name(v),
                    detail: v.explain(),
                });
                return (ReadingResult::Rejected(v.explain()), out);
            }
            // A late reading is never billed; refusing it (rather than
            // storing it flagged) keeps storage exactly-once without the
            // store having to look every reading up: anything at or before
            // the meter's latest instant is either a recent duplicate, the
            // latest itself, or refused here.
            Verdict::OutOfOrder { last_billed_at } => {
                return (
                    ReadingResult::Rejected(format!(
                        "older than the meter's latest reading ({last_billed_at}); \
                         late readings are not stored, as they would not be billed"
                    )),
                    out,
                );
            }
            v @ (Verdict::NegativeDelta { .. }
            | Verdict::ImplausibleJump { .. }
            | Verdict::NoTariff { .. }
            | Verdict::GapTooLong { .. }) => {
                out.alarms.push(Alarm {
                    meter: r.meter,
                    kind: verdict_name(v),
                    detail: v.explain(),
                });
                ReadingResult::Accepted(v.clone())
            }
            v @ (Verdict::Opening | Verdict::Billed(_)) => ReadingResult::Accepted(v.clone()),
        };
        meter.billing = priced.state;
        if meter.recent.len() == RECENT_READINGS {
            meter.recent.pop_front();
        }
        meter.recent.push_back((r.at, r.register));
        let account_id = meter.account;
        let shared = meter.shared.clone();
        let Verdict::Billed(charge) = &priced.verdict else {
            return (result, out);
        };
        if shared.is_none()
            && let Some(slot) = self.accounts.get_mut(&account_id)
        {
            slot.usage_since_split = slot.usage_since_split.saturating_add(charge.quantity);
        }
        if charge.total_fen == 0 {
            return (result, out);
        }
        let cause = Cause::Reading {
            meter_id: r.meter,
            at: r.at,
        };
        let key = format!("reading:{}:{}", r.meter, r.at.as_millisecond());
        let shares = match &shared {
            None => vec![(account_id, Fen(-charge.total_fen))],
            Some(group) => {
                self.shares(group, Fen(-charge.total_fen), r.meter, account_id, &mut out)
            }
        };
        for (account, amount) in shares {
            let key = if shared.is_some() {
                format!("{key}:{account}")
            } else {
                key.clone()
            };
            if amount != Fen::ZERO
                && let Some(entry) = self.post(
                    account,
                    EntryKind::Consumption,
                    amount,
                    cause.clone(),
                    key,
                    r.at,
                )
            {
                out.entries.push(entry);
            }
            self.apply_rules(account, now, &mut out);
        }
        (result, out)
    }

    /// Credits a recharge once per idempotency key.
    pub fn recharge(
        &mut self,
        req: RechargeIn,
        now: Timestamp,
    ) -> Result<Recharged, RechargeError> {
        if !self.accounts.contains_key(&req.account) {
            return Err(RechargeError::UnknownAccount(req.account));
        }
        let slot = (req.account, req.key.clone());
        if let Some(done) = self.recharges.get(&slot) {
            return if done.request == req {
                Ok(Recharged {
                    entry: done.entry.clone(),
                    replay: true,
                    outcome: Outcome::default(),
                })
            } else {
                Err(RechargeError::KeyReused(req.key))
            };
        }
        let cause = Cause::Payment {
            channel: req.channel.clone(),
            reference: req.reference.clone(),
        };
        let new = NewLedgerEntry::new(
            req.account,
            EntryKind::Recharge,
            req.amount,
            cause,
            format!("recharge:{}", req.key),
            now,
        )?;
        let mut out = Outcome::default();
        let entry = self
            .post(
                new.account_id,
                new.kind,
                new.amount,
                new.cause,
                new.idempotency_key,
                new.at,
            )
            .ok_or_else(|| DomainError::invalid("amount", "the balance would overflow"))?;
        out.entries.push(entry.clone());
        out.notifications.push(Notification::Recharged {
            account: req.account,
            amount: req.amount,
            balance: entry.balance_after,
        });
        self.apply_rules(req.account, now, &mut out);
        self.recharges.insert(
            slot,
            RechargeRecord {
                request: req,
                entry: entry.clone(),
            },
        );
        Ok(Recharged {
            entry,
            replay: false,
            outcome: out,
        })
    }

    /// Posts a refund or an adjustment once per (account, key), through the
    /// same rules as every other entry: the balance rules run after it (a
    /// debit may warn, or schedule a cut-off). A repeat of the same request
    /// answers the original entry and changes nothing; the same key with a
    /// different request is refused. A refund may not take the balance
    /// below zero (an adjustment may: reversing a recharge already spent
    /// leaves a debt, and the cut-off rules deal with it).
    pub fn post_entry(&mut self, req: PostIn, now: Timestamp) -> Result<Posted, PostError> {
        let Some(balance) = self.balance(req.account) else {
            return Err(PostError::UnknownAccount(req.account));
        };
        let slot = (req.account, req.key.clone());
        if let Some(done) = self.posts.get(&slot) {
            return if done.request == req {
                Ok(Posted {
                    entry: done.entry.clone(),
                    replay: true,
                    outcome: Outcome::default(),
                })
            } else {
                Err(PostError::KeyReused(req.key))
            };
        }
        if !matches!(req.kind, EntryKind::Refund | EntryKind::Adjustment) {
            return Err(DomainError::invalid(
                "kind",
                format!(
                    "only refund and adjustment entries are posted by hand, not {}",
                    req.kind
                ),
            )
            .into());
        }
        if RESERVED_KEY_PREFIXES.iter().any(|p| req.key.starts_with(p)) {
            return Err(DomainError::invalid(
                "idempotency_key",
                format!(
                    "keys starting with {} are the engine's own",
                    RESERVED_KEY_PREFIXES.join(", ")
                ),
            )
            .into());
        }
        let new = NewLedgerEntry::new(
            req.account,
            req.kind,
            req.amount,
            req.cause.clone(),
            req.key.clone(),
            now,
        )?;
        let after = balance
            .checked_add(new.amount)
            .ok_or_else(|| DomainError::invalid("amount", "the balance would overflow"))?;
        if new.kind == EntryKind::Refund && after.0 < 0 {
            return Err(PostError::BeyondBalance {
                balance,
                refund: Fen(new.amount.0.saturating_neg()),
            });
        }
        let mut out = Outcome::default();
        let entry = self
            .post(
                new.account_id,
                new.kind,
                new.amount,
                new.cause,
                new.idempotency_key,
                new.at,
            )
            .ok_or_else(|| DomainError::invalid("amount", "the balance would overflow"))?;
        out.entries.push(entry.clone());
        self.apply_rules(req.account, now, &mut out);
        self.posts.insert(
            slot,
            PostRecord {
                request: req,
                entry: entry.clone(),
            },
        );
        Ok(Posted {
            entry,
            replay: false,
            outcome: out,
        })
    }

    /// Posts the fixed charges (standing charges of each meter's tariff) whose
    /// periods started since the last call, up to `now`, in the tariff's time
    /// zone. Each (meter, charge, period) is posted once: the engine moves
    /// the meter's mark forward, and the entry's idempotency key
    /// `fixed:{meter}:{period}:{n}` lets the store refuse a replay.
    pub fn post_fixed_charges(&mut self, now: Timestamp) -> Outcome {
        let mut out = Outcome::default();
        let mut touched: Vec<AccountId> = Vec::new();
        let mut ids: Vec<MeterId> = self.meters.keys().copied().collect();
        // A stable order keeps sequence numbers reproducible on replay.
        ids.sort();
        for id in ids {
            let Some(meter) = self.meters.get_mut(&id) else {
                continue;
            };
            if now <= meter.fixed_charges_from {
                continue;
            }
            let Some(pricer) = self.tariffs.get(&*meter.tariff) else {
                continue;
            };
            let due =
                yufu_tariff::fixed_charges_due(pricer.tariff(), meter.fixed_charges_from, now);
            meter.fixed_charges_from = now;
            let account = meter.account;
            let mut n = 0usize;
            let mut last_period = None;
            for (period, charge) in due {
                // Keys are printable ASCII (see `NewLedgerEntry`): a charge is
                // named by its place among its version's charges due that
                // period, not by its (often Chinese) name.
                n = if last_period == Some(period) {
                    n + 1
                } else {
                    0
                };
                last_period = Some(period);
                let key = format!("fixed:{id}:{period}:{n}");
                let cause = Cause::Schedule {
                    charge: charge.name.clone(),
                    period_start: period,
                };
                let Some(entry) = self.post(
                    account,
                    EntryKind::FixedCharge,
                    Fen(-charge.amount.0),
                    cause,
                    key,
                    now,
                ) else {
                    continue;
                };
                out.entries.push(entry);
                if !touched.contains(&account) {
                    touched.push(account);
                }
            }
        }
        for account in touched {
            self.apply_rules(account, now, &mut out);
        }
        out
    }

    /// Lets time pass: carries out cut-offs whose protected window has ended.
    pub fn tick(&mut self, now: Timestamp) -> Outcome {
        let mut out = Outcome::default();
        let due: Vec<AccountId> = self.deferred.iter().copied().collect();
        for account in due {
            self.apply_rules(account, now, &mut out);
        }
        out
    }

    /// A public-area charge split over the group's members by its rule.
    /// Members not loaded are left out; with no weight at all the split falls
    /// back to equal shares and says so.
    fn shares(
        &mut self,
        group: &SharedGroup,
        total: Fen,
        meter: MeterId,
        holder: AccountId,
        out: &mut Outcome,
    ) -> Vec<(AccountId, Fen)> {
        let members: Vec<(AccountId, u64)> = group
            .members
            .iter()
            .filter(|(a, _)| self.accounts.contains_key(a))
            .map(|(a, w)| {
                let weight = match group.rule {
                    ShareRule::Area => *w,
                    ShareRule::Equal => 1,
                    ShareRule::Usage => self.accounts.get(a).map_or(0, |s| s.usage_since_split),
                };
                (*a, weight)
            })
            .collect();
        if group.rule == ShareRule::Usage {
            for (a, _) in &members {
                if let Some(slot) = self.accounts.get_mut(a) {
                    slot.usage_since_split = 0;
                }
            }
        }
        if members.is_empty() {
            // Money is never dropped: with no member to share it, the
            // meter's own account pays, and staff are told.
            out.alarms.push(Alarm {
                meter,
                kind: "apportionment",
                detail: "no member of the public-area group is billed; charged to the meter's own account"
                    .into(),
            });
            return vec![(holder, total)];
        }
        match split(total, &members) {
            Ok(shares) => shares,
            Err(_) => {
                out.alarms.push(Alarm {
                    meter,
                    kind: "apportionment",
                    detail: "no member had a weight for the public-area split; shared equally"
                        .into(),
                });
                let equal: Vec<(AccountId, u64)> = members.iter().map(|(a, _)| (*a, 1)).collect();
                split(total, &equal).unwrap_or_default()
            }
        }
    }

    fn post(
        &mut self,
        account: AccountId,
        kind: EntryKind,
        amount: Fen,
        cause: Cause,
        key: String,
        at: Timestamp,
    ) -> Option<LedgerEntry> {
        // The same rules as for entries from outside: a sign the kind does not
        // allow, or a key that could not be stored, is a bug here.
        let checked = NewLedgerEntry::new(account, kind, amount, cause, key, at);
        debug_assert!(
            checked.is_ok(),
            "engine built an invalid entry: {checked:?}"
        );
        let NewLedgerEntry {
            cause,
            idempotency_key: key,
            ..
        } = checked.ok()?;
        let slot = self.accounts.get_mut(&account)?;
        let balance_after = slot.balance.checked_add(amount)?;
        slot.balance = balance_after;
        slot.last_seq += 1;
        Some(LedgerEntry {
            account,
            seq: slot.last_seq,
            kind,
            amount,
            cause,
            idempotency_key: key,
            at,
            balance_after,
        })
    }

    fn apply_rules(&mut self, account: AccountId, now: Timestamp, out: &mut Outcome) {
        let Some(slot) = self.accounts.get_mut(&account) else {
            return;
        };
        let Some((windows, tz)) = self.sites.get(&*slot.site) else {
            return;
        };
        let (rules, effects) =
            balance::apply(&slot.policy, windows, tz, slot.rules, slot.balance, now);
        slot.rules = rules;
        if matches!(rules.supply, Supply::CutPending { .. }) {
            self.deferred.insert(account);
        } else {
            self.deferred.remove(&account);
        }
        let meters = slot.meters.clone();
        for effect in effects {
            match effect {
                Effect::Warning { level, balance } => {
                    out.notifications.push(Notification::LowBalance {
                        account,
                        level,
                        balance,
                    });
                }
                Effect::CutoffScheduled { at } => out
                    .notifications
                    .push(Notification::CutoffScheduled { account, at }),
                Effect::CutoffCancelled => out
                    .notifications
                    .push(Notification::CutoffCancelled { account }),
                Effect::Cutoff => self.command_all(
                    &meters,
                    CommandKind::cutoff_for,
                    "credit exhausted",
                    now,
                    out,
                ),
                Effect::Reconnect => {
                    self.command_all(
                        &meters,
                        CommandKind::reconnect_for,
                        "credit restored",
                        now,
                        out,
                    );
                }
            }
        }
    }

    fn command_all(
        &mut self,
        meters: &[MeterId],
        kind_for: fn(Utility) -> CommandKind,
        reason: &str,
        now: Timestamp,
        out: &mut Outcome,
    ) {
        for id in meters {
            let Some(meter) = self.meters.get_mut(id) else {
                continue;
            };
            let kind = kind_for(meter.utility);
            // A valve shut for safety is not reopened by a recharge: only
            // staff, after the leak is dealt with, release it.
            if meter.safety_hold.is_some() && kind.is_restore() {
                continue;
            }
            // Finished commands need not be kept for admission.
            meter.commands.retain(|c| c.state.is_pending());
            let superseded = match admit(&meter.commands, kind) {
                Admission::AlreadyPending(_) => continue,
                Admission::Queue => None,
                Admission::Supersede(i) => {
                    let old = meter.commands[i].kind;
                    if meter.commands[i].supersede(now, kind).is_err() {
                        continue;
                    }
                    Some(old)
                }
            };
            let command = Command::queue(kind, now, reason);
            meter.commands.push(command.clone());
            self.with_commands.insert(*id);
            out.commands.push(QueuedCommand {
                meter: *id,
                command,
                superseded,
            });
        }
    }
}

/// A verdict's stable name, as stored and shown (`billed`, `opening`, …).
pub fn verdict_name(v: &Verdict) -> &'static str {
    match v {
        Verdict::Billed(_) => "billed",
        Verdict::Opening => "opening",
        Verdict::Duplicate => "duplicate",
        Verdict::Conflict { .. } => "conflict",
        Verdict::OutOfOrder { .. } => "out_of_order",
        Verdict::NegativeDelta { .. } => "negative_delta",
        Verdict::ImplausibleJump { .. } => "implausible_jump",
        Verdict::RegisterOutOfRange { .. } => "register_out_of_range",
        Verdict::NoTariff { .. } => "no_tariff",
        Verdict::GapTooLong { .. } => "gap_too_long",
    }
}
