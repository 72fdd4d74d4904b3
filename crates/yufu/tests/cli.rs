//! End-to-end tests through the real `yufu` binary: real processes, real
//! sockets, real SQLite files and (when `YUFU_TEST_DATABASE_URL` is set) a real
//! PostgreSQL database.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use yufu_store_contract::TestPgDatabase;
use yufu_test_utils::http_get;

const BIN: &str = env!("CARGO_BIN_EXE_yufu");

/// A `yufu` command with a clean environment: no YUFU_* from the caller.
fn yufu(data_dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("YUFU_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("YUFU_DATA_DIR", data_dir)
        .env("YUFU_HTTP_ADDR", "127.0.0.1:0")
        // Ports 0: nothing binds these yet, but they must not collide.
        .env("YUFU_MQTT_ADDR", "127.0.0.1:0")
        .env("YUFU_DLT645_ADDR", "127.0.0.1:0")
        .current_dir(data_dir);
    cmd
}

/// A running server and what it printed.
struct Running {
    child: Child,
    addr: SocketAddr,
    stdout: Vec<String>,
    /// `Authorization` value from the demo's printed API token.
    token: Option<String>,
}

impl Running {
    fn start(mut cmd: Command) -> Running {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stdout = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => {
                    let done = line.starts_with("Press Ctrl-C");
                    stdout.push(line);
                    if done {
                        break;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let out = child.wait_with_output().unwrap();
                    panic!(
                        "yufu did not come up; stdout so far: {stdout:?}; stderr: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            }
        }
        let console = stdout.iter().find(|l| l.contains("Console")).unwrap();
        let url = console
            .split("http://")
            .nth(1)
            .unwrap()
            .trim_end_matches('/');
        let addr = url.parse().unwrap();
        let token = stdout
            .iter()
            .find(|l| l.contains("API token"))
            .and_then(|l| l.split_whitespace().find(|w| w.starts_with("yufu_pat_")))
            .map(|t| format!("Bearer {t}"));
        Running {
            child,
            addr,
            stdout,
            token,
        }
    }

    fn get(&self, path: &str) -> yufu_test_utils::HttpResponse {
        match &self.token {
            Some(t) => http_get(self.addr, path, &[("Authorization", t)]).unwrap(),
            None => http_get(self.addr, path, &[]).unwrap(),
        }
    }

    /// Sends SIGTERM, as systemd would, and expects a clean exit.
    fn terminate(self) -> Output {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let out = self.child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "exit after SIGTERM: {:?}, stderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

fn check_endpoints(app: &Running, backend: &str) {
    let r = app.get("/healthz");
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"status":"ok"}"#));
    let r = app.get("/readyz");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        format!(r#"{{"status":"ready","store":"{backend}"}}"#)
    );
    let r = app.get("/metrics");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("yufu_build_info{version=\""), "{}", r.body);
    assert!(r.body.contains("yufu_store_up 1"), "{}", r.body);
    let r = app.get("/api/v1/openapi.json");
    assert_eq!(r.status, 200);
    let doc: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(doc["paths"]["/readyz"].is_object());
    assert_eq!(app.get("/api/docs/").status, 200);
}

/// The line of a one-line error and the exit code, for a command that must fail.
fn fails(cmd: &mut Command) -> (i32, String) {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "should fail; stderr: {stderr}");
    assert!(
        !stderr.contains("panicked"),
        "a panic is not an error message: {stderr}"
    );
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "exactly one error line in: {stderr}");
    (out.status.code().unwrap(), errors[0].to_owned())
}

#[test]
fn version_and_help() {
    let out = Command::new(BIN).arg("version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("yufu {}", env!("CARGO_PKG_VERSION"))
    );
    for (sub, words) in [
        ("serve", "Run the platform"),
        ("demo", "demo organisation"),
        ("migrate", "migrations"),
        ("version", "version"),
    ] {
        let out = Command::new(BIN).args([sub, "--help"]).output().unwrap();
        assert!(out.status.success(), "{sub} --help");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(words), "{sub} --help: {text}");
        assert!(
            text.contains("--config"),
            "{sub} --help lists --config: {text}"
        );
    }
}

