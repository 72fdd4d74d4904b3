//! The writer's state and the one code path that applies a request to it,
//! used alike for live requests and for replaying the journal — which is
//! why replay reproduces the same entries, numbers and chains.

use std::collections::HashMap;

use jiff::Timestamp;
use yufu_domain::MeterId;
use yufu_domain::command::{CommandKind, CommandState};
use yufu_engine::{
    CommandUpdate, Engine, MeterSetup, Notification, Outcome, PostError, PostIn, Posted, ReadingIn,
    ReadingResult, RechargeIn, Recharged, verdict_name,
};
use yufu_store::journal::{
    AlarmRow, CommandRow, EntryRow, EventRow, JournalBatch, OutboxRow, ReadingRow, RechargeRow,
    TransitionRow,
};
use yufu_tariff::Verdict;

use crate::event::{CheckpointItem, CommandEvent, ConfigChange, KIND_COMMAND, KIND_CONFIG};
use crate::event::{KIND_POST, KIND_RECHARGE, KIND_TICK, PostBody, RechargeBody};
use crate::event::{post_record_channel, post_record_key};

/// A pending command's stored identity.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CommandMeta {
    pub no: i64,
    pub queued_at_ms: i64,
}

#[derive(Clone, Debug)]
pub(crate) struct TariffSource {
    pub revision: i64,
    pub toml: String,
}

/// Everything the writer owns.
#[derive(Debug)]
pub(crate) struct State {
    pub engine: Engine,
    pub tariffs: HashMap<String, TariffSource>,
    /// The newest stored reading (`seq`, the head of its chain) of meters
    /// the engine no longer bills; the engine keeps the others' heads as
    /// its meter and account bookmarks (a separate map cost 100 MB at a
    /// million meters).
    pub orphan_heads: HashMap<MeterId, i64>,
    pub commands: HashMap<(MeterId, CommandKind), CommandMeta>,
    pub next_seq: i64,
    pub next_entry_no: i64,
    pub next_command_no: i64,
}

pub(crate) fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

pub(crate) fn from_ms(v: i64) -> Timestamp {
    Timestamp::from_millisecond(v).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn snake<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(e) => format!("unserialisable: {e}"),
    }
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

impl State {
    pub fn new(engine: Engine) -> Self {
        Self {
            engine,
            tariffs: HashMap::new(),
            orphan_heads: HashMap::new(),
            commands: HashMap::new(),
            next_seq: 1,
            next_entry_no: 1,
            next_command_no: 1,
        }
    }

    fn take_seq(&mut self, replayed: Option<i64>) -> i64 {
        let seq = replayed.unwrap_or(self.next_seq);
        self.next_seq = seq + 1;
        seq
    }

    /// Applies a reading. `replayed` carries the stored `seq` on replay.
    pub fn reading(
        &mut self,
        r: &ReadingIn,
        now: Timestamp,
        replayed: Option<i64>,
        batch: &mut JournalBatch,
    ) -> ReadingResult {
        let (result, out) = self.engine.ingest(r, now);
        let seq = match &result {
            ReadingResult::Accepted(verdict) => {
                let seq = self.take_seq(replayed);
                let (quantity, charge) = match verdict {
                    Verdict::Billed(c) => (i64::try_from(c.quantity).ok(), Some(c.total_fen)),
                    _ => (None, None),
                };
                batch.readings.push(ReadingRow {
                    seq,
                    meter_id: r.meter,
                    at_ms: ms(r.at),
                    register: i64::try_from(r.register).unwrap_or(i64::MAX),
                    rates: r.rates.map(|rates| json(&rates.0)),
                    received_ms: ms(now),
                    verdict: verdict_name(verdict).to_owned(),
                    quantity,
                    charge_fen: charge,
                    prev_seq: Some(self.engine.meter_mark(r.meter)).filter(|m| *m > 0),
                });
                self.engine.set_meter_mark(r.meter, seq);
                seq
            }
            // Not stored: alarms (a conflicting value) still go out, tied to
            // no journal position.
            ReadingResult::Duplicate | ReadingResult::Rejected(_) => 0,
        };
        self.outcome(out, seq, now, batch);
        result
    }

