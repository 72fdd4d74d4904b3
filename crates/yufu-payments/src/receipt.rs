//! The counter recharge receipt (充值收据), printed on an 80 mm receipt printer
//! or any browser.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::money::format_yuan;

/// The language of a receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    /// 简体中文
    Zh,
    En,
}

/// What a counter recharge receipt shows. All text is shown as given (and
/// HTML-escaped): the caller masks the customer's name and picks the wording
/// of the channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub receipt_no: String,
    /// The operating organisation, shown as the title.
    pub organisation: String,
    pub account_number: String,
    /// The customer's name, already masked (e.g. `张*明`).
    pub customer_name_masked: String,
    /// The amount paid in, in fen.
    pub amount_fen: i64,
    /// The account balance after the recharge, in fen (negative in overdraft).
    pub balance_after_fen: i64,
    /// How it was paid, e.g. `现金` or `cash`.
    pub channel: String,
    pub cashier: String,
    /// When the recharge was made.
    pub at: jiff::Timestamp,
    /// The IANA time zone the time is shown in, e.g. `Asia/Shanghai`. An
    /// unknown name falls back to UTC, and the receipt says so.
    pub timezone: String,
}

struct Labels {
    html_lang: &'static str,
    title: &'static str,
    receipt_no: &'static str,
    time: &'static str,
    account: &'static str,
    customer: &'static str,
    channel: &'static str,
    amount: &'static str,
    balance: &'static str,
    cashier: &'static str,
    signature: &'static str,
    footer: &'static str,
    print: &'static str,
}

const ZH: Labels = Labels {
    html_lang: "zh-CN",
    title: "充值收据",
    receipt_no: "收据号",
    time: "时间",
    account: "账户",
    customer: "户名",
    channel: "支付方式",
    amount: "金额",
    balance: "余额",
    cashier: "收银员",
    signature: "客户签字",
    footer: "请妥善保管本收据",
    print: "打印",
};

const EN: Labels = Labels {
    html_lang: "en",
    title: "Recharge receipt",
    receipt_no: "Receipt no.",
    time: "Time",
    account: "Account",
    customer: "Customer",
    channel: "Paid by",
    amount: "Amount",
    balance: "Balance",
    cashier: "Cashier",
    signature: "Customer signature",
    footer: "Please keep this receipt",
    print: "Print",
};

const STYLE: &str = "\
*{box-sizing:border-box}
body{margin:0;padding:4mm;font-family:\"PingFang SC\",\"Microsoft YaHei\",\"Noto Sans CJK SC\",sans-serif;font-size:12px;color:#000;background:#fff}
.receipt{width:80mm;max-width:100%;margin:0 auto}
h1{font-size:15px;text-align:center;margin:0 0 1mm}
h2{font-size:13px;text-align:center;margin:0 0 2mm;font-weight:normal}
table{width:100%;border-collapse:collapse}
th{text-align:left;font-weight:normal;white-space:nowrap;padding:0.6mm 2mm 0.6mm 0;vertical-align:top}
td{text-align:right;padding:0.6mm 0;word-break:break-all}
.money td{font-size:14px;font-weight:bold}
hr{border:0;border-top:1px dashed #000;margin:2mm 0}
.sign{margin-top:6mm}
.foot{text-align:center;margin-top:3mm;font-size:11px}
.print{display:block;margin:4mm auto 0;padding:2mm 6mm;font-size:14px}
@page{size:80mm auto;margin:0}
@media print{
body{padding:2mm 4mm}
.receipt{width:72mm}
.print{display:none}
}
";

/// Renders a recharge receipt as a complete, self-contained HTML5 document:
/// inline CSS sized for an 80 mm receipt printer, no external resources, and
/// no script except the print button's `onclick="window.print()"` (the
/// button is hidden on paper). Amounts are shown as yuan with two decimals,
/// the time in the receipt's time zone.
pub fn receipt_html(r: &Receipt, lang: Lang) -> String {
    let l = match lang {
        Lang::Zh => &ZH,
        Lang::En => &EN,
    };
    let mut h = String::with_capacity(4096);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} {no}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n\
         <div class=\"receipt\">\n<h1>{org}</h1>\n<h2>{title}</h2>\n<hr>\n<table>\n",
        lang = l.html_lang,
        title = l.title,
        no = escape(&r.receipt_no),
        org = escape(&r.organisation),
    );
    let rows: [(&str, String); 5] = [
        (l.receipt_no, escape(&r.receipt_no)),
        (l.time, escape(&local_time(r.at, &r.timezone))),
        (l.account, escape(&r.account_number)),
        (l.customer, escape(&r.customer_name_masked)),
        (l.channel, escape(&r.channel)),
    ];
    for (label, value) in rows {
        row(&mut h, "", label, &value);
    }
    h.push_str("</table>\n<hr>\n<table>\n");
    row(&mut h, "money", l.amount, &yuan(r.amount_fen));
    row(&mut h, "", l.balance, &yuan(r.balance_after_fen));
    h.push_str("</table>\n<hr>\n<table>\n");
    row(&mut h, "", l.cashier, &escape(&r.cashier));
    row(&mut h, "sign", l.signature, "");
    let _ = write!(
        h,
        "</table>\n<p class=\"foot\">{footer}</p>\n</div>\n\
         <button type=\"button\" class=\"print\" onclick=\"window.print()\">{print}</button>\n\
         </body>\n</html>\n",
        footer = l.footer,
        print = l.print,
    );
    h
}

fn row(h: &mut String, class: &str, label: &str, value_html: &str) {
    if class.is_empty() {
        h.push_str("<tr>");
    } else {
        let _ = write!(h, "<tr class=\"{class}\">");
    }
    let _ = writeln!(h, "<th>{label}</th><td>{value_html}</td></tr>");
}

/// `¥1,234.56`, `-¥2.50`.
fn yuan(fen: i64) -> String {
    let text = format_yuan(fen);
    match text.strip_prefix('-') {
        Some(abs) => format!("-¥{abs}"),
        None => format!("¥{text}"),
    }
}

/// The time in the named zone, from the bundled time zone database (no file
/// is read), e.g. `2024-05-01 08:00:00 (UTC+08:00)`.
fn local_time(at: jiff::Timestamp, timezone: &str) -> String {
    let tz = jiff::tz::TimeZoneDatabase::bundled()
        .get(timezone)
        .unwrap_or(jiff::tz::TimeZone::UTC);
    let zoned = at.to_zoned_datetime(tz);
    zoned.strftime("%Y-%m-%d %H:%M:%S (UTC%:z)").to_string()
}

/// Escapes text for HTML element content and quoted attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
