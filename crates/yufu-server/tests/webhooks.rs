//! The webhook subscription API: secrets shown once and stored sealed,
//! validation, history, stopping. (Delivery itself is tested end to end in
//! yufu-webhooks.)
#![allow(clippy::unwrap_used)]

mod common;

use common::TestServer;
use serde_json::json;
use yufu_store_contract::TestDb;

async fn check(db: TestDb) {
    let api = TestServer::start(db).await;
    let (status, bad) = api
        .call(
            "POST",
            "/api/v1/webhooks",
            Some(json!({"url": "ftp://example.invalid/x", "events": ["recharge"]})),
        )
        .await;
    assert_eq!(status, 422, "{bad}");
    let (status, bad) = api
        .call(
            "POST",
            "/api/v1/webhooks",
            Some(json!({"url": "https://billing.example.invalid/hook", "events": ["nonsense"]})),
        )
        .await;
    assert_eq!(status, 422, "{bad}");
    let (status, created) = api
        .call(
            "POST",
            "/api/v1/webhooks",
            Some(json!({"url": "https://billing.example.invalid/hook", "events": ["recharge", "cut_off"]})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 64);
    let id = created["id"].as_str().unwrap().to_owned();
    // Listed without the secret; stored sealed, never in the clear.
    let (_, list) = api.call("GET", "/api/v1/webhooks", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(&secret));
    let stored = api.db.shared().access().get_webhook(&id).await.unwrap();
    assert!(stored.secret.starts_with("yv1:"), "{}", stored.secret);
    assert!(!stored.secret.contains(&secret));
    // The audit log has the creation, without the secret.
    let (_, audit) = api.call("GET", "/api/v1/audit?target=webhook:", None).await;
    assert_eq!(audit.as_array().unwrap().len(), 1, "{audit}");
    assert!(!audit.to_string().contains(&secret));
    let (status, deliveries) = api
        .call("GET", &format!("/api/v1/webhooks/{id}/deliveries"), None)
        .await;
    assert_eq!(status, 200);
    assert!(deliveries.as_array().unwrap().is_empty());
    assert_eq!(
        api.call("DELETE", &format!("/api/v1/webhooks/{id}"), None)
            .await
            .0,
        204
    );
    assert_eq!(
        api.call("DELETE", &format!("/api/v1/webhooks/{id}"), None)
            .await
            .0,
        404
    );
    let (_, list) = api.call("GET", "/api/v1/webhooks", None).await;
    assert_eq!(list[0]["active"], false);
    api.stop().await;
}

#[tokio::test]
async fn webhooks_are_registered_with_a_sealed_secret_sqlite() {
    check(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn webhooks_are_registered_with_a_sealed_secret_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    check(db).await;
}
