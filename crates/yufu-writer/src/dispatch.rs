//! Command delivery: the dispatcher sends due commands through a
//! [`CommandDelivery`] and reports every outcome back to the writer, which
//! journals the transition. The connectivity issue brings MQTT RPC and
//! DL/T 645 deliveries; until then [`SimulatedMeters`] is a real in-process
//! fleet whose relays and valves change state, and which can be told to
//! refuse or to stay silent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use yufu_domain::MeterId;
use yufu_domain::command::CommandKind;

use crate::{CommandEvent, Writer};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The meter answered and said no (e.g. wrong password, relay fault).
    #[error("refused: {0}")]
    Refused(String),
    /// Nothing came back; the acknowledgement deadline will decide.
    #[error("no answer: {0}")]
    NoAnswer(String),
}

/// A way to get a command to a meter and hear its answer.
#[async_trait]
pub trait CommandDelivery: Send + Sync + std::fmt::Debug + 'static {
    async fn deliver(&self, meter: MeterId, kind: CommandKind) -> Result<(), DeliveryError>;
}

/// How a simulated meter behaves when a command arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Behaviour {
    #[default]
    Answer,
    Refuse,
    Silent,
}

/// The supply switch of a simulated meter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Switch {
    Closed,
    Open,
}

#[derive(Debug, Default)]
struct Fleet {
    switches: HashMap<MeterId, Switch>,
    behaviour: HashMap<MeterId, Behaviour>,
    received: HashMap<MeterId, Vec<CommandKind>>,
}

/// An in-process fleet of meters answering commands (see module docs).
#[derive(Clone, Debug, Default)]
pub struct SimulatedMeters {
    fleet: Arc<Mutex<Fleet>>,
    /// Time a meter takes to act (a real relay takes tens of ms).
    latency: Duration,
}

impl SimulatedMeters {
    pub fn new(latency: Duration) -> Self {
        Self {
            fleet: Arc::default(),
            latency,
        }
    }

    fn fleet(&self) -> std::sync::MutexGuard<'_, Fleet> {
        // A panic while holding the lock leaves plain data; keep going.
        self.fleet
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn set_behaviour(&self, meter: MeterId, behaviour: Behaviour) {
        self.fleet().behaviour.insert(meter, behaviour);
    }

    /// The switch position (closed until a trip arrives).
    pub fn switch(&self, meter: MeterId) -> Switch {
        self.fleet()
            .switches
            .get(&meter)
            .copied()
            .unwrap_or(Switch::Closed)
    }

    /// Commands the meter received, in order (including refused ones).
    pub fn received(&self, meter: MeterId) -> Vec<CommandKind> {
        self.fleet()
            .received
            .get(&meter)
            .cloned()
            .unwrap_or_default()
    }
}

#[async_trait]
impl CommandDelivery for SimulatedMeters {
    async fn deliver(&self, meter: MeterId, kind: CommandKind) -> Result<(), DeliveryError> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        let mut fleet = self.fleet();
        fleet.received.entry(meter).or_default().push(kind);
        match fleet.behaviour.get(&meter).copied().unwrap_or_default() {
            Behaviour::Refuse => Err(DeliveryError::Refused("relay fault (simulated)".into())),
            Behaviour::Silent => Err(DeliveryError::NoAnswer("meter silent (simulated)".into())),
            Behaviour::Answer => {
                let position = match kind {
                    CommandKind::Trip | CommandKind::ValveClose => Some(Switch::Open),
                    CommandKind::Close | CommandKind::ValveOpen => Some(Switch::Closed),
                    _ => None,
                };
                if let Some(p) = position {
                    fleet.switches.insert(meter, p);
                }
                Ok(())
            }
        }
    }
}

/// Runs until the writer stops: sends due commands, reports outcomes, and
/// lets overdue acknowledgements expire.
pub async fn run(writer: Writer, delivery: Arc<dyn CommandDelivery>) {
    let mut changed = writer.commands_changed();
    loop {
        let (due, next) = match writer.due_commands().await {
            Ok(d) => d,
            Err(_) => return,
        };
        for (meter, kind) in due {
            match writer.command(CommandEvent::Sent { meter, kind }).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(_) => return,
            }
            let writer = writer.clone();
            let delivery = delivery.clone();
            tokio::spawn(async move {
                let event = match delivery.deliver(meter, kind).await {
                    Ok(()) => Some(CommandEvent::Acknowledged { meter, kind }),
                    Err(DeliveryError::Refused(reason)) => Some(CommandEvent::Rejected {
                        meter,
                        kind,
                        reason,
                    }),
                    Err(DeliveryError::NoAnswer(why)) => {
                        tracing::debug!(%meter, ?kind, %why, "no answer; waiting for the deadline");
                        None
                    }
                };
                if let Some(event) = event {
                    let _ = writer.command(event).await;
                }
            });
        }
        // Sleep until the next deadline, a new command, or a second at most.
        let wait = next
            .map(|t| {
                let ms = t.as_millisecond() - jiff::Timestamp::now().as_millisecond();
                Duration::from_millis(u64::try_from(ms.clamp(1, 1000)).unwrap_or(1000))
            })
            .unwrap_or(Duration::from_secs(1));
        tokio::select! {
            r = changed.changed() => if r.is_err() { return },
            _ = tokio::time::sleep(wait) => {
                if writer.command(CommandEvent::Expire).await.is_err() {
                    return;
                }
            }
        }
    }
}
