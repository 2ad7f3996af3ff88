//! The account lifecycle, shared by `/api/users` and `shuangyong user …`: who may reach and
//! manage which account, creating one, and freezing, unfreezing or cancelling it. Every change
//! re-signs the account's access record and is audited, refused or not.

use store::Store;
use store::identity::{Account, NewAccount, Principal};

use crate::audit::{entry, record};
use crate::{Error, Refusal};

/// Names the system uses as actors of its own (timeouts, routing, the CLI): no account has them.
pub const RESERVED_NAMES: &[&str] = &["system", "cli", "anonymous"];

/// Whether `principal` may see or change `account` (its data scope applied to accounts).
pub fn account_in_scope(principal: &Principal, account: &Account) -> bool {
    use store::DataScope;
    match &principal.scope {
        DataScope::All => true,
        DataScope::District(district) => account.district.as_deref() == Some(district.as_str()),
        DataScope::Unit(unit) => account.unit_id.as_deref() == Some(unit.as_str()),
        DataScope::Own(user) | DataScope::Started(user) => &account.id == user,
        DataScope::Nothing => false,
    }
}

/// Whether `principal` may manage `account` (scope, and without `user:manage` only the
/// district's external accounts: liaisons, and institutions — 暂停服务 of an institution
/// freezes its account). No one manages an administrator's account (password, status) through
/// the API: that would let one of the three acquire or silence another (`docs/security.md`
/// T-ADMIN); the operator on the server uses `shuangyong user …`.
pub fn may_manage(principal: &Principal, account: &Account) -> bool {
    account_in_scope(principal, account)
        && (principal.can("user:manage") || matches!(account.kind.as_str(), "liaison" | "provider"))
        && !crate::access::holds_admin_role(&account.roles)
}

/// An account `principal` may reach, else `NotFound` as if there were none. Without an
/// account-management right (district staff managing liaisons, `pii:unmask` on the people they
/// serve) a user reaches itself and the public's accounts, never its colleagues' (staff,
/// operators, machines).
pub async fn find_account(store: &dyn Store, principal: &Principal, id: &str) -> crate::Result<Account> {
    let not_found = || Error::refused(Refusal::NotFound, "not-found", format!("用户 '{id}' 不存在 (no such user)"));
    let account = store.account(id).await?.ok_or_else(not_found)?;
    if !account_in_scope(principal, &account) {
        return Err(not_found());
    }
    let manager = principal.can("user:manage") || principal.can("user:read");
    let colleague = matches!(account.kind.as_str(), "staff" | "operator" | "machine");
    if !manager && colleague && account.id != principal.account.id {
        return Err(not_found());
    }
    Ok(account)
}

/// A new account as asked for (`POST /api/users`, `shuangyong user add`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewUser {
    pub username: String,
    #[serde(default)]
    pub display_name: Option<String>,
    pub unit: String,
    #[serde(default = "staff")]
    pub kind: String,
    #[serde(default)]
    pub roles: Vec<String>,
    pub password: String,
}

fn staff() -> String {
    "staff".into()
}

