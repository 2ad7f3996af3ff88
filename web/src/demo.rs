//! First-start set-up: the initial admin and, on the zero-configuration demo, the demo models,
//! the demo accounts (one per kind of user the console is for) and one application waiting at
//! 黄浦区's review.

use std::collections::BTreeMap;

use engine::Value;
use runtime::Executor;
use runtime::executor::{Upload, now_millis};
use runtime::operations::OperationInput;
use store::identity::NewAccount;

use crate::auth;

/// The models shipped in `definitions/processes/`, embedded in the binary.
pub const PROCESSES: &[(&str, &str)] = &[
    (
        "pref03-institution-onboarding.bpmn",
        include_str!("../../definitions/processes/pref03-institution-onboarding.bpmn"),
    ),
    ("svc01-lawyer-admission.bpmn", include_str!("../../definitions/processes/svc01-lawyer-admission.bpmn")),
];

/// The demo accounts of a first start with the demo on: (id, display name, unit, role). The
/// staff share the admin's password (printed once, or `SY_ADMIN_PASSWORD`), each with its own
/// hash; the security administrator and the auditor get passwords of their own, generated and
/// printed once, to be changed at their first login, so no one password opens two of the three
/// administrators (三员分立).
pub const DEMO_PEOPLE: &[(&str, &str, &str, &str)] = &[
    ("applicant", "黄浦区联络员（申请人）", "310101", "liaison"),
    ("hp-reviewer", "黄浦区审核员", "310101", "district-staff"),
    ("hp-reviewer2", "黄浦区审核员二", "310101", "district-staff"),
    ("xh-reviewer", "徐汇区审核员", "310104", "district-staff"),
    ("city-reviewer", "市级审核员", crate::identity::CITY_UNIT, "city-staff"),
    ("process-admin", "流程管理员", crate::identity::CITY_UNIT, "process-admin"),
    ("security", "安全管理员", crate::identity::CITY_UNIT, "secadmin"),
    ("audit", "安全审计员", crate::identity::CITY_UNIT, "auditor"),
];

/// What the first start created: the admin's password and whether it was generated (then it
/// must be changed at the first login, and is printed once).
pub struct FirstStart {
    pub password: String,
    pub generated: bool,
}

/// A demo account that was given a password of its own: (id, password), printed once.
pub type OwnPassword = (String, String);

async fn hash(password: &str) -> anyhow::Result<String> {
    let password = password.to_string();
    Ok(tokio::task::spawn_blocking(move || auth::hash_password(&password, auth::DEFAULT_ITERATIONS)).await?)
}

/// Creates the user `admin` when there are no users; `SY_ADMIN_PASSWORD` (`configured_password`)
/// sets its password, else one is generated.
pub async fn ensure_admin(
    executor: &Executor,
    crypto: &dyn crypto::CryptoProvider,
    configured_password: Option<String>,
) -> anyhow::Result<Option<FirstStart>> {
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
    let first = FirstStart { password, generated };
    let account = ("admin", "系统管理员", crate::identity::CITY_UNIT, "sysadmin");
    add_account(executor, crypto, &first.password, first.generated, account).await?;
    for group in ["camunda-admin", "district-reviewers", "city-reviewers"] {
        store.add_membership("admin", group).await?;
    }
    Ok(Some(first))
}

