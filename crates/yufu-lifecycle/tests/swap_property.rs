//! Meter swap with data migration (issue 8): a property test that no
//! consumption is lost or billed twice across a swap, and that the bill is
//! the same as if one meter had seen it all (tier-period usage and sub-fen
//! carry continue on the new meter), with a real SQLite store and the real
//! writer; and examples of the refusals, which change nothing.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use yufu_domain::{
    Account, AccountId, AreaCentiSqm, CustomerClass, CustomerKind, Fen, Meter, MeterId,
    MeterProtocol, Multiplier, NewAccount, NewBuilding, NewCustomer, NewMeter, NewOrganisation,
    NewSite, NewTariffRevision, NewUnit, OrganisationId, TimeZoneName, Unit, UnitKind, Utility,
};
use yufu_engine::{ReadingIn, ReadingResult, RechargeIn};
use yufu_lifecycle::swap::{SwapError, SwapOutcome, SwapPlan, migrate};
use yufu_store::Store;
use yufu_store::journal::EntryRow;
use yufu_store_contract::TestDb;
use yufu_tariff::Verdict;
use yufu_writer::{Writer, WriterConfig, WriterTask};

/// Tiered by month with narrow tiers (20 / 50 kWh), so a few weeks of
/// readings cross both boundaries and a month boundary resets them.
const TIERED: &str = r#"
id = "swap-tiered"
name = "swap test, tiered"
utility = "electricity"
timezone = "Asia/Shanghai"
source = "test"

[[version]]
effective_from = 2024-01-01
kind = "tiered"
period = "month"
prices = ["0.5883", "0.6383", "0.8883"]

[[version.bounds]]
upper = [20, 50]
"#;

/// Time-of-use (apportioned by time over the bands) with a tiered adder.
const TOU: &str = r#"
id = "swap-tou"
name = "swap test, time of use with a tiered surcharge"
utility = "electricity"
timezone = "Asia/Shanghai"
source = "test"

[[version]]
effective_from = 2024-01-01
kind = "time_of_use"

[version.prices]
peak = "1.0200"
flat = "0.6000"
valley = "0.2280"

[[version.schedule]]
months = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
bands = [
  { from = "00:00", to = "08:00", band = "valley" },
  { from = "08:00", to = "10:00", band = "flat" },
  { from = "10:00", to = "12:00", band = "peak" },
  { from = "12:00", to = "14:00", band = "flat" },
  { from = "14:00", to = "19:00", band = "peak" },
  { from = "19:00", to = "24:00", band = "flat" },
]

[version.surcharge]
period = "month"
prices = ["0.0100", "0.0500", "0.3000"]

[[version.surcharge.bounds]]
upper = [20, 50]
"#;

/// Cases of the property: each builds a SQLite store and two households and
/// runs a few hundred writer round trips (about a quarter of a second a
/// case in debug; 300 cases passed once by hand).
const CASES: u32 = 32;

fn parsed<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.parse().expect("a valid test value")
}

fn ok<T, E: std::fmt::Debug>(r: Result<T, E>, what: &str) -> T {
    r.unwrap_or_else(|e| panic!("{what}: {e:?}"))
}

fn config() -> WriterConfig {
    WriterConfig {
        checkpoint_every: 0,
        checkpoint_on_shutdown: false,
        tick_every: Duration::from_secs(3600),
        ..WriterConfig::default()
    }
}

/// A store and a writer with one organisation, its tariff and a site; each
/// household gets a unit, an account and a meter.
struct World {
    db: TestDb,
    store: Arc<dyn Store>,
    writer: Writer,
    task: WriterTask,
    org: OrganisationId,
    building: yufu_domain::BuildingId,
    tariff: String,
    serial: u32,
}

/// A unit, its account and the meter on it.
struct Household {
    unit: Unit,
    account: Account,
    meter: Meter,
}

