//! The generated admin screens of a form, inside the console shell:
//! `/admin/forms` (the forms the user may read, by group), `/admin/forms/{form}` (the list: one
//! filter form whose state is the URL, multi-select and range filters, sort by the sortable
//! columns, paging, the recycle bin, CSV export of exactly what the filter shows),
//! `/admin/forms/{form}/new` and `/admin/forms/{form}/{id}/edit` (the form generated from the
//! definition, every problem at its field, values kept), `/admin/forms/{form}/{id}` (the
//! detail with its change history: who, when, which field, old → new; sensitive values masked,
//! shown in full on request with `pii:unmask`, audited), and the posts that create, update
//! (naming the version the page was drawn from), delete and restore.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use forms::records::{self, ListRequest, Record};
use forms::{Catalog, Field, FieldError, FieldKind, Form, Mode};
use serde::Serialize;
use serde_json::{Map, Value};
use store::forms::Deleted;

use super::{Action, actor, catalog, form_for, list_request, may, refused, shown};
use crate::AppState;
use crate::console::{pages, screen, see_other};
use crate::error::{ApiError, ApiResult};
use crate::identity::{Auth, ClientIp};
use crate::routes::{Need, Routes};
use crate::templates::Context;

/// The screens need the forms menu; each form's own permissions decide the rest.
const FORMS: Need = Need::Screen(&["menu:forms"]);

pub(crate) fn router() -> Routes {
    Routes::new()
        .get("/admin/forms", FORMS, index)
        .get("/admin/forms/{form}", FORMS, list)
        .post("/admin/forms/{form}", FORMS, create)
        .get("/admin/forms/{form}/new", FORMS, new_record)
        .get("/admin/forms/{form}/export", FORMS, export)
        .get("/admin/forms/{form}/{id}", FORMS, detail)
        .post("/admin/forms/{form}/{id}", FORMS, update)
        .get("/admin/forms/{form}/{id}/edit", FORMS, edit)
        .post("/admin/forms/{form}/{id}/delete", FORMS, delete)
        .post("/admin/forms/{form}/{id}/restore", FORMS, restore)
        .post("/admin/forms/{form}/{id}/actions/{action}", FORMS, action)
        .post("/admin/forms/{form}/{id}/submit", FORMS, submit)
        .post("/admin/forms/{form}/views", FORMS, save_view)
        .post("/admin/forms/{form}/bulk", FORMS, bulk)
        .post("/admin/forms/{form}/views/{id}/delete", FORMS, delete_view)
        // The reference picker's suggestions: also on task pages, whose people may work on
        // tasks without the forms menu (each answer asks the target form).
        .get("/admin/forms/{form}/choices/{field}", Need::Screen(&["menu:forms", "menu:tasks"]), reference_choices)
        .merge(super::import::page_router())
        .merge(super::phone::router())
}

/// The prefix of a field's name in a posted form (`v.name`), apart from the page's own fields.
const FIELD: &str = "v.";

#[derive(Serialize)]
struct FormSummary {
    key: String,
    name: String,
    description: Option<String>,
    catalogue: Vec<String>,
}

#[derive(Serialize)]
struct Group {
    name: String,
    forms: Vec<FormSummary>,
}

/// The navigation groups in the tender's order; a group not listed comes after them.
const GROUP_ORDER: &[&str] = &["双拥服务", "公共服务", "社会优待", "基础资料"];

/// The forms `auth` may read, in navigation order: by group, then by catalogue row.
fn readable<'a>(catalog: &'a Catalog, auth: &Auth) -> Vec<&'a Form> {
    let mut forms: Vec<&Form> = catalog.forms().filter(|form| may(auth, form, Action::Read)).collect();
    let rank = |form: &Form| GROUP_ORDER.iter().position(|group| *group == form.group).unwrap_or(GROUP_ORDER.len());
    forms.sort_by(|a, b| {
        (rank(a), &a.group, a.catalogue.first(), &a.name).cmp(&(rank(b), &b.group, b.catalogue.first(), &b.name))
    });
    forms
}

/// The forms `auth` may read, grouped as the navigation shows them.
pub(crate) fn groups(catalog: &Catalog, auth: &Auth) -> Vec<(String, Vec<(String, String)>)> {
    let mut groups: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for form in readable(catalog, auth) {
        let entry = (form.key.clone(), form.name.clone());
        match groups.iter_mut().find(|(name, _)| name == &form.group) {
            Some((_, forms)) => forms.push(entry),
            None => groups.push((form.group.clone(), vec![entry])),
        }
    }
    groups
}

async fn index(State(state): State<AppState>, Extension(auth): Extension<Auth>) -> ApiResult<Response> {
    let catalog = catalog(&state);
    let mut groups: Vec<Group> = Vec::new();
    for form in readable(catalog, &auth) {
        let summary = FormSummary {
            key: form.key.clone(),
            name: form.name.clone(),
            description: form.description.clone(),
            catalogue: form.catalogue.clone(),
        };
        match groups.iter_mut().find(|group| group.name == form.group) {
            Some(group) => group.forms.push(summary),
            None => groups.push(Group { name: form.group.clone(), forms: vec![summary] }),
        }
    }
    let mut context = Context::new();
    context.insert("groups", &groups);
    screen(&state, &auth, "forms", "forms.html", context).await
}

/// A form's facts the pages print.
#[derive(Serialize)]
pub(crate) struct FormFacts {
    key: String,
    name: String,
    description: Option<String>,
    catalogue: Vec<String>,
    may_create: bool,
    may_update: bool,
    may_delete: bool,
    may_export: bool,
}

pub(crate) fn facts_of(auth: &Auth, form: &Form) -> FormFacts {
    FormFacts {
        key: form.key.clone(),
        name: form.name.clone(),
        description: form.description.clone(),
        catalogue: form.catalogue.clone(),
        may_create: may(auth, form, Action::Create),
        may_update: may(auth, form, Action::Update),
        may_delete: may(auth, form, Action::Delete),
        may_export: may(auth, form, Action::Export),
    }
}

/// One option of a select, radio, check box or filter.
#[derive(Serialize)]
pub(crate) struct Choice {
    code: String,
    label: String,
    selected: bool,
}

