//! Search (搜索) from the header box: a meter serial (whole or its start),
//! an account number (whole or its start), a customer's name or phone.
//!
//! Every look-up is by index: serial and account-number prefixes are ranges
//! on the (organisation, serial/number) unique indexes; names and phones
//! are sealed at rest and found through their blind indexes (keyed hashes of
//! the normalised value), so they match whole values only. Each kind is
//! bounded ([`PER_KIND`]). One match (or one exact serial or account number
//! among prefix matches) goes straight to its page; several are listed; a
//! site-scoped person sees only what is in their sites, and names and
//! phones are masked for roles that may not read personal data.

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use yufu_access::Permission;
use yufu_domain::{Account, AccountId, Customer};

use super::meter::{caller, page_err, query_param, status_class};
use super::{Ctx, Page, PageError};
use crate::{AppState, Caller};

/// This module's pages and who may open them.
pub(crate) const PAGES: &[(&str, Page)] = &[("/search", Page::Staff(Permission::ReadFleet))];

/// This module's labels: (key, 简体中文, English).
pub(crate) const TEXT: &[(&str, &str, &str)] = &[
    ("search.title", "搜索", "Search"),
    ("search.query", "搜索内容", "Search for"),
    ("search.submit", "搜索", "Search"),
    (
        "search.hint",
        "可输入表号或户号（全部或开头部分）、客户姓名（全名）或电话号码。",
        "Enter a meter serial or account number (whole or its start), a customer's full name, or a phone number.",
    ),
    (
        "search.none",
        "没有找到匹配的表计、账户或客户。",
        "No meter, account or customer matches.",
    ),
    ("search.meters", "表计", "Meters"),
    ("search.accounts", "账户", "Accounts"),
    ("search.customers", "客户", "Customers"),
    ("search.serial", "表号", "Serial"),
    ("search.utility", "类别", "Utility"),
    ("search.number", "户号", "Account no."),
    ("search.customer", "客户", "Customer"),
    ("search.phone", "电话", "Phone"),
    ("search.by_name", "姓名匹配", "Name matches"),
    ("search.by_phone", "电话匹配", "Phone matches"),
    ("search.no_account", "无账户", "No account"),
    ("search.closed", "已销户", "Closed"),
    (
        "search.more",
        "结果较多，只显示前一部分；请输入更完整的内容。",
        "Many matches: only the first are shown; type more of it.",
    ),
];

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/search", get(page))
}

/// The most results of each kind (meters, accounts, customers).
const PER_KIND: u32 = 20;

#[derive(Debug)]
struct MeterHit {
    id: String,
    serial: String,
    utility: String,
    status_key: String,
    status_class: &'static str,
}

#[derive(Debug)]
struct AccountHit {
    id: String,
    number: String,
    customer: String,
    closed: bool,
}

