//! The engine core against billing.md: money moves exactly once, balances
//! are the sum of their entries, rules fire at the right moments.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use jiff::Timestamp;
use jiff::civil::time;
use jiff::tz::TimeZone;
use proptest::prelude::*;
use yufu_domain::balance::{BalancePolicy, ProtectedWindows, Supply};
use yufu_domain::command::{CommandKind, RetryPolicy};
use yufu_domain::ledger::EntryKind;
use yufu_domain::{AccountId, Fen, MeterId, Utility};
use yufu_engine::*;
use yufu_tariff::{MeterParams, Verdict, parse_tariff};

const RESIDENTIAL: &str =
    include_str!("../../../examples/tariffs/guangdong-residential-electricity.toml");
const GAS: &str = include_str!("../../../examples/tariffs/guangzhou-residential-gas.toml");
const WATER: &str = include_str!("../../../examples/tariffs/guangzhou-residential-water.toml");

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

struct Fixture {
    engine: Engine,
    account: AccountId,
    meter: MeterId,
    gas: MeterId,
    /// Every entry posted, as the journal would hold them.
    ledger: Vec<LedgerEntry>,
}

impl Fixture {
    fn new(windows: ProtectedWindows) -> Self {
        let mut engine = Engine::new(RetryPolicy::default());
        engine.add_tariff(parse_tariff("res", RESIDENTIAL).unwrap());
        engine.add_tariff(parse_tariff("gas", GAS).unwrap());
        engine.add_site("GZ-TH01", windows, TimeZone::get("Asia/Shanghai").unwrap());
        let account = AccountId::new();
        engine
            .add_account(AccountSetup {
                id: account,
                balance: Fen::ZERO,
                last_seq: 0,
                policy: BalancePolicy::new(vec![Fen(2000), Fen(1000)], Fen::ZERO).unwrap(),
                site: "GZ-TH01".into(),
                supply: Supply::On,
            })
            .unwrap();
        let meter = MeterId::new();
        let gas = MeterId::new();
        for (id, utility, tariff) in [
            (
                meter,
                Utility::Electricity,
                "guangdong-residential-electricity",
            ),
            (gas, Utility::Gas, "guangzhou-residential-gas"),
        ] {
            engine
                .add_meter(MeterSetup {
                    id,
                    account,
                    utility,
                    params: MeterParams::default(),
                    tariff: tariff.into(),
                    billing: Default::default(),
                    fixed_charges_from: at("2026-01-15T00:00+08:00"),
                    shared: None,
                })
                .unwrap();
        }
        Self {
            engine,
            account,
            meter,
            gas,
            ledger: Vec::new(),
        }
    }

    fn read(&mut self, t: &str, register: u64) -> (ReadingResult, Outcome) {
        let now = at(t);
        let r = ReadingIn {
            meter: self.meter,
            at: now,
            register,
            rates: None,
        };
        let (result, out) = self.engine.ingest(&r, now);
        self.ledger.extend(out.entries.iter().cloned());
        (result, out)
    }

    fn recharge(&mut self, t: &str, fen: i64, key: &str) -> Recharged {
        let r = self
            .engine
            .recharge(
                RechargeIn {
                    account: self.account,
                    amount: Fen(fen),
                    channel: "counter".into(),
                    reference: key.into(),
                    key: key.into(),
                },
                at(t),
            )
            .unwrap();
        if !r.replay {
            self.ledger.extend(r.outcome.entries.iter().cloned());
        }
        r
    }

    /// The invariant: the balance is the sum of the entries, and the
    /// sequence numbers run 1, 2, 3… without a gap.
    fn check_ledger(&self) {
        let sum: i64 = self.ledger.iter().map(|e| e.amount.0).sum();
        assert_eq!(self.engine.balance(self.account), Some(Fen(sum)));
        let seqs: Vec<u64> = self.ledger.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=self.ledger.len() as u64).collect::<Vec<_>>());
        for e in &self.ledger {
            e.kind.check(e.amount).unwrap();
        }
    }
}

