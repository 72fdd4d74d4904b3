//! The server on a real socket (port 0) over a real SQLite store.
#![allow(clippy::unwrap_used)]

mod common;

use common::TestServer;
use yufu_store_contract::TestDb;

async fn start(db: TestDb) -> TestServer {
    TestServer::start(db).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_metrics_and_docs() {
    let app = start(TestDb::sqlite().await).await;

    let r = app.get("/healthz", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, r#"{"status":"ok"}"#);

    let r = app.get("/readyz", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, r#"{"status":"ready","store":"sqlite"}"#);

    let r = app.get("/api/v1/version", &[]).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains(r#""version":"test""#), "{}", r.body);

    let r = app.get("/metrics", &[]).await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    for needle in [
        "yufu_build_info{",
        "yufu_store_up 1",
        "yufu_fleet_meters{utility=\"gas\",status=\"in_service\"} 0",
        "yufu_fleet_entities{kind=\"sites\"} 0",
        // The requests above were counted by route pattern.
        "yufu_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"}",
        "yufu_http_request_duration_seconds_bucket{",
    ] {
        assert!(r.body.contains(needle), "missing {needle} in:\n{}", r.body);
    }
    for line in r
        .body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        assert!(line.starts_with("yufu_"), "unprefixed metric: {line}");
    }

    let r = app.get("/api/v1/openapi.json", &[]).await;
    assert_eq!(r.status, 200);
    let doc: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/v1/version",
        "/api/v1/sites/{id}",
        "/api/v1/meters/{id}",
        "/api/v1/customers/{id}",
        "/api/v1/accounts/{id}",
        "/api/v1/organisations/{id}/meters",
    ] {
        assert!(
            doc["paths"][path]["get"].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }

    // The docs page and its assets come from this server, not from a CDN.
    let r = app.get("/api/docs/", &[]).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("swagger"), "{}", r.body);
    assert!(
        !r.body.contains("https://"),
        "the docs page must not load anything remote"
    );
    for asset in [
        "/api/docs/swagger-ui.css",
        "/api/docs/swagger-ui-bundle.js",
        "/api/docs/swagger-initializer.js",
    ] {
        let a = app.get(asset, &[]).await;
        assert_eq!(a.status, 200, "{asset}");
        assert!(!a.body.is_empty());
    }
    let init = app.get("/api/docs/swagger-initializer.js", &[]).await;
    assert!(init.body.contains("/api/v1/openapi.json"), "{}", init.body);
    assert!(
        init.body.contains(r#""validatorUrl": "none""#)
            || init.body.contains(r#""validatorUrl":"none""#),
        "{}",
        init.body
    );

    let r = app.get("/no/such/page", &[]).await;
    assert_eq!(r.status, 404);
    assert!(r.body.contains(r#""code":"not_found""#), "{}", r.body);

    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_sends_strangers_to_sign_in_in_their_language() {
    let app = start(TestDb::sqlite().await).await;
    // No credentials at all (`get` would send the admin token).
    let home = app
        .raw_exact(
            "GET",
            "/",
            vec![("Accept-Language".into(), "zh-CN".into())],
            None,
        )
        .await;
    assert_eq!(home.status, 303, "{}", home.body);
    let zh = app
        .get("/login", &[("Accept-Language", "zh-CN,zh;q=0.9")])
        .await;
    assert_eq!(zh.status, 200);
    assert!(
        zh.body.contains("lang=\"zh-CN\"") && zh.body.contains("员工登录"),
        "{}",
        zh.body
    );
    let en = app
        .get("/login?lang=en", &[("Accept-Language", "zh-CN")])
        .await;
    assert!(
        en.body.contains("lang=\"en\"") && en.body.contains("Staff sign-in"),
        "{}",
        en.body
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_fails_when_the_store_is_gone() {
    let db = TestDb::sqlite().await;
    let store = db.shared();
    let app = start(db).await;
    store.close().await;
    let r = app.get("/readyz", &[]).await;
    assert_eq!(r.status, 503);
    assert!(r.body.contains("unavailable"), "{}", r.body);
    let r = app.get("/healthz", &[]).await;
    assert_eq!(r.status, 200, "liveness does not depend on the store");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_is_json_and_bodies_are_bounded() {
    let app = start(TestDb::sqlite().await).await;
    let json_error = |r: &yufu_test_utils::HttpResponse, status: u16, code: &str| {
        assert_eq!(r.status, status, "{}", r.body);
        assert_eq!(
            r.header("content-type"),
            Some("application/json"),
            "{}",
            r.body
        );
        let e: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(e["code"], code, "{e}");
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
    };

    // axum's own rejections, once text/plain.
    let r = app.get("/api/v1/organisations?limit=lots", &[]).await;
    json_error(&r, 400, "bad_request");
    let r = app.raw("PATCH", "/api/v1/organisations", &[], None).await;
    json_error(&r, 405, "method_not_allowed");
    assert_eq!(r.header("allow"), Some("GET,HEAD,POST"));
    // HEAD is answered by the GET handler, under the GET rule.
    let r = app.raw("HEAD", "/api/v1/version", &[], None).await;
    assert_eq!(r.status, 200);
    let r = app
        .raw(
            "HEAD",
            "/api/v1/organisations",
            &[("Authorization", "Bearer nope")],
            None,
        )
        .await;
    assert_eq!(r.status, 401);

    // 1 MiB by default, as JSON (the route's own extractor) or as text.
    let big = format!(
        r#"{{"name":"{}"}}"#,
        "x".repeat(yufu_server::MAX_BODY_BYTES)
    );
    let r = app
        .raw("POST", "/api/v1/organisations", &[], Some(big))
        .await;
    json_error(&r, 413, "payload_too_large");
    let toml = "#".repeat(yufu_server::MAX_BODY_BYTES + 1);
    let r = app
        .raw(
            "POST",
            &format!("/api/v1/organisations/{}/tariffs", app.org),
            &[("Content-Type", "application/toml")],
            Some(toml),
        )
        .await;
    json_error(&r, 413, "payload_too_large");
    // Readings take batches up to 16 MiB: 1.5 MiB is read (and refused for
    // its count, not its size).
    let item = r#"{"meter_id":"x","at":"2026-01-01T00:00:00Z","register":1}"#;
    let n = 3 * yufu_server::MAX_BODY_BYTES / 2 / item.len();
    let readings = format!(r#"{{"readings":[{}]}}"#, vec![item; n].join(","));
    let r = app
        .raw("POST", "/api/v1/readings", &[], Some(readings))
        .await;
    json_error(&r, 422, "invalid");

    // The document lists what the gate and the extractors answer.
    let doc: serde_json::Value =
        serde_json::from_str(&app.get("/api/v1/openapi.json", &[]).await.body).unwrap();
    let codes = |path: &str, method: &str| -> Vec<String> {
        doc["paths"][path][method]["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path}"))
            .keys()
            .cloned()
            .collect()
    };
    for (path, method, want, not) in [
        (
            "/api/v1/organisations",
            "post",
            &["400", "401", "403", "413"][..],
            &[][..],
        ),
        (
            "/api/v1/meters/{id}",
            "get",
            &["401", "403", "422"],
            &["413"],
        ),
        ("/api/v1/auth/me", "get", &["401"], &["403"]),
        ("/api/v1/auth/logout", "post", &["401", "403"], &[]),
        ("/healthz", "get", &[], &["401", "403"]),
        (
            "/api/v1/auth/login",
            "post",
            &["400", "413", "429"],
            &["403"],
        ),
    ] {
        let have = codes(path, method);
        for c in want {
            assert!(
                have.iter().any(|h| h == c),
                "{method} {path} lacks {c}: {have:?}"
            );
        }
        for c in not {
            assert!(
                !have.iter().any(|h| h == c),
                "{method} {path} lists {c}: {have:?}"
            );
        }
    }
    app.stop().await;
}
