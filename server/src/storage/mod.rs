//! Storage, the way atuin does both backends: one trait, a SQLite and a PostgreSQL implementation with runtime
//! queries, one migrations folder per backend embedded in the binary and run at start, a transaction around every
//! multi-statement write. `tests/storage.rs` runs one conformance suite against both.

mod postgres;
mod sqlite;

use crate::config::DatabaseConfig;
use std::sync::Arc;
use time::OffsetDateTime;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot connect to the database at {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("cannot prepare the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
    #[error("stored data could not be read: {0}")]
    Corrupt(String),
}

/// Whether the schema this binary expects is in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaStatus {
    pub applied: i64,
    pub expected: i64,
}

impl SchemaStatus {
    pub fn is_current(&self) -> bool {
        self.applied >= self.expected
    }
}

/// The collector's last reading of one environment; `payload` is the serialised service list.
#[derive(Debug, Clone, PartialEq)]
pub struct TopologySnapshot {
    pub environment: String,
    pub observed_at: OffsetDateTime,
    pub payload: String,
}

/// One difference between two readings.
#[derive(Debug, Clone, PartialEq)]
pub struct TopologyChange {
    pub environment: String,
    pub service: String,
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub observed_at: OffsetDateTime,
}

#[async_trait::async_trait]
pub trait Storage: Send + Sync + 'static {
    fn backend(&self) -> Backend;
    /// One round trip; `/readyz` uses it.
    async fn ping(&self) -> Result<(), StorageError>;
    async fn schema_status(&self) -> Result<SchemaStatus, StorageError>;
    /// Replaces the environment's snapshot and appends the changes seen, in one transaction.
    async fn record_topology(
        &self,
        snapshot: &TopologySnapshot,
        changes: &[TopologyChange],
    ) -> Result<(), StorageError>;
    async fn latest_topology(
        &self,
        environment: &str,
    ) -> Result<Option<TopologySnapshot>, StorageError>;
    /// Newest first.
    async fn topology_changes(
        &self,
        environment: &str,
        limit: u32,
    ) -> Result<Vec<TopologyChange>, StorageError>;
}

pub type SharedStorage = Arc<dyn Storage>;

/// Connects to the configured database and brings its schema up to date. A failed migration is an error: the
/// console does not start on a schema it does not understand.
pub async fn connect(config: &DatabaseConfig) -> Result<SharedStorage, StorageError> {
    if config.url.is_postgres() {
        Ok(Arc::new(PostgresStore::connect(config).await?))
    } else {
        Ok(Arc::new(SqliteStore::connect(config).await?))
    }
}

#[derive(sqlx::FromRow)]
struct SnapshotRow {
    environment: String,
    observed_at: OffsetDateTime,
    payload: String,
}

impl From<SnapshotRow> for TopologySnapshot {
    fn from(row: SnapshotRow) -> Self {
        TopologySnapshot {
            environment: row.environment,
            observed_at: row.observed_at,
            payload: row.payload,
        }
    }
}

#[derive(sqlx::FromRow)]
struct ChangeRow {
    environment: String,
    service: String,
    field: String,
    before: Option<String>,
    after: Option<String>,
    observed_at: OffsetDateTime,
}

impl From<ChangeRow> for TopologyChange {
    fn from(row: ChangeRow) -> Self {
        TopologyChange {
            environment: row.environment,
            service: row.service,
            field: row.field,
            before: row.before,
            after: row.after,
            observed_at: row.observed_at,
        }
    }
}

/// The queries, written once: both backends accept `$N` placeholders, `ON CONFLICT … DO UPDATE` and `LIMIT $N`,
/// so one body serves SQLite and PostgreSQL. Each backend module provides its pool field and `MIGRATOR`.
macro_rules! storage_impl {
    ($store:ty, $backend:expr) => {
        #[async_trait::async_trait]
        impl $crate::storage::Storage for $store {
            fn backend(&self) -> $crate::storage::Backend {
                $backend
            }

            async fn ping(&self) -> Result<(), $crate::storage::StorageError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn schema_status(&self) -> Result<$crate::storage::SchemaStatus, $crate::storage::StorageError> {
                let applied: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
                        .fetch_one(&self.pool)
                        .await?;
                Ok($crate::storage::SchemaStatus {
                    applied,
                    expected: MIGRATOR.iter().count() as i64,
                })
            }

            #[tracing::instrument(skip_all, fields(environment = %snapshot.environment, changes = changes.len()))]
            async fn record_topology(
                &self,
                snapshot: &$crate::storage::TopologySnapshot,
                changes: &[$crate::storage::TopologyChange],
            ) -> Result<(), $crate::storage::StorageError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    "INSERT INTO topology_snapshots (environment, observed_at, payload) VALUES ($1, $2, $3)
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
                         VALUES ($1, $2, $3, $4, $5, $6)",
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
            ) -> Result<Option<$crate::storage::TopologySnapshot>, $crate::storage::StorageError> {
                let row: Option<$crate::storage::SnapshotRow> =
                    sqlx::query_as("SELECT environment, observed_at, payload FROM topology_snapshots WHERE environment = $1")
                        .bind(environment)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(Into::into))
            }

            async fn topology_changes(
                &self,
                environment: &str,
                limit: u32,
            ) -> Result<Vec<$crate::storage::TopologyChange>, $crate::storage::StorageError> {
                let rows: Vec<$crate::storage::ChangeRow> = sqlx::query_as(
                    "SELECT environment, service, field, before, after, observed_at FROM topology_changes
                     WHERE environment = $1 ORDER BY id DESC LIMIT $2",
                )
                .bind(environment)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }
        }
    };
}
pub(crate) use storage_impl;
