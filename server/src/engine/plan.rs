//! The deployment plan, pure: the steps a deployment takes, the task definition diff, the names of the
//! snapshots, and which state each step puts the deployment in. Frozen when the deployment is requested.

use crate::aws::{TaskDefinitionChange, TaskDefinitionSpec};
use crate::config::{Colour, DeployPolicy, EnvironmentConfig, ServiceConfig};
use app::dto::{DeploymentState, DiffLine};
use serde::{Deserialize, Serialize};

/// One step of a deployment. Stored as JSON in `deployment_steps.params`; `kind` is its tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Step {
    SnapshotDatabase {
        instance: String,
        snapshot: String,
    },
    SnapshotCache {
        cluster: String,
        snapshot: String,
    },
    RegisterTaskDefinition {
        family: String,
        base_arn: String,
        change: TaskDefinitionChange,
    },
    /// Points the idle colour's service at the new revision with the live colour's desired count.
    DeployIdle {
        colour: Colour,
        ecs_service: String,
        desired: i32,
    },
    WaitReady {
        colour: Colour,
        ecs_service: String,
        target_group: String,
        desired: i32,
        timeout_secs: u64,
    },
    /// `percent` of the service's traffic to `to`, the rest to the other colour.
    Switch {
        to: Colour,
        percent: u8,
    },
    Pause {
        secs: u64,
    },
    Bake {
        secs: u64,
    },
    ScaleDown {
        colour: Colour,
        ecs_service: String,
        delay_secs: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Forward,
    Rollback,
    Cleanup,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Forward => "forward",
            Phase::Rollback => "rollback",
            Phase::Cleanup => "cleanup",
        }
    }

    pub fn parse(text: &str) -> Phase {
        match text {
            "rollback" => Phase::Rollback,
            "cleanup" => Phase::Cleanup,
            _ => Phase::Forward,
        }
    }
}

impl Step {
    pub fn kind(&self) -> &'static str {
        match self {
            Step::SnapshotDatabase { .. } => "snapshot_database",
            Step::SnapshotCache { .. } => "snapshot_cache",
            Step::RegisterTaskDefinition { .. } => "register_task_definition",
            Step::DeployIdle { .. } => "deploy_idle",
            Step::WaitReady { .. } => "wait_ready",
            Step::Switch { .. } => "switch",
            Step::Pause { .. } => "pause",
            Step::Bake { .. } => "bake",
            Step::ScaleDown { .. } => "scale_down",
        }
    }

    /// What the step does, in words for the timeline.
    pub fn title(&self) -> String {
        match self {
            Step::SnapshotDatabase { snapshot, .. } => format!("RDS snapshot {snapshot}"),
            Step::SnapshotCache { snapshot, .. } => format!("Redis snapshot {snapshot}"),
            Step::RegisterTaskDefinition { family, .. } => {
                format!("Register a task definition revision in {family}")
            }
            Step::DeployIdle {
                colour,
                ecs_service,
                desired,
            } => format!("Deploy {colour} ({ecs_service}) with {desired} tasks"),
            Step::WaitReady {
                colour, desired, ..
            } => format!(
                "Wait until {colour} has {desired} healthy targets and passes the health gate"
            ),
            Step::Switch { to, percent } => match percent {
                100 => format!("Switch all traffic to {to}"),
                p => format!("Switch {p} % of traffic to {to}"),
            },
            Step::Pause { secs } => format!(
                "Pause {} with the health gate watching",
                duration_words(*secs)
            ),
            Step::Bake { secs } => format!(
                "Bake {} with the health gate watching",
                duration_words(*secs)
            ),
            Step::ScaleDown {
                colour, delay_secs, ..
            } if *delay_secs > 0 => format!(
                "Scale {colour} to 0 after {} (kept for a fast rollback)",
                duration_words(*delay_secs)
            ),
            Step::ScaleDown { colour, .. } => format!("Scale {colour} to 0"),
        }
    }

    /// The state a deployment is in while this step is its current one.
    pub fn state(&self, phase: Phase) -> DeploymentState {
        match phase {
            Phase::Rollback | Phase::Cleanup => DeploymentState::RollingBack,
            Phase::Forward => match self {
                Step::SnapshotDatabase { .. } | Step::SnapshotCache { .. } => {
                    DeploymentState::Snapshot
                }
                Step::RegisterTaskDefinition { .. } | Step::DeployIdle { .. } => {
                    DeploymentState::Deploying
                }
                Step::WaitReady { .. } => DeploymentState::Ready,
                Step::Switch { .. } | Step::Pause { .. } => DeploymentState::Switching,
                Step::Bake { .. } => DeploymentState::Baking,
                Step::ScaleDown { .. } => DeploymentState::Retiring,
            },
        }
    }
}

