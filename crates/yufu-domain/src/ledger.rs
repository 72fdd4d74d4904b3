//! The ledger (账本): immutable entries that move an account's balance. A
//! balance is nothing but the sum of its entries; these types make a wrong
//! sign or a missing cause unrepresentable before anything is stored.

use std::fmt;

use jiff::Timestamp;

use crate::{AccountId, DomainError, Fen, MeterId, StaffUserId};

/// What an entry is for. Each kind has a sign rule ([`EntryKind::check`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// 充值: money in. Positive.
    Recharge,
    /// Priced consumption of a reading. Negative or zero.
    Consumption,
    /// A standing charge (daily/monthly). Negative.
    FixedCharge,
    /// Money paid back to the customer (退费), reducing the balance. Negative.
    Refund,
    /// A correction by an operator, either way. Not zero.
    Adjustment,
    /// A balance carried over from another system or meter swap (数据迁移). Either way.
    Migration,
}

impl EntryKind {
    pub const ALL: [EntryKind; 6] = [
        EntryKind::Recharge,
        EntryKind::Consumption,
        EntryKind::FixedCharge,
        EntryKind::Refund,
        EntryKind::Adjustment,
        EntryKind::Migration,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Recharge => "recharge",
            EntryKind::Consumption => "consumption",
            EntryKind::FixedCharge => "fixed_charge",
            EntryKind::Refund => "refund",
            EntryKind::Adjustment => "adjustment",
            EntryKind::Migration => "migration",
        }
    }

    /// Whether `amount` has the sign this kind allows.
    pub fn check(self, amount: Fen) -> Result<(), DomainError> {
        let ok = match self {
            EntryKind::Recharge => amount.0 > 0,
            EntryKind::Consumption => amount.0 <= 0,
            EntryKind::FixedCharge | EntryKind::Refund => amount.0 < 0,
            EntryKind::Adjustment => amount.0 != 0,
            EntryKind::Migration => true,
        };
        if ok {
            Ok(())
        } else {
            Err(DomainError::invalid(
                "amount",
                format!("{amount} yuan is not a valid {} amount", self.as_str()),
            ))
        }
    }
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who or what caused an entry.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Cause {
    /// A priced reading of a meter.
    Reading { meter_id: MeterId, at: Timestamp },
    /// A payment through a channel (counter, an online provider) with the
    /// channel's own reference.
    Payment { channel: String, reference: String },
    /// A staff member's action.
    Operator { staff_user_id: StaffUserId },
    /// The fixed-charge scheduler, for one charge and period.
    Schedule {
        charge: String,
        period_start: jiff::civil::Date,
    },
}

/// An entry about to be posted. The idempotency key makes posting it twice
/// harmless: the store keeps the first and reports the second as a replay.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NewLedgerEntry {
    pub account_id: AccountId,
    pub kind: EntryKind,
    pub amount: Fen,
    pub cause: Cause,
    /// Unique per account; 1–128 printable ASCII characters.
    pub idempotency_key: String,
    pub at: Timestamp,
}

impl NewLedgerEntry {
    pub fn new(
        account_id: AccountId,
        kind: EntryKind,
        amount: Fen,
        cause: Cause,
        idempotency_key: impl Into<String>,
        at: Timestamp,
    ) -> Result<Self, DomainError> {
        kind.check(amount)?;
        let idempotency_key = idempotency_key.into();
        if idempotency_key.is_empty()
            || idempotency_key.len() > 128
            || !idempotency_key.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(DomainError::invalid(
                "idempotency_key",
                "1–128 printable ASCII characters without spaces",
            ));
        }
        Ok(Self {
            account_id,
            kind,
            amount,
            cause,
            idempotency_key,
            at,
        })
    }
}

/// A running balance that only moves by entries. Overflow of i64 fen is a
/// bug upstream, never wrapped.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Balance(Fen);

impl Balance {
    pub fn of(entries: impl IntoIterator<Item = Fen>) -> Option<Balance> {
        entries
            .into_iter()
            .try_fold(Fen::ZERO, Fen::checked_add)
            .map(Balance)
    }

    pub fn get(self) -> Fen {
        self.0
    }

    pub fn post(self, amount: Fen) -> Option<Balance> {
        self.0.checked_add(amount).map(Balance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sign_rules() {
        assert!(EntryKind::Recharge.check(Fen(1)).is_ok());
        assert!(EntryKind::Recharge.check(Fen(0)).is_err());
        assert!(EntryKind::Consumption.check(Fen(0)).is_ok());
        assert!(EntryKind::Consumption.check(Fen(5)).is_err());
        assert!(EntryKind::FixedCharge.check(Fen(-200)).is_ok());
        assert!(EntryKind::Refund.check(Fen(100)).is_err());
        assert!(EntryKind::Adjustment.check(Fen(0)).is_err());
        assert!(EntryKind::Migration.check(Fen(-5)).is_ok());
        let e = EntryKind::Recharge
            .check(Fen(-100))
            .unwrap_err()
            .to_string();
        assert_eq!(e, "amount: -1.00 yuan is not a valid recharge amount");
    }

    #[test]
    fn keys_are_checked() {
        let mk = |k: &str| {
            NewLedgerEntry::new(
                AccountId::new(),
                EntryKind::Recharge,
                Fen(100),
                Cause::Payment {
                    channel: "counter".into(),
                    reference: "R1".into(),
                },
                k,
                Timestamp::UNIX_EPOCH,
            )
        };
        assert!(mk("pay-2026-0001").is_ok());
        assert!(mk("").is_err());
        assert!(mk("has space").is_err());
        assert!(mk(&"k".repeat(129)).is_err());
    }

    proptest! {
        #[test]
        fn a_balance_is_the_sum_of_its_entries(amounts in prop::collection::vec(-1_000_000i64..1_000_000, 0..200)) {
            let mut running = Balance::default();
            for a in &amounts {
                running = running.post(Fen(*a)).expect("no overflow in range");
            }
            let sum: i64 = amounts.iter().sum();
            prop_assert_eq!(running.get(), Fen(sum));
            prop_assert_eq!(Balance::of(amounts.iter().map(|a| Fen(*a))), Some(running));
        }
    }
}
