//! `yufu lifecycle …`: the device lifecycle from the command line, through
//! the same services as the API (`yufu_lifecycle::service`), so every gate
//! holds here too. Changes are audited as `cli:$USER`. What needs the
//! running engine (installation, commissioning, swaps, removal of an
//! installed meter) is refused here: use the API or the console while
//! `yufu serve` runs.
//!
//! - `yufu lifecycle show SERIAL` — the device, its warranty and its whole
//!   history (who, when, why).
//! - `yufu lifecycle serials DELIVERY FILE [--dry-run]` — import a delivery's
//!   serial numbers; every bad row is printed as `line N, column C: message`
//!   and nothing is written (exit 2).
//! - `yufu lifecycle move SERIAL ACTION --reason TEXT` — a simple move
//!   (return_to_supplier, stock, report_fault, start_repair, repair,
//!   restock, retire).
//! - `yufu lifecycle contract ID|NUMBER` — a contract's delivery progress
//!   and its deliveries (with the ids `serials` takes).
//! - `yufu lifecycle suppliers` — the supplier scorecards.
//! - `yufu lifecycle due` — the devices due for replacement, and why.

use std::path::Path;

use anyhow::Context as _;
use yufu_domain::lifecycle::Action;
use yufu_domain::{ContractId, DeliveryId, MeterId, OrganisationId};
use yufu_lifecycle::service::{self, Ctx, LifecycleError};
use yufu_store::Store;

use crate::config::Config;

/// The civil day in Guangzhou (the organisations' default zone).
fn today(now: jiff::Timestamp) -> jiff::civil::Date {
    jiff::tz::TimeZone::get("Asia/Shanghai")
        .map(|tz| tz.to_datetime(now).date())
        .unwrap_or_else(|_| jiff::tz::TimeZone::UTC.to_datetime(now).date())
}

fn actor() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    )
}

/// What a CLI lifecycle run needs: the store, the organisation, the actor.
struct Cli {
    store: std::sync::Arc<dyn Store>,
    org: OrganisationId,
    actor: String,
    now: jiff::Timestamp,
}

impl Cli {
    async fn open(config: &Config, organisation: Option<&str>) -> anyhow::Result<Cli> {
        let store = crate::run::open_store(config).await?;
        let org = crate::access_cmd::organisation(store.as_ref(), organisation).await?;
        Ok(Cli {
            store,
            org,
            actor: actor(),
            now: jiff::Timestamp::now(),
        })
    }

    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            store: self.store.as_ref(),
            writer: None,
            org: self.org,
            actor: &self.actor,
            // The operator at the machine: may do what an admin may, except
            // what needs a second person (contract approval is API-only).
            role: "cli",
            now: self.now,
            today: today(self.now),
        }
    }

    async fn meter(&self, serial: &str) -> anyhow::Result<MeterId> {
        let serial = serial.parse().map_err(|e| anyhow::anyhow!("serial: {e}"))?;
        match self.store.find_meter_by_serial(self.org, &serial).await? {
            Some(m) => Ok(m.id),
            None => anyhow::bail!("no meter with serial {serial}"),
        }
    }
}

