//! The web console (issue 12): the shell every staff screen shares (left navigation by the
//! user's `menu:*` permissions, breadcrumbs, the user menu), the home page, the inbox and the
//! task page. Screens are declared with [`Need::Screen`], so the guard has signed the person in,
//! checked the screen's permission and CSRF, and set the data scope before a handler runs.
//! They read and act through the same functions as `/api` (`crate::approval`), so a page can
//! never show or do more than the API allows.

mod accounts;
mod app;
mod audit;
pub(crate) mod editor;
mod inbox;
pub(crate) use inbox::shanghai;
mod instance;
mod mobile;
pub(crate) mod problems;
mod processes;
mod start;
mod task;
mod venues;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::identity::{Auth, Via};
use crate::routes::{Need, Routes};
use crate::templates::{Context, page};

/// Staff screens: whoever may use the engine (every staff role).
pub(crate) const STAFF: Need = Need::Screen(&["menu:tasks"]);

pub fn router() -> Routes {
    Routes::new()
        .get("/", Need::Screen(&[]), inbox::home)
        .get("/inbox", STAFF, inbox::inbox)
        .post("/inbox/batch-approve", STAFF, inbox::batch)
        .get("/tasks/{id}", STAFF, task::show)
        .get("/tasks/{id}/people", STAFF, task::people)
        .post("/tasks/{id}/{operation}", STAFF, task::operate)
        .get("/processes/start", STAFF, start::list)
        .get("/processes/start/{key}", STAFF, start::form)
        .post("/processes/start/{key}", STAFF, start::start)
        .get("/instances/{id}", STAFF, instance::show)
        .get("/instances/{id}/print", STAFF, instance::print)
        .post("/instances/{id}/withdraw", STAFF, instance::withdraw)
        .get("/admin/venues/schedule", Need::Screen(&["menu:forms"]), venues::schedule)
        .post("/admin/venues/bookings/{id}/cancel", Need::Screen(&["forms:write"]), venues::cancel)
        .get("/m", Need::Screen(&[]), app::home)
        .get("/m/messages", Need::Screen(&[]), app::messages)
        .get("/m/messages/{id}", Need::Screen(&[]), app::open)
        .post("/m/messages/read", Need::Screen(&[]), app::read_all)
        .get("/m/instances/{id}", STAFF, instance::phone)
        .get("/m/todo", STAFF, mobile::todo)
        .get("/m/tasks/{id}", STAFF, mobile::task)
        .get("/admin/users", Need::Screen(&["menu:users"]), accounts::users)
        .post("/admin/users", Need::Screen(&["user:manage"]), accounts::create)
        .post("/admin/users/{id}/roles", Need::Screen(&["role:assign"]), accounts::roles)
        .post("/admin/users/{id}/{action}", Need::Screen(&["user:manage", "user:unlock"]), accounts::act)
        .get("/admin/units", Need::Screen(&["menu:users"]), accounts::units)
        .get("/admin/system", Need::Screen(&["menu:system"]), accounts::system)
        .post("/admin/units", Need::Screen(&["system:config"]), accounts::create_unit)
        .get("/admin/security", Need::Screen(&["menu:security"]), accounts::security)
        .get("/admin/audit", Need::Screen(&["audit:read"]), audit::log)
        .get("/admin/processes", Need::Screen(&["menu:engine"]), processes::list)
        .get("/admin/processes/{key}", Need::Screen(&["menu:engine"]), processes::versions)
        .get("/admin/processes/new", Need::Screen(&["engine:deploy"]), editor::new_model)
        .get("/admin/processes/{key}/editor", Need::Screen(&["engine:deploy"]), editor::edit)
        .get("/admin/instances", Need::Screen(&["menu:engine"]), processes::instances)
        .get("/admin/instances/{id}", Need::Screen(&["menu:engine"]), processes::instance)
        .post("/admin/instances/{id}/cancel", Need::Screen(&["engine:deploy"]), processes::cancel)
        .post("/admin/instances/{id}/incidents/{incident}/retry", Need::Screen(&["engine:deploy"]), processes::retry)
        .with_router(|router| router.layer(axum::extract::DefaultBodyLimit::max(64 * 1024)))
        // A model upload: larger than a form, still bounded.
        .merge(
            Routes::new()
                .post("/admin/processes/deploy", Need::Screen(&["engine:deploy"]), processes::deploy)
                .with_router(|router| {
                    router.layer(axum::extract::DefaultBodyLimit::max(crate::identity::MAX_SCREEN_UPLOAD))
                }),
        )
}