fn choices(catalog: &Catalog, field: &Field, selected: &[String]) -> Vec<Choice> {
    field
        .dict
        .as_deref()
        .and_then(|key| catalog.dict(key))
        .map(|dict| {
            dict.items
                .iter()
                .map(|(code, label)| Choice {
                    code: code.clone(),
                    label: label.clone(),
                    selected: selected.contains(code),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// One filter of the list's search form.
#[derive(Serialize)]
struct FilterWidget {
    key: String,
    label: String,
    /// `text`, `options` (several may be chosen), `boolean`, `date`, `datetime`, `number`.
    kind: &'static str,
    value: String,
    from: String,
    to: String,
    options: Vec<Choice>,
}

#[derive(Serialize)]
struct Column {
    key: String,
    label: String,
    /// The link that sorts by it (empty: not sortable).
    sort_link: String,
    /// `asc`, `desc` or "".
    sorted: &'static str,
}

#[derive(Serialize)]
struct Row {
    id: String,
    title: String,
    cells: Vec<String>,
    deleted: bool,
    updated: String,
}

/// The pairs with `name` replaced by `value` (or removed when empty) and the page reset, as a
/// query string.
fn with(pairs: &[(String, String)], name: &str, value: &str) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (key, kept) in pairs {
        if key != name && key != "page" && !kept.trim().is_empty() {
            serializer.append_pair(key, kept);
        }
    }
    if !value.is_empty() {
        serializer.append_pair(name, value);
    }
    serializer.finish()
}

fn sort_key_name(form: &Form, request: &ListRequest) -> (String, bool) {
    request.sort.clone().unwrap_or_else(|| match &form.sort {
        (forms::SortKey::Updated, ascending) => ("updated".into(), *ascending),
        (forms::SortKey::Created, ascending) => ("created".into(), *ascending),
        (forms::SortKey::Field(field), ascending) => (field.clone(), *ascending),
    })
}

async fn list(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(key): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let catalog = catalog(&state);
    let form = form_for(catalog, &auth, &key, Action::Read)?;
    let pairs = super::api::pairs(raw.as_deref());
    let request = list_request(form, &pairs, 20);
    let (records, total, errors) = match records::list(
        state.store().as_ref(),
        state.security.crypto.as_ref(),
        form,
        &actor(&auth),
        &request,
    )
    .await
    {
        Ok((records, total)) => (records, total, Vec::new()),
        Err(records::RecordError::Invalid(errors)) => (Vec::new(), 0, errors),
        Err(other) => return Err(refused(other)),
    };
    let (sorted_by, ascending) = sort_key_name(form, &request);
    // The columns: those chosen (`cols`, repeated), else the definition's list.
    let chosen: Vec<&Field> =
        pairs.iter().filter(|(key, _)| key == "cols").filter_map(|(_, value)| form.field(value)).collect();
    let shown_fields: Vec<&Field> =
        if chosen.is_empty() { form.list_columns.iter().filter_map(|key| form.field(key)).collect() } else { chosen };
    let column_choices: Vec<Choice> = form
        .fields
        .iter()
        .map(|field| Choice {
            code: field.key.clone(),
            label: field.label.clone(),
            selected: shown_fields.iter().any(|shown| shown.key == field.key),
        })
        .collect();
    let columns: Vec<Column> = shown_fields
        .iter()
        .map(|field| {
            let sorted = match (sorted_by == field.key, ascending) {
                (true, true) => "asc",
                (true, false) => "desc",
                _ => "",
            };
            let next = if sorted == "asc" { format!("-{}", field.key) } else { field.key.clone() };
            Column {
                key: field.key.clone(),
                label: field.label.clone(),
                sort_link: if field.sortable { format!("?{}", with(&pairs, "sort", &next)) } else { String::new() },
                sorted,
            }
        })
        .collect();
    let rows: Vec<Row> = records
        .iter()
        .map(|record| Row {
            id: record.id.clone(),
            title: record.title.clone(),
            cells: shown_fields
                .iter()
                .map(|field| shown(catalog, field, record.values.get(&field.key), false))
                .collect(),
            deleted: record.deleted_at.is_some(),
            updated: super::time_text(record.updated_at),
        })
        .collect();
    let filters: Vec<FilterWidget> = form
        .fields
        .iter()
        .filter(|field| field.filter)
        .map(|field| {
            let name = format!("f.{}", field.key);
            let given = |name: &str| {
                pairs.iter().filter(|(key, _)| key == name).map(|(_, value)| value.clone()).collect::<Vec<_>>()
            };
            let first = |name: &str| given(name).into_iter().next().unwrap_or_default();
            let kind = match field.kind {
                kind if kind.is_text() => "text",
                FieldKind::Boolean => "boolean",
                FieldKind::Date => "date",
                FieldKind::Datetime => "datetime",
                FieldKind::Integer | FieldKind::Decimal | FieldKind::Money => "number",
                _ => "options",
            };
            let options = choices(catalog, field, &given(&name));
            // An option filter's summary: what is chosen ("" = all).
            let value = if kind == "options" {
                let chosen: Vec<&Choice> = options.iter().filter(|option| option.selected).collect();
                match chosen.as_slice() {
                    [] => String::new(),
                    [one] => one.label.clone(),
                    many => format!("已选 {} 项", many.len()),
                }
            } else {
                first(&name)
            };
            FilterWidget {
                key: field.key.clone(),
                label: field.label.clone(),
                kind,
                value,
                from: first(&format!("{name}.from")),
                to: first(&format!("{name}.to")),
                options,
            }
        })
        .collect();
    let size = request.page_size.clamp(1, records::MAX_PAGE_SIZE);
    let page = request.page.max(1);
    let last = pages(total, size);
    let mut context = Context::new();
    context.insert("form", &facts_of(&auth, form));
    context.insert("filters", &filters);
    context.insert("q", &request.text.clone().unwrap_or_default());
    context.insert("columns", &columns);
    context.insert("column_choices", &column_choices);
    // The bulk actions the caller may take: 删除, and each record action they hold.
    let mut bulk_actions: Vec<(String, String)> = Vec::new();
    if super::may(&auth, form, Action::Delete) {
        bulk_actions.push(("delete".into(), "删除".into()));
    }
    for item in
        form.actions.iter().filter(|item| item.permissions.iter().any(|permission| auth.principal.can(permission)))
    {
        bulk_actions.push((format!("action:{}", item.key), item.label.clone()));
    }
    context.insert("bulk_actions", &bulk_actions);
    context.insert("views", &super::views_for(&state, &auth, form).await?);
    let view = pairs.iter().find(|(key, _)| key == "view").map(|(_, value)| value.clone()).unwrap_or_default();
    context.insert("view", &view);
    context.insert("rows", &rows);
    context.insert("total", &total);
    context.insert("page", &page);
    context.insert("pages", &last);
    context.insert("size", &size);
    context.insert(
        "sort",
        &pairs.iter().find(|(key, _)| key == "sort").map(|(_, value)| value.clone()).unwrap_or_default(),
    );
    context.insert("deleted", &(request.deleted == Deleted::Only));
    context.insert("errors", &errors);
    let page_link = |number: i64| format!("?{}", with(&with_page(&pairs), "page", &number.to_string()));
    context.insert("prev_link", &(page > 1).then(|| page_link(page - 1)));
    context.insert("next_link", &(page < last).then(|| page_link(page + 1)));
    context.insert("query", &with(&pairs, "page", ""));
    context.insert(
        "bin_link",
        &format!("?{}", with(&[], "deleted", if request.deleted == Deleted::Only { "" } else { "1" })),
    );
    let notice = pairs.iter().find(|(key, _)| key == "notice").map(|(_, value)| value.clone()).unwrap_or_default();
    context.insert("notice", &notice);
    let active = format!("form:{}", form.key);
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let mut response = screen(&state, &auth, &active, "form_list.html", context).await?;
    *response.status_mut() = status;
    Ok(response)
}

/// The pairs without the page (a new page number replaces it), and without a notice.
fn with_page(pairs: &[(String, String)]) -> Vec<(String, String)> {
    pairs.iter().filter(|(key, _)| key != "page" && key != "notice").cloned().collect()
}

/// One field of the edit form.
#[derive(Serialize)]
pub(crate) struct Input {
    pub(crate) key: String,
    /// The parts of a date range or time slot (`v.<key>.from` …).
    parts: Vec<Part>,
    /// The current value as people read it (a reference's title).
    #[serde(skip)]
    pub(crate) shown: String,
    name: String,
    label: String,
    /// The input to draw: `text`, `textarea`, `number`, `date`, `datetime-local`, `select`,
    /// `radio`, `multiselect`, `checkbox`, `boolean`, `email`, `url`, `tel`.
    input: &'static str,
    pub(crate) value: String,
    pub(crate) options: Vec<Choice>,
    required: bool,
    min: Option<String>,
    max: Option<String>,
    step: Option<String>,
    max_length: Option<usize>,
    help: Option<String>,
    error: Option<String>,
    /// A browser hint for `visible_when` when it is a simple comparison (`field == "x"`): the
    /// page hides the field until it holds; the server decides either way.
    show_if: Option<(String, String, bool)>,
    sensitive: bool,
    /// A file or image field's files (the hidden input `name` carries their ids).
    pub(crate) files: Vec<FileChip>,
    /// A file or image field: the extensions the chooser offers (`.pdf,.jpg`) and how many.
    accept: String,
    /// The same for people: `pdf、jpg`.
    accept_text: String,
    max_files: usize,
    /// A sub-table.
    table: Option<TableInput>,
    /// A reference field: where its picker asks for suggestions, and the title it shows.
    choices: Option<String>,
    title: String,
}

/// A file of a file or image field on a page.
#[derive(Debug, Serialize, Clone)]
pub(crate) struct FileChip {
    id: String,
    name: String,
    size: String,
    pub(crate) url: String,
    image: bool,
}

/// A size as people read it.
fn size_text(bytes: u64) -> String {
    match bytes {
        0..1024 => format!("{bytes} B"),
        1024..1_048_576 => format!("{:.0} KB", bytes as f64 / 1024.0),
        _ => format!("{:.1} MB", bytes as f64 / 1_048_576.0),
    }
}

/// The files of a stored file or image value, each served by the form's file route; `masked`
/// (a sensitive field for someone who sees it masked): their masked names, no link and no
/// picture (移除 on an edit form still works: the ids are the field's value).
pub(crate) fn file_chips(form: &Form, masked: Option<&Field>, value: Option<&Value>) -> Vec<FileChip> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|file| {
            let id = file.get("id")?.as_str()?.to_string();
            let name = file.get("name").and_then(Value::as_str).unwrap_or("文件");
            Some(match masked {
                Some(field) => FileChip {
                    url: String::new(),
                    name: super::masked(field, name),
                    size: String::new(),
                    image: false,
                    id,
                },
                None => FileChip {
                    url: format!("/api/forms/{}/files/{id}", form.key),
                    name: name.to_string(),
                    size: size_text(file.get("size").and_then(Value::as_u64).unwrap_or(0)),
                    image: file
                        .get("contentType")
                        .and_then(Value::as_str)
                        .is_some_and(|kind| kind.starts_with("image/")),
                    id,
                },
            })
        })
        .collect()
}

/// A sub-table on the edit form: a row of inputs per row, and an empty row the page copies
/// when a row is added (`__row__` in its names).
#[derive(Serialize)]
pub(crate) struct TableInput {
    columns: Vec<ColumnHead>,
    rows: Vec<Vec<Cell>>,
    template: Vec<Cell>,
    /// Rows may be added and removed (not at a task that may change only some columns).
    rows_editable: bool,
}

#[derive(Serialize)]
struct ColumnHead {
    key: String,
    label: String,
    required: bool,
}

/// One cell of a sub-table's row.
#[derive(Serialize)]
struct Cell {
    key: String,
    name: String,
    /// `text`, `number`, `date`, `datetime-local`, `select`, `boolean`, `tel`, `email`, `url`.
    input: &'static str,
    value: String,
    /// What a cell that may not be changed shows.
    shown: String,
    options: Vec<Choice>,
    step: Option<String>,
    editable: bool,
    invalid: bool,
}

/// The input of a single value of `kind` (a field or a sub-table's column).
fn input_kind(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Text | FieldKind::IdCard | FieldKind::Uscc => "text",
        FieldKind::Textarea => "textarea",
        FieldKind::Integer | FieldKind::Decimal | FieldKind::Money => "number",
        FieldKind::Boolean => "boolean",
        FieldKind::Date => "date",
        FieldKind::Datetime => "datetime-local",
        FieldKind::Select | FieldKind::District => "select",
        FieldKind::Reference | FieldKind::User => "reference",
        FieldKind::Unit => "select",
        FieldKind::DateRange => "daterange",
        FieldKind::Address => "address",
        FieldKind::TimeSlot => "timeslot",
        FieldKind::Radio => "radio",
        FieldKind::Multiselect => "multiselect",
        FieldKind::Checkbox => "checkbox",
        FieldKind::Phone => "tel",
        FieldKind::Email => "email",
        FieldKind::Url => "url",
        FieldKind::File | FieldKind::Image => "file",
        FieldKind::RichText => "richtext",
        FieldKind::Table => "table",
    }
}

fn step_of(field: &Field) -> Option<String> {
    match field.kind {
        FieldKind::Integer => Some("1".to_string()),
        FieldKind::Decimal | FieldKind::Money => Some(forms::value::format_decimal(1, field.scale)),
        _ => None,
    }
}

/// The text an input shows for a single value.
fn input_text(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Number(number)) => number.to_string(),
        Some(Value::Bool(flag)) => flag.to_string(),
        _ => String::new(),
    }
}