#[test]
fn readings_move_the_balance_and_trip_at_zero_then_a_recharge_reconnects() {
    let mut f = Fixture::new(ProtectedWindows::default());
    f.recharge("2026-07-01T00:00+08:00", 10_000, "pay-1");
    assert_eq!(
        f.read("2026-07-01T00:00+08:00", 0).0,
        ReadingResult::Accepted(Verdict::Opening)
    );
    // 100 kWh at 0.5883 = 58.83 yuan.
    let (r, out) = f.read("2026-07-10T00:00+08:00", 100_000);
    assert!(matches!(r, ReadingResult::Accepted(Verdict::Billed(_))));
    assert_eq!(out.entries[0].amount, Fen(-5883));
    assert_eq!(out.entries[0].kind, EntryKind::Consumption);
    assert_eq!(f.engine.balance(f.account), Some(Fen(4117)));
    // Another 50 kWh: 29.42 yuan → 11.75 left, below the 20-yuan warning.
    let (_, out) = f.read("2026-07-15T00:00+08:00", 150_000);
    assert_eq!(
        out.notifications,
        vec![Notification::LowBalance {
            account: f.account,
            level: Fen(2000),
            balance: Fen(1175)
        }]
    );
    // 30 kWh more: below zero → the electricity meter trips and the gas valve closes.
    let (_, out) = f.read("2026-07-20T00:00+08:00", 180_000);
    assert!(f.engine.balance(f.account).unwrap() < Fen::ZERO);
    let kinds: HashMap<MeterId, CommandKind> = out
        .commands
        .iter()
        .map(|c| (c.meter, c.command.kind))
        .collect();
    assert_eq!(kinds[&f.meter], CommandKind::Trip);
    assert_eq!(kinds[&f.gas], CommandKind::ValveClose);
    assert_eq!(f.engine.supply(f.account), Some(Supply::Off));
    // More consumption while off: no second trip queued.
    let (_, out) = f.read("2026-07-21T00:00+08:00", 181_000);
    assert!(out.commands.is_empty(), "one pending trip per meter");
    // A recharge above the cut-off level reconnects at once and supersedes the queued trip.
    let r = f.recharge("2026-07-21T09:00+08:00", 5_000, "pay-2");
    let reconnect: Vec<(CommandKind, Option<CommandKind>)> = r
        .outcome
        .commands
        .iter()
        .map(|c| (c.command.kind, c.superseded))
        .collect();
    assert!(reconnect.contains(&(CommandKind::Close, Some(CommandKind::Trip))));
    assert!(reconnect.contains(&(CommandKind::ValveOpen, Some(CommandKind::ValveClose))));
    assert_eq!(f.engine.supply(f.account), Some(Supply::On));
    f.check_ledger();
}

#[test]
fn recharges_are_idempotent_per_key() {
    let mut f = Fixture::new(ProtectedWindows::default());
    let first = f.recharge("2026-07-01T00:00+08:00", 10_000, "pay-1");
    let again = f.recharge("2026-07-01T00:05+08:00", 10_000, "pay-1");
    assert!(again.replay);
    assert_eq!(
        again.entry, first.entry,
        "the same key returns the same entry"
    );
    assert_eq!(
        f.engine.balance(f.account),
        Some(Fen(10_000)),
        "and credits nothing more"
    );
    let err = f
        .engine
        .recharge(
            RechargeIn {
                account: f.account,
                amount: Fen(20_000),
                channel: "counter".into(),
                reference: "pay-1".into(),
                key: "pay-1".into(),
            },
            at("2026-07-01T00:06+08:00"),
        )
        .unwrap_err();
    assert_eq!(err, RechargeError::KeyReused("pay-1".into()));
    let bad = f.engine.recharge(
        RechargeIn {
            account: f.account,
            amount: Fen(0),
            channel: "counter".into(),
            reference: "x".into(),
            key: "pay-0".into(),
        },
        at("2026-07-01T00:06+08:00"),
    );
    assert!(matches!(bad, Err(RechargeError::Invalid(_))));
    f.check_ledger();
}

