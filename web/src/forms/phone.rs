//! The forms on a phone (issue 13: "phone rendering of the same definitions"): `/m/forms`, the
//! pages the light apps and staff on the move use — a form's records as cards with a search,
//! new and edit in one column, a record with its files, tables and formatted text, and
//! 提交审批 with the state of its approvals. The same definition, the same handlers and checks
//! as the console (`pages::create_on` … with [`Surface::Phone`]); each person sees the records
//! their data scope gives them (a citizen or a liaison: their own).

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use serde::Serialize;
use tera::Context;

use super::pages::{Surface, create_on, edit_on, new_record_on, shown_value, update_on};
use super::{Action, actor, catalog, form_for, may, refused};
use crate::AppState;
use crate::console::screen;
use crate::error::ApiResult;
use crate::identity::Auth;
use crate::routes::{Need, Routes};

/// Any signed-in person; each handler asks the form's own permissions.
const ANYONE: Need = Need::Screen(&[]);

/// Cards a list page shows at a time.
const PAGE_SIZE: i64 = 20;

pub(crate) fn router() -> Routes {
    Routes::new()
        .get("/m/forms", ANYONE, index)
        .get("/m/forms/{form}", ANYONE, list)
        .post("/m/forms/{form}", ANYONE, create)
        .get("/m/forms/{form}/new", ANYONE, new_record)
        .get("/m/forms/{form}/{id}", ANYONE, detail)
        .post("/m/forms/{form}/{id}", ANYONE, update)
        .get("/m/forms/{form}/{id}/edit", ANYONE, edit)
}

#[derive(Serialize)]
struct FormCard {
    key: String,
    name: String,
    description: Option<String>,
    group: String,
}

/// `GET /m/forms`: the forms the caller may read.
async fn index(State(state): State<AppState>, Extension(auth): Extension<Auth>) -> ApiResult<Response> {
    let cards: Vec<FormCard> = catalog(&state)
        .forms()
        .filter(|form| may(&auth, form, Action::Read))
        .map(|form| FormCard {
            key: form.key.clone(),
            name: form.name.clone(),
            description: form.description.clone(),
            group: form.group.clone(),
        })
        .collect();
    let mut context = Context::new();
    context.insert("forms", &cards);
    screen(&state, &auth, "forms", "m_forms.html", context).await
}

#[derive(Serialize)]
struct RecordCard {
    id: String,
    title: String,
    /// The list columns other than the title, as people read them.
    summary: Vec<String>,
    updated: String,
}

/// `GET /m/forms/{form}?q=&page=`: the caller's records of a form, newest first, as cards.
async fn list(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(key): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let catalog = catalog(&state);
    let form = form_for(catalog, &auth, &key, Action::Read)?;
    let pairs = super::api::pairs(raw.as_deref());
    let request = super::list_request(form, &pairs, PAGE_SIZE);
    let (records, total) =
        forms::records::list(state.store().as_ref(), state.security.crypto.as_ref(), form, &actor(&auth), &request)
            .await
            .map_err(refused)?;
    let cards: Vec<RecordCard> = records
        .iter()
        .map(|record| RecordCard {
            id: record.id.clone(),
            title: record.title.clone(),
            summary: form
                .list_columns
                .iter()
                .filter(|key| **key != form.title)
                .filter_map(|key| form.field(key))
                .map(|field| super::shown(catalog, field, record.values.get(&field.key), false))
                .filter(|text| !text.is_empty())
                .collect(),
            updated: super::time_text(record.updated_at),
        })
        .collect();
    let text =
        |name: &str| pairs.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone()).unwrap_or_default();
    let mut context = Context::new();
    context.insert("form", &super::pages::facts_of(&auth, form));
    context.insert("rows", &cards);
    context.insert("total", &total);
    context.insert("q", &text("q"));
    context.insert("notice", &text("notice"));
    let more = (request.page * request.page_size < total).then(|| {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("page", &(request.page + 1).to_string())
            .append_pair("q", &text("q"))
            .finish();
        format!("/m/forms/{}?{query}", form.key)
    });
    context.insert("more", &more);
    screen(&state, &auth, &format!("form:{}", form.key), "m_form_list.html", context).await
}

async fn new_record(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(key): Path<String>,
) -> ApiResult<Response> {
    new_record_on(&state, &auth, Surface::Phone, &key).await
}

async fn create(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    create_on(&state, &auth, Surface::Phone, &key, &body).await
}

async fn edit(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path((key, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    edit_on(&state, &auth, Surface::Phone, &key, &id).await
}

async fn update(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path((key, id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    update_on(&state, &auth, Surface::Phone, &key, &id, &body).await
}

/// `GET /m/forms/{form}/{id}`: a record on a phone — its values (sensitive ones masked), its
/// files, tables and formatted text, 编辑, and 提交审批 with its approvals.
async fn detail(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path((key, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let catalog = catalog(&state);
    let form = form_for(catalog, &auth, &key, Action::Read)?;
    let record = forms::records::get(state.store().as_ref(), state.security.crypto.as_ref(), form, &actor(&auth), &id)
        .await
        .map_err(refused)?;
    if record.deleted_at.is_some() {
        return Err(refused(forms::records::RecordError::NotFound));
    }
    let values: Vec<_> = form
        .fields
        .iter()
        .map(|field| shown_value(catalog, form, field, record.values.get(&field.key), false))
        .collect();
    let instances = super::record_instances(&state, form, &record.id).await?;
    let running = instances.iter().any(|instance| instance.status == "ACTIVE");
    let pairs = super::api::pairs(raw.as_deref());
    let notice = pairs.iter().find(|(key, _)| key == "notice").map(|(_, value)| value.clone()).unwrap_or_default();
    let mut context = Context::new();
    context.insert("form", &super::pages::facts_of(&auth, form));
    context.insert("record_id", &record.id);
    context.insert("title", &record.title);
    context.insert("version", &record.version);
    context.insert("values", &values);
    context.insert("updated", &super::time_text(record.updated_at));
    context.insert("notice", &notice);
    context.insert("workflow", &form.workflow.as_ref().map(|workflow| workflow.label.clone()));
    let applies = forms::records::submission_applies(super::catalog(&state), form, &record);
    context.insert("may_submit", &(super::may_submit(&auth, form) && !running && applies));
    context.insert("instances", &instances);
    screen(&state, &auth, &format!("form:{}", form.key), "m_form_record.html", context).await
}
