//! Parsing and validating a file, collecting every problem.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::str::FromStr;

use csv::StringRecord;
use yufu_domain::{
    AccountNumber, Code, CommAddress, CustomerClass, CustomerKind, DomainError, MeterProtocol,
    MeterSerial, Multiplier, Name, NewCustomer, NewMeter, OrganisationId, TariffCode, Utility,
};

use crate::{
    AccountRow, CustomerRow, Encoding, Installation, Kind, MeterRow, Problem, Row, decode,
};

/// The most data rows one file may hold; split bigger imports.
pub const MAX_ROWS: usize = 100_000;

/// A parsed file: the valid rows and everything wrong with the others.
///
/// `rows` holds only the rows without problems; import the file only when
/// `problems` is empty, so that a file goes in completely or not at all.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Parsed {
    pub kind: Kind,
    pub encoding: Encoding,
    /// (row, value): the row is the 1-based file line the record starts on.
    pub rows: Vec<(usize, Row)>,
    /// Sorted by row.
    pub problems: Vec<Problem>,
}

impl Parsed {
    /// Whether the file can be imported as it is.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Parses and validates every row of a file of `kind`, collecting every
/// problem rather than stopping at the first. `org` is the organisation the
/// customers and meters are created in.
pub fn parse(kind: Kind, org: OrganisationId, bytes: &[u8]) -> Parsed {
    let (text, encoding) = decode(bytes);
    let mut parsed = Parsed {
        kind,
        encoding,
        rows: Vec::new(),
        problems: Vec::new(),
    };
    read(kind, org, &text, &mut parsed);
    parsed.problems.sort_by_key(|p| p.row);
    parsed
}

fn read(kind: Kind, org: OrganisationId, text: &str, parsed: &mut Parsed) {
    let mut records = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes())
        .into_records();
    let header = match records.next() {
        None => {
            parsed.problems.push(Problem::new(
                1,
                None,
                format!(
                    "the file is empty: the first line must be the header naming the columns of a {kind} file: {}",
                    kind.columns().join(",")
                ),
            ));
            return;
        }
        Some(Err(e)) => {
            parsed.problems.push(csv_problem(&e, text, 1));
            return;
        }
        Some(Ok(header)) => header,
    };
    let header_row = line_of(&header, text, 1);
    let Some(layout) = Layout::new(kind, &header, header_row, &mut parsed.problems) else {
        return;
    };

    let mut first_seen: HashMap<String, usize> = HashMap::new();
    let mut count = 0usize;
    let mut last_row = header_row;
    for record in records {
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                parsed.problems.push(csv_problem(&e, text, last_row + 1));
                return;
            }
        };
        let row = line_of(&record, text, last_row + 1);
        last_row = row;
        if record.iter().all(str::is_empty) {
            continue; // a blank line or a row of empty cells (Excel leaves those)
        }
        count += 1;
        if count > MAX_ROWS {
            parsed.problems.push(Problem::new(
                row,
                None,
                format!(
                    "too many rows: a file holds at most {MAX_ROWS} data rows; split it into several files"
                ),
            ));
            return;
        }

        let before = parsed.problems.len();
        let mut cells = Cells {
            layout: &layout,
            record: &record,
            row,
            problems: &mut parsed.problems,
            key: None,
        };
        cells.check_shape();
        let value = match kind {
            Kind::Customers => cells.customer(org),
            Kind::Accounts => cells.account(),
            Kind::Meters => cells.meter(org, true),
            Kind::Devices => cells.meter(org, false),
        };
        if let Some(key) = cells.key.take() {
            match first_seen.entry(key) {
                Entry::Occupied(first) => {
                    let column = kind.key_column();
                    let message = format!(
                        "duplicate {column} {}: rows {} and {row} both have it",
                        first.key(),
                        first.get()
                    );
                    cells.problem(column, message);
                }
                Entry::Vacant(slot) => {
                    slot.insert(row);
                }
            }
        }
        if let Some(value) = value
            && parsed.problems.len() == before
        {
            parsed.rows.push((row, value));
        }
    }
}

/// The 1-based line a record starts on.
fn line_of(record: &StringRecord, text: &str, fallback: usize) -> usize {
    record
        .position()
        .and_then(|p| line_at(p, text))
        .unwrap_or(fallback)
}

/// The reader's position is where it started reading the record: before the
/// blank lines it skipped, and (with CRLF) before the `\n` of the previous
/// line end, with the line not yet counted. Step over those line ends.
fn line_at(position: &csv::Position, text: &str) -> Option<usize> {
    let mut line = usize::try_from(position.line()).ok()?;
    let start = usize::try_from(position.byte()).ok()?;
    for byte in text.as_bytes().get(start..).unwrap_or_default() {
        match byte {
            b'\n' => line = line.saturating_add(1),
            b'\r' => {}
            _ => break,
        }
    }
    Some(line)
}

