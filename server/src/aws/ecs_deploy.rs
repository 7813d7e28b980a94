//! ECS changes the release engine makes: register a task definition revision for a release, point a colour's
//! service at it, scale a colour. Its client never retries on its own: a mutation that times out may have been
//! applied, so the engine reads AWS before it tries again (see `engine::steps`).

use super::error::{classify, AwsError};
use super::Applied;
use aws_config::SdkConfig;
use aws_sdk_ecs::operation::RequestId;
use aws_sdk_ecs::types::{KeyValuePair, Tag, TaskDefinitionField};
use std::collections::BTreeMap;

/// What the diff and the new revision need of a task definition: the first container is the application's.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskDefinitionSpec {
    pub arn: String,
    pub family: String,
    pub revision: i32,
    pub image: String,
    pub environment: BTreeMap<String, String>,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub tags: BTreeMap<String, String>,
}

/// How a release changes the live task definition.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct TaskDefinitionChange {
    pub image: String,
    /// Variables set (or changed) on the application container; the others are kept.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub cpu: Option<String>,
    #[serde(default)]
    pub memory: Option<String>,
}

#[async_trait::async_trait]
pub trait Deployer: Send + Sync + 'static {
    async fn task_definition_spec(&self, arn: &str) -> Result<TaskDefinitionSpec, AwsError>;
    /// The newest revision of `family` tagged `key=value`, looking at the newest `depth` revisions.
    async fn tagged_revision(
        &self,
        family: &str,
        key: &str,
        value: &str,
        depth: usize,
    ) -> Result<Option<String>, AwsError>;
    /// Registers `base` with `change` applied as a new revision of `family`, tagged. Not idempotent on AWS's side.
    async fn register_revision(
        &self,
        base_arn: &str,
        family: &str,
        change: &TaskDefinitionChange,
        tags: &[(String, String)],
    ) -> Result<Applied<String>, AwsError>;
    /// Points a service at a task definition (when given) and sets its desired count. Never forces a deployment.
    async fn update_service(
        &self,
        cluster: &str,
        service: &str,
        task_definition: Option<&str>,
        desired: i32,
    ) -> Result<Applied<()>, AwsError>;
}

pub struct EcsDeployer {
    client: aws_sdk_ecs::Client,
}

impl EcsDeployer {
    pub fn new(sdk: &SdkConfig) -> Self {
        let config = aws_sdk_ecs::config::Builder::from(sdk)
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
            .build();
        EcsDeployer {
            client: aws_sdk_ecs::Client::from_conf(config),
        }
    }

    async fn describe(
        &self,
        arn: &str,
    ) -> Result<
        aws_sdk_ecs::operation::describe_task_definition::DescribeTaskDefinitionOutput,
        AwsError,
    > {
        self.client
            .describe_task_definition()
            .task_definition(arn)
            .include(TaskDefinitionField::Tags)
            .send()
            .await
            .map_err(|e| classify("ECS DescribeTaskDefinition", e))
    }
}

