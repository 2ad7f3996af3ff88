//! Command line: `serve` and `check`. Every setting is a flag with an environment twin.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use runtime::Executor;

use crate::{AppState, app, demo};

#[derive(Debug, Parser)]
#[command(name = "shuangyong", version, about = "上海市双拥服务综合管理大系统 — BPM engine and services")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(ServeConfig),
    /// Parse and validate BPMN files without a server; exits non-zero if any would be refused.
    Check {
        /// BPMN files to check.
        files: Vec<PathBuf>,
        /// A definitions folder (`forms/<module>/*.toml`, `dicts/*.toml`) to check instead of
        /// the form definitions built into this binary, which are checked otherwise.
        #[arg(long)]
        definitions: Option<PathBuf>,
    },
    /// Manage accounts: add, freeze, unfreeze, cancel, list.
    #[command(subcommand)]
    User(crate::identity::commands::UserCommand),
    /// The organisation tree: add units below the districts, list it.
    #[command(subcommand)]
    Unit(crate::identity::commands::UnitCommand),
    /// The audit log: `audit verify` checks its HMAC-SM3 chain.
    #[command(subcommand)]
    Audit(crate::identity::commands::AuditCommand),
    /// The key file: `keys rotate` adds a new SM4 data key and re-encrypts the stored values.
    #[command(subcommand)]
    Keys(crate::identity::commands::KeysCommand),
}

#[derive(Clone, Parser)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, env = "SY_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Folder for the SQLite database and uploads.
    #[arg(long, env = "SY_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://USER@HOST/DB`; default: SQLite in the data folder.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Do not deploy the demo models on start.
    #[arg(long, env = "SY_NO_DEMO")]
    pub no_demo: bool,
    /// Run no job executor on this node (timers and async steps then run on other nodes).
    #[arg(long, env = "SY_NO_JOBS")]
    pub no_jobs: bool,
    /// How long a node's lock on a job holds; a job of a node that died is taken over after it.
    #[arg(long, env = "SY_JOB_LOCK_SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub job_lock_seconds: u64,
    #[command(flatten)]
    pub security: crate::identity::config::SecurityFlags,
}

/// The database URL with any password hidden, for logs and `Debug`.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl std::fmt::Debug for ServeConfig {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ServeConfig")
            .field("bind", &self.bind)
            .field("data_dir", &self.data_dir)
            .field("database_url", &self.database_url.as_deref().map(redact))
            .field("no_demo", &self.no_demo)
            .field("no_jobs", &self.no_jobs)
            .field("job_lock_seconds", &self.job_lock_seconds)
            .field("security", &self.security)
            .finish()
    }
}