/// Validates and creates an account; `actor` is `None` for the operator on the server (the
/// CLI). The password must satisfy the policy; the user changes it at first login.
pub async fn create(
    store: &dyn Store,
    crypto: &dyn crypto::CryptoProvider,
    policy: &crate::policy::PasswordPolicy,
    actor: Option<&Principal>,
    user: &NewUser,
    ip: &str,
) -> crate::Result<()> {
    let invalid = |message: String| Error::refused(Refusal::Invalid, "invalid-input", message);
    let username = user.username.trim();
    let valid_name = !username.is_empty()
        && username.len() <= 64
        && username.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
        && !RESERVED_NAMES.contains(&username.to_ascii_lowercase().as_str());
    if !valid_name {
        return Err(invalid("用户名只能包含字母、数字和 - _ . @，最长 64 个字符 (invalid user name)".into()));
    }
    if !store::identity::ACCOUNT_KINDS.contains(&user.kind.as_str()) {
        return Err(invalid(format!("未知的账户类型 '{}' (unknown kind)", user.kind)));
    }
    if user.display_name.as_ref().is_some_and(|name| name.chars().count() > 128) || user.password.chars().count() > 128
    {
        return Err(invalid("姓名最长 128 个字符，密码最长 128 个字符 (display name ≤ 128, password ≤ 128)".into()));
    }
    crate::access::check_role_set(&user.roles)?;
    if crate::access::holds_admin_role(&user.roles) {
        if actor.is_some() {
            // Over the API an administrator role comes only from the security administrator's
            // role assignment (with a step-up), never with the account its creator knows the
            // initial password of.
            return Err(Error::refused(
                Refusal::Forbidden,
                "admin-role-assignment",
                "管理员角色只能由安全管理员分配 (administrator roles are assigned by the security administrator)",
            ));
        }
        if user.kind != "staff" {
            return Err(Error::refused(
                Refusal::Rule,
                "invalid-state",
                "管理员角色只能授予工作人员账户 (administrator roles are for staff accounts only)",
            ));
        }
    }
    let unit = store
        .org_unit(&user.unit)
        .await?
        .ok_or_else(|| invalid(format!("未知的单位 '{}' (unknown unit)", user.unit)))?;
    if let Some(actor) = actor {
        let target = Account {
            id: username.to_string(),
            display_name: None,
            unit_id: Some(unit.id.clone()),
            district: unit.district.clone(),
            kind: user.kind.clone(),
            status: "active".into(),
            password_hash: String::new(),
            must_change_password: true,
            failed_logins: 0,
            locked_until: None,
            password_changed_at: None,
            totp_secret: None,
            phone_sealed: None,
            created_at: 0,
            roles: user.roles.clone(),
        };
        let liaison_only = user.kind == "liaison" && user.roles.iter().all(|role| role == "liaison");
        if !account_in_scope(actor, &target) || (!actor.can("user:manage") && !liaison_only) {
            return Err(Error::refused(
                Refusal::Forbidden,
                "forbidden",
                "不能在您的管理范围之外创建该账户 (outside what you may manage)",
            ));
        }
    }
    crate::password::require_policy(policy, username, &user.password)?;
    let account = NewAccount {
        id: username.to_string(),
        display_name: user.display_name.clone(),
        unit_id: Some(unit.id),
        kind: user.kind.clone(),
        password_hash: crate::password::hash(&user.password, policy.iterations).await?,
        must_change_password: true,
        roles: user.roles.clone(),
        phone_index: None,
        phone_sealed: None,
        created_at: store::now_millis(),
    };
    let actor_id = actor.map(|actor| actor.account.id.as_str()).unwrap_or("cli");
    let mut created = store.create_account(&account).await.map_err(|error| match error {
        store::Error::Conflict(_) => {
            Error::refused(Refusal::Conflict, "conflict", format!("用户 '{username}' 已存在 (user exists)"))
        }
        store::Error::Invalid(message) => invalid(message),
        other => other.into(),
    });
    if created.is_ok() {
        created = crate::access::sign_access(store, crypto, username).await;
    }
    let result = if created.is_ok() { "success" } else { "failure" };
    let mut row = entry(Some(actor_id), ip, "user.create", Some(username), result);
    row.detail = Some(format!("unit={} kind={} roles={}", user.unit, user.kind, user.roles.join(",")));
    record(store, crypto, row).await?;
    created
}

