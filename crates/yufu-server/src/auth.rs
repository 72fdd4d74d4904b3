//! Authentication and the permission gate in front of every route.
//!
//! One middleware ([`gate`]) runs before every API handler. It looks up the
//! route's rule in the policy table ([`crate::policy`]); a route without a
//! rule is refused (default deny). For a protected route it resolves the
//! caller from a bearer API token or a session cookie, checks the
//! permission, and only then puts a [`Caller`] into the request. Handlers
//! take `Caller` as an argument, so a handler cannot run without the check
//! (the capability pattern). After the handler, mutations are appended to
//! the audit log ([`crate::audit_log`]).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use yufu_access::throttle::{RateLimiter, Throttle, ThrottleConfig};
use yufu_access::{Actor, Identity, Permission, Principal, SiteScope};
use yufu_domain::{AccountId, SiteId, StaffUserId};
use yufu_store::access::SessionKind;

use crate::audit_log::{AuditLog, AuditNote};
use crate::policy::{self, Rule};
use crate::{AppState, WebError};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "yufu_session";
/// The header that must repeat the session's CSRF token on state-changing
/// requests made with the session cookie.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Prefix of API tokens, so leaked ones are easy to recognise and scan for.
pub const TOKEN_PREFIX: &str = "yufu_pat_";

/// Security settings and state shared by every request.
#[derive(Clone, Debug)]
pub struct Security(Arc<SecurityInner>);

#[derive(Debug)]
struct SecurityInner {
    config: SecurityConfig,
    vault: Arc<yufu_store::Vault>,
    throttle: Mutex<Throttle>,
    login_limit: Mutex<RateLimiter>,
    callback_limit: Mutex<RateLimiter>,
    audit: AuditLog,
    /// API tokens looked up lately, by hash, with when they were read:
    /// integrations send many requests, and each lookup (and last-use
    /// write) would otherwise hit the database the engine writes to.
    tokens: Mutex<std::collections::HashMap<String, (yufu_store::access::ApiTokenRow, i64)>>,
}

/// How long a looked-up API token is trusted without reading it again. A
/// revocation through the API takes effect at once (it clears the entry);
/// one made directly in the database within this time.
const TOKEN_CACHE_MS: i64 = 10_000;
const TOKEN_CACHE_MAX: usize = 10_000;

/// What the operator configures (see the README's YUFU_* variables).
#[derive(Clone)]
pub struct SecurityConfig {
    /// A session ends after this long without a request.
    pub session_idle: Duration,
    /// A session ends this long after login whatever happens.
    pub session_max: Duration,
    /// Mark the cookie `Secure` (HTTPS only). Off only for plain-HTTP demos.
    pub cookie_secure: bool,
    /// Online payment providers: name → HMAC secret.
    pub payment_providers: Vec<(String, Vec<u8>)>,
    /// How far a callback's timestamp may be from now.
    pub callback_tolerance_s: i64,
    /// The built-in payment provider simulator (demo only): its page and
    /// pay route answer, paying with the `paysim` provider's secret.
    pub payment_simulator: bool,
    /// This server's own base URL (`http://127.0.0.1:8080`), where the
    /// payment simulator delivers its callback like a provider would.
    pub self_url: Option<String>,
}

impl std::fmt::Debug for SecurityConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecurityConfig")
            .field("session_idle", &self.session_idle)
            .field("session_max", &self.session_max)
            .field("cookie_secure", &self.cookie_secure)
            .field(
                "payment_providers",
                &self
                    .payment_providers
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("payment_simulator", &self.payment_simulator)
            .field("self_url", &self.self_url)
            .finish_non_exhaustive()
    }
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            session_idle: Duration::from_secs(30 * 60),
            session_max: Duration::from_secs(12 * 3600),
            cookie_secure: true,
            payment_providers: Vec::new(),
            callback_tolerance_s: yufu_payments::DEFAULT_TOLERANCE_S,
            payment_simulator: false,
            self_url: None,
        }
    }
}

