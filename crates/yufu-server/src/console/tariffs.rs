//! Tariffs (电价/水价/气价): the organisation's tariff codes, one tariff as
//! readable tables — a flat price, tiers (阶梯) with their bounds per month,
//! time-of-use bands (峰平谷) with their hours and prices, fixed charges —
//! its uploaded revisions, a form to upload the next revision (sent to the
//! API, whose validation error with its line shows inside the form), and a
//! quote: a consumption priced by the same code the engine bills with.
//!
//! The quote is computed here on a GET (`?quote=260&month=2026-07`): pure
//! computation on reference data, nothing changes, so it needs no API call.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use jiff::civil::{Date, DateTime, Time};
use yufu_access::Permission;
use yufu_domain::{OrganisationId, TariffCode, TariffRevision};
use yufu_tariff::{
    Band, BillingState, FixedEvery, LineKind, MeterParams, PeriodKind, Pricer, Pricing, Reading,
    Tariff, Tiers, Verdict, show_units,
};

use super::account::page_error;
use super::fmt;
use super::{Ctx, Page, PageError};
use crate::{AppState, WebError};

pub(crate) const PAGES: &[(&str, Page)] = &[
    ("/tariffs", Page::Staff(Permission::ReadFleet)),
    ("/tariffs/{code}", Page::Staff(Permission::ReadFleet)),
];

pub(crate) const TEXT: &[(&str, &str, &str)] = &[
    ("tariffs.title", "价格方案", "Tariffs"),
    ("tariffs.code", "编码", "Code"),
    ("tariffs.name", "名称", "Name"),
    ("tariffs.utility", "品类", "Utility"),
    ("tariffs.revision", "修订版", "Revision"),
    ("tariffs.uploaded", "上传时间", "Uploaded"),
    (
        "tariffs.none",
        "尚未上传价格方案。",
        "No tariffs uploaded yet.",
    ),
    ("tariffs.timezone", "时区", "Time zone"),
    ("tariffs.source", "依据", "Source"),
    ("tariffs.version", "版本", "Version"),
    ("tariffs.effective", "生效日期", "Effective from"),
    ("tariffs.until", "截止", "Until"),
    ("tariffs.until_further", "至今有效", "Until further notice"),
    ("tariffs.in_force", "现行", "In force"),
    ("tariffs.kind.flat", "单一价格", "Flat price"),
    ("tariffs.kind.tiered", "阶梯价格", "Tiered (阶梯)"),
    (
        "tariffs.kind.time_of_use",
        "分时价格",
        "Time of use (峰平谷)",
    ),
    ("tariffs.price", "单价（元）", "Price (yuan)"),
    ("tariffs.per", "每", "per"),
    ("tariffs.tier", "档位", "Tier"),
    ("tariffs.tier_n", "第{n}档", "Tier {n}"),
    ("tariffs.range", "用量区间", "Consumption"),
    ("tariffs.above", "以上", "and above"),
    ("tariffs.months", "月份", "Months"),
    ("tariffs.all_months", "全年", "All year"),
    ("tariffs.period.month", "按月累计", "Counted per month"),
    ("tariffs.period.season", "按季累计", "Counted per season"),
    ("tariffs.period.year", "按年累计", "Counted per year"),
    (
        "tariffs.period_start",
        "周期起始月",
        "Period starts in month",
    ),
    ("tariffs.bands", "时段电价", "Band prices"),
    ("tariffs.schedule", "时段划分", "Hours of each band"),
    ("tariffs.hours", "时间", "Hours"),
    ("tariffs.band", "时段", "Band"),
    ("tariffs.band.critical_peak", "尖峰", "Critical peak"),
    ("tariffs.band.peak", "峰", "Peak"),
    ("tariffs.band.flat", "平", "Flat"),
    ("tariffs.band.valley", "谷", "Valley"),
    (
        "tariffs.surcharge",
        "阶梯加价（加在时段电价上）",
        "Tier surcharge (added to the band price)",
    ),
    ("tariffs.surcharge_n", "加价第{n}档", "Surcharge tier {n}"),
    ("tariffs.line.flat", "单一价格", "Flat price"),
    ("tariffs.fixed", "固定费用", "Fixed charges"),
    ("tariffs.every.day", "每日", "per day"),
    ("tariffs.every.month", "每月", "per month"),
    ("tariffs.revisions", "修订记录", "Revisions"),
    ("tariffs.showing", "当前显示修订版", "Showing revision"),
    ("tariffs.latest", "最新", "latest"),
    ("tariffs.upload", "上传新修订版", "Upload a new revision"),
    ("tariffs.upload_new", "上传价格方案", "Upload a tariff"),
    (
        "tariffs.upload_hint",
        "TOML 格式（见 docs/tariffs.md）。文件中的 id 决定方案编码；同一编码再次上传即成为新修订版，立即用于计费。",
        "TOML (see docs/tariffs.md). The file's id is the code; uploading a code again makes its next revision, used for billing at once.",
    ),
    ("tariffs.file", "价格方案文件", "Tariff file"),
    ("tariffs.upload_submit", "校验并上传", "Check and upload"),
    (
        "tariffs.upload_confirm",
        "上传后立即用于该编码下所有表计的计费，确定？",
        "Meters on this code are billed with it at once. Upload?",
    ),
    ("tariffs.quote", "试算", "Quote"),
    ("tariffs.quote_qty", "用量", "Consumption"),
    ("tariffs.quote_month", "月份", "Month"),
    ("tariffs.quote_submit", "计算", "Price it"),
    (
        "tariffs.quote_hint",
        "按该月用量计算（分时价格按时间均匀分摊到各时段；阶梯从周期起点算起）。",
        "Prices the consumption of that month (time of use: spread evenly over the hours; tiers: counted from the start of the period).",
    ),
    (
        "tariffs.quote_invalid",
        "请输入用量，如 260 或 12.5（最多三位小数）",
        "Enter a consumption such as 260 or 12.5 (at most three decimals)",
    ),
    (
        "tariffs.month_invalid",
        "月份格式应为 2026-07",
        "A month looks like 2026-07",
    ),
    ("tariffs.quote_total", "合计（元）", "Total (yuan)"),
    ("tariffs.quote_line", "计费项", "Line"),
    ("tariffs.quantity", "用量", "Quantity"),
    ("tariffs.unit_price", "单价（元）", "Unit price (yuan)"),
    ("tariffs.amount", "金额（元）", "Amount (yuan)"),
    (
        "tariffs.unparsable",
        "该修订版已无法解析：",
        "This revision no longer parses:",
    ),
];

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/tariffs", get(list))
        .route("/tariffs/{code}", get(show))
}

