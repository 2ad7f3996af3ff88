//! Imports of a form's records as jobs (issue 13; PREF-02's migrations use the same path).
//!
//! 1. [`read_upload`] reads an upload by its content (XLSX, or CSV in UTF-8 or GB18030, the
//!    encoding Excel saves Chinese CSV in) into a [`Sheet`]; [`columns`] maps its header row to
//!    fields (by label or key; a `*` or `（必填）` a template adds is ignored, so is the
//!    `错误原因` column of an error workbook, so a fixed error workbook can be uploaded again).
//! 2. [`validate`] checks every row without writing anything, through the same validation as
//!    a form submission, and returns each row's outcome: `new`, `update` (the form's
//!    `[import] match` field names a record the caller can see), `unchanged` or `error` with
//!    per-cell errors (row, column header, raw value, stable code, Chinese message). Unique
//!    values are checked against the database and within the file. A valid row carries the
//!    write prepared from it, with the version of the record it read.
//! 3. The commit ([`store::forms::FormStore::commit_form_import`]) writes the prepared rows
//!    and marks the job done in one transaction.
//!
//! Cells are normalised like typed input (whitespace, full-width characters, dictionary labels
//! to codes) and Excel's date serials become dates. An empty cell leaves a stored value as it
//! is: an import never clears data (clear a value on the record's page).

use std::collections::HashMap;
use std::io::Cursor;

use serde_json::{Map, Value};
use store::Store;
use store::forms::{ImportRow, PreparedWrite};

use crate::definition::{FieldKind, Form};
use crate::records::{self, Actor, RecordError};
use crate::value::{self, FieldError, Mode};
use crate::{Catalog, records::today};

/// The most data rows one upload may have.
pub const MAX_ROWS: usize = 200_000;
/// The largest upload, in bytes.
pub const MAX_BYTES: usize = 30 * 1024 * 1024;
/// The column an error workbook adds (and an upload of it ignores).
pub const ERROR_COLUMN: &str = "错误原因";

/// One cell as read from an upload.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    Text(String),
    Number(f64),
    /// A cell Excel formats as a date: its serial (days since 1899-12-30, time as fraction).
    Date(f64),
    Bool(bool),
}

impl Cell {
    /// The cell as the person typed it (what an error report and the error workbook show).
    pub fn raw(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(text) => text.clone(),
            Cell::Number(number) => number_text(*number),
            Cell::Date(serial) => serial_datetime(*serial).unwrap_or_else(|| number_text(*serial)),
            Cell::Bool(flag) => if *flag { "是" } else { "否" }.into(),
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(text) => text.trim().is_empty(),
            _ => false,
        }
    }
}

/// A whole number without `.0` (phone numbers and codes typed into number cells).
fn number_text(number: f64) -> String {
    if number.fract() == 0.0 && number.abs() < 1e15 { format!("{}", number as i64) } else { number.to_string() }
}

/// An Excel date serial as `YYYY-MM-DD` (or `YYYY-MM-DDTHH:MM` with a time part).
fn serial_datetime(serial: f64) -> Option<String> {
    if !(1.0..2_958_466.0).contains(&serial) {
        return None;
    }
    let base = chrono::NaiveDate::from_ymd_opt(1899, 12, 30)?.and_hms_opt(0, 0, 0)?;
    let minutes = (serial * 24.0 * 60.0).round() as i64;
    let at = base + chrono::Duration::minutes(minutes);
    Some(if minutes % (24 * 60) == 0 {
        at.format("%Y-%m-%d").to_string()
    } else {
        at.format("%Y-%m-%dT%H:%M").to_string()
    })
}

/// An upload read into rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Sheet {
    pub headers: Vec<String>,
    /// (row number in the file, counting the header as 1; cells).
    pub rows: Vec<(i64, Vec<Cell>)>,
}

/// Why an upload cannot be imported at all (not a row's problem).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct SheetError {
    pub code: &'static str,
    pub message: String,
}

fn sheet_error(code: &'static str, message: impl Into<String>) -> SheetError {
    SheetError { code, message: message.into() }
}

