//! The console's two languages. Every label is a key looked up here; each
//! page module keeps its own `TEXT` table of (key, 简体中文, English), and a
//! test checks that every key a template or page uses exists in both.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::http::{HeaderMap, header};

/// The cookie that remembers the language picked with `?lang=`.
pub(crate) const LANG_COOKIE: &str = "yufu_lang";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Lang {
    Zh,
    En,
}

impl Lang {
    pub(crate) fn parse(v: &str) -> Option<Lang> {
        if v.starts_with("zh") {
            Some(Lang::Zh)
        } else if v.starts_with("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// `?lang=` wins, then the language cookie, then the first of zh/en in
    /// Accept-Language; English when none says.
    pub(crate) fn choose(
        query: Option<&str>,
        cookie: Option<&str>,
        accept_language: Option<&str>,
    ) -> Lang {
        if let Some(l) = query
            .and_then(Lang::parse)
            .or_else(|| cookie.and_then(Lang::parse))
        {
            return l;
        }
        let accept = accept_language.unwrap_or("").to_ascii_lowercase();
        match (accept.find("zh"), accept.find("en")) {
            (Some(z), Some(e)) if z < e => Lang::Zh,
            (Some(_), None) => Lang::Zh,
            _ => Lang::En,
        }
    }

    /// The language of a request.
    pub(crate) fn of(headers: &HeaderMap, query: Option<&str>) -> Lang {
        let q = query.and_then(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == "lang")
                .map(|(_, v)| v)
        });
        let accept = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok());
        Lang::choose(q, crate::auth::cookie(headers, LANG_COOKIE), accept)
    }

    pub(crate) fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    pub(crate) fn html_lang(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The label `key` in this language. An unknown key is a bug (the
    /// catalogue test finds it); it shows as the key itself.
    pub(crate) fn t(self, key: &str) -> &'static str {
        match CATALOGUE.get(key) {
            Some((zh, en)) => match self {
                Lang::Zh => zh,
                Lang::En => en,
            },
            None => {
                tracing::warn!(key, "console label missing from the catalogue");
                "?"
            }
        }
    }
}

/// Every module's labels.
pub(crate) fn tables() -> [&'static [(&'static str, &'static str, &'static str)]; 17] {
    use super::*;
    [
        TEXT,
        login::TEXT,
        dashboard::TEXT,
        search::TEXT,
        sites::TEXT,
        meter::TEXT,
        account::TEXT,
        counter::TEXT,
        alarms::TEXT,
        tariffs::TEXT,
        users::TEXT,
        audit::TEXT,
        portal::TEXT,
        // device lifecycle (issue 8)
        lifecycle::TEXT,
        devices::TEXT,
        procurement::TEXT,
        field::TEXT,
    ]
}

static CATALOGUE: LazyLock<HashMap<&'static str, (&'static str, &'static str)>> =
    LazyLock::new(|| {
        tables()
            .iter()
            .flat_map(|t| t.iter())
            .map(|(k, zh, en)| (*k, (*zh, *en)))
            .collect()
    });

