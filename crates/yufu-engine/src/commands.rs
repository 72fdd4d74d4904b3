//! Command transitions fed back by the dispatcher. Each is an engine request
//! like a reading (journaled, replayed), because admission — at most one
//! pending command of a kind per meter — depends on them.

use jiff::Timestamp;
use yufu_domain::MeterId;
use yufu_domain::command::{Command, CommandKind, CommandState};

use crate::{Alarm, Engine, QueuedCommand};
use yufu_domain::Utility;
use yufu_domain::command::{Admission, admit};

/// A command whose state changed: store its new state and last transition.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CommandUpdate {
    pub meter: MeterId,
    pub command: Command,
    /// Raised when the command failed or timed out for good.
    pub alarm: Option<Alarm>,
}

/// What a safety shut-off changed: commands taken back (to be stored as
/// superseded) and the valve close queued, if one was needed.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SafetyShutoff {
    pub withdrawn: Vec<CommandUpdate>,
    pub queued: Option<QueuedCommand>,
}

/// Why an operator's command was not queued.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum CommandRefused {
    #[error("meter {0} is not billed by the engine (no account or tariff)")]
    UnknownMeter(MeterId),
    #[error("a {utility} meter has no {kind:?} command")]
    WrongUtility { utility: Utility, kind: CommandKind },
    #[error("a {0:?} command is already pending for this meter")]
    AlreadyPending(CommandKind),
    #[error("the opposite command is already on its way to the meter; wait for its answer")]
    OppositeInFlight,
    #[error("the valve is held shut for safety ({0}); release the safety hold first")]
    SafetyHold(String),
    #[error("a {0} meter has no valve to shut")]
    NoValve(Utility),
}

impl Engine {
    /// Queues a command an operator asked for (trip or close for
    /// electricity, valve close or open for water and gas, read now or time
    /// sync for any), under the same one-pending-per-kind rule as the
    /// balance rules' commands: a queued opposite command is superseded.
    pub fn queue_command(
        &mut self,
        meter: MeterId,
        kind: CommandKind,
        reason: &str,
        now: Timestamp,
    ) -> Result<QueuedCommand, CommandRefused> {
        let slot = self
            .meters
            .get_mut(&meter)
            .ok_or(CommandRefused::UnknownMeter(meter))?;
        let fits = match kind {
            CommandKind::Trip | CommandKind::Close => slot.utility == Utility::Electricity,
            CommandKind::ValveClose | CommandKind::ValveOpen => {
                slot.utility != Utility::Electricity
            }
            CommandKind::ReadNow | CommandKind::TimeSync => true,
        };
        if !fits {
            return Err(CommandRefused::WrongUtility {
                utility: slot.utility,
                kind,
            });
        }
        if let Some(why) = slot.safety_hold.as_deref().filter(|_| kind.is_restore()) {
            return Err(CommandRefused::SafetyHold(why.to_owned()));
        }
        slot.commands.retain(|c| c.state.is_pending());
        let superseded = match admit(&slot.commands, kind) {
            Admission::AlreadyPending(_) => return Err(CommandRefused::AlreadyPending(kind)),
            Admission::Queue => None,
            Admission::Supersede(i) => {
                let old = slot.commands[i].kind;
                slot.commands[i]
                    .supersede(now, kind)
                    .map_err(|_| CommandRefused::OppositeInFlight)?;
                Some(old)
            }
        };
        let command = Command::queue(kind, now, reason);
        slot.commands.push(command.clone());
        self.with_commands.insert(meter);
        Ok(QueuedCommand {
            meter,
            command,
            superseded,
        })
    }

    /// Shuts a water or gas meter's valve for safety (a gas leak reported by
    /// the meter): the valve closes whatever the balance, and stays closed —
    /// recharges do not reopen it — until [`Engine::release_safety`].
    ///
    /// Every pending valve-open is withdrawn, even one already sent (it
    /// must not be retried), and so is a valve-close already sent: the meter
    /// may have carried out an open after it, so a fresh close is queued to
    /// go out now, after anything in flight. A queued close is kept.
    pub fn safety_shutoff(
        &mut self,
        meter: MeterId,
        reason: &str,
        now: Timestamp,
    ) -> Result<SafetyShutoff, CommandRefused> {
        let slot = self
            .meters
            .get_mut(&meter)
            .ok_or(CommandRefused::UnknownMeter(meter))?;
        if slot.utility == Utility::Electricity {
            return Err(CommandRefused::NoValve(slot.utility));
        }
        slot.safety_hold = Some(reason.into());
        slot.commands.retain(|c| c.state.is_pending());
        let mut withdrawn = Vec::new();
        for c in &mut slot.commands {
            let stale = match c.kind {
                CommandKind::ValveOpen => true,
                CommandKind::ValveClose => c.state == CommandState::Sent,
                _ => false,
            };
            if stale
                && c.withdraw(now, &format!("safety shut-off ({reason})"))
                    .is_ok()
            {
                withdrawn.push(CommandUpdate {
                    meter,
                    command: c.clone(),
                    alarm: None,
                });
            }
        }
        slot.commands.retain(|c| c.state.is_pending());
        let queued = if slot
            .commands
            .iter()
            .any(|c| c.kind == CommandKind::ValveClose)
        {
            None
        } else {
            let command = Command::queue(CommandKind::ValveClose, now, reason);
            slot.commands.push(command.clone());
            self.with_commands.insert(meter);
            Some(QueuedCommand {
                meter,
                command,
                superseded: None,
            })
        };
        Ok(SafetyShutoff { withdrawn, queued })
    }