/// Reads an upload, recognised by its content: a ZIP container is an XLSX workbook (its
/// first sheet), anything else CSV. Blank rows are skipped; the first non-blank row is the
/// header.
pub fn read_upload(bytes: &[u8]) -> Result<Sheet, SheetError> {
    if bytes.len() > MAX_BYTES {
        return Err(sheet_error("file-too-large", format!("文件超过 {} MB", MAX_BYTES / 1024 / 1024)));
    }
    let rows = if bytes.starts_with(b"PK\x03\x04") { xlsx_rows(bytes)? } else { csv_rows(bytes)? };
    let mut rows = rows.into_iter().filter(|(_, cells)| cells.iter().any(|cell| !cell.is_empty()));
    let Some((_, header)) = rows.next() else {
        return Err(sheet_error("empty-file", "文件中没有内容"));
    };
    let headers: Vec<String> = header.iter().map(Cell::raw).map(|text| text.trim().to_string()).collect();
    let rows: Vec<(i64, Vec<Cell>)> = rows.collect();
    if rows.len() > MAX_ROWS {
        return Err(sheet_error("too-many-rows", format!("一次最多导入 {MAX_ROWS} 行，文件有 {} 行", rows.len())));
    }
    Ok(Sheet { headers, rows })
}

fn xlsx_rows(bytes: &[u8]) -> Result<Vec<(i64, Vec<Cell>)>, SheetError> {
    use calamine::{Data, Reader, Xlsx};
    let unreadable = |error: String| sheet_error("unreadable-file", format!("无法读取该 Excel 文件：{error}"));
    let mut workbook = Xlsx::new(Cursor::new(bytes)).map_err(|error| unreadable(error.to_string()))?;
    let range = workbook
        .worksheet_range_at(0)
        .ok_or_else(|| sheet_error("empty-file", "工作簿中没有工作表"))?
        .map_err(|error| unreadable(error.to_string()))?;
    let first = range.start().map_or(0, |(row, _)| i64::from(row));
    let skip = range.start().map_or(0, |(_, column)| column as usize);
    Ok(range
        .rows()
        .enumerate()
        .map(|(index, row)| {
            let mut cells = vec![Cell::Empty; skip];
            cells.extend(row.iter().map(|cell| match cell {
                Data::Empty => Cell::Empty,
                Data::String(text) | Data::DateTimeIso(text) | Data::DurationIso(text) => Cell::Text(text.clone()),
                Data::Int(number) => Cell::Number(*number as f64),
                Data::Float(number) => Cell::Number(*number),
                Data::Bool(flag) => Cell::Bool(*flag),
                Data::DateTime(at) => Cell::Date(at.as_f64()),
                Data::Error(error) => Cell::Text(format!("#{error:?}")),
            }));
            (first + index as i64 + 1, cells)
        })
        .collect())
}

fn csv_rows(bytes: &[u8]) -> Result<Vec<(i64, Vec<Cell>)>, SheetError> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => {
            let (text, _, malformed) = encoding_rs::GB18030.decode(bytes);
            if malformed {
                return Err(sheet_error("unknown-encoding", "无法识别文件的编码，请另存为 UTF-8 或 Excel 格式"));
            }
            text
        }
    };
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let numbers = row_numbers(&text);
    let mut rows = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let record = record.map_err(|error| {
            let line = error.position().map_or(0, csv::Position::line);
            sheet_error("unreadable-file", format!("CSV 第 {line} 行附近无法读取（引号不配对？）"))
        })?;
        let number = numbers.get(index).copied().unwrap_or(index as i64 + 1);
        rows.push((number, record.iter().map(|cell| Cell::Text(cell.to_string())).collect()));
    }
    Ok(rows)
}

/// The row numbers Excel shows for the records of a CSV text: rows end at line breaks outside
/// quotes; an empty row (which the CSV reader skips) still counts.
fn row_numbers(text: &str) -> Vec<i64> {
    let (mut numbers, mut row, mut quoted, mut filled) = (Vec::new(), 1i64, false, false);
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                filled = true;
            }
            '\n' if !quoted => {
                if filled {
                    numbers.push(row);
                }
                row += 1;
                filled = false;
            }
            '\r' if !quoted => {}
            _ => filled = true,
        }
    }
    if filled {
        numbers.push(row);
    }
    numbers
}

/// How the header row maps to fields: the field index of each column (`None`: ignored).
#[derive(Debug, Clone, PartialEq)]
pub struct Columns {
    pub fields: Vec<Option<usize>>,
    /// Headers no field has (reported, not imported).
    pub ignored: Vec<String>,
}

