//! Bulk CSV import and export and the finance exports over a real socket,
//! on SQLite (and on PostgreSQL when `YUFU_TEST_DATABASE_URL` is set).
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};

use common::TestServer;
use serde_json::{Value, json};
use yufu_domain::{AccountNumber, MeterSerial, OrganisationId};
use yufu_store_contract::TestDb;

const TARIFF: &str =
    include_str!("../../../examples/tariffs/guangdong-residential-electricity.toml");

const CUSTOMERS: &str = "account_number,account_class,customer_kind,name,phone,id_number,address\r\n\
GZ-0001,residential,person,陈小明,138 0013 8000,44010619900101123X,天河区示范路1号 1-0203\r\n\
GZ-0002,commercial,company,广州示例餐饮有限公司,020-8888 0000,91440101MA5ABCDE1X,\r\n";

const ACCOUNTS: &str = "account_number,customer_account_number,account_class\r\n\
GZ-0001-W,GZ-0001,residential\r\n";

const METERS: &str = "serial,utility,model,protocol,comm_address,multiplier,site_code,building_code,unit_code,account_number,tariff_code\r\n\
E-240001,electricity,DDZY1710,dlt645_2007,000000240001,1,GZ-TH01,A,1-0203,GZ-0001,guangdong-residential-electricity\r\n\
W-240001,water,LXSY-20,cjt188,10000000240001,,GZ-TH01,A,1-0203,GZ-0001-W,\r\n\
E-240100,electricity,DTSD1352,dlt645_2007,000000240100,60,GZ-TH01,A,B1-PUMP,,\r\n";

const DEVICES: &str = "serial,utility,model,protocol,comm_address,multiplier\r\n\
E-240002,electricity,DDZY1710,dlt645_2007,000000240002,1\r\n\
G-240001,gas,G2.5,cjt188,30000000240001,\r\n";

/// An organisation with the site tree the files above refer to and the
/// electricity tariff; returns its id.
async fn organisation(api: &TestServer, name: &str) -> String {
    let org = api
        .created("/api/v1/organisations", json!({ "name": name }))
        .await;
    let org_id = org["id"].as_str().unwrap().to_owned();
    let site = api
        .created(
            "/api/v1/sites",
            json!({ "organisation_id": org_id, "code": "GZ-TH01", "name": "天河园区", "city": "广州" }),
        )
        .await;
    let building = api
        .created(
            "/api/v1/buildings",
            json!({ "site_id": site["id"], "code": "A", "name": "A栋", "floors": 6 }),
        )
        .await;
    for code in ["1-0203", "B1-PUMP"] {
        api.created(
            "/api/v1/units",
            json!({ "building_id": building["id"], "code": code, "floor": 1, "kind": "residential", "area_sqm": "89.5" }),
        )
        .await;
    }
    let r = api
        .raw(
            "POST",
            &format!("/api/v1/organisations/{org_id}/tariffs"),
            &[("Content-Type", "application/toml")],
            Some(TARIFF.to_owned()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    org_id
}

/// POSTs a CSV file (UTF-8) and returns the status and JSON answer.
async fn import(
    api: &TestServer,
    kind: &str,
    org: &str,
    dry_run: bool,
    file: &str,
) -> (u16, Value) {
    let r = api
        .raw(
            "POST",
            &format!("/api/v1/import/{kind}?organisation_id={org}&dry_run={dry_run}"),
            &[("Content-Type", "text/csv")],
            Some(file.to_owned()),
        )
        .await;
    (
        r.status,
        serde_json::from_str(&r.body).unwrap_or(Value::String(r.body)),
    )
}

/// GETs an export: the status, the body and the Content-Disposition.
async fn export(api: &TestServer, kind: &str, org: &str) -> (u16, String, String) {
    let r = api
        .get(&format!("/api/v1/export/{kind}?organisation_id={org}"), &[])
        .await;
    let disposition = r
        .header("content-disposition")
        .unwrap_or_default()
        .to_owned();
    (r.status, r.body, disposition)
}

/// POSTs raw bytes (not UTF-8: the shared helpers send strings) over a
/// socket of its own, with the server's admin token; returns status and JSON.
async fn post_bytes(api: &TestServer, token: &str, path: &str, body: Vec<u8>) -> (u16, Value) {
    let (addr, head) = (
        api.addr,
        format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: text/csv\r\nContent-Length: {}\r\n\r\n",
            api.addr,
            body.len()
        ),
    );
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&body).unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        let text = String::from_utf8(raw).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(!head.to_ascii_lowercase().contains("chunked"), "{head}");
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (
            status,
            serde_json::from_str(body).unwrap_or(Value::String(body.to_owned())),
        )
    })
    .await
    .unwrap()
}

