//! ECS: the blue and green services and their task definitions.

use super::error::{classify, AwsError};
use aws_config::SdkConfig;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq)]
pub struct EcsServiceState {
    pub name: String,
    pub status: String,
    pub running: i32,
    pub desired: i32,
    pub pending: i32,
    pub task_definition_arn: String,
    pub deployments: Vec<EcsDeployment>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EcsDeployment {
    pub id: String,
    /// PRIMARY, ACTIVE or INACTIVE.
    pub status: String,
    pub task_definition_arn: String,
    /// IN_PROGRESS, COMPLETED or FAILED, when ECS reports it.
    pub rollout_state: Option<String>,
    pub running: i32,
    pub desired: i32,
}

impl EcsServiceState {
    /// The rollout state of the PRIMARY deployment.
    pub fn primary_rollout(&self) -> Option<&str> {
        self.deployments
            .iter()
            .find(|d| d.status == "PRIMARY")
            .and_then(|d| d.rollout_state.as_deref())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TaskDefinitionSummary {
    pub arn: String,
    pub family: String,
    pub revision: i32,
    /// (container name, image) in the order declared.
    pub containers: Vec<(String, String)>,
    pub cpu: Option<String>,
    pub memory: Option<String>,
}

impl TaskDefinitionSummary {
    pub fn family_revision(&self) -> String {
        format!("{}:{}", self.family, self.revision)
    }

    /// The image of the first container: the application's, by the reference stack's convention.
    pub fn main_image(&self) -> Option<&str> {
        self.containers.first().map(|(_, image)| image.as_str())
    }
}

#[async_trait::async_trait]
pub trait Fleet: Send + Sync + 'static {
    /// The named services of a cluster; a name ECS does not know is absent from the map.
    async fn services(
        &self,
        cluster: &str,
        names: &[String],
    ) -> Result<HashMap<String, EcsServiceState>, AwsError>;
    async fn task_definition(&self, arn: &str) -> Result<TaskDefinitionSummary, AwsError>;
}

pub struct EcsFleet {
    client: aws_sdk_ecs::Client,
}

impl EcsFleet {
    pub fn new(sdk: &SdkConfig) -> Self {
        EcsFleet {
            client: aws_sdk_ecs::Client::new(sdk),
        }
    }
}

/// DescribeServices takes at most 10 names a call.
const DESCRIBE_SERVICES_BATCH: usize = 10;

#[async_trait::async_trait]
impl Fleet for EcsFleet {
    #[tracing::instrument(skip_all, fields(cluster, count = names.len()))]
    async fn services(
        &self,
        cluster: &str,
        names: &[String],
    ) -> Result<HashMap<String, EcsServiceState>, AwsError> {
        let mut found = HashMap::new();
        for batch in names.chunks(DESCRIBE_SERVICES_BATCH) {
            let output = self
                .client
                .describe_services()
                .cluster(cluster)
                .set_services(Some(batch.to_vec()))
                .send()
                .await
                .map_err(|e| classify("ECS DescribeServices", e))?;
            for service in output.services() {
                let state = EcsServiceState {
                    name: service.service_name().unwrap_or_default().to_string(),
                    status: service.status().unwrap_or("UNKNOWN").to_string(),
                    running: service.running_count(),
                    desired: service.desired_count(),
                    pending: service.pending_count(),
                    task_definition_arn: service.task_definition().unwrap_or_default().to_string(),
                    deployments: service
                        .deployments()
                        .iter()
                        .map(|d| EcsDeployment {
                            id: d.id().unwrap_or_default().to_string(),
                            status: d.status().unwrap_or_default().to_string(),
                            task_definition_arn: d
                                .task_definition()
                                .unwrap_or_default()
                                .to_string(),
                            rollout_state: d.rollout_state().map(|s| s.as_str().to_string()),
                            running: d.running_count(),
                            desired: d.desired_count(),
                        })
                        .collect(),
                };
                // An INACTIVE service was deleted: treat it as missing.
                if state.status != "INACTIVE" {
                    found.insert(state.name.clone(), state);
                }
            }
        }
        Ok(found)
    }

    #[tracing::instrument(skip_all, fields(arn))]
    async fn task_definition(&self, arn: &str) -> Result<TaskDefinitionSummary, AwsError> {
        let output = self
            .client
            .describe_task_definition()
            .task_definition(arn)
            .send()
            .await
            .map_err(|e| classify("ECS DescribeTaskDefinition", e))?;
        let definition = output.task_definition().ok_or_else(|| {
            AwsError::not_found(
                "ECS DescribeTaskDefinition",
                format!("task definition {arn}"),
            )
        })?;
        Ok(TaskDefinitionSummary {
            arn: definition.task_definition_arn().unwrap_or(arn).to_string(),
            family: definition.family().unwrap_or_default().to_string(),
            revision: definition.revision(),
            containers: definition
                .container_definitions()
                .iter()
                .map(|c| {
                    (
                        c.name().unwrap_or_default().to_string(),
                        c.image().unwrap_or_default().to_string(),
                    )
                })
                .collect(),
            cpu: definition.cpu().map(str::to_string),
            memory: definition.memory().map(str::to_string),
        })
    }
}