impl World {
    async fn new(toml: &str) -> Self {
        let db = TestDb::sqlite().await;
        let store = db.shared();
        let org = ok(
            store
                .create_organisation(&NewOrganisation {
                    name: parsed("Swap Org"),
                })
                .await,
            "organisation",
        );
        let tariff = ok(yufu_tariff::parse_tariff("t", toml), "tariff");
        ok(
            store
                .add_tariff_revision(&NewTariffRevision {
                    organisation_id: org.id,
                    code: parsed(&tariff.id),
                    utility: tariff.utility,
                    name: tariff.name.clone(),
                    source_toml: toml.to_owned(),
                })
                .await,
            "tariff revision",
        );
        let site = ok(
            store
                .create_site(&NewSite {
                    organisation_id: org.id,
                    code: parsed("S1"),
                    name: parsed("Site"),
                    city: parsed("广州"),
                    timezone: TimeZoneName::shanghai(),
                })
                .await,
            "site",
        );
        let building = ok(
            store
                .create_building(&NewBuilding {
                    site_id: site.id,
                    code: parsed("A"),
                    name: parsed("A"),
                    floors: 9,
                })
                .await,
            "building",
        );
        let (writer, task) = ok(
            yufu_writer::start(Arc::clone(&store), config()).await,
            "writer",
        );
        Self {
            db,
            store,
            writer,
            task,
            org: org.id,
            building: building.id,
            tariff: tariff.id,
            serial: 0,
        }
    }

    async fn meter(&mut self, utility: Utility) -> Meter {
        self.serial += 1;
        ok(
            self.store
                .create_meter(&NewMeter {
                    organisation_id: self.org,
                    serial: parsed(&format!("SW-{}", self.serial)),
                    utility,
                    model: parsed("model"),
                    protocol: MeterProtocol::Mqtt,
                    comm_address: parsed(&format!("{:012}", self.serial)),
                    multiplier: ok(Multiplier::new(1), "multiplier"),
                })
                .await,
            "meter",
        )
    }

    /// A new household with its meter installed and billed.
    async fn household(&mut self) -> Household {
        self.serial += 1;
        let n = self.serial;
        let unit = ok(
            self.store
                .create_unit(&NewUnit {
                    building_id: self.building,
                    code: parsed(&format!("A-{n}")),
                    floor: 1,
                    kind: UnitKind::Residential,
                    area: ok(AreaCentiSqm::new(9000), "area"),
                })
                .await,
            "unit",
        );
        let customer = ok(
            self.store
                .create_customer(&ok(
                    NewCustomer::new(self.org, CustomerKind::Person, "陈伟", None, None, None),
                    "customer",
                ))
                .await,
            "customer",
        );
        let account = ok(
            self.store
                .create_account(&NewAccount {
                    organisation_id: self.org,
                    number: parsed(&format!("SW{n:04}")),
                    customer_id: customer.id,
                    class: CustomerClass::Residential,
                })
                .await,
            "account",
        );
        let meter = self.meter(Utility::Electricity).await;
        ok(
            self.store
                .assign_meter(meter.id, Some(unit.id), Some(account.id))
                .await,
            "assign",
        );
        ok(
            self.store
                .set_meter_tariff(meter.id, Some(&parsed(&self.tariff)))
                .await,
            "tariff",
        );
        ok(
            yufu_writer::sync::sync_meter(self.store.as_ref(), &self.writer, meter.id).await,
            "sync",
        );
        let meter = ok(self.store.get_meter(meter.id).await, "meter");
        Household {
            unit,
            account,
            meter,
        }
    }

    async fn read(&self, meter: MeterId, at: Timestamp, register: u64) -> ReadingResult {
        let mut results = ok(
            self.writer
                .ingest(vec![ReadingIn {
                    meter,
                    at,
                    register,
                    rates: None,
                }])
                .await,
            "ingest",
        );
        results.pop().expect("one answer per reading")
    }

    async fn recharge(&self, account: AccountId, amount: i64, key: &str) {
        ok(
            self.writer
                .recharge(RechargeIn {
                    account,
                    amount: Fen(amount),
                    channel: "counter".into(),
                    reference: format!("ref-{key}"),
                    key: key.into(),
                })
                .await,
            "recharge",
        );
    }

    async fn balance(&self, account: AccountId) -> i64 {
        ok(self.writer.account(account).await, "account")
            .expect("the account is loaded")
            .balance_fen
    }

    /// The account's ledger, newest first.
    async fn ledger(&self, account: AccountId) -> Vec<EntryRow> {
        let head = ok(self.writer.account(account).await, "account").and_then(|a| a.ledger_head);
        match head {
            Some(head) => ok(
                self.store.journal().ledger_chain(head, 100_000).await,
                "ledger",
            ),
            None => Vec::new(),
        }
    }