pub fn duration_words(secs: u64) -> String {
    match secs {
        s if s >= 3600 && s % 3600 == 0 => format!("{} h", s / 3600),
        s if s >= 60 && s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// A name AWS accepts for both RDS (letters, digits, hyphens, starting with a letter, ≤ 255) and ElastiCache
/// snapshots: `<resource>-pre-<version>-<deployment id prefix>`.
pub fn snapshot_name(resource: &str, version: &str, deployment_id: &str) -> String {
    let version: String = version
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let short: String = deployment_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(8)
        .collect();
    let mut name = format!("{resource}-pre-{version}-{short}");
    while name.contains("--") {
        name = name.replace("--", "-");
    }
    name.trim_end_matches('-').chars().take(200).collect()
}

/// Everything `steps` needs to lay out a deployment.
pub struct PlanInput<'a> {
    pub environment: &'a EnvironmentConfig,
    pub service: &'a ServiceConfig,
    pub policy: &'a DeployPolicy,
    pub deployment_id: &'a str,
    pub version: &'a str,
    pub from: Colour,
    pub live_task_definition_arn: &'a str,
    pub new_family: &'a str,
    pub change: &'a TaskDefinitionChange,
    pub desired: i32,
}

/// The forward steps, in order.
pub fn steps(input: &PlanInput) -> Vec<Step> {
    let to = input.from.other();
    let idle = input.service.colour(to);
    let mut steps = Vec::new();
    if let Some(instance) = &input.environment.rds_instance {
        steps.push(Step::SnapshotDatabase {
            instance: instance.clone(),
            snapshot: snapshot_name(instance, input.version, input.deployment_id),
        });
    }
    if let Some(cluster) = &input.environment.elasticache_cluster {
        steps.push(Step::SnapshotCache {
            cluster: cluster.clone(),
            snapshot: snapshot_name(cluster, input.version, input.deployment_id),
        });
    }
    steps.push(Step::RegisterTaskDefinition {
        family: input.new_family.to_string(),
        base_arn: input.live_task_definition_arn.to_string(),
        change: input.change.clone(),
    });
    steps.push(Step::DeployIdle {
        colour: to,
        ecs_service: idle.ecs_service.clone(),
        desired: input.desired,
    });
    steps.push(Step::WaitReady {
        colour: to,
        ecs_service: idle.ecs_service.clone(),
        target_group: idle.target_group.clone(),
        desired: input.desired,
        timeout_secs: input.policy.ready_timeout_secs,
    });
    for (i, percent) in input.policy.weights.iter().enumerate() {
        if i > 0 {
            steps.push(Step::Pause {
                secs: input.policy.pause_secs,
            });
        }
        steps.push(Step::Switch {
            to,
            percent: *percent,
        });
    }
    steps.push(Step::Bake {
        secs: input.policy.bake_secs,
    });
    steps.push(Step::ScaleDown {
        colour: input.from,
        ecs_service: input.service.colour(input.from).ecs_service.clone(),
        delay_secs: input.policy.scale_down_delay_secs,
    });
    steps
}

/// Back to the old colour: all traffic to it, then the new colour scaled to 0.
pub fn rollback_steps(service: &ServiceConfig, from: Colour) -> Vec<Step> {
    let to = from.other();
    vec![
        Step::Switch {
            to: from,
            percent: 100,
        },
        Step::ScaleDown {
            colour: to,
            ecs_service: service.colour(to).ecs_service.clone(),
            delay_secs: 0,
        },
    ]
}

/// Before any traffic moved: the idle colour scaled back to 0.
pub fn cleanup_steps(service: &ServiceConfig, from: Colour) -> Vec<Step> {
    let to = from.other();
    vec![Step::ScaleDown {
        colour: to,
        ecs_service: service.colour(to).ecs_service.clone(),
        delay_secs: 0,
    }]
}

/// The task definition as it is live against what the release makes of it.
pub fn diff(live: &TaskDefinitionSpec, change: &TaskDefinitionChange) -> Vec<DiffLine> {
    let mut lines = Vec::new();
    let mut line = |field: String, before: Option<String>, after: Option<String>| {
        if before != after {
            lines.push(DiffLine {
                field,
                before,
                after,
            });
        }
    };
    line(
        "image".into(),
        Some(live.image.clone()),
        Some(change.image.clone()),
    );
    if let Some(cpu) = &change.cpu {
        line("cpu".into(), live.cpu.clone(), Some(cpu.clone()));
    }
    if let Some(memory) = &change.memory {
        line("memory".into(), live.memory.clone(), Some(memory.clone()));
    }
    for (name, value) in &change.environment {
        line(
            format!("environment.{name}"),
            live.environment.get(name).cloned(),
            Some(value.clone()),
        );
    }
    lines
}

/// Traffic percentages per colour, as the listener has them.
pub fn shares(service: &ServiceConfig, percentages: &[(String, u8)]) -> (u8, u8) {
    let share = |colour: Colour| {
        percentages
            .iter()
            .find(|(name, _)| *name == service.colour(colour).target_group)
            .map(|(_, p)| *p)
            .unwrap_or(0)
    };
    (share(Colour::Blue), share(Colour::Green))
}

/// (blue, green) percentages once `to` has `percent`.
pub fn target_shares(to: Colour, percent: u8) -> (u8, u8) {
    match to {
        Colour::Blue => (percent, 100 - percent),
        Colour::Green => (100 - percent, percent),
    }
}

pub fn describe_shares((blue, green): (u8, u8)) -> String {
    match (blue, green) {
        (100, 0) => "blue 100 %".into(),
        (0, 100) => "green 100 %".into(),
        (b, g) => format!("blue {b} % / green {g} %"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_names_are_valid_for_rds_and_redis() {
        assert_eq!(
            snapshot_name("accunode-production-db", "v1.3.0", "9f2c41d0-aaaa"),
            "accunode-production-db-pre-v1-3-0-9f2c41d0"
        );
        assert_eq!(
            snapshot_name("db", "1.0.0-rc.1+", "x"),
            "db-pre-1-0-0-rc-1-x"
        );
    }

    #[test]
    fn the_diff_lists_only_what_changes() {
        let live = TaskDefinitionSpec {
            arn: "arn".into(),
            family: "api-blue".into(),
            revision: 4,
            image: "repo/api:1".into(),
            environment: [("LOG_LEVEL".to_string(), "info".to_string())].into(),
            cpu: Some("2048".into()),
            memory: Some("4096".into()),
            tags: Default::default(),
        };
        let change = TaskDefinitionChange {
            image: "repo/api@sha256:ab".into(),
            environment: [
                ("LOG_LEVEL".to_string(), "info".to_string()),
                ("FEATURE_X".to_string(), "on".to_string()),
            ]
            .into(),
            cpu: Some("2048".into()),
            memory: Some("8192".into()),
        };
        let lines = diff(&live, &change);
        let fields: Vec<&str> = lines.iter().map(|l| l.field.as_str()).collect();
        assert_eq!(fields, ["image", "memory", "environment.FEATURE_X"]);
        assert_eq!(lines[2].before, None);
    }

    #[test]
    fn shares_follow_the_colour_that_goes_live() {
        assert_eq!(target_shares(Colour::Green, 10), (90, 10));
        assert_eq!(target_shares(Colour::Blue, 100), (100, 0));
        assert_eq!(describe_shares((90, 10)), "blue 90 % / green 10 %");
    }
}
