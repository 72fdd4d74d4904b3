//! The key ring, envelopes and blind indexes.

use std::fmt;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Nonce, Payload};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use crate::VaultError;
use crate::key_id::{KeyId, is_valid_key_id};

/// Envelope version prefix. A new format gets a new prefix, so old and new
/// envelopes can coexist in one column while rows are migrated.
const ENVELOPE_PREFIX: &str = "yv1:";
/// AES-256 key length in bytes.
const KEY_LEN: usize = 32;
/// 96-bit nonce: the GCM size that needs no extra hashing; random nonces of
/// this size are safe for far more seals per key than a meter platform's
/// customer table will ever see (NIST's 2^32 bound).
const NONCE_LEN: usize = 12;
/// GCM authentication tag length (appended to the ciphertext).
const TAG_LEN: usize = 16;
/// HMAC message from which a key's blind-index key is derived. Deriving a
/// separate key means the AES key itself is never used as an HMAC key on
/// attacker-influenced input, and the label versions the index scheme.
const INDEX_KEY_LABEL: &[u8] = b"yufu blind index v1";
/// Blind indexes keep the first 16 bytes (32 hex characters) of the HMAC:
/// plenty to avoid accidental collisions among customers, short enough to
/// index cheaply.
const BLIND_INDEX_BYTES: usize = 16;

type HmacSha256 = Hmac<Sha256>;

/// One key of the ring. The raw key bytes are not kept: only the AES key
/// schedule (wiped on drop by aes-gcm's `zeroize` feature) and the derived
/// blind-index key (wiped on drop by [`Zeroizing`]).
struct VaultKey {
    id: KeyId,
    cipher: Aes256Gcm,
    index_key: Zeroizing<[u8; KEY_LEN]>,
}

impl VaultKey {
    fn new(id: KeyId, key: &[u8]) -> Result<VaultKey, String> {
        let cipher = Aes256Gcm::new_from_slice(key)
            .map_err(|_| format!("key must decode to {KEY_LEN} bytes"))?;
        let mut index_key = Zeroizing::new([0u8; KEY_LEN]);
        let mut derived = hmac_sha256(key, &[INDEX_KEY_LABEL]);
        index_key.copy_from_slice(&derived);
        derived.zeroize();
        Ok(VaultKey {
            id,
            cipher,
            index_key,
        })
    }

    fn blind_index(&self, field: &str, normalized: &str) -> String {
        let mac = hmac_sha256(
            &self.index_key[..],
            &[field.as_bytes(), &[0u8], normalized.as_bytes()],
        );
        mac.iter()
            .take(BLIND_INDEX_BYTES)
            .flat_map(|b| [HEX[usize::from(b >> 4)], HEX[usize::from(b & 0x0f)]])
            .map(char::from)
            .collect()
    }
}

impl fmt::Debug for VaultKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultKey")
            .field("id", &self.id.as_str())
            .finish_non_exhaustive()
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// HMAC-SHA256 of the concatenation of `parts` under `key`.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length (long keys are hashed, short ones
    // padded), so `new_from_slice` cannot fail; `Hmac::new` would need a
    // 64-byte block-sized array instead.
    let mut mac = match <HmacSha256 as KeyInit>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// A key ring for field-level encryption of personal data.
///
/// Built from key-file text with [`Vault::from_key_text`]. The last key in
/// the file is the *active* key: [`seal`](Vault::seal) and
/// [`blind_index`](Vault::blind_index) use it; [`open`](Vault::open) uses
/// whichever key the envelope names.
///
/// `Debug` shows key ids only. Key material is wiped from memory when the
/// vault is dropped.
pub struct Vault {
    /// Older keys in key-file order; kept so values sealed before a
    /// rotation still open.
    older: Vec<VaultKey>,
    /// The last key in the file. Held apart from `older` so "there is always
    /// an active key" is a fact of the type, not a runtime check.
    active: VaultKey,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("active_key_id", &self.active_key_id())
            .field("key_ids", &self.key_ids())
            .finish()
    }
}

