use super::{Backend, StorageError};
use crate::config::DatabaseConfig;
use sqlx::postgres::{PgPool, PgPoolOptions};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    sessions: super::DatabaseSessionStore,
}

impl PostgresStore {
    #[tracing::instrument(skip_all)]
    pub async fn connect(config: &DatabaseConfig) -> Result<Self, StorageError> {
        let pool = PgPoolOptions::new()
            .max_connections(config.pool_size)
            .acquire_timeout(config.pool_timeout)
            .connect(config.url.expose())
            .await
            .map_err(|source| StorageError::Connect {
                url: config.url.redacted(),
                source,
            })?;
        // Several replicas may start at once: sqlx takes an advisory lock around the migration run.
        MIGRATOR.run(&pool).await?;
        let sessions = tower_sessions_sqlx_store::PostgresStore::new(pool.clone());
        sessions.migrate().await?;
        Ok(PostgresStore {
            pool,
            sessions: super::DatabaseSessionStore::postgres(sessions),
        })
    }

    /// Replicas append to one chain: a transaction-scoped advisory lock makes them take turns, and is released
    /// by commit or rollback.
    async fn begin_chain(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, StorageError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(7105812)")
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }
}

super::storage_impl!(PostgresStore, Backend::Postgres, sqlx::Postgres);
super::releases::release_store_impl!(PostgresStore, Backend::Postgres, sqlx::Postgres);
