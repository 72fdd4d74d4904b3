//! The console's meter page, site tree and search, over HTTP as a browser
//! (or a bearer token) sees them: content, who may open them, site scope,
//! masking, the consumption chart, a command's way into the commands table.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Fleet, TestServer};
use serde_json::{Value, json};
use yufu_access::SiteScope;
use yufu_domain::Role;
use yufu_store_contract::TestDb;

async fn token(api: &TestServer, role: Role, scope: SiteScope) -> String {
    yufu_server::access_api::issue_token(
        api.db.shared().as_ref(),
        api.org,
        &format!("console-{role}"),
        role,
        &scope,
        1,
        "test",
    )
    .await
    .unwrap()
    .0
}

/// A page as the holder of `token` sees it (English).
async fn page(api: &TestServer, token: &str, path: &str) -> yufu_test_utils::HttpResponse {
    api.get(
        path,
        &[
            ("Authorization", &format!("Bearer {token}")),
            ("Accept-Language", "en"),
        ],
    )
    .await
}

/// The element with `data-testid="id"` and what follows it (enough to look
/// inside a table).
fn after_testid<'a>(body: &'a str, id: &str) -> &'a str {
    let at = body
        .find(&format!("data-testid=\"{id}\""))
        .unwrap_or_else(|| panic!("no data-testid={id} in page:\n{body}"));
    &body[at..]
}

/// The text inside the first element with this test id, up to its closing tag.
fn testid_text<'a>(body: &'a str, id: &str) -> &'a str {
    let rest = after_testid(body, id);
    let start = rest.find('>').unwrap() + 1;
    let end = rest[start..].find('<').unwrap() + start;
    &rest[start..end]
}

/// The first link (`href`) of or in the element with this test id, as a
/// request path (entities decoded, no fragment).
fn link_after(body: &str, id: &str) -> String {
    // From the start of the tag that carries the test id (the link itself
    // or an element around it).
    let at = body.len() - after_testid(body, id).len();
    let rest = &body[body[..at].rfind('<').unwrap()..];
    let href = &rest[rest.find("href=\"").unwrap() + 6..];
    let href = href[..href.find('"').unwrap()]
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    href.split('#').next().unwrap().to_owned()
}

/// Hourly readings ending an hour ago: 25 of them, 0.5 kWh apart.
async fn read_a_day(api: &TestServer, meter: &str) {
    let now = jiff::Timestamp::now();
    let readings: Vec<Value> = (0..25)
        .map(|i| {
            let at = now - jiff::SignedDuration::from_hours(25 - i);
            json!({"meter_id": meter, "at": at.to_string(), "register": 100_000 + i * 500})
        })
        .collect();
    let (status, out) = api
        .call(
            "POST",
            "/api/v1/readings",
            Some(json!({ "readings": readings })),
        )
        .await;
    assert_eq!(status, 200, "{out}");
}

