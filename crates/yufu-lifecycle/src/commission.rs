//! Automated commissioning (调试): before an installed meter goes into
//! service, the platform proves the whole chain works for it, end to end,
//! through the same paths production uses — the device, the gateway, the
//! engine's writer, the ledger and the store:
//!
//! 1. [`Step::Reading`]: a read request (`read_now`) goes to the device and
//!    a reading newer than the run's start is recorded for the meter.
//! 2. [`Step::TestCredit`]: a test credit and its exact reversal are posted
//!    through the writer (two `adjustment` entries, idempotent per run); the
//!    balance is back where it was and the ledger stays exact.
//! 3. [`Step::Deduction`]: further readings are requested until one shows
//!    consumption; its charge, priced with the meter's tariff, must be in
//!    the ledger as the reading's `consumption` entry.
//! 4. [`Step::Balance`]: the balance the engine holds equals the sum of the
//!    account's stored ledger entries (a gap-free chain, every running
//!    balance right).
//! 5. [`Step::Command`]: a harmless switching command — the one that
//!    confirms the supply state the engine wants (relay close / valve open
//!    normally) — goes to the device and is acknowledged.
//!
//! [`run`] stops at the first failure, in words an operator understands;
//! later steps are not run. It changes no meter status and writes no
//! lifecycle table: the caller records the report and moves the meter on
//! (or leaves it installed with the failed step's reason).
//!
//! Side effects worth knowing: the test credit and its reversal stay in the
//! ledger (they cancel out); the consumption measured during the run is
//! billed like any other; a read request or command that gets no answer
//! stays queued and the dispatcher keeps retrying it by its back-off.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use yufu_domain::balance::{BalancePolicy, Supply};
use yufu_domain::command::{CommandKind, CommandState};
use yufu_domain::ledger::{Cause, EntryKind};
use yufu_domain::{AccountId, Fen, Meter, MeterId, MeterProtocol, StaffUserId, Utility};
use yufu_engine::PostIn;
use yufu_store::journal::{CommandRow, EntryRow, ReadingRow};
use yufu_store::{Store, StoreError};
use yufu_writer::{LedgerEntryView, Writer, WriterError, find_posted};

/// The step timeout when the caller does not choose one: long enough for a
/// GPRS meter's round trip and a few seconds of consumption.
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(20);
/// The test credit (1.00 yuan), made smaller when a balance threshold lies
/// within it (see [`test_amount`]).
pub const TEST_CREDIT: Fen = Fen(100);
/// How often the engine and the store are looked at while waiting.
const POLL_EVERY: Duration = Duration::from_millis(200);
/// At most one read request per this interval in the deduction step, so
/// consumption has time to reach the register's resolution (0.01 kWh or
/// 0.01 m³) and the journal is not flooded with zero-consumption readings.
const READ_EVERY: Duration = Duration::from_secs(1);
/// Ledger entries read per store round trip when walking an account's chain.
const LEDGER_PAGE: u32 = 1_000;
/// A meter's newest commands looked at to find the one just queued.
const COMMAND_LOOKBACK: u32 = 20;
/// Longest run key: keeps the derived idempotency keys under the ledger's
/// 128-character limit.
pub const MAX_RUN_KEY: usize = 64;

/// One step of a commissioning run, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Reading,
    TestCredit,
    Deduction,
    Balance,
    Command,
}

impl Step {
    /// Every step, in run order.
    pub const ALL: [Step; 5] = [
        Step::Reading,
        Step::TestCredit,
        Step::Deduction,
        Step::Balance,
        Step::Command,
    ];

    /// The stored name (`reading`, `test_credit`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Reading => "reading",
            Step::TestCredit => "test_credit",
            Step::Deduction => "deduction",
            Step::Balance => "balance",
            Step::Command => "command",
        }
    }
}

/// What one step found.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StepResult {
    pub step: Step,
    pub passed: bool,
    /// What was done and seen, or why it failed, for an operator.
    pub detail: String,
    pub started_at_ms: i64,
    pub took_ms: i64,
}

/// The steps run, in order; a failed step is the last one.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CommissionReport {
    pub meter_id: MeterId,
    pub run_key: String,
    pub started_at_ms: i64,
    pub steps: Vec<StepResult>,
}

impl CommissionReport {
    /// Every step ran and passed.
    pub fn passed(&self) -> bool {
        self.steps.len() == Step::ALL.len() && self.steps.iter().all(|s| s.passed)
    }

