//! Personal data (个人信息): names, phone numbers, ID numbers, addresses.
//!
//! Wrapping a value in [`Personal`] marks it as personal data everywhere it
//! travels: `Debug` never prints it (so it cannot leak into logs), and the store
//! knows which columns hold it (the access issue encrypts exactly these columns
//! at rest and adds a blind index for search). Reading the value is explicit:
//! [`Personal::expose`].

use std::fmt;

#[derive(Clone, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(transparent)]
pub struct Personal<T>(T);

impl<T> Personal<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The plaintext. Call sites of this method are the places personal data
    /// is shown or stored; keep them few.
    pub fn expose(&self) -> &T {
        &self.0
    }

    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Personal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Personal(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let phone = Personal::new("13800138000".to_string());
        assert_eq!(format!("{phone:?}"), "Personal(<redacted>)");
        assert_eq!(phone.expose(), "13800138000");
    }
}