#[test]
fn a_cutoff_at_night_waits_for_the_morning() {
    let windows = ProtectedWindows {
        nightly: Some((time(22, 0, 0, 0), time(8, 0, 0, 0))),
        ..Default::default()
    };
    let mut f = Fixture::new(windows);
    f.recharge("2026-07-01T00:00+08:00", 1_000, "pay-1");
    f.read("2026-07-01T00:00+08:00", 0);
    let (_, out) = f.read("2026-07-01T23:00+08:00", 20_000);
    let morning = at("2026-07-02T08:00+08:00");
    assert!(out.commands.is_empty(), "no cut-off at night");
    assert!(out.notifications.contains(&Notification::CutoffScheduled {
        account: f.account,
        at: morning
    }));
    assert!(
        f.engine
            .tick(at("2026-07-02T07:59+08:00"))
            .commands
            .is_empty()
    );
    let out = f.engine.tick(morning);
    assert_eq!(out.commands.len(), 2);
    assert!(
        f.engine
            .tick(at("2026-07-02T09:00+08:00"))
            .commands
            .is_empty(),
        "once"
    );
    f.check_ledger();
}

#[test]
fn fixed_charges_post_once_per_period() {
    let mut f = Fixture::new(ProtectedWindows::default());
    f.engine.add_tariff(parse_tariff("water", WATER).unwrap());
    let water = MeterId::new();
    f.engine
        .add_meter(MeterSetup {
            id: water,
            account: f.account,
            utility: Utility::Water,
            params: MeterParams::default(),
            tariff: "guangzhou-residential-water".into(),
            billing: Default::default(),
            fixed_charges_from: at("2026-01-15T00:00+08:00"),
            shared: None,
        })
        .unwrap();
    f.recharge("2026-01-15T00:00+08:00", 10_000, "pay-1");
    // 1 February and 1 March have started by 10 March: two monthly fees of 2.00 yuan.
    let out = f.engine.post_fixed_charges(at("2026-03-10T00:00+08:00"));
    f.ledger.extend(out.entries.iter().cloned());
    let fees: Vec<(EntryKind, Fen, String)> = out
        .entries
        .iter()
        .map(|e| (e.kind, e.amount, e.idempotency_key.clone()))
        .collect();
    assert_eq!(
        fees,
        vec![
            (
                EntryKind::FixedCharge,
                Fen(-200),
                format!("fixed:{water}:2026-02-01:0")
            ),
            (
                EntryKind::FixedCharge,
                Fen(-200),
                format!("fixed:{water}:2026-03-01:0")
            ),
        ]
    );
    assert!(
        f.engine
            .post_fixed_charges(at("2026-03-10T00:00+08:00"))
            .entries
            .is_empty(),
        "not twice"
    );
    assert!(
        f.engine
            .post_fixed_charges(at("2026-03-31T23:59+08:00"))
            .entries
            .is_empty()
    );
    let out = f.engine.post_fixed_charges(at("2026-04-01T00:00+08:00"));
    assert_eq!(
        out.entries.len(),
        1,
        "1 April 00:00 local starts the next period"
    );
    f.ledger.extend(out.entries.iter().cloned());
    assert_eq!(f.engine.balance(f.account), Some(Fen(10_000 - 600)));
    f.check_ledger();
}

