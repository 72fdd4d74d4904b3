//! Start-up, serving and shutdown.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;
use yufu_store::Store;

use crate::config::{Config, DatabaseUrl};
use crate::demo;

/// What `serve` runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Serve,
    Demo,
}

/// Logs go to stderr, filtered by `YUFU_LOG`; stdout carries only what the
/// command prints for its user (URLs, logins, results).
pub fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(crate::config::DEFAULT_LOG));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not for log files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// Opens the configured store. Only this binary knows both backends.
pub(crate) async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    // The data directory holds the SQLite file by default and, in later
    // issues, backups and key files; create it whatever the backend.
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "cannot create data directory {} (YUFU_DATA_DIR)",
            config.data_dir.display()
        )
    })?;
    let store: Arc<dyn Store> = match &config.database {
        DatabaseUrl::Sqlite(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create data directory {}", dir.display()))?;
            }
            Arc::new(
                yufu_store_sqlite::SqliteStore::open(path)
                    .await
                    .with_context(|| format!("cannot open database {}", config.database))?,
            )
        }
        DatabaseUrl::Postgres(url) => Arc::new(
            yufu_store_postgres::PostgresStore::connect(url)
                .await
                .with_context(|| format!("cannot open database {}", config.database))?,
        ),
    };
    store.set_vault(load_vault(config)?);
    Ok(store)
}

/// The key for personal data: `YUFU_DATA_KEY`, `YUFU_DATA_KEY_FILE`, or a
/// key file in the data directory, created on first start (keep a copy of
/// it apart from the database: without it personal data cannot be read).
pub(crate) fn load_vault(config: &Config) -> anyhow::Result<Arc<yufu_store::Vault>> {
    let text = if let Some(secret) = &config.data_key {
        secret.0.clone()
    } else if let Some(path) = &config.data_key_file {
        std::fs::read_to_string(path).with_context(|| {
            format!(
                "cannot read the data key file {} (YUFU_DATA_KEY_FILE)",
                path.display()
            )
        })?
    } else {
        let path = config.data_dir.join(crate::config::DEFAULT_KEY_FILE);
        if !path.exists() {
            create_key_file(&path)?;
            tracing::warn!(
                path = %path.display(),
                "created a new data key for personal data; back it up apart from the database, or set YUFU_DATA_KEY_FILE"
            );
        }
        std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the data key file {}", path.display()))?
    };
    let vault = yufu_store::Vault::from_key_text(&text)
        .map_err(|e| anyhow::anyhow!("the data key is unusable: {e}"))?;
    Ok(Arc::new(vault))
}

/// Writes a new key file readable by its owner only.
pub(crate) fn create_key_file(path: &std::path::Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let id = format!("k{}", jiff::Timestamp::now().strftime("%Y%m%d%H%M%S"));
    let line = yufu_store::Vault::generate_key_line(&id).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .with_context(|| format!("cannot create the data key file {}", path.display()))?;
    std::io::Write::write_all(
        &mut f,
        format!("# Yufu data key file: the last line is the active key. Never store it with the database.\n{line}\n").as_bytes(),
    )?;
    Ok(())
}

pub(crate) async fn open_and_migrate(
    config: &Config,
) -> anyhow::Result<(Arc<dyn Store>, yufu_store::MigrationReport)> {
    let store = open_store(config).await?;
    let report = store
        .migrate()
        .await
        .with_context(|| format!("cannot migrate database {}", config.database))?;
    Ok((store, report))
}

/// Binds a listener, turning the common failures into one actionable line
/// that names the variable to change.
async fn bind(addr: SocketAddr, what: &str, var: &str, key: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        let why = match e.kind() {
            ErrorKind::AddrInUse => "is already in use".to_owned(),
            ErrorKind::PermissionDenied => "needs privileges this process lacks".to_owned(),
            ErrorKind::AddrNotAvailable => "is not an address of this machine".to_owned(),
            _ => format!("cannot be bound ({e})"),
        };
        anyhow::anyhow!(
            "{what} address {addr} {why}; set {var} (or {key} in yufu.toml) to a free address"
        )
    })
}

