//! Who is talking: MQTT access tokens and communication addresses resolved
//! to meters, cached in memory after the first look-up (a connect storm of
//! 100 000 meters must not become 100 000 queries twice).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use sha2::{Digest, Sha256};
use yufu_domain::{Meter, MeterId, MeterProtocol, MeterSerial, OrganisationId, Utility};
use yufu_store::{DeviceToken, Store, StoreError};

/// What the gateway needs to know about a meter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeterInfo {
    pub id: MeterId,
    pub organisation: OrganisationId,
    pub serial: String,
    pub utility: Utility,
    pub protocol: MeterProtocol,
    pub address: String,
}

impl From<&Meter> for MeterInfo {
    fn from(m: &Meter) -> Self {
        Self {
            id: m.id,
            organisation: m.organisation_id,
            serial: m.serial.as_str().to_owned(),
            utility: m.utility,
            protocol: m.protocol,
            address: m.comm_address.as_str().to_owned(),
        }
    }
}

/// Whom a token speaks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    Meter(Arc<MeterInfo>),
    /// A concentrator reporting for meters of its organisation, named by
    /// serial in the gateway API.
    Gateway {
        organisation: OrganisationId,
        name: String,
    },
}

/// The SHA-256 of a token, as stored (hex).
pub fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// A new access token: 24 characters from [A-Za-z0-9] (about 143 bits),
/// the shape ThingsBoard devices already accept as an MQTT username.
pub fn new_token() -> Result<String, getrandom::Error> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(24);
    while out.len() < 24 {
        let mut buf = [0u8; 32];
        getrandom::fill(&mut buf)?;
        // Rejection sampling keeps every character equally likely.
        for b in buf {
            if usize::from(b) < ALPHABET.len() * 4 && out.len() < 24 {
                out.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
            }
        }
    }
    Ok(out)
}

/// Issues a token for a meter (or, with `meter: None`, a gateway) and
/// stores its hash. The token is returned once and never stored.
pub async fn issue_token(
    store: &dyn Store,
    organisation: OrganisationId,
    meter: Option<MeterId>,
    name: &str,
) -> Result<String, StoreError> {
    let token = new_token().map_err(|e| StoreError::Unavailable(format!("no randomness: {e}")))?;
    store
        .add_device_token(&DeviceToken {
            token_hash: hash_token(&token),
            organisation_id: organisation,
            meter_id: meter,
            name: name.to_owned(),
            created_at_ms: jiff::Timestamp::now().as_millisecond(),
        })
        .await?;
    Ok(token)
}

#[derive(Debug, Default)]
struct Cache {
    tokens: HashMap<String, Identity>,
    meters: HashMap<MeterId, Arc<MeterInfo>>,
    by_serial: HashMap<(OrganisationId, String), Arc<MeterInfo>>,
    by_address: HashMap<String, Vec<Arc<MeterInfo>>>,
}

/// Resolves tokens, serials and addresses, caching what it found.
#[derive(Debug)]
pub struct Registry {
    store: Arc<dyn Store>,
    cache: RwLock<Cache>,
}

impl Registry {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            cache: RwLock::default(),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Cache> {
        self.cache
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Cache> {
        self.cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn remember(&self, meter: &Meter) -> Arc<MeterInfo> {
        let info = Arc::new(MeterInfo::from(meter));
        let mut c = self.write();
        c.meters.insert(info.id, Arc::clone(&info));
        c.by_serial
            .insert((info.organisation, info.serial.clone()), Arc::clone(&info));
        Arc::clone(&info)
    }

    /// Puts a token's identity in the cache without the store (benchmarks
    /// and tests that build fleets in the engine alone).
    pub fn preload(&self, token: &str, identity: Identity) {
        self.write().tokens.insert(hash_token(token), identity);
    }

    /// Forgets every cached token of a meter (after a revocation), so the
    /// next connection with one is checked against the store again.
    pub fn forget_meter(&self, meter: MeterId) {
        self.write()
            .tokens
            .retain(|_, id| !matches!(id, Identity::Meter(m) if m.id == meter));
    }

    /// The identity behind an access token; `None` for an unknown or
    /// revoked token. A revocation through the API clears the cache at once
    /// ([`Registry::forget_meter`]); one made in the database by other means
    /// takes effect when this process has not cached the token, or after a
    /// restart.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Identity>, StoreError> {
        let hash = hash_token(token);
        if let Some(id) = self.read().tokens.get(&hash) {
            return Ok(Some(id.clone()));
        }
        let Some(row) = self.store.find_device_token(&hash).await? else {
            return Ok(None);
        };
        let identity = match row.meter_id {
            Some(meter) => match self.meter(meter).await? {
                Some(info) => Identity::Meter(info),
                None => return Ok(None),
            },
            None => Identity::Gateway {
                organisation: row.organisation_id,
                name: row.name,
            },
        };
        self.write().tokens.insert(hash, identity.clone());
        Ok(Some(identity))
    }

    pub async fn meter(&self, id: MeterId) -> Result<Option<Arc<MeterInfo>>, StoreError> {
        if let Some(m) = self.read().meters.get(&id) {
            return Ok(Some(Arc::clone(m)));
        }
        match self.store.get_meter(id).await {
            Ok(m) => Ok(Some(self.remember(&m))),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A meter of `organisation` by serial (gateway API device names).
    pub async fn meter_by_serial(
        &self,
        organisation: OrganisationId,
        serial: &str,
    ) -> Result<Option<Arc<MeterInfo>>, StoreError> {
        if let Some(m) = self
            .read()
            .by_serial
            .get(&(organisation, serial.to_owned()))
        {
            return Ok(Some(Arc::clone(m)));
        }
        let Ok(parsed) = serial.parse::<MeterSerial>() else {
            return Ok(None);
        };
        Ok(self
            .store
            .find_meter_by_serial(organisation, &parsed)
            .await?
            .map(|m| self.remember(&m)))
    }

    /// Meters with a communication address (DL/T 645 12 digits, CJ/T 188
    /// 14); more than one only if two organisations reuse an address.
    pub async fn meters_by_address(
        &self,
        address: &str,
    ) -> Result<Vec<Arc<MeterInfo>>, StoreError> {
        if let Some(found) = self.read().by_address.get(address) {
            return Ok(found.clone());
        }
        let meters = self.store.find_meters_by_comm_address(address).await?;
        let found: Vec<Arc<MeterInfo>> = meters.iter().map(|m| self.remember(m)).collect();
        if !found.is_empty() {
            self.write()
                .by_address
                .insert(address.to_owned(), found.clone());
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hash_to_hex() {
        let a = new_token().expect("random");
        let b = new_token().expect("random");
        assert_eq!(a.len(), 24);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        let h = hash_token("A1_TEST_TOKEN");
        assert_eq!(h.len(), 64);
        assert_eq!(h, hash_token("A1_TEST_TOKEN"));
        assert_ne!(h, hash_token("A1_TEST_TOKEM"));
    }
}
