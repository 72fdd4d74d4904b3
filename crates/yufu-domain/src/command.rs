//! Meter commands (远程控制): trip/close for electricity, valve close/open for
//! water and gas, read now, time sync. A command's life is a small state
//! machine with every transition recorded; retries back off exponentially and
//! end in `Failed` or `TimedOut` (a communication-fault alarm for the engine).

use jiff::{SignedDuration, Timestamp};

use crate::{DomainError, Utility};

#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum CommandKind {
    /// 跳闸: open the relay (electricity).
    Trip,
    /// 合闸: close the relay (electricity).
    Close,
    /// 关阀 (water, gas).
    ValveClose,
    /// 开阀 (water, gas).
    ValveOpen,
    ReadNow,
    TimeSync,
}

impl CommandKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CommandKind::Trip => "trip",
            CommandKind::Close => "close",
            CommandKind::ValveClose => "valve_close",
            CommandKind::ValveOpen => "valve_open",
            CommandKind::ReadNow => "read_now",
            CommandKind::TimeSync => "time_sync",
        }
    }

    /// The command that undoes this one, if any: a later close supersedes a
    /// trip still waiting to be sent, and so on.
    pub fn opposite(self) -> Option<CommandKind> {
        match self {
            CommandKind::Trip => Some(CommandKind::Close),
            CommandKind::Close => Some(CommandKind::Trip),
            CommandKind::ValveClose => Some(CommandKind::ValveOpen),
            CommandKind::ValveOpen => Some(CommandKind::ValveClose),
            CommandKind::ReadNow | CommandKind::TimeSync => None,
        }
    }

    /// Whether a meter of `utility` can carry out this command.
    pub fn check_for(self, utility: Utility) -> Result<(), DomainError> {
        let ok = match self {
            CommandKind::Trip | CommandKind::Close => utility == Utility::Electricity,
            CommandKind::ValveClose | CommandKind::ValveOpen => utility != Utility::Electricity,
            CommandKind::ReadNow | CommandKind::TimeSync => true,
        };
        if ok {
            Ok(())
        } else {
            Err(DomainError::invalid(
                "command",
                format!("a {utility} meter cannot {}", self.as_str()),
            ))
        }
    }

    /// The command that cuts supply on a meter of `utility`.
    pub fn cutoff_for(utility: Utility) -> CommandKind {
        if utility == Utility::Electricity {
            CommandKind::Trip
        } else {
            CommandKind::ValveClose
        }
    }

    /// The command that restores supply on a meter of `utility`.
    pub fn reconnect_for(utility: Utility) -> CommandKind {
        if utility == Utility::Electricity {
            CommandKind::Close
        } else {
            CommandKind::ValveOpen
        }
    }

    /// Whether it gives supply back (relay close, valve open).
    pub fn is_restore(self) -> bool {
        matches!(self, CommandKind::Close | CommandKind::ValveOpen)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandState {
    /// Waiting to be sent (first time, or again after a back-off).
    Queued,
    /// Sent; waiting for the meter's acknowledgement until the deadline.
    Sent,
    Acknowledged,
    /// The meter refused it every time.
    Failed,
    /// No answer within the attempts allowed: a communication fault.
    TimedOut,
    /// Replaced by its opposite before it was sent.
    Superseded,
}

impl CommandState {
    /// Still in play: queued or in flight.
    pub fn is_pending(self) -> bool {
        matches!(self, CommandState::Queued | CommandState::Sent)
    }
}

/// Retries and timeouts. Every retry loop has a limit.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct RetryPolicy {
    /// Sends before giving up (at least 1).
    pub max_attempts: u32,
    /// How long to wait for an acknowledgement after a send.
    pub ack_timeout: SignedDuration,
    /// The wait before the second attempt; doubled each time after.
    pub backoff_base: SignedDuration,
    pub backoff_max: SignedDuration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            ack_timeout: SignedDuration::from_secs(60),
            backoff_base: SignedDuration::from_secs(30),
            backoff_max: SignedDuration::from_mins(30),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> SignedDuration {
        let factor = 1i32
            .checked_shl(attempt.saturating_sub(1).min(30))
            .unwrap_or(i32::MAX);
        self.backoff_base
            .checked_mul(factor)
            .unwrap_or(self.backoff_max)
            .min(self.backoff_max)
    }
}

/// One recorded change of state.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct Transition {
    pub at: Timestamp,
    pub from: Option<CommandState>,
    pub to: CommandState,
    pub reason: String,
}

/// A command and its history.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct Command {
    pub kind: CommandKind,
    pub state: CommandState,
    /// Sends so far.
    pub attempts: u32,
    /// When it may be sent (queued) or when its acknowledgement is overdue (sent).
    pub due_at: Timestamp,
    pub history: Vec<Transition>,
}

