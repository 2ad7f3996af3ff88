//! Identity, organisation, access control, sessions, audit log, rate limits and SMS codes: the
//! [`IdentityStore`] port, with its SQL written once (portable, `?` placeholders) and expanded
//! into each backend by [`identity_impl`], like `backend.rs` does for the engine tables.
//!
//! The data-scope filter ([`DataScope`]) is applied here, in SQL, to every engine query that
//! carries one; `web/` only chooses the scope from the signed-in user's roles.

use crate::backend::{Filter, Param};
use crate::model::scoped_query;

/// Which records a user may see and act on. Several roles: the widest wins.
///
/// There is no default: every query constructor takes one (`InstanceQuery::new(scope)` …), so
/// internal callers that act for no user write [`DataScope::All`] where they mean it.
///
/// ```
/// let query = store::TaskQuery::new(store::DataScope::District("310101".into()));
/// assert_eq!(query.scope, store::DataScope::District("310101".into()));
/// ```
///
/// A query that does not name its scope does not compile:
///
/// ```compile_fail
/// let query = store::TaskQuery::default();
/// ```
///
/// ```compile_fail
/// let query = store::TaskQuery { assignee: Some("demo".into()), ..Default::default() };
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataScope {
    /// Everything (city level, system roles, the engine's own work).
    All,
    /// Records owned by this district (code) or any unit below it.
    District(String),
    /// Records owned by this unit.
    Unit(String),
    /// The instances this user takes part in: started, holds or may claim a task of, acted
    /// on, or was copied ([`participant`]).
    Own(String),
    /// The instances this user started: what an `own` account may change beyond its tasks
    /// (`DataScope::for_change`).
    Started(String),
    /// Nothing (a user with no role).
    Nothing,
}

impl DataScope {
    /// The wider of two scopes (roles add up).
    pub fn widest(self, other: DataScope) -> DataScope {
        fn rank(scope: &DataScope) -> u8 {
            match scope {
                DataScope::All => 4,
                DataScope::District(_) => 3,
                DataScope::Unit(_) => 2,
                DataScope::Own(_) | DataScope::Started(_) => 1,
                DataScope::Nothing => 0,
            }
        }
        if rank(&other) > rank(&self) { other } else { self }
    }

    /// The scope of changes to instances other than through their tasks (deleting one, its
    /// variables, messages, signals, jobs, incidents): an `own` account sees the instances it
    /// takes part in but changes only those it started; other scopes are unchanged.
    pub fn for_change(self) -> DataScope {
        match self {
            DataScope::Own(user) => DataScope::Started(user),
            other => other,
        }
    }
}

/// The instances `user` takes part in, as a condition on `instance_column`: started by them,
/// with an open task assigned to them or naming them as candidate user, with a task they acted
/// on (已办), or copied to them. What an own-scope account (citizen, provider, liaison …) sees:
/// a provider asked to confirm a service sees that one instance, and no other.
pub(crate) fn participant(user: &str, instance_column: &str) -> (String, Vec<Param>) {
    let condition = format!(
        "(EXISTS (SELECT 1 FROM process_instances scope_p WHERE scope_p.id = {instance_column} AND scope_p.start_user = ?) \
         OR EXISTS (SELECT 1 FROM tasks scope_t WHERE scope_t.instance_id = {instance_column} AND (scope_t.assignee = ? \
         OR EXISTS (SELECT 1 FROM task_candidates scope_c WHERE scope_c.task_id = scope_t.id AND scope_c.kind = 'user' AND scope_c.value = ?))) \
         OR EXISTS (SELECT 1 FROM inbox_done scope_d WHERE scope_d.instance_id = {instance_column} AND scope_d.user_id = ?) \
         OR EXISTS (SELECT 1 FROM approval_cc scope_cc WHERE scope_cc.instance_id = {instance_column} AND scope_cc.kind = 'user' AND scope_cc.value = ?))"
    );
    (condition, vec![Param::Text(user.to_string()); 5])
}

impl Filter {
    /// Restricts a query to the records of `scope`. `instance_column` names the column holding
    /// the process instance id of each row (`id` for the instances table itself).
    pub(crate) fn scope(&mut self, scope: &DataScope, instance_column: &str) -> &mut Self {
        let owned = |condition: &str| {
            format!(
                "EXISTS (SELECT 1 FROM process_instances scope_p WHERE scope_p.id = {instance_column} AND {condition})"
            )
        };
        match scope {
            DataScope::All => self,
            DataScope::District(code) => self.clause(&owned("scope_p.owner_district = ?"), [Param::Text(code.clone())]),
            DataScope::Unit(unit) => self.clause(&owned("scope_p.owner_unit = ?"), [Param::Text(unit.clone())]),
            DataScope::Own(user) => {
                let (condition, params) = participant(user, instance_column);
                self.clause(&condition, params)
            }
            DataScope::Started(user) => self.clause(&owned("scope_p.start_user = ?"), [Param::Text(user.clone())]),
            DataScope::Nothing => self.clause("1 = 0", []),
        }
    }

    /// Restricts a query on `users` (aliased `u`) to the accounts of `scope`.
    pub(crate) fn account_scope(&mut self, scope: &DataScope) -> &mut Self {
        match scope {
            DataScope::All => self,
            DataScope::District(code) => self.clause(
                "EXISTS (SELECT 1 FROM org_units scope_o WHERE scope_o.id = u.unit_id AND scope_o.district = ?)",
                [Param::Text(code.clone())],
            ),
            DataScope::Unit(unit) => self.clause("u.unit_id = ?", [Param::Text(unit.clone())]),
            DataScope::Own(user) | DataScope::Started(user) => self.clause("u.id = ?", [Param::Text(user.clone())]),
            DataScope::Nothing => self.clause("1 = 0", []),
        }
    }
}

/// A node of the organisation tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgUnit {
    pub id: String,
    pub parent_id: Option<String>,
    pub name: String,
    /// `city`, `district` or `unit`.
    pub kind: String,
    /// The district code this unit belongs to; `None` at city level.
    pub district: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub id: String,
    pub name: String,
    /// `all`, `district`, `unit` or `own`.
    pub data_scope: String,
    pub permissions: Vec<String>,
}

/// Kinds of account (who the person is).
pub const ACCOUNT_KINDS: &[&str] =
    &["staff", "operator", "liaison", "volunteer-contact", "provider", "card-holder", "citizen", "machine"];

/// Account states: `active`, `frozen` (temporarily refused, can be unfrozen), `cancelled`
/// (final: refused for ever, kept for the audit trail).
pub const ACCOUNT_STATUSES: &[&str] = &["active", "frozen", "cancelled"];

/// A user account with everything identity needs (the engine's [`crate::UserRecord`] is the
/// subset it uses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub display_name: Option<String>,
    pub unit_id: Option<String>,
    /// The district of the account's unit (`None`: city level or no unit).
    pub district: Option<String>,
    pub kind: String,
    pub status: String,
    pub password_hash: String,
    pub must_change_password: bool,
    pub failed_logins: i64,
    pub locked_until: Option<i64>,
    pub password_changed_at: Option<i64>,
    /// Sealed (SM4-GCM, see the `crypto` provider), never the secret itself.
    pub totp_secret: Option<String>,
    /// The phone number, sealed; `None` when the account has none.
    pub phone_sealed: Option<String>,
    pub created_at: i64,
    pub roles: Vec<String>,
}

/// What is needed to create an account.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub id: String,
    pub display_name: Option<String>,
    pub unit_id: Option<String>,
    pub kind: String,
    pub password_hash: String,
    pub must_change_password: bool,
    pub roles: Vec<String>,
    pub phone_index: Option<String>,
    /// The phone number, sealed by the crypto provider.
    pub phone_sealed: Option<String>,
    pub created_at: i64,
}

scoped_query! {
    #[derive(Debug, Clone)]
    pub struct AccountQuery {
        pub unit_id: Option<String>,
        pub kind: Option<String>,
        pub status: Option<String>,
        /// Part of the id or the display name (the console's people pickers).
        pub search: Option<String>,
        /// At most this many, by id, after skipping `offset`.
        pub limit: Option<i64>,
        pub offset: Option<i64>,
    }
}

/// A signed-in user's account, permissions and data scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub account: Account,
    pub permissions: Vec<String>,
    pub scope: DataScope,
}

impl Principal {
    pub fn can(&self, permission: &str) -> bool {
        self.permissions.iter().any(|held| held == permission)
    }
}

