//! `yufu bench ingest`: the real writer and store, in-process, on a fresh
//! database, driven as hard as producers can. Prints progress on stderr and
//! one JSON line on stdout; fails if the ledger invariant does not hold.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use jiff::Timestamp;
use tokio::task::JoinSet;
use yufu_domain::balance::{BalancePolicy, ProtectedWindows};
use yufu_domain::command::CommandKind;
use yufu_domain::{AccountId, Fen, MeterId, Utility};
use yufu_engine::{ReadingIn, ReadingResult, RechargeIn};
use yufu_store::Store;
use yufu_tariff::MeterParams;
use yufu_writer::{ConfigChange, WriterConfig};

/// A tiered (阶梯) residential tariff on every account.
const TARIFF: &str =
    include_str!("../../../examples/tariffs/guangdong-residential-electricity.toml");
/// Readings per producer request (a concentrator's upload).
const PER_REQUEST: usize = 1_000;
/// Requests in flight at once.
const IN_FLIGHT: usize = 64;
/// Accounts with a real cut-off level, recharged afterwards to time the
/// recharge → reconnect path.
const RECONNECT_SAMPLES: usize = 1_000;

#[derive(Debug, Clone)]
pub struct Args {
    pub meters: usize,
    pub readings: usize,
    pub database: Option<String>,
}

pub async fn ingest(args: Args) -> anyhow::Result<()> {
    if args.meters == 0 || args.readings == 0 {
        bail!("--meters and --readings must be at least 1");
    }
    let (store, cleanup) = fresh_store(args.database.as_deref()).await?;
    let result = run(store.clone(), &args).await;
    store.close().await;
    cleanup.finish().await;
    let line = result?;
    println!("{line}");
    Ok(())
}

/// The writer as the benchmarks run it: no checkpoints (timed separately)
/// and no scheduler ticks in the way.
pub(crate) fn writer_config() -> WriterConfig {
    WriterConfig {
        checkpoint_every: 0,
        checkpoint_on_shutdown: false,
        tick_every: Duration::from_secs(3600),
        ..WriterConfig::default()
    }
}

/// The benchmark site (`bench`) and its tiered tariff (`bench/tiered`).
pub(crate) async fn configure_site(writer: &yufu_writer::Writer) -> anyhow::Result<()> {
    writer
        .configure(vec![
            ConfigChange::Site {
                key: "bench".into(),
                windows: ProtectedWindows::default(),
                tz: "Asia/Shanghai".into(),
            },
            ConfigChange::Tariff {
                key: "bench/tiered".into(),
                revision: 1,
                toml: TARIFF.into(),
            },
        ])
        .await?;
    Ok(())
}

