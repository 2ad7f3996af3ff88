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
//!
//! Job workloads (durable only, issue 3):
//! - `timers N`: N instances each wait on a timer that falls due at one moment; reports how fast
//!   they were created and how long the job executor (`--clients` executors, as many nodes)
//!   takes to drain them once due.
//! - `timer-precision N`: N instances 100 ms apart each wait 2 s on a timer, with nothing else
//!   running; reports how late the timers fired (from the activity history).
//! - `external N`: N instances each with an external task; `--clients` workers fetch and lock
//!   10 at a time and complete them.
//!
//! Inbox workload (durable only, issue 5):
//! - `inbox N`: 10,000 open 区级审核 tasks spread over the 16 districts and N historic (ended)
//!   tasks in their instances; then a district user's first 待办 page (20 rows, with its total)
//!   is queried 1,000 times, rotating over the districts, and p50 / p99 latencies are printed,
//!   with the same for the 已办 tab and the per-tab counts.
//!
//! Dynamic forms (issue 13): `forms N` — N records of the 律师 form, list pages (p50 / p99),
//! an import of 100,000 rows and CSV / XLSX exports of every record with their peak memory
//! (`bench/forms.rs`); `forms-lists N` stops after the list pages.
//!
//! Console pages (issue 12):
//! - `pages N`: the inbox fixture (10,000 open tasks), the application served in this process,
//!   a 黄浦区 reviewer signed in, and N sequential GETs of `/inbox`, `/inbox?tab=claimable`,
//!   `/m/todo`, `/`, a task page and `/processes/start` (after 20 warm-up ones each); p50 /
//!   p95 / max per page.

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
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/workloads").into());
    PathBuf::from(base).join("rhai").join(format!("{name}.bpmn"))
}

fn start_variables(index: usize) -> Variables {
    [("n".to_string(), Value::from_i64(index as i64))].into_iter().collect()
}

fn approved() -> Variables {
    [("approved".to_string(), Value::Boolean(true))].into_iter().collect()
}

#[path = "bench/forms.rs"]
mod forms_workload;

