//! `POST /message` (correlate a message) and `POST /signal` (broadcast a signal), as Camunda 7.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Value as Json_, json};
use store::MessageCorrelation;

use super::instance::instance_json;
use super::{body_json, parse_variables, variables_json};
use crate::error::{ApiError, ApiResult};
use crate::routes::{ENGINE_USE, Routes};
use crate::{AppState, CurrentUser};

pub(super) fn router() -> Routes {
    Routes::new().post("/message", ENGINE_USE, correlate).post("/signal", ENGINE_USE, signal)
}

/// Reads a body's string field; `null` and absence are the same.
fn text(body: &serde_json::Map<String, Json_>, name: &str) -> ApiResult<Option<String>> {
    match body.get(name) {
        None | Some(Json_::Null) => Ok(None),
        Some(Json_::String(value)) => Ok(Some(value.clone())),
        Some(other) => Err(ApiError::BadRequest(format!("'{name}' must be a string, not {other}"))),
    }
}

/// Fields Camunda has that cannot change anything here.
const IGNORED: &[&str] = &["tenantId", "withoutTenantId", "localCorrelationKeys", "processVariablesLocal"];

async fn correlate(
    State(state): State<AppState>,
    Extension(actor): Extension<CurrentUser>,
    Extension(auth): Extension<crate::identity::Auth>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let body = body_json(&body)?;
    const KNOWN: &[&str] = &[
        "messageName",
        "businessKey",
        "processInstanceId",
        "correlationKeys",
        "processVariables",
        "all",
        "resultEnabled",
        "variablesInResultEnabled",
    ];
    let unknown = body
        .iter()
        .find(|(key, value)| !KNOWN.contains(&key.as_str()) && !IGNORED.contains(&key.as_str()) && !value.is_null());
    if let Some((unknown, _)) = unknown {
        return Err(ApiError::BadRequest(format!("'{unknown}' is not supported when correlating a message")));
    }
    let name = text(&body, "messageName")?
        .filter(|name| !name.is_empty())
        .ok_or_else(|| ApiError::BadRequest("messageName is required / 需要消息名称".into()))?;
    let flag = |name: &str| body.get(name).and_then(Json_::as_bool).unwrap_or(false);
    let message = MessageCorrelation {
        name,
        business_key: text(&body, "businessKey")?,
        instance_id: text(&body, "processInstanceId")?,
        correlation_keys: parse_variables(body.get("correlationKeys"))?,
        variables: parse_variables(body.get("processVariables"))?,
        all: flag("all"),
        scope: message_scope(&auth),
    };
    let results = state.executor.correlate_message(&message, Some(&actor.0)).await?;
    if !flag("resultEnabled") {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let with_variables = flag("variablesInResultEnabled");
    let results: Vec<Json_> = results
        .iter()
        .map(|result| {
            let mut entry = json!({
                "resultType": if result.started { "ProcessDefinition" } else { "Execution" },
                "processInstance": instance_json(&result.instance),
                "execution": if result.started {
                    Json_::Null
                } else {
                    json!({ "id": result.instance.id, "processInstanceId": result.instance.id, "ended": !result.instance.state.is_active(), "tenantId": null })
                },
            });
            if with_variables && let Some(map) = entry.as_object_mut() {
                map.insert("variables".into(), variables_json(result.instance.state.variables()));
            }
            entry
        })
        .collect();
    Ok(Json(Json_::Array(results)).into_response())
}

async fn signal(
    State(state): State<AppState>,
    Extension(actor): Extension<CurrentUser>,
    Extension(auth): Extension<crate::identity::Auth>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    let body = body_json(&body)?;
    if let Some(execution) = text(&body, "executionId")? {
        return Err(ApiError::BadRequest(format!(
            "delivering a signal to one execution ('{execution}') is not supported: signals are broadcast"
        )));
    }
    let name = text(&body, "name")?
        .filter(|name| !name.is_empty())
        .ok_or_else(|| ApiError::BadRequest("name is required / 需要信号名称".into()))?;
    let variables = parse_variables(body.get("variables"))?;
    state.executor.broadcast_signal(&name, variables, &message_scope(&auth), Some(&actor.0)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Which running instances a message or signal from the caller may reach: those it may change
/// anyway (its scope for changes) for machine accounts and process administrators; for a
/// person, only the instances they started — messages and signals set variables and move
/// instances on, which a colleague who merely sees an instance may not (`docs/security.md`
/// T-RIGHTS). Start events are not instances: they are reached either way.
fn message_scope(auth: &crate::identity::Auth) -> store::DataScope {
    let principal = &auth.principal;
    if principal.account.kind == "machine" || principal.can("engine:deploy") {
        crate::identity::change_scope()
    } else {
        store::DataScope::Started(principal.account.id.clone())
    }
}