/// Revisions listed on a tariff's page.
const REVISION_ROWS: u32 = 20;

fn org_of(c: &Ctx) -> Result<OrganisationId, PageError> {
    c.caller
        .as_ref()
        .map(|x| x.principal.organisation)
        .ok_or_else(|| PageError::new(c, WebError::NotFound))
}

// --- the list ------------------------------------------------------------------

struct TariffRow {
    code: String,
    name: String,
    utility: &'static str,
    revision: i64,
    uploaded: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/tariffs.html")]
struct ListPage {
    c: Ctx,
    org: String,
    rows: Vec<TariffRow>,
}

async fn list(State(s): State<AppState>, c: Ctx) -> Result<ListPage, PageError> {
    let org = org_of(&c)?;
    // An organisation has a handful of tariffs (one per customer class and
    // utility), so the list is not paged.
    let rows = s
        .store
        .list_tariffs(org)
        .await
        .map_err(|e| page_error(&c, e))?
        .into_iter()
        .map(|t| TariffRow {
            code: t.code.to_string(),
            name: t.name,
            utility: t.utility.as_str(),
            revision: t.revision,
            uploaded: fmt::time(t.created_at.as_millisecond()),
        })
        .collect();
    Ok(ListPage {
        org: org.to_string(),
        rows,
        c,
    })
}

// --- one tariff ----------------------------------------------------------------

struct TierRow {
    n: usize,
    from: String,
    to: Option<String>,
    price: String,
}

struct TierGroup {
    months: String,
    rows: Vec<TierRow>,
}

struct TiersView {
    period_key: &'static str,
    start_month: i8,
    groups: Vec<TierGroup>,
}

struct SpanRow {
    from: String,
    to: String,
    band_key: &'static str,
    class: &'static str,
}

struct ScheduleGroup {
    months: String,
    spans: Vec<SpanRow>,
}

struct FixedRow {
    name: String,
    amount: String,
    every_key: &'static str,
}

struct VersionView {
    from: String,
    until: Option<String>,
    in_force: bool,
    kind_key: &'static str,
    flat: Option<String>,
    tiers: Option<TiersView>,
    bands: Vec<(&'static str, &'static str, String)>,
    schedule: Vec<ScheduleGroup>,
    surcharge: Option<TiersView>,
    fixed: Vec<FixedRow>,
}

struct RevisionRow {
    revision: i64,
    name: String,
    uploaded: String,
}

struct QuoteLine {
    label: String,
    quantity: String,
    price: String,
    amount: String,
}

struct QuoteView {
    quantity: String,
    month: String,
    lines: Vec<QuoteLine>,
    total: Option<String>,
    /// Why nothing was billed (e.g. a month before the first version).
    note: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/tariff.html")]
struct TariffPage {
    c: Ctx,
    org: String,
    code: String,
    name: String,
    utility: &'static str,
    timezone: String,
    source: Option<String>,
    revision: i64,
    latest: i64,
    uploaded: String,
    source_toml: String,
    unparsable: Option<String>,
    versions: Vec<VersionView>,
    revisions: Vec<RevisionRow>,
    quote_qty: String,
    quote_month: String,
    quote: Option<QuoteView>,
    quote_error: Option<&'static str>,
}

#[derive(serde::Deserialize, Debug, Default)]
struct TariffQuery {
    revision: Option<String>,
    quote: Option<String>,
    month: Option<String>,
}

async fn show(
    State(s): State<AppState>,
    c: Ctx,
    Path(code): Path<String>,
    Query(q): Query<TariffQuery>,
) -> Result<TariffPage, PageError> {
    let err = |e: WebError| page_error(&c, e);
    let org = org_of(&c)?;
    let code: TariffCode = code.parse().map_err(|_| err(WebError::NotFound))?;
    let latest = s
        .store
        .latest_tariff(org, &code)
        .await
        .map_err(|e| err(e.into()))?
        .ok_or_else(|| err(WebError::NotFound))?;
    let wanted = q
        .revision
        .as_deref()
        .filter(|v| !v.is_empty())
        .map(|v| v.parse::<i64>().map_err(|_| err(WebError::NotFound)))
        .transpose()?;
    let shown: TariffRevision = match wanted {
        Some(r) if r != latest.revision => s
            .store
            .console()
            .tariff_revision(org, &code, r)
            .await
            .map_err(|e| err(e.into()))?
            .ok_or_else(|| err(WebError::NotFound))?,
        _ => latest.clone(),
    };
    let revisions = s
        .store
        .console()
        .tariff_revisions(org, &code, REVISION_ROWS)
        .await
        .map_err(|e| err(e.into()))?
        .into_iter()
        .map(|r| RevisionRow {
            revision: r.revision,
            name: r.name,
            uploaded: fmt::time(r.created_at_ms),
        })
        .collect();

    let (versions, timezone, source, unparsable, tariff) =
        match yufu_tariff::parse_tariff(shown.code.as_str(), &shown.source_toml) {
            Ok(t) => (
                versions(&t),
                t.timezone.clone(),
                t.source.clone(),
                None,
                Some(t),
            ),
            Err(e) => (Vec::new(), String::new(), None, Some(e.to_string()), None),
        };

    let quote_qty = q.quote.as_deref().unwrap_or("").trim().to_owned();
    let quote_month = q.month.as_deref().unwrap_or("").trim().to_owned();
    let (quote, quote_error) = match (&tariff, quote_qty.is_empty()) {
        (Some(t), false) => match quote(&c, t, &quote_qty, &quote_month) {
            Ok(v) => (Some(v), None),
            Err(key) => (None, Some(key)),
        },
        _ => (None, None),
    };

    Ok(TariffPage {
        org: org.to_string(),
        code: shown.code.to_string(),
        name: shown.name,
        utility: shown.utility.as_str(),
        timezone,
        source,
        revision: shown.revision,
        latest: latest.revision,
        uploaded: fmt::time(shown.created_at.as_millisecond()),
        source_toml: shown.source_toml,
        unparsable,
        versions,
        revisions,
        quote_qty,
        quote_month,
        quote,
        quote_error,
        c,
    })
}

fn band_key(b: Band) -> &'static str {
    match b {
        Band::CriticalPeak => "tariffs.band.critical_peak",
        Band::Peak => "tariffs.band.peak",
        Band::Flat => "tariffs.band.flat",
        Band::Valley => "tariffs.band.valley",
    }
}

fn band_class(b: Band) -> &'static str {
    match b {
        Band::CriticalPeak => "bad",
        Band::Peak => "warn",
        Band::Flat => "info",
        Band::Valley => "good",
    }
}

