//! Daily reconciliation (对账) of one payment channel: what Yufu credited
//! against what the provider settled.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::money::format_yuan_wide;
use crate::settlement::SettlementLine;

/// One payment Yufu credited to an account, as read from Yufu's ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credited {
    /// The provider's transaction id the credit was made for.
    pub transaction_id: String,
    pub amount_fen: i64,
    pub credited_at: jiff::Timestamp,
}

/// How one transaction differs between Yufu and the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DifferenceKind {
    /// The provider settled it; Yufu credited nothing (平台缺单).
    MissingInYufu,
    /// Yufu credited it; the provider did not settle it (渠道缺单).
    MissingAtProvider,
    /// Both have it, with different amounts (金额不符).
    AmountMismatch,
    /// Yufu credited the same transaction more than once (重复入账). One
    /// difference per extra credit, `ours_fen` being that credit's amount.
    DuplicateInYufu,
    /// The provider's list holds the transaction more than once (渠道重复).
    /// One difference per extra line, `theirs_fen` being its amount.
    /// ([`crate::parse_settlement_csv`] refuses such files; this is for lists
    /// gathered otherwise.)
    DuplicateAtProvider,
}

impl DifferenceKind {
    /// The snake_case code, as serialised.
    pub fn code(self) -> &'static str {
        match self {
            Self::MissingInYufu => "missing_in_yufu",
            Self::MissingAtProvider => "missing_at_provider",
            Self::AmountMismatch => "amount_mismatch",
            Self::DuplicateInYufu => "duplicate_in_yufu",
            Self::DuplicateAtProvider => "duplicate_at_provider",
        }
    }

    /// A short label for people, Chinese then English.
    pub fn label(self) -> &'static str {
        match self {
            Self::MissingInYufu => "平台缺单 missing in Yufu",
            Self::MissingAtProvider => "渠道缺单 missing at provider",
            Self::AmountMismatch => "金额不符 amount mismatch",
            Self::DuplicateInYufu => "重复入账 credited twice in Yufu",
            Self::DuplicateAtProvider => "渠道重复 listed twice by provider",
        }
    }
}

/// One transaction that does not reconcile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Difference {
    pub transaction_id: String,
    pub kind: DifferenceKind,
    /// What Yufu credited, if anything.
    pub ours_fen: Option<i64>,
    /// What the provider settled, if anything.
    pub theirs_fen: Option<i64>,
}

/// The outcome of reconciling one channel for one day.
///
/// Totals are `i128` so that no list of `i64` amounts can overflow them
/// (serialised as plain JSON integers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconciliation {
    pub channel: String,
    pub date: jiff::civil::Date,
    /// How many credits Yufu made (duplicates included).
    pub ours_count: u64,
    pub ours_total_fen: i128,
    /// How many lines the provider settled (duplicates included).
    pub theirs_count: u64,
    pub theirs_total_fen: i128,
    /// Transactions present once on each side with equal amounts.
    pub matched_count: u64,
    pub matched_total_fen: i128,
    /// Every transaction that does not reconcile, sorted by transaction id.
    pub differences: Vec<Difference>,
}

impl Reconciliation {
    /// True when every transaction matched on both sides.
    pub fn is_balanced(&self) -> bool {
        self.differences.is_empty()
    }

    /// `theirs_total_fen - ours_total_fen`: positive when the provider settled
    /// more than Yufu credited.
    pub fn net_difference_fen(&self) -> i128 {
        self.theirs_total_fen - self.ours_total_fen
    }
}

