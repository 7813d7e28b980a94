use super::{Backend, StorageError};
use crate::config::DatabaseConfig;
use sqlx::postgres::{PgPool, PgPoolOptions};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
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
        Ok(PostgresStore { pool })
    }
}

super::storage_impl!(PostgresStore, Backend::Postgres);
