use super::{Backend, StorageError};
use crate::config::DatabaseConfig;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    sessions: super::DatabaseSessionStore,
}

impl SqliteStore {
    #[tracing::instrument(skip_all)]
    pub async fn connect(config: &DatabaseConfig) -> Result<Self, StorageError> {
        let url = config.url.expose();
        let connect_error = |source| StorageError::Connect {
            url: config.url.redacted(),
            source,
        };
        let options = SqliteConnectOptions::from_str(url)
            .map_err(connect_error)?
            .create_if_missing(true)
            // WAL lets readers go on while the collector writes; NORMAL is durable in WAL mode.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        if let Some(parent) = options
            .get_filename()
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|source| StorageError::DataDir {
                path: parent.display().to_string(),
                source,
            })?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(config.pool_size)
            .acquire_timeout(config.pool_timeout)
            // The database is a file in this process: a connection cannot be lost while it waits in the pool,
            // and sqlx pings each one as it goes back. A second ping before each use was a round trip to the
            // connection's thread on every query (a page's session read among them).
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(connect_error)?;
        MIGRATOR.run(&pool).await?;
        let sessions = tower_sessions_sqlx_store::SqliteStore::new(pool.clone());
        sessions.migrate().await?;
        Ok(SqliteStore {
            pool,
            sessions: super::DatabaseSessionStore::sqlite(sessions),
        })
    }

    /// SQLite takes its write lock at BEGIN IMMEDIATE (waiting up to the busy timeout), so two appends cannot
    /// both read the same chain head.
    async fn begin_chain(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StorageError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

super::storage_impl!(SqliteStore, Backend::Sqlite, sqlx::Sqlite);
super::releases::release_store_impl!(SqliteStore, Backend::Sqlite, sqlx::Sqlite);