/// "1–4, 11–12" for the months (0-based) where `pick` is true; empty for
/// all twelve (the template says "all year").
fn month_ranges(pick: impl Fn(usize) -> bool) -> String {
    let mut parts = Vec::new();
    let mut m = 0;
    while m < 12 {
        if !pick(m) {
            m += 1;
            continue;
        }
        let start = m;
        while m + 1 < 12 && pick(m + 1) {
            m += 1;
        }
        parts.push(if start == m {
            (m + 1).to_string()
        } else {
            format!("{}–{}", start + 1, m + 1)
        });
        m += 1;
    }
    if parts.len() == 1 && parts[0] == "1–12" {
        String::new()
    } else {
        parts.join(", ")
    }
}

/// The twelve months grouped by equal rules, in order of first appearance.
fn groups<T: PartialEq>(per_month: &[T; 12]) -> Vec<(String, &T)> {
    let mut seen: Vec<&T> = Vec::new();
    for v in per_month {
        if !seen.contains(&v) {
            seen.push(v);
        }
    }
    seen.into_iter()
        .map(|v| (month_ranges(|m| per_month[m] == *v), v))
        .collect()
}

fn hhmm(min: u16) -> String {
    format!("{:02}:{:02}", min / 60, min % 60)
}

fn tiers_view(t: &Tiers) -> TiersView {
    TiersView {
        period_key: match t.period.kind {
            PeriodKind::Month => "tariffs.period.month",
            PeriodKind::Season => "tariffs.period.season",
            PeriodKind::Year => "tariffs.period.year",
        },
        start_month: t.period.start_month,
        groups: groups(&t.bounds)
            .into_iter()
            .map(|(months, bounds)| {
                let mut lower = 0;
                let rows = t
                    .prices
                    .iter()
                    .enumerate()
                    .map(|(i, price)| {
                        let upper = bounds.get(i).copied();
                        let row = TierRow {
                            n: i + 1,
                            from: show_units(lower),
                            to: upper.map(show_units),
                            price: price.to_string(),
                        };
                        lower = upper.unwrap_or(lower);
                        row
                    })
                    .collect();
                TierGroup { months, rows }
            })
            .collect(),
    }
}

