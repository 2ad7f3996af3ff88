//! The SQLite backend: the default, embedded in the binary. WAL mode so readers never wait for
//! the writer; writers queue on SQLite's lock with a busy timeout.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, Pool, SqlSafeStr, SqlStr, Sqlite};

use crate::backend::{Batch, Param, bind_fn, store_impl};
use crate::jobs::jobs_impl;
use crate::{Error, Result, migrate};

pub(crate) struct SqliteStore {
    /// Readers. Few: every commit makes each other connection drop its page cache, so more
    /// connections mean more cold reads, not more throughput (measured: 2 beat 1, 3 and 8).
    pool: Pool<Sqlite>,
    /// The one writing connection. SQLite has one writer at a time anyway; queueing this
    /// process's writers here, instead of letting them collide on the file lock, avoids SQLite's
    /// busy handler (which sleeps for milliseconds between retries) and keeps the writer's page
    /// cache warm. Other processes on the same file still wait on the lock.
    writer: Pool<Sqlite>,
}

impl SqliteStore {
    /// Row locking for job and external-task acquisition (see `jobs.rs`).
    const SKIP_LOCKED: &str = "";

    pub(crate) async fn connect(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|error| Error::Invalid(format!("invalid SQLite URL '{url}': {error}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // A larger page cache (16 MB per connection). No mmap: with WAL most hot pages are
            // read from the log anyway, and remapping a growing file cost more than it saved.
            .pragma("cache_size", "-16000")
            // `…Like` filters match case as PostgreSQL's LIKE does.
            .pragma("case_sensitive_like", "ON")
            .pragma("temp_store", "memory");
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .min_connections(1)
            // A local file cannot drop the connection: skip the ping round trip on every acquire.
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        let writer =
            SqlitePoolOptions::new().max_connections(1).test_before_acquire(false).connect_with(options).await?;
        let store = SqliteStore { pool, writer };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<()> {
        let mut connection = self.writer.acquire().await?;
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)")
            .execute(&mut *connection)
            .await?;
        // BEGIN IMMEDIATE takes the write lock first, so two processes starting at once
        // apply each migration exactly once.
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *connection).await?;
        let result = async {
            for (version, name, sql) in migrate::SQLITE {
                let applied = sqlx::query("SELECT version FROM schema_migrations WHERE version = ?")
                    .bind(version)
                    .fetch_optional(&mut *connection)
                    .await?;
                if applied.is_some() {
                    continue;
                }
                for statement in migrate::statements(sql) {
                    sqlx::query(statement).execute(&mut *connection).await?;
                }
                sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)")
                    .bind(version)
                    .bind(name)
                    .bind(crate::now_millis())
                    .execute(&mut *connection)
                    .await?;
            }
            Ok::<(), sqlx::Error>(())
        }
        .await;
        match result {
            Ok(()) => sqlx::query("COMMIT").execute(&mut *connection).await?,
            Err(error) => {
                sqlx::query("ROLLBACK").execute(&mut *connection).await?;
                return Err(error.into());
            }
        };
        Ok(())
    }

    /// `BEGIN IMMEDIATE`: take the write lock at once, so a second process on the same file
    /// waits at the start instead of failing on a stale snapshot later.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Sqlite>> {
        self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(Self::map_error)
    }

    /// Commits a command in one round trip: `BEGIN IMMEDIATE`, the version-checked UPDATE, the
    /// batch and `COMMIT` travel as one `;`-separated script to the writer connection. The
    /// UPDATE's `changes()` goes into `version_guard`, whose CHECK fails when it matched no row;
    /// `INSERT OR ROLLBACK` then rolls the whole transaction back. Returns false in that case.
    async fn commit_batch(&self, guarded: Option<(String, Vec<Param>)>, rest: Batch) -> Result<bool> {
        let mut batch = Batch::default();
        batch.push("BEGIN IMMEDIATE".into(), Vec::new());
        if let Some((statement, params)) = guarded {
            batch.push_guarded(statement, params);
        }
        let offset = batch.statements.len();
        batch.guarded.extend(rest.guarded.iter().map(|index| index + offset));
        batch.statements.extend(rest.statements);
        batch.push("COMMIT".into(), Vec::new());
        let mut connection = self.writer.acquire().await.map_err(Self::map_error)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (text, params) = script(&batch);
            let mut query = sqlx::query(AssertSqlSafe(text));
            for param in &params {
                query = bind(query, param);
            }
            match query.execute(&mut *connection).await {
                Ok(_) => return Ok(true),
                Err(sqlx::Error::Database(error)) if error.message().contains("CHECK constraint failed") => {
                    return Ok(false);
                }
                // A transaction left open by an earlier failure whose caller went away: close it
                // and try once more.
                Err(sqlx::Error::Database(error))
                    if attempt == 1 && error.message().contains("within a transaction") =>
                {
                    sqlx::query("ROLLBACK").execute(&mut *connection).await.map_err(Self::map_error)?;
                }
                Err(error) => {
                    let _ = sqlx::query("ROLLBACK").execute(&mut *connection).await;
                    return Err(Self::map_error(error));
                }
            }
        }
    }

    /// See `PostgresStore::SORT_MATCHES_BELOW`. SQLite's planner chooses well with its
    /// statistics and the covering list index (migration 0017), so lists keep its plan.
    pub(crate) const SORT_MATCHES_BELOW: i64 = 0;

    fn sql(statement: &'static str) -> SqlStr {
        statement.into_sql_str()
    }

    /// A statement this crate assembled from its own fragments; every value in it is bound.
    fn dynamic(statement: String) -> SqlStr {
        AssertSqlSafe(statement).into_sql_str()
    }

    /// SQLITE_BUSY / SQLITE_LOCKED after the busy timeout: another writer held the lock too long.
    fn map_error(error: sqlx::Error) -> Error {
        if let sqlx::Error::Database(database) = &error {
            let code = database.code();
            let primary = code.as_deref().and_then(|code| code.parse::<i32>().ok()).map(|code| code & 0xff);
            if matches!(primary, Some(5 | 6)) {
                return Error::Conflict("the database is busy; try again".into());
            }
        }
        Error::Database(error)
    }
}

store_impl!(SqliteStore, Sqlite, "sqlite");
jobs_impl!(SqliteStore, Sqlite);
crate::identity::identity_impl!(SqliteStore, Sqlite);
crate::approval::approval_impl!(SqliteStore, Sqlite);
crate::forms::forms_impl!(SqliteStore, Sqlite);
crate::bookings::bookings_impl!(SqliteStore, Sqlite);

bind_fn!(Sqlite, sqlx::sqlite::SqliteArguments);

/// One `;`-separated script of a batch's statements, with their parameters in order.
fn script(batch: &Batch) -> (String, Vec<Param>) {
    let mut text = String::new();
    let mut params = Vec::new();
    for (index, (statement, statement_params)) in batch.statements.iter().enumerate() {
        text.push_str(statement);
        text.push_str(";\n");
        params.extend(statement_params.iter().cloned());
        if batch.guarded.contains(&index) {
            text.push_str(
                "INSERT OR ROLLBACK INTO version_guard (ok) VALUES (changes());\nDELETE FROM version_guard;\n",
            );
        }
    }
    (text, params)
}
