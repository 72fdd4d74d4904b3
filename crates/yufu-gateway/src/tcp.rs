//! DL/T 645-2007 and CJ/T 188-2004 over TCP on `YUFU_DLT645_ADDR`.
//!
//! A GPRS meter or a DTU in front of an RS-485 bus connects here (the
//! platform is the TCP server, as such devices expect). It is identified by
//! its **registration packet** — the meter addresses as ASCII digits,
//! separated by commas, semicolons or white space (12 digits: DL/T 645,
//! 14: CJ/T 188) — or, when it sends none, by a broadcast read-address
//! (DL/T 645 `13`, then CJ/T 188 `03`), which works when one meter is on
//! the line. Yufu then polls each meter on a schedule, one exchange at a
//! time per connection (RS-485 is half duplex) and at most
//! `concurrency` exchanges at once overall, and carries relay and valve
//! commands as frames, confirmed by the reply **and** by reading the
//! status back.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use yufu_cjt188 as cjt;
use yufu_devapi::{DeviceEvent, MeterReport, SwitchState};
use yufu_dlt645 as dlt;
use yufu_domain::command::CommandKind;
use yufu_domain::{MeterProtocol, Utility};
use yufu_writer::dispatch::DeliveryError;

use crate::ingest::Ingest;
use crate::presence::Transport;
use crate::registry::{MeterInfo, Registry};
use crate::routes::{Link, Routes, TcpCommand};

/// Polling and exchange settings.
#[derive(Clone, Debug)]
pub struct PollConfig {
    /// Time between two polls of a meter.
    pub interval: Duration,
    /// Time a meter has to answer one request.
    pub timeout: Duration,
    /// Exchanges in flight at once, over all connections.
    pub concurrency: usize,
    /// Time a new connection has to send its registration packet.
    pub registration_wait: Duration,
    /// DL/T 645 relay control: password level, password, operator code.
    pub relay_auth: (u8, u32, u32),
    /// CJ/T 188 DI byte order tried first (the other is tried on failure
    /// and remembered per meter).
    pub di_order: cjt::DiOrder,
}

impl Default for PollConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(900),
            timeout: Duration::from_secs(5),
            concurrency: 256,
            registration_wait: Duration::from_secs(2),
            relay_auth: (0x02, 0, 0),
            di_order: cjt::DiOrder::LowFirst,
        }
    }
}

/// Everything a TCP session needs.
#[derive(Clone, Debug)]
pub struct TcpGateway {
    pub registry: Arc<Registry>,
    pub ingest: Ingest,
    pub routes: Arc<Routes>,
    pub config: PollConfig,
    pub permits: Arc<Semaphore>,
}