/// Compares what Yufu credited on `date` for `channel` (`ours`) with the
/// provider's settlement lines for that day (`theirs`), matching by
/// transaction id.
///
/// A transaction is matched when it appears once on each side with the same
/// amount. Otherwise it is a [`Difference`]; a transaction present more than
/// once on one side is compared by its first occurrence and each further
/// occurrence is a difference of its own. Payments made just before midnight
/// may fall on different days on the two sides; they show as a
/// `missing_in_yufu` on one day and a `missing_at_provider` on the other.
pub fn reconcile(
    channel: &str,
    date: jiff::civil::Date,
    ours: &[Credited],
    theirs: &[SettlementLine],
) -> Reconciliation {
    #[derive(Default)]
    struct Sides {
        ours: Vec<i64>,
        theirs: Vec<i64>,
    }
    let mut by_id: BTreeMap<&str, Sides> = BTreeMap::new();
    for c in ours {
        by_id
            .entry(c.transaction_id.as_str())
            .or_default()
            .ours
            .push(c.amount_fen);
    }
    for t in theirs {
        by_id
            .entry(t.transaction_id.as_str())
            .or_default()
            .theirs
            .push(t.amount_fen);
    }

    let mut matched_count: u64 = 0;
    let mut matched_total_fen: i128 = 0;
    let mut differences = Vec::new();
    for (id, sides) in &by_id {
        let difference = |kind, ours_fen, theirs_fen| Difference {
            transaction_id: (*id).to_owned(),
            kind,
            ours_fen,
            theirs_fen,
        };
        let first_ours = sides.ours.first().copied();
        let first_theirs = sides.theirs.first().copied();
        match (first_ours, first_theirs) {
            (Some(o), Some(t)) if o == t => {
                matched_count += 1;
                matched_total_fen += i128::from(o);
            }
            (Some(o), Some(t)) => {
                differences.push(difference(DifferenceKind::AmountMismatch, Some(o), Some(t)));
            }
            (Some(o), None) => {
                differences.push(difference(DifferenceKind::MissingAtProvider, Some(o), None));
            }
            (None, Some(t)) => {
                differences.push(difference(DifferenceKind::MissingInYufu, None, Some(t)));
            }
            (None, None) => {}
        }
        for &extra in sides.ours.iter().skip(1) {
            differences.push(difference(
                DifferenceKind::DuplicateInYufu,
                Some(extra),
                None,
            ));
        }
        for &extra in sides.theirs.iter().skip(1) {
            differences.push(difference(
                DifferenceKind::DuplicateAtProvider,
                None,
                Some(extra),
            ));
        }
    }

    Reconciliation {
        channel: channel.to_owned(),
        date,
        ours_count: count(ours.len()),
        ours_total_fen: ours.iter().map(|c| i128::from(c.amount_fen)).sum(),
        theirs_count: count(theirs.len()),
        theirs_total_fen: theirs.iter().map(|t| i128::from(t.amount_fen)).sum(),
        matched_count,
        matched_total_fen,
        differences,
    }
}

fn count(n: usize) -> u64 {
    // usize is at most 64 bits on every platform Rust supports.
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// The reconciliation as a CSV file for a spreadsheet: UTF-8 with a
/// byte-order mark (so Excel reads the Chinese labels), CRLF line ends.
///
/// First a summary block (channel, date, then count / fen / yuan for Yufu,
/// the provider and the matched transactions, and the number of differences),
/// a blank row, then the differences table with the columns
/// `transaction_id,kind,label,ours_fen,theirs_fen,difference_fen`
/// (`difference_fen` = theirs − ours, empty when a side is missing).
///
/// Text cells that a spreadsheet would take for a formula (starting with
/// `=`, `+`, `-`, `@`, tab or CR) are prefixed with `'`.
pub fn reconciliation_csv(r: &Reconciliation) -> Vec<u8> {
    let mut out = CsvOut::default();
    out.buf.push('\u{feff}');
    out.row(&[&text("channel 渠道"), &text(&r.channel)]);
    out.row(&[&text("date 日期"), &r.date.to_string()]);
    out.row(&[
        "",
        "count 笔数",
        "total_fen 金额(分)",
        "total_yuan 金额(元)",
    ]);
    for (label, n, total) in [
        ("yufu 平台入账", r.ours_count, r.ours_total_fen),
        ("provider 渠道结算", r.theirs_count, r.theirs_total_fen),
        ("matched 已核对", r.matched_count, r.matched_total_fen),
    ] {
        out.row(&[
            label,
            &n.to_string(),
            &total.to_string(),
            &format_yuan_wide(total),
        ]);
    }
    out.row(&[
        "net_difference_fen 差额(分)",
        "",
        &r.net_difference_fen().to_string(),
        &format_yuan_wide(r.net_difference_fen()),
    ]);
    out.row(&["differences 差异笔数", &r.differences.len().to_string()]);
    out.row(&[]);
    out.row(&[
        "transaction_id",
        "kind",
        "label",
        "ours_fen",
        "theirs_fen",
        "difference_fen",
    ]);
    let fen = |v: Option<i64>| v.map(|f| f.to_string()).unwrap_or_default();
    for d in &r.differences {
        let diff = match (d.ours_fen, d.theirs_fen) {
            (Some(o), Some(t)) => (i128::from(t) - i128::from(o)).to_string(),
            _ => String::new(),
        };
        out.row(&[
            &text(&d.transaction_id),
            d.kind.code(),
            d.kind.label(),
            &fen(d.ours_fen),
            &fen(d.theirs_fen),
            &diff,
        ]);
    }
    out.buf.into_bytes()
}

/// Neutralises spreadsheet formula injection in a text cell.
fn text(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

#[derive(Default)]
struct CsvOut {
    buf: String,
}

impl CsvOut {
    fn row(&mut self, cells: &[&str]) {
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                self.buf.push(',');
            }
            let needs_quotes = cell.contains([',', '"', '\r', '\n'])
                || cell.starts_with(' ')
                || cell.ends_with(' ');
            if needs_quotes {
                self.buf.push('"');
                self.buf.push_str(&cell.replace('"', "\"\""));
                self.buf.push('"');
            } else {
                self.buf.push_str(cell);
            }
        }
        self.buf.push_str("\r\n");
    }
}
