//! `shuangyong-bench`: runs the shared benchmark workloads on this engine.
//!
//! Peer contract (`../shared/bench/README.md`): `shuangyong-bench WORKLOAD N` runs N instances of
//! `linear | xor | parallel | approval` (optionally `+persist`: the state is serialised to JSON
//! every time an instance comes to rest) in memory, one after another, and prints one line
//! `engine=shuangyong workload=… n=… seconds=… instances_per_s=…`.
//!
//! Durable mode: `shuangyong-bench --database URL [--clients 8] WORKLOAD N` runs the same
//! workload through the store — every start and every task completion its own transaction —
//! from `--clients` concurrent clients.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use engine::{HandlerRegistry, InstanceState, Runtime, Scripting, Value, Variables};

struct Options {
    workload: String,
    count: usize,
    database: Option<String>,
    clients: usize,
}

fn options() -> anyhow::Result<Options> {
    let mut positional = Vec::new();
    let mut database = None;
    let mut clients = 8;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--database" => database = Some(args.next().context("--database needs a URL")?),
            "--clients" => {
                clients =
                    args.next().context("--clients needs a number")?.parse().context("--clients needs a number")?
            }
            "--warmup" => {
                args.next();
            }
            _ => positional.push(arg),
        }
    }
    let [workload, count] = positional.as_slice() else {
        bail!("usage: shuangyong-bench [--database URL] [--clients N] WORKLOAD N");
    };
    Ok(Options {
        workload: workload.clone(),
        count: count.parse().context("N must be a number")?,
        database,
        clients: clients.max(1),
    })
}

fn workload_file(name: &str) -> PathBuf {
    let base = std::env::var("PEER_BENCH_WORKLOADS")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/bench/workloads").into());
    PathBuf::from(base).join("rhai").join(format!("{name}.bpmn"))
}

fn start_variables(index: usize) -> Variables {
    [("n".to_string(), Value::from_i64(index as i64))].into_iter().collect()
}

fn approved() -> Variables {
    [("approved".to_string(), Value::Boolean(true))].into_iter().collect()
}

fn main() -> anyhow::Result<()> {
    let options = options()?;
    let (name, persist) = match options.workload.strip_suffix("+persist") {
        Some(name) => (name.to_string(), true),
        None => (options.workload.clone(), false),
    };
    let path = workload_file(&name);
    let xml = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let seconds = match &options.database {
        None => in_memory(&xml, options.count, persist)?,
        Some(url) => tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(durable(
            url,
            &name,
            &xml,
            options.count,
            options.clients,
        ))?,
    };
    println!(
        "engine=shuangyong workload={} n={} seconds={:.3} instances_per_s={:.1}",
        options.workload,
        options.count,
        seconds,
        options.count as f64 / seconds.max(1e-9)
    );
    Ok(())
}

/// The pure core: parse once, then run every instance to its end, completing user tasks with
/// `approved = true`.
fn in_memory(xml: &str, count: usize, persist: bool) -> anyhow::Result<f64> {
    let scripting = Scripting::new();
    let services = HandlerRegistry::new();
    let parsed = engine::parse(xml, &scripting, &services)?;
    let model = parsed.definitions.processes.first().context("the workload has no process")?.clone();
    let runtime = Runtime { model: &model, scripting: &scripting, services: &services, now: 0 };
    let mut snapshot_bytes = 0usize;
    let mut snapshots = 0usize;
    let mut snapshot = |state: &InstanceState| -> anyhow::Result<()> {
        if persist {
            snapshot_bytes += serde_json::to_string(state)?.len();
            snapshots += 1;
        }
        Ok(())
    };
    let started = Instant::now();
    for index in 0..count {
        let (mut state, _) = runtime.start(start_variables(index))?;
        snapshot(&state)?;
        while state.is_active() {
            let waiting = state
                .tokens
                .iter()
                .find(|token| token.state == engine::state::TokenState::Waiting)
                .map(|token| token.id);
            let Some(token) = waiting else {
                bail!("instance {index} is stuck: {:?}", state.incidents().collect::<Vec<_>>())
            };
            runtime.complete_task(&mut state, token, approved())?;
            snapshot(&state)?;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    if persist && snapshots > 0 {
        eprintln!("# average snapshot size: {} bytes over {snapshots} snapshots", snapshot_bytes / snapshots);
    }
    Ok(seconds)
}

/// Through the store: start and each completion are separate transactions, from concurrent
/// clients.
async fn durable(url: &str, name: &str, xml: &str, count: usize, clients: usize) -> anyhow::Result<f64> {
    let executor = web::cli::executor(url).await?;
    let uploads = vec![store::executor::Upload { name: format!("{name}.bpmn"), content: xml.to_string() }];
    let outcome = executor.deploy(Some("bench".into()), None, None, uploads).await?;
    let definition = outcome.definitions.into_iter().next().context("nothing deployed")?;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..clients {
        let (executor, definition, next) = (executor.clone(), definition.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= count {
                    return Ok::<(), anyhow::Error>(());
                }
                let instance = executor.start(&definition, None, start_variables(index), Some("bench")).await?;
                loop {
                    let query =
                        store::TaskQuery { instance_id: Some(instance.id.clone()), ..store::TaskQuery::default() };
                    let (tasks, _) = executor.store().tasks(&query).await?;
                    let Some(task) = tasks.into_iter().next() else { break };
                    executor.complete_task(&task.id, approved(), Some("bench")).await?;
                }
            }
        }));
    }
    for worker in workers {
        worker.await??;
    }
    Ok(started.elapsed().as_secs_f64())
}
