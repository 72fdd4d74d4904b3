//! `yufu bench mqtt`: readings through the embedded MQTT endpoint into the
//! real engine and store, over loopback sockets, acknowledged (QoS 1) only
//! after the commit; then, optionally, many idle connections held to
//! measure the memory a connection costs.
//!
//! Devices and server share this process (so the memory per connection
//! counts both ends: an upper bound for the server alone). Tokens are put
//! in the gateway's cache directly: first-connect token look-ups in the
//! store are not part of what is measured.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinSet;
use yufu_domain::balance::BalancePolicy;
use yufu_domain::{AccountId, Fen, MeterId, MeterProtocol, OrganisationId, Utility};
use yufu_gateway::registry::{Identity, MeterInfo};
use yufu_mqtt::{Connect, ConnectReturnCode, Packet, Protocol, Publish, QoS};
use yufu_tariff::MeterParams;
use yufu_writer::ConfigChange;

#[derive(Debug, Clone)]
pub struct MqttArgs {
    pub devices: usize,
    pub readings: usize,
    pub window: usize,
    pub hold: usize,
    /// Readings per publish (1: one message per reading; more: a DTU's
    /// batched upload, `[{"ts":…,"values":…}, …]`).
    pub per_publish: usize,
}

#[allow(clippy::print_stdout)]
pub async fn mqtt(args: MqttArgs) -> anyhow::Result<()> {
    if args.devices == 0 || args.readings < args.devices || args.window == 0 {
        bail!("--devices ≥ 1, --readings ≥ --devices and --window ≥ 1");
    }
    if !(1..=1000).contains(&args.per_publish) {
        bail!("--per-publish must be 1–1000");
    }
    let (store, cleanup) = crate::bench::fresh_store(None).await?;
    let result = run(Arc::clone(&store), &args).await;
    store.close().await;
    cleanup.finish().await;
    println!("{}", result?);
    Ok(())
}

fn token(i: usize) -> String {
    format!("bench-device-{i:07}")
}

// Timings are reported as floats; they never touch money.
#[allow(clippy::float_arithmetic, clippy::cast_precision_loss)]
async fn run(
    store: Arc<dyn yufu_store::Store>,
    args: &MqttArgs,
) -> anyhow::Result<serde_json::Value> {
    let (writer, task) =
        yufu_writer::start(Arc::clone(&store), crate::bench::writer_config()).await?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let target = listener.local_addr()?;
    let gateway = yufu_gateway::Gateway::start(
        yufu_gateway::GatewayConfig {
            mqtt: Some(yufu_gateway::TcpListenerSpec::new(listener)),
            broker: None,
            tcp: None,
            poll: yufu_gateway::tcp::PollConfig::default(),
            offline_after: Duration::from_secs(3600),
            command_timeout: Duration::from_secs(30),
        },
        Arc::clone(&store),
        writer.clone(),
    )
    .await?;
    // The fleet, in the engine, and its tokens in the gateway's cache.
    crate::bench::configure_site(&writer).await?;
    let org = OrganisationId::new();
    let epoch_ms: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
    let no_cutoff = BalancePolicy::new(vec![], Fen(-1_000_000_000_000))?;
    let total_devices = args.devices + args.hold;
    for start in (0..args.devices).step_by(5_000) {
        let mut changes = Vec::new();
        for i in start..(start + 5_000).min(args.devices) {
            let (account, meter) = (AccountId::new(), MeterId::new());
            changes.push(ConfigChange::Account {
                id: account,
                policy: no_cutoff.clone(),
                site: "bench".into(),
            });
            changes.push(ConfigChange::Meter {
                id: meter,
                account,
                utility: Utility::Electricity,
                params: MeterParams::default(),
                tariff: "bench/tiered".into(),
                from_ms: epoch_ms,
                shared: None,
            });
            gateway.registry.preload(&token(i), identity(meter, org, i));
        }
        writer.configure(changes).await?;
    }
    for i in args.devices..total_devices {
        gateway
            .registry
            .preload(&token(i), identity(MeterId::new(), org, i));
    }

    // Phase 1: throughput.
    let k = args.per_publish;
    let per_device = (args.readings / args.devices / k).max(1) * k;
    let total = per_device * args.devices;
    eprintln!(
        "mqtt: {} devices × {per_device} readings (QoS 1, window {})",
        args.devices, args.window
    );
    let mut conns = Vec::with_capacity(args.devices);
    for i in 0..args.devices {
        conns.push(connect(target, None, &token(i)).await?);
    }
    let started = Instant::now();
    let mut set = JoinSet::new();
    for (i, stream) in conns.into_iter().enumerate() {
        let window = args.window;
        set.spawn(async move { blast(stream, per_device, k, window, epoch_ms, i).await });
    }
    let mut acked = 0usize;
    while let Some(r) = set.join_next().await {
        acked += r.context("device task panicked")?? * k;
    }
    let secs = started.elapsed().as_secs_f64();
    let stored = store.journal().readings_count().await?;
    eprintln!(
        "mqtt: {acked} acknowledged in {secs:.2}s, {stored} readings stored",
        secs = secs
    );
    if usize::try_from(stored).unwrap_or(0) != total {
        bail!("{stored} readings stored, expected {total}");
    }

    // Phase 2: idle connections held.
    let mut held = serde_json::Value::Null;
    if args.hold > 0 {
        let before = rss_now_kb();
        let started = Instant::now();
        let mut idle = Vec::with_capacity(args.hold);
        for i in 0..args.hold {
            // 127.0.0.x: one source address has ~28 000 ephemeral ports.
            let last = u8::try_from(1 + i / 20_000).unwrap_or(u8::MAX);
            let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, last));
            match connect(target, Some(source), &token(args.devices + i)).await {
                Ok(s) => idle.push(s),
                Err(e) => {
                    eprintln!("hold: stopped at {i} connections: {e:#}");
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = rss_now_kb();
        let n = idle.len();
        let per_conn = if n > 0 {
            (after.saturating_sub(before)) * 1024 / u64::try_from(n).unwrap_or(1)
        } else {
            0
        };
        eprintln!(
            "hold: {n} connections in {:.1}s, RSS {} → {} MiB ({per_conn} bytes per connection, both ends)",
            started.elapsed().as_secs_f64(),
            before / 1024,
            after / 1024
        );
        held = serde_json::json!({
            "connections": n,
            "links": gateway.routes.connected(),
            "rss_before_mib": before / 1024,
            "rss_after_mib": after / 1024,
            "bytes_per_connection_both_ends": per_conn,
        });
        drop(idle);
    }
    gateway.stop();
    drop(gateway);
    drop(writer);
    let _ = task.handle.await;
    Ok(serde_json::json!({
        "bench": "mqtt",
        "devices": args.devices,
        "readings": total,
        "window": args.window,
        "per_publish": k,
        "seconds": (secs * 1000.0).round() / 1000.0,
        "readings_per_second": (total as f64 / secs).round(),
        "stored": stored,
        "hold": held,
    }))
}

fn identity(meter: MeterId, org: OrganisationId, i: usize) -> Identity {
    Identity::Meter(Arc::new(MeterInfo {
        id: meter,
        organisation: org,
        serial: format!("BENCH-{i:07}"),
        utility: Utility::Electricity,
        protocol: MeterProtocol::Mqtt,
        address: String::new(),
    }))
}

fn rss_now_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse().ok())
        })
        .unwrap_or(0)
}

