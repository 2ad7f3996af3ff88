//! The administrators' account screens (三员分立, issue 12). `/admin/users` is the system
//! administrator's (`menu:users`): the accounts in its scope with filters, a new account (unit,
//! kind, roles, an initial password the user changes at first login), freeze / unfreeze /
//! cancel and unlock. `/admin/security` is the security administrator's (`menu:security`): the
//! same list with role assignment (never its own; an administrator role asks for the password
//! again) and unlock, and the password and lockout policy in force. Every action goes through
//! the functions `/api/users` uses, so the rules (三员分立, nobody manages an administrator, the
//! scope) are the same, and each is audited there.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use store::identity::AccountQuery;

use super::{filled, screen};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::identity::api::{NewUser, add_user, change_status};
use crate::identity::{Auth, ClientIp, StepUp, audit, entry};
use crate::templates::Context;

/// The list's query string.
#[derive(Debug, Deserialize, Serialize, Default)]
pub(crate) struct AccountFilters {
    #[serde(default)]
    unit: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    text: String,
    /// The sentence after an action (`created`, `frozen` …).
    #[serde(default)]
    notice: String,
}

/// An account as the table shows it.
#[derive(Serialize)]
struct Row {
    id: String,
    name: String,
    unit: String,
    kind: String,
    status: String,
    roles: Vec<String>,
    locked: bool,
    totp: bool,
    /// The signed-in administrator's own account (no action on it).
    own: bool,
    /// Whether the caller may freeze, unfreeze or cancel it (never an administrator's).
    manageable: bool,
}

/// A role for the checkboxes: id and Chinese name.
#[derive(Serialize)]
struct RoleChoice {
    id: String,
    name: String,
    admin: bool,
}

/// The page both administrators see, with `mode` `users` or `security`.
async fn page(state: &AppState, auth: &Auth, mode: &'static str, filters: AccountFilters) -> ApiResult<Response> {
    let query = AccountQuery {
        unit_id: filled(&filters.unit),
        status: filled(&filters.status),
        ..AccountQuery::new(auth.principal.scope.clone())
    };
    let units = state.store().org_units().await?;
    let unit_name = |id: &Option<String>| {
        id.as_deref()
            .map(|id| {
                units.iter().find(|unit| unit.id == id).map(|unit| unit.name.clone()).unwrap_or_else(|| id.into())
            })
            .unwrap_or_default()
    };
    let text = filled(&filters.text);
    let now = runtime::executor::now_millis();
    let rows: Vec<Row> = state
        .store()
        .accounts(&query)
        .await?
        .into_iter()
        .filter(|account| {
            text.as_deref().is_none_or(|text| {
                account.id.contains(text) || account.display_name.as_deref().is_some_and(|name| name.contains(text))
            })
        })
        .map(|account| Row {
            name: account.display_name.clone().unwrap_or_default(),
            unit: unit_name(&account.unit_id),
            locked: account.locked_until.is_some_and(|until| until > now),
            totp: account.totp_secret.is_some(),
            own: account.id == auth.principal.account.id,
            manageable: ::identity::accounts::may_manage(&auth.principal, &account),
            id: account.id,
            kind: account.kind,
            status: account.status,
            roles: account.roles,
        })
        .collect();
    let roles: Vec<RoleChoice> = state
        .store()
        .roles()
        .await?
        .into_iter()
        .map(|role| RoleChoice {
            admin: ::identity::access::ADMIN_ROLES.contains(&role.id.as_str()),
            id: role.id,
            name: role.name,
        })
        .collect();
    let mut units: Vec<_> = units.into_iter().map(|unit| (unit.id, unit.name)).collect();
    units.sort();
    let policy = &state.security;
    let mut context = Context::new();
    context.insert("mode", mode);
    context.insert("filters", &filters);
    context.insert("rows", &rows);
    context.insert("roles", &roles);
    context.insert("units", &units);
    context.insert("may_create", &auth.principal.can("user:manage"));
    context.insert("may_assign", &auth.principal.can("role:assign"));
    context.insert(
        "policy",
        &serde_json::json!({
            "minLength": policy.password.min_length,
            "minClasses": policy.password.min_classes,
            "history": policy.password.history,
            "maxAgeDays": policy.password.max_age_days,
            "maxFailures": policy.max_failures,
            "lockMinutes": policy.lock_minutes,
            "idleMinutes": policy.idle_timeout_minutes,
            "requireTotp": policy.require_totp,
            "auditRetentionDays": policy.audit_retention_days,
        }),
    );
    screen(state, auth, mode, "accounts.html", context).await
}

