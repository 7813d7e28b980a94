//! The shared topology collector: one per environment, polling AWS on an interval and caching what it read, so
//! the number of viewers never changes the number of AWS calls. Readers subscribe to a watch channel.

use crate::aws::{
    AwsError, AwsErrorKind, EcsServiceState, EnvironmentAws, Forwarding, TaskDefinitionSummary,
};
use crate::config::{EnvironmentConfig, ServiceConfig};
use crate::storage::{SharedStorage, TopologyChange, TopologySnapshot};
use app::dto::{Colour, ColourOverview, EcsServiceSummary, Routing, ServiceOverview};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::watch;

/// What the collector last knows of one environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub services: Vec<ServiceOverview>,
    /// When `services` was read from AWS; None if it never was.
    pub observed_at: Option<OffsetDateTime>,
    /// Why the latest attempt failed, in words fit for a person.
    pub error: Option<String>,
    /// `services` is older than the latest attempt.
    pub stale: bool,
}

pub struct TopologyCollector {
    environment: EnvironmentConfig,
    aws: EnvironmentAws,
    storage: SharedStorage,
    interval: Duration,
    state: watch::Sender<Option<Reading>>,
    // Task definition revisions are immutable: read each ARN once.
    task_definitions: Mutex<HashMap<String, TaskDefinitionSummary>>,
    failing: FailureEpisode,
}

impl TopologyCollector {
    pub fn new(
        environment: EnvironmentConfig,
        aws: EnvironmentAws,
        storage: SharedStorage,
        interval: Duration,
    ) -> Arc<Self> {
        Arc::new(TopologyCollector {
            environment,
            aws,
            storage,
            interval,
            state: watch::Sender::new(None),
            task_definitions: Mutex::new(HashMap::new()),
            failing: FailureEpisode::default(),
        })
    }

    pub fn environment(&self) -> &EnvironmentConfig {
        &self.environment
    }

    /// True when data read at `observed_at` is older than two polling intervals: a panel shows it as stale even
    /// when no read has failed (a stuck collector, a paused process).
    pub fn is_overdue(&self, observed_at: OffsetDateTime, now: OffsetDateTime) -> bool {
        overdue(self.interval, observed_at, now)
    }

    pub fn subscribe(&self) -> watch::Receiver<Option<Reading>> {
        self.state.subscribe()
    }