/// A container's environment variables by name.
fn environment_of(container: &aws_sdk_ecs::types::ContainerDefinition) -> BTreeMap<String, String> {
    container
        .environment()
        .iter()
        .filter_map(|kv| {
            Some((
                kv.name()?.to_string(),
                kv.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

fn revision_of(arn: &str) -> i64 {
    arn.rsplit(':')
        .next()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

#[async_trait::async_trait]
impl Deployer for EcsDeployer {
    async fn task_definition_spec(&self, arn: &str) -> Result<TaskDefinitionSpec, AwsError> {
        let output = self.describe(arn).await?;
        let definition = output.task_definition().ok_or_else(|| {
            AwsError::not_found(
                "ECS DescribeTaskDefinition",
                format!("task definition {arn}"),
            )
        })?;
        let main = definition.container_definitions().first();
        Ok(TaskDefinitionSpec {
            arn: definition.task_definition_arn().unwrap_or(arn).to_string(),
            family: definition.family().unwrap_or_default().to_string(),
            revision: definition.revision(),
            image: main.and_then(|c| c.image()).unwrap_or_default().to_string(),
            environment: main.map(environment_of).unwrap_or_default(),
            cpu: definition.cpu().map(str::to_string),
            memory: definition.memory().map(str::to_string),
            tags: output
                .tags()
                .iter()
                .filter_map(|t| {
                    Some((
                        t.key()?.to_string(),
                        t.value().unwrap_or_default().to_string(),
                    ))
                })
                .collect(),
        })
    }

    async fn tagged_revision(
        &self,
        family: &str,
        key: &str,
        value: &str,
        depth: usize,
    ) -> Result<Option<String>, AwsError> {
        let mut arns = Vec::new();
        let mut token = None;
        loop {
            let output = self
                .client
                .list_task_definitions()
                .family_prefix(family)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| classify("ECS ListTaskDefinitions", e))?;
            arns.extend(
                output
                    .task_definition_arns()
                    .iter()
                    // familyPrefix is a prefix: "api" also lists "api-worker".
                    .filter(|arn| {
                        super::ecs::family_revision_of_arn(arn)
                            .rsplit_once(':')
                            .map(|(f, _)| f)
                            == Some(family)
                    })
                    .cloned(),
            );
            match output.next_token() {
                Some(next) => token = Some(next.to_string()),
                None => break,
            }
        }
        // ListTaskDefinitions' sort is not honoured everywhere: order by revision here.
        arns.sort_by_key(|arn| std::cmp::Reverse(revision_of(arn)));
        for arn in arns.into_iter().take(depth) {
            let output = self.describe(&arn).await?;
            if output
                .tags()
                .iter()
                .any(|t| t.key() == Some(key) && t.value() == Some(value))
            {
                return Ok(Some(arn));
            }
        }
        Ok(None)
    }

    async fn register_revision(
        &self,
        base_arn: &str,
        family: &str,
        change: &TaskDefinitionChange,
        tags: &[(String, String)],
    ) -> Result<Applied<String>, AwsError> {
        const OP: &str = "ECS RegisterTaskDefinition";
        let output = self.describe(base_arn).await?;
        let base = output.task_definition().ok_or_else(|| {
            AwsError::not_found(
                "ECS DescribeTaskDefinition",
                format!("task definition {base_arn}"),
            )
        })?;
        let mut containers = base.container_definitions().to_vec();
        if let Some(main) = containers.first_mut() {
            main.image = Some(change.image.clone());
            if !change.environment.is_empty() {
                let mut environment = environment_of(main);
                environment.extend(change.environment.clone());
                main.environment = Some(
                    environment
                        .into_iter()
                        .map(|(name, value)| {
                            KeyValuePair::builder().name(name).value(value).build()
                        })
                        .collect(),
                );
            }
        }
        let tags = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        let answer = self
            .client
            .register_task_definition()
            .family(family)
            .set_task_role_arn(base.task_role_arn().map(str::to_string))
            .set_execution_role_arn(base.execution_role_arn().map(str::to_string))
            .set_network_mode(base.network_mode().cloned())
            .set_container_definitions(Some(containers))
            .set_volumes(Some(base.volumes().to_vec()))
            .set_placement_constraints(Some(base.placement_constraints().to_vec()))
            .set_requires_compatibilities(Some(base.requires_compatibilities().to_vec()))
            .set_cpu(
                change
                    .cpu
                    .clone()
                    .or_else(|| base.cpu().map(str::to_string)),
            )
            .set_memory(
                change
                    .memory
                    .clone()
                    .or_else(|| base.memory().map(str::to_string)),
            )
            .set_pid_mode(base.pid_mode().cloned())
            .set_ipc_mode(base.ipc_mode().cloned())
            .set_proxy_configuration(base.proxy_configuration().cloned())
            .set_ephemeral_storage(base.ephemeral_storage().cloned())
            .set_runtime_platform(base.runtime_platform().cloned())
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        let arn = answer
            .task_definition()
            .and_then(|d| d.task_definition_arn())
            .ok_or_else(|| AwsError::not_found(OP, "the new revision's ARN"))?
            .to_string();
        Ok(Applied {
            request_id: answer.request_id().map(str::to_string),
            value: arn,
        })
    }

    async fn update_service(
        &self,
        cluster: &str,
        service: &str,
        task_definition: Option<&str>,
        desired: i32,
    ) -> Result<Applied<()>, AwsError> {
        let answer = self
            .client
            .update_service()
            .cluster(cluster)
            .service(service)
            .set_task_definition(task_definition.map(str::to_string))
            .desired_count(desired)
            .send()
            .await
            .map_err(|e| classify("ECS UpdateService", e))?;
        Ok(Applied {
            request_id: answer.request_id().map(str::to_string),
            value: (),
        })
    }
}
