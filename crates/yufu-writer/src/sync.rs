//! What the engine must know, read from the store's configuration tables.
//! The API changes those tables, then hands the result to the writer as
//! configuration changes (journaled, so replay applies them at the same
//! point); at start-up [`reconcile`] catches anything that never reached the
//! journal (e.g. a crash between the two). The writer skips changes it
//! already has, so syncing twice journals nothing.

use std::collections::HashMap;

use yufu_domain::balance::ProtectedWindows;
use yufu_domain::{BuildingId, Meter, MeterId, OrganisationId, SiteId, UnitId};
use yufu_store::{MeterFilter, Page, Store, StoreResult};
use yufu_tariff::MeterParams;

use crate::event::{ConfigChange, default_policy};
use crate::{Writer, WriterError};

/// The engine key of an organisation's tariff code.
pub fn tariff_key(org: OrganisationId, code: &str) -> String {
    format!("{org}/{code}")
}

/// The engine key of a site.
pub fn site_key(site: SiteId) -> String {
    format!("site:{site}")
}

/// Brings every meter of an account up to date (after its balance rules changed).
pub async fn sync_account(
    store: &dyn Store,
    writer: &Writer,
    account: yufu_domain::AccountId,
) -> Result<(), WriterError> {
    let org = store.get_account(account).await?.organisation_id;
    let filter = MeterFilter {
        account_id: Some(account),
        ..MeterFilter::default()
    };
    let mut sites = SiteCache::default();
    let mut page = Page::first(Page::MAX_LIMIT);
    loop {
        let meters = store.list_meters(org, &filter, &page).await?;
        let Some(last) = meters.last() else { break };
        page = Page::after(last.id, Page::MAX_LIMIT);
        for meter in &meters {
            writer
                .configure(meter_changes(store, &mut sites, meter).await?)
                .await?;
        }
    }
    Ok(())
}

/// What a sync looks up, remembered for its duration: sites by unit and
/// tariffs by code (a reconcile of a large fleet would otherwise look each
/// building and tariff up once per meter).

#[derive(Debug, Default)]
pub struct SiteCache {
    /// Latest revision per (organisation, tariff code): a fleet shares a
    /// handful of tariffs, so a reconcile looks each up once.
    tariffs: HashMap<(OrganisationId, String), Option<yufu_domain::TariffRevision>>,
    units: HashMap<UnitId, BuildingId>,
    buildings: HashMap<BuildingId, SiteId>,
    sites: HashMap<SiteId, (String, ProtectedWindows)>,
}

impl SiteCache {
    async fn site_of(
        &mut self,
        store: &dyn Store,
        meter: &Meter,
    ) -> StoreResult<(String, String, ProtectedWindows)> {
        let Some(unit) = meter.unit_id else {
            return Ok((
                format!("org:{}", meter.organisation_id),
                "Asia/Shanghai".to_owned(),
                ProtectedWindows::default(),
            ));
        };
        let building = match self.units.get(&unit) {
            Some(b) => *b,
            None => {
                let b = store.get_unit(unit).await?.building_id;
                self.units.insert(unit, b);
                b
            }
        };
        let site = match self.buildings.get(&building) {
            Some(s) => *s,
            None => {
                let s = store.get_building(building).await?.site_id;
                self.buildings.insert(building, s);
                s
            }
        };
        let (tz, windows) = match self.sites.get(&site) {
            Some(known) => known.clone(),
            None => {
                let tz = store.get_site(site).await?.timezone.as_str().to_owned();
                let windows = store.site_windows(site).await?;
                self.sites.insert(site, (tz.clone(), windows.clone()));
                (tz, windows)
            }
        };
        Ok((site_key(site), tz, windows))
    }
}

/// The changes that make the engine's view of `meter` match the store: a
/// meter without an account or a tariff is not billed (removed).
pub async fn meter_changes(
    store: &dyn Store,
    sites: &mut SiteCache,
    meter: &Meter,
) -> StoreResult<Vec<ConfigChange>> {
    let (Some(account_id), Some(code)) = (meter.account_id, meter.tariff_code.as_ref()) else {
        return Ok(vec![ConfigChange::RemoveMeter { id: meter.id }]);
    };
    let cache_key = (meter.organisation_id, code.as_str().to_owned());
    let tariff = match sites.tariffs.get(&cache_key) {
        Some(known) => known.clone(),
        None => {
            let latest = store.latest_tariff(meter.organisation_id, code).await?;
            sites.tariffs.insert(cache_key, latest.clone());
            latest
        }
    };
    let Some(tariff) = tariff else {
        return Ok(vec![ConfigChange::RemoveMeter { id: meter.id }]);
    };
    let account = store.get_account(account_id).await?;
    let policy = match store.account_rules(account_id).await? {
        Some(own) => own,
        None => default_policy(account.class),
    };
    let (site, tz, windows) = sites.site_of(store, meter).await?;
    let shared = store.meter_sharing(meter.id).await?;
    let key = tariff_key(meter.organisation_id, code.as_str());
    Ok(vec![
        ConfigChange::Site {
            key: site.clone(),
            windows,
            tz,
        },
        ConfigChange::Tariff {
            key: key.clone(),
            revision: tariff.revision,
            toml: tariff.source_toml,
        },
        ConfigChange::Account {
            id: account_id,
            policy,
            site,
        },
        ConfigChange::Meter {
            id: meter.id,
            account: account_id,
            utility: meter.utility,
            params: MeterParams {
                multiplier: meter.multiplier.get(),
                ..MeterParams::default()
            },
            tariff: key,
            from_ms: meter.created_at.as_millisecond(),
            shared,
        },
    ])
}

/// Brings one meter up to date in the engine.
pub async fn sync_meter(
    store: &dyn Store,
    writer: &Writer,
    id: MeterId,
) -> Result<(), WriterError> {
    let meter = store.get_meter(id).await?;
    let changes = meter_changes(store, &mut SiteCache::default(), &meter).await?;
    writer.configure(changes).await
}

/// Brings every meter of every organisation up to date; returns how many
/// meters were looked at. Changes the engine already has journal nothing.
pub async fn reconcile(store: &dyn Store, writer: &Writer) -> Result<u64, WriterError> {
    let mut sites = SiteCache::default();
    let mut seen = 0u64;
    let mut org_page = Page::first(Page::MAX_LIMIT);
    loop {
        let orgs = store.list_organisations(&org_page).await?;
        let Some(last_org) = orgs.last() else { break };
        org_page = Page::after(last_org.id, Page::MAX_LIMIT);
        for org in &orgs {
            let mut page = Page::first(Page::MAX_LIMIT);
            loop {
                let meters = store
                    .list_meters(org.id, &MeterFilter::default(), &page)
                    .await?;
                let Some(last) = meters.last() else { break };
                page = Page::after(last.id, Page::MAX_LIMIT);
                let mut changes = Vec::new();
                for meter in &meters {
                    seen += 1;
                    changes.extend(meter_changes(store, &mut sites, meter).await?);
                }
                // A meter whose tariff or account is broken must not stop the
                // others: apply one meter's changes at a time on error.
                if let Err(e) = writer.configure(changes.clone()).await {
                    tracing::warn!(error = %e, "reconcile: a batch failed; retrying meter by meter");
                    for meter in &meters {
                        let one = meter_changes(store, &mut sites, meter).await?;
                        if let Err(e) = writer.configure(one).await {
                            tracing::warn!(meter = %meter.id, error = %e, "meter not loaded into the engine");
                        }
                    }
                }
            }
        }
    }
    Ok(seen)
}