fn versions(t: &Tariff) -> Vec<VersionView> {
    let now = jiff::Timestamp::now();
    let in_force = t.version_index_at(now);
    t.versions
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut view = VersionView {
                from: v.effective_date.to_string(),
                until: t.versions.get(i + 1).map(|n| n.effective_date.to_string()),
                in_force: in_force == Some(i),
                kind_key: "tariffs.kind.flat",
                flat: None,
                tiers: None,
                bands: Vec::new(),
                schedule: Vec::new(),
                surcharge: None,
                fixed: v
                    .fixed_charges
                    .iter()
                    .map(|f| FixedRow {
                        name: f.name.clone(),
                        amount: f.amount.to_string(),
                        every_key: match f.every {
                            FixedEvery::Day => "tariffs.every.day",
                            FixedEvery::Month => "tariffs.every.month",
                        },
                    })
                    .collect(),
            };
            match &v.pricing {
                Pricing::Flat { price } => view.flat = Some(price.to_string()),
                Pricing::Tiered(tiers) => {
                    view.kind_key = "tariffs.kind.tiered";
                    view.tiers = Some(tiers_view(tiers));
                }
                Pricing::TimeOfUse {
                    schedule,
                    surcharge,
                } => {
                    view.kind_key = "tariffs.kind.time_of_use";
                    view.bands = Band::ALL
                        .iter()
                        .filter_map(|b| {
                            schedule.prices[b.index()]
                                .map(|p| (band_key(*b), band_class(*b), p.to_string()))
                        })
                        .collect();
                    view.schedule = groups(&schedule.days)
                        .into_iter()
                        .map(|(months, spans)| ScheduleGroup {
                            months,
                            spans: spans
                                .iter()
                                .map(|s| SpanRow {
                                    from: hhmm(s.start_min),
                                    to: hhmm(s.end_min),
                                    band_key: band_key(s.band),
                                    class: band_class(s.band),
                                })
                                .collect(),
                        })
                        .collect();
                    view.surcharge = surcharge.as_ref().map(tiers_view);
                }
            }
            view
        })
        .collect()
}

// --- the quote -------------------------------------------------------------------

/// A consumption as typed ("260", "12.5", "0.125") in base units (Wh,
/// litres), without floats: at most three decimals, above zero, below the
/// register capacity the quote uses.
fn parse_quantity(s: &str) -> Option<u64> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty()
        || whole.len() > 6
        || frac.len() > 3
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: u64 = whole.parse().ok()?;
    let frac: u64 = format!("{frac:0<3}").parse().ok()?;
    let base = whole * yufu_tariff::BASE_PER_UNIT + frac;
    (base > 0).then_some(base)
}