    /// The step that failed, if one did.
    pub fn failure(&self) -> Option<&StepResult> {
        self.steps.iter().find(|s| !s.passed)
    }

    /// Steps not run because an earlier one failed.
    pub fn not_run(&self) -> Vec<Step> {
        Step::ALL
            .iter()
            .copied()
            .filter(|step| !self.steps.iter().any(|s| s.step == *step))
            .collect()
    }
}

/// How to run one commissioning.
#[derive(Clone, Debug)]
pub struct CommissionOptions {
    /// Unique per run (e.g. the commissioning run's id): the test credit's
    /// idempotency keys are derived from it, so running the same run again
    /// after a crash posts nothing twice. 1–64 printable ASCII characters.
    pub run_key: String,
    /// The longest each step may wait for the device or the engine.
    pub step_timeout: Duration,
    /// The staff member who started the run; the test entries' cause.
    /// Without one they name the channel `commissioning` and the run key.
    pub operator: Option<StaffUserId>,
}

impl CommissionOptions {
    /// Options with [`DEFAULT_STEP_TIMEOUT`] and no operator.
    pub fn new(run_key: impl Into<String>) -> Self {
        Self {
            run_key: run_key.into(),
            step_timeout: DEFAULT_STEP_TIMEOUT,
            operator: None,
        }
    }
}

/// Why a run could not start (no step was run).
#[derive(Debug, thiserror::Error)]
pub enum CommissionError {
    #[error("meter {0} does not exist")]
    UnknownMeter(MeterId),
    #[error(
        "meter {meter} has no {missing}: install it (unit, account and tariff) before commissioning"
    )]
    NotInstalled {
        meter: MeterId,
        missing: &'static str,
    },
    #[error("meter {meter} is not ready in the prepaid engine: {reason}")]
    NotInEngine { meter: MeterId, reason: String },
    #[error("run key {0:?} is not 1–{MAX_RUN_KEY} printable ASCII characters without spaces")]
    BadRunKey(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Writer(#[from] WriterError),
}

/// Commissions `meter`: checks the preconditions, then runs the steps in
/// order and stops at the first that fails (see the module docs).
///
/// A platform error during a step (store or writer unavailable) fails that
/// step with the error in its detail, so what was done so far is kept.
///
/// # Errors
/// [`CommissionError`] when the meter is missing, not installed (no unit,
/// account or tariff), not loaded into the engine as the store says, or the
/// run key is unusable; and store/writer errors while checking that.
pub async fn run(
    store: &dyn Store,
    writer: &Writer,
    meter: MeterId,
    opts: &CommissionOptions,
) -> Result<CommissionReport, CommissionError> {
    let key = &opts.run_key;
    if key.is_empty() || key.len() > MAX_RUN_KEY || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(CommissionError::BadRunKey(key.clone()));
    }
    let m = match store.get_meter(meter).await {
        Ok(m) => m,
        Err(StoreError::NotFound { .. }) => return Err(CommissionError::UnknownMeter(meter)),
        Err(e) => return Err(e.into()),
    };
    let missing = |what| CommissionError::NotInstalled {
        meter,
        missing: what,
    };
    if m.unit_id.is_none() {
        return Err(missing("unit (premises)"));
    }
    let account = m.account_id.ok_or_else(|| missing("account"))?;
    if m.tariff_code.is_none() {
        return Err(missing("tariff"));
    }
    let not_ready = |reason: String| CommissionError::NotInEngine { meter, reason };
    let view = writer
        .meter(meter)
        .await?
        .ok_or_else(|| not_ready("the engine does not know it; sync the meter".into()))?;
    match (view.account_id, view.tariff.as_ref()) {
        (Some(a), Some(_)) if a == account => {}
        (Some(a), Some(_)) => {
            return Err(not_ready(format!(
                "the engine bills it to account {a}, the store says {account}; sync the meter"
            )));
        }
        _ => {
            return Err(not_ready(
                "the engine has no account or tariff for it; sync the meter".into(),
            ));
        }
    }
    if writer.account(account).await?.is_none() {
        return Err(not_ready(format!(
            "its account {account} is not loaded; sync the meter"
        )));
    }

    let started = Timestamp::now();
    let mut ctx = Ctx {
        store,
        writer,
        meter: m,
        account,
        opts,
        started_ms: started.as_millisecond(),
        latest: None,
    };
    let mut report = CommissionReport {
        meter_id: meter,
        run_key: key.clone(),
        started_at_ms: ctx.started_ms,
        steps: Vec::new(),
    };
    for step in Step::ALL {
        let at = Timestamp::now().as_millisecond();
        let clock = Instant::now();
        let outcome = match step {
            Step::Reading => ctx.reading().await,
            Step::TestCredit => ctx.test_credit().await,
            Step::Deduction => ctx.deduction().await,
            Step::Balance => ctx.balance().await,
            Step::Command => ctx.command().await,
        };
        let passed = outcome.is_ok();
        let detail = outcome.unwrap_or_else(|why| why);
        tracing::info!(meter = %meter, step = step.as_str(), passed, %detail, "commissioning step");
        report.steps.push(StepResult {
            step,
            passed,
            detail,
            started_at_ms: at,
            took_ms: i64::try_from(clock.elapsed().as_millis()).unwrap_or(i64::MAX),
        });
        if !passed {
            break;
        }
    }
    Ok(report)
}

