//! What each step reads and changes in AWS. Every mutating step first reads where AWS is: already at the
//! step's goal means done without a call (the path a resumed deployment takes after a crash); otherwise the
//! engine records its intent, makes exactly one call, and records the answer.

use super::plan::{describe_shares, duration_words, shares, target_shares, Phase, Step};
use super::record::Steps;
use crate::aws::{AwsError, EnvironmentAws};
use crate::config::{Colour, EnvironmentConfig, ServiceConfig};
use crate::health::collector::HealthCollector;
use crate::storage::DeploymentRow;
use app::dto::Verdict;
use serde_json::json;
use std::time::Duration;
use time::OffsetDateTime;

/// Where a step stands after reading AWS.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// At the goal (or done waiting).
    Done {
        detail: String,
        result: Option<serde_json::Value>,
    },
    /// Needs our change; `intent` is what we are about to do, recorded before we do it.
    Change {
        intent: String,
    },
    Wait {
        detail: String,
        after: Duration,
    },
    /// Cannot go on, and no traffic has moved: clean up and end failed.
    Fail {
        reason: String,
        outcome: Option<serde_json::Value>,
    },
    /// The health gate failed after traffic moved: roll back.
    RollBack {
        reason: String,
        outcome: serde_json::Value,
    },
    /// Needs a person: resume or roll back.
    Halt {
        reason: String,
    },
}

/// The answer to one change.
#[derive(Debug, Clone)]
pub struct Changed {
    pub operation: &'static str,
    pub request_id: Option<String>,
    pub detail: String,
    pub result: Option<serde_json::Value>,
    /// False when the change only starts something to wait for (a snapshot).
    pub finished: bool,
}

pub struct StepContext<'a> {
    pub environment: &'a EnvironmentConfig,
    pub service: &'a ServiceConfig,
    pub aws: &'a EnvironmentAws,
    pub health: Option<&'a HealthCollector>,
    pub deployment: &'a DeploymentRow,
    pub steps: &'a Steps,
    pub index: usize,
    pub phase: Phase,
    pub started_at: OffsetDateTime,
    pub now: OffsetDateTime,
    /// How long to wait between readings of something in progress.
    pub poll: Duration,
}

const TAG_DEPLOYMENT: &str = "signalbox:deployment";

fn new_revision(ctx: &StepContext) -> Option<String> {
    ctx.steps
        .result_of("register_task_definition")
        .and_then(|r| r.get("arn").and_then(|a| a.as_str()).map(str::to_string))
}

/// The gate's view of `colour` now: a failure, with the rules that fired and their numbers.
fn gate_failure(ctx: &StepContext, colour: Colour) -> Option<(String, serde_json::Value)> {
    let (judgement, observed_at) = ctx.health?.judgement(&ctx.service.name, colour)?;
    if judgement.verdict != Verdict::Failing {
        return None;
    }
    let rules: Vec<String> = judgement.fired.iter().map(|f| f.message.clone()).collect();
    let outcome = json!({
        "gate": "failing",
        "colour": colour.as_str(),
        "rules": judgement.fired.iter().map(|f| json!({
            "rule": f.rule,
            "signal": f.signal.label(),
            "value": f.value,
            "threshold": f.threshold,
            "message": f.message,
        })).collect::<Vec<_>>(),
        "observed_at": crate::audit::chain::canonical_time(observed_at),
    });
    Some((
        format!("health gate failed on {colour}: {}", rules.join("; ")),
        outcome,
    ))
}

/// Whether the gate has read any metrics for `colour`.
fn has_data(ctx: &StepContext, colour: Colour) -> bool {
    ctx.health
        .and_then(|h| h.judgement(&ctx.service.name, colour))
        .is_some_and(|(j, _)| j.verdict != Verdict::NoData)
}

