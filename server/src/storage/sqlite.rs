use super::{
    Backend, ChangeRow, SchemaStatus, SnapshotRow, Storage, StorageError, TopologyChange,
    TopologySnapshot,
};
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
            .connect_with(options)
            .await
            .map_err(connect_error)?;
        MIGRATOR.run(&pool).await?;
        Ok(SqliteStore { pool })
    }
}

#[async_trait::async_trait]
impl Storage for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn ping(&self) -> Result<(), StorageError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn schema_status(&self) -> Result<SchemaStatus, StorageError> {
        let applied: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await?;
        Ok(SchemaStatus {
            applied,
            expected: MIGRATOR.iter().count() as i64,
        })
    }

    #[tracing::instrument(skip_all, fields(environment = %snapshot.environment, changes = changes.len()))]
    async fn record_topology(
        &self,
        snapshot: &TopologySnapshot,
        changes: &[TopologyChange],
    ) -> Result<(), StorageError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO topology_snapshots (environment, observed_at, payload) VALUES (?, ?, ?)
             ON CONFLICT (environment) DO UPDATE SET observed_at = excluded.observed_at, payload = excluded.payload",
        )
        .bind(&snapshot.environment)
        .bind(snapshot.observed_at)
        .bind(&snapshot.payload)
        .execute(&mut *tx)
        .await?;
        for change in changes {
            sqlx::query(
                "INSERT INTO topology_changes (environment, service, field, before, after, observed_at)
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(&change.environment)
            .bind(&change.service)
            .bind(&change.field)
            .bind(&change.before)
            .bind(&change.after)
            .bind(change.observed_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn latest_topology(
        &self,
        environment: &str,
    ) -> Result<Option<TopologySnapshot>, StorageError> {
        let row: Option<SnapshotRow> =
            sqlx::query_as("SELECT environment, observed_at, payload FROM topology_snapshots WHERE environment = ?")
                .bind(environment)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(Into::into))
    }

    async fn topology_changes(
        &self,
        environment: &str,
        limit: u32,
    ) -> Result<Vec<TopologyChange>, StorageError> {
        let rows: Vec<ChangeRow> = sqlx::query_as(
            "SELECT environment, service, field, before, after, observed_at FROM topology_changes
             WHERE environment = ? ORDER BY id DESC LIMIT ?",
        )
        .bind(environment)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