/// One counted login attempt of a name from a source ([`IdentityStore::record_login_failure`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginAttempt {
    /// Attempts counted since the last success or lock, this one included.
    pub count: i64,
    /// The end of the lock on the name for the source, when it is locked now (by this attempt
    /// or an earlier one).
    pub locked_until: Option<i64>,
    /// The name was locked already: this attempt was not counted and must not be tried.
    pub was_locked: bool,
}

/// An API key as listed: never the secret, nor the digest it is found by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub public_id: String,
    pub user_id: String,
    pub name: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

/// A server-side session. `id` is the digest of the cookie value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: String,
    pub user_id: String,
    pub csrf_token: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub source_ip: Option<String>,
    pub second_factor_done: bool,
}

/// One audit event, before it is chained.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: i64,
    pub user_id: Option<String>,
    pub source_ip: Option<String>,
    /// What was done: `login`, `logout`, `user.create`, `instance.delete`, `export`, …
    pub action: String,
    pub target: Option<String>,
    /// `success`, `failure` or `denied`.
    pub result: String,
    pub detail: Option<String>,
}

/// A search of the audit log (the auditor's screen), newest first. Every filter is optional;
/// `action` matches a prefix (`user.` finds every account action), `target` a part, both
/// ignoring case on either backend (SQLite's `LIKE` does for ASCII, PostgreSQL's does not).
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub user: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub result: Option<String>,
    /// Milliseconds since the epoch, inclusive.
    pub from: Option<i64>,
    /// Milliseconds since the epoch, exclusive.
    pub to: Option<i64>,
    /// Rows up to this sequence number (where a chain check found a break).
    pub upto: Option<i64>,
    pub page: crate::Page,
}

impl AuditQuery {
    /// The `WHERE` clause with its parameters.
    pub(crate) fn filter(&self) -> Filter {
        let escape = crate::backend::escape_like;
        let mut filter = Filter::default();
        filter.eq("user_id", &self.user).eq("result", &self.result);
        if let Some(action) = &self.action {
            filter.clause("LOWER(action) LIKE LOWER(?) ESCAPE '\\'", [Param::Text(format!("{}%", escape(action)))]);
        }
        if let Some(target) = &self.target {
            filter.clause("LOWER(target) LIKE LOWER(?) ESCAPE '\\'", [Param::Text(format!("%{}%", escape(target)))]);
        }
        if let Some(from) = self.from {
            filter.clause("at >= ?", [Param::Int(from)]);
        }
        if let Some(to) = self.to {
            filter.clause("at < ?", [Param::Int(to)]);
        }
        if let Some(upto) = self.upto {
            filter.clause("seq <= ?", [Param::Int(upto)]);
        }
        filter
    }
}

/// A stored audit row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub seq: i64,
    pub entry: AuditEntry,
    pub prev_mac: String,
    pub mac: String,
}

/// The fields of an audit row its link covers, in the order [`crypto::audit`] encodes them.
fn audit_fields(seq: i64, entry: &AuditEntry) -> [Vec<u8>; 8] {
    let text = |value: &Option<String>| value.as_deref().unwrap_or("\u{0}").as_bytes().to_vec();
    [
        seq.to_be_bytes().to_vec(),
        entry.at.to_be_bytes().to_vec(),
        text(&entry.user_id),
        text(&entry.source_ip),
        entry.action.as_bytes().to_vec(),
        text(&entry.target),
        entry.result.as_bytes().to_vec(),
        text(&entry.detail),
    ]
}

/// The link (MAC) of an audit row, hex: the one chain of [`crypto::audit`].
pub fn audit_mac(
    crypto: &dyn crypto::CryptoProvider,
    seq: i64,
    entry: &AuditEntry,
    prev_mac: &str,
) -> crate::Result<String> {
    let fields = audit_fields(seq, entry);
    let fields: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
    crypto::audit::link(crypto, prev_mac, &fields)
        .map_err(|error| crate::Error::Invalid(format!("the audit MAC cannot be computed: {error}")))
}

/// Whether an audit row's stored MAC is its link (constant time).
fn audit_row_intact(crypto: &dyn crypto::CryptoProvider, row: &AuditRow) -> crate::Result<bool> {
    let fields = audit_fields(row.seq, &row.entry);
    let fields: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
    crypto::audit::verify_link(crypto, &row.prev_mac, &fields, &row.mac)
        .map_err(|error| crate::Error::Invalid(format!("the audit MAC cannot be checked: {error}")))
}

/// What `verify_audit` found wrong first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditProblem {
    /// The row's MAC does not match its content (edited, or inserted without the key).
    Edited { seq: i64 },
    /// Rows are missing before this one (deleted).
    Missing { expected: i64, found: i64 },
    /// The row does not continue the chain (its predecessor was replaced or removed).
    Unlinked { seq: i64 },
    /// The last rows were removed: the head says more rows exist.
    Truncated { last: i64, head: i64 },
    /// The retention base was moved without an audited purge (rows removed from the start).
    BaseMoved { base: i64 },
}

impl std::fmt::Display for AuditProblem {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuditProblem::Edited { seq } => {
                write!(formatter, "row {seq}: content does not match its MAC (edited or forged)")
            }
            AuditProblem::Missing { expected, found } => {
                write!(formatter, "row {expected}: missing (deleted); the next row present is {found}")
            }
            AuditProblem::Unlinked { seq } => write!(formatter, "row {seq}: does not link to the row before it"),
            AuditProblem::BaseMoved { base } => {
                write!(
                    formatter,
                    "row {}: the log starts here but no audited purge removed the rows before it",
                    base + 1
                )
            }
            AuditProblem::Truncated { last, head } => {
                write!(formatter, "row {}: missing (the log ends at {last} but {head} rows were written)", last + 1)
            }
        }
    }
}

/// The detail of an `audit.purge` row: which row the kept chain continues from.
pub fn purge_detail(through: i64, mac: &str) -> String {
    format!("through={through} mac={mac}")
}

/// Walks the kept chain (from the retention base); returns the number of rows checked, or the
/// first problem.
pub async fn verify_audit(
    store: &dyn crate::Store,
    key: &dyn crypto::CryptoProvider,
) -> crate::Result<Result<i64, AuditProblem>> {
    let (base, base_mac) = store.audit_base().await?;
    let mut expected = base + 1;
    let mut previous_mac = base_mac.clone();
    let mut purge_seen = base == 0;
    loop {
        let rows = store.audit_rows(expected - 1, 1000).await?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            if row.seq != expected {
                return Ok(Err(AuditProblem::Missing { expected, found: row.seq }));
            }
            if !audit_row_intact(key, &row)? {
                return Ok(Err(AuditProblem::Edited { seq: row.seq }));
            }
            if row.prev_mac != previous_mac {
                return Ok(Err(AuditProblem::Unlinked { seq: row.seq }));
            }
            if row.entry.action == "audit.purge"
                && row.entry.detail.as_deref() == Some(purge_detail(base, &base_mac).as_str())
            {
                purge_seen = true;
            }
            previous_mac = row.mac;
            expected += 1;
        }
    }
    let last = expected - 1;
    let (head, head_mac) = store.audit_head().await?;
    if head != last || (head > 0 && head_mac != previous_mac) {
        return Ok(Err(AuditProblem::Truncated { last, head }));
    }
    if !purge_seen {
        return Ok(Err(AuditProblem::BaseMoved { base }));
    }
    Ok(Ok(last - base))
}

/// The identity port. Implemented for both backends by [`identity_impl`].
#[async_trait::async_trait]
pub trait IdentityStore: Send + Sync {
    // Organisation and roles (seeded from `definitions/org/` at start).
    async fn upsert_org_unit(&self, unit: &OrgUnit) -> crate::Result<()>;
    async fn org_units(&self) -> crate::Result<Vec<OrgUnit>>;
    async fn org_unit(&self, id: &str) -> crate::Result<Option<OrgUnit>>;
    /// The district code named by a code or a name (`310101` or `黄浦区`).
    async fn district_named(&self, code_or_name: &str) -> crate::Result<Option<String>>;
    /// Creates or replaces a role and its permission set.
    async fn upsert_role(&self, role: &Role) -> crate::Result<()>;
    async fn roles(&self) -> crate::Result<Vec<Role>>;