/// A transition that the command's state does not allow.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("a {state:?} command cannot be {action}")]
pub struct IllegalTransition {
    pub state: CommandState,
    pub action: &'static str,
}

impl Command {
    pub fn queue(kind: CommandKind, at: Timestamp, reason: impl Into<String>) -> Self {
        Self {
            kind,
            state: CommandState::Queued,
            attempts: 0,
            due_at: at,
            history: vec![Transition {
                at,
                from: None,
                to: CommandState::Queued,
                reason: reason.into(),
            }],
        }
    }

    fn go(&mut self, at: Timestamp, to: CommandState, reason: impl Into<String>) {
        self.history.push(Transition {
            at,
            from: Some(self.state),
            to,
            reason: reason.into(),
        });
        self.state = to;
    }

    /// Queued and its time has come.
    pub fn is_due(&self, now: Timestamp) -> bool {
        self.state == CommandState::Queued && now >= self.due_at
    }

    pub fn mark_sent(
        &mut self,
        now: Timestamp,
        policy: &RetryPolicy,
    ) -> Result<(), IllegalTransition> {
        if self.state != CommandState::Queued {
            return Err(IllegalTransition {
                state: self.state,
                action: "sent",
            });
        }
        self.attempts += 1;
        self.due_at = now
            .checked_add(policy.ack_timeout)
            .unwrap_or(Timestamp::MAX);
        let reason = format!("attempt {}", self.attempts);
        self.go(now, CommandState::Sent, reason);
        Ok(())
    }

    pub fn acknowledge(&mut self, now: Timestamp) -> Result<(), IllegalTransition> {
        if self.state != CommandState::Sent {
            return Err(IllegalTransition {
                state: self.state,
                action: "acknowledged",
            });
        }
        self.go(now, CommandState::Acknowledged, "acknowledged by the meter");
        Ok(())
    }

    /// The meter answered with an error: retry after a back-off, or fail.
    pub fn reject(
        &mut self,
        now: Timestamp,
        reason: &str,
        policy: &RetryPolicy,
    ) -> Result<(), IllegalTransition> {
        if self.state != CommandState::Sent {
            return Err(IllegalTransition {
                state: self.state,
                action: "rejected",
            });
        }
        self.retry_or(
            now,
            policy,
            CommandState::Failed,
            format!("meter refused: {reason}"),
        );
        Ok(())
    }

    /// Called when `now` passes the acknowledgement deadline: retry or time out.
    /// Returns whether anything changed.
    pub fn expire(&mut self, now: Timestamp, policy: &RetryPolicy) -> bool {
        if self.state != CommandState::Sent || now < self.due_at {
            return false;
        }
        self.retry_or(
            now,
            policy,
            CommandState::TimedOut,
            "no acknowledgement in time".to_owned(),
        );
        true
    }

    fn retry_or(
        &mut self,
        now: Timestamp,
        policy: &RetryPolicy,
        last: CommandState,
        reason: String,
    ) {
        if self.attempts >= policy.max_attempts.max(1) {
            self.go(
                now,
                last,
                format!("{reason}; gave up after {} attempts", self.attempts),
            );
        } else {
            self.due_at = now
                .checked_add(policy.backoff(self.attempts))
                .unwrap_or(Timestamp::MAX);
            self.go(
                now,
                CommandState::Queued,
                format!("{reason}; retry at {}", self.due_at),
            );
        }
    }

    /// Takes back a command that is queued or already sent (no more
    /// attempts); a sent one may still have reached the meter, so whoever
    /// withdraws it must follow with the command that undoes it.
    pub fn withdraw(&mut self, now: Timestamp, reason: &str) -> Result<(), IllegalTransition> {
        if !matches!(self.state, CommandState::Queued | CommandState::Sent) {
            return Err(IllegalTransition {
                state: self.state,
                action: "withdrawn",
            });
        }
        self.go(
            now,
            CommandState::Superseded,
            format!("withdrawn: {reason}"),
        );
        Ok(())
    }

    pub fn supersede(&mut self, now: Timestamp, by: CommandKind) -> Result<(), IllegalTransition> {
        if self.state != CommandState::Queued {
            return Err(IllegalTransition {
                state: self.state,
                action: "superseded",
            });
        }
        self.go(
            now,
            CommandState::Superseded,
            format!("superseded by {}", by.as_str()),
        );
        Ok(())
    }
}

/// What to do with a new command given the meter's pending ones.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Admission {
    /// Queue it.
    Queue,
    /// The same kind is already pending (at most one per kind): keep that one.
    AlreadyPending(usize),
    /// Queue it and supersede the opposite command at this index, which has
    /// not been sent yet.
    Supersede(usize),
}