    /// A meter's billed readings as stored in the journal, oldest first.
    async fn stored_billed(&self, meter: MeterId) -> Vec<Billed> {
        let head = ok(self.writer.meter(meter).await, "meter").and_then(|m| m.readings_head);
        let Some(head) = head else {
            return Vec::new();
        };
        let mut rows = ok(
            self.store.journal().reading_chain(head, 100_000).await,
            "readings",
        );
        rows.reverse();
        rows.iter()
            .filter(|r| r.verdict == "billed")
            .map(|r| {
                (
                    Timestamp::from_millisecond(r.at_ms).expect("a stored instant"),
                    u64::try_from(r.quantity.unwrap_or(0)).expect("a quantity"),
                    r.charge_fen.unwrap_or(0),
                )
            })
            .collect()
    }

    /// The highest journal position: unchanged means nothing was written.
    async fn tail(&self) -> i64 {
        ok(self.store.journal().tail().await, "tail").seq
    }

    /// Stops the writer and starts it again from the store (from a
    /// checkpoint, or by replaying the whole journal).
    async fn restart(self, checkpoint: bool) -> Self {
        if checkpoint {
            ok(self.writer.checkpoint().await, "checkpoint");
        }
        let World {
            db,
            store,
            writer,
            task,
            org,
            building,
            tariff,
            serial,
        } = self;
        drop(writer);
        ok(task.handle.await, "writer task");
        let (writer, task) = ok(
            yufu_writer::start(Arc::clone(&store), config()).await,
            "restart",
        );
        Self {
            db,
            store,
            writer,
            task,
            org,
            building,
            tariff,
            serial,
        }
    }

    async fn finish(self) {
        drop(self.writer);
        ok(self.task.handle.await, "writer task");
        drop(self.store);
        self.db.finish().await;
    }
}

/// One step of the consumption: time since the previous reading, the
/// register advance, whether the reading is sent twice, a recharge after it.
#[derive(Clone, Debug)]
struct Step {
    minutes: i64,
    advance: u64,
    resend: bool,
    recharge: Option<i64>,
}

/// A stale reading from the old device after the swap: an earlier one sent
/// again, or one after the final reading (minutes later, register advance).
#[derive(Clone, Debug)]
enum Stale {
    Earlier(prop::sample::Index),
    Later { minutes: i64, advance: u64 },
}

#[derive(Clone, Debug)]
struct Case {
    tou: bool,
    steps: Vec<Step>,
    swap: prop::sample::Index,
    /// Minutes between the final and the opening reading (no consumption).
    gap: i64,
    old_base: u64,
    continuous_base: u64,
    new_opening: u64,
    /// The old device had sent its final reading itself before the swap.
    final_already_read: bool,
    /// `migrate` is called a second time (a retry after success).
    retry: bool,
    /// The writer restarts after the swap: `Some(true)` from a checkpoint,
    /// `Some(false)` by replaying the journal.
    restart: Option<bool>,
    stale: Vec<Stale>,
}

fn step() -> impl Strategy<Value = Step> {
    (
        30i64..=5_760,
        prop_oneof![2 => Just(0u64), 8 => 0u64..=6_000],
        prop::bool::weighted(0.2),
        prop::option::weighted(0.15, 1i64..=30_000),
    )
        .prop_map(|(minutes, advance, resend, recharge)| Step {
            minutes,
            advance,
            resend,
            recharge,
        })
}

fn case() -> impl Strategy<Value = Case> {
    (
        (
            any::<bool>(),
            prop::collection::vec(step(), 2..24),
            any::<prop::sample::Index>(),
            0i64..=20,
        ),
        (0u64..900_000_000, 0u64..900_000_000, 0u64..999_000_000),
        (
            prop::bool::weighted(0.3),
            prop::bool::weighted(0.3),
            prop::option::weighted(0.3, any::<bool>()),
        ),
        prop::collection::vec(
            prop_oneof![
                any::<prop::sample::Index>().prop_map(Stale::Earlier),
                (1i64..=10_000, 0u64..=3_000)
                    .prop_map(|(minutes, advance)| Stale::Later { minutes, advance }),
            ],
            0..5,
        ),
    )
        .prop_map(
            |(
                (tou, steps, swap, gap),
                (old_base, continuous_base, new_opening),
                (final_already_read, retry, restart),
                stale,
            )| Case {
                tou,
                steps,
                swap,
                gap,
                old_base,
                continuous_base,
                new_opening,
                final_already_read,
                retry,
                restart,
                stale,
            },
        )
}

