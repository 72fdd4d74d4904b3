//! `yufu protocol decode|encode` through the real binary, on the example
//! frames of the protocol reference.
#![allow(clippy::unwrap_used)]

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_yufu");

fn yufu(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).unwrap()
}

#[test]
fn dlt645_replies_decode_to_their_values() {
    // 0.26 kWh total forward active energy (spaces allowed, quoted or not).
    let (code, out, _) = yufu(&[
        "protocol",
        "decode",
        "dlt645",
        "68 61 01 00 00 00 00 68 91 08 33 33 34 33 59 33 33 33 8A 16",
    ]);
    assert_eq!(code, 0, "{out}");
    let v = json(&out);
    assert_eq!(v["address"], "000000000161");
    assert_eq!(v["control"]["direction"], "Reply");
    assert_eq!(v["reading"]["di"], "00010000");
    assert_eq!(v["reading"]["value"]["centi_kwh"], 26);
    // 123.45 yuan remaining, as words.
    let words: Vec<&str> = "68 61 01 00 00 00 00 68 91 08 33 35 C3 33 78 56 34 33 5E 16"
        .split(' ')
        .collect();
    let mut args = vec!["protocol", "decode", "dlt645"];
    args.extend(words);
    let (code, out, _) = yufu(&args);
    assert_eq!(code, 0, "{out}");
    assert_eq!(json(&out)["reading"]["value"]["fen"], 12345);
}

#[test]
fn a_bad_frame_is_one_json_error_and_exit_2() {
    let (code, out, _) = yufu(&[
        "protocol",
        "decode",
        "dlt645",
        "68 61 01 00 00 00 00 68 91 08 33 35 C3 33 78 56 34 33 5F 16",
    ]);
    assert_eq!(code, 2);
    let v = json(&out);
    assert!(v["error"].as_str().unwrap().contains("checksum"), "{v}");
    let (code, out, _) = yufu(&["protocol", "decode", "cjt188", "zz"]);
    assert_eq!(code, 2);
    assert!(json(&out)["error"].is_string());
}

#[test]
fn cjt188_read_reply_decodes_flow_clock_and_valve() {
    // The reference's 901F reply with its checksum corrected (0x13).
    let (code, out, _) = yufu(&[
        "protocol",
        "decode",
        "cjt188",
        "68 10 44 33 22 11 00 33 78 81 16 1F 90 00 00 77 66 55 2C 00 77 66 55 2C 31 01 22 11 05 15 20 21 84 13 16",
    ]);
    assert_eq!(code, 0, "{out}");
    let v = json(&out);
    assert_eq!(v["meter_type"], "cold_water");
    assert_eq!(v["di"], "901F");
    assert_eq!(
        v["read_reply"]["current"]["centi"], 55_667_700,
        "556677.00 m³"
    );
    assert_eq!(v["read_reply"]["clock"], "2015-05-11T22:01:31");
}

#[test]
fn requests_are_built_byte_for_byte() {
    let (code, out, _) = yufu(&[
        "protocol",
        "encode",
        "dlt645-read",
        "--address",
        "000000000161",
        "--di",
        "00010000",
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        out.trim(),
        "FE FE FE FE 68 61 01 00 00 00 00 68 11 04 33 33 34 33 14 16"
    );
    let (_, out, _) = yufu(&["protocol", "encode", "dlt645-read-address"]);
    assert!(
        out.trim().ends_with("68 AA AA AA AA AA AA 68 13 00 DF 16"),
        "{out}"
    );
    let (code, out, _) = yufu(&[
        "protocol",
        "encode",
        "cjt188-read",
        "--meter-type",
        "water",
        "--address",
        "78330011223344",
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        out.trim(),
        "FE FE FE FE 68 10 44 33 22 11 00 33 78 01 03 1F 90 00 80 16"
    );
    let (code, _, err) = yufu(&[
        "protocol",
        "encode",
        "dlt645-read",
        "--address",
        "12",
        "--di",
        "00010000",
    ]);
    assert_eq!(code, 2);
    assert!(err.starts_with("error: --address"), "{err}");
}
