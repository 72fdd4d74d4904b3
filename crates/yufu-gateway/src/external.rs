//! Yufu as a client of an external broker (Mosquitto, EMQX, …).
//!
//! A plain broker cannot tell Yufu which device sent a publish on
//! `v1/devices/me/telemetry`, so the broker maps every device topic `T` of a
//! client logged in with access token `U` to `yufu/U/T` and back (EMQX:
//! topic rewrite with `${username}`; Mosquitto: devices use the mapped
//! topics directly, pinned by `pattern readwrite yufu/%u/#` in the ACL).
//! Yufu subscribes to the uplink topics through a shared subscription
//! (`$share/{group}/…`) so several subscribers split the load, and to RPC
//! replies without sharing, because only the instance that sent a request
//! knows its id. Unknown tokens are dropped (counted); refusing the
//! connection itself is the broker's job (its password file or an auth
//! hook).

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use yufu_mqtt::{Connect, ConnectReturnCode, Packet, Protocol, Publish, QoS, Subscribe};

use crate::ingest::AckTo;
use crate::mqtt::{Handler, Outbound, dropped};
use crate::registry::Identity;
use crate::routes::{Link, MqttLink};

/// The prefix every device topic carries on an external broker.
pub const PREFIX: &str = "yufu/";

#[derive(Clone, Debug)]
pub struct BrokerConfig {
    /// `host:port` of the broker.
    pub addr: String,
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// The shared-subscription group (`$share/{group}/…`).
    pub group: String,
}

/// The filters Yufu subscribes to: uplink shared, replies not.
pub fn filters(group: &str) -> Vec<(String, QoS)> {
    let shared = |f: &str| (format!("$share/{group}/{PREFIX}+/{f}"), QoS::AtLeastOnce);
    let own = |f: &str| (format!("{PREFIX}+/{f}"), QoS::AtLeastOnce);
    vec![
        shared("v1/devices/me/telemetry"),
        shared("v1/devices/me/attributes"),
        shared("v1/devices/me/attributes/request/+"),
        // Not `rpc/request/+`: on a shared broker Yufu's own server-side
        // requests come back on it and cannot be told from a device's
        // client-side request; client-side RPC needs the embedded endpoint.
        shared("v1/gateway/connect"),
        shared("v1/gateway/disconnect"),
        shared("v1/gateway/telemetry"),
        shared("v1/gateway/attributes"),
        own("v1/devices/me/rpc/response/+"),
        own("v1/gateway/rpc"),
    ]
}

