//! One backup collector per environment: every `[backups] refresh_secs` (and at once after an action) it reads the
//! RDS instance and its snapshots, the copies in the DR region, the Redis cluster and its snapshots, and the drill
//! records; pages, the API and the release engine judge that reading. A part that cannot be read is "unknown"
//! with the reason on the next reading, never its last good value: a backup check must not stay green on old data.

use super::checks::{assess, Drill, Observed};
use super::policy::BackupPolicy;
use crate::audit::chain::canonical_time;
use crate::aws::{AwsError, EnvironmentAws};
use crate::config::EnvironmentConfig;
use crate::storage::{AuditQuery, DrillRow, SharedStorage};
use crate::topology::{overdue, summarise_failures, FailureEpisode};
use app::dto::{BackupActionView, BackupsView, DrCopy, DrillView, Outcome, PanelState};
use std::sync::Arc;
use time::OffsetDateTime;
use tokio::sync::{watch, Notify};

/// Drill records shown and judged per environment.
const DRILLS_KEPT: u32 = 50;
/// Recent console actions shown with their state.
const ACTIONS_SHOWN: u32 = 10;
/// How often to re-read while a snapshot or copy is being made, so its progress and end show.
const IN_PROGRESS_REFRESH: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct BackupReading {
    pub observed: Observed,
    pub drills: Vec<DrillRow>,
    pub observed_at: OffsetDateTime,
    /// Our words for every read that failed this round.
    pub error: Option<String>,
}

pub struct BackupCollector {
    environment: EnvironmentConfig,
    aws: EnvironmentAws,
    storage: SharedStorage,
    policy: BackupPolicy,
    state: watch::Sender<Option<BackupReading>>,
    wake: Notify,
    episode: FailureEpisode,
}

fn pending<T>() -> Option<Result<T, String>> {
    Some(Err("not read yet".to_string()))
}

fn read<T>(result: Result<T, AwsError>, failures: &mut Vec<AwsError>) -> Result<T, String> {
    result.map_err(|error| {
        let message = error.public_message();
        failures.push(error);
        message
    })
}

impl BackupCollector {
    pub fn new(
        environment: EnvironmentConfig,
        aws: EnvironmentAws,
        storage: SharedStorage,
        policy: BackupPolicy,
    ) -> Arc<Self> {
        Arc::new(BackupCollector {
            environment,
            aws,
            storage,
            policy,
            state: watch::Sender::new(None),
            wake: Notify::new(),
            episode: FailureEpisode::default(),
        })
    }

    pub fn environment(&self) -> &EnvironmentConfig {
        &self.environment
    }

    pub fn policy(&self) -> &BackupPolicy {
        &self.policy
    }

    pub fn aws(&self) -> &EnvironmentAws {
        &self.aws
    }

    pub fn subscribe(&self) -> watch::Receiver<Option<BackupReading>> {
        self.state.subscribe()
    }

