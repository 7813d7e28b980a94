//! A fresh PostgreSQL database per test, on the server CI provides at 127.0.0.1:5432. No server is a failure,
//! never a skip: set SIGNALBOX_TEST_POSTGRES_URL to use another one.

use sqlx::postgres::PgPoolOptions;
use sqlx::Executor;
use std::sync::atomic::{AtomicU32, Ordering};

pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub fn admin_url() -> String {
    std::env::var("SIGNALBOX_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_string())
}

/// A database that exists for one test; dropped by `drop_database`.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub async fn create_database() -> TestDatabase {
    let admin = admin_url();
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect(&admin)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is required for the storage tests and is not reachable at {admin}: {e}"
            )
        });
    let name = format!(
        "signalbox_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        time::OffsetDateTime::now_utc().unix_timestamp_nanos() % 1_000_000
    );
    pool.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create test database");
    pool.close().await;
    let mut url = url::Url::parse(&admin).expect("admin url");
    url.set_path(&format!("/{name}"));
    TestDatabase {
        name,
        url: url.to_string(),
    }
}

pub async fn drop_database(database: &TestDatabase) {
    if let Ok(pool) = PgPoolOptions::new()
        .max_connections(1)
        .connect(&admin_url())
        .await
    {
        let _ = pool
            .execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", database.name).as_str())
            .await;
        pool.close().await;
    }
}
