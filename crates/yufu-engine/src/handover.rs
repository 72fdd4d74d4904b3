//! Meter swap support (issue 8, 数据迁移): pricing a reading without
//! applying it, and handing a removed meter's tier-period usage, sub-fen
//! carry and fixed-charge mark over to the meter that replaces it.
//!
//! Why a handover at all: tier-period usage (阶梯) and the sub-fen carry are
//! kept per meter in its [`BillingState`]. A replacement meter that started
//! from nothing would price the rest of the period from tier 1 again and drop
//! (or repeat) the fraction of a fen the old meter carried — the swap would
//! change the customer's bill. Its fixed charges would also start again from
//! the new meter's creation, posting periods the old meter already paid.

use yufu_domain::MeterId;
use yufu_tariff::{BillingState, Reading, Verdict};

use crate::{Engine, ReadingIn, SetupError};

/// What [`Engine::inherit_billing`] did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Handover {
    /// The usage, carry and mark moved to the new meter.
    Moved,
    /// The old meter had nothing left to hand over (already moved, or it
    /// never billed anything): nothing changed.
    Nothing,
}

impl Engine {
    /// The verdict pricing would give this reading now, without applying
    /// it; `None` if the meter or its tariff is not loaded. Recent duplicates
    /// that [`Engine::ingest`] recognises before pricing are not looked at:
    /// this is the tariff core's answer against the meter's billing state.
    pub fn preview(&self, r: &ReadingIn) -> Option<Verdict> {
        let meter = self.meters.get(&r.meter)?;
        let pricer = self.tariffs.get(&*meter.tariff)?;
        let reading = Reading {
            at: r.at,
            register: r.register,
            rates: r.rates,
            approved: false,
        };
        Some(
            pricer
                .price(&meter.params, &meter.billing, &reading)
                .verdict,
        )
    }

    /// Whether `from` still holds something [`Engine::inherit_billing`]
    /// would move to `to` (false when either is unknown).
    pub fn has_handover(&self, from: MeterId, to: MeterId) -> bool {
        let (Some(f), Some(t)) = (self.meters.get(&from), self.meters.get(&to)) else {
            return false;
        };
        f.billing.period.is_some()
            || f.billing.carry != 0
            || f.fixed_charges_from > t.fixed_charges_from
    }