    /// Starts from the last snapshot in the database, marked stale, so a restart shows something at once.
    pub async fn restore(&self) {
        match self.storage.latest_topology(&self.environment.name).await {
            Ok(Some(snapshot)) => {
                match serde_json::from_str::<Vec<ServiceOverview>>(&snapshot.payload) {
                    Ok(services) => {
                        self.state.send_if_modified(|state| {
                            if state.is_some() {
                                return false;
                            }
                            *state = Some(Reading {
                                services,
                                observed_at: Some(snapshot.observed_at),
                                error: None,
                                stale: true,
                            });
                            true
                        });
                    }
                    Err(e) => {
                        tracing::warn!(environment = %self.environment.name, error = %e, "stored topology snapshot unreadable; ignoring it")
                    }
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(environment = %self.environment.name, error = %e, "could not load the stored topology snapshot")
            }
        }
    }

    /// Polls until `shutdown` resolves, starting from the stored snapshot.
    pub async fn run(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        self.restore().await;
        poll_until_shutdown(self.interval, shutdown, || self.collect_once()).await;
    }

    /// One round of reads; publishes the new reading. Returns true when AWS throttled us.
    #[tracing::instrument(skip_all, fields(environment = %self.environment.name))]
    pub async fn collect_once(&self) -> bool {
        let environment = &self.environment;
        let ecs_names: Vec<String> = environment
            .services
            .iter()
            .flat_map(|s| [s.blue.ecs_service.clone(), s.green.ecs_service.clone()])
            .collect();
        let routing_reads = futures::future::join_all(environment.services.iter().map(|service| {
            self.aws.routing.forwarding(
                &environment.load_balancer,
                service.listener_port,
                service.rule_priority,
            )
        }));
        let (forwardings, ecs) = tokio::join!(
            routing_reads,
            self.aws.fleet.services(&environment.cluster, &ecs_names)
        );

        let mut failures: Vec<AwsError> = Vec::new();
        let ecs = match ecs {
            Ok(found) => Some(found),
            Err(e) => {
                failures.push(e);
                None
            }
        };
        let mut services = Vec::with_capacity(environment.services.len());
        for (service, forwarding) in environment.services.iter().zip(forwardings) {
            let routing = match forwarding {
                Ok(forwarding) => routing_of(service, &forwarding),
                Err(e) => {
                    let routing = Routing::Unknown {
                        reason: e.public_message(),
                    };
                    failures.push(e);
                    routing
                }
            };
            let mut colours = Vec::with_capacity(2);
            for colour in [Colour::Blue, Colour::Green] {
                let config = service.colour(colour);
                let (summary, error) = match &ecs {
                    None => (None, Some("ECS could not be read".to_string())),
                    Some(found) => match found.get(&config.ecs_service) {
                        None => (
                            None,
                            Some(format!(
                                "ECS service {} not found in {}",
                                config.ecs_service, environment.cluster
                            )),
                        ),
                        Some(state) => match self.summarise(state).await {
                            Ok(summary) => (Some(summary), None),
                            Err(e) => {
                                let message = e.public_message();
                                failures.push(e);
                                (None, Some(message))
                            }
                        },
                    },
                };
                colours.push(ColourOverview {
                    colour,
                    ecs_service: config.ecs_service.clone(),
                    target_group: config.target_group.clone(),
                    ecs: summary,
                    error,
                    health: None,
                });
            }
            let green = colours.pop().expect("two colours");
            let blue = colours.pop().expect("two colours");
            services.push(ServiceOverview {
                name: service.name.clone(),
                routing,
                blue,
                green,
            });
        }

        let throttled = failures.iter().any(|e| e.kind == AwsErrorKind::Throttled);
        self.log_episode(&failures);
        let now = OffsetDateTime::now_utc();
        let nothing_read = ecs.is_none()
            && services
                .iter()
                .all(|s| matches!(s.routing, Routing::Unknown { .. }));
        let error = summarise_failures(&failures);
        let previous = self.state.borrow().clone();

        let reading = match previous {
            // Everything failed: keep showing the last good data, marked stale.
            Some(previous) if nothing_read && previous.observed_at.is_some() => Reading {
                error,
                stale: true,
                ..previous
            },
            _ if nothing_read => Reading {
                services,
                observed_at: None,
                error,
                stale: false,
            },
            previous => {
                let changes = previous
                    .filter(|p| p.observed_at.is_some())
                    .map(|p| changes_between(&environment.name, &p.services, &services, now))
                    .unwrap_or_default();
                self.persist(&services, &changes, now).await;
                Reading {
                    services,
                    observed_at: Some(now),
                    error,
                    stale: false,
                }
            }
        };
        self.state.send_replace(Some(reading));
        throttled
    }

    async fn summarise(&self, state: &EcsServiceState) -> Result<EcsServiceSummary, AwsError> {
        let cached = self
            .task_definitions
            .lock()
            .expect("lock")
            .get(&state.task_definition_arn)
            .cloned();
        let definition = match cached {
            Some(definition) => definition,
            None => {
                let definition = self
                    .aws
                    .fleet
                    .task_definition(&state.task_definition_arn)
                    .await?;
                self.task_definitions
                    .lock()
                    .expect("lock")
                    .insert(state.task_definition_arn.clone(), definition.clone());
                definition
            }
        };
        Ok(EcsServiceSummary {
            status: state.status.clone(),
            running: state.running,
            desired: state.desired,
            pending: state.pending,
            task_definition: definition.family_revision(),
            image: definition.main_image().map(str::to_string),
            rollout: state.primary_rollout().map(str::to_string),
            deployments: state.deployments.len() as u32,
            rollouts: state.deployments.iter().map(deployment_view).collect(),
        })
    }

    async fn persist(
        &self,
        services: &[ServiceOverview],
        changes: &[TopologyChange],
        now: OffsetDateTime,
    ) {
        let payload = match serde_json::to_string(services) {
            Ok(payload) => payload,
            Err(e) => {
                tracing::error!(error = %e, "topology snapshot could not be serialised");
                return;
            }
        };
        let snapshot = TopologySnapshot {
            environment: self.environment.name.clone(),
            observed_at: now,
            payload,
        };
        if let Err(e) = self.storage.record_topology(&snapshot, changes).await {
            tracing::warn!(environment = %self.environment.name, error = %e, "could not store the topology snapshot");
        }
        for change in changes {
            tracing::info!(
                environment = %change.environment, service = %change.service, field = %change.field,
                before = ?change.before, after = ?change.after, "topology changed"
            );
        }
    }

    /// Logs a failure once when an episode starts and once when it ends, not on every poll.
    fn log_episode(&self, failures: &[AwsError]) {
        self.failing
            .observe(&self.environment.name, "AWS reads", failures);
    }
}

fn deployment_view(deployment: &crate::aws::EcsDeployment) -> app::dto::DeploymentView {
    app::dto::DeploymentView {
        id: deployment.id.clone(),
        status: deployment.status.clone(),
        task_definition: crate::aws::ecs::family_revision_of_arn(&deployment.task_definition_arn),
        rollout_state: deployment.rollout_state.clone(),
        rollout_state_reason: deployment.rollout_state_reason.clone(),
        desired: deployment.desired,
        running: deployment.running,
        pending: deployment.pending,
        failed_tasks: deployment.failed_tasks,
        created_at: deployment
            .created_at
            .map(crate::audit::chain::canonical_time),
        created_unix: deployment.created_at.map(OffsetDateTime::unix_timestamp),
    }
}

/// Runs `round` every `interval` until `shutdown`. A round that reports throttling doubles the wait (up to 8× the
/// interval) until AWS recovers. Shared by every collector.
pub async fn poll_until_shutdown<F, Fut>(
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
    mut round: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut backoff = 1u32;
    loop {
        let throttled = round().await;
        backoff = if throttled { (backoff * 2).min(8) } else { 1 };
        tokio::select! {
            _ = tokio::time::sleep(interval * backoff) => {}
            _ = shutdown.changed() => break,
        }
        if *shutdown.borrow() {
            break;
        }
    }
}

/// Data older than two polling intervals is stale, whatever the last read said.
pub fn overdue(interval: Duration, observed_at: OffsetDateTime, now: OffsetDateTime) -> bool {
    (now - observed_at).whole_milliseconds() > 2 * interval.as_millis() as i128
}

/// Logs a run of failures once when it starts and once when it ends, not on every poll.
#[derive(Default)]
pub struct FailureEpisode {
    failing: Mutex<bool>,
}

impl FailureEpisode {
    pub fn observe(&self, environment: &str, what: &str, failures: &[AwsError]) {
        let mut failing = self.failing.lock().expect("lock");
        match (failures.first(), *failing) {
            (Some(first), false) => {
                tracing::warn!(%environment, error = %first, failures = failures.len(), "{what} failing");
                *failing = true;
            }
            (None, true) => {
                tracing::info!(%environment, "{what} recovered");
                *failing = false;
            }
            _ => {}
        }
    }
}

pub(crate) fn summarise_failures(failures: &[AwsError]) -> Option<String> {
    let mut messages: Vec<String> = Vec::new();
    for message in failures.iter().map(AwsError::public_message) {
        if !messages.contains(&message) {
            messages.push(message);
        }
    }
    (!messages.is_empty()).then(|| messages.join("; "))
}

/// Which colour the listener serves, from the forward action's target groups.
pub fn routing_of(service: &ServiceConfig, forwarding: &Forwarding) -> Routing {
    let shares = forwarding.percentages();
    let share_of = |colour: Colour| -> Option<u8> {
        let name = &service.colour(colour).target_group;
        shares.iter().find(|(n, _)| n == name).map(|(_, pct)| *pct)
    };
    match (share_of(Colour::Blue), share_of(Colour::Green)) {
        (Some(blue), Some(green)) if blue > 0 && green > 0 => Routing::Split { blue, green },
        (Some(blue), _) if blue > 0 => Routing::Live {
            colour: Colour::Blue,
        },
        (_, Some(green)) if green > 0 => Routing::Live {
            colour: Colour::Green,
        },
        _ => {
            let names: Vec<&str> = shares.iter().map(|(n, _)| n.as_str()).collect();
            Routing::Unknown {
                reason: if names.is_empty() {
                    "the listener has no forward action".to_string()
                } else {
                    format!(
                        "the listener forwards to {} — neither colour's target group",
                        names.join(", ")
                    )
                },
            }
        }
    }
}

fn routing_label(routing: &Routing) -> String {
    match routing {
        Routing::Live { colour } => colour.to_string(),
        Routing::Split { blue, green } => format!("blue {blue}% / green {green}%"),
        Routing::Unknown { .. } => "unknown".to_string(),
    }
}

/// The differences worth recording between two readings: the live colour, and each colour's task definition.
pub fn changes_between(
    environment: &str,
    before: &[ServiceOverview],
    after: &[ServiceOverview],
    at: OffsetDateTime,
) -> Vec<TopologyChange> {
    let mut changes = Vec::new();
    for new in after {
        let Some(old) = before.iter().find(|s| s.name == new.name) else {
            continue;
        };
        let change = |field: &str, before: Option<String>, after: Option<String>| TopologyChange {
            environment: environment.to_string(),
            service: new.name.clone(),
            field: field.to_string(),
            before,
            after,
            observed_at: at,
        };
        let (old_routing, new_routing) = (routing_label(&old.routing), routing_label(&new.routing));
        if old_routing != new_routing && new_routing != "unknown" && old_routing != "unknown" {
            changes.push(change("live_colour", Some(old_routing), Some(new_routing)));
        }
        for colour in [Colour::Blue, Colour::Green] {
            let old_td = old
                .colour(colour)
                .ecs
                .as_ref()
                .map(|e| e.task_definition.clone());
            let new_td = new
                .colour(colour)
                .ecs
                .as_ref()
                .map(|e| e.task_definition.clone());
            if old_td.is_some() && new_td.is_some() && old_td != new_td {
                changes.push(change(&format!("{colour}.task_definition"), old_td, new_td));
            }
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_older_than_two_intervals_is_overdue() {
        let at = OffsetDateTime::UNIX_EPOCH;
        let interval = Duration::from_secs(15);
        assert!(!overdue(interval, at, at + time::Duration::seconds(30)));
        assert!(overdue(interval, at, at + time::Duration::seconds(31)));
    }
    use crate::aws::TargetGroupWeight;
    use crate::config::ColourConfig;

    fn service() -> ServiceConfig {
        ServiceConfig {
            name: "api".into(),
            listener_port: 80,
            rule_priority: None,
            blue: ColourConfig {
                ecs_service: "api-blue".into(),
                target_group: "tg-blue".into(),
            },
            green: ColourConfig {
                ecs_service: "api-green".into(),
                target_group: "tg-green".into(),
            },
        }
    }

    fn forwarding(targets: &[(&str, Option<i32>)]) -> Forwarding {
        Forwarding {
            listener_arn: "arn".into(),
            rule_arn: None,
            targets: targets
                .iter()
                .map(|(name, weight)| TargetGroupWeight {
                    arn: format!("arn/{name}"),
                    name: name.to_string(),
                    weight: *weight,
                })
                .collect(),
        }
    }

    #[test]
    fn routing_reads_live_split_and_foreign_forwards() {
        let s = service();
        assert_eq!(
            routing_of(&s, &forwarding(&[("tg-blue", None)])),
            Routing::Live {
                colour: Colour::Blue
            }
        );
        assert_eq!(
            routing_of(
                &s,
                &forwarding(&[("tg-blue", Some(0)), ("tg-green", Some(100))])
            ),
            Routing::Live {
                colour: Colour::Green
            }
        );
        assert_eq!(
            routing_of(
                &s,
                &forwarding(&[("tg-blue", Some(90)), ("tg-green", Some(10))])
            ),
            Routing::Split {
                blue: 90,
                green: 10
            }
        );
        match routing_of(&s, &forwarding(&[("somebody-else", None)])) {
            Routing::Unknown { reason } => assert!(reason.contains("somebody-else"), "{reason}"),
            other => panic!("expected unknown, got {other:?}"),
        }
        assert!(matches!(
            routing_of(&s, &forwarding(&[])),
            Routing::Unknown { .. }
        ));
    }

    fn overview(routing: Routing, blue_td: &str) -> ServiceOverview {
        let colour = |colour: Colour, td: &str| ColourOverview {
            colour,
            ecs_service: format!("api-{colour}"),
            target_group: format!("tg-{colour}"),
            ecs: Some(EcsServiceSummary {
                status: "ACTIVE".into(),
                running: 4,
                desired: 4,
                pending: 0,
                task_definition: td.into(),
                image: None,
                rollout: None,
                deployments: 1,
                rollouts: Vec::new(),
            }),
            error: None,
            health: None,
        };
        ServiceOverview {
            name: "api".into(),
            routing,
            blue: colour(Colour::Blue, blue_td),
            green: colour(Colour::Green, "api:7"),
        }
    }

    #[test]
    fn changes_record_a_switch_and_a_new_revision() {
        let at = OffsetDateTime::UNIX_EPOCH;
        let before = [overview(
            Routing::Live {
                colour: Colour::Blue,
            },
            "api:6",
        )];
        let after = [overview(
            Routing::Live {
                colour: Colour::Green,
            },
            "api:8",
        )];
        let changes = changes_between("production", &before, &after, at);
        let fields: Vec<_> = changes
            .iter()
            .map(|c| (c.field.as_str(), c.before.as_deref(), c.after.as_deref()))
            .collect();
        assert_eq!(
            fields,
            [
                ("live_colour", Some("blue"), Some("green")),
                ("blue.task_definition", Some("api:6"), Some("api:8"))
            ]
        );
        assert!(changes_between("production", &before, &before, at).is_empty());
    }
}
