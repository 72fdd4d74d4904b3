//! The meter side of the ThingsBoard MQTT device API: a simulated meter
//! connects with its access token, publishes telemetry under Yufu's meter
//! contract every `interval`, and answers `setRelay` / `setValve` RPCs by
//! switching its supply (so a cut meter stops consuming).
//!
//! On an external broker the device topics carry the prefix
//! `yufu/{token}/` (the broker-side mapping Yufu documents), set with
//! [`MqttOptions::prefix`].

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use jiff::Timestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use yufu_devapi::{
    CommandReply, MeterCommand, RpcRequest, SwitchState, TelemetrySample, TelemetryValue,
    telemetry_payload,
};
use yufu_domain::Utility;
use yufu_mqtt::{Connect, ConnectReturnCode, Packet, Protocol, Publish, QoS, Subscribe};

use crate::{Command, FaultAction, FaultPlan, FaultRates, Outbox, Rng, SimMeter, Supply};

/// How a simulated MQTT meter behaves.
#[derive(Debug, Clone)]
pub struct MqttOptions {
    /// Time between two reports.
    pub interval: Duration,
    /// Consumption multiplier (see `Profile::consumption_at_speed`).
    pub speed: u32,
    pub faults: FaultRates,
    pub fault_seed: u64,
    /// Telemetry at QoS 1 (acknowledged after Yufu stored it) or 0.
    pub qos: QoS,
    /// `yufu/{token}/` on an external broker; empty on Yufu's own endpoint.
    pub prefix: String,
    /// Local address to connect from (127.0.0.x spreads many connections
    /// over several source addresses).
    pub source: Option<IpAddr>,
    pub shutdown: watch::Receiver<bool>,
}

/// What one meter did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MqttStats {
    pub connects: u64,
    pub reports: u64,
    pub commands: u64,
    pub refused: bool,
}

