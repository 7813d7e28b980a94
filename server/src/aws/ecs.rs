//! ECS: the blue and green services and their task definitions.

use super::error::{classify, AwsError};
use super::to_offset;
use aws_config::SdkConfig;
use aws_sdk_ecs::types::DesiredStatus;
use std::collections::HashMap;
use time::OffsetDateTime;

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
    /// Why, in ECS's words (e.g. the circuit breaker's reason).
    pub rollout_state_reason: Option<String>,
    pub running: i32,
    pub desired: i32,
    pub pending: i32,
    pub failed_tasks: i32,
    pub created_at: Option<OffsetDateTime>,
}

/// One task of a service, running, starting or recently stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSummary {
    pub arn: String,
    /// PROVISIONING, PENDING, ACTIVATING, RUNNING, DEACTIVATING, STOPPING, DEPROVISIONING, STOPPED
    pub last_status: String,
    pub desired_status: String,
    /// HEALTHY, UNHEALTHY or UNKNOWN (container health checks)
    pub health_status: Option<String>,
    pub availability_zone: Option<String>,
    pub private_ip: Option<String>,
    pub task_definition_arn: String,
    pub started_at: Option<OffsetDateTime>,
    pub stopped_at: Option<OffsetDateTime>,
    pub stopped_reason: Option<String>,
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

/// `arn:aws:ecs:REGION:ACCOUNT:task-definition/FAMILY:REVISION` → `FAMILY:REVISION` (what the ECS console shows).
pub fn family_revision_of_arn(arn: &str) -> String {
    arn.rsplit_once(":task-definition/")
        .map(|(_, rest)| rest)
        .unwrap_or(arn)
        .to_string()
}

/// The id at the end of an ECS ARN: `arn:aws:ecs:…:task/CLUSTER/ID` → `ID`.
pub fn arn_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
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
    /// A service's tasks: those meant to run (running or starting) and those stopped recently.
    async fn tasks(&self, cluster: &str, service: &str) -> Result<Vec<TaskSummary>, AwsError>;
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
/// DescribeTasks takes at most 100 ARNs a call.
const DESCRIBE_TASKS_BATCH: usize = 100;
/// Stopped tasks shown per service: enough to see why a rollout failed.
const STOPPED_TASKS_SHOWN: i32 = 20;

impl EcsFleet {
    async fn task_arns(
        &self,
        cluster: &str,
        service: &str,
        desired: DesiredStatus,
        limit: Option<i32>,
    ) -> Result<Vec<String>, AwsError> {
        let mut arns = Vec::new();
        let mut token = None;
        loop {
            let output = self
                .client
                .list_tasks()
                .cluster(cluster)
                .service_name(service)
                .desired_status(desired.clone())
                .set_max_results(limit)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| classify("ECS ListTasks", e))?;
            arns.extend(output.task_arns().iter().cloned());
            match output.next_token() {
                Some(next) if limit.is_none() => token = Some(next.to_string()),
                _ => break,
            }
        }
        Ok(arns)
    }
}

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
                            rollout_state_reason: d.rollout_state_reason().map(str::to_string),
                            running: d.running_count(),
                            desired: d.desired_count(),
                            pending: d.pending_count(),
                            failed_tasks: d.failed_tasks(),
                            created_at: d.created_at().and_then(to_offset),
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

    #[tracing::instrument(skip_all, fields(cluster, service))]
    async fn tasks(&self, cluster: &str, service: &str) -> Result<Vec<TaskSummary>, AwsError> {
        let mut arns = self
            .task_arns(cluster, service, DesiredStatus::Running, None)
            .await?;
        arns.extend(
            self.task_arns(
                cluster,
                service,
                DesiredStatus::Stopped,
                Some(STOPPED_TASKS_SHOWN),
            )
            .await?,
        );
        let mut tasks = Vec::with_capacity(arns.len());
        for batch in arns.chunks(DESCRIBE_TASKS_BATCH) {
            let output = self
                .client
                .describe_tasks()
                .cluster(cluster)
                .set_tasks(Some(batch.to_vec()))
                .send()
                .await
                .map_err(|e| classify("ECS DescribeTasks", e))?;
            tasks.extend(output.tasks().iter().map(|task| {
                let detail = |name: &str| {
                    task.attachments()
                        .iter()
                        .flat_map(|a| a.details())
                        .find(|d| d.name() == Some(name))
                        .and_then(|d| d.value())
                        .map(str::to_string)
                };
                TaskSummary {
                    arn: task.task_arn().unwrap_or_default().to_string(),
                    last_status: task.last_status().unwrap_or("UNKNOWN").to_string(),
                    desired_status: task.desired_status().unwrap_or("UNKNOWN").to_string(),
                    health_status: task.health_status().map(|h| h.as_str().to_string()),
                    availability_zone: task.availability_zone().map(str::to_string),
                    private_ip: detail("privateIPv4Address"),
                    task_definition_arn: task.task_definition_arn().unwrap_or_default().to_string(),
                    started_at: task.started_at().and_then(to_offset),
                    stopped_at: task.stopped_at().and_then(to_offset),
                    stopped_reason: task.stopped_reason().map(str::to_string),
                }
            }));
        }
        Ok(tasks)
    }
}
