//! The CSV of delivered serial numbers (到货序列号导入): one device of a
//! delivery per row. Pure: this reads and checks the file; the delivery
//! service matches the rows against the contract and the store.
//!
//! The format (a header row is required, column names exact and lower case,
//! in any order, no other columns):
//!
//! | column          | required | what                                                   |
//! |-----------------|----------|--------------------------------------------------------|
//! | `serial`        | yes      | the nameplate serial ([`MeterSerial`]), unique in the file |
//! | `comm_address`  | no       | the communication address; blank = the serial          |
//! | `contract_line` | no       | the contract line's number (1, 2, …); blank is allowed when the contract has one line |
//! | `note`          | no       | free text, at most [`MAX_NOTE_CHARS`] characters        |
//!
//! Files are UTF-8; a byte-order mark (Excel's "CSV UTF-8") and CRLF line
//! ends are fine. Blank lines and rows of empty cells are skipped. Every
//! problem of the file is reported, each with its line, so that a file is
//! corrected in one go; a file with any problem yields no rows.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;

use csv::StringRecord;
use yufu_domain::{CommAddress, DomainError, MeterSerial};

/// The columns a serials file may have; only `serial` is required.
pub const COLUMNS: [&str; 4] = ["serial", "comm_address", "contract_line", "note"];

/// The most data rows one file may hold; split bigger deliveries.
pub const MAX_SERIAL_ROWS: usize = 100_000;

/// The longest note, in characters.
pub const MAX_NOTE_CHARS: usize = 500;

/// How much of a bad value a problem quotes back.
const MAX_QUOTED_CHARS: usize = 64;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One delivered device, as read from the file.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct SerialRow {
    /// The 1-based line of the file the row starts on; the header is line 1.
    pub line: u64,
    pub serial: MeterSerial,
    /// `None` when the cell is blank or the column absent: the device is
    /// then addressed by its serial.
    pub comm_address: Option<CommAddress>,
    /// The contract line's number (at least 1); `None` when blank.
    pub contract_line: Option<u32>,
    pub note: Option<String>,
}

/// One thing wrong with a serials file.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct SerialProblem {
    /// The 1-based line of the file; the header is line 1.
    pub line: u64,
    /// The column, when the problem is in one cell or one header name.
    pub column: Option<String>,
    /// The offending value (at most 64 characters of it), when there is one.
    pub value: Option<String>,
    pub message: String,
}

impl SerialProblem {
    fn new(
        line: u64,
        column: Option<&str>,
        value: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            line,
            column: column.map(str::to_owned),
            value: value.map(|v| v.chars().take(MAX_QUOTED_CHARS).collect()),
            message: message.into(),
        }
    }
}

