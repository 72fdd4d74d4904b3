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
