//! Cross-checking parsed rows against the data already in the database.

use crate::{Parsed, Problem, Row};

/// What already exists in the database, prefetched by the caller (this crate
/// does no IO). Values are passed as the domain normalises them: account
/// numbers and serials upper-case, codes trimmed.
pub trait Existing {
    fn account_exists(&self, number: &str) -> bool;
    fn serial_exists(&self, serial: &str) -> bool;
    fn unit_exists(&self, site_code: &str, building_code: &str, unit_code: &str) -> bool;
    fn tariff_exists(&self, code: &str) -> bool;
}

/// Cross-checks the rows against existing data, adding a problem (with row
/// and column) for each: an account number already taken (customers,
/// accounts), an unknown `customer_account_number` (accounts), a serial
/// already taken (meters, devices), an unknown unit, account or tariff
/// (meters). Rows with a problem are removed from `parsed.rows`.
///
/// Only the database counts: an account created by an earlier row of the
/// same file is not known yet, so a new customer's extra accounts go in a
/// separate `accounts` file imported after the `customers` file.
pub fn check_references(parsed: &mut Parsed, existing: &dyn Existing) {
    let mut problems = Vec::new();
    parsed.rows.retain(|(row, value)| {
        let before = problems.len();
        let mut problem =
            |column: &str, message: String| problems.push(Problem::new(*row, Some(column), message));
        match value {
            Row::Customer(c) => {
                if existing.account_exists(c.account_number.as_str()) {
                    problem(
                        "account_number",
                        format!("account {} already exists", c.account_number),
                    );
                }
            }
            Row::Account(a) => {
                if existing.account_exists(a.account_number.as_str()) {
                    problem(
                        "account_number",
                        format!("account {} already exists", a.account_number),
                    );
                }
                if !existing.account_exists(a.customer_account_number.as_str()) {
                    problem(
                        "customer_account_number",
                        format!(
                            "no account {} (accounts created by the same file do not count: import them first)",
                            a.customer_account_number
                        ),
                    );
                }
            }
            Row::Meter(m) | Row::Device(m) => {
                if existing.serial_exists(m.meter.serial.as_str()) {
                    problem(
                        "serial",
                        format!("a meter with serial {} already exists", m.meter.serial),
                    );
                }
                if let Some(i) = &m.installation {
                    if !existing.unit_exists(&i.site_code, &i.building_code, &i.unit_code) {
                        problem(
                            "unit_code",
                            format!(
                                "no unit {} in building {} of site {}",
                                i.unit_code, i.building_code, i.site_code
                            ),
                        );
                    }
                    if let Some(number) = &i.account_number
                        && !existing.account_exists(number.as_str())
                    {
                        problem("account_number", format!("no account {number}"));
                    }
                    if let Some(code) = &i.tariff_code
                        && !existing.tariff_exists(code)
                    {
                        problem("tariff_code", format!("no tariff {code}"));
                    }
                }
            }
        }
        problems.len() == before
    });
    parsed.problems.extend(problems);
    parsed.problems.sort_by_key(|p| p.row);
}
