//! The `shuangyong` binary's library: configuration, CLI, the axum application (the
//! Camunda-compatible `/engine-rest`, the system's own `/api`, health) and authentication.
//!
//! Architecture invariant: this is the only crate that knows HTTP, JSON wire shapes, sessions
//! and templates. It holds no state a second node would need.
//!
//! What it must never do: write SQL (every statement is in `store/`), decide an approval rule
//! (`approval/`) or what a command does (`runtime/`), or add a route without declaring what it
//! needs (`routes::Routes`). Its errors are the one [`error::ApiError`].

mod approval;
pub mod assets;
pub mod auth;
mod camunda;
pub mod cli;
mod console;
pub mod demo;
pub mod error;
mod files;
mod forms;
pub use forms::import::recover as recover_imports;
pub mod identity;
pub mod ports;
pub mod routes;
pub mod templates;

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json, Router};
use runtime::Executor;
use store::Store;

use crate::auth::CredentialCache;
use crate::error::{ApiError, ApiResult};
use crate::routes::{ENGINE_DEPLOY, ENGINE_USE, Need, Routes};

/// Shared by every request handler. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub executor: Arc<Executor>,
    credentials: Arc<CredentialCache>,
    pub security: Arc<identity::Security>,
    pub sms: Arc<dyn identity::sms::SmsGateway>,
    /// The form definitions of this node (issue 13), checked when it started.
    pub forms: Arc<::forms::Catalog>,
}

impl AppState {
    /// Default security settings with a random audit key (tests, tools).
    pub fn new(executor: Arc<Executor>) -> Self {
        Self::with_security(executor, identity::Security::with_random_key())
    }