impl Vault {
    /// Parses key-file text.
    ///
    /// One key per line, `KEYID:BASE64`: a [`KeyId`] and 32 bytes in
    /// standard (padded) base64. Lines are trimmed; blank lines and lines
    /// starting with `#` are ignored, as is a leading byte-order mark. The
    /// **last** key is the active one, so an operator rotates by appending a
    /// line (see [`Vault::generate_key_line`]).
    ///
    /// The text holds secrets: callers should drop (or zeroize) it once the
    /// vault is built.
    ///
    /// # Errors
    /// * [`VaultError::BadKeyFile`] with the 1-based line number for a line
    ///   without `:`, an invalid key id, invalid base64, a key that does not
    ///   decode to 32 bytes, or a key id already used on an earlier line.
    /// * [`VaultError::NoKeys`] if there is no key line at all.
    pub fn from_key_text(text: &str) -> Result<Vault, VaultError> {
        let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
        let mut keys: Vec<(usize, VaultKey)> = Vec::new();
        for (index, raw_line) in text.lines().enumerate() {
            let line = index + 1;
            let bad = |reason: String| VaultError::BadKeyFile { line, reason };
            let trimmed = raw_line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let (id, encoded) = trimmed
                .split_once(':')
                .ok_or_else(|| bad("expected KEYID:BASE64".to_owned()))?;
            let id = KeyId::new(id.trim()).map_err(|_| {
                bad("invalid key id: expected 1-32 characters of A-Z a-z 0-9 _ -".to_owned())
            })?;
            if let Some((first, _)) = keys.iter().find(|(_, k)| k.id == id) {
                return Err(bad(format!(
                    "duplicate key id {id:?} (first defined on line {first})"
                )));
            }
            let key = decode_key(encoded.trim()).map_err(bad)?;
            let key = VaultKey::new(id, &key[..]).map_err(bad)?;
            keys.push((line, key));
        }
        let mut keys = keys.into_iter().map(|(_, key)| key);
        let Some(active) = keys.next_back() else {
            return Err(VaultError::NoKeys);
        };
        Ok(Vault {
            older: keys.collect(),
            active,
        })
    }

    /// A new key-file line `KEYID:BASE64` holding 32 random bytes from the
    /// operating system. Append it to the key file to rotate to it.
    ///
    /// # Errors
    /// [`VaultError::BadKeyId`] for an invalid id,
    /// [`VaultError::Randomness`] if the OS generator fails.
    pub fn generate_key_line(id: &str) -> Result<String, VaultError> {
        let id = KeyId::new(id)?;
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        fill_random(&mut key[..])?;
        let encoded = Zeroizing::new(STANDARD.encode(&key[..]));
        Ok(format!("{id}:{}", encoded.as_str()))
    }

    /// The id of the active key (the last one in the key file).
    #[must_use]
    pub fn active_key_id(&self) -> &str {
        self.active.id.as_str()
    }

    /// All key ids in key-file order; the last is the active one.
    #[must_use]
    pub fn key_ids(&self) -> Vec<&str> {
        self.keys().map(|k| k.id.as_str()).collect()
    }

