//! Wire types of the Health page's AWS details: ECS deployments and tasks, ALB targets, CloudWatch alarms.

use crate::dto::Colour;
use serde::{Deserialize, Serialize};

/// When one panel's data was read and whether it is still current. Each panel has its own: one failing AWS
/// read degrades its panel, not the page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PanelState {
    /// RFC 3339, if ever read.
    pub as_of: Option<String>,
    pub age_secs: Option<u64>,
    /// The last read failed, or the data is older than two refresh intervals.
    pub stale: bool,
    /// Why the last read failed, in our words.
    pub error: Option<String>,
}

/// One ECS deployment of a service (PRIMARY is the newest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentView {
    pub id: String,
    pub status: String,
    /// `family:revision`
    pub task_definition: String,
    pub rollout_state: Option<String>,
    pub rollout_state_reason: Option<String>,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    pub failed_tasks: i32,
    /// RFC 3339
    pub created_at: Option<String>,
    /// Unix seconds, for chart markers.
    pub created_unix: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskView {
    /// The last part of the task ARN, as the ECS console shows it.
    pub id: String,
    pub last_status: String,
    pub desired_status: String,
    pub health_status: Option<String>,
    pub availability_zone: Option<String>,
    pub private_ip: Option<String>,
    /// `family:revision`
    pub task_definition: String,
    pub started_at: Option<String>,
    pub stopped_at: Option<String>,
    pub stopped_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetView {
    pub id: String,
    pub port: Option<i32>,
    /// From the target, or from the ECS task with the target's address; `None` when neither says.
    pub availability_zone: Option<String>,
    /// healthy, unhealthy, initial, draining, unused, unavailable
    pub state: String,
    pub reason: Option<String>,
    pub description: Option<String>,
}

/// Target health counted per availability zone, zones in name order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneTargets {
    pub zone: String,
    pub healthy: u32,
    pub unhealthy: u32,
    /// initial, draining, unused, unavailable
    pub other: u32,
}

pub fn targets_by_zone(targets: &[TargetView]) -> Vec<ZoneTargets> {
    let mut zones: Vec<ZoneTargets> = Vec::new();
    for target in targets {
        let zone = target
            .availability_zone
            .clone()
            .unwrap_or_else(|| "zone unknown".into());
        let index = match zones.iter().position(|z| z.zone == zone) {
            Some(index) => index,
            None => {
                zones.push(ZoneTargets {
                    zone,
                    healthy: 0,
                    unhealthy: 0,
                    other: 0,
                });
                zones.len() - 1
            }
        };
        let counts = &mut zones[index];
        match target.state.as_str() {
            "healthy" => counts.healthy += 1,
            "unhealthy" => counts.unhealthy += 1,
            _ => counts.other += 1,
        }
    }
    zones.sort_by(|a, b| a.zone.cmp(&b.zone));
    zones
}

/// One colour's tasks and targets, each with its own freshness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColourFleet {
    pub colour: Colour,
    pub tasks: Vec<TaskView>,
    pub tasks_state: PanelState,
    pub targets: Vec<TargetView>,
    pub targets_state: PanelState,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmView {
    pub name: String,
    /// OK, ALARM, INSUFFICIENT_DATA
    pub state: String,
    pub reason: Option<String>,
    pub description: Option<String>,
    /// The colour whose target group or ECS service the alarm watches; `None` for an environment-wide alarm.
    pub colour: Option<Colour>,
    /// RFC 3339 of the last state change.
    pub updated_at: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(zone: Option<&str>, state: &str) -> TargetView {
        TargetView {
            id: "198.18.0.9".into(),
            port: Some(8000),
            availability_zone: zone.map(str::to_string),
            state: state.into(),
            reason: None,
            description: None,
        }
    }

    #[test]
    fn targets_are_counted_per_zone_and_unknown_zones_are_named() {
        let zones = targets_by_zone(&[
            target(Some("us-east-1b"), "healthy"),
            target(Some("us-east-1a"), "unhealthy"),
            target(Some("us-east-1a"), "healthy"),
            target(None, "draining"),
        ]);
        assert_eq!(
            zones
                .iter()
                .map(|z| (z.zone.as_str(), z.healthy, z.unhealthy, z.other))
                .collect::<Vec<_>>(),
            vec![
                ("us-east-1a", 1, 1, 0),
                ("us-east-1b", 1, 0, 0),
                ("zone unknown", 0, 0, 1)
            ]
        );
    }
}