/// One account of the first start, with its own hash of `password`, signed.
async fn add_account(
    executor: &Executor,
    crypto: &dyn crypto::CryptoProvider,
    password: &str,
    must_change_password: bool,
    (id, name, unit, role): (&str, &str, &str, &str),
) -> anyhow::Result<()> {
    let store = executor.store();
    store
        .create_account(&NewAccount {
            id: id.into(),
            display_name: Some(name.into()),
            unit_id: Some(unit.into()),
            kind: if role == "liaison" { "liaison" } else { "staff" }.into(),
            password_hash: hash(password).await?,
            must_change_password,
            roles: vec![role.into()],
            phone_index: None,
            phone_sealed: None,
            created_at: now_millis(),
        })
        .await?;
    crate::identity::sign_access(store.as_ref(), crypto, id).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

/// The demo accounts ([`DEMO_PEOPLE`]), on the first start only. Returns the passwords of those
/// who got their own (the administrators), to be printed once.
pub async fn add_people(
    executor: &Executor,
    crypto: &dyn crypto::CryptoProvider,
    first: &FirstStart,
) -> anyhow::Result<Vec<OwnPassword>> {
    let mut own = Vec::new();
    for person in DEMO_PEOPLE {
        let (id, _, _, role) = *person;
        if crate::identity::ADMIN_ROLES.contains(&role) {
            let password = auth::generate_password();
            add_account(executor, crypto, &password, true, *person).await?;
            own.push((id.to_string(), password));
        } else {
            add_account(executor, crypto, &first.password, first.generated, *person).await?;
        }
    }
    Ok(own)
}

/// Deploys the shipped models (a no-op when they are already deployed unchanged) and, on an
/// empty database, starts one demo application so the task list has something in it.
/// The demo records of the dynamic forms (`definitions/demo/form-records.json`): form key →
/// records, each a JSON object of field values as the API takes them.
const FORM_RECORDS: &str = include_str!("../../definitions/demo/form-records.json");

/// Loads the demo records into every form that has no record yet, through the same checks as
/// any submission (a demo record the definition refuses stops the start with its problems).
pub async fn load_forms(executor: &Executor, crypto: &dyn crypto::CryptoProvider) -> anyhow::Result<()> {
    let catalog = crate::shipped_forms();
    let demo: serde_json::Map<String, serde_json::Value> = serde_json::from_str(FORM_RECORDS)?;
    let actor = forms::records::Actor { user: "admin".into(), unit: None, scope: store::DataScope::All };
    // Forms whose fields refer to other forms' records load after those (a demo record names
    // its reference by the target's title).
    let mut ordered: Vec<(&String, &serde_json::Value)> =
        demo.iter().filter(|(key, _)| !key.starts_with('_')).collect();
    ordered.sort_by_key(|(key, _)| {
        catalog.form(key).is_some_and(|form| form.fields.iter().any(|field| field.target.is_some()))
    });
    for (key, records) in ordered {
        let form = catalog.form(key).ok_or_else(|| anyhow::anyhow!("demo records for unknown form '{key}'"))?;
        let request = forms::records::ListRequest { page: 1, page_size: 1, ..Default::default() };
        let (_, existing) = forms::records::list(executor.store().as_ref(), crypto, form, &actor, &request).await?;
        if existing > 0 {
            continue;
        }
        for values in records.as_array().into_iter().flatten() {
            let values = values
                .as_object()
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("a demo record of '{key}' is no JSON object"))?;
            let created = forms::records::create(
                executor.store().as_ref(),
                crypto,
                &catalog,
                form,
                &actor,
                &values,
                forms::Mode::Strict,
                None,
            )
            .await;
            if let Err(forms::records::RecordError::Invalid(errors)) = &created {
                anyhow::bail!("a demo record of '{key}' is refused: {errors:?}");
            }
            created?;
        }
    }
    Ok(())
}

pub async fn load(executor: &Executor) -> anyhow::Result<()> {
    let uploads = PROCESSES
        .iter()
        .map(|(name, content)| Upload { name: (*name).to_string(), content: (*content).to_string() })
        .collect();
    let outcome =
        executor.deploy(Some("shuangyong-demo".into()), Some("shuangyong serve".into()), None, None, uploads).await?;
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
        // The 黄浦区 applicant applies (when the demo accounts exist) and submits, so the first
        // thing a district reviewer sees is an application waiting in 黄浦区's pool.
        let applicant = match executor.store().account("applicant").await? {
            Some(_) => "applicant",
            None => "admin",
        };
        let variables: BTreeMap<String, Value> = [
            ("applicant".to_string(), Value::String(applicant.into())),
            ("institutionName".to_string(), Value::String("黄浦区示例退役军人优待餐厅".into())),
            ("district".to_string(), Value::String("黄浦区".into())),
        ]
        .into_iter()
        .collect();
        let instance = executor.start(definition, Some("PREF03-DEMO-0001".into()), variables, Some(applicant)).await?;
        if applicant == "applicant" {
            let query = store::TaskQuery {
                instance_id: Some(instance.id.clone()),
                ..store::TaskQuery::new(store::DataScope::All)
            };
            if let Some(task) = executor.store().tasks(&query).await?.0.into_iter().next() {
                let input =
                    OperationInput { comment: Some("提交入驻申请".into()), ..OperationInput::by(applicant) };
                executor.approve(&task, input).await?;
            }
        }
    }
    Ok(())
}