pub(crate) async fn users(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    query: Result<Query<AccountFilters>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(filters) = query.map_err(|_| ApiError::invalid("查询条件无效 (bad query)"))?;
    page(&state, &auth, "users", filters).await
}

pub(crate) async fn security(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    query: Result<Query<AccountFilters>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(filters) = query.map_err(|_| ApiError::invalid("查询条件无效 (bad query)"))?;
    page(&state, &auth, "security", filters).await
}

/// The fields of a posted form, repeated names kept (the role checkboxes).
fn fields(body: &Bytes) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str()).unwrap_or_default()
}

/// The list the form came from: `/admin/security` for the security administrator's forms.
fn back(fields: &[(String, String)]) -> &'static str {
    if field(fields, "back") == "security" { "/admin/security" } else { "/admin/users" }
}

/// `POST /admin/users`: a new account.
pub(crate) async fn create(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    ClientIp(ip): ClientIp,
    body: Bytes,
) -> ApiResult<Response> {
    let fields = fields(&body);
    let user = NewUser {
        username: field(&fields, "username").trim().to_string(),
        display_name: filled(field(&fields, "displayName")),
        unit: field(&fields, "unit").to_string(),
        kind: filled(field(&fields, "kind")).unwrap_or_else(|| "staff".into()),
        roles: fields.iter().filter(|(key, _)| key == "roles").map(|(_, value)| value.clone()).collect(),
        password: field(&fields, "password").to_string(),
    };
    add_user(&state, Some(&auth.principal), &user, &ip).await?;
    super::see_other("/admin/users?notice=created")
}

