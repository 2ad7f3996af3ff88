//! Form definitions: the TOML a module ships (`definitions/forms/<module>/<form>.toml`), read
//! into checked types. Everything that can be wrong with a definition is found here, at start,
//! and named with the file, the field and the problem; nothing is checked again per request.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chrono::NaiveDate;
use engine::script::Expression;
use serde::Deserialize;

use crate::Problem;

/// How many fields of one form may be filters or sort keys: each takes one of the record
/// table's indexed key columns (`k1` … `k8`).
pub const MAX_KEYS: usize = 8;

/// The most files one file or image field holds.
pub const MAX_FILES: usize = 20;

/// The most rows a sub-table holds.
pub const MAX_ROWS: usize = 200;

/// The names a field may not take: the record's own columns, as the API and the list use them.
const RESERVED: &[&str] = &["id", "version", "created", "updated", "deleted"];

/// The field types (see `docs/forms.md` for what each stores).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldKind {
    Text,
    Textarea,
    Integer,
    /// An exact decimal with `scale` digits after the point, stored as text ("12.50").
    Decimal,
    /// 金额: a decimal of 2 places in 元, stored as text; never a float.
    Money,
    Boolean,
    Date,
    /// A local (Shanghai) date and time to the minute, `YYYY-MM-DDTHH:MM`.
    Datetime,
    /// One value of a dictionary (a drop-down).
    Select,
    /// One value of a dictionary (radio buttons).
    Radio,
    /// Several values of a dictionary (a multi-select), stored as a list.
    Multiselect,
    /// Several values of a dictionary (check boxes), stored as a list.
    Checkbox,
    /// A mobile number (11 digits from 1) or a landline (area code and number).
    Phone,
    /// 居民身份证号码 (GB 11643), see [`crate::ids::citizen_id`].
    IdCard,
    /// 统一社会信用代码 (GB 32100).
    Uscc,
    Email,
    Url,
    /// One of Shanghai's 16 districts (the `district` dictionary, from `definitions/org/`).
    District,
    /// A period of whole days, stored as `{"from", "to"}` (`YYYY-MM-DD`, `to` not before `from`).
    DateRange,
    /// A time on one day (an appointment, a booking), stored as `{"date", "start", "end"}`
    /// (`YYYY-MM-DD`, `HH:MM`, the end after the start).
    TimeSlot,
    /// An address with an optional map point (GCJ-02 as Chinese maps give it), stored as
    /// `{"address", "lat", "lng"}`; the point is both coordinates or none, as exact text.
    Address,
    /// A record of another form (`form = "<key>"`), stored as `{"id", "title"}`: the id, and
    /// the record's title when it was chosen (what lists, exports and history show).
    Reference,
    /// An account (经办人, 联系人 …), stored as `{"id", "title"}` (its display name then).
    User,
    /// An organisational unit, stored as `{"id", "title"}` (its name then).
    Unit,
    /// Uploaded files (`accept` extensions, `max_files`, `max_mb`), stored as a list of
    /// `{"id", "name", "contentType", "size"}`; the content is sealed in the file store and
    /// served only to those who may read the record (`docs/forms.md`).
    File,
    /// Uploaded pictures (PNG or JPEG by their bytes), stored like [`FieldKind::File`].
    Image,
    /// Formatted text, stored as HTML the server has sanitised (only harmless tags and
    /// attributes are kept, whatever was sent).
    RichText,
    /// A sub-table: rows of its own `columns` (simple fields), stored as a list of objects.
    Table,
}

impl FieldKind {
    fn parse(name: &str) -> Option<FieldKind> {
        Some(match name {
            "text" => FieldKind::Text,
            "textarea" => FieldKind::Textarea,
            "integer" => FieldKind::Integer,
            "decimal" => FieldKind::Decimal,
            "money" => FieldKind::Money,
            "boolean" => FieldKind::Boolean,
            "date" => FieldKind::Date,
            "datetime" => FieldKind::Datetime,
            "select" => FieldKind::Select,
            "radio" => FieldKind::Radio,
            "multiselect" => FieldKind::Multiselect,
            "checkbox" => FieldKind::Checkbox,
            "phone" => FieldKind::Phone,
            "id-card" => FieldKind::IdCard,
            "uscc" => FieldKind::Uscc,
            "email" => FieldKind::Email,
            "url" => FieldKind::Url,
            "district" => FieldKind::District,
            "reference" => FieldKind::Reference,
            "user" => FieldKind::User,
            "unit" => FieldKind::Unit,
            "daterange" => FieldKind::DateRange,
            "address" => FieldKind::Address,
            "timeslot" => FieldKind::TimeSlot,
            "file" => FieldKind::File,
            "image" => FieldKind::Image,
            "richtext" => FieldKind::RichText,
            "table" => FieldKind::Table,
            _ => return None,
        })
    }