/// What billing said about one reading: (instant, quantity, fen).
type Billed = (Timestamp, u64, i64);

fn billed(at: Timestamp, verdict: &ReadingResult) -> Option<Billed> {
    match verdict {
        ReadingResult::Accepted(Verdict::Billed(c)) => Some((at, c.quantity, c.total_fen)),
        _ => None,
    }
}

/// Drops zero charges (a reading with no consumption bills nothing either way).
fn nonzero(v: Vec<Billed>) -> Vec<Billed> {
    v.into_iter()
        .filter(|(_, q, f)| *q != 0 || *f != 0)
        .collect()
}

fn total(v: &[Billed]) -> (u64, i64) {
    v.iter().fold((0, 0), |(q, f), b| (q + b.1, f + b.2))
}

async fn run(case: Case) {
    let start: Timestamp = parsed("2025-06-20T00:00:00+08:00");
    let mut world = World::new(if case.tou { TOU } else { TIERED }).await;
    let continuous = world.household().await;
    let swapped = world.household().await;
    let new_meter = world.meter(Utility::Electricity).await;
    // The opening balance.
    for h in [&continuous, &swapped] {
        world.recharge(h.account.id, 100_000, "opening").await;
    }
    let mut recharged = 100_000i64;

    // The readings: r_0 (each meter's opening), then one per step.
    let mut times = vec![start];
    let mut used = vec![0u64];
    for s in &case.steps {
        let last = times[times.len() - 1];
        times.push(last + SignedDuration::from_mins(s.minutes));
        used.push(used[used.len() - 1] + s.advance);
    }
    let n = times.len();
    let k = case.swap.index(n);
    let opening_at = times[k] + SignedDuration::from_mins(case.gap);
    let recharge_after = |i: usize| case.steps.get(i.wrapping_sub(1)).and_then(|s| s.recharge);
    let resend = |i: usize| i > 0 && case.steps[i - 1].resend;

    // (a) One meter sees it all; at the swap instant it reads the same
    // register again, as the new meter's opening reading starts there.
    let mut a = Vec::new();
    for i in 0..n {
        let register = case.continuous_base + used[i];
        let r = world.read(continuous.meter.id, times[i], register).await;
        a.extend(billed(times[i], &r));
        if resend(i) {
            let again = world.read(continuous.meter.id, times[i], register).await;
            assert!(
                billed(times[i], &again).is_none(),
                "a resent reading billed"
            );
        }
        if i == k {
            let r = world.read(continuous.meter.id, opening_at, register).await;
            a.extend(billed(opening_at, &r));
        }
        if let Some(fen) = recharge_after(i) {
            world
                .recharge(continuous.account.id, fen, &format!("r{i}"))
                .await;
        }
    }

    // (b) The old meter up to the swap, the new one after it.
    let old = swapped.meter.id;
    let account = swapped.account.id;
    let mut b = Vec::new();
    let mut keys = vec!["opening".to_owned()];
    for i in 0..k {
        let register = case.old_base + used[i];
        let r = world.read(old, times[i], register).await;
        b.extend(billed(times[i], &r));
        if resend(i) {
            let again = world.read(old, times[i], register).await;
            assert!(
                billed(times[i], &again).is_none(),
                "a resent reading billed"
            );
        }
        if let Some(fen) = recharge_after(i) {
            world.recharge(account, fen, &format!("r{i}")).await;
            recharged += fen;
            keys.push(format!("r{i}"));
        }
    }
    let final_reading = case.old_base + used[k];
    if case.final_already_read {
        let r = world.read(old, times[k], final_reading).await;
        b.extend(billed(times[k], &r));
    }
    let ledger_before = world.ledger(account).await;
    let balance_before = world.balance(account).await;
    let plan = SwapPlan {
        old,
        new: new_meter.id,
        final_reading,
        final_at: times[k],
        final_rates: None,
        opening_reading: case.new_opening,
        opening_at,
        opening_rates: None,
    };
    let outcome: SwapOutcome = ok(
        migrate(world.store.as_ref(), &world.writer, &plan).await,
        "migrate",
    );
    assert_eq!(outcome.account, account);
    assert_eq!(outcome.unit, swapped.unit.id);
    assert_eq!(outcome.tariff.as_str(), world.tariff);
    assert_eq!(outcome.balance_before.0, balance_before);
    assert_eq!(outcome.opening_verdict, Verdict::Opening);
    assert!(!outcome.resumed);
    if case.final_already_read {
        assert_eq!(outcome.final_verdict, Verdict::Duplicate);
    } else if k == 0 {
        assert_eq!(outcome.final_verdict, Verdict::Opening);
    } else {
        let v = outcome.final_verdict.clone();
        assert!(matches!(v, Verdict::Billed(_)), "final verdict {v:?}");
        b.extend(billed(times[k], &ReadingResult::Accepted(v)));
    }
    assert_eq!(
        outcome.balance_after.0,
        balance_before - outcome.charged.0,
        "the swap charged exactly the final reading"
    );
    if case.retry {
        let again = ok(
            migrate(world.store.as_ref(), &world.writer, &plan).await,
            "migrate again",
        );
        assert!(again.resumed);
        assert_eq!(again.charged, Fen::ZERO);
        assert_eq!(again.balance_after, outcome.balance_after);
    }
    if let Some(checkpoint) = case.restart {
        world = world.restart(checkpoint).await;
    }
    // The store: the new meter in the old one's place, the old one out.
    let new_now = ok(world.store.get_meter(new_meter.id).await, "new meter");
    assert_eq!(new_now.unit_id, Some(swapped.unit.id));
    assert_eq!(new_now.account_id, Some(account));
    assert_eq!(
        new_now.tariff_code.as_ref().map(|c| c.as_str()),
        Some(world.tariff.as_str())
    );
    let old_now = ok(world.store.get_meter(old).await, "old meter");
    assert_eq!(
        (old_now.unit_id, old_now.account_id, old_now.tariff_code),
        (None, None, None)
    );

    // The recharge the continuous run made after reading k.
    if let Some(fen) = recharge_after(k) {
        world.recharge(account, fen, &format!("r{k}")).await;
        recharged += fen;
    }
    for i in k + 1..n {
        let register = case.new_opening + (used[i] - used[k]);
        let r = world.read(new_meter.id, times[i], register).await;
        b.extend(billed(times[i], &r));
        if resend(i) {
            let again = world.read(new_meter.id, times[i], register).await;
            assert!(
                billed(times[i], &again).is_none(),
                "a resent reading billed"
            );
        }
        if let Some(fen) = recharge_after(i) {
            world.recharge(account, fen, &format!("r{i}")).await;
            recharged += fen;
        }
    }

    // Stale readings from the removed device: refused, nothing charged.
    let balance = world.balance(account).await;
    let tail = world.tail().await;
    for s in &case.stale {
        let (at, register) = match s {
            Stale::Earlier(i) => {
                let i = i.index(k + 1);
                (times[i], case.old_base + used[i])
            }
            Stale::Later { minutes, advance } => (
                times[k] + SignedDuration::from_mins(*minutes),
                final_reading + advance,
            ),
        };
        let r = world.read(old, at, register).await;
        assert!(matches!(r, ReadingResult::Rejected(_)), "stale: {r:?}");
    }
    assert_eq!(world.balance(account).await, balance);
    assert_eq!(world.tail().await, tail, "a stale reading was stored");

    // No consumption lost or billed twice, and the same bill: as each
    // reading's sender was told, and as the journal stored it.
    let (a, b) = (nonzero(a), nonzero(b));
    let stored_a = nonzero(world.stored_billed(continuous.meter.id).await);
    let mut stored_b = world.stored_billed(old).await;
    stored_b.extend(world.stored_billed(new_meter.id).await);
    let stored_b = nonzero(stored_b);
    assert_eq!(stored_a, a, "the continuous meter's journal");
    assert_eq!(
        total(&stored_b),
        total(&a),
        "quantity and fen stored across the swap"
    );
    assert_eq!(stored_b, a, "stored reading by reading");
    assert_eq!(
        total(&a).0,
        used[n - 1],
        "the continuous meter billed it all"
    );
    assert_eq!(total(&b).0, total(&a).0, "billed quantity across the swap");
    assert_eq!(total(&b).1, total(&a).1, "charged fen across the swap");
    assert_eq!(b, a, "reading by reading");

    // Balance = opening balance + recharges − charges = the ledger's sum.
    let balance = world.balance(account).await;
    assert_eq!(balance, recharged - total(&b).1);
    assert_eq!(balance, world.balance(continuous.account.id).await);
    let totals = ok(world.store.journal().ledger_totals().await, "totals");
    let mine = totals
        .iter()
        .find(|t| t.account_id == account)
        .expect("the account has entries");
    assert_eq!(mine.sum_fen, balance);
    assert_eq!(mine.last_balance_fen, balance);
    assert_eq!(mine.entries, mine.max_seq, "gap-free entry numbers");
    // What was on the account before the swap is still there.
    let ledger = world.ledger(account).await;
    for entry in &ledger_before {
        assert!(ledger.contains(entry), "lost {entry:?}");
    }
    for key in &keys {
        let found = ok(
            world.store.journal().find_recharge(account, key).await,
            "recharge",
        );
        assert!(found.is_some(), "recharge {key} lost");
    }
    world.finish().await;
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: CASES,
        // Each case is a whole store: shrinking stays short.
        max_shrink_iters: 64,
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_swap_neither_loses_nor_double_bills_consumption(case in case()) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        rt.block_on(run(case));
    }
}