/// Labels shared by every page: navigation, roles, states, errors.
pub(crate) const TEXT: &[(&str, &str, &str)] = &[
    ("app.name", "预付 Yufu", "Yufu"),
    (
        "app.tagline",
        "预付费表计管理平台",
        "Prepaid meter platform",
    ),
    ("nav.menu", "菜单", "Menu"),
    ("nav.dashboard", "总览", "Dashboard"),
    ("nav.search", "搜索", "Search"),
    ("nav.sites", "园区", "Sites"),
    ("nav.counter", "收费柜台", "Cashier counter"),
    ("nav.alarms", "告警", "Alarms"),
    ("nav.tariffs", "电价/水价/气价", "Tariffs"),
    ("nav.users", "用户与角色", "Users and roles"),
    ("nav.audit", "审计日志", "Audit log"),
    ("nav.api_docs", "接口文档", "API docs"),
    ("nav.logout", "退出", "Sign out"),
    ("nav.language", "English", "中文"),
    (
        "search.placeholder",
        "表号、户号、姓名或电话",
        "Meter serial, account no., name or phone",
    ),
    ("role.admin", "管理员", "Administrator"),
    ("role.manager", "经理", "Manager"),
    ("role.finance", "财务", "Finance"),
    ("role.cashier", "收费员", "Cashier"),
    ("role.service_agent", "客服", "Service agent"),
    ("role.technician", "技术员", "Technician"),
    ("role.auditor", "审计员", "Auditor"),
    ("role.customer", "客户", "Customer"),
    ("portal.customer", "客户", "Customer"),
    ("utility.electricity", "电", "Electricity"),
    ("utility.water", "水", "Water"),
    ("utility.gas", "燃气", "Gas"),
    ("unit.electricity", "kWh", "kWh"),
    ("unit.water", "m³", "m³"),
    ("unit.gas", "m³", "m³"),
    ("common.yes", "是", "Yes"),
    ("common.no", "否", "No"),
    ("common.none", "无", "None"),
    ("common.save", "保存", "Save"),
    ("common.cancel", "取消", "Cancel"),
    ("common.confirm", "确认", "Confirm"),
    ("common.filter", "筛选", "Filter"),
    ("common.next", "下一页", "Next page"),
    ("common.first", "第一页", "First page"),
    ("common.time", "时间", "Time"),
    ("common.status", "状态", "Status"),
    ("common.detail", "详情", "Detail"),
    ("common.amount", "金额", "Amount"),
    ("common.kind", "类型", "Kind"),
    ("common.all", "全部", "All"),
    ("common.empty", "暂无记录", "Nothing here yet"),
    ("common.loading", "处理中…", "Working…"),
    ("common.done", "已完成", "Done"),
    ("common.failed", "操作失败", "That did not work"),
    (
        "common.are_you_sure",
        "确定要执行此操作吗？",
        "Are you sure?",
    ),
    ("common.masked", "（已隐藏）", "(hidden)"),
    ("common.back", "返回", "Back"),
    ("error.not_found", "未找到", "Not found"),
    (
        "error.not_found_hint",
        "页面不存在，或您无权查看。",
        "This page does not exist, or you may not see it.",
    ),
    ("error.forbidden", "无权访问", "Not allowed"),
    (
        "error.forbidden_hint",
        "您的角色不能使用此页面。",
        "Your role may not use this page.",
    ),
    ("error.bad_request", "请求有误", "Bad request"),
    (
        "error.bad_request_hint",
        "请检查输入后重试。",
        "Please check what you entered and try again.",
    ),
    ("error.method", "不支持的操作", "Not supported"),
    (
        "error.method_hint",
        "页面只能查看；修改请使用页面上的按钮。",
        "Pages are read-only; use the buttons on the page to change things.",
    ),
    ("error.internal", "系统错误", "Something went wrong"),
    (
        "error.internal_hint",
        "请稍后重试；问题已记录。",
        "Please try again later; the problem was logged.",
    ),
    ("error.home", "返回首页", "Back to the dashboard"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_choice() {
        assert_eq!(Lang::choose(Some("zh"), None, Some("en-US")), Lang::Zh);
        assert_eq!(
            Lang::choose(Some("en"), Some("zh"), Some("zh-CN")),
            Lang::En
        );
        assert_eq!(Lang::choose(None, Some("zh"), Some("en-GB")), Lang::Zh);
        assert_eq!(
            Lang::choose(None, None, Some("zh-CN,zh;q=0.9,en;q=0.8")),
            Lang::Zh
        );
        assert_eq!(
            Lang::choose(None, None, Some("en-GB,en;q=0.9,zh;q=0.5")),
            Lang::En
        );
        assert_eq!(Lang::choose(None, None, None), Lang::En);
    }

    #[test]
    fn no_key_twice_and_both_languages_filled() {
        let mut seen = std::collections::HashSet::new();
        for (k, zh, en) in tables().iter().flat_map(|t| t.iter()) {
            assert!(seen.insert(*k), "label {k} is defined twice");
            assert!(
                !zh.trim().is_empty() && !en.trim().is_empty(),
                "label {k} is empty"
            );
        }
    }

    /// Every `t("…")` in a template or page module names a label in the
    /// catalogue (so no page shows "?").
    #[test]
    fn every_used_key_exists() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        for dir in ["templates/console", "src/console"] {
            for e in std::fs::read_dir(root.join(dir)).unwrap() {
                files.push(e.unwrap().path());
            }
        }
        let mut missing = Vec::new();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for (i, _) in text.match_indices("t(\"") {
                // Only method calls (a dot before the t), in Rust and templates.
                if i == 0 || &text[i - 1..i] != "." {
                    continue;
                }
                let rest = &text[i + 3..];
                let Some(end) = rest.find('"') else { continue };
                let key = &rest[..end];
                if !CATALOGUE.contains_key(key) {
                    missing.push(format!("{}: {key}", f.display()));
                }
            }
        }
        assert!(missing.is_empty(), "labels missing: {missing:#?}");
    }
}
