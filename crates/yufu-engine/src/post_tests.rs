//! Entries posted by hand (refunds, reversals): once per key, through the
//! balance rules, never a refund below zero, and the balance stays the sum
//! of the entries.
#![allow(clippy::unwrap_used)]

use jiff::Timestamp;
use jiff::tz::TimeZone;
use proptest::prelude::*;
use yufu_domain::balance::{BalancePolicy, ProtectedWindows, Supply};
use yufu_domain::command::{CommandKind, RetryPolicy};
use yufu_domain::ledger::{Cause, EntryKind};
use yufu_domain::{AccountId, Fen, MeterId, StaffUserId, Utility};
use yufu_tariff::{MeterParams, parse_tariff};

use crate::*;

const RESIDENTIAL: &str =
    include_str!("../../../examples/tariffs/guangdong-residential-electricity.toml");

fn uuid_nil() -> StaffUserId {
    "00000000-0000-7000-8000-000000000001".parse().unwrap()
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

struct Fixture {
    engine: Engine,
    account: AccountId,
    ledger: Vec<LedgerEntry>,
}

impl Fixture {
    fn new() -> Self {
        let mut engine = Engine::new(RetryPolicy::default());
        engine.add_tariff(parse_tariff("res", RESIDENTIAL).unwrap());
        engine.add_site(
            "s",
            ProtectedWindows::default(),
            TimeZone::get("Asia/Shanghai").unwrap(),
        );
        let account = AccountId::new();
        engine
            .add_account(AccountSetup {
                id: account,
                balance: Fen::ZERO,
                last_seq: 0,
                policy: BalancePolicy::new(vec![Fen(2000)], Fen::ZERO).unwrap(),
                site: "s".into(),
                supply: Supply::On,
            })
            .unwrap();
        engine
            .add_meter(MeterSetup {
                id: MeterId::new(),
                account,
                utility: Utility::Electricity,
                params: MeterParams::default(),
                tariff: "guangdong-residential-electricity".into(),
                billing: Default::default(),
                fixed_charges_from: at("2026-01-15T00:00+08:00"),
                shared: None,
            })
            .unwrap();
        Self {
            engine,
            account,
            ledger: Vec::new(),
        }
    }

    fn recharge(&mut self, fen: i64, key: &str) {
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
                at("2026-07-01T09:00+08:00"),
            )
            .unwrap();
        if !r.replay {
            self.ledger.extend(r.outcome.entries);
        }
    }

    fn req(&self, kind: EntryKind, fen: i64, key: &str) -> PostIn {
        PostIn {
            account: self.account,
            kind,
            amount: Fen(fen),
            cause: Cause::Operator {
                staff_user_id: uuid_nil(),
            },
            key: key.into(),
        }
    }

    fn post(&mut self, kind: EntryKind, fen: i64, key: &str) -> Result<Posted, PostError> {
        let r = self
            .engine
            .post_entry(self.req(kind, fen, key), at("2026-07-02T09:00+08:00"));
        if let Ok(p) = &r
            && !p.replay
        {
            self.ledger.extend(p.outcome.entries.iter().cloned());
        }
        r
    }

    fn balance(&self) -> i64 {
        self.engine.balance(self.account).unwrap().0
    }

    fn check_ledger(&self) {
        let sum: i64 = self.ledger.iter().map(|e| e.amount.0).sum();
        assert_eq!(self.balance(), sum);
        let seqs: Vec<u64> = self.ledger.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=self.ledger.len() as u64).collect::<Vec<_>>());
        for e in &self.ledger {
            e.kind.check(e.amount).unwrap();
            if e.kind == EntryKind::Refund {
                assert!(e.balance_after.0 >= 0, "a refund went below zero: {e:?}");
            }
        }
    }
}

#[test]
fn a_refund_posts_once_per_key() {
    let mut f = Fixture::new();
    f.recharge(10_000, "pay-1");
    let first = f.post(EntryKind::Refund, -3_000, "refund:r1").unwrap();
    assert!(!first.replay);
    assert_eq!(first.entry.kind, EntryKind::Refund);
    assert_eq!(first.entry.amount, Fen(-3_000));
    assert_eq!(first.entry.balance_after, Fen(7_000));
    assert_eq!(first.entry.idempotency_key, "refund:r1");
    assert_eq!(f.balance(), 7_000);
    // The same request again: the original entry, nothing new.
    let again = f.post(EntryKind::Refund, -3_000, "refund:r1").unwrap();
    assert!(again.replay);
    assert_eq!(again.entry, first.entry);
    assert!(again.outcome.entries.is_empty());
    assert_eq!(f.balance(), 7_000);
    assert!(f.engine.knows_post(f.account, "refund:r1"));
    // The same key for something else: refused.
    assert_eq!(
        f.post(EntryKind::Refund, -2_000, "refund:r1").unwrap_err(),
        PostError::KeyReused("refund:r1".into())
    );
    assert_eq!(
        f.post(EntryKind::Adjustment, -3_000, "refund:r1")
            .unwrap_err(),
        PostError::KeyReused("refund:r1".into())
    );
    // Posted keys and recharge keys do not meet: a recharge keyed like a
    // post is its own request.
    f.recharge(500, "refund:r1");
    assert_eq!(f.balance(), 7_500);
    f.check_ledger();
}