    /// Applies a fresh recharge (the caller has ruled out replays).
    pub fn recharge(
        &mut self,
        req: RechargeIn,
        now: Timestamp,
        replayed: Option<i64>,
        batch: &mut JournalBatch,
    ) -> Result<Recharged, yufu_engine::RechargeError> {
        let body = json(&RechargeBody::from(&req));
        let recharged = self.engine.recharge(req.clone(), now)?;
        if recharged.replay {
            return Ok(recharged);
        }
        let seq = self.take_seq(replayed);
        batch.events.push(EventRow {
            seq,
            at_ms: ms(now),
            kind: KIND_RECHARGE.to_owned(),
            body,
        });
        let first_no = self.next_entry_no;
        self.outcome(recharged.outcome.clone(), seq, now, batch);
        batch.recharges.push(RechargeRow {
            account_id: req.account,
            idempotency_key: req.key,
            amount_fen: req.amount.0,
            channel: req.channel,
            reference: req.reference,
            entry_no: first_no,
            at_ms: ms(now),
        });
        Ok(recharged)
    }

    /// Applies a fresh entry posted by hand (the caller has ruled out
    /// replays of keys from before start-up). Journaled as a `post` event,
    /// and recorded in the recharges table under [`post_record_key`] so a
    /// repeat after a restart is recognised.
    pub fn post_entry(
        &mut self,
        req: PostIn,
        now: Timestamp,
        replayed: Option<i64>,
        batch: &mut JournalBatch,
    ) -> Result<Posted, PostError> {
        let body = json(&PostBody::from(&req));
        let posted = self.engine.post_entry(req.clone(), now)?;
        if posted.replay {
            return Ok(posted);
        }
        let seq = self.take_seq(replayed);
        batch.events.push(EventRow {
            seq,
            at_ms: ms(now),
            kind: KIND_POST.to_owned(),
            body,
        });
        let first_no = self.next_entry_no;
        self.outcome(posted.outcome.clone(), seq, now, batch);
        batch.recharges.push(RechargeRow {
            account_id: req.account,
            idempotency_key: post_record_key(&req.key),
            amount_fen: req.amount.0,
            channel: post_record_channel(req.kind),
            reference: json(&req.cause),
            entry_no: first_no,
            at_ms: ms(now),
        });
        Ok(posted)
    }

    /// Applies a configuration change; nothing changes on error.
    pub fn config(
        &mut self,
        change: &ConfigChange,
        now: Timestamp,
        replayed: Option<i64>,
        batch: &mut JournalBatch,
    ) -> Result<(), String> {
        // Live changes the engine already has are not journaled again (a
        // reconcile at start-up sends the whole fleet).
        if replayed.is_none() && self.is_current(change) {
            return Ok(());
        }
        match change {
            ConfigChange::Tariff {
                key,
                revision,
                toml,
            } => {
                let mut tariff = yufu_tariff::parse_tariff(key, toml).map_err(|e| e.to_string())?;
                tariff.id = key.clone();
                self.engine.add_tariff(tariff);
                self.tariffs.insert(
                    key.clone(),
                    TariffSource {
                        revision: *revision,
                        toml: toml.clone(),
                    },
                );
            }
            ConfigChange::Site { key, windows, tz } => {
                let zone =
                    jiff::tz::TimeZone::get(tz).map_err(|e| format!("time zone '{tz}': {e}"))?;
                self.engine.add_site(key.clone(), windows.clone(), zone);
            }
            ConfigChange::Account { id, policy, site } => {
                self.engine
                    .upsert_account(yufu_engine::AccountSetup {
                        id: *id,
                        balance: yufu_domain::Fen::ZERO,
                        last_seq: 0,
                        policy: policy.clone(),
                        site: site.clone(),
                        supply: yufu_domain::balance::Supply::On,
                    })
                    .map_err(|e| e.to_string())?;
            }
            ConfigChange::Meter {
                id,
                account,
                utility,
                params,
                tariff,
                from_ms,
                shared,
            } => {
                let returning = self.orphan_heads.get(id).copied();
                self.engine
                    .upsert_meter(MeterSetup {
                        id: *id,
                        account: *account,
                        utility: *utility,
                        params: *params,
                        tariff: tariff.clone(),
                        billing: yufu_tariff::BillingState::default(),
                        fixed_charges_from: self::from_ms(*from_ms),
                        shared: shared.clone(),
                    })
                    .map_err(|e| e.to_string())?;
                // A meter billed again continues its chain of readings.
                if let Some(mark) = returning
                    && self.engine.meter_mark(*id) == 0
                {
                    self.engine.set_meter_mark(*id, mark);
                    self.orphan_heads.remove(id);
                }
            }
            ConfigChange::RemoveMeter { id } => {
                if let Some(mark) = self.engine.remove_meter(*id)
                    && mark > 0
                {
                    self.orphan_heads.insert(*id, mark);
                }
            }
            // --- meter swap (issue 8 helper) ---
            ConfigChange::Inherit { from, to } => {
                self.engine
                    .inherit_billing(*from, *to)
                    .map_err(|e| e.to_string())?;
            }
        }
        let seq = self.take_seq(replayed);
        batch.events.push(EventRow {
            seq,
            at_ms: ms(now),
            kind: KIND_CONFIG.to_owned(),
            body: json(change),
        });
        Ok(())
    }

