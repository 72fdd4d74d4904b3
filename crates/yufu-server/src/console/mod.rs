//! The web console (staff) and the customer portal: server-rendered askama
//! pages in Simplified Chinese and English, with a little hand-written
//! JavaScript (`static/console.js`).
//!
//! Pages only read. Every change a page offers (trip a meter, take a
//! recharge, acknowledge an alarm, upload a tariff, …) is a form that
//! `console.js` sends to the JSON API with the session's CSRF token, so each
//! change passes the API's one gate ([`crate::auth::gate`]): the same
//! permission and site checks, validation and audit row as any other client.
//!
//! Pages have their own access table ([`PAGES`], collected from each page
//! module), checked by [`guard`] the way the API's policy table is: a page
//! without a row is not served. A page addressed by a meter, account, site
//! or customer id gets the API's site-scope check; list pages filter by the
//! caller's scope themselves.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::Router;
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use yufu_access::{Actor, Identity, Permission};

use crate::auth::{self, Caller, NoCaller};
use crate::{AppState, WebError};

pub(crate) mod account;
pub(crate) mod alarms;
pub(crate) mod audit;
pub(crate) mod chart;
pub(crate) mod counter;
pub mod dashboard;
pub(crate) mod fmt;
pub(crate) mod i18n;
pub(crate) mod login;
pub(crate) mod meter;
pub(crate) mod portal;
pub(crate) mod search;
pub(crate) mod sites;
pub(crate) mod tariffs;
pub(crate) mod users;
// device lifecycle (issue 8)
pub(crate) mod devices;
pub(crate) mod field;
pub(crate) mod lifecycle;
pub(crate) mod procurement;

pub(crate) use i18n::Lang;

/// Who may open a page.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Page {
    /// Anyone (sign-in pages, static files).
    Public,
    /// Signed-in staff holding the permission.
    Staff(Permission),
    /// A customer signed in to the portal.
    Customer,
}

/// Every page's (route template, rule), from every page module. GET only:
/// changes go through the API.
pub(crate) static PAGES: LazyLock<Vec<(&'static str, Page)>> = LazyLock::new(|| {
    [
        login::PAGES,
        dashboard::PAGES,
        search::PAGES,
        sites::PAGES,
        meter::PAGES,
        account::PAGES,
        counter::PAGES,
        alarms::PAGES,
        tariffs::PAGES,
        users::PAGES,
        audit::PAGES,
        portal::PAGES,
        // device lifecycle (issue 8)
        devices::PAGES,
        procurement::PAGES,
        field::PAGES,
    ]
    .concat()
});

fn page_rule(route: &str) -> Option<Page> {
    static INDEX: LazyLock<HashMap<&'static str, Page>> =
        LazyLock::new(|| PAGES.iter().copied().collect());
    INDEX.get(route).copied()
}

/// The console and portal routes, with [`guard`] in front of each.
pub(crate) fn routes(state: AppState) -> Router<AppState> {
    let pages = Router::new()
        .merge(login::routes())
        .merge(dashboard::routes())
        .merge(search::routes())
        .merge(sites::routes())
        .merge(meter::routes())
        .merge(account::routes())
        .merge(counter::routes())
        .merge(alarms::routes())
        .merge(tariffs::routes())
        .merge(users::routes())
        .merge(audit::routes())
        .merge(portal::routes())
        // device lifecycle (issue 8)
        .merge(devices::routes())
        .merge(procurement::routes())
        .merge(field::routes())
        .route_layer(axum::middleware::from_fn_with_state(state, guard));
    pages
        .route("/static/console.css", get(css))
        .route("/static/console.js", get(js))
}

async fn css() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("../../static/console.css"),
    )
}

async fn js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../static/console.js"),
    )
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            // Small and versioned with the binary: an hour is plenty.
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// The session's CSRF token, for pages whose forms call the API.
#[derive(Clone, Debug)]
pub(crate) struct Csrf(pub String);

/// Console route → the API route with the same id, for the site-scope check.
const SCOPED_PREFIXES: &[(&str, &str)] = &[
    ("/meters/{id}", "/api/v1/meters/{id}"),
    ("/accounts/{id}", "/api/v1/accounts/{id}"),
    ("/sites/{id}", "/api/v1/sites/{id}"),
    ("/customers/{id}", "/api/v1/customers/{id}"),
    // device lifecycle (issue 8): the device page is addressed by the meter
    // id, as `GET /api/v1/meters/{id}/device` is; every `/api/v1/meters/{id}…`
    // route gets the same meter-site check, and the path rewrite below
    // needs the API side to end in `{id}`.
    ("/devices/{id}", "/api/v1/meters/{id}"),
];

