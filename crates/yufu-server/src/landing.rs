//! The page at `/` until the console (a later issue) replaces it: what is
//! running, how big the fleet is, where the API docs are. Chinese or English
//! from `?lang=` or the browser's Accept-Language.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Html;
use yufu_domain::Utility;

use crate::{AppState, DOCS_PATH, OPENAPI_PATH};

#[derive(serde::Deserialize)]
pub(crate) struct LangQuery {
    lang: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Lang {
    Zh,
    En,
}

impl Lang {
    /// `?lang=` wins; otherwise the first of zh/en in Accept-Language; English
    /// when neither says.
    pub(crate) fn choose(query: Option<&str>, accept_language: Option<&str>) -> Lang {
        match query {
            Some(q) if q.starts_with("zh") => return Lang::Zh,
            Some(q) if q.starts_with("en") => return Lang::En,
            _ => {}
        }
        let accept = accept_language.unwrap_or("").to_ascii_lowercase();
        let zh = accept.find("zh");
        let en = accept.find("en");
        match (zh, en) {
            (Some(z), Some(e)) if z < e => Lang::Zh,
            (Some(_), None) => Lang::Zh,
            _ => Lang::En,
        }
    }
}

struct Text {
    html_lang: &'static str,
    title: &'static str,
    running: &'static str,
    store: &'static str,
    sites: &'static str,
    units: &'static str,
    accounts: &'static str,
    electricity: &'static str,
    water: &'static str,
    gas: &'static str,
    docs: &'static str,
    health: &'static str,
    unavailable: &'static str,
    switch: &'static str,
}

const ZH: Text = Text {
    html_lang: "zh-CN",
    title: "预付 Yufu — 预付费表计管理平台",
    running: "平台运行中",
    store: "数据库",
    sites: "园区",
    units: "房屋单元",
    accounts: "账户",
    electricity: "电表",
    water: "水表",
    gas: "燃气表",
    docs: "接口文档",
    health: "运行状态",
    unavailable: "数据库暂不可用",
    switch: "<a href=\"/?lang=en\">English</a>",
};

const EN: Text = Text {
    html_lang: "en",
    title: "Yufu — prepaid meter platform",
    running: "The platform is running",
    store: "Store",
    sites: "Sites",
    units: "Units",
    accounts: "Accounts",
    electricity: "Electricity meters",
    water: "Water meters",
    gas: "Gas meters",
    docs: "API documentation",
    health: "Health",
    unavailable: "The database is unavailable",
    switch: "<a href=\"/?lang=zh\">中文</a>",
};

pub(crate) async fn page(
    State(state): State<AppState>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Html<String> {
    let accept = headers
        .get(axum::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let t = match Lang::choose(q.lang.as_deref(), accept) {
        Lang::Zh => &ZH,
        Lang::En => &EN,
    };
    // Only numbers and fixed strings go into this page, so no escaping is
    // needed; the console brings templates that escape.
    let body = match state.store.fleet_counts().await {
        Ok(c) => format!(
            "<table><tr><th>{}</th><td>{}</td></tr><tr><th>{}</th><td>{}</td></tr>\
             <tr><th>{}</th><td>{}</td></tr><tr><th>{}</th><td>{}</td></tr>\
             <tr><th>{}</th><td>{}</td></tr><tr><th>{}</th><td>{}</td></tr></table>",
            t.sites,
            c.sites,
            t.units,
            c.units,
            t.accounts,
            c.accounts,
            t.electricity,
            c.meters_of(Utility::Electricity),
            t.water,
            c.meters_of(Utility::Water),
            t.gas,
            c.meters_of(Utility::Gas),
        ),
        Err(_) => format!("<p class=\"warn\">{}</p>", t.unavailable),
    };
    Html(format!(
        "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>\
         body{{font-family:system-ui,'PingFang SC','Microsoft YaHei',sans-serif;margin:0 auto;max-width:40rem;padding:1rem;color:#1d2733}}\
         h1{{font-size:1.4rem}}table{{border-collapse:collapse;width:100%}}th,td{{text-align:left;padding:.4rem;border-bottom:1px solid #dde}}\
         td{{text-align:right;font-variant-numeric:tabular-nums}}.warn{{color:#a40}}nav a{{margin-right:1rem}}\
         </style></head><body><h1>{title}</h1><p>{running} · v{version} · {store_label}: {store}</p>{body}\
         <nav><a href=\"{docs_path}/\">{docs}</a><a href=\"{openapi}\">OpenAPI</a><a href=\"/healthz\">{health}</a>{switch}</nav>\
         </body></html>",
        lang = t.html_lang,
        title = t.title,
        running = t.running,
        version = state.version,
        store_label = t.store,
        store = state.store.backend().as_str(),
        docs_path = DOCS_PATH,
        docs = t.docs,
        openapi = OPENAPI_PATH,
        health = t.health,
        switch = t.switch,
    ))
}

#[cfg(test)]
mod tests {
    use super::Lang;

    #[test]
    fn language_choice() {
        assert_eq!(Lang::choose(Some("zh"), Some("en-US")), Lang::Zh);
        assert_eq!(Lang::choose(Some("en"), Some("zh-CN")), Lang::En);
        assert_eq!(
            Lang::choose(None, Some("zh-CN,zh;q=0.9,en;q=0.8")),
            Lang::Zh
        );
        assert_eq!(
            Lang::choose(None, Some("en-GB,en;q=0.9,zh;q=0.5")),
            Lang::En
        );
        assert_eq!(Lang::choose(None, None), Lang::En);
    }
}