    // Accounts.
    async fn create_account(&self, account: &NewAccount) -> crate::Result<()>;
    async fn account(&self, id: &str) -> crate::Result<Option<Account>>;
    async fn accounts(&self, query: &AccountQuery) -> crate::Result<Vec<Account>>;
    /// Sets `active` / `frozen` / `cancelled`; leaving `active` ends the user's sessions. A
    /// cancelled account cannot be changed any more.
    async fn set_account_status(&self, id: &str, status: &str) -> crate::Result<()>;
    async fn set_account_roles(&self, id: &str, roles: &[String]) -> crate::Result<()>;
    /// Sets an account's display name and unit (the unit is part of its signed access record:
    /// sign it again after).
    async fn set_account_profile(&self, id: &str, display_name: &str, unit_id: &str) -> crate::Result<()>;
    /// The account with its permissions and widest data scope, if it exists.
    async fn principal(&self, id: &str) -> crate::Result<Option<Principal>>;
    /// Counts a login attempt (or failure) of the name `name` (an account or not) from
    /// `source`, atomically; at `max_failures` that name is locked for that source until
    /// `now + lock_millis` and the count starts again. An attempt while locked is not counted.
    async fn record_login_failure(
        &self,
        name: &str,
        source: &str,
        now: i64,
        max_failures: i64,
        lock_millis: i64,
    ) -> crate::Result<LoginAttempt>;
    /// The end of the lock on `name` for `source`, when it is locked at `now`.
    async fn login_lock(&self, name: &str, source: &str, now: i64) -> crate::Result<Option<i64>>;
    /// A successful login of `name` from `source` clears its count there.
    async fn record_login_success(&self, name: &str, source: &str) -> crate::Result<()>;
    /// Ends every count and lock of `name`, from every source (an unlock).
    async fn clear_login_failures(&self, name: &str) -> crate::Result<()>;
    /// Stores a new password hash (keeping the old one in the history) and ends every session.
    async fn set_password(&self, id: &str, hash: &str, now: i64, must_change: bool) -> crate::Result<()>;
    /// The latest `count` password hashes, newest first.
    async fn password_history(&self, id: &str, count: i64) -> crate::Result<Vec<String>>;
    async fn set_totp_secret(&self, id: &str, secret: Option<&str>) -> crate::Result<()>;
    /// Records that `id` used the TOTP time step `step`: false (and nothing changes) when that
    /// step or a later one was used already — a replayed code.
    async fn use_totp_step(&self, id: &str, step: i64) -> crate::Result<bool>;
    /// The SM2 signature stored over an account's access-control record.
    async fn access_signature(&self, id: &str) -> crate::Result<Option<String>>;
    async fn set_access_signature(&self, id: &str, signature: &str) -> crate::Result<()>;
    /// Replaces an account's sealed values (after a key rotation re-encrypted them).
    async fn set_sealed_fields(
        &self,
        id: &str,
        phone_sealed: Option<&str>,
        totp_secret: Option<&str>,
    ) -> crate::Result<()>;
    async fn account_by_phone(&self, phone_index: &str) -> crate::Result<Option<String>>;
    /// After the index, audit and signing keys were replaced (`shuangyong keys rotate --all`), in
    /// one transaction: the new access-record signatures and phone indexes of the accounts named,
    /// and every kept audit row's MAC recomputed under `new_audit` (the chain from the retention
    /// base, each row linked to its new predecessor). Returns the audit rows re-MACed.
    async fn replace_key_material(
        &self,
        signatures: &[(String, String)],
        phone_indexes: &[(String, String)],
        new_audit: &dyn crypto::CryptoProvider,
        new_fingerprint: &str,
    ) -> crate::Result<i64>;
    /// The fingerprint of the key file this database was set up with, if one was recorded.
    async fn key_fingerprint(&self) -> crate::Result<Option<String>>;
    /// Records the fingerprint when none is recorded yet; returns the one recorded now (ours, or
    /// another node's that came first).
    async fn record_key_fingerprint(&self, fingerprint: &str) -> crate::Result<String>;

    // Sessions and API keys.
    async fn insert_session(&self, session: &SessionRecord) -> crate::Result<()>;
    /// The session if it was used within `idle_millis`, marking it used now; an idle one is
    /// deleted and `None` is returned.
    async fn touch_session(&self, id: &str, now: i64, idle_millis: i64) -> crate::Result<Option<SessionRecord>>;
    async fn complete_second_factor(&self, id: &str) -> crate::Result<()>;
    async fn delete_session(&self, id: &str) -> crate::Result<()>;
    /// Ends every session of a user (its rights changed: it signs in again under the new ones).
    async fn delete_sessions_of(&self, user_id: &str) -> crate::Result<()>;
    async fn insert_api_key(&self, key: &ApiKey, digest: &str) -> crate::Result<()>;
    /// The user of an API key (by digest) that is neither revoked nor expired at `now`.
    async fn api_key_user(&self, digest: &str, now: i64) -> crate::Result<Option<String>>;
    /// A user's API keys, newest first (revoked and expired ones included).
    async fn api_keys(&self, user_id: &str) -> crate::Result<Vec<ApiKey>>;
    /// Revokes one key of `user_id` by its public id; false when it has no such unrevoked key.
    async fn revoke_api_key(&self, user_id: &str, public_id: &str, now: i64) -> crate::Result<bool>;

    // Audit log.
    /// Appends one row to the chain (serialised across nodes by the head row). Returns its seq.
    async fn append_audit(&self, entry: &AuditEntry, key: &dyn crypto::CryptoProvider) -> crate::Result<i64>;
    /// Rows with `seq > after`, in order, at most `limit`.
    async fn audit_rows(&self, after: i64, limit: i64) -> crate::Result<Vec<AuditRow>>;
    /// One page of the rows `query` finds, newest first, and how many it finds in all.
    async fn audit_search(&self, query: &AuditQuery) -> crate::Result<(Vec<AuditRow>, i64)>;
    /// The last sequence number and MAC written.
    async fn audit_head(&self) -> crate::Result<(i64, String)>;
    /// Where the kept chain starts: the seq and MAC of the last row removed by retention.
    async fn audit_base(&self) -> crate::Result<(i64, String)>;
    /// Removes the rows older than `before` (retention), moves the base to the last removed row,
    /// and appends an `audit.purge` row naming it. Returns how many rows were removed.
    async fn purge_audit(
        &self,
        before: i64,
        entry: &AuditEntry,
        key: &dyn crypto::CryptoProvider,
    ) -> crate::Result<i64>;

    // Rate limits and SMS.
    /// Counts one hit on `key` in a fixed window; false when the limit was already reached.
    async fn rate_limit_hit(&self, key: &str, now: i64, window_millis: i64, max: i64) -> crate::Result<bool>;
    async fn insert_sms_code(
        &self,
        id: &str,
        phone: &str,
        purpose: &str,
        code_hash: &str,
        now: i64,
        expires_at: i64,
    ) -> crate::Result<()>;
    /// The newest unused, unexpired code of `phone` for `purpose`: (id, code hash, attempts).
    async fn sms_code(&self, phone: &str, purpose: &str, now: i64) -> crate::Result<Option<(String, String, i64)>>;
    /// Counts an attempt on a code; with `used` it is spent (single use). False if it was
    /// already spent by someone else.
    async fn use_sms_code(&self, id: &str, now: i64, used: bool) -> crate::Result<bool>;
    /// Adds a message to the SMS outbox. With a `dedup_key`, only once: a second push with the
    /// same key adds nothing and returns `false`.
    async fn sms_outbox_push(
        &self,
        phone: &str,
        message: &str,
        dedup_key: Option<&str>,
        now: i64,
    ) -> crate::Result<bool>;
    async fn sms_outbox(&self, phone: &str) -> crate::Result<Vec<String>>;
    /// The newest `limit` messages to `phone` (an account's are addressed `account:ID`), newest
    /// first, with the time each was queued.
    async fn sms_outbox_recent(&self, phone: &str, limit: i64) -> crate::Result<Vec<(String, i64)>>;
    /// Adds a message to an account's message centre; with a `dedup_key` only once (a second
    /// push with the same key adds nothing and returns `false`).
    async fn push_message(&self, message: &NewMessage) -> crate::Result<bool>;
    /// An account's messages, newest first: `limit` of them from `offset`, and how many there
    /// are and how many are unread.
    async fn messages(&self, account: &str, unread_only: bool, offset: i64, limit: i64) -> crate::Result<MessagePage>;
    /// One of an account's messages (another account's is `None`).
    async fn message(&self, account: &str, id: &str) -> crate::Result<Option<Message>>;
    /// How many of an account's messages are unread.
    async fn unread_messages(&self, account: &str) -> crate::Result<i64>;
    /// Marks an account's messages read: the one named, or all (`None`). Another account's
    /// message is left alone. Returns how many changed.
    async fn mark_messages_read(&self, account: &str, id: Option<&str>, now: i64) -> crate::Result<u64>;
}