fn lifecycle_err(e: LifecycleError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

fn ms(at_ms: i64) -> String {
    jiff::Timestamp::from_millisecond(at_ms)
        .map(|t| {
            jiff::tz::TimeZone::get("Asia/Shanghai")
                .map(|tz| tz.to_datetime(t).strftime("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_else(|_| t.to_string())
        })
        .unwrap_or_else(|_| at_ms.to_string())
}

/// `yufu lifecycle show SERIAL`.
pub async fn show(config: Config, serial: &str, organisation: Option<&str>) -> anyhow::Result<()> {
    let cli = Cli::open(&config, organisation).await?;
    let meter = cli.meter(serial).await?;
    let v = service::device_view(&cli.ctx(), meter)
        .await
        .map_err(lifecycle_err)?;
    let d = &v.device;
    println!("serial:    {}", d.serial);
    println!("utility:   {}  model: {}", d.utility, d.model_name);
    println!("state:     {}", d.state);
    if let Some(w) = d.warranty_ends_on {
        let running = if v.under_warranty == Some(true) {
            "running"
        } else {
            "ended"
        };
        println!("warranty:  until {w} ({running})");
    }
    println!(
        "faults:    {}  days in the field: {}",
        d.faults, d.field_days
    );
    let next: Vec<&str> = v.next_actions.iter().map(|a| a.as_str()).collect();
    println!(
        "next:      {}",
        if next.is_empty() {
            "none (final)".to_owned()
        } else {
            next.join(", ")
        }
    );
    println!("history:");
    for e in &v.history {
        println!(
            "  {}  {:>12} → {:<12} {:<18} {:<20} {}",
            ms(e.at_ms),
            e.from_state.map_or("", |s| s.as_str()),
            e.to_state.as_str(),
            e.action,
            e.actor,
            e.reason
        );
    }
    cli.store.close().await;
    Ok(())
}

/// `yufu lifecycle serials DELIVERY FILE [--dry-run]`: exits 2 (through
/// [`crate::import_cmd::ProblemsFound`]-like handling) when the file has problems.
pub async fn serials(
    config: Config,
    delivery: &str,
    file: &Path,
    dry_run: bool,
    organisation: Option<&str>,
) -> anyhow::Result<()> {
    let delivery: DeliveryId = delivery
        .parse()
        .map_err(|e| anyhow::anyhow!("delivery: {e}"))?;
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let cli = Cli::open(&config, organisation).await?;
    let report = service::import_serials(&cli.ctx(), delivery, &bytes, dry_run)
        .await
        .map_err(lifecycle_err)?;
    if !report.problems.is_empty() {
        for p in &report.problems {
            let column = p
                .column
                .as_deref()
                .map(|c| format!(", column {c}"))
                .unwrap_or_default();
            eprintln!("line {}{column}: {}", p.line, p.message);
        }
        cli.store.close().await;
        return Err(SerialProblems(report.problems.len()).into());
    }
    if !dry_run {
        crate::access_cmd::audit(
            cli.store.as_ref(),
            "lifecycle serials",
            &format!("delivery:{delivery}"),
            Some(serde_json::json!({"devices": report.devices.len()})),
        )
        .await?;
    }
    cli.store.close().await;
    let verb = if dry_run { "would receive" } else { "received" };
    println!(
        "{verb} {} devices ({} rows)",
        report.devices.len(),
        report.rows
    );
    Ok(())
}

/// The serial file has problems (each printed already): nothing was
/// written. `main` exits with 2 for it.
#[derive(Debug, thiserror::Error)]
#[error("{0} problem(s) in the serials file: nothing was imported")]
pub struct SerialProblems(pub usize);

/// `yufu lifecycle move SERIAL ACTION --reason TEXT`.
pub async fn move_device(
    config: Config,
    serial: &str,
    action: &str,
    reason: &str,
    organisation: Option<&str>,
) -> anyhow::Result<()> {
    let action: Action = action.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let cli = Cli::open(&config, organisation).await?;
    let meter = cli.meter(serial).await?;
    let d = service::act(&cli.ctx(), meter, action, reason)
        .await
        .map_err(lifecycle_err)?;
    crate::access_cmd::audit(
        cli.store.as_ref(),
        "lifecycle move",
        &format!("meter:{meter}"),
        Some(serde_json::json!({"action": action.as_str(), "state": d.state.as_str(), "reason": reason})),
    )
    .await?;
    cli.store.close().await;
    println!("{}: {}", d.serial, d.state);
    Ok(())
}

/// `yufu lifecycle contract ID`.
pub async fn contract(
    config: Config,
    given: &str,
    organisation: Option<&str>,
) -> anyhow::Result<()> {
    let cli = Cli::open(&config, organisation).await?;
    // An id, or the operator's contract number (HT-2026-0001).
    let id: ContractId = match given.parse() {
        Ok(id) => id,
        Err(_) => match service::list_contracts(&cli.ctx())
            .await
            .map_err(lifecycle_err)?
            .into_iter()
            .find(|c| c.number == given)
        {
            Some(c) => c.id,
            None => anyhow::bail!("no contract has the id or number {given}"),
        },
    };
    let v = service::contract_view(&cli.ctx(), id)
        .await
        .map_err(lifecycle_err)?;
    println!(
        "contract {}  supplier {}  {}  total {} yuan",
        v.contract.number,
        v.supplier_name,
        v.contract.status,
        yufu_domain::Fen(v.total_fen)
    );
    println!(
        "line  model                      ordered delivered awaiting accepted rejected returned outstanding"
    );
    for l in &v.lines {
        println!(
            "{:>4}  {:<26} {:>7} {:>9} {:>8} {:>8} {:>8} {:>8} {:>11}",
            l.line.line_no,
            l.model,
            l.ordered,
            l.delivered,
            l.awaiting_check,
            l.accepted,
            l.rejected,
            l.returned,
            l.outstanding
        );
    }
    // The deliveries' ids are what `yufu lifecycle serials` takes.
    for d in &v.deliveries {
        println!(
            "delivery {}  note {}  delivered on {}",
            d.id, d.note_number, d.delivered_on
        );
    }
    cli.store.close().await;
    Ok(())
}

/// `yufu lifecycle suppliers`.
pub async fn suppliers(config: Config, organisation: Option<&str>) -> anyhow::Result<()> {
    let cli = Cli::open(&config, organisation).await?;
    let cards = service::scorecards(&cli.ctx())
        .await
        .map_err(lifecycle_err)?;
    println!(
        "{:<30} {:>5} {:>9} {:>9} {:>14}",
        "supplier", "score", "pass‰", "on-time‰", "faults/1000dy"
    );
    for c in &cards {
        let opt = |v: Option<u32>| v.map_or("-".to_owned(), |v| v.to_string());
        println!(
            "{:<30} {:>5} {:>9} {:>9} {:>14}",
            c.supplier.name,
            opt(c.score.score),
            opt(c.score.acceptance_pass_permille),
            opt(c.score.on_time_permille),
            c.score
                .faults_per_1000_device_years_tenths
                .map_or("-".to_owned(), yufu_domain::evaluation::tenths),
        );
    }
    cli.store.close().await;
    Ok(())
}

/// `yufu lifecycle due`.
pub async fn due(config: Config, organisation: Option<&str>) -> anyhow::Result<()> {
    let cli = Cli::open(&config, organisation).await?;
    let due = service::due_for_replacement(&cli.ctx(), &Default::default())
        .await
        .map_err(lifecycle_err)?;
    for d in &due {
        let reasons: Vec<String> = d
            .reasons
            .iter()
            .map(|r| serde_json::to_string(r).unwrap_or_default())
            .collect();
        println!("{}  {}  {}", d.serial, d.utility, reasons.join(" "));
    }
    println!("{} device(s) due for replacement", due.len());
    cli.store.close().await;
    Ok(())
}