/// Freezes (`frozen`), unfreezes (`active`) or cancels (`cancelled`) an account; `actor` is
/// `None` for the CLI. Nobody freezes or cancels their own account.
pub async fn change_status(
    store: &dyn Store,
    crypto: &dyn crypto::CryptoProvider,
    actor: Option<&Principal>,
    id: &str,
    status: &str,
    ip: &str,
) -> crate::Result<()> {
    if let Some(actor) = actor {
        let account = find_account(store, actor, id).await?;
        if !may_manage(actor, &account) {
            return Err(Error::refused(
                Refusal::Forbidden,
                "forbidden",
                "不能管理该账户 (outside what you may manage)",
            ));
        }
        if account.id == actor.account.id {
            return Err(Error::refused(
                Refusal::Forbidden,
                "forbidden",
                "不能冻结或注销自己的账户 (not your own account)",
            ));
        }
    }
    let mut changed = store.set_account_status(id, status).await.map_err(|error| match error {
        store::Error::NotFound(_) => {
            Error::refused(Refusal::NotFound, "not-found", format!("用户 '{id}' 不存在 (no such user)"))
        }
        store::Error::Invalid(_) => Error::refused(
            Refusal::Rule,
            "invalid-state",
            format!("用户 '{id}' 已注销，不能再更改 (account cancelled)"),
        ),
        other => other.into(),
    });
    if changed.is_ok() {
        changed = crate::access::sign_access(store, crypto, id).await;
    }
    let action = match status {
        "frozen" => "user.freeze",
        "active" => "user.unfreeze",
        _ => "user.cancel",
    };
    let actor_id = actor.map(|actor| actor.account.id.as_str()).unwrap_or("cli");
    let result = if changed.is_ok() { "success" } else { "failure" };
    record(store, crypto, entry(Some(actor_id), ip, action, Some(id), result)).await?;
    changed
}

/// Whether a change of `account`'s roles to `roles` (by `actor`, who holds `role:assign`) is
/// allowed, and whether it touches an administrator role (then the caller asks for a step-up
/// before [`apply_roles`]). Never one's own roles, only known roles, 三员分立, administrator
/// roles only for staff who have set their own password.
pub fn check_roles(actor: &Principal, account: &Account, roles: &[String], known: &[String]) -> crate::Result<bool> {
    if account.id == actor.account.id {
        return Err(Error::refused(Refusal::Forbidden, "forbidden", "不能修改自己的角色 (not your own roles)"));
    }
    if let Some(unknown) = roles.iter().find(|role| !known.contains(role)) {
        return Err(Error::refused(
            Refusal::Invalid,
            "invalid-input",
            format!("未知的角色 '{unknown}' (unknown role)"),
        ));
    }
    crate::access::check_role_set(roles)?;
    let granted = crate::access::holds_admin_role(roles);
    if granted {
        if account.kind != "staff" {
            return Err(Error::refused(
                Refusal::Rule,
                "invalid-state",
                "管理员角色只能授予工作人员账户 (administrator roles are for staff accounts only)",
            ));
        }
        // An initial or reset password is known to whoever set it: the person changes it at
        // their first login before they can become an administrator.
        if account.must_change_password && !crate::access::holds_admin_role(&account.roles) {
            return Err(Error::refused(
                Refusal::Rule,
                "initial-password",
                "该账户仍在使用他人设置的初始密码，须本人登录修改密码后才能授予管理员角色 (the account still has a password someone else set)",
            ));
        }
    }
    Ok(granted || crate::access::holds_admin_role(&account.roles))
}

/// Replaces `account`'s roles after [`check_roles`] (and its step-up): re-signed, audited with
/// the old and new roles; a change of administrator roles also ends the account's sessions, so
/// it signs in again under its new rights.
pub async fn apply_roles(
    store: &dyn Store,
    crypto: &dyn crypto::CryptoProvider,
    actor: &Principal,
    account: &Account,
    roles: &[String],
    admin_change: bool,
    ip: &str,
) -> crate::Result<()> {
    let previous = account.roles.join(",");
    store.set_account_roles(&account.id, roles).await?;
    if admin_change {
        store.delete_sessions_of(&account.id).await?;
    }
    crate::access::sign_access(store, crypto, &account.id).await?;
    let action = if admin_change { "user.roles.admin" } else { "user.roles" };
    let mut row = entry(Some(&actor.account.id), ip, action, Some(&account.id), "success");
    row.detail = Some(format!("{previous} -> {}", roles.join(",")));
    record(store, crypto, row).await
}