    /// Seals `plaintext` under the active key.
    ///
    /// `aad` (additional authenticated data) is not stored but must be given
    /// again to [`open`](Vault::open): pass where the value lives, e.g.
    /// `"customers.phone:<row id>"`, so a ciphertext copied into another row
    /// or column fails to open instead of silently showing the wrong
    /// person's data.
    ///
    /// Returns the ASCII envelope `yv1:<keyid>:<base64(nonce || ciphertext
    /// || tag)>`, storable in a TEXT column. A fresh random nonce is used
    /// each call, so sealing the same text twice gives different envelopes
    /// (equality search needs [`blind_index`](Vault::blind_index)).
    ///
    /// # Errors
    /// [`VaultError::Randomness`] if the OS generator fails,
    /// [`VaultError::TooLong`] beyond AES-GCM's limits (64 GiB).
    pub fn seal(&self, plaintext: &str, aad: &str) -> Result<String, VaultError> {
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce)?;
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad: aad.as_bytes(),
        };
        let ciphertext = self
            .active
            .cipher
            .encrypt(&Nonce::<Aes256Gcm>::from(nonce), payload)
            .map_err(|_| VaultError::TooLong)?;
        let mut body = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        body.extend_from_slice(&nonce);
        body.extend_from_slice(&ciphertext);
        Ok(format!(
            "{ENVELOPE_PREFIX}{}:{}",
            self.active.id,
            STANDARD.encode(&body)
        ))
    }

    /// Opens an envelope made by [`seal`](Vault::seal), with the key it
    /// names and the same `aad`.
    ///
    /// # Errors
    /// * [`VaultError::NotSealed`] if `sealed` has no `yv1:` prefix.
    /// * [`VaultError::UnknownKey`] if the named key is not in this vault.
    /// * [`VaultError::Corrupt`] for a malformed envelope, bad base64, or a
    ///   failed authentication check (tampering, wrong `aad`).
    pub fn open(&self, sealed: &str, aad: &str) -> Result<String, VaultError> {
        let rest = sealed
            .strip_prefix(ENVELOPE_PREFIX)
            .ok_or(VaultError::NotSealed)?;
        let (id, encoded) = rest
            .split_once(':')
            .ok_or_else(|| corrupt("missing key id separator"))?;
        if !is_valid_key_id(id) {
            return Err(corrupt("invalid key id"));
        }
        let key = self
            .key(id)
            .ok_or_else(|| VaultError::UnknownKey(id.to_owned()))?;
        let body = STANDARD
            .decode(encoded)
            .map_err(|_| corrupt("not valid base64"))?;
        let Some((nonce, ciphertext)) = body.split_first_chunk::<NONCE_LEN>() else {
            return Err(corrupt("too short"));
        };
        if ciphertext.len() < TAG_LEN {
            return Err(corrupt("too short"));
        }
        let payload = Payload {
            msg: ciphertext,
            aad: aad.as_bytes(),
        };
        let plaintext = key
            .cipher
            .decrypt(&Nonce::<Aes256Gcm>::from(*nonce), payload)
            .map_err(|_| corrupt("authentication failed (tampered, or wrong AAD)"))?;
        String::from_utf8(plaintext).map_err(|err| {
            // Only reachable for envelopes sealed by something other than
            // `seal` (which takes `&str`), but wipe the bytes regardless.
            err.into_bytes().zeroize();
            corrupt("plaintext is not UTF-8")
        })
    }

    /// Whether `value` is an envelope at all (has the `yv1:` prefix). Legacy
    /// plaintext rows are not; a migration seals those and skips these.
    #[must_use]
    pub fn is_sealed(value: &str) -> bool {
        value.starts_with(ENVELOPE_PREFIX)
    }

    /// The key id an envelope was sealed under, without decrypting it.
    /// `None` if `value` is not an envelope or names no valid key id.
    #[must_use]
    pub fn key_id_of(value: &str) -> Option<&str> {
        let (id, _) = value.strip_prefix(ENVELOPE_PREFIX)?.split_once(':')?;
        is_valid_key_id(id).then_some(id)
    }

    /// Whether `value` is sealed under the active key. A rotation job
    /// reseals the rows for which this is false.
    #[must_use]
    pub fn is_current(&self, value: &str) -> bool {
        Self::key_id_of(value) == Some(self.active_key_id())
    }

    /// Re-seals `value` under the active key: opens it with whichever key
    /// it names and seals it again with `aad`. A value that is not sealed
    /// (legacy plaintext) is sealed as is.
    ///
    /// Blind indexes depend on the active key too: when resealing a row,
    /// recompute its blind indexes with [`blind_index`](Vault::blind_index).
    ///
    /// # Errors
    /// As [`open`](Vault::open) and [`seal`](Vault::seal).
    pub fn reseal(&self, value: &str, aad: &str) -> Result<String, VaultError> {
        if !Self::is_sealed(value) {
            return self.seal(value, aad);
        }
        let plaintext = Zeroizing::new(self.open(value, aad)?);
        self.seal(&plaintext, aad)
    }

    /// Keyed hash for equality search on an encrypted column.
    ///
    /// Lower-case hex of HMAC-SHA256(index key, `field` || 0x00 ||
    /// `normalized`), truncated to 32 characters. The index key is
    /// HMAC-SHA256(active key, `"yufu blind index v1"`), so:
    ///
    /// * the same value in different columns (`field`, e.g.
    ///   `"customers.phone"`) gives different indexes, so columns cannot be
    ///   joined on their indexes; `field` must not contain NUL;
    /// * indexes change when the active key changes: **recompute a row's
    ///   blind indexes whenever it is resealed** (see
    ///   [`blind_index_candidates`](Vault::blind_index_candidates) for
    ///   searching while a rotation is in progress).
    ///
    /// Normalise first ([`normalize_phone`](crate::normalize_phone),
    /// [`normalize_id_number`](crate::normalize_id_number)) and use the same
    /// normalisation when searching. The hash reveals which rows share a
    /// value, so index only columns that need equality search.
    #[must_use]
    pub fn blind_index(&self, field: &str, normalized: &str) -> String {
        self.active.blind_index(field, normalized)
    }

    /// The blind index of `normalized` under every key, the active key's
    /// first, then older keys newest first. During a rotation, rows not yet
    /// resealed still carry indexes made with an older key; searching with
    /// `index IN (candidates)` finds them too.
    #[must_use]
    pub fn blind_index_candidates(&self, field: &str, normalized: &str) -> Vec<String> {
        std::iter::once(&self.active)
            .chain(self.older.iter().rev())
            .map(|k| k.blind_index(field, normalized))
            .collect()
    }

    /// Keys in key-file order, active last.
    fn keys(&self) -> impl Iterator<Item = &VaultKey> {
        self.older.iter().chain(std::iter::once(&self.active))
    }

    fn key(&self, id: &str) -> Option<&VaultKey> {
        self.keys().find(|k| k.id.as_str() == id)
    }
}

/// Decodes a key-file key into a wiped-on-drop buffer, checking its length.
fn decode_key(encoded: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    // Decode into a buffer we own (and wipe), rather than letting `decode`
    // allocate a Vec we would have to remember to clear on every path.
    let mut buf = Zeroizing::new(vec![0u8; base64::decoded_len_estimate(encoded.len())]);
    let len = STANDARD
        .decode_slice(encoded, &mut buf[..])
        .map_err(|_| "key is not valid standard base64".to_owned())?;
    if len != KEY_LEN {
        return Err(format!(
            "key must decode to {KEY_LEN} bytes, got {len} bytes"
        ));
    }
    buf.truncate(len);
    Ok(buf)
}

fn fill_random(dest: &mut [u8]) -> Result<(), VaultError> {
    getrandom::fill(dest).map_err(|err| VaultError::Randomness(err.to_string()))
}

fn corrupt(reason: &str) -> VaultError {
    VaultError::Corrupt(reason.to_owned())
}
