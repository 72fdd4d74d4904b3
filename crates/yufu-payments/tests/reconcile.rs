#![allow(clippy::unwrap_used)]

use jiff::Timestamp;
use jiff::civil::date;
use yufu_payments::{
    Credited, Difference, DifferenceKind, SettlementLine, parse_settlement_csv, reconcile,
    reconciliation_csv,
};

fn ours(id: &str, fen: i64) -> Credited {
    Credited {
        transaction_id: id.into(),
        amount_fen: fen,
        credited_at: Timestamp::from_second(1_714_521_600).unwrap(),
    }
}

fn theirs(id: &str, fen: i64) -> SettlementLine {
    SettlementLine {
        row: 0,
        transaction_id: id.into(),
        amount_fen: fen,
        paid_at: Timestamp::from_second(1_714_521_600).unwrap(),
    }
}

fn diff(id: &str, kind: DifferenceKind, o: Option<i64>, t: Option<i64>) -> Difference {
    Difference {
        transaction_id: id.into(),
        kind,
        ours_fen: o,
        theirs_fen: t,
    }
}

#[test]
fn all_matched() {
    let r = reconcile(
        "wechat",
        date(2024, 5, 1),
        &[ours("b", 200), ours("a", 100)],
        &[theirs("a", 100), theirs("b", 200)],
    );
    assert!(r.is_balanced());
    assert_eq!((r.ours_count, r.ours_total_fen), (2, 300));
    assert_eq!((r.theirs_count, r.theirs_total_fen), (2, 300));
    assert_eq!((r.matched_count, r.matched_total_fen), (2, 300));
    assert_eq!(r.net_difference_fen(), 0);
}

#[test]
fn each_difference_kind_sorted_by_id() {
    let r = reconcile(
        "alipay",
        date(2024, 5, 1),
        &[
            ours("t4-dup", 300),
            ours("t2-only-ours", 700),
            ours("t3-mismatch", 500),
            ours("t1-match", 1000),
            ours("t4-dup", 300),
        ],
        &[
            theirs("t3-mismatch", 600),
            theirs("t0-only-theirs", 900),
            theirs("t1-match", 1000),
            theirs("t4-dup", 300),
        ],
    );
    assert_eq!(
        r.differences,
        vec![
            diff(
                "t0-only-theirs",
                DifferenceKind::MissingInYufu,
                None,
                Some(900)
            ),
            diff(
                "t2-only-ours",
                DifferenceKind::MissingAtProvider,
                Some(700),
                None
            ),
            diff(
                "t3-mismatch",
                DifferenceKind::AmountMismatch,
                Some(500),
                Some(600)
            ),
            diff("t4-dup", DifferenceKind::DuplicateInYufu, Some(300), None),
        ]
    );
    assert_eq!((r.ours_count, r.ours_total_fen), (5, 2800));
    assert_eq!((r.theirs_count, r.theirs_total_fen), (4, 2800));
    assert_eq!((r.matched_count, r.matched_total_fen), (2, 1300));
    assert!(!r.is_balanced());
}

#[test]
fn duplicate_at_provider_from_a_hand_built_list() {
    let r = reconcile(
        "bank",
        date(2024, 5, 1),
        &[ours("x", 100)],
        &[theirs("x", 100), theirs("x", 100)],
    );
    assert_eq!(r.matched_count, 1);
    assert_eq!(
        r.differences,
        vec![diff(
            "x",
            DifferenceKind::DuplicateAtProvider,
            None,
            Some(100)
        )]
    );
    assert_eq!(r.net_difference_fen(), 100);
}

#[test]
fn totals_do_not_overflow() {
    let many: Vec<Credited> = (0..4).map(|i| ours(&format!("t{i}"), i64::MAX)).collect();
    let r = reconcile("x", date(2024, 5, 1), &many, &[theirs("t0", i64::MIN)]);
    assert_eq!(r.ours_total_fen, 4 * i128::from(i64::MAX));
    assert_eq!(r.theirs_total_fen, i128::from(i64::MIN));
    let csv = String::from_utf8(reconciliation_csv(&r)).unwrap();
    // theirs - ours for the mismatch is computed without overflow
    let expected = (i128::from(i64::MIN) - i128::from(i64::MAX)).to_string();
    assert!(csv.contains(&expected), "{csv}");
}

#[test]
fn empty_day() {
    let r = reconcile("x", date(2024, 5, 1), &[], &[]);
    assert!(r.is_balanced());
    assert_eq!((r.ours_count, r.theirs_count, r.matched_count), (0, 0, 0));
}

#[test]
fn serialises_snake_case_json() {
    let r = reconcile(
        "wechat",
        date(2024, 5, 1),
        &[ours("a", 100)],
        &[theirs("b", 200)],
    );
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["channel"], "wechat");
    assert_eq!(v["date"], "2024-05-01");
    assert_eq!(v["ours_total_fen"], 100);
    assert_eq!(v["theirs_total_fen"], 200);
    assert_eq!(v["differences"][0]["kind"], "missing_at_provider");
    assert_eq!(v["differences"][1]["kind"], "missing_in_yufu");
    assert_eq!(v["differences"][1]["ours_fen"], serde_json::Value::Null);
    let back: yufu_payments::Reconciliation = serde_json::from_value(v).unwrap();
    assert_eq!(back, r);
}

#[test]
fn csv_report_has_bom_summary_and_table() {
    let theirs_lines = parse_settlement_csv(
        b"transaction_id,amount_fen,paid_at\n=cmd,100,2024-05-01T08:00:00Z\nb,250,2024-05-01T08:00:00Z\nc,123456,2024-05-01T08:00:00Z\n",
    )
    .unwrap();
    let r = reconcile(
        "wechat",
        date(2024, 5, 1),
        &[ours("b", 200), ours("c", 123_456)],
        &theirs_lines,
    );
    let bytes = reconciliation_csv(&r);
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
    let text = std::str::from_utf8(&bytes[3..]).unwrap();
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(lines[0], "channel 渠道,wechat");
    assert_eq!(lines[1], "date 日期,2024-05-01");
    assert_eq!(lines[3], "yufu 平台入账,2,123656,\"1,236.56\"");
    assert_eq!(lines[4], "provider 渠道结算,3,123806,\"1,238.06\"");
    assert_eq!(lines[5], "matched 已核对,1,123456,\"1,234.56\"");
    assert_eq!(lines[6], "net_difference_fen 差额(分),,150,1.50");
    assert_eq!(lines[7], "differences 差异笔数,2");
    assert_eq!(lines[8], "");
    assert_eq!(
        lines[9],
        "transaction_id,kind,label,ours_fen,theirs_fen,difference_fen"
    );
    // Formula-looking ids are neutralised; "=" sorts before letters.
    assert_eq!(
        lines[10],
        "'=cmd,missing_in_yufu,平台缺单 missing in Yufu,,100,"
    );
    assert_eq!(
        lines[11],
        "b,amount_mismatch,金额不符 amount mismatch,200,250,50"
    );
    assert_eq!(lines[12], "");
    assert_eq!(lines.len(), 13);
}

#[test]
fn csv_quotes_commas_and_quotes() {
    let r = reconcile("a,\"b\"", date(2024, 5, 1), &[], &[]);
    let text = String::from_utf8(reconciliation_csv(&r)).unwrap();
    assert!(text.contains("channel 渠道,\"a,\"\"b\"\"\"\r\n"), "{text}");
}
