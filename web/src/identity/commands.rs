//! `shuangyong user …` and `shuangyong audit verify`: the identity commands of the binary. They
//! open the database directly (the operator on the server is trusted as the `cli` actor) and
//! audit what they change like the API does.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::config::KeyFlags;
use crate::AppState;

#[derive(Debug, Clone, Args)]
pub struct DatabaseFlags {
    /// Folder of the SQLite database and the key file.
    #[arg(long, env = "SY_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://USER@HOST/DB`; default: SQLite in the data folder.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    #[command(flatten)]
    pub key: KeyFlags,
}

impl DatabaseFlags {
    fn url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("shuangyong.db").display()))
    }
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account; the initial password is read from standard input and must be changed
    /// at first login.
    Add {
        username: String,
        /// Unit id (e.g. 310101 for 黄浦区, 310000 for the city centre).
        #[arg(long)]
        unit: String,
        /// Role id (repeatable): sysadmin, secadmin, auditor, city-staff, district-staff, …
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// Kind of account: staff, operator, liaison, volunteer-contact, provider, card-holder, citizen.
        #[arg(long, default_value = "staff")]
        kind: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        database: DatabaseFlags,
    },
    /// Freeze an account (its sessions end at once).
    Freeze {
        username: String,
        #[command(flatten)]
        database: DatabaseFlags,
    },
    /// Unfreeze a frozen account.
    Unfreeze {
        username: String,
        #[command(flatten)]
        database: DatabaseFlags,
    },
    /// Cancel an account for good.
    Cancel {
        username: String,
        #[command(flatten)]
        database: DatabaseFlags,
    },
    /// End every login lock of an account, from every source address (the trusted path back in
    /// for an administrator whose name is being guessed).
    Unlock {
        username: String,
        #[command(flatten)]
        database: DatabaseFlags,
    },
    /// Set a new initial password (read from standard input; changed at the next login). The
    /// way to reset an administrator's password: the API refuses it to the other administrators.
    Password {
        username: String,
        #[command(flatten)]
        database: DatabaseFlags,
    },
    /// List accounts.
    List {
        /// Only this unit.
        #[arg(long)]
        unit: Option<String>,
        #[command(flatten)]
        database: DatabaseFlags,
    },
}

#[derive(Debug, Subcommand)]
pub enum UnitCommand {
    /// Add a unit below a district (or another unit), e.g. a 街道 or an office.
    Add {
        id: String,
        /// The parent unit id (a district code such as 310101, or another unit).
        #[arg(long)]
        parent: String,
        #[arg(long)]
        name: String,
        #[command(flatten)]
        database: DatabaseFlags,
    },
    /// List the organisation tree.
    List {
        #[command(flatten)]
        database: DatabaseFlags,
    },
}