/// `POST /admin/users/{id}/{action}`: `freeze`, `unfreeze`, `cancel` (system administrator) or
/// `unlock` (either administrator).
pub(crate) async fn act(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    ClientIp(ip): ClientIp,
    Path((id, action)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let fields = fields(&body);
    let status = match action.as_str() {
        "freeze" => "frozen",
        "unfreeze" => "active",
        "cancel" => "cancelled",
        "unlock" => {
            if !(auth.principal.can("user:unlock") || auth.principal.can("user:manage")) {
                return Err(ApiError::forbidden("没有权限 (needs user:unlock)"));
            }
            ::identity::accounts::find_account(state.store().as_ref(), &auth.principal, &id).await?;
            state.store().clear_login_failures(&id).await?;
            audit(&state, entry(Some(&auth.principal.account.id), &ip, "user.unlock", Some(&id), "success")).await?;
            return super::see_other(&format!("{}?notice=unlocked", back(&fields)));
        }
        _ => return Err(ApiError::not_found("没有这个操作 (no such action)")),
    };
    if !auth.principal.can("user:manage") {
        return Err(ApiError::forbidden("没有权限 (needs user:manage)"));
    }
    change_status(&state, Some(&auth.principal), &id, status, &ip).await?;
    super::see_other(&format!("/admin/users?notice={action}"))
}

/// `POST /admin/users/{id}/roles`: the security administrator replaces an account's roles; an
/// administrator role needs the password (or a TOTP code) again.
pub(crate) async fn roles(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let fields = fields(&body);
    let roles: Vec<String> = fields.iter().filter(|(key, _)| key == "roles").map(|(_, value)| value.clone()).collect();
    let account = ::identity::accounts::find_account(state.store().as_ref(), &auth.principal, &id).await?;
    let known: Vec<String> = state.store().roles().await?.into_iter().map(|role| role.id).collect();
    let admin_change = ::identity::accounts::check_roles(&auth.principal, &account, &roles, &known)?;
    if admin_change {
        let proof = StepUp { password: filled(field(&fields, "password")), totp: filled(field(&fields, "totp")) };
        crate::identity::step_up(&state, &auth, &proof, &ip).await?;
    }
    let (store, crypto) = (state.store().as_ref(), state.security.crypto.as_ref());
    ::identity::accounts::apply_roles(store, crypto, &auth.principal, &account, &roles, admin_change, &ip).await?;
    super::see_other("/admin/security?notice=roles")
}

/// A unit as the organisation screen lists it: indented under its parent.
#[derive(Serialize)]
struct UnitRow {
    id: String,
    name: String,
    kind: String,
    depth: usize,
    accounts: usize,
}

#[derive(Deserialize, Default)]
pub(crate) struct UnitsShown {
    #[serde(default)]
    notice: String,
}

/// `GET /admin/units` (system administrator): the organisation tree — the city, its 16
/// districts and the units below them, each with its number of accounts — and a form for a new
/// unit below a district or another unit.
pub(crate) async fn units(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    shown: Result<Query<UnitsShown>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(shown) = shown.unwrap_or_default();
    let units = state.store().org_units().await?;
    // Accounts per unit, in one pass over the accounts the administrator may see.
    let mut per_unit: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for account in state.store().accounts(&AccountQuery::new(auth.principal.scope.clone())).await? {
        if let Some(unit) = account.unit_id {
            *per_unit.entry(unit).or_default() += 1;
        }
    }
    // Depth-first from the roots, children by id, so each unit follows its parent.
    let mut rows = Vec::with_capacity(units.len());
    let mut stack: Vec<(&store::identity::OrgUnit, usize)> = Vec::new();
    let children = |parent: Option<&str>| {
        let mut found: Vec<&store::identity::OrgUnit> =
            units.iter().filter(|unit| unit.parent_id.as_deref() == parent).collect();
        found.sort_by(|a, b| b.id.cmp(&a.id));
        found
    };
    stack.extend(children(None).into_iter().map(|unit| (unit, 0)));
    while let Some((unit, depth)) = stack.pop() {
        rows.push(UnitRow {
            id: unit.id.clone(),
            name: unit.name.clone(),
            kind: unit.kind.clone(),
            depth,
            accounts: per_unit.get(&unit.id).copied().unwrap_or(0),
        });
        // A cycle cannot be stored (a parent must exist first), but a bound keeps a damaged
        // table from looping.
        if depth < 16 {
            stack.extend(children(Some(&unit.id)).into_iter().map(|child| (child, depth + 1)));
        }
    }
    let parents: Vec<(&str, &str)> =
        rows.iter().filter(|row| row.kind != "city").map(|row| (row.id.as_str(), row.name.as_str())).collect();
    let mut context = Context::new();
    context.insert("units", &rows);
    context.insert("parents", &parents);
    context.insert("notice", &shown.notice);
    context.insert("may_create", &auth.principal.can("system:config"));
    screen(&state, &auth, "units", "units.html", context).await
}

/// `POST /admin/units`: a new unit (`system:config`), through the function `/api/org-units`
/// uses (its checks and audit row).
pub(crate) async fn create_unit(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    ClientIp(ip): ClientIp,
    body: Bytes,
) -> ApiResult<Response> {
    let fields = fields(&body);
    let (id, parent, name) = (field(&fields, "id").trim(), field(&fields, "parent"), field(&fields, "name").trim());
    crate::identity::add_unit(&state, &auth.principal.account.id, id, parent, name, &ip).await?;
    super::see_other("/admin/units?notice=created")
}

/// The years the working-day calendar lists, and a warning when this or next year is missing.
fn calendar_years(calendar: &engine::timer::WorkCalendar) -> String {
    let years: Vec<String> = calendar.years().map(|year| year.to_string()).collect();
    let listed = if years.is_empty() { "未配置节假日".to_string() } else { format!("{} 年", years.join("、")) };
    let missing = runtime::calendar::missing_years(calendar, runtime::executor::now_millis());
    if missing.is_empty() {
        return listed;
    }
    let missing: Vec<String> = missing.iter().map(|year| year.to_string()).collect();
    format!("{listed}（缺 {} 年的节假日安排，这些年份只按周末计算）", missing.join("、"))
}

/// `GET /admin/system` (system administrator, `menu:system`): the settings this node runs with
/// and the size of what it holds, read-only — they are set by the start-up options and
/// environment (`serve --help`), never from a screen. Keys are shown by fingerprint only.
pub(crate) async fn system(State(state): State<AppState>, Extension(auth): Extension<Auth>) -> ApiResult<Response> {
    let store = state.store();
    let security = &state.security;
    let count = |total: i64| total.to_string();
    let none = store::Page { first_result: 0, max_results: Some(0) };
    let (_, definitions) = store
        .definitions(&store::DefinitionQuery { latest_version: true, ..store::DefinitionQuery::default() })
        .await?;
    let running = store::InstanceQuery {
        active: Some(true),
        page: none.clone(),
        ..store::InstanceQuery::new(store::DataScope::All)
    };
    let (_, running) = store.instances(&running).await?;
    let open = store::TaskQuery { page: none, ..store::TaskQuery::new(store::DataScope::All) };
    let (_, open) = store.tasks(&open).await?;
    let accounts = store.accounts(&AccountQuery::new(store::DataScope::All)).await?.len();
    let units = store.org_units().await?.len();
    let yes = |on: bool| if on { "是" } else { "否" }.to_string();
    let node: Vec<(&str, String)> = vec![
        ("软件版本", env!("CARGO_PKG_VERSION").into()),
        ("数据库", if store.backend() == "sqlite" { "SQLite（单机）".into() } else { "PostgreSQL".into() }),
        ("流程（最新版本）", count(definitions)),
        ("运行中的流程实例", count(running)),
        ("待办任务", count(open)),
        ("账号", accounts.to_string()),
        ("组织机构", units.to_string()),
        ("短信通道", "本地发件箱（尚未接入短信运营商）".into()),
        ("工作日历", calendar_years(state.executor.calendar())),
        (
            "密钥指纹",
            crate::identity::key_fingerprint(security.crypto.as_ref())
                .map_err(|error| ApiError::Internal(error.to_string()))?,
        ),
    ];
    let settings: Vec<(&str, String)> = vec![
        ("部署在 HTTPS 反向代理之后", yes(security.behind_tls)),
        ("受信任的代理地址", security.trusted_proxies.len().to_string() + " 个"),
        ("工作人员必须绑定动态口令", yes(security.require_totp)),
        ("会话超时", format!("{} 分钟无操作", security.idle_timeout_minutes)),
        ("登录失败锁定", format!("连续 {} 次，锁定 {} 分钟", security.max_failures, security.lock_minutes)),
        ("登录频率限制", format!("每个地址每分钟 {} 次", security.login_rate_per_minute)),
        (
            "短信验证码",
            format!(
                "有效 {} 分钟；每个号码每小时 {} 条，每个地址每小时 {} 条",
                security.sms_code_minutes, security.sms_per_phone_per_hour, security.sms_per_ip_per_hour
            ),
        ),
        ("接口密钥有效期", format!("最长 {} 天", security.api_key_days)),
        ("审计日志保留", format!("{} 天", security.audit_retention_days)),
    ];
    let mut context = Context::new();
    context.insert("node", &node);
    context.insert("settings", &settings);
    screen(&state, &auth, "system", "system.html", context).await
}
