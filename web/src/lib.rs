//! The `shuangyong` binary's library: configuration, CLI, the axum application (the
//! Camunda-compatible `/engine-rest`, the system's own `/api`, health) and authentication.
//!
//! Architecture invariant: this is the only crate that knows HTTP, JSON wire shapes, sessions
//! and templates. It holds no state a second node would need.

pub mod auth;
mod camunda;
pub mod cli;
pub mod demo;
pub mod error;

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use store::{Executor, Store};

use crate::auth::CredentialCache;
use crate::error::{ApiError, ApiResult};

/// Shared by every request handler. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub executor: Arc<Executor>,
    credentials: Arc<CredentialCache>,
}

impl AppState {
    pub fn new(executor: Arc<Executor>) -> Self {
        AppState { executor, credentials: Arc::new(CredentialCache::default()) }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        self.executor.store()
    }
}

/// The authenticated user of a request (set by the auth middleware).
#[derive(Debug, Clone)]
pub struct CurrentUser(pub String);

/// The whole HTTP application. Tests call this without a socket or on port 0.
pub fn app(state: AppState) -> Router {
    let authenticated = Router::new()
        .nest("/engine-rest", camunda::router())
        .nest("/api", api_router())
        .layer(middleware::from_fn_with_state(state.clone(), require_user));
    Router::new()
        .route("/healthz", get(healthz))
        .merge(authenticated)
        .layer(axum::extract::DefaultBodyLimit::max(10 * 1024 * 1024))
        .with_state(state)
}

async fn healthz(State(state): State<AppState>) -> Response {
    match state.store().ping().await {
        Ok(()) => (StatusCode::OK, Json(serde_json::json!({ "status": "UP", "database": state.store().backend() })))
            .into_response(),
        Err(error) => {
            tracing::warn!(%error, "health check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({ "status": "DOWN" }))).into_response()
        }
    }
}

/// HTTP Basic authentication against the user table.
async fn require_user(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let header = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    match authenticate(&state, header).await {
        Ok(user) => {
            request.extensions_mut().insert(CurrentUser(user));
            next.run(request).await
        }
        Err(error) => error.into_response(),
    }
}

async fn authenticate(state: &AppState, header: Option<String>) -> ApiResult<String> {
    let unauthorized = || ApiError::Unauthorized("请先登录：需要 HTTP Basic 认证 (authentication required)".into());
    let (username, password) = header.as_deref().and_then(auth::parse_basic).ok_or_else(unauthorized)?;
    if let Some(user) = state.credentials.get(&username, &password) {
        return Ok(user);
    }
    let user = state.store().user(&username).await?.ok_or_else(unauthorized)?;
    let candidate = password.clone();
    let valid = tokio::task::spawn_blocking(move || auth::verify_password(&candidate, &user.password_hash))
        .await
        .map_err(|error| ApiError::Internal(error.to_string()))?;
    if !valid {
        return Err(unauthorized());
    }
    state.credentials.put(&username, &password);
    Ok(username)
}

/// The system's own JSON API. The inbox and approval operations arrive with later issues.
fn api_router() -> Router<AppState> {
    Router::new().route("/incidents/{id}/retry", post(retry_incident))
}

/// `POST /api/incidents/{id}/retry`: run the failed step again (after fixing its cause).
async fn retry_incident(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.executor.retry_incident(&id, Some(&user.0)).await?;
    Ok(StatusCode::NO_CONTENT)
}