fn problems(out: &Value) -> Vec<(u64, String)> {
    out["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["row"].as_u64().unwrap(),
                p["column"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

async fn dry_run_reports_every_problem_and_writes_nothing(db: TestDb) {
    let api = TestServer::start(db).await;
    let org = organisation(&api, "干跑物业").await;
    let bad = format!(
        "{CUSTOMERS}GZ-0003,residental,person,李华,138 0013 8001,,\r\nGZ-0004,residential,person,张伟,,,\r\n\
         GZ-0005,residential,person,王芳,call me,,\r\n"
    );
    let before = (
        api.db.count_rows("customers").await,
        api.db.count_rows("accounts").await,
    );
    for dry_run in [true, false] {
        let (status, out) = import(&api, "customers", &org, dry_run, &bad).await;
        assert_eq!(status, 422, "{out}");
        assert_eq!(
            problems(&out),
            [(4, "account_class".to_owned()), (6, "phone".to_owned())],
            "{out}"
        );
        assert_eq!(
            (out["committed"].as_bool(), out["written"].as_u64()),
            (Some(false), Some(0))
        );
        assert_eq!(
            (out["kind"].as_str(), out["encoding"].as_str()),
            (Some("customers"), Some("utf-8"))
        );
        assert!(
            !out.to_string().contains("call me"),
            "personal data is never quoted: {out}"
        );
    }
    let after = (
        api.db.count_rows("customers").await,
        api.db.count_rows("accounts").await,
    );
    assert_eq!(before, after, "nothing was written");

    // A good file, dry run: 200, checked, still nothing written.
    let (status, out) = import(&api, "customers", &org, true, CUSTOMERS).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        (
            out["rows"].as_u64(),
            out["committed"].as_bool(),
            out["dry_run"].as_bool()
        ),
        (Some(2), Some(false), Some(true))
    );
    assert_eq!(problems(&out), []);
    assert_eq!(api.db.count_rows("customers").await, before.0);

    // References are checked against the database: an account that does not
    // exist yet, a unit that does not exist, a tariff for another utility.
    let (status, out) = import(&api, "accounts", &org, true, ACCOUNTS).await;
    assert_eq!(
        (status, problems(&out)),
        (422, vec![(2, "customer_account_number".to_owned())]),
        "{out}"
    );
    let meters = "serial,utility,model,protocol,comm_address,site_code,building_code,unit_code,tariff_code\r\n\
        W-1,water,LXSY-20,cjt188,10000000000001,GZ-TH01,A,1-0203,guangdong-residential-electricity\r\n\
        E-1,electricity,DDZY1710,dlt645_2007,000000000001,GZ-TH01,A,9-9999,\r\n";
    let (status, out) = import(&api, "meters", &org, false, meters).await;
    assert_eq!(
        (status, problems(&out)),
        (
            422,
            vec![(2, "tariff_code".to_owned()), (3, "unit_code".to_owned())]
        ),
        "{out}"
    );
    assert!(
        out["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("electricity meters"),
        "{out}"
    );
    assert_eq!(api.db.count_rows("meters").await, 0);

    // Unknown kind, bad organisation id, unknown organisation.
    let (status, _) = import(&api, "widgets", &org, true, CUSTOMERS).await;
    assert_eq!(status, 404);
    let (status, out) = import(&api, "customers", "not-an-id", true, CUSTOMERS).await;
    assert_eq!(
        (status, out["code"].as_str()),
        (400, Some("bad_request")),
        "{out}"
    );
    let (status, _) = import(
        &api,
        "customers",
        &OrganisationId::new().to_string(),
        true,
        CUSTOMERS,
    )
    .await;
    assert_eq!(status, 404);
    api.stop().await;
}

async fn a_gb18030_file_imports(db: TestDb) {
    let api = TestServer::start(db).await;
    let org = organisation(&api, "国标物业").await;
    // What Chinese Excel saves as "CSV": GB18030. 陈小明 = B3C2 D0A1 C3F7,
    // 李华 = C0EE BBAA, 天河 = CCEC BAD3.
    let mut file = b"account_number,account_class,customer_kind,name,phone,address\r\n".to_vec();
    file.extend_from_slice(
        b"GB-0001,residential,person,\xB3\xC2\xD0\xA1\xC3\xF7,13800138000,\xCC\xEC\xBA\xD3\r\n",
    );
    file.extend_from_slice(b"GB-0002,residential,person,\xC0\xEE\xBB\xAA,,\r\n");
    assert!(std::str::from_utf8(&file).is_err(), "not UTF-8");
    let before = api.db.count_rows("customers").await;
    let (status, out) = post_bytes(
        &api,
        &api.admin_token,
        &format!("/api/v1/import/customers?organisation_id={org}"),
        file,
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        (
            out["encoding"].as_str(),
            out["rows"].as_u64(),
            out["committed"].as_bool(),
            out["written"].as_u64()
        ),
        (Some("gb18030"), Some(2), Some(true), Some(2)),
        "{out}"
    );
    assert_eq!(api.db.count_rows("customers").await, before + 2);
    let (status, csv, _) = export(&api, "customers", &org).await;
    assert_eq!(status, 200);
    assert!(
        csv.contains("GB-0001,residential,person,陈小明,13800138000,,天河"),
        "{csv}"
    );
    assert!(csv.contains("GB-0002,residential,person,李华,,,"), "{csv}");
    api.stop().await;
}

async fn imports_commit_and_exports_round_trip(db: TestDb) {
    let api = TestServer::start(db).await;
    let org = organisation(&api, "导入物业").await;
    let customers_before = api.db.count_rows("customers").await;
    for (kind, file, rows) in [
        ("customers", CUSTOMERS, 2),
        ("accounts", ACCOUNTS, 1),
        ("meters", METERS, 3),
        ("devices", DEVICES, 2),
    ] {
        let (status, out) = import(&api, kind, &org, false, file).await;
        assert_eq!(status, 200, "{kind}: {out}");
        assert_eq!(
            (
                out["committed"].as_bool(),
                out["rows"].as_u64(),
                out["written"].as_u64()
            ),
            (Some(true), Some(rows), Some(rows)),
            "{kind}: {out}"
        );
    }
    assert_eq!(api.db.count_rows("customers").await, customers_before + 2);

    // The meters are installed in their units, linked and priced.
    let (status, page) = api
        .call(
            "GET",
            &format!("/api/v1/organisations/{org}/meters?limit=500"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    let meters = page["items"].as_array().unwrap();
    let by_serial = |serial: &str| {
        meters
            .iter()
            .find(|m| m["serial"] == serial)
            .unwrap()
            .clone()
    };
    let e = by_serial("E-240001");
    assert_eq!(
        (
            e["status"].as_str(),
            e["tariff_code"].as_str(),
            e["account_id"].is_string(),
            e["unit_id"].is_string()
        ),
        (
            Some("installed"),
            Some("guangdong-residential-electricity"),
            true,
            true
        ),
        "{e}"
    );
    assert_eq!(by_serial("E-240100")["account_id"], Value::Null);
    assert_eq!(by_serial("E-240100")["multiplier"], 60);
    let g = by_serial("G-240001");
    assert_eq!(
        (g["status"].as_str(), &g["unit_id"]),
        (Some("in_stock"), &Value::Null)
    );

    // The same file again: every key already taken, nothing more written.
    let (status, out) = import(&api, "customers", &org, false, CUSTOMERS).await;
    assert_eq!(
        (status, problems(&out)),
        (
            422,
            vec![
                (2, "account_number".to_owned()),
                (3, "account_number".to_owned())
            ]
        ),
        "{out}"
    );

    // Export: UTF-8 with BOM, named, in the import layout.
    let mut files = Vec::new();
    for kind in ["customers", "accounts", "meters", "devices"] {
        let (status, csv, disposition) = export(&api, kind, &org).await;
        assert_eq!(status, 200, "{csv}");
        assert_eq!(disposition, format!("attachment; filename=\"{kind}.csv\""));
        assert!(csv.starts_with('\u{feff}'), "BOM");
        files.push((kind, csv));
    }
    assert_eq!(
        files[0].1,
        format!("\u{feff}{CUSTOMERS}"),
        "the customers file comes back as it went in"
    );
    assert_eq!(files[1].1, format!("\u{feff}{ACCOUNTS}"));
    assert!(files[2].1.contains("E-240001,electricity,DDZY1710,dlt645_2007,000000240001,1,GZ-TH01,A,1-0203,GZ-0001,guangdong-residential-electricity\r\n"), "{}", files[2].1);
    assert!(
        files[2].1.contains(
            "W-240001,water,LXSY-20,cjt188,10000000240001,1,GZ-TH01,A,1-0203,GZ-0001-W,\r\n"
        ),
        "{}",
        files[2].1
    );
    assert!(
        files[3]
            .1
            .contains("G-240001,gas,G2.5,cjt188,30000000240001,1\r\n"),
        "{}",
        files[3].1
    );
    assert!(
        !files[3].1.contains("E-240001"),
        "installed meters are not devices"
    );

    // Re-import every export into a second organisation: it exports the same.
    let second = organisation(&api, "第二物业").await;
    for (kind, csv) in &files {
        let (status, out) = import(&api, kind, &second, false, csv).await;
        assert_eq!(status, 200, "{kind}: {out}");
        assert_eq!(
            (out["encoding"].as_str(), out["committed"].as_bool()),
            (Some("utf-8-bom"), Some(true))
        );
    }
    for (kind, csv) in &files {
        let (_, again, _) = export(&api, kind, &second).await;
        assert_eq!(&again, csv, "{kind} round-trips");
    }
    api.stop().await;
}

async fn finance_exports_show_a_recharge(db: TestDb) {
    let api = TestServer::start(db).await;
    let org = organisation(&api, "财务物业").await;
    for (kind, file) in [
        ("customers", CUSTOMERS),
        ("accounts", ACCOUNTS),
        ("meters", METERS),
    ] {
        let (status, out) = import(&api, kind, &org, false, file).await;
        assert_eq!(status, 200, "{kind}: {out}");
    }
    let org_id: OrganisationId = org.parse().unwrap();
    let account = api
        .db
        .store()
        .find_account_by_number(org_id, &"GZ-0001".parse::<AccountNumber>().unwrap())
        .await
        .unwrap()
        .unwrap();
    let meter = api
        .db
        .store()
        .find_meter_by_serial(org_id, &"E-240001".parse::<MeterSerial>().unwrap())
        .await
        .unwrap()
        .unwrap();

    // The imported meter reached the engine: its account takes a recharge.
    let r = api
        .raw(
            "POST",
            &format!("/api/v1/accounts/{}/recharges", account.id),
            &[("Idempotency-Key", "bulk-finance-1")],
            Some(
                json!({ "amount_fen": 5_000, "channel": "counter", "reference": "R-1" })
                    .to_string(),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // And bills a reading (an opening one, then 10 kWh).
    let now = jiff::Timestamp::now();
    let at = |secs: i64| (now + jiff::SignedDuration::from_secs(secs)).to_string();
    let (status, out) = api
        .call(
            "POST",
            "/api/v1/readings",
            Some(json!({ "readings": [
                { "meter_id": meter.id.to_string(), "at": at(1), "register": 100_000 },
                { "meter_id": meter.id.to_string(), "at": at(2), "register": 110_000 },
            ]})),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    let charge = out["results"][1]["charge_fen"].as_i64().unwrap();
    assert!(charge > 0, "{out}");

    let day = now.in_tz("Asia/Shanghai").unwrap().date();
    let start = day.in_tz("Asia/Shanghai").unwrap();
    let (from, to) = (start.timestamp(), start.tomorrow().unwrap().timestamp());

    let path = format!("/api/v1/finance/journal?organisation_id={org}&from={from}&to={to}");
    let (status, journal) = api.call("GET", &path, None).await;
    assert_eq!(status, 200, "{journal}");
    let entries = journal["entries"].as_array().unwrap();
    let recharge = entries.iter().find(|e| e["kind"] == "recharge").unwrap();
    assert_eq!(
        (
            recharge["account_number"].as_str(),
            recharge["amount_fen"].as_i64(),
            recharge["balance_after_fen"].as_i64(),
            recharge["idempotency_key"].as_str(),
            recharge["cause"]["channel"].as_str(),
        ),
        (
            Some("GZ-0001"),
            Some(5_000),
            Some(5_000),
            Some("recharge:bulk-finance-1"),
            Some("counter")
        ),
        "{journal}"
    );
    let consumption = entries.iter().find(|e| e["kind"] == "consumption").unwrap();
    assert_eq!(consumption["amount_fen"].as_i64(), Some(-charge));
    assert!(
        entries
            .windows(2)
            .all(|w| w[0]["no"].as_i64() < w[1]["no"].as_i64()),
        "posting order"
    );

    let r = api.get(&format!("{path}&format=csv"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.starts_with("\u{feff}no,at,account_number,account_id,seq,kind,amount_fen,balance_after_fen,cause,idempotency_key\r\n"), "{}", r.body);
    assert!(
        r.body.contains(",GZ-0001,")
            && r.body.contains(",recharge,5000,5000,")
            && r.body.contains(",recharge:bulk-finance-1\r\n"),
        "{}",
        r.body
    );
    assert!(
        r.header("content-disposition")
            .unwrap()
            .starts_with("attachment; filename=\"journal-")
    );

    // A window before any of it is empty.
    let (from_y, to_y) = (start.yesterday().unwrap().timestamp(), from);
    let (status, empty) = api
        .call(
            "GET",
            &format!("/api/v1/finance/journal?organisation_id={org}&from={from_y}&to={to_y}"),
            None,
        )
        .await;
    assert_eq!(
        (status, empty["entries"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{empty}"
    );
    // A window days after the posting: each account's walk stops at once.
    let later = start.tomorrow().unwrap().tomorrow().unwrap();
    let (from_l, to_l) = (later.timestamp(), later.tomorrow().unwrap().timestamp());
    let (status, empty) = api
        .call(
            "GET",
            &format!("/api/v1/finance/journal?organisation_id={org}&from={from_l}&to={to_l}"),
            None,
        )
        .await;
    assert_eq!(
        (status, empty["entries"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{empty}"
    );
    let (status, _) = api
        .call(
            "GET",
            &format!("/api/v1/finance/journal?organisation_id={org}&from=yesterday&to={to}"),
            None,
        )
        .await;
    assert_eq!(status, 400);

    let path = format!(
        "/api/v1/finance/settlement?organisation_id={org}&date={day}&timezone=Asia/Shanghai"
    );
    let (status, s) = api.call("GET", &path, None).await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(
        s["recharges"],
        json!({ "count": 1, "amount_fen": 5_000, "by_channel": [{ "channel": "counter", "count": 1, "amount_fen": 5_000 }] })
    );
    assert_eq!(
        (
            s["consumption"]["count"].as_u64(),
            s["consumption"]["amount_fen"].as_i64()
        ),
        (Some(1), Some(-charge)),
        "{s}"
    );
    assert_eq!(
        s["consumption"]["by_site"][0]["site_code"], "GZ-TH01",
        "{s}"
    );
    assert_eq!(
        s["consumption"]["by_site"][0]["amount_fen"].as_i64(),
        Some(-charge)
    );
    assert_eq!(
        s["consumption"]["by_utility"],
        json!([{ "utility": "electricity", "count": 1, "amount_fen": -charge }])
    );
    let r = api.get(&format!("{path}&format=csv"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("recharge_channel,counter,,1,5000\r\n"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains(&format!(
            "consumption_site,GZ-TH01,天河园区,1,-{charge}\r\n"
        )),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains(&format!("consumption_utility,electricity,,1,-{charge}\r\n")),
        "{}",
        r.body
    );
    api.stop().await;
}

async fn a_write_failing_part_way_says_what_was_written(db: TestDb) {
    let api = TestServer::start(db).await;
    let org = organisation(&api, "故障物业").await;
    // Every check passes; the database then refuses one insert.
    let trigger = if api.db.is_postgres() {
        "CREATE FUNCTION bulk_test_fail() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql;
         CREATE TRIGGER bulk_test_fail BEFORE INSERT ON accounts FOR EACH ROW
             WHEN (NEW.number = 'GZ-0003') EXECUTE FUNCTION bulk_test_fail();"
    } else {
        "CREATE TRIGGER bulk_test_fail BEFORE INSERT ON accounts WHEN NEW.number = 'GZ-0003'
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
    };
    api.db.execute(trigger).await;
    let file = format!(
        "{CUSTOMERS}GZ-0003,residential,person,李华,,,\r\nGZ-0004,residential,person,张伟,,,\r\n"
    );
    let before = (
        api.db.count_rows("customers").await,
        api.db.count_rows("accounts").await,
    );
    let r = api
        .raw(
            "POST",
            &format!("/api/v1/import/customers?organisation_id={org}"),
            &[("Content-Type", "text/csv")],
            Some(file),
        )
        .await;
    assert_eq!(r.status, 500, "{}", r.body);
    let out: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(out["code"], "import_incomplete");
    let message = out["message"].as_str().unwrap();
    assert!(message.contains("row 4 (create_account"), "{message}");
    assert!(
        message.contains("rows up to row 3 were written"),
        "{message}"
    );
    assert!(message.contains("created without its account"), "{message}");
    assert!(
        message.contains("internal error; it has been logged") && !message.contains("injected"),
        "the database's own text stays in the log: {message}"
    );
    assert_eq!(
        (
            r.header("x-yufu-rows-written"),
            r.header("x-yufu-last-written-row")
        ),
        (Some("2"), Some("3"))
    );
    // Not rolled back: rows 2 and 3 whole, row 4's customer, nothing of row 5.
    assert_eq!(
        (
            api.db.count_rows("customers").await,
            api.db.count_rows("accounts").await
        ),
        (before.0 + 3, before.1 + 2)
    );
    api.stop().await;
}

macro_rules! on_both_backends {
    ($($story:ident => $sqlite:ident, $postgres:ident;)+) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $sqlite() {
            $story(TestDb::sqlite().await).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $postgres() {
            let Some(db) = TestDb::postgres().await else {
                return;
            };
            $story(db).await;
        }
    )+};
}

on_both_backends! {
    dry_run_reports_every_problem_and_writes_nothing => dry_run_writes_nothing_on_sqlite, dry_run_writes_nothing_on_postgres;
    a_gb18030_file_imports => gb18030_imports_on_sqlite, gb18030_imports_on_postgres;
    imports_commit_and_exports_round_trip => import_export_round_trip_on_sqlite, import_export_round_trip_on_postgres;
    finance_exports_show_a_recharge => finance_exports_on_sqlite, finance_exports_on_postgres;
    a_write_failing_part_way_says_what_was_written => partial_failure_on_sqlite, partial_failure_on_postgres;
}