/// A step's outcome: what passed, or why not (both for an operator).
type Outcome = Result<String, String>;

/// A platform failure during a step, worded as such.
fn platform(e: impl std::fmt::Display) -> String {
    format!("platform error (not the meter's fault): {e}")
}

/// `value / 1000` with three decimals: kWh from Wh, m³ from litres.
fn milli(value: i64) -> String {
    let sign = if value < 0 { "-" } else { "" };
    let v = value.unsigned_abs();
    format!("{sign}{}.{:03}", v / 1000, v % 1000)
}

fn seconds(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{}.{} s", ms / 1000, (ms % 1000) / 100)
    }
}

/// `n thing` or `n things`.
fn count(n: u32, thing: &str) -> String {
    if n == 1 {
        format!("1 {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

/// Picks the test amount and whether to credit first, so that neither
/// entry takes the balance across a warning level or the cut-off level:
/// crossing one would notify the customer or switch the supply during the
/// test. Normally `TEST_CREDIT`, credited first. `None` when no amount of
/// at least one fen avoids every threshold either way.
pub fn test_amount(balance: Fen, policy: Option<&BalancePolicy>) -> Option<(Fen, bool)> {
    let Some(policy) = policy else {
        return Some((TEST_CREDIT, true));
    };
    let b = balance.0;
    let warnings = policy.warnings().iter().map(|w| w.0);
    let cutoff = policy.cutoff().0;
    // Credit first: a warning level W re-arms when B < W <= B + a (then the
    // reversal notifies again); the cut-off C lifts when B <= C < B + a.
    let credit_max = warnings
        .clone()
        .filter(|w| *w > b)
        .map(|w| w - b - 1)
        .chain((cutoff >= b).then(|| cutoff - b))
        .fold(TEST_CREDIT.0, i64::min);
    if credit_max >= 1 {
        return Some((Fen(credit_max), true));
    }
    // Debit first: a warning W notifies when B - a < W <= B; the cut-off
    // triggers when B - a <= C < B.
    let debit_max = warnings
        .filter(|w| *w <= b)
        .map(|w| b - w)
        .chain((cutoff < b).then(|| b - cutoff - 1))
        .fold(TEST_CREDIT.0, i64::min);
    (debit_max >= 1).then_some((Fen(debit_max), false))
}

struct Ctx<'a> {
    store: &'a dyn Store,
    writer: &'a Writer,
    meter: Meter,
    account: AccountId,
    opts: &'a CommissionOptions,
    started_ms: i64,
    /// The newest reading seen so far in this run.
    latest: Option<ReadingRow>,
}

impl Ctx<'_> {
    fn id(&self) -> MeterId {
        self.meter.id
    }

    fn unit(&self) -> &'static str {
        if self.meter.utility == Utility::Electricity {
            "kWh"
        } else {
            "m³"
        }
    }

    fn cause(&self) -> Cause {
        match self.opts.operator {
            Some(staff_user_id) => Cause::Operator { staff_user_id },
            None => Cause::Payment {
                channel: "commissioning".into(),
                reference: self.opts.run_key.clone(),
            },
        }
    }

    /// How the read request travels, for the step's detail.
    fn read_path(&self) -> &'static str {
        if self.meter.protocol == MeterProtocol::Mqtt {
            // The MQTT contract has no read RPC: the gateway acknowledges
            // read_now at once and the meter reports on its own schedule.
            "asked for a reading (an MQTT meter reports on its own schedule: waited for its next report)"
        } else {
            "asked the meter for a reading (read request over its line)"
        }
    }

    /// The meter's newest stored reading, if any.
    async fn newest_reading(&self) -> Result<Option<ReadingRow>, String> {
        let view = self
            .writer
            .meter(self.id())
            .await
            .map_err(platform)?
            .ok_or("the engine no longer knows the meter (unassigned meanwhile?)")?;
        let Some(head) = view.readings_head else {
            return Ok(None);
        };
        let rows = self
            .store
            .journal()
            .reading_chain(head, 1)
            .await
            .map_err(platform)?;
        Ok(rows.into_iter().next())
    }

    /// Queues a command unless one of `kind` is already pending; returns
    /// the stored command's number and whether it was queued by us.
    async fn ensure_command(
        &self,
        kind: CommandKind,
        reason: String,
    ) -> Result<Option<(i64, bool)>, String> {
        if let Some(no) = self.pending_command(&[kind]).await? {
            return Ok(Some((no, false)));
        }
        let asked = Timestamp::now().as_millisecond();
        self.writer
            .queue_command(self.id(), kind, reason)
            .await
            .map_err(|e| match e {
                WriterError::Invalid(why) => {
                    format!("the platform would not send a {}: {why}", kind.as_str())
                }
                other => platform(other),
            })?;
        let rows = self.commands().await?;
        Ok(rows
            .iter()
            .find(|c| c.kind == kind.as_str() && c.queued_at_ms >= asked)
            .map(|c| (c.no, true)))
    }

    async fn commands(&self) -> Result<Vec<CommandRow>, String> {
        self.store
            .journal()
            .meter_commands(self.id(), COMMAND_LOOKBACK)
            .await
            .map_err(platform)
    }

    /// The newest pending command of one of `kinds`, by its number.
    async fn pending_command(&self, kinds: &[CommandKind]) -> Result<Option<i64>, String> {
        Ok(self
            .commands()
            .await?
            .iter()
            .find(|c| {
                kinds.iter().any(|k| k.as_str() == c.kind)
                    && parse_state(&c.state).is_some_and(CommandState::is_pending)
            })
            .map(|c| c.no))
    }

    /// A command's latest state and the reason given with it.
    async fn command_state(&self, no: i64) -> Result<Option<(String, String)>, String> {
        let transitions = self
            .store
            .journal()
            .command_transitions(no)
            .await
            .map_err(platform)?;
        Ok(transitions
            .last()
            .map(|t| (t.to_state.clone(), t.reason.clone())))
    }

    /// Why a read request produced nothing, from its command's state.
    async fn read_request_state(&self, no: Option<i64>) -> String {
        let Some(no) = no else {
            return String::new();
        };
        match self.command_state(no).await {
            Ok(Some((state, reason))) => match state.as_str() {
                "queued" => " (the read request is still waiting to be sent)".into(),
                "sent" => {
                    " (the read request was sent but the meter has not answered: is it connected and powered?)"
                        .into()
                }
                "acknowledged" => " (the read request was carried out but no reading was stored)"
                    .into(),
                other => format!(" (the read request ended {other}: {reason})"),
            },
            _ => String::new(),
        }
    }

    /// Step 1: a read request, then a reading newer than the run's start.
    async fn reading(&mut self) -> Outcome {
        let timeout = self.opts.step_timeout;
        let deadline = Instant::now() + timeout;
        let asked = Instant::now();
        let reason = format!("commissioning {}: reading", self.opts.run_key);
        let request = self.ensure_command(CommandKind::ReadNow, reason).await?;
        loop {
            if let Some(r) = self.newest_reading().await?
                && r.received_ms >= self.started_ms
            {
                let detail = format!(
                    "{}; reading recorded {} later: register {} {}, verdict {}",
                    self.read_path(),
                    seconds(asked.elapsed()),
                    milli(r.register),
                    self.unit(),
                    r.verdict,
                );
                self.latest = Some(r);
                return Ok(detail);
            }
            if Instant::now() >= deadline {
                let why = self.read_request_state(request.map(|(no, _)| no)).await;
                return Err(format!(
                    "no reading arrived within {} after a read request{why}",
                    seconds(timeout)
                ));
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    /// Step 2: a test credit and its exact reversal.
    async fn test_credit(&mut self) -> Outcome {
        let key = &self.opts.run_key;
        let (first_key, second_key) = (
            format!("commission:{key}:test"),
            format!("commission:{key}:reverse"),
        );
        // A run repeated with the same key continues with the amount it
        // posted before, so the keys answer the same requests again.
        let earlier = find_posted(self.store, self.account, &first_key)
            .await
            .map_err(platform)?;
        let amount = match earlier {
            Some(e) => Fen(e.amount_fen),
            None => {
                let view = self
                    .writer
                    .account(self.account)
                    .await
                    .map_err(platform)?
                    .ok_or("the engine no longer knows the account")?;
                let (amount, credit_first) =
                    test_amount(Fen(view.balance_fen), view.policy.as_ref()).ok_or_else(|| {
                        format!(
                            "no test amount keeps the balance ({} yuan) clear of its warning and cut-off levels",
                            Fen(view.balance_fen)
                        )
                    })?;
                if credit_first { amount } else { Fen(-amount.0) }
            }
        };
        let post = |key: String, amount: Fen| PostIn {
            account: self.account,
            // Adjustment: the only hand-posted kind that may go either way
            // (a refund is debit only and a recharge would count as money
            // received); the pair cancels out to the fen.
            kind: EntryKind::Adjustment,
            amount,
            cause: self.cause(),
            key,
        };
        let first = self
            .writer
            .post_entry(post(first_key.clone(), amount))
            .await
            .map_err(|e| format!("the test entry was refused: {e}"))?
            .entry;
        let second = self
            .writer
            .post_entry(post(second_key.clone(), Fen(-amount.0)))
            .await
            .map_err(|e| format!("the reversal was refused: {e}"))?
            .entry;
        // Both are in the store, as answered.
        for (what, key, answered) in [
            ("test entry", &first_key, &first),
            ("reversal", &second_key, &second),
        ] {
            let stored = find_posted(self.store, self.account, key)
                .await
                .map_err(platform)?;
            let same = stored.as_ref().is_some_and(|e| {
                (e.seq, e.amount_fen, e.balance_after_fen, e.kind.as_str())
                    == (
                        answered.seq,
                        answered.amount_fen,
                        answered.balance_after_fen,
                        answered.kind.as_str(),
                    )
            });
            if !same {
                return Err(format!(
                    "the {what} (key {key}) is not in the stored ledger as posted: {stored:?}"
                ));
            }
        }
        if first.amount_fen + second.amount_fen != 0 || second.seq <= first.seq {
            return Err(format!(
                "the test entry ({} yuan, #{}) and its reversal ({} yuan, #{}) do not cancel out",
                Fen(first.amount_fen),
                first.seq,
                Fen(second.amount_fen),
                second.seq
            ));
        }
        let before = first.balance_after_fen - first.amount_fen;
        let between = self.entries_between(&first, &second).await?;
        let others: i64 = between.iter().map(|e| e.amount_fen).sum();
        if second.balance_after_fen != before + others {
            return Err(format!(
                "the balance was {} yuan before the test and {} yuan after, but the {} entries between moved it by {} yuan",
                Fen(before),
                Fen(second.balance_after_fen),
                between.len(),
                Fen(others)
            ));
        }
        let (credited, reversed) = if amount.0 > 0 {
            ("credited", "reversed")
        } else {
            ("debited", "credited back")
        };
        let mut detail = format!(
            "{credited} {} yuan and {reversed} it (adjustment entries #{} and #{}); balance {} yuan before and {} yuan after",
            Fen(amount.0.abs()),
            first.seq,
            second.seq,
            Fen(before),
            Fen(second.balance_after_fen)
        );
        if !between.is_empty() {
            let _ = write!(
                detail,
                " ({} other entries of {} yuan were posted meanwhile)",
                between.len(),
                Fen(others)
            );
        }
        Ok(detail)
    }

    /// The account's entries strictly between two of its entries, checking
    /// that the chain from `first` to `second` is gap-free and every running
    /// balance follows from the one before.
    async fn entries_between(
        &self,
        first: &LedgerEntryView,
        second: &LedgerEntryView,
    ) -> Result<Vec<EntryRow>, String> {
        let head = self.ledger_head(self.account).await?;
        let chain = walk_ledger(self.store, head, |e| e.seq < first.seq).await?;
        let span: Vec<&EntryRow> = chain
            .iter()
            .filter(|e| e.seq >= first.seq && e.seq <= second.seq)
            .collect();
        check_chain(&span, first.balance_after_fen - first.amount_fen)?;
        if span.first().map(|e| e.seq) != Some(second.seq) {
            return Err(format!(
                "ledger entry #{} was not found in the chain",
                second.seq
            ));
        }
        Ok(span
            .into_iter()
            .filter(|e| e.seq != first.seq && e.seq != second.seq)
            .cloned()
            .collect())
    }

    /// The account's newest ledger entry (`no`), as the engine knows it.
    async fn ledger_head(&self, account: AccountId) -> Result<Option<i64>, String> {
        Ok(self
            .writer
            .account(account)
            .await
            .map_err(platform)?
            .ok_or_else(|| format!("the engine no longer knows account {account}"))?
            .ledger_head)
    }

    /// Step 3: readings until one shows consumption, and its charge in the
    /// ledger.
    async fn deduction(&mut self) -> Outcome {
        let timeout = self.opts.step_timeout;
        let deadline = Instant::now() + timeout;
        let sharing = self
            .store
            .meter_sharing(self.id())
            .await
            .map_err(platform)?;
        let accounts: Vec<AccountId> = match &sharing {
            Some(group) => group.members.iter().map(|(a, _)| *a).collect(),
            None => vec![self.account],
        };
        let mut last_seq = self.latest.as_ref().map_or(i64::MIN, |r| r.seq);
        let (mut asks, mut readings) = (0u32, 0u32);
        let mut last_ask: Option<Instant> = None;
        let reason = format!("commissioning {}: deduction", self.opts.run_key);
        loop {
            if last_ask.is_none_or(|t| t.elapsed() >= READ_EVERY)
                && self
                    .pending_command(&[CommandKind::ReadNow])
                    .await?
                    .is_none()
            {
                self.ensure_command(CommandKind::ReadNow, reason.clone())
                    .await?;
                last_ask = Some(Instant::now());
                asks += 1;
            }
            if let Some(r) = self.newest_reading().await?
                && r.seq > last_seq
            {
                last_seq = r.seq;
                readings += 1;
                self.latest = Some(r.clone());
                match (r.verdict.as_str(), r.quantity, r.charge_fen) {
                    ("billed", Some(q), Some(fen)) if q > 0 && fen > 0 => {
                        let key = format!("reading:{}:{}", self.id(), r.at_ms);
                        let posted = self.consumption_entries(&accounts, &r, &key).await?;
                        let total: i64 = posted.iter().map(|e| e.amount_fen).sum();
                        if total != -fen {
                            return Err(format!(
                                "a reading of {} {} was priced at {} yuan, but the ledger holds {} yuan for it",
                                milli(q),
                                self.unit(),
                                Fen(fen),
                                Fen(-total)
                            ));
                        }
                        let entries = posted
                            .iter()
                            .map(|e| format!("#{}", e.seq))
                            .collect::<Vec<_>>()
                            .join(", ");
                        let whose = if sharing.is_some() {
                            format!(", split over {} accounts", posted.len())
                        } else {
                            String::new()
                        };
                        return Ok(format!(
                            "{} {} consumed since the previous reading, priced at {} yuan with tariff {} and deducted as consumption entry {entries}{whose} ({}, {})",
                            milli(q),
                            self.unit(),
                            Fen(fen),
                            self.meter.tariff_code.as_ref().map_or("?", |c| c.as_str()),
                            count(asks, "read request"),
                            count(readings, "reading"),
                        ));
                    }
                    // No consumption yet (or under a fen so far): ask again.
                    ("billed" | "opening", _, _) => {}
                    (verdict, _, _) => {
                        return Err(format!(
                            "a reading (register {} {}) was not priced: verdict {verdict}",
                            milli(r.register),
                            self.unit()
                        ));
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err(if readings == 0 {
                    format!(
                        "no new reading arrived within {} ({})",
                        seconds(timeout),
                        count(asks, "read request")
                    )
                } else {
                    format!(
                        "no consumption was measured within {} ({} after {}): switch on a load at the premises and run commissioning again",
                        seconds(timeout),
                        count(readings, "reading"),
                        count(asks, "read request")
                    )
                });
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    /// The consumption entries the engine posted for `reading`: keyed `key`
    /// (or `key:{account}` for a shared meter) and posted by the reading's
    /// own journal record. An account's chain is in journal order, so the
    /// walk stops at the first entry posted before the reading.
    async fn consumption_entries(
        &self,
        accounts: &[AccountId],
        reading: &ReadingRow,
        key: &str,
    ) -> Result<Vec<EntryRow>, String> {
        let mut found = Vec::new();
        for a in accounts {
            let head = self.ledger_head(*a).await?;
            let own = format!("{key}:{a}");
            found.extend(
                walk_ledger(self.store, head, |e| e.journal_seq < reading.seq)
                    .await?
                    .into_iter()
                    .filter(|e| {
                        e.journal_seq == reading.seq
                            && e.kind == EntryKind::Consumption.as_str()
                            && (e.idempotency_key == key || e.idempotency_key == own)
                    }),
            );
        }
        Ok(found)
    }

    /// Step 4: the engine's balance is the stored ledger's sum.
    async fn balance(&mut self) -> Outcome {
        let view = self
            .writer
            .account(self.account)
            .await
            .map_err(platform)?
            .ok_or("the engine no longer knows the account")?;
        let entries = walk_ledger(self.store, view.ledger_head, |_| false).await?;
        let last_seq = i64::try_from(view.last_seq).unwrap_or(i64::MAX);
        let count = i64::try_from(entries.len()).unwrap_or(i64::MAX);
        if count != last_seq || entries.last().is_some_and(|e| e.seq != 1) {
            return Err(format!(
                "the engine counts {last_seq} ledger entries for the account, the store's chain holds {count}"
            ));
        }
        let refs: Vec<&EntryRow> = entries.iter().collect();
        check_chain(&refs, 0)?;
        let sum: i64 = entries.iter().map(|e| e.amount_fen).sum();
        if sum != view.balance_fen {
            return Err(format!(
                "the engine says the balance is {} yuan but the account's {count} ledger entries add up to {} yuan",
                Fen(view.balance_fen),
                Fen(sum)
            ));
        }
        Ok(format!(
            "balance {} yuan, equal to the sum of the account's {count} ledger entries",
            Fen(view.balance_fen)
        ))
    }

    /// Step 5: a harmless switching command, acknowledged by the device.
    async fn command(&mut self) -> Outcome {
        let timeout = self.opts.step_timeout;
        let deadline = Instant::now() + timeout;
        let view = self
            .writer
            .meter(self.id())
            .await
            .map_err(platform)?
            .ok_or("the engine no longer knows the meter")?;
        let account = self
            .writer
            .account(self.account)
            .await
            .map_err(platform)?
            .ok_or("the engine no longer knows the account")?;
        let utility = self.meter.utility;
        // The command that confirms the state the engine wants, so a
        // meter that carries it out changes nothing: supply on normally,
        // off while the account is cut or a valve is held for safety.
        let kind = if view.safety_hold.is_some() || account.supply == Supply::Off {
            CommandKind::cutoff_for(utility)
        } else {
            CommandKind::reconnect_for(utility)
        };
        let sent = Instant::now();
        let switching = [
            CommandKind::cutoff_for(utility),
            CommandKind::reconnect_for(utility),
        ];
        // A switching command already in play is the engine's own: queuing
        // ours could supersede it, so wait for its round trip instead.
        let (no, ours) = match self.pending_command(&switching).await? {
            Some(no) => (no, false),
            None => {
                let reason = format!("commissioning {}: command round trip", self.opts.run_key);
                match self.ensure_command(kind, reason).await? {
                    Some((no, queued)) => (no, queued),
                    None => {
                        return Err(format!(
                            "the {} command was queued but is not in the store",
                            kind.as_str()
                        ));
                    }
                }
            }
        };
        let row_kind = self
            .commands()
            .await?
            .into_iter()
            .find(|c| c.no == no)
            .map_or_else(|| kind.as_str().to_owned(), |c| c.kind);
        let what = if ours {
            format!("sent a {row_kind} command")
        } else {
            format!("a {row_kind} command was already on its way; waited for it")
        };
        let mut changed = self.writer.commands_changed();
        loop {
            let (state, reason) = self
                .command_state(no)
                .await?
                .unwrap_or_else(|| ("queued".into(), String::new()));
            match parse_state(&state) {
                Some(CommandState::Acknowledged) => {
                    return Ok(format!(
                        "{what}; the meter acknowledged it after {}",
                        seconds(sent.elapsed())
                    ));
                }
                Some(s) if s.is_pending() => {
                    if Instant::now() >= deadline {
                        let where_ = if s == CommandState::Queued {
                            "it is still waiting to be sent"
                        } else {
                            "it was sent and not answered"
                        };
                        return Err(format!(
                            "no acknowledgement of the {row_kind} command within {} ({where_}; the dispatcher keeps retrying it)",
                            seconds(timeout)
                        ));
                    }
                }
                _ => return Err(format!("the {row_kind} command ended {state}: {reason}")),
            }
            // Woken by any command change, or look again shortly.
            let _ = tokio::time::timeout(POLL_EVERY, changed.changed()).await;
        }
    }
}

/// A stored command state (snake_case text) as the domain's type.
fn parse_state(text: &str) -> Option<CommandState> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).ok()
}

/// An account's entries from `head` down, newest first, up to (not
/// including) the first for which `past` says the walk has gone far enough.
async fn walk_ledger(
    store: &dyn Store,
    head: Option<i64>,
    past: impl Fn(&EntryRow) -> bool,
) -> Result<Vec<EntryRow>, String> {
    let mut out = Vec::new();
    let mut next = head;
    while let Some(from) = next {
        let page = store
            .journal()
            .ledger_chain(from, LEDGER_PAGE)
            .await
            .map_err(platform)?;
        next = page.last().and_then(|e| e.prev_no);
        for e in page {
            if past(&e) {
                return Ok(out);
            }
            out.push(e);
        }
    }
    Ok(out)
}

/// Checks entries given newest first: sequence numbers gap-free, and each
/// running balance the one before plus the amount, starting from `before`
/// (the balance before the oldest of them).
fn check_chain(entries: &[&EntryRow], before: i64) -> Result<(), String> {
    let mut running = before;
    let first = entries.last().map_or(1, |e| e.seq);
    for (expected_seq, e) in (first..).zip(entries.iter().rev()) {
        if e.seq != expected_seq {
            return Err(format!(
                "the account's ledger has a gap: entry #{expected_seq} is missing"
            ));
        }
        running += e.amount_fen;
        if e.balance_after_fen != running {
            return Err(format!(
                "ledger entry #{} says the balance after it is {} yuan, but its amount on the balance before makes {} yuan",
                e.seq,
                Fen(e.balance_after_fen),
                Fen(running)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(warnings: &[i64], cutoff: i64) -> BalancePolicy {
        BalancePolicy::new(warnings.iter().map(|w| Fen(*w)).collect(), Fen(cutoff))
            .expect("valid policy")
    }

    #[test]
    fn the_test_amount_stays_clear_of_thresholds() {
        let p = policy(&[5000, 1000], 0);
        // Far from every level: 1.00 yuan, credit first.
        assert_eq!(
            test_amount(Fen(20_000), Some(&p)),
            Some((TEST_CREDIT, true))
        );
        assert_eq!(test_amount(Fen(3000), Some(&p)), Some((TEST_CREDIT, true)));
        // 0.40 yuan below a warning level: a credit of at most 0.39 yuan.
        assert_eq!(test_amount(Fen(4960), Some(&p)), Some((Fen(39), true)));
        // Exactly one fen below a level: credit first is impossible, so
        // debit first, staying above the level.
        assert_eq!(test_amount(Fen(4999), Some(&p)), Some((TEST_CREDIT, false)));
        // At the cut-off level (supply cut): a credit would reconnect.
        assert_eq!(test_amount(Fen(0), Some(&p)), Some((TEST_CREDIT, false)));
        // Overdrawn beyond the cut-off: any credit up to reaching it is fine.
        assert_eq!(test_amount(Fen(-50), Some(&p)), Some((Fen(50), true)));
        assert_eq!(test_amount(Fen(7), None), Some((TEST_CREDIT, true)));
        // Levels on both sides within a fen: nothing is safe.
        let tight = policy(&[11, 10], 9);
        assert_eq!(test_amount(Fen(10), Some(&tight)), None);
    }

    #[test]
    fn the_test_amount_never_crosses_a_threshold() {
        let p = policy(&[5000, 1000, 300], -200);
        let crosses = |before: i64, after: i64| {
            p.levels_below(Fen(before)) != p.levels_below(Fen(after))
                || (before <= p.cutoff().0) != (after <= p.cutoff().0)
        };
        for b in -1000..7000 {
            let (a, credit_first) = test_amount(Fen(b), Some(&p)).expect("an amount exists");
            assert!(a.0 >= 1 && a.0 <= TEST_CREDIT.0);
            let mid = if credit_first { b + a.0 } else { b - a.0 };
            assert!(!crosses(b, mid), "balance {b}: {a:?} first={credit_first}");
        }
    }

    #[test]
    fn quantities_and_times_read_well() {
        assert_eq!(milli(12_345), "12.345");
        assert_eq!(milli(-5), "-0.005");
        assert_eq!(seconds(Duration::from_secs(20)), "20 s");
        assert_eq!(seconds(Duration::from_millis(2500)), "2.5 s");
        assert_eq!(seconds(Duration::from_millis(15)), "15 ms");
        assert_eq!(count(1, "reading"), "1 reading");
        assert_eq!(count(3, "reading"), "3 readings");
    }
}