/// A message to one account (the message centre, SVC-20).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub account_id: String,
    pub title: String,
    pub body: String,
    /// A path of this site the message is about (the application, the task).
    pub link: Option<String>,
    /// Once per key: what caused the message (an operation, an external task).
    pub dedup_key: Option<String>,
    pub created_at: i64,
}

/// A message as its account reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    pub title: String,
    pub body: String,
    pub link: Option<String>,
    pub created_at: i64,
    pub read_at: Option<i64>,
}

/// A page of an account's messages.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessagePage {
    pub items: Vec<Message>,
    pub total: i64,
    pub unread: i64,
}

pub(crate) const INSERT_MESSAGE: &str = "INSERT INTO messages (id, account_id, title, body, link, dedup_key, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedup_key) DO NOTHING";

/// Expands [`IdentityStore`] for one backend (same contract as `store_impl!`).
macro_rules! identity_impl {
    ($store:ty, $db:ty) => {
        const _: () = {
            use sqlx::Row;

            use crate::backend::Filter;
            use crate::identity::*;
            use crate::{Error, Result};

            type DbRow = <$db as sqlx::Database>::Row;

            const ACCOUNT_COLUMNS: &str = "u.id, u.display_name, u.unit_id, o.district, u.kind, u.status, u.password_hash, u.must_change_password, COALESCE((SELECT MAX(lf.failures) FROM login_failures lf WHERE lf.user_id = u.id), 0) AS failed_logins, (SELECT MAX(lf.locked_until) FROM login_failures lf WHERE lf.user_id = u.id) AS locked_until, u.password_changed_at, u.totp_secret, u.phone_sealed, u.created_at";

            fn account_from(row: &DbRow) -> Result<Account> {
                Ok(Account {
                    id: row.try_get("id")?,
                    display_name: row.try_get("display_name")?,
                    unit_id: row.try_get("unit_id")?,
                    district: row.try_get("district")?,
                    kind: row.try_get("kind")?,
                    status: row.try_get("status")?,
                    password_hash: row.try_get("password_hash")?,
                    must_change_password: row.try_get("must_change_password")?,
                    failed_logins: row.try_get("failed_logins")?,
                    locked_until: row.try_get("locked_until")?,
                    password_changed_at: row.try_get("password_changed_at")?,
                    totp_secret: row.try_get("totp_secret")?,
                    phone_sealed: row.try_get("phone_sealed")?,
                    created_at: row.try_get("created_at")?,
                    roles: Vec::new(),
                })
            }

            fn unit_from(row: &DbRow) -> Result<OrgUnit> {
                Ok(OrgUnit {
                    id: row.try_get("id")?,
                    parent_id: row.try_get("parent_id")?,
                    name: row.try_get("name")?,
                    kind: row.try_get("kind")?,
                    district: row.try_get("district")?,
                })
            }

            fn audit_row_from(row: &DbRow) -> Result<AuditRow> {
                Ok(AuditRow {
                    seq: row.try_get("seq")?,
                    entry: AuditEntry {
                        at: row.try_get("at")?,
                        user_id: row.try_get("user_id")?,
                        source_ip: row.try_get("source_ip")?,
                        action: row.try_get("action")?,
                        target: row.try_get("target")?,
                        result: row.try_get("result")?,
                        detail: row.try_get("detail")?,
                    },
                    prev_mac: row.try_get("prev_mac")?,
                    mac: row.try_get("mac")?,
                })
            }

            fn session_from(row: &DbRow) -> Result<SessionRecord> {
                Ok(SessionRecord {
                    id: row.try_get("id")?,
                    user_id: row.try_get("user_id")?,
                    csrf_token: row.try_get("csrf_token")?,
                    created_at: row.try_get("created_at")?,
                    last_seen_at: row.try_get("last_seen_at")?,
                    source_ip: row.try_get("source_ip")?,
                    second_factor_done: row.try_get("second_factor_done")?,
                })
            }

            fn scope_of(data_scope: &str, account: &Account) -> DataScope {
                match (data_scope, &account.district, &account.unit_id) {
                    ("all", _, _) => DataScope::All,
                    ("district", Some(district), _) => DataScope::District(district.clone()),
                    // A district-scoped role on a city-level account sees only its own records.
                    ("district", None, _) => DataScope::Own(account.id.clone()),
                    ("unit", _, Some(unit)) => DataScope::Unit(unit.clone()),
                    _ => DataScope::Own(account.id.clone()),
                }
            }

            impl $store {
                /// Appends one audit row inside `tx`. The UPDATE takes the head row's lock first,
                /// so concurrent appenders on any node queue here and each sees the previous MAC.
                async fn append_in(tx: &mut sqlx::Transaction<'static, $db>, entry: &AuditEntry, key: &dyn crypto::CryptoProvider) -> Result<i64> {
                    sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1").execute(&mut **tx).await.map_err(Self::map_error)?;
                    let head = sqlx::query("SELECT seq, mac FROM audit_head WHERE id = 1").fetch_one(&mut **tx).await?;
                    let seq: i64 = head.try_get("seq")?;
                    let prev_mac: String = head.try_get("mac")?;
                    let mac = audit_mac(key, seq, entry, &prev_mac)?;
                    sqlx::query(Self::sql("INSERT INTO audit_log (seq, at, user_id, source_ip, action, target, result, detail, prev_mac, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"))
                        .bind(seq).bind(entry.at).bind(&entry.user_id).bind(&entry.source_ip).bind(&entry.action).bind(&entry.target)
                        .bind(&entry.result).bind(&entry.detail).bind(&prev_mac).bind(&mac)
                        .execute(&mut **tx).await?;
                    sqlx::query(Self::sql("UPDATE audit_head SET mac = ? WHERE id = 1")).bind(&mac).execute(&mut **tx).await?;
                    Ok(seq)
                }

                async fn roles_of(&self, user_id: &str) -> Result<Vec<String>> {
                    let rows = sqlx::query(Self::sql("SELECT role_id FROM user_roles WHERE user_id = ? ORDER BY role_id"))
                        .bind(user_id).fetch_all(&self.pool).await?;
                    rows.iter().map(|row| row.try_get("role_id").map_err(Error::from)).collect()
                }
            }

            #[async_trait::async_trait]
            impl IdentityStore for $store {
                async fn upsert_org_unit(&self, unit: &OrgUnit) -> Result<()> {
                    sqlx::query(Self::sql("INSERT INTO org_units (id, parent_id, name, kind, district, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET parent_id = excluded.parent_id, name = excluded.name, kind = excluded.kind, district = excluded.district"))
                        .bind(&unit.id).bind(&unit.parent_id).bind(&unit.name).bind(&unit.kind).bind(&unit.district)
                        .bind(crate::now_millis())
                        .execute(&self.pool).await.map_err(Self::map_error)?;
                    Ok(())
                }

                async fn org_units(&self) -> Result<Vec<OrgUnit>> {
                    let rows = sqlx::query("SELECT id, parent_id, name, kind, district FROM org_units ORDER BY id").fetch_all(&self.pool).await?;
                    rows.iter().map(unit_from).collect()
                }

                async fn org_unit(&self, id: &str) -> Result<Option<OrgUnit>> {
                    let row = sqlx::query(Self::sql("SELECT id, parent_id, name, kind, district FROM org_units WHERE id = ?"))
                        .bind(id).fetch_optional(&self.pool).await?;
                    row.as_ref().map(unit_from).transpose()
                }

                async fn district_named(&self, code_or_name: &str) -> Result<Option<String>> {
                    let row = sqlx::query(Self::sql("SELECT id FROM org_units WHERE kind = 'district' AND (id = ? OR name = ?)"))
                        .bind(code_or_name).bind(code_or_name).fetch_optional(&self.pool).await?;
                    Ok(row.map(|row| row.try_get("id")).transpose()?)
                }

                async fn upsert_role(&self, role: &Role) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query(Self::sql("INSERT INTO roles (id, name, data_scope) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name, data_scope = excluded.data_scope"))
                        .bind(&role.id).bind(&role.name).bind(&role.data_scope).execute(&mut *tx).await?;
                    sqlx::query(Self::sql("DELETE FROM role_permissions WHERE role_id = ?")).bind(&role.id).execute(&mut *tx).await?;
                    for permission in &role.permissions {
                        sqlx::query(Self::sql("INSERT INTO role_permissions (role_id, permission) VALUES (?, ?) ON CONFLICT DO NOTHING"))
                            .bind(&role.id).bind(permission).execute(&mut *tx).await?;
                    }
                    tx.commit().await.map_err(Self::map_error)?;
                    Ok(())
                }

                async fn roles(&self) -> Result<Vec<Role>> {
                    let rows = sqlx::query("SELECT r.id, r.name, r.data_scope, p.permission FROM roles r LEFT JOIN role_permissions p ON p.role_id = r.id ORDER BY r.id, p.permission")
                        .fetch_all(&self.pool).await?;
                    let mut roles: Vec<Role> = Vec::new();
                    for row in &rows {
                        let id: String = row.try_get("id")?;
                        if roles.last().is_none_or(|last| last.id != id) {
                            roles.push(Role { id, name: row.try_get("name")?, data_scope: row.try_get("data_scope")?, permissions: Vec::new() });
                        }
                        let permission: Option<String> = row.try_get("permission")?;
                        if let (Some(permission), Some(role)) = (permission, roles.last_mut()) {
                            role.permissions.push(permission);
                        }
                    }
                    Ok(roles)
                }

                async fn create_account(&self, account: &NewAccount) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    let inserted = sqlx::query(Self::sql("INSERT INTO users (id, password_hash, first_name, must_change_password, created_at, display_name, unit_id, kind, status, password_changed_at, phone_index, phone_sealed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?)"))
                        .bind(&account.id).bind(&account.password_hash).bind(&account.display_name).bind(account.must_change_password)
                        .bind(account.created_at).bind(&account.display_name).bind(&account.unit_id).bind(&account.kind)
                        .bind(account.created_at).bind(&account.phone_index).bind(&account.phone_sealed)
                        .execute(&mut *tx).await;
                    match inserted {
                        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
                            return Err(Error::Conflict(format!("user '{}' already exists", account.id)));
                        }
                        Err(sqlx::Error::Database(error)) if error.is_foreign_key_violation() => {
                            return Err(Error::Invalid(format!("unit '{}' does not exist", account.unit_id.as_deref().unwrap_or(""))));
                        }
                        other => { other.map_err(Self::map_error)?; }
                    }
                    for role in &account.roles {
                        let added = sqlx::query(Self::sql("INSERT INTO user_roles (user_id, role_id) VALUES (?, ?) ON CONFLICT DO NOTHING"))
                            .bind(&account.id).bind(role).execute(&mut *tx).await;
                        if let Err(sqlx::Error::Database(error)) = &added && error.is_foreign_key_violation() {
                            return Err(Error::Invalid(format!("role '{role}' does not exist")));
                        }
                        added?;
                    }
                    sqlx::query(Self::sql("INSERT INTO password_history (id, user_id, password_hash, changed_at) VALUES (?, ?, ?, ?)"))
                        .bind(crate::new_id()).bind(&account.id).bind(&account.password_hash).bind(account.created_at)
                        .execute(&mut *tx).await?;
                    tx.commit().await.map_err(Self::map_error)?;
                    Ok(())
                }

                async fn account(&self, id: &str) -> Result<Option<Account>> {
                    let statement = format!("SELECT {ACCOUNT_COLUMNS} FROM users u LEFT JOIN org_units o ON o.id = u.unit_id WHERE u.id = ?");
                    let row = sqlx::query(Self::dynamic(statement)).bind(id).fetch_optional(&self.pool).await?;
                    let Some(mut account) = row.as_ref().map(account_from).transpose()? else { return Ok(None) };
                    account.roles = self.roles_of(id).await?;
                    Ok(Some(account))
                }

                async fn accounts(&self, query: &AccountQuery) -> Result<Vec<Account>> {
                    let mut filter = Filter::default();
                    filter.eq("u.unit_id", &query.unit_id).eq("u.kind", &query.kind).eq("u.status", &query.status).account_scope(&query.scope);
                    if let Some(search) = query.search.as_deref().map(str::trim).filter(|search| !search.is_empty()) {
                        let pattern = format!("%{}%", crate::backend::escape_like(&search.to_lowercase()));
                        filter.clause(
                            "(LOWER(u.id) LIKE ? ESCAPE '\\' OR LOWER(COALESCE(u.display_name, '')) LIKE ? ESCAPE '\\')",
                            [Param::Text(pattern.clone()), Param::Text(pattern)],
                        );
                    }
                    let limit = match query.limit {
                        Some(limit) => format!(" LIMIT {} OFFSET {}", limit.clamp(0, 1000), query.offset.unwrap_or(0).max(0)),
                        None => String::new(),
                    };
                    let statement = format!("SELECT {ACCOUNT_COLUMNS} FROM users u LEFT JOIN org_units o ON o.id = u.unit_id{} ORDER BY u.id{limit}", filter.sql());
                    let mut select = sqlx::query(Self::dynamic(statement));
                    for param in &filter.params {
                        select = bind(select, param);
                    }
                    let rows = select.fetch_all(&self.pool).await?;
                    let mut accounts = rows.iter().map(account_from).collect::<Result<Vec<_>>>()?;
                    for account in &mut accounts {
                        account.roles = self.roles_of(&account.id).await?;
                    }
                    Ok(accounts)
                }

                async fn set_account_status(&self, id: &str, status: &str) -> Result<()> {
                    if !ACCOUNT_STATUSES.contains(&status) {
                        return Err(Error::Invalid(format!("unknown account status '{status}'")));
                    }
                    let mut tx = self.begin_write().await?;
                    let current = sqlx::query(Self::sql("SELECT status FROM users WHERE id = ?")).bind(id).fetch_optional(&mut *tx).await?;
                    let Some(current) = current else { return Err(Error::NotFound(format!("user '{id}' does not exist"))) };
                    let current: String = current.try_get("status")?;
                    if current == "cancelled" {
                        return Err(Error::Invalid(format!("user '{id}' is cancelled and cannot be changed")));
                    }
                    sqlx::query(Self::sql("UPDATE users SET status = ? WHERE id = ?")).bind(status).bind(id).execute(&mut *tx).await?;
                    sqlx::query(Self::sql("DELETE FROM login_failures WHERE user_id = ?")).bind(id).execute(&mut *tx).await?;
                    if status != "active" {
                        sqlx::query(Self::sql("DELETE FROM sessions WHERE user_id = ?")).bind(id).execute(&mut *tx).await?;
                        sqlx::query(Self::sql("UPDATE api_keys SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL")).bind(crate::now_millis()).bind(id).execute(&mut *tx).await?;
                    }
                    tx.commit().await.map_err(Self::map_error)?;
                    Ok(())
                }

                async fn set_account_profile(&self, id: &str, display_name: &str, unit_id: &str) -> Result<()> {
                    sqlx::query(Self::sql("UPDATE users SET display_name = ?, unit_id = ? WHERE id = ?"))
                        .bind(display_name)
                        .bind(unit_id)
                        .bind(id)
                        .execute(&self.pool)
                        .await
                        .map_err(Self::map_error)?;
                    Ok(())
                }

                async fn set_account_roles(&self, id: &str, roles: &[String]) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query(Self::sql("DELETE FROM user_roles WHERE user_id = ?")).bind(id).execute(&mut *tx).await?;
                    for role in roles {
                        let added = sqlx::query(Self::sql("INSERT INTO user_roles (user_id, role_id) VALUES (?, ?) ON CONFLICT DO NOTHING"))
                            .bind(id).bind(role).execute(&mut *tx).await;
                        if let Err(sqlx::Error::Database(error)) = &added && error.is_foreign_key_violation() {
                            return Err(Error::Invalid(format!("user '{id}' or role '{role}' does not exist")));
                        }
                        added?;
                    }
                    tx.commit().await.map_err(Self::map_error)?;
                    Ok(())
                }

                async fn principal(&self, id: &str) -> Result<Option<Principal>> {
                    let Some(account) = self.account(id).await? else { return Ok(None) };
                    let rows = sqlx::query(Self::sql("SELECT r.data_scope, p.permission FROM user_roles ur JOIN roles r ON r.id = ur.role_id LEFT JOIN role_permissions p ON p.role_id = r.id WHERE ur.user_id = ?"))
                        .bind(id).fetch_all(&self.pool).await?;
                    let mut scope = DataScope::Nothing;
                    let mut permissions: Vec<String> = Vec::new();
                    for row in &rows {
                        let data_scope: String = row.try_get("data_scope")?;
                        scope = scope.widest(scope_of(&data_scope, &account));
                        if let Some(permission) = row.try_get::<Option<String>, _>("permission")? && !permissions.contains(&permission) {
                            permissions.push(permission);
                        }
                    }
                    permissions.sort();
                    Ok(Some(Principal { account, permissions, scope }))
                }

                async fn record_login_failure(&self, name: &str, source: &str, now: i64, max_failures: i64, lock_millis: i64) -> Result<LoginAttempt> {
                    let subject = format!("{name}\n{source}");
                    let mut tx = self.begin_write().await?;
                    // One atomic upsert (the row stays locked until the commit on PostgreSQL), so
                    // attempts at the same moment are all counted: an active lock is kept and the
                    // attempt not counted, a lock that ran out starts the count again.
                    let row = sqlx::query(Self::sql("INSERT INTO login_failures (subject, user_id, failures, locked_until, updated_at) VALUES (?, ?, 1, NULL, ?) ON CONFLICT (subject) DO UPDATE SET failures = CASE WHEN login_failures.locked_until > ? THEN login_failures.failures WHEN login_failures.locked_until IS NOT NULL THEN 1 ELSE login_failures.failures + 1 END, locked_until = CASE WHEN login_failures.locked_until > ? THEN login_failures.locked_until ELSE NULL END, updated_at = excluded.updated_at RETURNING failures, locked_until"))
                        .bind(&subject).bind(name).bind(now).bind(now).bind(now).fetch_one(&mut *tx).await.map_err(Self::map_error)?;
                    let count: i64 = row.try_get("failures")?;
                    let locked_until: Option<i64> = row.try_get("locked_until")?;
                    let was_locked = locked_until.is_some_and(|until| until > now);
                    let attempt = if !was_locked && count >= max_failures {
                        let until = now + lock_millis;
                        sqlx::query(Self::sql("UPDATE login_failures SET failures = 0, locked_until = ? WHERE subject = ?")).bind(until).bind(&subject).execute(&mut *tx).await?;
                        LoginAttempt { count, locked_until: Some(until), was_locked }
                    } else {
                        LoginAttempt { count, locked_until: locked_until.filter(|_| was_locked), was_locked }
                    };
                    tx.commit().await.map_err(Self::map_error)?;
                    Ok(attempt)
                }

                async fn login_lock(&self, name: &str, source: &str, now: i64) -> Result<Option<i64>> {
                    let row = sqlx::query(Self::sql("SELECT locked_until FROM login_failures WHERE subject = ? AND locked_until > ?"))
                        .bind(format!("{name}\n{source}")).bind(now).fetch_optional(&self.pool).await?;
                    Ok(row.map(|row| row.try_get("locked_until")).transpose()?)
                }

                async fn record_login_success(&self, name: &str, source: &str) -> Result<()> {
                    sqlx::query(Self::sql("DELETE FROM login_failures WHERE subject = ?"))
                        .bind(format!("{name}\n{source}")).execute(&self.pool).await.map_err(Self::map_error)?;
                    Ok(())
                }

                async fn clear_login_failures(&self, name: &str) -> Result<()> {
                    sqlx::query(Self::sql("DELETE FROM login_failures WHERE user_id = ?")).bind(name).execute(&self.pool).await.map_err(Self::map_error)?;
                    Ok(())
                }

                async fn set_password(&self, id: &str, hash: &str, now: i64, must_change: bool) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    let updated = sqlx::query(Self::sql("UPDATE users SET password_hash = ?, password_changed_at = ?, must_change_password = ? WHERE id = ?"))
                        .bind(hash).bind(now).bind(must_change).bind(id).execute(&mut *tx).await?;
                    if updated.rows_affected() != 1 {
                        return Err(Error::NotFound(format!("user '{id}' does not exist")));
                    }
                    sqlx::query(Self::sql("INSERT INTO password_history (id, user_id, password_hash, changed_at) VALUES (?, ?, ?, ?)"))
                        .bind(crate::new_id()).bind(id).bind(hash).bind(now).execute(&mut *tx).await?;
                    sqlx::query(Self::sql("DELETE FROM sessions WHERE user_id = ?")).bind(id).execute(&mut *tx).await?;
                    tx.commit().await.map_err(Self::map_error)?;
                    Ok(())
                }

                async fn password_history(&self, id: &str, count: i64) -> Result<Vec<String>> {
                    let rows = sqlx::query(Self::sql("SELECT password_hash FROM password_history WHERE user_id = ? ORDER BY changed_at DESC, id DESC LIMIT ?"))
                        .bind(id).bind(count).fetch_all(&self.pool).await?;
                    rows.iter().map(|row| row.try_get("password_hash").map_err(Error::from)).collect()
                }

                async fn access_signature(&self, id: &str) -> Result<Option<String>> {
                    let row = sqlx::query(Self::sql("SELECT acl_signature FROM users WHERE id = ?")).bind(id).fetch_optional(&self.pool).await?;
                    Ok(match row { Some(row) => row.try_get("acl_signature")?, None => None })
                }

                async fn key_fingerprint(&self) -> Result<Option<String>> {
                    let row = sqlx::query("SELECT fingerprint FROM key_fingerprint WHERE id = 1").fetch_optional(&self.pool).await?;
                    Ok(row.map(|row| row.try_get("fingerprint")).transpose()?)
                }

                async fn record_key_fingerprint(&self, fingerprint: &str) -> Result<String> {
                    sqlx::query(Self::sql("INSERT INTO key_fingerprint (id, fingerprint) VALUES (1, ?) ON CONFLICT (id) DO NOTHING"))
                        .bind(fingerprint).execute(&self.pool).await.map_err(Self::map_error)?;
                    Ok(self.key_fingerprint().await?.unwrap_or_else(|| fingerprint.to_string()))
                }

                async fn replace_key_material(&self, signatures: &[(String, String)], phone_indexes: &[(String, String)], new_audit: &dyn crypto::CryptoProvider, new_fingerprint: &str) -> Result<i64> {
                    let mut tx = self.begin_write().await?;
                    // Holding the head row keeps appenders on every node out until the commit.
                    sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1").execute(&mut *tx).await.map_err(Self::map_error)?;
                    for (id, signature) in signatures {
                        sqlx::query(Self::sql("UPDATE users SET acl_signature = ? WHERE id = ?")).bind(signature).bind(id).execute(&mut *tx).await?;
                    }
                    for (id, index) in phone_indexes {
                        sqlx::query(Self::sql("UPDATE users SET phone_index = ? WHERE id = ?")).bind(index).bind(id).execute(&mut *tx).await?;
                    }
                    let head = sqlx::query("SELECT base_mac FROM audit_head WHERE id = 1").fetch_one(&mut *tx).await?;
                    let mut previous: String = head.try_get("base_mac")?;
                    let rows = sqlx::query(Self::sql("SELECT seq, at, user_id, source_ip, action, target, result, detail, prev_mac, mac FROM audit_log ORDER BY seq")).fetch_all(&mut *tx).await?;
                    let mut count = 0;
                    for row in &rows {
                        let AuditRow { seq, entry, .. } = audit_row_from(row)?;
                        let mac = audit_mac(new_audit, seq, &entry, &previous)?;
                        sqlx::query(Self::sql("UPDATE audit_log SET prev_mac = ?, mac = ? WHERE seq = ?")).bind(&previous).bind(&mac).bind(seq).execute(&mut *tx).await?;
                        previous = mac;
                        count += 1;
                    }
                    sqlx::query(Self::sql("UPDATE audit_head SET mac = ? WHERE id = 1")).bind(&previous).execute(&mut *tx).await?;
                    sqlx::query(Self::sql("INSERT INTO key_fingerprint (id, fingerprint) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET fingerprint = excluded.fingerprint"))
                        .bind(new_fingerprint).execute(&mut *tx).await?;
                    tx.commit().await.map_err(Self::map_error)?;
                    Ok(count)
                }

                async fn set_access_signature(&self, id: &str, signature: &str) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query(Self::sql("UPDATE users SET acl_signature = ? WHERE id = ?")).bind(signature).bind(id).execute(&mut *tx).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn set_sealed_fields(&self, id: &str, phone_sealed: Option<&str>, totp_secret: Option<&str>) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query(Self::sql("UPDATE users SET phone_sealed = ?, totp_secret = ? WHERE id = ?"))
                        .bind(phone_sealed).bind(totp_secret).bind(id).execute(&mut *tx).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn use_totp_step(&self, id: &str, step: i64) -> Result<bool> {
                    let mut tx = self.begin_write().await?;
                    let used = sqlx::query(Self::sql("UPDATE users SET totp_last_step = ? WHERE id = ? AND (totp_last_step IS NULL OR totp_last_step < ?)"))
                        .bind(step).bind(id).bind(step).execute(&mut *tx).await?.rows_affected();
                    tx.commit().await?;
                    Ok(used == 1)
                }

                async fn set_totp_secret(&self, id: &str, secret: Option<&str>) -> Result<()> {
                    sqlx::query(Self::sql("UPDATE users SET totp_secret = ? WHERE id = ?")).bind(secret).bind(id).execute(&self.pool).await.map_err(Self::map_error)?;
                    Ok(())
                }

                async fn account_by_phone(&self, phone_index: &str) -> Result<Option<String>> {
                    let row = sqlx::query(Self::sql("SELECT id FROM users WHERE phone_index = ?")).bind(phone_index).fetch_optional(&self.pool).await?;
                    Ok(row.map(|row| row.try_get("id")).transpose()?)
                }

                async fn insert_session(&self, session: &SessionRecord) -> Result<()> {
                    sqlx::query(Self::sql("INSERT INTO sessions (id, user_id, csrf_token, created_at, last_seen_at, source_ip, second_factor_done) VALUES (?, ?, ?, ?, ?, ?, ?)"))
                        .bind(&session.id).bind(&session.user_id).bind(&session.csrf_token).bind(session.created_at).bind(session.last_seen_at)
                        .bind(&session.source_ip).bind(session.second_factor_done)
                        .execute(&self.pool).await.map_err(Self::map_error)?;
                    Ok(())
                }

                async fn touch_session(&self, id: &str, now: i64, idle_millis: i64) -> Result<Option<SessionRecord>> {
                    let row = sqlx::query(Self::sql("SELECT id, user_id, csrf_token, created_at, last_seen_at, source_ip, second_factor_done FROM sessions WHERE id = ?"))
                        .bind(id).fetch_optional(&self.pool).await?;
                    let Some(session) = row.as_ref().map(session_from).transpose()? else { return Ok(None) };
                    if now - session.last_seen_at > idle_millis {
                        self.delete_session(id).await?;
                        return Ok(None);
                    }
                    // Writing on every request would make each page view a write; a few seconds
                    // of imprecision in the idle clock is harmless.
                    if now - session.last_seen_at > 5_000 {
                        sqlx::query(Self::sql("UPDATE sessions SET last_seen_at = ? WHERE id = ?")).bind(now).bind(id).execute(&self.pool).await.map_err(Self::map_error)?;
                    }
                    Ok(Some(SessionRecord { last_seen_at: now, ..session }))
                }

                async fn complete_second_factor(&self, id: &str) -> Result<()> {
                    sqlx::query(Self::sql("UPDATE sessions SET second_factor_done = ? WHERE id = ?")).bind(true).bind(id).execute(&self.pool).await.map_err(Self::map_error)?;
                    Ok(())
                }

                async fn delete_sessions_of(&self, user_id: &str) -> Result<()> {
                    sqlx::query(Self::sql("DELETE FROM sessions WHERE user_id = ?")).bind(user_id).execute(&self.pool).await.map_err(Self::map_error)?;
                    Ok(())
                }

                async fn delete_session(&self, id: &str) -> Result<()> {
                    sqlx::query(Self::sql("DELETE FROM sessions WHERE id = ?")).bind(id).execute(&self.pool).await.map_err(Self::map_error)?;
                    Ok(())
                }

                async fn insert_api_key(&self, key: &ApiKey, digest: &str) -> Result<()> {
                    sqlx::query(Self::sql("INSERT INTO api_keys (id, user_id, name, created_at, expires_at, public_id) VALUES (?, ?, ?, ?, ?, ?)"))
                        .bind(digest).bind(&key.user_id).bind(&key.name).bind(key.created_at).bind(key.expires_at).bind(&key.public_id)
                        .execute(&self.pool).await.map_err(Self::map_error)?;
                    Ok(())
                }

                async fn api_key_user(&self, digest: &str, now: i64) -> Result<Option<String>> {
                    let row = sqlx::query(Self::sql("SELECT user_id FROM api_keys WHERE id = ? AND revoked_at IS NULL AND expires_at > ?"))
                        .bind(digest).bind(now).fetch_optional(&self.pool).await?;
                    Ok(row.map(|row| row.try_get("user_id")).transpose()?)
                }

                async fn api_keys(&self, user_id: &str) -> Result<Vec<ApiKey>> {
                    let rows = sqlx::query(Self::sql("SELECT public_id, user_id, name, created_at, expires_at, revoked_at FROM api_keys WHERE user_id = ? ORDER BY created_at DESC, public_id"))
                        .bind(user_id).fetch_all(&self.pool).await?;
                    rows.iter()
                        .map(|row| {
                            Ok(ApiKey {
                                public_id: row.try_get("public_id")?,
                                user_id: row.try_get("user_id")?,
                                name: row.try_get("name")?,
                                created_at: row.try_get("created_at")?,
                                expires_at: row.try_get("expires_at")?,
                                revoked_at: row.try_get("revoked_at")?,
                            })
                        })
                        .collect()
                }

                async fn revoke_api_key(&self, user_id: &str, public_id: &str, now: i64) -> Result<bool> {
                    let revoked = sqlx::query(Self::sql("UPDATE api_keys SET revoked_at = ? WHERE user_id = ? AND public_id = ? AND revoked_at IS NULL"))
                        .bind(now).bind(user_id).bind(public_id).execute(&self.pool).await.map_err(Self::map_error)?;
                    Ok(revoked.rows_affected() == 1)
                }

                async fn append_audit(&self, entry: &AuditEntry, key: &dyn crypto::CryptoProvider) -> Result<i64> {
                    let mut tx = self.begin_write().await?;
                    let seq = Self::append_in(&mut tx, entry, key).await?;
                    tx.commit().await.map_err(Self::map_error)?;
                    Ok(seq)
                }

                async fn audit_base(&self) -> Result<(i64, String)> {
                    let row = sqlx::query("SELECT base_seq, base_mac FROM audit_head WHERE id = 1").fetch_one(&self.pool).await?;
                    Ok((row.try_get("base_seq")?, row.try_get("base_mac")?))
                }

                async fn purge_audit(&self, before: i64, entry: &AuditEntry, key: &dyn crypto::CryptoProvider) -> Result<i64> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1").execute(&mut *tx).await.map_err(Self::map_error)?;
                    let last = sqlx::query(Self::sql("SELECT seq, mac FROM audit_log WHERE at < ? ORDER BY seq DESC LIMIT 1"))
                        .bind(before).fetch_optional(&mut *tx).await?;
                    let Some(last) = last else { return Ok(0) };
                    let (through, mac): (i64, String) = (last.try_get("seq")?, last.try_get("mac")?);
                    let removed = sqlx::query(Self::sql("DELETE FROM audit_log WHERE seq <= ?")).bind(through).execute(&mut *tx).await?.rows_affected();
                    sqlx::query(Self::sql("UPDATE audit_head SET base_seq = ?, base_mac = ? WHERE id = 1")).bind(through).bind(&mac).execute(&mut *tx).await?;
                    let mut purge = entry.clone();
                    purge.detail = Some(purge_detail(through, &mac));
                    Self::append_in(&mut tx, &purge, key).await?;
                    tx.commit().await.map_err(Self::map_error)?;
                    Ok(removed as i64)
                }

                async fn audit_rows(&self, after: i64, limit: i64) -> Result<Vec<AuditRow>> {
                    let rows = sqlx::query(Self::sql("SELECT seq, at, user_id, source_ip, action, target, result, detail, prev_mac, mac FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?"))
                        .bind(after).bind(limit).fetch_all(&self.pool).await?;
                    rows.iter().map(audit_row_from).collect()
                }

                async fn audit_search(&self, query: &AuditQuery) -> Result<(Vec<AuditRow>, i64)> {
                    let filter = query.filter();
                    let where_ = filter.sql();
                    let statement = format!("SELECT seq, at, user_id, source_ip, action, target, result, detail, prev_mac, mac FROM audit_log{where_} ORDER BY seq DESC{}", crate::backend::limit(&query.page));
                    let mut select = sqlx::query(Self::dynamic(statement));
                    for param in &filter.params {
                        select = bind(select, param);
                    }
                    let rows = select.fetch_all(&self.pool).await?.iter().map(audit_row_from).collect::<Result<Vec<_>>>()?;
                    let mut count = sqlx::query(Self::dynamic(format!("SELECT COUNT(*) AS n FROM audit_log{where_}")));
                    for param in &filter.params {
                        count = bind(count, param);
                    }
                    let total: i64 = count.fetch_one(&self.pool).await?.try_get("n")?;
                    Ok((rows, total))
                }

                async fn audit_head(&self) -> Result<(i64, String)> {
                    let row = sqlx::query("SELECT seq, mac FROM audit_head WHERE id = 1").fetch_one(&self.pool).await?;
                    Ok((row.try_get("seq")?, row.try_get("mac")?))
                }

                async fn rate_limit_hit(&self, key: &str, now: i64, window_millis: i64, max: i64) -> Result<bool> {
                    let mut tx = self.begin_write().await?;
                    // Start a new window when the old one is over, otherwise count the hit.
                    sqlx::query(Self::sql("INSERT INTO rate_limits (key, window_start, count) VALUES (?, ?, 0) ON CONFLICT (key) DO UPDATE SET window_start = CASE WHEN rate_limits.window_start <= ? THEN excluded.window_start ELSE rate_limits.window_start END, count = CASE WHEN rate_limits.window_start <= ? THEN 0 ELSE rate_limits.count END"))
                        .bind(key).bind(now).bind(now - window_millis).bind(now - window_millis).execute(&mut *tx).await.map_err(Self::map_error)?;
                    sqlx::query(Self::sql("UPDATE rate_limits SET count = count + 1 WHERE key = ?")).bind(key).execute(&mut *tx).await?;
                    let count: i64 = sqlx::query(Self::sql("SELECT count FROM rate_limits WHERE key = ?")).bind(key).fetch_one(&mut *tx).await?.try_get("count")?;
                    tx.commit().await.map_err(Self::map_error)?;
                    Ok(count <= max)
                }

                async fn insert_sms_code(&self, id: &str, phone: &str, purpose: &str, code_hash: &str, now: i64, expires_at: i64) -> Result<()> {
                    sqlx::query(Self::sql("INSERT INTO sms_codes (id, phone, purpose, code_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)"))
                        .bind(id).bind(phone).bind(purpose).bind(code_hash).bind(now).bind(expires_at).execute(&self.pool).await.map_err(Self::map_error)?;
                    Ok(())
                }

                async fn sms_code(&self, phone: &str, purpose: &str, now: i64) -> Result<Option<(String, String, i64)>> {
                    let row = sqlx::query(Self::sql("SELECT id, code_hash, attempts FROM sms_codes WHERE phone = ? AND purpose = ? AND used_at IS NULL AND expires_at > ? ORDER BY created_at DESC, id DESC LIMIT 1"))
                        .bind(phone).bind(purpose).bind(now).fetch_optional(&self.pool).await?;
                    match row {
                        None => Ok(None),
                        Some(row) => Ok(Some((row.try_get("id")?, row.try_get("code_hash")?, row.try_get("attempts")?))),
                    }
                }

                async fn use_sms_code(&self, id: &str, now: i64, used: bool) -> Result<bool> {
                    let result = if used {
                        sqlx::query(Self::sql("UPDATE sms_codes SET attempts = attempts + 1, used_at = ? WHERE id = ? AND used_at IS NULL"))
                            .bind(now).bind(id).execute(&self.pool).await
                    } else {
                        sqlx::query(Self::sql("UPDATE sms_codes SET attempts = attempts + 1 WHERE id = ? AND used_at IS NULL"))
                            .bind(id).execute(&self.pool).await
                    }
                    .map_err(Self::map_error)?;
                    Ok(result.rows_affected() == 1)
                }

                async fn sms_outbox_push(&self, phone: &str, message: &str, dedup_key: Option<&str>, now: i64) -> Result<bool> {
                    let done = sqlx::query(Self::sql("INSERT INTO sms_outbox (id, phone, message, dedup_key, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (dedup_key) DO NOTHING"))
                        .bind(crate::new_id()).bind(phone).bind(message).bind(dedup_key).bind(now).execute(&self.pool).await.map_err(Self::map_error)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn sms_outbox(&self, phone: &str) -> Result<Vec<String>> {
                    let rows = sqlx::query(Self::sql("SELECT message FROM sms_outbox WHERE phone = ? ORDER BY created_at, id")).bind(phone).fetch_all(&self.pool).await?;
                    rows.iter().map(|row| row.try_get("message").map_err(Error::from)).collect()
                }

                async fn push_message(&self, message: &NewMessage) -> Result<bool> {
                    let done = sqlx::query(Self::sql(INSERT_MESSAGE))
                        .bind(crate::new_id())
                        .bind(&message.account_id)
                        .bind(&message.title)
                        .bind(&message.body)
                        .bind(&message.link)
                        .bind(&message.dedup_key)
                        .bind(message.created_at)
                        .execute(&self.pool)
                        .await
                        .map_err(Self::map_error)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn messages(&self, account: &str, unread_only: bool, offset: i64, limit: i64) -> Result<MessagePage> {
                    let unread_clause = if unread_only { " AND read_at IS NULL" } else { "" };
                    let select = format!("SELECT id, title, body, link, created_at, read_at FROM messages WHERE account_id = ?{unread_clause} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?");
                    let rows = sqlx::query(Self::dynamic(select))
                        .bind(account)
                        .bind(limit.clamp(0, 200))
                        .bind(offset.max(0))
                        .fetch_all(&self.pool)
                        .await?;
                    let items = rows
                        .iter()
                        .map(|row| {
                            Ok(Message {
                                id: row.try_get("id")?,
                                title: row.try_get("title")?,
                                body: row.try_get("body")?,
                                link: row.try_get("link")?,
                                created_at: row.try_get("created_at")?,
                                read_at: row.try_get("read_at")?,
                            })
                        })
                        .collect::<Result<Vec<_>>>()?;
                    let counts = sqlx::query(Self::sql("SELECT COUNT(*) AS total, COUNT(*) - COUNT(read_at) AS unread FROM messages WHERE account_id = ?"))
                        .bind(account)
                        .fetch_one(&self.pool)
                        .await?;
                    let (total, unread): (i64, i64) = (counts.try_get("total")?, counts.try_get("unread")?);
                    Ok(MessagePage { items, total: if unread_only { unread } else { total }, unread })
                }

                async fn message(&self, account: &str, id: &str) -> Result<Option<Message>> {
                    let row = sqlx::query(Self::sql("SELECT id, title, body, link, created_at, read_at FROM messages WHERE account_id = ? AND id = ?"))
                        .bind(account)
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await?;
                    row.map(|row| {
                        Ok(Message {
                            id: row.try_get("id")?,
                            title: row.try_get("title")?,
                            body: row.try_get("body")?,
                            link: row.try_get("link")?,
                            created_at: row.try_get("created_at")?,
                            read_at: row.try_get("read_at")?,
                        })
                    })
                    .transpose()
                }

                async fn unread_messages(&self, account: &str) -> Result<i64> {
                    let row = sqlx::query(Self::sql("SELECT COUNT(*) AS n FROM messages WHERE account_id = ? AND read_at IS NULL"))
                        .bind(account)
                        .fetch_one(&self.pool)
                        .await?;
                    Ok(row.try_get("n")?)
                }

                async fn mark_messages_read(&self, account: &str, id: Option<&str>, now: i64) -> Result<u64> {
                    let done = match id {
                        Some(id) => sqlx::query(Self::sql("UPDATE messages SET read_at = ? WHERE account_id = ? AND id = ? AND read_at IS NULL"))
                            .bind(now).bind(account).bind(id).execute(&self.pool).await,
                        None => sqlx::query(Self::sql("UPDATE messages SET read_at = ? WHERE account_id = ? AND read_at IS NULL"))
                            .bind(now).bind(account).execute(&self.pool).await,
                    }
                    .map_err(Self::map_error)?;
                    Ok(done.rows_affected())
                }

                async fn sms_outbox_recent(&self, phone: &str, limit: i64) -> Result<Vec<(String, i64)>> {
                    let rows = sqlx::query(Self::sql("SELECT message, created_at FROM sms_outbox WHERE phone = ? ORDER BY created_at DESC, id DESC LIMIT ?"))
                        .bind(phone)
                        .bind(limit.clamp(0, 100))
                        .fetch_all(&self.pool)
                        .await?;
                    rows.iter().map(|row| Ok((row.try_get("message")?, row.try_get("created_at")?))).collect()
                }
            }
        };
    };
}

pub(crate) use identity_impl;
