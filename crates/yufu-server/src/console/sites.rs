//! The site tree (园区 → 楼栋 → 房号): the caller's sites, then one site's
//! buildings, one of them opened to show its units with their meters and
//! accounts.
//!
//! A large site has thousands of units, so nothing is loaded whole: sites
//! and buildings come a page at a time, and only the building the caller
//! opened (`?building=`) has its units read, again a page at a time, with
//! the meters of that page of units in one indexed query and their
//! accounts in another.

use std::collections::{BTreeSet, HashMap};

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use yufu_access::{Permission, SiteScope};
use yufu_domain::{AccountId, BuildingId, SiteId, UnitId};
use yufu_store::Page as Keyset;

use super::meter::{caller, page_err, query_param, status_class};
use super::{Ctx, Page, PageError};
use crate::{AppState, WebError};

/// This module's pages and who may open them.
pub(crate) const PAGES: &[(&str, Page)] = &[
    ("/sites", Page::Staff(Permission::ReadFleet)),
    ("/sites/{id}", Page::Staff(Permission::ReadFleet)),
];

/// This module's labels: (key, 简体中文, English).
pub(crate) const TEXT: &[(&str, &str, &str)] = &[
    ("sites.title", "园区", "Sites"),
    ("sites.demand", "需求评估", "Demand assessment"),
    (
        "sites.demand.hint",
        "本园区还需要的表计：没有该类表计的房号，加上到期应更换的设备（按型号）。",
        "The meters this site still needs: units without a meter of the utility, plus devices due for replacement (by model).",
    ),
    ("sites.demand.show", "计算需求", "Assess demand"),
    ("sites.demand.utility", "类别", "Utility"),
    ("sites.demand.model", "型号", "Model"),
    ("sites.demand.new", "新装", "New installations"),
    ("sites.demand.replace", "更换", "Replacements"),
    ("sites.demand.total", "合计", "Total"),
    (
        "sites.demand.none",
        "本园区目前不需要新的表计。",
        "This site needs no meters now.",
    ),
    ("sites.code", "编码", "Code"),
    ("sites.name", "名称", "Name"),
    ("sites.city", "城市", "City"),
    ("sites.timezone", "时区", "Time zone"),
    ("sites.none", "没有可查看的园区。", "No sites to show."),
    (
        "sites.scoped",
        "仅显示您负责的园区。",
        "Only the sites you are responsible for are shown.",
    ),
    ("sites.site", "园区", "Site"),
    ("sites.buildings", "楼栋", "Buildings"),
    ("sites.building", "楼栋", "Building"),
    ("sites.floors", "层数", "Floors"),
    ("sites.open", "展开", "Open"),
    ("sites.close", "收起", "Close"),
    (
        "sites.no_buildings",
        "此园区还没有楼栋。",
        "This site has no buildings yet.",
    ),
    ("sites.units", "房号", "Units"),
    ("sites.unit", "房号", "Unit"),
    ("sites.floor", "楼层", "Floor"),
    ("sites.area", "面积（m²）", "Area (m²)"),
    ("sites.kind", "用途", "Use"),
    ("sites.meters", "表计", "Meters"),
    ("sites.accounts", "账户", "Accounts"),
    (
        "sites.no_units",
        "此楼栋还没有房号。",
        "This building has no units yet.",
    ),
    ("sites.no_meters", "未装表", "No meter"),
    ("sites.more_units", "更多房号", "More units"),
    ("sites.first_units", "第一页房号", "First units"),
    ("sites.kind.residential", "住宅", "Residential"),
    ("sites.kind.commercial", "商铺", "Commercial"),
    ("sites.kind.industrial", "工业", "Industrial"),
    ("sites.kind.office", "办公", "Office"),
    ("sites.kind.public", "公共", "Public"),
    ("sites.kind.other", "其他", "Other"),
];

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/sites", get(list))
        .route("/sites/{id}", get(site))
}

/// Sites, buildings and units per page.
const PAGE: u32 = 50;

