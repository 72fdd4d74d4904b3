//! Balance rules: warning levels, the cut-off level (which may be below zero:
//! an overdraft allowance, 透支额度), protected windows (友好停电: nights,
//! weekends, holidays) that defer a cut-off, and reconnection when credit
//! returns. Pure: the engine calls [`apply`] after every balance change and
//! on a timer, and carries out the [`Effect`]s.

use std::collections::BTreeSet;

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::TimeZone;

use crate::{DomainError, Fen};

/// How far ahead [`ProtectedWindows::next_allowed`] looks before giving up
/// (a calendar protecting every day would otherwise never end).
pub const MAX_DEFERRAL_DAYS: i32 = 400;

/// An account's thresholds.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct BalancePolicy {
    warnings: Vec<Fen>,
    cutoff: Fen,
}

impl BalancePolicy {
    /// `warnings`: levels in fen, highest first, each above `cutoff`; the
    /// balance falling below one notifies once. `cutoff`: at or below it the
    /// supply is cut (0 = at zero credit; negative = an overdraft allowance).
    pub fn new(warnings: Vec<Fen>, cutoff: Fen) -> Result<Self, DomainError> {
        if warnings.windows(2).any(|w| w[1] >= w[0]) {
            return Err(DomainError::invalid(
                "warnings",
                "warning levels must be given highest first, without repeats",
            ));
        }
        if warnings.last().is_some_and(|w| *w <= cutoff) {
            return Err(DomainError::invalid(
                "warnings",
                "every warning level must be above the cut-off level",
            ));
        }
        Ok(Self { warnings, cutoff })
    }

    /// The policy with an account's overrides applied.
    pub fn with_override(
        &self,
        warnings: Option<Vec<Fen>>,
        cutoff: Option<Fen>,
    ) -> Result<Self, DomainError> {
        Self::new(
            warnings.unwrap_or_else(|| self.warnings.clone()),
            cutoff.unwrap_or(self.cutoff),
        )
    }

    pub fn warnings(&self) -> &[Fen] {
        &self.warnings
    }

    pub fn cutoff(&self) -> Fen {
        self.cutoff
    }

    /// How many warning levels `balance` is below.
    pub fn levels_below(&self, balance: Fen) -> usize {
        self.warnings.iter().filter(|w| balance < **w).count()
    }
}

/// When a cut-off must not be carried out, in the site's local time.
#[derive(Clone, PartialEq, Eq, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct ProtectedWindows {
    /// A daily window `[start, end)`; it crosses midnight when end < start
    /// (e.g. 22:00–08:00).
    pub nightly: Option<(Time, Time)>,
    /// Saturdays and Sundays, all day.
    pub weekends: bool,
    /// Public holidays, all day.
    pub holidays: BTreeSet<Date>,
}

impl ProtectedWindows {
    pub fn is_protected(&self, local: DateTime) -> bool {
        let date = local.date();
        if self.weekends && matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday) {
            return true;
        }
        if self.holidays.contains(&date) {
            return true;
        }
        match self.nightly {
            Some((start, end)) if start <= end => local.time() >= start && local.time() < end,
            Some((start, end)) => local.time() >= start || local.time() < end,
            None => false,
        }
    }

    /// The earliest instant at or after `at` outside every window, or `None`
    /// when none comes within [`MAX_DEFERRAL_DAYS`].
    pub fn next_allowed(&self, tz: &TimeZone, at: Timestamp) -> Option<Timestamp> {
        let mut t = at;
        let limit = at
            .checked_add(jiff::SignedDuration::from_hours(
                24 * i64::from(MAX_DEFERRAL_DAYS),
            ))
            .ok()?;
        while t <= limit {
            let local = tz.to_datetime(t);
            if !self.is_protected(local) {
                return Some(t);
            }
            let date = local.date();
            let whole_day = (self.weekends
                && matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday))
                || self.holidays.contains(&date);
            let next_local = match self.nightly {
                _ if whole_day => DateTime::from_parts(date.tomorrow().ok()?, Time::midnight()),
                Some((start, end)) if end < start && local.time() >= start => {
                    DateTime::from_parts(date.tomorrow().ok()?, end)
                }
                Some((_, end)) => DateTime::from_parts(date, end),
                None => DateTime::from_parts(date.tomorrow().ok()?, Time::midnight()),
            };
            let next = tz.to_timestamp(next_local).ok()?;
            // Guard against a local time that maps backwards (DST): always advance.
            t = if next > t {
                next
            } else {
                t.checked_add(jiff::SignedDuration::from_mins(1)).ok()?
            };
        }
        None
    }
}