pub fn unit(command: UnitCommand) -> ExitCode {
    let result = runtime().and_then(|runtime| {
        runtime.block_on(async {
            match command {
                UnitCommand::Add { id, parent, name, database } => {
                    let state = state(&database, true).await?;
                    super::add_unit(&state, "cli", &id, &parent, &name, "cli")
                        .await
                        .map_err(|error| anyhow::anyhow!("{error}"))?;
                    println!("unit {id} created below {parent}");
                }
                UnitCommand::List { database } => {
                    let state = state(&database, true).await?;
                    for unit in state.store().org_units().await? {
                        println!(
                            "{}\t{}\t{}\t{}\t{}",
                            unit.id,
                            unit.name,
                            unit.kind,
                            unit.parent_id.as_deref().unwrap_or("-"),
                            unit.district.as_deref().unwrap_or("-")
                        );
                    }
                }
            }
            Ok::<(), anyhow::Error>(())
        })
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the HMAC-SM3 chain of the audit log; exits non-zero naming the first broken row.
    Verify {
        #[command(flatten)]
        database: DatabaseFlags,
    },
}

async fn state(database: &DatabaseFlags, create_key: bool) -> anyhow::Result<AppState> {
    let url = database.url();
    if url.starts_with("sqlite:") && database.database_url.is_none() {
        std::fs::create_dir_all(&database.data_dir)?;
    }
    let crypto = database.key.load(&database.data_dir, create_key)?;
    let executor = crate::cli::executor(&url).await?;
    let key_file = database.key.key_file.clone().unwrap_or_else(|| database.data_dir.join("keys.json"));
    super::check_key_file(executor.store().as_ref(), crypto.as_ref(), &key_file).await?;
    super::seed(executor.store().as_ref()).await?;
    Ok(AppState::with_security(executor, super::Security::with_crypto(crypto)))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

pub fn user(command: UserCommand) -> ExitCode {
    let result = runtime().and_then(|runtime| runtime.block_on(run_user(command)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run_user(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add { username, unit, roles, kind, name, database } => {
            let mut password = String::new();
            std::io::stdin().read_to_string(&mut password)?;
            let password = password.trim_end_matches(['\n', '\r']).to_string();
            let state = state(&database, true).await?;
            let user =
                super::api::NewUser { username: username.clone(), display_name: name, unit, kind, roles, password };
            super::api::add_user(&state, None, &user, "cli").await.map_err(|error| anyhow::anyhow!("{error}"))?;
            println!("user {username} created; the password must be changed at first login");
        }
        UserCommand::Freeze { username, database } => status(&database, &username, "frozen").await?,
        UserCommand::Unfreeze { username, database } => status(&database, &username, "active").await?,
        UserCommand::Cancel { username, database } => status(&database, &username, "cancelled").await?,
        UserCommand::Unlock { username, database } => {
            let state = state(&database, true).await?;
            state.store().clear_login_failures(&username).await?;
            super::audit(&state, super::entry(Some("cli"), "cli", "user.unlock", Some(&username), "success"))
                .await
                .map_err(|error| anyhow::anyhow!("{error}"))?;
            println!("user {username}: every login lock ended");
        }
        UserCommand::Password { username, database } => {
            let mut password = String::new();
            std::io::stdin().read_to_string(&mut password)?;
            let password = password.trim_end_matches(['\n', '\r']).to_string();
            let state = state(&database, true).await?;
            super::password::change(&state, &username, &password, true)
                .await
                .map_err(|error| anyhow::anyhow!("{error}"))?;
            super::audit(&state, super::entry(Some("cli"), "cli", "user.password-reset", Some(&username), "success"))
                .await
                .map_err(|error| anyhow::anyhow!("{error}"))?;
            println!("user {username}: new initial password set; it must be changed at the next login");
        }
        UserCommand::List { unit, database } => {
            let state = state(&database, true).await?;
            let query = store::identity::AccountQuery {
                unit_id: unit,
                ..store::identity::AccountQuery::new(store::DataScope::All)
            };
            for account in state.store().accounts(&query).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    account.id,
                    account.display_name.as_deref().unwrap_or("-"),
                    account.unit_id.as_deref().unwrap_or("-"),
                    account.kind,
                    account.status,
                    account.roles.join(",")
                );
            }
        }
    }
    Ok(())
}

async fn status(database: &DatabaseFlags, username: &str, status: &str) -> anyhow::Result<()> {
    let state = state(database, true).await?;
    super::api::change_status(&state, None, username, status, "cli")
        .await
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    println!("user {username}: {status}");
    Ok(())
}

pub fn audit(command: AuditCommand) -> ExitCode {
    let AuditCommand::Verify { database } = command;
    let result = runtime().and_then(|runtime| {
        runtime.block_on(async {
            let state = state(&database, false).await?;
            Ok(store::identity::verify_audit(state.store().as_ref(), state.security.crypto.as_ref()).await?)
        })
    });
    match result {
        Ok(Ok(rows)) => {
            println!("audit log intact: {rows} rows verified");
            ExitCode::SUCCESS
        }
        Ok(Err(problem)) => {
            println!("audit log BROKEN at {problem}");
            ExitCode::from(2)
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Adds a fresh SM4 data key (id `--key-id`, default the next `kN`), makes it the one new
    /// values are sealed with, and re-encrypts every sealed value in the database with it. Old
    /// keys stay in the file, so values not yet re-encrypted still open; running it again after
    /// an interruption finishes the job. With `--all`, the blind-index key, the audit key and
    /// the SM2 signing key are replaced too (a key file that was exposed): the audit chain is
    /// verified under the old key first, then every phone index is recomputed, every valid
    /// access record re-signed and the kept audit chain re-MACed, in one transaction.
    Rotate {
        #[command(flatten)]
        database: DatabaseFlags,
        #[arg(long)]
        key_id: Option<String>,
        /// Replace the index, audit and signing keys as well.
        #[arg(long)]
        all: bool,
    },
}

pub fn keys(command: KeysCommand) -> ExitCode {
    let KeysCommand::Rotate { database, key_id, all } = command;
    match runtime().and_then(|runtime| runtime.block_on(rotate(&database, key_id, all))) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Writes a key file beside `file` (`.new`, mode 0600, synced) and returns its path.
fn write_key_file(file: &std::path::Path, config: &crypto::KeyConfig) -> anyhow::Result<PathBuf> {
    let temporary = file.with_extension("json.new");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut handle = options.open(&temporary)?;
    std::io::Write::write_all(&mut handle, config.to_json().as_bytes())?;
    handle.sync_all()?;
    Ok(temporary)
}

async fn rotate(database: &DatabaseFlags, key_id: Option<String>, all: bool) -> anyhow::Result<String> {
    let file = database.key.key_file.clone().unwrap_or_else(|| database.data_dir.join("keys.json"));
    let text = std::fs::read_to_string(&file)
        .map_err(|error| anyhow::anyhow!("cannot read the key file {}: {error}", file.display()))?;
    let mut config =
        crypto::KeyConfig::from_json(&text).map_err(|error| anyhow::anyhow!("key file {}: {error}", file.display()))?;
    let old = crypto::SoftwareCrypto::from_config(&config)?;
    let state = state(database, false).await?;
    if all {
        // An exposed audit key lets its holder forge rows; a chain that is already broken is
        // investigated, not sealed under a new key.
        if let Err(problem) = store::identity::verify_audit(state.store().as_ref(), &old).await? {
            anyhow::bail!("the audit log is broken ({problem}); nothing was rotated — investigate first");
        }
    }
    let key_id = match key_id {
        Some(id) => id,
        None => (1..).map(|n| format!("k{n}")).find(|id| !config.data_keys.contains_key(id)).unwrap_or_default(),
    };
    config.rotate_data_key(&key_id).map_err(|error| anyhow::anyhow!("{error}"))?;
    // The new data key goes into the file first (the old ones stay, so every value opens at
    // every moment), then the values are re-encrypted one by one.
    std::fs::rename(write_key_file(&file, &config)?, &file)?;
    let provider = crypto::SoftwareCrypto::from_config(&config)?;
    let accounts = state.store().accounts(&store::identity::AccountQuery::new(store::DataScope::All)).await?;
    let mut count = 0;
    for account in &accounts {
        let reseal = |sealed: &Option<String>, aad: Vec<u8>| -> anyhow::Result<Option<String>> {
            match sealed {
                None => Ok(None),
                Some(text) => {
                    let plain = crypto::decrypt_text(&provider, text, &aad)?;
                    Ok(Some(crypto::encrypt_text(&provider, &plain, &aad)?))
                }
            }
        };
        let phone = reseal(&account.phone_sealed, super::sms::phone_aad(&account.id))?;
        let totp = reseal(&account.totp_secret, super::api::totp_aad(&account.id))?;
        count += usize::from(phone.is_some()) + usize::from(totp.is_some());
        if phone.is_some() || totp.is_some() {
            state.store().set_sealed_fields(&account.id, phone.as_deref(), totp.as_deref()).await?;
        }
    }
    // Attachments and signature images of approval operations, one at a time.
    for id in state.store().file_ids().await? {
        if let Some((_, sealed)) = state.store().file_content(&id).await? {
            let resealed = crypto::CryptoProvider::reencrypt(&provider, &sealed, &crate::files::file_aad(&id))?;
            state.store().replace_file_content(&id, &resealed).await?;
            count += 1;
        }
    }
    let mut report = format!("data key {key_id} is current; {count} sealed values re-encrypted");
    if all {
        report.push('\n');
        report.push_str(&rotate_secrets(&state, &file, config, &provider, &accounts).await?);
    }
    Ok(report)
}

/// `keys rotate --all`, second part: new index, audit and signing keys. They are written to
/// `keys.json.new`, the database is moved to them in one transaction, and only then does the
/// new file replace the old one. Interrupted after the commit, `keys.json.new` holds the keys
/// the database now needs: move it into place.
async fn rotate_secrets(
    state: &AppState,
    file: &std::path::Path,
    mut config: crypto::KeyConfig,
    old: &crypto::SoftwareCrypto,
    accounts: &[store::identity::Account],
) -> anyhow::Result<String> {
    use crypto::CryptoProvider as _;
    config.rotate_secrets()?;
    let new = crypto::SoftwareCrypto::from_config(&config)?;
    let mut signatures = Vec::new();
    let mut refused = Vec::new();
    let mut indexes = Vec::new();
    for account in accounts {
        let Some(principal) = state.store().principal(&account.id).await? else { continue };
        let record = ::identity::access::access_record(&principal);
        let signed = state.store().access_signature(&account.id).await?;
        let valid = signed.and_then(|text| hex::decode(text).ok()).is_some_and(|bytes| old.verify(&record, &bytes));
        if valid {
            signatures.push((account.id.clone(), hex::encode(new.sign(&record)?)));
        } else {
            // Refused before, refused after: a forged record is never re-signed.
            refused.push(account.id.clone());
        }
        if let Some(sealed) = &account.phone_sealed {
            let phone = crypto::decrypt_text(&new, sealed, &super::sms::phone_aad(&account.id))?;
            indexes.push((account.id.clone(), new.blind_index("phone", &phone)?));
        }
    }
    let staged = write_key_file(file, &config)?;
    let rows = state.store().replace_key_material(&signatures, &indexes, &new, &super::key_fingerprint(&new)?).await?;
    std::fs::rename(&staged, file)?;
    let mut record = super::entry(Some("cli"), "cli", "keys.rotate", None, "success");
    record.detail = Some(format!(
        "index, audit and signing keys replaced: {} records re-signed, {} phone indexes, {rows} audit rows",
        signatures.len(),
        indexes.len()
    ));
    state.store().append_audit(&record, &new).await?;
    let mut report = format!(
        "index, audit and SM2 signing keys replaced: {} access records re-signed, {} phone indexes recomputed, {rows} audit rows re-MACed",
        signatures.len(),
        indexes.len()
    );
    if !refused.is_empty() {
        report.push_str(&format!(
            "\nnot re-signed (their record failed the old signature and stays refused): {}",
            refused.join(", ")
        ));
    }
    Ok(report)
}