fn gate_words(ctx: &StepContext, colour: Colour) -> String {
    match ctx
        .health
        .and_then(|h| h.judgement(&ctx.service.name, colour))
    {
        Some((j, _)) => match j.verdict {
            Verdict::Healthy => "gate healthy".into(),
            Verdict::Degraded => format!(
                "gate degraded ({})",
                j.fired
                    .iter()
                    .map(|f| f.message.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            Verdict::Failing => "gate failing".into(),
            Verdict::NoData => "gate: no data yet".into(),
        },
        None => "gate: no reading yet".into(),
    }
}

fn elapsed(ctx: &StepContext) -> Duration {
    Duration::from_secs_f64((ctx.now - ctx.started_at).as_seconds_f64().max(0.0))
}

pub async fn observe(ctx: &StepContext<'_>, step: &Step) -> Result<Observation, AwsError> {
    let env = ctx.environment;
    match step {
        Step::SnapshotDatabase { instance, snapshot } => {
            let found = ctx
                .aws
                .databases
                .snapshots(instance)
                .await?
                .into_iter()
                .find(|s| s.id == *snapshot);
            Ok(match found {
                Some(s) if s.status == "available" => Observation::Done {
                    detail: format!("{snapshot} available"),
                    result: Some(json!({ "snapshot": snapshot, "arn": s.arn })),
                },
                Some(s) if s.status == "creating" => Observation::Wait {
                    detail: match s.progress {
                        Some(p) => format!("{snapshot} creating, {p} %"),
                        None => format!("{snapshot} creating"),
                    },
                    after: ctx.poll,
                },
                Some(s) => Observation::Halt {
                    reason: format!("the RDS snapshot {snapshot} is {}", s.status),
                },
                None => Observation::Change {
                    intent: format!("creating RDS snapshot {snapshot}"),
                },
            })
        }
        Step::SnapshotCache { cluster, snapshot } => {
            let found = ctx
                .aws
                .caches
                .snapshots(cluster)
                .await?
                .into_iter()
                .find(|s| s.name == *snapshot);
            Ok(match found {
                Some(s) if s.status == "available" => Observation::Done {
                    detail: format!("{snapshot} available"),
                    result: Some(json!({ "snapshot": snapshot })),
                },
                Some(s) if s.status == "creating" => Observation::Wait {
                    detail: format!("{snapshot} creating"),
                    after: ctx.poll,
                },
                Some(s) => Observation::Halt {
                    reason: format!("the Redis snapshot {snapshot} is {}", s.status),
                },
                None => Observation::Change {
                    intent: format!("creating Redis snapshot {snapshot}"),
                },
            })
        }
        Step::RegisterTaskDefinition { family, .. } => {
            // Not idempotent on AWS's side: a revision carrying our tag means an earlier attempt got through.
            match ctx
                .aws
                .deployer
                .tagged_revision(family, TAG_DEPLOYMENT, &ctx.deployment.id, 5)
                .await?
            {
                Some(arn) => Ok(Observation::Done {
                    detail: format!(
                        "{} registered",
                        crate::aws::ecs::family_revision_of_arn(&arn)
                    ),
                    result: Some(json!({ "arn": arn })),
                }),
                None => Ok(Observation::Change {
                    intent: format!("registering a revision of {family}"),
                }),
            }
        }
        Step::DeployIdle {
            ecs_service,
            desired,
            colour,
        } => {
            let Some(arn) = new_revision(ctx) else {
                return Ok(Observation::Halt {
                    reason: "no registered revision to deploy".into(),
                });
            };
            let services = ctx
                .aws
                .fleet
                .services(&env.cluster, std::slice::from_ref(ecs_service))
                .await?;
            let Some(state) = services.get(ecs_service) else {
                return Ok(Observation::Halt {
                    reason: format!("ECS has no service {ecs_service}"),
                });
            };
            if state.task_definition_arn == arn && state.desired == *desired {
                return Ok(Observation::Done {
                    detail: format!(
                        "{colour} runs {} with {desired} desired",
                        crate::aws::ecs::family_revision_of_arn(&arn)
                    ),
                    result: None,
                });
            }
            Ok(Observation::Change {
                intent: format!(
                    "updating {ecs_service} to {} with {desired} tasks",
                    crate::aws::ecs::family_revision_of_arn(&arn)
                ),
            })
        }
        Step::WaitReady {
            colour,
            ecs_service,
            target_group,
            desired,
            timeout_secs,
        } => {
            let arn = new_revision(ctx).unwrap_or_default();
            let services = ctx
                .aws
                .fleet
                .services(&env.cluster, std::slice::from_ref(ecs_service))
                .await?;
            let Some(state) = services.get(ecs_service) else {
                return Ok(Observation::Halt {
                    reason: format!("ECS has no service {ecs_service}"),
                });
            };
            let primary = state.deployments.iter().find(|d| d.status == "PRIMARY");
            // Our rollout failed: still PRIMARY, or ACTIVE beside the old revision the circuit breaker rolled back
            // to (which is ECS's doing, not a change outside Signalbox).
            if let Some(failed) = state.deployments.iter().find(|d| {
                d.task_definition_arn == arn && d.rollout_state.as_deref() == Some("FAILED")
            }) {
                return Ok(Observation::Fail {
                    reason: format!(
                        "ECS rollout of {colour} failed ({} tasks failed to start): {}",
                        failed.failed_tasks,
                        failed
                            .rollout_state_reason
                            .clone()
                            .unwrap_or_else(|| "no reason given".into())
                    ),
                    outcome: None,
                });
            }
            if state.task_definition_arn != arn {
                return Ok(Observation::Halt {
                    reason: format!(
                        "{ecs_service} runs {} instead of the new revision: changed outside Signalbox",
                        crate::aws::ecs::family_revision_of_arn(&state.task_definition_arn)
                    ),
                });
            }
            let targets = ctx.aws.routing.target_health(target_group).await?;
            let healthy = targets.iter().filter(|t| t.state == "healthy").count() as i32;
            let unhealthy: Vec<String> = targets
                .iter()
                .filter(|t| t.state == "unhealthy")
                .map(|t| match &t.reason {
                    Some(reason) => format!("{} ({reason})", t.target_id),
                    None => t.target_id.clone(),
                })
                .collect();
            let progress = format!(
                "{} of {desired} tasks running, {healthy} of {desired} targets healthy{}",
                state.running,
                match unhealthy.is_empty() {
                    true => String::new(),
                    false => format!("; unhealthy: {}", unhealthy.join(", ")),
                }
            );
            if let Some((reason, outcome)) = gate_failure(ctx, *colour) {
                return Ok(Observation::Fail {
                    reason,
                    outcome: Some(outcome),
                });
            }
            let rollout_done = primary
                .map(|d| d.rollout_state.as_deref().unwrap_or("COMPLETED") == "COMPLETED")
                .unwrap_or(true);
            if state.running >= *desired && healthy >= *desired && rollout_done {
                return Ok(Observation::Done {
                    detail: format!("{progress}; {}", gate_words(ctx, *colour)),
                    result: None,
                });
            }
            if elapsed(ctx) > Duration::from_secs(*timeout_secs) {
                return Ok(Observation::Fail {
                    reason: format!(
                        "{colour} not ready after {}: {progress}",
                        duration_words(*timeout_secs)
                    ),
                    outcome: None,
                });
            }
            Ok(Observation::Wait {
                detail: progress,
                after: ctx.poll,
            })
        }
        Step::Switch { to, percent } => {
            let forwarding = ctx
                .aws
                .routing
                .forwarding(
                    &env.load_balancer,
                    ctx.service.listener_port,
                    ctx.service.rule_priority,
                )
                .await?;
            let now_shares = shares(ctx.service, &forwarding.percentages());
            let goal = target_shares(*to, *percent);
            if now_shares == goal {
                return Ok(Observation::Done {
                    detail: format!("{}: {}", route_name(ctx.service), describe_shares(goal)),
                    result: Some(json!({ "blue": goal.0, "green": goal.1 })),
                });
            }
            match ctx.phase {
                Phase::Forward => {
                    let from = super::actions::colour(&ctx.deployment.from_colour);
                    let expected = ctx.steps.expected_before(ctx.index, from);
                    if now_shares != expected {
                        return Ok(Observation::Halt {
                            reason: format!(
                                "the listener changed outside Signalbox: it sends {}, expected {}",
                                describe_shares(now_shares),
                                describe_shares(expected)
                            ),
                        });
                    }
                }
                Phase::Rollback | Phase::Cleanup => {
                    // Never roll back onto something that is not the revision that was live.
                    let back = ctx.service.colour(*to);
                    let live_arn = plan_live_arn(ctx.deployment);
                    let services = ctx
                        .aws
                        .fleet
                        .services(&env.cluster, std::slice::from_ref(&back.ecs_service))
                        .await?;
                    let fit = services.get(&back.ecs_service).filter(|s| {
                        s.running > 0
                            && live_arn
                                .as_deref()
                                .is_none_or(|a| a == s.task_definition_arn)
                    });
                    if fit.is_none() {
                        return Ok(Observation::Halt {
                            reason: format!(
                                "cannot roll back: {} no longer runs the previous revision with tasks running",
                                back.ecs_service
                            ),
                        });
                    }
                }
            }
            Ok(Observation::Change {
                intent: format!(
                    "switching the listener from {} to {}",
                    describe_shares(now_shares),
                    describe_shares(goal)
                ),
            })
        }
        Step::Pause { secs } | Step::Bake { secs } => {
            let colour = super::actions::colour(&ctx.deployment.to_colour);
            if let Some((reason, outcome)) = gate_failure(ctx, colour) {
                return Ok(Observation::RollBack { reason, outcome });
            }
            let total = Duration::from_secs(*secs);
            let gone = elapsed(ctx);
            let baking = matches!(step, Step::Bake { .. });
            if gone >= total
                && baking
                && ctx.environment.deploy.bake_requires_data
                && !has_data(ctx, colour)
            {
                return Ok(Observation::Halt {
                    reason: format!(
                        "the bake ended with no health data for {colour}: no traffic or no metrics reached it, so \
                         nothing shows it works; retry the step to watch again, or roll back"
                    ),
                });
            }
            if gone >= total {
                return Ok(Observation::Done {
                    detail: format!(
                        "{} watched; {}",
                        duration_words(*secs),
                        gate_words(ctx, colour)
                    ),
                    result: None,
                });
            }
            let left = total - gone;
            Ok(Observation::Wait {
                detail: format!(
                    "{}; {} left",
                    gate_words(ctx, colour),
                    duration_words(left.as_secs().max(1))
                ),
                after: left.min(ctx.poll),
            })
        }
        Step::ScaleDown {
            colour,
            ecs_service,
            ..
        } => {
            let services = ctx
                .aws
                .fleet
                .services(&env.cluster, std::slice::from_ref(ecs_service))
                .await?;
            match services.get(ecs_service) {
                Some(state) if state.desired == 0 => Ok(Observation::Done {
                    detail: format!("{colour} at 0 tasks"),
                    result: None,
                }),
                Some(state) => Ok(Observation::Change {
                    intent: format!("scaling {colour} from {} to 0 tasks", state.desired),
                }),
                None => Ok(Observation::Done {
                    detail: format!("ECS has no service {ecs_service}: nothing to scale"),
                    result: None,
                }),
            }
        }
    }
}

/// The task definition live when the deployment was requested: the rollback target.
fn plan_live_arn(row: &DeploymentRow) -> Option<String> {
    serde_json::from_str::<app::dto::PlanView>(&row.plan)
        .ok()
        .map(|p| p.live_task_definition_arn)
        .filter(|a| !a.is_empty())
}

const ALREADY_EXISTS: &[&str] = &[
    "DBSnapshotAlreadyExists",
    "DBSnapshotAlreadyExistsFault",
    "SnapshotAlreadyExistsFault",
];

pub async fn change(ctx: &StepContext<'_>, step: &Step) -> Result<Changed, AwsError> {
    let env = ctx.environment;
    let tags = vec![
        (TAG_DEPLOYMENT.to_string(), ctx.deployment.id.clone()),
        (
            "signalbox:release".to_string(),
            ctx.deployment.release_id.clone(),
        ),
    ];
    match step {
        Step::SnapshotDatabase { instance, snapshot } => {
            const OP: &str = "RDS CreateDBSnapshot";
            match ctx
                .aws
                .databases
                .create_snapshot(instance, snapshot, &tags)
                .await
            {
                Ok(applied) => Ok(Changed {
                    operation: OP,
                    request_id: applied.request_id,
                    detail: format!("{snapshot} creating"),
                    result: None,
                    finished: false,
                }),
                Err(e)
                    if e.code
                        .as_deref()
                        .is_some_and(|c| ALREADY_EXISTS.contains(&c)) =>
                {
                    Ok(Changed {
                        operation: OP,
                        request_id: e.request_id,
                        detail: format!("{snapshot} already being created"),
                        result: None,
                        finished: false,
                    })
                }
                Err(e) => Err(e),
            }
        }
        Step::SnapshotCache { cluster, snapshot } => {
            const OP: &str = "ElastiCache CreateSnapshot";
            match ctx.aws.caches.create_snapshot(cluster, snapshot).await {
                Ok(applied) => Ok(Changed {
                    operation: OP,
                    request_id: applied.request_id,
                    detail: format!("{snapshot} creating"),
                    result: None,
                    finished: false,
                }),
                Err(e)
                    if e.code
                        .as_deref()
                        .is_some_and(|c| ALREADY_EXISTS.contains(&c)) =>
                {
                    Ok(Changed {
                        operation: OP,
                        request_id: e.request_id,
                        detail: format!("{snapshot} already being created"),
                        result: None,
                        finished: false,
                    })
                }
                Err(e) => Err(e),
            }
        }
        Step::RegisterTaskDefinition {
            family,
            base_arn,
            change,
        } => {
            let applied = ctx
                .aws
                .deployer
                .register_revision(base_arn, family, change, &tags)
                .await?;
            Ok(Changed {
                operation: "ECS RegisterTaskDefinition",
                request_id: applied.request_id,
                detail: format!(
                    "{} registered",
                    crate::aws::ecs::family_revision_of_arn(&applied.value)
                ),
                result: Some(json!({ "arn": applied.value })),
                finished: true,
            })
        }
        Step::DeployIdle {
            ecs_service,
            desired,
            colour,
        } => {
            let arn = new_revision(ctx).unwrap_or_default();
            let applied = ctx
                .aws
                .deployer
                .update_service(&env.cluster, ecs_service, Some(&arn), *desired)
                .await?;
            Ok(Changed {
                operation: "ECS UpdateService",
                request_id: applied.request_id,
                detail: format!(
                    "{colour} updated to {} with {desired} tasks",
                    crate::aws::ecs::family_revision_of_arn(&arn)
                ),
                result: None,
                finished: true,
            })
        }
        Step::Switch { to, percent } => {
            let forwarding = ctx
                .aws
                .routing
                .forwarding(
                    &env.load_balancer,
                    ctx.service.listener_port,
                    ctx.service.rule_priority,
                )
                .await?;
            let goal = target_shares(*to, *percent);
            let mut weights = Vec::new();
            for (colour, share) in [(Colour::Blue, goal.0), (Colour::Green, goal.1)] {
                let ids = ctx
                    .aws
                    .routing
                    .metric_dimensions(&env.load_balancer, &ctx.service.colour(colour).target_group)
                    .await?;
                weights.push((ids.target_group_arn, i32::from(share)));
            }
            let applied = ctx.aws.switch.forward(&forwarding, &weights).await?;
            Ok(Changed {
                operation: match forwarding.rule_arn {
                    Some(_) => "ELBv2 ModifyRule",
                    None => "ELBv2 ModifyListener",
                },
                request_id: applied.request_id,
                detail: format!("{}: {}", route_name(ctx.service), describe_shares(goal)),
                result: Some(json!({ "blue": goal.0, "green": goal.1 })),
                finished: true,
            })
        }
        Step::ScaleDown {
            colour,
            ecs_service,
            ..
        } => {
            let applied = ctx
                .aws
                .deployer
                .update_service(&env.cluster, ecs_service, None, 0)
                .await?;
            Ok(Changed {
                operation: "ECS UpdateService",
                request_id: applied.request_id,
                detail: format!("{colour} scaled to 0 tasks"),
                result: None,
                finished: true,
            })
        }
        Step::WaitReady { .. } | Step::Pause { .. } | Step::Bake { .. } => Ok(Changed {
            operation: "none",
            request_id: None,
            detail: String::new(),
            result: None,
            finished: true,
        }),
    }
}

/// What carries the service's traffic, in the timeline's words: the listener's default action or one rule.
fn route_name(service: &ServiceConfig) -> String {
    match service.rule_priority {
        Some(priority) => format!("listener rule {priority}"),
        None => "listener".into(),
    }
}

/// The operation a step's change calls, for the record of a call that failed.
pub fn operation_of(step: &Step, service: &ServiceConfig) -> &'static str {
    match step {
        Step::SnapshotDatabase { .. } => "RDS CreateDBSnapshot",
        Step::SnapshotCache { .. } => "ElastiCache CreateSnapshot",
        Step::RegisterTaskDefinition { .. } => "ECS RegisterTaskDefinition",
        Step::DeployIdle { .. } | Step::ScaleDown { .. } => "ECS UpdateService",
        Step::Switch { .. } if service.rule_priority.is_some() => "ELBv2 ModifyRule",
        Step::Switch { .. } => "ELBv2 ModifyListener",
        Step::WaitReady { .. } | Step::Pause { .. } | Step::Bake { .. } => "none",
    }
}