    fn is_current(&self, change: &ConfigChange) -> bool {
        let e = &self.engine;
        match change {
            ConfigChange::Tariff { key, revision, .. } => self
                .tariffs
                .get(key)
                .is_some_and(|t| t.revision == *revision),
            ConfigChange::Site { key, windows, .. } => e.site_windows(key) == Some(windows),
            ConfigChange::Account { id, policy, site } => {
                e.policy(*id) == Some(policy) && e.account_site(*id) == Some(site.as_str())
            }
            ConfigChange::Meter {
                id,
                account,
                params,
                tariff,
                shared,
                ..
            } => {
                e.meter_account(*id) == Some(*account)
                    && e.meter_tariff(*id) == Some(tariff.as_str())
                    && e.meter_params(*id) == Some(*params)
                    && e.meter_shared(*id) == Some(shared.as_ref())
            }
            ConfigChange::RemoveMeter { id } => !e.has_meter(*id),
            // Nothing left to move (already moved): journal nothing. Unknown
            // meters fall through to the apply, which reports them.
            ConfigChange::Inherit { from, to } => {
                e.has_meter(*from) && e.has_meter(*to) && !e.has_handover(*from, *to)
            }
        }
    }

    /// Applies a command report; journaled only when it changed something.
    /// Returns whether it did.
    pub fn command(
        &mut self,
        event: &CommandEvent,
        now: Timestamp,
        replayed: Option<i64>,
        batch: &mut JournalBatch,
    ) -> bool {
        let updates: Vec<CommandUpdate> = match event {
            CommandEvent::Sent { meter, kind } => self
                .engine
                .command_sent(*meter, *kind, now)
                .into_iter()
                .collect(),
            CommandEvent::Acknowledged { meter, kind } => self
                .engine
                .command_acknowledged(*meter, *kind, now)
                .into_iter()
                .collect(),
            CommandEvent::Rejected {
                meter,
                kind,
                reason,
            } => self
                .engine
                .command_rejected(*meter, *kind, reason, now)
                .into_iter()
                .collect(),
            CommandEvent::Expire => self.engine.expire_commands(now),
            CommandEvent::Queue { .. }
            | CommandEvent::Safety { .. }
            | CommandEvent::ReleaseSafety { .. } => {
                return self.operator_command(event, now, replayed, batch).is_ok();
            }
        };
        if updates.is_empty() {
            return false;
        }
        let seq = self.take_seq(replayed);
        batch.events.push(EventRow {
            seq,
            at_ms: ms(now),
            kind: KIND_COMMAND.to_owned(),
            body: json(event),
        });
        for u in updates {
            self.command_row(u.meter, &u.command, now, batch);
            if let Some(alarm) = u.alarm {
                batch.alarms.push(AlarmRow {
                    meter_id: alarm.meter,
                    kind: alarm.kind.to_owned(),
                    detail: alarm.detail,
                    raised_at_ms: ms(now),
                });
            }
        }
        true
    }

