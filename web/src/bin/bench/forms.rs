//! The dynamic forms workload (issue 13): `shuangyong-bench --database URL forms N` (or
//! `forms-lists N`: the records and the lists only).
//!
//! 1. N records of the SVC-01 律师 form over the 16 districts, each built by the records layer
//!    (validated, its key columns derived, its sensitive values sealed) and written in batches
//!    (a database that holds them already is used as it is), then analysed as `serve` does.
//! 2. Lists: 1,000 first pages (20 rows with their total), rotating over the districts, of a
//!    district user's list filtered by 状态 and sorted by 入库日期, and of the city's list
//!    filtered by 所属区 and 状态 and sorted by 执业年限; p50 / p99 / max of each.
//! 3. An import of 100,000 new rows from a CSV: reading, validating (every row, in batches of
//!    1,000, with its import rows saved) and committing, each timed.
//! 4. Exports of all N records as CSV and as XLSX through the export's own walker and writer,
//!    with the process's peak resident memory above what it was before each (`VmHWM`, reset
//!    through `/proc/self/clear_refs`).

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use forms::records::{self, Actor, FilterValue, ListRequest};
use runtime::Executor;
use serde_json::{Map, Value, json};
use store::DataScope;

const DISTRICTS: [&str; 16] = [
    "310101", "310104", "310105", "310106", "310107", "310109", "310110", "310112", "310113", "310114", "310115",
    "310116", "310117", "310118", "310120", "310151",
];

/// A valid 身份证 number for `seq` (a real birth date, GB 11643 check character).
fn citizen_id(district: &str, seq: usize) -> String {
    let day =
        chrono::NaiveDate::from_ymd_opt(1960, 1, 1).unwrap_or_default() + chrono::Duration::days((seq % 14_000) as i64);
    let body = format!("{district}{}{:03}", day.format("%Y%m%d"), seq / 14_000 % 1_000);
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body.chars().zip(WEIGHTS).map(|(c, w)| c.to_digit(10).unwrap_or(0) * w).sum();
    let check = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'][(sum % 11) as usize];
    format!("{body}{check}")
}

fn lawyer(seq: usize) -> Map<String, Value> {
    let district = DISTRICTS[seq % DISTRICTS.len()];
    let specialities =
        ["marriage", "labour", "housing", "contract", "injury", "criminal", "administrative", "veteran-rights"];
    let joined =
        chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default() + chrono::Duration::days((seq % 9_000) as i64);
    let values = json!({
        "name": format!("律师{seq}"),
        "gender": if seq.is_multiple_of(2) { "male" } else { "female" },
        "id_number": citizen_id(district, seq),
        "licence_number": format!("{:017}", 13_101_200_000_000_000u64 + seq as u64),
        "firm": format!("上海第{}律师事务所", seq % 500),
        "specialities": [specialities[seq % specialities.len()], specialities[(seq / 8) % specialities.len()]],
        "years": (seq % 40) as i64,
        "district": district,
        "phone": format!("139{:08}", seq % 100_000_000),
        "status": if seq.is_multiple_of(5) { "paused" } else { "active" },
        "joined_on": joined.format("%Y-%m-%d").to_string(),
    });
    match values {
        Value::Object(values) => values,
        _ => Map::new(),
    }
}

fn actor(scope: DataScope) -> Actor {
    Actor { user: "bench".into(), unit: None, scope }
}

fn percentiles(mut samples: Vec<f64>) -> (f64, f64, f64) {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    (at(0.5), at(0.99), samples.last().copied().unwrap_or(0.0))
}

/// Peak resident memory since the last reset, in MiB (Linux).
fn peak_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .and_then(|line| line.split_whitespace().nth(1).and_then(|kib| kib.parse::<f64>().ok()))
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn current_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1).and_then(|kib| kib.parse::<f64>().ok()))
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The benchmark's own fixed keys (benchmark data only, never a deployment's): fixed so a
/// second run reuses the records the first one sealed.
fn bench_keys() -> anyhow::Result<crypto::SoftwareCrypto> {
    let config = crypto::KeyConfig {
        current_data_key: "bench".into(),
        data_keys: [("bench".to_string(), "00112233445566778899aabbccddeeff".to_string())].into(),
        index_key: "11".repeat(32),
        audit_key: "22".repeat(32),
        sm2_private_key: format!("{}01", "00".repeat(31)),
    };
    Ok(crypto::SoftwareCrypto::from_config(&config)?)
}

