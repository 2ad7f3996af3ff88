//! Test support shared by this crate's conformance suite and the end-to-end tests: a fresh,
//! empty database per test on every backend under test.
//!
//! `SY_TEST_BACKENDS` lists the backends (`sqlite`, `postgres`, comma-separated; default
//! `sqlite`). PostgreSQL tests create a database named `sy_test_…` on the server at
//! `SY_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`).

use sqlx::Connection;

/// The backends the current test run covers.
pub fn backends() -> Vec<String> {
    std::env::var("SY_TEST_BACKENDS")
        .unwrap_or_else(|_| "sqlite".into())
        .split(',')
        .map(|backend| backend.trim().to_string())
        .filter(|backend| !backend.is_empty())
        .collect()
}

/// A URL of a new, empty database on `backend`. SQLite files go under the system temp folder.
pub async fn fresh_database_url(backend: &str) -> String {
    let name = format!("sy_test_{}", uuid::Uuid::new_v4().simple());
    match backend {
        "sqlite" => {
            let directory = std::env::temp_dir().join("shuangyong-tests");
            std::fs::create_dir_all(&directory).expect("temp dir is writable");
            format!("sqlite://{}", directory.join(format!("{name}.db")).display())
        }
        "postgres" => {
            let admin = std::env::var("SY_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
            let mut connection = sqlx::PgConnection::connect(&admin).await.expect("PostgreSQL for tests is reachable");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut connection)
                .await
                .expect("can create a test database");
            let base = admin.rsplit_once('/').map(|(base, _)| base.to_string()).unwrap_or(admin);
            format!("{base}/{name}")
        }
        other => panic!("unknown test backend '{other}' in SY_TEST_BACKENDS"),
    }
}