impl Security {
    pub fn new(
        config: SecurityConfig,
        vault: Arc<yufu_store::Vault>,
        store: Arc<dyn yufu_store::Store>,
    ) -> Self {
        Self(Arc::new(SecurityInner {
            config,
            vault,
            throttle: Mutex::new(Throttle::new(ThrottleConfig::default())),
            // Per address: 10 login attempts at once, then 30 a minute.
            login_limit: Mutex::new(RateLimiter::new(10, 30)),
            // Per provider and address: bursts of 100, 600 a minute.
            callback_limit: Mutex::new(RateLimiter::new(100, 600)),
            audit: AuditLog::start(store),
            tokens: Mutex::new(std::collections::HashMap::new()),
        }))
    }

    pub fn config(&self) -> &SecurityConfig {
        &self.0.config
    }

    pub fn vault(&self) -> &Arc<yufu_store::Vault> {
        &self.0.vault
    }

    pub fn audit(&self) -> &AuditLog {
        &self.0.audit
    }

    pub(crate) fn throttle(&self) -> std::sync::MutexGuard<'_, Throttle> {
        self.0
            .throttle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// `Err(retry after seconds)` when `address` sent too many logins.
    pub(crate) fn login_rate(&self, address: &str) -> Result<(), i64> {
        self.0
            .login_limit
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .allow(address, now_ms())
            .map_err(|ms| (ms + 999) / 1000)
    }

    fn cached_token(&self, hash: &str, now: i64) -> Option<yufu_store::access::ApiTokenRow> {
        let cache = self.0.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        cache
            .get(hash)
            .filter(|(_, at)| now - at < TOKEN_CACHE_MS)
            .map(|(row, _)| row.clone())
    }

    fn cache_token(&self, row: yufu_store::access::ApiTokenRow, now: i64) {
        let mut cache = self.0.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= TOKEN_CACHE_MAX {
            cache.retain(|_, (_, at)| now - *at < TOKEN_CACHE_MS);
            if cache.len() >= TOKEN_CACHE_MAX {
                cache.clear();
            }
        }
        cache.insert(row.token_hash.clone(), (row, now));
    }

    /// Forgets a token at once (after its revocation).
    pub(crate) fn forget_token(&self, id: &str) {
        self.0
            .tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, (row, _)| row.id != id);
    }

    pub(crate) fn callback_rate(&self, key: &str) -> Result<(), i64> {
        self.0
            .callback_limit
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .allow(key, now_ms())
            .map_err(|ms| (ms + 999) / 1000)
    }
}

pub(crate) fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// SHA-256 hex of a secret (session cookie, API token). The secrets are
/// 256-bit random, so a plain hash is enough: nothing to brute-force.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// 32 random bytes as hex.
pub fn random_secret() -> Result<String, WebError> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| WebError::Unavailable(format!("no OS randomness: {e}")))?;
    Ok(hex::encode(b))
}

/// The checked caller of a protected route. Only [`gate`] creates it, after
/// the permission check; handlers take it as an argument.
#[derive(Clone, Debug)]
pub struct Caller {
    pub principal: Principal,
    /// The client address.
    pub source: String,
    /// The session id when the caller came with the cookie.
    pub session: Option<String>,
}

impl Caller {
    pub fn can(&self, p: Permission) -> bool {
        self.principal.can(p)
    }

    /// Refuses data of a site outside the caller's scope, as not found (a
    /// scoped person must not learn what exists elsewhere).
    pub fn site(&self, site: SiteId) -> Result<(), WebError> {
        if self.principal.sites.allows(site) {
            Ok(())
        } else {
            Err(WebError::NotFound)
        }
    }

    /// The caller may see data that belongs to any of `sites` (or to no site
    /// at all, for unscoped callers).
    pub fn any_site(&self, sites: &[SiteId]) -> Result<(), WebError> {
        let ok = if sites.is_empty() {
            self.principal.sites.allows_unsited()
        } else {
            sites.iter().any(|s| self.principal.sites.allows(*s))
        };
        if ok { Ok(()) } else { Err(WebError::NotFound) }
    }

    pub fn scoped(&self) -> bool {
        !matches!(self.principal.sites, SiteScope::All)
    }

    /// The staff user behind the request, if it is a person.
    pub fn staff_user(&self) -> Option<StaffUserId> {
        match &self.principal.identity {
            Identity::Staff { user, .. } => Some(*user),
            _ => None,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            // A handler that wants a Caller on a public route: a bug.
            tracing::error!(path = %parts.uri.path(), "handler needs a Caller but the route is public");
            WebError::Forbidden("this route has no access rule".into())
        })
    }
}

