//! One thing wrong with a file.

use std::fmt;

/// One thing wrong with a file, where it is and what is wrong. The message
/// never contains a personal-data value (name, phone, ID number, address), so
/// problems may be logged and shown as they are.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct Problem {
    /// 1-based line of the file on which the record starts; the header is row 1.
    pub row: usize,
    /// The column (as named in the header), if the problem is in one cell.
    pub column: Option<String>,
    pub message: String,
}

impl Problem {
    pub(crate) fn new(row: usize, column: Option<&str>, message: impl Into<String>) -> Self {
        Self {
            row,
            column: column.map(str::to_owned),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(column) => write!(f, "row {}, column {column}: {}", self.row, self.message),
            None => write!(f, "row {}: {}", self.row, self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_row_and_column() {
        let p = Problem::new(7, Some("phone"), "not a phone number");
        assert_eq!(p.to_string(), "row 7, column phone: not a phone number");
        let p = Problem::new(1, None, "the file is empty");
        assert_eq!(p.to_string(), "row 1: the file is empty");
    }
}