/// Stays connected (reconnecting with back-off) until shutdown.
pub async fn run(config: BrokerConfig, handler: Handler, mut shutdown: watch::Receiver<bool>) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let started = std::time::Instant::now();
        tokio::select! {
            r = session(&config, &handler) => {
                match r {
                    Ok(()) => tracing::info!(broker = %config.addr, "broker connection closed"),
                    Err(e) => tracing::warn!(broker = %config.addr, error = %e, "broker connection failed"),
                }
            }
            _ = shutdown.changed() => return,
        }
        if started.elapsed() > Duration::from_secs(30) {
            backoff = Duration::from_millis(200);
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

async fn session(config: &BrokerConfig, handler: &Handler) -> Result<(), String> {
    let mut stream = TcpStream::connect(&config.addr)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let keep_alive: u16 = 30;
    let mut out = BytesMut::with_capacity(1024);
    let enc = |p: &Packet, out: &mut BytesMut| yufu_mqtt::encode(p, out).map_err(|e| e.to_string());
    enc(
        &Packet::Connect(Connect {
            protocol: Protocol::V311,
            client_id: config.client_id.clone(),
            keep_alive,
            clean_session: true,
            username: config.username.clone(),
            password: config.password.clone().map(|p| p.into_bytes().into()),
            will: None,
        }),
        &mut out,
    )?;
    enc(
        &Packet::Subscribe(Subscribe {
            pkid: 1,
            filters: filters(&config.group),
        }),
        &mut out,
    )?;
    stream.write_all(&out).await.map_err(|e| e.to_string())?;
    out.clear();

    let conn = handler.routes.new_conn_id();
    let (tx, mut rx) = mpsc::unbounded_channel::<Outbound>();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut next_pkid: u16 = 1;
    let mut ping = tokio::time::interval(Duration::from_secs(u64::from(keep_alive) / 2));
    let mut connected = false;
    let result = loop {
        loop {
            let packet = match yufu_mqtt::decode(&mut buf, 1 << 20) {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(e) => return Err(format!("protocol error from the broker: {e}")),
            };
            match packet {
                Packet::ConnAck(a) => {
                    if a.code != ConnectReturnCode::Accepted {
                        return Err(format!("broker refused the login: {:?}", a.code));
                    }
                    connected = true;
                    tracing::info!(broker = %config.addr, group = %config.group, "subscribed to the external broker");
                }
                Packet::SubAck(s) => {
                    if s.codes.contains(&yufu_mqtt::SubscribeReturnCode::Failure) {
                        tracing::error!("the broker refused a subscription (ACL?): {:?}", s.codes);
                    }
                }
                Packet::Publish(p) => {
                    let ack = match p.qos {
                        QoS::AtMostOnce => None,
                        _ => Some(AckTo {
                            conn: tx.clone(),
                            pkid: p.pkid,
                        }),
                    };
                    uplink(handler, conn, &tx, p, ack).await;
                }
                Packet::PingResp | Packet::PubAck(_) | Packet::UnsubAck(_) => {}
                other => tracing::debug!(?other, "ignored packet from the broker"),
            }
        }
        if !out.is_empty() {
            stream.write_all(&out).await.map_err(|e| e.to_string())?;
            out.clear();
        }
        tokio::select! {
            read = stream.read_buf(&mut buf) => match read {
                Ok(0) => break Ok(()),
                Ok(_) => {}
                Err(e) => break Err(e.to_string()),
            },
            msg = rx.recv() => {
                let mut next = msg;
                while let Some(msg) = next {
                    match msg {
                        Outbound::PubAck(id) => enc(&Packet::PubAck(id), &mut out)?,
                        Outbound::Close => return Err("a batch could not be stored; reconnecting so the broker redelivers".into()),
                        Outbound::Publish { topic, payload } => {
                            next_pkid = next_pkid.checked_add(1).unwrap_or(2);
                            enc(&Packet::Publish(Publish {
                                dup: false,
                                qos: QoS::AtLeastOnce,
                                retain: false,
                                topic,
                                pkid: next_pkid,
                                payload,
                            }), &mut out)?;
                        }
                    }
                    next = rx.try_recv().ok();
                }
            }
            _ = ping.tick() => {
                if connected {
                    enc(&Packet::PingReq, &mut out)?;
                }
            }
        }
    };
    handler.routes.detach_conn(conn);
    result
}

/// `yufu/{token}/{device topic}` → the device's identity and topic.
async fn uplink(
    handler: &Handler,
    conn: u64,
    tx: &mpsc::UnboundedSender<Outbound>,
    p: Publish,
    ack: Option<AckTo>,
) {
    let Some((token, topic)) = p
        .topic
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.split_once('/'))
    else {
        dropped("unknown_topic", "broker", &p.topic);
        return handler.ingest_ack(ack).await;
    };
    let identity = match handler.registry.authenticate(token).await {
        Ok(Some(id)) => id,
        Ok(None) => {
            dropped("unknown_token", "broker", &"(token withheld)");
            return handler.ingest_ack(ack).await;
        }
        Err(e) => {
            dropped("store_unavailable", "broker", &e);
            return handler.ingest_ack(ack).await;
        }
    };
    let link = MqttLink {
        conn,
        tx: tx.clone(),
        gateway_device: None,
        prefix: Arc::from(format!("{PREFIX}{token}/")),
    };
    if let Identity::Meter(m) = &identity {
        let fresh = !matches!(handler.routes.link(m.id), Some(Link::Mqtt(l)) if l.conn == conn);
        if fresh {
            handler.routes.attach(m.id, Link::Mqtt(link.clone()));
        }
    }
    handler
        .publish(&identity, &link, topic, &p.payload, ack)
        .await;
}

impl Handler {
    pub(crate) async fn ingest_ack(&self, ack: Option<AckTo>) {
        if let Some(a) = ack {
            self.ingest.ack(a).await;
        }
    }
}
