//! Turning journal records into events.
//!
//! The journal holds the engine's *inputs* (readings, recharges, command
//! reports, ticks, configuration); what they produced (ledger entries,
//! command rows, alarms) is in other tables, written in the same
//! transaction. So an event is derived from the record that caused it,
//! and its details are looked up in the rows that record produced. That
//! ties every event to one journal position, which is what lets the feeder
//! move its cursor and queue the deliveries in one transaction.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};
use yufu_domain::command::CommandKind;
use yufu_domain::{AccountId, MeterId, OrganisationId};
use yufu_store::journal::{AlarmFilter, AlarmView, JournalRecord};
use yufu_store::{Store, StoreResult};
use yufu_writer::CommandEvent;
use yufu_writer::event::{KIND_COMMAND, KIND_RECHARGE, RechargeBody};

use crate::{EVENT_ALARM_RAISED, EVENT_CUT_OFF, EVENT_RECHARGE, EVENT_RECONNECT};

/// Verdicts of *stored* readings that the engine raises an alarm for (in
/// the same batch, kind = verdict name). Refused readings (`conflict`,
/// `register_out_of_range`) raise one too but are not journaled.
const ALARM_VERDICTS: &[&str] = &[
    "negative_delta",
    "implausible_jump",
    "no_tariff",
    "gap_too_long",
];

/// The alarm kind the engine raises when a command gives up.
const COMMAND_FAILED: &str = "command_failed";

/// Entries kept per cache before it is emptied: organisations never
/// change, so the cache only saves round trips within a busy stretch.
const CACHE_MAX: usize = 10_000;
/// Alarms looked at per meter before falling back to the kind-wide scan.
const METER_ALARMS: u32 = 50;
/// How far below the record's time the kind-wide scan goes before it
/// gives up (engine alarms carry the writer's clock of their record).
const SCAN_SLACK_MS: i64 = 60_000;
/// Alarms scanned at most for one record.
const SCAN_MAX: usize = 5_000;

/// An event before it is addressed to subscribers.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Derived {
    pub event: &'static str,
    pub organisation_id: OrganisationId,
    pub occurred_at_ms: i64,
    pub journal_seq: i64,
    pub data: Value,
}

#[derive(Clone, Debug)]
struct MeterInfo {
    org: OrganisationId,
    serial: String,
}

/// Looks up what events need beyond the journal record, with small caches.
#[derive(Debug, Default)]
pub(crate) struct Deriver {
    accounts: HashMap<AccountId, OrganisationId>,
    meters: HashMap<MeterId, MeterInfo>,
    /// Alarms already turned into events, so two records of the same
    /// meter, kind and millisecond get one alarm each. Only alarms of
    /// committed pages are here; a page's own are in its `taken` set.
    reported: HashSet<i64>,
}

impl Deriver {
    /// Remembers a committed page's alarms.
    pub fn committed(&mut self, taken: HashSet<i64>) {
        if self.reported.len() + taken.len() > CACHE_MAX {
            self.reported.clear();
        }
        self.reported.extend(taken);
    }

    async fn account_org(
        &mut self,
        store: &dyn Store,
        id: AccountId,
    ) -> StoreResult<OrganisationId> {
        if let Some(org) = self.accounts.get(&id) {
            return Ok(*org);
        }
        let org = store.get_account(id).await?.organisation_id;
        if self.accounts.len() >= CACHE_MAX {
            self.accounts.clear();
        }
        self.accounts.insert(id, org);
        Ok(org)
    }

    async fn meter(&mut self, store: &dyn Store, id: MeterId) -> StoreResult<MeterInfo> {
        if let Some(info) = self.meters.get(&id) {
            return Ok(info.clone());
        }
        let m = store.get_meter(id).await?;
        Ok(self.remember(id, m.organisation_id, m.serial.to_string()))
    }

    fn remember(&mut self, id: MeterId, org: OrganisationId, serial: String) -> MeterInfo {
        let info = MeterInfo { org, serial };
        if self.meters.len() >= CACHE_MAX {
            self.meters.clear();
        }
        self.meters.insert(id, info.clone());
        info
    }

