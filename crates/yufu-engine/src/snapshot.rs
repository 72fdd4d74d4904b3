//! The engine's whole state as plain data, for checkpoints: a checkpoint
//! plus the journal after it rebuilds the engine exactly (the journal holds
//! every request since, including configuration changes).

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use yufu_domain::balance::{AccountRules, BalancePolicy, ProtectedWindows, Supply};
use yufu_domain::command::Command;
use yufu_domain::{AccountId, Fen, MeterId, Utility};
use yufu_tariff::{BillingState, MeterParams};

use crate::{AccountSlot, Engine, MeterSlot, SetupError, SharedGroup};

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SiteSnapshot {
    pub key: String,
    pub windows: ProtectedWindows,
    /// IANA name of the site's time zone.
    pub tz: String,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct AccountSnapshot {
    pub id: AccountId,
    pub balance: Fen,
    pub last_seq: u64,
    pub policy: BalancePolicy,
    pub site: String,
    pub rules: AccountRules,
    pub usage_since_split: u64,
    #[serde(default)]
    pub mark: i64,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct MeterSnapshot {
    pub id: MeterId,
    pub account: AccountId,
    pub utility: Utility,
    pub params: MeterParams,
    pub tariff: String,
    pub billing: BillingState,
    pub commands: Vec<Command>,
    pub fixed_charges_from: Timestamp,
    pub shared: Option<SharedGroup>,
    #[serde(default)]
    pub mark: i64,
    /// Why the valve is held shut for safety (absent in older checkpoints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safety_hold: Option<String>,
}

/// One item of a snapshot. Items come in an order restore relies on:
/// sites, then each account followed by its meters.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "item", rename_all = "snake_case")]
pub enum SnapshotItem {
    Site(SiteSnapshot),
    Account(AccountSnapshot),
    Meter(MeterSnapshot),
}

impl Engine {
    /// The state as items (tariffs are not included: the caller keeps their
    /// sources and adds them back before restoring).
    pub fn snapshot(&self) -> Vec<SnapshotItem> {
        self.snapshot_iter().collect()
    }

    /// The state as items, one at a time, so a checkpoint of a large fleet
    /// is written without holding it all (only the sorted account ids are
    /// collected up front).
    pub fn snapshot_iter(&self) -> impl Iterator<Item = SnapshotItem> + '_ {
        let mut sites: Vec<_> = self.sites.iter().collect();
        sites.sort_by(|a, b| a.0.cmp(b.0));
        let mut accounts: Vec<AccountId> = self.accounts.keys().copied().collect();
        accounts.sort();
        let sites = sites.into_iter().map(|(key, (windows, tz))| {
            SnapshotItem::Site(SiteSnapshot {
                key: key.clone(),
                windows: windows.clone(),
                tz: tz.iana_name().unwrap_or("UTC").to_owned(),
            })
        });
        let accounts = accounts.into_iter().flat_map(move |id| {
            let Some(a) = self.accounts.get(&id) else {
                return Vec::new();
            };
            let mut items = Vec::with_capacity(1 + a.meters.len());
            items.push(SnapshotItem::Account(AccountSnapshot {
                id,
                balance: a.balance,
                last_seq: a.last_seq,
                policy: a.policy.clone(),
                site: a.site.to_string(),
                rules: a.rules,
                usage_since_split: a.usage_since_split,
                mark: a.mark,
            }));
            for meter_id in &a.meters {
                let Some(m) = self.meters.get(meter_id) else {
                    continue;
                };
                items.push(SnapshotItem::Meter(MeterSnapshot {
                    id: *meter_id,
                    account: m.account,
                    utility: m.utility,
                    params: m.params,
                    tariff: m.tariff.to_string(),
                    billing: m.billing,
                    commands: m.commands.clone(),
                    fixed_charges_from: m.fixed_charges_from,
                    shared: m.shared.clone(),
                    mark: m.mark,
                    safety_hold: m.safety_hold.as_deref().map(str::to_owned),
                }));
            }
            items
        });
        sites.chain(accounts)
    }

    /// Puts one snapshot item back (in snapshot order).
    pub fn restore(&mut self, item: SnapshotItem) -> Result<(), SetupError> {
        match item {
            SnapshotItem::Site(s) => {
                let tz = TimeZone::get(&s.tz).map_err(|_| SetupError::UnknownSite(s.tz))?;
                self.add_site(s.key, s.windows, tz);
            }
            SnapshotItem::Account(a) => {
                if !self.sites.contains_key(&a.site) {
                    return Err(SetupError::UnknownSite(a.site));
                }
                if matches!(a.rules.supply, Supply::CutPending { .. }) {
                    self.deferred.insert(a.id);
                }
                let site = self.intern(a.site);
                self.accounts.insert(
                    a.id,
                    Box::new(AccountSlot {
                        balance: a.balance,
                        last_seq: a.last_seq,
                        policy: a.policy,
                        site,
                        rules: a.rules,
                        meters: Vec::new(),
                        usage_since_split: a.usage_since_split,
                        mark: a.mark,
                    }),
                );
            }
            SnapshotItem::Meter(m) => {
                if !self.tariffs.contains_key(&m.tariff) {
                    return Err(SetupError::UnknownTariff(m.tariff));
                }
                let account = self
                    .accounts
                    .get_mut(&m.account)
                    .ok_or(SetupError::UnknownAccount(m.account))?;
                account.meters.push(m.id);
                if m.commands.iter().any(|c| c.state.is_pending()) {
                    self.with_commands.insert(m.id);
                }
                let tariff = self.intern(m.tariff);
                self.meters.insert(
                    m.id,
                    Box::new(MeterSlot {
                        account: m.account,
                        utility: m.utility,
                        params: m.params,
                        tariff,
                        billing: m.billing,
                        recent: std::collections::VecDeque::new(),
                        commands: m.commands,
                        fixed_charges_from: m.fixed_charges_from,
                        shared: m.shared,
                        mark: m.mark,
                        safety_hold: m.safety_hold.map(String::into_boxed_str),
                    }),
                );
            }
        }
        Ok(())
    }

    /// Adds an account, or changes an existing one's policy and site while
    /// keeping its balance, sequence and supply state.
    pub fn upsert_account(&mut self, a: crate::AccountSetup) -> Result<(), SetupError> {
        if !self.sites.contains_key(&a.site) {
            return Err(SetupError::UnknownSite(a.site));
        }
        if !self.accounts.contains_key(&a.id) {
            return self.add_account(a);
        }
        let site = self.intern(a.site);
        if let Some(slot) = self.accounts.get_mut(&a.id) {
            slot.policy = a.policy;
            slot.site = site;
        }
        Ok(())
    }

    /// Adds a meter, or changes an existing one's configuration (account,
    /// tariff, parameters, sharing) while keeping its billing state,
    /// commands and fixed-charge mark.
    pub fn upsert_meter(&mut self, m: crate::MeterSetup) -> Result<(), SetupError> {
        if !self.meters.contains_key(&m.id) {
            return self.add_meter(m);
        }
        let pricer = self
            .tariffs
            .get(&m.tariff)
            .ok_or_else(|| SetupError::UnknownTariff(m.tariff.clone()))?;
        if pricer.tariff().utility != m.utility {
            return Err(SetupError::UtilityMismatch {
                meter: m.utility,
                tariff: pricer.tariff().utility,
            });
        }
        if !self.accounts.contains_key(&m.account) {
            return Err(SetupError::UnknownAccount(m.account));
        }
        let tariff = self.intern(m.tariff);
        let Some(slot) = self.meters.get_mut(&m.id) else {
            return Ok(());
        };
        let old_account = slot.account;
        slot.account = m.account;
        slot.utility = m.utility;
        slot.params = m.params;
        slot.tariff = tariff;
        slot.shared = m.shared;
        if old_account != m.account {
            if let Some(a) = self.accounts.get_mut(&old_account) {
                a.meters.retain(|id| *id != m.id);
            }
            if let Some(a) = self.accounts.get_mut(&m.account) {
                a.meters.push(m.id);
            }
        }
        Ok(())
    }

    /// The durable layer's bookmark for a meter (0 if none or unknown).
    pub fn meter_mark(&self, id: MeterId) -> i64 {
        self.meters.get(&id).map_or(0, |m| m.mark)
    }

    pub fn set_meter_mark(&mut self, id: MeterId, mark: i64) {
        if let Some(m) = self.meters.get_mut(&id) {
            m.mark = mark;
        }
    }

    /// The durable layer's bookmark for an account (0 if none or unknown).
    pub fn account_mark(&self, id: AccountId) -> i64 {
        self.accounts.get(&id).map_or(0, |a| a.mark)
    }

    pub fn set_account_mark(&mut self, id: AccountId, mark: i64) {
        if let Some(a) = self.accounts.get_mut(&id) {
            a.mark = mark;
        }
    }

    /// Forgets a meter (unassigned or removed): its readings are refused
    /// from now on. Returns its bookmark if it was known.
    pub fn remove_meter(&mut self, id: MeterId) -> Option<i64> {
        let slot = self.meters.remove(&id)?;
        if let Some(a) = self.accounts.get_mut(&slot.account) {
            a.meters.retain(|m| *m != id);
        }
        self.with_commands.remove(&id);
        Some(slot.mark)
    }

    /// Whether a recharge with this key was applied since the engine started.
    pub fn knows_recharge(&self, account: AccountId, key: &str) -> bool {
        self.recharges.contains_key(&(account, key.to_owned()))
    }

    /// Whether an entry was posted by hand with this key since the engine
    /// started (see [`Engine::post_entry`]).
    pub fn knows_post(&self, account: AccountId, key: &str) -> bool {
        self.posts.contains_key(&(account, key.to_owned()))
    }

    pub fn has_meter(&self, id: MeterId) -> bool {
        self.meters.contains_key(&id)
    }

    pub fn has_account(&self, id: AccountId) -> bool {
        self.accounts.contains_key(&id)
    }

    pub fn has_tariff(&self, key: &str) -> bool {
        self.tariffs.contains_key(key)
    }

    /// A site's protected windows.
    pub fn site_windows(&self, key: &str) -> Option<&ProtectedWindows> {
        self.sites.get(key).map(|(w, _)| w)
    }

    pub fn has_site(&self, key: &str) -> bool {
        self.sites.contains_key(key)
    }

    /// The account's last entry sequence number.
    pub fn last_seq(&self, account: AccountId) -> Option<u64> {
        self.accounts.get(&account).map(|a| a.last_seq)
    }

    /// The meter's account (the one charged, or the public-area holder).
    pub fn meter_account(&self, meter: MeterId) -> Option<AccountId> {
        self.meters.get(&meter).map(|m| m.account)
    }

    /// The meter's tariff key.
    pub fn meter_tariff(&self, meter: MeterId) -> Option<&str> {
        self.meters.get(&meter).map(|m| &*m.tariff)
    }

    pub fn meter_params(&self, meter: MeterId) -> Option<MeterParams> {
        self.meters.get(&meter).map(|m| m.params)
    }

    pub fn meter_shared(&self, meter: MeterId) -> Option<Option<&SharedGroup>> {
        self.meters.get(&meter).map(|m| m.shared.as_ref())
    }

    pub fn account_site(&self, account: AccountId) -> Option<&str> {
        self.accounts.get(&account).map(|a| &*a.site)
    }

    /// The account's balance policy.
    pub fn policy(&self, account: AccountId) -> Option<&BalancePolicy> {
        self.accounts.get(&account).map(|a| &a.policy)
    }

    /// Number of meters and accounts loaded.
    pub fn size(&self) -> (usize, usize) {
        (self.meters.len(), self.accounts.len())
    }
}
