//! Key ids: the short names that let an envelope say which key sealed it.

use std::fmt;

use crate::VaultError;

/// Longest key id accepted. Ids are repeated in every envelope, so they are
/// kept short.
pub const MAX_KEY_ID_LEN: usize = 32;

/// A validated key id: 1–32 characters of `[A-Za-z0-9_-]`.
///
/// The character set excludes `:` (the envelope and key-file separator),
/// whitespace and anything that would need escaping in SQL, logs or a shell.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    /// Validates `id`.
    ///
    /// # Errors
    /// [`VaultError::BadKeyId`] if `id` is empty, longer than 32 characters or
    /// contains anything outside `[A-Za-z0-9_-]`.
    pub fn new(id: &str) -> Result<KeyId, VaultError> {
        if is_valid_key_id(id) {
            Ok(KeyId(id.to_owned()))
        } else {
            Err(VaultError::BadKeyId(id.to_owned()))
        }
    }

    /// The id as a string slice.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for KeyId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `id` is a syntactically valid key id (checked without
/// allocating, because envelope parsing calls it on every value).
pub(crate) fn is_valid_key_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_KEY_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}