// --- examples ---------------------------------------------------------------

fn at(s: &str) -> Timestamp {
    parsed(s)
}

fn plan(old: MeterId, new: MeterId, final_reading: u64, final_at: &str) -> SwapPlan {
    SwapPlan {
        old,
        new,
        final_reading,
        final_at: at(final_at),
        final_rates: None,
        opening_reading: 777,
        opening_at: at(final_at) + SignedDuration::from_mins(10),
        opening_rates: None,
    }
}

/// Everything a refused swap must leave as it was.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    tail: i64,
    balance: i64,
    meters: Vec<Meter>,
    old_billing: Option<yufu_tariff::BillingState>,
    alarms: usize,
}

async fn snapshot(world: &World, h: &Household, others: &[MeterId]) -> Snapshot {
    let mut meters = vec![ok(world.store.get_meter(h.meter.id).await, "meter")];
    for id in others {
        meters.push(ok(world.store.get_meter(*id).await, "meter"));
    }
    Snapshot {
        tail: world.tail().await,
        balance: world.balance(h.account.id).await,
        meters,
        old_billing: ok(world.writer.billing_state(h.meter.id).await, "billing"),
        alarms: ok(
            world.store.journal().meter_alarms(h.meter.id, 100).await,
            "alarms",
        )
        .len(),
    }
}

