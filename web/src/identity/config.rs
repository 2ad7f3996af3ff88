//! Security settings: flags with environment twins, their defaults, and the key file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use crypto::CryptoProvider;

pub use ::identity::policy::PasswordPolicy;

/// Everything the identity layer is configured with. `Debug` never shows a key.
#[derive(Clone)]
pub struct Security {
    /// The cryptography provider (SM4 fields, blind indexes, the audit chain's HMAC-SM3, SM2):
    /// the software implementation over the key file, or later an HSM / cloud 密码服务.
    pub crypto: Arc<dyn CryptoProvider>,
    pub idle_timeout_minutes: i64,
    pub max_failures: i64,
    pub lock_minutes: i64,
    pub password: PasswordPolicy,
    pub require_totp: bool,
    pub behind_tls: bool,
    pub audit_retention_days: i64,
    /// Login attempts per source address per minute.
    pub login_rate_per_minute: i64,
    pub sms_per_phone_per_hour: i64,
    pub sms_per_ip_per_hour: i64,
    pub sms_code_minutes: i64,
    /// Days an API key lives (the default and the longest a key may be given).
    pub api_key_days: i64,
    /// Reverse proxies whose `X-Forwarded-For` names the client (none by default).
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Security")
            .field("crypto", &"provider")
            .field("idle_timeout_minutes", &self.idle_timeout_minutes)
            .field("max_failures", &self.max_failures)
            .field("lock_minutes", &self.lock_minutes)
            .field("password", &self.password)
            .field("require_totp", &self.require_totp)
            .field("behind_tls", &self.behind_tls)
            .field("audit_retention_days", &self.audit_retention_days)
            .finish()
    }
}

impl Security {
    /// Defaults with fresh random keys (tests, the benchmark).
    pub fn with_random_key() -> Self {
        let crypto = crypto::SoftwareCrypto::generate()
            .unwrap_or_else(|error| panic!("the operating system gave no random keys: {error}"));
        Security::with_crypto(Arc::new(crypto))
    }

    /// Defaults with this provider.
    pub fn with_crypto(crypto: Arc<dyn CryptoProvider>) -> Self {
        Security {
            crypto,
            idle_timeout_minutes: 30,
            max_failures: 5,
            lock_minutes: 15,
            password: PasswordPolicy::default(),
            require_totp: false,
            behind_tls: false,
            audit_retention_days: 180,
            login_rate_per_minute: 30,
            sms_per_phone_per_hour: 5,
            sms_per_ip_per_hour: 20,
            sms_code_minutes: 5,
            api_key_days: 90,
            trusted_proxies: Vec::new(),
        }
    }
}

/// Security flags of `serve` (and the key-file flag of `audit` / `user`).
#[derive(Debug, Clone, Args)]
pub struct SecurityFlags {
    /// Minutes of inactivity after which a session ends.
    #[arg(long, env = "SY_SESSION_IDLE_MINUTES", default_value_t = 30)]
    pub session_idle_minutes: i64,
    /// Failed logins that lock an account.
    #[arg(long, env = "SY_LOCKOUT_FAILURES", default_value_t = 5)]
    pub lockout_failures: i64,
    /// Minutes an account stays locked.
    #[arg(long, env = "SY_LOCKOUT_MINUTES", default_value_t = 15)]
    pub lockout_minutes: i64,
    /// Minimum password length.
    #[arg(long, env = "SY_PASSWORD_MIN_LENGTH", default_value_t = 10)]
    pub password_min_length: usize,
    /// Character classes (lower, upper, digit, other) a password needs.
    #[arg(long, env = "SY_PASSWORD_MIN_CLASSES", default_value_t = 3)]
    pub password_min_classes: usize,
    /// Previous passwords that may not be reused.
    #[arg(long, env = "SY_PASSWORD_HISTORY", default_value_t = 5)]
    pub password_history: i64,
    /// Days after which a password must be changed (0: never).
    #[arg(long, env = "SY_PASSWORD_MAX_AGE_DAYS", default_value_t = 90)]
    pub password_max_age_days: i64,
    /// Require a TOTP second factor for staff, operators and the administrator roles.
    #[arg(long, env = "SY_REQUIRE_TOTP")]
    pub require_totp: bool,
    /// The server is reached over TLS (a terminating proxy): Secure cookies and HSTS.
    #[arg(long, env = "SY_BEHIND_TLS")]
    pub behind_tls: bool,
    /// Days an API key lives (the default, and the most a key may be given; 1 to 3650).
    #[arg(long, env = "SY_API_KEY_DAYS", default_value_t = 90)]
    pub api_key_days: i64,
    /// A reverse proxy in front of the nodes (repeatable, or comma-separated): its
    /// `X-Forwarded-For` names the client for lockout, rate limits and the audit log. Without
    /// it the TCP peer is the client and the header is ignored.
    #[arg(long = "trusted-proxy", env = "SY_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Days audit rows are kept (at least 180).
    #[arg(long, env = "SY_AUDIT_RETENTION_DAYS", default_value_t = 180)]
    pub audit_retention_days: i64,
    #[command(flatten)]
    pub key: KeyFlags,
}

