//! RDS: the database instance's backup settings and its snapshots.

use super::error::{classify, AwsError};
use super::to_offset;
use aws_config::SdkConfig;
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq)]
pub struct DbInstanceSummary {
    pub id: String,
    pub status: String,
    pub engine: String,
    pub multi_az: bool,
    pub encrypted: bool,
    pub backup_retention_days: i32,
    pub backup_window: Option<String>,
    /// The newest point in time a restore can reach; how far it lags now is the data a restore would lose.
    pub latest_restorable_time: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DbSnapshotSummary {
    pub id: String,
    /// automated or manual
    pub kind: String,
    pub status: String,
    pub created_at: Option<OffsetDateTime>,
    pub encrypted: bool,
    pub allocated_gb: Option<i32>,
    /// For a copy: the snapshot it was copied from (an ARN when copied across regions).
    pub source_snapshot: Option<String>,
}

#[async_trait::async_trait]
pub trait DatabaseBackups: Send + Sync + 'static {
    async fn instance(&self, id: &str) -> Result<DbInstanceSummary, AwsError>;
    async fn snapshots(&self, instance_id: &str) -> Result<Vec<DbSnapshotSummary>, AwsError>;
}

pub struct RdsBackups {
    client: aws_sdk_rds::Client,
}

impl RdsBackups {
    pub fn new(sdk: &SdkConfig) -> Self {
        RdsBackups {
            client: aws_sdk_rds::Client::new(sdk),
        }
    }
}

#[async_trait::async_trait]
impl DatabaseBackups for RdsBackups {
    #[tracing::instrument(skip_all, fields(id))]
    async fn instance(&self, id: &str) -> Result<DbInstanceSummary, AwsError> {
        const OP: &str = "RDS DescribeDBInstances";
        let output = self
            .client
            .describe_db_instances()
            .db_instance_identifier(id)
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        let db = output
            .db_instances()
            .first()
            .ok_or_else(|| AwsError::not_found(OP, format!("RDS instance {id}")))?;
        Ok(DbInstanceSummary {
            id: db.db_instance_identifier().unwrap_or(id).to_string(),
            status: db.db_instance_status().unwrap_or("unknown").to_string(),
            engine: db.engine().unwrap_or_default().to_string(),
            multi_az: db.multi_az().unwrap_or(false),
            encrypted: db.storage_encrypted().unwrap_or(false),
            backup_retention_days: db.backup_retention_period().unwrap_or(0),
            backup_window: db.preferred_backup_window().map(str::to_string),
            latest_restorable_time: db.latest_restorable_time().and_then(to_offset),
        })
    }

    #[tracing::instrument(skip_all, fields(instance_id))]
    async fn snapshots(&self, instance_id: &str) -> Result<Vec<DbSnapshotSummary>, AwsError> {
        let mut snapshots = Vec::new();
        let mut marker = None;
        loop {
            let output = self
                .client
                .describe_db_snapshots()
                .db_instance_identifier(instance_id)
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| classify("RDS DescribeDBSnapshots", e))?;
            snapshots.extend(output.db_snapshots().iter().map(|s| DbSnapshotSummary {
                id: s.db_snapshot_identifier().unwrap_or_default().to_string(),
                kind: s.snapshot_type().unwrap_or("manual").to_string(),
                status: s.status().unwrap_or("unknown").to_string(),
                created_at: s.snapshot_create_time().and_then(to_offset),
                encrypted: s.encrypted().unwrap_or(false),
                allocated_gb: s.allocated_storage(),
                source_snapshot: s.source_db_snapshot_identifier().map(str::to_string),
            }));
            match output.marker() {
                Some(next) if !next.is_empty() => marker = Some(next.to_string()),
                _ => break,
            }
        }
        Ok(snapshots)
    }
}
