//! `yufu tariff check` and `yufu tariff quote` through the real binary, on the
//! shipped example tariffs.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_yufu");

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/tariffs")
        .join(name)
}

fn yufu(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn csv(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn one_error_line(out: &Output) -> String {
    assert!(!out.status.success());
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    lines[0].to_owned()
}

#[test]
fn check_summarises_every_example() {
    for name in [
        "guangdong-residential-electricity.toml",
        "guangdong-commercial-tou.toml",
        "guangzhou-residential-water.toml",
        "guangzhou-residential-gas.toml",
    ] {
        let out = yufu(&["tariff", "check", example(name).to_str().unwrap()]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("is valid"), "{stdout}");
    }
    let out = yufu(&[
        "tariff",
        "check",
        example("guangdong-residential-electricity.toml")
            .to_str()
            .unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for needle in ["0.5883", "0.6383", "0.8883", "260", "600"] {
        assert!(stdout.contains(needle), "missing {needle}: {stdout}");
    }
}

#[test]
fn check_names_the_line_of_a_mistake() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(example("guangdong-residential-electricity.toml"))
        .unwrap()
        .replace("\"0.6383\"", "\"0.63831\"");
    let path = csv(&dir, "bad.toml", &text);
    let line_no = text.lines().position(|l| l.contains("0.63831")).unwrap() + 1;
    let line = one_error_line(&yufu(&["tariff", "check", &path]));
    assert!(line.contains(&format!("line {line_no}")), "{line}");
    assert!(line.contains("decimals"), "{line}");
    let line = one_error_line(&yufu(&["tariff", "check", "/no/such/tariff.toml"]));
    assert!(
        line.contains("cannot read tariff file /no/such/tariff.toml"),
        "{line}"
    );
}

fn quote(tariff: &str, readings: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "tariff",
        "quote",
        "--tariff",
        tariff,
        "--readings",
        readings,
    ];
    args.extend_from_slice(extra);
    yufu(&args)
}

#[test]
fn quote_reproduces_the_guangdong_worked_example() {
    let dir = tempfile::tempdir().unwrap();
    let readings = csv(
        &dir,
        "july.csv",
        "time,register\n\
         2026-07-01T00:00:00+08:00,0\n\
         2026-07-15T08:30:00+08:00,300000\n\
         2026-07-15T08:30:00+08:00,300000\n\
         2026-07-10T00:00:00+08:00,100000\n\
         2026-08-01T00:00:00+08:00,700000\n",
    );
    let out = quote(
        example("guangdong-residential-electricity.toml")
            .to_str()
            .unwrap(),
        &readings,
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let q: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(q["total_fen"], 45881);
    assert_eq!(q["quantity"], 700_000);
    let lines = q["lines"].as_array().unwrap();
    let got: Vec<(String, u64, String, i64)> = lines
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap().to_owned(),
                l["quantity"].as_u64().unwrap(),
                l["unit_price"].as_str().unwrap().to_owned(),
                l["amount_fen"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("tier_1".into(), 260_000, "0.5883".into(), 15296),
            ("tier_2".into(), 340_000, "0.6383".into(), 21702),
            ("tier_3".into(), 100_000, "0.8883".into(), 8883),
        ]
    );
    let notes = q["notes"].as_array().unwrap();
    let verdicts: Vec<(u64, &str)> = notes
        .iter()
        .map(|n| (n["line"].as_u64().unwrap(), n["verdict"].as_str().unwrap()))
        .collect();
    assert_eq!(verdicts, vec![(4, "duplicate"), (5, "out_of_order")]);
    assert!(notes[0]["reason"].as_str().unwrap().contains("duplicate"));
}

#[test]
fn quote_prices_time_of_use_bands() {
    let dir = tempfile::tempdir().unwrap();
    // A July day from 10:00 to 13:00: 1 h peak, 1 h critical peak, 1 h flat.
    let readings = csv(
        &dir,
        "day.csv",
        "time,register\n2026-07-02T10:00:00+08:00,5000\n2026-07-02T13:00:00+08:00,8000\n",
    );
    let out = quote(
        example("guangdong-commercial-tou.toml").to_str().unwrap(),
        &readings,
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let q: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // 1.02 + 1.275 + 0.60 = 2.895 yuan → 290 fen (half-up)
    assert_eq!(q["total_fen"], 290, "{q}");
    let kinds: Vec<&str> = q["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["peak", "critical_peak", "flat"]);
    assert_eq!(q["apportioned_lines"], serde_json::json!([3]));
}

#[test]
fn quote_applies_the_multiplier_and_plausibility_limit() {
    let dir = tempfile::tempdir().unwrap();
    let readings = csv(
        &dir,
        "ct.csv",
        "time,register\n2026-07-01T00:00:00+08:00,0\n2026-07-01T01:00:00+08:00,1000\n2026-07-01T02:00:00+08:00,90000\n",
    );
    let tariff = example("guangdong-residential-electricity.toml");
    let out = quote(
        tariff.to_str().unwrap(),
        &readings,
        &["--multiplier", "40", "--max-per-hour", "100000"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let q: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(q["quantity"], 40_000);
    assert_eq!(q["notes"][0]["verdict"], "implausible_jump");
}

#[test]
fn malformed_readings_name_the_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let tariff = example("guangdong-residential-electricity.toml");
    let tariff = tariff.to_str().unwrap();
    let bad_register = csv(
        &dir,
        "a.csv",
        "time,register\n2026-07-01T00:00:00+08:00,0\n2026-07-02T00:00:00+08:00,12a\n",
    );
    let line = one_error_line(&quote(tariff, &bad_register, &[]));
    assert!(line.contains("line 3, column register: '12a'"), "{line}");
    let bad_time = csv(&dir, "b.csv", "time,register\n2026-07-01 00:00,0\n");
    let line = one_error_line(&quote(tariff, &bad_time, &[]));
    assert!(line.contains("line 2, column time"), "{line}");
    let bad_header = csv(&dir, "c.csv", "when,kwh\n2026-07-01T00:00:00+08:00,0\n");
    let line = one_error_line(&quote(tariff, &bad_header, &[]));
    assert!(
        line.contains("line 1: the header must be `time,register`"),
        "{line}"
    );
    let short_row = csv(&dir, "d.csv", "time,register\n2026-07-01T00:00:00+08:00\n");
    let line = one_error_line(&quote(tariff, &short_row, &[]));
    assert!(line.contains("line 2"), "{line}");
    let empty = csv(&dir, "e.csv", "time,register\n");
    let line = one_error_line(&quote(tariff, &empty, &[]));
    assert!(line.contains("no readings"), "{line}");
}