/// A sub-table's inputs: its rows as `values` hold them (stored, or as posted), each cell
/// marked when an error is at it.
fn table_input(catalog: &Catalog, field: &Field, value: Option<&Value>, errors: &[FieldError]) -> TableInput {
    let cell = |row: Option<&Map<String, Value>>, index: &str, column: &Field| {
        let value = row.and_then(|row| row.get(&column.key));
        let selected: Vec<String> = value.and_then(Value::as_str).map(str::to_string).into_iter().collect();
        let at = format!("{}.{index}.{}", field.key, column.key);
        Cell {
            key: column.key.clone(),
            name: format!("{FIELD}{at}"),
            input: input_kind(column.kind),
            value: input_text(value),
            shown: forms::value::cell_display(column, catalog, value),
            options: choices(catalog, column, &selected),
            step: step_of(column),
            editable: true,
            invalid: errors.iter().any(|error| error.field == at),
        }
    };
    let rows: Vec<Vec<Cell>> = value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(index, row)| {
            field.columns.iter().map(|column| cell(row.as_object(), &index.to_string(), column)).collect()
        })
        .collect();
    TableInput {
        columns: field
            .columns
            .iter()
            .map(|column| ColumnHead {
                key: column.key.clone(),
                label: column.label.clone(),
                required: column.required,
            })
            .collect(),
        rows,
        template: field.columns.iter().map(|column| cell(None, "__row__", column)).collect(),
        rows_editable: true,
    }
}