    /// Queues an operator's command; journaled only when it was queued.
    pub fn operator_command(
        &mut self,
        event: &CommandEvent,
        now: Timestamp,
        replayed: Option<i64>,
        batch: &mut JournalBatch,
    ) -> Result<(), String> {
        let mut withdrawn = Vec::new();
        let queued = match event {
            CommandEvent::Queue {
                meter,
                kind,
                reason,
            } => Some(self.engine.queue_command(*meter, *kind, reason, now)),
            CommandEvent::Safety { meter, reason } => {
                match self.engine.safety_shutoff(*meter, reason, now) {
                    Ok(done) => {
                        withdrawn = done.withdrawn;
                        done.queued.map(Ok)
                    }
                    Err(e) => Some(Err(e)),
                }
            }
            CommandEvent::ReleaseSafety { meter, reason } => {
                self.engine.release_safety(*meter, reason, now).transpose()
            }
            _ => return Err("not an operator command".into()),
        };
        // Safety changes are journaled even when no command was needed:
        // the hold itself is state a replay must rebuild.
        let queued = queued.transpose().map_err(|e| e.to_string())?;
        let seq = self.take_seq(replayed);
        batch.events.push(EventRow {
            seq,
            at_ms: ms(now),
            kind: KIND_COMMAND.to_owned(),
            body: json(event),
        });
        // Withdrawn commands are stored before the close that replaces them.
        for u in withdrawn {
            self.command_row(u.meter, &u.command, now, batch);
        }
        self.outcome(
            Outcome {
                commands: queued.into_iter().collect(),
                ..Outcome::default()
            },
            seq,
            now,
            batch,
        );
        Ok(())
    }

    /// The scheduler's work: fixed charges due, deferred cut-offs. Always
    /// journaled (it moves the fixed-charge marks).
    pub fn tick(&mut self, now: Timestamp, replayed: Option<i64>, batch: &mut JournalBatch) {
        let seq = self.take_seq(replayed);
        batch.events.push(EventRow {
            seq,
            at_ms: ms(now),
            kind: KIND_TICK.to_owned(),
            body: "{}".to_owned(),
        });
        let mut out = self.engine.post_fixed_charges(now);
        let more = self.engine.tick(now);
        out.entries.extend(more.entries);
        out.notifications.extend(more.notifications);
        out.alarms.extend(more.alarms);
        out.commands.extend(more.commands);
        self.outcome(out, seq, now, batch);
    }

