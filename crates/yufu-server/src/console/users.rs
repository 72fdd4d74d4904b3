//! Users and roles (用户与角色), for those who manage users: staff users
//! with their role, site scope and whether they may sign in (paged), a
//! form to create one, who may do what (the role × permission table, drawn
//! from [`yufu_access::permissions_of`], the same table the gate uses), and
//! the organisation's API tokens and live sessions, each revocable.
//!
//! Every change is a form `console.js` sends to the users, tokens and
//! sessions API (`/api/v1/users`, `/api/v1/tokens/{id}`,
//! `/api/v1/sessions/{id}`), which checks, applies and audits it. Those
//! routes span the organisation, so site-scoped staff are refused them; the
//! page says so instead of offering buttons that would fail.

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use yufu_access::{Actor, Permission, SiteScope, permissions_of};
use yufu_domain::{Role, SiteId, StaffUserId};

use super::fmt;
use super::{Ctx, Lang, Page, PageError};
use crate::{AppState, WebError};

/// This module's pages and who may open them.
pub(crate) const PAGES: &[(&str, Page)] = &[("/users", Page::Staff(Permission::ManageUsers))];

/// Users and sessions shown per page.
const PAGE_SIZE: u32 = 50;
/// Sites offered in the scope list of the create form (the first ones by
/// id); a larger organisation sets wider scopes through the API.
const SITES_OFFERED: u32 = 200;
/// Characters of generated passwords: no 0/O, 1/l/I, so one read aloud
/// or copied by hand survives.
const PASSWORD_ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// 16 of 56 symbols: about 93 bits.
const PASSWORD_LEN: usize = 16;

/// This module's labels: (key, 简体中文, English).
pub(crate) const TEXT: &[(&str, &str, &str)] = &[
    ("users.title", "用户与角色", "Users and roles"),
    ("users.staff", "员工账号", "Staff users"),
    ("users.username", "登录名", "User name"),
    ("users.display_name", "姓名", "Name"),
    ("users.role", "角色", "Role"),
    ("users.sites", "园区范围", "Sites"),
    ("users.all_sites", "全部园区", "All sites"),
    ("users.active", "启用", "Active"),
    ("users.inactive", "已停用", "Disabled"),
    ("users.created", "创建时间", "Created"),
    ("users.change", "修改", "Change"),
    (
        "users.you",
        "本人（请由其他管理员修改）",
        "You (another admin changes this)",
    ),
    ("users.save", "保存", "Save"),
    (
        "users.change_hint",
        "取消“启用”即停用该账号并立即结束其登录会话。",
        "Clearing Active disables the user and ends their sessions at once.",
    ),
    ("users.new", "新建员工账号", "Create a staff user"),
    ("users.password", "初始密码", "Initial password"),
    (
        "users.password_hint",
        "已随机生成。请现在记下并转交本人：密码只在此处显示，系统仅保存其哈希值。",
        "Generated at random. Note it now and hand it over: it is shown only here, and only its hash is kept.",
    ),
    ("users.create", "创建", "Create"),
    (
        "users.created_ok",
        "已创建员工账号：",
        "Staff user created:",
    ),
    (
        "users.created_hint",
        "请把刚才记下的初始密码交给本人，首次登录后即可使用。",
        "Hand over the password you noted; they can sign in with it now.",
    ),
    ("users.permissions", "角色权限", "Who may do what"),
    (
        "users.permissions_hint",
        "权限随角色而定，由系统统一控制；每次访问都按此表检查。",
        "Permissions come with the role; every request is checked against this table.",
    ),
    ("users.permission", "权限", "Permission"),
    ("users.tokens", "API 令牌", "API tokens"),
    ("users.token_name", "名称", "Name"),
    ("users.created_by", "创建人", "Created by"),
    ("users.expires", "到期", "Expires"),
    ("users.last_used", "最近使用", "Last used"),
    ("users.never", "从未", "Never"),
    ("users.revoke", "吊销", "Revoke"),
    (
        "users.revoke_token_confirm",
        "吊销后该令牌立即失效，确定吊销？",
        "The token stops working at once. Revoke it?",
    ),
    (
        "users.no_tokens",
        "没有有效的 API 令牌。",
        "No live API tokens.",
    ),
    ("users.sessions", "登录会话", "Sessions"),
    ("users.who", "用户", "Who"),
    ("users.session_kind.staff", "员工", "Staff"),
    ("users.session_kind.customer", "客户", "Customer"),
    ("users.ip", "地址", "Address"),
    ("users.agent", "浏览器", "Browser"),
    ("users.signed_in", "登录时间", "Signed in"),
    ("users.last_seen", "最近活动", "Last seen"),
    ("users.this_session", "当前会话", "This session"),
    ("users.end_session", "结束会话", "End session"),
    (
        "users.end_session_confirm",
        "结束后该用户需要重新登录，确定？",
        "They will have to sign in again. End this session?",
    ),
    (
        "users.no_sessions",
        "没有登录中的会话。",
        "No live sessions.",
    ),
    (
        "users.scoped",
        "员工、令牌与会话的管理涉及整个单位，仅限不限园区的管理员使用。",
        "Users, tokens and sessions span the whole organisation: only administrators not limited to some sites may manage them.",
    ),
    (
        "users.perm.read_fleet",
        "查看表计、账户、告警",
        "Read the fleet",
    ),
    (
        "users.perm.read_personal",
        "查看客户个人信息",
        "See customers' personal data",
    ),
    (
        "users.perm.manage_fleet",
        "管理园区、客户、账户、表计",
        "Manage sites, customers, accounts, meters",
    ),
    (
        "users.perm.manage_tariffs",
        "发布价格方案",
        "Publish tariffs",
    ),
    (
        "users.perm.submit_readings",
        "提交抄表读数",
        "Submit readings",
    ),
    ("users.perm.recharge", "柜台充值", "Counter recharges"),
    (
        "users.perm.operate_meters",
        "远程拉合闸、处理告警",
        "Operate meters, handle alarms",
    ),
    (
        "users.perm.serve_customers",
        "客户服务（门户密码、按电话查找）",
        "Customer service (portal password, phone search)",
    ),
    (
        "users.perm.request_refund",
        "申请退款/冲正",
        "Request refunds",
    ),
    (
        "users.perm.approve_refund",
        "审批他人的退款/冲正",
        "Approve others' refunds",
    ),
    (
        "users.perm.read_finance",
        "财务报表与对账",
        "Finance reports",
    ),
    ("users.perm.import", "批量导入", "Bulk import"),
    ("users.perm.export", "批量导出", "Bulk export"),
    (
        "users.perm.manage_users",
        "管理员工、令牌、会话",
        "Manage users, tokens, sessions",
    ),
    (
        "users.perm.read_audit",
        "查看与校验审计日志",
        "Read the audit log",
    ),
    (
        "users.perm.manage_webhooks",
        "管理 Webhook",
        "Manage webhooks",
    ),
    (
        "users.perm.self_service",
        "客户自助门户",
        "Customer self-service",
    ),
];

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/users", get(page))
}

