//! Row types of the audit trail and API tokens, and the session store over the same database.

use super::recent_sessions::RecentSessions;
use app::dto::{AuditEvent, AuditRecord, Outcome};
use std::sync::Arc;
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};
use tower_sessions::ExpiredDeletion;

#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    seq: i64,
    occurred_at: String,
    actor: String,
    actor_kind: String,
    authority: String,
    action: String,
    target: String,
    environment: Option<String>,
    parameters: String,
    outcome: String,
    reason: String,
    request_id: String,
    client_addr: String,
    prev_hash: String,
    hash: String,
}

impl From<AuditRow> for AuditEvent {
    fn from(row: AuditRow) -> Self {
        AuditEvent {
            seq: row.seq,
            occurred_at: row.occurred_at,
            record: AuditRecord {
                actor: row.actor,
                actor_kind: row.actor_kind,
                authority: row.authority,
                action: row.action,
                target: row.target,
                environment: row.environment,
                parameters: row.parameters,
                // The CHECK constraint allows only these three; a stray value still must not hide the event,
                // and the verifier reports the mismatch because the hash covers the stored text.
                outcome: Outcome::parse(&row.outcome).unwrap_or(Outcome::Failed),
                reason: row.reason,
                request_id: row.request_id,
                client_addr: row.client_addr,
            },
            prev_hash: row.prev_hash,
            hash: row.hash,
        }
    }
}

/// The Audit page's filters, normalised: times are canonical RFC 3339 strings comparable as text.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub actor: Option<String>,
    /// A prefix: `token` matches `token.create` and `token.revoke`.
    pub action: Option<String>,
    pub environment: Option<String>,
    pub from: Option<String>,
    pub until: Option<String>,
    /// Exactly this target (`deployment/dep-…`).
    pub target: Option<String>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ApiTokenRow {
    pub id: String,
    pub name: String,
    /// Space-separated scope names.
    pub scopes: String,
    pub secret_hash: String,
    pub created_by: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
    pub revoked_by: Option<String>,
}

/// Sessions live in the console's own database, so every replica on one PostgreSQL shares them. With SQLite, where
/// this process is the only writer, the sessions in use are also kept in memory (`RecentSessions`).
#[derive(Debug, Clone)]
pub struct DatabaseSessionStore {
    backend: SessionBackend,
    recent: Option<Arc<RecentSessions>>,
}

#[derive(Debug, Clone)]
enum SessionBackend {
    Sqlite(tower_sessions_sqlx_store::SqliteStore),
    Postgres(tower_sessions_sqlx_store::PostgresStore),
}

impl DatabaseSessionStore {
    pub fn sqlite(store: tower_sessions_sqlx_store::SqliteStore) -> Self {
        DatabaseSessionStore {
            backend: SessionBackend::Sqlite(store),
            recent: Some(Arc::default()),
        }
    }

    pub fn postgres(store: tower_sessions_sqlx_store::PostgresStore) -> Self {
        DatabaseSessionStore {
            backend: SessionBackend::Postgres(store),
            recent: None,
        }
    }

    async fn read(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match &self.backend {
            SessionBackend::Sqlite(s) => s.load(id).await,
            SessionBackend::Postgres(s) => s.load(id).await,
        }
    }

    fn forget(&self, id: &Id) {
        if let Some(recent) = &self.recent {
            recent.forget(id);
        }
    }
}

#[async_trait::async_trait]
impl SessionStore for DatabaseSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match &self.backend {
            SessionBackend::Sqlite(s) => s.create(record).await,
            SessionBackend::Postgres(s) => s.create(record).await,
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.forget(&record.id);
        let saved = match &self.backend {
            SessionBackend::Sqlite(s) => s.save(record).await,
            SessionBackend::Postgres(s) => s.save(record).await,
        };
        self.forget(&record.id);
        saved
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let Some(recent) = &self.recent else {
            return self.read(id).await;
        };
        if let Some(record) = recent.get(id) {
            return Ok(Some(record));
        }
        let ticket = recent.ticket();
        let record = self.read(id).await?;
        if let Some(record) = &record {
            recent.keep(record, ticket);
        }
        Ok(record)
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.forget(id);
        let deleted = match &self.backend {
            SessionBackend::Sqlite(s) => s.delete(id).await,
            SessionBackend::Postgres(s) => s.delete(id).await,
        };
        self.forget(id);
        deleted
    }
}

#[async_trait::async_trait]
impl ExpiredDeletion for DatabaseSessionStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        match &self.backend {
            SessionBackend::Sqlite(s) => s.delete_expired().await,
            SessionBackend::Postgres(s) => s.delete_expired().await,
        }
    }
}
