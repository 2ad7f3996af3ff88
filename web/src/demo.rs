//! First-start set-up: the initial admin and, on the zero-configuration demo, the demo models,
//! the demo accounts (one per kind of user the console is for) and one application waiting at
//! 黄浦区's review.

use runtime::Executor;
use runtime::executor::{Upload, now_millis};
use runtime::operations::OperationInput;
use store::identity::NewAccount;

use crate::auth;

/// The models shipped in `definitions/processes/`, embedded in the binary.
pub const PROCESSES: &[(&str, &str)] = &[
    ("institution-onboarding.bpmn", include_str!("../../definitions/processes/institution-onboarding.bpmn")),
    ("svc01-lawyer-admission.bpmn", include_str!("../../definitions/processes/svc01-lawyer-admission.bpmn")),
    ("venue-booking.bpmn", include_str!("../../definitions/processes/venue-booking.bpmn")),
];

/// The demo accounts of a first start with the demo on: (id, display name, unit, role). The
/// staff share the admin's password (printed once, or `SY_ADMIN_PASSWORD`), each with its own
/// hash; the security administrator and the auditor get passwords of their own, generated and
/// printed once, to be changed at their first login, so no one password opens two of the three
/// administrators (三员分立).
pub const DEMO_PEOPLE: &[(&str, &str, &str, &str)] = &[
    ("applicant", "李经理（机构入驻申请人）", crate::identity::CITY_UNIT, "provider-applicant"),
    ("liaison", "黄浦区联络员", "310101", "liaison"),
    ("hp-reviewer", "黄浦区审核员", "310101", "district-staff"),
    ("hp-reviewer2", "黄浦区审核员二", "310101", "district-staff"),
    ("xh-reviewer", "徐汇区审核员", "310104", "district-staff"),
    ("city-reviewer", "市级审核员", crate::identity::CITY_UNIT, "city-staff"),
    ("process-admin", "流程管理员", crate::identity::CITY_UNIT, "process-admin"),
    ("security", "安全管理员", crate::identity::CITY_UNIT, "secadmin"),
    ("audit", "安全审计员", crate::identity::CITY_UNIT, "auditor"),
];

/// The demo institution applicant's mobile number (the light app's 手机号码 + 密码, or an SMS
/// code from the outbox).
pub const APPLICANT_PHONE: &str = "13800000001";

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
    // The institution applicant signs in on the light app with their mobile number.
    let (phone_index, phone_sealed) = if role == "provider-applicant" {
        let index = ::identity::sms::phone_index(crypto, APPLICANT_PHONE).map_err(|e| anyhow::anyhow!("{e}"))?;
        let sealed = crypto::encrypt_text(crypto, APPLICANT_PHONE, &::identity::sms::phone_aad(id))?;
        (Some(index), Some(sealed))
    } else {
        (None, None)
    };
    store
        .create_account(&NewAccount {
            id: id.into(),
            display_name: Some(name.into()),
            unit_id: Some(unit.into()),
            kind: match role {
                "liaison" => "liaison",
                "provider" | "provider-applicant" => "provider",
                _ => "staff",
            }
            .into(),
            password_hash: hash(password).await?,
            must_change_password,
            roles: vec![role.into()],
            phone_index,
            phone_sealed,
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
            let mut values = values
                .as_object()
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("a demo record of '{key}' is no JSON object"))?;
            // Read-only values (an institution already 已入驻) are set as the system sets them.
            let fixed: serde_json::Map<String, serde_json::Value> = form
                .fields
                .iter()
                .filter(|field| field.readonly)
                .filter_map(|field| values.remove(&field.key).map(|value| (field.key.clone(), value)))
                .collect();
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
            let created = created?;
            if !fixed.is_empty() {
                let (id, version) = (&created.id, created.version);
                let store = executor.store().as_ref();
                let set = forms::records::set_by_system(
                    store,
                    crypto,
                    &catalog,
                    form,
                    &actor,
                    id,
                    version,
                    &fixed,
                    "演示数据",
                );
                match set.await {
                    Err(forms::records::RecordError::Invalid(errors)) => {
                        anyhow::bail!("a demo record of '{key}' is refused: {errors:?}")
                    }
                    other => other?,
                };
            }
        }
    }
    Ok(())
}

/// Deploys the shipped models (a no-op when they are already deployed unchanged), on every
/// start.
pub async fn deploy_shipped(executor: &Executor) -> anyhow::Result<()> {
    let uploads = PROCESSES
        .iter()
        .map(|(name, content)| Upload { name: (*name).to_string(), content: (*content).to_string() })
        .collect();
    executor.deploy(Some("shuangyong-demo".into()), Some("shuangyong serve".into()), None, None, uploads).await?;
    Ok(())
}