#[test]
fn public_area_charges_are_split_over_the_group() {
    let mut engine = Engine::new(RetryPolicy::default());
    engine.add_tariff(parse_tariff("res", RESIDENTIAL).unwrap());
    engine.add_site(
        "s",
        ProtectedWindows::default(),
        TimeZone::get("Asia/Shanghai").unwrap(),
    );
    let policy = BalancePolicy::new(vec![], Fen(-1_000_000)).unwrap();
    let members: Vec<AccountId> = (0..3).map(|_| AccountId::new()).collect();
    let owner = AccountId::new();
    for id in members.iter().chain([&owner]) {
        let setup = AccountSetup {
            id: *id,
            balance: Fen::ZERO,
            last_seq: 0,
            policy: policy.clone(),
            site: "s".into(),
            supply: Supply::On,
        };
        engine.add_account(setup).unwrap();
    }
    let add = |engine: &mut Engine, account: AccountId, shared: Option<SharedGroup>| {
        let id = MeterId::new();
        engine
            .add_meter(MeterSetup {
                id,
                account,
                utility: Utility::Electricity,
                params: MeterParams::default(),
                tariff: "guangdong-residential-electricity".into(),
                billing: Default::default(),
                fixed_charges_from: at("2026-07-01T00:00+08:00"),
                shared,
            })
            .unwrap();
        id
    };
    let by_area = SharedGroup {
        rule: yufu_domain::apportion::ShareRule::Area,
        members: vec![(members[0], 8950), (members[1], 11230), (members[2], 8950)],
    };
    let stairwell = add(&mut engine, owner, Some(by_area));
    let read = |engine: &mut Engine, meter: MeterId, t: &str, r: u64| {
        let t = at(t);
        engine
            .ingest(
                &ReadingIn {
                    meter,
                    at: t,
                    register: r,
                    rates: None,
                },
                t,
            )
            .1
    };
    read(&mut engine, stairwell, "2026-07-01T00:00+08:00", 0);
    // 17 kWh at 0.5883 = 10.00 yuan (1000.11 fen → 1000), split by area.
    let out = read(&mut engine, stairwell, "2026-07-02T00:00+08:00", 17_000);
    let split: Vec<(AccountId, Fen)> = out.entries.iter().map(|e| (e.account, e.amount)).collect();
    assert_eq!(
        split,
        vec![
            (members[0], Fen(-307)),
            (members[1], Fen(-386)),
            (members[2], Fen(-307))
        ]
    );
    assert_eq!(
        engine.balance(owner),
        Some(Fen::ZERO),
        "the shared meter's own account pays nothing"
    );
    assert!(
        out.entries
            .iter()
            .all(|e| e.idempotency_key.ends_with(&e.account.to_string()))
    );

    // No member billed by the engine: the money is not dropped, the meter's
    // own account pays and staff are told.
    let orphan = add(
        &mut engine,
        owner,
        Some(SharedGroup {
            rule: yufu_domain::apportion::ShareRule::Equal,
            members: vec![(AccountId::new(), 1)],
        }),
    );
    read(&mut engine, orphan, "2026-07-01T00:00+08:00", 0);
    let out = read(&mut engine, orphan, "2026-07-02T00:00+08:00", 17_000);
    assert_eq!(
        out.entries
            .iter()
            .map(|e| (e.account, e.amount))
            .collect::<Vec<_>>(),
        vec![(owner, Fen(-1000))]
    );
    assert!(out.alarms.iter().any(|a| a.kind == "apportionment"));

    // By usage: members' own consumption since the last split decides.
    let lift = add(
        &mut engine,
        owner,
        Some(SharedGroup {
            rule: yufu_domain::apportion::ShareRule::Usage,
            members: vec![(members[0], 0), (members[1], 0)],
        }),
    );
    let m0 = add(&mut engine, members[0], None);
    let m1 = add(&mut engine, members[1], None);
    for (m, q) in [(m0, 0), (m1, 0), (lift, 0)] {
        read(&mut engine, m, "2026-07-03T00:00+08:00", q);
    }
    read(&mut engine, m0, "2026-07-04T00:00+08:00", 30_000);
    read(&mut engine, m1, "2026-07-04T00:00+08:00", 10_000);
    let out = read(&mut engine, lift, "2026-07-04T00:00+08:00", 17_000);
    let split: Vec<(AccountId, i64)> = out
        .entries
        .iter()
        .map(|e| (e.account, e.amount.0))
        .collect();
    assert_eq!(
        split,
        vec![(members[0], -750), (members[1], -250)],
        "3 : 1 by usage"
    );
    // Usage restarts after a split: nothing used since → equal shares, with an alarm.
    let out = read(&mut engine, lift, "2026-07-05T00:00+08:00", 34_000);
    assert_eq!(out.alarms[0].kind, "apportionment");
    assert_eq!(out.entries.iter().map(|e| e.amount.0).sum::<i64>(), -1000);
}

