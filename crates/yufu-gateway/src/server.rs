//! The embedded MQTT endpoint on `YUFU_MQTT_ADDR`: meters, DTUs and
//! gateways connect here exactly as they would to ThingsBoard. It is not a
//! general-purpose broker — it speaks the device API only — which is why
//! a telemetry publish reaches the engine with no broker hop in between.
//!
//! One task per connection, holding a small read buffer; the same task
//! writes, so a connection costs a few kilobytes.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use yufu_mqtt::{
    ConnAck, ConnectReturnCode, Packet, Publish, QoS, SubAck, SubscribeReturnCode, topic_matches,
};

use crate::ingest::AckTo;
use crate::mqtt::{Handler, Outbound, dropped};
use crate::presence::Transport;
use crate::registry::Identity;
use crate::routes::{Link, MqttLink};

/// The largest packet a device may send (a gateway batch of readings).
pub const MAX_PACKET: usize = 256 * 1024;
/// Time a new connection has to send CONNECT.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts connections until `shutdown` turns true.
pub async fn serve(listener: TcpListener, handler: Handler, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let handler = handler.clone();
                    tokio::spawn(async move {
                        let _ = stream.set_nodelay(true);
                        if let Err(e) = connection(stream, handler).await {
                            tracing::debug!(%peer, error = %e, "MQTT connection ended");
                        }
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off briefly.
                    tracing::warn!(error = %e, "MQTT accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => return,
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum ConnError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("protocol: {0}")]
    Protocol(#[from] yufu_mqtt::Error),
    #[error("{0}")]
    Refused(&'static str),
}

fn encode(packet: &Packet, out: &mut BytesMut) -> Result<(), ConnError> {
    yufu_mqtt::encode(packet, out).map_err(ConnError::Protocol)
}

async fn connection(mut stream: TcpStream, handler: Handler) -> Result<(), ConnError> {
    let mut buf = BytesMut::with_capacity(512);
    let mut out = BytesMut::with_capacity(256);
    // CONNECT first, within the deadline.
    let connect = tokio::time::timeout(CONNECT_TIMEOUT, async {
        loop {
            match yufu_mqtt::decode(&mut buf, MAX_PACKET) {
                Ok(Some(p)) => return Ok(p),
                Ok(None) => {
                    if stream.read_buf(&mut buf).await? == 0 {
                        return Err(ConnError::Refused("closed before CONNECT"));
                    }
                }
                Err(e) => return Err(ConnError::Protocol(e)),
            }
        }
    })
    .await
    .map_err(|_| ConnError::Refused("no CONNECT in time"))?;
    let connect = match connect {
        Ok(Packet::Connect(c)) => c,
        Ok(_) => return Err(ConnError::Refused("first packet was not CONNECT")),
        Err(ConnError::Protocol(yufu_mqtt::Error::UnsupportedProtocol { .. })) => {
            // MQTT 5 and others: answer in 3.1.1 terms, then close.
            refuse(&mut stream, ConnectReturnCode::UnacceptableProtocol).await?;
            return Err(ConnError::Refused("unsupported protocol level"));
        }
        Err(e) => return Err(e),
    };
    let token = connect.username.as_deref().unwrap_or("");
    if token.is_empty() {
        metrics::counter!("yufu_mqtt_refused_total", "reason" => "no_token").increment(1);
        refuse(&mut stream, ConnectReturnCode::BadUsernameOrPassword).await?;
        return Err(ConnError::Refused("no access token"));
    }
    let identity = match handler.registry.authenticate(token).await {
        Ok(Some(id)) => id,
        Ok(None) => {
            metrics::counter!("yufu_mqtt_refused_total", "reason" => "unknown_token").increment(1);
            refuse(&mut stream, ConnectReturnCode::NotAuthorized).await?;
            return Err(ConnError::Refused("unknown access token"));
        }
        Err(e) => {
            tracing::error!(error = %e, "token look-up failed");
            refuse(&mut stream, ConnectReturnCode::ServerUnavailable).await?;
            return Err(ConnError::Refused("store unavailable"));
        }
    };
    encode(
        &Packet::ConnAck(ConnAck {
            session_present: false,
            code: ConnectReturnCode::Accepted,
        }),
        &mut out,
    )?;
    stream.write_all(&out).await?;
    out.clear();

    let conn = handler.routes.new_conn_id();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let link = MqttLink {
        conn,
        tx: tx.clone(),
        gateway_device: None,
        prefix: Arc::from(""),
    };
    if let Identity::Meter(m) = &identity {
        handler.routes.attach(m.id, Link::Mqtt(link.clone()));
        handler.ingest.seen(m.id, Transport::Mqtt).await;
    }
    metrics::gauge!("yufu_mqtt_connections").increment(1);
    let result = session(
        &mut stream,
        &handler,
        &identity,
        &link,
        &mut rx,
        buf,
        connect.keep_alive,
    )
    .await;
    metrics::gauge!("yufu_mqtt_connections").decrement(1);
    handler.routes.detach_conn(conn);
    result
}

async fn refuse(stream: &mut TcpStream, code: ConnectReturnCode) -> Result<(), ConnError> {
    let mut out = BytesMut::with_capacity(4);
    encode(
        &Packet::ConnAck(ConnAck {
            session_present: false,
            code,
        }),
        &mut out,
    )?;
    stream.write_all(&out).await?;
    let _ = stream.shutdown().await;
    Ok(())
}

/// Filters a device may subscribe to on the embedded endpoint.
fn allowed(filter: &str) -> bool {
    yufu_devapi::filters::DEVICE.contains(&filter)
        || yufu_devapi::filters::GATEWAY.contains(&filter)
        || filter == yufu_devapi::filters::DEVICE_RPC_RESPONSE
}

async fn session(
    stream: &mut TcpStream,
    handler: &Handler,
    identity: &Identity,
    link: &MqttLink,
    rx: &mut mpsc::UnboundedReceiver<Outbound>,
    mut buf: BytesMut,
    keep_alive: u16,
) -> Result<(), ConnError> {
    let label = match identity {
        Identity::Meter(m) => m.serial.clone(),
        Identity::Gateway { name, .. } => name.clone(),
    };
    // MQTT-3.1.2-24: silence beyond 1.5 × keep-alive ends the connection.
    let idle = match keep_alive {
        0 => Duration::from_secs(24 * 3600),
        k => Duration::from_millis(u64::from(k) * 1500),
    };
    let mut subscriptions: HashSet<String> = HashSet::new();
    let mut out = BytesMut::with_capacity(256);
    let mut next_pkid: u16 = 0;
    loop {
        // Packets already buffered are handled before reading more.
        loop {
            let packet = match yufu_mqtt::decode(&mut buf, MAX_PACKET) {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(e) => {
                    dropped("malformed_packet", &label, &e);
                    return Err(ConnError::Protocol(e));
                }
            };
            match packet {
                Packet::Publish(p) => {
                    publish(handler, identity, link, p, &mut out).await?;
                }
                Packet::PubRel(id) => encode(&Packet::PubComp(id), &mut out)?,
                Packet::Subscribe(s) => {
                    let codes = s
                        .filters
                        .iter()
                        .map(|(f, qos)| {
                            if allowed(f) {
                                subscriptions.insert(f.clone());
                                SubscribeReturnCode::Success(if *qos == QoS::AtMostOnce {
                                    QoS::AtMostOnce
                                } else {
                                    QoS::AtLeastOnce
                                })
                            } else {
                                SubscribeReturnCode::Failure
                            }
                        })
                        .collect();
                    encode(
                        &Packet::SubAck(SubAck {
                            pkid: s.pkid,
                            codes,
                        }),
                        &mut out,
                    )?;
                }
                Packet::Unsubscribe(u) => {
                    for f in &u.filters {
                        subscriptions.remove(f);
                    }
                    encode(&Packet::UnsubAck(u.pkid), &mut out)?;
                }
                Packet::PingReq => encode(&Packet::PingResp, &mut out)?,
                Packet::Disconnect => {
                    flush(stream, &mut out).await?;
                    return Ok(());
                }
                Packet::PubAck(_) | Packet::PubRec(_) | Packet::PubComp(_) => {}
                Packet::Connect(_)
                | Packet::ConnAck(_)
                | Packet::SubAck(_)
                | Packet::UnsubAck(_)
                | Packet::PingResp => {
                    return Err(ConnError::Refused("a packet only a server may send"));
                }
            }
        }
        flush(stream, &mut out).await?;
        tokio::select! {
            read = tokio::time::timeout(idle, stream.read_buf(&mut buf)) => match read {
                Ok(Ok(0)) => return Ok(()),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e.into()),
                Err(_) => return Err(ConnError::Refused("keep-alive expired")),
            },
            msg = rx.recv() => {
                let Some(msg) = msg else { return Ok(()) };
                let mut next = Some(msg);
                // Drain what is queued, then write once.
                while let Some(msg) = next {
                    match msg {
                        Outbound::PubAck(id) => encode(&Packet::PubAck(id), &mut out)?,
                        Outbound::Close => {
                            flush(stream, &mut out).await?;
                            return Err(ConnError::Refused("closed by the server"));
                        }
                        Outbound::Publish { topic, payload } => {
                            if subscriptions.iter().any(|f| topic_matches(f, &topic)) {
                                next_pkid = next_pkid.checked_add(1).unwrap_or(1);
                                encode(&Packet::Publish(Publish {
                                    dup: false,
                                    qos: QoS::AtLeastOnce,
                                    retain: false,
                                    topic,
                                    pkid: next_pkid,
                                    payload,
                                }), &mut out)?;
                            } else {
                                dropped("not_subscribed", &label, &topic);
                            }
                        }
                    }
                    next = rx.try_recv().ok();
                }
                flush(stream, &mut out).await?;
            }
        }
    }
}

async fn flush(stream: &mut TcpStream, out: &mut BytesMut) -> Result<(), ConnError> {
    if !out.is_empty() {
        stream.write_all(out).await?;
        out.clear();
    }
    Ok(())
}

async fn publish(
    handler: &Handler,
    identity: &Identity,
    link: &MqttLink,
    p: Publish,
    out: &mut BytesMut,
) -> Result<(), ConnError> {
    let ack = match p.qos {
        QoS::AtMostOnce => None,
        QoS::AtLeastOnce => Some(AckTo {
            conn: link.tx.clone(),
            pkid: p.pkid,
        }),
        QoS::ExactlyOnce => {
            // Handled at receipt (readings are idempotent, so a resent
            // QoS 2 publish cannot bill twice).
            encode(&Packet::PubRec(p.pkid), out)?;
            None
        }
    };
    handler
        .publish(identity, link, &p.topic, &p.payload, ack)
        .await;
    Ok(())
}
