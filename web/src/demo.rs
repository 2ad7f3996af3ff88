//! First-start set-up: the initial admin and, on the zero-configuration demo, the demo models.

use std::collections::BTreeMap;

use engine::Value;
use runtime::Executor;
use runtime::executor::{Upload, now_millis};
use store::identity::NewAccount;

use crate::auth;

/// The models shipped in `definitions/processes/`, embedded in the binary.
pub const PROCESSES: &[(&str, &str)] = &[(
    "pref03-institution-onboarding.bpmn",
    include_str!("../../definitions/processes/pref03-institution-onboarding.bpmn"),
)];

/// Creates the user `admin` when there are no users. Returns the password when it was generated
/// (so it can be printed once); `SY_ADMIN_PASSWORD` sets it instead.
pub async fn ensure_admin(
    executor: &Executor,
    crypto: &dyn crypto::CryptoProvider,
    configured_password: Option<String>,
) -> anyhow::Result<Option<String>> {
    let store = executor.store();
    if store.user_count().await? > 0 {
        // A database from before roles existed: its admin becomes the system administrator.
        if let Some(admin) = store.account("admin").await?
            && admin.roles.is_empty()
        {
            store.set_account_roles("admin", &["sysadmin".to_string()]).await?;
            crate::identity::sign_access(store.as_ref(), crypto, "admin").await.map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        return Ok(None);
    }
    let generated = configured_password.is_none();
    let password = configured_password.unwrap_or_else(auth::generate_password);
    let hash = tokio::task::spawn_blocking({
        let password = password.clone();
        move || auth::hash_password(&password, auth::DEFAULT_ITERATIONS)
    })
    .await?;
    store
        .create_account(&NewAccount {
            id: "admin".into(),
            display_name: Some("系统管理员".into()),
            unit_id: Some(crate::identity::CITY_UNIT.into()),
            kind: "staff".into(),
            password_hash: hash,
            must_change_password: generated,
            roles: vec!["sysadmin".into()],
            phone_index: None,
            phone_sealed: None,
            created_at: now_millis(),
        })
        .await?;
    for group in ["camunda-admin", "district-reviewers", "city-reviewers"] {
        store.add_membership("admin", group).await?;
    }
    crate::identity::sign_access(store.as_ref(), crypto, "admin").await.map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(generated.then_some(password))
}

/// Deploys the shipped models (a no-op when they are already deployed unchanged) and, on an
/// empty database, starts one demo application so the task list has something in it.
pub async fn load(executor: &Executor) -> anyhow::Result<()> {
    let uploads = PROCESSES
        .iter()
        .map(|(name, content)| Upload { name: (*name).to_string(), content: (*content).to_string() })
        .collect();
    let outcome =
        executor.deploy(Some("shuangyong-demo".into()), Some("shuangyong serve".into()), None, uploads).await?;
    // Only whether any instance exists: one row, never every document (a damaged one is left
    // out of lists anyway, so existing data never stops a start).
    let any = store::InstanceQuery {
        page: store::Page { first_result: 0, max_results: Some(1) },
        ..store::InstanceQuery::new(store::DataScope::All)
    };
    let (_, running) = executor.store().instances(&any).await?;
    if outcome.created
        && running == 0
        && let Some(definition) = outcome.definitions.iter().find(|d| d.key == "pref03-institution-onboarding")
    {
        let variables: BTreeMap<String, Value> = [
            ("applicant".to_string(), Value::String("admin".into())),
            ("institutionName".to_string(), Value::String("黄浦区示例退役军人优待餐厅".into())),
            ("district".to_string(), Value::String("黄浦区".into())),
        ]
        .into_iter()
        .collect();
        executor.start(definition, Some("PREF03-DEMO-0001".into()), variables, Some("admin")).await?;
    }
    Ok(())
}