fn main() -> anyhow::Result<()> {
    let options = options()?;
    if options.workload == "forms" || options.workload == "forms-lists" {
        let url = options.database.clone().context("the forms workload needs --database URL")?;
        let lists_only = options.workload == "forms-lists";
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        return runtime.block_on(forms_workload::run(&url, options.count, lists_only));
    }
    if options.workload == "pages" {
        let url = options.database.clone().context("the pages workload needs --database URL")?;
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        return runtime.block_on(jobs::pages(&url, options.count, options.clients));
    }
    if ["timers", "timer-precision", "external", "inbox"].contains(&options.workload.as_str()) {
        let url = options.database.clone().context("job workloads need --database URL")?;
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        return runtime.block_on(jobs::run(&url, &options.workload, options.count, options.clients));
    }
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
    let calendar = &engine::timer::WEEKDAYS;
    let runtime = Runtime { model: &model, scripting: &scripting, services: &services, calendar, now: 0 };
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
    let uploads = vec![runtime::executor::Upload { name: format!("{name}.bpmn"), content: xml.to_string() }];
    let outcome = executor.deploy(Some("bench".into()), None, None, None, uploads).await?;
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
                    let query = store::TaskQuery {
                        instance_id: Some(instance.id.clone()),
                        ..store::TaskQuery::new(store::DataScope::All)
                    };
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

/// The job workloads: timers, timer precision, external tasks.
mod jobs {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use anyhow::Context;
    use engine::{Value, Variables};
    use runtime::Executor;
    use runtime::executor::{Upload, now_millis};
    use runtime::job_executor::{JobExecutorConfig, run_job_executor};
    use store::TopicRequest;

    fn model(body: &str) -> String {
        format!(
            r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d">
  <bpmn:process id="bench" isExecutable="true"><bpmn:startEvent id="start"/>{body}<bpmn:endEvent id="end"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="step"/><bpmn:sequenceFlow id="f2" sourceRef="step" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>"#
        )
    }

    async fn deploy(executor: &Executor, xml: String) -> anyhow::Result<store::Definition> {
        let uploads = vec![Upload { name: "bench.bpmn".into(), content: xml }];
        let outcome = executor.deploy(Some("bench".into()), None, None, None, uploads).await?;
        outcome.definitions.into_iter().next().context("nothing deployed")
    }

    /// Starts `count` instances from `clients` concurrent clients; returns the seconds taken.
    async fn start_all(
        executor: &Arc<Executor>,
        definition: &store::Definition,
        count: usize,
        clients: usize,
        variables: impl Fn(usize) -> Variables + Send + Sync + 'static,
    ) -> anyhow::Result<f64> {
        let next = Arc::new(AtomicUsize::new(0));
        let variables = Arc::new(variables);
        let started = Instant::now();
        let mut workers = Vec::new();
        for _ in 0..clients {
            let (executor, definition, next, variables) =
                (executor.clone(), definition.clone(), next.clone(), variables.clone());
            workers.push(tokio::spawn(async move {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= count {
                        return Ok::<(), anyhow::Error>(());
                    }
                    executor.start(&definition, None, variables(index), Some("bench")).await?;
                }
            }));
        }
        for worker in workers {
            worker.await??;
        }
        Ok(started.elapsed().as_secs_f64())
    }

    fn spawn_executors(executor: &Arc<Executor>, nodes: usize) {
        for _ in 0..nodes {
            let config = JobExecutorConfig { max_idle: Duration::from_millis(200), ..Default::default() };
            tokio::spawn(run_job_executor(executor.clone(), config, std::future::pending::<()>()));
        }
    }

    async fn wait_until_no_jobs(executor: &Executor) -> anyhow::Result<()> {
        loop {
            let (_, left) = executor.store().jobs(&store::JobQuery::new(store::DataScope::All)).await?;
            if left == 0 {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn run(url: &str, workload: &str, count: usize, clients: usize) -> anyhow::Result<()> {
        let executor = web::cli::executor(url).await?;
        let backend = executor.store().backend();
        match workload {
            "timers" => {
                let xml = model(
                    r#"<bpmn:intermediateCatchEvent id="step"><bpmn:timerEventDefinition><bpmn:timeDate>${due}</bpmn:timeDate></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"#,
                );
                let definition = deploy(&executor, xml).await?;
                // Every timer falls due at one moment, after the creation is expected to end.
                let due = now_millis() + 5_000 + count as i64 * 2;
                let due_text = chrono::DateTime::from_timestamp_millis(due).context("due date")?.to_rfc3339();
                let created = start_all(&executor, &definition, count, clients, move |_| {
                    [("due".to_string(), Value::String(due_text.clone()))].into_iter().collect()
                })
                .await?;
                let lead = due - now_millis();
                if lead > 0 {
                    tokio::time::sleep(Duration::from_millis(lead as u64)).await;
                }
                let drain_start = Instant::now();
                spawn_executors(&executor, clients);
                wait_until_no_jobs(&executor).await?;
                let drained = drain_start.elapsed().as_secs_f64();
                println!(
                    "engine=shuangyong workload=timers database={backend} n={count} executors={clients} create_seconds={created:.3} created_per_s={:.1} drain_seconds={drained:.3} timers_per_s={:.1} due_before_creation_ended={}",
                    count as f64 / created,
                    count as f64 / drained.max(1e-9),
                    lead <= 0
                );
            }
            "timer-precision" => {
                let xml = model(
                    r#"<bpmn:intermediateCatchEvent id="step"><bpmn:timerEventDefinition><bpmn:timeDuration>PT2S</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"#,
                );
                let definition = deploy(&executor, xml).await?;
                spawn_executors(&executor, 1);
                for _ in 0..count {
                    executor.start(&definition, None, Variables::new(), Some("bench")).await?;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                wait_until_no_jobs(&executor).await?;
                let query = store::ActivityQuery {
                    activity_id: Some("step".into()),
                    finished: Some(true),
                    ..store::ActivityQuery::new(store::DataScope::All)
                };
                let (activities, _) = executor.store().activity_history(&query).await?;
                let mut late: Vec<i64> =
                    activities.iter().filter_map(|a| a.ended_at.map(|ended| ended - (a.started_at + 2_000))).collect();
                late.sort_unstable();
                let at = |q: f64| late.get(((late.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(0);
                println!(
                    "engine=shuangyong workload=timer-precision database={backend} n={} late_ms_min={} late_ms_median={} late_ms_p95={} late_ms_max={}",
                    late.len(),
                    at(0.0),
                    at(0.5),
                    at(0.95),
                    at(1.0)
                );
            }
            "inbox" => inbox(&executor, count, clients).await?,
            _ => {
                let xml = model(r#"<bpmn:serviceTask id="step" camunda:type="external" camunda:topic="bench"/>"#);
                let definition = deploy(&executor, xml).await?;
                let created = start_all(&executor, &definition, count, clients, super::start_variables).await?;
                let done = Arc::new(AtomicUsize::new(0));
                let started = Instant::now();
                let mut workers = Vec::new();
                for worker in 0..clients {
                    let (executor, done) = (executor.clone(), done.clone());
                    workers.push(tokio::spawn(async move {
                        let name = format!("worker-{worker}");
                        let topics = [TopicRequest {
                            topic: "bench".into(),
                            lock_duration: 60_000,
                            business_key: None,
                            definition_key: None,
                            by_priority: false,
                        }];
                        while done.load(Ordering::Relaxed) < count {
                            let locked = executor
                                .fetch_and_lock(&name, &topics, 10, Duration::from_millis(200), &store::DataScope::All)
                                .await?;
                            for (task, _) in locked {
                                executor.complete_external_task(&task.id, &name, Variables::new(), None).await?;
                                done.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Ok::<(), anyhow::Error>(())
                    }));
                }
                for worker in workers {
                    worker.await??;
                }
                let seconds = started.elapsed().as_secs_f64();
                println!(
                    "engine=shuangyong workload=external database={backend} n={count} workers={clients} create_per_s={:.1} complete_seconds={seconds:.3} tasks_per_s={:.1}",
                    count as f64 / created,
                    count as f64 / seconds.max(1e-9)
                );
            }
        }
        Ok(())
    }

    /// The 待办 benchmark (see the crate docs).
    async fn inbox(executor: &Arc<Executor>, historic: usize, clients: usize) -> anyhow::Result<()> {
        let (districts, created, fixture) = inbox_fixture(executor, historic, clients).await?;
        measure(executor, &districts, historic, created, fixture).await
    }

    /// The inbox fixture: 10,000 open 区级审核 tasks over the 16 districts and `historic` ended
    /// ones; a database that holds it already is used as it is. Returns the districts and the
    /// seconds the creation and the history took.
    async fn inbox_fixture(
        executor: &Arc<Executor>,
        historic: usize,
        clients: usize,
    ) -> anyhow::Result<(Vec<String>, f64, f64)> {
        const OPEN: usize = 10_000;
        web::identity::seed(executor.store().as_ref()).await?;
        let units: serde_json::Value = serde_json::from_str(include_str!("../../../definitions/org/units.json"))?;
        let districts: Vec<String> = units["districts"]
            .as_array()
            .context("districts")?
            .iter()
            .filter_map(|district| district["id"].as_str().map(str::to_string))
            .collect();
        let xml = model(r#"<bpmn:userTask id="step" name="区级审核" camunda:candidateGroups="district-staff"/>"#);
        let definition = deploy(executor, xml).await?;
        // A database that already holds the fixture (a second run) is measured as it is.
        let (existing, _) = executor
            .store()
            .tasks(&store::TaskQuery {
                page: store::Page { first_result: 0, max_results: Some(1) },
                ..store::TaskQuery::new(store::DataScope::All)
            })
            .await?;
        if !existing.is_empty() {
            return Ok((districts, 0.0, 0.0));
        }
        let for_start = districts.clone();
        let created = start_all(executor, &definition, OPEN, clients, move |index| {
            [("district".to_string(), Value::String(for_start[index % for_start.len()].clone()))].into_iter().collect()
        })
        .await?;
        // Historic tasks hang off the open instances (earlier rounds of review), completed by
        // 20 reviewers per district.
        let (instances, _) = executor
            .store()
            .instances(&store::InstanceQuery {
                definition_id: Some(definition.id.clone()),
                ..store::InstanceQuery::new(store::DataScope::All)
            })
            .await?;
        let fixture_started = Instant::now();
        let now = now_millis();
        let mut rows = Vec::with_capacity(50_000);
        for index in 0..historic {
            let instance = &instances[index % instances.len()];
            let reviewer = format!("reviewer-{}-{}", index % instances.len() % districts.len(), index % 20);
            rows.push((
                format!("{}-h{index}", instance.id),
                instance.id.clone(),
                reviewer,
                now - (historic - index) as i64 * 1_000,
            ));
            if rows.len() == 50_000 {
                executor.store().insert_history_fixture(&definition.key, &rows).await?;
                rows.clear();
            }
        }
        executor.store().insert_history_fixture(&definition.key, &rows).await?;
        // Measured as a running system would be once autovacuum has seen the load (a freshly
        // filled PostgreSQL database plans the claimable count at 120 ms instead of 7 ms).
        executor.store().analyze().await?;
        Ok((districts, created, fixture_started.elapsed().as_secs_f64()))
    }

    /// One HTTP/1.1 exchange on a fresh connection (`Connection: close`): the status, the
    /// head and the body's length.
    async fn exchange(address: std::net::SocketAddr, request: &str) -> anyhow::Result<(u16, String, usize)> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(address).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        let split = response.windows(4).position(|window| window == b"\r\n\r\n").context("no HTTP head")?;
        let head = String::from_utf8_lossy(&response[..split]).into_owned();
        let status = head.split(' ').nth(1).and_then(|code| code.parse().ok()).context("no status")?;
        Ok((status, head, response.len() - split - 4))
    }

    /// Console pages over HTTP (issue 12): the inbox fixture, the application served on a local
    /// port in this process (the production router and security settings), a 黄浦区
    /// `district-staff` account signed in, and `count` timed GETs per page after 20 warm-up ones,
    /// one after another; p50 / p95 per page.
    pub(super) async fn pages(url: &str, count: usize, clients: usize) -> anyhow::Result<()> {
        anyhow::ensure!(count > 0, "pages N needs N > 0");
        let executor = web::cli::executor(url).await?;
        let backend = executor.store().backend();
        inbox_fixture(&executor, 0, clients).await?;
        let mut security = web::identity::Security::with_random_key();
        // The bench signs in once; the hashing cost is not what is measured.
        security.password.iterations = 1_000;
        let user = "bench-hp";
        let password = "Bench-Pass-2026!";
        let store = executor.store();
        if store.account(user).await?.is_none() {
            store
                .create_account(&store::identity::NewAccount {
                    id: user.into(),
                    display_name: Some("黄浦区测试审核员".into()),
                    unit_id: Some("310101".into()),
                    kind: "staff".into(),
                    password_hash: web::auth::hash_password(password, security.password.iterations),
                    must_change_password: false,
                    roles: vec!["district-staff".into()],
                    phone_index: None,
                    phone_sealed: None,
                    created_at: now_millis(),
                })
                .await?;
        }
        // The account's access record signed with this run's key (a reused database had another).
        web::identity::sign_access(store.as_ref(), security.crypto.as_ref(), user).await?;
        let task = store
            .tasks(&store::TaskQuery {
                page: store::Page { first_result: 0, max_results: Some(1) },
                ..store::TaskQuery::new(store::DataScope::District("310101".into()))
            })
            .await?
            .0
            .into_iter()
            .next()
            .context("a 黄浦区 task")?;
        let state = web::AppState::with_security(executor.clone(), security);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let service = web::app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, service).await });

        let body = serde_json::json!({ "username": user, "password": password }).to_string();
        let login = format!(
            "POST /api/session HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let (status, head, _) = exchange(address, &login).await?;
        anyhow::ensure!(status == 200, "sign-in answered {status}");
        let cookie = head
            .lines()
            .find_map(|line| line.strip_prefix("set-cookie: ").or_else(|| line.strip_prefix("Set-Cookie: ")))
            .and_then(|value| value.split(';').next())
            .context("no session cookie")?
            .to_string();
        let task_page = format!("/tasks/{}", task.id);
        let pages = [
            "/inbox",
            "/inbox?tab=claimable",
            "/m/todo",
            "/",
            task_page.as_str(),
            "/processes/start",
            "/api/inbox/counts",
            "/api/inbox/todo",
            "/api/inbox/claimable",
        ];
        for path in pages {
            let request = format!(
                "GET {path} HTTP/1.1\r\nHost: bench\r\nCookie: {cookie}\r\nAccept: text/html\r\nConnection: close\r\n\r\n"
            );
            let mut samples = Vec::with_capacity(count);
            let mut bytes = 0;
            for round in 0..count + 20 {
                let started = Instant::now();
                let (status, _, length) = exchange(address, &request).await?;
                let elapsed = started.elapsed().as_secs_f64() * 1_000.0;
                anyhow::ensure!(status == 200, "{path} answered {status}");
                if round >= 20 {
                    samples.push(elapsed);
                }
                bytes = length;
            }
            samples.sort_by(f64::total_cmp);
            let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
            let page = if path == task_page { "/tasks/{id}" } else { path };
            println!(
                "engine=shuangyong workload=pages database={backend} page={page} samples={count} bytes={bytes} ms_p50={:.1} ms_p95={:.1} ms_max={:.1}",
                at(0.5),
                at(0.95),
                at(1.0)
            );
        }
        Ok(())
    }

    async fn measure(
        executor: &Arc<Executor>,
        districts: &[String],
        historic: usize,
        created: f64,
        fixture: f64,
    ) -> anyhow::Result<()> {
        use store::approval::{InboxQuery, InboxTab};
        const OPEN: usize = 10_000;
        const SAMPLES: usize = 1_000;
        let backend = executor.store().backend();
        let query = |tab: InboxTab, district: &str, user: String| InboxQuery {
            tab,
            user,
            roles: vec!["district-staff".into()],
            scope: store::DataScope::District(district.to_string()),
            definition_key: None,
            business_key: None,
            from: None,
            to: None,
            district: None,
            text: None,
            sort: None,
            page: store::Page { first_result: 0, max_results: Some(20) },
            not_own_reviews: Vec::new(),
        };
        let percentiles = |mut samples: Vec<f64>| {
            samples.sort_by(f64::total_cmp);
            let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
            (at(0.5), at(0.99))
        };
        let mut todo = Vec::with_capacity(SAMPLES);
        let mut done = Vec::with_capacity(SAMPLES);
        let mut counts = Vec::with_capacity(SAMPLES);
        let mut rows_seen = 0;
        for sample in 0..SAMPLES {
            let district_index = sample % districts.len();
            let district = &districts[district_index];
            let user = format!("reviewer-{district_index}-{}", sample % 20);
            let started = Instant::now();
            let (items, total) = executor.store().inbox(&query(InboxTab::Todo, district, user.clone())).await?;
            todo.push(started.elapsed().as_secs_f64() * 1_000.0);
            rows_seen += items.len();
            anyhow::ensure!(items.len() == 20 && total >= 600, "a district sees its ~625 open tasks ({total})");
            let started = Instant::now();
            let (items, _) = executor.store().inbox(&query(InboxTab::Done, district, user.clone())).await?;
            done.push(started.elapsed().as_secs_f64() * 1_000.0);
            rows_seen += items.len();
            let started = Instant::now();
            for tab in [InboxTab::Todo, InboxTab::Done, InboxTab::Started, InboxTab::Cc] {
                executor.store().inbox_count(&query(tab, district, user.clone())).await?;
            }
            counts.push(started.elapsed().as_secs_f64() * 1_000.0);
        }
        let (todo_p50, todo_p99) = percentiles(todo);
        let (done_p50, done_p99) = percentiles(done);
        let (counts_p50, counts_p99) = percentiles(counts);
        println!(
            "engine=shuangyong workload=inbox database={backend} open={OPEN} historic={historic} districts={} samples={SAMPLES} rows={rows_seen} create_seconds={created:.1} fixture_seconds={fixture:.1} todo_first_page_ms_p50={todo_p50:.2} todo_first_page_ms_p99={todo_p99:.2} done_first_page_ms_p50={done_p50:.2} done_first_page_ms_p99={done_p99:.2} counts_ms_p50={counts_p50:.2} counts_ms_p99={counts_p99:.2}",
            districts.len()
        );
        Ok(())
    }
}