/// A fresh random password for a new user (see [`PASSWORD_ALPHABET`]).
fn generate_password() -> Result<String, WebError> {
    let mut out = String::with_capacity(PASSWORD_LEN);
    // Rejection sampling keeps every symbol equally likely.
    let limit = 256 - 256 % PASSWORD_ALPHABET.len();
    while out.len() < PASSWORD_LEN {
        let mut b = [0u8; 32];
        getrandom::fill(&mut b)
            .map_err(|e| WebError::Unavailable(format!("no OS randomness: {e}")))?;
        for x in b {
            if usize::from(x) < limit && out.len() < PASSWORD_LEN {
                out.push(char::from(
                    PASSWORD_ALPHABET[usize::from(x) % PASSWORD_ALPHABET.len()],
                ));
            }
        }
    }
    Ok(out)
}

#[derive(serde::Deserialize, Default, Debug)]
pub(crate) struct UsersQuery {
    /// The last user id of the previous page.
    after: Option<String>,
    /// The last session of the previous page: `EXPIRES_MS.ID`.
    sessions_before: Option<String>,
    /// The user name just created (a banner).
    created: Option<String>,
}

pub(crate) struct UserLine {
    id: String,
    username: String,
    display_name: String,
    role: &'static str,
    role_label: &'static str,
    sites: String,
    /// The scope as JSON for the change form (absent: every site), so a
    /// role change keeps the scope.
    sites_json: Option<String>,
    active: bool,
    created: String,
    /// The signed-in user's own row: the API refuses demoting oneself.
    me: bool,
}

pub(crate) struct TokenLine {
    id: String,
    name: String,
    role_label: &'static str,
    sites: String,
    created_by: String,
    expires: String,
    last_used: Option<String>,
}

