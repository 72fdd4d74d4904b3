//! The provider's daily settlement file (对账单).

use std::borrow::Cow;
use std::collections::HashMap;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::SettlementError;
use crate::notice::{MAX_AMOUNT_FEN, check_transaction_id};

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
const COLUMNS: [&str; 3] = ["transaction_id", "amount_fen", "paid_at"];
/// How much of an offending value an error message repeats.
const ECHO_CHARS: usize = 40;

/// One payment in the provider's settlement file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementLine {
    /// The row of the file it came from (the header is row 1); 0 for a line
    /// that did not come from a file.
    pub row: u64,
    /// The provider's transaction id, as in the callback's `transaction_id`.
    pub transaction_id: String,
    /// The amount settled, in fen: 1..=[`MAX_AMOUNT_FEN`].
    pub amount_fen: i64,
    /// When the provider took the money.
    pub paid_at: jiff::Timestamp,
}

/// Reads a provider's settlement file.
///
/// * Encoding: UTF-8 (with or without a byte-order mark) if the bytes are
///   valid UTF-8, otherwise GB18030 (which includes GBK and GB2312), as
///   Chinese spreadsheet software writes it.
/// * A header row is required naming the columns `transaction_id`,
///   `amount_fen` and `paid_at` (any order, any letter case); other columns
///   are ignored.
/// * `transaction_id`: 1–64 visible ASCII characters, each id once in the
///   file. `amount_fen`: a whole number of fen, 1..=10 000 000 (no decimal
///   point: `1250` is 12.50 yuan). `paid_at`: RFC 3339 with an offset, e.g.
///   `2024-05-01T08:00:00+08:00` (a space instead of `T` is accepted).
/// * Spaces around values are ignored; blank rows (also rows of empty cells,
///   as spreadsheets export them) are skipped.
///
/// The first problem found is returned, naming its row (1-based, the header
/// being row 1) and column.
pub fn parse_settlement_csv(bytes: &[u8]) -> Result<Vec<SettlementLine>, SettlementError> {
    let text = decode(bytes)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut records = reader.records();

    let header = loop {
        match records.next() {
            None => return Err(SettlementError::Empty),
            Some(record) => {
                let record = record.map_err(|e| malformed(e, &mut RowCounter::new(&text)))?;
                if !is_blank(&record) {
                    break record;
                }
            }
        }
    };
    let index = column_index(&header)?;

    let mut rows = RowCounter::new(&text);
    let mut lines: Vec<SettlementLine> = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    for record in records {
        let record = record.map_err(|e| malformed(e, &mut rows))?;
        if is_blank(&record) {
            continue;
        }
        let row = rows.row_at(record.position());
        let line = parse_row(&record, row, &index)?;
        if let Some(&first_row) = seen.get(&line.transaction_id) {
            return Err(SettlementError::DuplicateTransaction {
                transaction_id: line.transaction_id,
                row,
                first_row,
            });
        }
        seen.insert(line.transaction_id.clone(), row);
        lines.push(line);
    }
    Ok(lines)
}

fn decode(bytes: &[u8]) -> Result<Cow<'_, str>, SettlementError> {
    let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok(Cow::Borrowed(text));
    }
    encoding_rs::GB18030
        .decode_without_bom_handling_and_without_replacement(bytes)
        .ok_or(SettlementError::Encoding)
}

fn malformed(e: csv::Error, rows: &mut RowCounter<'_>) -> SettlementError {
    SettlementError::Malformed {
        row: rows.row_at(e.position()),
        message: e.to_string(),
    }
}

/// Turns a record's byte offset into the row number a text editor or
/// spreadsheet shows. (The csv crate's own line count is one short after
/// CRLF line ends, which is what Windows tools write.) LF, CRLF and a lone
/// CR each end a line. Offsets only grow, so the text is scanned once.
struct RowCounter<'a> {
    text: &'a [u8],
    scanned: usize,
    row: u64,
}