    /// The name in definitions and in the API's description of a form.
    pub fn name(self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::Textarea => "textarea",
            FieldKind::Integer => "integer",
            FieldKind::Decimal => "decimal",
            FieldKind::Money => "money",
            FieldKind::Boolean => "boolean",
            FieldKind::Date => "date",
            FieldKind::Datetime => "datetime",
            FieldKind::Select => "select",
            FieldKind::Radio => "radio",
            FieldKind::Multiselect => "multiselect",
            FieldKind::Checkbox => "checkbox",
            FieldKind::Phone => "phone",
            FieldKind::IdCard => "id-card",
            FieldKind::Uscc => "uscc",
            FieldKind::Email => "email",
            FieldKind::Url => "url",
            FieldKind::District => "district",
            FieldKind::Reference => "reference",
            FieldKind::User => "user",
            FieldKind::Unit => "unit",
            FieldKind::DateRange => "daterange",
            FieldKind::Address => "address",
            FieldKind::TimeSlot => "timeslot",
            FieldKind::File => "file",
            FieldKind::Image => "image",
            FieldKind::RichText => "richtext",
            FieldKind::Table => "table",
        }
    }

    /// Uploaded files.
    pub fn is_upload(self) -> bool {
        matches!(self, FieldKind::File | FieldKind::Image)
    }

    /// A value made of other values (uploads, sub-table rows, formatted text): not a filter,
    /// sort key, unique or sensitive field, not a spreadsheet cell of an import.
    pub fn is_compound(self) -> bool {
        matches!(self, FieldKind::File | FieldKind::Image | FieldKind::RichText | FieldKind::Table)
    }

    /// The types a sub-table's column may have: one value in one cell.
    fn fits_column(self) -> bool {
        matches!(
            self,
            FieldKind::Text
                | FieldKind::Integer
                | FieldKind::Decimal
                | FieldKind::Money
                | FieldKind::Boolean
                | FieldKind::Date
                | FieldKind::Datetime
                | FieldKind::Select
                | FieldKind::Radio
                | FieldKind::Phone
                | FieldKind::IdCard
                | FieldKind::Uscc
                | FieldKind::Email
                | FieldKind::Url
                | FieldKind::District
        )
    }

    /// Values from a dictionary (the definition names it with `dict`, except `district`).
    pub fn has_options(self) -> bool {
        matches!(
            self,
            FieldKind::Select | FieldKind::Radio | FieldKind::Multiselect | FieldKind::Checkbox | FieldKind::District
        )
    }

    /// A list of values rather than one.
    pub fn is_list(self) -> bool {
        matches!(self, FieldKind::Multiselect | FieldKind::Checkbox)
    }

    /// Compared by size (a range filter, `min` / `max`).
    pub fn is_ordered(self) -> bool {
        matches!(
            self,
            FieldKind::Integer | FieldKind::Decimal | FieldKind::Money | FieldKind::Date | FieldKind::Datetime
        )
    }

    /// Free text: a filter matches part of it, `min_length` / `max_length` / `pattern` apply.
    pub fn is_text(self) -> bool {
        matches!(
            self,
            FieldKind::Text
                | FieldKind::Textarea
                | FieldKind::Phone
                | FieldKind::IdCard
                | FieldKind::Uscc
                | FieldKind::Email
                | FieldKind::Url
        )
    }

    /// A pointer at something else — another form's record, an account, a unit — stored as
    /// `{"id", "title"}` and found in the caller's data scope (`records::resolve_references`).
    pub fn is_link(self) -> bool {
        matches!(self, FieldKind::Reference | FieldKind::User | FieldKind::Unit)
    }

    /// Digits after the point of an exact number.
    fn default_scale(self) -> u32 {
        match self {
            FieldKind::Money => 2,
            FieldKind::Decimal => 2,
            _ => 0,
        }
    }
}

/// A lower or upper bound of an ordered field, in the field's own terms.
#[derive(Debug, Clone, PartialEq)]
pub enum Bound {
    /// Integers, and decimals scaled by 10^scale.
    Number(i128),
    Date(NaiveDate),
    /// `YYYY-MM-DDTHH:MM`, compared as text (the fixed-width form sorts by time).
    Datetime(String),
}

/// Which phone numbers a `phone` field takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneKind {
    Mobile,
    Landline,
    Any,
}

/// One field of a form, checked.
#[derive(Debug, Clone)]
pub struct Field {
    pub key: String,
    pub label: String,
    pub kind: FieldKind,
    pub required: bool,
    /// No two live records of the form share a value (enforced by the database).
    pub unique: bool,
    /// Personal data (an identity number, a phone): shown masked to anyone without
    /// `pii:unmask`, in lists, details, the API and exports.
    pub sensitive: bool,
    /// Set only by the definition (`default`) and by record actions, never by an edit.
    pub readonly: bool,
    /// The value a new record gets when the submission has none (in the API's form).
    pub default: Option<serde_json::Value>,
    /// Offered as a search filter on the list (and the API's `filter`).
    pub filter: bool,
    /// The list can be sorted by it.
    pub sortable: bool,
    /// The indexed key column (`k1` = 0 …) of a filter or sort field.
    pub slot: Option<usize>,
    pub min_length: Option<usize>,
    pub max_length: Option<usize>,
    pub min: Option<Bound>,
    pub max: Option<Bound>,
    pub pattern: Option<regex_lite::Regex>,
    /// What the page says when `pattern` does not match.
    pub pattern_message: Option<String>,
    /// The dictionary of a field with options (`district` for the district type).
    pub dict: Option<String>,
    /// The form a reference field points into.
    pub target: Option<String>,
    pub scale: u32,
    pub phone: PhoneKind,
    pub help: Option<String>,
    /// The field is asked for (and kept) only when this holds.
    pub visible_when: Option<Arc<Expression>>,
    /// The field is required when this holds (besides `required`).
    pub required_when: Option<Arc<Expression>>,
    /// The sources of the two conditions, for the browser's hints.
    pub visible_when_source: Option<String>,
    pub required_when_source: Option<String>,
    /// The extensions a file or image field takes (the bytes must match, `uploads::sniff`).
    pub accept: Vec<String>,
    /// How many files a file or image field holds.
    pub max_files: usize,
    /// The largest file a file or image field takes.
    pub max_bytes: usize,
    /// A table field's columns.
    pub columns: Vec<Field>,
    /// A table field's least and most rows.
    pub rows: (usize, usize),
    /// A text field the record pages also draw as a QR code (PREF-03's merchant code).
    pub qr: bool,
}

/// A cross-field rule: `check` must hold, else `message` shows at `fields` (or at the form).
#[derive(Debug, Clone)]
pub struct Rule {
    pub check: Arc<Expression>,
    pub message: String,
    pub code: String,
    pub fields: Vec<String>,
    /// The form's fields the check mentions: the rule applies only when all of them are
    /// filled (rhai compares a missing value with anything as false, which would refuse
    /// every record that leaves an optional field empty).
    pub mentions: Vec<String>,
}

/// The words of an expression that name fields of the form.
fn mentioned(source: &str, fields: &[Field]) -> Vec<String> {
    let words: HashSet<&str> = source.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).collect();
    fields.iter().filter(|field| words.contains(field.key.as_str())).map(|field| field.key.clone()).collect()
}