pub(crate) struct SessionLine {
    id: String,
    who: String,
    kind_label: &'static str,
    ip: String,
    agent: String,
    signed_in: String,
    last_seen: String,
    mine: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/users.html")]
pub(crate) struct UsersPage {
    c: Ctx,
    scoped: bool,
    created: Option<String>,
    users: Vec<UserLine>,
    users_first: bool,
    users_next: Option<String>,
    /// (value, label) of every staff role.
    roles: Vec<(&'static str, &'static str)>,
    /// (scope JSON, site name) offered by the create form.
    sites: Vec<(String, String)>,
    password: String,
    /// Actor labels (the columns), then per permission its label and
    /// whether each actor holds it.
    actors: Vec<&'static str>,
    permissions: Vec<(&'static str, Vec<bool>)>,
    tokens: Vec<TokenLine>,
    sessions: Vec<SessionLine>,
    sessions_first: bool,
    sessions_next: Option<String>,
}

/// Site names for scopes, read by id; an unknown site shows its id.
async fn site_names(
    s: &AppState,
    known: &mut HashMap<SiteId, String>,
    scope: &SiteScope,
) -> Result<String, WebError> {
    let SiteScope::Only(ids) = scope else {
        return Ok(String::new());
    };
    let mut names = Vec::with_capacity(ids.len());
    for id in ids {
        if !known.contains_key(id) {
            let name = match s.store.get_site(*id).await {
                Ok(site) => site.name.to_string(),
                Err(yufu_store::StoreError::NotFound { .. }) => id.to_string(),
                Err(e) => return Err(e.into()),
            };
            known.insert(*id, name);
        }
        names.push(known.get(id).cloned().unwrap_or_default());
    }
    Ok(names.join("、"))
}

fn scope_label(lang: Lang, names: String) -> String {
    if names.is_empty() {
        lang.t("users.all_sites").to_owned()
    } else {
        names
    }
}

fn role_label(lang: Lang, role: Role) -> &'static str {
    lang.t(&format!("role.{}", role.as_str()))
}

/// The first `n` characters (user agents can be long).
fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(n).collect();
        out.push('…');
        out
    }
}

