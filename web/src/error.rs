//! The one HTTP error type. Every variant maps to a status and Camunda's error body
//! `{"type", "message", "code"}` in one place; 5xx details go to the log, never to the client.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request itself is wrong (bad JSON, unknown variable type, bad sort key).
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    NotFound(String),
    /// 409: someone else acted first.
    #[error("{0}")]
    Conflict(String),
    /// 422: well-formed, but not possible in the current state (a model that cannot deploy,
    /// completing a task of an ended instance).
    #[error("{0}")]
    Unprocessable(String),
    /// 400: a message that matches no waiting instance or start event (Camunda's
    /// `MismatchingMessageCorrelationException`).
    #[error("{0}")]
    NoMatch(String),
    /// Refused for a security reason (no permission, locked or frozen account, CSRF, rate
    /// limit), with a stable machine-readable code and a Chinese message.
    #[error("{message}")]
    Denied { status: StatusCode, code: &'static str, message: String },
    #[error("internal error")]
    Internal(String),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// Camunda's exception type name for the body, and its numeric error code (Camunda 7.20+:
    /// 0 = generic, 1 = optimistic locking).
    fn camunda_type(&self) -> (&'static str, i64) {
        match self {
            ApiError::BadRequest(_) | ApiError::Unprocessable(_) => ("InvalidRequestException", 0),
            ApiError::Unauthorized(_) => ("AuthenticationException", 0),
            ApiError::NotFound(_) => ("InvalidRequestException", 0),
            ApiError::Conflict(_) => ("OptimisticLockingException", 1),
            ApiError::NoMatch(_) => ("MismatchingMessageCorrelationException", 0),
            ApiError::Denied { .. } => ("AuthorizationException", 0),
            ApiError::Internal(_) => ("ProcessEngineException", 0),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::NoMatch(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Denied { status, .. } => *status,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                "内部错误，请稍后重试 (internal error; see the server log)".to_string()
            }
            other => other.to_string(),
        };
        let (kind, code) = self.camunda_type();
        let body = match &self {
            ApiError::Denied { code: error, .. } => {
                json!({ "type": kind, "message": message, "code": code, "error": error })
            }
            ApiError::Unauthorized(_) => {
                json!({ "type": kind, "message": message, "code": code, "error": "unauthenticated" })
            }
            _ => json!({ "type": kind, "message": message, "code": code }),
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert("www-authenticate", axum::http::HeaderValue::from_static("Basic realm=\"shuangyong\""));
        }
        response
    }
}

impl ApiError {
    pub fn denied(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Denied { status, code, message: message.into() }
    }

    /// 403 for a user who lacks a permission.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::denied(StatusCode::FORBIDDEN, "forbidden", message)
    }
}

impl From<store::Error> for ApiError {
    fn from(error: store::Error) -> Self {
        match error {
            store::Error::Conflict(message) => ApiError::Conflict(message),
            store::Error::NotFound(message) => ApiError::NotFound(message),
            store::Error::Invalid(message) => ApiError::Unprocessable(message),
            store::Error::Model(parse) => {
                ApiError::BadRequest(format!("ENGINE-09005 Could not parse BPMN process. {parse}"))
            }
            store::Error::Command(engine::Error::NotFound(message)) => ApiError::NotFound(message),
            store::Error::Command(engine::Error::InvalidCommand(message)) => ApiError::Unprocessable(message),
            store::Error::UnsupportedUrl(url) => ApiError::Internal(format!("unsupported database URL {url}")),
            store::Error::NoMatch(message) => ApiError::NoMatch(message),
            other @ (store::Error::Database(_) | store::Error::Corrupt(_) | store::Error::JobFailed(_)) => {
                ApiError::Internal(other.to_string())
            }
        }
    }
}
