#![allow(clippy::unwrap_used)]

use yufu_payments::{SettlementError, parse_settlement_csv};

const CSV: &str = "transaction_id,amount_fen,paid_at\r\n\
wx-1,5000,2024-05-01T08:00:00+08:00\r\n\
wx-2,12000,2024-05-01T09:30:00+08:00\r\n";

#[test]
fn parses_plain_utf8() {
    let lines = parse_settlement_csv(CSV.as_bytes()).unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].transaction_id, "wx-1");
    assert_eq!(lines[0].amount_fen, 5000);
    assert_eq!(lines[0].row, 2);
    assert_eq!(lines[0].paid_at.as_second(), 1_714_521_600);
    assert_eq!(lines[1].row, 3);
    assert_eq!(lines[1].amount_fen, 12000);
}

#[test]
fn parses_utf8_with_bom() {
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(CSV.as_bytes());
    let lines = parse_settlement_csv(&bytes).unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].transaction_id, "wx-1");
}

#[test]
fn parses_gb18030_with_chinese_columns_and_free_order() {
    let text = "备注,paid_at,Amount_Fen,商户,transaction_id\n\
                张三缴费,2024-05-01T08:00:00+08:00,5000,广州供电,wx-1\n\
                李四,2024-05-01 09:30:00+08:00, 12000 ,广州,wx-2\n";
    let (bytes, _, had_errors) = encoding_rs::GB18030.encode(text);
    assert!(!had_errors);
    assert!(
        std::str::from_utf8(&bytes).is_err(),
        "the test bytes must not be UTF-8"
    );
    let lines = parse_settlement_csv(&bytes).unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].transaction_id, "wx-1");
    assert_eq!(lines[0].amount_fen, 5000);
    assert_eq!(lines[1].amount_fen, 12000);
}

#[test]
fn gb18030_errors_still_name_rows() {
    let text =
        "交易号备注,transaction_id,amount_fen,paid_at\n中文,wx-1,12.50,2024-05-01T08:00:00Z\n";
    let (bytes, _, _) = encoding_rs::GB18030.encode(text);
    let err = parse_settlement_csv(&bytes).unwrap_err();
    assert_eq!((err.row(), err.column()), (Some(2), Some("amount_fen")));
}

#[test]
fn undecodable_bytes_are_refused() {
    let err =
        parse_settlement_csv(b"transaction_id,amount_fen,paid_at\n\xFF\xFF,1,x\n").unwrap_err();
    assert_eq!(err, SettlementError::Encoding);
}

#[test]
fn empty_file_needs_a_header() {
    assert_eq!(
        parse_settlement_csv(b"").unwrap_err(),
        SettlementError::Empty
    );
    assert_eq!(
        parse_settlement_csv(b"\n\n").unwrap_err(),
        SettlementError::Empty
    );
    assert_eq!(
        parse_settlement_csv(b"\xEF\xBB\xBF").unwrap_err(),
        SettlementError::Empty
    );
}

#[test]
fn header_only_is_an_empty_day() {
    assert!(
        parse_settlement_csv(b"transaction_id,amount_fen,paid_at\n")
            .unwrap()
            .is_empty()
    );
}

#[test]
fn missing_column_is_named() {
    let err =
        parse_settlement_csv(b"transaction_id,amount,paid_at\nwx-1,5000,2024-05-01T08:00:00Z\n")
            .unwrap_err();
    assert_eq!(
        err,
        SettlementError::MissingColumn {
            column: "amount_fen"
        }
    );
    assert!(err.to_string().contains("amount_fen"));
    // Without a header row, the first data row is read as the header.
    let err = parse_settlement_csv(b"wx-1,5000,2024-05-01T08:00:00Z\n").unwrap_err();
    assert!(matches!(err, SettlementError::MissingColumn { .. }));
}

#[test]
fn duplicate_column_is_refused() {
    let err = parse_settlement_csv(b"transaction_id,amount_fen,paid_at,AMOUNT_FEN\n").unwrap_err();
    assert_eq!(
        err,
        SettlementError::DuplicateColumn {
            column: "amount_fen"
        }
    );
}

