#![doc = include_str!("../README.md")]

pub mod access_api;
mod api;
pub mod audit_log;
pub mod auth;
pub mod bulk_api;
mod device_api;
mod engine_api;
mod error;
mod landing;
mod metrics_layer;
pub mod password;
mod payments_api;
pub mod policy;
mod routes;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;
use yufu_store::Store;

pub use auth::{Caller, Security, SecurityConfig};
pub use error::WebError;

/// Where the OpenAPI document is served.
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";
/// Where the offline API docs page is served.
pub const DOCS_PATH: &str = "/api/docs";

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// The prepaid engine's writer (readings, recharges, balances).
    pub writer: yufu_writer::Writer,
    /// Meter connectivity (presence, live links); `None` when the server
    /// runs without device transports (tests of the HTTP API alone).
    pub gateway: Option<yufu_gateway::Gateway>,
    pub version: &'static str,
    /// Sessions, tokens, throttling, the audit log writer, payment providers.
    pub security: Security,
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Yufu API",
        description = "Yufu (预付): prepaid electricity, water and gas meters and their whole device life. \
                       Money is in integer fen (0.01 yuan); instants are UTC (RFC 3339).",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    tags(
        (name = "ops", description = "Health, readiness and metrics for operators and orchestrators"),
        (name = "meta", description = "About this server"),
        (name = "access", description = "Sign-in, staff users, API tokens, sessions and the audit log"),
        (name = "data", description = "Organisations, sites, buildings, units, customers, accounts and meters"),
        (name = "engine", description = "The prepaid engine: readings, recharges, balances, ledgers, meter commands"),
        (name = "payments", description = "Online payment callbacks, reconciliation, receipts, refunds and finance exports"),
        (name = "portal", description = "The customer self-service portal")
    )
)]
struct ApiDoc;

/// The API routes with their OpenAPI description, split apart. Every route
/// passes the gate ([`auth::gate`]) once a state is attached (see [`router`]).
fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (ops, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(utoipa_axum::routes!(routes::healthz))
        .routes(utoipa_axum::routes!(routes::readyz))
        .routes(utoipa_axum::routes!(routes::metrics))
        .routes(utoipa_axum::routes!(routes::version))
        .split_for_parts();
    let (data, data_doc) = api::routes()
        .merge(engine_api::routes())
        .merge(device_api::routes())
        .merge(access_api::routes())
        .merge(payments_api::routes())
        .merge(bulk_api::routes())
        .split_for_parts();
    doc.merge(data_doc);
    (ops.merge(data), doc)
}

/// The OpenAPI document, as served at [`OPENAPI_PATH`].
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().1
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    metrics_layer::install();
    let (api, doc) = api();
    let gate = axum::middleware::from_fn_with_state(state.clone(), auth::gate);
    api.route_layer(gate)
        .route("/", axum::routing::get(landing::page))
        .with_state(state)
        .merge(
            SwaggerUi::new(DOCS_PATH)
                .url(OPENAPI_PATH, doc)
                // Swagger UI would otherwise fetch a validity badge from a
                // public validator: the docs must work with no network.
                .config(utoipa_swagger_ui::Config::default().validator_url("none")),
        )
        .fallback(|| async { WebError::NotFound })
        .layer(axum::middleware::from_fn(metrics_layer::track))
}

/// Serves until `shutdown` completes, then finishes the requests in flight.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The peer address lets the data API refuse clients from the network.
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