fn csv_problem(e: &csv::Error, text: &str, fallback: usize) -> Problem {
    let row = e
        .position()
        .and_then(|p| line_at(p, text))
        .unwrap_or(fallback);
    // Only the error kind: a csv error's text may quote the data.
    let what = match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "text that is not valid UTF-8",
        csv::ErrorKind::UnequalLengths { .. } => "rows of different lengths",
        _ => "a record that cannot be read",
    };
    Problem::new(row, None, format!("unreadable CSV: {what}"))
}

/// Where each known column is in the file.
#[derive(Debug)]
struct Layout {
    /// Column name → position in the record.
    index: HashMap<&'static str, usize>,
    /// Position in the record → column name (`None` for an unnamed column).
    names: Vec<Option<&'static str>>,
}

impl Layout {
    /// Reads the header; `None` (with problems pushed) if the rows cannot be
    /// read with it.
    fn new(
        kind: Kind,
        header: &StringRecord,
        row: usize,
        problems: &mut Vec<Problem>,
    ) -> Option<Layout> {
        let columns = kind.columns();
        let mut index = HashMap::new();
        let mut names = Vec::with_capacity(header.len());
        let mut unknown = Vec::new();
        let mut ok = true;
        for (position, name) in header.iter().enumerate() {
            let known = columns.iter().copied().find(|c| *c == name);
            names.push(known);
            match known {
                // An unnamed column: allowed if it stays empty (see check_shape).
                None if name.is_empty() => {}
                None => unknown.push(name),
                Some(column) => {
                    if index.insert(column, position).is_some() {
                        problems.push(Problem::new(
                            row,
                            Some(column),
                            "the column appears more than once in the header",
                        ));
                        ok = false;
                    }
                }
            }
        }
        if index.is_empty() {
            // No known column at all: most likely the header row is missing and
            // the first line is data. Do not echo it: it may be personal data.
            let other = Kind::ALL.iter().find(|k| {
                **k != kind
                    && header
                        .iter()
                        .all(|name| name.is_empty() || k.columns().contains(&name))
            });
            let message = match other {
                Some(other) if !header.iter().all(str::is_empty) => format!(
                    "the header is that of a {other} file, but the file was imported as {kind}"
                ),
                _ => format!(
                    "no header row: the first line must name the columns of a {kind} file: {}",
                    columns.join(",")
                ),
            };
            problems.push(Problem::new(row, None, message));
            return None;
        }
        for name in unknown {
            let shown: String = name.chars().take(64).collect();
            let hint = match columns.iter().find(|c| c.eq_ignore_ascii_case(name)) {
                Some(c) => format!(" (did you mean {c}? column names are lower case)"),
                None => String::new(),
            };
            problems.push(Problem::new(
                row,
                Some(&shown),
                format!(
                    "unknown column{hint}; a {kind} file has the columns: {}",
                    columns.join(",")
                ),
            ));
            ok = false;
        }
        for column in columns {
            if !index.contains_key(column) && !kind.is_optional(column) {
                problems.push(Problem::new(
                    row,
                    Some(column),
                    "required column is missing from the header",
                ));
                ok = false;
            }
        }
        ok.then_some(Layout { index, names })
    }
}

/// The cells of one data row, and where its problems go.
struct Cells<'a> {
    layout: &'a Layout,
    record: &'a StringRecord,
    row: usize,
    problems: &'a mut Vec<Problem>,
    /// The row's key (account number or serial) if it is valid, for the
    /// duplicate check.
    key: Option<String>,
}

/// What the personal-data columns must hold. These are the only texts shown
/// for them: the domain's own messages could quote part of the value.
fn personal_rule(column: &str) -> &'static str {
    match column {
        "phone" => {
            "not a phone number: 5–20 digits, optionally with a leading '+', spaces or dashes"
        }
        "id_number" => {
            "not an ID number: 1–32 letters and digits (resident ID, passport number or USCC)"
        }
        _ => "must not contain control characters (line breaks, tabs…)",
    }
}

/// The domain's reason without its field name (the problem names the column).
fn reason(e: &DomainError) -> String {
    match e {
        DomainError::Empty { .. } => "must not be empty".to_owned(),
        DomainError::TooLong { max, len, .. } => format!("at most {max} characters, got {len}"),
        DomainError::Invalid { reason, .. } => reason.clone(),
        DomainError::UnknownVariant {
            value, expected, ..
        } => format!(
            "unknown value '{value}', expected one of: {}",
            expected.split_whitespace().collect::<Vec<_>>().join(", ")
        ),
    }
}