/// A household whose meter has billed July so far (100 kWh by the 10th).
async fn billed_household(world: &mut World) -> Household {
    let h = world.household().await;
    world.recharge(h.account.id, 50_000, "first").await;
    world
        .read(h.meter.id, at("2025-07-01T00:00:00+08:00"), 1_000_000)
        .await;
    let r = world
        .read(h.meter.id, at("2025-07-10T00:00:00+08:00"), 1_100_000)
        .await;
    assert!(
        billed(at("2025-07-10T00:00:00+08:00"), &r).is_some(),
        "{r:?}"
    );
    h
}

#[tokio::test]
async fn refused_swaps_change_nothing() {
    let mut world = World::new(TIERED).await;
    let h = billed_household(&mut world).await;
    let other = world.household().await;
    let spare = world.meter(Utility::Electricity).await;
    let spare2 = world.meter(Utility::Electricity).await;
    let water = world.meter(Utility::Water).await;
    let org2 = ok(
        world
            .store
            .create_organisation(&NewOrganisation {
                name: parsed("Other Org"),
            })
            .await,
        "organisation",
    );
    let foreign = ok(
        world
            .store
            .create_meter(&NewMeter {
                organisation_id: org2.id,
                serial: parsed("FOREIGN-1"),
                utility: Utility::Electricity,
                model: parsed("model"),
                protocol: MeterProtocol::Mqtt,
                comm_address: parsed("999999999999"),
                multiplier: ok(Multiplier::new(1), "multiplier"),
            })
            .await,
        "meter",
    );
    let watched = [spare.id, spare2.id, water.id, other.meter.id, foreign.id];
    let before = snapshot(&world, &h, &watched).await;
    let swap = |p: SwapPlan| {
        let (store, writer) = (Arc::clone(&world.store), world.writer.clone());
        async move { migrate(store.as_ref(), &writer, &p).await }
    };
    let later = "2025-07-11T00:00:00+08:00";

    let e = swap(plan(h.meter.id, h.meter.id, 1_100_500, later)).await;
    assert!(matches!(e, Err(SwapError::SameMeter(_))), "{e:?}");
    let e = swap(plan(h.meter.id, water.id, 1_100_500, later)).await;
    assert!(
        matches!(e, Err(SwapError::DifferentUtility { .. })),
        "{e:?}"
    );
    let e = swap(plan(h.meter.id, foreign.id, 1_100_500, later)).await;
    assert!(
        matches!(e, Err(SwapError::DifferentOrganisation { .. })),
        "{e:?}"
    );
    let e = swap(plan(h.meter.id, other.meter.id, 1_100_500, later)).await;
    assert!(
        matches!(e, Err(SwapError::NewAlreadyAssigned { .. })),
        "{e:?}"
    );
    let e = swap(plan(spare.id, spare2.id, 1_100_500, later)).await;
    assert!(matches!(e, Err(SwapError::OldNotInstalled { .. })), "{e:?}");
    let mut early = plan(h.meter.id, spare.id, 1_100_500, later);
    early.opening_at = early.final_at - SignedDuration::from_mins(1);
    let e = swap(early).await;
    assert!(
        matches!(e, Err(SwapError::OpeningBeforeFinal { .. })),
        "{e:?}"
    );
    // Below the last billed reading: pricing would hold it for review
    // (and store it with an alarm); the swap refuses before that.
    let e = swap(plan(h.meter.id, spare.id, 1_099_000, later)).await;
    assert!(
        matches!(
            &e,
            Err(SwapError::FinalReadingRefused {
                verdict: Some(Verdict::NegativeDelta { .. }),
                ..
            })
        ),
        "{e:?}"
    );
    assert!(
        e.as_ref()
            .err()
            .is_some_and(|e| e.to_string().contains("backwards")),
        "{e:?}"
    );
    assert_eq!(
        snapshot(&world, &h, &watched).await,
        before,
        "after a final reading below the last billed one"
    );
    // Older than the last billed reading.
    let e = swap(plan(
        h.meter.id,
        spare.id,
        1_050_000,
        "2025-07-05T00:00:00+08:00",
    ))
    .await;
    assert!(
        matches!(
            &e,
            Err(SwapError::FinalReadingRefused {
                verdict: Some(Verdict::OutOfOrder { .. }),
                ..
            })
        ),
        "{e:?}"
    );
    // The same instant as the last billed reading with another value.
    let e = swap(plan(
        h.meter.id,
        spare.id,
        1_100_001,
        "2025-07-10T00:00:00+08:00",
    ))
    .await;
    assert!(
        matches!(
            &e,
            Err(SwapError::FinalReadingRefused {
                verdict: Some(Verdict::Conflict { .. }),
                ..
            })
        ),
        "{e:?}"
    );
    assert_eq!(snapshot(&world, &h, &watched).await, before);

    // And the same plan, corrected, goes through.
    let done = ok(
        swap(plan(h.meter.id, spare.id, 1_100_500, later)).await,
        "swap",
    );
    assert!(matches!(done.final_verdict, Verdict::Billed(_)));
    assert_eq!(done.opening_verdict, Verdict::Opening);
    world.finish().await;
}