    /// The events one journal record caused. `taken` collects the alarm
    /// ids this page has used.
    pub async fn derive(
        &mut self,
        store: &dyn Store,
        record: &JournalRecord,
        taken: &mut HashSet<i64>,
    ) -> StoreResult<Vec<Derived>> {
        match record {
            JournalRecord::Reading(r) => {
                if !ALARM_VERDICTS.contains(&r.verdict.as_str()) {
                    return Ok(Vec::new());
                }
                let found = self
                    .find_alarm(
                        store,
                        Some(r.meter_id),
                        &r.verdict,
                        r.received_ms,
                        taken,
                        |_| true,
                    )
                    .await?;
                let alarm = match found {
                    Some(a) => a,
                    None => {
                        tracing::warn!(seq = r.seq, meter = %r.meter_id, verdict = %r.verdict,
                            "webhooks: the alarm of a flagged reading is not in the store");
                        return Ok(Vec::new());
                    }
                };
                Ok(vec![self.alarm_raised(store, &alarm, r.seq).await?])
            }
            JournalRecord::Event(e) if e.kind == KIND_RECHARGE => {
                let body: RechargeBody = match serde_json::from_str(&e.body) {
                    Ok(b) => b,
                    Err(err) => {
                        tracing::warn!(seq = e.seq, error = %err, "webhooks: unreadable recharge record");
                        return Ok(Vec::new());
                    }
                };
                let Some((recharge, entry)) = store
                    .journal()
                    .find_recharge(body.account, &body.key)
                    .await?
                    .filter(|(_, entry)| entry.journal_seq == e.seq)
                else {
                    tracing::warn!(
                        seq = e.seq,
                        "webhooks: the entry of a recharge record is not in the store"
                    );
                    return Ok(Vec::new());
                };
                let org = self.account_org(store, body.account).await?;
                Ok(vec![Derived {
                    event: EVENT_RECHARGE,
                    organisation_id: org,
                    occurred_at_ms: entry.at_ms,
                    journal_seq: e.seq,
                    data: json!({
                        "account_id": body.account.to_string(),
                        "amount_fen": recharge.amount_fen,
                        "balance_after_fen": entry.balance_after_fen,
                        "channel": recharge.channel,
                        "reference": recharge.reference,
                        "ledger_seq": entry.seq,
                    }),
                }])
            }
            JournalRecord::Event(e) if e.kind == KIND_COMMAND => {
                let event: CommandEvent = match serde_json::from_str(&e.body) {
                    Ok(ev) => ev,
                    Err(err) => {
                        tracing::warn!(seq = e.seq, error = %err, "webhooks: unreadable command record");
                        return Ok(Vec::new());
                    }
                };
                match event {
                    // Journaled only when it moved a sent command to
                    // acknowledged, so each record is one confirmation.
                    CommandEvent::Acknowledged { meter, kind } => {
                        let name = match kind {
                            CommandKind::Trip | CommandKind::ValveClose => EVENT_CUT_OFF,
                            CommandKind::Close | CommandKind::ValveOpen => EVENT_RECONNECT,
                            CommandKind::ReadNow | CommandKind::TimeSync => {
                                return Ok(Vec::new());
                            }
                        };
                        // Read fresh (not from the cache) for the account:
                        // the journal does not say which account the
                        // command was for, so the meter's account now is
                        // the best answer (a meter rarely changes account).
                        let m = store.get_meter(meter).await?;
                        let info = self.remember(m.id, m.organisation_id, m.serial.to_string());
                        let account = m.account_id;
                        Ok(vec![Derived {
                            event: name,
                            organisation_id: info.org,
                            occurred_at_ms: e.at_ms,
                            journal_seq: e.seq,
                            data: json!({
                                "meter_id": meter.to_string(),
                                "meter_serial": info.serial,
                                "account_id": account.map(|a| a.to_string()),
                                "command": kind.as_str(),
                            }),
                        }])
                    }
                    // A rejection that used the last attempt raised a
                    // `command_failed` alarm in the same batch.
                    CommandEvent::Rejected { meter, kind, .. } => {
                        let prefix = format!("{kind:?} ");
                        let found = self
                            .find_alarm(store, Some(meter), COMMAND_FAILED, e.at_ms, taken, |a| {
                                a.detail.starts_with(&prefix)
                            })
                            .await?;
                        match found {
                            Some(alarm) => Ok(vec![self.alarm_raised(store, &alarm, e.seq).await?]),
                            None => Ok(Vec::new()),
                        }
                    }
                    // Timed-out commands, on any meter.
                    CommandEvent::Expire => {
                        let mut out = Vec::new();
                        while let Some(alarm) = self
                            .find_alarm(store, None, COMMAND_FAILED, e.at_ms, taken, |a| {
                                a.detail.contains("TimedOut")
                            })
                            .await?
                        {
                            out.push(self.alarm_raised(store, &alarm, e.seq).await?);
                        }
                        Ok(out)
                    }
                    _ => Ok(Vec::new()),
                }
            }
            JournalRecord::Event(_) => Ok(Vec::new()),
        }
    }