/// A header as a template or a person writes it, without the marks a template adds.
fn header_name(header: &str) -> String {
    let text = value::half_width(header.trim());
    let text = text.trim_start_matches('*').trim_end_matches('*');
    let text = text.strip_suffix("(必填)").unwrap_or(text);
    text.trim().to_string()
}

/// The fields an import may fill: all but the read-only ones (they take their default, and
/// change only through record actions), the uploads and the sub-tables (a cell holds neither;
/// an update keeps what they hold).
pub fn importable(form: &Form) -> impl Iterator<Item = &crate::Field> {
    form.fields.iter().filter(|field| is_importable(field))
}

fn is_importable(field: &crate::Field) -> bool {
    !field.readonly && !field.kind.is_upload() && field.kind != crate::FieldKind::Table
}

/// Maps the header row to the form's importable fields, by label or key.
pub fn columns(form: &Form, headers: &[String]) -> Result<Columns, SheetError> {
    let mut fields = Vec::with_capacity(headers.len());
    let mut ignored = Vec::new();
    for header in headers {
        let name = header_name(header);
        let found =
            form.fields.iter().position(|field| is_importable(field) && (field.label == name || field.key == name));
        if let Some(index) = found
            && fields.contains(&Some(index))
        {
            return Err(sheet_error("duplicate-column", format!("“{name}”列出现了两次")));
        }
        if found.is_none() && !name.is_empty() && name != ERROR_COLUMN {
            ignored.push(header.clone());
        }
        fields.push(found);
    }
    if fields.iter().all(Option::is_none) {
        return Err(sheet_error("no-known-column", format!("表头中没有“{}”的字段，请使用导入模板", form.name)));
    }
    Ok(Columns { fields, ignored })
}

/// One problem of one cell (or of the row, when `column` is empty).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CellError {
    pub column: String,
    pub field: String,
    pub code: String,
    pub message: String,
    pub value: String,
}

/// What a validation pass found, by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    pub new: i64,
    pub update: i64,
    pub unchanged: i64,
    pub error: i64,
}

impl Counts {
    fn add(&mut self, outcome: &str) {
        match outcome {
            "new" => self.new += 1,
            "update" => self.update += 1,
            "unchanged" => self.unchanged += 1,
            _ => self.error += 1,
        }
    }
}

/// What validation carries from one batch of rows to the next: the unique values seen in the
/// file so far (field, value) → row number.
#[derive(Debug, Default)]
pub struct Seen {
    unique: HashMap<(String, String), i64>,
}

/// The cell text a field reads from a cell: a date serial becomes a date for date fields; a
/// number keeps no `.0`.
fn cell_input(kind: FieldKind, cell: &Cell) -> Option<String> {
    if cell.is_empty() {
        return None;
    }
    let dated = matches!(kind, FieldKind::Date | FieldKind::Datetime);
    Some(match cell {
        Cell::Number(serial) | Cell::Date(serial) if dated => serial_datetime(*serial).unwrap_or_else(|| cell.raw()),
        // A serial that arrived as text (a CSV saved from Excel).
        Cell::Text(text) if dated && text.trim().len() == 5 && text.trim().chars().all(|c| c.is_ascii_digit()) => {
            text.trim().parse().ok().and_then(serial_datetime).unwrap_or_else(|| text.clone())
        }
        other => other.raw(),
    })
}

