//! Shared helpers: fixed, recognisable test keys.
#![allow(dead_code, clippy::unwrap_used)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use yufu_vault::Vault;

/// The base64 of a test key: 32 bytes counting up from `seed`.
pub fn key_b64(seed: u8) -> String {
    let bytes: Vec<u8> = (0..32u8).map(|i| seed.wrapping_add(i)).collect();
    STANDARD.encode(bytes)
}

pub fn key_line(id: &str, seed: u8) -> String {
    format!("{id}:{}", key_b64(seed))
}

/// A vault holding the given `(id, seed)` keys in order (last is active).
pub fn vault(keys: &[(&str, u8)]) -> Vault {
    let text: String = keys
        .iter()
        .map(|(id, seed)| key_line(id, *seed) + "\n")
        .collect();
    Vault::from_key_text(&text).unwrap()
}