/// Decides on a new command of `kind` against a meter's commands.
pub fn admit(pending: &[Command], kind: CommandKind) -> Admission {
    if let Some(i) = pending
        .iter()
        .position(|c| c.kind == kind && c.state.is_pending())
    {
        return Admission::AlreadyPending(i);
    }
    match kind.opposite() {
        Some(opposite) => pending
            .iter()
            .position(|c| c.kind == opposite && c.state == CommandState::Queued)
            .map_or(Admission::Queue, Admission::Supersede),
        None => Admission::Queue,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(mins: i64) -> Timestamp {
        Timestamp::UNIX_EPOCH
            .checked_add(SignedDuration::from_mins(mins))
            .unwrap()
    }

    #[test]
    fn kinds_fit_utilities() {
        assert!(CommandKind::Trip.check_for(Utility::Electricity).is_ok());
        assert!(CommandKind::Trip.check_for(Utility::Gas).is_err());
        assert!(CommandKind::ValveClose.check_for(Utility::Water).is_ok());
        assert_eq!(
            CommandKind::cutoff_for(Utility::Gas),
            CommandKind::ValveClose
        );
        assert_eq!(
            CommandKind::reconnect_for(Utility::Electricity),
            CommandKind::Close
        );
    }

    #[test]
    fn acknowledged_round_trip_records_every_step() {
        let p = RetryPolicy::default();
        let mut c = Command::queue(CommandKind::Trip, t(0), "credit exhausted");
        assert!(c.is_due(t(0)));
        c.mark_sent(t(0), &p).unwrap();
        assert_eq!(c.due_at, t(1));
        c.acknowledge(t(0)).unwrap();
        let states: Vec<CommandState> = c.history.iter().map(|h| h.to).collect();
        assert_eq!(
            states,
            vec![
                CommandState::Queued,
                CommandState::Sent,
                CommandState::Acknowledged
            ]
        );
        assert!(c.acknowledge(t(1)).is_err(), "acknowledged once");
        assert!(c.mark_sent(t(1), &p).is_err());
    }

    #[test]
    fn silence_retries_with_backoff_then_times_out() {
        let p = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        let mut c = Command::queue(CommandKind::ValveClose, t(0), "gas leak");
        c.mark_sent(t(0), &p).unwrap();
        assert!(!c.expire(t(0), &p), "not overdue yet");
        assert!(c.expire(t(1), &p));
        assert_eq!(c.state, CommandState::Queued);
        assert_eq!(
            c.due_at,
            t(1).checked_add(SignedDuration::from_secs(30)).unwrap()
        );
        assert!(!c.is_due(t(1)));
        c.mark_sent(t(2), &p).unwrap();
        assert!(c.expire(t(3), &p));
        assert_eq!(c.due_at, t(4), "second back-off is doubled: 60 s");
        c.mark_sent(t(4), &p).unwrap();
        assert!(c.expire(t(5), &p));
        assert_eq!(c.state, CommandState::TimedOut);
        assert!(
            c.history
                .last()
                .unwrap()
                .reason
                .contains("gave up after 3 attempts")
        );
    }

    #[test]
    fn refusals_fail_after_the_attempts() {
        let p = RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        };
        let mut c = Command::queue(CommandKind::Close, t(0), "recharged");
        c.mark_sent(t(0), &p).unwrap();
        c.reject(t(0), "password error", &p).unwrap();
        assert_eq!(c.state, CommandState::Failed);
        assert!(c.history.last().unwrap().reason.contains("password error"));
    }

    #[test]
    fn backoff_is_capped() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1), SignedDuration::from_secs(30));
        assert_eq!(p.backoff(3), SignedDuration::from_secs(120));
        assert_eq!(p.backoff(40), SignedDuration::from_mins(30));
    }

    #[test]
    fn one_pending_per_kind_and_opposites_supersede() {
        let p = RetryPolicy::default();
        let trip = Command::queue(CommandKind::Trip, t(0), "x");
        assert_eq!(
            admit(std::slice::from_ref(&trip), CommandKind::Trip),
            Admission::AlreadyPending(0)
        );
        assert_eq!(
            admit(std::slice::from_ref(&trip), CommandKind::Close),
            Admission::Supersede(0)
        );
        assert_eq!(
            admit(std::slice::from_ref(&trip), CommandKind::ReadNow),
            Admission::Queue
        );
        let mut sent = trip.clone();
        sent.mark_sent(t(0), &p).unwrap();
        assert_eq!(
            admit(std::slice::from_ref(&sent), CommandKind::Close),
            Admission::Queue,
            "in flight: cannot be superseded"
        );
        let mut done = sent.clone();
        done.acknowledge(t(0)).unwrap();
        assert_eq!(admit(&[done], CommandKind::Trip), Admission::Queue);
        let mut old = trip;
        old.supersede(t(1), CommandKind::Close).unwrap();
        assert_eq!(old.state, CommandState::Superseded);
    }
}