async fn connect(
    target: SocketAddr,
    source: Option<IpAddr>,
    token: &str,
) -> anyhow::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let mut stream = socket.connect(target).await?;
    stream.set_nodelay(true)?;
    let mut out = BytesMut::with_capacity(64);
    yufu_mqtt::encode(
        &Packet::Connect(Connect {
            protocol: Protocol::V311,
            client_id: String::new(),
            keep_alive: 0,
            clean_session: true,
            username: Some(token.to_owned()),
            password: None,
            will: None,
        }),
        &mut out,
    )?;
    stream.write_all(&out).await?;
    let mut buf = BytesMut::with_capacity(8);
    loop {
        if let Some(p) = yufu_mqtt::decode(&mut buf, 64)? {
            match p {
                Packet::ConnAck(a) if a.code == ConnectReturnCode::Accepted => return Ok(stream),
                other => bail!("refused: {other:?}"),
            }
        }
        if stream.read_buf(&mut buf).await? == 0 {
            bail!("closed before CONNACK");
        }
    }
}

/// Publishes `n` readings an hour apart, `k` per publish, at most
/// `window` publishes unacknowledged; returns the publishes acknowledged.
async fn blast(
    mut stream: TcpStream,
    n: usize,
    k: usize,
    window: usize,
    epoch_ms: i64,
    device: usize,
) -> anyhow::Result<usize> {
    let mut out = BytesMut::with_capacity(window * 96);
    let mut buf = BytesMut::with_capacity(4096);
    let (mut sent, mut acked) = (0usize, 0usize);
    let offset = i64::try_from(device % 3_600).unwrap_or(0) * 1_000;
    let n = n / k;
    while acked < n {
        while sent < n && sent - acked < window {
            let samples: Vec<String> = (0..k)
                .map(|j| {
                    let i = i64::try_from(sent * k + j).unwrap_or(0);
                    format!(
                        "{{\"ts\":{},\"values\":{{\"energy_wh\":{}}}}}",
                        epoch_ms + offset + i * 3_600_000,
                        i * 1_500
                    )
                })
                .collect();
            let payload = if k == 1 {
                samples.concat()
            } else {
                format!("[{}]", samples.join(","))
            };
            let pkid = u16::try_from(sent % 65_000 + 1).unwrap_or(1);
            yufu_mqtt::encode(
                &Packet::Publish(Publish {
                    dup: false,
                    qos: QoS::AtLeastOnce,
                    retain: false,
                    topic: "v1/devices/me/telemetry".into(),
                    pkid,
                    payload: payload.into_bytes().into(),
                }),
                &mut out,
            )?;
            sent += 1;
        }
        if !out.is_empty() {
            stream.write_all(&out).await?;
            out.clear();
        }
        if stream.read_buf(&mut buf).await? == 0 {
            bail!("the server closed device {device} after {acked} acks");
        }
        while let Some(p) = yufu_mqtt::decode(&mut buf, 1024)? {
            if let Packet::PubAck(_) = p {
                acked += 1;
            }
        }
    }
    Ok(acked)
}