/// The message centre's API (`/api/messages…`): every signed-in account, its own messages.
pub fn messages_api_router() -> Routes {
    Routes::new()
        .get("/messages", Need::SignedIn, app::api_list)
        .post("/messages/read", Need::SignedIn, app::api_read_all)
        .post("/messages/{id}/read", Need::SignedIn, app::api_read)
}

/// A form or query field as an optional value: empty or blank is none.
fn filled(text: &str) -> Option<String> {
    Some(text.trim().to_string()).filter(|text| !text.is_empty())
}

/// 303 to `to` (a path the handler built; its parts are already encoded).
pub(crate) fn see_other(to: &str) -> ApiResult<Response> {
    let location =
        axum::http::HeaderValue::from_str(to).map_err(|_| ApiError::Internal("unprintable redirect".into()))?;
    Ok((StatusCode::SEE_OTHER, [(axum::http::header::LOCATION, location)]).into_response())
}

/// The offset of page `page` (from 1) of `size` rows; a page too far to count is refused.
pub(crate) fn first_result(page: i64, size: i64) -> ApiResult<i64> {
    (page.max(1) - 1).checked_mul(size).ok_or_else(|| ApiError::invalid("页码无效 (bad page)"))
}

/// How many pages of `size` rows `total` rows fill (at least one, for the pager).
pub(crate) fn pages(total: i64, size: i64) -> i64 {
    ((total + size - 1) / size).max(1)
}

/// The filled fields as a query string, kept on a list's tab, sort and page links.
fn kept(fields: &[(&str, &String)]) -> String {
    let mut kept = form_urlencoded::Serializer::new(String::new());
    for (name, value) in fields {
        if !value.trim().is_empty() {
            kept.append_pair(name, value);
        }
    }
    kept.finish()
}

/// Which sections of the navigation the user sees (their `menu:*` permissions).
#[derive(Serialize)]
struct Menu {
    tasks: bool,
    engine: bool,
    users: bool,
    security: bool,
    audit: bool,
    reports: bool,
    system: bool,
    forms: bool,
}

/// What the shell shows around every screen.
#[derive(Serialize)]
struct Shell {
    user: String,
    unit: String,
    csrf: String,
    menu: Menu,
    /// The forms the user may read, by navigation group: (group, [(form key, name)]).
    forms: Vec<(String, Vec<(String, String)>)>,
    /// The navigation entry to mark (`home`, `inbox`, `form:<key>` …).
    active: String,
}

/// A screen inside the shell: `context` plus the shell's own values under `shell`.
pub(crate) async fn screen(
    state: &AppState,
    auth: &Auth,
    active: &str,
    template: &str,
    mut context: Context,
) -> ApiResult<Response> {
    let account = &auth.principal.account;
    let unit = match &account.unit_id {
        Some(unit) => state.store().org_unit(unit).await?.map(|unit| unit.name).unwrap_or_default(),
        None => String::new(),
    };
    let can = |permission: &str| auth.principal.can(permission);
    let shell = Shell {
        user: account.display_name.clone().unwrap_or_else(|| account.id.clone()),
        unit,
        csrf: match &auth.via {
            Via::Session(session) => session.csrf_token.clone(),
            _ => String::new(),
        },
        menu: Menu {
            tasks: can("menu:tasks"),
            engine: can("menu:engine"),
            users: can("menu:users"),
            security: can("menu:security"),
            audit: can("menu:audit"),
            reports: can("menu:reports"),
            system: can("menu:system"),
            forms: can("menu:forms"),
        },
        forms: if can("menu:forms") { crate::forms::groups(&state.forms, auth) } else { Vec::new() },
        active: active.to_string(),
    };
    context.insert("shell", &shell);
    Ok(page(StatusCode::OK, template, &context))
}