#[test]
fn bad_amount_names_row_and_column() {
    let csv = format!("{CSV}wx-3,abc,2024-05-01T10:00:00+08:00\r\n");
    let err = parse_settlement_csv(csv.as_bytes()).unwrap_err();
    assert_eq!(err.row(), Some(4));
    assert_eq!(err.column(), Some("amount_fen"));
    let message = err.to_string();
    assert!(
        message.starts_with("row 4, column amount_fen:"),
        "{message}"
    );
    assert!(message.contains("\"abc\""), "{message}");

    for (amount, hint) in [
        ("12.50", "no decimal point"),
        ("-100", "positive"),
        ("0", "positive"),
        ("10000001", "more than"),
        ("99999999999999999999", "more than"),
        ("1e3", "whole number"),
        ("¥12", "whole number"),
    ] {
        let csv =
            format!("transaction_id,amount_fen,paid_at\nwx-1,{amount},2024-05-01T08:00:00Z\n");
        let err = parse_settlement_csv(csv.as_bytes()).unwrap_err();
        assert_eq!(
            (err.row(), err.column()),
            (Some(2), Some("amount_fen")),
            "{amount}"
        );
        assert!(err.to_string().contains(hint), "{amount}: {err}");
    }
}

#[test]
fn empty_and_short_rows_name_the_missing_value() {
    let err =
        parse_settlement_csv(b"transaction_id,amount_fen,paid_at\nwx-1,,2024-05-01T08:00:00Z\n")
            .unwrap_err();
    assert_eq!(
        err,
        SettlementError::MissingValue {
            row: 2,
            column: "amount_fen"
        }
    );
    let err = parse_settlement_csv(b"transaction_id,amount_fen,paid_at\nwx-1,100\n").unwrap_err();
    assert_eq!(
        err,
        SettlementError::MissingValue {
            row: 2,
            column: "paid_at"
        }
    );
}

#[test]
fn bad_transaction_id_and_time_are_named() {
    let err =
        parse_settlement_csv(b"transaction_id,amount_fen,paid_at\nwx 1,100,2024-05-01T08:00:00Z\n")
            .unwrap_err();
    assert_eq!((err.row(), err.column()), (Some(2), Some("transaction_id")));
    let err = parse_settlement_csv(
        b"transaction_id,amount_fen,paid_at\nwx-1,100,2024-05-01T08:00:00Z\nwx-2,100,2024/05/01 08:00\n",
    )
    .unwrap_err();
    assert_eq!((err.row(), err.column()), (Some(3), Some("paid_at")));
}

#[test]
fn duplicate_transaction_is_refused() {
    let csv = format!("{CSV}wx-1,5000,2024-05-01T08:00:00+08:00\r\n");
    let err = parse_settlement_csv(csv.as_bytes()).unwrap_err();
    assert_eq!(
        err,
        SettlementError::DuplicateTransaction {
            transaction_id: "wx-1".into(),
            row: 4,
            first_row: 2
        }
    );
    assert!(err.to_string().contains("row 2"));
}

#[test]
fn blank_rows_are_skipped_and_rows_keep_file_numbers() {
    let csv = "transaction_id,amount_fen,paid_at\n\nwx-1,100,2024-05-01T08:00:00Z\n,,\nwx-2,x,2024-05-01T08:00:00Z\n";
    let err = parse_settlement_csv(csv.as_bytes()).unwrap_err();
    assert_eq!(err.row(), Some(5));
}

#[test]
fn quoted_values_are_read() {
    let csv = "\"transaction_id\",\"amount_fen\",\"paid_at\",\"note\"\n\"wx-1\",\"100\",\"2024-05-01T08:00:00Z\",\"a, b\"\n";
    let lines = parse_settlement_csv(csv.as_bytes()).unwrap();
    assert_eq!(lines[0].amount_fen, 100);
}

proptest::proptest! {
    #[test]
    fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
        let _ = parse_settlement_csv(&bytes);
    }
}

#[test]
fn rows_are_physical_lines_for_every_line_end() {
    // A quoted value spanning two lines: the next record starts on line 4.
    let csv = "transaction_id,note,amount_fen,paid_at\r\nwx-1,\"line1\r\nline2\",100,2024-05-01T08:00:00Z\r\n\r\nwx-2,x,bad,2024-05-01T08:00:00Z\r\n";
    let err = parse_settlement_csv(csv.as_bytes()).unwrap_err();
    assert_eq!(
        (err.row(), err.column()),
        (Some(5), Some("amount_fen")),
        "{err}"
    );
    // Old Mac line ends (lone CR).
    let csv = "transaction_id,amount_fen,paid_at\rwx-1,100,2024-05-01T08:00:00Z\rwx-2,bad,2024-05-01T08:00:00Z\r";
    let err = parse_settlement_csv(csv.as_bytes()).unwrap_err();
    assert_eq!(err.row(), Some(3), "{err}");
}
