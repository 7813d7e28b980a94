//! Laying out a deployment from what AWS runs now: the live colour, its task definition and desired count, the
//! diff the release makes. Done when the deployment is requested (the plan people approve) and again when it
//! leaves the queue, since a deployment ahead of it may have changed which colour is live.

use super::plan::{self, describe_shares, PlanInput, Step};
use super::service::release_view;
use super::{Engine, EnvironmentRuntime};
use crate::aws::ecs::family_revision_of_arn;
use crate::aws::TaskDefinitionChange;
use crate::storage::ReleaseRow;
use app::dto::{PlanView, Severity};
use app::error::AppError;
use time::OffsetDateTime;

impl Engine {
    /// Reads AWS now and lays out what deploying `release` to `env` does.
    pub async fn make_plan(
        &self,
        release: &ReleaseRow,
        env: &EnvironmentRuntime,
        deployment_id: &str,
        now: OffsetDateTime,
    ) -> Result<(PlanView, Vec<Step>), AppError> {
        let config = &env.config;
        let service = config.service(&release.service).ok_or_else(|| {
            AppError::not_found(format!("service {:?} in {}", release.service, config.name))
        })?;
        let forwarding = env
            .aws
            .routing
            .forwarding(
                &config.load_balancer,
                service.listener_port,
                service.rule_priority,
            )
            .await?;
        let (blue, green) = plan::shares(service, &forwarding.percentages());
        let from = match (blue, green) {
            (100, 0) => app::dto::Colour::Blue,
            (0, 100) => app::dto::Colour::Green,
            other => {
                return Err(AppError::Conflict {
                    message: format!(
                        "the listener sends {}: finish or roll back that switch before deploying",
                        describe_shares(other)
                    ),
                })
            }
        };
        let to = from.other();
        let names = vec![
            service.colour(from).ecs_service.clone(),
            service.colour(to).ecs_service.clone(),
        ];
        let ecs = env.aws.fleet.services(&config.cluster, &names).await?;
        let live = ecs.get(&names[0]).ok_or_else(|| AppError::Conflict {
            message: format!("ECS has no service {} (the live colour)", names[0]),
        })?;
        let live_spec = env
            .aws
            .deployer
            .task_definition_spec(&live.task_definition_arn)
            .await?;
        let new_family = ecs
            .get(&names[1])
            .map(|idle| family_revision_of_arn(&idle.task_definition_arn))
            .and_then(|fr| fr.rsplit_once(':').map(|(family, _)| family.to_string()))
            .filter(|family| !family.is_empty())
            .unwrap_or_else(|| live_spec.family.clone());
        let view = release_view(release);
        let change = TaskDefinitionChange {
            image: view.image_ref(),
            environment: view.environment.clone(),
            cpu: view.cpu.clone(),
            memory: view.memory.clone(),
        };
        let desired = live.desired.max(1);
        let policy = &config.deploy;
        let steps = plan::steps(&PlanInput {
            environment: config,
            service,
            policy,
            deployment_id,
            version: &release.version,
            from,
            live_task_definition_arn: &live.task_definition_arn,
            new_family: &new_family,
            change: &change,
            desired,
        });
        let snapshots = steps
            .iter()
            .filter_map(|s| match s {
                Step::SnapshotDatabase { snapshot, .. } => Some(format!("RDS {snapshot}")),
                Step::SnapshotCache { snapshot, .. } => Some(format!("Redis {snapshot}")),
                _ => None,
            })
            .collect();
        let gates = self
            .rules
            .iter()
            .filter(|r| r.severity == Severity::Failing)
            .map(|r| {
                let v = crate::health::gate::view(r);
                format!(
                    "{} > {} {}",
                    v.signal.label(),
                    v.signal.format(v.threshold),
                    v.window
                )
            })
            .collect();
        let plan = PlanView {
            environment: config.name.clone(),
            service: service.name.clone(),
            release_id: release.id.clone(),
            release_version: release.version.clone(),
            from_colour: from,
            to_colour: to,
            live_task_definition: family_revision_of_arn(&live.task_definition_arn),
            live_task_definition_arn: live.task_definition_arn.clone(),
            new_family,
            image: change.image.clone(),
            desired_count: desired,
            diff: plan::diff(&live_spec, &change),
            snapshots,
            gates,
            weights: policy.weights.clone(),
            pause_secs: policy.pause_secs,
            bake_secs: policy.bake_secs,
            scale_down_delay_secs: policy.scale_down_delay_secs,
            ready_timeout_secs: policy.ready_timeout_secs,
            approvals_required: policy.approvals_required,
            typed_confirmation: policy.typed_confirmation,
            frozen: policy.frozen_at(now).map(|w| {
                format!(
                    "{} (until {})",
                    w.reason,
                    crate::audit::chain::canonical_time(w.until)
                )
            }),
        };
        Ok((plan, steps))
    }
}
