#![doc = include_str!("../README.md")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use yufu_store::Store;
use yufu_writer::Writer;

pub mod external;
pub mod ingest;
pub mod mqtt;
pub mod presence;
pub mod registry;
pub mod routes;
pub mod server;
pub mod tcp;

pub use ingest::Ingest;
pub use presence::{Presence, PresenceCounts, PresenceView, Transport};
pub use registry::{Registry, hash_token, issue_token};
pub use routes::{Delivery, Routes};

/// How meters reach Yufu.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// Where devices connect when Yufu is its own MQTT endpoint.
    pub mqtt: Option<TcpListenerSpec>,
    /// An external broker to subscribe to instead (or as well).
    pub broker: Option<external::BrokerConfig>,
    /// The DL/T 645 / CJ/T 188 TCP gateway.
    pub tcp: Option<TcpListenerSpec>,
    pub poll: tcp::PollConfig,
    /// A meter silent this long is offline (raises `comm_fault`).
    pub offline_after: Duration,
    /// How long a command waits for the meter's answer.
    pub command_timeout: Duration,
}

/// A bound listener (bound by the caller, so a taken port fails early
/// with the variable to change).
#[derive(Debug, Clone)]
pub struct TcpListenerSpec(pub Arc<std::sync::Mutex<Option<TcpListener>>>);

impl TcpListenerSpec {
    pub fn new(listener: TcpListener) -> Self {
        Self(Arc::new(std::sync::Mutex::new(Some(listener))))
    }

    fn take(&self) -> Option<TcpListener> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }
}

/// The running connectivity layer.
#[derive(Debug, Clone)]
pub struct Gateway {
    pub registry: Arc<Registry>,
    pub presence: Arc<Presence>,
    pub routes: Arc<Routes>,
    pub ingest: Ingest,
    pub delivery: Delivery,
    shutdown: Arc<watch::Sender<bool>>,
}

impl Gateway {
    /// Starts every configured transport and the presence monitor. Meters
    /// in service are watched from now (their grace period starts now);
    /// open `comm_fault` alarms from before a restart are picked up so the
    /// meter's return clears them.
    pub async fn start(
        config: GatewayConfig,
        store: Arc<dyn Store>,
        writer: Writer,
    ) -> Result<Self, yufu_store::StoreError> {
        let registry = Arc::new(Registry::new(Arc::clone(&store)));
        let presence = Arc::new(Presence::new(config.offline_after));
        let routes = Arc::new(Routes::default());
        let (shutdown, rx) = watch::channel(false);
        let ingest = Ingest::start(writer.clone(), Arc::clone(&presence), rx.clone());
        watch_fleet(store.as_ref(), &presence).await?;

        let handler = mqtt::Handler {
            registry: Arc::clone(&registry),
            ingest: ingest.clone(),
            routes: Arc::clone(&routes),
        };
        if let Some(listener) = config.mqtt.as_ref().and_then(TcpListenerSpec::take) {
            tokio::spawn(server::serve(listener, handler.clone(), rx.clone()));
        }
        if let Some(broker) = config.broker.clone() {
            tokio::spawn(external::run(broker, handler.clone(), rx.clone()));
        }
        if let Some(listener) = config.tcp.as_ref().and_then(TcpListenerSpec::take) {
            let tcp = tcp::TcpGateway {
                registry: Arc::clone(&registry),
                ingest: ingest.clone(),
                routes: Arc::clone(&routes),
                config: config.poll.clone(),
                permits: Arc::new(tokio::sync::Semaphore::new(config.poll.concurrency.max(1))),
            };
            tokio::spawn(tcp::serve(listener, tcp, rx.clone()));
        }
        tokio::spawn(monitor(Arc::clone(&presence), writer, rx));
        Ok(Self {
            registry,
            presence,
            delivery: Delivery {
                routes: Arc::clone(&routes),
                timeout: config.command_timeout,
            },
            routes,
            ingest,
            shutdown: Arc::new(shutdown),
        })
    }

    /// Stops accepting connections and polling.
    pub fn stop(&self) {
        let _ = self.shutdown.send(true);
    }
}

async fn watch_fleet(store: &dyn Store, presence: &Presence) -> Result<(), yufu_store::StoreError> {
    use yufu_store::journal::AlarmFilter;
    let now = jiff::Timestamp::now().as_millisecond();
    let mut open = std::collections::HashSet::new();
    let mut before = None;
    loop {
        let page = store
            .journal()
            .list_alarms(&AlarmFilter {
                kind: Some(presence::COMM_FAULT.to_owned()),
                open_only: true,
                before_id: before,
                limit: 10_000,
            })
            .await?;
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        open.extend(page.iter().map(|a| a.meter_id));
    }
    let mut orgs_page = yufu_store::Page::first(yufu_store::Page::MAX_LIMIT);
    loop {
        let orgs = store.list_organisations(&orgs_page).await?;
        let Some(last_org) = orgs.last() else { break };
        orgs_page = yufu_store::Page::after(last_org.id, yufu_store::Page::MAX_LIMIT);
        for org in &orgs {
            let filter = yufu_store::MeterFilter {
                status: Some(yufu_domain::MeterStatus::InService),
                ..Default::default()
            };
            let mut page = yufu_store::Page::first(yufu_store::Page::MAX_LIMIT);
            loop {
                let meters = store.list_meters(org.id, &filter, &page).await?;
                let Some(last) = meters.last() else { break };
                page = yufu_store::Page::after(last.id, yufu_store::Page::MAX_LIMIT);
                for m in &meters {
                    presence.watch(m.id, now, open.contains(&m.id));
                }
            }
        }
    }
    Ok(())
}

/// Raises `comm_fault` for meters gone silent, a few times per threshold.
async fn monitor(presence: Arc<Presence>, writer: Writer, mut shutdown: watch::Receiver<bool>) {
    let every =
        (presence.offline_after() / 4).clamp(Duration::from_millis(200), Duration::from_secs(30));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
        let alarms = presence.sweep(jiff::Timestamp::now().as_millisecond());
        if alarms.is_empty() {
            continue;
        }
        tracing::warn!(
            meters = alarms.len(),
            "meters went silent: communication fault"
        );
        metrics::counter!("yufu_comm_faults_total")
            .increment(u64::try_from(alarms.len()).unwrap_or(0));
        if writer.alarms(alarms, Vec::new()).await.is_err() {
            return;
        }
    }
}
