//! Deny by default (issue 11, point 6): every route declares its need where it is defined
//! (`web::routes`). These tests walk the declared table over real HTTP and prove each need is
//! enforced, and that a route added without a declaration is refused.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use reqwest::Method;
use serde_json::Value;
use web::routes::Need;

use crate::identity::{PASSWORD, add_account};
use crate::support::{each_backend, spawn_node_app, test_security};

/// The guard's refusal for a missing permission (the handler's own refusals say otherwise).
const NEEDS_PERMISSION: &str = "needs permission";
/// The refusal of a request without credentials.
const UNAUTHENTICATED: &str = "unauthenticated";

/// A concrete path for a template: each `{param}` becomes `walk-param`.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|segment| match segment.strip_prefix('{').and_then(|rest| rest.strip_suffix('}')) {
            Some(name) => format!("walk-{}", name.trim_start_matches('*')),
            None => segment.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The seeded roles and their permissions (`definitions/org/roles.json`).
fn roles() -> Vec<(String, Vec<String>)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../definitions/org/roles.json");
    let text = std::fs::read_to_string(path).expect("roles.json reads");
    let roles: Vec<Value> = serde_json::from_str(&text).expect("roles.json parses");
    roles
        .iter()
        .map(|role| {
            let id = role["id"].as_str().expect("role id").to_string();
            let permissions = role["permissions"]
                .as_array()
                .expect("permissions")
                .iter()
                .filter_map(|permission| permission.as_str().map(str::to_string))
                .collect();
            (id, permissions)
        })
        .collect()
}

struct Outcome {
    status: u16,
    error: String,
    message: String,
}

async fn call(client: &reqwest::Client, base: &str, method: &Method, path: &str, user: Option<&str>) -> Outcome {
    let mut request = client.request(method.clone(), format!("{base}{path}"));
    if method != Method::GET && method != Method::DELETE {
        request = request.header("content-type", "application/json").body("{}");
    }
    if let Some(user) = user {
        request = request.basic_auth(user, Some(PASSWORD));
    }
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    Outcome {
        status,
        error: body["error"].as_str().unwrap_or_default().to_string(),
        message: body["message"].as_str().unwrap_or_default().to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_declared_route_enforces_its_need() {
    let declared = web::routes().declared().to_vec();
    assert!(declared.len() > 100, "the walk sees the whole application ({} routes)", declared.len());
    let roles = roles();
    each_backend(|app| {
        let declared = declared.clone();
        let roles = roles.clone();
        async move {
            let client =
                reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
            // A signed-in account without any role holds no permission.
            add_account(&app, "walk-none", "310101", &[], "staff").await;
            // For each permission a route names, an account of the first role that holds it.
            let mut holder: BTreeMap<&str, String> = BTreeMap::new();
            for route in &declared {
                let Need::AnyOf(any_of) = route.need else { continue };
                for permission in any_of {
                    if holder.contains_key(permission) {
                        continue;
                    }
                    let (role, _) = roles
                        .iter()
                        .find(|(_, permissions)| permissions.iter().any(|held| held == permission))
                        .unwrap_or_else(|| {
                            panic!("no seeded role holds {permission} ({} {})", route.method, route.path)
                        });
                    let user = format!("walk-{role}");
                    if !holder.values().any(|known| known == &user) {
                        add_account(&app, &user, "310000", &[role.as_str()], "staff").await;
                    }
                    holder.insert(permission, user);
                }
            }
            for route in &declared {
                let path = concrete(&route.path);
                let what = format!("{} {} ({:?})", route.method, route.path, route.need);
                let anonymous = call(&client, &app.base, &route.method, &path, None).await;
                let plain = call(&client, &app.base, &route.method, &path, Some("walk-none")).await;
                match route.need {
                    Need::Public | Need::Page => {
                        assert_ne!(anonymous.error, UNAUTHENTICATED, "{what}: open to anyone");
                    }
                    // A screen sends whoever has no browser session to the login page
                    // (tests/it/console.rs checks the permissions with a session).
                    Need::Screen(_) => {
                        assert_eq!(anonymous.status, 303, "{what}: a stranger goes to the login page");
                        assert_eq!(plain.status, 303, "{what}: HTTP Basic is no browser session");
                    }
                    Need::SignedIn => {
                        assert_eq!((anonymous.status, anonymous.error.as_str()), (401, UNAUTHENTICATED), "{what}");
                        assert!(!plain.message.contains(NEEDS_PERMISSION), "{what}: any account passes the route");
                    }
                    Need::AnyOf(any_of) => {
                        assert_eq!((anonymous.status, anonymous.error.as_str()), (401, UNAUTHENTICATED), "{what}");
                        assert_eq!(plain.status, 403, "{what}: refused without the permission");
                        assert!(plain.message.contains(NEEDS_PERMISSION), "{what}: {}", plain.message);
                        for permission in any_of {
                            let user = &holder[permission];
                            let allowed = call(&client, &app.base, &route.method, &path, Some(user)).await;
                            assert!(
                                !allowed.message.contains(NEEDS_PERMISSION),
                                "{what}: {user} holds {permission} and passes the route ({})",
                                allowed.message
                            );
                        }
                    }
                }
            }
        }
    })
    .await;
}

static SNEAKY_CALLS: AtomicUsize = AtomicUsize::new(0);

async fn sneaky() -> &'static str {
    SNEAKY_CALLS.fetch_add(1, Ordering::SeqCst);
    "ran"
}

/// A route added behind the builder's back, or a method added to a declared path, never runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_route_without_a_declaration_is_refused() {
    for backend in store::testing::backends() {
        let url = store::testing::fresh_database_url(&backend).await;
        let app = spawn_node_app(&backend, &url, test_security(), |state| {
            let extra = axum::Router::new()
                .route("/api/sneaky", axum::routing::get(sneaky))
                .route("/healthz", axum::routing::post(sneaky))
                .route("/engine-rest/task", axum::routing::delete(sneaky));
            web::app_with_undeclared(state, extra)
        })
        .await;
        add_account(&app, "walk-admin", "310000", &["sysadmin"], "staff").await;
        let client = reqwest::Client::new();
        for user in [None, Some("walk-admin")] {
            let refused = call(&client, &app.base, &Method::GET, "/api/sneaky", user).await;
            assert_eq!((refused.status, refused.error.as_str()), (403, "route-undeclared"), "{user:?}");
            let other_method = call(&client, &app.base, &Method::POST, "/healthz", user).await;
            assert_eq!((other_method.status, other_method.error.as_str()), (405, "method-not-allowed"));
            let camunda = client
                .delete(format!("{}/engine-rest/task", app.base))
                .basic_auth("walk-admin", Some(PASSWORD))
                .send()
                .await
                .expect("sent");
            assert_eq!(camunda.status(), 405);
            let body: Value = camunda.json().await.expect("json");
            assert_eq!(body["type"], "NotAllowedException", "Camunda's body on /engine-rest");
        }
        assert_eq!(SNEAKY_CALLS.load(Ordering::SeqCst), 0, "no undeclared handler ran");
        let health = client.get(format!("{}/healthz", app.base)).send().await.expect("sent");
        assert_eq!(health.status(), 200, "the declared method of the same path still works");
    }
}