/// A valid name for checking one other contact detail on its own.
const PLACEHOLDER_NAME: &str = "x";

impl<'a> Cells<'a> {
    fn problem(&mut self, column: &str, message: impl Into<String>) {
        self.problems
            .push(Problem::new(self.row, Some(column), message));
    }

    /// The trimmed cell of `column`; empty if the column is not in the file.
    fn get(&self, column: &str) -> &'a str {
        let record: &'a StringRecord = self.record;
        self.layout
            .index
            .get(column)
            .and_then(|i| record.get(*i))
            .unwrap_or("")
    }

    /// Cells under no known column must be empty; no cell may hold text that
    /// failed to decode.
    fn check_shape(&mut self) {
        let record: &'a StringRecord = self.record;
        let mut stray = false;
        for (position, cell) in record.iter().enumerate() {
            let name = self.layout.names.get(position).copied().flatten();
            match name {
                None if !cell.is_empty() => stray = true,
                Some(column) if cell.contains('\u{FFFD}') => self.problem(
                    column,
                    "contains bytes that are not valid text in the file's encoding; save the file as \"CSV UTF-8\"",
                ),
                _ => {}
            }
        }
        if stray {
            self.problems.push(Problem::new(
                self.row,
                None,
                "a cell holds a value under no column of the header",
            ));
        }
    }

    fn optional(&self, column: &str) -> Option<&'a str> {
        Some(self.get(column)).filter(|s| !s.is_empty())
    }

    fn required(&mut self, column: &str) -> Option<&'a str> {
        let cell = self.optional(column);
        if cell.is_none() {
            self.problem(column, "required: the cell must not be empty");
        }
        cell
    }

    fn parse_cell<T: FromStr<Err = DomainError>>(&mut self, column: &str, cell: &str) -> Option<T> {
        match cell.parse() {
            Ok(value) => Some(value),
            Err(e) => {
                self.problem(column, reason(&e));
                None
            }
        }
    }

    /// A required cell parsed with the domain's parser.
    fn value<T: FromStr<Err = DomainError>>(&mut self, column: &str) -> Option<T> {
        let cell = self.required(column)?;
        self.parse_cell(column, cell)
    }

    /// An optional cell: `Some(None)` if empty, `None` if invalid.
    fn optional_value<T: FromStr<Err = DomainError>>(&mut self, column: &str) -> Option<Option<T>> {
        match self.optional(column) {
            None => Some(None),
            Some(cell) => self.parse_cell(column, cell).map(Some),
        }
    }

    /// A required code (site, building, unit): the shape of `Code`.
    fn code(&mut self, column: &str) -> Option<String> {
        self.value::<Code>(column).map(|c| c.as_str().to_owned())
    }

    /// Records a problem for a personal-data column without quoting the value.
    fn personal(&mut self, column: &str, result: Result<NewCustomer, DomainError>) -> bool {
        match result {
            Ok(_) => true,
            Err(e) => {
                let message = match e {
                    DomainError::Empty { .. } => "required: the cell must not be empty".to_owned(),
                    DomainError::TooLong { max, .. } => {
                        format!("too long: at most {max} characters")
                    }
                    _ => personal_rule(column).to_owned(),
                };
                self.problem(column, message);
                false
            }
        }
    }

    fn customer(&mut self, org: OrganisationId) -> Option<Row> {
        let account_number: Option<AccountNumber> = self.value("account_number");
        let account_class: Option<CustomerClass> = self.value("account_class");
        let kind: Option<CustomerKind> = self.value("customer_kind");
        let name = self.required("name");
        let phone = self.optional("phone");
        let id_number = self.optional("id_number");
        let address = self.optional("address");
        self.key = account_number.as_ref().map(|n| n.as_str().to_owned());

        // Each contact detail is checked on its own (the others left out or a
        // valid placeholder), so that every bad cell of the row is reported.
        let k = kind.unwrap_or(CustomerKind::Person);
        let mut ok = true;
        if let Some(name) = name {
            ok &= self.personal("name", NewCustomer::new(org, k, name, None, None, None));
        }
        if let Some(phone) = phone {
            let checked = NewCustomer::new(org, k, PLACEHOLDER_NAME, Some(phone), None, None);
            ok &= self.personal("phone", checked);
        }
        if let Some(id_number) = id_number {
            let checked = NewCustomer::new(org, k, PLACEHOLDER_NAME, None, Some(id_number), None);
            ok &= self.personal("id_number", checked);
        }
        if let Some(address) = address {
            let checked = NewCustomer::new(org, k, PLACEHOLDER_NAME, None, None, Some(address));
            ok &= self.personal("address", checked);
        }
        let (Some(account_number), Some(account_class), Some(kind), Some(name), true) =
            (account_number, account_class, kind, name, ok)
        else {
            return None;
        };
        match NewCustomer::new(org, kind, name, phone, id_number, address) {
            Ok(customer) => Some(Row::Customer(CustomerRow {
                account_number,
                account_class,
                customer,
            })),
            Err(e) => {
                let column = match &e {
                    DomainError::Empty { field }
                    | DomainError::TooLong { field, .. }
                    | DomainError::Invalid { field, .. }
                    | DomainError::UnknownVariant { field, .. } => {
                        field.strip_prefix("customer.").unwrap_or("name")
                    }
                };
                let column = column.to_owned();
                self.personal(&column, Err(e));
                None
            }
        }
    }

    fn account(&mut self) -> Option<Row> {
        let account_number: Option<AccountNumber> = self.value("account_number");
        let customer_account_number: Option<AccountNumber> = self.value("customer_account_number");
        let account_class: Option<CustomerClass> = self.value("account_class");
        self.key = account_number.as_ref().map(|n| n.as_str().to_owned());
        Some(Row::Account(AccountRow {
            account_number: account_number?,
            customer_account_number: customer_account_number?,
            account_class: account_class?,
        }))
    }

    fn multiplier(&mut self) -> Option<Multiplier> {
        let Some(cell) = self.optional("multiplier") else {
            return Some(Multiplier::ONE);
        };
        let value = cell
            .parse::<u32>()
            .ok()
            .filter(|_| cell.bytes().all(|b| b.is_ascii_digit()));
        let result = match value {
            Some(n) => Multiplier::new(n).map_err(|e| reason(&e)),
            None => Err(format!(
                "'{cell}' is not a whole number from 1 to {}",
                Multiplier::MAX
            )),
        };
        match result {
            Ok(m) => Some(m),
            Err(message) => {
                self.problem("multiplier", message);
                None
            }
        }
    }

    fn installation(&mut self) -> Option<Installation> {
        let site_code = self.code("site_code");
        let building_code = self.code("building_code");
        let unit_code = self.code("unit_code");
        let account_number: Option<Option<AccountNumber>> = self.optional_value("account_number");
        let tariff_code: Option<Option<TariffCode>> = self.optional_value("tariff_code");
        Some(Installation {
            site_code: site_code?,
            building_code: building_code?,
            unit_code: unit_code?,
            account_number: account_number?,
            tariff_code: tariff_code?.map(|t| t.as_str().to_owned()),
        })
    }

    fn meter(&mut self, org: OrganisationId, installed: bool) -> Option<Row> {
        let serial: Option<MeterSerial> = self.value("serial");
        let utility: Option<Utility> = self.value("utility");
        let model: Option<Name> = self.value("model");
        let protocol: Option<MeterProtocol> = self.value("protocol");
        let comm_address: Option<CommAddress> = self.value("comm_address");
        let multiplier = self.multiplier();
        let installation = if installed {
            self.installation().map(Some)
        } else {
            Some(None)
        };
        self.key = serial.as_ref().map(|s| s.as_str().to_owned());

        // The cross-field rules, each on its own so that both are reported.
        let mut ok = true;
        if let (Some(protocol), Some(utility)) = (protocol, utility)
            && !protocol.serves(utility)
        {
            self.problem(
                "protocol",
                format!(
                    "{protocol} does not serve {utility} meters (DL/T 645 is for electricity, CJ/T 188 for water and gas, mqtt for any)"
                ),
            );
            ok = false;
        }
        if let (Some(protocol), Some(address)) = (protocol, &comm_address)
            && let Err(e) = address.check_for(protocol)
        {
            self.problem("comm_address", reason(&e));
            ok = false;
        }
        let meter = NewMeter {
            organisation_id: org,
            serial: serial?,
            utility: utility?,
            model: model?,
            protocol: protocol?,
            comm_address: comm_address?,
            multiplier: multiplier?,
        };
        let installation = installation?;
        if !ok {
            return None;
        }
        if let Err(e) = meter.validate() {
            // Not reached while the checks above mirror the domain's rules.
            let column = match &e {
                DomainError::Invalid { field, .. } if *field == "comm_address" => "comm_address",
                _ => "protocol",
            };
            self.problem(column, reason(&e));
            return None;
        }
        let row = MeterRow {
            meter,
            installation,
        };
        Some(if installed {
            Row::Meter(row)
        } else {
            Row::Device(row)
        })
    }
}
