use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use yufu_store::StoreError;

/// The one error type of every handler. Client errors say what is wrong;
/// server errors are logged once here and answered without their details.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("not found")]
    NotFound,
    /// The request is malformed (unparsable JSON, a bad query string).
    #[error("{0}")]
    BadRequest(String),
    /// A value breaks a domain rule.
    #[error("{0}")]
    Invalid(String),
    /// No credentials, or credentials that do not work (401).
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    /// Too many requests; try again after this many seconds (429).
    #[error("too many requests; try again in {0} s")]
    TooManyRequests(i64),
    /// The account is locked after failed sign-ins (423), for this many seconds.
    #[error("{0}")]
    Locked(String, i64),
    /// The request conflicts with an earlier one (e.g. a reused idempotency key).
    #[error("{0}")]
    Conflict(String),
    /// The body is larger than the route accepts (413).
    #[error("{0}")]
    TooLarge(String),
    /// A part of the server is not running; try again.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A stable machine-readable code, e.g. `not_found`.
    pub code: &'static str,
    /// A sentence for a person.
    pub message: String,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, code, message) = match &self {
            WebError::NotFound => (StatusCode::NOT_FOUND, "not_found", self.to_string()),
            WebError::BadRequest(m) => (StatusCode::BAD_REQUEST, "bad_request", m.clone()),
            WebError::Invalid(m) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid", m.clone()),
            WebError::Forbidden(m) => (StatusCode::FORBIDDEN, "forbidden", m.clone()),
            WebError::Unauthenticated(m) => {
                (StatusCode::UNAUTHORIZED, "unauthenticated", m.clone())
            }
            WebError::TooManyRequests(secs) => {
                let mut r = (
                    StatusCode::TOO_MANY_REQUESTS,
                    Json(ErrorBody {
                        code: "too_many_requests",
                        message: self.to_string(),
                    }),
                )
                    .into_response();
                if let Ok(v) = axum::http::HeaderValue::from_str(&secs.to_string()) {
                    r.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
                }
                return r;
            }
            WebError::Locked(m, secs) => {
                let mut r = (
                    StatusCode::LOCKED,
                    Json(ErrorBody {
                        code: "locked",
                        message: m.clone(),
                    }),
                )
                    .into_response();
                if let Ok(v) = axum::http::HeaderValue::from_str(&secs.to_string()) {
                    r.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
                }
                return r;
            }
            WebError::Conflict(m) => (StatusCode::CONFLICT, "conflict", m.clone()),
            WebError::TooLarge(m) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                m.clone(),
            ),
            WebError::Unavailable(m) => {
                tracing::error!(error = %m, "service unavailable");
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable", m.clone())
            }
            WebError::Store(StoreError::NotFound { .. }) => {
                (StatusCode::NOT_FOUND, "not_found", self.to_string())
            }
            WebError::Store(StoreError::Conflict(m)) => {
                (StatusCode::CONFLICT, "conflict", m.clone())
            }
            WebError::Store(StoreError::Reference(m)) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_reference",
                m.clone(),
            ),
            WebError::Store(StoreError::Unavailable(_)) => {
                tracing::error!(error = %self, "store unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database is unavailable; try again shortly".to_owned(),
                )
            }
            WebError::Store(_) => {
                tracing::error!(error = %self, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; it has been logged".to_owned(),
                )
            }
        };
        (status, Json(ErrorBody { code, message })).into_response()
    }
}

impl From<yufu_domain::DomainError> for WebError {
    fn from(e: yufu_domain::DomainError) -> Self {
        WebError::Invalid(e.to_string())
    }
}

/// Makes every error answer JSON. Handlers answer [`WebError`] already, but
/// axum's own rejections come as text/plain: a path or query string that
/// does not parse (400), a method the route does not have (405), a body over
/// the limit (413), a body that is not UTF-8 where text is expected (400).
/// Any answer of status 400 or more that is not JSON becomes an
/// [`ErrorBody`] with a stable code; status and headers (`Allow`,
/// `Retry-After`, `WWW-Authenticate`) stay as they were.
pub(crate) async fn json_errors(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use axum::http::header;
    let response = next.run(req).await;
    let status = response.status();
    if status.as_u16() < 400 {
        return response;
    }
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let v = v.trim_start().to_ascii_lowercase();
            v.starts_with("application/json") || v.starts_with("application/problem+json")
        });
    // The console's own error pages (HTML in the caller's language) are
    // meant for people: leave them as they are.
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/html"));
    if json || html {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // axum's rejection texts are one short sentence; anything longer (or a
    // body that fails) is replaced by the status's own words.
    let text = axum::body::to_bytes(body, 4 * 1024)
        .await
        .ok()
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .filter(|t| !t.is_empty());
    let code = match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthenticated",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::NOT_ACCEPTABLE => "not_acceptable",
        StatusCode::CONFLICT => "conflict",
        StatusCode::LENGTH_REQUIRED => "length_required",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::URI_TOO_LONG => "uri_too_long",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid",
        StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "client_error",
    };
    let plain = status.canonical_reason().unwrap_or("error").to_owned();
    let message = match text {
        // A server error's details stay in the log.
        Some(t) if !status.is_server_error() => t,
        _ => plain,
    };
    if status.is_server_error() {
        tracing::error!(%status, "a non-JSON server error was answered as JSON");
    }
    let bytes = serde_json::to_vec(&ErrorBody { code, message }).unwrap_or_default();
    parts.headers.insert(
        header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(bytes))
}
