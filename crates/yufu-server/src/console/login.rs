//! The staff sign-in page. The form posts to the API's
//! `POST /api/v1/auth/login` (through console.js), which sets the session
//! cookie; the page then goes to `?next=` (a local path only) or the
//! dashboard.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::routing::get;

use super::{Ctx, Page};
use crate::AppState;

pub(crate) const PAGES: &[(&str, Page)] = &[("/login", Page::Public)];

pub(crate) const TEXT: &[(&str, &str, &str)] = &[
    ("login.title", "员工登录", "Staff sign-in"),
    ("login.username", "用户名", "Username"),
    ("login.password", "密码", "Password"),
    ("login.submit", "登录", "Sign in"),
    (
        "login.portal",
        "客户请由此登录自助服务",
        "Customers: sign in to self-service here",
    ),
];

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/login", get(page))
}

#[derive(Template, WebTemplate)]
#[template(path = "console/login.html")]
struct LoginPage {
    c: Ctx,
}

async fn page(c: Ctx) -> LoginPage {
    LoginPage { c }
}
