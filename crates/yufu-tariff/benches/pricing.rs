//! Pricing throughput per reading for each tariff kind, on the shipped
//! example tariffs: a month of 15-minute readings priced in sequence, the
//! state carried from one to the next as the engine does.
//!
//!   cargo bench -p yufu-tariff --bench pricing

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use jiff::{SignedDuration, Timestamp};
use yufu_tariff::{BillingState, MeterParams, Pricer, RateRegisters, Reading, parse_tariff};

const READINGS: usize = 2_880; // 30 days × 96 quarter-hours

fn pricer(name: &str, text: &str) -> Pricer {
    Pricer::new(parse_tariff(name, text).unwrap_or_else(|e| panic!("{e}")))
}

fn readings(with_rates: bool) -> Vec<Reading> {
    let start: Timestamp = "2026-07-01T00:00:00+08:00"
        .parse()
        .unwrap_or(Timestamp::UNIX_EPOCH);
    (0..=READINGS)
        .map(|i| {
            let n = u64::try_from(i).unwrap_or(0);
            let at = start
                .checked_add(SignedDuration::from_mins(
                    15 * i64::try_from(i).unwrap_or(0),
                ))
                .unwrap_or(start);
            // 250 Wh a quarter-hour: 720 kWh in the month, crossing every tier.
            let register = n * 250;
            let rates = with_rates.then(|| RateRegisters([n * 20, n * 80, n * 90, n * 60]));
            Reading {
                at,
                register,
                rates,
                approved: false,
            }
        })
        .collect()
}

fn price_month(p: &Pricer, m: &MeterParams, rs: &[Reading]) -> i64 {
    let mut state = BillingState::default();
    let mut fen = 0;
    for r in rs {
        let priced = p.price(m, &state, r);
        if let yufu_tariff::Verdict::Billed(c) = &priced.verdict {
            fen += c.total_fen;
        }
        state = priced.state;
    }
    fen
}

fn bench(c: &mut Criterion) {
    let flat_text = r#"
id = "bench-flat"
name = "flat"
utility = "electricity"
[[version]]
effective_from = 2024-01-01
kind = "flat"
price = "0.6000"
"#;
    let flat = pricer("flat", flat_text);
    let tiered = pricer(
        "residential",
        include_str!("../../../examples/tariffs/guangdong-residential-electricity.toml"),
    );
    let tou = pricer(
        "tou",
        include_str!("../../../examples/tariffs/guangdong-commercial-tou.toml"),
    );
    let meter = MeterParams {
        max_per_hour: Some(100_000),
        ..MeterParams::default()
    };
    let plain = readings(false);
    let rated = readings(true);

    let mut g = c.benchmark_group("price_reading");
    g.throughput(Throughput::Elements(
        u64::try_from(plain.len()).unwrap_or(1),
    ));
    g.bench_function("flat", |b| {
        b.iter(|| price_month(black_box(&flat), &meter, black_box(&plain)))
    });
    g.bench_function("tiered", |b| {
        b.iter(|| price_month(black_box(&tiered), &meter, black_box(&plain)))
    });
    g.bench_function("tou_apportioned", |b| {
        b.iter(|| price_month(black_box(&tou), &meter, black_box(&plain)))
    });
    g.bench_function("tou_rate_registers", |b| {
        b.iter(|| price_month(black_box(&tou), &meter, black_box(&rated)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
