//! The meter side of DL/T 645 / CJ/T 188 over TCP, as a GPRS meter or a DTU
//! in transparent mode behaves: dial the platform, register, answer every
//! request frame, redial with back-off when the link drops.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use yufu_cjt188::DiOrder;
use yufu_domain::Utility;

use crate::SimError;
use crate::faults::{FaultPlan, FaultRates, Outbox};
use crate::meter::SimMeter;
use crate::rng::Rng;
use crate::{cjt188_meter, dlt645_meter};

/// Bytes buffered while waiting for a frame to complete. The largest frame
/// is under 270 bytes, so anything beyond this is noise and is discarded.
pub const MAX_RX_BUFFER: usize = 4096;

/// How a simulated meter behaves on the TCP link.
///
/// Shutdown is a [`watch`] channel (no extra dependency): the meter stops
/// when the value becomes `true` **or** every sender is dropped, so a fleet
/// runner that exits cannot leave meters redialling forever.
#[derive(Debug, Clone)]
pub struct TcpOptions {
    /// Send the registration packet (the address as ASCII digits) right
    /// after connecting, as Yufu's gateway expects. Off, the gateway has to
    /// find the meter with a read-address request.
    pub register: bool,
    /// Consumption multiplier, see `Profile::consumption_at_speed`.
    pub speed: u32,
    /// Faults per request (drop = ignore it, silence = ignore several, …).
    pub faults: FaultRates,
    /// Seed for fault decisions and back-off jitter, separate from the
    /// meter's own seed so faults never change its consumption.
    pub fault_seed: u64,
    /// CJ/T 188 DI byte order (field devices differ). Unused by DL/T 645.
    pub di_order: DiOrder,
    /// Put `FE FE FE FE` before every reply, as many meters do.
    pub wake_up: bool,
    /// First redial delay; doubles per failed attempt up to `backoff_max`,
    /// plus up to half again of random jitter so a fleet does not redial in
    /// lockstep. Back to `backoff_min` after a connection that served a
    /// request.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    pub connect_timeout: Duration,
    /// Inter-byte timeout: a partial frame idle this long is discarded, as a
    /// meter's UART receiver does, so noise that looks like a frame start
    /// cannot wedge the link.
    pub frame_timeout: Duration,
    pub shutdown: watch::Receiver<bool>,
}

impl TcpOptions {
    /// Defaults: register on, speed 1, no faults, low-byte-first DI, wake-up
    /// on, back-off 1 s doubling to 60 s, 10 s connect timeout, 1 s frame
    /// timeout.
    pub fn new(shutdown: watch::Receiver<bool>) -> Self {
        TcpOptions {
            register: true,
            speed: 1,
            faults: FaultRates::NONE,
            fault_seed: 0,
            di_order: DiOrder::LowFirst,
            wake_up: true,
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            frame_timeout: Duration::from_secs(1),
            shutdown,
        }
    }
}

/// What a meter's TCP run did, returned at shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpStats {
    /// Connections established.
    pub connections: u64,
    /// Request frames decoded.
    pub requests: u64,
    /// Reply frames written (duplicates count twice).
    pub replies: u64,
    /// Requests lost to `drop` or `silence` faults.
    pub faulted: u64,
    /// Bytes discarded as noise between frames or as stale partial frames.
    pub discarded_bytes: u64,
}

