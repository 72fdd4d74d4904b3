//! The TOML tariff file format. (Being written.)
use crate::model::Tariff;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {message}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
pub struct TariffFileError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

pub fn parse_tariff(file: &str, _text: &str) -> Result<Tariff, TariffFileError> {
    Err(TariffFileError { file: file.to_owned(), line: None, message: "not yet".into() })
}
