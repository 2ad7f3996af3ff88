//! The domain handlers' ports that need the layers above the runtime: form records (through
//! `forms::records`, so a handler's write meets every check of an edit and lands in the
//! record's history) and accounts (through `identity`: created and given roles with their
//! access records signed and the change audited, as the system).

use std::sync::Arc;

use serde_json::{Map, Value};
use services::domain::{Accounts, NewPerson, PortError, RecordView, Records};

use crate::AppState;

/// The system, acting in every district.
fn system() -> forms::records::Actor {
    forms::records::Actor { user: store::SYSTEM_ACTOR.into(), unit: None, scope: store::DataScope::All }
}

fn unavailable(error: impl std::fmt::Display) -> PortError {
    PortError::Unavailable(error.to_string())
}

/// Form records, as the system.
pub struct FormRecords(pub AppState);

impl FormRecords {
    fn form(&self, key: &str) -> Result<&forms::Form, PortError> {
        crate::forms::catalog(&self.0)
            .form(key)
            .ok_or_else(|| PortError::Refused(format!("没有表单 {key} (no form '{key}')")))
    }
}

#[async_trait::async_trait]
impl Records for FormRecords {
    async fn record(&self, form: &str, id: &str) -> Result<Option<RecordView>, PortError> {
        let form = self.form(form)?;
        let state = &self.0;
        match forms::records::get(state.store().as_ref(), state.security.crypto.as_ref(), form, &system(), id).await {
            Ok(record) if record.deleted_at.is_none() => Ok(Some(RecordView {
                id: record.id,
                version: record.version,
                district: record.district,
                created_by: record.created_by,
                values: record.values,
            })),
            Ok(_) | Err(forms::records::RecordError::NotFound) => Ok(None),
            Err(error) => Err(unavailable(error)),
        }
    }

    async fn set_fields(
        &self,
        form: &str,
        id: &str,
        version: i64,
        values: Map<String, Value>,
        action: &str,
    ) -> Result<(), PortError> {
        use forms::records::RecordError;
        let state = &self.0;
        let catalog = crate::forms::catalog(state);
        let form = self.form(form)?;
        let (store, crypto) = (state.store().as_ref(), state.security.crypto.as_ref());
        match forms::records::set_by_system(store, crypto, catalog, form, &system(), id, version, &values, action).await
        {
            Ok(_) => Ok(()),
            Err(RecordError::Stale { .. }) => Err(PortError::Unavailable("记录已被修改 (the record changed)".into())),
            Err(RecordError::Invalid(errors)) => {
                let problems: Vec<String> =
                    errors.iter().map(|error| format!("{}: {}", error.field, error.message)).collect();
                Err(PortError::Refused(format!("记录不接受这些值 ({})", problems.join("; "))))
            }
            Err(RecordError::NotFound) => Err(PortError::Refused(format!("记录 {id} 不存在 (no such record)"))),
            Err(error) => Err(unavailable(error)),
        }
    }

    async fn hand_over(&self, form: &str, id: &str, account: &str) -> Result<(), PortError> {
        let form = self.form(form)?;
        self.0.store().set_form_record_owner(&form.key, id, account).await.map_err(unavailable)
    }
}

/// Accounts, as the system.
pub struct SystemAccounts(pub AppState);

#[async_trait::async_trait]
impl Accounts for SystemAccounts {
    async fn ensure_account(&self, person: &NewPerson) -> Result<bool, PortError> {
        let state = &self.0;
        let (store, crypto) = (state.store(), state.security.crypto.as_ref());
        if let Some(existing) = store.account(&person.id).await.map_err(unavailable)? {
            // Made by an earlier run that died before signing it: sign it now, but only if it
            // is exactly what this step makes (a row written behind the system's back with
            // other roles, unit or kind is never signed into validity).
            let ours = existing.kind == person.kind
                && existing.roles == person.roles
                && existing.unit_id.as_deref() == Some(person.unit.as_str());
            if ours && store.access_signature(&person.id).await.map_err(unavailable)?.is_none() {
                ::identity::access::sign_access(store.as_ref(), crypto, &person.id).await.map_err(unavailable)?;
            }
            return Ok(existing.phone_sealed.is_some());
        }
        // The phone it signs in with by SMS code, unless another account has the number.
        let mut phone = (None, None);
        if let Some(number) = person.phone.as_deref().and_then(|number| ::identity::sms::parse_phone(number).ok()) {
            let index = ::identity::sms::phone_index(crypto, &number).map_err(unavailable)?;
            if store.account_by_phone(&index).await.map_err(unavailable)?.is_none() {
                let sealed = crypto::encrypt_text(crypto, &number, &::identity::sms::phone_aad(&person.id))
                    .map_err(unavailable)?;
                phone = (Some(index), Some(sealed));
            }
        }
        // Nobody knows this password: the account signs in by SMS code, or gets one set by an
        // administrator.
        let password = ::identity::policy::random_token();
        let password_hash =
            ::identity::password::hash(&password, state.security.password.iterations).await.map_err(unavailable)?;
        let account = store::identity::NewAccount {
            id: person.id.clone(),
            display_name: Some(person.display_name.clone()),
            unit_id: Some(person.unit.clone()),
            kind: person.kind.clone(),
            password_hash,
            // Not a password anyone was given: nothing to change at a first sign-in by code.
            must_change_password: false,
            roles: person.roles.clone(),
            phone_index: phone.0,
            phone_sealed: phone.1,
            created_at: store::now_millis(),
        };
        let phone_bound = account.phone_index.is_some();
        match store.create_account(&account).await {
            Ok(()) => {}
            // Created meanwhile by another run of the same step: that run signs it.
            Err(store::Error::Conflict(_)) => return Ok(phone_bound),
            Err(error) => return Err(unavailable(error)),
        }
        ::identity::access::sign_access(store.as_ref(), crypto, &person.id).await.map_err(unavailable)?;
        let mut row =
            ::identity::audit::entry(Some(store::SYSTEM_ACTOR), "-", "user.create", Some(&person.id), "success");
        row.detail = Some(format!("unit={} kind={} roles={}", person.unit, person.kind, person.roles.join(",")));
        ::identity::audit::record(store.as_ref(), crypto, row).await.map_err(unavailable)?;
        Ok(phone_bound)
    }

