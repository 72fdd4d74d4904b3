//! `yufu tariff check` and `yufu tariff quote`: operators explaining a bill.

use std::path::Path;

use anyhow::Context as _;
use jiff::Timestamp;
use yufu_tariff::{ChargeLine, LineKind, MeterParams, Price, Pricer, Reading, Tariff, Verdict};

/// Reads and parses a tariff file; errors name the file and line.
pub fn load(path: &Path) -> anyhow::Result<Tariff> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read tariff file {}", path.display()))?;
    yufu_tariff::parse_tariff(&path.display().to_string(), &text)
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// `yufu tariff check FILE`.
pub fn check(path: &Path) -> anyhow::Result<()> {
    let tariff = load(path)?;
    println!("{} is valid.\n", path.display());
    println!("{}", yufu_tariff::summary::describe(&tariff));
    Ok(())
}

/// Options of `yufu tariff quote` that describe the meter.
#[derive(Debug, Clone, Copy)]
pub struct QuoteMeter {
    pub multiplier: u32,
    pub register_capacity: u64,
    pub max_per_hour: Option<u64>,
}

/// One parsed CSV row: its line in the file, instant and register.
#[derive(Debug)]
struct Row {
    line: u64,
    at: Timestamp,
    register: u64,
}

fn read_rows(path: &Path) -> anyhow::Result<Vec<Row>> {
    let name = path.display().to_string();
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read readings file {name}"))?;
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(file);
    let headers = reader
        .headers()
        .with_context(|| format!("{name}: cannot read the header"))?
        .clone();
    let columns: Vec<&str> = headers.iter().collect();
    if columns != ["time", "register"] {
        anyhow::bail!(
            "{name} line 1: the header must be `time,register`, found `{}`",
            columns.join(",")
        );
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, csv::Position::line);
            anyhow::anyhow!(
                "{name} line {line}: {}",
                e.to_string().lines().next().unwrap_or("malformed CSV")
            )
        })?;
        let line = record.position().map_or(0, csv::Position::line);
        let time = record.get(0).unwrap_or("");
        let register = record.get(1).unwrap_or("");
        let at: Timestamp = time.parse().map_err(|e| {
            anyhow::anyhow!("{name} line {line}, column time: '{time}' is not an RFC 3339 instant with an offset like 2026-07-01T00:00:00+08:00 ({e})")
        })?;
        let register: u64 = register.parse().map_err(|_| {
            anyhow::anyhow!("{name} line {line}, column register: '{register}' is not a whole number of base units (Wh or litres)")
        })?;
        rows.push(Row { line, at, register });
    }
    if rows.is_empty() {
        anyhow::bail!("{name}: no readings; the first row is the opening reading");
    }
    Ok(rows)
}

#[derive(serde::Serialize)]
struct QuoteLine {
    kind: String,
    quantity: u64,
    unit_price: String,
    amount_fen: i64,
}

#[derive(serde::Serialize)]
struct Note {
    line: u64,
    time: String,
    register: u64,
    verdict: String,
    reason: String,
}

#[derive(serde::Serialize)]
struct Quote {
    tariff: String,
    quantity_unit: &'static str,
    quantity: u64,
    total_fen: i64,
    lines: Vec<QuoteLine>,
    /// Readings that were billed by time apportioning across bands, months or versions.
    apportioned_lines: Vec<u64>,
    notes: Vec<Note>,
}

/// `yufu tariff quote --tariff FILE --readings CSV`: prices the readings in
/// order from the first (the opening reading) and prints one JSON object.
pub fn quote(tariff_path: &Path, readings_path: &Path, meter: QuoteMeter) -> anyhow::Result<()> {
    let tariff = load(tariff_path)?;
    let rows = read_rows(readings_path)?;
    if meter.register_capacity == 0 {
        anyhow::bail!("--register-capacity must be above 0");
    }
    let params = MeterParams {
        multiplier: meter.multiplier,
        register_modulus: meter.register_capacity,
        max_per_hour: meter.max_per_hour,
    };
    let quantity_unit = match tariff.utility {
        yufu_domain::Utility::Electricity => "Wh",
        yufu_domain::Utility::Water | yufu_domain::Utility::Gas => "L",
    };
    let pricer = Pricer::new(tariff);
    let mut state = yufu_tariff::BillingState::default();
    let mut lines: Vec<(LineKind, Price, u64, i64)> = Vec::new();
    let mut quote = Quote {
        tariff: pricer.tariff().id.clone(),
        quantity_unit,
        quantity: 0,
        total_fen: 0,
        lines: Vec::new(),
        apportioned_lines: Vec::new(),
        notes: Vec::new(),
    };
    for row in &rows {
        let priced = pricer.price(&params, &state, &Reading::new(row.at, row.register));
        match &priced.verdict {
            Verdict::Billed(charge) => {
                quote.quantity += charge.quantity;
                quote.total_fen += charge.total_fen;
                if charge.apportioned {
                    quote.apportioned_lines.push(row.line);
                }
                for ChargeLine {
                    kind,
                    quantity,
                    unit_price,
                    amount_fen,
                    ..
                } in &charge.lines
                {
                    match lines
                        .iter_mut()
                        .find(|(k, p, _, _)| k == kind && p == unit_price)
                    {
                        Some(l) => {
                            l.2 += quantity;
                            l.3 += amount_fen;
                        }
                        None => lines.push((*kind, *unit_price, *quantity, *amount_fen)),
                    }
                }
            }
            Verdict::Opening => {}
            other => {
                let verdict = serde_json::to_value(other)
                    .ok()
                    .and_then(|v| v.get("verdict").and_then(|x| x.as_str()).map(str::to_owned))
                    .unwrap_or_default();
                quote.notes.push(Note {
                    line: row.line,
                    time: row.at.to_string(),
                    register: row.register,
                    verdict,
                    reason: other.explain(),
                });
            }
        }
        state = priced.state;
    }
    quote.lines = lines
        .into_iter()
        .map(|(kind, price, quantity, amount_fen)| QuoteLine {
            kind: kind.label(),
            quantity,
            unit_price: price.to_string(),
            amount_fen,
        })
        .collect();
    println!(
        "{}",
        serde_json::to_string_pretty(&quote).context("cannot encode the quote")?
    );
    Ok(())
}
