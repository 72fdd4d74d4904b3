#![doc = include_str!("../README.md")]

pub mod access_api;
mod alarms_api;
mod api;
pub mod audit_log;
pub mod auth;
pub mod bulk_api;
pub mod console;
mod device_api;
mod engine_api;
mod error;
// device lifecycle (issue 8)
mod lifecycle_api;
mod metrics_layer;
pub mod password;
mod payments_api;
pub mod policy;
mod portal_api;
mod refunds_api;
mod routes;
mod webhooks_api;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;
use yufu_store::Store;

pub use auth::{Caller, Security, SecurityConfig};
pub use console::dashboard::ConsoleState;
pub use error::WebError;
pub use portal_api::SIMULATOR_PROVIDER;

/// Where the OpenAPI document is served.
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";
/// Where the offline API docs page is served.
pub const DOCS_PATH: &str = "/api/docs";
/// The largest request body a route reads unless it sets its own limit:
/// `POST /api/v1/readings` and `POST /api/v1/reconciliation/{provider}`
/// take [`MAX_BATCH_BODY_BYTES`], `POST /api/v1/import/{kind}`
/// [`bulk_api::MAX_UPLOAD_BYTES`], `POST /api/v1/deliveries/{id}/serials`
/// (16 MiB, `lifecycle_api::MAX_SERIALS_BODY_BYTES`). A larger body is answered 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The body limit of the routes that take batches (readings, a provider's
/// settlement file).
pub const MAX_BATCH_BODY_BYTES: usize = 16 * 1024 * 1024;

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
    /// The web console's own state (the dashboard's cached figures).
    pub console: console::dashboard::ConsoleState,
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
        (name = "portal", description = "The customer self-service portal"),
        // device lifecycle (issue 8)
        (name = "lifecycle", description = "Device lifecycle: catalogue, suppliers, purchase contracts, deliveries and acceptance, installation, commissioning, swaps, replacement and retirement")
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
        .merge(alarms_api::routes())
        .merge(access_api::routes())
        .merge(payments_api::routes())
        .merge(portal_api::routes())
        .merge(refunds_api::routes())
        .merge(bulk_api::routes())
        .merge(webhooks_api::routes())
        // device lifecycle (issue 8)
        .merge(lifecycle_api::routes())
        .split_for_parts();
    doc.merge(data_doc);
    document_common_responses(&mut doc);
    (ops.merge(data), doc)
}

/// Routes addressed by the id of an organisation, site, customer, account,
/// meter or staff user: their handlers parse it into the domain's id type
/// and answer 422 (`invalid`) when it is not one (an unknown but well-formed
/// id is 404).
const ENTITY_ID_ROUTES: &[&str] = &[
    "/api/v1/organisations/{id}",
    "/api/v1/sites/{id}",
    "/api/v1/customers/{id}",
    "/api/v1/accounts/{id}",
    "/api/v1/meters/{id}",
    "/api/v1/users/{id}",
    "/api/v1/portal/accounts/{id}",
];

/// Adds to every operation of the document the answers that come from
/// outside its handler, where they can happen: 401 and 403 from the gate on
/// protected routes (per [`policy::RULES`]; a signed-in-only route answers
/// 403 only to a mutation without its CSRF token), 400 when a path or query
/// parameter or the body does not parse (axum's extractors, turned into
/// JSON by [`error::json_errors`]), 422 for a malformed entity id in the
/// path ([`ENTITY_ID_ROUTES`]), and 413 for a body over the limit
/// ([`MAX_BODY_BYTES`] unless the route sets its own). Entries the handler
/// documents itself are kept as they are.
fn document_common_responses(doc: &mut utoipa::openapi::OpenApi) {
    use axum::http::Method;
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let error = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build(),
        )
    };
    for (route, item) in &mut doc.paths.paths {
        let operations = [
            (Method::GET, &mut item.get),
            (Method::PUT, &mut item.put),
            (Method::POST, &mut item.post),
            (Method::DELETE, &mut item.delete),
            (Method::PATCH, &mut item.patch),
        ];
        for (method, operation) in operations {
            let Some(op) = operation else { continue };
            let mut add = |status: &str, description: &str| {
                op.responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| error(description));
            };
            let mutation = method != Method::GET;
            match policy::rule(&method, route) {
                Some(policy::Rule::Public) => {}
                Some(policy::Rule::Authenticated) => {
                    add("401", "Not signed in, or the credentials do not work");
                    if mutation {
                        add(
                            "403",
                            "A request with the session cookie lacks its X-CSRF-Token",
                        );
                    }
                }
                Some(policy::Rule::Perm(_)) | None => {
                    add("401", "Not signed in, or the credentials do not work");
                    add(
                        "403",
                        "Not allowed: the caller's role or site scope, or a missing X-CSRF-Token",
                    );
                }
            }
            if ENTITY_ID_ROUTES.iter().any(|p| route.starts_with(p)) {
                add("422", "The id in the path is not a well-formed id (a UUID)");
            }
            if op.request_body.is_some() {
                add(
                    "400",
                    "Malformed request: the body or a parameter does not parse",
                );
                add("413", "The body is larger than this route accepts");
            } else if op.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
                add("400", "Malformed request: a parameter does not parse");
            }
        }
    }
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
        .merge(console::routes(state.clone()))
        .with_state(state)
        .merge(
            SwaggerUi::new(DOCS_PATH)
                .url(OPENAPI_PATH, doc)
                // Swagger UI would otherwise fetch a validity badge from a
                // public validator: the docs must work with no network.
                .config(utoipa_swagger_ui::Config::default().validator_url("none")),
        )
        .fallback(|| async { WebError::NotFound })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(error::json_errors))
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
