//! The engine core's own cost per reading: price, post the consumption
//! entry, apply the balance rules — no IO. 10 000 meters on 10 000 accounts
//! with the Guangdong residential tiered tariff, readings every 15 minutes
//! round-robin over the meters, as a fleet would send them.
//!
//!   cargo bench -p yufu-engine --bench core

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use yufu_domain::balance::{BalancePolicy, ProtectedWindows, Supply};
use yufu_domain::command::RetryPolicy;
use yufu_domain::{AccountId, Fen, MeterId, Utility};
use yufu_engine::{AccountSetup, Engine, MeterSetup, ReadingIn};
use yufu_tariff::{MeterParams, parse_tariff};

const METERS: usize = 10_000;
const ROUNDS: usize = 4;

fn engine() -> (Engine, Vec<MeterId>) {
    let mut engine = Engine::new(RetryPolicy::default());
    let text = include_str!("../../../examples/tariffs/guangdong-residential-electricity.toml");
    engine.add_tariff(parse_tariff("res", text).unwrap_or_else(|e| panic!("{e}")));
    engine.add_site("s", ProtectedWindows::default(), TimeZone::UTC);
    let mut meters = Vec::with_capacity(METERS);
    for _ in 0..METERS {
        let account = AccountId::new();
        let policy =
            BalancePolicy::new(vec![Fen(2000)], Fen::ZERO).unwrap_or_else(|e| panic!("{e}"));
        let setup = AccountSetup {
            id: account,
            balance: Fen(1_000_000),
            last_seq: 0,
            policy,
            site: "s".into(),
            supply: Supply::On,
        };
        engine.add_account(setup).unwrap_or_else(|e| panic!("{e}"));
        let id = MeterId::new();
        let meter = MeterSetup {
            id,
            account,
            utility: Utility::Electricity,
            params: MeterParams::default(),
            tariff: "guangdong-residential-electricity".into(),
            billing: Default::default(),
            fixed_charges_from: Timestamp::UNIX_EPOCH,
            shared: None,
        };
        engine.add_meter(meter).unwrap_or_else(|e| panic!("{e}"));
        meters.push(id);
    }
    (engine, meters)
}

fn bench(c: &mut Criterion) {
    let start: Timestamp = "2026-07-01T00:00:00+08:00"
        .parse()
        .unwrap_or(Timestamp::UNIX_EPOCH);
    let mut g = c.benchmark_group("engine_core");
    g.throughput(Throughput::Elements(
        u64::try_from(METERS * ROUNDS).unwrap_or(1),
    ));
    g.sample_size(20);
    g.bench_function("ingest_tiered_10k_meters", |b| {
        b.iter_batched(
            engine,
            |(mut engine, meters)| {
                let mut posted = 0usize;
                for round in 0..ROUNDS {
                    let at = start
                        .checked_add(SignedDuration::from_mins(
                            15 * i64::try_from(round).unwrap_or(0),
                        ))
                        .unwrap_or(start);
                    let register = u64::try_from(round).unwrap_or(0) * 250;
                    for m in &meters {
                        let (_, out) = engine.ingest(
                            &ReadingIn {
                                meter: *m,
                                at,
                                register,
                                rates: None,
                            },
                            at,
                        );
                        posted += out.entries.len();
                    }
                }
                black_box(posted)
            },
            criterion::BatchSize::LargeInput,
        );
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