/// The supply of an account's meters as the rules see it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Supply {
    On,
    /// Credit is exhausted but a protected window defers the cut-off.
    CutPending {
        not_before: Timestamp,
    },
    Off,
}

/// What the rules remember about an account between changes.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct AccountRules {
    pub balance: Fen,
    /// How many warning levels have been notified and not yet re-armed.
    pub warned: usize,
    pub supply: Supply,
}

impl AccountRules {
    pub fn new(balance: Fen) -> Self {
        Self {
            balance,
            warned: 0,
            supply: Supply::On,
        }
    }
}

/// What the engine must do.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// Notify: the balance fell below this warning level (once per crossing).
    Warning { level: Fen, balance: Fen },
    /// Notify: credit is exhausted; supply will be cut at `at` (after a
    /// protected window).
    CutoffScheduled { at: Timestamp },
    /// Queue trip / valve close for the account's meters.
    Cutoff,
    /// Queue close / valve open: credit is back above the cut-off level.
    Reconnect,
    /// A deferred cut-off is no longer needed (a recharge came in time).
    CutoffCancelled,
}

/// Applies a new balance (or, with the same balance, the passing of time) at
/// instant `at`. Returns the new rules state and what to do, in order.
pub fn apply(
    policy: &BalancePolicy,
    windows: &ProtectedWindows,
    tz: &TimeZone,
    rules: AccountRules,
    balance: Fen,
    at: Timestamp,
) -> (AccountRules, Vec<Effect>) {
    let mut effects = Vec::new();
    let below = policy.levels_below(balance);
    for level in policy.warnings.iter().take(below).skip(rules.warned) {
        effects.push(Effect::Warning {
            level: *level,
            balance,
        });
    }
    // Rising above a level re-arms it, so the next fall notifies again.
    let warned = below;

    let exhausted = balance <= policy.cutoff;
    let supply = match (rules.supply, exhausted) {
        (Supply::On, true) => cut_or_defer(windows, tz, at, &mut effects),
        (Supply::CutPending { not_before }, true) if at >= not_before => {
            cut_or_defer(windows, tz, at, &mut effects)
        }
        (pending @ Supply::CutPending { .. }, true) => pending,
        (Supply::Off, true) => Supply::Off,
        (Supply::On, false) => Supply::On,
        (Supply::CutPending { .. }, false) => {
            effects.push(Effect::CutoffCancelled);
            Supply::On
        }
        (Supply::Off, false) => {
            effects.push(Effect::Reconnect);
            Supply::On
        }
    };
    (
        AccountRules {
            balance,
            warned,
            supply,
        },
        effects,
    )
}