#[derive(Debug)]
struct CustomerHit {
    name: String,
    phone: String,
    /// How it matched: `search.by_name` or `search.by_phone`.
    by: &'static str,
    accounts: Vec<(String, String)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/search.html")]
struct SearchPage {
    c: Ctx,
    q: String,
    meters: Vec<MeterHit>,
    accounts: Vec<AccountHit>,
    customers: Vec<CustomerHit>,
    more: bool,
}

impl SearchPage {
    fn nothing(&self) -> bool {
        !self.q.is_empty()
            && self.meters.is_empty()
            && self.accounts.is_empty()
            && self.customers.is_empty()
    }
}

/// Keeps `head` leading and `tail` trailing characters and stars the rest
/// (as the API masks customers for roles without `read_personal`).
pub(crate) fn mask(s: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= head + tail {
        return "*".repeat(chars.len().max(1));
    }
    let mut out: String = chars[..head].iter().collect();
    out.push_str(&"*".repeat(chars.len() - head - tail));
    out.extend(&chars[chars.len() - tail..]);
    out
}

/// A customer's name and phone as this caller may see them.
fn shown(c: &Ctx, customer: &Customer) -> (String, String) {
    let phone = customer.phone.as_ref().map(|p| p.expose().as_str());
    if c.can("read_personal") {
        (
            customer.name.expose().clone(),
            phone.unwrap_or("").to_owned(),
        )
    } else {
        (
            mask(customer.name.expose(), 1, 0),
            phone.map(|p| mask(p, 3, 4)).unwrap_or_default(),
        )
    }
}

/// The upper-case form serials and account numbers are stored in, if `q`
/// could be (the start of) one.
fn code_like(q: &str) -> Option<String> {
    (!q.is_empty()
        && q.len() <= 32
        && q.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_'))
    .then(|| q.to_ascii_uppercase())
}

/// A phone number has at least 5 digits and nothing but digits and the
/// usual separators.
fn phone_like(q: &str) -> bool {
    // Full-width digits are what Chinese input methods type.
    let digit = |ch: char| ch.is_ascii_digit() || ('０'..='９').contains(&ch);
    q.chars().filter(|ch| digit(*ch)).count() >= 5
        && q.chars().all(|ch| digit(ch) || " +-()".contains(ch))
}

/// Whether a site-scoped caller may see an account (through the sites of
/// its meters). Unscoped callers see everything of their organisation.
async fn account_visible(
    s: &AppState,
    who: &Caller,
    a: AccountId,
) -> Result<bool, crate::WebError> {
    if !who.scoped() {
        return Ok(true);
    }
    let sites = s.store.access().account_sites(a).await?;
    Ok(who.any_site(&sites).is_ok())
}

async fn page(
    State(s): State<AppState>,
    c: Ctx,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let who = caller(&c)?.clone();
    let org = who.principal.organisation;
    let q: String = query_param(&params, "q")
        .unwrap_or_default()
        .chars()
        .take(100)
        .collect();
    let mut meters = Vec::new();
    let mut accounts: Vec<Account> = Vec::new();
    let mut customers: Vec<(Customer, &'static str)> = Vec::new();
    let mut more = false;
    let console = s.store.console();
    if let Some(code) = code_like(&q) {
        let found = console
            .meters_by_serial_prefix(org, &code, PER_KIND + 1)
            .await
            .map_err(|e| page_err(&c, e))?;
        more |= found.len() > PER_KIND as usize;
        for m in found.into_iter().take(PER_KIND as usize) {
            let visible = if who.scoped() {
                let site = s
                    .store
                    .access()
                    .meter_site(m.id)
                    .await
                    .map_err(|e| page_err(&c, e))?;
                who.any_site(site.as_slice()).is_ok()
            } else {
                true
            };
            if visible {
                meters.push(m);
            }
        }
        let found = console
            .accounts_by_number_prefix(org, &code, PER_KIND + 1)
            .await
            .map_err(|e| page_err(&c, e))?;
        more |= found.len() > PER_KIND as usize;
        for a in found.into_iter().take(PER_KIND as usize) {
            if account_visible(&s, &who, a.id)
                .await
                .map_err(|e| page_err(&c, e))?
            {
                accounts.push(a);
            }
        }
    }
    if !q.is_empty() && !phone_like(&q) {
        for cu in console
            .customers_by_name(org, &q, PER_KIND)
            .await
            .map_err(|e| page_err(&c, e))?
        {
            customers.push((cu, "search.by_name"));
        }
    }
    if phone_like(&q) {
        for cu in s
            .store
            .find_customers_by_phone(org, &q)
            .await
            .map_err(|e| page_err(&c, e))?
            .into_iter()
            .take(PER_KIND as usize)
        {
            customers.push((cu, "search.by_phone"));
        }
    }

    // A customer's accounts (those the caller may see); a scoped caller
    // sees a customer only through an account in their sites.
    let mut customer_hits = Vec::new();
    for (cu, by) in &customers {
        let mut links = Vec::new();
        for a in s
            .store
            .access()
            .accounts_of_customer(cu.id)
            .await
            .map_err(|e| page_err(&c, e))?
        {
            if account_visible(&s, &who, a.id)
                .await
                .map_err(|e| page_err(&c, e))?
            {
                links.push((a.id.to_string(), a.number.to_string()));
            }
        }
        if who.scoped() && links.is_empty() {
            continue;
        }
        let (name, phone) = shown(&c, cu);
        customer_hits.push(CustomerHit {
            name,
            phone,
            by,
            accounts: links,
        });
    }

    // Straight to the page when there is one place to go: a single hit, or
    // a single exact serial / account number among prefix matches.
    let exact: Vec<String> = meters
        .iter()
        .filter(|m| m.serial.as_str().eq_ignore_ascii_case(&q))
        .map(|m| format!("/meters/{}", m.id))
        .chain(
            accounts
                .iter()
                .filter(|a| a.number.as_str().eq_ignore_ascii_case(&q))
                .map(|a| format!("/accounts/{}", a.id)),
        )
        .collect();
    let mut everything: Vec<String> = meters
        .iter()
        .map(|m| format!("/meters/{}", m.id))
        .chain(accounts.iter().map(|a| format!("/accounts/{}", a.id)))
        .chain(
            customer_hits
                .iter()
                .flat_map(|h| h.accounts.iter().map(|(id, _)| format!("/accounts/{id}"))),
        )
        .collect();
    everything.sort();
    everything.dedup();
    let customers_without_account = customer_hits.iter().any(|h| h.accounts.is_empty());
    if everything.len() == 1 && !customers_without_account {
        return Ok(Redirect::to(&everything[0]).into_response());
    }
    if exact.len() == 1 && customer_hits.is_empty() {
        return Ok(Redirect::to(&exact[0]).into_response());
    }

    // Account rows show their customer's (masked) name.
    let mut account_hits = Vec::with_capacity(accounts.len());
    for a in accounts {
        let customer = s
            .store
            .get_customer(a.customer_id)
            .await
            .map_err(|e| page_err(&c, e))?;
        account_hits.push(AccountHit {
            id: a.id.to_string(),
            number: a.number.to_string(),
            customer: shown(&c, &customer).0,
            closed: a.status.as_str() == "closed",
        });
    }
    Ok(SearchPage {
        q,
        meters: meters
            .into_iter()
            .map(|m| MeterHit {
                id: m.id.to_string(),
                serial: m.serial.to_string(),
                utility: m.utility.as_str().to_owned(),
                status_key: format!("meter.status.{}", m.status.as_str()),
                status_class: status_class(m.status.as_str()),
            })
            .collect(),
        accounts: account_hits,
        customers: customer_hits,
        more,
        c,
    }
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_query_could_be() {
        assert_eq!(code_like("e-gz-0005").as_deref(), Some("E-GZ-0005"));
        assert_eq!(code_like("陈小明"), None);
        assert_eq!(code_like("a b"), None);
        assert_eq!(code_like(""), None);
        assert!(phone_like("138 0013 8000"));
        assert!(phone_like("+86 138-0013-8000"));
        assert!(phone_like("１３８００１３８０００"));
        assert!(!phone_like("1380"));
        assert!(!phone_like("E900001"));
        assert_eq!(mask("13800138000", 3, 4), "138****8000");
        assert_eq!(mask("陈小明", 1, 0), "陈**");
    }
}
