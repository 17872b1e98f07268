//! The API's error type and JSON extractor: client mistakes become 4xx JSON errors, never 500.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use certnet_protocol::record::RecordError;
use tracing::{error, warn};

use super::wire::{ErrorBody, ErrorResponse};
use crate::node::NodeStopped;
use crate::services::{CheckpointFailure, PublishError};
use crate::store::StoreError;

/// An error answer: HTTP status, stable code and a message saying what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400: the request is wrong in a way the message explains.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401: the token is missing or wrong.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403: the credentials sent do not allow this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 503: the node is too busy right now; the client should retry.
    pub fn busy(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", message)
    }

    /// 404: no such route or resource.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 405: the route exists but not for this method.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            message,
        )
    }

    /// 422: the request is well-formed but asks for something invalid; the message says what.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// 500: the node failed in a way no request can fix (logged).
    pub fn internal(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, code, message)
    }

    /// 507 for a write refused because the disk is (nearly) full: nothing was written.
    pub fn insufficient_storage(err: &StoreError) -> Self {
        Self::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "disk_full",
            format!("not stored: {err}"),
        )
    }

    /// 503 for a store that failed a write: the write was not done, and later writes are refused until
    /// the node restarts. The failure was counted and logged where it happened.
    pub fn store_write(err: &StoreError) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            format!("the node could not store this: {err}"),
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable error code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The message saying what to fix.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            warn!(status = self.status.as_u16(), code = self.code, message = %self.message, "API error");
        }
        let body = ErrorResponse {
            error: ErrorBody {
                code: self.code.to_owned(),
                message: self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if self.code == "busy" {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

impl From<NodeStopped> for ApiError {
    fn from(err: NodeStopped) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "node_stopping",
            err.to_string(),
        )
    }
}

impl From<StoreError> for ApiError {
    /// A failed store read (writes use [`ApiError::store_write`]).
    fn from(err: StoreError) -> Self {
        error!(error = %err, "store read failed");
        match err {
            StoreError::DiskLow { .. } | StoreError::DiskFull { .. } => {
                Self::insufficient_storage(&err)
            }
            StoreError::Poisoned => Self::store_write(&err),
            StoreError::Corrupt(_) => Self::internal("store_corrupt", err.to_string()),
            StoreError::Sled { .. } => Self::internal("store_error", err.to_string()),
        }
    }
}

impl From<CheckpointFailure> for ApiError {
    fn from(err: CheckpointFailure) -> Self {
        match err {
            // Counted and logged by the services when it was a write.
            CheckpointFailure::Store(e @ (StoreError::Sled { .. } | StoreError::Poisoned)) => {
                Self::store_write(&e)
            }
            CheckpointFailure::Store(
                e @ (StoreError::DiskFull { .. } | StoreError::DiskLow { .. }),
            ) => Self::insufficient_storage(&e),
            CheckpointFailure::Store(e) => e.into(),
            CheckpointFailure::Checkpoint(e) => {
                error!(error = %e, "checkpoint failed");
                Self::internal("checkpoint_failed", format!("checkpoint: {e}"))
            }
        }
    }
}

impl From<PublishError> for ApiError {
    fn from(err: PublishError) -> Self {
        match err {
            PublishError::ClockWrong { .. } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "clock_wrong",
                err.to_string(),
            ),
            PublishError::Behind { .. } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "own_feed_behind",
                err.to_string(),
            ),
            PublishError::Invalid(RecordError::TlpRed) => {
                Self::unprocessable("tlp_red", RecordError::TlpRed.to_string())
            }
            PublishError::Invalid(e) => Self::unprocessable("invalid_record", e.to_string()),
            PublishError::UnknownTarget { .. } => {
                Self::unprocessable("unknown_target", err.to_string())
            }
            PublishError::NoEffect { .. } => {
                Self::new(StatusCode::CONFLICT, "no_effect", err.to_string())
            }
            PublishError::Audience(_) => Self::unprocessable("bad_audience", err.to_string()),
            PublishError::Duplicate { .. } => {
                Self::new(StatusCode::CONFLICT, "duplicate", err.to_string())
            }
            PublishError::SealedUpdateOfClear => {
                Self::unprocessable("bad_audience", err.to_string())
            }
            PublishError::Seal(_) => {
                error!(error = %err, "sealing failed");
                Self::internal("seal_failed", err.to_string())
            }
            PublishError::Store(e @ (StoreError::DiskFull { .. } | StoreError::DiskLow { .. })) => {
                Self::insufficient_storage(&e)
            }
            PublishError::Store(e) => Self::store_write(&e),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::bad_request(
            "bad_query",
            format!(
                "{} (see the route's documented parameters)",
                rejection.body_text()
            ),
        )
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::bad_request("bad_path", rejection.body_text())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let message = rejection.body_text();
        match rejection {
            JsonRejection::JsonSyntaxError(_) => Self::bad_request("bad_json", message),
            JsonRejection::JsonDataError(_) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", message)
            }
            JsonRejection::MissingJsonContentType(_) => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with `Content-Type: application/json`",
            ),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!(
                    "request body is larger than {} bytes",
                    super::MAX_BODY_BYTES
                ),
            ),
            other if other.status().is_client_error() => {
                Self::new(other.status(), "bad_request", message)
            }
            other => Self::new(other.status(), "body_unreadable", message),
        }
    }
}

/// Like `axum::Json` as an extractor, but every rejection is an [`ApiError`] JSON answer.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        // A body that trickles in is cut off: the connection is not held past the limit.
        let read = Json::<T>::from_request(request, state);
        match tokio::time::timeout(super::limits::BODY_TIMEOUT, read).await {
            Ok(result) => Ok(Self(result?.0)),
            Err(_) => Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!(
                    "the request body did not arrive within {} s",
                    super::limits::BODY_TIMEOUT.as_secs()
                ),
            )),
        }
    }
}

/// Like `axum::extract::Query`, but a bad query string is an [`ApiError`] JSON answer.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    Query<T>: FromRequestParts<S, Rejection = QueryRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(value) = Query::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// Like `axum::extract::Path`, but a bad path parameter is an [`ApiError`] JSON answer.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    Path<T>: FromRequestParts<S, Rejection = PathRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(value) = Path::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}