#[derive(Clone, Args)]
pub struct KeyFlags {
    /// The key file (JSON: SM4 data keys by id, the blind-index key, the audit HMAC key, the SM2
    /// private key); default DATA_DIR/keys.json, generated (mode 0600) at first start. Every node
    /// must use the same file; it is never stored in the database.
    #[arg(long, env = "SY_KEY_FILE")]
    pub key_file: Option<PathBuf>,
}

impl std::fmt::Debug for KeyFlags {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("KeyFlags").field("key_file", &self.key_file).finish()
    }
}

impl KeyFlags {
    /// The provider over the key file; with `create`, a missing file is generated with fresh
    /// random keys (mode 0600).
    pub fn load(&self, data_dir: &Path, create: bool) -> anyhow::Result<Arc<dyn CryptoProvider>> {
        let file = self.key_file.clone().unwrap_or_else(|| data_dir.join("keys.json"));
        let config = match std::fs::read_to_string(&file) {
            Ok(text) => crypto::KeyConfig::from_json(&text)
                .map_err(|error| anyhow::anyhow!("key file {}: {error}", file.display()))?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound && create => {
                let config = crypto::KeyConfig::generate()?;
                if let Some(parent) = file.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut handle = options
                    .open(&file)
                    .map_err(|error| anyhow::anyhow!("cannot create key file {}: {error}", file.display()))?;
                handle.write_all(config.to_json().as_bytes())?;
                handle.write_all(b"\n")?;
                config
            }
            Err(error) => {
                return Err(anyhow::anyhow!("cannot read the key file {}: {error} (set SY_KEY_FILE)", file.display()));
            }
        };
        let provider = crypto::SoftwareCrypto::from_config(&config)
            .map_err(|error| anyhow::anyhow!("key file {}: {error}", file.display()))?;
        Ok(Arc::new(provider))
    }
}

impl SecurityFlags {
    pub fn security(&self, data_dir: &Path) -> anyhow::Result<Security> {
        if self.audit_retention_days < 180 {
            anyhow::bail!(
                "audit retention of {} days refused: at least 180 days are required",
                self.audit_retention_days
            );
        }
        if self.session_idle_minutes < 1 || self.lockout_failures < 1 || self.lockout_minutes < 1 {
            anyhow::bail!("session and lockout settings must be at least 1");
        }
        if !(1..=3650).contains(&self.api_key_days) {
            anyhow::bail!("API keys live 1 to 3650 days, not {}", self.api_key_days);
        }
        if self.password_min_length < 8 || self.password_min_classes > 4 {
            anyhow::bail!("passwords need at least 8 characters and at most 4 character classes");
        }
        Ok(Security {
            crypto: self.key.load(data_dir, true)?,
            idle_timeout_minutes: self.session_idle_minutes,
            max_failures: self.lockout_failures,
            lock_minutes: self.lockout_minutes,
            password: PasswordPolicy {
                min_length: self.password_min_length,
                min_classes: self.password_min_classes,
                history: self.password_history,
                max_age_days: self.password_max_age_days,
                iterations: crate::auth::DEFAULT_ITERATIONS,
            },
            require_totp: self.require_totp,
            behind_tls: self.behind_tls,
            audit_retention_days: self.audit_retention_days,
            api_key_days: self.api_key_days,
            trusted_proxies: self.trusted_proxies.clone(),
            ..Security::with_random_key()
        })
    }
}
