//! Password hashing (argon2id) off the async runtime: hashing is slow on
//! purpose, and a request thread must not stall while it runs.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::WebError;

/// A valid argon2id hash of a random password nobody knows: verified
/// against when the user does not exist, so a sign-in takes as long for a
/// missing user as for a wrong password.
pub(crate) const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$R4dKWl1dzfNbaqAMYsXgLb1pbWCbm9bl3S5Ep8g5HzI";

/// The argon2id PHC string of `password` with a fresh salt.
pub async fn hash(password: String) -> Result<String, WebError> {
    tokio::task::spawn_blocking(move || {
        argon2::Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| WebError::Unavailable(format!("cannot hash password: {e}")))
    })
    .await
    .map_err(|e| WebError::Unavailable(format!("hashing task failed: {e}")))?
}

/// Whether `password` matches the PHC string. A malformed stored hash is
/// "no match", logged.
pub async fn verify(password: String, phc: String) -> Result<bool, WebError> {
    tokio::task::spawn_blocking(move || match PasswordHash::new(&phc) {
        Ok(parsed) => argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(e) => {
            tracing::error!(error = %e, "stored password hash does not parse");
            false
        }
    })
    .await
    .map_err(|e| WebError::Unavailable(format!("verify task failed: {e}")))
}
