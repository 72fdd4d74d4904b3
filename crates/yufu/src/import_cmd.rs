//! `yufu import KIND FILE [--organisation ID] [--dry-run]`: the bulk CSV
//! import of `POST /api/v1/import/{kind}` from the command line, with the
//! same checks and writes (`yufu_server::bulk_api::import`). The layouts are
//! in yufu-csvio's README.
//!
//! Every problem of the file is printed as `row N, column C: message`
//! (messages never quote personal data) and the command exits 2 without
//! writing anything ([`ProblemsFound`]). Otherwise the rows are written with a progress bar on
//! stderr (when it is a terminal). A write that fails part-way is not rolled
//! back: the error names the failed row and what was written before it.
//!
//! Meters with an account and a tariff are billed once the engine loads
//! them: at the next start of `yufu serve` (its start-up reconcile). While a
//! server is running, import meters through the API instead, which hands
//! them to the running engine at once.

use std::path::Path;

use anyhow::Context as _;
use yufu_domain::OrganisationId;
use yufu_server::bulk_api::{self, Kind};
use yufu_store::Store;

use crate::config::Config;

/// The organisation to import into: an id, an existing organisation's name,
/// or the only one there is. Never creates one.
async fn organisation(store: &dyn Store, given: Option<&str>) -> anyhow::Result<OrganisationId> {
    if let Some(g) = given {
        if let Ok(id) = g.parse::<OrganisationId>() {
            return Ok(store
                .get_organisation(id)
                .await
                .with_context(|| format!("--organisation {g}"))?
                .id);
        }
        let name = g
            .parse()
            .map_err(|e| anyhow::anyhow!("--organisation: {e}"))?;
        return match store.find_organisation_by_name(&name).await? {
            Some(o) => Ok(o.id),
            None => anyhow::bail!("--organisation: no organisation is called {g}"),
        };
    }
    let orgs = store
        .list_organisations(&yufu_store::Page::first(2))
        .await?;
    match orgs.as_slice() {
        [one] => Ok(one.id),
        [] => anyhow::bail!(
            "no organisation yet: create one first (e.g. `yufu user add --organisation NAME …`)"
        ),
        _ => anyhow::bail!("several organisations: pass --organisation ID or NAME"),
    }
}

/// The file has problems (each printed already): nothing was imported.
/// `main` exits with 2 (a bad input file) for it.
#[derive(Debug, thiserror::Error)]
#[error("{count} problem(s) in the {kind} file ({encoding} encoding): nothing was imported")]
pub struct ProblemsFound {
    pub count: usize,
    pub kind: Kind,
    pub encoding: String,
}

/// Runs the import; [`ProblemsFound`] when the file has problems.
pub async fn run(
    config: Config,
    kind: &str,
    file: &Path,
    organisation_arg: Option<&str>,
    dry_run: bool,
) -> anyhow::Result<()> {
    let kind: Kind = kind.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let store = crate::run::open_store(&config).await?;
    let result = import(store.as_ref(), kind, bytes, organisation_arg, dry_run).await;
    store.close().await;
    result
}

#[allow(
    clippy::print_stdout,
    reason = "the problems and the summary are the command's output"
)]
async fn import(
    store: &dyn Store,
    kind: Kind,
    bytes: Vec<u8>,
    organisation_arg: Option<&str>,
    dry_run: bool,
) -> anyhow::Result<()> {
    let org = organisation(store, organisation_arg).await?;
    let mut bar: Option<indicatif::ProgressBar> = None;
    let progress = |done: usize, total: usize| {
        let bar = bar.get_or_insert_with(|| {
            let style = indicatif::ProgressStyle::with_template(
                "{spinner} {bar:40} {pos}/{len} rows  {elapsed_precise}  eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            indicatif::ProgressBar::new(total as u64).with_style(style)
        });
        bar.set_position(done as u64);
    };
    let report = bulk_api::import(
        store,
        None,
        org,
        kind,
        bytes::Bytes::from(bytes),
        dry_run,
        progress,
    )
    .await
    .context("cannot import")?;
    if let Some(bar) = bar.take() {
        bar.finish_and_clear();
    }

    for problem in &report.problems {
        println!("{problem}");
    }
    for warning in &report.warnings {
        eprintln!("note: {warning}");
    }
    if report.written > 0 {
        crate::access_cmd::audit(
            store,
            &format!("import {kind}"),
            &format!("organisation:{org}"),
            Some(serde_json::json!({
                "rows": report.rows,
                "written": report.written,
                "committed": report.committed,
                "failed_row": report.failure.as_ref().map(|f| f.row),
            })),
        )
        .await?;
    }
    if let Some(failure) = &report.failure {
        anyhow::bail!("{failure}");
    }
    if !report.problems.is_empty() {
        return Err(ProblemsFound {
            count: report.problems.len(),
            kind,
            encoding: report.encoding,
        }
        .into());
    }
    if dry_run {
        println!(
            "{} {kind} row(s) checked ({} encoding), no problem: nothing written (dry run)",
            report.rows, report.encoding
        );
    } else {
        println!(
            "imported {} {kind} row(s) ({} encoding) into organisation {org}",
            report.written, report.encoding
        );
    }
    Ok(())
}