/// The client's address: the TCP peer. (Behind a reverse proxy every
/// request comes from the proxy; rate limits then act per proxy.)
pub(crate) fn source_of(req_ext: &axum::http::Extensions) -> String {
    req_ext
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |ConnectInfo(a)| a.ip().to_string())
}

pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// Why a request could not be authenticated.
pub(crate) enum NoCaller {
    /// No credentials at all.
    Missing,
    /// Credentials that do not (or no longer) work.
    Invalid(&'static str),
}

/// Resolves the caller from an API token or a session cookie.
pub(crate) async fn resolve(
    s: &AppState,
    headers: &HeaderMap,
    source: &str,
) -> Result<(Principal, Option<(String, String)>), NoCaller> {
    let now = now_ms();
    if let Some(token) = bearer(headers) {
        let hash = secret_hash(token);
        let row = match s.security.cached_token(&hash, now) {
            Some(row) => row,
            None => {
                let row = s
                    .store
                    .access()
                    .find_api_token(&hash)
                    .await
                    .map_err(|_| NoCaller::Invalid("credentials could not be checked"))?
                    .ok_or(NoCaller::Invalid("unknown API token"))?;
                s.security.cache_token(row.clone(), now);
                row
            }
        };
        if row.revoked_at_ms.is_some() {
            return Err(NoCaller::Invalid("this API token was revoked"));
        }
        if row.expires_at_ms <= now {
            return Err(NoCaller::Invalid("this API token has expired"));
        }
        let sites = SiteScope::from_stored(row.site_scope.as_deref())
            .map_err(|_| NoCaller::Invalid("this API token's site scope is damaged"))?;
        // Last use is kept to the minute: write only when it moved on.
        if row.last_used_at_ms.is_none_or(|t| now - t >= 60_000) {
            if let Err(e) = s.store.access().touch_api_token(&row.id, now).await {
                tracing::warn!(error = %e, "could not record API token use");
            }
            let mut fresh = row.clone();
            fresh.last_used_at_ms = Some(now);
            s.security.cache_token(fresh, now);
        }
        return Ok((
            Principal {
                identity: Identity::Token {
                    token: row.id,
                    name: row.name,
                },
                actor: Actor::Staff(row.role),
                organisation: row.organisation_id,
                sites,
            },
            None,
        ));
    }
    let Some(secret) = cookie(headers, SESSION_COOKIE) else {
        return Err(NoCaller::Missing);
    };
    let session = s
        .store
        .access()
        .find_session(&secret_hash(secret))
        .await
        .map_err(|_| NoCaller::Invalid("credentials could not be checked"))?
        .ok_or(NoCaller::Invalid(
            "your session has ended; please sign in again",
        ))?;
    let idle_ms = i64::try_from(s.security.config().session_idle.as_millis()).unwrap_or(i64::MAX);
    if session.revoked_at_ms.is_some()
        || session.expires_at_ms <= now
        || session.last_seen_at_ms.saturating_add(idle_ms) <= now
    {
        return Err(NoCaller::Invalid(
            "your session has ended; please sign in again",
        ));
    }
    let _ = source;
    let principal = match session.kind {
        SessionKind::Staff => {
            let id: StaffUserId = session
                .subject_id
                .parse()
                .map_err(|_| NoCaller::Invalid("damaged session"))?;
            let user = s
                .store
                .access()
                .get_staff_user(id)
                .await
                .map_err(|_| NoCaller::Invalid("your account no longer exists"))?;
            if !user.active {
                return Err(NoCaller::Invalid("your account is disabled"));
            }
            let scope = s
                .store
                .access()
                .staff_site_scope(id)
                .await
                .map_err(|_| NoCaller::Invalid("credentials could not be checked"))?;
            Principal {
                identity: Identity::Staff {
                    user: id,
                    username: user.username.to_string(),
                },
                actor: Actor::Staff(user.role),
                organisation: user.organisation_id,
                sites: SiteScope::from_stored(scope.as_deref())
                    .map_err(|_| NoCaller::Invalid("your site scope is damaged"))?,
            }
        }
        SessionKind::Customer => Principal {
            identity: Identity::Customer {
                customer: session
                    .subject_id
                    .parse()
                    .map_err(|_| NoCaller::Invalid("damaged session"))?,
            },
            actor: Actor::Customer,
            organisation: session.organisation_id,
            sites: SiteScope::Only(Default::default()),
        },
    };
    // Idle expiry counts from the last request; writing at most once a
    // minute keeps reads from turning into writes.
    if now - session.last_seen_at_ms > 60_000
        && let Err(e) = s.store.access().touch_session(&session.id, now).await
    {
        tracing::warn!(error = %e, "could not extend the session");
    }
    Ok((principal, Some((session.id, session.csrf_token))))
}

fn is_mutation(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn unauthenticated(message: &str) -> Response {
    let mut r = WebError::Unauthenticated(message.to_owned()).into_response();
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

/// The gate in front of every API route: rule lookup, authentication,
/// CSRF, permission, then the handler, then the audit row.
pub(crate) async fn gate(
    axum::extract::State(s): axum::extract::State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let method = req.method().clone();
    let Some(route) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
    else {
        return WebError::NotFound.into_response();
    };
    // HEAD is answered by the GET handler (without the body): same rule.
    let rule = match policy::rule(&method, &route) {
        None if method == Method::HEAD => policy::rule(&Method::GET, &route),
        found => found,
    };
    let Some(rule) = rule else {
        let allowed = policy::methods(&route);
        if !allowed.is_empty() {
            // A method the route does not have: refused as such (405, with
            // the methods it has), not as a missing rule.
            let mut r = (
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                axum::Json(crate::error::ErrorBody {
                    code: "method_not_allowed",
                    message: format!("{route} takes {}", allowed.join(", ")),
                }),
            )
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&allowed.join(",")) {
                r.headers_mut().insert(header::ALLOW, v);
            }
            return r;
        }
        tracing::error!(%method, %route, "route has no access rule: refused");
        return WebError::Forbidden("this route has no access rule".into()).into_response();
    };
    let source = source_of(req.extensions());
    let path = req.uri().path().to_owned();
    let mut caller = None;
    if rule != Rule::Public {
        let (principal, session) = match resolve(&s, req.headers(), &source).await {
            Ok(found) => found,
            Err(NoCaller::Missing) => {
                return unauthenticated("sign in or send an API token (Authorization: Bearer …)");
            }
            Err(NoCaller::Invalid(why)) => return unauthenticated(why),
        };
        if let Some((_, csrf)) = &session
            && is_mutation(&method)
        {
            let sent = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            if sent != Some(csrf.as_str()) {
                return WebError::Forbidden(format!(
                    "missing or wrong {CSRF_HEADER} header (repeat the token given at sign-in)"
                ))
                .into_response();
            }
        }
        let allowed = match rule {
            Rule::Public | Rule::Authenticated => true,
            Rule::Perm(p) => principal.can(p),
        };
        let c = Caller {
            principal,
            source: source.clone(),
            session: session.map(|(id, _)| id),
        };
        if !allowed {
            let denied = WebError::Forbidden(format!(
                "your role ({}) may not do this",
                c.principal.actor.as_str()
            ))
            .into_response();
            if is_mutation(&method) {
                s.security
                    .audit()
                    .record(
                        &c.principal.audit_name(),
                        &source,
                        &method,
                        &route,
                        &path,
                        None,
                        denied.status(),
                    )
                    .await;
            }
            return denied;
        }
        if let Err(e) = scope_check(&s, &route, &path, &c).await {
            return e.into_response();
        }
        caller = Some(c);
    }
    let mut req = req;
    if let Some(c) = &caller {
        req.extensions_mut().insert(c.clone());
    }
    let response = next.run(req).await;
    if is_mutation(&method) {
        let (response, note) = with_note(response).await;
        let actor = match (&caller, &note) {
            (_, Some(AuditNote { actor: Some(a), .. })) => a.clone(),
            (Some(c), _) => c.principal.audit_name(),
            (None, _) => "anonymous".to_owned(),
        };
        s.security
            .audit()
            .record(
                &actor,
                &source,
                &method,
                &route,
                &path,
                note,
                response.status(),
            )
            .await;
        return response;
    }
    response
}

/// The handler's audit note, or one made from a small JSON answer (its body
/// becomes `after`, redacted by the audit log).
async fn with_note(response: Response) -> (Response, Option<AuditNote>) {
    use axum::body::HttpBody as _;
    if let Some(note) = response.extensions().get::<AuditNote>().cloned() {
        return (response, Some(note));
    }
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let small = response
        .body()
        .size_hint()
        .exact()
        .is_some_and(|n| n <= 64 * 1024);
    if !json || !small {
        return (response, None);
    }
    let (parts, body) = response.into_parts();
    match axum::body::to_bytes(body, 64 * 1024).await {
        Ok(bytes) => {
            let after = serde_json::from_slice(&bytes).ok();
            let note = AuditNote {
                after,
                ..AuditNote::default()
            };
            (
                Response::from_parts(parts, axum::body::Body::from(bytes)),
                Some(note),
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "could not read a response for the audit log");
            (Response::from_parts(parts, axum::body::Body::empty()), None)
        }
    }
}

/// Loads the sites an account's meters are in (scope checks on accounts).
pub(crate) async fn account_sites(
    s: &AppState,
    account: AccountId,
) -> Result<Vec<SiteId>, WebError> {
    Ok(s.store.access().account_sites(account).await?)
}

/// Routes a site-scoped caller may use although they are not addressed by
/// a site, meter, account or customer: their handlers filter by scope, or
/// they hold organisation reference data (tariffs) or the caller's own
/// sign-in.
const SCOPED_ROUTES: &[&str] = &[
    "/api/v1/auth/logout",
    "/api/v1/auth/me",
    "/api/v1/organisations",
    "/api/v1/organisations/{id}/sites",
    "/api/v1/organisations/{id}/tariffs",
    "/api/v1/organisations/{id}/tariffs/{code}",
    // An alarm is scoped through its meter's site, by its handlers
    // (alarms_api::load).
    "/api/v1/alarms/{id}",
    "/api/v1/alarms/{id}/acknowledge",
    "/api/v1/alarms/{id}/resolve",
    // device lifecycle (issue 8): installation plans are scoped through
    // their unit's site by their handlers (lifecycle_api): the list is
    // filtered, one plan outside the caller's sites is 404, a plan into
    // such a unit is refused.
    "/api/v1/installations",
    "/api/v1/installations/{id}",
    "/api/v1/installations/{id}/complete",
];

/// The value of the first `{…}` segment of `route` in `path`.
fn first_param<'a>(route: &str, path: &'a str) -> Option<&'a str> {
    route
        .split('/')
        .zip(path.split('/'))
        .find(|(r, _)| r.starts_with('{'))
        .map(|(_, p)| p)
}