/// What happens to a demo application after it is submitted.
enum Fate {
    /// Waits at 区级审核.
    Submitted,
    /// 区级审核 approved: waits at 市级审核.
    AtCity,
    /// 区级审核 returned it to its applicant with this reason.
    Returned(&'static str),
    /// Rejected by the city with this reason.
    Rejected(&'static str),
    /// Approved by both levels: activated by the node's workers.
    Approved,
}

/// The demo's 机构入驻 applications (institution-onboarding, PREF-03): (applicant, name,
/// credit code, district, industry, contact phone, fate), one in every state of the flow.
const APPLICATIONS: &[(&str, &str, &str, &str, &str, &str, Fate)] = &[
    ("applicant", "黄浦区拥军便民超市", "91310101MA1FL4CT8Y", "310101", "retail", "13800000001", Fate::Submitted),
    // Applied for by a 黄浦区 staff member on the institutions' behalf (they do not review them:
    // sy:selfReview = false, so hp-reviewer does).
    ("hp-reviewer2", "黄浦区拥军书店", "91310104MA1FL4CT51", "310101", "education", "13800000002", Fate::AtCity),
    (
        "hp-reviewer2",
        "黄浦区军属优先照相馆",
        "91310104MA1FL4CT64",
        "310101",
        "other",
        "13800000003",
        Fate::Returned("请补充营业执照照片和服务承诺书"),
    ),
    (
        "hp-reviewer2",
        "黄浦区老兵理发店",
        "91310101MA1FL4CT4J",
        "310101",
        "other",
        "13800000004",
        Fate::Rejected("经营场所与营业执照登记地址不符"),
    ),
    ("hp-reviewer2", "黄浦区拥军面馆", "91310101MA1FL4CT3F", "310101", "catering", "13800000005", Fate::Approved),
];

/// The forms whose demo records come from the demo flows ([`load_flows`]: made and submitted
/// as the processes make them), not from `definitions/demo/form-records.json`.
pub const FLOW_FORMS: &[&str] = &[services::venue::FORM];

/// The demo's 场地预定 requests (SVC-22): (venue, kind, purpose, day of this week from Monday,
/// start, end, booked): the booked ones are in the schedule already (as if approved before), the
/// others are submitted and wait for 黄浦区's review once the node has checked them.
const BOOKINGS: &[(&str, &str, &str, i64, &str, &str, bool)] = &[
    ("双拥服务中心多功能厅", "venue", "退役军人政策宣讲会", 1, "09:00", "11:30", true),
    ("双拥服务中心多功能厅", "support", "八一慰问演出彩排", 3, "14:00", "17:00", true),
    ("中心地下停车位 A 区", "parking", "慰问车队停车", 3, "13:30", "18:00", true),
    ("双拥服务中心多功能厅", "venue", "军属子女助学座谈", 4, "09:30", "11:00", false),
    ("中心地下停车位 A 区", "parking", "志愿服务队集合", 5, "08:00", "10:00", false),
];

/// The demo's venue requests and bookings ([`BOOKINGS`]), made through the records layer and
/// the schedule as the process makes them.
async fn load_bookings(executor: &Executor, crypto: &dyn crypto::CryptoProvider) -> anyhow::Result<()> {
    use chrono::Datelike;
    let catalog = crate::shipped_forms();
    let (Some(form), Some(venues)) = (catalog.form(services::venue::FORM), catalog.form("venue")) else {
        return Ok(());
    };
    let store = executor.store().as_ref();
    let principal = store.principal("hp-reviewer2").await?.ok_or_else(|| anyhow::anyhow!("demo account missing"))?;
    let actor = forms::records::Actor {
        user: "hp-reviewer2".into(),
        unit: principal.account.unit_id.clone(),
        scope: principal.scope.clone(),
    };
    let system = forms::records::Actor { user: store::SYSTEM_ACTOR.into(), unit: None, scope: store::DataScope::All };
    let list = forms::records::ListRequest { page: 1, page_size: 50, ..Default::default() };
    let (halls, _) = forms::records::list(store, crypto, venues, &system, &list).await?;
    let shanghai = chrono::FixedOffset::east_opt(8 * 3600).ok_or_else(|| anyhow::anyhow!("offset"))?;
    let today = chrono::Utc::now().with_timezone(&shanghai).date_naive();
    let monday = today - chrono::Duration::days(i64::from(today.weekday().num_days_from_monday()));
    for (venue, kind, purpose, day, start, end, booked) in BOOKINGS {
        let Some(hall) = halls.iter().find(|hall| hall.title == *venue) else { continue };
        let date = (monday + chrono::Duration::days(*day)).format("%Y-%m-%d").to_string();
        let values = serde_json::json!({
            "kind": kind, "venue": hall.id, "purpose": purpose, "attendees": 30,
            "time": { "date": date, "start": start, "end": end },
            "contact": "王干事", "contact_phone": "13800000009", "district": "310101",
        });
        let values = values.as_object().cloned().unwrap_or_default();
        let record = forms::records::create(store, crypto, &catalog, form, &actor, &values, forms::Mode::Strict, None)
            .await
            .map_err(|error| anyhow::anyhow!("demo booking {purpose}: {error:?}"))?;
        if !booked {
            crate::forms::start_submission(executor, crypto, &catalog, form, &actor, &record)
                .await
                .map_err(|error| anyhow::anyhow!("demo booking {purpose}: {error}"))?;
            continue;
        }
        let (starts_at, ends_at) = services::venue::times(&date, start, end)
            .ok_or_else(|| anyhow::anyhow!("demo booking {purpose}: bad time"))?;
        let booking = store::bookings::VenueBooking {
            id: store::new_id(),
            venue_id: hall.id.clone(),
            venue_title: hall.title.clone(),
            district: Some("310101".into()),
            kind: (*kind).into(),
            title: (*purpose).into(),
            starts_at,
            ends_at,
            status: "confirmed".into(),
            request_id: record.id.clone(),
            booked_by: "hp-reviewer2".into(),
            created_at: now_millis(),
            cancelled_at: None,
            cancelled_by: None,
        };
        if let store::bookings::BookOutcome::Booked(booked) = store.book_venue(&booking).await? {
            let mut set = serde_json::Map::new();
            set.insert("status".into(), serde_json::json!("confirmed"));
            set.insert("booking".into(), serde_json::json!(booked.id));
            forms::records::set_by_system(
                store,
                crypto,
                &catalog,
                form,
                &system,
                &record.id,
                record.version,
                &set,
                "演示数据",
            )
            .await
            .map_err(|error| anyhow::anyhow!("demo booking {purpose}: {error:?}"))?;
        }
    }
    Ok(())
}

/// On a database with no instance yet, the demo applications: each institution's record made
/// by its applicant and submitted, then taken to its state by the reviewers, through the same
/// commands as the screens (a newcomer finds work in 待办 and every state on the record pages).
pub async fn load_flows(executor: &Executor, crypto: &dyn crypto::CryptoProvider) -> anyhow::Result<()> {
    let any = store::InstanceQuery {
        page: store::Page { first_result: 0, max_results: Some(1) },
        ..store::InstanceQuery::new(store::DataScope::All)
    };
    let (_, existing) = executor.store().instances(&any).await?;
    if existing > 0 || executor.store().account("applicant").await?.is_none() {
        return Ok(());
    }
    let catalog = crate::shipped_forms();
    let form = catalog
        .form(services::institution::FORM)
        .ok_or_else(|| anyhow::anyhow!("the shipped forms lack {}", services::institution::FORM))?;
    for (applicant, name, credit_code, district, industry, phone, fate) in APPLICATIONS {
        let principal = executor
            .store()
            .principal(applicant)
            .await?
            .ok_or_else(|| anyhow::anyhow!("demo account {applicant} is missing"))?;
        let actor = forms::records::Actor {
            user: (*applicant).to_string(),
            unit: principal.account.unit_id.clone(),
            scope: principal.scope.clone(),
        };
        let values = serde_json::json!({
            "name": name,
            "credit_code": credit_code,
            "industry": industry,
            "district": district,
            "address": format!("上海市{}示范路 {} 号", if *district == "310101" { "黄浦区" } else { "徐汇区" }, &phone[9..]),
            "contact": "王经理",
            "contact_phone": phone,
        });
        let values = values.as_object().cloned().unwrap_or_default();
        let store = executor.store().as_ref();
        let record = forms::records::create(store, crypto, &catalog, form, &actor, &values, forms::Mode::Strict, None)
            .await
            .map_err(|error| anyhow::anyhow!("demo application {name}: {error:?}"))?;
        let instance = crate::forms::start_submission(executor, crypto, &catalog, form, &actor, &record)
            .await
            .map_err(|error| anyhow::anyhow!("demo application {name}: {error}"))?;
        let reviewer = if *district == "310101" { "hp-reviewer" } else { "xh-reviewer" };
        let steps: &[(&str, &str, Option<&str>)] = match fate {
            Fate::Submitted => &[],
            Fate::AtCity => &[(reviewer, "approve", Some("材料齐全，同意"))],
            Fate::Returned(reason) => &[(reviewer, "return", Some(reason))],
            Fate::Rejected(reason) => &[(reviewer, "approve", Some("同意")), ("city-reviewer", "reject", Some(reason))],
            Fate::Approved => &[(reviewer, "approve", Some("同意")), ("city-reviewer", "approve", Some("同意入驻"))],
        };
        for (actor, operation, comment) in steps {
            let query = store::TaskQuery {
                instance_id: Some(instance.id.clone()),
                ..store::TaskQuery::new(store::DataScope::All)
            };
            let task = executor
                .store()
                .tasks(&query)
                .await?
                .0
                .into_iter()
                .next()
                .ok_or_else(|| anyhow::anyhow!("demo application {name}: no open task"))?;
            executor.claim(&task, OperationInput::by(actor)).await?;
            let input = OperationInput { comment: comment.map(str::to_string), ..OperationInput::by(actor) };
            match *operation {
                "approve" => executor.approve(&task, input).await?,
                "reject" => executor.reject(&task, input).await?,
                _ => executor.return_task(&task, "application", input).await?,
            };
        }
    }
    load_bookings(executor, crypto).await
}