    /// Moves `from`'s tier-period usage and sub-fen carry to `to`, and lets
    /// `to`'s fixed charges continue from `from`'s mark when that is later.
    /// `to` keeps its own last reading (its opening reading, if it had one):
    /// the registers of two devices are unrelated. Moved, not copied, so a
    /// repeat (a retried swap, a replayed journal) finds nothing left and
    /// changes nothing.
    ///
    /// Refused when `to` has already billed consumption of its own in a tier
    /// period or carries a fraction of a fen: adding two meters' usage and
    /// carries is a judgement (which period, a carry beyond one fen) left to
    /// a person rather than guessed.
    pub fn inherit_billing(&mut self, from: MeterId, to: MeterId) -> Result<Handover, SetupError> {
        if from == to {
            return Err(SetupError::InheritRefused {
                to,
                reason: "a meter cannot inherit from itself".into(),
            });
        }
        let old = self
            .meters
            .get(&from)
            .ok_or(SetupError::UnknownMeter(from))?;
        let (period, carry, mark) = (
            old.billing.period,
            old.billing.carry,
            old.fixed_charges_from,
        );
        let new = self.meters.get(&to).ok_or(SetupError::UnknownMeter(to))?;
        if !self.has_handover(from, to) {
            return Ok(Handover::Nothing);
        }
        if period.is_some() || carry != 0 {
            let own = new.billing;
            if own.period.is_some() || own.carry != 0 {
                return Err(SetupError::InheritRefused {
                    to,
                    reason: format!(
                        "meter {to} has already billed consumption of its own (tier usage \
                         {:?}, carry {} × 0.00001 fen); meter {from}'s usage was not moved",
                        own.period.map(|p| p.used),
                        own.carry
                    ),
                });
            }
        }
        if let Some(new) = self.meters.get_mut(&to) {
            new.billing = BillingState {
                last: new.billing.last,
                period,
                carry,
            };
            new.fixed_charges_from = new.fixed_charges_from.max(mark);
        }
        if let Some(old) = self.meters.get_mut(&from) {
            old.billing.period = None;
            old.billing.carry = 0;
        }
        Ok(Handover::Moved)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use jiff::Timestamp;
    use jiff::tz::TimeZone;
    use yufu_domain::balance::{BalancePolicy, ProtectedWindows, Supply};
    use yufu_domain::command::RetryPolicy;
    use yufu_domain::{AccountId, Fen, MeterId, Utility};
    use yufu_tariff::{MeterParams, Verdict, parse_tariff};

    use crate::*;

    const RESIDENTIAL: &str =
        include_str!("../../../examples/tariffs/guangdong-residential-electricity.toml");
    const TARIFF: &str = "guangdong-residential-electricity";

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn engine() -> (Engine, AccountId) {
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
                policy: BalancePolicy::new(vec![], Fen(-1_000_000)).unwrap(),
                site: "s".into(),
                supply: Supply::On,
            })
            .unwrap();
        (engine, account)
    }

    fn meter(engine: &mut Engine, account: AccountId, from: &str) -> MeterId {
        let id = MeterId::new();
        engine
            .add_meter(MeterSetup {
                id,
                account,
                utility: Utility::Electricity,
                params: MeterParams::default(),
                tariff: TARIFF.into(),
                billing: Default::default(),
                fixed_charges_from: at(from),
                shared: None,
            })
            .unwrap();
        id
    }

    fn read(engine: &mut Engine, meter: MeterId, when: &str, register: u64) -> i64 {
        let r = ReadingIn {
            meter,
            at: at(when),
            register,
            rates: None,
        };
        match engine.ingest(&r, at(when)).0 {
            ReadingResult::Accepted(Verdict::Billed(c)) => c.total_fen,
            other => {
                assert!(
                    matches!(other, ReadingResult::Accepted(Verdict::Opening)),
                    "{other:?}"
                );
                0
            }
        }
    }

    /// July, tier 1 up to 260 kWh: 250 kWh on the old meter, 50 on the new.
    /// Without the handover the new meter's 50 kWh would all be tier 1.
    #[test]
    fn the_new_meter_continues_the_tier_period_and_carry() {
        let (mut engine, account) = engine();
        let old = meter(&mut engine, account, "2025-07-01T00:00:00Z");
        let new = meter(&mut engine, account, "2025-06-01T00:00:00Z");
        read(&mut engine, old, "2025-07-01T00:00:00+08:00", 1_000_000);
        let first = read(&mut engine, old, "2025-07-20T00:00:00+08:00", 1_250_333);
        let before = engine.billing_state(old).unwrap();
        assert_eq!(before.period.unwrap().used, 250_333);
        assert_eq!(
            engine.inherit_billing(old, new).unwrap(),
            handover::Handover::Moved
        );
        let moved = engine.billing_state(new).unwrap();
        assert_eq!(moved.period, before.period);
        assert_eq!(moved.carry, before.carry);
        assert_eq!(moved.last, None);
        assert_eq!(engine.billing_state(old).unwrap().period, None);
        // The fixed-charge mark continues from the later of the two.
        assert_eq!(
            engine.meters[&new].fixed_charges_from,
            at("2025-07-01T00:00:00Z")
        );
        // A repeat finds nothing to move.
        assert_eq!(
            engine.inherit_billing(old, new).unwrap(),
            handover::Handover::Nothing
        );
        read(&mut engine, new, "2025-07-20T01:00:00+08:00", 7);
        let second = read(&mut engine, new, "2025-07-31T00:00:00+08:00", 50_007);

        // The same 300.333 kWh on one meter.
        let (mut single, account) = self::engine();
        let one = meter(&mut single, account, "2025-07-01T00:00:00Z");
        read(&mut single, one, "2025-07-01T00:00:00+08:00", 0);
        let a = read(&mut single, one, "2025-07-20T00:00:00+08:00", 250_333);
        let b = read(&mut single, one, "2025-07-31T00:00:00+08:00", 300_333);
        assert_eq!(first + second, a + b);
        assert_eq!(
            engine.billing_state(new).unwrap().period,
            single.billing_state(one).unwrap().period
        );
        assert_eq!(
            engine.billing_state(new).unwrap().carry,
            single.billing_state(one).unwrap().carry
        );
    }

    #[test]
    fn a_new_meter_with_usage_of_its_own_is_refused_and_unchanged() {
        let (mut engine, account) = engine();
        let old = meter(&mut engine, account, "2025-07-01T00:00:00Z");
        let new = meter(&mut engine, account, "2025-07-01T00:00:00Z");
        read(&mut engine, old, "2025-07-01T00:00:00+08:00", 0);
        read(&mut engine, old, "2025-07-10T00:00:00+08:00", 10_000);
        read(&mut engine, new, "2025-07-11T00:00:00+08:00", 0);
        read(&mut engine, new, "2025-07-12T00:00:00+08:00", 5_000);
        let (old_state, new_state) = (
            engine.billing_state(old).unwrap(),
            engine.billing_state(new).unwrap(),
        );
        let err = engine.inherit_billing(old, new).unwrap_err();
        assert!(err.to_string().contains("already billed"), "{err}");
        assert_eq!(engine.billing_state(old).unwrap(), old_state);
        assert_eq!(engine.billing_state(new).unwrap(), new_state);
        assert!(matches!(
            engine.inherit_billing(old, MeterId::new()),
            Err(SetupError::UnknownMeter(_))
        ));
    }

    #[test]
    fn preview_prices_without_applying() {
        let (mut engine, account) = engine();
        let m = meter(&mut engine, account, "2025-07-01T00:00:00Z");
        read(&mut engine, m, "2025-07-01T00:00:00+08:00", 1_000);
        let r = |when: &str, register| ReadingIn {
            meter: m,
            at: at(when),
            register,
            rates: None,
        };
        let state = engine.billing_state(m).unwrap();
        assert!(matches!(
            engine.preview(&r("2025-07-02T00:00:00+08:00", 2_000)),
            Some(Verdict::Billed(_))
        ));
        assert!(matches!(
            engine.preview(&r("2025-07-02T00:00:00+08:00", 500)),
            Some(Verdict::NegativeDelta { .. })
        ));
        assert_eq!(engine.billing_state(m).unwrap(), state);
        assert_eq!(
            engine.preview(&ReadingIn {
                meter: MeterId::new(),
                ..r("2025-07-02T00:00:00+08:00", 1)
            }),
            None
        );
    }
}
