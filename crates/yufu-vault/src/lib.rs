#![doc = include_str!("../README.md")]
// Pure logic on strings and bytes: no files, environment, network or async
// runtime. Callers read the key file (or variable) themselves, which keeps
// this crate trivially testable and keeps secrets handling in one place.

mod error;
mod key_id;
mod normalize;
mod vault;

pub use error::VaultError;
pub use key_id::{KeyId, MAX_KEY_ID_LEN};
pub use normalize::{normalize_id_number, normalize_name, normalize_phone};
pub use vault::Vault;