/// The tier usage the old meter had when the swap started is on the new
/// meter afterwards, its own opening reading as the baseline.
async fn assert_inherited(world: &World, new: MeterId, used: u64, opening: u64) {
    let state = ok(world.writer.billing_state(new).await, "billing").expect("new meter billed");
    assert_eq!(state.period.map(|p| p.used), Some(used));
    assert_eq!(state.last.map(|l| l.register), Some(opening));
}

#[tokio::test]
async fn a_swap_interrupted_after_the_new_meter_was_assigned_resumes() {
    let mut world = World::new(TIERED).await;
    let h = billed_household(&mut world).await;
    let new = world.meter(Utility::Electricity).await;
    let p = plan(h.meter.id, new.id, 1_100_500, "2025-07-11T00:00:00+08:00");
    // As a first attempt would have left it after step 3 (the final
    // reading in, the new meter on the unit and account, nothing else).
    let r = world.read(h.meter.id, p.final_at, p.final_reading).await;
    assert!(billed(p.final_at, &r).is_some());
    ok(
        world
            .store
            .assign_meter(new.id, Some(h.unit.id), Some(h.account.id))
            .await,
        "assign",
    );
    let balance = world.balance(h.account.id).await;
    let done = ok(
        migrate(world.store.as_ref(), &world.writer, &p).await,
        "resume",
    );
    assert!(done.resumed);
    assert_eq!(done.final_verdict, Verdict::Duplicate);
    assert_eq!(done.charged, Fen::ZERO);
    assert_eq!(done.balance_after.0, balance);
    assert_inherited(&world, new.id, 100_500, 777).await;

    // As it would be after step 4 (loaded and handed over), then a restart.
    let h2 = billed_household(&mut world).await;
    let new2 = world.meter(Utility::Electricity).await;
    let p2 = plan(h2.meter.id, new2.id, 1_100_600, "2025-07-11T00:00:00+08:00");
    world.read(h2.meter.id, p2.final_at, p2.final_reading).await;
    ok(
        world
            .store
            .assign_meter(new2.id, Some(h2.unit.id), Some(h2.account.id))
            .await,
        "assign",
    );
    ok(
        world
            .store
            .set_meter_tariff(new2.id, Some(&parsed(&world.tariff)))
            .await,
        "tariff",
    );
    let meter = ok(world.store.get_meter(new2.id).await, "meter");
    let mut changes = ok(
        yufu_writer::sync::meter_changes(
            world.store.as_ref(),
            &mut yufu_writer::sync::SiteCache::default(),
            &meter,
        )
        .await,
        "changes",
    );
    changes.push(yufu_writer::ConfigChange::Inherit {
        from: h2.meter.id,
        to: new2.id,
    });
    ok(world.writer.configure(changes).await, "configure");
    let world = world.restart(false).await;
    let done = ok(
        migrate(world.store.as_ref(), &world.writer, &p2).await,
        "resume",
    );
    assert!(done.resumed);
    assert_eq!(done.opening_verdict, Verdict::Opening);
    assert_inherited(&world, new2.id, 100_600, 777).await;
    assert_eq!(
        ok(world.writer.billing_state(h2.meter.id).await, "billing"),
        None,
        "the old meter is no longer billed"
    );
    world.finish().await;
}