async fn portal_cookie(api: &TestServer, f: &Fleet) -> String {
    let (status, _) = api
        .call(
            "PUT",
            &format!("/api/v1/accounts/{}/portal-password", f.account),
            Some(json!({"password": "customer-password-1"})),
        )
        .await;
    assert_eq!(status, 204);
    let r = api
        .raw_exact(
            "POST",
            "/api/v1/portal/login",
            vec![],
            Some(
                json!({"account_number": f.account_number, "password": "customer-password-1"})
                    .to_string(),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_meter_page_shows_the_meter_its_chart_readings_and_controls() {
    let api = TestServer::start(TestDb::sqlite().await).await;
    let f = api.fleet().await;
    api.bill(&f).await;
    // In credit, so the day's use does not cut it off.
    let r = api
        .raw(
            "POST",
            &format!("/api/v1/accounts/{}/recharges", f.account),
            &[("Idempotency-Key", "console-meter-1")],
            Some(
                json!({ "amount_fen": 50_000, "channel": "counter", "reference": "R-1" })
                    .to_string(),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    read_a_day(&api, &f.meter).await;
    let path = format!("/meters/{}", f.meter);
    let r = page(&api, &api.admin_token, &path).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let b = &r.body;
    assert!(b.contains("<h1>Meter E900001"), "{b}");
    // The test fleet's meter was never commissioned.
    assert_eq!(testid_text(b, "meter-status"), "In stock");
    // Where it is and whose it is, as links.
    assert!(b.contains(&format!("href=\"/sites/{}\"", f.site)));
    assert!(b.contains("天河花园") && b.contains("A栋") && b.contains(">101<"));
    assert!(b.contains(&format!("href=\"/accounts/{}\"", f.account)));
    assert!(b.contains("GZ900001"));
    // The engine knows the account is in credit: supplying, by the account.
    assert_eq!(testid_text(b, "relay-state"), "Relay closed (supplying)");
    assert!(
        b.contains("From the account&#39;s supply state")
            || b.contains("From the account's supply state")
    );
    // The last reading: 100 000 + 24 × 500 Wh.
    assert!(after_testid(b, "last-reading").contains("112.000 kWh"));
    // The chart: an SVG with 24 hourly bars and 12 kWh over the day.
    let chart = after_testid(b, "consumption-chart");
    assert!(chart.contains("<svg class=\"chart\""));
    assert_eq!(
        chart[..chart.find("</svg>").unwrap()]
            .matches("<rect class=\"bar\"")
            .count(),
        24
    );
    let total = testid_text(b, "chart-total");
    assert!(total == "11.500 kWh" || total == "12.000 kWh", "{total}");
    // Week and month views: 7 and 30 daily bars.
    for (range, bars) in [("week", 7), ("month", 30)] {
        let r = page(&api, &api.admin_token, &format!("{path}?range={range}")).await;
        assert_eq!(r.status, 200);
        let chart = after_testid(&r.body, "consumption-chart");
        let svg = &chart[..chart.find("</svg>").unwrap()];
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), bars, "{range}");
        assert_eq!(testid_text(&r.body, "chart-total"), "12.000 kWh");
        assert!(r.body.contains(&format!(
            "class=\"here\" aria-current=\"page\" data-testid=\"chart-range-{range}\""
        )));
    }
    // Readings: 20 on the first page, newest first, then the next page.
    let table = after_testid(b, "readings-table");
    let table = &table[..table.find("</table>").unwrap()];
    assert_eq!(table.matches("<tr><td>").count(), 20);
    assert!(table.find("112.000").unwrap() < table.find("111.500").unwrap());
    let href = link_after(b, "readings-next");
    let older = page(&api, &api.admin_token, &href).await;
    assert_eq!(older.status, 200, "{href}");
    let table = after_testid(&older.body, "readings-table");
    let table = &table[..table.find("</table>").unwrap()];
    assert_eq!(table.matches("<tr><td>").count(), 5);
    assert!(table.contains("Opening reading") && table.contains("100.000"));
    assert!(!older.body.contains("data-testid=\"readings-next\""));
    // Controls for an electricity meter, with a confirmation, posting to the API.
    for id in ["cmd-trip", "cmd-close", "cmd-read-now"] {
        assert!(b.contains(&format!("data-testid=\"{id}\"")), "{id}");
    }
    assert!(!b.contains("cmd-valve-close"));
    assert!(b.contains(&format!("data-api=\"/api/v1/meters/{}/commands\"", f.meter)));
    assert!(b.contains("data-confirm=\"Trip the relay and cut the supply of meter E900001\""));
    // An admin may read the audit log: the history shows the assignment.
    let history = after_testid(b, "meter-history");
    assert!(history.contains("Unit and account link") && history.contains("token:test-admin"));
    // In Chinese too.
    let zh = api
        .get(
            &format!("{path}?lang=zh"),
            &[("Authorization", &format!("Bearer {}", api.admin_token))],
        )
        .await;
    assert!(zh.body.contains("合闸（供电中）") && zh.body.contains("用量"));
    api.stop().await;
}

#[tokio::test]
async fn a_trip_through_the_api_shows_in_the_commands_table_until_acknowledged() {
    let api = TestServer::start(TestDb::sqlite().await).await;
    let f = api.fleet().await;
    api.bill(&f).await;
    let path = format!("/meters/{}", f.meter);
    let before = page(&api, &api.admin_token, &path).await;
    assert_eq!(
        testid_text(&before.body, "commands-table"),
        "Nothing here yet"
    );
    let (status, out) = api
        .call(
            "POST",
            &format!("/api/v1/meters/{}/commands", f.meter),
            Some(json!({"kind": "trip", "reason": "console test trip"})),
        )
        .await;
    assert_eq!(status, 202, "{out}");
    // The simulated meter acknowledges within moments; the page follows.
    let mut seen = String::new();
    for _ in 0..100 {
        let r = page(&api, &api.admin_token, &path).await;
        seen = r.body;
        if testid_text(&seen, "relay-state") == "Relay open (tripped)" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let table = after_testid(&seen, "commands-table");
    let table = &table[..table.find("</table>").unwrap()];
    assert!(table.contains("<td>Trip</td>"), "{table}");
    assert!(table.contains("console test trip"));
    assert_eq!(testid_text(table, "command-state"), "Acknowledged");
    // Its transitions, oldest first.
    assert!(
        table.find("Queued").unwrap() < table.find("Sent → Acknowledged").unwrap(),
        "{table}"
    );
    assert_eq!(testid_text(&seen, "relay-state"), "Relay open (tripped)");
    assert!(seen.contains("Confirmed by the meter"));
    // While a command is in play the live part refreshes itself.
    let (status, _) = api
        .call(
            "POST",
            &format!("/api/v1/meters/{}/commands", f.meter),
            Some(json!({"kind": "close", "reason": "reconnect"})),
        )
        .await;
    assert_eq!(status, 202);
    let mut closed = false;
    for _ in 0..100 {
        let r = page(&api, &api.admin_token, &path).await;
        if testid_text(&r.body, "relay-state") == "Relay closed (supplying)" {
            closed = true;
            break;
        }
        assert!(
            r.body.contains("id=\"meter-live\" data-refresh=\"5000\"")
                || testid_text(&r.body, "relay-state") != "Closing the relay…"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(closed, "the close was never acknowledged");
    api.stop().await;
}

#[tokio::test]
async fn who_may_open_the_meter_page_and_what_they_see() {
    let api = TestServer::start(TestDb::sqlite().await).await;
    let f = api.fleet().await;
    let path = format!("/meters/{}", f.meter);
    // Nobody signed in: to the sign-in page, coming back here after.
    let r = api.raw_exact("GET", &path, vec![], None).await;
    assert_eq!(r.status, 303);
    assert_eq!(
        r.header("location").unwrap(),
        format!("/login?next=/meters/{}", f.meter)
    );
    // A customer is sent to the portal.
    let cookie = portal_cookie(&api, &f).await;
    let r = api
        .raw_exact("GET", &path, vec![("Cookie".into(), cookie)], None)
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location").unwrap(), "/portal");
    // An auditor reads the page but gets no buttons.
    let auditor = token(&api, Role::Auditor, SiteScope::All).await;
    let r = page(&api, &auditor, &path).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("data-testid=\"relay-state\""));
    assert!(!r.body.contains("cmd-trip") && !r.body.contains("data-api=\"/api/v1/meters/"));
    // A technician operates meters but may not read the audit log.
    let tech = token(&api, Role::Technician, SiteScope::All).await;
    let r = page(&api, &tech, &path).await;
    assert!(r.body.contains("data-testid=\"cmd-trip\""));
    assert!(!r.body.contains("data-testid=\"meter-history\""));
    // Site scope: another site's staff get "not found"; this site's see it.
    let other = api
        .created(
            "/api/v1/sites",
            json!({"organisation_id": f.org, "code": "HZ02", "name": "海珠", "city": "广州"}),
        )
        .await;
    let other_site = other["id"].as_str().unwrap().parse().unwrap();
    let outsider = token(&api, Role::Technician, SiteScope::Only([other_site].into())).await;
    let r = page(&api, &outsider, &path).await;
    assert_eq!(r.status, 404);
    assert!(!r.body.contains("E900001"));
    let insider = token(
        &api,
        Role::Technician,
        SiteScope::Only([f.site.parse().unwrap()].into()),
    )
    .await;
    assert_eq!(page(&api, &insider, &path).await.status, 200);
    // An id that is no meter, or a cursor from nowhere: not found.
    assert_eq!(
        page(&api, &api.admin_token, "/meters/nonsense")
            .await
            .status,
        404
    );
    assert_eq!(
        page(
            &api,
            &api.admin_token,
            &format!("/meters/{}", yufu_domain::MeterId::new())
        )
        .await
        .status,
        404
    );
    api.stop().await;
}

#[tokio::test]
async fn the_site_tree_opens_one_building_and_respects_scope() {
    let api = TestServer::start(TestDb::sqlite().await).await;
    let f = api.fleet().await;
    let other = api
        .created(
            "/api/v1/sites",
            json!({"organisation_id": f.org, "code": "HZ02", "name": "海珠小区", "city": "广州"}),
        )
        .await;
    let r = page(&api, &api.admin_token, "/sites").await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("天河花园") && r.body.contains("海珠小区"));
    let site = format!("/sites/{}", f.site);
    let r = page(&api, &api.admin_token, &site).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("A · A栋"));
    // Closed: no units read.
    assert!(!r.body.contains("data-testid=\"unit-row\""));
    let href = link_after(&r.body, "building-row");
    let r = page(&api, &api.admin_token, &href).await;
    assert_eq!(r.status, 200, "{href}");
    let unit = after_testid(&r.body, "unit-row");
    assert!(unit.contains(">101<") && unit.contains("E900001") && unit.contains("GZ900001"));
    assert!(unit.contains(&format!("/meters/{}", f.meter)));
    assert!(unit.contains(&format!("/accounts/{}", f.account)));
    // A building of another site is not opened under this one.
    let foreign = api
        .created(
            "/api/v1/buildings",
            json!({"site_id": other["id"], "code": "B", "name": "B栋", "floors": 3}),
        )
        .await;
    let r = page(
        &api,
        &api.admin_token,
        &format!("{site}?building={}", foreign["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(r.status, 404);
    // Scoped staff: their site only, in the list and by address.
    let scoped = token(
        &api,
        Role::Cashier,
        SiteScope::Only([other["id"].as_str().unwrap().parse().unwrap()].into()),
    )
    .await;
    let r = page(&api, &scoped, "/sites").await;
    assert!(r.body.contains("海珠小区") && !r.body.contains("天河花园"));
    assert!(r.body.contains("Only the sites you are responsible for"));
    assert_eq!(page(&api, &scoped, &site).await.status, 404);
    api.stop().await;
}

#[tokio::test]
async fn search_finds_meters_accounts_names_and_phones() {
    let api = TestServer::start(TestDb::sqlite().await).await;
    let f = api.fleet().await;
    let to_meter = format!("/meters/{}", f.meter);
    let to_account = format!("/accounts/{}", f.account);
    let go = |r: &yufu_test_utils::HttpResponse| {
        assert_eq!(r.status, 303, "{}", r.body);
        r.header("location").unwrap().to_owned()
    };
    // One match: straight to its page (serial whole, lower-case, or its start).
    for q in ["E900001", "e900001", "E9000"] {
        let r = page(&api, &api.admin_token, &format!("/search?q={q}")).await;
        assert_eq!(go(&r), to_meter, "{q}");
    }
    // Account number, customer name (sealed: whole name, spacing ignored), phone.
    for q in [
        "GZ900001",
        "%E9%99%88%E5%B0%8F%E6%98%8E",
        "+%E9%99%88%E5%B0%8F%E6%98%8E+",
        "138+0013+8000",
        "%2B86+13800138000",
    ] {
        let r = page(&api, &api.admin_token, &format!("/search?q={q}")).await;
        assert_eq!(go(&r), to_account, "{q}");
    }
    // Nothing: a clear message.
    let r = page(&api, &api.admin_token, "/search?q=ZZZ404").await;
    assert_eq!(r.status, 200);
    assert!(
        after_testid(&r.body, "search-none").contains("No meter, account or customer matches.")
    );
    // Several: a list. A second meter shares the prefix; the whole serial
    // still goes straight to its meter.
    let second = api
        .created(
            "/api/v1/meters",
            json!({"organisation_id": f.org, "serial": "E9000012", "utility": "electricity", "model": "DDSY666", "protocol": "dlt645_2007", "comm_address": "000009000012", "multiplier": 1}),
        )
        .await;
    let r = page(&api, &api.admin_token, "/search?q=E9000").await;
    assert_eq!(r.status, 200);
    let list = after_testid(&r.body, "search-meters");
    assert!(list.contains("E900001<") && list.contains("E9000012<"));
    let r = page(&api, &api.admin_token, "/search?q=E900001").await;
    assert_eq!(go(&r), to_meter);
    // Another customer of the same name: both listed, each with its account.
    let twin = api
        .created(
            "/api/v1/customers",
            json!({"organisation_id": f.org, "kind": "person", "name": "陈小明", "phone": "13900139000"}),
        )
        .await;
    api.created(
        "/api/v1/accounts",
        json!({"organisation_id": f.org, "number": "GZ900002", "customer_id": twin["id"], "class": "residential"}),
    )
    .await;
    let q = "/search?q=%E9%99%88%E5%B0%8F%E6%98%8E";
    let r = page(&api, &api.admin_token, q).await;
    assert_eq!(r.status, 200);
    let people = after_testid(&r.body, "search-customers");
    assert!(people.contains("GZ900001") && people.contains("GZ900002"));
    assert!(people.contains("13800138000") && people.contains("13900139000"));
    // A technician may search but not read personal data: masked.
    let tech = token(&api, Role::Technician, SiteScope::All).await;
    let r = page(&api, &tech, q).await;
    let people = after_testid(&r.body, "search-customers");
    assert!(people.contains("陈**") && !people.contains("陈小明"));
    assert!(people.contains("138****8000") && !people.contains("13800138000"));
    // Site scope: an outsider finds nothing of this site.
    let other = api
        .created(
            "/api/v1/sites",
            json!({"organisation_id": f.org, "code": "HZ02", "name": "海珠", "city": "广州"}),
        )
        .await;
    let outsider = token(
        &api,
        Role::Cashier,
        SiteScope::Only([other["id"].as_str().unwrap().parse().unwrap()].into()),
    )
    .await;
    for q in ["E900001", "GZ900001", "13800138000"] {
        let r = page(&api, &outsider, &format!("/search?q={q}")).await;
        assert_eq!(r.status, 200, "{q}");
        assert!(
            r.body.contains("data-testid=\"search-none\""),
            "{q}: {}",
            r.body
        );
    }
    // The meter not installed anywhere is organisation-level: hidden too.
    let r = page(&api, &outsider, "/search?q=E9000012").await;
    assert!(r.body.contains("data-testid=\"search-none\""));
    let _ = second;
    api.stop().await;
}