/// A task that may change only some of a sub-table's columns: the others shown as text, and
/// no rows added or removed (the server refuses either anyway).
pub(crate) fn restrict_table(input: &mut Input, form: &Form, view: Option<&str>) {
    let Some(field) = form.field(&input.key) else { return };
    let Some(table) = input.table.as_mut() else { return };
    table.rows_editable = form.rows_editable(view, field);
    for column in &field.columns {
        let editable = form.column_editable(view, field, column);
        for cell in
            table.rows.iter_mut().flatten().chain(table.template.iter_mut()).filter(|cell| cell.key == column.key)
        {
            cell.editable = editable;
        }
    }
}

/// One input of a composite value.
#[derive(Serialize)]
struct Part {
    name: String,
    input: &'static str,
    label: &'static str,
    value: String,
    /// Filled in whenever the field is (an address's point is optional).
    required: bool,
    /// A whole line of its own (an address's text).
    wide: bool,
}

fn bound_text(field: &Field, bound: &Option<forms::definition::Bound>) -> Option<String> {
    match bound.as_ref()? {
        forms::definition::Bound::Number(number) => Some(forms::value::format_decimal(*number, field.scale)),
        forms::definition::Bound::Date(date) => Some(date.format("%Y-%m-%d").to_string()),
        forms::definition::Bound::Datetime(text) => Some(text.clone()),
    }
}

/// `field == "literal"` / `field != "literal"` as (field, literal, equal), else `None`.
fn simple_condition(source: &str) -> Option<(String, String, bool)> {
    let (left, right, equal) = match source.split_once("==") {
        Some((left, right)) => (left, right, true),
        None => {
            let (left, right) = source.split_once("!=")?;
            (left, right, false)
        }
    };
    let field = left.trim();
    let literal = right.trim().strip_prefix('"')?.strip_suffix('"')?;
    let plain =
        |text: &str| !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    (plain(field) && !literal.contains('"')).then(|| (field.to_string(), literal.to_string(), equal))
}

/// The edit form's inputs: `values` are what to show (the record's, or what was posted), each
/// error at its field.
pub(crate) fn inputs(
    catalog: &Catalog,
    form: &Form,
    values: &Map<String, Value>,
    errors: &[FieldError],
    unmask: bool,
) -> Vec<Input> {
    form.fields
        .iter()
        .map(|field| {
            let value = values.get(&field.key);
            let selected: Vec<String> = match value {
                Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_string).collect(),
                Some(Value::String(text)) => vec![text.clone()],
                _ => Vec::new(),
            };
            let text = match value {
                Some(Value::Object(reference)) => reference.get("id").and_then(Value::as_str).unwrap_or("").to_string(),
                Some(Value::String(text)) if field.sensitive && !unmask => super::masked(field, text),
                // Posted back after a refusal: shown only as the server would keep it.
                Some(Value::String(html)) if field.kind == FieldKind::RichText => forms::value::sanitise_html(html),
                Some(Value::Array(_)) if field.kind.is_upload() => forms::records::file_ids(value).join(","),
                Some(Value::String(text)) => text.clone(),
                Some(Value::Number(number)) => number.to_string(),
                Some(Value::Bool(flag)) => flag.to_string(),
                _ => String::new(),
            };
            let input = input_kind(field.kind);
            let step = step_of(field);
            // The inputs of a composite value: its parts, each with its own name.
            let part_names: &[(&str, &str, &str)] = match field.kind {
                FieldKind::DateRange => &[("from", "date", "开始"), ("to", "date", "结束")],
                FieldKind::Address => &[("address", "text", "地址"), ("lat", "text", "纬度"), ("lng", "text", "经度")],
                FieldKind::TimeSlot => &[("date", "date", "日期"), ("start", "time", "开始"), ("end", "time", "结束")],
                _ => &[],
            };
            let parts = part_names
                .iter()
                .map(|(name, input, label)| Part {
                    wide: *name == "address",
                    required: field.required && !(field.kind == FieldKind::Address && *name != "address"),
                    name: format!("{FIELD}{}.{name}", field.key),
                    input,
                    label,
                    value: match value {
                        Some(Value::Object(parts)) => {
                            parts.get(*name).and_then(Value::as_str).unwrap_or("").to_string()
                        }
                        _ => String::new(),
                    },
                })
                .collect();
            Input {
                parts,
                shown: forms::value::display(field, catalog, value),
                key: field.key.clone(),
                name: format!("{FIELD}{}", field.key),
                label: field.label.clone(),
                input,
                value: text,
                options: choices(catalog, field, &selected),
                required: field.required,
                min: bound_text(field, &field.min),
                max: bound_text(field, &field.max),
                step,
                max_length: field.max_length,
                help: field.help.clone(),
                error: {
                    let messages: Vec<String> = errors
                        .iter()
                        .filter(|error| error.is_at(&field.key))
                        .map(|error| error.message.clone())
                        .collect();
                    (!messages.is_empty()).then(|| messages.join("；"))
                },
                show_if: field.visible_when_source.as_deref().and_then(simple_condition),
                sensitive: field.sensitive,
                files: match field.kind.is_upload() {
                    true => file_chips(form, (field.sensitive && !unmask).then_some(field), value),
                    false => Vec::new(),
                },
                accept: field.accept.iter().map(|extension| format!(".{extension}")).collect::<Vec<_>>().join(","),
                accept_text: field.accept.join("、"),
                max_files: field.max_files,
                table: (field.kind == FieldKind::Table).then(|| table_input(catalog, field, value, errors)),
                choices: matches!(field.kind, FieldKind::Reference | FieldKind::User)
                    .then(|| format!("/admin/forms/{}/choices/{}", form.key, field.key)),
                title: match value {
                    Some(Value::Object(reference)) => {
                        reference.get("title").and_then(Value::as_str).unwrap_or_default().to_string()
                    }
                    // A title typed and refused comes back as typed.
                    Some(Value::String(text)) if matches!(field.kind, FieldKind::Reference | FieldKind::User) => {
                        text.clone()
                    }
                    _ => String::new(),
                },
            }
        })
        .collect()
}

/// The most suggestions a reference picker shows at once (a longer name narrows them).
const PICKER_SUGGESTIONS: i64 = 20;

#[derive(serde::Deserialize, Default)]
struct PickerQuery {
    #[serde(default)]
    q: String,
}

#[derive(Serialize)]
struct Suggestion {
    id: String,
    title: String,
    /// What tells two of one name apart: a record's district, an account's id.
    district: String,
}

