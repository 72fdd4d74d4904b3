//! The pricing core against billing.md: golden values for the Guangdong
//! examples and properties that must hold for any readings.
#![allow(clippy::unwrap_used)]

use jiff::Timestamp;
use jiff::civil::{Date, date};
use jiff::tz::TimeZone;
use proptest::prelude::*;
use yufu_domain::Utility;
use yufu_tariff::*;

fn tariff(tz: &str, versions: Vec<(Date, Pricing)>) -> Tariff {
    let tz_obj = TimeZone::get(tz).unwrap();
    Tariff {
        id: "t".into(),
        name: "test".into(),
        utility: Utility::Electricity,
        source: None,
        timezone: tz.into(),
        versions: versions
            .into_iter()
            .map(|(d, pricing)| TariffVersion {
                effective_date: d,
                effective_from: tz_obj.to_timestamp(d.at(0, 0, 0, 0)).unwrap(),
                pricing,
                fixed_charges: vec![],
            })
            .collect(),
        tz: tz_obj,
    }
}

fn month_tiers(winter: [u64; 2], summer: [u64; 2], prices: [i64; 3]) -> Tiers {
    let bounds = std::array::from_fn(|m| {
        let month = m + 1;
        if (5..=10).contains(&month) {
            summer.to_vec()
        } else {
            winter.to_vec()
        }
    });
    Tiers {
        period: TierPeriod {
            kind: PeriodKind::Month,
            start_month: 1,
        },
        bounds,
        prices: prices.iter().map(|p| Price(*p)).collect(),
    }
}

/// Guangdong residential: 200/400 kWh Nov–Apr, 260/600 kWh May–Oct.
fn residential() -> Pricer {
    Pricer::new(tariff(
        "Asia/Shanghai",
        vec![(
            date(2024, 1, 1),
            Pricing::Tiered(month_tiers(
                [200_000, 400_000],
                [260_000, 600_000],
                [5883, 6383, 8883],
            )),
        )],
    ))
}

fn flat(price: i64) -> Pricer {
    Pricer::new(tariff(
        "Asia/Shanghai",
        vec![(
            date(2024, 1, 1),
            Pricing::Flat {
                price: Price(price),
            },
        )],
    ))
}

fn span(from_h: u16, to_h: u16, band: Band) -> BandSpan {
    BandSpan {
        start_min: from_h * 60,
        end_min: to_h * 60,
        band,
    }
}

/// Pearl River Delta time-of-use, critical peak in July–September.
fn prd_schedule() -> TouSchedule {
    use Band::*;
    let normal = vec![
        span(0, 8, Valley),
        span(8, 10, Flat),
        span(10, 12, Peak),
        span(12, 14, Flat),
        span(14, 19, Peak),
        span(19, 24, Flat),
    ];
    let summer = vec![
        span(0, 8, Valley),
        span(8, 10, Flat),
        span(10, 11, Peak),
        span(11, 12, CriticalPeak),
        span(12, 14, Flat),
        span(14, 15, Peak),
        span(15, 17, CriticalPeak),
        span(17, 19, Peak),
        span(19, 24, Flat),
    ];
    TouSchedule {
        days: std::array::from_fn(|m| {
            if (6..=8).contains(&m) {
                summer.clone()
            } else {
                normal.clone()
            }
        }),
        prices: [
            Some(Price(12750)),
            Some(Price(10200)),
            Some(Price(6000)),
            Some(Price(2280)),
        ],
    }
}