/// A record action (冻结 / 解冻 / 注销 …): its own permission, the state it applies in, the
/// values it sets (through the same validation and history as an edit) and, optionally, the
/// status it gives the account a field of the record names.
#[derive(Debug, Clone)]
pub struct RecordAction {
    pub key: String,
    pub label: String,
    pub permissions: Vec<String>,
    /// The action is offered and allowed only while this holds.
    pub when: Option<Arc<Expression>>,
    pub set: serde_json::Map<String, serde_json::Value>,
    /// (field holding an account id, the status to give it: `active`, `frozen`, `cancelled`).
    pub account: Option<(String, String)>,
    /// The question asked before (an action that cannot be undone should ask).
    pub confirm: Option<String>,
}

/// Who may do what with a form's records: each action lists permissions, any one suffices.
#[derive(Debug, Clone, PartialEq)]
pub struct Permissions {
    pub read: Vec<String>,
    pub create: Vec<String>,
    pub update: Vec<String>,
    pub delete: Vec<String>,
    pub export: Vec<String>,
}

/// The list's order: a field's key column or the record's own times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortKey {
    Updated,
    Created,
    Field(String),
}

/// A form, checked: what the screens, the API, the list query and the validator read.
#[derive(Debug, Clone)]
pub struct Form {
    pub key: String,
    pub name: String,
    /// The module folder it came from (`svc`, `pref` …).
    pub module: String,
    /// The catalogue rows it serves (`SVC-01` …).
    pub catalogue: Vec<String>,
    pub description: Option<String>,
    /// The navigation group it is listed under (`双拥服务` …).
    pub group: String,
    /// The field that names a record in lists, history and breadcrumbs.
    pub title: String,
    /// The field that carries the record's district (its data scope); `None`: a city-wide form.
    pub district: Option<String>,
    pub sort: (SortKey, bool),
    pub fields: Vec<Field>,
    pub rules: Vec<Rule>,
    pub actions: Vec<RecordAction>,
    pub permissions: Permissions,
    pub list_columns: Vec<String>,
    pub export_columns: Vec<String>,
    /// `[import] match`: the unique field that makes an imported row an update of the record
    /// holding its value; `None`: every imported row is a new record.
    pub import_match: Option<String>,
    /// `[views.<name>]`: the fields a task form shows (`camunda:formKey="form:<form>/<view>"`),
    /// each editable or read-only; a field a view does not name is hidden at that task.
    pub views: BTreeMap<String, View>,
    /// `[workflow]`: the process a record is submitted to (提交审批), if any.
    pub workflow: Option<Workflow>,
    /// The definition file, for messages.
    pub file: String,
}

/// What a task form may do with a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    Editable,
    Readonly,
    Hidden,
}

/// A task's subset of a form: editable and read-only fields, in the form's order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct View {
    pub editable: Vec<String>,
    pub readonly: Vec<String>,
}

/// `[workflow]`: submitting a record (提交审批) starts `process` with the record's values as
/// variables, the record's id as the business key; the record page shows its instances.
#[derive(Debug, Clone)]
pub struct Workflow {
    /// The process definition key.
    pub process: String,
    /// The button's words (default 提交审批).
    pub label: String,
    /// Who may submit (any one of them; default: the update permissions).
    pub permissions: Vec<String>,
    /// A record is submitted only while this holds (an institution only while 申请中).
    pub when: Option<Arc<Expression>>,
}

/// The prefix of a `camunda:formKey` that names a form: `form:<form>` or `form:<form>/<view>`.
pub const FORM_KEY_PREFIX: &str = "form:";

impl Form {
    pub fn field(&self, key: &str) -> Option<&Field> {
        self.fields.iter().find(|field| field.key == key)
    }

    /// What a task form with `view` (`None`: the whole form) may do with `field`. A field the
    /// form marks read-only is editable only where a view lists it as editable.
    pub fn access(&self, view: Option<&str>, field: &Field) -> Access {
        let access = match view.and_then(|name| self.views.get(name)) {
            None if view.is_some() => Access::Hidden,
            None => Access::Editable,
            Some(view) if view.editable.contains(&field.key) => Access::Editable,
            Some(view) if view.readonly.contains(&field.key) => Access::Readonly,
            Some(_) => Access::Hidden,
        };
        let access = match view.and_then(|name| self.views.get(name)) {
            // Some of a sub-table's columns editable: the table is (those cells only).
            Some(view)
                if access != Access::Editable
                    && view
                        .editable
                        .iter()
                        .any(|key| key.strip_prefix(field.key.as_str()).is_some_and(|rest| rest.starts_with('.'))) =>
            {
                Access::Editable
            }
            _ => access,
        };
        // A read-only field is editable only at a task whose view names it (a review's
        // 审核意见 that only that step writes); the whole form never edits it.
        if access == Access::Editable && field.readonly && view.is_none() { Access::Readonly } else { access }
    }

    /// Whether a task with `view` may change a sub-table column's cells: every column when the
    /// table itself is editable there, else those the view lists as `<table>.<column>`.
    pub fn column_editable(&self, view: Option<&str>, table: &Field, column: &Field) -> bool {
        match view.and_then(|name| self.views.get(name)) {
            None => view.is_none(),
            Some(view) => {
                view.editable.contains(&table.key) || view.editable.contains(&format!("{}.{}", table.key, column.key))
            }
        }
    }

    /// Whether a task with `view` may add and remove a sub-table's rows: only when the table
    /// itself is editable there.
    pub fn rows_editable(&self, view: Option<&str>, table: &Field) -> bool {
        match view.and_then(|name| self.views.get(name)) {
            None => view.is_none(),
            Some(view) => view.editable.contains(&table.key),
        }
    }

