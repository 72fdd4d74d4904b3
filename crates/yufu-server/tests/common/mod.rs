//! A server on a real socket (port 0) over a test store, shared by the
//! integration tests of this crate.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;

use serde_json::{Value, json};
use tokio::sync::oneshot;
use yufu_server::AppState;
use yufu_store_contract::TestDb;
use yufu_test_utils::{HttpResponse, http_request};

/// The payment provider every test server knows, and its secret.
pub const TEST_PROVIDER: &str = "testpay";
pub const TEST_PROVIDER_SECRET: &str = "testpay-secret-0123456789";

pub struct TestServer {
    pub addr: SocketAddr,
    /// An admin API token of `org`, sent by `call` and `raw` unless the
    /// request carries its own Authorization header.
    pub admin_token: String,
    /// The organisation the admin token belongs to.
    pub org: yufu_domain::OrganisationId,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    pub db: TestDb,
    pub meters: yufu_writer::dispatch::SimulatedMeters,
}

impl TestServer {
    pub async fn start(db: TestDb) -> TestServer {
        Self::start_with(db, |_, _| {}).await
    }

    /// A server whose security settings `configure` changes first (it is
    /// given the server's address, e.g. for `self_url`).
    pub async fn start_with(
        db: TestDb,
        configure: impl FnOnce(&mut yufu_server::SecurityConfig, SocketAddr),
    ) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let store = db.shared();
        let (writer, _task) =
            yufu_writer::start(store.clone(), yufu_writer::WriterConfig::default())
                .await
                .unwrap();
        let meters = yufu_writer::dispatch::SimulatedMeters::default();
        tokio::spawn(yufu_writer::dispatch::run(
            writer.clone(),
            std::sync::Arc::new(meters.clone()),
        ));
        let org = store
            .create_organisation(&yufu_domain::NewOrganisation {
                name: "Test operator".parse().unwrap(),
            })
            .await
            .unwrap();
        let (admin_token, _) = yufu_server::access_api::issue_token(
            store.as_ref(),
            org.id,
            "test-admin",
            yufu_domain::Role::Admin,
            &yufu_access::SiteScope::All,
            1,
            "test",
        )
        .await
        .unwrap();
        let mut config = yufu_server::SecurityConfig {
            cookie_secure: false,
            payment_providers: vec![(
                TEST_PROVIDER.to_owned(),
                TEST_PROVIDER_SECRET.as_bytes().to_vec(),
            )],
            ..yufu_server::SecurityConfig::default()
        };
        configure(&mut config, addr);
        let security =
            yufu_server::Security::new(config, yufu_store_contract::test_vault(), store.clone());
        let state = AppState {
            gateway: None,
            store,
            writer,
            version: "test",
            security,
            console: Default::default(),
        };
        let task = tokio::spawn(yufu_server::serve(listener, state, async {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            admin_token,
            org: org.id,
            stop,
            task,
            db,
            meters,
        }
    }

    /// Any request, off the async runtime (the client is blocking).
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> HttpResponse {
        let mut headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        if !headers.iter().any(|(k, _)| {
            k.eq_ignore_ascii_case("authorization") || k.eq_ignore_ascii_case("cookie")
        }) {
            headers.push((
                "Authorization".into(),
                format!("Bearer {}", self.admin_token),
            ));
        }
        self.raw_exact(method, path, headers, body).await
    }

    /// A request with exactly these headers (no admin token added).
    pub async fn raw_exact(
        &self,
        method: &str,
        path: &str,
        headers: Vec<(String, String)>,
        body: Option<String>,
    ) -> HttpResponse {
        let (addr, method, path) = (self.addr, method.to_owned(), path.to_owned());
        tokio::task::spawn_blocking(move || {
            let refs: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            http_request(addr, &method, &path, &refs, body.as_deref()).unwrap()
        })
        .await
        .unwrap()
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
        self.raw("GET", path, headers, None).await
    }

    /// A JSON request with a bearer token (or none): status and JSON body.
    pub async fn call_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let headers = token
            .map(|t| vec![("Authorization".to_owned(), format!("Bearer {t}"))])
            .unwrap_or_default();
        let r = self
            .raw_exact(method, path, headers, body.map(|b| b.to_string()))
            .await;
        let json = serde_json::from_str(&r.body).unwrap_or(Value::String(r.body.clone()));
        (r.status, json)
    }