impl ServeConfig {
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("shuangyong.db").display()))
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { files, definitions } => check(&files, definitions.as_deref()),
        Command::User(command) => crate::identity::commands::user(command),
        Command::Unit(command) => crate::identity::commands::unit(command),
        Command::Audit(command) => crate::identity::commands::audit(command),
        Command::Keys(command) => crate::identity::commands::keys(command),
        Command::Serve(config) => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_env("SY_LOG").unwrap_or_else(|_| "info,sqlx=warn".into()),
                )
                .init();
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .thread_stack_size(engine::RUNTIME_STACK_BYTES)
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    eprintln!("error: cannot start the async runtime: {error}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(serve(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("error: {error:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Builds the executor for a database: connects, migrates, registers the service handlers.
pub async fn executor(database_url: &str) -> anyhow::Result<Arc<Executor>> {
    let store = store::connect(database_url)
        .await
        .map_err(|error| anyhow::anyhow!("cannot open database {}: {error}", redact(database_url)))?;
    Ok(Arc::new(Executor::new(store, Arc::new(engine::Scripting::new()), Arc::new(services::handlers()))))
}

/// What the first start prints: the admin's login and, with the demo, every demo login (the
/// administrators' own passwords once).
fn first_start_banner(first: &demo::FirstStart, demo_people: bool, own: &[demo::OwnPassword]) -> String {
    let mut banner = if first.generated {
        format!("  First start: log in as  admin / {}\n", first.password)
    } else {
        "  First start: log in as  admin with the password SY_ADMIN_PASSWORD gave\n".to_string()
    };
    if demo_people {
        banner.push_str("  Demo logins, with admin's password unless one is shown:\n");
        for (id, name, _, _) in demo::DEMO_PEOPLE {
            match own.iter().find(|(own_id, _)| own_id == id) {
                Some((_, password)) => {
                    banner.push_str(&format!("    {id:<14} {name}  / {password}  (change at first login)\n"))
                }
                None => banner.push_str(&format!("    {id:<14} {name}\n")),
            }
        }
        banner.push_str(&format!(
            "  The light app (phones): /m/login — applicant signs in with {} and the same password\n",
            demo::APPLICANT_PHONE
        ));
    }
    if first.generated {
        banner.push_str(
            "  (printed once, to be changed at the first login; set SY_ADMIN_PASSWORD to choose it instead)\n",
        );
    }
    banner
}

pub async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    crate::templates::check().map_err(|error| anyhow::anyhow!(error))?;
    crate::check_forms().map_err(|error| anyhow::anyhow!("the form definitions are broken:\n{error}"))?;
    let url = config.database_url();
    if config.database_url.is_none() || config.security.key.key_file.is_none() {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|error| anyhow::anyhow!("cannot create data folder {}: {error}", config.data_dir.display()))?;
    }
    let security = config.security.security(&config.data_dir)?;
    let executor = executor(&url).await?;
    let key_file = config.security.key.key_file.clone().unwrap_or_else(|| config.data_dir.join("keys.json"));
    crate::identity::check_key_file(executor.store().as_ref(), security.crypto.as_ref(), &key_file).await?;
    crate::identity::seed(executor.store().as_ref()).await?;
    let first = demo::ensure_admin(
        &executor,
        security.crypto.as_ref(),
        std::env::var("SY_ADMIN_PASSWORD").ok().filter(|p| !p.is_empty()),
    )
    .await?;
    crate::identity::bootstrap_access_signatures(executor.store().as_ref(), security.crypto.as_ref()).await?;
    let mut own_passwords = Vec::new();
    // The shipped models are the system's own flows (a form's [workflow] names them): deployed
    // on every start, demo or not (unchanged ones are not deployed again).
    demo::deploy_shipped(&executor).await?;
    if !config.no_demo
        && let Some(first) = &first
    {
        own_passwords = demo::add_people(&executor, security.crypto.as_ref(), first).await?;
    }
    // Records written under an earlier definition whose filters or sort keys changed are
    // indexed again before anyone lists them.
    let reindexed =
        ::forms::records::reindex(executor.store().as_ref(), security.crypto.as_ref(), &crate::shipped_forms()).await?;
    if reindexed > 0 {
        tracing::info!(records = reindexed, "form records indexed again for changed definitions");
    }
    if !config.no_demo {
        demo::load_forms(&executor, security.crypto.as_ref()).await?;
        demo::load_flows(&executor, security.crypto.as_ref()).await?;
    }
    let unsealed = ::forms::import::fail_unsealed(executor.store().as_ref(), &crate::shipped_forms()).await?;
    if unsealed > 0 {
        tracing::warn!(
            jobs = unsealed,
            "import jobs prepared before sealing were failed; their files must be uploaded again"
        );
    }
    let recovered = crate::forms::import::recover(executor.store().as_ref()).await?;
    if recovered > 0 {
        tracing::warn!(jobs = recovered, "import jobs interrupted by the last stop were reset");
    }
    let missing = runtime::calendar::missing_years(executor.calendar(), runtime::executor::now_millis());
    if !missing.is_empty() {
        tracing::warn!(
            ?missing,
            "the working-day calendar (definitions/calendar/shanghai.toml) lacks these years: \
             their holidays are not counted, only weekends"
        );
    }
    let listener = tokio::net::TcpListener::bind(&config.bind)
        .await
        .map_err(|error| anyhow::anyhow!("cannot listen on {}: {error}", config.bind))?;
    let address = listener.local_addr()?;
    // The server must not die if whoever started it stops reading stdout, so the banner is
    // written with its error ignored rather than with `println!` (which panics on a closed pipe).
    let mut announce = format!(
        "shuangyong is running at http://{address} (database: {}, {})\n  Camunda-compatible REST API: http://{address}/engine-rest\n",
        executor.store().backend(),
        redact(&url)
    );
    if let Some(first) = &first {
        announce.push_str(&first_start_banner(first, !config.no_demo, &own_passwords));
    }
    {
        use std::io::Write;
        let _ = std::io::stdout().write_all(announce.as_bytes()).and_then(|()| std::io::stdout().flush());
    }
    if !config.no_jobs {
        let jobs = runtime::job_executor::JobExecutorConfig {
            lock: std::time::Duration::from_secs(config.job_lock_seconds),
            ..Default::default()
        };
        executor.set_follow_up_lock(jobs.lock);
        tokio::spawn(runtime::job_executor::run_job_executor(executor.clone(), jobs, std::future::pending::<()>()));
    }
    let state = AppState::with_security(executor, security);
    crate::identity::spawn_retention(state.clone());
    if state.store().backend() == "sqlite" {
        // SQLite keeps no planner statistics by itself (PostgreSQL's autovacuum does): gather
        // them now, in the background, and every six hours, so the inbox's queries stay on the
        // right indexes as data grows.
        let store = state.store().clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(6 * 3600));
            loop {
                every.tick().await;
                if let Err(error) = store.analyze().await {
                    tracing::warn!(%error, "refreshing SQLite's planner statistics failed");
                }
            }
        });
    }
    if !config.no_jobs {
        // The domain handlers (timed reminders, notifications …) run on every node with jobs.
        let workers = runtime::workers::WorkerConfig {
            lock_ms: Some(config.job_lock_seconds.saturating_mul(1000) as i64),
            ..Default::default()
        };
        tokio::spawn(crate::domain_workers(&state).run(state.executor.clone(), workers, std::future::pending::<()>()));
    }
    let application = app(state);
    axum::serve(listener, application.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => {
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

/// The form definitions of `dir`, or the shipped ones: OK with their counts, or every problem.
fn check_forms(dir: Option<&std::path::Path>) -> bool {
    let (what, catalog) = match dir {
        Some(dir) => (dir.display().to_string(), ::forms::Catalog::from_dir(dir)),
        None => ("form definitions (built in)".to_string(), ::forms::Catalog::embedded()),
    };
    match catalog {
        Ok(catalog) => {
            println!("{what}: OK, {} forms", catalog.forms().count());
            true
        }
        Err(error) => {
            println!("{what}: REFUSED");
            for line in error.to_string().lines() {
                println!("  {line}");
            }
            false
        }
    }
}

/// `shuangyong check [FILE…] [--definitions DIR]`: BPMN files, and the form definitions.
fn check(files: &[PathBuf], definitions: Option<&std::path::Path>) -> ExitCode {
    let scripting = engine::Scripting::new();
    let services = services::handlers();
    let mut refused = if check_forms(definitions) { 0 } else { 1 };
    // Form keys are checked against the definitions checked above (or the shipped ones).
    let catalog = match definitions {
        Some(dir) => ::forms::Catalog::from_dir(dir).unwrap_or_else(|_| ::forms::Catalog::empty()),
        None => ::forms::Catalog::embedded().unwrap_or_else(|_| ::forms::Catalog::empty()),
    };
    let form_keys = ::forms::task::FormKeyCheck(std::sync::Arc::new(catalog));
    for file in files {
        let content = match std::fs::read(file) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(error) => {
                println!("{}: REFUSED — cannot read the file: {error}", file.display());
                refused += 1;
                continue;
            }
        };
        match engine::parse_checked(&content, &scripting, &services, &[&::approval::SettingsCheck, &form_keys]) {
            Ok(parsed) => {
                println!("{}: OK", file.display());
                for process in &parsed.definitions.processes {
                    println!(
                        "  process '{}'{}: {} elements, {} sequence flows",
                        process.id,
                        process.name.as_deref().map(|n| format!(" ({n})")).unwrap_or_default(),
                        process.elements.len(),
                        process.flows.len()
                    );
                }
                for skipped in &parsed.skipped_processes {
                    println!("  process '{skipped}': skipped (isExecutable=\"false\")");
                }
                for warning in &parsed.warnings {
                    println!("  warning: {warning}");
                }
            }
            Err(engine::ParseError::Xml(message)) => {
                refused += 1;
                println!("{}: REFUSED — not well-formed XML: {message}", file.display());
            }
            Err(engine::ParseError::Invalid(problems)) => {
                refused += 1;
                println!("{}: REFUSED", file.display());
                for problem in problems {
                    println!("  {problem}");
                }
            }
        }
    }
    if refused > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