#[test]
fn serve_on_sqlite_answers_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let app = Running::start({
        let mut c = yufu(dir.path());
        c.arg("serve");
        c
    });
    check_endpoints(&app, "sqlite");
    // A second yufu on the same database would interleave two journals.
    let (code, err) = fails(yufu(dir.path()).arg("serve"));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("another yufu process"), "{err}");
    let out = app.terminate();
    assert!(String::from_utf8_lossy(&out.stderr).contains("stopped cleanly"));
    assert!(
        dir.path().join("yufu.db").exists(),
        "the default database lives in YUFU_DATA_DIR"
    );
}

#[test]
fn demo_seeds_once_and_issues_a_new_password_each_start() {
    let dir = tempfile::tempdir().unwrap();
    let start = || {
        let mut c = yufu(dir.path());
        c.arg("demo");
        Running::start(c)
    };
    let login = |app: &Running| -> String {
        let line = app
            .stdout
            .iter()
            .find(|l| l.contains("Admin login"))
            .unwrap();
        let after = line.split("admin / ").nth(1).unwrap();
        after.split_whitespace().next().unwrap().to_owned()
    };
    let first = start();
    let fleet = first
        .stdout
        .iter()
        .find(|l| l.contains("Demo fleet"))
        .unwrap()
        .clone();
    assert!(
        fleet.contains("sites 1, units 36, accounts 36, meters 104"),
        "{fleet}"
    );
    let password1 = login(&first);
    assert_eq!(password1.len(), 16);
    let metrics = first.get("/metrics").body;
    assert!(
        metrics.contains(r#"yufu_fleet_meters{utility="gas",status="in_service"} 24"#),
        "{metrics}"
    );
    // Every demo meter is priced with one of the example tariffs.
    let orgs: serde_json::Value =
        serde_json::from_str(&first.get("/api/v1/organisations").body).unwrap();
    let org = orgs["items"][0]["id"].as_str().unwrap().to_owned();
    let tariffs: serde_json::Value = serde_json::from_str(
        &first
            .get(&format!("/api/v1/organisations/{org}/tariffs"))
            .body,
    )
    .unwrap();
    assert_eq!(tariffs.as_array().unwrap().len(), 4, "{tariffs}");
    let meters: serde_json::Value = serde_json::from_str(
        &first
            .get(&format!("/api/v1/organisations/{org}/meters?limit=500"))
            .body,
    )
    .unwrap();
    // 96 in service, and the lifecycle story's 8 delivered devices in the
    // store room (no tariff until installed).
    let all = meters["items"].as_array().unwrap();
    assert_eq!(all.len(), 104);
    let meters: Vec<serde_json::Value> = all
        .iter()
        .filter(|m| m["status"] == "in_service")
        .cloned()
        .collect();
    let meters = &meters;
    assert_eq!(meters.len(), 96);
    assert!(
        meters.iter().all(|m| m["tariff_code"].is_string()),
        "every meter has a tariff"
    );
    let page = http_get(first.addr, "/login", &[("Accept-Language", "zh-CN")]).unwrap();
    assert!(page.body.contains("员工登录"), "{}", page.body);
    demo_readings_trip_and_recharge_reconnects(&first, meters);
    let stderr = String::from_utf8_lossy(&first.terminate().stderr).into_owned();
    assert!(
        !stderr.contains(&password1),
        "the password is printed to the user, never logged"
    );

    let second = start();
    let again = second
        .stdout
        .iter()
        .find(|l| l.contains("Demo fleet"))
        .unwrap();
    assert_eq!(again, &fleet, "a second start does not seed twice");
    let untouched = meters.last().unwrap()["account_id"].as_str().unwrap();
    let balance: serde_json::Value = serde_json::from_str(
        &second
            .get(&format!("/api/v1/accounts/{untouched}/balance"))
            .body,
    )
    .unwrap();
    assert!(
        [20_000, 100_000].contains(&balance["balance_fen"].as_i64().unwrap()),
        "the opening balance is credited once, not at every start: {balance}"
    );
    assert_ne!(login(&second), password1);
    second.terminate();
    lifecycle_cli_on_the_demo(dir.path());
}

/// `yufu lifecycle` on the stopped demo's database: a device's history, a
/// serial file with bad rows (each reported by line, nothing written, exit
/// 2), an illegal move refused, a legal one made and audited.
fn lifecycle_cli_on_the_demo(dir: &Path) {
    let out = yufu(dir)
        .args(["lifecycle", "show", "DEMO-E-0001"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for state in ["ordered", "received", "accepted", "in_stock"] {
        assert!(text.contains(state), "{state} missing from {text}");
    }
    assert!(text.contains("next:      install"), "{text}");
    // The delivery of the demo's contract, from the contract's progress.
    let out = yufu(dir).args(["lifecycle", "suppliers"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("Suineng"), "{text}");
    let bad = dir.join("serials.csv");
    std::fs::write(&bad, "serial,contract_line\nDEMO-X-1,9\nDEMO-X-1,1\n,1\n").unwrap();
    let out = yufu(dir)
        .args([
            "lifecycle",
            "serials",
            &uuid_of_delivery(dir),
            bad.to_str().unwrap(),
            "--dry-run",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    for line in ["line 3", "line 4"] {
        assert!(err.contains(line), "{line} missing from {err}");
    }
    let (code, msg) = fails(yufu(dir).args([
        "lifecycle",
        "move",
        "DEMO-E-0001",
        "retire",
        "--reason",
        "x",
    ]));
    assert_eq!(code, 1);
    assert!(msg.contains("from in_stock it can install"), "{msg}");
    let out = yufu(dir)
        .args([
            "lifecycle",
            "move",
            "DEMO-E-0002",
            "report_fault",
            "--reason",
            "x",
        ])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "an in-stock device cannot be reported faulty"
    );
}

/// The demo's first delivery id, as `yufu lifecycle contract NUMBER`
/// lists it (the way an operator finds it).
fn uuid_of_delivery(dir: &Path) -> String {
    let out = yufu(dir)
        .args(["lifecycle", "contract", "HT-2026-0001"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("HT-2026-0001") && text.contains("outstanding"),
        "{text}"
    );
    text.lines()
        .find(|l| l.contains("SH-20261012"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or_else(|| panic!("no delivery SH-20261012 in {text}"))
        .to_owned()
}

/// Readings posted to the demo move a balance, the cut-off trips the
/// (simulated) meter, and a recharge queues and delivers the reconnect.
fn demo_readings_trip_and_recharge_reconnects(app: &Running, meters: &[serde_json::Value]) {
    let post = |path: &str, headers: &[(&'static str, &'static str)], body: serde_json::Value| {
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if let Some(t) = &app.token {
            all.push(("Authorization", t.as_str()));
        }
        let r =
            yufu_test_utils::http_request(app.addr, "POST", path, &all, Some(&body.to_string()))
                .unwrap();
        (
            r.status,
            serde_json::from_str::<serde_json::Value>(&r.body).unwrap_or_default(),
        )
    };
    let get = |path: &str| serde_json::from_str::<serde_json::Value>(&app.get(path).body).unwrap();
    let meter = meters
        .iter()
        .find(|m| m["utility"] == "electricity")
        .unwrap();
    let (meter_id, account_id) = (
        meter["id"].as_str().unwrap(),
        meter["account_id"].as_str().unwrap(),
    );
    let opening = get(&format!("/api/v1/accounts/{account_id}/balance"));
    assert!(
        opening["balance_fen"].as_i64().unwrap() > 0,
        "demo accounts start in credit: {opening}"
    );
    // The demo's simulated fleet is reporting for this meter too, with the
    // time of now: these readings are later than anything it sent, so they
    // are billed (and its next few reports are refused as out of order).
    let now = jiff::Timestamp::now();
    let at = |hours: i64| {
        now.checked_add(jiff::SignedDuration::from_hours(hours))
            .unwrap()
            .to_string()
    };
    let (status, out) = post(
        "/api/v1/readings",
        &[],
        serde_json::json!({ "readings": [
            { "meter_id": meter_id, "at": at(1), "register": 100_000_000 },
            { "meter_id": meter_id, "at": at(25), "register": 105_000_000 },
        ]}),
    );
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["results"][1]["verdict"], "billed", "{out}");
    let charge = out["results"][1]["charge_fen"].as_i64().unwrap();
    assert!(charge > 0);
    let after = get(&format!("/api/v1/accounts/{account_id}/balance"));
    assert!(after["balance_fen"].as_i64().unwrap() < 0, "{after}");
    assert_eq!(after["supply"]["state"], "off", "{after}");
    // The trip travels to the live simulated meter (MQTT or DL/T 645) and
    // is acknowledged only when it answers.
    let wait_for = |kind: &str| {
        for _ in 0..1200 {
            let cmds = get(&format!("/api/v1/meters/{meter_id}/commands"));
            if cmds["commands"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["kind"] == kind && c["state"] == "acknowledged")
            {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        panic!("no acknowledged {kind} for the demo meter");
    };
    wait_for("trip");
    let (status, out) = post(
        &format!("/api/v1/accounts/{account_id}/recharges"),
        &[("Idempotency-Key", "cli-test-1")],
        serde_json::json!({ "amount_fen": charge + 100_000, "channel": "counter", "reference": "T-1" }),
    );
    assert_eq!(status, 201, "{out}");
    wait_for("close");
    let restored = get(&format!("/api/v1/accounts/{account_id}/balance"));
    assert_eq!(restored["supply"]["state"], "on", "{restored}");
}

#[test]
fn migrate_applies_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = yufu(dir.path()).arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shipped = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../yufu-store-sqlite/migrations"
    ))
    .unwrap()
    .count();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        stdout.starts_with(&format!("applied {shipped} migration(s)")),
        "{stdout}"
    );
    let out = yufu(dir.path()).arg("migrate").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("applied 0 migration(s)"));
}

#[test]
fn bad_configuration_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("yufu.toml");

    std::fs::write(&toml, "http_addr = \"127.0.0.1:0\"\nhttp_prot = 8080\n").unwrap();
    let (code, line) = fails(yufu(dir.path()).args(["--config", toml.to_str().unwrap(), "serve"]));
    assert_eq!(code, 2);
    assert!(
        line.contains("line 2") && line.contains("unknown field `http_prot`"),
        "{line}"
    );

    std::fs::write(&toml, "data_dir = \"unterminated\n").unwrap();
    let (code, line) = fails(yufu(dir.path()).args(["--config", toml.to_str().unwrap(), "serve"]));
    assert_eq!(code, 2);
    assert!(
        line.starts_with(&format!("error: config file {}", toml.display())),
        "{line}"
    );

    let (code, line) = fails(yufu(dir.path()).args(["--config", "/no/such.toml", "migrate"]));
    assert_eq!(code, 2);
    assert!(
        line.contains("cannot read config file /no/such.toml"),
        "{line}"
    );

    let (code, line) = fails(
        yufu(dir.path())
            .env("YUFU_DATABASE_URL", "mysql://root@localhost/yufu")
            .arg("serve"),
    );
    assert_eq!(code, 2);
    assert!(
        line.starts_with("error: YUFU_DATABASE_URL: unsupported database 'mysql'"),
        "{line}"
    );

    let (code, line) = fails(
        yufu(dir.path())
            .env("YUFU_HTTP_ADDR", "localhost:80:80")
            .arg("serve"),
    );
    assert_eq!(code, 2);
    assert!(
        line.starts_with("error: YUFU_HTTP_ADDR: 'localhost:80:80' is not a socket address"),
        "{line}"
    );
}

#[test]
fn a_taken_port_names_the_variable_to_change() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, line) = fails(yufu(dir.path()).env("YUFU_HTTP_ADDR", &addr).arg("serve"));
    assert_eq!(code, 1);
    assert_eq!(
        line,
        format!(
            "error: HTTP address {addr} is already in use; set YUFU_HTTP_ADDR (or http_addr in yufu.toml) to a free address"
        )
    );
}

#[test]
fn database_passwords_never_reach_the_output() {
    let dir = tempfile::tempdir().unwrap();
    // Port 1 refuses connections: start-up fails after trying to connect,
    // with every log level on to catch a leak anywhere.
    let out = yufu(dir.path())
        .env(
            "YUFU_DATABASE_URL",
            "postgres://yufu:s3cret-pw@127.0.0.1:1/yufu",
        )
        .env("YUFU_LOG", "trace")
        .arg("serve")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let all = format!("{}{stderr}", String::from_utf8_lossy(&out.stdout));
    assert!(!all.contains("s3cret-pw"), "secret leaked: {all}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("cannot open database postgres://yufu:***@127.0.0.1:1/yufu"),
        "{}",
        errors[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_binary_runs_on_postgres() {
    let Some(db) = TestPgDatabase::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = db.url.clone();
    let data = dir.path().to_owned();
    tokio::task::spawn_blocking(move || {
        let mut c = yufu(&data);
        c.env("YUFU_DATABASE_URL", &url).arg("demo");
        let app = Running::start(c);
        assert!(
            app.stdout[0].contains("store: postgres://"),
            "{:?}",
            app.stdout
        );
        check_endpoints(&app, "postgres");
        assert!(
            app.stdout.iter().any(|l| l.contains("meters 104")),
            "{:?}",
            app.stdout
        );
        let (code, err) = fails(yufu(&data).env("YUFU_DATABASE_URL", &url).arg("serve"));
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("another yufu process"), "{err}");
        app.terminate();
        assert!(
            !data.join("yufu.db").exists(),
            "no SQLite file when PostgreSQL is configured"
        );
    })
    .await
    .unwrap();
    db.drop_database().await;
}

/// The first-admin path of the README on a fresh `yufu serve`: `yufu user
/// add` prints a password that signs in, `yufu token create` a token that
/// works; a key appended by `yufu keys generate` takes over after `yufu keys
/// rotate`, which re-seals what was stored under the old key; `yufu audit
/// verify` finds the CLI's and the API's rows intact.
#[test]
fn first_admin_tokens_key_rotation_and_audit_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = yufu(dir.path()).args(args).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "yufu {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let added = run(&[
        "user",
        "add",
        "--role",
        "admin",
        "--organisation",
        "CLI test",
        "chen",
    ]);
    let password = added
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(password.len(), 20, "{added}");
    let (_, err) = fails(yufu(dir.path()).args(["user", "add", "--role", "admin", "chen"]));
    assert!(err.contains("exists already"), "{err}");
    let (_, err) = fails(yufu(dir.path()).args(["user", "add", "--role", "wizard", "li"]));
    assert!(err.contains("--role"), "{err}");
    let token = run(&["token", "create", "--role", "admin", "--name", "cli-test"]);
    let token = token.trim().to_owned();
    assert!(token.starts_with("yufu_pat_"), "{token}");

    let mut serve = yufu(dir.path());
    serve.arg("serve");
    let app = Running::start(serve);
    let login = yufu_test_utils::http_request(
        app.addr,
        "POST",
        "/api/v1/auth/login",
        &[],
        Some(&serde_json::json!({"username": "chen", "password": password}).to_string()),
    )
    .unwrap();
    assert_eq!(login.status, 200, "{}", login.body);
    let auth = format!("Bearer {token}");
    let orgs: serde_json::Value = serde_json::from_str(
        &http_get(
            app.addr,
            "/api/v1/organisations",
            &[("Authorization", &auth)],
        )
        .unwrap()
        .body,
    )
    .unwrap();
    let org = orgs["items"][0]["id"].as_str().unwrap().to_owned();
    let created = yufu_test_utils::http_request(
        app.addr,
        "POST",
        "/api/v1/customers",
        &[("Authorization", &auth)],
        Some(
            &serde_json::json!({"organisation_id": org, "kind": "person", "name": "陈", "phone": "13800138000"})
                .to_string(),
        ),
    )
    .unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    app.terminate();

    // Rotate: append a new key, re-seal; a second run has nothing left to do.
    let line = run(&["keys", "generate", "--id", "k2"]);
    let keys = dir.path().join("keys/data.keys");
    let mut text = std::fs::read_to_string(&keys).unwrap();
    text.push_str(&line);
    std::fs::write(&keys, text).unwrap();
    let rotated = run(&["keys", "rotate"]);
    assert!(
        rotated.contains("active key k2: 1 customers checked, 1 re-sealed"),
        "{rotated}"
    );
    let again = run(&["keys", "rotate"]);
    assert!(again.contains("0 re-sealed"), "{again}");

    let verified = run(&["audit", "verify"]);
    assert!(verified.starts_with("audit log intact"), "{verified}");
    // user add, token create, the sign-in, the customer, two rotations.
    let rows: u64 = verified.split_whitespace().nth(3).unwrap().parse().unwrap();
    assert!(rows >= 6, "{verified}");
}
