//! Process endpoints and `/api/v1/version`.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use yufu_domain::{MeterStatus, Utility};

use crate::{AppState, WebError, metrics_layer};

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` when the process is up.
    status: &'static str,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Ready {
    /// `ready`, or `unavailable` when the store cannot be reached.
    status: &'static str,
    /// The store backend: `sqlite` or `postgres`.
    store: &'static str,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Version {
    name: &'static str,
    version: &'static str,
    store: &'static str,
}

/// Liveness: the process is up and serving HTTP. Touches nothing else.
#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, description = "The process is up", body = Health)))]
pub(crate) async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: the store answers a query. Load balancers should send traffic
/// only while this is 200.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses(
        (status = 200, description = "Ready to serve", body = Ready),
        (status = 503, description = "The store is unreachable", body = Ready)
    ))]
pub(crate) async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let store = state.store.backend().as_str();
    match state.store.ping().await {
        Ok(()) => {
            metrics::gauge!("yufu_store_up").set(1);
            (
                StatusCode::OK,
                Json(Ready {
                    status: "ready",
                    store,
                }),
            )
        }
        Err(e) => {
            metrics::gauge!("yufu_store_up").set(0);
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Ready {
                    status: "unavailable",
                    store,
                }),
            )
        }
    }
}

/// Prometheus metrics in the text exposition format. Fleet gauges are read
/// from the store at scrape time.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub(crate) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.fleet_counts().await {
        Ok(counts) => {
            metrics::gauge!("yufu_store_up").set(1);
            for (name, n) in [
                ("organisations", counts.organisations),
                ("sites", counts.sites),
                ("buildings", counts.buildings),
                ("units", counts.units),
                ("customers", counts.customers),
                ("accounts", counts.accounts),
            ] {
                metrics::gauge!("yufu_fleet_entities", "kind" => name).set(gauge_value(n));
            }
            // Every (utility, status) pair is set, zero included, so a series
            // that drops to nothing reads 0 rather than its last value.
            for utility in Utility::ALL {
                for status in MeterStatus::ALL {
                    let n = counts
                        .meters
                        .iter()
                        .find(|(u, s, _)| u == utility && s == status)
                        .map_or(0, |(_, _, n)| *n);
                    metrics::gauge!("yufu_fleet_meters", "utility" => utility.as_str(), "status" => status.as_str())
                        .set(gauge_value(n));
                }
            }
        }
        Err(e) => {
            metrics::gauge!("yufu_store_up").set(0);
            tracing::warn!(error = %e, "fleet counts unavailable for /metrics");
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics_layer::render(),
    )
}

/// Gauges are f64 in the metrics facade; counts far below 2^53 convert exactly.
fn gauge_value(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

/// The server's name, version and store backend.
#[utoipa::path(get, path = "/api/v1/version", tag = "meta",
    responses((status = 200, description = "Version information", body = Version)))]
pub(crate) async fn version(State(state): State<AppState>) -> Result<Json<Version>, WebError> {
    Ok(Json(Version {
        name: "yufu",
        version: state.version,
        store: state.store.backend().as_str(),
    }))
}