    /// A fingerprint of what the stored key columns and search text depend on: when it changes,
    /// the records of the form are indexed again (see `docs/forms.md`).
    pub fn layout(&self) -> String {
        let mut layout = String::from("v1");
        for field in &self.fields {
            if let Some(slot) = field.slot {
                layout.push_str(&format!(";k{}={}:{}:{}", slot + 1, field.key, field.kind.name(), field.scale));
            }
        }
        layout.push_str(&format!(";title={};district={}", self.title, self.district.as_deref().unwrap_or("")));
        for field in self.fields.iter().filter(|field| field.kind.is_text() && !field.sensitive) {
            layout.push_str(&format!(";q={}", field.key));
        }
        // Sensitive fields are sealed at rest: a field made sensitive seals its stored values.
        for field in self.fields.iter().filter(|field| field.sensitive) {
            layout.push_str(&format!(";sealed={}", field.key));
        }
        layout
    }
}

// --- the file format ------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FormFile {
    key: String,
    name: String,
    #[serde(default)]
    catalogue: Vec<String>,
    description: Option<String>,
    group: Option<String>,
    title: String,
    district: Option<String>,
    sort: Option<String>,
    #[serde(default)]
    permissions: PermissionsFile,
    list: Option<Vec<String>>,
    export: Option<Vec<String>>,
    #[serde(default)]
    fields: Vec<FieldFile>,
    #[serde(default)]
    rules: Vec<RuleFile>,
    #[serde(default)]
    actions: Vec<ActionFile>,
    import: Option<ImportFile>,
    #[serde(default)]
    views: BTreeMap<String, ViewFile>,
    workflow: Option<WorkflowFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ViewFile {
    #[serde(default)]
    editable: Vec<String>,
    #[serde(default)]
    readonly: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkflowFile {
    process: String,
    label: Option<String>,
    permissions: Option<Vec<String>>,
    when: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportFile {
    /// The unique field an imported row is matched on: a row whose value a record holds
    /// updates that record.
    #[serde(rename = "match")]
    match_field: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionFile {
    key: String,
    label: String,
    permissions: Vec<String>,
    when: Option<String>,
    #[serde(default)]
    set: toml::Table,
    account: Option<AccountEffectFile>,
    confirm: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountEffectFile {
    field: String,
    status: String,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PermissionsFile {
    read: Option<Vec<String>>,
    create: Option<Vec<String>>,
    update: Option<Vec<String>>,
    delete: Option<Vec<String>>,
    export: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldFile {
    key: String,
    label: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    unique: bool,
    #[serde(default)]
    sensitive: bool,
    #[serde(default)]
    readonly: bool,
    default: Option<toml::Value>,
    #[serde(default)]
    filter: bool,
    #[serde(default)]
    sort: bool,
    #[serde(default)]
    list: bool,
    min_length: Option<usize>,
    max_length: Option<usize>,
    min: Option<toml::Value>,
    max: Option<toml::Value>,
    pattern: Option<String>,
    pattern_message: Option<String>,
    dict: Option<String>,
    /// A reference field's form.
    form: Option<String>,
    scale: Option<u32>,
    phone: Option<String>,
    help: Option<String>,
    visible_when: Option<String>,
    required_when: Option<String>,
    /// A file field's extensions.
    accept: Option<Vec<String>>,
    max_files: Option<usize>,
    max_mb: Option<usize>,
    /// A table field's columns.
    columns: Option<Vec<FieldFile>>,
    min_rows: Option<usize>,
    max_rows: Option<usize>,
    /// A text field shown as a QR code on the record pages.
    #[serde(default)]
    qr: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    check: String,
    message: String,
    code: Option<String>,
    #[serde(default)]
    fields: Vec<String>,
}

/// The permissions an action needs when the definition says nothing.
fn default_permissions() -> Permissions {
    Permissions {
        read: vec!["menu:forms".into()],
        create: vec!["forms:write".into()],
        update: vec!["forms:write".into()],
        delete: vec!["forms:write".into()],
        export: vec!["data:export".into()],
    }
}

fn valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some('a'..='z'))
        && key.len() <= 40
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Reads one definition file. `dicts` are the dictionaries' keys (a field naming another is a
/// problem); `problems` collects everything wrong, each with the file and the field.
pub(crate) fn read_form(
    file: &str,
    module: &str,
    text: &str,
    dicts: &HashSet<String>,
    scripting: &engine::Scripting,
    problems: &mut Vec<Problem>,
) -> Option<Form> {
    let problem = |field: Option<&str>, message: String| Problem {
        file: file.to_string(),
        field: field.map(str::to_string),
        message,
    };
    let parsed: FormFile = match toml::from_str(text) {
        Ok(parsed) => parsed,
        Err(error) => {
            problems.push(problem(None, error.to_string().trim().to_string()));
            return None;
        }
    };
    let before = problems.len();
    if !valid_key(&parsed.key) {
        problems
            .push(problem(None, format!("form key '{}' must be lower-case letters, digits, '-' or '_'", parsed.key)));
    }
    let mut fields = Vec::new();
    let mut seen = HashSet::new();
    let mut slots = 0;
    for raw in parsed.fields {
        if let Some(field) = read_field(file, raw, None, &mut seen, &mut slots, dicts, scripting, problems) {
            fields.push(field);
        }
    }

    if slots > MAX_KEYS {
        problems.push(problem(None, format!("{slots} fields are filters or sort keys; at most {MAX_KEYS} can be")));
    }
    if fields.is_empty() {
        problems.push(problem(None, "a form needs fields".into()));
    }
    let known = |key: &str| fields.iter().any(|(_, field)| field.key == key);
    if !known(&parsed.title) {
        problems.push(problem(None, format!("title = '{}' is no field of the form", parsed.title)));
    }
    if fields.iter().any(|(_, field)| field.key == parsed.title && field.sensitive) {
        problems.push(problem(None, format!("title = '{}' is sensitive: a title is shown in clear", parsed.title)));
    }
    if let Some(district) = &parsed.district
        && !fields.iter().any(|(_, field)| &field.key == district && field.kind == FieldKind::District)
    {
        problems.push(problem(None, format!("district = '{district}' is no district field of the form")));
    }
    let sort = {
        let text = parsed.sort.as_deref().unwrap_or("-updated");
        let (descending, name) = match text.strip_prefix('-') {
            Some(name) => (true, name),
            None => (false, text),
        };
        let key = match name {
            "updated" => SortKey::Updated,
            "created" => SortKey::Created,
            field if fields.iter().any(|(_, f)| f.key == field && f.sortable) => SortKey::Field(field.to_string()),
            other => {
                problems.push(problem(
                    None,
                    format!("sort = '{text}': '{other}' is no sort field (set sort = true on it)"),
                ));
                SortKey::Updated
            }
        };
        (key, !descending)
    };
    let mut columns = |names: Option<Vec<String>>, default: Vec<String>, what: &str| match names {
        None => default,
        Some(names) => {
            for name in &names {
                if !known(name) {
                    problems
                        .push(problem(Some(name), format!("the {what} columns name a field the form does not have")));
                }
            }
            names
        }
    };
    let listed: Vec<String> = fields.iter().filter(|(list, _)| *list).map(|(_, field)| field.key.clone()).collect();
    let list_default = if listed.is_empty() { vec![parsed.title.clone()] } else { listed };
    let list_columns = columns(parsed.list, list_default, "list");
    let all: Vec<String> = fields.iter().map(|(_, field)| field.key.clone()).collect();
    let export_columns = columns(parsed.export, all, "export");
    let fields: Vec<Field> = fields.into_iter().map(|(_, field)| field).collect();
    let import_match = parsed.import.and_then(|import| import.match_field);
    if let Some(name) = &import_match
        && !fields.iter().any(|field| &field.key == name && field.unique && !field.readonly)
    {
        problems.push(problem(Some(name), "[import] match must name a unique field that is not read-only".into()));
    }
    let mut rules = Vec::new();
    for raw in parsed.rules {
        for name in &raw.fields {
            if !fields.iter().any(|field| &field.key == name) {
                problems.push(problem(Some(name), "a rule names a field the form does not have".into()));
            }
        }
        match scripting.compile_expression(&raw.check) {
            Ok(check) => rules.push(Rule {
                mentions: mentioned(&raw.check, &fields),
                check: Arc::new(check),
                message: raw.message,
                code: raw.code.unwrap_or_else(|| "rule".into()),
                fields: raw.fields,
            }),
            Err(error) => problems.push(problem(None, format!("rule '{}' does not compile: {error}", raw.check))),
        }
    }
    let mut actions = Vec::new();
    for raw in parsed.actions {
        let at = Some(raw.key.as_str());
        if !valid_key(&raw.key) {
            problems.push(problem(at, "an action key must be lower-case letters, digits, '-' or '_'".into()));
        }
        if actions.iter().any(|action: &RecordAction| action.key == raw.key) {
            problems.push(problem(at, "the action key is used twice".into()));
        }
        if raw.permissions.is_empty() {
            problems.push(problem(at, "an action needs permissions".into()));
        }
        let mut set = serde_json::Map::new();
        for (name, value) in raw.set {
            if !fields.iter().any(|field| field.key == name) {
                problems.push(problem(at, format!("the action sets '{name}', which is no field of the form")));
            }
            match serde_json::to_value(value) {
                Ok(value) => {
                    set.insert(name, value);
                }
                Err(error) => problems.push(problem(at, format!("the action's value of '{name}': {error}"))),
            }
        }
        let account = raw.account.map(|effect| {
            let holds_account = |kind: &FieldKind| matches!(kind, FieldKind::Text | FieldKind::User);
            if !fields.iter().any(|field| field.key == effect.field && holds_account(&field.kind)) {
                problems.push(problem(
                    at,
                    format!("account.field = '{}' is no text or user field of the form", effect.field),
                ));
            }
            if !["active", "frozen", "cancelled"].contains(&effect.status.as_str()) {
                problems.push(problem(
                    at,
                    format!("account.status = '{}': use active, frozen or cancelled", effect.status),
                ));
            }
            (effect.field, effect.status)
        });
        let when = raw.when.as_ref().and_then(|source| match scripting.compile_expression(source) {
            Ok(expression) => Some(Arc::new(expression)),
            Err(error) => {
                problems.push(problem(at, format!("when does not compile: {error}")));
                None
            }
        });
        actions.push(RecordAction {
            key: raw.key,
            label: raw.label,
            permissions: raw.permissions,
            when,
            set,
            account,
            confirm: raw.confirm,
        });
    }
    let defaults = default_permissions();
    let permissions = Permissions {
        read: parsed.permissions.read.unwrap_or(defaults.read),
        create: parsed.permissions.create.unwrap_or(defaults.create),
        update: parsed.permissions.update.unwrap_or(defaults.update),
        delete: parsed.permissions.delete.unwrap_or(defaults.delete),
        export: parsed.permissions.export.unwrap_or(defaults.export),
    };
    let mut views = BTreeMap::new();
    for (name, raw) in parsed.views {
        let at = Some(name.as_str());
        if !valid_key(&name) {
            problems.push(problem(at, "a view name must be lower-case letters, digits, '-' or '_'".into()));
        }
        for key in raw.editable.iter().chain(&raw.readonly) {
            let known = match key.split_once('.') {
                // A sub-table's column: editable alone (the other columns and the rows stay).
                Some((table, column)) => fields.iter().any(|field| {
                    field.key == table
                        && field.kind == FieldKind::Table
                        && field.columns.iter().any(|candidate| candidate.key == column)
                }),
                None => fields.iter().any(|field| &field.key == key),
            };
            if !known {
                problems.push(problem(Some(key), format!("view '{name}' names a field the form does not have")));
            }
            if key.contains('.') && raw.readonly.contains(key) {
                problems.push(problem(
                    Some(key),
                    format!("view '{name}': list the table as readonly, a column only as editable"),
                ));
            }
            // What a record action sets (a status, the linked account) goes through the action,
            // with its permission, its `when` and its account effect: never a task's input.
            if raw.editable.contains(key)
                && let Some(action) = actions.iter().find(|action| {
                    action.set.contains_key(key) || action.account.as_ref().is_some_and(|(field, _)| field == key)
                })
            {
                problems.push(problem(
                    Some(key),
                    format!(
                        "view '{name}': the record action '{}' sets this field, so no task may edit it",
                        action.key
                    ),
                ));
            }
        }
        for key in raw.editable.iter().filter(|key| raw.readonly.contains(key)) {
            problems.push(problem(Some(key), format!("view '{name}' lists the field as editable and read-only")));
        }
        // The form's order, whatever order the view lists them in.
        let ordered = |listed: &[String]| -> Vec<String> {
            let mut ordered = Vec::new();
            for field in &fields {
                if listed.contains(&field.key) {
                    ordered.push(field.key.clone());
                }
                for column in &field.columns {
                    let key = format!("{}.{}", field.key, column.key);
                    if listed.contains(&key) {
                        ordered.push(key);
                    }
                }
            }
            ordered
        };
        views.insert(name, View { editable: ordered(&raw.editable), readonly: ordered(&raw.readonly) });
    }
    let workflow = parsed.workflow.map(|raw| {
        if !valid_key(&raw.process) && !raw.process.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            problems.push(problem(None, format!("workflow.process = '{}' is no process key", raw.process)));
        }
        let when = raw.when.as_ref().and_then(|source| match scripting.compile_expression(source) {
            Ok(expression) => Some(Arc::new(expression)),
            Err(error) => {
                problems.push(problem(None, format!("workflow.when does not compile: {error}")));
                None
            }
        });
        Workflow {
            process: raw.process,
            label: raw.label.unwrap_or_else(|| "提交审批".into()),
            permissions: raw.permissions.unwrap_or_default(),
            when,
        }
    });
    if problems.len() > before {
        return None;
    }
    let workflow = workflow.map(|mut workflow| {
        if workflow.permissions.is_empty() {
            workflow.permissions = permissions.update.clone();
        }
        workflow
    });
    Some(Form {
        key: parsed.key,
        name: parsed.name,
        module: module.to_string(),
        catalogue: parsed.catalogue,
        description: parsed.description,
        group: parsed.group.unwrap_or_else(|| "业务数据".into()),
        title: parsed.title,
        district: parsed.district,
        sort,
        fields,
        rules,
        actions,
        permissions,
        list_columns,
        export_columns,
        views,
        workflow,
        import_match,
        file: file.to_string(),
    })
}

/// Reads one field (or a sub-table's column: `column_of` names its table) with whether the
/// list shows it; `slots` counts the key columns taken so far.
#[allow(clippy::too_many_arguments)]
fn read_field(
    file: &str,
    raw: FieldFile,
    column_of: Option<&str>,
    seen: &mut HashSet<String>,
    slots: &mut usize,
    dicts: &HashSet<String>,
    scripting: &engine::Scripting,
    problems: &mut Vec<Problem>,
) -> Option<(bool, Field)> {
    let named = match column_of {
        Some(table) => format!("{table}.{}", raw.key),
        None => raw.key.clone(),
    };
    let problem = |field: Option<&str>, message: String| Problem {
        file: file.to_string(),
        field: field.map(|_| named.clone()),
        message,
    };
    let at = Some(raw.key.as_str());
    if !valid_key(&raw.key) || raw.key.contains('-') {
        problems.push(problem(at, "a field key must be lower-case letters, digits or '_'".into()));
    }
    if RESERVED.contains(&raw.key.as_str()) {
        problems.push(problem(at, format!("'{}' is reserved for the record's own columns", raw.key)));
    }
    if !seen.insert(raw.key.clone()) {
        problems.push(problem(at, "the key is used twice".into()));
    }
    let Some(kind) = FieldKind::parse(&raw.kind) else {
        problems.push(problem(at, format!("unknown type '{}'", raw.kind)));
        return None;
    };
    let dict = match (kind, &raw.dict) {
        (FieldKind::District, None) => Some("district".to_string()),
        (FieldKind::District, Some(_)) => {
            problems.push(problem(at, "a district field takes no dict: it is the 16 districts".into()));
            None
        }
        (kind, Some(dict)) if kind.has_options() => {
            if !dicts.contains(dict) {
                problems.push(problem(at, format!("dictionary '{dict}' does not exist in definitions/dicts")));
            }
            Some(dict.clone())
        }
        (kind, None) if kind.has_options() => {
            problems.push(problem(at, format!("a {} field needs a dict", kind.name())));
            None
        }
        (kind, Some(_)) => {
            problems.push(problem(at, format!("a {} field takes no dict", kind.name())));
            None
        }
        (_, None) => None,
    };
    let target = match (kind, &raw.form) {
        (FieldKind::Reference, Some(target)) => Some(target.clone()),
        (FieldKind::Reference, None) => {
            problems.push(problem(at, "a reference field needs form = \"<form key>\"".into()));
            None
        }
        (_, Some(_)) => {
            problems.push(problem(at, "only a reference field takes form".into()));
            None
        }
        (_, None) => None,
    };
    if matches!(kind, FieldKind::DateRange | FieldKind::TimeSlot | FieldKind::Address)
        && (raw.filter || raw.unique || raw.sensitive)
    {
        problems.push(problem(
            at,
            format!("a {} field cannot be a filter, unique or sensitive (it can be a sort key)", kind.name()),
        ));
    }
    if kind.is_link() && (raw.filter || raw.sort || raw.unique || raw.sensitive) {
        problems
            .push(problem(at, format!("a {} field cannot be a filter, sort key, unique or sensitive", kind.name())));
    }
    // Uploads may be sensitive (an identity card's scan): their files are then served only with
    // `pii:unmask`; formatted text and tables hold text the search and lists read.
    if kind.is_compound() && (raw.filter || raw.sort || raw.unique || (raw.sensitive && !kind.is_upload())) {
        problems
            .push(problem(at, format!("a {} field cannot be a filter, sort key, unique or sensitive", kind.name())));
    }
    if column_of.is_some() && !kind.fits_column() {
        problems.push(problem(at, format!("a sub-table column cannot be a {} field", kind.name())));
    }
    if column_of.is_some()
        && (raw.filter
            || raw.sort
            || raw.unique
            || raw.sensitive
            || raw.list
            || raw.readonly
            || raw.visible_when.is_some()
            || raw.required_when.is_some())
    {
        problems.push(problem(
            at,
            "a sub-table column takes no filter, sort, unique, sensitive, list, readonly, visible_when or required_when"
                .into(),
        ));
    }
    let accept = match (kind, raw.accept) {
        (FieldKind::File, Some(accept)) => {
            for extension in &accept {
                if !crate::uploads::KINDS.iter().any(|(known, _, _)| known == extension) {
                    problems.push(problem(at, format!("accept: '{extension}' is no file type the system takes")));
                }
            }
            accept
        }
        (FieldKind::File, None) => {
            crate::uploads::KINDS.iter().map(|(extension, _, _)| extension.to_string()).collect()
        }
        (FieldKind::Image, None) => vec!["png".into(), "jpg".into(), "jpeg".into()],
        (_, Some(_)) => {
            problems.push(problem(at, "only a file field takes accept".into()));
            Vec::new()
        }
        (_, None) => Vec::new(),
    };
    if raw.qr && (kind != FieldKind::Text || raw.sensitive) {
        problems.push(problem(at, "only a text field that is not sensitive can be shown as a QR code (qr)".into()));
    }
    let max_files = match (kind.is_upload(), raw.max_files) {
        (true, Some(count)) if (1..=MAX_FILES).contains(&count) => count,
        (true, Some(_)) => {
            problems.push(problem(at, format!("max_files is 1 to {MAX_FILES}")));
            1
        }
        (true, None) => 1,
        (false, Some(_)) => {
            problems.push(problem(at, "only a file or image field takes max_files".into()));
            0
        }
        (false, None) => 0,
    };
    let max_bytes = match (kind.is_upload(), raw.max_mb) {
        (true, Some(mb)) if (1..=crate::uploads::MAX_FILE_BYTES / 1024 / 1024).contains(&mb) => mb * 1024 * 1024,
        (true, Some(_)) => {
            problems.push(problem(
                at,
                format!("max_mb is 1 to {} (the file store's limit)", crate::uploads::MAX_FILE_BYTES / 1024 / 1024),
            ));
            crate::uploads::MAX_FILE_BYTES
        }
        (true, None) => crate::uploads::MAX_FILE_BYTES,
        (false, Some(_)) => {
            problems.push(problem(at, "only a file or image field takes max_mb".into()));
            0
        }
        (false, None) => 0,
    };
    let mut columns = Vec::new();
    match (kind, raw.columns) {
        (FieldKind::Table, Some(raw_columns)) if !raw_columns.is_empty() => {
            let mut column_keys = HashSet::new();
            let mut no_slots = 0;
            for column in raw_columns {
                if let Some((_, column)) = read_field(
                    file,
                    column,
                    Some(&raw.key),
                    &mut column_keys,
                    &mut no_slots,
                    dicts,
                    scripting,
                    problems,
                ) {
                    columns.push(column);
                }
            }
        }
        (FieldKind::Table, _) => problems.push(problem(at, "a table field needs [[fields.columns]]".into())),
        (_, Some(_)) => problems.push(problem(at, "only a table field takes columns".into())),
        (_, None) => {}
    }
    let rows = match (kind, raw.min_rows, raw.max_rows) {
        (FieldKind::Table, min, max) => {
            let (min, max) = (min.unwrap_or(0), max.unwrap_or(MAX_ROWS));
            if min > max || max > MAX_ROWS {
                problems.push(problem(at, format!("min_rows ≤ max_rows ≤ {MAX_ROWS}")));
            }
            (min, max.min(MAX_ROWS))
        }
        (_, None, None) => (0, 0),
        _ => {
            problems.push(problem(at, "only a table field takes min_rows and max_rows".into()));
            (0, 0)
        }
    };
    let scale = match (kind, raw.scale) {
        (FieldKind::Decimal, Some(scale)) if scale <= 6 => scale,
        (FieldKind::Decimal, Some(_)) => {
            problems.push(problem(at, "scale is at most 6".into()));
            2
        }
        (_, Some(_)) => {
            problems.push(problem(at, "only a decimal field takes a scale".into()));
            0
        }
        (kind, None) => kind.default_scale(),
    };
    // An address and formatted text take a `max_length` for their text.
    let lengths = raw.min_length.is_some()
        || raw.pattern.is_some()
        || (raw.max_length.is_some() && !matches!(kind, FieldKind::Address | FieldKind::RichText));
    if lengths && !kind.is_text() {
        problems
            .push(problem(at, format!("min_length, max_length and pattern are for text fields, not {}", kind.name())));
    }
    if let (Some(min), Some(max)) = (raw.min_length, raw.max_length)
        && min > max
    {
        problems.push(problem(at, "min_length is above max_length".into()));
    }
    let bound = |value: &Option<toml::Value>, name: &str, problems: &mut Vec<Problem>| {
        let value = value.as_ref()?;
        if !kind.is_ordered() {
            problems.push(problem(at, format!("{name} is for numbers and dates, not {}", kind.name())));
            return None;
        }
        let parsed = parse_bound(kind, scale, value);
        if parsed.is_none() {
            problems.push(problem(at, format!("{name} = {value:?} is no {} value", kind.name())));
        }
        parsed
    };
    let min = bound(&raw.min, "min", problems);
    let max = bound(&raw.max, "max", problems);
    let pattern = raw.pattern.as_ref().and_then(|pattern| match regex_lite::Regex::new(&format!("^(?:{pattern})$")) {
        Ok(regex) => Some(regex),
        Err(error) => {
            problems.push(problem(at, format!("pattern does not compile: {error}")));
            None
        }
    });
    let phone = match (kind, raw.phone.as_deref()) {
        (FieldKind::Phone, None | Some("any")) => PhoneKind::Any,
        (FieldKind::Phone, Some("mobile")) => PhoneKind::Mobile,
        (FieldKind::Phone, Some("landline")) => PhoneKind::Landline,
        (FieldKind::Phone, Some(other)) => {
            problems.push(problem(at, format!("phone = '{other}': use mobile, landline or any")));
            PhoneKind::Any
        }
        (_, Some(_)) => {
            problems.push(problem(at, "only a phone field takes phone".into()));
            PhoneKind::Any
        }
        (_, None) => PhoneKind::Any,
    };
    let mut condition = |source: &Option<String>, name: &str| {
        let source = source.as_ref()?;
        match scripting.compile_expression(source) {
            Ok(expression) => Some(Arc::new(expression)),
            Err(error) => {
                problems.push(problem(at, format!("{name} does not compile: {error}")));
                None
            }
        }
    };
    let visible_when = condition(&raw.visible_when, "visible_when");
    let required_when = condition(&raw.required_when, "required_when");
    if (raw.filter || raw.sort) && kind == FieldKind::Textarea {
        problems.push(problem(at, "a textarea cannot be a filter or sort key".into()));
    }
    if raw.sensitive && (raw.filter || raw.sort) {
        problems.push(problem(
            at,
            "a sensitive field cannot be a filter or sort key (its values would be indexed in clear)".into(),
        ));
    }
    if raw.sort && kind.is_list() {
        problems.push(problem(at, format!("a {} field cannot be a sort key", kind.name())));
    }
    if raw.unique && (kind.is_list() || kind == FieldKind::Boolean || kind == FieldKind::Textarea) {
        problems.push(problem(at, format!("a {} field cannot be unique", kind.name())));
    }
    let default_value = raw.default.as_ref().and_then(|value| match serde_json::to_value(value) {
        Ok(value) => Some(value),
        Err(error) => {
            problems.push(problem(at, format!("default: {error}")));
            None
        }
    });
    if raw.readonly && raw.required && default_value.is_none() {
        problems.push(problem(at, "a required read-only field needs a default (nobody could fill it)".into()));
    }
    let slot = (raw.filter || raw.sort).then(|| {
        *slots += 1;
        *slots - 1
    });
    Some((
        raw.list,
        Field {
            key: raw.key,
            label: raw.label,
            kind,
            required: raw.required,
            unique: raw.unique,
            sensitive: raw.sensitive,
            readonly: raw.readonly,
            default: default_value,
            filter: raw.filter,
            sortable: raw.sort,
            slot,
            min_length: raw.min_length,
            max_length: raw.max_length,
            min,
            max,
            pattern,
            pattern_message: raw.pattern_message,
            dict,
            target,
            scale,
            phone,
            help: raw.help,
            visible_when,
            required_when,
            visible_when_source: raw.visible_when,
            required_when_source: raw.required_when,
            accept,
            max_files,
            max_bytes,
            columns,
            rows,
            qr: raw.qr,
        },
    ))
}

fn parse_bound(kind: FieldKind, scale: u32, value: &toml::Value) -> Option<Bound> {
    match (kind, value) {
        (FieldKind::Integer, toml::Value::Integer(number)) => Some(Bound::Number(i128::from(*number))),
        (FieldKind::Decimal | FieldKind::Money, toml::Value::Integer(number)) => {
            Some(Bound::Number(i128::from(*number) * 10i128.pow(scale)))
        }
        (FieldKind::Decimal | FieldKind::Money, toml::Value::String(text)) => {
            crate::value::parse_decimal(text, scale).ok().map(Bound::Number)
        }
        (FieldKind::Date, toml::Value::String(text)) => {
            NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().map(Bound::Date)
        }
        (FieldKind::Datetime, toml::Value::String(text)) => {
            crate::value::parse_datetime(text).ok().map(Bound::Datetime)
        }
        _ => None,
    }
}

/// A dictionary file (`definitions/dicts/<key>.toml`): codes with their labels, in order.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DictFile {
    name: String,
    items: Vec<DictItemFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DictItemFile {
    code: String,
    label: String,
}

/// A dictionary: ordered (code, label) pairs.
#[derive(Debug, Clone, PartialEq)]
pub struct Dict {
    pub key: String,
    pub name: String,
    pub items: Vec<(String, String)>,
}

impl Dict {
    pub fn label<'a>(&'a self, code: &'a str) -> Option<&'a str> {
        self.items.iter().find(|(item, _)| item == code).map(|(_, label)| label.as_str())
    }

    /// The code of a label or a code (what an import or a hand-typed value may give).
    pub fn code_of(&self, text: &str) -> Option<&str> {
        self.items.iter().find(|(code, label)| code == text || label == text).map(|(code, _)| code.as_str())
    }
}

pub(crate) fn read_dict(file: &str, key: &str, text: &str, problems: &mut Vec<Problem>) -> Option<Dict> {
    let problem = |field: Option<&str>, message: String| Problem {
        file: file.to_string(),
        field: field.map(str::to_string),
        message,
    };
    let parsed: DictFile = match toml::from_str(text) {
        Ok(parsed) => parsed,
        Err(error) => {
            problems.push(problem(None, error.to_string().trim().to_string()));
            return None;
        }
    };
    let before = problems.len();
    let mut codes = BTreeMap::new();
    for item in &parsed.items {
        if item.code.trim().is_empty() || item.code.contains('|') || item.code.trim() != item.code {
            problems
                .push(problem(Some(&item.code), "a code must be non-empty, without '|' or surrounding spaces".into()));
        }
        if codes.insert(item.code.clone(), ()).is_some() {
            problems.push(problem(Some(&item.code), "the code is used twice".into()));
        }
    }
    if parsed.items.is_empty() {
        problems.push(problem(None, "a dictionary needs items".into()));
    }
    (problems.len() == before).then(|| Dict {
        key: key.to_string(),
        name: parsed.name,
        items: parsed.items.into_iter().map(|item| (item.code, item.label)).collect(),
    })
}
