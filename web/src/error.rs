//! The one HTTP error type of `web/`, with its two renderers: Camunda's `{type, message, code}`
//! under `/engine-rest` and `{code, message}` (a stable string code) everywhere else under
//! `/api`. A handler returns [`ApiError`] whichever API it serves; [`render_errors`] picks the
//! shape (and, under `/engine-rest`, Camunda's status) by the request's path. 5xx details go to
//! the log, never to the client.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, Clone, thiserror::Error)]
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
    /// Refused with a stable machine-readable code and a Chinese message: for a security reason
    /// (no permission, locked or frozen account, CSRF, rate limit) or because the request cannot
    /// be done (`invalid-input`, `invalid-state` …).
    #[error("{message}")]
    Coded { status: StatusCode, code: &'static str, message: String },
    /// 422 `validation-failed`: a form submission, with every failing field, its code and
    /// its message (`errors` in the body).
    #[error("{}", .0.iter().map(|error| format!("{}: {}", error.field, error.message)).collect::<Vec<_>>().join("; "))]
    Validation(Vec<forms::FieldError>),
    #[error("internal error")]
    Internal(String),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// Camunda's exception type name for the body, and its numeric error code (Camunda 7.20+:
    /// 0 = generic, 1 = optimistic locking).
    fn camunda_type(&self) -> (&'static str, i64) {
        match self {
            ApiError::BadRequest(_) | ApiError::Unprocessable(_) | ApiError::Validation(_) => {
                ("InvalidRequestException", 0)
            }
            ApiError::Unauthorized(_) => ("AuthenticationException", 0),
            ApiError::NotFound(_) => ("InvalidRequestException", 0),
            ApiError::Conflict(_) => ("OptimisticLockingException", 1),
            ApiError::NoMatch(_) => ("MismatchingMessageCorrelationException", 0),
            ApiError::Coded { status, .. } => match status.as_u16() {
                401 | 403 | 423 | 429 => ("AuthorizationException", 0),
                409 => ("OptimisticLockingException", 1),
                500.. => ("ProcessEngineException", 0),
                _ => ("InvalidRequestException", 0),
            },
            ApiError::Internal(_) => ("ProcessEngineException", 0),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::NoMatch(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unprocessable(_) | ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Coded { status, .. } => *status,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The status under `/engine-rest`: Camunda answers a request it cannot carry out with 400
    /// (`InvalidRequestException`), where `/api` says 422 with `invalid-input` or
    /// `invalid-state`. Security refusals keep their status.
    fn camunda_status(&self) -> StatusCode {
        match self {
            ApiError::Coded { status, code: "invalid-input" | "invalid-state", .. }
                if *status == StatusCode::UNPROCESSABLE_ENTITY =>
            {
                StatusCode::BAD_REQUEST
            }
            other => other.status(),
        }
    }

    /// The stable code under `/api`.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            ApiError::Coded { code, .. } => code,
            ApiError::Validation(_) => "validation-failed",
            other => code_for(other.status()),
        }
    }

    /// The message a client sees (never an internal detail).
    pub(crate) fn public_message(&self) -> String {
        match self.internal_detail() {
            Some(_) => "内部错误，请稍后重试 (internal error; see the server log)".to_string(),
            None => self.to_string(),
        }
    }

    /// What only the log may see.
    fn internal_detail(&self) -> Option<&str> {
        match self {
            ApiError::Coded { status, message, .. } if status.is_server_error() => Some(message),
            ApiError::Internal(detail) => Some(detail),
            _ => None,
        }
    }

    /// Whether this is a 404 (for helpers that treat "not there" as an answer).
    pub fn is_not_found(&self) -> bool {
        self.status() == StatusCode::NOT_FOUND
    }
}

/// Renders Camunda's shape (the default: `/engine-rest` clients parse it) and attaches the error,
/// so [`render_errors`] can give it the shape of the API the request was for.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(detail) = self.internal_detail() {
            tracing::error!(%detail, "internal error");
        }
        let mut response = (self.status(), Json(self.camunda_body())).into_response();
        response.extensions_mut().insert(RenderedError(self));
        response
    }
}

impl ApiError {
    fn camunda_body(&self) -> serde_json::Value {
        let (kind, code) = self.camunda_type();
        let message = self.public_message();
        match self {
            ApiError::Coded { code: error, .. } => {
                json!({ "type": kind, "message": message, "code": code, "error": error })
            }
            ApiError::Unauthorized(_) => {
                json!({ "type": kind, "message": message, "code": code, "error": "unauthenticated" })
            }
            _ => json!({ "type": kind, "message": message, "code": code }),
        }
    }

    fn api_body(&self) -> serde_json::Value {
        let code = self.code();
        if let ApiError::Validation(errors) = self {
            return json!({ "code": code, "message": "提交的内容有误，请按提示修改", "error": code, "errors": errors });
        }
        // `error` repeats the code for clients of the earlier identity shape.
        json!({ "code": code, "message": self.public_message(), "error": code })
    }
}