    /// Turns what the engine did into rows, numbering entries and commands
    /// and extending the chains.
    fn outcome(&mut self, out: Outcome, seq: i64, now: Timestamp, batch: &mut JournalBatch) {
        for e in out.entries {
            let no = self.next_entry_no;
            self.next_entry_no += 1;
            let prev = Some(self.engine.account_mark(e.account)).filter(|m| *m > 0);
            self.engine.set_account_mark(e.account, no);
            batch.entries.push(EntryRow {
                no,
                account_id: e.account,
                seq: i64::try_from(e.seq).unwrap_or(i64::MAX),
                kind: e.kind.as_str().to_owned(),
                amount_fen: e.amount.0,
                balance_after_fen: e.balance_after.0,
                cause: json(&e.cause),
                idempotency_key: e.idempotency_key,
                at_ms: ms(e.at),
                journal_seq: seq,
                prev_no: prev,
            });
        }
        for n in out.notifications {
            let account = match &n {
                Notification::LowBalance { account, .. }
                | Notification::CutoffScheduled { account, .. }
                | Notification::CutoffCancelled { account }
                | Notification::Recharged { account, .. } => *account,
            };
            let body = json(&n);
            let kind = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_owned))
                .unwrap_or_default();
            batch.outbox.push(OutboxRow {
                account_id: Some(account),
                kind,
                body,
                created_at_ms: ms(now),
            });
        }
        for a in out.alarms {
            batch.alarms.push(AlarmRow {
                meter_id: a.meter,
                kind: a.kind.to_owned(),
                detail: a.detail,
                raised_at_ms: ms(now),
            });
        }
        for q in out.commands {
            if let Some(old_kind) = q.superseded
                && let Some(meta) = self.commands.remove(&(q.meter, old_kind))
            {
                batch.commands.push(CommandRow {
                    no: meta.no,
                    meter_id: q.meter,
                    kind: snake(&old_kind),
                    state: snake(&CommandState::Superseded),
                    attempts: 0,
                    reason: format!("superseded by {}", snake(&q.command.kind)),
                    queued_at_ms: meta.queued_at_ms,
                    updated_at_ms: ms(now),
                });
                batch.transitions.push(TransitionRow {
                    command_no: meta.no,
                    from_state: Some(snake(&CommandState::Queued)),
                    to_state: snake(&CommandState::Superseded),
                    reason: format!("superseded by {}", snake(&q.command.kind)),
                    at_ms: ms(now),
                });
            }
            let no = self.next_command_no;
            self.next_command_no += 1;
            self.commands.insert(
                (q.meter, q.command.kind),
                CommandMeta {
                    no,
                    queued_at_ms: ms(now),
                },
            );
            self.command_row(q.meter, &q.command, now, batch);
        }
    }

    fn command_row(
        &mut self,
        meter: MeterId,
        c: &yufu_domain::command::Command,
        now: Timestamp,
        batch: &mut JournalBatch,
    ) {
        let Some(meta) = self.commands.get(&(meter, c.kind)).copied() else {
            return;
        };
        let last = c.history.last();
        let reason = last.map(|t| t.reason.clone()).unwrap_or_default();
        batch.commands.push(CommandRow {
            no: meta.no,
            meter_id: meter,
            kind: snake(&c.kind),
            state: snake(&c.state),
            attempts: i64::from(c.attempts),
            reason: reason.clone(),
            queued_at_ms: meta.queued_at_ms,
            updated_at_ms: ms(now),
        });
        batch.transitions.push(TransitionRow {
            command_no: meta.no,
            from_state: last.and_then(|t| t.from).map(|s| snake(&s)),
            to_state: snake(&c.state),
            reason,
            at_ms: ms(now),
        });
        if !c.state.is_pending() {
            self.commands.remove(&(meter, c.kind));
        }
    }

    /// The whole state as checkpoint items, one at a time.
    pub fn checkpoint_iter(&self) -> impl Iterator<Item = CheckpointItem> + '_ {
        let counters = CheckpointItem::Counters {
            next_seq: self.next_seq,
            next_entry_no: self.next_entry_no,
            next_command_no: self.next_command_no,
        };
        let mut tariffs: Vec<_> = self.tariffs.iter().collect();
        tariffs.sort_by(|a, b| a.0.cmp(b.0));
        let tariffs = tariffs.into_iter().map(|(key, t)| CheckpointItem::Tariff {
            key: key.clone(),
            revision: t.revision,
            toml: t.toml.clone(),
        });
        let engine = self
            .engine
            .snapshot_iter()
            .map(|i| CheckpointItem::Engine(Box::new(i)));
        let orphans = self
            .orphan_heads
            .iter()
            .map(|(id, seq)| CheckpointItem::MeterHead { id: *id, seq: *seq });
        let commands = self
            .commands
            .iter()
            .map(|((meter, kind), m)| CheckpointItem::Command {
                meter: *meter,
                kind: *kind,
                no: m.no,
                queued_at_ms: m.queued_at_ms,
            });
        std::iter::once(counters)
            .chain(tariffs)
            .chain(engine)
            .chain(orphans)
            .chain(commands)
    }

    /// Puts one checkpoint item back (in checkpoint order).
    pub fn restore(&mut self, item: CheckpointItem) -> Result<(), String> {
        match item {
            CheckpointItem::Counters {
                next_seq,
                next_entry_no,
                next_command_no,
            } => {
                self.next_seq = next_seq;
                self.next_entry_no = next_entry_no;
                self.next_command_no = next_command_no;
            }
            CheckpointItem::Tariff {
                key,
                revision,
                toml,
            } => {
                let mut tariff =
                    yufu_tariff::parse_tariff(&key, &toml).map_err(|e| e.to_string())?;
                tariff.id = key.clone();
                self.engine.add_tariff(tariff);
                self.tariffs.insert(key, TariffSource { revision, toml });
            }
            CheckpointItem::Engine(item) => {
                self.engine.restore(*item).map_err(|e| e.to_string())?;
            }
            CheckpointItem::MeterHead { id, seq } => {
                self.orphan_heads.insert(id, seq);
            }
            CheckpointItem::Command {
                meter,
                kind,
                no,
                queued_at_ms,
            } => {
                self.commands
                    .insert((meter, kind), CommandMeta { no, queued_at_ms });
            }
        }
        Ok(())
    }
}