/// `GET /admin/forms/{form}/choices/{field}?q=…`: the reference picker's suggestions, an HTML
/// fragment — live records of the target form whose title or text holds what was typed, inside
/// the caller's data scope, only when the caller may read that form (as every reference is
/// resolved, `records::resolve_references`). `console.js` puts a chosen one into the field.
async fn reference_choices(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path((key, field)): Path<(String, String)>,
    query: Result<Query<PickerQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let query = query.map(|Query(query)| query).unwrap_or_default();
    let catalog = catalog(&state);
    let search = query.q.trim().chars().take(100).collect::<String>();
    let kind = catalog.form(&key).and_then(|form| form.field(&field)).map(|field| field.kind);
    if kind == Some(FieldKind::User) {
        // Active accounts of the caller's scope whose id or name holds what was typed.
        let accounts = store::identity::AccountQuery {
            status: Some("active".into()),
            search: (!search.is_empty()).then(|| search.clone()),
            limit: Some(PICKER_SUGGESTIONS),
            ..store::identity::AccountQuery::new(actor(&auth).scope)
        };
        let suggestions: Vec<Suggestion> = state
            .store()
            .accounts(&accounts)
            .await?
            .into_iter()
            .map(|account| Suggestion {
                title: account.display_name.clone().unwrap_or_else(|| account.id.clone()),
                district: account.id.clone(),
                id: account.id,
            })
            .collect();
        return Ok(suggestions_fragment(&suggestions, &search, true));
    }
    let target = catalog
        .form(&key)
        .and_then(|form| form.field(&field))
        .filter(|field| field.kind == FieldKind::Reference)
        .and_then(|field| field.target.as_deref())
        .and_then(|target| catalog.form(target))
        .filter(|target| super::may(&auth, target, Action::Read));
    let suggestions: Vec<Suggestion> = match target {
        None => Vec::new(),
        Some(target) => {
            let request = ListRequest {
                page: 1,
                page_size: PICKER_SUGGESTIONS,
                text: (!search.is_empty()).then(|| search.clone()),
                ..ListRequest::default()
            };
            let (records, _) =
                records::list(state.store().as_ref(), state.security.crypto.as_ref(), target, &actor(&auth), &request)
                    .await
                    .map_err(refused)?;
            let district_label =
                |code: &str| catalog.dict("district").and_then(|dict| dict.label(code)).unwrap_or(code).to_string();
            records
                .into_iter()
                .map(|record| Suggestion {
                    district: record.district.as_deref().map(district_label).unwrap_or_default(),
                    id: record.id,
                    title: record.title,
                })
                .collect()
        }
    };
    Ok(suggestions_fragment(&suggestions, &search, target.is_some()))
}

/// The picker's fragment: the suggestions, or why there are none.
fn suggestions_fragment(suggestions: &[Suggestion], search: &str, allowed: bool) -> Response {
    let mut context = Context::new();
    context.insert("suggestions", suggestions);
    context.insert("search", search);
    context.insert("allowed", &allowed);
    crate::templates::page(StatusCode::OK, "form_choices.html", &context)
}

/// Fills the options of the unit fields among `inputs`: the units the caller can see, by name,
/// the current one selected (and offered even when it is no longer among them, so an edit
/// does not lose it). Reference and user fields have a picker instead (`reference_choices`): a
/// form or a city's accounts hold far more than a drop-down can.
pub(crate) async fn reference_options(
    state: &AppState,
    auth: &Auth,
    form: &Form,
    inputs: &mut [Input],
) -> ApiResult<()> {
    let store = state.store().as_ref();
    let actor = actor(auth);
    for input in inputs.iter_mut() {
        // References and accounts have pickers that ask as the person types
        // (`reference_choices`); units are few enough for a drop-down.
        if form.field(&input.key).is_none_or(|field| field.kind != FieldKind::Unit) {
            continue;
        }
        let pairs: Vec<(String, String)> = records::units_in_scope(store, &actor)
            .await
            .map_err(refused)?
            .into_iter()
            .map(|unit| (unit.id, unit.name))
            .collect();
        let mut options: Vec<Choice> =
            pairs.into_iter().map(|(code, label)| Choice { selected: code == input.value, code, label }).collect();
        options.sort_by(|a, b| a.label.cmp(&b.label));
        if !input.value.is_empty() && !options.iter().any(|option| option.selected) {
            options.insert(0, Choice { code: input.value.clone(), label: input.shown.clone(), selected: true });
        }
        input.options = options;
    }
    Ok(())
}

/// A posted edit form as the values the records layer reads: every field of the form, so an
/// emptied field or an unticked box clears its value. `keep` are the stored values a masked
/// sensitive field keeps when it comes back unchanged.
fn posted(form: &Form, body: &Bytes, keep: Option<&Map<String, Value>>) -> (Map<String, Value>, Option<i64>) {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let version = pairs.iter().find(|(key, _)| key == "version").and_then(|(_, value)| value.parse().ok());
    (posted_fields(form.fields.iter(), &pairs, keep), version)
}

/// The posted values of `fields` (a record's edit form, a task form's editable fields).
pub(crate) fn posted_fields<'a>(
    fields: impl Iterator<Item = &'a Field>,
    pairs: &[(String, String)],
    keep: Option<&Map<String, Value>>,
) -> Map<String, Value> {
    let mut values = Map::new();
    for field in fields {
        let name = format!("{FIELD}{}", field.key);
        let given: Vec<String> = pairs.iter().filter(|(key, _)| key == &name).map(|(_, value)| value.clone()).collect();
        let value = match field.kind {
            kind if kind.is_list() => Value::Array(given.into_iter().map(Value::String).collect()),
            FieldKind::DateRange | FieldKind::TimeSlot | FieldKind::Address => {
                let names: &[&str] = match field.kind {
                    FieldKind::DateRange => &["from", "to"],
                    FieldKind::Address => &["address", "lat", "lng"],
                    _ => &["date", "start", "end"],
                };
                let mut object = Map::new();
                for part in names {
                    let name = format!("{FIELD}{}.{part}", field.key);
                    let text =
                        pairs.iter().find(|(key, _)| *key == name).map(|(_, value)| value.clone()).unwrap_or_default();
                    object.insert((*part).to_string(), Value::String(text));
                }
                Value::Object(object)
            }
            FieldKind::Boolean => Value::Bool(given.iter().any(|value| value == "true" || value == "on")),
            FieldKind::File | FieldKind::Image => Value::Array(
                given
                    .iter()
                    .flat_map(|ids| ids.split(','))
                    .map(str::trim)
                    .filter(|id| !id.is_empty())
                    .map(|id| Value::String(id.to_string()))
                    .collect(),
            ),
            FieldKind::Table => posted_rows(field, pairs),
            _ => {
                let text = given.into_iter().next().unwrap_or_default();
                // A masked value shown on the page and sent back untouched keeps the stored one.
                let stored = keep.and_then(|keep| keep.get(&field.key)).and_then(Value::as_str);
                match stored {
                    Some(stored) if field.sensitive && text == super::masked(field, stored) => {
                        Value::String(stored.to_string())
                    }
                    _ => Value::String(text),
                }
            }
        };
        values.insert(field.key.clone(), value);
    }
    values
}