/// `lists_only` (the `forms-lists` workload): steps 1 and 2 only.
pub async fn run(url: &str, count: usize, lists_only: bool) -> anyhow::Result<()> {
    let executor: Arc<Executor> = web::cli::executor(url).await?;
    let keys = bench_keys()?;
    let crypto: &dyn crypto::CryptoProvider = &keys;
    let catalog = web::shipped_forms();
    let form = catalog.form("lawyer").context("the lawyer form")?;
    let store = executor.store().clone();
    let city = actor(DataScope::All);

    // 1. The records.
    let mut probe = ListRequest { page: 1, page_size: 1, ..ListRequest::default() };
    probe.filters = Vec::new();
    let (_, existing) = records::list(store.as_ref(), crypto, form, &city, &probe).await?;
    let started = Instant::now();
    if (existing as usize) < count {
        let mut batch = Vec::with_capacity(10_000);
        for seq in existing as usize..count {
            batch.push(
                records::fixture(form, crypto, &catalog, &city, &lawyer(seq))
                    .map_err(|error| anyhow::anyhow!("{error:?}"))?,
            );
            if batch.len() == 10_000 {
                store.insert_form_fixture(&batch).await?;
                batch.clear();
            }
        }
        store.insert_form_fixture(&batch).await?;
    }
    // Planner statistics, as `serve` keeps them (ANALYZE at start and every 6 h).
    store.analyze().await?;
    println!(
        "forms backend={} records={count} created={} seconds={:.1}",
        store.backend(),
        count.saturating_sub(existing as usize),
        started.elapsed().as_secs_f64()
    );

    // 2. Lists.
    let district_list = || ListRequest {
        page: 1,
        page_size: 20,
        filters: vec![("status".into(), FilterValue::AnyOf(vec!["active".into()]))],
        sort: Some(("joined_on".into(), false)),
        ..ListRequest::default()
    };
    for (name, city_wide) in [("district", false), ("city", true)] {
        let mut samples = Vec::with_capacity(1_000);
        for round in 0..1_020 {
            let district = DISTRICTS[round % DISTRICTS.len()];
            let (who, request) = if city_wide {
                let request = ListRequest {
                    page: 1,
                    page_size: 20,
                    filters: vec![
                        ("district".into(), FilterValue::AnyOf(vec![district.into()])),
                        ("status".into(), FilterValue::AnyOf(vec!["paused".into()])),
                    ],
                    sort: Some(("years".into(), false)),
                    ..ListRequest::default()
                };
                (actor(DataScope::All), request)
            } else {
                (actor(DataScope::District(district.into())), district_list())
            };
            let at = Instant::now();
            let (items, total) = records::list(store.as_ref(), crypto, form, &who, &request).await?;
            let elapsed = at.elapsed().as_secs_f64() * 1000.0;
            if items.is_empty() || total == 0 {
                anyhow::bail!("the {name} list is empty");
            }
            if round >= 20 {
                samples.push(elapsed);
            }
        }
        let (p50, p99, max) = percentiles(samples);
        println!("forms list={name} pages=1000 p50_ms={p50:.2} p99_ms={p99:.2} max_ms={max:.2}");
    }

    if lists_only {
        return Ok(());
    }

    // 3. An import of 100,000 new rows.
    const IMPORT: usize = 100_000;
    let header = "姓名,性别,身份证号,执业证号,所在律师事务所,执业领域,执业年限,所属区,联系电话,状态,入库日期";
    let mut csv = String::from(header);
    for seq in 0..IMPORT {
        let values = lawyer(count + 10_000_000 + seq);
        let text = |key: &str| match values.get(key) {
            Some(Value::String(text)) => text.clone(),
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("、"),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        csv.push_str(&format!(
            "\r\n{},男,{},{},{},{},{},{},{},在册,{}",
            text("name"),
            text("id_number"),
            text("licence_number"),
            text("firm"),
            text("specialities"),
            text("years"),
            text("district"),
            text("phone"),
            text("joined_on")
        ));
    }
    let started = Instant::now();
    let sheet = forms::import::read_upload(csv.as_bytes()).map_err(|error| anyhow::anyhow!("{error}"))?;
    let read = started.elapsed().as_secs_f64();
    let columns = forms::import::columns(form, &sheet.headers).map_err(|error| anyhow::anyhow!("{error}"))?;
    let id = store::new_id();
    let now = store::now_millis();
    let job = store::forms::FormImport {
        id: id.clone(),
        form: form.key.clone(),
        created_by: "bench".into(),
        created_at: now,
        updated_at: now,
        status: "validating".into(),
        file_name: "bench.csv".into(),
        headers: json!(sheet.headers).to_string(),
        total: sheet.rows.len() as i64,
        processed: 0,
        counts: "{}".into(),
        error: None,
        committed_rows: None,
    };
    store.insert_form_import(&job).await?;
    let mut seen = forms::import::Seen::default();
    let mut errors = 0;
    for rows in sheet.rows.chunks(1_000) {
        let (checked, counts) = forms::import::validate(
            store.as_ref(),
            crypto,
            &catalog,
            form,
            &city,
            &id,
            &sheet.headers,
            &columns,
            rows,
            true,
            &mut seen,
        )
        .await
        .map_err(|error| anyhow::anyhow!("{error:?}"))?;
        errors += counts.error;
        store.insert_form_import_rows(&checked).await?;
    }
    let validated = started.elapsed().as_secs_f64() - read;
    store.claim_form_import(&id, "validating", "committing", now, None).await?;
    let commit_started = Instant::now();
    let written = store.commit_form_import(&id, "bench", store::now_millis()).await?;
    let committed = commit_started.elapsed().as_secs_f64();
    println!(
        "forms import rows={IMPORT} errors={errors} written={written} read_s={read:.1} validate_s={validated:.1} commit_s={committed:.1} total_s={:.1}",
        started.elapsed().as_secs_f64()
    );

    // 4. Exports of every record.
    drop(csv);
    drop(sheet);
    let request = ListRequest { page: 1, page_size: 1_000, ..ListRequest::default() };
    for format in ["csv", "xlsx"] {
        reset_peak();
        let before = current_mib();
        let started = Instant::now();
        let mut walker = records::Walker::new(store.as_ref(), crypto, form, &city, &request, 1_000)?;
        let mut rows = 0usize;
        let mut bytes = 0usize;
        let mut workbook = if format == "xlsx" {
            let headers: Vec<String> =
                form.export_columns.iter().filter_map(|key| form.field(key)).map(|field| field.label.clone()).collect();
            Some(forms::sheets::XlsxExport::new(&form.name, &headers)?)
        } else {
            None
        };
        while let Some(batch) = walker.next().await? {
            rows += batch.len();
            let cells: Vec<Vec<String>> = batch
                .iter()
                .map(|record| {
                    form.export_columns
                        .iter()
                        .filter_map(|key| form.field(key))
                        .map(|field| forms::value::display(field, &catalog, record.values.get(&field.key)))
                        .collect()
                })
                .collect();
            match workbook.as_mut() {
                Some(workbook) => {
                    workbook.push(&cells)?;
                }
                None => {
                    bytes +=
                        cells.iter().map(|row| row.iter().map(String::len).sum::<usize>() + row.len()).sum::<usize>()
                }
            }
        }
        if let Some(workbook) = workbook {
            let mut file = tempfile::tempfile()?;
            workbook.finish(&mut file)?;
            bytes = file.metadata().map(|meta| meta.len() as usize).unwrap_or(0);
        }
        println!(
            "forms export format={format} rows={rows} bytes={bytes} seconds={:.1} rss_before_mib={before:.0} peak_growth_mib={:.1}",
            started.elapsed().as_secs_f64(),
            peak_mib() - before
        );
    }
    Ok(())
}