/// `yufu migrate`.
pub async fn migrate(config: Config) -> anyhow::Result<()> {
    let (store, report) = open_and_migrate(&config).await?;
    store.close().await;
    if let Some(backup) = &report.backup {
        println!("copied the database to {backup} before migrating");
    }
    println!(
        "applied {} migration(s); {} is up to date",
        report.applied, config.database
    );
    Ok(())
}

/// `yufu serve` and `yufu demo`.
pub async fn serve(config: Config, mode: Mode) -> anyhow::Result<()> {
    tracing::info!(?config, "starting yufu {}", env!("CARGO_PKG_VERSION"));
    // Bind before touching the database, so a taken port fails at once.
    let http = bind(config.http_addr, "HTTP", "YUFU_HTTP_ADDR", "http_addr").await?;
    let http_addr = http.local_addr().context("HTTP listener has no address")?;
    // The demo must start on any machine: a default device port already
    // taken (a local Mosquitto on 1883, say) is swapped for a free one.
    let fallback = mode == Mode::Demo;
    let mqtt = bind_device_port(
        config.mqtt_addr,
        fallback && !config.mqtt_addr_set,
        "MQTT",
        "YUFU_MQTT_ADDR",
        "mqtt_addr",
    )
    .await?;
    let mqtt_addr = mqtt.local_addr().context("MQTT listener has no address")?;
    let dlt645 = bind_device_port(
        config.dlt645_addr,
        fallback && !config.dlt645_addr_set,
        "DL/T 645",
        "YUFU_DLT645_ADDR",
        "dlt645_addr",
    )
    .await?;
    let dlt645_addr = dlt645
        .local_addr()
        .context("DL/T 645 listener has no address")?;
    let (store, report) = open_and_migrate(&config).await?;
    tracing::info!(applied = report.applied, backup = ?report.backup, database = %config.database, "store ready");
    // Personal data written before encryption existed, or under an older
    // key, is sealed under the active key now.
    let resealed = store
        .reseal_personal_data()
        .await
        .context("cannot seal personal data with the data key")?;
    if resealed.resealed > 0 {
        tracing::info!(
            customers = resealed.resealed,
            "personal data sealed under the active key"
        );
    }
    let (_, tickets) = store
        .console()
        .reseal_tickets()
        .await
        .context("cannot seal the portal's tickets with the data key")?;
    if tickets > 0 {
        tracing::info!(tickets, "ticket texts sealed under the active key");
    }

    let login = match mode {
        Mode::Demo => Some(
            demo::seed(store.as_ref())
                .await
                .context("cannot seed the demo")?,
        ),
        Mode::Serve => None,
    };

    let (writer, writer_task) = yufu_writer::start(Arc::clone(&store), writer_config(&config))
        .await
        .context("cannot start the prepaid engine")?;
    let loaded = yufu_writer::sync::reconcile(store.as_ref(), &writer)
        .await
        .context("cannot load the fleet into the engine")?;
    tracing::info!(
        meters = loaded,
        checkpoint_seq = writer_task.recovered.checkpoint_seq,
        replayed = writer_task.recovered.replayed,
        "engine ready"
    );
    if let Some(login) = &login {
        let funded = demo::fund(store.as_ref(), &writer, login.organisation)
            .await
            .context("cannot fund the demo accounts")?;
        tracing::info!(funded, "demo opening balances");
    }
    let mut gateway_config = gateway_config(&config, mqtt, dlt645);
    if mode == Mode::Demo
        && Ok(config.poll_interval)
            == crate::config::parse_duration(crate::config::DEFAULT_POLL_INTERVAL)
    {
        // The demo's meters report every few seconds; poll the TCP ones
        // as often, so a newcomer sees them move.
        gateway_config.poll.interval = std::time::Duration::from_secs(5);
    }
    let gateway = yufu_gateway::Gateway::start(gateway_config, Arc::clone(&store), writer.clone())
        .await
        .context("cannot start meter connectivity")?;
    let dispatcher = tokio::spawn(yufu_writer::dispatch::run(
        writer.clone(),
        Arc::new(gateway.delivery.clone()),
    ));
    let simulator = match (&login, mode) {
        (Some(login), Mode::Demo) => Some(
            crate::sim::start_demo(
                Arc::clone(&store),
                writer.clone(),
                login.organisation,
                config.data_dir.clone(),
                mqtt_addr,
                dlt645_addr,
            )
            .await
            .context("cannot start the demo fleet simulator")?,
        ),
        _ => None,
    };

    let signal = shutdown_signal()?;
    // One signal stops both the HTTP server and the webhook sender.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        signal.await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let shutdown = stopped(stop_rx.clone());
    let base = format!("http://{http_addr}");
    println!(
        "Yufu {} is running (store: {}).",
        env!("CARGO_PKG_VERSION"),
        config.database
    );
    println!("  Console / 控制台:   {base}/");
    println!("  API docs / 接口文档: {base}/api/docs/");
    println!(
        "  Meters, MQTT / 表计 MQTT:  {mqtt_addr}   (ThingsBoard device API; token = username)"
    );
    println!("  Meters, DL/T 645 / CJ/T 188 TCP: {dlt645_addr}");
    if let Some(broker) = &config.mqtt_broker {
        println!(
            "  External broker / 外部代理: {broker} (group {})",
            config.mqtt_share_group
        );
    }
    if let Some(sim) = &simulator {
        println!(
            "  Simulated meters / 模拟表计: {} over MQTT, {} over DL/T 645 / CJ/T 188",
            sim.mqtt, sim.tcp
        );
    }
    if let Some(login) = &login {
        println!(
            "  Demo fleet / 演示数据: sites {}, units {}, accounts {}, meters {}",
            login.counts.sites,
            login.counts.units,
            login.counts.accounts,
            login.counts.meters_total()
        );
        println!(
            "  Admin login / 管理员登录: {} / {}   (a new password each time `yufu demo` starts)",
            login.username, login.password
        );
        println!(
            "  API token / 接口令牌: {}   (Authorization: Bearer …; admin, valid one day)",
            login.api_token
        );
        if let Some((account, password)) = &login.portal {
            println!(
                "  Customer portal / 客户自助: {base}/portal/login   account / 户号 {account} / {password}"
            );
        }
    }
    // The payment provider simulator plays an online provider for the
    // portal's recharge: on in the demo unless switched off, off otherwise.
    let paysim = config.payment_simulator.unwrap_or(mode == Mode::Demo);
    if paysim {
        println!(
            "  Payment simulator / 模拟支付: on (provider {}) — demo only: anyone can pay with it",
            yufu_server::SIMULATOR_PROVIDER
        );
        if mode == Mode::Serve {
            tracing::warn!(
                "YUFU_PAYMENT_SIMULATOR is on: anyone can credit accounts through /paysim; never use it in production"
            );
        }
    }
    println!("Press Ctrl-C to stop.");

    let vault = load_vault(&config)?;
    // Outbound webhooks: one feeder and sender per database (this writer's).
    let webhooks = yufu_webhooks::Webhooks::start(
        Arc::clone(&store),
        Arc::clone(&vault),
        yufu_webhooks::WebhooksConfig::default(),
        stopped(stop_rx),
    )
    .context("cannot start webhook delivery")?;
    let security = yufu_server::Security::new(
        yufu_server::SecurityConfig {
            session_idle: config.session_idle,
            session_max: config.session_max,
            // The demo serves plain HTTP on loopback; a Secure cookie would
            // never come back there.
            cookie_secure: config.cookie_secure.unwrap_or(mode != Mode::Demo),
            payment_providers: payment_providers(&config, paysim)?,
            payment_simulator: paysim,
            // The simulator delivers its callback here, like a provider.
            self_url: Some(format!("http://{}", loopback(http_addr))),
            ..yufu_server::SecurityConfig::default()
        },
        vault,
        Arc::clone(&store),
    );
    let state = yufu_server::AppState {
        store: Arc::clone(&store),
        writer,
        gateway: Some(gateway.clone()),
        version: env!("CARGO_PKG_VERSION"),
        security,
        console: Default::default(),
    };
    yufu_server::serve(http, state, shutdown)
        .await
        .context("HTTP server failed")?;
    if let Err(e) = webhooks.join().await {
        tracing::error!(error = %e, "webhook task ended badly");
    }
    // The last writer handle went with the server and the dispatcher: the
    // writer drains its queue, takes a checkpoint and ends.
    if let Some(sim) = simulator {
        sim.stop().await;
    }
    // The gateway's tasks hold writer handles; stopping them lets the
    // writer see its last handle go.
    gateway.stop();
    drop(gateway);
    dispatcher.abort();
    let _ = dispatcher.await;
    let _ = writer_task.handle.await;
    store.close().await;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// The configured providers, and the simulator's (`paysim`, with a secret
/// made now) when it is on and the operator did not configure one.
fn payment_providers(config: &Config, paysim: bool) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut providers: Vec<(String, Vec<u8>)> = config
        .payment_providers
        .iter()
        .map(|(n, s)| (n.clone(), s.0.as_bytes().to_vec()))
        .collect();
    if paysim
        && !providers
            .iter()
            .any(|(n, _)| n == yufu_server::SIMULATOR_PROVIDER)
    {
        let secret = yufu_server::auth::random_secret()
            .map_err(|e| anyhow::anyhow!("cannot make the payment simulator's secret: {e}"))?;
        providers.push((
            yufu_server::SIMULATOR_PROVIDER.to_owned(),
            secret.into_bytes(),
        ));
    }
    Ok(providers)
}