/// A sub-table's posted rows (`v.<table>.<row>.<column>`), in the order of their numbers
/// (the page numbers rows as it adds them; removed ones leave gaps).
fn posted_rows(field: &Field, pairs: &[(String, String)]) -> Value {
    let prefix = format!("{FIELD}{}.", field.key);
    let mut rows: std::collections::BTreeMap<u64, Map<String, Value>> = std::collections::BTreeMap::new();
    for (name, value) in pairs {
        let Some((row, column)) = name.strip_prefix(&prefix).and_then(|rest| rest.split_once('.')) else { continue };
        let (Ok(row), Some(column)) =
            (row.parse::<u64>(), field.columns.iter().find(|candidate| candidate.key == column))
        else {
            continue;
        };
        let cell = match column.kind {
            FieldKind::Boolean => Value::Bool(value == "true" || value == "on"),
            _ => Value::String(value.clone()),
        };
        rows.entry(row).or_default().insert(column.key.clone(), cell);
    }
    // Rows left blank are dropped here as the records layer drops them, so an error's row
    // number is the row the page shows again.
    let blank =
        |cell: &Value| matches!(cell, Value::Bool(false)) || cell.as_str().is_some_and(|text| text.trim().is_empty());
    Value::Array(rows.into_values().filter(|row| !row.values().all(blank)).map(Value::Object).collect())
}

/// Which screens a page is drawn for: the console (`/admin/forms`) or a phone (`/m/forms`:
/// the light apps and staff on the move), from the same definition and the same handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Surface {
    Console,
    Phone,
}