    async fn alarm_raised(
        &mut self,
        store: &dyn Store,
        alarm: &AlarmView,
        seq: i64,
    ) -> StoreResult<Derived> {
        let info = self.meter(store, alarm.meter_id).await?;
        Ok(Derived {
            event: EVENT_ALARM_RAISED,
            organisation_id: info.org,
            occurred_at_ms: alarm.raised_at_ms,
            journal_seq: seq,
            data: json!({
                "alarm_id": alarm.id,
                "meter_id": alarm.meter_id.to_string(),
                "meter_serial": info.serial,
                "kind": alarm.kind,
                "detail": alarm.detail,
            }),
        })
    }

    /// The oldest alarm of `kind` raised at exactly `at_ms` (on `meter`, if
    /// given) that no record has claimed yet; claims it.
    async fn find_alarm(
        &mut self,
        store: &dyn Store,
        meter: Option<MeterId>,
        kind: &str,
        at_ms: i64,
        taken: &mut HashSet<i64>,
        also: impl Fn(&AlarmView) -> bool,
    ) -> StoreResult<Option<AlarmView>> {
        let fits = |a: &AlarmView, taken: &HashSet<i64>| {
            a.kind == kind
                && a.raised_at_ms == at_ms
                && meter.is_none_or(|m| a.meter_id == m)
                && !taken.contains(&a.id)
                && !self.reported.contains(&a.id)
                && also(a)
        };
        let mut pick: Option<AlarmView> = None;
        // A meter's own newest alarms first: one cheap query when the
        // feeder keeps up.
        if let Some(m) = meter {
            let rows = store.journal().meter_alarms(m, METER_ALARMS).await?;
            pick = rows
                .into_iter()
                .filter(|a| fits(a, taken))
                .min_by_key(|a| a.id);
        }
        if pick.is_none() {
            // Behind by more than that: walk this kind's alarms down to the
            // record's time.
            let mut before_id = None;
            let mut scanned = 0usize;
            loop {
                let rows = store
                    .journal()
                    .list_alarms(&AlarmFilter {
                        kind: Some(kind.to_owned()),
                        open_only: false,
                        before_id,
                        limit: 500,
                    })
                    .await?;
                let Some(last) = rows.last() else { break };
                before_id = Some(last.id);
                scanned += rows.len();
                let older = rows.iter().all(|a| a.raised_at_ms < at_ms - SCAN_SLACK_MS);
                if let Some(a) = rows
                    .into_iter()
                    .filter(|a| fits(a, taken))
                    .min_by_key(|a| a.id)
                {
                    // Rows come newest first: keep the oldest match seen.
                    pick = Some(a);
                }
                if older || scanned >= SCAN_MAX {
                    break;
                }
            }
        }
        if let Some(a) = &pick {
            taken.insert(a.id);
        }
        Ok(pick)
    }
}