/// An address this machine can connect to: a listener on every interface
/// (0.0.0.0, ::) is reached on loopback.
fn loopback(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, addr.port()))
        }
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port()))
        }
        _ => addr,
    }
}

async fn bind_device_port(
    addr: SocketAddr,
    fallback: bool,
    what: &str,
    var: &str,
    key: &str,
) -> anyhow::Result<TcpListener> {
    match bind(addr, what, var, key).await {
        Ok(l) => Ok(l),
        Err(e) if fallback => {
            let any = SocketAddr::new(addr.ip(), 0);
            let l = TcpListener::bind(any)
                .await
                .with_context(|| format!("{e}; and no free port on {}", addr.ip()))?;
            tracing::warn!(wanted = %addr, got = ?l.local_addr().ok(), "{what} port taken; the demo uses a free one");
            Ok(l)
        }
        Err(e) => Err(e),
    }
}

fn gateway_config(
    config: &Config,
    mqtt: TcpListener,
    dlt645: TcpListener,
) -> yufu_gateway::GatewayConfig {
    let broker = config
        .mqtt_broker
        .as_ref()
        .map(|addr| yufu_gateway::external::BrokerConfig {
            addr: addr.clone(),
            client_id: config
                .mqtt_client_id
                .clone()
                .unwrap_or_else(|| format!("yufu-{}", std::process::id())),
            username: config.mqtt_username.clone(),
            password: config.mqtt_password.as_ref().map(|s| s.0.clone()),
            group: config.mqtt_share_group.clone(),
        });
    yufu_gateway::GatewayConfig {
        mqtt: Some(yufu_gateway::TcpListenerSpec::new(mqtt)),
        broker,
        tcp: Some(yufu_gateway::TcpListenerSpec::new(dlt645)),
        poll: yufu_gateway::tcp::PollConfig {
            interval: config.poll_interval,
            timeout: config.poll_timeout,
            concurrency: config.poll_concurrency,
            ..Default::default()
        },
        offline_after: config.offline_after,
        command_timeout: config.command_timeout,
    }
}

fn writer_config(_config: &Config) -> yufu_writer::WriterConfig {
    yufu_writer::WriterConfig::default()
}

/// A future that completes on Ctrl-C or SIGTERM (what systemd and
/// orchestrators send). The handlers are installed here, before the caller
/// announces it is up, so a signal sent right after start-up is never missed.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for Ctrl-C")?;
        Ok(async move {
            tokio::select! {
                _ = terminate.recv() => {},
                _ = interrupt.recv() => {},
            }
            tracing::info!("shutdown requested; finishing requests in flight");
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutdown requested; finishing requests in flight");
        })
    }
}
