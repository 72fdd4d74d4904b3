//! `/api/v1` sign-in, staff users, API tokens, sessions, the audit log, the
//! customer portal's sign-in and own data. Handlers are thin: the gate has
//! already checked the permission (they take a [`Caller`]).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use yufu_access::throttle::Verdict;
use yufu_access::{Actor, Identity, SiteScope};
use yufu_domain::{AccountId, NewStaffUser, Role, SiteId, StaffUserId};
use yufu_store::Page;
use yufu_store::access::{ApiTokenRow, AuditFilter, SessionKind, SessionRow};

use crate::api::Body;
use crate::audit_log::AuditNote;
use crate::auth::{Caller, SESSION_COOKIE, TOKEN_PREFIX, now_ms, random_secret, secret_hash};
use crate::error::ErrorBody;
use crate::password;
use crate::{AppState, WebError};

fn parse<T: std::str::FromStr<Err = yufu_domain::DomainError>>(s: &str) -> Result<T, WebError> {
    s.parse().map_err(WebError::from)
}

fn ms_to_rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

// --- sign-in ---------------------------------------------------------------

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginIn {
    username: String,
    password: String,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct SessionOut {
    /// The session's public id.
    session_id: String,
    /// Repeat in the `X-CSRF-Token` header of every state-changing request
    /// made with the session cookie.
    csrf_token: String,
    /// `staff` or `customer`.
    kind: String,
    /// The role (`customer` for the portal).
    role: String,
    organisation_id: String,
    expires_at: String,
}

fn source(caller_source: &axum::http::Extensions) -> String {
    crate::auth::source_of(caller_source)
}

/// The throttle's word before checking a password; `Err` answers at once.
fn throttled(s: &AppState, who: &str, address: &str) -> Result<(), WebError> {
    if let Err(secs) = s.security.login_rate(address) {
        return Err(WebError::TooManyRequests(secs));
    }
    let now = now_ms();
    match s.security.throttle().check(who, address, now) {
        Verdict::Go => Ok(()),
        v @ Verdict::UserLocked { .. } => Err(WebError::Locked(
            format!(
                "too many failed sign-ins for this account; it is locked for {} more minutes",
                (v.retry_after_s(now) + 59) / 60
            ),
            v.retry_after_s(now),
        )),
        v @ Verdict::AddressLocked { .. } => Err(WebError::TooManyRequests(v.retry_after_s(now))),
    }
}

/// Counts a failure and answers what the caller sees.
fn failed(s: &AppState, who: &str, address: &str) -> WebError {
    let now = now_ms();
    match s.security.throttle().failed(who, address, now) {
        Verdict::Go => WebError::Unauthenticated("wrong user name or password".into()),
        v @ Verdict::UserLocked { .. } => WebError::Locked(
            format!(
                "too many failed sign-ins: this account is locked for {} minutes",
                (v.retry_after_s(now) + 59) / 60
            ),
            v.retry_after_s(now),
        ),
        v @ Verdict::AddressLocked { .. } => WebError::TooManyRequests(v.retry_after_s(now)),
    }
}

/// Opens a session and answers with its cookie.
async fn open_session(
    s: &AppState,
    kind: SessionKind,
    subject: String,
    org: yufu_domain::OrganisationId,
    role: &str,
    address: &str,
    headers: &HeaderMap,
) -> Result<Response, WebError> {
    let secret = random_secret()?;
    let now = now_ms();
    let max_ms = i64::try_from(s.security.config().session_max.as_millis()).unwrap_or(i64::MAX);
    let row = SessionRow {
        id: uuid::Uuid::now_v7().to_string(),
        token_hash: secret_hash(&secret),
        kind: kind.clone(),
        subject_id: subject,
        organisation_id: org,
        csrf_token: random_secret()?,
        ip: address.to_owned(),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .chars()
            .take(200)
            .collect(),
        created_at_ms: now,
        last_seen_at_ms: now,
        expires_at_ms: now.saturating_add(max_ms),
        revoked_at_ms: None,
    };
    s.store.access().create_session(&row).await?;
    let secure = if s.security.config().cookie_secure {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{SESSION_COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        max_ms / 1000
    );
    let out = SessionOut {
        session_id: row.id.clone(),
        csrf_token: row.csrf_token.clone(),
        kind: kind.as_str().to_owned(),
        role: role.to_owned(),
        organisation_id: org.to_string(),
        expires_at: ms_to_rfc3339(row.expires_at_ms),
    };
    let mut r = Json(out).into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        cookie
            .parse()
            .map_err(|_| WebError::Unavailable("cookie".into()))?,
    );
    Ok(AuditNote {
        actor: Some(format!("{}:{}", kind.as_str(), row.subject_id)),
        target: Some(format!("session:{}", row.id)),
        ..AuditNote::default()
    }
    .on(r))
}

/// Staff sign-in for the console: sets the session cookie and answers the
/// CSRF token. Failures are throttled per user and per address.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "access", request_body = LoginIn,
    responses((status = 200, body = SessionOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 423, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(crate) async fn login(
    State(s): State<AppState>,
    ext: axum::http::Extensions,
    headers: HeaderMap,
    Body(b): Body<LoginIn>,
) -> Result<Response, WebError> {
    let address = source(&ext);
    let who = b.username.trim().to_lowercase();
    let attempt = AuditNote {
        actor: Some(format!("user:{}", who.chars().take(64).collect::<String>())),
        target: Some("session".into()),
        ..AuditNote::default()
    };
    if let Err(e) = throttled(&s, &who, &address) {
        return Ok(attempt.on(e));
    }
    let user = match who.parse() {
        Ok(username) => s.store.find_staff_user(&username).await?,
        Err(_) => None,
    };
    // Hash even for unknown users so timing does not tell which exist.
    let hash = user.as_ref().map_or_else(
        || password::DUMMY_HASH.to_owned(),
        |u| u.password_hash.clone(),
    );
    let ok = password::verify(b.password, hash).await?;
    let Some(user) = user.filter(|u| ok && u.active) else {
        return Ok(attempt.on(failed(&s, &who, &address)));
    };
    s.security.throttle().succeeded(&who);
    open_session(
        &s,
        SessionKind::Staff,
        user.id.to_string(),
        user.organisation_id,
        user.role.as_str(),
        &address,
        &headers,
    )
    .await
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PortalLoginIn {
    /// The account number (户号).
    account_number: String,
    password: String,
}

/// Customer sign-in for the self-service portal (account number and the
/// password customer service set).
#[utoipa::path(post, path = "/api/v1/portal/login", tag = "portal", request_body = PortalLoginIn,
    responses((status = 200, body = SessionOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 423, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(crate) async fn portal_login(
    State(s): State<AppState>,
    ext: axum::http::Extensions,
    headers: HeaderMap,
    Body(b): Body<PortalLoginIn>,
) -> Result<Response, WebError> {
    let address = source(&ext);
    let who = format!("account:{}", b.account_number.trim().to_uppercase());
    let attempt = AuditNote {
        actor: Some(who.chars().take(64).collect()),
        target: Some("session".into()),
        ..AuditNote::default()
    };
    if let Err(e) = throttled(&s, &who, &address) {
        return Ok(attempt.on(e));
    }
    let accounts = s
        .store
        .access()
        .accounts_by_number(&b.account_number.trim().to_uppercase())
        .await?;
    // An account number used by two organisations cannot identify a
    // customer alone: refuse rather than guess.
    let account = if accounts.len() == 1 {
        accounts.into_iter().next()
    } else {
        None
    };
    let hash = match &account {
        Some(a) => s.store.access().customer_password(a.id).await?,
        None => None,
    };
    let ok = password::verify(
        b.password,
        hash.clone()
            .unwrap_or_else(|| password::DUMMY_HASH.to_owned()),
    )
    .await?;
    let Some(account) = account.filter(|_| ok && hash.is_some()) else {
        return Ok(attempt.on(failed(&s, &who, &address)));
    };
    s.security.throttle().succeeded(&who);
    open_session(
        &s,
        SessionKind::Customer,
        account.customer_id.to_string(),
        account.organisation_id,
        "customer",
        &address,
        &headers,
    )
    .await
}

/// Ends the caller's session (API tokens are revoked under /tokens).
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "access",
    responses((status = 204, description = "Signed out"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn logout(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Response, WebError> {
    if let Some(id) = &caller.session {
        s.store.access().revoke_session(id, now_ms()).await?;
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        axum::http::HeaderValue::from_static(
            "yufu_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    Ok(r)
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct MeOut {
    /// `staff`, `token` or `customer`.
    kind: &'static str,
    /// The user name, token name or customer id.
    name: String,
    role: String,
    organisation_id: String,
    /// Site ids; absent for every site.
    sites: Option<Vec<String>>,
    /// What the caller may do.
    permissions: Vec<&'static str>,
}

/// Who the caller is and what they may do.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "access",
    responses((status = 200, body = MeOut), (status = 401, body = ErrorBody)))]
pub(crate) async fn me(caller: Caller) -> Json<MeOut> {
    let p = &caller.principal;
    let (kind, name) = match &p.identity {
        Identity::Staff { username, .. } => ("staff", username.clone()),
        Identity::Token { name, .. } => ("token", name.clone()),
        Identity::Customer { customer } => ("customer", customer.to_string()),
    };
    Json(MeOut {
        kind,
        name,
        role: p.actor.as_str().to_owned(),
        organisation_id: p.organisation.to_string(),
        sites: if p.actor == Actor::Customer {
            None
        } else {
            p.sites.to_list()
        },
        permissions: yufu_access::permissions_of(p.actor)
            .iter()
            .map(|x| x.as_str())
            .collect(),
    })
}

// --- staff users -------------------------------------------------------------

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct UserOut {
    id: String,
    organisation_id: String,
    username: String,
    display_name: String,
    role: String,
    active: bool,
    /// Site ids; absent for every site.
    sites: Option<Vec<String>>,
    created_at: String,
}

async fn user_out(s: &AppState, u: yufu_domain::StaffUser) -> Result<UserOut, WebError> {
    let scope = s.store.access().staff_site_scope(u.id).await?;
    let sites = SiteScope::from_stored(scope.as_deref())?;
    Ok(UserOut {
        id: u.id.to_string(),
        organisation_id: u.organisation_id.to_string(),
        username: u.username.to_string(),
        display_name: u.display_name.to_string(),
        role: u.role.to_string(),
        active: u.active,
        sites: sites.to_list(),
        created_at: u.created_at.to_string(),
    })
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct PageQuery {
    /// The last id of the previous page.
    after: Option<String>,
    /// Rows per page, 1–500 (default 50).
    limit: Option<u32>,
}

impl PageQuery {
    fn page(&self) -> Page {
        let limit = self.limit.unwrap_or(50).clamp(1, 500);
        match &self.after {
            Some(a) => Page::after(a, limit),
            None => Page::first(limit),
        }
    }
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct UsersOut {
    items: Vec<UserOut>,
    next_after: Option<String>,
}

/// Staff users of the caller's organisation.
#[utoipa::path(get, path = "/api/v1/users", tag = "access", params(PageQuery),
    responses((status = 200, body = UsersOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn list_users(
    State(s): State<AppState>,
    caller: Caller,
    Query(q): Query<PageQuery>,
) -> Result<Json<UsersOut>, WebError> {
    let page = q.page();
    let rows = s
        .store
        .access()
        .list_staff_users(caller.principal.organisation, &page)
        .await?;
    let full = rows.len() == usize::try_from(page.limit()).unwrap_or(usize::MAX);
    let next_after = if full {
        rows.last().map(|u| u.id.to_string())
    } else {
        None
    };
    let mut items = Vec::with_capacity(rows.len());
    for u in rows {
        items.push(user_out(&s, u).await?);
    }
    Ok(Json(UsersOut { items, next_after }))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserIn {
    username: String,
    display_name: String,
    /// admin, manager, finance, cashier, service_agent, technician, auditor
    role: String,
    /// At least 12 characters.
    password: String,
    /// Site ids; omit for every site.
    sites: Option<Vec<String>>,
}

fn scope_from(sites: Option<&[String]>) -> Result<SiteScope, WebError> {
    match sites {
        None => Ok(SiteScope::All),
        Some(list) => Ok(SiteScope::Only(
            list.iter()
                .map(|s| parse::<SiteId>(s))
                .collect::<Result<_, _>>()?,
        )),
    }
}

/// Checks a new password: long enough to resist guessing.
pub fn check_password(p: &str) -> Result<(), WebError> {
    if p.chars().count() < 12 || p.len() > 1024 {
        return Err(WebError::Invalid(
            "a password needs 12 to 1024 characters".into(),
        ));
    }
    Ok(())
}

/// Creates a staff user in the caller's organisation.
#[utoipa::path(post, path = "/api/v1/users", tag = "access", request_body = UserIn,
    responses((status = 201, body = UserOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn create_user(
    State(s): State<AppState>,
    caller: Caller,
    Body(b): Body<UserIn>,
) -> Result<Response, WebError> {
    let role: Role = parse(&b.role)?;
    check_password(&b.password)?;
    let scope = scope_from(b.sites.as_deref())?;
    let new = NewStaffUser {
        organisation_id: caller.principal.organisation,
        username: parse(&b.username.trim().to_lowercase())?,
        display_name: parse(&b.display_name)?,
        role,
        password_hash: password::hash(b.password).await?,
    };
    let user = s.store.create_staff_user(&new).await?;
    s.store
        .access()
        .update_staff_user(user.id, role, true, scope.to_stored().as_deref())
        .await?;
    let out = user_out(&s, user).await?;
    let after = serde_json::to_value(&out).ok();
    Ok(AuditNote::change(format!("user:{}", out.id), None, after)
        .on((StatusCode::CREATED, Json(out))))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserChangeIn {
    role: String,
    active: bool,
    /// Site ids; omit for every site.
    sites: Option<Vec<String>>,
}

/// Changes a user's role, site scope or active flag. Deactivating ends
/// their sessions.
#[utoipa::path(put, path = "/api/v1/users/{id}", tag = "access", request_body = UserChangeIn,
    responses((status = 200, body = UserOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn update_user(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(b): Body<UserChangeIn>,
) -> Result<Response, WebError> {
    let id: StaffUserId = parse(&id)?;
    let before_user = s.store.access().get_staff_user(id).await?;
    if before_user.organisation_id != caller.principal.organisation {
        return Err(WebError::NotFound);
    }
    if caller.staff_user() == Some(id) && (!b.active || b.role != "admin") {
        return Err(WebError::Conflict(
            "you cannot demote or deactivate yourself; ask another admin".into(),
        ));
    }
    let before = serde_json::to_value(user_out(&s, before_user).await?).ok();
    let role: Role = parse(&b.role)?;
    let scope = scope_from(b.sites.as_deref())?;
    s.store
        .access()
        .update_staff_user(id, role, b.active, scope.to_stored().as_deref())
        .await?;
    if !b.active {
        s.store
            .access()
            .revoke_sessions_of(&id.to_string(), now_ms())
            .await?;
    }
    let out = user_out(&s, s.store.access().get_staff_user(id).await?).await?;
    let after = serde_json::to_value(&out).ok();
    Ok(AuditNote::change(format!("user:{id}"), before, after).on(Json(out)))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasswordIn {
    /// At least 12 characters.
    password: String,
}

/// Sets a staff user's password and ends their sessions.
#[utoipa::path(put, path = "/api/v1/users/{id}/password", tag = "access", request_body = PasswordIn,
    responses((status = 204, description = "Changed"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn set_user_password(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(b): Body<PasswordIn>,
) -> Result<Response, WebError> {
    let id: StaffUserId = parse(&id)?;
    let user = s.store.access().get_staff_user(id).await?;
    if user.organisation_id != caller.principal.organisation {
        return Err(WebError::NotFound);
    }
    check_password(&b.password)?;
    s.store
        .set_staff_password(id, &password::hash(b.password).await?)
        .await?;
    s.store
        .access()
        .revoke_sessions_of(&id.to_string(), now_ms())
        .await?;
    Ok(AuditNote::target(format!("user:{id}")).on(StatusCode::NO_CONTENT))
}

// --- API tokens ----------------------------------------------------------------

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct TokenOut {
    id: String,
    name: String,
    role: String,
    sites: Option<Vec<String>>,
    created_by: String,
    created_at: String,
    expires_at: String,
    revoked_at: Option<String>,
    last_used_at: Option<String>,
}

fn token_out(t: ApiTokenRow) -> TokenOut {
    TokenOut {
        id: t.id,
        name: t.name,
        role: t.role.to_string(),
        sites: SiteScope::from_stored(t.site_scope.as_deref())
            .ok()
            .and_then(|s| s.to_list()),
        created_by: t.created_by,
        created_at: ms_to_rfc3339(t.created_at_ms),
        expires_at: ms_to_rfc3339(t.expires_at_ms),
        revoked_at: t.revoked_at_ms.map(ms_to_rfc3339),
        last_used_at: t.last_used_at_ms.map(ms_to_rfc3339),
    }
}

/// API tokens of the caller's organisation (never the secrets).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "access",
    responses((status = 200, body = Vec<TokenOut>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn list_tokens(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<TokenOut>>, WebError> {
    let rows = s
        .store
        .access()
        .list_api_tokens(caller.principal.organisation)
        .await?;
    Ok(Json(rows.into_iter().map(token_out).collect()))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenIn {
    /// What the token is for, e.g. `billing-export`.
    name: String,
    role: String,
    /// Site ids; omit for every site.
    sites: Option<Vec<String>>,
    /// Days until it expires, 1–730 (default 90).
    expires_in_days: Option<u32>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct NewTokenOut {
    /// Shown once: only its hash is kept.
    token: String,
    #[serde(flatten)]
    details: TokenOut,
}

/// A new random API token (`yufu_pat_…`), shown once, stored hashed.
pub async fn issue_token(
    store: &dyn yufu_store::Store,
    org: yufu_domain::OrganisationId,
    name: &str,
    role: Role,
    sites: &SiteScope,
    days: u32,
    created_by: &str,
) -> Result<(String, ApiTokenRow), WebError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(WebError::Invalid(
            "a token name needs 1–64 characters".into(),
        ));
    }
    if !(1..=730).contains(&days) {
        return Err(WebError::Invalid("expires_in_days must be 1–730".into()));
    }
    let token = format!("{TOKEN_PREFIX}{}", random_secret()?);
    let now = now_ms();
    let row = ApiTokenRow {
        id: uuid::Uuid::now_v7().to_string(),
        token_hash: secret_hash(&token),
        name: name.to_owned(),
        organisation_id: org,
        role,
        site_scope: sites.to_stored(),
        created_by: created_by.to_owned(),
        created_at_ms: now,
        expires_at_ms: now + i64::from(days) * 86_400_000,
        revoked_at_ms: None,
        last_used_at_ms: None,
    };
    store.access().create_api_token(&row).await?;
    Ok((token, row))
}

/// Creates a scoped API token for an integration. The answer is the only
/// time the token is shown.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "access", request_body = TokenIn,
    responses((status = 201, body = NewTokenOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn create_token(
    State(s): State<AppState>,
    caller: Caller,
    Body(b): Body<TokenIn>,
) -> Result<Response, WebError> {
    let role: Role = parse(&b.role)?;
    let scope = scope_from(b.sites.as_deref())?;
    let (token, row) = issue_token(
        s.store.as_ref(),
        caller.principal.organisation,
        &b.name,
        role,
        &scope,
        b.expires_in_days.unwrap_or(90),
        &caller.principal.audit_name(),
    )
    .await?;
    let details = token_out(row);
    let after = serde_json::to_value(&details).ok();
    Ok(
        AuditNote::change(format!("token:{}", details.id), None, after)
            .on((StatusCode::CREATED, Json(NewTokenOut { token, details }))),
    )
}

/// Revokes an API token at once.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "access",
    responses((status = 204, description = "Revoked"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn revoke_token(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let mine = s
        .store
        .access()
        .list_api_tokens(caller.principal.organisation)
        .await?
        .into_iter()
        .any(|t| t.id == id && t.revoked_at_ms.is_none());
    if !mine || !s.store.access().revoke_api_token(&id, now_ms()).await? {
        return Err(WebError::NotFound);
    }
    s.security.forget_token(&id);
    Ok(AuditNote::target(format!("token:{id}")).on(StatusCode::NO_CONTENT))
}

// --- sessions ------------------------------------------------------------------

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct SessionInfoOut {
    id: String,
    /// `staff` or `customer`.
    kind: String,
    subject_id: String,
    ip: String,
    user_agent: String,
    created_at: String,
    last_seen_at: String,
    expires_at: String,
}

/// Live sessions of the organisation (console and portal).
#[utoipa::path(get, path = "/api/v1/sessions", tag = "access",
    responses((status = 200, body = Vec<SessionInfoOut>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn list_sessions(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<SessionInfoOut>>, WebError> {
    let rows = s
        .store
        .access()
        .list_sessions(caller.principal.organisation, now_ms())
        .await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| SessionInfoOut {
                id: r.id,
                kind: r.kind.as_str().to_owned(),
                subject_id: r.subject_id,
                ip: r.ip,
                user_agent: r.user_agent,
                created_at: ms_to_rfc3339(r.created_at_ms),
                last_seen_at: ms_to_rfc3339(r.last_seen_at_ms),
                expires_at: ms_to_rfc3339(r.expires_at_ms),
            })
            .collect(),
    ))
}

/// Ends a session at once (its next request is refused).
#[utoipa::path(delete, path = "/api/v1/sessions/{id}", tag = "access",
    responses((status = 204, description = "Revoked"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn revoke_session(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let mine = s
        .store
        .access()
        .list_sessions(caller.principal.organisation, now_ms())
        .await?
        .into_iter()
        .any(|r| r.id == id);
    if !mine || !s.store.access().revoke_session(&id, now_ms()).await? {
        return Err(WebError::NotFound);
    }
    Ok(AuditNote::target(format!("session:{id}")).on(StatusCode::NO_CONTENT))
}

// --- audit -------------------------------------------------------------------

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    /// e.g. `user:admin`, `token:billing`.
    actor: Option<String>,
    /// Rows whose target starts with this, e.g. `account:` or `account:0190…`.
    target: Option<String>,
    /// Rows whose action contains this, e.g. `recharges`.
    action: Option<String>,
    /// From this instant (RFC 3339).
    from: Option<String>,
    /// Before this instant (RFC 3339).
    to: Option<String>,
    /// Rows with a smaller seq (the next page, newest first).
    before_seq: Option<i64>,
    /// 1–500 (default 50).
    limit: Option<u32>,
}

fn instant(field: &str, v: Option<&str>) -> Result<Option<i64>, WebError> {
    v.map(|t| {
        t.parse::<jiff::Timestamp>()
            .map(|t| t.as_millisecond())
            .map_err(|e| WebError::Invalid(format!("{field}: not an RFC 3339 instant: {e}")))
    })
    .transpose()
}

/// Searches the audit log, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "access", params(AuditQuery),
    responses((status = 200, body = Vec<Object>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn search_audit(
    State(s): State<AppState>,
    _caller: Caller,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Vec<yufu_access::audit::AuditEntry>>, WebError> {
    let filter = AuditFilter {
        actor: q.actor,
        target_prefix: q.target,
        action_contains: q.action,
        from_ms: instant("from", q.from.as_deref())?,
        to_ms: instant("to", q.to.as_deref())?,
        before_seq: q.before_seq,
        limit: q.limit.unwrap_or(50).clamp(1, 500),
    };
    Ok(Json(s.store.access().search_audit(&filter).await?))
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct VerifyOut {
    /// Whether every row links to the one before.
    pub intact: bool,
    /// Rows checked.
    pub checked: u64,
    /// The last good row's seq and hash (compare with a copy kept elsewhere).
    pub head_seq: i64,
    pub head_hash: String,
    /// The first broken link, if any.
    pub broken_seq: Option<i64>,
    pub reason: Option<String>,
}

/// Walks the whole chain and reports the first broken link.
pub async fn verify_audit(
    store: &dyn yufu_store::Store,
) -> Result<VerifyOut, yufu_store::StoreError> {
    let mut v = yufu_access::audit::Verifier::default();
    let mut after = 0;
    let mut head_seq = 0;
    loop {
        let rows = store.access().audit_after(after, 5_000).await?;
        let Some(last) = rows.last() else { break };
        after = last.seq;
        for r in &rows {
            if let Err(broken) = v.check(r) {
                return Ok(VerifyOut {
                    intact: false,
                    checked: v.checked(),
                    head_seq,
                    head_hash: v.head().to_owned(),
                    broken_seq: Some(broken.seq),
                    reason: Some(broken.reason),
                });
            }
            head_seq = r.seq;
        }
    }
    Ok(VerifyOut {
        intact: true,
        checked: v.checked(),
        head_seq,
        head_hash: v.head().to_owned(),
        broken_seq: None,
        reason: None,
    })
}

/// Verifies the audit log's hash chain (as `yufu audit verify` does).
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "access",
    responses((status = 200, body = VerifyOut), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn verify(
    State(s): State<AppState>,
    _caller: Caller,
) -> Result<Json<VerifyOut>, WebError> {
    Ok(Json(verify_audit(s.store.as_ref()).await?))
}

// --- the customer portal ---------------------------------------------------------

/// Sets the portal password of an account's customer (customer service).
#[utoipa::path(put, path = "/api/v1/accounts/{id}/portal-password", tag = "portal", request_body = PasswordIn,
    responses((status = 204, description = "Set"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn set_portal_password(
    State(s): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
    Body(b): Body<PasswordIn>,
) -> Result<Response, WebError> {
    let account: AccountId = parse(&id)?;
    let a = s.store.get_account(account).await?;
    check_password(&b.password)?;
    s.store
        .access()
        .set_customer_password(account, &password::hash(b.password).await?, now_ms())
        .await?;
    s.store
        .access()
        .revoke_sessions_of(&a.customer_id.to_string(), now_ms())
        .await?;
    Ok(AuditNote::target(format!("account:{account}")).on(StatusCode::NO_CONTENT))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct PortalAccountOut {
    id: String,
    number: String,
    status: String,
    /// Integer fen.
    balance_fen: i64,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct PortalMeOut {
    customer_id: String,
    accounts: Vec<PortalAccountOut>,
}

fn customer_of(caller: &Caller) -> Result<yufu_domain::CustomerId, WebError> {
    match caller.principal.identity {
        Identity::Customer { customer } => Ok(customer),
        _ => Err(WebError::Forbidden("the portal is for customers".into())),
    }
}

/// The signed-in customer's accounts and balances.
#[utoipa::path(get, path = "/api/v1/portal/me", tag = "portal",
    responses((status = 200, body = PortalMeOut), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn portal_me(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<PortalMeOut>, WebError> {
    let customer = customer_of(&caller)?;
    let mut accounts = Vec::new();
    for a in s.store.access().accounts_of_customer(customer).await? {
        let balance = match s.writer.account(a.id).await? {
            Some(v) => v.balance_fen,
            None => a.balance.0,
        };
        accounts.push(PortalAccountOut {
            id: a.id.to_string(),
            number: a.number.to_string(),
            status: a.status.to_string(),
            balance_fen: balance,
        });
    }
    Ok(Json(PortalMeOut {
        customer_id: customer.to_string(),
        accounts,
    }))
}

/// The ledger of one of the signed-in customer's own accounts; another
/// customer's account answers 404.
#[utoipa::path(get, path = "/api/v1/portal/accounts/{id}/ledger", tag = "portal",
    params(crate::engine_api::ChainPaging),
    responses((status = 200, body = crate::engine_api::LedgerOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn portal_ledger(
    state: State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    q: Query<crate::engine_api::ChainPaging>,
) -> Result<Json<crate::engine_api::LedgerOut>, WebError> {
    let customer = customer_of(&caller)?;
    let account: AccountId = parse(&id)?;
    let a = state.store.get_account(account).await?;
    if a.customer_id != customer {
        return Err(WebError::NotFound);
    }
    crate::engine_api::get_ledger(state, Path(id), q).await
}

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(portal_login))
        .routes(routes!(list_users, create_user))
        .routes(routes!(update_user))
        .routes(routes!(set_user_password))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
        .routes(routes!(list_sessions))
        .routes(routes!(revoke_session))
        .routes(routes!(search_audit))
        .routes(routes!(verify))
        .routes(routes!(set_portal_password))
        .routes(routes!(portal_me))
        .routes(routes!(portal_ledger))
}