/// The error a response was made from, for [`render_errors`].
#[derive(Clone)]
struct RenderedError(ApiError);

impl ApiError {
    /// An error with a stable code (`/api`) and a Chinese message.
    pub fn coded(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Coded { status, code, message: message.into() }
    }

    /// 403 for a user who lacks a permission.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::coded(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::NotFound(message.into())
    }

    /// 422 `invalid-input`: the request names something it cannot (under `/engine-rest`, 400).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::coded(StatusCode::UNPROCESSABLE_ENTITY, "invalid-input", message)
    }
}

impl From<store::Error> for ApiError {
    fn from(error: store::Error) -> Self {
        match error {
            store::Error::Conflict(message) => ApiError::Conflict(message),
            store::Error::NotFound(message) => ApiError::NotFound(message),
            store::Error::Duplicate(field) => ApiError::Validation(vec![forms::FieldError {
                field,
                code: "duplicate".into(),
                message: "该值已被其他记录使用，不能重复".into(),
            }]),
            store::Error::Invalid(message) => ApiError::Unprocessable(message),
            store::Error::Model(parse) => {
                ApiError::BadRequest(format!("ENGINE-09005 Could not parse BPMN process. {parse}"))
            }
            store::Error::Command(engine::Error::NotFound(message)) => ApiError::NotFound(message),
            store::Error::Command(engine::Error::InvalidCommand(message)) => ApiError::Unprocessable(message),
            store::Error::UnsupportedUrl(url) => ApiError::Internal(format!("unsupported database URL {url}")),
            store::Error::NoMatch(message) => ApiError::NoMatch(message),
            store::Error::Forbidden(message) => ApiError::forbidden(message),
            other @ (store::Error::Database(_) | store::Error::Corrupt(_) | store::Error::JobFailed(_)) => {
                ApiError::Internal(other.to_string())
            }
        }
    }
}

impl From<::identity::Error> for ApiError {
    fn from(error: ::identity::Error) -> Self {
        use ::identity::{Error as E, Refusal};
        match error {
            E::Refused { kind: Refusal::WrongCredentials, message, .. } => ApiError::Unauthorized(message),
            E::Refused { kind: Refusal::NotFound, message, .. } => ApiError::NotFound(message),
            E::Refused { kind, code, message } => {
                let status = match kind {
                    Refusal::Invalid => StatusCode::BAD_REQUEST,
                    Refusal::Forbidden => StatusCode::FORBIDDEN,
                    Refusal::Conflict => StatusCode::CONFLICT,
                    Refusal::Rule => StatusCode::UNPROCESSABLE_ENTITY,
                    Refusal::Limited => StatusCode::TOO_MANY_REQUESTS,
                    Refusal::Unauthenticated | Refusal::WrongCredentials => StatusCode::UNAUTHORIZED,
                    Refusal::NotFound => StatusCode::NOT_FOUND,
                };
                ApiError::coded(status, code, message)
            }
            E::Store(error) => error.into(),
            other @ (E::Audit(_) | E::Crypto(_) | E::Definition(_)) => ApiError::Internal(other.to_string()),
        }
    }
}

/// The stable code of an `/api` error status, for errors that carry none of their own.
fn code_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "invalid-input",
        401 => "unauthenticated",
        403 => "forbidden",
        404 => "not-found",
        405 => "method-not-allowed",
        409 => "conflict",
        413 => "too-large",
        415 => "json-required",
        422 => "invalid-state",
        429 => "rate-limited",
        _ => "internal",
    }
}

/// A handler that panics (a bug) answers 500 in its API's error shape instead of dropping the
/// connection; the panic itself is logged with the request's path.
pub async fn catch_panic(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use futures_util::FutureExt as _;
    let path = request.uri().path().to_string();
    match std::panic::AssertUnwindSafe(next.run(request)).catch_unwind().await {
        Ok(response) => response,
        Err(_) => {
            tracing::error!(%path, "a request handler panicked");
            ApiError::Internal(format!("the handler of {path} failed")).into_response()
        }
    }
}

