//! The one error type of the crate.
//!
//! Messages name lines, key ids and what was wrong, never key material or
//! plaintext: errors end up in logs.

/// Why a key file was refused or a value could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// A line of the key file is not `KEYID:BASE64` with a valid id, standard
    /// base64 and exactly 32 decoded bytes, or repeats an id.
    #[error("key file line {line}: {reason}")]
    BadKeyFile {
        /// 1-based line number in the key-file text.
        line: usize,
        /// What is wrong with the line (never the key itself).
        reason: String,
    },
    /// The key file has no key lines (only comments and blank lines, or
    /// nothing at all).
    #[error("key file contains no keys")]
    NoKeys,
    /// A key id is not 1–32 characters of `[A-Za-z0-9_-]`.
    #[error("invalid key id {0:?}: expected 1-32 characters of A-Z a-z 0-9 _ -")]
    BadKeyId(String),
    /// The envelope names a key id this vault does not hold (for example a
    /// key that was removed from the key file before every row was
    /// resealed).
    #[error("value is sealed under unknown key id {0:?}")]
    UnknownKey(String),
    /// The value passed to [`Vault::open`](crate::Vault::open) is not an
    /// envelope (no `yv1:` prefix), e.g. a legacy plaintext row.
    #[error("value is not sealed (no yv1: prefix)")]
    NotSealed,
    /// The envelope is malformed, is not valid base64, or fails
    /// authentication: tampered bytes, or an AAD different from the one it
    /// was sealed with (a ciphertext copied to another row or column).
    #[error("sealed value is corrupt: {0}")]
    Corrupt(String),
    /// The plaintext or AAD exceeds AES-GCM's limits (about 64 GiB).
    #[error("plaintext or AAD too long for AES-GCM")]
    TooLong,
    /// The operating system's random number generator failed.
    #[error("OS random number generator failed: {0}")]
    Randomness(String),
}