#[tokio::test]
async fn a_swap_interrupted_while_unassigning_the_old_meter_resumes() {
    let mut world = World::new(TIERED).await;
    let h = billed_household(&mut world).await;
    let new = world.meter(Utility::Electricity).await;
    let p = plan(h.meter.id, new.id, 1_100_500, "2025-07-11T00:00:00+08:00");
    let first = ok(
        migrate(world.store.as_ref(), &world.writer, &p).await,
        "swap",
    );
    assert!(!first.resumed);
    // As if step 6 had stopped after removing the tariff only.
    ok(
        world
            .store
            .assign_meter(h.meter.id, Some(h.unit.id), Some(h.account.id))
            .await,
        "assign back",
    );
    let again = ok(
        migrate(world.store.as_ref(), &world.writer, &p).await,
        "resume",
    );
    assert!(again.resumed);
    assert_eq!(again.unit, h.unit.id);
    assert_eq!(again.balance_after, first.balance_after);
    let old = ok(world.store.get_meter(h.meter.id).await, "old");
    assert_eq!((old.unit_id, old.account_id), (None, None));
    // A plan that did not happen (another final reading) is not taken for
    // a finished swap.
    let e = migrate(
        world.store.as_ref(),
        &world.writer,
        &plan(h.meter.id, new.id, 1_100_400, "2025-07-10T12:00:00+08:00"),
    )
    .await;
    assert!(matches!(e, Err(SwapError::OldNotInstalled { .. })), "{e:?}");
    world.finish().await;
}
