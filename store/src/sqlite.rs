//! The SQLite backend: the default, embedded in the binary. WAL mode so readers never wait for
//! the writer; writers queue on SQLite's lock with a busy timeout.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, Pool, SqlSafeStr, SqlStr, Sqlite};

use crate::backend::store_impl;
use crate::{Error, Result, migrate};

pub(crate) struct SqliteStore {
    pool: Pool<Sqlite>,
}

impl SqliteStore {
    pub(crate) async fn connect(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|error| Error::Invalid(format!("invalid SQLite URL '{url}': {error}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new().max_connections(8).min_connections(1).connect_with(options).await?;
        let store = SqliteStore { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<()> {
        let mut connection = self.pool.acquire().await?;
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
                    .bind(crate::executor::now_millis())
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

    fn map_store_error(error: Error) -> Error {
        match error {
            Error::Database(inner) => Self::map_error(inner),
            other => other,
        }
    }
}

store_impl!(SqliteStore, Sqlite, "sqlite");
