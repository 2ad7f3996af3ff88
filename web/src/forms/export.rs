//! Exports of what a list shows: the current filter and sort, every page, streamed. The rows
//! are read in batches of 1,000 through the records layer's keyset cursor and written to the
//! response as they come, so memory stays flat whatever the size. `format=xlsx` writes an
//! Excel workbook instead: its rows go to a temporary file as they come (`constant_memory`),
//! and the finished file is streamed from there. CSV starts with a UTF-8 BOM
//! (Excel then opens Chinese text correctly); values are the screens' (dictionary labels, not
//! codes; sensitive fields masked unless the caller holds `pii:unmask`); a cell that a
//! spreadsheet would read as a formula is prefixed with `'`. Every export is audited with its
//! filter and row count once it has run (`form.export`).

use std::sync::Arc;

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use forms::records::{self, Walker};
use forms::{Catalog, Form};

use super::{Action, actor, catalog, form_for, list_request, refused, shown};
use crate::AppState;
use crate::error::ApiResult;
use crate::identity::{Auth, ClientIp};

/// Rows read per batch.
const BATCH: i64 = 1_000;

/// `GET /api/forms/{form}/export?format=csv|xlsx&…the list's filters…`.
pub(crate) async fn api_export(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    ClientIp(ip): ClientIp,
    Path(key): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    export(state, auth, ip, key, raw.unwrap_or_default()).await
}

/// The export of form `key` under the list filters in `raw` (a query string).
pub(crate) async fn export(state: AppState, auth: Auth, ip: String, key: String, raw: String) -> ApiResult<Response> {
    let catalog = catalog(&state).clone();
    let form = form_for(&catalog, &auth, &key, Action::Export)?;
    let pairs = super::api::pairs(Some(&raw));
    let mut request = list_request(form, &pairs, BATCH);
    request.page = 1;
    request.page_size = BATCH;
    let actor = actor(&auth);
    // Refuse a bad filter before the first byte is sent.
    records::query(form, actor.scope.clone(), &request).map_err(refused)?;
    let unmask = auth.principal.can("pii:unmask");
    // The columns on screen (`cols`) that the definition lets out, else its export columns.
    let chosen: Vec<String> = pairs
        .iter()
        .filter(|(name, value)| name == "cols" && form.export_columns.contains(value))
        .map(|(_, value)| value.clone())
        .collect();
    let columns = if chosen.is_empty() { form.export_columns.clone() } else { chosen };
    let xlsx = pairs.iter().any(|(name, value)| name == "format" && value == "xlsx");
    let format = if xlsx { "xlsx" } else { "csv" };
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let filename = format!("{}-{}.{format}", form.name, chrono::Utc::now().format("%Y%m%d"));
    let user = auth.principal.account.id.clone();
    let form_key = form.key.clone();
    // The request's task-local data scope does not follow a spawned task: it travels in `actor`.
    tokio::spawn(async move {
        let Some(form) = catalog.form(&form_key) else { return };
        let outcome = if xlsx {
            stream_xlsx(&state, &catalog, form, &columns, &actor, &request, unmask, &sender).await
        } else {
            stream_csv(&state, &catalog, form, &columns, &actor, &request, unmask, &sender).await
        };
        let (result, rows) = match &outcome {
            Ok(rows) => ("success", *rows),
            Err(rows) => ("failure", *rows),
        };
        let mut entry = crate::identity::entry(Some(&user), &ip, "form.export", Some(&form_key), result);
        entry.detail = Some(serde_json::json!({ "filter": raw, "rows": rows, "format": format }).to_string());
        if let Err(error) = crate::identity::audit(&state, entry).await {
            tracing::error!(%error, "the export's audit row was not written");
        }
    });
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    });
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    let content_type = if xlsx {
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    } else {
        "text/csv; charset=utf-8"
    };
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    super::import::attachment(headers, &filename, &format!("export.{format}"));
    Ok(response)
}