    pub fn with_security(executor: Arc<Executor>, security: identity::Security) -> Self {
        let sms = Arc::new(identity::sms::OutboxGateway(executor.store().clone()));
        let forms = shipped_forms();
        executor.add_model_check("forms", Arc::new(::forms::task::FormKeyCheck(forms.clone())));
        AppState {
            executor,
            credentials: Arc::new(CredentialCache::default()),
            security: Arc::new(security),
            sms,
            forms,
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        self.executor.store()
    }
}

/// The form definitions shipped in the binary, read once. `serve` and `check` refuse to go on
/// when they are broken ([`check_forms`]); anywhere else a broken catalog is logged and
/// served as empty rather than taking the node down.
pub fn shipped_forms() -> Arc<::forms::Catalog> {
    static SHIPPED: std::sync::OnceLock<Arc<::forms::Catalog>> = std::sync::OnceLock::new();
    SHIPPED
        .get_or_init(|| match ::forms::Catalog::embedded() {
            Ok(catalog) => Arc::new(catalog),
            Err(error) => {
                tracing::error!(%error, "the shipped form definitions are broken");
                Arc::new(::forms::Catalog::empty())
            }
        })
        .clone()
}

/// Checks the shipped form definitions: every problem, with its file and field.
pub fn check_forms() -> Result<(), ::forms::Error> {
    ::forms::Catalog::embedded().map(|_| ())
}

/// The domain handlers of `services`, over this node's store and crypto provider.
pub fn domain_workers(state: &AppState) -> Arc<runtime::workers::DomainWorkers> {
    Arc::new(runtime::workers::DomainWorkers::new(services::domain_handlers(), ports::node_ports(state)))
}

/// The authenticated user of a request (set by the auth middleware).
#[derive(Debug, Clone)]
pub struct CurrentUser(pub String);

/// Every route of the application with its declared need ([`routes::Need`]).
pub fn routes() -> Routes {
    Routes::new()
        .get("/healthz", Need::Public, healthz)
        .merge(identity::api::public_router())
        .merge(identity::pages::router())
        .merge(identity::phone::router())
        .merge(console::router())
        .merge(
            forms::page_router().with_router(|router| router.layer(axum::extract::DefaultBodyLimit::max(256 * 1024))),
        )
        .merge(assets::router())
        .nest("/engine-rest", camunda::router())
        .nest("/api", api_router().merge(identity::api::router()))
}

/// The whole HTTP application. Tests call this without a socket or on port 0.
pub fn app(state: AppState) -> Router {
    assemble(state, routes(), Router::new())
}

/// [`app`] with extra routes added behind the builder's back: only for the test that proves
/// such a route is refused.
#[doc(hidden)]
pub fn app_with_undeclared(state: AppState, extra: Router<AppState>) -> Router {
    assemble(state, routes(), extra)
}

fn assemble(state: AppState, routes: Routes, extra: Router<AppState>) -> Router {
    let (router, table) = routes.into_parts();
    router
        .merge(extra)
        .layer(middleware::from_fn_with_state((state.clone(), table), routes::guard))
        .fallback(not_found)
        .layer(middleware::from_fn(identity::require_json_bodies))
        .layer(middleware::from_fn(identity::basic_challenge))
        .layer(middleware::from_fn(error::catch_panic))
        .layer(middleware::from_fn(error::render_errors))
        .layer(axum::extract::DefaultBodyLimit::max(10 * 1024 * 1024))
        .layer(middleware::from_fn_with_state(state.clone(), identity::security_headers))
        .layer(middleware::from_fn_with_state(state.clone(), identity::source_address))
        .with_state(state)
}

/// Unknown paths: a JSON error under `/api`, the uniform error page elsewhere.
async fn not_found(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/api/") {
        ApiError::NotFound("资源不存在 (no such resource)".into()).into_response()
    } else {
        identity::pages::error_page(StatusCode::NOT_FOUND)
    }
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

/// The system's own JSON API: incidents, and the inbox and approval operations (`approval.rs`).
fn api_router() -> Routes {
    Routes::new()
        .post("/incidents/{id}/retry", ENGINE_USE, retry_incident)
        .get("/damaged-instances", ENGINE_DEPLOY, damaged_instances)
        .delete("/damaged-instances/{id}", ENGINE_DEPLOY, discard_damaged_instance)
        .merge(approval::router())
        .merge(files::router())
        .merge(forms::api_router())
        .merge(console::editor::api_router())
        .merge(console::messages_api_router())
}

/// `GET /api/damaged-instances` (process administrators): running instances whose stored
/// document cannot be read. Lists leave them out, so one never breaks a list or a start.
async fn damaged_instances(State(state): State<AppState>) -> ApiResult<Json<serde_json::Value>> {
    let damaged = state.store().damaged_instances().await?;
    let items: Vec<_> =
        damaged.iter().map(|(id, problem)| serde_json::json!({ "id": id, "problem": problem })).collect();
    Ok(Json(serde_json::Value::Array(items)))
}

/// `DELETE /api/damaged-instances/{id}`: ends a damaged instance without reading it (its tasks
/// and jobs go; the document stays for investigation). Audited.
async fn discard_damaged_instance(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    identity::ClientIp(ip): identity::ClientIp,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let result = state.store().discard_damaged_instance(&id, runtime::executor::now_millis()).await;
    let outcome = if result.is_ok() { "success" } else { "failure" };
    identity::audit(&state, identity::entry(Some(&user.0), &ip, "instance.discard-damaged", Some(&id), outcome))
        .await?;
    result?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/incidents/{id}/retry`: run the failed step again (after fixing its cause).
async fn retry_incident(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    // Only incidents inside the caller's data scope can be retried.
    let query = store::IncidentQuery { id: Some(id.clone()), ..store::IncidentQuery::new(identity::change_scope()) };
    if state.store().incidents(&query).await?.0.is_empty() {
        return Err(ApiError::NotFound(format!("incident {id} does not exist")));
    }
    state.executor.retry_incident(&id, Some(&user.0)).await?;
    Ok(StatusCode::NO_CONTENT)
}