/// Runs one meter against the platform at `target` until shutdown.
///
/// Per connection: send the registration packet (`opts.register`), then
/// answer each request frame: decode with the meter's codec (DL/T 645 for
/// electricity, CJ/T 188 for water and gas), skipping wake-up preambles and
/// noise, taking frames split over reads or several in one read; apply the
/// fault plan; advance the meter to now at `opts.speed`; answer. When the
/// link drops, redial with capped, jittered back-off.
///
/// The meter lock is held only while answering, never across an await, so a
/// fleet runner or a test can inspect the meter at any time.
///
/// # Errors
/// [`SimError::Poisoned`] if another thread panicked holding the meter.
/// Network failures are not errors: a meter keeps redialling.
pub async fn run_tcp_meter(
    target: SocketAddr,
    meter: Arc<Mutex<SimMeter>>,
    mut opts: TcpOptions,
) -> Result<TcpStats, SimError> {
    let mut stats = TcpStats::default();
    let mut rng = Rng::new(opts.fault_seed);
    let mut plan = FaultPlan::new(opts.faults);
    let mut backoff = opts.backoff_min;
    let (address, utility) = {
        let m = meter.lock().map_err(|_| SimError::Poisoned)?;
        (m.address.clone(), m.utility)
    };
    loop {
        let connect = tokio::time::timeout(opts.connect_timeout, TcpStream::connect(target));
        let connected = tokio::select! {
            _ = shutdown(&mut opts.shutdown) => return Ok(stats),
            connected = connect => connected,
        };
        match connected {
            Ok(Ok(stream)) => {
                stats.connections += 1;
                tracing::debug!(meter.address = %address, %target, "meter connected");
                let served = stats.requests;
                let mut link = Link {
                    stream,
                    meter: &meter,
                    opts: &mut opts,
                    utility,
                    plan: &mut plan,
                    rng: &mut rng,
                    stats: &mut stats,
                };
                if link.serve(&address).await? == Ended::Shutdown {
                    return Ok(stats);
                }
                if stats.requests > served {
                    backoff = opts.backoff_min;
                }
                tracing::debug!(meter.address = %address, "meter link dropped");
            }
            Ok(Err(error)) => {
                tracing::debug!(meter.address = %address, %target, %error, "meter cannot connect");
            }
            Err(_) => {
                tracing::debug!(meter.address = %address, %target, "meter connect timed out");
            }
        }
        let jitter_ms = u64::try_from(backoff.as_millis() / 2).unwrap_or(u64::MAX);
        let delay = backoff.saturating_add(Duration::from_millis(rng.below(jitter_ms + 1)));
        tokio::select! {
            _ = shutdown(&mut opts.shutdown) => return Ok(stats),
            () = tokio::time::sleep(delay) => {}
        }
        backoff = backoff.saturating_mul(2).min(opts.backoff_max);
    }
}

/// Resolves once shutdown is asked for or every sender is gone.
/// Cancel-safe, so it can sit in a `select!` loop.
async fn shutdown(rx: &mut watch::Receiver<bool>) {
    // Err means the senders are gone, which is a shutdown too.
    let _ = rx.wait_for(|stop| *stop).await;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Shutdown,
    Disconnected,
}

/// What woke the connection loop.
enum Event {
    Shutdown,
    Read(std::io::Result<usize>),
    /// A partial frame sat idle past the frame timeout.
    Stale,
}

/// One decoded request, in the meter's protocol.
enum Request {
    Dlt645(yufu_dlt645::Frame),
    Cjt188(yufu_cjt188::Frame),
}

enum Decoded {
    Frame(Request, usize),
    Incomplete,
    Invalid,
}

/// One live connection.
struct Link<'a> {
    stream: TcpStream,
    meter: &'a Mutex<SimMeter>,
    opts: &'a mut TcpOptions,
    utility: Utility,
    plan: &'a mut FaultPlan,
    rng: &'a mut Rng,
    stats: &'a mut TcpStats,
}