impl<'a> RowCounter<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text: text.as_bytes(),
            scanned: 0,
            row: 1,
        }
    }

    fn row_at(&mut self, position: Option<&csv::Position>) -> u64 {
        let Some(position) = position else {
            return 0;
        };
        let mut start = usize::try_from(position.byte()).unwrap_or(usize::MAX);
        // A record may be reported as starting at the line end before it.
        while matches!(self.text.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        let end = start.min(self.text.len());
        while self.scanned < end {
            let b = self.text[self.scanned];
            let next = self.text.get(self.scanned + 1).copied();
            if b == b'\n' || (b == b'\r' && next != Some(b'\n')) {
                self.row += 1;
            }
            self.scanned += 1;
        }
        self.row
    }
}

fn is_blank(record: &csv::StringRecord) -> bool {
    record.iter().all(str::is_empty)
}

/// Where each wanted column is, by position in a row.
struct ColumnIndex([usize; COLUMNS.len()]);

fn column_index(header: &csv::StringRecord) -> Result<ColumnIndex, SettlementError> {
    let mut found: [Option<usize>; COLUMNS.len()] = [None; COLUMNS.len()];
    for (position, name) in header.iter().enumerate() {
        // A byte-order mark inside the text (GB18030's own, or a doubled one)
        // would otherwise stick to the first column name.
        let name = name.trim_start_matches('\u{feff}').trim();
        if let Some(k) = COLUMNS.iter().position(|c| c.eq_ignore_ascii_case(name)) {
            if found[k].is_some() {
                return Err(SettlementError::DuplicateColumn { column: COLUMNS[k] });
            }
            found[k] = Some(position);
        }
    }
    let mut index = [0; COLUMNS.len()];
    for (k, position) in found.into_iter().enumerate() {
        index[k] = position.ok_or(SettlementError::MissingColumn { column: COLUMNS[k] })?;
    }
    Ok(ColumnIndex(index))
}

fn parse_row(
    record: &csv::StringRecord,
    row: u64,
    index: &ColumnIndex,
) -> Result<SettlementLine, SettlementError> {
    let [id_at, amount_at, paid_at_at] = index.0;
    let value = |at: usize, column: &'static str| match record.get(at) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(SettlementError::MissingValue { row, column }),
    };
    let invalid =
        |column: &'static str, value: &str, reason: &'static str| SettlementError::InvalidValue {
            row,
            column,
            value: echo(value),
            reason,
        };

    let transaction_id = value(id_at, "transaction_id")?;
    check_transaction_id(transaction_id)
        .map_err(|r| invalid("transaction_id", transaction_id, r))?;

    let amount = value(amount_at, "amount_fen")?;
    let amount_fen = parse_amount(amount).map_err(|r| invalid("amount_fen", amount, r))?;

    let paid_at_text = value(paid_at_at, "paid_at")?;
    let paid_at = jiff::Timestamp::from_str(paid_at_text).map_err(|_| {
        invalid(
            "paid_at",
            paid_at_text,
            "is not an RFC 3339 time with an offset, e.g. 2024-05-01T08:00:00+08:00",
        )
    })?;

    Ok(SettlementLine {
        row,
        transaction_id: transaction_id.to_owned(),
        amount_fen,
        paid_at,
    })
}

fn parse_amount(s: &str) -> Result<i64, &'static str> {
    if s.contains('.') {
        return Err("is not a whole number of fen (no decimal point: 12.50 yuan is 1250)");
    }
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("is not a whole number of fen");
    }
    if negative {
        return Err("must be positive (refunds are not part of this file)");
    }
    let fen: i64 = match digits.parse() {
        Ok(fen) => fen,
        Err(_) => return Err("is more than 10000000 fen (100000 yuan)"),
    };
    if fen == 0 {
        return Err("must be positive");
    }
    if fen > MAX_AMOUNT_FEN {
        return Err("is more than 10000000 fen (100000 yuan)");
    }
    Ok(fen)
}

fn echo(s: &str) -> String {
    match s.char_indices().nth(ECHO_CHARS) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}