async fn run(store: Arc<dyn Store>, args: &Args) -> anyhow::Result<serde_json::Value> {
    let config = writer_config();
    let (writer, task) = yufu_writer::start(store.clone(), config.clone()).await?;
    let started = Instant::now();
    // Fleet: one site, one tariff, an account per meter.
    let ids: Vec<(AccountId, MeterId)> = (0..args.meters)
        .map(|_| (AccountId::new(), MeterId::new()))
        .collect();
    let no_cutoff = BalancePolicy::new(vec![], Fen(-1_000_000_000_000))?;
    let cutoff_at_zero = BalancePolicy::new(vec![Fen(500)], Fen(0))?;
    configure_site(&writer).await?;
    let epoch = Timestamp::from_second(1_767_225_600)?; // 2026-01-01T00:00:00Z
    for (n, chunk) in ids.chunks(5_000).enumerate() {
        let mut changes = Vec::with_capacity(chunk.len() * 2);
        for (i, (account, meter)) in chunk.iter().enumerate() {
            let policy = if n * 5_000 + i < RECONNECT_SAMPLES {
                cutoff_at_zero.clone()
            } else {
                no_cutoff.clone()
            };
            changes.push(ConfigChange::Account {
                id: *account,
                policy,
                site: "bench".into(),
            });
            changes.push(ConfigChange::Meter {
                id: *meter,
                account: *account,
                utility: Utility::Electricity,
                params: MeterParams::default(),
                tariff: "bench/tiered".into(),
                from_ms: epoch.as_millisecond(),
                shared: None,
            });
        }
        writer.configure(changes).await?;
    }
    eprintln!(
        "fleet: {} meters configured in {:.1}s",
        args.meters,
        started.elapsed().as_secs_f64()
    );

    // Readings: round r gives every meter a reading an hour after the last,
    // 1.5 kWh more (so the tiers fill up over the rounds).
    let meters: Arc<Vec<MeterId>> = Arc::new(ids.iter().map(|(_, m)| *m).collect());
    // Only the sampled accounts are needed from here on; the rest of the
    // bench's own bookkeeping is not the engine's memory.
    let mut ids = ids;
    ids.truncate(RECONNECT_SAMPLES);
    ids.shrink_to_fit();
    let total = args.readings;
    let started = Instant::now();
    let mut last_report = Instant::now();
    let mut inflight = JoinSet::new();
    let mut sent = 0usize;
    let mut done = 0usize;
    let mut accepted = 0usize;
    while done < total {
        let n = meters.len();
        // A meter's readings must arrive in order: a round starts only when
        // the one before it is complete.
        while sent < total
            && inflight.len() < IN_FLIGHT
            && (!sent.is_multiple_of(n) || done == sent)
        {
            let from = sent;
            let round_end = (sent / n + 1) * n;
            let to = (sent + PER_REQUEST).min(total).min(round_end);
            sent = to;
            let meters = meters.clone();
            let writer = writer.clone();
            inflight.spawn(async move {
                let n = meters.len();
                let batch: Vec<ReadingIn> = (from..to)
                    .map(|i| {
                        let round = i / n;
                        let r = u64::try_from(round).unwrap_or(0);
                        ReadingIn {
                            meter: meters[i % n],
                            at: epoch
                                + jiff::SignedDuration::from_hours(
                                    i64::try_from(round).unwrap_or(0) + 1,
                                ),
                            register: (r + 1) * 1_500,
                            rates: None,
                        }
                    })
                    .collect();
                writer.ingest(batch).await
            });
        }
        let Some(joined) = inflight.join_next().await else {
            break;
        };
        let results = joined.context("producer task")??;
        done += results.len();
        accepted += results
            .iter()
            .filter(|r| matches!(r, ReadingResult::Accepted(_)))
            .count();
        if let Some(bad) = results
            .iter()
            .find(|r| !matches!(r, ReadingResult::Accepted(_)))
        {
            bail!("a reading was not accepted: {bad:?}");
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            last_report = Instant::now();
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "readings: {done}/{total} ({:.0}%), {:.0}/s",
                percent(done, total),
                ratio(done, secs)
            );
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let rss_mb_ingest = rss_mb();
    eprintln!("readings: {done} in {seconds:.2}s; checking the ledger…");

    // Recharge → reconnect: the sampled accounts were cut off by their billed
    // reading; a recharge must queue the reconnect in the same commit.
    let mut latencies = Vec::new();
    if total > args.meters {
        for (account, meter) in ids.iter().take(RECONNECT_SAMPLES) {
            let t = Instant::now();
            writer
                .recharge(RechargeIn {
                    account: *account,
                    amount: Fen(100_000),
                    channel: "bench".into(),
                    reference: format!("bench-{account}"),
                    key: format!("bench-{account}"),
                })
                .await?;
            latencies.push(t.elapsed());
            let view = writer.meter(*meter).await?.context("sampled meter")?;
            if !view.pending.iter().any(|c| c.kind == CommandKind::Close) {
                bail!(
                    "recharge of {account} queued no reconnect (pending: {:?})",
                    view.pending
                );
            }
        }
    }
    latencies.sort();

    // The invariant: every balance is the sum of its entries, both in the
    // store and in the engine.
    let totals = store.journal().ledger_totals().await?;
    let mut checked = 0usize;
    for t in &totals {
        if t.sum_fen != t.last_balance_fen || t.entries != t.max_seq {
            bail!("ledger broken for {}: {t:?}", t.account_id);
        }
        let view = writer
            .account(t.account_id)
            .await?
            .context("account in engine")?;
        if view.balance_fen != t.sum_fen {
            bail!(
                "engine balance {} differs from the ledger sum {} for {}",
                view.balance_fen,
                t.sum_fen,
                t.account_id
            );
        }
        checked += 1;
    }
    let stored = store.journal().readings_count().await?;
    if usize::try_from(stored).unwrap_or(0) != accepted {
        bail!("{accepted} readings accepted but {stored} stored");
    }
    drop(writer);
    let _ = task.handle.await;

    // Restarts: what an operator waits for after a crash (the whole journal
    // replayed), the cost of a checkpoint, and a restart from it.
    let sample = ids.first().map(|(a, _)| *a);
    let expect = sample.and_then(|a| totals.iter().find(|t| t.account_id == a).map(|t| t.sum_fen));
    drop(totals);
    let rss_mb_verify = self::rss_mb();
    reset_peak_rss();
    eprintln!("restart: replaying the whole journal…");
    let t = Instant::now();
    let (writer, task) = yufu_writer::start(store.clone(), config.clone()).await?;
    let replay_seconds = t.elapsed().as_secs_f64();
    let replayed = task.recovered.replayed;
    check_sample(&writer, sample, expect).await?;
    eprintln!("checkpoint…");
    let t = Instant::now();
    writer.checkpoint().await?;
    let checkpoint_seconds = t.elapsed().as_secs_f64();
    drop(writer);
    let _ = task.handle.await;
    eprintln!("restart from the checkpoint…");
    let t = Instant::now();
    let (writer, task) = yufu_writer::start(store.clone(), config).await?;
    let restore_seconds = t.elapsed().as_secs_f64();
    check_sample(&writer, sample, expect).await?;
    drop(writer);
    let _ = task.handle.await;
    let rss_mb_restarts = self::rss_mb();
    Ok(serde_json::json!({
        "backend": store.backend().as_str(),
        "meters": args.meters,
        "readings": done,
        "seconds": round3(seconds),
        "readings_per_sec": ratio(done, seconds).round(),
        "rss_mb": rss_mb_ingest,
        "ledger_accounts_checked": checked,
        "recharge_to_reconnect_ms_p50": quantile_ms(&latencies, 50),
        "recharge_to_reconnect_ms_p99": quantile_ms(&latencies, 99),
        "recharge_samples": latencies.len(),
        "restart_replayed_records": replayed,
        "restart_replay_seconds": round3(replay_seconds),
        "checkpoint_seconds": round3(checkpoint_seconds),
        "restart_from_checkpoint_seconds": round3(restore_seconds),
        "rss_mb_peak_verifying": rss_mb_verify,
        "rss_mb_peak_restarts": rss_mb_restarts,
    }))
}

async fn check_sample(
    writer: &yufu_writer::Writer,
    account: Option<AccountId>,
    expect: Option<i64>,
) -> anyhow::Result<()> {
    if let (Some(a), Some(fen)) = (account, expect) {
        let view = writer.account(a).await?.context("account after restart")?;
        if view.balance_fen != fen {
            bail!(
                "after a restart {a} has {} fen, its ledger says {fen}",
                view.balance_fen
            );
        }
    }
    Ok(())
}

#[allow(clippy::float_arithmetic, clippy::cast_precision_loss)]
fn ratio(n: usize, secs: f64) -> f64 {
    if secs > 0.0 { n as f64 / secs } else { 0.0 }
}

#[allow(clippy::float_arithmetic, clippy::cast_precision_loss)]
fn percent(n: usize, total: usize) -> f64 {
    n as f64 * 100.0 / total as f64
}

#[allow(clippy::float_arithmetic)]
fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

#[allow(clippy::float_arithmetic)]
fn quantile_ms(sorted: &[Duration], q: usize) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = (sorted.len() * q).div_ceil(100).clamp(1, sorted.len()) - 1;
    Some(round3(sorted[i].as_secs_f64() * 1000.0))
}