impl Link<'_> {
    async fn serve(&mut self, address: &str) -> Result<Ended, SimError> {
        if self.opts.register && self.stream.write_all(address.as_bytes()).await.is_err() {
            return Ok(Ended::Disconnected);
        }
        // Held replies belong to this connection: a DTU loses its buffer
        // when the link drops.
        let mut outbox: Outbox<Vec<u8>> = Outbox::new();
        let mut buf: Vec<u8> = Vec::with_capacity(512);
        let mut chunk = [0u8; 512];
        loop {
            let frame_timeout = self.opts.frame_timeout;
            let event = tokio::select! {
                _ = shutdown(&mut self.opts.shutdown) => Event::Shutdown,
                read = self.stream.read(&mut chunk) => Event::Read(read),
                () = tokio::time::sleep(frame_timeout), if !buf.is_empty() => Event::Stale,
            };
            let n = match event {
                Event::Shutdown => return Ok(Ended::Shutdown),
                Event::Stale => {
                    self.discard(&mut buf);
                    continue;
                }
                Event::Read(Ok(0) | Err(_)) => return Ok(Ended::Disconnected),
                Event::Read(Ok(n)) => n,
            };
            buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
            let replies = self.drain_frames(&mut buf, &mut outbox)?;
            if buf.len() > MAX_RX_BUFFER {
                self.discard(&mut buf);
            }
            for reply in replies {
                if self.stream.write_all(&reply).await.is_err() {
                    return Ok(Ended::Disconnected);
                }
                self.stats.replies += 1;
            }
        }
    }

    fn discard(&mut self, buf: &mut Vec<u8>) {
        self.stats.discarded_bytes += u64::try_from(buf.len()).unwrap_or(u64::MAX);
        buf.clear();
    }

    /// Takes every complete frame off the front of `buf` and returns the
    /// bytes to write. Noise is dropped a byte at a time until a frame
    /// start lines up; an incomplete frame stays for the next read.
    fn drain_frames(
        &mut self,
        buf: &mut Vec<u8>,
        outbox: &mut Outbox<Vec<u8>>,
    ) -> Result<Vec<Vec<u8>>, SimError> {
        let mut out = Vec::new();
        while !buf.is_empty() {
            match self.decode(buf) {
                Decoded::Frame(request, used) => {
                    buf.drain(..used.min(buf.len()));
                    out.extend(self.handle(request, outbox)?);
                }
                Decoded::Incomplete => break,
                Decoded::Invalid => {
                    buf.remove(0);
                    self.stats.discarded_bytes += 1;
                }
            }
        }
        Ok(out)
    }

    fn decode(&self, buf: &[u8]) -> Decoded {
        if self.utility == Utility::Electricity {
            match yufu_dlt645::decode(buf) {
                Ok((frame, used)) => Decoded::Frame(Request::Dlt645(frame), used),
                Err(e) if e.is_incomplete() => Decoded::Incomplete,
                Err(_) => Decoded::Invalid,
            }
        } else {
            match yufu_cjt188::decode(buf, self.opts.di_order) {
                Ok((frame, used)) => Decoded::Frame(Request::Cjt188(frame), used),
                Err(e) if e.is_incomplete() => Decoded::Incomplete,
                Err(_) => Decoded::Invalid,
            }
        }
    }

    /// Faults, then the meter's answer, then the outbox's say on when the
    /// answer goes out.
    fn handle(
        &mut self,
        request: Request,
        outbox: &mut Outbox<Vec<u8>>,
    ) -> Result<Vec<Vec<u8>>, SimError> {
        self.stats.requests += 1;
        let action = self.plan.decide(self.rng, self.utility);
        if !action.reaches_meter() {
            self.stats.faulted += 1;
            tracing::trace!(?action, "request lost to a fault");
            return Ok(Vec::new());
        }
        let now = Timestamp::now();
        let reply = {
            let mut meter = self.meter.lock().map_err(|_| SimError::Poisoned)?;
            if let Some(event) = action.event() {
                meter.inject(event);
            }
            meter.advance(now, self.opts.speed);
            match request {
                Request::Dlt645(frame) => {
                    dlt645_meter::answer(&mut meter, &frame, now).map(|r| r.encode())
                }
                Request::Cjt188(frame) => cjt188_meter::answer(&mut meter, &frame, now)
                    .and_then(|r| r.encode(self.opts.di_order).ok()),
            }
        };
        let Some(reply) = reply else {
            return Ok(Vec::new());
        };
        let reply = if self.opts.wake_up {
            let mut bytes = vec![0xFE; 4];
            bytes.extend(reply);
            bytes
        } else {
            reply
        };
        Ok(outbox.route(action, reply))
    }
}
