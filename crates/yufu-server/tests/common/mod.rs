//! A server on a real socket (port 0) over a test store, shared by the
//! integration tests of this crate.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;

use serde_json::Value;
use tokio::sync::oneshot;
use yufu_server::AppState;
use yufu_store_contract::TestDb;
use yufu_test_utils::{HttpResponse, http_request};

pub struct TestServer {
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    pub db: TestDb,
    pub meters: yufu_writer::dispatch::SimulatedMeters,
}

impl TestServer {
    pub async fn start(db: TestDb) -> TestServer {
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
        let state = AppState {
            gateway: None,
            store,
            writer,
            version: "test",
        };
        let task = tokio::spawn(yufu_server::serve(listener, state, async {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
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
        headers: &[(&'static str, &'static str)],
        body: Option<String>,
    ) -> HttpResponse {
        let (addr, method, path, headers) = (
            self.addr,
            method.to_owned(),
            path.to_owned(),
            headers.to_vec(),
        );
        tokio::task::spawn_blocking(move || {
            http_request(addr, &method, &path, &headers, body.as_deref()).unwrap()
        })
        .await
        .unwrap()
    }

    pub async fn get(&self, path: &str, headers: &[(&'static str, &'static str)]) -> HttpResponse {
        self.raw("GET", path, headers, None).await
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