pub async fn serve(listener: TcpListener, gw: TcpGateway, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let gw = gw.clone();
                    let shutdown = shutdown.clone();
                    tokio::spawn(async move {
                        let _ = stream.set_nodelay(true);
                        match session(stream, gw, shutdown).await {
                            Ok(()) => tracing::debug!(%peer, "meter connection closed"),
                            Err(e) => tracing::info!(%peer, error = %e, "meter connection ended"),
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "DL/T 645 accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => return,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("the meter refused: {0}")]
    Refused(String),
    #[error("unexpected answer: {0}")]
    Unexpected(String),
}

/// One connection: a byte stream and what was read but not used yet.
struct Line {
    stream: TcpStream,
    buf: BytesMut,
    timeout: Duration,
}

impl Line {
    async fn send(&mut self, bytes: &[u8]) -> Result<(), ExchangeError> {
        // Bytes that arrived unasked (DTU heartbeats, late replies) would
        // be mistaken for the answer.
        self.buf.clear();
        self.stream.write_all(bytes).await?;
        Ok(())
    }

    /// Reads until `pick` finds a frame in the buffer or the time is up.
    async fn receive<T>(
        &mut self,
        mut pick: impl FnMut(&mut BytesMut) -> Option<T>,
    ) -> Result<T, ExchangeError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            if let Some(found) = pick(&mut self.buf) {
                return Ok(found);
            }
            match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await {
                Ok(Ok(0)) => {
                    return Err(ExchangeError::Io(std::io::ErrorKind::UnexpectedEof.into()));
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e.into()),
                Err(_) => return Err(ExchangeError::Timeout(self.timeout)),
            }
        }
    }

    async fn dlt645(&mut self, request: &dlt::Frame) -> Result<dlt::Frame, ExchangeError> {
        self.send(&request.encode_with_wake_up()).await?;
        let want = request.address();
        let function = request.control().function;
        self.receive(|buf| scan_dlt645(buf, want, function)).await
    }

    async fn cjt188(
        &mut self,
        request: &cjt::Frame,
        order: cjt::DiOrder,
    ) -> Result<cjt::Frame, ExchangeError> {
        let bytes = request
            .encode(order)
            .map_err(|e| ExchangeError::Unexpected(e.to_string()))?;
        self.send(&bytes).await?;
        let want = request.address;
        self.receive(|buf| scan_cjt188(buf, want, order)).await
    }
}

/// Finds a DL/T 645 reply from `want` (any address when `want` is the
/// wildcard) answering `function`, skipping preambles, heartbeats and
/// anything that does not decode.
fn scan_dlt645(
    buf: &mut BytesMut,
    want: dlt::Address,
    function: dlt::Function,
) -> Option<dlt::Frame> {
    let mut at = 0;
    while let Some(pos) = buf[at..].iter().position(|b| *b == 0x68) {
        let start = at + pos;
        match dlt::decode(&buf[start..]) {
            Ok((frame, used)) => {
                let c = frame.control();
                let is_reply = c.direction == dlt::Direction::Reply;
                let addressed = want == dlt::Address::WILDCARD
                    || want == dlt::Address::BROADCAST
                    || frame.address() == want;
                if is_reply && addressed && c.function == function {
                    let _ = buf.split_to(start + used);
                    return Some(frame);
                }
                at = start + used;
            }
            Err(e) if e.is_incomplete() => return None,
            Err(_) => at = start + 1,
        }
    }
    None
}

fn scan_cjt188(buf: &mut BytesMut, want: cjt::Address, order: cjt::DiOrder) -> Option<cjt::Frame> {
    let mut at = 0;
    while let Some(pos) = buf[at..].iter().position(|b| *b == 0x68) {
        let start = at + pos;
        match cjt::decode(&buf[start..], order) {
            Ok((frame, used)) => {
                let addressed = want == cjt::Address::BROADCAST || frame.address == want;
                if frame.control.is_reply() && addressed {
                    let _ = buf.split_to(start + used);
                    return Some(frame);
                }
                at = start + used;
            }
            Err(e) if e.is_incomplete() => return None,
            Err(_) => at = start + 1,
        }
    }
    None
}

/// A meter on this line, with what the session learned about it.
#[derive(Debug)]
struct Polled {
    info: Arc<MeterInfo>,
    order: cjt::DiOrder,
    ser: u8,
}

/// The address text of a registration packet (digits separated by commas,
/// semicolons or white space); `None` when it is not one.
pub fn registration_addresses(packet: &[u8]) -> Option<Vec<String>> {
    let text = std::str::from_utf8(packet).ok()?;
    let parts: Vec<String> = text
        .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    let valid = !parts.is_empty()
        && parts
            .iter()
            .all(|p| (p.len() == 12 || p.len() == 14) && p.bytes().all(|b| b.is_ascii_digit()));
    valid.then_some(parts)
}

async fn session(
    stream: TcpStream,
    gw: TcpGateway,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ExchangeError> {
    let mut line = Line {
        stream,
        buf: BytesMut::with_capacity(512),
        timeout: gw.config.timeout,
    };
    let mut meters = identify(&mut line, &gw).await?;
    if meters.is_empty() {
        return Err(ExchangeError::Unexpected(
            "no known meter on this connection (registration packet and read-address gave none)"
                .into(),
        ));
    }
    let conn = gw.routes.new_conn_id();
    let (tx, mut commands) = mpsc::channel::<TcpCommand>(16);
    for m in &meters {
        gw.routes.attach(
            m.info.id,
            Link::Tcp {
                conn,
                tx: tx.clone(),
            },
        );
        tracing::debug!(meter = %m.info.serial, address = %m.info.address, "meter connected over TCP");
    }
    let mut tick = tokio::time::interval(gw.config.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let result = loop {
        tokio::select! {
            _ = tick.tick() => {
                for m in meters.iter_mut() {
                    if let Err(e) = poll(&mut line, &gw, m).await {
                        // A dead socket: the read arm below ends the session.
                        if matches!(e, ExchangeError::Io(_)) {
                            break;
                        }
                        tracing::debug!(meter = %m.info.serial, error = %e, "poll failed");
                    }
                }
            }
            Some(cmd) = commands.recv() => {
                let Some(m) = meters.iter_mut().find(|m| m.info.id == cmd.meter) else {
                    let _ = cmd.reply.send(Err(DeliveryError::NoAnswer("meter not on this line".into())));
                    continue;
                };
                let r = command(&mut line, &gw, m, cmd.kind).await;
                let closed = matches!(r, Err(ExchangeError::Io(_)));
                let _ = cmd.reply.send(r.map_err(|e| match e {
                    ExchangeError::Refused(why) => DeliveryError::Refused(why),
                    other => DeliveryError::NoAnswer(other.to_string()),
                }));
                if closed {
                    break Ok(());
                }
            }
            read = line.stream.read_buf(&mut line.buf) => match read {
                // Unasked bytes (heartbeats) are dropped at the next send;
                // a closed socket ends the session.
                Ok(0) => break Ok(()),
                Ok(_) => if line.buf.len() > 64 * 1024 { line.buf.clear() },
                Err(e) => break Err(e.into()),
            },
            _ = shutdown.changed() => break Ok(()),
        }
    };
    gw.routes.detach_conn(conn);
    result
}

async fn identify(line: &mut Line, gw: &TcpGateway) -> Result<Vec<Polled>, ExchangeError> {
    let mut addresses = Vec::new();
    if let Ok(Ok(n)) = tokio::time::timeout(
        gw.config.registration_wait,
        line.stream.read_buf(&mut line.buf),
    )
    .await
    {
        if n == 0 {
            return Err(ExchangeError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        // Give the rest of a packet split over segments a moment.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let _ = tokio::time::timeout(
            Duration::from_millis(1),
            line.stream.read_buf(&mut line.buf),
        )
        .await;
        match registration_addresses(&line.buf) {
            Some(found) => addresses = found,
            None => tracing::info!(
                packet = %String::from_utf8_lossy(&line.buf).chars().take(64).collect::<String>(),
                "registration packet names no meter address; reading the address"
            ),
        }
        line.buf.clear();
    }
    if addresses.is_empty() {
        let _permit = gw.permits.acquire().await;
        match line.dlt645(&dlt::read_address()).await {
            Ok(reply) => {
                if let Some(n) = reply.address().number() {
                    addresses.push(format!("{n:012}"));
                }
            }
            Err(ExchangeError::Io(e)) => return Err(e.into()),
            Err(_) => {
                if let Ok(reply) = line.cjt188(&cjt::read_address(), gw.config.di_order).await {
                    addresses.push(reply.address.to_string());
                }
            }
        }
    }
    let mut found = Vec::new();
    for address in addresses {
        let meters = gw
            .registry
            .meters_by_address(&address)
            .await
            .map_err(|e| ExchangeError::Unexpected(e.to_string()))?;
        let fits = |m: &&Arc<MeterInfo>| match m.protocol {
            MeterProtocol::Dlt645_2007 | MeterProtocol::Dlt645_1997 => address.len() == 12,
            MeterProtocol::Cjt188 => address.len() == 14,
            MeterProtocol::Mqtt => false,
        };
        match meters.iter().find(fits) {
            Some(m) => found.push(Polled {
                info: Arc::clone(m),
                order: gw.config.di_order,
                ser: 0,
            }),
            None => tracing::warn!(%address, "a meter address Yufu does not know connected"),
        }
    }
    Ok(found)
}

fn dlt_address(info: &MeterInfo) -> Result<dlt::Address, ExchangeError> {
    info.address
        .parse::<u64>()
        .ok()
        .and_then(|n| dlt::Address::from_number(n).ok())
        .ok_or_else(|| ExchangeError::Unexpected(format!("bad DL/T 645 address {}", info.address)))
}

fn cjt_address(info: &MeterInfo) -> Result<cjt::Address, ExchangeError> {
    info.address.parse::<cjt::Address>().map_err(|e| {
        ExchangeError::Unexpected(format!("bad CJ/T 188 address {}: {e}", info.address))
    })
}

fn cjt_type(info: &MeterInfo) -> cjt::MeterType {
    match info.utility {
        Utility::Gas => cjt::MeterType::Gas,
        _ => cjt::MeterType::ColdWater,
    }
}

fn refused_dlt(reply: &dlt::Frame) -> Option<String> {
    match reply.message() {
        Ok(dlt::Message::ErrorReply { status, .. }) => {
            Some(format!("error reply {:?}", status.flags()))
        }
        _ => None,
    }
}

/// Reads one meter and hands the reading to the engine.
async fn poll(line: &mut Line, gw: &TcpGateway, m: &mut Polled) -> Result<(), ExchangeError> {
    let _permit = gw.permits.acquire().await;
    let (report, via) = match m.info.protocol {
        MeterProtocol::Cjt188 => (read_cjt188(line, m).await?.0, Transport::Cjt188),
        _ => (read_dlt645(line, m).await?, Transport::Dlt645),
    };
    gw.ingest
        .report(Arc::clone(&m.info), via, report, None)
        .await;
    Ok(())
}

async fn read_dlt645(line: &mut Line, m: &Polled) -> Result<MeterReport, ExchangeError> {
    let address = dlt_address(&m.info)?;
    let reply = line
        .dlt645(&dlt::read_data(address, dlt::Di::FORWARD_ACTIVE_BLOCK))
        .await?;
    let mut report = MeterReport::default();
    match reply.reading() {
        Ok(dlt::Reading {
            value: dlt::Value::EnergyBlock { centi_kwh },
            ..
        }) if !centi_kwh.is_empty() => {
            report.register = centi_kwh[0].checked_mul(10);
            if let [_, a, b, c, d, ..] = centi_kwh[..] {
                report.rates = Some([a * 10, b * 10, c * 10, d * 10]);
            }
        }
        _ => {
            // A meter without the block: the total alone.
            if let Some(why) = refused_dlt(&reply) {
                tracing::debug!(meter = %m.info.serial, %why, "no energy block; reading the total");
            }
            let reply = line
                .dlt645(&dlt::read_data(address, dlt::Di::FORWARD_ACTIVE_TOTAL))
                .await?;
            match reply.reading() {
                Ok(dlt::Reading {
                    value: dlt::Value::Energy { centi_kwh },
                    ..
                }) => report.register = centi_kwh.checked_mul(10),
                Ok(other) => return Err(ExchangeError::Unexpected(format!("{other:?}"))),
                Err(e) => {
                    return Err(refused_dlt(&reply)
                        .map(ExchangeError::Refused)
                        .unwrap_or_else(|| ExchangeError::Unexpected(e.to_string())));
                }
            }
        }
    }
    Ok(report)
}

/// Reads 901F, trying the other DI byte order once if the first fails to
/// decode (and keeping whichever worked for this meter).
async fn read_cjt188(
    line: &mut Line,
    m: &mut Polled,
) -> Result<(MeterReport, cjt::ValveState), ExchangeError> {
    let address = cjt_address(&m.info)?;
    let kind = cjt_type(&m.info);
    let mut last = None;
    for order in [m.order, other_order(m.order)] {
        m.ser = m.ser.wrapping_add(1);
        let reply = match line
            .cjt188(&cjt::read_data(kind, address, m.ser), order)
            .await
        {
            Ok(r) => r,
            Err(ExchangeError::Timeout(t)) => {
                last = Some(ExchangeError::Timeout(t));
                continue;
            }
            Err(e) => return Err(e),
        };
        match cjt::ReadReply::from_frame(&reply) {
            Ok(r) => {
                m.order = order;
                let litres = match r.current.unit {
                    cjt::Unit::CubicMetre => u64::from(r.current.centi) * 10,
                    cjt::Unit::Litre => u64::from(r.current.centi) / 100,
                    other => {
                        return Err(ExchangeError::Unexpected(format!(
                            "flow in unit {other:?}, expected m³ or L"
                        )));
                    }
                };
                let valve = r.status.valve();
                let report = MeterReport {
                    register: Some(litres),
                    valve: match valve {
                        cjt::ValveState::Open => Some(SwitchState::Open),
                        cjt::ValveState::Closed => Some(SwitchState::Closed),
                        _ => None,
                    },
                    events: vec![
                        (DeviceEvent::LowBattery, r.status.battery_low()),
                        (DeviceEvent::ValveFault, valve == cjt::ValveState::Abnormal),
                    ],
                    ..MeterReport::default()
                };
                return Ok((report, valve));
            }
            Err(e) => last = Some(ExchangeError::Unexpected(e.to_string())),
        }
    }
    Err(last.unwrap_or(ExchangeError::Timeout(line.timeout)))
}

fn other_order(o: cjt::DiOrder) -> cjt::DiOrder {
    match o {
        cjt::DiOrder::LowFirst => cjt::DiOrder::HighFirst,
        cjt::DiOrder::HighFirst => cjt::DiOrder::LowFirst,
    }
}

/// Local wall-clock time for the meter (Guangzhou meters keep Beijing time).
fn meter_time(offset_minutes: i64) -> Result<dlt::DateTime, ExchangeError> {
    let tz = jiff::tz::TimeZone::get("Asia/Shanghai")
        .unwrap_or_else(|_| jiff::tz::TimeZone::fixed(jiff::tz::offset(8)));
    let t = tz.to_datetime(
        jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::from_mins(offset_minutes))
            .map_err(|e| ExchangeError::Unexpected(e.to_string()))?,
    );
    let b = |v: i8| u8::try_from(v).unwrap_or(0);
    dlt::DateTime::new(
        u16::try_from(t.year()).unwrap_or(2000),
        b(t.month()),
        b(t.day()),
        b(t.hour()),
        b(t.minute()),
        b(t.second()),
    )
    .map_err(|e| ExchangeError::Unexpected(e.to_string()))
}

async fn command(
    line: &mut Line,
    gw: &TcpGateway,
    m: &mut Polled,
    kind: CommandKind,
) -> Result<(), ExchangeError> {
    let _permit = gw.permits.acquire().await;
    match kind {
        CommandKind::Trip | CommandKind::Close => {
            let address = dlt_address(&m.info)?;
            let (level, password, operator) = gw.config.relay_auth;
            let auth = dlt::Auth::new(level, password, operator)
                .map_err(|e| ExchangeError::Unexpected(e.to_string()))?;
            let action = if kind == CommandKind::Trip {
                dlt::RelayAction::Trip
            } else {
                dlt::RelayAction::DirectClose
            };
            // The command is valid for ten minutes, then the meter ignores it.
            let expiry = meter_time(10)?;
            let reply = line
                .dlt645(&dlt::relay_control(address, action, auth, expiry))
                .await?;
            match reply.message() {
                Ok(dlt::Message::RelayControlAck) => {}
                Ok(dlt::Message::ErrorReply { status, .. }) => {
                    return Err(ExchangeError::Refused(format!(
                        "error reply {:?}",
                        status.flags()
                    )));
                }
                other => return Err(ExchangeError::Unexpected(format!("{other:?}"))),
            }
            // Confirm by reading the relay back (status word 3, bit 4).
            let status = line
                .dlt645(&dlt::read_data(address, dlt::Di::STATUS_WORD_3))
                .await?;
            let open = match status.reading() {
                Ok(dlt::Reading {
                    value: dlt::Value::Status3 { word },
                    ..
                }) => word.relay_open(),
                other => return Err(ExchangeError::Unexpected(format!("{other:?}"))),
            };
            if open == (kind == CommandKind::Trip) {
                Ok(())
            } else {
                Err(ExchangeError::Refused(format!(
                    "the meter acknowledged but its relay reads {}",
                    if open { "open" } else { "closed" }
                )))
            }
        }
        CommandKind::ValveClose | CommandKind::ValveOpen => {
            let address = cjt_address(&m.info)?;
            let (valve, want) = if kind == CommandKind::ValveClose {
                (cjt::Valve::Close, cjt::ValveState::Closed)
            } else {
                (cjt::Valve::Open, cjt::ValveState::Open)
            };
            m.ser = m.ser.wrapping_add(1);
            let reply = line
                .cjt188(
                    &cjt::valve(cjt_type(&m.info), address, m.ser, valve),
                    m.order,
                )
                .await?;
            if reply.control.is_error() {
                return Err(ExchangeError::Refused(
                    "the meter answered with an error".into(),
                ));
            }
            cjt::ValveReply::from_frame(&reply)
                .map_err(|e| ExchangeError::Unexpected(e.to_string()))?;
            let (report, state) = read_cjt188(line, m).await?;
            gw.ingest
                .report(Arc::clone(&m.info), Transport::Cjt188, report, None)
                .await;
            if state == want {
                Ok(())
            } else {
                Err(ExchangeError::Refused(format!(
                    "the meter acknowledged but its valve reads {state:?}"
                )))
            }
        }
        CommandKind::ReadNow => {
            drop(_permit);
            poll(line, gw, m).await
        }
        CommandKind::TimeSync => {
            // Broadcast time has no reply by design.
            let frame = dlt::broadcast_time(meter_time(0)?);
            line.send(&frame.encode_with_wake_up()).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_packets() {
        assert_eq!(
            registration_addresses(b"000000100001"),
            Some(vec!["000000100001".to_owned()])
        );
        assert_eq!(
            registration_addresses(b"000000100001,00000020000001\r\n"),
            Some(vec!["000000100001".to_owned(), "00000020000001".to_owned()])
        );
        assert_eq!(registration_addresses(b"DTU-0042"), None);
        assert_eq!(registration_addresses(b"12345"), None);
        assert_eq!(registration_addresses(&[0x68, 0x01]), None);
    }

    #[test]
    fn scanning_skips_preambles_and_noise() {
        let address = dlt::Address::from_number(100_001).expect("bcd");
        let reply = dlt::Frame::new(
            address,
            dlt::Control::reply(dlt::Function::ReadData),
            vec![0x33, 0x33, 0x34, 0x33, 0x33, 0x33, 0x33, 0x33],
        )
        .expect("frame");
        let mut buf = BytesMut::new();
        buf.extend_from_slice(b"HB\x68\x00");
        buf.extend_from_slice(&[0xFE, 0xFE]);
        buf.extend_from_slice(&reply.encode());
        let found = scan_dlt645(&mut buf, address, dlt::Function::ReadData).expect("found");
        assert_eq!(found.address(), address);
        assert!(buf.is_empty());
        // Not complete yet: nothing, and nothing consumed.
        let bytes = reply.encode();
        let mut half = BytesMut::from(&bytes[..5]);
        assert!(scan_dlt645(&mut half, address, dlt::Function::ReadData).is_none());
    }
}
