/// A value that does not satisfy the domain's rules. The message names the field
/// and says what is wrong, so it can be shown to an operator as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("{field}: must not be empty")]
    Empty { field: &'static str },
    #[error("{field}: at most {max} characters, got {len}")]
    TooLong {
        field: &'static str,
        max: usize,
        len: usize,
    },
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("{field}: unknown value '{value}', expected one of: {}", expected.trim_end())]
    UnknownVariant {
        field: &'static str,
        value: String,
        expected: &'static str,
    },
}

impl DomainError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }
}