    /// Asks for a reading now (after an action), instead of at the next interval.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Whether a snapshot or copy is still being made: then the page follows it closely.
    fn in_progress(&self) -> bool {
        let reading = self.state.borrow();
        let Some(reading) = reading.as_ref() else {
            return false;
        };
        let busy = |status: &str| status != "available";
        let observed = &reading.observed;
        [&observed.snapshots, &observed.dr_snapshots]
            .into_iter()
            .flatten()
            .flatten()
            .flatten()
            .any(|s| busy(&s.status))
            || observed
                .cache_snapshots
                .iter()
                .flatten()
                .flatten()
                .any(|s| busy(&s.status))
    }

    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            self.collect_once().await;
            let wait = match self.in_progress() {
                true => self.policy.refresh.min(IN_PROGRESS_REFRESH),
                false => self.policy.refresh,
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.notified() => {}
                _ = shutdown.changed() => break,
            }
            if *shutdown.borrow() {
                break;
            }
        }
    }

    #[tracing::instrument(skip_all, fields(environment = %self.environment.name))]
    pub async fn collect_once(&self) {
        let env = &self.environment;
        let mut failures = Vec::new();
        let mut observed = Observed {
            dr_region: env.dr_region.clone(),
            ..Observed::default()
        };
        if let Some(instance) = &env.rds_instance {
            let (database, snapshots) = tokio::join!(
                self.aws.databases.instance(instance),
                self.aws.databases.snapshots(instance)
            );
            observed.database = Some(read(database, &mut failures));
            observed.snapshots = Some(read(snapshots, &mut failures));
            if let Some(dr) = &self.aws.dr_databases {
                observed.dr_snapshots = Some(read(dr.snapshots(instance).await, &mut failures));
            }
        }
        if let Some(cluster) = &env.elasticache_cluster {
            let (found, snapshots) = tokio::join!(
                self.aws.caches.cluster(cluster),
                self.aws.caches.snapshots(cluster)
            );
            observed.cache = Some(read(found, &mut failures));
            observed.cache_snapshots = Some(read(snapshots, &mut failures));
        }
        let drills = match self.storage.drills(&env.name, DRILLS_KEPT).await {
            Ok(rows) => rows,
            Err(error) => {
                tracing::error!(environment = %env.name, %error, "restore drills could not be read");
                observed.drills = Some(Err("the drill records could not be read".into()));
                Vec::new()
            }
        };
        if observed.drills.is_none() {
            observed.drills = Some(Ok(drills
                .iter()
                .map(|d| Drill {
                    performed_at: d.performed_at,
                    snapshot: d.snapshot.clone(),
                    passed: d.passed,
                })
                .collect()));
        }
        self.episode.observe(&env.name, "backup reads", &failures);
        self.state.send_replace(Some(BackupReading {
            observed,
            drills,
            observed_at: OffsetDateTime::now_utc(),
            error: summarise_failures(&failures),
        }));
    }

    /// The Backups page's content: the last reading judged now, with recent actions and their state.
    pub async fn view(&self, region: &str) -> BackupsView {
        let reading = self.state.borrow().clone();
        let now = OffsetDateTime::now_utc();
        let (observed, drills, state) = match reading {
            Some(reading) => (
                reading.observed,
                reading.drills,
                PanelState {
                    as_of: Some(canonical_time(reading.observed_at)),
                    age_secs: Some((now - reading.observed_at).whole_seconds().max(0) as u64),
                    stale: reading.error.is_some()
                        || overdue(self.policy.refresh, reading.observed_at, now),
                    error: reading.error,
                },
            ),
            // Not read yet: every check is unknown rather than green.
            None => {
                let env = &self.environment;
                let observed = Observed {
                    database: env.rds_instance.as_ref().and_then(|_| pending()),
                    snapshots: env.rds_instance.as_ref().and_then(|_| pending()),
                    dr_region: env.dr_region.clone(),
                    dr_snapshots: None,
                    cache: env.elasticache_cluster.as_ref().and_then(|_| pending()),
                    cache_snapshots: None,
                    drills: pending(),
                };
                (
                    observed,
                    Vec::new(),
                    PanelState {
                        stale: true,
                        error: Some("not read yet".into()),
                        ..PanelState::default()
                    },
                )
            }
        };
        let assessment = assess(&self.policy, &observed, now);
        let actions = self.actions(&assessment).await;
        BackupsView {
            environment: self.environment.name.clone(),
            region: region.to_string(),
            state,
            verdict: assessment.verdict,
            checks: assessment.checks,
            database: assessment.database,
            snapshots: assessment.snapshots,
            cache: assessment.cache,
            drills: drills.iter().map(drill_view).collect(),
            actions,
            policy: self.policy.view(self.environment.dr_region.as_deref()),
        }
    }

    /// The console's recent backup actions for this environment (from the audit trail, which records each), with
    /// where each stands now according to the last reading.
    async fn actions(&self, assessment: &super::checks::Assessment) -> Vec<BackupActionView> {
        let query = AuditQuery {
            action: Some("backups".into()),
            environment: Some(self.environment.name.clone()),
            ..AuditQuery::default()
        };
        let events = match self
            .storage
            .audit_page(&query, None, ACTIONS_SHOWN * 2)
            .await
        {
            Ok(events) => events,
            Err(error) => {
                tracing::error!(%error, "backup actions could not be read from the audit trail");
                return Vec::new();
            }
        };
        events
            .into_iter()
            .filter(|e| {
                matches!(
                    e.record.action.as_str(),
                    "backups.rds_snapshot" | "backups.redis_snapshot" | "backups.dr_copy"
                ) && e.record.outcome != Outcome::Denied
            })
            .take(ACTIONS_SHOWN as usize)
            .map(|event| {
                let target = event.record.target.clone();
                let (state, detail) = match event.record.outcome {
                    Outcome::Failed => ("failed".to_string(), Some(event.record.reason.clone())),
                    _ => action_state(&event.record.action, &target, assessment),
                };
                BackupActionView {
                    action: event.record.action.clone(),
                    target,
                    requested_by: event.record.actor.clone(),
                    requested_at: event.occurred_at.clone(),
                    state,
                    detail,
                }
            })
            .collect()
    }
}

fn action_state(
    action: &str,
    target: &str,
    assessment: &super::checks::Assessment,
) -> (String, Option<String>) {
    let progress = |status: &str, progress: Option<i32>| match status {
        "available" => ("done".to_string(), None),
        "failed" | "error" => (
            "failed".to_string(),
            Some(format!("AWS reports the snapshot {status}")),
        ),
        other => (
            "in progress".to_string(),
            Some(match progress {
                Some(p) => format!("{other}, {p} %"),
                None => other.to_string(),
            }),
        ),
    };
    let gone = || {
        (
            "gone".to_string(),
            Some("no longer listed by AWS (deleted?)".to_string()),
        )
    };
    match action {
        "backups.rds_snapshot" => assessment
            .snapshots
            .iter()
            .find(|s| s.id == target)
            .map(|s| progress(&s.status, s.progress))
            .unwrap_or_else(gone),
        "backups.redis_snapshot" => assessment
            .cache
            .as_ref()
            .and_then(|c| c.snapshots.iter().find(|s| s.name == target))
            .map(|s| progress(&s.status, None))
            .unwrap_or_else(gone),
        "backups.dr_copy" => match assessment
            .snapshots
            .iter()
            .find(|s| s.id == target)
            .map(|s| &s.dr_copy)
        {
            Some(DrCopy::Present { .. }) => ("done".to_string(), None),
            Some(DrCopy::Copying { progress: p, .. }) => progress("copying", *p),
            Some(DrCopy::Unknown { reason }) => ("unknown".to_string(), Some(reason.clone())),
            _ => gone(),
        },
        _ => ("unknown".to_string(), None),
    }
}

pub fn drill_view(row: &DrillRow) -> DrillView {
    DrillView {
        id: row.id,
        environment: row.environment.clone(),
        performed_at: canonical_time(row.performed_at),
        performed_by: row.performed_by.clone(),
        snapshot: row.snapshot.clone(),
        duration_minutes: row.duration_minutes.max(0) as u32,
        passed: row.passed,
        notes: row.notes.clone(),
        recorded_by: row.recorded_by.clone(),
    }
}