#[derive(Debug)]
struct SiteLine {
    id: String,
    code: String,
    name: String,
    city: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/sites.html")]
struct SitesPage {
    c: Ctx,
    sites: Vec<SiteLine>,
    scoped: bool,
    next: Option<String>,
    paged: bool,
}

async fn list(
    State(s): State<AppState>,
    c: Ctx,
    Query(q): Query<HashMap<String, String>>,
) -> Result<SitesPage, PageError> {
    let who = caller(&c)?;
    let after = query_param(&q, "after").unwrap_or_default();
    let (rows, scoped) = match &who.principal.sites {
        SiteScope::All => (
            s.store
                .list_sites(who.principal.organisation, &Keyset::after(&after, PAGE))
                .await
                .map_err(|e| page_err(&c, e))?,
            false,
        ),
        // A scoped person has a handful of sites: read just those, in id
        // order like the keyset pages.
        SiteScope::Only(ids) => {
            let mut rows = Vec::new();
            let wanted: BTreeSet<String> = ids.iter().map(ToString::to_string).collect();
            for id in wanted
                .iter()
                .filter(|id| id.as_str() > after.as_str())
                .take(usize::try_from(PAGE).unwrap_or(usize::MAX))
            {
                let Ok(id) = id.parse::<SiteId>() else {
                    continue;
                };
                match s.store.get_site(id).await {
                    Ok(site) if site.organisation_id == who.principal.organisation => {
                        rows.push(site);
                    }
                    Ok(_) | Err(yufu_store::StoreError::NotFound { .. }) => {}
                    Err(e) => return Err(page_err(&c, e)),
                }
            }
            (rows, true)
        }
    };
    let next = (u32::try_from(rows.len()).unwrap_or(u32::MAX) >= PAGE)
        .then(|| rows.last().map(|r| format!("/sites?after={}", r.id)))
        .flatten();
    Ok(SitesPage {
        sites: rows
            .into_iter()
            .map(|r| SiteLine {
                id: r.id.to_string(),
                code: r.code.to_string(),
                name: r.name.to_string(),
                city: r.city.to_string(),
            })
            .collect(),
        scoped,
        next,
        paged: !after.is_empty(),
        c,
    })
}

#[derive(Debug)]
struct BuildingLine {
    id: String,
    code: String,
    name: String,
    floors: u16,
    open: bool,
}

#[derive(Debug)]
struct MeterLink {
    id: String,
    serial: String,
    utility: String,
    status_key: String,
    status_class: &'static str,
}

#[derive(Debug)]
struct AccountLink {
    id: String,
    number: String,
}

#[derive(Debug)]
struct UnitLine {
    code: String,
    floor: i16,
    kind_key: String,
    area: String,
    meters: Vec<MeterLink>,
    accounts: Vec<AccountLink>,
}

/// The opened building: its units (one page) and where the next page is.
#[derive(Debug)]
struct Opened {
    id: String,
    code: String,
    name: String,
    units: Vec<UnitLine>,
    next: Option<String>,
    /// The first page of units, when this is a later one.
    first: Option<String>,
    /// Not on the current page of buildings: shown on its own.
    listed: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/site.html")]
struct SitePage {
    c: Ctx,
    id: String,
    code: String,
    name: String,
    city: String,
    timezone: String,
    buildings: Vec<BuildingLine>,
    next: Option<String>,
    paged: bool,
    after: String,
    opened: Option<Opened>,
    /// The demand assessment, when asked for (`?demand=1`): it evaluates
    /// the organisation's devices for replacement, so it is not computed
    /// on every view of the site.
    demand: Option<Vec<DemandRow>>,
}

/// One line of a site's demand assessment.
struct DemandRow {
    utility: String,
    model: String,
    new_installations: u64,
    replacements: u64,
    total: u64,
}

impl SitePage {
    /// The link that opens (or, when open, closes) a building, keeping the
    /// page of buildings.
    fn toggle_href(&self, b: &BuildingLine) -> String {
        let mut q = Vec::new();
        if !self.after.is_empty() {
            q.push(format!("after={}", self.after));
        }
        if !b.open {
            q.push(format!("building={}", b.id));
        }
        let anchor = format!("#b-{}", b.id);
        if q.is_empty() {
            format!("/sites/{}{anchor}", self.id)
        } else {
            format!("/sites/{}?{}{anchor}", self.id, q.join("&"))
        }
    }
}

async fn site(
    State(s): State<AppState>,
    c: Ctx,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<SitePage, PageError> {
    let who = caller(&c)?;
    let id: SiteId = id
        .parse()
        .map_err(|_| PageError::new(&c, WebError::NotFound))?;
    let site = s.store.get_site(id).await.map_err(|e| page_err(&c, e))?;
    if site.organisation_id != who.principal.organisation {
        return Err(PageError::new(&c, WebError::NotFound));
    }
    let after = query_param(&q, "after").unwrap_or_default();
    let rows = s
        .store
        .list_buildings(id, &Keyset::after(&after, PAGE))
        .await
        .map_err(|e| page_err(&c, e))?;
    let next = (u32::try_from(rows.len()).unwrap_or(u32::MAX) >= PAGE)
        .then(|| rows.last().map(|b| format!("/sites/{id}?after={}", b.id)))
        .flatten();
    let demand = if query_param(&q, "demand").is_some() {
        let lc = super::lifecycle::Who::of(&c)?;
        let d = yufu_lifecycle::service::demand(&lc.ctx(&s), id, yufu_domain::Utility::ALL)
            .await
            .map_err(|e| PageError::new(&c, WebError::from(e)))?;
        Some(
            d.lines
                .into_iter()
                .map(|l| DemandRow {
                    utility: l.utility.as_str().to_owned(),
                    model: l.model.unwrap_or_default(),
                    new_installations: l.new_installations,
                    replacements: l.replacements,
                    total: l.total,
                })
                .collect(),
        )
    } else {
        None
    };
    let open_id: Option<BuildingId> = query_param(&q, "building").and_then(|b| b.parse().ok());
    let opened = match open_id {
        Some(bid) => {
            let units_after = query_param(&q, "units_after").unwrap_or_default();
            let listed = rows.iter().any(|b| b.id == bid);
            Some(opened(&s, &c, id, bid, &after, &units_after, listed).await?)
        }
        None => None,
    };
    Ok(SitePage {
        id: id.to_string(),
        code: site.code.to_string(),
        name: site.name.to_string(),
        city: site.city.to_string(),
        timezone: site.timezone.to_string(),
        buildings: rows
            .into_iter()
            .map(|b| BuildingLine {
                open: open_id == Some(b.id),
                id: b.id.to_string(),
                code: b.code.to_string(),
                name: b.name.to_string(),
                floors: b.floors,
            })
            .collect(),
        next,
        paged: !after.is_empty(),
        after,
        opened,
        demand,
        c,
    })
}

/// One building's units (a page of them) with their meters and accounts.
async fn opened(
    s: &AppState,
    c: &Ctx,
    site: SiteId,
    building: BuildingId,
    after: &str,
    units_after: &str,
    listed: bool,
) -> Result<Opened, PageError> {
    let b = s
        .store
        .get_building(building)
        .await
        .map_err(|e| page_err(c, e))?;
    if b.site_id != site {
        return Err(PageError::new(c, WebError::NotFound));
    }
    let units = s
        .store
        .list_units(building, &Keyset::after(units_after, PAGE))
        .await
        .map_err(|e| page_err(c, e))?;
    let ids: Vec<UnitId> = units.iter().map(|u| u.id).collect();
    let meters = s
        .store
        .console()
        .meters_in_units(&ids, 1000)
        .await
        .map_err(|e| page_err(c, e))?;
    let account_ids: Vec<AccountId> = meters
        .iter()
        .filter_map(|m| m.account_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut numbers: HashMap<AccountId, String> = HashMap::new();
    for chunk in account_ids.chunks(100) {
        for a in s
            .store
            .console()
            .accounts_by_ids(chunk)
            .await
            .map_err(|e| page_err(c, e))?
        {
            numbers.insert(a.id, a.number.to_string());
        }
    }
    let base = format!("/sites/{site}?");
    let keep = if after.is_empty() {
        String::new()
    } else {
        format!("after={after}&")
    };
    let next = (u32::try_from(units.len()).unwrap_or(u32::MAX) >= PAGE)
        .then(|| {
            units.last().map(|u| {
                format!(
                    "{base}{keep}building={building}&units_after={}#b-{building}",
                    u.id
                )
            })
        })
        .flatten();
    let units = units
        .into_iter()
        .map(|u| {
            let here: Vec<_> = meters.iter().filter(|m| m.unit_id == Some(u.id)).collect();
            let mut accounts: Vec<AccountLink> = Vec::new();
            for m in &here {
                if let Some(a) = m.account_id
                    && !accounts.iter().any(|x| x.id == a.to_string())
                {
                    accounts.push(AccountLink {
                        id: a.to_string(),
                        number: numbers.get(&a).cloned().unwrap_or_else(|| a.to_string()),
                    });
                }
            }
            UnitLine {
                code: u.code.to_string(),
                floor: u.floor,
                kind_key: format!("sites.kind.{}", u.kind.as_str()),
                area: u.area.to_string(),
                meters: here
                    .iter()
                    .map(|m| MeterLink {
                        id: m.id.to_string(),
                        serial: m.serial.to_string(),
                        utility: m.utility.as_str().to_owned(),
                        status_key: format!("meter.status.{}", m.status.as_str()),
                        status_class: status_class(m.status.as_str()),
                    })
                    .collect(),
                accounts,
            }
        })
        .collect();
    Ok(Opened {
        id: building.to_string(),
        code: b.code.to_string(),
        name: b.name.to_string(),
        units,
        next,
        first: (!units_after.is_empty())
            .then(|| format!("{base}{keep}building={building}#b-{building}")),
        listed,
    })
}

#[cfg(test)]
mod tests {
    use crate::console::Lang;

    #[test]
    fn every_unit_kind_has_a_label() {
        for k in yufu_domain::UnitKind::ALL {
            for lang in [Lang::Zh, Lang::En] {
                assert_ne!(lang.t(&format!("sites.kind.{}", k.as_str())), "?");
            }
        }
    }
}