/// "2026-07" as the first of that month.
fn parse_month(s: &str) -> Option<Date> {
    let (y, m) = s.split_once('-')?;
    if y.len() != 4 || m.is_empty() || m.len() > 2 {
        return None;
    }
    Date::new(y.parse().ok()?, m.parse().ok()?, 1).ok()
}

/// A label with its number in place of `{n}` ("第2档", "Tier 2").
fn numbered(c: &Ctx, key: &str, n: usize) -> String {
    c.t(key).replace("{n}", &n.to_string())
}

fn line_label(c: &Ctx, kind: LineKind) -> String {
    match kind {
        LineKind::Flat => c.t("tariffs.line.flat").to_owned(),
        LineKind::Tier(n) => numbered(c, "tariffs.tier_n", n.into()),
        LineKind::Band(b) => c.t(band_key(b)).to_owned(),
        LineKind::Surcharge(n) => numbered(c, "tariffs.surcharge_n", n.into()),
    }
}

/// Prices `qty` consumed over the month `month` (default: this month in
/// the tariff's zone), as a meter read at the month's first midnight and
/// again at the next month's: the same pricing the engine bills with.
fn quote(c: &Ctx, t: &Tariff, qty: &str, month: &str) -> Result<QuoteView, &'static str> {
    let base = parse_quantity(qty).ok_or("tariffs.quote_invalid")?;
    let first = if month.is_empty() {
        t.tz.to_datetime(jiff::Timestamp::now())
            .date()
            .first_of_month()
    } else {
        parse_month(month).ok_or("tariffs.month_invalid")?
    };
    let next = first
        .checked_add(jiff::Span::new().months(1))
        .map_err(|_| "tariffs.month_invalid")?;
    let at = |d: Date| {
        t.tz.to_timestamp(DateTime::from_parts(d, Time::midnight()))
            .map_err(|_| "tariffs.month_invalid")
    };
    let (start, end) = (at(first)?, at(next)?);
    let params = MeterParams::default();
    let pricer = Pricer::new(t.clone());
    let opening = pricer.price(&params, &BillingState::default(), &Reading::new(start, 0));
    let priced = pricer.price(&params, &opening.state, &Reading::new(end, base));
    let mut view = QuoteView {
        quantity: show_units(base),
        month: first.strftime("%Y-%m").to_string(),
        lines: Vec::new(),
        total: None,
        note: None,
    };
    match priced.verdict {
        Verdict::Billed(charge) => {
            view.lines = charge
                .lines
                .iter()
                .map(|l| QuoteLine {
                    label: line_label(c, l.kind),
                    quantity: show_units(l.quantity),
                    price: l.unit_price.to_string(),
                    amount: fmt::yuan(l.amount_fen),
                })
                .collect();
            view.total = Some(fmt::yuan(charge.total_fen));
        }
        other => view.note = Some(other.explain()),
    }
    Ok(view)
}

impl TariffPage {
    /// The label of the unit prices and quantities are in (kWh, m³).
    fn unit(&self) -> &'static str {
        self.c.t(&format!("unit.{}", self.utility))
    }

    fn tier(&self, n: &usize) -> String {
        numbered(&self.c, "tariffs.tier_n", *n)
    }

    fn surcharge_tier(&self, n: &usize) -> String {
        numbered(&self.c, "tariffs.surcharge_n", *n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_and_months_parse_exactly() {
        assert_eq!(parse_quantity("260"), Some(260_000));
        assert_eq!(parse_quantity("12.5"), Some(12_500));
        assert_eq!(parse_quantity("0.125"), Some(125));
        assert_eq!(parse_quantity("0"), None);
        assert_eq!(parse_quantity("1.2345"), None);
        assert_eq!(parse_quantity("-3"), None);
        assert_eq!(parse_quantity("1e3"), None);
        assert_eq!(parse_quantity("1000000"), None);
        assert_eq!(parse_month("2026-07"), Date::new(2026, 7, 1).ok());
        assert_eq!(parse_month("2026-13"), None);
        assert_eq!(parse_month("July"), None);
    }

    #[test]
    fn months_group_into_ranges() {
        assert_eq!(month_ranges(|m| !(4..10).contains(&m)), "1–4, 11–12");
        assert_eq!(month_ranges(|_| true), "");
        assert_eq!(month_ranges(|m| m == 6), "7");
    }
}