fn lock(meter: &Mutex<SimMeter>) -> std::sync::MutexGuard<'_, SimMeter> {
    meter
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Exact decimal text of `value / 1000` with three places (kWh from Wh,
/// m³ from litres).
fn milli_text(value: u64) -> String {
    format!("{}.{:03}", value / 1000, value % 1000)
}

/// The register as the meter displays it: 0.01 kWh (10 Wh) or 0.01 m³
/// (10 L), the resolution DL/T 645 and CJ/T 188 carry, so a meter reports
/// the same value whichever way it is read.
fn shown(register: u64) -> u64 {
    register - register % 10
}

/// The telemetry sample a meter reports now.
pub fn report(meter: &mut SimMeter, now: Timestamp, speed: u32) -> TelemetrySample {
    meter.advance(now, speed);
    let mut values = Vec::new();
    match meter.utility {
        Utility::Electricity => {
            values.push((
                "energy_kwh".to_owned(),
                TelemetryValue::Decimal(milli_text(shown(meter.register))),
            ));
            for (i, r) in meter.rates.iter().enumerate() {
                values.push((
                    format!("energy_t{}_kwh", i + 1),
                    TelemetryValue::Decimal(milli_text(shown(*r))),
                ));
            }
            let relay = if meter.supply == Supply::On {
                "closed"
            } else {
                "open"
            };
            values.push(("relay".to_owned(), TelemetryValue::Text(relay.into())));
        }
        Utility::Water | Utility::Gas => {
            values.push((
                "volume_m3".to_owned(),
                TelemetryValue::Decimal(milli_text(shown(meter.register))),
            ));
            let valve = if meter.supply == Supply::On {
                "open"
            } else {
                "closed"
            };
            values.push(("valve".to_owned(), TelemetryValue::Text(valve.into())));
        }
    }
    for event in meter.take_events() {
        if !values.iter().any(|(k, _)| k == event.as_str()) {
            values.push((event.as_str().to_owned(), TelemetryValue::Bool(true)));
        }
    }
    TelemetrySample {
        ts_ms: Some(now.as_millisecond()),
        values,
    }
}

/// Answers one RPC request: applies it and builds the reply.
pub fn answer_rpc(meter: &mut SimMeter, request: &RpcRequest) -> CommandReply {
    let command = match MeterCommand::from_request(request) {
        Ok(c) => c,
        Err(e) => {
            return CommandReply::Failed {
                error: e.to_string(),
            };
        }
    };
    let (fits, cut) = match command {
        MeterCommand::SetRelay(s) => (
            meter.utility == Utility::Electricity,
            s == SwitchState::Open,
        ),
        MeterCommand::SetValve(s) => (
            meter.utility != Utility::Electricity,
            s == SwitchState::Closed,
        ),
    };
    if !fits {
        return CommandReply::Failed {
            error: format!("a {} meter has no such switch", meter.utility),
        };
    }
    let c = if cut { Command::Cut } else { Command::Restore };
    match meter.apply_command(c) {
        Ok(()) => CommandReply::Ok,
        Err(why) => CommandReply::Failed {
            error: why.to_string(),
        },
    }
}

async fn connect(target: SocketAddr, source: Option<IpAddr>) -> std::io::Result<TcpStream> {
    let socket = if target.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let stream = socket.connect(target).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Runs one meter until shutdown, redialling with back-off. A refused
/// token ends it (returned in the stats): retrying would not help.
pub async fn run_mqtt_meter(
    target: SocketAddr,
    token: String,
    meter: Arc<Mutex<SimMeter>>,
    mut opts: MqttOptions,
) -> MqttStats {
    let mut stats = MqttStats::default();
    let mut rng = Rng::new(opts.fault_seed);
    let mut backoff = Duration::from_millis(100);
    loop {
        if *opts.shutdown.borrow() {
            return stats;
        }
        match session(target, &token, &meter, &mut opts, &mut rng, &mut stats).await {
            Ok(()) => return stats,
            Err(SessionEnd::Refused) => {
                stats.refused = true;
                return stats;
            }
            Err(SessionEnd::Lost) => {}
        }
        let jitter = Duration::from_millis(rng.below(100));
        tokio::select! {
            _ = tokio::time::sleep(backoff + jitter) => {}
            _ = opts.shutdown.changed() => return stats,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

enum SessionEnd {
    Refused,
    Lost,
}

impl From<std::io::Error> for SessionEnd {
    fn from(_: std::io::Error) -> Self {
        SessionEnd::Lost
    }
}

impl From<yufu_mqtt::Error> for SessionEnd {
    fn from(_: yufu_mqtt::Error) -> Self {
        SessionEnd::Lost
    }
}

async fn session(
    target: SocketAddr,
    token: &str,
    meter: &Mutex<SimMeter>,
    opts: &mut MqttOptions,
    rng: &mut Rng,
    stats: &mut MqttStats,
) -> Result<(), SessionEnd> {
    let mut stream = connect(target, opts.source).await?;
    let mut out = BytesMut::with_capacity(512);
    let mut buf = BytesMut::with_capacity(512);
    let serial = lock(meter).serial.clone();
    yufu_mqtt::encode(
        &Packet::Connect(Connect {
            protocol: Protocol::V311,
            client_id: serial,
            keep_alive: 60,
            clean_session: true,
            username: Some(token.to_owned()),
            password: None,
            will: None,
        }),
        &mut out,
    )?;
    let rpc = format!("{}v1/devices/me/rpc/request/+", opts.prefix);
    yufu_mqtt::encode(
        &Packet::Subscribe(Subscribe {
            pkid: 1,
            filters: vec![(rpc, QoS::AtLeastOnce)],
        }),
        &mut out,
    )?;
    stream.write_all(&out).await?;
    out.clear();
    stats.connects += 1;
    let telemetry_topic = format!("{}v1/devices/me/telemetry", opts.prefix);
    let mut plan = FaultPlan::new(opts.faults);
    let mut outbox: Outbox<TelemetrySample> = Outbox::new();
    let mut pkid: u16 = 1;
    // Spread the fleet over the interval instead of reporting in lockstep.
    let first = Duration::from_millis(
        rng.below(
            u64::try_from(opts.interval.as_millis())
                .unwrap_or(1000)
                .max(1),
        ),
    );
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + first, opts.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut connected = false;
    let mut pings = tokio::time::interval(Duration::from_secs(30));
    loop {
        while let Some(packet) = yufu_mqtt::decode(&mut buf, 1 << 20)? {
            match packet {
                Packet::ConnAck(a) => {
                    if a.code != ConnectReturnCode::Accepted {
                        return Err(SessionEnd::Refused);
                    }
                    connected = true;
                }
                Packet::Publish(p) => {
                    if p.qos != QoS::AtMostOnce {
                        yufu_mqtt::encode(&Packet::PubAck(p.pkid), &mut out)?;
                    }
                    let Some(id) = p
                        .topic
                        .rsplit_once('/')
                        .and_then(|(_, id)| id.parse::<u64>().ok())
                    else {
                        continue;
                    };
                    let Ok(request) = RpcRequest::parse_device(id, &p.payload) else {
                        continue;
                    };
                    stats.commands += 1;
                    let (reply, sample) = {
                        let mut m = lock(meter);
                        let reply = answer_rpc(&mut m, &request);
                        // Report the new switch position at once.
                        (reply, report(&mut m, Timestamp::now(), opts.speed))
                    };
                    let topic = format!("{}v1/devices/me/rpc/response/{id}", opts.prefix);
                    yufu_mqtt::encode(
                        &Packet::Publish(Publish {
                            dup: false,
                            qos: QoS::AtMostOnce,
                            retain: false,
                            topic,
                            pkid: 0,
                            payload: reply.to_value().to_string().into_bytes().into(),
                        }),
                        &mut out,
                    )?;
                    pkid = publish(&mut out, &telemetry_topic, &[sample], opts.qos, pkid)?;
                }
                _ => {}
            }
        }
        if !out.is_empty() {
            stream.write_all(&out).await?;
            out.clear();
        }
        tokio::select! {
            read = stream.read_buf(&mut buf) => {
                if read? == 0 {
                    return Err(SessionEnd::Lost);
                }
            }
            _ = ticks.tick(), if connected => {
                let action = plan.decide(rng, lock(meter).utility);
                let sample = {
                    let mut m = lock(meter);
                    if let Some(event) = action.event() {
                        m.inject(event);
                    }
                    report(&mut m, Timestamp::now(), opts.speed)
                };
                if matches!(action, FaultAction::Silence { .. } | FaultAction::Drop) {
                    continue;
                }
                let send = outbox.route(action, sample);
                if !send.is_empty() {
                    stats.reports += u64::try_from(send.len()).unwrap_or(0);
                    pkid = publish(&mut out, &telemetry_topic, &send, opts.qos, pkid)?;
                }
            }
            _ = pings.tick(), if connected => {
                yufu_mqtt::encode(&Packet::PingReq, &mut out)?;
            }
            _ = opts.shutdown.changed() => {
                yufu_mqtt::encode(&Packet::Disconnect, &mut out)?;
                stream.write_all(&out).await?;
                return Ok(());
            }
        }
    }
}

/// Encodes one publish per sample (each keeps its own `ts`).
fn publish(
    out: &mut BytesMut,
    topic: &str,
    samples: &[TelemetrySample],
    qos: QoS,
    mut pkid: u16,
) -> Result<u16, SessionEnd> {
    for s in samples {
        pkid = pkid.checked_add(1).unwrap_or(1);
        yufu_mqtt::encode(
            &Packet::Publish(Publish {
                dup: false,
                qos,
                retain: false,
                topic: topic.to_owned(),
                pkid: if qos == QoS::AtMostOnce { 0 } else { pkid },
                payload: telemetry_payload(std::slice::from_ref(s)).into(),
            }),
            out,
        )?;
    }
    Ok(pkid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Profile;

    #[test]
    fn reports_follow_the_meter_contract() {
        let now: Timestamp = "2026-07-01T10:00:00+08:00".parse().expect("ts");
        let mut m =
            SimMeter::new("E-1", "000000100001", Profile::Residential, 7, now).expect("meter");
        m.register = 1_234_567;
        let sample = report(&mut m, now, 1);
        let parsed = yufu_devapi::meter_report(&sample).expect("contract");
        assert_eq!(parsed.register, Some(1_234_560), "shown in 0.01 kWh");
        assert_eq!(parsed.relay, Some(SwitchState::Closed));
        // A trip RPC cuts the supply and is reported.
        let trip = MeterCommand::TRIP.to_request(5);
        assert_eq!(answer_rpc(&mut m, &trip), CommandReply::Ok);
        assert_eq!(m.supply, Supply::Off);
        let parsed = yufu_devapi::meter_report(&report(&mut m, now, 1)).expect("contract");
        assert_eq!(parsed.relay, Some(SwitchState::Open));
        // A valve command to an electricity meter is refused.
        let valve = MeterCommand::SHUT_VALVE.to_request(6);
        assert!(matches!(
            answer_rpc(&mut m, &valve),
            CommandReply::Failed { .. }
        ));
        assert_eq!(milli_text(5), "0.005");
    }
}
