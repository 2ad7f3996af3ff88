//! Deny by default (issue 11, point 6). Every route says what it needs where it is defined:
//! [`Routes`] is the only way to add one, and each method of each path takes a [`Need`]. The
//! [`guard`] layer looks the matched route up in the table the builder recorded and refuses a
//! route that is not in it (`route-undeclared`), so a route added behind the builder's back is
//! closed, not open. `web/tests/it/routes.rs` walks the table and proves each need is enforced.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::handler::Handler;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post, put};

use crate::AppState;
use crate::error::ApiError;

/// What a route needs from the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Anyone, signed in or not: health, the login and registration calls.
    Public,
    /// A page for people: the handler reads the browser session itself and sends a stranger to
    /// the login page (a redirect, not a JSON 401).
    Page,
    /// Any signed-in account that has finished its pending steps. The handler decides the rest
    /// (its own record, its own tasks, a right it checks with the record in hand).
    SignedIn,
    /// Signed in and holding at least one of these permissions.
    AnyOf(&'static [&'static str]),
    /// A console screen: a browser session holding at least one of these permissions (none
    /// listed: any signed-in person). A stranger is sent to the login page, a missing
    /// permission gets the 403 page, and every form post must carry the session's CSRF token
    /// (`identity::require_screen`).
    Screen(&'static [&'static str]),
}

/// One declared route: what [`guard`] enforces and what the router walk checks.
#[derive(Debug, Clone)]
pub struct Declared {
    pub method: Method,
    /// The path template as axum matches it (`/engine-rest/task/{id}`).
    pub path: String,
    pub need: Need,
}

/// A router whose every route carries its [`Need`].
#[derive(Default)]
pub struct Routes {
    router: Router<AppState>,
    declared: Vec<Declared>,
}

impl Routes {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get<H: Handler<T, AppState>, T: 'static>(self, path: &str, need: Need, handler: H) -> Self {
        self.add(Method::GET, path, need, get(handler))
    }

    pub fn post<H: Handler<T, AppState>, T: 'static>(self, path: &str, need: Need, handler: H) -> Self {
        self.add(Method::POST, path, need, post(handler))
    }

    pub fn put<H: Handler<T, AppState>, T: 'static>(self, path: &str, need: Need, handler: H) -> Self {
        self.add(Method::PUT, path, need, put(handler))
    }

    pub fn delete<H: Handler<T, AppState>, T: 'static>(self, path: &str, need: Need, handler: H) -> Self {
        self.add(Method::DELETE, path, need, delete(handler))
    }

    fn add(mut self, method: Method, path: &str, need: Need, route: MethodRouter<AppState>) -> Self {
        self.declared.push(Declared { method, path: path.to_string(), need });
        self.router = self.router.route(path, route);
        self
    }

    pub fn merge(mut self, other: Routes) -> Self {
        self.declared.extend(other.declared);
        self.router = self.router.merge(other.router);
        self
    }

    /// Mounts `other` under `prefix` (axum's `nest`; the matched path keeps the prefix).
    pub fn nest(mut self, prefix: &str, other: Routes) -> Self {
        self.declared.extend(other.declared.into_iter().map(|mut declared| {
            declared.path = format!("{prefix}{}", declared.path);
            declared
        }));
        self.router = self.router.nest(prefix, other.router);
        self
    }

    /// Applies layers to the routes added so far (`route_layer`, body limits …).
    pub fn with_router(mut self, change: impl FnOnce(Router<AppState>) -> Router<AppState>) -> Self {
        self.router = change(self.router);
        self
    }

    pub fn declared(&self) -> &[Declared] {
        &self.declared
    }

    pub fn into_parts(self) -> (Router<AppState>, Table) {
        let mut needs: HashMap<String, HashMap<Method, Need>> = HashMap::new();
        for declared in self.declared {
            needs.entry(declared.path).or_default().insert(declared.method, declared.need);
        }
        (self.router, Table(Arc::new(needs)))
    }
}

/// The needs by path template, then method. Cheap to clone.
#[derive(Clone, Default)]
pub struct Table(Arc<HashMap<String, HashMap<Method, Need>>>);

impl Table {
    /// `None`: the path is not declared; `Some(None)`: the path is, this method is not. `HEAD`
    /// is answered by the `GET` route.
    fn lookup(&self, method: &Method, path: &str) -> Option<Option<Need>> {
        let method = if method == Method::HEAD { &Method::GET } else { method };
        self.0.get(path).map(|methods| methods.get(method).copied())
    }
}

/// The layer over every route: looks up the matched route's need and enforces it; a route
/// without a declaration is refused. Requests that match no route (the 404 fallback) pass.
pub async fn guard(State((state, table)): State<(AppState, Table)>, request: Request, next: Next) -> Response {
    let Some(found) =
        request.extensions().get::<MatchedPath>().map(|path| table.lookup(request.method(), path.as_str()))
    else {
        return next.run(request).await;
    };
    let path = request.uri().path();
    match found {
        Some(Some(Need::Public | Need::Page)) => next.run(request).await,
        Some(Some(Need::SignedIn)) => crate::identity::require_user(&state, None, request, next).await,
        Some(Some(Need::AnyOf(permissions))) => {
            crate::identity::require_user(&state, Some(permissions), request, next).await
        }
        Some(Some(Need::Screen(permissions))) => {
            crate::identity::require_screen(&state, permissions, request, next).await
        }
        // A method the path does not declare: answered here, so a handler added for it behind
        // the builder's back never runs.
        Some(None) if path.starts_with("/engine-rest/") => {
            crate::camunda::not_allowed(request.method(), path).into_response()
        }
        Some(None) => ApiError::coded(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            format!("该地址不支持此请求方法 ({} {path})", request.method()),
        )
        .into_response(),
        None => {
            tracing::error!(method = %request.method(), %path, "a route without a declared need was refused");
            ApiError::coded(
                StatusCode::FORBIDDEN,
                "route-undeclared",
                "该功能未声明访问权限，已拒绝 (route declares no permission)",
            )
            .into_response()
        }
    }
}

/// The Camunda REST API and the system's incident calls.
pub const ENGINE_USE: Need = Need::AnyOf(&["engine:use"]);
/// Changing deployments; discarding damaged instances.
pub const ENGINE_DEPLOY: Need = Need::AnyOf(&["engine:deploy"]);
