//! How to reach each meter right now, and command delivery over that path:
//! MQTT RPC (direct or through a gateway), or a frame on the meter's TCP
//! session. The dispatcher in `yufu-writer` calls [`Delivery::deliver`];
//! the answer (or its absence) completes the engine's command.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};
use yufu_devapi::{CommandReply, MeterCommand};
use yufu_domain::MeterId;
use yufu_domain::command::CommandKind;
use yufu_writer::dispatch::{CommandDelivery, DeliveryError};

use crate::mqtt::Outbound;

/// A connected MQTT client (device, gateway, or the external broker).
#[derive(Clone, Debug)]
pub struct MqttLink {
    /// Unique per connection, so a reconnect's routes are not removed by
    /// the old connection closing.
    pub conn: u64,
    pub tx: mpsc::UnboundedSender<Outbound>,
    /// `Some(serial)` when the meter sits behind a gateway.
    pub gateway_device: Option<String>,
    /// The topic prefix on an external broker (`yufu/{token}/`), empty on
    /// the embedded endpoint.
    pub prefix: Arc<str>,
}

/// A command for a TCP (DL/T 645 / CJ/T 188) session to carry out.
#[derive(Debug)]
pub struct TcpCommand {
    pub meter: MeterId,
    pub kind: CommandKind,
    pub reply: oneshot::Sender<Result<(), DeliveryError>>,
}

#[derive(Clone, Debug)]
pub enum Link {
    Mqtt(MqttLink),
    Tcp {
        conn: u64,
        tx: mpsc::Sender<TcpCommand>,
    },
}

impl Link {
    fn conn(&self) -> u64 {
        match self {
            Link::Mqtt(m) => m.conn,
            Link::Tcp { conn, .. } => *conn,
        }
    }
}

type Pending = HashMap<u64, oneshot::Sender<Result<CommandReply, String>>>;

/// Live links and outstanding RPCs.
#[derive(Debug)]
pub struct Routes {
    links: Mutex<HashMap<MeterId, Link>>,
    pending: Mutex<Pending>,
    next_rpc: AtomicU64,
    next_conn: AtomicU64,
}

impl Default for Routes {
    fn default() -> Self {
        // RPC ids start at a random point: with several instances on one
        // external broker, replies reach all of them and only the sender's
        // id may match.
        let mut seed = [0u8; 4];
        let _ = getrandom::fill(&mut seed);
        let start = u64::from(u32::from_le_bytes(seed)) << 20;
        Self {
            links: Mutex::default(),
            pending: Mutex::default(),
            next_rpc: AtomicU64::new(start.max(1)),
            next_conn: AtomicU64::new(1),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Routes {
    pub fn new_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// The meter is reachable over `link` (the newest link wins).
    pub fn attach(&self, meter: MeterId, link: Link) {
        lock(&self.links).insert(meter, link);
    }

    /// Forgets a meter's link if it is still the one of `conn`.
    pub fn detach(&self, meter: MeterId, conn: u64) {
        let mut links = lock(&self.links);
        if links.get(&meter).is_some_and(|l| l.conn() == conn) {
            links.remove(&meter);
        }
    }

    /// Forgets every link of a closed connection.
    pub fn detach_conn(&self, conn: u64) {
        lock(&self.links).retain(|_, l| l.conn() != conn);
    }

    pub fn link(&self, meter: MeterId) -> Option<Link> {
        lock(&self.links).get(&meter).cloned()
    }

    pub fn connected(&self) -> usize {
        lock(&self.links).len()
    }

    /// Completes an outstanding RPC; false if nobody waits for `id`.
    pub fn complete(&self, id: u64, reply: Result<CommandReply, String>) -> bool {
        match lock(&self.pending).remove(&id) {
            Some(tx) => tx.send(reply).is_ok(),
            None => false,
        }
    }

    async fn rpc(
        &self,
        link: &MqttLink,
        command: MeterCommand,
        timeout: Duration,
    ) -> Result<(), DeliveryError> {
        let id = self.next_rpc.fetch_add(1, Ordering::Relaxed);
        let request = command.to_request(id);
        let (topic, payload) = match &link.gateway_device {
            Some(device) => request.to_gateway_message(device),
            None => request.to_device_message(),
        };
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id, tx);
        let sent = link.tx.send(Outbound::Publish {
            topic: format!("{}{topic}", link.prefix),
            payload: payload.into(),
        });
        if sent.is_err() {
            lock(&self.pending).remove(&id);
            return Err(DeliveryError::NoAnswer("the connection closed".into()));
        }
        let answer = tokio::time::timeout(timeout, rx).await;
        lock(&self.pending).remove(&id);
        match answer {
            Ok(Ok(Ok(CommandReply::Ok))) => Ok(()),
            Ok(Ok(Ok(CommandReply::Failed { error }))) => Err(DeliveryError::Refused(error)),
            Ok(Ok(Err(why))) => Err(DeliveryError::Refused(format!("unreadable reply: {why}"))),
            Ok(Err(_)) => Err(DeliveryError::NoAnswer("the connection closed".into())),
            Err(_) => Err(DeliveryError::NoAnswer(format!(
                "no reply within {} s",
                timeout.as_secs()
            ))),
        }
    }
}

/// [`CommandDelivery`] over whatever link a meter has.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub routes: Arc<Routes>,
    pub timeout: Duration,
}

#[async_trait]
impl CommandDelivery for Delivery {
    async fn deliver(&self, meter: MeterId, kind: CommandKind) -> Result<(), DeliveryError> {
        let Some(link) = self.routes.link(meter) else {
            return Err(DeliveryError::NoAnswer(
                "meter offline: no live connection".into(),
            ));
        };
        match link {
            Link::Mqtt(link) => {
                let command = match kind {
                    CommandKind::Trip => MeterCommand::TRIP,
                    CommandKind::Close => MeterCommand::RESTORE,
                    CommandKind::ValveClose => MeterCommand::SHUT_VALVE,
                    CommandKind::ValveOpen => MeterCommand::OPEN_VALVE,
                    // MQTT meters push on their own schedule and keep their
                    // own clock in sync: nothing to send.
                    CommandKind::ReadNow | CommandKind::TimeSync => return Ok(()),
                };
                self.routes.rpc(&link, command, self.timeout).await
            }
            Link::Tcp { tx, .. } => {
                let (reply, rx) = oneshot::channel();
                tx.send(TcpCommand { meter, kind, reply })
                    .await
                    .map_err(|_| DeliveryError::NoAnswer("the connection closed".into()))?;
                // The session bounds each exchange itself; this only guards
                // against a session that died mid-command.
                match tokio::time::timeout(self.timeout * 4, rx).await {
                    Ok(Ok(r)) => r,
                    Ok(Err(_)) => Err(DeliveryError::NoAnswer("the connection closed".into())),
                    Err(_) => Err(DeliveryError::NoAnswer("the session is busy".into())),
                }
            }
        }
    }
}