impl Surface {
    /// Where a form's pages are on this surface.
    pub(crate) fn base(self, form: &Form) -> String {
        match self {
            Surface::Console => format!("/admin/forms/{}", form.key),
            Surface::Phone => format!("/m/forms/{}", form.key),
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn edit_page(
    state: &AppState,
    auth: &Auth,
    surface: Surface,
    form: &Form,
    record: Option<&Record>,
    values: &Map<String, Value>,
    errors: &[FieldError],
    message: Option<&str>,
    status: StatusCode,
) -> ApiResult<Response> {
    let catalog = catalog(state);
    let mut context = Context::new();
    context.insert("form", &facts_of(auth, form));
    context.insert("base", &surface.base(form));
    let mut shown_inputs = inputs(catalog, form, values, errors, false);
    // Read-only fields are no inputs here (record actions, the system and the reviews that name
    // them set them): those with a value are shown as facts above the form.
    let readonly = |key: &str| form.field(key).is_some_and(|field| field.readonly);
    let fixed: Vec<(String, String)> = shown_inputs
        .iter()
        .filter(|input| readonly(&input.key) && !input.shown.is_empty())
        .filter_map(|input| form.field(&input.key).map(|field| (field.label.clone(), input.shown.clone())))
        .collect();
    shown_inputs.retain(|input| !readonly(&input.key));
    reference_options(state, auth, form, &mut shown_inputs).await?;
    context.insert("inputs", &shown_inputs);
    context.insert("fixed", &fixed);
    context.insert("record_id", &record.map(|record| record.id.clone()));
    context.insert("record_title", &record.map(|record| record.title.clone()));
    context.insert("version", &record.map(|record| record.version));
    let form_errors: Vec<String> =
        errors.iter().filter(|error| form.field(&error.field).is_none()).map(|error| error.message.clone()).collect();
    context.insert("form_errors", &form_errors);
    context.insert("message", &message);
    context.insert("error_count", &errors.len());
    // A new record of a form with a process can be saved and submitted at once (保存并提交).
    let submit = form.workflow.as_ref().filter(|_| record.is_none() && super::may_submit(auth, form));
    context.insert("submit_label", &submit.map(|workflow| workflow.label.clone()));
    // Saving without submitting is offered only to whoever may edit the saved record later (an
    // institution's applicant submits: what is submitted is what is reviewed).
    context.insert("may_save", &(submit.is_none() || super::may(auth, form, Action::Update)));
    let active = format!("form:{}", form.key);
    let template = if surface == Surface::Phone { "m_form_edit.html" } else { "form_edit.html" };
    let mut response = screen(state, auth, &active, template, context).await?;
    *response.status_mut() = status;
    Ok(response)
}

async fn new_record(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(key): Path<String>,
) -> ApiResult<Response> {
    new_record_on(&state, &auth, Surface::Console, &key).await
}

pub(crate) async fn new_record_on(state: &AppState, auth: &Auth, surface: Surface, key: &str) -> ApiResult<Response> {
    let form = form_for(catalog(state), auth, key, Action::Create)?;
    edit_page(state, auth, surface, form, None, &Map::new(), &[], None, StatusCode::OK).await
}

async fn create(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    create_on(&state, &auth, Surface::Console, &key, &body).await
}

/// A new record from a posted edit form, then its page (or the form again, each problem at
/// its field).
pub(crate) async fn create_on(
    state: &AppState,
    auth: &Auth,
    surface: Surface,
    key: &str,
    body: &Bytes,
) -> ApiResult<Response> {
    let catalog = catalog(state);
    let form = form_for(catalog, auth, key, Action::Create)?;
    let (values, _) = posted(form, body, None);
    match records::create(
        state.store().as_ref(),
        state.security.crypto.as_ref(),
        catalog,
        form,
        &actor(auth),
        &values,
        Mode::Lenient,
        None,
    )
    .await
    {
        Ok(record) => {
            let then_submit = form_urlencoded::parse(body).any(|(name, value)| name == "then" && value == "submit");
            let notice = if !then_submit {
                "created"
            } else {
                match super::submit_record(state, auth, form, &record.id, record.version).await {
                    Ok(_) => "submitted",
                    // Saved all the same: the record page offers 提交 again and says why not.
                    Err(error) => {
                        tracing::info!(%error, record = %record.id, "saved, but the submission was refused");
                        "created-not-submitted"
                    }
                }
            };
            see_other(&format!("{}/{}?notice={notice}", surface.base(form), record.id))
        }
        Err(records::RecordError::Invalid(errors)) => {
            edit_page(state, auth, surface, form, None, &values, &errors, None, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(other) => Err(refused(other)),
    }
}

async fn edit(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path((key, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    edit_on(&state, &auth, Surface::Console, &key, &id).await
}

pub(crate) async fn edit_on(
    state: &AppState,
    auth: &Auth,
    surface: Surface,
    key: &str,
    id: &str,
) -> ApiResult<Response> {
    let form = form_for(catalog(state), auth, key, Action::Update)?;
    let record = records::get(state.store().as_ref(), state.security.crypto.as_ref(), form, &actor(auth), id)
        .await
        .map_err(refused)?;
    if record.deleted_at.is_some() {
        return Err(refused(records::RecordError::NotFound));
    }
    edit_page(state, auth, surface, form, Some(&record), &record.values, &[], None, StatusCode::OK).await
}

async fn update(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path((key, id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    update_on(&state, &auth, Surface::Console, &key, &id, &body).await
}

/// A posted edit of a record, then its page (or the form again: each problem at its field,
/// or, when someone saved first, their version with a message).
pub(crate) async fn update_on(
    state: &AppState,
    auth: &Auth,
    surface: Surface,
    key: &str,
    id: &str,
    body: &Bytes,
) -> ApiResult<Response> {
    let catalog = catalog(state);
    let form = form_for(catalog, auth, key, Action::Update)?;
    let store = state.store().as_ref();
    let current = records::get(store, state.security.crypto.as_ref(), form, &actor(auth), id).await.map_err(refused)?;
    let (values, version) = posted(form, body, Some(&current.values));
    let Some(version) = version else { return Err(ApiError::invalid("缺少版本号 (version is required)")) };
    match records::update(
        store,
        state.security.crypto.as_ref(),
        catalog,
        form,
        &actor(auth),
        id,
        version,
        &values,
        Mode::Lenient,
        None,
    )
    .await
    {
        Ok(record) => see_other(&format!("{}/{}?notice=saved", surface.base(form), record.id)),
        Err(records::RecordError::Invalid(errors)) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            edit_page(state, auth, surface, form, Some(&current), &values, &errors, None, status).await
        }
        Err(records::RecordError::Stale { .. }) => {
            // Someone saved first: show their version, say so; what this user typed is lost
            // only if they leave the page (the message tells them to compare).
            let latest =
                records::get(store, state.security.crypto.as_ref(), form, &actor(auth), id).await.map_err(refused)?;
            let message = "保存失败：这条记录在您编辑期间已被他人修改。下面是最新内容，请核对后重新修改并保存。";
            edit_page(
                state,
                auth,
                surface,
                form,
                Some(&latest),
                &latest.values,
                &[],
                Some(message),
                StatusCode::CONFLICT,
            )
            .await
        }
        Err(other) => Err(refused(other)),
    }
}

#[derive(Serialize)]
struct ActionButton {
    key: String,
    label: String,
    confirm: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct Shown {
    label: String,
    value: String,
    sensitive: bool,
    /// A file or image field's files.
    files: Vec<FileChip>,
    /// Formatted text, sanitised when it was saved (and again here).
    html: Option<String>,
    /// A sub-table: its column labels and each row's cells as people read them.
    table: Option<TableShown>,
    /// A `qr` text field's value drawn as a QR code (a `data:` image).
    qr: Option<String>,
}

/// A stored value on the record page: text, or files, formatted text, a table.
/// A sub-table as people read it: its column labels and each row's cells.
pub(crate) type TableShown = (Vec<String>, Vec<Vec<String>>);

/// A sub-table value as [`TableShown`] (`None` for any other field).
pub(crate) fn table_shown(catalog: &Catalog, field: &Field, value: Option<&Value>) -> Option<TableShown> {
    (field.kind == FieldKind::Table).then(|| {
        let rows = value
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|row| {
                field
                    .columns
                    .iter()
                    .map(|column| forms::value::cell_display(column, catalog, row.get(&column.key)))
                    .collect()
            })
            .collect();
        (field.columns.iter().map(|column| column.label.clone()).collect(), rows)
    })
}

pub(crate) fn shown_value(catalog: &Catalog, form: &Form, field: &Field, value: Option<&Value>, unmask: bool) -> Shown {
    let table = table_shown(catalog, field, value);
    Shown {
        label: field.label.clone(),
        value: shown(catalog, field, value, unmask),
        sensitive: field.sensitive && value.is_some(),
        // A sensitive upload shows its files only unmasked (the masked text says how many).
        files: if field.kind.is_upload() && (!field.sensitive || unmask) {
            file_chips(form, None, value)
        } else {
            Vec::new()
        },
        html: match value {
            Some(Value::String(html)) if field.kind == FieldKind::RichText => Some(forms::value::sanitise_html(html)),
            _ => None,
        },
        table,
        qr: match value {
            Some(Value::String(text)) if field.qr && !text.is_empty() => crate::templates::qr_image(text),
            _ => None,
        },
    }
}

#[derive(Serialize)]
struct Change {
    label: String,
    old: String,
    new: String,
}

#[derive(Serialize)]
struct HistoryRow {
    at: String,
    actor: String,
    action: String,
    task_id: Option<String>,
    changes: Vec<Change>,
}

async fn detail(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    ClientIp(ip): ClientIp,
    Path((key, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let catalog = catalog(&state);
    let form = form_for(catalog, &auth, &key, Action::Read)?;
    let store = state.store().as_ref();
    let record =
        records::get(store, state.security.crypto.as_ref(), form, &actor(&auth), &id).await.map_err(refused)?;
    let pairs = super::api::pairs(raw.as_deref());
    let asked = pairs.iter().any(|(key, value)| key == "unmask" && value == "1");
    let unmask = asked && super::api::unmask_allowed(&state, &auth, &ip, form, &id).await?;
    let values: Vec<Shown> = form
        .fields
        .iter()
        .map(|field| shown_value(catalog, form, field, record.values.get(&field.key), unmask))
        .collect();
    let history =
        records::history(store, state.security.crypto.as_ref(), form, &actor(&auth), &id).await.map_err(refused)?;
    let history: Vec<HistoryRow> = history
        .into_iter()
        .rev()
        .map(|entry| HistoryRow {
            at: super::time_text(entry.at),
            actor: entry.actor,
            // A record action is named by its label.
            action: match entry.action.strip_prefix("action:") {
                Some(key) => form
                    .actions
                    .iter()
                    .find(|action| action.key == key)
                    .map(|action| action.label.clone())
                    .unwrap_or_else(|| key.to_string()),
                // What the system did (a domain handler's step), by its own label.
                None => match entry.action.strip_prefix("system:") {
                    Some(label) => format!("{label}（系统）"),
                    None => entry.action,
                },
            },
            task_id: entry.task_id,
            changes: entry
                .changes
                .iter()
                .map(|change| {
                    let field = form.field(&change.field);
                    let text = |value: &Option<Value>| match field {
                        Some(field) => shown(catalog, field, value.as_ref(), unmask),
                        None => value.as_ref().map(Value::to_string).unwrap_or_default(),
                    };
                    Change {
                        label: field.map(|field| field.label.clone()).unwrap_or_else(|| change.field.clone()),
                        old: text(&change.old),
                        new: text(&change.new),
                    }
                })
                .collect(),
        })
        .collect();
    let actions: Vec<ActionButton> = if record.deleted_at.is_some() {
        Vec::new()
    } else {
        form.actions
            .iter()
            .filter(|action| action.permissions.iter().any(|permission| auth.principal.can(permission)))
            .filter(|action| records::action_applies(catalog, form, action, &record))
            .map(|action| ActionButton {
                key: action.key.clone(),
                label: action.label.clone(),
                confirm: action.confirm.clone(),
            })
            .collect()
    };
    let mut context = Context::new();
    context.insert("actions", &actions);
    context.insert("form", &facts_of(&auth, form));
    context.insert("record_id", &record.id);
    context.insert("title", &record.title);
    context.insert("version", &record.version);
    context.insert("deleted", &record.deleted_at.is_some());
    context.insert("values", &values);
    context.insert("history", &history);
    context.insert("unmasked", &unmask);
    context.insert("may_unmask", &auth.principal.can("pii:unmask"));
    context.insert("created", &format!("{} · {}", super::time_text(record.created_at), record.created_by));
    context.insert("updated", &format!("{} · {}", super::time_text(record.updated_at), record.updated_by));
    let notice = pairs.iter().find(|(key, _)| key == "notice").map(|(_, value)| value.clone()).unwrap_or_default();
    context.insert("notice", &notice);
    let instances = super::record_instances(&state, form, &record.id).await?;
    let running = instances.iter().any(|instance| instance.status == "ACTIVE");
    context.insert("workflow", &form.workflow.as_ref().map(|workflow| workflow.label.clone()));
    let applies = records::submission_applies(catalog, form, &record);
    context
        .insert("may_submit", &(super::may_submit(&auth, form) && !running && applies && record.deleted_at.is_none()));
    context.insert("instances", &instances);
    let active = format!("form:{}", form.key);
    screen(&state, &auth, &active, "form_record.html", context).await
}

fn version_of(body: &Bytes) -> ApiResult<i64> {
    form_urlencoded::parse(body)
        .find(|(key, _)| key == "version")
        .and_then(|(_, value)| value.parse().ok())
        .ok_or_else(|| ApiError::invalid("缺少版本号 (version is required)"))
}

async fn delete(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path((key, id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let form = form_for(catalog(&state), &auth, &key, Action::Delete)?;
    let version = version_of(&body)?;
    records::delete(state.store().as_ref(), state.security.crypto.as_ref(), form, &actor(&auth), &id, version)
        .await
        .map_err(refused)?;
    see_other(&format!("/admin/forms/{}?notice=deleted", form.key))
}

async fn restore(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path((key, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let form = form_for(catalog(&state), &auth, &key, Action::Delete)?;
    let record = records::restore(state.store().as_ref(), state.security.crypto.as_ref(), form, &actor(&auth), &id)
        .await
        .map_err(refused)?;
    see_other(&format!("/admin/forms/{}/{}?notice=restored", form.key, record.id))
}

async fn action(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    ClientIp(ip): ClientIp,
    Path((key, id, action)): Path<(String, String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let form = form_for(catalog(&state), &auth, &key, Action::Read)?;
    let version = version_of(&body)?;
    let record = super::run_action(&state, &auth, &ip, form, &id, version, &action).await?;
    see_other(&format!("/admin/forms/{}/{}?notice=action", form.key, record.id))
}

/// 提交审批 from the record page: to the new instance's page.
async fn submit(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path((key, id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let form = form_for(catalog(&state), &auth, &key, Action::Read)?;
    let version = version_of(&body)?;
    super::submit_record(&state, &auth, form, &id, version).await?;
    // The phone's record page posts here too (`back=m`) and goes back to itself.
    let phone = form_urlencoded::parse(&body).any(|(key, value)| key == "back" && value == "m");
    let surface = if phone { Surface::Phone } else { Surface::Console };
    see_other(&format!("{}/{}?notice=submitted", surface.base(form), id))
}

/// The list's bulk bar (`/admin/forms/{form}/bulk`, the checked rows as `ids`): `export` /
/// `export-xlsx` answer the file of the checked rows; an action (`delete`, `action:<key>`)
/// first shows what it will do to which records, and with `confirm` runs it and shows how
/// each one went.
async fn bulk(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    ClientIp(ip): ClientIp,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let form = form_for(catalog(&state), &auth, &key, Action::Read)?;
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let ids: Vec<String> = pairs.iter().filter(|(name, _)| name == "ids").map(|(_, value)| value.clone()).collect();
    let chosen = pairs.iter().find(|(name, _)| name == "do").map(|(_, value)| value.as_str()).unwrap_or_default();
    if chosen == "export" || chosen == "export-xlsx" {
        if ids.is_empty() {
            return Err(ApiError::invalid("请先勾选要导出的记录"));
        }
        let raw = {
            let mut raw = form_urlencoded::Serializer::new(String::new());
            raw.append_pair("ids", &ids.join(","));
            if chosen == "export-xlsx" {
                raw.append_pair("format", "xlsx");
            }
            raw.finish()
        };
        return super::export::export(state.clone(), auth, ip, key, raw).await;
    }
    let action = pairs.iter().find(|(name, _)| name == "action").map(|(_, value)| value.as_str()).unwrap_or_default();
    let Some(bulk) = super::Bulk::parse(action) else { return Err(ApiError::invalid("请选择批量操作")) };
    let label = bulk.label(form);
    let confirmed = pairs.iter().any(|(name, value)| name == "confirm" && value == "1");
    let mut context = Context::new();
    context.insert("form", &facts_of(&auth, form));
    context.insert("action", action);
    context.insert("label", &label);
    context.insert("results", &Vec::<()>::new());
    context.insert("selected", &Vec::<()>::new());
    context.insert("question", &Option::<String>::None);
    context.insert("done", &0);
    if confirmed {
        let results = super::run_bulk(&state, &auth, &ip, form, &bulk, &ids).await?;
        context.insert("done", &results.iter().filter(|result| result.ok).count());
        context.insert("results", &results);
    } else {
        let selected = super::bulk_selection(&state, &auth, form, &ids).await?;
        let selected: Vec<(String, String)> = selected.into_iter().map(|record| (record.id, record.title)).collect();
        context.insert("selected", &selected);
        context.insert(
            "question",
            &form
                .actions
                .iter()
                .find(|item| format!("action:{}", item.key) == action)
                .and_then(|item| item.confirm.clone()),
        );
    }
    let active = format!("form:{}", form.key);
    screen(&state, &auth, &active, "form_bulk.html", context).await
}

/// 保存视图 from the list page: the query the page shows, a name, shared or not; back to the
/// list as the view.
async fn save_view(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let form = form_for(catalog(&state), &auth, &key, Action::Read)?;
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let field =
        |name: &str| pairs.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone()).unwrap_or_default();
    let view =
        super::save_view(&state, &auth, form, &field("name"), &field("query"), field("shared") == "true").await?;
    let separator = if view.query.is_empty() { "" } else { "&" };
    see_other(&format!("/admin/forms/{}?{}{separator}view={}", form.key, view.query, view.id))
}

async fn delete_view(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path((key, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let form = form_for(catalog(&state), &auth, &key, Action::Read)?;
    super::delete_view(&state, &auth, form, &id).await?;
    see_other(&format!("/admin/forms/{}", form.key))
}

async fn export(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    ClientIp(ip): ClientIp,
    Path(key): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    super::export::export(state, auth, ip, key, raw.unwrap_or_default()).await
}

#[cfg(test)]
mod tests {
    use super::simple_condition;

    #[test]
    fn only_plain_comparisons_become_browser_hints() {
        assert_eq!(simple_condition("status == \"left\""), Some(("status".into(), "left".into(), true)));
        assert_eq!(simple_condition("kind != \"online\""), Some(("kind".into(), "online".into(), false)));
        assert_eq!(simple_condition("a > 3"), None);
        assert_eq!(simple_condition("status == other"), None);
        assert_eq!(simple_condition("a.b == \"x\""), None);
    }
}