fn tou(surcharge: Option<Tiers>) -> Pricer {
    Pricer::new(tariff(
        "Asia/Shanghai",
        vec![(
            date(2024, 1, 1),
            Pricing::TimeOfUse {
                schedule: prd_schedule(),
                surcharge,
            },
        )],
    ))
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn meter() -> MeterParams {
    MeterParams::default()
}

/// Prices a sequence of (instant, register) readings from an empty state;
/// returns the billed charges and the final state.
fn run(
    p: &Pricer,
    m: &MeterParams,
    readings: &[(Timestamp, u64)],
) -> (Vec<Charge>, BillingState, Vec<Verdict>) {
    let mut state = BillingState::default();
    let mut charges = vec![];
    let mut verdicts = vec![];
    for (t, r) in readings {
        let priced = p.price(m, &state, &Reading::new(*t, *r));
        if let Verdict::Billed(c) = &priced.verdict {
            charges.push(c.clone());
        }
        verdicts.push(priced.verdict);
        state = priced.state;
    }
    (charges, state, verdicts)
}

fn total(charges: &[Charge]) -> i64 {
    charges.iter().map(|c| c.total_fen).sum()
}

fn billed(v: &Verdict) -> &Charge {
    match v {
        Verdict::Billed(c) => c,
        other => panic!("expected billed, got {other:?}"),
    }
}

#[test]
fn golden_700_kwh_in_july_is_45881_fen() {
    let p = residential();
    let (charges, _, _) = run(
        &p,
        &meter(),
        &[
            (at("2026-07-01T00:00+08:00"), 0),
            (at("2026-08-01T00:00+08:00"), 700_000),
        ],
    );
    let c = &charges[0];
    assert_eq!(c.total_fen, 45881);
    let lines: Vec<(String, u64, i64, i64)> = c
        .lines
        .iter()
        .map(|l| (l.kind.label(), l.quantity, l.unit_price.0, l.amount_fen))
        .collect();
    assert_eq!(
        lines,
        vec![
            ("tier_1".into(), 260_000, 5883, 15296),
            ("tier_2".into(), 340_000, 6383, 21702),
            ("tier_3".into(), 100_000, 8883, 8883),
        ]
    );
    assert!(
        !c.apportioned,
        "a reading at 00:00 on 1 August closes July exactly"
    );
}

#[test]
fn golden_700_kwh_in_january_uses_winter_bounds() {
    let p = residential();
    let (charges, _, _) = run(
        &p,
        &meter(),
        &[
            (at("2026-01-01T00:00+08:00"), 0),
            (at("2026-01-31T23:00+08:00"), 700_000),
        ],
    );
    // 200 × 0.5883 + 200 × 0.6383 + 300 × 0.8883 = 511.81 yuan
    assert_eq!(charges[0].total_fen, 51181);
}

#[test]
fn tier_splits_at_exact_boundaries() {
    let p = residential();
    let t0 = at("2026-01-05T00:00+08:00");
    let (c, _, _) = run(
        &p,
        &meter(),
        &[(t0, 0), (at("2026-01-06T00:00+08:00"), 200_000)],
    );
    assert_eq!(c[0].lines.len(), 1);
    assert_eq!(
        (c[0].lines[0].kind, c[0].lines[0].quantity),
        (LineKind::Tier(1), 200_000)
    );
    let (c, _, _) = run(
        &p,
        &meter(),
        &[(t0, 0), (at("2026-01-06T00:00+08:00"), 200_001)],
    );
    assert_eq!(c[0].lines[1].kind, LineKind::Tier(2));
    assert_eq!(c[0].lines[1].quantity, 1);
    // Usage carries within the month: a second reading starts in tier 2.
    let (c, state, _) = run(
        &p,
        &meter(),
        &[
            (t0, 0),
            (at("2026-01-06T00:00+08:00"), 200_000),
            (at("2026-01-07T00:00+08:00"), 200_500),
        ],
    );
    assert_eq!(c[1].lines[0].kind, LineKind::Tier(2));
    assert_eq!(
        state.period,
        Some(PeriodUsage {
            start: date(2026, 1, 1),
            used: 200_500
        })
    );
    // …and resets in a new month.
    let (c, _, _) = run(
        &p,
        &meter(),
        &[
            (t0, 0),
            (at("2026-02-01T00:00+08:00"), 200_000),
            (at("2026-02-02T00:00+08:00"), 200_500),
        ],
    );
    assert_eq!(c[1].lines[0].kind, LineKind::Tier(1));
}

#[test]
fn reading_rules() {
    let p = flat(6000);
    let m = MeterParams {
        max_per_hour: Some(50_000),
        ..meter()
    };
    let t0 = at("2026-03-01T00:00+08:00");
    let t1 = at("2026-03-01T01:00+08:00");
    let mut state = BillingState::default();
    let opening = p.price(&m, &state, &Reading::new(t0, 1_000));
    assert_eq!(opening.verdict, Verdict::Opening);
    state = opening.state;
    let first = p.price(&m, &state, &Reading::new(t1, 2_000));
    assert_eq!(billed(&first.verdict).total_fen, 60); // 1 kWh × 0.60
    state = first.state;

    let dup = p.price(&m, &state, &Reading::new(t1, 2_000));
    assert_eq!((dup.verdict, dup.state), (Verdict::Duplicate, state));
    let conflict = p.price(&m, &state, &Reading::new(t1, 2_001));
    assert_eq!(
        conflict.verdict,
        Verdict::Conflict {
            billed_register: 2_000,
            register: 2_001
        }
    );
    assert_eq!(conflict.state, state);
    let old = p.price(&m, &state, &Reading::new(t0, 1_500));
    assert_eq!(old.verdict, Verdict::OutOfOrder { last_billed_at: t1 });
    assert_eq!(old.state, state);
    let t2 = at("2026-03-01T02:00+08:00");
    let back = p.price(&m, &state, &Reading::new(t2, 1_900));
    assert_eq!(
        back.verdict,
        Verdict::NegativeDelta {
            from: 2_000,
            to: 1_900
        }
    );
    assert_eq!(back.state, state);
    let jump = p.price(&m, &state, &Reading::new(t2, 2_000 + 50_001));
    assert_eq!(
        jump.verdict,
        Verdict::ImplausibleJump {
            quantity: 50_001,
            limit: 50_000
        }
    );
    assert_eq!(jump.state, state);
    let approved = p.price(
        &m,
        &state,
        &Reading {
            approved: true,
            ..Reading::new(t2, 2_000 + 50_001)
        },
    );
    assert_eq!(billed(&approved.verdict).quantity, 50_001);
    let huge = p.price(&m, &state, &Reading::new(t2, 1_000_000_000));
    assert!(matches!(huge.verdict, Verdict::RegisterOutOfRange { .. }));
    // The limit scales with the elapsed hours (rounded up).
    let t4 = at("2026-03-01T04:30+08:00");
    let ok = p.price(&m, &state, &Reading::new(t4, 2_000 + 4 * 50_000));
    assert_eq!(billed(&ok.verdict).quantity, 200_000);
}

#[test]
fn rollover_bills_the_wrapped_advance() {
    let p = flat(5883);
    let m = meter();
    let t0 = at("2026-03-01T00:00+08:00");
    let t1 = at("2026-03-02T00:00+08:00");
    let (wrapped, _, _) = run(&p, &m, &[(t0, 999_999_000), (t1, 500)]);
    let (plain, _, _) = run(&p, &m, &[(t0, 0), (t1, 1_500)]);
    assert!(wrapped[0].rollover);
    assert_eq!(wrapped[0].quantity, 1_500);
    assert_eq!(wrapped[0].total_fen, plain[0].total_fen);
    // Falling back far from the top is not a wrap.
    let (_, _, v) = run(&p, &m, &[(t0, 600_000_000), (t1, 500)]);
    assert!(matches!(v[1], Verdict::NegativeDelta { .. }));
}

#[test]
fn multiplier_scales_consumption() {
    let p = flat(10_000); // 1 yuan/kWh
    let m = MeterParams {
        multiplier: 40,
        ..meter()
    };
    let (c, _, _) = run(
        &p,
        &m,
        &[
            (at("2026-03-01T00:00+08:00"), 0),
            (at("2026-03-01T01:00+08:00"), 1_000),
        ],
    );
    assert_eq!((c[0].quantity, c[0].total_fen), (40_000, 4_000));
}

#[test]
fn versions_switch_exactly_at_their_instant() {
    let p = Pricer::new(tariff(
        "Asia/Shanghai",
        vec![
            (date(2024, 1, 1), Pricing::Flat { price: Price(5000) }),
            (date(2026, 7, 1), Pricing::Flat { price: Price(6000) }),
        ],
    ));
    let m = meter();
    let before = at("2026-06-30T00:00+08:00");
    let switch = at("2026-07-01T00:00+08:00");
    let after = at("2026-07-02T00:00+08:00");
    let (c, _, _) = run(&p, &m, &[(before, 0), (switch, 10_000), (after, 20_000)]);
    assert_eq!(
        (c[0].lines[0].unit_price, c[0].total_fen),
        (Price(5000), 500)
    );
    assert_eq!(
        (c[1].lines[0].unit_price, c[1].total_fen),
        (Price(6000), 600)
    );
    assert!(!c[0].apportioned && !c[1].apportioned);
    // Straddling the switch: apportioned by time, half at each price.
    let (c, _, _) = run(
        &p,
        &m,
        &[
            (at("2026-06-30T12:00+08:00"), 0),
            (at("2026-07-01T12:00+08:00"), 10_000),
        ],
    );
    assert!(c[0].apportioned);
    let q: Vec<(Price, u64)> = c[0]
        .lines
        .iter()
        .map(|l| (l.unit_price, l.quantity))
        .collect();
    assert_eq!(q, vec![(Price(5000), 5_000), (Price(6000), 5_000)]);
    assert_eq!(c[0].total_fen, 550);
}

#[test]
fn consumption_before_the_first_version_is_not_priced() {
    let p = Pricer::new(tariff(
        "Asia/Shanghai",
        vec![(date(2026, 7, 1), Pricing::Flat { price: Price(6000) })],
    ));
    let (c, state, v) = run(
        &p,
        &meter(),
        &[
            (at("2026-06-30T00:00+08:00"), 0),
            (at("2026-07-01T12:00+08:00"), 1_000),
            (at("2026-07-02T12:00+08:00"), 3_000),
        ],
    );
    assert!(matches!(
        v[1],
        Verdict::NoTariff {
            quantity: 1_000,
            ..
        }
    ));
    assert_eq!(c.len(), 1, "the meter is not stuck: the next reading bills");
    assert_eq!(c[0].quantity, 2_000);
    assert_eq!(state.last.unwrap().register, 3_000);
}

#[test]
fn gaps_across_months_split_by_time_and_reset_tiers() {
    let p = residential();
    // 15 June 00:00 → 15 July 00:00: 15 days in June, 14 in July … 30 days.
    let (c, state, _) = run(
        &p,
        &meter(),
        &[
            (at("2026-06-16T00:00+08:00"), 0),
            (at("2026-07-16T00:00+08:00"), 600_000),
        ],
    );
    assert!(c[0].apportioned);
    let q: u64 = c[0].lines.iter().map(|l| l.quantity).sum();
    assert_eq!(q, 600_000);
    // Half the time in each month: 300 kWh each, each month's tiers from zero.
    assert_eq!(
        c[0].lines[0].quantity, 520_000,
        "260 kWh of tier 1 in June plus 260 in July"
    );
    assert_eq!(
        state.period,
        Some(PeriodUsage {
            start: date(2026, 7, 1),
            used: 300_000
        })
    );
}

#[test]
fn time_of_use_prices_the_bands() {
    let p = tou(None);
    // 06:00 → 12:00 on a March day: 2 h valley, 2 h flat, 2 h peak.
    let (c, _, _) = run(
        &p,
        &meter(),
        &[
            (at("2026-03-02T06:00+08:00"), 0),
            (at("2026-03-02T12:00+08:00"), 6_000),
        ],
    );
    let q: Vec<(String, u64)> = c[0]
        .lines
        .iter()
        .map(|l| (l.kind.label(), l.quantity))
        .collect();
    assert_eq!(
        q,
        vec![
            ("valley".into(), 2_000),
            ("flat".into(), 2_000),
            ("peak".into(), 2_000)
        ]
    );
    assert!(c[0].apportioned);
    // July 11:00–12:00 is critical peak.
    let (c, _, _) = run(
        &p,
        &meter(),
        &[
            (at("2026-07-02T11:00+08:00"), 0),
            (at("2026-07-02T12:00+08:00"), 1_000),
        ],
    );
    assert_eq!(
        (c[0].lines[0].kind, c[0].total_fen),
        (LineKind::Band(Band::CriticalPeak), 128)
    );
}

#[test]
fn per_rate_registers_are_used_when_present() {
    let p = tou(None);
    let m = meter();
    let t0 = at("2026-03-02T00:00+08:00");
    let t1 = at("2026-03-03T00:00+08:00");
    let s0 = p
        .price(
            &m,
            &BillingState::default(),
            &Reading {
                rates: Some(RateRegisters([0, 0, 0, 0])),
                ..Reading::new(t0, 0)
            },
        )
        .state;
    let r = p.price(
        &m,
        &s0,
        &Reading {
            rates: Some(RateRegisters([0, 1_000, 2_000, 3_000])),
            ..Reading::new(t1, 6_000)
        },
    );
    let c = billed(&r.verdict);
    assert!(c.used_rate_registers);
    let q: Vec<(String, u64)> = c
        .lines
        .iter()
        .map(|l| (l.kind.label(), l.quantity))
        .collect();
    assert_eq!(
        q,
        vec![
            ("peak".into(), 1_000),
            ("flat".into(), 2_000),
            ("valley".into(), 3_000)
        ]
    );
    // 1 × 1.02 + 2 × 0.60 + 3 × 0.228 = 2.904 yuan
    assert_eq!(c.total_fen, 290);
}

#[test]
fn surcharge_tiers_ride_on_top_of_bands() {
    let surcharge = Tiers {
        period: TierPeriod {
            kind: PeriodKind::Month,
            start_month: 1,
        },
        bounds: std::array::from_fn(|_| vec![1_000]),
        prices: vec![Price(0), Price(1000)],
    };
    let p = tou(Some(surcharge));
    let (c, _, _) = run(
        &p,
        &meter(),
        &[
            (at("2026-03-02T00:00+08:00"), 0),
            (at("2026-03-02T04:00+08:00"), 3_000),
        ],
    );
    let q: Vec<(String, u64)> = c[0]
        .lines
        .iter()
        .map(|l| (l.kind.label(), l.quantity))
        .collect();
    assert_eq!(
        q,
        vec![
            ("valley".into(), 3_000),
            ("surcharge_tier_1".into(), 1_000),
            ("surcharge_tier_2".into(), 2_000)
        ]
    );
    // 3 × 0.228 + 2 × 0.1 = 0.884 yuan
    assert_eq!(c[0].total_fen, 88);
}

#[test]
fn dst_zones_make_progress_and_conserve() {
    let p = Pricer::new(tariff(
        "America/New_York",
        vec![(
            date(2024, 1, 1),
            Pricing::TimeOfUse {
                schedule: prd_schedule(),
                surcharge: None,
            },
        )],
    ));
    // Across the spring-forward gap and the autumn fold.
    for (a, b) in [
        ("2026-03-07T12:00Z", "2026-03-10T12:00Z"),
        ("2026-10-31T12:00Z", "2026-11-03T12:00Z"),
    ] {
        let (c, _, _) = run(&p, &meter(), &[(at(a), 0), (at(b), 72_001)]);
        assert_eq!(c[0].lines.iter().map(|l| l.quantity).sum::<u64>(), 72_001);
    }
}

#[test]
fn fixed_charges_fall_due_once_per_period() {
    let mut t = tariff(
        "Asia/Shanghai",
        vec![(date(2024, 1, 1), Pricing::Flat { price: Price(1) })],
    );
    t.versions[0].fixed_charges = vec![
        FixedCharge {
            name: "monthly".into(),
            every: FixedEvery::Month,
            amount: yufu_domain::Fen(200),
        },
        FixedCharge {
            name: "daily".into(),
            every: FixedEvery::Day,
            amount: yufu_domain::Fen(10),
        },
    ];
    let due = fixed_charges_due(
        &t,
        at("2026-01-30T12:00+08:00"),
        at("2026-02-02T00:00+08:00"),
    );
    let got: Vec<(Date, String)> = due.into_iter().map(|(d, c)| (d, c.name)).collect();
    assert_eq!(
        got,
        vec![
            (date(2026, 1, 31), "daily".into()),
            (date(2026, 2, 1), "monthly".into()),
            (date(2026, 2, 1), "daily".into()),
            (date(2026, 2, 2), "daily".into()),
        ]
    );
}

/// Increments that sum to a month's consumption, with instants inside July.
fn july_readings(increments: &[(u32, u64)]) -> Vec<(Timestamp, u64)> {
    let start = at("2026-07-01T00:00+08:00");
    let mut out = vec![(start, 0u64)];
    let mut t = start;
    let mut reg = 0;
    for (secs, q) in increments {
        t = t
            .checked_add(jiff::SignedDuration::from_secs(i64::from(*secs)))
            .unwrap();
        reg += q;
        out.push((t, reg));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Incremental billing does not drift: many small readings cost exactly
    /// what one reading at the end does (within one tier period).
    #[test]
    fn many_small_readings_equal_one(increments in prop::collection::vec((1u32..3_000, 0u64..40_000), 1..400), flat_price in 1i64..20_000) {
        let readings = july_readings(&increments);
        let last = *readings.last().unwrap();
        for p in [residential(), flat(flat_price)] {
            let (many, s_many, _) = run(&p, &meter(), &readings);
            let (one, s_one, _) = run(&p, &meter(), &[readings[0], last]);
            prop_assert_eq!(total(&many), total(&one));
            prop_assert_eq!(s_many.period, s_one.period);
            prop_assert_eq!(s_many.carry, s_one.carry);
        }
    }

    /// With per-rate registers, time-of-use billing does not drift either.
    #[test]
    fn many_small_rate_readings_equal_one(increments in prop::collection::vec((1u32..3_000, [0u64..5_000, 0u64..5_000, 0u64..5_000, 0u64..5_000]), 1..200)) {
        let p = tou(None);
        let m = meter();
        let start = at("2026-07-01T00:00+08:00");
        let mut readings = vec![Reading { rates: Some(RateRegisters([0; 4])), ..Reading::new(start, 0) }];
        let (mut t, mut rates) = (start, [0u64; 4]);
        for (secs, q) in &increments {
            t = t.checked_add(jiff::SignedDuration::from_secs(i64::from(*secs))).unwrap();
            for b in 0..4 { rates[b] += q[b]; }
            readings.push(Reading { rates: Some(RateRegisters(rates)), ..Reading::new(t, rates.iter().sum()) });
        }
        let price_all = |rs: &[Reading]| {
            let mut s = BillingState::default();
            let mut fen = 0;
            for r in rs {
                let priced = p.price(&m, &s, r);
                if let Verdict::Billed(c) = &priced.verdict { fen += c.total_fen; }
                s = priced.state;
            }
            fen
        };
        let last = *readings.last().unwrap();
        prop_assert_eq!(price_all(&readings), price_all(&[readings[0], last]));
    }

    /// The posted fen always equal the exact total rounded half-up.
    #[test]
    fn posted_fen_equal_the_rounded_exact_total(increments in prop::collection::vec((1u32..100_000, 0u64..3_000), 1..300), price in 1i64..20_000) {
        let p = flat(price);
        let readings = july_readings(&increments);
        let (charges, state, _) = run(&p, &meter(), &readings);
        let quantity: u64 = charges.iter().map(|c| c.quantity).sum();
        let exact = i128::from(quantity) * i128::from(price);
        prop_assert_eq!(i128::from(total(&charges)), round_half_up(exact));
        prop_assert!((-50_000..50_000).contains(&state.carry));
        for c in &charges {
            prop_assert_eq!(c.lines.iter().map(|l| l.amount_fen).sum::<i64>(), c.total_fen);
        }
    }

    /// Duplicates (same instant, same value) change nothing, however many.
    #[test]
    fn duplicates_change_nothing(increments in prop::collection::vec((1u32..3_000, 0u64..40_000), 1..100), dups in prop::collection::vec(0usize..100, 0..50)) {
        let p = residential();
        let readings = july_readings(&increments);
        let mut with_dups = readings.clone();
        for d in dups {
            let i = d % readings.len();
            let pos = with_dups.iter().position(|r| *r == readings[i]).unwrap();
            with_dups.insert(pos + 1, readings[i]);
        }
        let (a, sa, _) = run(&p, &meter(), &readings);
        let (b, sb, vb) = run(&p, &meter(), &with_dups);
        prop_assert_eq!(total(&a), total(&b));
        prop_assert_eq!(sa, sb);
        prop_assert_eq!(vb.iter().filter(|v| **v == Verdict::Duplicate).count(), with_dups.len() - readings.len());
    }

    /// A wrapped register bills exactly the unrolled advance.
    #[test]
    fn rollover_equals_the_unrolled_delta(before_top in 1u64..1_000_000, after in 0u64..1_000_000, price in 1i64..20_000) {
        let p = flat(price);
        let m = meter();
        let t0 = at("2026-03-01T00:00+08:00");
        let t1 = at("2026-03-02T00:00+08:00");
        let (w, _, _) = run(&p, &m, &[(t0, m.register_modulus - before_top), (t1, after)]);
        let (u, _, _) = run(&p, &m, &[(t0, 0), (t1, before_top + after)]);
        prop_assert_eq!(w[0].quantity, before_top + after);
        prop_assert_eq!(w[0].total_fen, u[0].total_fen);
    }

    /// Apportioning over bands, months and tiers conserves the quantity.
    #[test]
    fn time_of_use_apportioning_conserves_quantity(start_min in 0i64..(365 * 24 * 60), len_min in 1i64..(40 * 24 * 60), quantity in 0u64..10_000_000) {
        let surcharge = month_tiers([200_000, 400_000], [260_000, 600_000], [0, 500, 3000]);
        let p = tou(Some(surcharge));
        let t0 = at("2026-01-01T00:00+08:00").checked_add(jiff::SignedDuration::from_mins(start_min)).unwrap();
        let t1 = t0.checked_add(jiff::SignedDuration::from_mins(len_min)).unwrap();
        let (c, _, _) = run(&p, &meter(), &[(t0, 0), (t1, quantity)]);
        let bands: u64 = c[0].lines.iter().filter(|l| matches!(l.kind, LineKind::Band(_))).map(|l| l.quantity).sum();
        let tiers: u64 = c[0].lines.iter().filter(|l| matches!(l.kind, LineKind::Surcharge(_))).map(|l| l.quantity).sum();
        prop_assert_eq!(bands, quantity);
        prop_assert_eq!(tiers, quantity);
        prop_assert_eq!(c[0].lines.iter().map(|l| l.amount_fen).sum::<i64>(), c[0].total_fen);
    }
}