    async fn change_roles(
        &self,
        id: &str,
        add: &[&str],
        remove: &[&str],
        profile: Option<(&str, &str)>,
    ) -> Result<(), PortError> {
        let state = &self.0;
        let (store, crypto) = (state.store(), state.security.crypto.as_ref());
        let account = store
            .account(id)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| PortError::Refused(format!("账号 {id} 不存在 (no such account)")))?;
        let mut roles: Vec<String> =
            account.roles.iter().filter(|role| !remove.contains(&role.as_str())).cloned().collect();
        for role in add {
            if !roles.iter().any(|held| held == role) {
                roles.push((*role).to_string());
            }
        }
        let moved = profile.filter(|(name, unit)| {
            account.display_name.as_deref() != Some(*name) || account.unit_id.as_deref() != Some(*unit)
        });
        if roles == account.roles && moved.is_none() {
            // Already as wanted — perhaps by an earlier run that died before signing: sign
            // this state (the one this step makes) if its record does not verify.
            let fresh = profile.is_some() && account.status == "active";
            if fresh && ::identity::access::verified_principal(store.as_ref(), crypto, id).await.is_err() {
                ::identity::access::sign_access(store.as_ref(), crypto, id).await.map_err(unavailable)?;
            }
            return Ok(());
        }
        if roles != account.roles {
            store.set_account_roles(id, &roles).await.map_err(unavailable)?;
        }
        if let Some((name, unit)) = moved {
            store.set_account_profile(id, name, unit).await.map_err(unavailable)?;
        }
        ::identity::access::sign_access(store.as_ref(), crypto, id).await.map_err(unavailable)?;
        let mut row = ::identity::audit::entry(Some(store::SYSTEM_ACTOR), "-", "user.roles", Some(id), "success");
        let unit = profile.map(|(_, unit)| unit).or(account.unit_id.as_deref()).unwrap_or_default().to_string();
        row.detail = Some(format!("unit={unit} roles={}", roles.join(",")));
        ::identity::audit::record(store.as_ref(), crypto, row).await.map_err(unavailable)?;
        Ok(())
    }
}

/// This node's ports: the runtime's, with records and accounts connected.
pub fn node_ports(state: &AppState) -> services::domain::Ports {
    let mut ports = runtime::ports::node_ports(state.executor.clone(), state.security.crypto.clone());
    ports.records = Arc::new(FormRecords(state.clone()));
    ports.accounts = Arc::new(SystemAccounts(state.clone()));
    if cfg!(debug_assertions)
        && let Ok(suffix) = std::env::var(FAULT_PAUSE_AFTER)
        && !suffix.is_empty()
    {
        tracing::warn!(%suffix, "fault injection: domain handlers stop after this message ({FAULT_PAUSE_AFTER})");
        ports.messages = Arc::new(PauseAfter { inner: ports.messages, suffix });
    }
    ports
}

/// A fault for the kill tests (`web/tests/it`): with `SY_FAULT_PAUSE_AFTER=<key suffix>`, a
/// handler that has just put a message whose key ends so into the message centre never goes on,
/// so a test can kill the node between that effect and the next. Honoured by debug builds only
/// (the tests'); a release binary ignores it.
pub const FAULT_PAUSE_AFTER: &str = "SY_FAULT_PAUSE_AFTER";

struct PauseAfter {
    inner: Arc<dyn services::domain::Messages>,
    suffix: String,
}

#[async_trait::async_trait]
impl services::domain::Messages for PauseAfter {
    async fn sms_to_account(&self, key: &str, account: &str, text: &str) -> Result<(), PortError> {
        self.inner.sms_to_account(key, account, text).await
    }

    async fn message_to_account(
        &self,
        key: &str,
        account: &str,
        message: &services::domain::Note,
    ) -> Result<(), PortError> {
        self.inner.message_to_account(key, account, message).await?;
        if key.ends_with(&self.suffix) {
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}