fn cut_or_defer(
    windows: &ProtectedWindows,
    tz: &TimeZone,
    at: Timestamp,
    effects: &mut Vec<Effect>,
) -> Supply {
    match windows.next_allowed(tz, at) {
        Some(t) if t <= at => {
            effects.push(Effect::Cutoff);
            Supply::Off
        }
        Some(t) => {
            effects.push(Effect::CutoffScheduled { at: t });
            Supply::CutPending { not_before: t }
        }
        // Protected for longer than the look-ahead: keep supply on and say so
        // once; the next tick looks again.
        None => {
            effects.push(Effect::CutoffScheduled { at: Timestamp::MAX });
            Supply::CutPending {
                not_before: Timestamp::MAX,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::{date, time};

    fn policy() -> BalancePolicy {
        BalancePolicy::new(vec![Fen(5000), Fen(1000)], Fen(0)).unwrap()
    }

    fn shanghai() -> TimeZone {
        TimeZone::get("Asia/Shanghai").unwrap()
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn friendly() -> ProtectedWindows {
        ProtectedWindows {
            nightly: Some((time(22, 0, 0, 0), time(8, 0, 0, 0))),
            weekends: true,
            holidays: [date(2026, 10, 1), date(2026, 10, 2)].into_iter().collect(),
        }
    }

    #[test]
    fn policies_are_validated() {
        assert!(BalancePolicy::new(vec![Fen(1000), Fen(5000)], Fen(0)).is_err());
        assert!(BalancePolicy::new(vec![Fen(1000)], Fen(1000)).is_err());
        assert!(BalancePolicy::new(vec![], Fen(-5000)).is_ok());
        let p = policy().with_override(None, Some(Fen(-2000))).unwrap();
        assert_eq!((p.warnings().len(), p.cutoff()), (2, Fen(-2000)));
    }

    #[test]
    fn warnings_fire_once_per_crossing_and_re_arm() {
        let (p, w, tz) = (policy(), ProtectedWindows::default(), shanghai());
        let t = at("2026-03-03T10:00+08:00");
        let r = AccountRules::new(Fen(6000));
        let (r, e) = apply(&p, &w, &tz, r, Fen(4000), t);
        assert_eq!(
            e,
            vec![Effect::Warning {
                level: Fen(5000),
                balance: Fen(4000)
            }]
        );
        let (r, e) = apply(&p, &w, &tz, r, Fen(3000), t);
        assert!(e.is_empty(), "no second notice for the same crossing");
        let (r, e) = apply(&p, &w, &tz, r, Fen(500), t);
        assert_eq!(
            e,
            vec![Effect::Warning {
                level: Fen(1000),
                balance: Fen(500)
            }]
        );
        let (r, e) = apply(&p, &w, &tz, r, Fen(8000), t);
        assert!(e.is_empty());
        assert_eq!(r.warned, 0);
        // One fall through both levels notifies both.
        let (_, e) = apply(&p, &w, &tz, r, Fen(900), t);
        assert_eq!(e.len(), 2);
    }

    #[test]
    fn cutoff_at_zero_credit_and_reconnect_on_recharge() {
        let (p, w, tz) = (policy(), ProtectedWindows::default(), shanghai());
        let t = at("2026-03-03T10:00+08:00");
        let r = AccountRules {
            balance: Fen(10),
            warned: 2,
            supply: Supply::On,
        };
        let (r, e) = apply(&p, &w, &tz, r, Fen(0), t);
        assert_eq!((r.supply, e), (Supply::Off, vec![Effect::Cutoff]));
        let (r, e) = apply(&p, &w, &tz, r, Fen(-300), t);
        assert!(e.is_empty(), "already off");
        let (r, e) = apply(&p, &w, &tz, r, Fen(10_000), t);
        assert_eq!((r.supply, e), (Supply::On, vec![Effect::Reconnect]));
    }

    #[test]
    fn overdraft_allowance_cuts_below_zero() {
        let p = BalancePolicy::new(vec![Fen(0)], Fen(-5000)).unwrap();
        let (w, tz) = (ProtectedWindows::default(), shanghai());
        let t = at("2026-03-03T10:00+08:00");
        let (r, e) = apply(&p, &w, &tz, AccountRules::new(Fen(100)), Fen(-4999), t);
        assert_eq!(r.supply, Supply::On);
        assert_eq!(
            e,
            vec![Effect::Warning {
                level: Fen(0),
                balance: Fen(-4999)
            }]
        );
        let (r, _) = apply(&p, &w, &tz, r, Fen(-5000), t);
        assert_eq!(r.supply, Supply::Off);
    }

    #[test]
    fn protected_windows_defer_the_cutoff() {
        let (p, w, tz) = (policy(), friendly(), shanghai());
        // Tuesday 23:00: deferred to Wednesday 08:00.
        let night = at("2026-03-03T23:00+08:00");
        let (r, e) = apply(&p, &w, &tz, AccountRules::new(Fen(100)), Fen(-1), night);
        let morning = at("2026-03-04T08:00+08:00");
        assert_eq!(
            r.supply,
            Supply::CutPending {
                not_before: morning
            }
        );
        assert!(e.contains(&Effect::CutoffScheduled { at: morning }));
        // Still night: nothing happens on a tick.
        let (r2, e) = apply(&p, &w, &tz, r, Fen(-1), at("2026-03-04T07:59+08:00"));
        assert_eq!((r2, e.len()), (r, 0));
        // Morning tick: cut.
        let (r3, e) = apply(&p, &w, &tz, r, Fen(-1), morning);
        assert_eq!((r3.supply, e), (Supply::Off, vec![Effect::Cutoff]));
        // A recharge in time cancels the pending cut.
        let (r4, e) = apply(&p, &w, &tz, r, Fen(2000), at("2026-03-04T07:00+08:00"));
        assert_eq!((r4.supply, e), (Supply::On, vec![Effect::CutoffCancelled]));
    }

    #[test]
    fn weekends_and_holidays_defer_to_the_next_working_morning() {
        let (w, tz) = (friendly(), shanghai());
        // Friday 21:00 is allowed.
        assert_eq!(
            w.next_allowed(&tz, at("2026-03-06T21:00+08:00")),
            Some(at("2026-03-06T21:00+08:00"))
        );
        // Friday 23:00 → Monday 08:00.
        assert_eq!(
            w.next_allowed(&tz, at("2026-03-06T23:00+08:00")),
            Some(at("2026-03-09T08:00+08:00"))
        );
        // National Day, 1–2 October 2026 (Thursday, Friday), then the weekend → Monday 5 October 08:00.
        assert_eq!(
            w.next_allowed(&tz, at("2026-10-01T12:00+08:00")),
            Some(at("2026-10-05T08:00+08:00"))
        );
        // Everything protected: no time found.
        let all = ProtectedWindows {
            nightly: Some((time(0, 0, 0, 0), time(23, 59, 59, 0))),
            weekends: false,
            holidays: BTreeSet::new(),
        };
        let almost = all.next_allowed(&tz, at("2026-03-03T12:00+08:00"));
        assert_eq!(almost, Some(at("2026-03-03T23:59:59+08:00")));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Warnings fire once per downward crossing; cut-offs happen only at
            /// or below the cut-off level and never inside a protected window;
            /// reconnects only follow a cut-off and only above the level.
            #[test]
            fn rules_hold_for_any_balance_history(
                steps in prop::collection::vec((-3_000i64..3_000, 1i64..600), 1..200),
            ) {
                let p = policy();
                let w = friendly();
                let tz = shanghai();
                let mut t = at("2026-03-02T09:00+08:00");
                let mut balance = Fen(6_000);
                let mut r = AccountRules::new(balance);
                let mut off = false;
                for (delta, mins) in steps {
                    t = t.checked_add(jiff::SignedDuration::from_mins(mins)).unwrap();
                    let before = balance;
                    balance = Fen(balance.0 + delta);
                    let (next, effects) = apply(&p, &w, &tz, r, balance, t);
                    for level in p.warnings() {
                        let crossed = before >= *level && balance < *level;
                        let warned = effects.iter().filter(|e| matches!(e, Effect::Warning { level: l, .. } if l == level)).count();
                        // A fall may also complete after a re-arm; never more than one notice per level per step.
                        prop_assert!(warned <= 1);
                        if crossed {
                            prop_assert_eq!(warned, 1, "crossing {:?} not notified", level);
                        }
                    }
                    for e in &effects {
                        match e {
                            Effect::Cutoff => {
                                prop_assert!(balance <= p.cutoff());
                                prop_assert!(!w.is_protected(tz.to_datetime(t)), "cut at a protected time {}", t);
                                prop_assert!(!off);
                                off = true;
                            }
                            Effect::Reconnect => {
                                prop_assert!(off, "reconnect without a cut-off");
                                prop_assert!(balance > p.cutoff());
                                off = false;
                            }
                            _ => {}
                        }
                    }
                    prop_assert_eq!(next.supply == Supply::Off, off);
                    r = next;
                }
            }
        }
    }
}