    /// A JSON request; returns the status and the JSON body (or the text as a string).
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let r = self
            .raw(method, path, &[], body.map(|b| b.to_string()))
            .await;
        let json = serde_json::from_str(&r.body).unwrap_or(Value::String(r.body.clone()));
        (r.status, json)
    }

    /// A POST that must answer 201; returns the body.
    pub async fn created(&self, path: &str, body: Value) -> Value {
        let (status, out) = self.call("POST", path, Some(body)).await;
        assert_eq!(status, 201, "POST {path}: {out}");
        out
    }

    pub async fn stop(self) {
        self.stop.send(()).unwrap();
        self.task.await.unwrap().unwrap();
        self.db.finish().await;
    }
}

/// A site with one unit, a customer with personal data, an account and an
/// electricity meter installed in the unit for the account.
pub struct Fleet {
    pub org: String,
    pub site: String,
    pub account: String,
    pub meter: String,
    pub customer: String,
    pub account_number: String,
}

impl TestServer {
    pub async fn fleet(&self) -> Fleet {
        let api = self;
        let org = api.org.to_string();
        let site = api
        .created(
            "/api/v1/sites",
            json!({"organisation_id": org, "code": "TH01", "name": "天河花园", "city": "广州", "timezone": "Asia/Shanghai"}),
        )
        .await;
        let building = api
            .created(
                "/api/v1/buildings",
                json!({"site_id": site["id"], "code": "A", "name": "A栋", "floors": 6}),
            )
            .await;
        let unit = api
        .created(
            "/api/v1/units",
            json!({"building_id": building["id"], "code": "101", "floor": 1, "kind": "residential", "area_sqm": "80.00"}),
        )
        .await;
        let customer = api
        .created(
            "/api/v1/customers",
            json!({"organisation_id": org, "kind": "person", "name": "陈小明", "phone": "13800138000", "id_number": "44010619900101123X", "address": "广州市天河区体育西路1号"}),
        )
        .await;
        let account = api
        .created(
            "/api/v1/accounts",
            json!({"organisation_id": org, "number": "GZ900001", "customer_id": customer["id"], "class": "residential"}),
        )
        .await;
        let meter = api
        .created(
            "/api/v1/meters",
            json!({"organisation_id": org, "serial": "E900001", "utility": "electricity", "model": "DDSY666", "protocol": "dlt645_2007", "comm_address": "000000900001", "multiplier": 1}),
        )
        .await;
        let (status, body) = api
            .call(
                "PUT",
                &format!(
                    "/api/v1/meters/{}/assignment",
                    meter["id"].as_str().unwrap()
                ),
                Some(json!({"unit_id": unit["id"], "account_id": account["id"]})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        Fleet {
            org,
            site: site["id"].as_str().unwrap().to_owned(),
            account: account["id"].as_str().unwrap().to_owned(),
            meter: meter["id"].as_str().unwrap().to_owned(),
            customer: customer["id"].as_str().unwrap().to_owned(),
            account_number: "GZ900001".into(),
        }
    }

    /// Prices the fleet's meter with the example residential tariff, so the
    /// engine knows its account (recharges, refunds, payments).
    pub async fn bill(&self, f: &Fleet) {
        let tariff =
            include_str!("../../../../examples/tariffs/guangdong-residential-electricity.toml");
        let r = self
            .raw(
                "POST",
                &format!("/api/v1/organisations/{}/tariffs", f.org),
                &[("Content-Type", "application/toml")],
                Some(tariff.to_owned()),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let (status, out) = self
            .call(
                "PUT",
                &format!("/api/v1/meters/{}/tariff", f.meter),
                Some(json!({ "tariff_code": "guangdong-residential-electricity" })),
            )
            .await;
        assert_eq!(status, 200, "{out}");
    }
}
