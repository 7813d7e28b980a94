//! ElastiCache: the Redis cluster's snapshot settings and its snapshots.

use super::error::{classify, AwsError};
use super::to_offset;
use super::Applied;
use aws_config::SdkConfig;
use aws_sdk_elasticache::operation::RequestId;
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq)]
pub struct CacheClusterSummary {
    pub id: String,
    pub status: String,
    pub engine: String,
    pub snapshot_retention_days: i32,
    pub snapshot_window: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CacheSnapshotSummary {
    pub name: String,
    pub status: String,
    /// automated or manual
    pub source: String,
    pub created_at: Option<OffsetDateTime>,
}

#[async_trait::async_trait]
pub trait CacheBackups: Send + Sync + 'static {
    async fn cluster(&self, id: &str) -> Result<CacheClusterSummary, AwsError>;
    async fn snapshots(&self, cluster_id: &str) -> Result<Vec<CacheSnapshotSummary>, AwsError>;
    /// Starts a manual snapshot of the cluster.
    async fn create_snapshot(
        &self,
        cluster_id: &str,
        name: &str,
    ) -> Result<Applied<CacheSnapshotSummary>, AwsError>;
}

fn summarise(s: &aws_sdk_elasticache::types::Snapshot) -> CacheSnapshotSummary {
    CacheSnapshotSummary {
        name: s.snapshot_name().unwrap_or_default().to_string(),
        status: s.snapshot_status().unwrap_or("unknown").to_string(),
        source: s.snapshot_source().unwrap_or("manual").to_string(),
        created_at: s
            .node_snapshots()
            .iter()
            .filter_map(|n| n.snapshot_create_time())
            .filter_map(to_offset)
            .max(),
    }
}

pub struct ElastiCacheBackups {
    client: aws_sdk_elasticache::Client,
}

impl ElastiCacheBackups {
    pub fn new(sdk: &SdkConfig) -> Self {
        ElastiCacheBackups {
            client: aws_sdk_elasticache::Client::new(sdk),
        }
    }
}

#[async_trait::async_trait]
impl CacheBackups for ElastiCacheBackups {
    #[tracing::instrument(skip_all, fields(id))]
    async fn cluster(&self, id: &str) -> Result<CacheClusterSummary, AwsError> {
        const OP: &str = "ElastiCache DescribeCacheClusters";
        let output = self
            .client
            .describe_cache_clusters()
            .cache_cluster_id(id)
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        let cluster = output
            .cache_clusters()
            .first()
            .ok_or_else(|| AwsError::not_found(OP, format!("ElastiCache cluster {id}")))?;
        Ok(CacheClusterSummary {
            id: cluster.cache_cluster_id().unwrap_or(id).to_string(),
            status: cluster
                .cache_cluster_status()
                .unwrap_or("unknown")
                .to_string(),
            engine: cluster.engine().unwrap_or_default().to_string(),
            snapshot_retention_days: cluster.snapshot_retention_limit().unwrap_or(0),
            snapshot_window: cluster.snapshot_window().map(str::to_string),
        })
    }

    #[tracing::instrument(skip_all, fields(cluster_id))]
    async fn snapshots(&self, cluster_id: &str) -> Result<Vec<CacheSnapshotSummary>, AwsError> {
        let mut snapshots = Vec::new();
        let mut marker = None;
        loop {
            let output = self
                .client
                .describe_snapshots()
                .cache_cluster_id(cluster_id)
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| classify("ElastiCache DescribeSnapshots", e))?;
            snapshots.extend(output.snapshots().iter().map(summarise));
            match output.marker() {
                Some(next) if !next.is_empty() => marker = Some(next.to_string()),
                _ => break,
            }
        }
        Ok(snapshots)
    }

    #[tracing::instrument(skip_all, fields(cluster_id, name))]
    async fn create_snapshot(
        &self,
        cluster_id: &str,
        name: &str,
    ) -> Result<Applied<CacheSnapshotSummary>, AwsError> {
        const OP: &str = "ElastiCache CreateSnapshot";
        let output = self
            .client
            .create_snapshot()
            .cache_cluster_id(cluster_id)
            .snapshot_name(name)
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        let value = output
            .snapshot()
            .map(summarise)
            .ok_or_else(|| AwsError::not_found(OP, format!("the new snapshot {name}")))?;
        Ok(Applied {
            request_id: output.request_id().map(str::to_string),
            value,
        })
    }
}