/// Validates a batch of rows of an upload for `actor`, writing nothing. `may_update`: whether
/// the actor may change existing records (a row that matches one is an error otherwise).
#[allow(clippy::too_many_arguments)]
pub async fn validate(
    store: &dyn Store,
    crypto: &dyn crypto::CryptoProvider,
    catalog: &Catalog,
    form: &Form,
    actor: &Actor,
    import_id: &str,
    headers: &[String],
    columns: &Columns,
    rows: &[(i64, Vec<Cell>)],
    may_update: bool,
    seen: &mut Seen,
) -> records::Result<(Vec<ImportRow>, Counts)> {
    let today = today();
    let header_of = |field: &str| -> String {
        let index = form.fields.iter().position(|candidate| candidate.key == field);
        columns
            .fields
            .iter()
            .position(|column| column.is_some() && *column == index)
            .and_then(|column| headers.get(column).cloned())
            .unwrap_or_else(|| form.field(field).map(|field| field.label.clone()).unwrap_or_default())
    };
    // Each row's input, and its match value in stored form.
    let match_field = form.import_match.as_deref().and_then(|key| form.field(key));
    let mut inputs: Vec<(Map<String, Value>, Map<String, Value>)> = Vec::with_capacity(rows.len());
    let mut match_values: Vec<Option<String>> = Vec::with_capacity(rows.len());
    for (_, cells) in rows {
        let mut input = Map::new();
        let mut raw = Map::new();
        for (column, cell) in cells.iter().enumerate() {
            let Some(Some(index)) = columns.fields.get(column) else { continue };
            let field = &form.fields[*index];
            if let Some(text) = cell_input(field.kind, cell) {
                input.insert(field.key.clone(), Value::String(text));
                raw.insert(field.key.clone(), Value::String(cell.raw()));
            }
        }
        let matched = match match_field {
            Some(field) => {
                match input.get(&field.key).and_then(|given| value::normalise(field, catalog, given, today).ok()) {
                    Some(value) => Some(records::unique_key(form, field, &value, crypto)?),
                    None => None,
                }
            }
            None => None,
        };
        match_values.push(matched);
        inputs.push((input, raw));
    }
    // The records the match values name, if the actor can see them.
    let mut owners: HashMap<String, String> = HashMap::new();
    if let Some(field) = match_field {
        let wanted: Vec<String> = match_values.iter().flatten().cloned().collect();
        owners.extend(store.unique_owners(&form.key, &field.key, &wanted).await?);
    }
    let mut outcomes = Vec::with_capacity(rows.len());
    for ((row_no, cells), ((input, raw), matched)) in rows.iter().zip(inputs.into_iter().zip(match_values)) {
        let mut errors: Vec<CellError> = Vec::new();
        // The value of a sensitive cell is kept masked with its error (the cells themselves
        // are sealed, `sealed::seal_cells`).
        let cell_error = |error: FieldError| CellError {
            column: if error.field == "_form" { String::new() } else { header_of(&error.field) },
            value: match (raw.get(&error.field).and_then(Value::as_str), form.field(&error.field)) {
                (Some(text), Some(field)) if field.sensitive && !text.is_empty() => value::masked(field, text),
                (text, _) => text.unwrap_or("").to_string(),
            },
            field: error.field,
            code: error.code,
            message: error.message,
        };
        let current = match matched.as_ref().and_then(|value| owners.get(value)) {
            None => None,
            Some(id) => match records::get(store, crypto, form, actor, id).await {
                Ok(record) => Some(record),
                // Held by a record the actor cannot see: a duplicate, as a new record would be.
                Err(RecordError::NotFound) => {
                    let field = match_field.map(|field| field.key.clone()).unwrap_or_default();
                    let label = form.field(&field).map(|field| field.label.clone()).unwrap_or_default();
                    errors.push(cell_error(FieldError {
                        field,
                        code: "duplicate".into(),
                        message: format!("{label}已被其他记录使用，不能重复"),
                    }));
                    None
                }
                Err(other) => return Err(other),
            },
        };
        if current.is_some() && !may_update {
            errors.push(cell_error(FieldError {
                field: "_form".into(),
                code: "no-update-permission".into(),
                message: "该行与已有记录匹配，但没有修改已有记录的权限".into(),
            }));
        }
        let mut input = input;
        let previous = current.as_ref().map(|record| &record.values);
        records::resolve_references(store, catalog, form, actor, &mut input, previous).await?;
        let checked = if errors.is_empty() {
            let previous = current.as_ref().map(|record| &record.values);
            records::editable(form, &input, previous, Mode::Lenient)
                .and_then(|input| {
                    let mut values = value::validate(form, catalog, &input, previous, Mode::Lenient, today)
                        .map_err(RecordError::Invalid)?;
                    if let Some(previous) = previous {
                        records::keep_removed(form, previous, &mut values);
                    }
                    Ok(values)
                })
                .and_then(|values| Ok((records::district_of(form, &values, actor)?, values)))
        } else {
            Err(RecordError::Invalid(Vec::new()))
        };
        let (district, values) = match checked {
            Ok(checked) => checked,
            Err(RecordError::Invalid(found)) => {
                errors.extend(found.into_iter().map(cell_error));
                (None, Map::new())
            }
            Err(other) => return Err(other),
        };
        // Unique values within the file.
        let unique = if errors.is_empty() { records::unique_values(form, &values, crypto)? } else { Vec::new() };
        for value in &unique {
            if let Some(first) = seen.unique.get(&(value.field.clone(), value.value.clone()))
                && first != row_no
            {
                let label = form.field(&value.field).map(|field| field.label.clone()).unwrap_or_default();
                errors.push(cell_error(FieldError {
                    field: value.field.clone(),
                    code: "duplicate-in-file".into(),
                    message: format!("{label}与第 {first} 行重复"),
                }));
            }
        }
        if errors.is_empty() {
            for value in &unique {
                seen.unique.insert((value.field.clone(), value.value.clone()), *row_no);
            }
        }
        outcomes.push((*row_no, cells, current, district, values, unique, errors));
    }
    // Unique values against the database, in one query per field.
    let mut taken: HashMap<(String, String), String> = HashMap::new();
    for field in form.fields.iter().filter(|field| field.unique) {
        let wanted: Vec<String> = outcomes
            .iter()
            .flat_map(|outcome| {
                outcome.5.iter().filter(|value| value.field == field.key).map(|value| value.value.clone())
            })
            .collect();
        if wanted.is_empty() {
            continue;
        }
        for (value, owner) in store.unique_owners(&form.key, &field.key, &wanted).await? {
            taken.insert((field.key.clone(), value), owner);
        }
    }
    let mut counts = Counts::default();
    let mut rows_out = Vec::with_capacity(outcomes.len());
    for (row_no, cells, current, district, values, unique, mut errors) in outcomes {
        for value in &unique {
            if let Some(owner) = taken.get(&(value.field.clone(), value.value.clone()))
                && current.as_ref().is_none_or(|record| &record.id != owner)
            {
                let label = form.field(&value.field).map(|field| field.label.clone()).unwrap_or_default();
                errors.push(CellError {
                    column: header_of(&value.field),
                    field: value.field.clone(),
                    code: "duplicate".into(),
                    message: format!("{label}已被其他记录使用，不能重复"),
                    value: match (values.get(&value.field).and_then(Value::as_str), form.field(&value.field)) {
                        (Some(text), Some(field)) if field.sensitive => value::masked(field, text),
                        (text, _) => text.unwrap_or("").to_string(),
                    },
                });
            }
        }
        let raw_cells: Vec<String> = cells.iter().map(Cell::raw).collect();
        let raw_cells = crate::sealed::seal_cells(form, crypto, import_id, row_no, &raw_cells)?;
        let mut row = ImportRow {
            import_id: import_id.to_string(),
            row_no,
            outcome: "error".into(),
            record_id: None,
            expected_version: None,
            raw: raw_cells,
            errors: "[]".into(),
            prepared: None,
        };
        if !errors.is_empty() {
            row.errors = serde_json::to_string(&errors).unwrap_or_else(|_| "[]".into());
        } else {
            let changes = match &current {
                Some(record) => records::field_changes(form, &record.values, &values),
                None => records::field_changes(form, &Map::new(), &values),
            };
            let unchanged = current.as_ref().is_some_and(|record| changes.is_empty() && district == record.district);
            let record_id = current.as_ref().map_or_else(store::new_id, |record| record.id.clone());
            let (title, search, keys) = records::derived(form, &values);
            let prepared = PreparedWrite {
                version: current.as_ref().map_or(1, |record| record.version + 1),
                district,
                unit_id: current.as_ref().map_or_else(|| actor.unit.clone(), |_| None),
                created_by: current.as_ref().map_or_else(|| actor.user.clone(), |record| record.created_by.clone()),
                created_at: current.as_ref().map_or_else(store::now_millis, |record| record.created_at),
                title,
                search,
                data: records::stored_data(form, crypto, &record_id, &values)?,
                keys,
                unique: unique.into_iter().map(|value| (value.field, value.value)).collect(),
                changes: records::history_json(&changes),
            };
            row.outcome = if unchanged {
                "unchanged"
            } else if current.is_some() {
                "update"
            } else {
                "new"
            }
            .into();
            row.record_id = Some(record_id);
            row.expected_version = current.as_ref().map(|record| record.version);
            if !unchanged {
                row.prepared = Some(serde_json::to_string(&prepared).map_err(|error| {
                    RecordError::Store(store::Error::Corrupt(format!("prepared row {row_no}: {error}")))
                })?);
            }
        }
        counts.add(&row.outcome);
        rows_out.push(row);
    }
    Ok((rows_out, counts))
}