impl fmt::Display for SerialProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}", self.line)?;
        if let Some(column) = &self.column {
            write!(f, ", column {column}")?;
        }
        if let Some(value) = &self.value {
            write!(f, " ({value:?})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Reads and checks a serials file: every row, or every problem (sorted by
/// line; several may share a line).
pub fn parse_serials(bytes: &[u8]) -> Result<Vec<SerialRow>, Vec<SerialProblem>> {
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    let mut problems = not_utf8_lines(bytes);
    let text = String::from_utf8_lossy(bytes);
    let rows = read(&text, !problems.is_empty(), &mut problems);
    if problems.is_empty() {
        Ok(rows)
    } else {
        // Stable: the problems of one line stay in column order.
        problems.sort_by_key(|p| p.line);
        Err(problems)
    }
}

/// One problem for each line that is not valid UTF-8. Checked on the raw
/// bytes because the CSV reader only sees the text after decoding.
fn not_utf8_lines(bytes: &[u8]) -> Vec<SerialProblem> {
    let mut problems = Vec::new();
    for (line, content) in (1u64..).zip(bytes.split(|b| *b == b'\n')) {
        if std::str::from_utf8(content).is_err() {
            problems.push(SerialProblem::new(
                line,
                None,
                None,
                "not valid UTF-8 text; save the file as \"CSV UTF-8\"",
            ));
        }
    }
    problems
}

/// Parses the text; pushes every problem and returns the good rows.
/// `had_bad_bytes`: rows holding undecodable text are already reported.
fn read(text: &str, had_bad_bytes: bool, problems: &mut Vec<SerialProblem>) -> Vec<SerialRow> {
    let mut records = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes())
        .into_records();
    let header = match records.next() {
        None => {
            problems.push(SerialProblem::new(
                1,
                None,
                None,
                format!(
                    "the file is empty: the first line must be the header naming the columns ({})",
                    columns_hint()
                ),
            ));
            return Vec::new();
        }
        Some(Err(e)) => {
            problems.push(csv_problem(&e, text, 1));
            return Vec::new();
        }
        Some(Ok(header)) => header,
    };
    let header_line = line_of(&header, text, 1);
    let Some(layout) = Layout::new(&header, header_line, problems) else {
        return Vec::new();
    };

    let mut rows = Vec::new();
    let mut first_seen: HashMap<MeterSerial, u64> = HashMap::new();
    let mut count = 0usize;
    let mut last_line = header_line;
    for record in records {
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                problems.push(csv_problem(&e, text, last_line + 1));
                break;
            }
        };
        let line = line_of(&record, text, last_line + 1);
        last_line = line;
        if record.iter().all(str::is_empty) {
            continue; // a row of empty cells (Excel leaves those)
        }
        count += 1;
        if count > MAX_SERIAL_ROWS {
            problems.push(SerialProblem::new(
                line,
                None,
                None,
                format!(
                    "too many rows: a file holds at most {MAX_SERIAL_ROWS} serials; split the delivery into several files"
                ),
            ));
            break;
        }
        if record.len() != layout.width {
            problems.push(SerialProblem::new(
                line,
                None,
                None,
                format!(
                    "this line has {} but the header has {}; check for a stray or missing comma (a value holding a comma must be in double quotes)",
                    fields(record.len()),
                    layout.width
                ),
            ));
            continue;
        }
        if had_bad_bytes && record.iter().any(|cell| cell.contains('\u{FFFD}')) {
            continue; // reported by line as not UTF-8
        }
        let before = problems.len();
        let row = Row {
            layout: &layout,
            record: &record,
            line,
            problems,
        }
        .check();
        if let Some(row) = row {
            match first_seen.entry(row.serial.clone()) {
                Entry::Occupied(first) => problems.push(SerialProblem::new(
                    line,
                    Some("serial"),
                    Some(row.serial.as_str()),
                    format!("duplicate serial: also on line {}", first.get()),
                )),
                Entry::Vacant(slot) => {
                    slot.insert(line);
                    if problems.len() == before {
                        rows.push(row);
                    }
                }
            }
        }
    }
    if count == 0 && problems.is_empty() {
        problems.push(SerialProblem::new(
            header_line,
            None,
            None,
            "no serial numbers below the header",
        ));
    }
    rows
}

fn fields(n: usize) -> String {
    if n == 1 {
        "1 field".to_owned()
    } else {
        format!("{n} fields")
    }
}

fn columns_hint() -> String {
    format!("{} (only serial is required)", COLUMNS.join(","))
}

/// The 1-based line a record starts on.
fn line_of(record: &StringRecord, text: &str, fallback: u64) -> u64 {
    record
        .position()
        .map(|p| line_at(p, text))
        .unwrap_or(fallback)
}

/// The reader's position is where it started reading the record: before the
/// blank lines it skipped and (with CRLF) before the `\n` ending the previous
/// line, which it has not counted yet. Step over those line ends.
fn line_at(position: &csv::Position, text: &str) -> u64 {
    let mut line = position.line();
    let start = usize::try_from(position.byte()).unwrap_or(usize::MAX);
    for byte in text.as_bytes().get(start..).unwrap_or_default() {
        match byte {
            b'\n' => line = line.saturating_add(1),
            b'\r' => {}
            _ => break,
        }
    }
    line
}