/// Site scope, checked in the gate for every route addressed by a site,
/// meter, account or customer id, so no handler can forget it. Unscoped
/// callers (the usual case) cost nothing here. An id that does not parse is
/// left to the handler's own 422/404.
pub(crate) async fn scope_check(
    s: &AppState,
    route: &str,
    path: &str,
    c: &Caller,
) -> Result<(), WebError> {
    if !c.scoped() || c.principal.actor == Actor::Customer {
        return Ok(());
    }
    let param = first_param(route, path).unwrap_or_default();
    if route.starts_with("/api/v1/sites/{id}") {
        return match param.parse::<SiteId>() {
            Ok(site) => c.site(site),
            Err(_) => Ok(()),
        };
    }
    if route.starts_with("/api/v1/meters/{id}") && route != "/api/v1/meters/{id}/assignment" {
        return match param.parse() {
            Ok(meter) => {
                let site = s.store.access().meter_site(meter).await?;
                c.any_site(site.as_slice())
            }
            Err(_) => Ok(()),
        };
    }
    if route.starts_with("/api/v1/accounts/{id}") {
        return match param.parse() {
            Ok(account) => c.any_site(&account_sites(s, account).await?),
            Err(_) => Ok(()),
        };
    }
    if route.starts_with("/api/v1/customers/{id}") {
        return match param.parse() {
            Ok(customer) => {
                let mut sites = Vec::new();
                for a in s.store.access().accounts_of_customer(customer).await? {
                    sites.extend(account_sites(s, a.id).await?);
                }
                c.any_site(&sites)
            }
            Err(_) => Ok(()),
        };
    }
    if SCOPED_ROUTES.contains(&route) {
        return Ok(());
    }
    Err(WebError::Forbidden(
        "site-scoped staff cannot use this route: it spans the whole organisation".into(),
    ))
}