#[test]
fn anomalies_are_stored_unbilled_and_alarmed() {
    let mut f = Fixture::new(ProtectedWindows::default());
    f.recharge("2026-07-01T00:00+08:00", 10_000, "pay-1");
    f.read("2026-07-01T00:00+08:00", 50_000);
    let (r, out) = f.read("2026-07-02T00:00+08:00", 40_000);
    assert!(matches!(
        r,
        ReadingResult::Accepted(Verdict::NegativeDelta { .. })
    ));
    assert_eq!(out.alarms[0].kind, "negative_delta");
    assert!(out.entries.is_empty());
    // Same instant, other value: rejected and alarmed.
    let (r, out) = f.read("2026-07-02T00:00+08:00", 41_000);
    assert!(matches!(r, ReadingResult::Rejected(_)));
    assert_eq!(out.alarms[0].kind, "conflict");
    // Unknown meter: rejected, nothing changes.
    let (r, _) = f.engine.ingest(
        &ReadingIn {
            meter: MeterId::new(),
            at: at("2026-07-02T00:00+08:00"),
            register: 1,
            rates: None,
        },
        at("2026-07-02T00:00+08:00"),
    );
    assert!(matches!(r, ReadingResult::Rejected(_)));
    f.check_ledger();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Replays and retries, in any number and order, never charge twice:
    /// the money charged equals that of the readings without replays, and the
    /// balance is always the sum of the entries.
    #[test]
    fn replays_never_charge_twice(
        steps in prop::collection::vec((1i64..6 * 60, 0u64..30_000), 1..60),
        replays in prop::collection::vec((0usize..60, 0usize..60), 0..40),
        recharges in prop::collection::vec(1i64..20_000, 0..5),
    ) {
        let mut readings = vec![(at("2026-07-01T00:00+08:00"), 0u64)];
        for (mins, q) in &steps {
            let (t, r) = *readings.last().unwrap();
            readings.push((t.checked_add(jiff::SignedDuration::from_mins(*mins)).unwrap(), r + q));
        }
        // The clean run.
        let mut clean = Fixture::new(ProtectedWindows::default());
        for (i, fen) in recharges.iter().enumerate() {
            clean.recharge("2026-07-01T00:00+08:00", *fen, &format!("pay-{i}"));
        }
        for (t, r) in &readings {
            clean.engine.ingest(&ReadingIn { meter: clean.meter, at: *t, register: *r, rates: None }, *t);
        }
        // The same with replays of recent readings and repeated recharges.
        let mut noisy = Fixture::new(ProtectedWindows::default());
        for (i, fen) in recharges.iter().enumerate() {
            noisy.recharge("2026-07-01T00:00+08:00", *fen, &format!("pay-{i}"));
            noisy.recharge("2026-07-01T00:01+08:00", *fen, &format!("pay-{i}"));
        }
        for (i, (t, r)) in readings.iter().enumerate() {
            let (_, out) = noisy.engine.ingest(&ReadingIn { meter: noisy.meter, at: *t, register: *r, rates: None }, *t);
            noisy.ledger.extend(out.entries);
            for (when, which) in &replays {
                if *when == i {
                    let (rt, rr) = readings[(*which).min(i)];
                    let (res, out) = noisy.engine.ingest(&ReadingIn { meter: noisy.meter, at: rt, register: rr, rates: None }, *t);
                    prop_assert!(out.entries.is_empty(), "a replay posted {:?}", out.entries);
                    prop_assert!(!matches!(res, ReadingResult::Accepted(Verdict::Billed(_))));
                }
            }
        }
        noisy.check_ledger();
        prop_assert_eq!(noisy.engine.balance(noisy.account), clean.engine.balance(clean.account));
        prop_assert_eq!(noisy.engine.billing_state(noisy.meter), clean.engine.billing_state(clean.meter));
    }
}

