//! RDS: the database instance's backup settings and its snapshots.

use super::error::{classify, AwsError, AwsErrorKind};
use super::to_offset;
use super::Applied;
use aws_config::SdkConfig;
use aws_sdk_rds::operation::RequestId;
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
    pub arn: Option<String>,
    /// Percent done while `creating`.
    pub progress: Option<i32>,
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
    /// Starts a manual snapshot; it is `creating` until AWS finishes it.
    async fn create_snapshot(
        &self,
        instance_id: &str,
        snapshot_id: &str,
        tags: &[(String, String)],
    ) -> Result<Applied<DbSnapshotSummary>, AwsError>;
    /// Copies a snapshot from another region into this client's region (encrypted with `kms_key`).
    async fn copy_snapshot_from(
        &self,
        source_arn: &str,
        source_region: &str,
        target_id: &str,
        kms_key: &str,
    ) -> Result<DbSnapshotSummary, AwsError>;
}

fn summarise(s: &aws_sdk_rds::types::DbSnapshot) -> DbSnapshotSummary {
    DbSnapshotSummary {
        id: s.db_snapshot_identifier().unwrap_or_default().to_string(),
        arn: s.db_snapshot_arn().map(str::to_string),
        progress: s.percent_progress(),
        kind: s.snapshot_type().unwrap_or("manual").to_string(),
        status: s.status().unwrap_or("unknown").to_string(),
        created_at: s.snapshot_create_time().and_then(to_offset),
        encrypted: s.encrypted().unwrap_or(false),
        allocated_gb: s.allocated_storage(),
        source_snapshot: s.source_db_snapshot_identifier().map(str::to_string),
    }
}

pub struct RdsBackups {
    client: aws_sdk_rds::Client,
    region: String,
    credentials: Option<aws_credential_types::provider::SharedCredentialsProvider>,
    endpoint_url: Option<String>,
}

impl RdsBackups {
    pub fn new(sdk: &SdkConfig) -> Self {
        RdsBackups {
            client: aws_sdk_rds::Client::new(sdk),
            region: sdk.region().map(|r| r.to_string()).unwrap_or_default(),
            credentials: sdk.credentials_provider(),
            endpoint_url: sdk.endpoint_url().map(str::to_string),
        }
    }

    /// The `PreSignedUrl` RDS wants for a cross-region copy of an encrypted snapshot: a CopyDBSnapshot request to
    /// the source region, signed with SigV4 in the query string (other SDKs build it from `SourceRegion`; the Rust
    /// SDK does not).
    async fn presigned_copy_url(
        &self,
        source_arn: &str,
        source_region: &str,
        target_id: &str,
        kms_key: &str,
    ) -> Result<String, AwsError> {
        use aws_credential_types::provider::ProvideCredentials;
        use aws_sigv4::http_request::{
            sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
        };
        const OP: &str = "RDS CopyDBSnapshot (presigning)";
        let failed = |detail: String| AwsError::new(AwsErrorKind::Service, OP, detail);
        let provider = self
            .credentials
            .as_ref()
            .ok_or_else(|| failed("no credentials to sign with".into()))?;
        let identity = provider
            .provide_credentials()
            .await
            .map_err(|e| AwsError::new(AwsErrorKind::AccessDenied, OP, e.to_string()))?
            .into();
        let endpoint = self
            .endpoint_url
            .clone()
            .unwrap_or_else(|| format!("https://rds.{source_region}.amazonaws.com"));
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("Action", "CopyDBSnapshot")
            .append_pair("Version", "2014-10-31")
            .append_pair("SourceDBSnapshotIdentifier", source_arn)
            .append_pair("TargetDBSnapshotIdentifier", target_id)
            .append_pair("KmsKeyId", kms_key)
            .append_pair("DestinationRegion", &self.region)
            .finish();
        let url = format!("{}/?{query}", endpoint.trim_end_matches('/'));
        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(std::time::Duration::from_secs(3600));
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(source_region)
            .name("rds")
            .time(std::time::SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| failed(e.to_string()))?
            .into();
        let signable =
            SignableRequest::new("GET", &url, std::iter::empty(), SignableBody::Bytes(&[]))
                .map_err(|e| failed(e.to_string()))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| failed(e.to_string()))?
            .into_parts();
        let mut request = http::Request::builder()
            .uri(&url)
            .body(())
            .map_err(|e| failed(e.to_string()))?;
        instructions.apply_to_request_http1x(&mut request);
        Ok(request.uri().to_string())
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
            snapshots.extend(output.db_snapshots().iter().map(summarise));
            match output.marker() {
                Some(next) if !next.is_empty() => marker = Some(next.to_string()),
                _ => break,
            }
        }
        Ok(snapshots)
    }

    #[tracing::instrument(skip_all, fields(instance_id, snapshot_id))]
    async fn create_snapshot(
        &self,
        instance_id: &str,
        snapshot_id: &str,
        tags: &[(String, String)],
    ) -> Result<Applied<DbSnapshotSummary>, AwsError> {
        const OP: &str = "RDS CreateDBSnapshot";
        let tags = tags
            .iter()
            .map(|(k, v)| aws_sdk_rds::types::Tag::builder().key(k).value(v).build())
            .collect();
        let output = self
            .client
            .create_db_snapshot()
            .db_instance_identifier(instance_id)
            .db_snapshot_identifier(snapshot_id)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        let value = output
            .db_snapshot()
            .map(summarise)
            .ok_or_else(|| AwsError::not_found(OP, format!("the new snapshot {snapshot_id}")))?;
        Ok(Applied {
            request_id: output.request_id().map(str::to_string),
            value,
        })
    }

    #[tracing::instrument(skip_all, fields(source_arn, target_id))]
    async fn copy_snapshot_from(
        &self,
        source_arn: &str,
        source_region: &str,
        target_id: &str,
        kms_key: &str,
    ) -> Result<DbSnapshotSummary, AwsError> {
        const OP: &str = "RDS CopyDBSnapshot";
        let presigned = self
            .presigned_copy_url(source_arn, source_region, target_id, kms_key)
            .await?;
        let output = self
            .client
            .copy_db_snapshot()
            .source_db_snapshot_identifier(source_arn)
            .pre_signed_url(presigned)
            .target_db_snapshot_identifier(target_id)
            .kms_key_id(kms_key)
            .copy_tags(true)
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        output
            .db_snapshot()
            .map(summarise)
            .ok_or_else(|| AwsError::not_found(OP, format!("the copy {target_id}")))
    }
}