/// Import jobs validated by a version that stored sensitive values in clear (before sealing):
/// their prepared rows would write those values as they are, so such a job in `ready` is
/// `failed` with a sentence asking for the file again. Run at start, after the sealing pass.
pub async fn fail_unsealed(store: &dyn Store, catalog: &Catalog) -> store::Result<u64> {
    let mut failed = 0;
    for job in store.form_imports_with_status("ready").await? {
        let Some(form) = catalog.form(&job.form).filter(|form| form.fields.iter().any(|field| field.sensitive)) else {
            continue;
        };
        let mut after = 0;
        let clear = loop {
            let rows = store.form_import_rows(&job.id, &["new", "update"], after, 1_000).await?;
            let clear = rows.iter().any(|row| {
                let prepared: Option<store::forms::PreparedWrite> =
                    row.prepared.as_deref().and_then(|prepared| serde_json::from_str(prepared).ok());
                prepared.is_some_and(|prepared| {
                    let data: serde_json::Map<String, Value> = serde_json::from_str(&prepared.data).unwrap_or_default();
                    crate::sealed::needs_sealing(form, &data)
                })
            });
            match rows.last() {
                Some(last) if !clear && rows.len() == 1_000 => after = last.row_no,
                _ => break clear,
            }
        };
        let message = "系统升级后需要重新校验，请重新上传文件";
        if clear && store.claim_form_import(&job.id, "ready", "failed", store::now_millis(), Some(message)).await? {
            failed += 1;
        }
    }
    Ok(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excel_serials_become_dates_and_times() {
        assert_eq!(serial_datetime(45_292.0).as_deref(), Some("2024-01-01"));
        assert_eq!(serial_datetime(45_292.5).as_deref(), Some("2024-01-01T12:00"));
        assert_eq!(serial_datetime(0.5), None, "a bare time is no date");
        assert_eq!(cell_input(FieldKind::Date, &Cell::Text(" 45292 ".into())).as_deref(), Some("2024-01-01"));
        assert_eq!(cell_input(FieldKind::Text, &Cell::Number(13_816_234_567.0)).as_deref(), Some("13816234567"));
        assert_eq!(cell_input(FieldKind::Decimal, &Cell::Number(12.5)).as_deref(), Some("12.5"));
        assert_eq!(cell_input(FieldKind::Text, &Cell::Text("  ".into())), None);
    }

    #[test]
    fn csv_is_read_in_utf8_with_or_without_a_bom_and_in_gb18030() {
        let utf8 = "姓名,电话\r\n张三,\"138 1623 4567\"\r\n\r\n李四,\"多行\n备注\"\r\n王五,1\r\n";
        let (gbk, _, _) = encoding_rs::GB18030.encode(utf8);
        for bytes in [utf8.as_bytes().to_vec(), [b"\xef\xbb\xbf".as_slice(), utf8.as_bytes()].concat(), gbk.to_vec()] {
            let sheet = read_upload(&bytes).expect("reads");
            assert_eq!(sheet.headers, vec!["姓名", "电话"]);
            assert_eq!(sheet.rows.len(), 3, "the blank line is skipped");
            assert_eq!(sheet.rows[2].0, 5, "a line break inside a cell is no row");
            assert_eq!(sheet.rows[0], (2, vec![Cell::Text("张三".into()), Cell::Text("138 1623 4567".into())]));
            assert_eq!(sheet.rows[1].1[1], Cell::Text("多行\n备注".into()));
            assert_eq!(sheet.rows[1].0, 4, "numbered as Excel shows it: the blank line is row 3");
        }
        assert_eq!(read_upload(b"").map_err(|error| error.code), Err("empty-file"));
        assert_eq!(read_upload(b"\xff\xfe\x00\x81\x30").map_err(|error| error.code), Err("unknown-encoding"));
    }

    #[test]
    fn header_marks_of_the_template_are_ignored() {
        assert_eq!(header_name(" *姓名 "), "姓名");
        assert_eq!(header_name("身份证号（必填）"), "身份证号");
        assert_eq!(header_name("phone"), "phone");
    }
}
