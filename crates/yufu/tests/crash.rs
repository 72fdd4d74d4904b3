//! Crash safety through the real `yufu serve` binary: a client streams
//! readings and recharges over HTTP while the server is killed with SIGKILL
//! at random moments and restarted on the same database. Afterwards nothing
//! acknowledged is lost, nothing is charged twice, every balance is the sum
//! of its ledger and every meter's stored readings match its ledger.
//!
//! The kill moments come from a seed printed on stderr; set
//! `YUFU_CRASH_SEED` to replay one.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde_json::{Value, json};
use yufu_store_contract::TestPgDatabase;
use yufu_test_utils::http_request;

const BIN: &str = env!("CARGO_BIN_EXE_yufu");
const TARIFF: &str =
    include_str!("../../../examples/tariffs/guangdong-residential-electricity.toml");
const TARIFF_CODE: &str = "guangdong-residential-electricity";
const METERS: usize = 20;
const KILL_CYCLES: usize = 12;
const INITIAL_CREDIT_FEN: i64 = 1_000_000;
/// 2026-03-01T00:00:00+08:00; round `r` reads at this plus `r` hours.
const START_MS: i64 = 1_772_294_400_000;

// --- randomness -----------------------------------------------------------------

struct XorShift(u64);

impl XorShift {
    fn seeded() -> Self {
        let seed = std::env::var("YUFU_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos();
                u64::try_from(nanos % u128::from(u64::MAX)).unwrap() | 1
            });
        eprintln!("crash test seed: {seed} (YUFU_CRASH_SEED={seed} replays it)");
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform-ish in `lo..hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

// --- the server process ---------------------------------------------------------

/// How the server reaches its database.
#[derive(Clone)]
enum Backend {
    /// The default `yufu.db` in `YUFU_DATA_DIR`.
    Sqlite,
    Postgres(String),
}

struct Server {
    child: Child,
    addr: SocketAddr,
}

/// Admin API tokens by server address (each start makes one with the CLI).
static TOKENS: std::sync::Mutex<Vec<(SocketAddr, String)>> = std::sync::Mutex::new(Vec::new());

/// The `Authorization` header value for the server at `addr`.
fn auth(addr: SocketAddr) -> String {
    let tokens = TOKENS.lock().unwrap();
    let t = &tokens.iter().rev().find(|(a, _)| *a == addr).unwrap().1;
    format!("Bearer {t}")
}

/// `yufu token create` against the same database as the server.
fn admin_token(data_dir: &Path, backend: &Backend) -> String {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("YUFU_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("YUFU_DATA_DIR", data_dir)
        .env("YUFU_LOG", "warn")
        .current_dir(data_dir)
        .args([
            "token",
            "create",
            "--role",
            "admin",
            "--name",
            "crash",
            "--organisation",
            "Crash test",
        ]);
    if let Backend::Postgres(url) = backend {
        cmd.env("YUFU_DATABASE_URL", url);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn start_server(data_dir: &Path, backend: &Backend) -> Server {
    let token = admin_token(data_dir, backend);
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("YUFU_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("YUFU_DATA_DIR", data_dir)
        .env("YUFU_HTTP_ADDR", "127.0.0.1:0")
        .env("YUFU_MQTT_ADDR", "127.0.0.1:0")
        .env("YUFU_DLT645_ADDR", "127.0.0.1:0")
        .env("YUFU_LOG", "warn")
        .current_dir(data_dir)
        .arg("serve");
    if let Backend::Postgres(url) = backend {
        cmd.env("YUFU_DATABASE_URL", url);
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data_dir.join("server.log"))
        .unwrap();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            // Keep draining after the receiver is gone.
            let _ = tx.send(line);
        }
    });
    let mut addr = None;
    loop {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => {
                if let Some(url) = line.split("Console").nth(1).and_then(|l| {
                    l.split("http://")
                        .nth(1)
                        .map(|u| u.trim().trim_end_matches('/').to_owned())
                }) {
                    addr = Some(url.parse::<SocketAddr>().unwrap());
                }
                if line.starts_with("Press Ctrl-C") {
                    break;
                }
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(data_dir.join("server.log")).unwrap_or_default();
                panic!("yufu did not come up; its log:\n{log}");
            }
        }
    }
    let addr = addr.expect("the server prints its console address");
    TOKENS.lock().unwrap().push((addr, token));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http_request(addr, "GET", "/readyz", &[], None)
            && r.status == 200
        {
            break;
        }
        assert!(Instant::now() < deadline, "/readyz never answered 200");
        std::thread::sleep(Duration::from_millis(10));
    }
    Server { child, addr }
}

impl Server {
    /// SIGKILL (what `Child::kill` sends on Unix) and reap.
    fn kill(self) {
        drop(self);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn call(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let body = body.map(Value::to_string);
    let r = http_request(
        addr,
        method,
        path,
        &[("Authorization", &auth(addr))],
        body.as_deref(),
    )
    .unwrap();
    (
        r.status,
        serde_json::from_str(&r.body).unwrap_or(Value::String(r.body)),
    )
}

fn created(addr: SocketAddr, path: &str, body: &Value) -> String {
    let (status, out) = call(addr, "POST", path, Some(body));
    assert_eq!(status, 201, "POST {path}: {out}");
    out["id"].as_str().unwrap().to_owned()
}

// --- the client -----------------------------------------------------------------

#[derive(Clone)]
struct Fleet {
    /// (account id, meter id), one per residential unit.
    pairs: Vec<(String, String)>,
}

/// One request the client sends, and resends until it is acknowledged.
#[derive(Clone, Debug)]
enum Op {
    Readings {
        round: i64,
        registers: Vec<u64>,
    },
    Recharge {
        account: usize,
        key: String,
        amount: i64,
    },
}

/// Everything the client was told, and what it still has to get through.
#[derive(Default)]
struct Client {
    rng_state: u64,
    /// The op sent but not acknowledged yet (retried first, unchanged).
    pending: Option<(Op, u32)>,
    next_round: i64,
    registers: Vec<u64>,
    recharges_sent: u64,
    /// (meter index, at ms) → register, for readings answered accepted/duplicate.
    acked_readings: BTreeMap<(usize, i64), u64>,
    /// Readings a retry found refused as late (should stay empty).
    refused_late: BTreeSet<(usize, i64)>,
    /// account index → key → amount.
    acked_recharges: Vec<BTreeMap<String, i64>>,
    rounds_acked: u64,
    retries: u64,
    duplicates_on_retry: u64,
    replays_on_retry: u64,
}

impl Client {
    fn new(seed: u64) -> Self {
        Self {
            rng_state: seed | 1,
            registers: vec![0; METERS],
            acked_recharges: vec![BTreeMap::new(); METERS],
            ..Self::default()
        }
    }

    fn rand(&mut self, lo: u64, hi: u64) -> u64 {
        let mut r = XorShift(self.rng_state);
        let v = r.range(lo, hi);
        self.rng_state = r.0;
        v
    }

    /// The pending op, or a new one.
    fn current(&mut self) -> (Op, u32) {
        if let Some(p) = &self.pending {
            return p.clone();
        }
        let op = if self.next_round > 0 && self.rand(0, 4) == 0 {
            self.recharges_sent += 1;
            let account = usize::try_from(self.rand(0, u64::try_from(METERS).unwrap())).unwrap();
            Op::Recharge {
                account,
                key: format!("load-{}", self.recharges_sent),
                amount: i64::try_from(self.rand(100, 10_000)).unwrap(),
            }
        } else {
            for i in 0..METERS {
                let step = self.rand(50, 1_500);
                self.registers[i] += step;
            }
            let round = self.next_round;
            self.next_round += 1;
            Op::Readings {
                round,
                registers: self.registers.clone(),
            }
        };
        self.pending = Some((op.clone(), 0));
        (op, 0)
    }

    /// Sends `op` once; `true` when it was acknowledged.
    fn send(&mut self, addr: SocketAddr, fleet: &Fleet, op: &Op, attempt: u32) -> bool {
        match op {
            Op::Readings { round, registers } => {
                let at_ms = START_MS + round * 3_600_000;
                let at = Timestamp::from_millisecond(at_ms).unwrap().to_string();
                let readings: Vec<Value> = fleet
                    .pairs
                    .iter()
                    .zip(registers)
                    .map(|((_, m), r)| json!({ "meter_id": m, "at": at, "register": r }))
                    .collect();
                let body = json!({ "readings": readings }).to_string();
                let Ok(r) = http_request(
                    addr,
                    "POST",
                    "/api/v1/readings",
                    &[("Authorization", &auth(addr))],
                    Some(&body),
                ) else {
                    return false;
                };
                assert_eq!(r.status, 200, "POST readings round {round}: {}", r.body);
                let out: Value = serde_json::from_str(&r.body).unwrap();
                let results = out["results"].as_array().unwrap();
                assert_eq!(results.len(), METERS, "{out}");
                for (i, res) in results.iter().enumerate() {
                    let result = res["result"].as_str().unwrap();
                    let ok = match result {
                        "accepted" => {
                            let verdict = res["verdict"].as_str().unwrap();
                            let expected = if *round == 0 { "opening" } else { "billed" };
                            assert_eq!(verdict, expected, "round {round} meter {i}: {res}");
                            true
                        }
                        "duplicate" if attempt > 0 => {
                            self.duplicates_on_retry += 1;
                            true
                        }
                        "rejected"
                            if attempt > 0
                                && res["reason"]
                                    .as_str()
                                    .is_some_and(|s| s.contains("older than")) =>
                        {
                            self.refused_late.insert((i, at_ms));
                            false
                        }
                        _ => panic!(
                            "round {round} (attempt {attempt}) meter {i}: unexpected answer {res}"
                        ),
                    };
                    if ok {
                        self.acked_readings.insert((i, at_ms), registers[i]);
                    }
                }
                self.rounds_acked += 1;
                true
            }
            Op::Recharge {
                account,
                key,
                amount,
            } => {
                let path = format!("/api/v1/accounts/{}/recharges", fleet.pairs[*account].0);
                let body = json!({ "amount_fen": amount, "channel": "counter", "reference": key })
                    .to_string();
                let Ok(r) = http_request(
                    addr,
                    "POST",
                    &path,
                    &[
                        ("Idempotency-Key", key.as_str()),
                        ("Authorization", &auth(addr)),
                    ],
                    Some(&body),
                ) else {
                    return false;
                };
                match r.status {
                    201 => {}
                    200 if attempt > 0 => self.replays_on_retry += 1,
                    s => panic!("recharge {key} (attempt {attempt}): {s} {}", r.body),
                }
                let out: Value = serde_json::from_str(&r.body).unwrap();
                assert_eq!(out["entry"]["amount_fen"].as_i64(), Some(*amount), "{out}");
                assert_eq!(
                    out["entry"]["idempotency_key"].as_str(),
                    Some(format!("recharge:{key}").as_str())
                );
                self.acked_recharges[*account].insert(key.clone(), *amount);
                true
            }
        }
    }

    /// Works through ops until `stop` is set (or `max_ops` are acknowledged).
    fn run(&mut self, addr: SocketAddr, fleet: &Fleet, stop: &AtomicBool, max_ops: u64) {
        let mut done = 0;
        while !stop.load(Ordering::Relaxed) && done < max_ops {
            let (op, attempt) = self.current();
            if attempt > 0 {
                self.retries += 1;
            }
            if self.send(addr, fleet, &op, attempt) {
                self.pending = None;
                done += 1;
            } else {
                self.pending = Some((op, attempt + 1));
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

// --- set-up and checks ----------------------------------------------------------

fn set_up(addr: SocketAddr, client: &mut Client) -> Fleet {
    let org = created(
        addr,
        "/api/v1/organisations",
        &json!({ "name": "崩溃测试物业" }),
    );
    let site = created(
        addr,
        "/api/v1/sites",
        &json!({ "organisation_id": org, "code": "CRASH", "name": "测试园区", "city": "广州" }),
    );
    let building = created(
        addr,
        "/api/v1/buildings",
        &json!({ "site_id": site, "code": "A", "name": "A栋", "floors": 6 }),
    );
    let up = http_request(
        addr,
        "POST",
        &format!("/api/v1/organisations/{org}/tariffs"),
        &[
            ("Content-Type", "application/toml"),
            ("Authorization", &auth(addr)),
        ],
        Some(TARIFF),
    )
    .unwrap();
    assert_eq!(up.status, 201, "{}", up.body);
    let mut pairs = Vec::new();
    for i in 1..=METERS {
        let unit = created(
            addr,
            "/api/v1/units",
            &json!({ "building_id": building, "code": format!("A-{i:03}"), "floor": 1, "kind": "residential", "area_sqm": "80" }),
        );
        let customer = created(
            addr,
            "/api/v1/customers",
            &json!({ "organisation_id": org, "kind": "person", "name": format!("住户{i}"), "phone": "13800138000" }),
        );
        let account = created(
            addr,
            "/api/v1/accounts",
            &json!({ "organisation_id": org, "number": format!("CR{i:06}"), "customer_id": customer, "class": "residential" }),
        );
        let meter = created(
            addr,
            "/api/v1/meters",
            &json!({ "organisation_id": org, "serial": format!("E-CRASH-{i}"), "utility": "electricity", "model": "DDZY1102", "protocol": "dlt645_2007", "comm_address": format!("{i:012}") }),
        );
        let (s, out) = call(
            addr,
            "PUT",
            &format!("/api/v1/meters/{meter}/assignment"),
            Some(&json!({ "unit_id": unit, "account_id": account })),
        );
        assert_eq!(s, 200, "{out}");
        let (s, out) = call(
            addr,
            "PUT",
            &format!("/api/v1/meters/{meter}/tariff"),
            Some(&json!({ "tariff_code": TARIFF_CODE })),
        );
        assert_eq!(s, 200, "{out}");
        pairs.push((account, meter));
    }
    let fleet = Fleet { pairs };
    for i in 0..METERS {
        let op = Op::Recharge {
            account: i,
            key: format!("initial-{i}"),
            amount: INITIAL_CREDIT_FEN,
        };
        assert!(client.send(addr, &fleet, &op, 0), "initial recharge {i}");
    }
    fleet
}

/// Every page of a chain endpoint (`ledger` → `entries`, `readings` → `readings`).
fn all_pages(addr: SocketAddr, path: &str, field: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<i64> = None;
    loop {
        let url = match cursor {
            Some(c) => format!("{path}?limit=500&cursor={c}"),
            None => format!("{path}?limit=500"),
        };
        let (status, page) = call(addr, "GET", &url, None);
        assert_eq!(status, 200, "GET {url}: {page}");
        out.extend(page[field].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_i64() {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

fn ts_ms(v: &Value) -> i64 {
    v.as_str()
        .unwrap()
        .parse::<Timestamp>()
        .unwrap()
        .as_millisecond()
}

fn check(addr: SocketAddr, fleet: &Fleet, client: &Client) {
    assert!(
        client.refused_late.is_empty(),
        "retried readings refused as late, though no later round was sent: {:?}",
        client.refused_late
    );
    for (i, (account, meter)) in fleet.pairs.iter().enumerate() {
        let who = format!("account {i} ({account}), meter {meter}");
        // The meter's stored readings: each once, newest first, as acknowledged.
        let readings = all_pages(
            addr,
            &format!("/api/v1/meters/{meter}/readings"),
            "readings",
        );
        let mut stored: BTreeMap<i64, (u64, &Value)> = BTreeMap::new();
        let mut prev_at = i64::MAX;
        for r in &readings {
            let at = ts_ms(&r["at"]);
            assert!(
                at < prev_at,
                "{who}: readings chain not strictly decreasing at {r}"
            );
            prev_at = at;
            let register = u64::try_from(r["register"].as_i64().unwrap()).unwrap();
            assert!(
                stored.insert(at, (register, r)).is_none(),
                "{who}: {r} stored twice"
            );
        }
        let acked: BTreeMap<i64, u64> = client
            .acked_readings
            .range((i, i64::MIN)..=(i, i64::MAX))
            .map(|(&(_, at), &reg)| (at, reg))
            .collect();
        for (at, reg) in &acked {
            let got = stored.get(at).map(|(r, _)| *r);
            assert_eq!(
                got,
                Some(*reg),
                "{who}: acknowledged reading at {} lost or changed",
                Timestamp::from_millisecond(*at).unwrap()
            );
        }
        // Every round ends acknowledged, so nothing else may be stored.
        assert_eq!(
            stored.keys().collect::<Vec<_>>(),
            acked.keys().collect::<Vec<_>>(),
            "{who}: stored readings differ from acknowledged ones"
        );
        let billed: BTreeMap<i64, i64> = stored
            .iter()
            .filter(|(_, (_, r))| r["verdict"] == "billed")
            .map(|(at, (_, r))| (*at, r["charge_fen"].as_i64().unwrap()))
            .filter(|(_, c)| *c != 0)
            .collect();
        let others: Vec<&str> = stored
            .values()
            .map(|(_, r)| r["verdict"].as_str().unwrap())
            .filter(|v| *v != "billed")
            .collect();
        assert_eq!(others, ["opening"], "{who}: verdicts");

        // The ledger: gap-free, sums to the balance, one entry per charge and payment.
        let entries = all_pages(
            addr,
            &format!("/api/v1/accounts/{account}/ledger"),
            "entries",
        );
        let n = entries.len();
        let seqs: Vec<i64> = entries.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
        let want: Vec<i64> = (1..=i64::try_from(n).unwrap()).rev().collect();
        assert_eq!(seqs, want, "{who}: ledger seqs not 1..=n gap-free");
        let (status, balance) = call(
            addr,
            "GET",
            &format!("/api/v1/accounts/{account}/balance"),
            None,
        );
        assert_eq!(status, 200, "{balance}");
        let sum: i64 = entries
            .iter()
            .map(|e| e["amount_fen"].as_i64().unwrap())
            .sum();
        assert_eq!(
            balance["balance_fen"].as_i64(),
            Some(sum),
            "{who}: balance ≠ Σ entries"
        );
        assert_eq!(
            balance["entries"].as_u64(),
            Some(u64::try_from(n).unwrap()),
            "{balance}"
        );
        assert_eq!(balance["supply"]["state"], "on", "{who}: {balance}");
        let mut running = 0;
        for e in entries.iter().rev() {
            running += e["amount_fen"].as_i64().unwrap();
            assert_eq!(e["balance_after_fen"].as_i64(), Some(running), "{who}: {e}");
        }

        let mut recharges: BTreeMap<String, i64> = BTreeMap::new();
        let mut consumption: BTreeMap<i64, i64> = BTreeMap::new();
        for e in &entries {
            let key = e["idempotency_key"].as_str().unwrap();
            let amount = e["amount_fen"].as_i64().unwrap();
            match e["kind"].as_str().unwrap() {
                "recharge" => {
                    let k = key
                        .strip_prefix("recharge:")
                        .unwrap_or_else(|| panic!("{e}"));
                    assert!(
                        recharges.insert(k.to_owned(), amount).is_none(),
                        "{who}: recharge {k} credited twice"
                    );
                }
                "consumption" => {
                    let at = key
                        .strip_prefix(&format!("reading:{meter}:"))
                        .and_then(|s| s.parse::<i64>().ok())
                        .unwrap_or_else(|| panic!("{who}: consumption key {e}"));
                    assert!(
                        consumption.insert(at, -amount).is_none(),
                        "{who}: reading at {at} charged twice"
                    );
                }
                k => panic!("{who}: unexpected entry kind {k}: {e}"),
            }
        }
        let mut acked_recharges = client.acked_recharges[i].clone();
        assert_eq!(
            acked_recharges.remove(&format!("initial-{i}")),
            Some(INITIAL_CREDIT_FEN)
        );
        acked_recharges.insert(format!("initial-{i}"), INITIAL_CREDIT_FEN);
        assert_eq!(
            recharges, acked_recharges,
            "{who}: recharges in the ledger ≠ acknowledged"
        );
        assert_eq!(
            consumption, billed,
            "{who}: consumption entries ≠ billed readings"
        );
        let charged: i64 = billed.values().sum();
        let consumed: i64 = entries
            .iter()
            .filter(|e| e["kind"] == "consumption")
            .map(|e| e["amount_fen"].as_i64().unwrap())
            .sum();
        assert_eq!(consumed, -charged, "{who}");

        // The meter's configuration survived, and it was never tripped.
        let (status, m) = call(addr, "GET", &format!("/api/v1/meters/{meter}"), None);
        assert_eq!(status, 200, "{m}");
        assert_eq!(
            (m["account_id"].as_str(), m["tariff_code"].as_str()),
            (Some(account.as_str()), Some(TARIFF_CODE)),
            "{m}"
        );
        let (status, cmds) = call(
            addr,
            "GET",
            &format!("/api/v1/meters/{meter}/commands"),
            None,
        );
        assert_eq!(status, 200, "{cmds}");
        assert!(
            cmds["commands"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["kind"] != "trip"),
            "{who}: tripped though in credit: {cmds}"
        );
    }
}

// --- the scenario ---------------------------------------------------------------

fn crash_scenario(data_dir: &Path, backend: &Backend) {
    let began = Instant::now();
    let mut rng = XorShift::seeded();
    let mut client = Client::new(rng.next());

    let server = start_server(data_dir, backend);
    let fleet = set_up(server.addr, &mut client);
    server.kill();

    let mut kill_times = Vec::new();
    for cycle in 0..KILL_CYCLES {
        let server = start_server(data_dir, backend);
        let stop = Arc::new(AtomicBool::new(false));
        let load = {
            let (stop, fleet, addr) = (Arc::clone(&stop), fleet.clone(), server.addr);
            let mut c = std::mem::take(&mut client);
            std::thread::spawn(move || {
                c.run(addr, &fleet, &stop, u64::MAX);
                c
            })
        };
        let wait = rng.range(100, 600);
        kill_times.push(wait);
        std::thread::sleep(Duration::from_millis(wait));
        server.kill();
        stop.store(true, Ordering::Relaxed);
        client = load.join().unwrap();
        let pending = match &client.pending {
            Some((Op::Readings { round, .. }, n)) => {
                format!("reading round {round} ({n} failed tries)")
            }
            Some((Op::Recharge { key, .. }, n)) => format!("recharge {key} ({n} failed tries)"),
            None => "nothing".to_owned(),
        };
        eprintln!(
            "cycle {cycle}: killed after {wait} ms; {} rounds acknowledged, pending {pending}",
            client.rounds_acked
        );
    }

    // A last clean start: finish whatever was pending, then check.
    let server = start_server(data_dir, backend);
    let stop = AtomicBool::new(false);
    let pending_left = u64::from(client.pending.is_some());
    client.run(server.addr, &fleet, &stop, pending_left);
    assert!(client.pending.is_none());
    assert!(
        client.rounds_acked > u64::try_from(KILL_CYCLES).unwrap(),
        "the load made too little progress to mean anything: {} rounds",
        client.rounds_acked
    );
    check(server.addr, &fleet, &client);
    server.kill();
    eprintln!(
        "crash test ok in {:?}: {KILL_CYCLES} kills at {kill_times:?} ms, {} reading rounds, {} recharges, {} retries ({} duplicate readings and {} recharge replays on retry)",
        began.elapsed(),
        client.rounds_acked,
        client
            .acked_recharges
            .iter()
            .map(BTreeMap::len)
            .sum::<usize>(),
        client.retries,
        client.duplicates_on_retry,
        client.replays_on_retry,
    );
}

#[test]
fn acknowledged_work_survives_sigkill_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    crash_scenario(dir.path(), &Backend::Sqlite);
    assert!(dir.path().join("yufu.db").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_work_survives_sigkill_on_postgres() {
    let Some(db) = TestPgDatabase::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (url, data) = (db.url.clone(), dir.path().to_owned());
    tokio::task::spawn_blocking(move || crash_scenario(&data, &Backend::Postgres(url)))
        .await
        .unwrap();
    db.drop_database().await;
}