/// Writes the CSV into `sender`; the rows written, or the rows written before it failed (a
/// reader that went away, a database error).
#[allow(clippy::too_many_arguments)]
async fn stream_csv(
    state: &AppState,
    catalog: &Arc<Catalog>,
    form: &Form,
    columns: &[String],
    actor: &records::Actor,
    request: &records::ListRequest,
    unmask: bool,
    sender: &tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> Result<u64, u64> {
    let mut head = String::from("\u{feff}");
    push_row(&mut head, &export_header(form, columns));
    if sender.send(Ok(Bytes::from(head))).await.is_err() {
        return Err(0);
    }
    let store = state.store().clone();
    let mut walker = match Walker::new(store.as_ref(), state.security.crypto.as_ref(), form, actor, request, BATCH) {
        Ok(walker) => walker,
        Err(_) => return Err(0),
    };
    let mut rows = 0u64;
    loop {
        match walker.next().await {
            Ok(Some(records)) => {
                let mut chunk = String::with_capacity(records.len() * 128);
                for record in &records {
                    push_row(&mut chunk, &export_cells(catalog, form, columns, record, unmask));
                }
                rows += records.len() as u64;
                if sender.send(Ok(Bytes::from(chunk))).await.is_err() {
                    return Err(rows);
                }
            }
            Ok(None) => return Ok(rows),
            Err(error) => {
                tracing::error!(%error, form = %form.key, "export failed");
                let _ = sender.send(Err(std::io::Error::other("export failed"))).await;
                return Err(rows);
            }
        }
    }
}

/// The header and the cells of one record, as the screens show them.
fn export_header(form: &Form, columns: &[String]) -> Vec<String> {
    columns
        .iter()
        .filter_map(|key| form.field(key))
        .map(|field| field.label.clone())
        .chain(["创建时间".into(), "更新时间".into()])
        .collect()
}

fn export_cells(
    catalog: &Catalog,
    form: &Form,
    columns: &[String],
    record: &records::Record,
    unmask: bool,
) -> Vec<String> {
    let mut cells: Vec<String> = columns
        .iter()
        .filter_map(|key| form.field(key))
        .map(|field| shown(catalog, field, record.values.get(&field.key), unmask))
        .collect();
    cells.push(super::time_text(record.created_at));
    cells.push(super::time_text(record.updated_at));
    cells
}

/// Writes the XLSX into a temporary file, then streams the file into `sender`.
#[allow(clippy::too_many_arguments)]
async fn stream_xlsx(
    state: &AppState,
    catalog: &Arc<Catalog>,
    form: &Form,
    columns: &[String],
    actor: &records::Actor,
    request: &records::ListRequest,
    unmask: bool,
    sender: &tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> Result<u64, u64> {
    let failed = |rows: u64, error: String| {
        tracing::error!(%error, form = %form.key, "XLSX export failed");
        Err(rows)
    };
    let mut workbook = match forms::sheets::XlsxExport::new(&form.name, &export_header(form, columns)) {
        Ok(workbook) => workbook,
        Err(error) => return failed(0, error.to_string()),
    };
    let store = state.store().clone();
    let mut walker = match Walker::new(store.as_ref(), state.security.crypto.as_ref(), form, actor, request, BATCH) {
        Ok(walker) => walker,
        Err(_) => return Err(0),
    };
    let mut rows = 0u64;
    loop {
        match walker.next().await {
            Ok(Some(records)) => {
                let cells: Vec<Vec<String>> =
                    records.iter().map(|record| export_cells(catalog, form, columns, record, unmask)).collect();
                match workbook.push(&cells) {
                    Ok(true) => rows += records.len() as u64,
                    // Excel's row limit: the workbook ends there (the audit row says how many).
                    Ok(false) => break,
                    Err(error) => return failed(rows, error.to_string()),
                }
                if sender.is_closed() {
                    return Err(rows);
                }
            }
            Ok(None) => break,
            Err(error) => return failed(rows, error.to_string()),
        }
    }
    let written = tokio::task::spawn_blocking(move || -> Result<std::fs::File, String> {
        let mut file = tempfile::tempfile().map_err(|error| error.to_string())?;
        workbook.finish(&mut file).map_err(|error| error.to_string())?;
        std::io::Seek::rewind(&mut file).map_err(|error| error.to_string())?;
        Ok(file)
    })
    .await;
    let file = match written {
        Ok(Ok(file)) => file,
        Ok(Err(error)) => return failed(rows, error),
        Err(error) => return failed(rows, error.to_string()),
    };
    let mut file = tokio::fs::File::from_std(file);
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match tokio::io::AsyncReadExt::read(&mut file, &mut buffer).await {
            Ok(0) => return Ok(rows),
            Ok(read) => {
                if sender.send(Ok(Bytes::copy_from_slice(&buffer[..read]))).await.is_err() {
                    return Err(rows);
                }
            }
            Err(error) => return failed(rows, error.to_string()),
        }
    }
}

/// One CSV line (RFC 4180 quoting, CRLF).
fn push_row(out: &mut String, cells: &[String]) {
    for (index, cell) in cells.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push_str(&csv_cell(cell));
    }
    out.push_str("\r\n");
}

/// A cell quoted when it must be, and defused when a spreadsheet would run it as a formula
/// (`=`, `+`, `-`, `@`, tab or CR first: CSV injection).
pub(crate) fn csv_cell(text: &str) -> String {
    let defused = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) && !is_number(text) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if defused.contains([',', '"', '\n', '\r']) { format!("\"{}\"", defused.replace('"', "\"\"")) } else { defused }
}

/// A plain (negative) number is data, not a formula.
fn is_number(text: &str) -> bool {
    text.parse::<f64>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::csv_cell;

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        assert_eq!(csv_cell("张三"), "张三");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("-12.50"), "-12.50");
        assert_eq!(csv_cell("line\nbreak"), "\"line\nbreak\"");
    }
}