async fn page(
    State(s): State<AppState>,
    c: Ctx,
    Query(q): Query<UsersQuery>,
) -> Result<impl IntoResponse, PageError> {
    let caller = c
        .caller
        .clone()
        .ok_or_else(|| PageError::new(&c, WebError::NotFound))?;
    let lang = c.lang;
    let bad = |what: &str| PageError::new(&c, WebError::Invalid(format!("bad {what}")));
    let after: Option<StaffUserId> = q
        .after
        .as_deref()
        .filter(|a| !a.is_empty())
        .map(|a| a.parse().map_err(|_| bad("page")))
        .transpose()?;
    let sessions_before: Option<(i64, String)> = q
        .sessions_before
        .as_deref()
        .filter(|a| !a.is_empty())
        .map(|a| {
            a.split_once('.')
                .and_then(|(e, id)| Some((e.parse().ok()?, id.to_owned())))
                .ok_or_else(|| bad("page"))
        })
        .transpose()?;
    let created = q
        .created
        .filter(|n| !n.is_empty() && n.chars().count() <= 64);
    let mut page = UsersPage {
        scoped: caller.scoped(),
        created,
        users: Vec::new(),
        users_first: after.is_some(),
        users_next: None,
        roles: Role::ALL
            .iter()
            .map(|r| (r.as_str(), role_label(lang, *r)))
            .collect(),
        sites: Vec::new(),
        password: String::new(),
        actors: Actor::all()
            .into_iter()
            .map(|a| lang.t(&format!("role.{}", a.as_str())))
            .collect(),
        permissions: Permission::ALL
            .iter()
            .map(|p| {
                (
                    lang.t(&format!("users.perm.{}", p.as_str())),
                    Actor::all()
                        .into_iter()
                        .map(|a| permissions_of(a).contains(p))
                        .collect(),
                )
            })
            .collect(),
        tokens: Vec::new(),
        sessions: Vec::new(),
        sessions_first: sessions_before.is_some(),
        sessions_next: None,
        c,
    };
    if page.scoped {
        return Ok(([(header::CACHE_CONTROL, "no-store")], page));
    }
    let err = |e: WebError| PageError { lang, error: e };
    let org = caller.principal.organisation;
    let store = &s.store;
    let offered = store
        .list_sites(org, &yufu_store::Page::first(SITES_OFFERED))
        .await
        .map_err(|e| err(e.into()))?;
    let mut known: HashMap<SiteId, String> = offered
        .iter()
        .map(|site| (site.id, site.name.to_string()))
        .collect();
    page.sites = offered
        .iter()
        .map(|site| {
            (
                serde_json::json!([site.id.to_string()]).to_string(),
                format!("{} {}", site.code, site.name),
            )
        })
        .collect();
    page.password = generate_password().map_err(err)?;

    let mut users = store
        .console()
        .staff_page(org, after, PAGE_SIZE + 1)
        .await
        .map_err(|e| err(e.into()))?;
    if users.len() > PAGE_SIZE as usize {
        users.truncate(PAGE_SIZE as usize);
        page.users_next = users.last().map(|u| format!("/users?after={}", u.id));
    }
    let me = caller.staff_user();
    for u in users {
        let scope = SiteScope::from_stored(u.site_scope.as_deref()).map_err(|e| err(e.into()))?;
        let names = site_names(&s, &mut known, &scope).await.map_err(err)?;
        page.users.push(UserLine {
            id: u.id.to_string(),
            display_name: u.display_name,
            role: u.role.as_str(),
            role_label: role_label(lang, u.role),
            sites: scope_label(lang, names),
            sites_json: scope
                .to_list()
                .map(|l| serde_json::Value::from(l).to_string()),
            active: u.active,
            created: fmt::time(u.created_at_ms),
            me: me == Some(u.id),
            username: u.username,
        });
    }

    let now = crate::auth::now_ms();
    for t in store
        .access()
        .list_api_tokens(org)
        .await
        .map_err(|e| err(e.into()))?
        .into_iter()
        .filter(|t| t.revoked_at_ms.is_none() && t.expires_at_ms > now)
    {
        let scope = SiteScope::from_stored(t.site_scope.as_deref()).map_err(|e| err(e.into()))?;
        let names = site_names(&s, &mut known, &scope).await.map_err(err)?;
        page.tokens.push(TokenLine {
            id: t.id,
            name: t.name,
            role_label: role_label(lang, t.role),
            sites: scope_label(lang, names),
            created_by: t.created_by,
            expires: fmt::time(t.expires_at_ms),
            last_used: t.last_used_at_ms.map(fmt::time),
        });
    }

    let mut sessions = store
        .console()
        .live_sessions(org, now, sessions_before, PAGE_SIZE + 1)
        .await
        .map_err(|e| err(e.into()))?;
    if sessions.len() > PAGE_SIZE as usize {
        sessions.truncate(PAGE_SIZE as usize);
        page.sessions_next = sessions.last().map(|x| {
            format!(
                "/users?sessions_before={}.{}#sessions",
                x.expires_at_ms, x.id
            )
        });
    }
    for x in sessions {
        let customer = x.kind == "customer";
        page.sessions.push(SessionLine {
            mine: caller.session.as_deref() == Some(x.id.as_str()),
            // A customer is shown as such, not by id or name: this page
            // is about access, not about customers' personal data.
            who: if customer {
                lang.t("users.session_kind.customer").to_owned()
            } else {
                x.username.unwrap_or_else(|| x.subject_id.clone())
            },
            kind_label: if customer {
                lang.t("users.session_kind.customer")
            } else {
                lang.t("users.session_kind.staff")
            },
            ip: x.ip,
            agent: clip(&x.user_agent, 60),
            signed_in: fmt::time(x.created_at_ms),
            last_seen: fmt::time(x.last_seen_at_ms),
            id: x.id,
        });
    }
    // The page carries a fresh password: never keep it in a cache.
    Ok(([(header::CACHE_CONTROL, "no-store")], page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_long_random_and_unambiguous() {
        let a = generate_password().unwrap();
        let b = generate_password().unwrap();
        assert_eq!(a.chars().count(), PASSWORD_LEN);
        assert_ne!(a, b);
        assert!(a.bytes().all(|x| PASSWORD_ALPHABET.contains(&x)));
        assert!(crate::access_api::check_password(&a).is_ok());
    }

    #[test]
    fn every_permission_and_role_has_a_label() {
        for lang in [Lang::Zh, Lang::En] {
            for p in Permission::ALL {
                assert_ne!(lang.t(&format!("users.perm.{}", p.as_str())), "?", "{p}");
            }
            for a in Actor::all() {
                assert_ne!(lang.t(&format!("role.{}", a.as_str())), "?");
            }
        }
    }
}