#[test]
fn a_refund_never_takes_the_balance_below_zero_and_the_rules_follow() {
    let mut f = Fixture::new();
    f.recharge(5_000, "pay-1");
    let err = f.post(EntryKind::Refund, -5_001, "refund:big").unwrap_err();
    assert_eq!(
        err,
        PostError::BeyondBalance {
            balance: Fen(5_000),
            refund: Fen(5_001)
        }
    );
    assert!(err.to_string().contains("below zero"), "{err}");
    // Nothing moved, and the key is still free.
    assert_eq!(f.balance(), 5_000);
    assert_eq!(f.engine.last_seq(f.account), Some(1));
    assert!(!f.engine.knows_post(f.account, "refund:big"));
    // All of it is fine: the balance reaches the cut-off level, so the
    // rules warn and trip the meter, as for any debit.
    let all = f.post(EntryKind::Refund, -5_000, "refund:big").unwrap();
    assert_eq!(all.entry.balance_after, Fen::ZERO);
    assert!(
        all.outcome
            .commands
            .iter()
            .any(|c| c.command.kind == CommandKind::Trip),
        "{:?}",
        all.outcome
    );
    assert!(
        all.outcome
            .notifications
            .iter()
            .any(|n| matches!(n, Notification::LowBalance { .. }))
    );
    f.check_ledger();
}

#[test]
fn a_reversal_may_leave_a_debt_that_cuts_off() {
    let mut f = Fixture::new();
    f.recharge(5_000, "pay-1");
    f.post(EntryKind::Refund, -4_000, "refund:a").unwrap();
    let rev = f.post(EntryKind::Adjustment, -5_000, "refund:b").unwrap();
    assert_eq!(rev.entry.kind, EntryKind::Adjustment);
    assert_eq!(rev.entry.balance_after, Fen(-4_000));
    assert!(matches!(
        f.engine.supply(f.account),
        Some(Supply::Off | Supply::CutPending { .. })
    ));
    f.check_ledger();
}

#[test]
fn posts_are_checked_like_every_entry() {
    let mut f = Fixture::new();
    f.recharge(5_000, "pay-1");
    for (kind, fen, key) in [
        (EntryKind::Refund, 100, "k1"),
        (EntryKind::Refund, 0, "k2"),
        (EntryKind::Adjustment, 0, "k3"),
        (EntryKind::Recharge, 100, "k4"),
        (EntryKind::Consumption, -100, "k5"),
        (EntryKind::FixedCharge, -100, "k6"),
        (EntryKind::Migration, -100, "k7"),
        (EntryKind::Refund, -100, "recharge:pay-1"),
        (EntryKind::Refund, -100, "reading:x"),
        (EntryKind::Refund, -100, "fixed:x"),
        (EntryKind::Refund, -100, "has space"),
        (EntryKind::Refund, -100, ""),
    ] {
        let r = f.post(kind, fen, key);
        assert!(
            matches!(r, Err(PostError::Invalid(_))),
            "{kind} {fen} {key:?}: {r:?}"
        );
    }
    let stranger = PostIn {
        account: AccountId::new(),
        ..f.req(EntryKind::Refund, -1, "k")
    };
    assert!(matches!(
        f.engine.post_entry(stranger, at("2026-07-02T09:00+08:00")),
        Err(PostError::UnknownAccount(_))
    ));
    assert_eq!(f.balance(), 5_000);
    f.check_ledger();
}

#[derive(Clone, Debug)]
enum Op {
    Recharge(i64),
    Refund(i64),
    Reversal(i64),
    /// Repeat the n-th post made so far (same request).
    Repeat(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1i64..20_000).prop_map(Op::Recharge),
        (1i64..20_000).prop_map(Op::Refund),
        (1i64..20_000).prop_map(Op::Reversal),
        (0usize..40).prop_map(Op::Repeat),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Any mix of recharges, refunds, reversals and repeats: the balance is
    /// the sum of the entries, a repeat never posts, a refund is posted
    /// exactly when the balance covers it.
    #[test]
    fn posts_keep_the_ledger_whole(ops in prop::collection::vec(op(), 1..40)) {
        let mut f = Fixture::new();
        let mut posted: Vec<(EntryKind, i64, String)> = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            let before = f.balance();
            match op {
                Op::Recharge(fen) => f.recharge(*fen, &format!("pay-{i}")),
                Op::Refund(fen) | Op::Reversal(fen) => {
                    let kind = if matches!(op, Op::Refund(_)) { EntryKind::Refund } else { EntryKind::Adjustment };
                    let key = format!("refund:{i}");
                    let r = f.post(kind, -fen, &key);
                    if kind == EntryKind::Refund && *fen > before {
                        prop_assert!(matches!(r, Err(PostError::BeyondBalance { .. })), "{:?}", r);
                        prop_assert_eq!(f.balance(), before);
                    } else {
                        let p = r.unwrap();
                        prop_assert!(!p.replay);
                        prop_assert_eq!(f.balance(), before - fen);
                        posted.push((kind, -fen, key));
                    }
                }
                Op::Repeat(n) => {
                    if let Some((kind, fen, key)) = posted.get(*n).cloned() {
                        let p = f.post(kind, fen, &key).unwrap();
                        prop_assert!(p.replay);
                        prop_assert_eq!(f.balance(), before);
                    }
                }
            }
        }
        f.check_ledger();
    }
}
