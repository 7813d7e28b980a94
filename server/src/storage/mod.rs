//! Storage, the way atuin does both backends: one trait, a SQLite and a PostgreSQL implementation with runtime
//! queries, one migrations folder per backend embedded in the binary and run at start, a transaction around every
//! multi-statement write. `tests/storage.rs` runs one conformance suite against both.

mod identity;
mod postgres;
mod recent_sessions;
pub mod releases;
mod sqlite;

use crate::config::DatabaseConfig;
use app::dto::{AuditEvent, AuditRecord};
use std::sync::Arc;
use time::OffsetDateTime;

pub use identity::{ApiTokenRow, AuditQuery, DatabaseSessionStore};
pub use postgres::PostgresStore;
pub use releases::{
    ApprovalRow, AwsCallRow, Commit, CommitOutcome, DeploymentQuery, DeploymentRow, ReleaseRow,
    ReleaseStore, StepRow,
};
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
pub trait Storage: ReleaseStore + Send + Sync + 'static {
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

    /// Sessions in this database.
    fn session_store(&self) -> DatabaseSessionStore;

    /// Seals `record` onto the end of the audit chain, in its own transaction.
    async fn append_audit(&self, record: &AuditRecord) -> Result<AuditEvent, StorageError>;
    /// Newest first: up to `limit` events with `seq < before`, matching `query`.
    async fn audit_page(
        &self,
        query: &AuditQuery,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StorageError>;
    /// Oldest first: up to `limit` events with `seq > after` (for the verifier and the export).
    async fn audit_chain(&self, after: i64, limit: u32) -> Result<Vec<AuditEvent>, StorageError>;

    /// Stores a new token and its audit event in one transaction.
    async fn insert_api_token(
        &self,
        token: &ApiTokenRow,
        audit: &AuditRecord,
    ) -> Result<(), StorageError>;
    /// Marks the token revoked and records the audit event in one transaction; `None` when no token has that id.
    async fn revoke_api_token(
        &self,
        id: &str,
        by: &str,
        at: OffsetDateTime,
        audit: &AuditRecord,
    ) -> Result<Option<ApiTokenRow>, StorageError>;
    /// Newest first.
    async fn api_tokens(&self) -> Result<Vec<ApiTokenRow>, StorageError>;
    async fn api_token_by_secret_hash(
        &self,
        secret_hash: &str,
    ) -> Result<Option<ApiTokenRow>, StorageError>;
    /// Records a use; skipped when the last one is under a minute old, so CI polling does not write per request.
    async fn touch_api_token(&self, id: &str, at: OffsetDateTime) -> Result<(), StorageError>;

    /// Stores a restore drill and its audit event in one transaction; returns its id.
    async fn insert_drill(
        &self,
        drill: &DrillRow,
        audit: &AuditRecord,
    ) -> Result<i64, StorageError>;
    /// An environment's drills, newest performed first.
    async fn drills(&self, environment: &str, limit: u32) -> Result<Vec<DrillRow>, StorageError>;
}