/// A gas leak shuts the valve in credit, a recharge after a cut-off does
/// not reopen it, and only releasing the hold (in credit) does.
#[test]
fn a_gas_leak_holds_the_valve_shut_until_released() {
    let mut f = Fixture::new(ProtectedWindows::default());
    f.recharge("2026-07-01T00:00+08:00", 10_000, "pay-1");
    let now = at("2026-07-02T08:00+08:00");
    // A valve-open already on its way to the meter when the leak is reported.
    f.engine
        .queue_command(f.gas, CommandKind::ValveOpen, "operator", now)
        .unwrap();
    assert!(
        f.engine
            .command_sent(f.gas, CommandKind::ValveOpen, now)
            .is_some()
    );
    let done = f.engine.safety_shutoff(f.gas, "gas_leak", now).unwrap();
    // It is withdrawn (never retried), and a close follows it.
    assert_eq!(done.withdrawn.len(), 1);
    assert_eq!(done.withdrawn[0].command.kind, CommandKind::ValveOpen);
    assert_eq!(
        done.withdrawn[0].command.state,
        yufu_domain::command::CommandState::Superseded
    );
    let q = done.queued.expect("a valve close is queued");
    assert_eq!(q.command.kind, CommandKind::ValveClose);
    assert_eq!(f.engine.safety_hold(f.gas), Some("gas_leak"));
    assert_eq!(
        f.engine.due_commands(now),
        vec![(f.gas, CommandKind::ValveClose)]
    );
    // A second report of the same leak queues nothing more.
    let again = f.engine.safety_shutoff(f.gas, "gas_leak", now).unwrap();
    assert!(again.queued.is_none() && again.withdrawn.is_empty());
    // Once the close is sent, a further report withdraws it and queues a
    // fresh one (an open may have reached the meter after it).
    assert!(
        f.engine
            .command_sent(f.gas, CommandKind::ValveClose, now)
            .is_some()
    );
    let later = f.engine.safety_shutoff(f.gas, "gas_leak", now).unwrap();
    assert_eq!(later.withdrawn.len(), 1);
    assert!(later.queued.is_some());
    // Electricity has no valve.
    assert!(matches!(
        f.engine.safety_shutoff(f.meter, "gas_leak", now),
        Err(CommandRefused::NoValve(Utility::Electricity))
    ));
    // An operator cannot reopen it while held.
    assert!(matches!(
        f.engine
            .queue_command(f.gas, CommandKind::ValveOpen, "operator", now),
        Err(CommandRefused::SafetyHold(_))
    ));
    // Credit runs out and comes back: the electricity meter reconnects,
    // the held gas valve does not.
    f.read("2026-07-01T00:00+08:00", 0);
    f.read("2026-07-20T00:00+08:00", 200_000);
    assert_eq!(f.engine.supply(f.account), Some(Supply::Off));
    let r = f.recharge("2026-07-21T09:00+08:00", 50_000, "pay-2");
    let kinds: Vec<(MeterId, CommandKind)> = r
        .outcome
        .commands
        .iter()
        .map(|c| (c.meter, c.command.kind))
        .collect();
    assert!(kinds.contains(&(f.meter, CommandKind::Close)));
    assert!(!kinds.iter().any(|(m, _)| *m == f.gas), "{kinds:?}");
    // The hold survives a snapshot and restore.
    let items: Vec<SnapshotItem> = f.engine.snapshot_iter().collect();
    let mut restored = Engine::new(RetryPolicy::default());
    restored.add_tariff(parse_tariff("res", RESIDENTIAL).unwrap());
    restored.add_tariff(parse_tariff("gas", GAS).unwrap());
    for item in items {
        restored.restore(item).unwrap();
    }
    assert_eq!(restored.safety_hold(f.gas), Some("gas_leak"));
    // Released in credit: the valve reopens.
    let q = f
        .engine
        .release_safety(f.gas, "leak repaired", at("2026-07-21T10:00+08:00"))
        .unwrap()
        .expect("reopened");
    assert_eq!(q.command.kind, CommandKind::ValveOpen);
    assert_eq!(f.engine.safety_hold(f.gas), None);
    f.check_ledger();
}