/// The second renderer: every error under `/api` gets `{code, message}` with a stable string code,
/// whichever layer produced it (a handler's [`ApiError`], authentication, a 404, and axum's own
/// plain-text rejections: a body too large, a field of the wrong type, a wrong method); under
/// `/engine-rest` an [`ApiError`] keeps Camunda's body with Camunda's status, and a plain-text
/// rejection gets Camunda's `{type, message, code}`.
pub async fn render_errors(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let path = request.uri().path();
    let is_api = path.starts_with("/api/") || path == "/api";
    let is_rest = path.starts_with("/engine-rest/") || path == "/engine-rest";
    let wants_page = request
        .headers()
        .get(axum::http::header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.contains("text/html"));
    let mut response = next.run(request).await;
    if let Some(RenderedError(error)) = response.extensions_mut().remove::<RenderedError>() {
        if is_rest {
            let status = error.camunda_status();
            if status != response.status() {
                *response.status_mut() = status;
            }
            return response;
        }
        if is_api {
            let (parts, _) = response.into_parts();
            return with_headers((parts.status, Json(error.api_body())).into_response(), &parts.headers);
        }
        if !wants_page {
            return response;
        }
        // A page for a browser (a console screen): the Chinese error page, with the refusal's
        // own sentence for a 4xx (they are written for people) and nothing of a 5xx's cause.
        let status = response.status();
        let message = if status.is_client_error() { error.to_string() } else { String::new() };
        return with_headers(crate::identity::pages::error_page_with(status, &message), response.headers());
    }
    let json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !(is_api || is_rest) || response.status().as_u16() < 400 || (is_rest && json) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
    if json {
        // A JSON error made without `ApiError`: keep a string code, else derive one.
        let parsed: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        if parsed.get("code").is_some_and(serde_json::Value::is_string) {
            return Response::from_parts(parts, axum::body::Body::from(bytes));
        }
        let code = parsed.get("error").and_then(|value| value.as_str()).unwrap_or(code_for(parts.status)).to_string();
        let message = parsed.get("message").cloned().unwrap_or_else(|| json!(""));
        let body = json!({ "code": code, "message": message, "error": code });
        return with_headers((parts.status, Json(body)).into_response(), &parts.headers);
    }
    // axum's rejections are plain text; their text is the message.
    let message = String::from_utf8_lossy(&bytes).trim().to_string();
    let message = if message.is_empty() { parts.status.canonical_reason().unwrap_or("").to_string() } else { message };
    let body = if is_rest {
        let kind = if parts.status.is_server_error() { "ProcessEngineException" } else { "InvalidRequestException" };
        json!({ "type": kind, "message": message, "code": 0 })
    } else {
        let code = code_for(parts.status);
        json!({ "code": code, "message": message, "error": code })
    };
    with_headers((parts.status, Json(body)).into_response(), &parts.headers)
}

/// `response` with the headers of the response it replaces (but its own body's length and type).
fn with_headers(mut response: Response, headers: &axum::http::HeaderMap) -> Response {
    for (name, value) in headers.iter() {
        if name != axum::http::header::CONTENT_LENGTH && name != axum::http::header::CONTENT_TYPE {
            response.headers_mut().append(name.clone(), value.clone());
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::routing::get;

    use super::*;

    /// An action whose audit row cannot be written is a 500, never a conflict a client would
    /// retry (the action itself may have happened); wrong credentials are Camunda's
    /// `AuthenticationException`, other 401s keep their code.
    #[test]
    fn identity_errors_keep_their_meaning() {
        let busy = ::identity::Error::Audit(store::Error::Conflict("the database is busy".into()));
        assert_eq!(ApiError::from(busy).status(), StatusCode::INTERNAL_SERVER_ERROR);
        let wrong = ::identity::Error::refused(::identity::Refusal::WrongCredentials, "unauthenticated", "密码错误");
        assert!(matches!(ApiError::from(wrong), ApiError::Unauthorized(_)));
        let expired = ::identity::Error::refused(::identity::Refusal::Unauthenticated, "session-expired", "会话已过期");
        let expired = ApiError::from(expired);
        assert_eq!((expired.status(), expired.code()), (StatusCode::UNAUTHORIZED, "session-expired"));
        let combined = ::identity::Error::refused(::identity::Refusal::Rule, "admin-roles-combined", "三员分立");
        assert_eq!(ApiError::from(combined).camunda_status(), StatusCode::UNPROCESSABLE_ENTITY, "not a 400");
    }

    /// A panicking handler (a bug) answers 500 in its API's shape and the server keeps serving.
    #[tokio::test]
    async fn a_panicking_handler_answers_500_and_the_server_lives_on() {
        async fn boom() -> &'static str {
            panic!("a bug")
        }
        let app = Router::new()
            .route("/api/boom", get(boom))
            .route("/engine-rest/boom", get(boom))
            .route("/api/fine", get(|| async { "fine" }))
            .layer(axum::middleware::from_fn(catch_panic))
            .layer(axum::middleware::from_fn(render_errors));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = reqwest::Client::new();
        let api = client.get(format!("{base}/api/boom")).send().await.expect("an answer, not a dropped connection");
        assert_eq!(api.status(), 500);
        let body: serde_json::Value = api.json().await.expect("JSON");
        assert_eq!(body["code"], "internal");
        let rest = client.get(format!("{base}/engine-rest/boom")).send().await.expect("an answer");
        assert_eq!(rest.status(), 500);
        let body: serde_json::Value = rest.json().await.expect("JSON");
        assert_eq!(body["type"], "ProcessEngineException");
        let fine = client.get(format!("{base}/api/fine")).send().await.expect("still serving");
        assert_eq!(fine.text().await.expect("text"), "fine");
    }
}