/// A restore drill as recorded; `id` is assigned on insert.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DrillRow {
    pub id: i64,
    pub environment: String,
    pub performed_at: OffsetDateTime,
    pub performed_by: String,
    pub snapshot: String,
    pub duration_minutes: i32,
    pub passed: bool,
    pub notes: String,
    pub recorded_by: String,
    pub recorded_at: OffsetDateTime,
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
    ($store:ty, $backend:expr, $db:ty) => {
        impl $store {
            /// Appends inside `tx`, which holds the chain lock (see `begin_chain`), so the event commits or rolls
            /// back with the change it describes.
            async fn append_audit_in(
                tx: &mut sqlx::Transaction<'static, $db>,
                record: &app::dto::AuditRecord,
            ) -> Result<app::dto::AuditEvent, $crate::storage::StorageError> {
                let last: Option<(i64, String, String)> = sqlx::query_as(
                    "SELECT seq, hash, occurred_at FROM audit_events ORDER BY seq DESC LIMIT 1",
                )
                .fetch_optional(&mut **tx)
                .await?;
                // The chain's times never go backwards: a replica whose clock is behind the last event's writer
                // stamps the last event's time. So a time range is a range of seq (see `audit_page`).
                let now = time::OffsetDateTime::now_utc();
                let at = last
                    .as_ref()
                    .and_then(|(_, _, at)| $crate::audit::chain::parse_time(at))
                    .map_or(now, |last_at| last_at.max(now));
                let last = last.map(|(seq, hash, _)| (seq, hash));
                let event = $crate::audit::chain::seal(record.clone(), last, at);
                sqlx::query(
                    "INSERT INTO audit_events (seq, occurred_at, actor, actor_kind, authority, action, target,
                     environment, parameters, outcome, reason, request_id, client_addr, prev_hash, hash)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
                )
                .bind(event.seq)
                .bind(&event.occurred_at)
                .bind(&event.record.actor)
                .bind(&event.record.actor_kind)
                .bind(&event.record.authority)
                .bind(&event.record.action)
                .bind(&event.record.target)
                .bind(&event.record.environment)
                .bind(&event.record.parameters)
                .bind(event.record.outcome.as_str())
                .bind(&event.record.reason)
                .bind(&event.record.request_id)
                .bind(&event.record.client_addr)
                .bind(&event.prev_hash)
                .bind(&event.hash)
                .execute(&mut **tx)
                .await?;
                Ok(event)
            }
        }

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

            fn session_store(&self) -> $crate::storage::DatabaseSessionStore {
                self.sessions.clone()
            }

            #[tracing::instrument(skip_all, fields(action = %record.action))]
            async fn append_audit(
                &self,
                record: &app::dto::AuditRecord,
            ) -> Result<app::dto::AuditEvent, $crate::storage::StorageError> {
                let mut tx = self.begin_chain().await?;
                let event = Self::append_audit_in(&mut tx, record).await?;
                tx.commit().await?;
                Ok(event)
            }

            async fn audit_page(
                &self,
                query: &$crate::storage::AuditQuery,
                before: Option<i64>,
                limit: u32,
            ) -> Result<Vec<app::dto::AuditEvent>, $crate::storage::StorageError> {
                // Times only grow with seq (see `append_audit_in`), so the time range becomes a seq range, each
                // end one probe of the time index; the query then reads only that stretch of the chain instead
                // of walking it from the newest event. The time conditions stay, so the answer is exact anyway.
                let first_at_or_after = |at: String| async move {
                    sqlx::query_scalar::<_, i64>(
                        "SELECT seq FROM audit_events WHERE occurred_at >= $1 ORDER BY occurred_at, seq LIMIT 1",
                    )
                    .bind(at)
                    .fetch_optional(&self.pool)
                    .await
                };
                let from_seq = match &query.from {
                    Some(from) => match first_at_or_after(from.clone()).await? {
                        Some(seq) => Some(seq),
                        None => return Ok(Vec::new()),
                    },
                    None => None,
                };
                let before = match &query.until {
                    Some(until) => match first_at_or_after(until.clone()).await? {
                        Some(seq) => Some(before.map_or(seq, |b| b.min(seq))),
                        None => before,
                    },
                    None => before,
                };
                // Only the filters present become conditions: a `$n IS NULL OR …` form would leave the plan to
                // the bound values, which SQLite's planner cannot use (no index for an optional column) and
                // PostgreSQL's generic plan, once cached, turns into a full scan.
                let mut sql = sqlx::QueryBuilder::<$db>::new("SELECT * FROM audit_events WHERE TRUE");
                if let Some(actor) = &query.actor {
                    sql.push(" AND actor = ").push_bind(actor.clone());
                }
                if let Some(action) = &query.action {
                    sql.push(" AND (action = ").push_bind(action.clone());
                    sql.push(" OR action LIKE ").push_bind(format!("{action}.%")).push(")");
                }
                if let Some(environment) = &query.environment {
                    sql.push(" AND environment = ").push_bind(environment.clone());
                }
                if let Some(target) = &query.target {
                    sql.push(" AND target = ").push_bind(target.clone());
                }
                if let Some(from) = &query.from {
                    sql.push(" AND occurred_at >= ").push_bind(from.clone());
                }
                if let Some(until) = &query.until {
                    sql.push(" AND occurred_at < ").push_bind(until.clone());
                }
                if let Some(from_seq) = from_seq {
                    sql.push(" AND seq >= ").push_bind(from_seq);
                }
                if let Some(before) = before {
                    sql.push(" AND seq < ").push_bind(before);
                }
                sql.push(" ORDER BY seq DESC LIMIT ").push_bind(i64::from(limit));
                let rows: Vec<$crate::storage::identity::AuditRow> =
                    sql.build_query_as().fetch_all(&self.pool).await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn audit_chain(
                &self,
                after: i64,
                limit: u32,
            ) -> Result<Vec<app::dto::AuditEvent>, $crate::storage::StorageError> {
                let rows: Vec<$crate::storage::identity::AuditRow> =
                    sqlx::query_as("SELECT * FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2")
                        .bind(after)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn insert_api_token(
                &self,
                token: &$crate::storage::ApiTokenRow,
                audit: &app::dto::AuditRecord,
            ) -> Result<(), $crate::storage::StorageError> {
                let mut tx = self.begin_chain().await?;
                sqlx::query(
                    "INSERT INTO api_tokens (id, name, scopes, secret_hash, created_by, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&token.id)
                .bind(&token.name)
                .bind(&token.scopes)
                .bind(&token.secret_hash)
                .bind(&token.created_by)
                .bind(token.created_at)
                .bind(token.expires_at)
                .execute(&mut *tx)
                .await?;
                Self::append_audit_in(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn revoke_api_token(
                &self,
                id: &str,
                by: &str,
                at: time::OffsetDateTime,
                audit: &app::dto::AuditRecord,
            ) -> Result<Option<$crate::storage::ApiTokenRow>, $crate::storage::StorageError> {
                let mut tx = self.begin_chain().await?;
                // Revoking twice keeps the first revocation's time and author.
                sqlx::query(
                    "UPDATE api_tokens SET revoked_at = $2, revoked_by = $3 WHERE id = $1 AND revoked_at IS NULL",
                )
                .bind(id)
                .bind(at)
                .bind(by)
                .execute(&mut *tx)
                .await?;
                let row: Option<$crate::storage::ApiTokenRow> =
                    sqlx::query_as("SELECT * FROM api_tokens WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                if row.is_none() {
                    return Ok(None);
                }
                Self::append_audit_in(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(row)
            }

            async fn api_tokens(&self) -> Result<Vec<$crate::storage::ApiTokenRow>, $crate::storage::StorageError> {
                Ok(sqlx::query_as("SELECT * FROM api_tokens ORDER BY created_at DESC, id")
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn api_token_by_secret_hash(
                &self,
                secret_hash: &str,
            ) -> Result<Option<$crate::storage::ApiTokenRow>, $crate::storage::StorageError> {
                Ok(sqlx::query_as("SELECT * FROM api_tokens WHERE secret_hash = $1")
                    .bind(secret_hash)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn touch_api_token(
                &self,
                id: &str,
                at: time::OffsetDateTime,
            ) -> Result<(), $crate::storage::StorageError> {
                sqlx::query(
                    "UPDATE api_tokens SET last_used_at = $2
                     WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $3)",
                )
                .bind(id)
                .bind(at)
                .bind(at - time::Duration::minutes(1))
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn insert_drill(
                &self,
                drill: &$crate::storage::DrillRow,
                audit: &app::dto::AuditRecord,
            ) -> Result<i64, $crate::storage::StorageError> {
                let mut tx = self.begin_chain().await?;
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO restore_drills (environment, performed_at, performed_by, snapshot, duration_minutes,
                         passed, notes, recorded_by, recorded_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                )
                .bind(&drill.environment)
                .bind(drill.performed_at)
                .bind(&drill.performed_by)
                .bind(&drill.snapshot)
                .bind(drill.duration_minutes)
                .bind(drill.passed)
                .bind(&drill.notes)
                .bind(&drill.recorded_by)
                .bind(drill.recorded_at)
                .fetch_one(&mut *tx)
                .await?;
                Self::append_audit_in(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(id)
            }

            async fn drills(
                &self,
                environment: &str,
                limit: u32,
            ) -> Result<Vec<$crate::storage::DrillRow>, $crate::storage::StorageError> {
                Ok(sqlx::query_as(
                    "SELECT id, environment, performed_at, performed_by, snapshot, duration_minutes, passed, notes,
                         recorded_by, recorded_at
                     FROM restore_drills WHERE environment = $1 ORDER BY performed_at DESC, id DESC LIMIT $2",
                )
                .bind(environment)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?)
            }
        }
    };
}
pub(crate) use storage_impl;

/// The browser gets a reference to the log line, never the database's message.
impl From<StorageError> for app::error::AppError {
    fn from(error: StorageError) -> Self {
        let reference = crate::identity::tokens::short_reference();
        tracing::error!(%reference, %error, "storage error");
        app::error::AppError::Internal { reference }
    }
}