    /// Lifts a safety hold. The valve reopens only if the account's supply
    /// is on (in credit); otherwise it stays shut like any cut-off meter.
    pub fn release_safety(
        &mut self,
        meter: MeterId,
        reason: &str,
        now: Timestamp,
    ) -> Result<Option<QueuedCommand>, CommandRefused> {
        let slot = self
            .meters
            .get_mut(&meter)
            .ok_or(CommandRefused::UnknownMeter(meter))?;
        if slot.safety_hold.take().is_none() {
            return Ok(None);
        }
        let account = slot.account;
        let on = matches!(self.supply(account), Some(yufu_domain::balance::Supply::On));
        if !on {
            return Ok(None);
        }
        match self.queue_command(meter, CommandKind::ValveOpen, reason, now) {
            Ok(q) => Ok(Some(q)),
            Err(CommandRefused::AlreadyPending(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Why a meter's valve is held shut for safety, if it is.
    pub fn safety_hold(&self, meter: MeterId) -> Option<&str> {
        self.meters
            .get(&meter)
            .and_then(|m| m.safety_hold.as_deref())
    }

    /// Commands whose time has come to be sent, as (meter, kind).
    pub fn due_commands(&self, now: Timestamp) -> Vec<(MeterId, CommandKind)> {
        let mut due: Vec<(MeterId, CommandKind)> = self
            .with_commands
            .iter()
            .filter_map(|id| self.meters.get(id).map(|m| (id, m)))
            .flat_map(|(id, m)| {
                m.commands
                    .iter()
                    .filter(move |c| c.is_due(now))
                    .map(move |c| (*id, c.kind))
            })
            .collect();
        due.sort();
        due
    }

    /// The earliest instant any pending command needs attention (a queued
    /// one becomes due, a sent one's acknowledgement is overdue).
    pub fn next_command_due(&self) -> Option<Timestamp> {
        self.with_commands
            .iter()
            .filter_map(|id| self.meters.get(id))
            .flat_map(|m| m.commands.iter())
            .filter(|c| c.state.is_pending())
            .map(|c| c.due_at)
            .min()
    }

    /// The dispatcher is sending the meter's pending command of this kind.
    pub fn command_sent(
        &mut self,
        meter: MeterId,
        kind: CommandKind,
        now: Timestamp,
    ) -> Option<CommandUpdate> {
        let retry = self.retry;
        self.update_command(meter, kind, CommandState::Queued, |c| {
            c.mark_sent(now, &retry).is_ok()
        })
    }

    /// The meter confirmed the command.
    pub fn command_acknowledged(
        &mut self,
        meter: MeterId,
        kind: CommandKind,
        now: Timestamp,
    ) -> Option<CommandUpdate> {
        self.update_command(meter, kind, CommandState::Sent, |c| {
            c.acknowledge(now).is_ok()
        })
    }

    /// The meter (or the way to it) refused: retried after a back-off, or failed.
    pub fn command_rejected(
        &mut self,
        meter: MeterId,
        kind: CommandKind,
        reason: &str,
        now: Timestamp,
    ) -> Option<CommandUpdate> {
        let retry = self.retry;
        self.update_command(meter, kind, CommandState::Sent, |c| {
            c.reject(now, reason, &retry).is_ok()
        })
    }

    /// Sent commands whose acknowledgement is overdue: retried or timed out.
    pub fn expire_commands(&mut self, now: Timestamp) -> Vec<CommandUpdate> {
        let retry = self.retry;
        let mut ids: Vec<MeterId> = self.with_commands.iter().copied().collect();
        ids.sort();
        let mut updates = Vec::new();
        for id in ids {
            let kinds: Vec<CommandKind> = self
                .meters
                .get(&id)
                .map(|m| {
                    m.commands
                        .iter()
                        .filter(|c| c.state == CommandState::Sent && now >= c.due_at)
                        .map(|c| c.kind)
                        .collect()
                })
                .unwrap_or_default();
            for kind in kinds {
                if let Some(u) =
                    self.update_command(id, kind, CommandState::Sent, |c| c.expire(now, &retry))
                {
                    updates.push(u);
                }
            }
        }
        updates
    }

    fn update_command(
        &mut self,
        meter: MeterId,
        kind: CommandKind,
        from: CommandState,
        change: impl FnOnce(&mut Command) -> bool,
    ) -> Option<CommandUpdate> {
        let slot = self.meters.get_mut(&meter)?;
        let command = slot
            .commands
            .iter_mut()
            .find(|c| c.kind == kind && c.state == from)?;
        if !change(command) {
            return None;
        }
        let command = command.clone();
        if !slot.commands.iter().any(|c| c.state.is_pending()) {
            self.with_commands.remove(&meter);
        }
        let alarm = match command.state {
            CommandState::Failed | CommandState::TimedOut => Some(Alarm {
                meter,
                kind: "command_failed",
                detail: format!(
                    "{:?} {:?} after {} attempt(s)",
                    command.kind, command.state, command.attempts
                ),
            }),
            _ => None,
        };
        Some(CommandUpdate {
            meter,
            command,
            alarm,
        })
    }
}