fn csv_problem(e: &csv::Error, text: &str, fallback: u64) -> SerialProblem {
    let line = e.position().map(|p| line_at(p, text)).unwrap_or(fallback);
    SerialProblem::new(
        line,
        None,
        None,
        "unreadable CSV: a record that cannot be read (check the double quotes)",
    )
}

/// Where each column is in the file.
#[derive(Debug)]
struct Layout {
    index: HashMap<&'static str, usize>,
    /// How many fields every row must have: the header's.
    width: usize,
}

impl Layout {
    /// Reads the header; `None` (with problems pushed) if rows cannot be
    /// read with it.
    fn new(header: &StringRecord, line: u64, problems: &mut Vec<SerialProblem>) -> Option<Layout> {
        let mut index = HashMap::new();
        let mut header_problems = Vec::new();
        for (position, name) in header.iter().enumerate() {
            match COLUMNS.iter().copied().find(|c| *c == name) {
                Some(column) => {
                    if index.insert(column, position).is_some() {
                        header_problems.push(SerialProblem::new(
                            line,
                            Some(column),
                            None,
                            "the column appears more than once in the header",
                        ));
                    }
                }
                None if name.is_empty() => header_problems.push(SerialProblem::new(
                    line,
                    None,
                    None,
                    format!(
                        "column {} of the header has no name; remove it (the columns are {})",
                        position + 1,
                        columns_hint()
                    ),
                )),
                None => {
                    let hint = match COLUMNS.iter().find(|c| c.eq_ignore_ascii_case(name)) {
                        Some(c) => format!(" (did you mean {c}? column names are lower case)"),
                        None => String::new(),
                    };
                    header_problems.push(SerialProblem::new(
                        line,
                        Some(name),
                        None,
                        format!("unknown column{hint}; the columns are {}", columns_hint()),
                    ));
                }
            }
        }
        if index.is_empty()
            && header
                .iter()
                .all(|name| !name.eq_ignore_ascii_case("serial"))
        {
            // No column known at all: most likely the header row is missing
            // and the first line is data. One problem says it better than one
            // per "unknown column".
            problems.push(SerialProblem::new(
                line,
                None,
                None,
                format!(
                    "no header row: the first line must name the columns: {}",
                    columns_hint()
                ),
            ));
            return None;
        }
        let ok = header_problems.is_empty();
        problems.append(&mut header_problems);
        if !index.contains_key("serial") {
            problems.push(SerialProblem::new(
                line,
                Some("serial"),
                None,
                "the required column serial is missing from the header",
            ));
            return None;
        }
        ok.then_some(Layout {
            index,
            width: header.len(),
        })
    }
}

/// One data row being checked.
struct Row<'a> {
    layout: &'a Layout,
    record: &'a StringRecord,
    line: u64,
    problems: &'a mut Vec<SerialProblem>,
}

/// The domain's reason without its field name (the problem names the column).
fn reason(e: &DomainError) -> String {
    match e {
        DomainError::Empty { .. } => "must not be empty".to_owned(),
        DomainError::TooLong { max, len, .. } => format!("at most {max} characters, got {len}"),
        DomainError::Invalid { reason, .. } => reason.clone(),
        DomainError::UnknownVariant { .. } => e.to_string(),
    }
}

