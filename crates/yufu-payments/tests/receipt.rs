#![allow(clippy::unwrap_used)]

use jiff::Timestamp;
use yufu_payments::{Lang, Receipt, format_yuan, receipt_html};

fn receipt() -> Receipt {
    Receipt {
        receipt_no: "R20240501-0007".into(),
        organisation: "广州天河物业".into(),
        account_number: "GZ-0001".into(),
        customer_name_masked: "张*明".into(),
        amount_fen: 123_456,
        balance_after_fen: -250,
        channel: "现金".into(),
        cashier: "李四".into(),
        at: "2024-05-01T00:30:00Z".parse::<Timestamp>().unwrap(),
        timezone: "Asia/Shanghai".into(),
    }
}

#[test]
fn formats_fen_as_yuan() {
    assert_eq!(format_yuan(0), "0.00");
    assert_eq!(format_yuan(5), "0.05");
    assert_eq!(format_yuan(100), "1.00");
    assert_eq!(format_yuan(123_456), "1,234.56");
    assert_eq!(format_yuan(-250), "-2.50");
}

#[test]
fn chinese_receipt_is_a_complete_document() {
    let html = receipt_html(&receipt(), Lang::Zh);
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"zh-CN\">"));
    assert!(html.trim_end().ends_with("</html>"));
    assert!(html.contains("<meta charset=\"utf-8\">"));
    for label in [
        "充值收据",
        "收据号",
        "账户",
        "金额",
        "余额",
        "收银员",
        "打印",
    ] {
        assert!(html.contains(label), "{label}");
    }
    assert!(html.contains("<td>¥1,234.56</td>"), "{html}");
    assert!(html.contains("<td>-¥2.50</td>"), "{html}");
    // 00:30 UTC is 08:30 in Shanghai.
    assert!(html.contains("2024-05-01 08:30:00 (UTC+08:00)"), "{html}");
    assert!(html.contains("张*明") && html.contains("GZ-0001") && html.contains("广州天河物业"));
}

#[test]
fn english_receipt() {
    let html = receipt_html(&receipt(), Lang::En);
    assert!(html.contains("<html lang=\"en\">"));
    for label in [
        "Recharge receipt",
        "Account",
        "Amount",
        "Balance",
        "Cashier",
        ">Print<",
    ] {
        assert!(html.contains(label), "{label}");
    }
    assert!(!html.contains("收银员"));
}

#[test]
fn print_css_and_no_external_resources() {
    let html = receipt_html(&receipt(), Lang::Zh);
    assert!(html.contains("<style>"));
    assert!(html.contains("@media print"));
    assert!(html.contains("80mm"));
    let print_block = html.split("@media print").nth(1).unwrap();
    assert!(print_block.contains(".print{display:none}"));
    assert!(html.contains("class=\"print\" onclick=\"window.print()\""));
    for forbidden in [
        "<script", "<link", "src=", "href=", "http:", "https:", "url(",
    ] {
        assert!(!html.contains(forbidden), "{forbidden}");
    }
    assert_eq!(html.matches("onclick=").count(), 1);
}

#[test]
fn every_field_is_escaped() {
    let evil = "<script>alert('x')</script>\"&";
    let mut r = receipt();
    r.receipt_no = evil.into();
    r.organisation = evil.into();
    r.account_number = evil.into();
    r.customer_name_masked = evil.into();
    r.channel = evil.into();
    r.cashier = evil.into();
    r.timezone = evil.into();
    for lang in [Lang::Zh, Lang::En] {
        let html = receipt_html(&r, lang);
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("alert('x')"));
        let escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&amp;";
        // title + h1 + receipt no + account + customer + channel + cashier
        assert_eq!(html.matches(escaped).count(), 7, "{html}");
    }
}

#[test]
fn unknown_time_zone_falls_back_to_utc_visibly() {
    let mut r = receipt();
    r.timezone = "Mars/Olympus_Mons".into();
    let html = receipt_html(&r, Lang::En);
    assert!(html.contains("2024-05-01 00:30:00 (UTC+00:00)"), "{html}");
}

#[test]
fn amounts_zero_and_small() {
    let mut r = receipt();
    r.amount_fen = 5;
    r.balance_after_fen = 0;
    let html = receipt_html(&r, Lang::Zh);
    assert!(html.contains("<td>¥0.05</td>"));
    assert!(html.contains("<td>¥0.00</td>"));
    r.amount_fen = 100;
    assert!(receipt_html(&r, Lang::Zh).contains("<td>¥1.00</td>"));
}
