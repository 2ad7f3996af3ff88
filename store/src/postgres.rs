//! The PostgreSQL backend, for production and for several nodes sharing one database.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, Pool, Postgres, SqlSafeStr, SqlStr};

use crate::backend::{Batch, Param, bind_fn, numbered_placeholders, store_impl};
use crate::jobs::jobs_impl;
use crate::{Error, Result, migrate};

pub(crate) struct PostgresStore {
    pool: Pool<Postgres>,
}

/// Any fixed number: the advisory lock that serialises migrations across nodes.
const MIGRATION_LOCK: i64 = 0x5359_4d49_4752;

impl PostgresStore {
    /// Row locking for job and external-task acquisition (see `jobs.rs`).
    const SKIP_LOCKED: &str = " FOR UPDATE SKIP LOCKED";

    pub(crate) async fn connect(url: &str) -> Result<Self> {
        let options: PgConnectOptions =
            url.parse().map_err(|error| Error::Invalid(format!("invalid PostgreSQL URL: {error}")))?;
        let pool = PgPoolOptions::new().max_connections(16).connect_with(options).await?;
        let store = PostgresStore { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<()> {
        let mut connection = self.pool.acquire().await?;
        sqlx::query("SELECT pg_advisory_lock($1)").bind(MIGRATION_LOCK).execute(&mut *connection).await?;
        let result = async {
            sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)")
                .execute(&mut *connection)
                .await?;
            for (version, name, sql) in migrate::POSTGRES {
                let applied = sqlx::query("SELECT version FROM schema_migrations WHERE version = $1")
                    .bind(version)
                    .fetch_optional(&mut *connection)
                    .await?;
                if applied.is_some() {
                    continue;
                }
                let mut transaction = sqlx::Connection::begin(&mut *connection).await?;
                for statement in migrate::statements(sql) {
                    sqlx::query(statement).execute(&mut *transaction).await?;
                }
                sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
                    .bind(version)
                    .bind(name)
                    .bind(crate::now_millis())
                    .execute(&mut *transaction)
                    .await?;
                transaction.commit().await?;
            }
            Ok::<(), sqlx::Error>(())
        }
        .await;
        sqlx::query("SELECT pg_advisory_unlock($1)").bind(MIGRATION_LOCK).execute(&mut *connection).await?;
        result.map_err(Error::from)
    }

    /// PostgreSQL prepares one statement per call, so a batch is sent statement by statement.
    /// Runs the statements in order; false (stop, the caller drops the transaction) when a
    /// guarded one changed no row.
    async fn execute_batch(tx: &mut sqlx::Transaction<'_, Postgres>, batch: Batch) -> Result<bool> {
        for (index, (statement, params)) in batch.statements.into_iter().enumerate() {
            let mut query = sqlx::query(Self::dynamic(statement));
            for param in &params {
                query = bind(query, param);
            }
            let changed = query.execute(&mut **tx).await?.rows_affected();
            if changed == 0 && batch.guarded.contains(&index) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(Self::map_error)
    }

    /// Commits a command: the version-checked UPDATE first (its row lock serialises racing
    /// commands); only when it matched its row does the rest follow. Returns false otherwise.
    async fn commit_batch(&self, guarded: Option<(String, Vec<Param>)>, rest: Batch) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        if let Some((statement, params)) = guarded {
            let mut query = sqlx::query(Self::dynamic(statement));
            for param in &params {
                query = bind(query, param);
            }
            if query.execute(&mut *tx).await.map_err(Self::map_error)?.rows_affected() != 1 {
                return Ok(false);
            }
        }
        if !Self::execute_batch(&mut tx, rest).await.map_err(Self::map_store_error)? {
            return Ok(false);
        }
        tx.commit().await.map_err(Self::map_error)?;
        Ok(true)
    }

    /// A form list whose filters match fewer records than this is sorted from its matches
    /// (found by the filter indexes), not by walking the sort key's index until a page of
    /// matches turns up: PostgreSQL's planner assumes the matches are spread evenly along the
    /// sort order, and when they are not (a district's records among those with the most
    /// 执业年限) the walk reads a large part of the table for 20 rows (`docs/benchmarks.md`).
    pub(crate) const SORT_MATCHES_BELOW: i64 = 50_000;

    fn sql(statement: &'static str) -> SqlStr {
        AssertSqlSafe(numbered_placeholders(statement).into_owned()).into_sql_str()
    }

    /// A statement this crate assembled from its own fragments; every value in it is bound.
    fn dynamic(statement: String) -> SqlStr {
        AssertSqlSafe(numbered_placeholders(&statement).into_owned()).into_sql_str()
    }

    /// Serialization failures and deadlocks are lost races, reported as conflicts.
    fn map_error(error: sqlx::Error) -> Error {
        if let sqlx::Error::Database(database) = &error
            && matches!(database.code().as_deref(), Some("40001" | "40P01"))
        {
            return Error::Conflict("a concurrent change won; try again".into());
        }
        Error::Database(error)
    }

    fn map_store_error(error: Error) -> Error {
        match error {
            Error::Database(inner) => Self::map_error(inner),
            other => other,
        }
    }
}

store_impl!(PostgresStore, Postgres, "postgres");
jobs_impl!(PostgresStore, Postgres);
crate::identity::identity_impl!(PostgresStore, Postgres);
crate::approval::approval_impl!(PostgresStore, Postgres);
crate::forms::forms_impl!(PostgresStore, Postgres);
crate::bookings::bookings_impl!(PostgresStore, Postgres);

bind_fn!(Postgres, sqlx::postgres::PgArguments);