/// Starts a new peak for [`rss_mb`] (Linux: writing 5 to clear_refs resets
/// VmHWM), so each phase's peak is its own.
pub(crate) fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident set of this process in MiB (Linux), else 0.
pub(crate) fn rss_mb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

pub(crate) enum Cleanup {
    Dir(tempfile::TempDir),
    Schema { url: String, schema: String },
}

impl Cleanup {
    pub(crate) async fn finish(self) {
        match self {
            Cleanup::Dir(dir) => drop(dir),
            Cleanup::Schema { url, schema } => {
                if let Err(e) = yufu_store_postgres::PostgresStore::drop_schema(&url, &schema).await
                {
                    eprintln!("warning: could not drop schema {schema}: {e}");
                }
            }
        }
    }
}

/// SQLite in a temporary directory, or a fresh schema in the PostgreSQL
/// database of `url` (dropped afterwards).
pub(crate) async fn fresh_store(url: Option<&str>) -> anyhow::Result<(Arc<dyn Store>, Cleanup)> {
    match url {
        Some(url) if url.starts_with("postgres") => {
            let schema = format!("yufu_bench_{}", uuid_simple());
            let store = yufu_store_postgres::PostgresStore::connect_fresh_schema(url, &schema)
                .await
                .context("cannot make a fresh schema in PostgreSQL")?;
            store.migrate().await?;
            store.set_vault(bench_vault()?);
            eprintln!("database: PostgreSQL, schema {schema} (dropped at the end)");
            Ok((
                Arc::new(store),
                Cleanup::Schema {
                    url: url.to_owned(),
                    schema,
                },
            ))
        }
        Some(url) => {
            let store = yufu_store_sqlite::SqliteStore::connect(url).await?;
            store.migrate().await?;
            store.set_vault(bench_vault()?);
            let tail = store.journal().tail().await?;
            if tail.seq != 0 {
                bail!("{url} already holds a journal; the benchmark needs a fresh database");
            }
            let dir = tempfile::tempdir()?;
            eprintln!("database: SQLite {url}");
            Ok((Arc::new(store), Cleanup::Dir(dir)))
        }
        None => {
            let dir = tempfile::tempdir()?;
            let path = dir.path().join("bench.sqlite");
            let store = yufu_store_sqlite::SqliteStore::open(&path).await?;
            store.migrate().await?;
            store.set_vault(bench_vault()?);
            eprintln!("database: SQLite {} (deleted at the end)", path.display());
            Ok((Arc::new(store), Cleanup::Dir(dir)))
        }
    }
}

fn uuid_simple() -> String {
    MeterId::new().to_string().replace('-', "")
}

/// A throwaway key for benchmark stores (their personal data is generated).
fn bench_vault() -> anyhow::Result<std::sync::Arc<yufu_store::Vault>> {
    let line = yufu_store::Vault::generate_key_line("bench").map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(std::sync::Arc::new(
        yufu_store::Vault::from_key_text(&line).map_err(|e| anyhow::anyhow!("{e}"))?,
    ))
}