/// The guard in front of every page: rule lookup (no rule, no page),
/// sign-in (a redirect to the right sign-in page when missing), the kind of
/// person (staff pages for staff, portal pages for customers), permission,
/// site scope; and the language cookie when `?lang=` asks for a change.
pub(crate) async fn guard(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let lang = Lang::of(req.headers(), req.uri().query());
    let switch = lang_switch(req.uri().query());
    let mut response = match admit(&s, req, lang).await {
        Ok(req) => next.run(req).await,
        Err(r) => r,
    };
    if let Some(l) = switch {
        let cookie = format!(
            "{}={}; Path=/; Max-Age=31536000; SameSite=Lax",
            i18n::LANG_COOKIE,
            l.code()
        );
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

async fn admit(s: &AppState, mut req: Request, lang: Lang) -> Result<Request, Response> {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Err(error_page(lang, StatusCode::METHOD_NOT_ALLOWED));
    }
    let Some(rule) = page_rule(&route) else {
        tracing::error!(%route, "page has no access rule: refused");
        return Err(error_page(lang, StatusCode::NOT_FOUND));
    };
    req.extensions_mut().insert(lang);
    if rule == Page::Public {
        return Ok(req);
    }
    let path_and_query = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned());
    let login = if rule == Page::Customer {
        "/portal/login"
    } else {
        "/login"
    };
    let source = auth::source_of(req.extensions());
    let (principal, session) = match auth::resolve(s, req.headers(), &source).await {
        Ok(found) => found,
        Err(NoCaller::Missing | NoCaller::Invalid(_)) => {
            let to = format!("{login}?next={}", fmt::url_encode(&path_and_query));
            return Err(Redirect::to(&to).into_response());
        }
    };
    match (rule, principal.actor) {
        (Page::Customer, Actor::Customer) => {}
        (Page::Customer, _) => return Err(Redirect::to("/").into_response()),
        (Page::Staff(_), Actor::Customer) => return Err(Redirect::to("/portal").into_response()),
        (Page::Staff(p), _) if !principal.can(p) => {
            return Err(error_page(lang, StatusCode::FORBIDDEN));
        }
        _ => {}
    }
    let caller = Caller {
        principal,
        source,
        session: session.as_ref().map(|(id, _)| id.clone()),
    };
    if let Some((page, api)) = SCOPED_PREFIXES.iter().find(|(p, _)| route.starts_with(p)) {
        let api_route = route.replacen(page, api, 1);
        let api_path = req
            .uri()
            .path()
            .replacen(&page[..page.len() - 4], &api[..api.len() - 4], 1);
        if let Err(e) = auth::scope_check(s, &api_route, &api_path, &caller).await {
            return Err(match e {
                WebError::NotFound => error_page(lang, StatusCode::NOT_FOUND),
                _ => error_page(lang, StatusCode::FORBIDDEN),
            });
        }
    }
    req.extensions_mut()
        .insert(Csrf(session.map(|(_, csrf)| csrf).unwrap_or_default()));
    req.extensions_mut().insert(caller);
    Ok(req)
}

/// `?lang=zh|en` in the query: the language to remember.
fn lang_switch(query: Option<&str>) -> Option<Lang> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "lang")
        .and_then(|(_, v)| Lang::parse(v))
}

/// What every console page template gets: language, who is signed in and
/// what they may do, the CSRF token for API forms, the current path.
#[derive(Clone, Debug)]
pub(crate) struct Ctx {
    pub lang: Lang,
    pub caller: Option<Caller>,
    pub csrf: String,
    pub path: String,
}

