//! AWS behind narrow traits shaped like our domain. The adapters here are the only code that touches SDK types;
//! everything above them speaks in services, colours and snapshots.
//!
//! Clients are built per environment (region, optional role, optional endpoint): environments usually live in
//! different accounts and regions.

pub mod cloudwatch;
pub mod ecs;
pub mod ecs_deploy;
pub mod elasticache;
pub mod elb;
pub mod elb_switch;
pub mod error;
pub mod rds;
pub mod ssm;

use crate::config::{AwsConfig, Config, EnvironmentConfig};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use std::sync::Arc;

pub use cloudwatch::{AlarmSummary, CloudWatchMonitoring, MetricQuery, MetricSeries, Monitoring};
pub use ecs::{
    EcsDeployment, EcsFleet, EcsServiceState, Fleet, TaskDefinitionSummary, TaskSummary,
};
pub use ecs_deploy::{Deployer, EcsDeployer, TaskDefinitionChange, TaskDefinitionSpec};
pub use elasticache::{
    CacheBackups, CacheClusterSummary, CacheSnapshotSummary, ElastiCacheBackups,
};
pub use elb::{
    Elbv2Routing, Forwarding, TargetGroupIds, TargetGroupWeight, TargetHealthSummary,
    TrafficRouting,
};
pub use elb_switch::{Elbv2Switch, TrafficSwitch};
pub use error::{AwsError, AwsErrorKind};
pub use rds::{DatabaseBackups, DbInstanceSummary, DbSnapshotSummary, RdsBackups};
pub use ssm::{ParameterStore, ParameterSummary, SsmParameters};

/// Everything one environment's code may ask of AWS.
#[derive(Clone)]
pub struct EnvironmentAws {
    pub fleet: Arc<dyn Fleet>,
    pub routing: Arc<dyn TrafficRouting>,
    /// The release engine's changes (no SDK retries: the engine reads before it tries again).
    pub deployer: Arc<dyn Deployer>,
    pub switch: Arc<dyn TrafficSwitch>,
    pub monitoring: Arc<dyn Monitoring>,
    pub databases: Arc<dyn DatabaseBackups>,
    pub caches: Arc<dyn CacheBackups>,
    pub parameters: Arc<dyn ParameterStore>,
    /// RDS in the disaster-recovery region, where snapshot copies should be.
    pub dr_databases: Option<Arc<dyn DatabaseBackups>>,
}

impl EnvironmentAws {
    pub async fn connect(config: &Config, environment: &EnvironmentConfig) -> Self {
        let region = config
            .region_of(environment)
            .expect("validated: every environment has a region")
            .to_string();
        let sdk = sdk_config(
            &config.aws,
            &region,
            environment.endpoint_url.as_deref(),
            environment.role_arn.as_deref(),
        )
        .await;
        let dr_databases = match &environment.dr_region {
            Some(dr) => {
                let dr_sdk = sdk_config(
                    &config.aws,
                    dr,
                    environment.endpoint_url.as_deref(),
                    environment.role_arn.as_deref(),
                )
                .await;
                Some(Arc::new(RdsBackups::new(&dr_sdk)) as Arc<dyn DatabaseBackups>)
            }
            None => None,
        };
        EnvironmentAws {
            fleet: Arc::new(EcsFleet::new(&sdk)),
            routing: Arc::new(Elbv2Routing::new(&sdk)),
            deployer: Arc::new(EcsDeployer::new(&sdk)),
            switch: Arc::new(Elbv2Switch::new(&sdk)),
            monitoring: Arc::new(CloudWatchMonitoring::new(&sdk)),
            databases: Arc::new(RdsBackups::new(&sdk)),
            caches: Arc::new(ElastiCacheBackups::new(&sdk)),
            parameters: Arc::new(SsmParameters::new(&sdk)),
            dr_databases,
        }
    }
}

/// The SDK configuration for one region: the standard credential and endpoint chain (so `AWS_ENDPOINT_URL` and
/// `AWS_PROFILE` work), explicit timeouts and retries, and optionally a role assumed through STS.
pub async fn sdk_config(
    aws: &AwsConfig,
    region: &str,
    endpoint_url: Option<&str>,
    role_arn: Option<&str>,
) -> SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(aws.connect_timeout)
        .operation_timeout(aws.operation_timeout)
        .operation_attempt_timeout(aws.attempt_timeout)
        .build();
    let retries = RetryConfig::standard().with_max_attempts(aws.max_attempts);
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .timeout_config(timeouts)
        .retry_config(retries);
    if let Some(endpoint) = endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    let base = loader.load().await;
    match role_arn {
        Some(role) => {
            let provider = aws_config::sts::AssumeRoleProvider::builder(role)
                .session_name("signalbox")
                .configure(&base)
                .build()
                .await;
            base.into_builder()
                .credentials_provider(
                    aws_credential_types::provider::SharedCredentialsProvider::new(provider),
                )
                .build()
        }
        None => base,
    }
}

/// A change AWS accepted, with the request id it answered (for the deployment's record).
#[derive(Debug, Clone, PartialEq)]
pub struct Applied<T> {
    pub value: T,
    pub request_id: Option<String>,
}

/// SDK timestamps (one type across the SDK crates) as `time` values.
pub(crate) fn to_offset(value: &aws_smithy_types::DateTime) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp_nanos(
        i128::from(value.secs()) * 1_000_000_000 + i128::from(value.subsec_nanos()),
    )
    .ok()
}