impl<'a> Row<'a> {
    /// The trimmed cell of `column`, `None` when blank or the column absent.
    /// Borrowed from the record, not from `self`, so problems can be pushed
    /// while a cell is in hand.
    fn cell(&self, column: &str) -> Option<&'a str> {
        let record: &'a StringRecord = self.record;
        self.layout
            .index
            .get(column)
            .and_then(|i| record.get(*i))
            .filter(|s| !s.is_empty())
    }

    fn problem(&mut self, column: &str, value: Option<&str>, message: impl Into<String>) {
        self.problems
            .push(SerialProblem::new(self.line, Some(column), value, message));
    }

    /// The row, or `None` with its problems pushed. A row with a valid
    /// serial but another bad cell still returns the row (without pushing
    /// it to the result), so that its serial counts for duplicates.
    fn check(mut self) -> Option<SerialRow> {
        let serial = match self.cell("serial") {
            None => {
                self.problem("serial", None, "required: the serial must not be empty");
                None
            }
            Some(cell) => match cell.parse::<MeterSerial>() {
                Ok(serial) => Some(serial),
                Err(e) => {
                    self.problem("serial", Some(cell), reason(&e));
                    None
                }
            },
        };
        let comm_address = match self.cell("comm_address") {
            None => Some(None),
            Some(cell) => match cell.parse::<CommAddress>() {
                Ok(address) => Some(Some(address)),
                Err(e) => {
                    self.problem("comm_address", Some(cell), reason(&e));
                    None
                }
            },
        };
        let contract_line = match self.cell("contract_line") {
            None => Some(None),
            Some(cell) => match cell
                .parse::<u32>()
                .ok()
                .filter(|n| *n >= 1 && cell.bytes().all(|b| b.is_ascii_digit()))
            {
                Some(n) => Some(Some(n)),
                None => {
                    self.problem(
                        "contract_line",
                        Some(cell),
                        format!(
                            "not a contract line number: a whole number from 1 to {} (or blank when the contract has one line)",
                            u32::MAX
                        ),
                    );
                    None
                }
            },
        };
        let note = match self.cell("note") {
            None => Some(None),
            Some(cell) => {
                let len = cell.chars().count();
                if len > MAX_NOTE_CHARS {
                    self.problem(
                        "note",
                        None,
                        format!("at most {MAX_NOTE_CHARS} characters, got {len}"),
                    );
                    None
                } else {
                    Some(Some(cell.to_owned()))
                }
            }
        };
        // Even when another cell is bad, the serial is returned so the
        // caller can find duplicates; the caller drops rows with problems.
        Some(SerialRow {
            line: self.line,
            serial: serial?,
            comm_address: comm_address.flatten(),
            contract_line: contract_line.flatten(),
            note: note.flatten(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &[u8]) -> Vec<SerialProblem> {
        parse_serials(text).expect_err("the file has problems")
    }

    /// (line, column, message) of each problem, for compact assertions.
    fn brief(problems: &[SerialProblem]) -> Vec<(u64, Option<&str>, &str)> {
        problems
            .iter()
            .map(|p| (p.line, p.column.as_deref(), p.message.as_str()))
            .collect()
    }

    #[test]
    fn reads_a_good_file_with_bom_crlf_and_any_column_order() {
        let file = "\u{feff}note,contract_line,serial,comm_address\r\n\
                    first box,1,ab-0001,000000123456\r\n\
                    \r\n\
                    ,2,AB-0002,\r\n\
                    \"scratched, kept\",,ab-0003,  \r\n";
        let rows = parse_serials(file.as_bytes()).expect("valid");
        assert_eq!(
            rows,
            vec![
                SerialRow {
                    line: 2,
                    serial: "AB-0001".parse().expect("serial"),
                    comm_address: Some("000000123456".parse().expect("address")),
                    contract_line: Some(1),
                    note: Some("first box".into()),
                },
                SerialRow {
                    line: 4,
                    serial: "AB-0002".parse().expect("serial"),
                    comm_address: None,
                    contract_line: Some(2),
                    note: None,
                },
                SerialRow {
                    line: 5,
                    serial: "AB-0003".parse().expect("serial"),
                    comm_address: None,
                    contract_line: None,
                    note: Some("scratched, kept".into()),
                },
            ]
        );
    }

    #[test]
    fn serial_alone_is_enough() {
        let rows = parse_serials(b"serial\nM1\nM2\n").expect("valid");
        assert_eq!(
            rows.iter()
                .map(|r| (r.line, r.serial.as_str()))
                .collect::<Vec<_>>(),
            vec![(2, "M1"), (3, "M2")]
        );
        // No final line end, and a row of empty cells skipped.
        let rows = parse_serials(b"serial,note\n,\nM1,x").expect("valid");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].line, 3);
    }

    #[test]
    fn a_multi_line_note_keeps_line_numbers_right() {
        let rows = parse_serials(b"serial,note\nM1,\"two\nlines\"\nM2,x\n").expect("valid");
        assert_eq!(rows[0].note.as_deref(), Some("two\nlines"));
        assert_eq!(rows[1].line, 4);
    }

    #[test]
    fn empty_file() {
        for file in [&b""[..], b"\xEF\xBB\xBF", b"\n\n"] {
            let p = problems(file);
            assert_eq!(p.len(), 1);
            assert_eq!(p[0].line, 1);
            assert!(p[0].message.starts_with("the file is empty"), "{}", p[0]);
        }
        let p = problems(b"serial,note\r\n");
        assert_eq!(
            brief(&p),
            vec![(1, None, "no serial numbers below the header")]
        );
    }

    #[test]
    fn missing_header() {
        let p = problems(b"M001,000000123456\nM002,000000123457\n");
        assert_eq!(
            brief(&p),
            vec![(
                1,
                None,
                "no header row: the first line must name the columns: serial,comm_address,contract_line,note (only serial is required)"
            )]
        );
    }

    #[test]
    fn header_problems_are_all_reported() {
        let p = problems(b"Serial,colour,note,note,\nM1,red,a,b,\n");
        assert_eq!(
            brief(&p),
            vec![
                (
                    1,
                    Some("Serial"),
                    "unknown column (did you mean serial? column names are lower case); the columns are serial,comm_address,contract_line,note (only serial is required)"
                ),
                (
                    1,
                    Some("colour"),
                    "unknown column; the columns are serial,comm_address,contract_line,note (only serial is required)"
                ),
                (
                    1,
                    Some("note"),
                    "the column appears more than once in the header"
                ),
                (
                    1,
                    None,
                    "column 5 of the header has no name; remove it (the columns are serial,comm_address,contract_line,note (only serial is required))"
                ),
                (
                    1,
                    Some("serial"),
                    "the required column serial is missing from the header"
                ),
            ]
        );
    }

    #[test]
    fn missing_serial_column() {
        let p = problems(b"comm_address,note\n000000123456,x\n");
        assert_eq!(
            brief(&p),
            vec![(
                1,
                Some("serial"),
                "the required column serial is missing from the header"
            )]
        );
    }

    #[test]
    fn wrong_field_count() {
        let p = problems(b"serial,note\nM1,a\nM2,b,c\nM3\nM4,d\n");
        assert_eq!(
            brief(&p),
            vec![
                (
                    3,
                    None,
                    "this line has 3 fields but the header has 2; check for a stray or missing comma (a value holding a comma must be in double quotes)"
                ),
                (
                    4,
                    None,
                    "this line has 1 field but the header has 2; check for a stray or missing comma (a value holding a comma must be in double quotes)"
                ),
            ]
        );
    }

    #[test]
    fn blank_and_invalid_serials() {
        let long = "X".repeat(33);
        let file = format!("serial,note\nM1,a\n,b\nM 2,c\n{long},d\n");
        let p = problems(file.as_bytes());
        assert_eq!(
            brief(&p),
            vec![
                (3, Some("serial"), "required: the serial must not be empty"),
                (
                    4,
                    Some("serial"),
                    "character ' ' is not allowed (letters, digits, '-', '_')"
                ),
                (5, Some("serial"), "at most 32 characters, got 33"),
            ]
        );
        assert_eq!(p[1].value.as_deref(), Some("M 2"));
        assert_eq!(p[2].value.as_deref(), Some(long.as_str()));
    }

    #[test]
    fn duplicate_serials_name_the_first_line() {
        // Serials compare case-blind, as they are stored upper case.
        let p = problems(b"serial\nab-1\nM2\nM3\nAB-1\nab-1\n");
        assert_eq!(
            brief(&p),
            vec![
                (5, Some("serial"), "duplicate serial: also on line 2"),
                (6, Some("serial"), "duplicate serial: also on line 2"),
            ]
        );
        assert_eq!(p[0].value.as_deref(), Some("AB-1"));
        assert_eq!(
            p[0].to_string(),
            "line 5, column serial (\"AB-1\"): duplicate serial: also on line 2"
        );
    }

    #[test]
    fn bad_contract_lines() {
        let p = problems(b"serial,contract_line\nM1,1\nM2,0\nM3,x\nM4,1.5\nM5,-1\nM6,+2\nM7,4294967296\nM8,4294967295\n");
        let lines: Vec<(u64, Option<&str>)> =
            p.iter().map(|p| (p.line, p.value.as_deref())).collect();
        assert_eq!(
            lines,
            vec![
                (3, Some("0")),
                (4, Some("x")),
                (5, Some("1.5")),
                (6, Some("-1")),
                (7, Some("+2")),
                (8, Some("4294967296")),
            ]
        );
        assert!(
            p.iter()
                .all(|p| p.column.as_deref() == Some("contract_line"))
        );
        assert!(
            p[0].message.starts_with("not a contract line number"),
            "{}",
            p[0]
        );
    }

    #[test]
    fn bad_comm_address_and_note() {
        let note = "备".repeat(MAX_NOTE_CHARS + 1);
        let file = format!("serial,comm_address,note\nM1,12 34,\nM2,,{note}\n");
        let p = problems(file.as_bytes());
        assert_eq!(
            brief(&p),
            vec![
                (
                    2,
                    Some("comm_address"),
                    "character ' ' is not allowed (letters, digits, '-', '_', ':', '.')"
                ),
                (3, Some("note"), "at most 500 characters, got 501"),
            ]
        );
        assert_eq!(p[1].value, None, "a note is not quoted back");
    }

    #[test]
    fn not_utf8_is_reported_by_line() {
        // 陈 in GB18030 is B3 C2: what Chinese Excel writes for "CSV".
        let p = problems(b"serial,note\r\nM1,ok\r\nM2,\xB3\xC2\r\nM3,ok\r\n");
        assert_eq!(
            brief(&p),
            vec![(
                3,
                None,
                "not valid UTF-8 text; save the file as \"CSV UTF-8\""
            )]
        );
    }

    #[test]
    fn too_many_rows() {
        let mut file = String::from("serial\n");
        for i in 0..=MAX_SERIAL_ROWS {
            file.push_str(&format!("M{i}\n"));
        }
        let p = problems(file.as_bytes());
        assert_eq!(p.len(), 1);
        // Header on line 1, rows on 2..=100_001: the 100 001st row is line 100 002.
        assert_eq!(p[0].line, 100_002);
        assert!(p[0].message.starts_with("too many rows"), "{}", p[0]);
        // Exactly the limit is fine.
        let at_limit: String = file
            .lines()
            .take(MAX_SERIAL_ROWS + 1)
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(
            parse_serials(at_limit.as_bytes())
                .expect("at the limit")
                .len(),
            MAX_SERIAL_ROWS
        );
    }

    #[test]
    fn every_problem_of_a_file_is_reported() {
        let file = b"serial,contract_line,note\r\n\
                     M1,1,\r\n\
                     \r\n\
                     M2,zero,\r\n\
                     M3,1,\r\n\
                     ,1,forgot\r\n\
                     M1,1,again\r\n";
        let p = problems(file);
        assert_eq!(
            p.iter()
                .map(|p| (p.line, p.column.as_deref()))
                .collect::<Vec<_>>(),
            vec![
                (4, Some("contract_line")),
                (6, Some("serial")),
                (7, Some("serial")),
            ]
        );
        assert_eq!(p[2].message, "duplicate serial: also on line 2");
    }

    #[test]
    fn problems_serialise_for_the_api() {
        let p = problems(b"serial\nM 1\n");
        let json = serde_json::to_value(&p).expect("serialise");
        assert_eq!(
            json,
            serde_json::json!([{
                "line": 2,
                "column": "serial",
                "value": "M 1",
                "message": "character ' ' is not allowed (letters, digits, '-', '_')"
            }])
        );
    }
}