impl Ctx {
    /// The label `key` in the page's language.
    pub fn t(&self, key: &str) -> &'static str {
        self.lang.t(key)
    }

    #[allow(dead_code)]
    pub fn zh(&self) -> bool {
        self.lang == Lang::Zh
    }

    pub fn html_lang(&self) -> &'static str {
        self.lang.html_lang()
    }

    /// The caller holds the permission named as in `Permission::as_str`.
    pub fn can(&self, permission: &str) -> bool {
        self.caller.as_ref().is_some_and(|c| {
            Permission::ALL
                .iter()
                .any(|p| p.as_str() == permission && c.can(*p))
        })
    }

    /// The signed-in person's name for the header.
    pub fn who(&self) -> String {
        match self.caller.as_ref().map(|c| &c.principal.identity) {
            Some(Identity::Staff { username, .. }) => username.clone(),
            Some(Identity::Token { name, .. }) => name.clone(),
            Some(Identity::Customer { .. }) => self.t("portal.customer").to_owned(),
            None => String::new(),
        }
    }

    pub fn role(&self) -> &'static str {
        self.caller.as_ref().map_or("", |c| {
            self.t(&format!("role.{}", c.principal.actor.as_str()))
        })
    }

    /// The current path with `lang=` set to the other language.
    pub fn switch_href(&self) -> String {
        let other = match self.lang {
            Lang::Zh => "en",
            Lang::En => "zh",
        };
        let (path, query) = self.path.split_once('?').unwrap_or((&self.path, ""));
        let mut kept: Vec<&str> = query
            .split('&')
            .filter(|kv| !kv.is_empty() && !kv.starts_with("lang="))
            .collect();
        let lang = format!("lang={other}");
        kept.push(&lang);
        format!("{path}?{}", kept.join("&"))
    }

    // device lifecycle (issue 8)
    /// The caller may open organisation-wide pages (not limited to some
    /// sites): the device register and procurement links show only then.
    pub fn whole_org(&self) -> bool {
        self.caller.as_ref().is_some_and(|c| !c.scoped())
    }

    /// Marks the navigation entry of the current section.
    pub fn here(&self, prefix: &str) -> bool {
        let path = self.path.split('?').next().unwrap_or("");
        if prefix == "/" {
            path == "/"
        } else {
            path.starts_with(prefix)
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Ctx {
            lang: parts
                .extensions
                .get::<Lang>()
                .copied()
                .unwrap_or_else(|| Lang::of(&parts.headers, parts.uri.query())),
            caller: parts.extensions.get::<Caller>().cloned(),
            csrf: parts
                .extensions
                .get::<Csrf>()
                .map(|c| c.0.clone())
                .unwrap_or_default(),
            path: parts
                .uri
                .path_and_query()
                .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned()),
        })
    }
}

/// A page's failure, shown as a page (not JSON) in the caller's language.
#[derive(Debug)]
pub(crate) struct PageError {
    pub lang: Lang,
    pub error: WebError,
}

impl PageError {
    pub fn new(ctx: &Ctx, error: impl Into<WebError>) -> Self {
        PageError {
            lang: ctx.lang,
            error: error.into(),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = match &self.error {
            WebError::NotFound | WebError::Store(yufu_store::StoreError::NotFound { .. }) => {
                StatusCode::NOT_FOUND
            }
            WebError::Forbidden(_) => StatusCode::FORBIDDEN,
            WebError::Invalid(_) => StatusCode::BAD_REQUEST,
            other => {
                tracing::error!(error = %other, "console page failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        error_page(self.lang, status)
    }
}

/// A small page for 403/404/405/500 in the caller's language.
pub(crate) fn error_page(lang: Lang, status: StatusCode) -> Response {
    let (title, hint) = match status {
        StatusCode::NOT_FOUND => (lang.t("error.not_found"), lang.t("error.not_found_hint")),
        StatusCode::FORBIDDEN => (lang.t("error.forbidden"), lang.t("error.forbidden_hint")),
        StatusCode::BAD_REQUEST => (
            lang.t("error.bad_request"),
            lang.t("error.bad_request_hint"),
        ),
        StatusCode::METHOD_NOT_ALLOWED => (lang.t("error.method"), lang.t("error.method_hint")),
        _ => (lang.t("error.internal"), lang.t("error.internal_hint")),
    };
    // Only fixed catalogue strings go into this page: no escaping needed.
    let body = format!(
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <link rel=\"stylesheet\" href=\"/static/console.css\"><title>{title}</title></head>\
         <body><main class=\"narrow\"><h1>{title}</h1><p>{hint}</p><p><a href=\"/\">{}</a></p></main></body></html>",
        lang.html_lang(),
        lang.t("error.home"),
    );
    (status, Html(body)).into_response()
}
