//! Backup and recovery status: the policy, the checks against it, and "is this environment recoverable now?".

pub mod checks;
pub mod collector;
pub mod policy;

use crate::storage::{DrillRow, SharedStorage};
use app::auth::Principal;
use app::dto::{AuditRecord, BackupAction, BackupsView, DrillView, NewDrill, Outcome};
use app::error::AppError;
use app::services::BackupService;
use collector::BackupCollector;
use std::sync::Arc;
use time::OffsetDateTime;

pub struct CollectedBackups {
    /// (region, collector) in configuration order.
    collectors: Vec<(String, Arc<BackupCollector>)>,
    storage: SharedStorage,
}

impl CollectedBackups {
    pub fn new(collectors: Vec<(String, Arc<BackupCollector>)>, storage: SharedStorage) -> Self {
        CollectedBackups {
            collectors,
            storage,
        }
    }

    fn find(&self, environment: &str) -> Result<&(String, Arc<BackupCollector>), AppError> {
        self.collectors
            .iter()
            .find(|(_, c)| c.environment().name == environment)
            .ok_or_else(|| AppError::not_found(format!("environment {environment:?}")))
    }

    /// Records the outcome of an AWS action; a refused one is recorded as failed with our reason, then returned.
    async fn record_outcome(
        &self,
        mut audit: AuditRecord,
        target: &str,
        result: Result<String, crate::aws::AwsError>,
    ) -> Result<String, AppError> {
        audit.target = target.to_string();
        match result {
            Ok(id) => {
                // Keep what the action recorded (a copy's source and region) and add what it created.
                let mut parameters: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_str(&audit.parameters).unwrap_or_default();
                parameters.insert("created".into(), id.clone().into());
                audit.parameters = serde_json::Value::Object(parameters).to_string();
                self.storage.append_audit(&audit).await?;
                Ok(id)
            }
            Err(error) => {
                tracing::warn!(action = %audit.action, %error, "backup action failed");
                let message = error.public_message();
                audit.outcome = Outcome::Failed;
                audit.reason = message.clone();
                self.storage.append_audit(&audit).await?;
                Err(AppError::Upstream {
                    service: "AWS".into(),
                    message,
                })
            }
        }
    }
}

/// A time stamp for snapshot names, to the millisecond: letters, digits and one hyphen, as RDS and ElastiCache
/// accept in identifiers.
fn stamp(now: OffsetDateTime) -> String {
    let format = time::macros::format_description!(
        "[year][month][day]-[hour][minute][second][subsecond digits:3]"
    );
    now.format(&format).unwrap_or_default()
}

fn valid_snapshot_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | ':' | '.' | '_'))
}

/// `YYYY-MM-DD` (midnight UTC) or RFC 3339.
fn parse_when(text: &str) -> Option<OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    let text = text.trim();
    OffsetDateTime::parse(text, &Rfc3339).ok().or_else(|| {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        time::Date::parse(text, &format)
            .ok()
            .map(|d| d.midnight().assume_utc())
    })
}

fn invalid(field: &str, message: impl Into<String>) -> AppError {
    AppError::Validation {
        field: field.into(),
        message: message.into(),
    }
}

#[async_trait::async_trait]
impl BackupService for CollectedBackups {
    async fn view(&self, environment: &str) -> Result<BackupsView, AppError> {
        let (region, collector) = self.find(environment)?;
        Ok(collector.view(region).await)
    }

    async fn act(
        &self,
        environment: &str,
        action: BackupAction,
        by: &Principal,
        audit: AuditRecord,
    ) -> Result<String, AppError> {
        let (_, collector) = self.find(environment)?;
        let env = collector.environment();
        let aws = collector.aws();
        let now = OffsetDateTime::now_utc();
        let mut audit = AuditRecord {
            action: action.audit_action().into(),
            environment: Some(env.name.clone()),
            ..audit
        };
        let result = match &action {
            BackupAction::DatabaseSnapshot => {
                let instance = env.rds_instance.as_deref().ok_or_else(|| {
                    invalid(
                        "environment",
                        format!("{} has no rds_instance configured", env.name),
                    )
                })?;
                let id = format!("{instance}-manual-{}", stamp(now));
                let tags = [
                    ("signalbox:requested-by".to_string(), by.name.clone()),
                    (
                        "signalbox:retain-days".to_string(),
                        collector.policy().manual_retention_days.to_string(),
                    ),
                ];
                let result = aws
                    .databases
                    .create_snapshot(instance, &id, &tags)
                    .await
                    .map(|s| s.value.id);
                self.record_outcome(audit, &id, result).await
            }
            BackupAction::CacheSnapshot => {
                let cluster = env.elasticache_cluster.as_deref().ok_or_else(|| {
                    invalid(
                        "environment",
                        format!("{} has no elasticache_cluster configured", env.name),
                    )
                })?;
                let name = format!("{cluster}-manual-{}", stamp(now));
                let result = aws
                    .caches
                    .create_snapshot(cluster, &name)
                    .await
                    .map(|s| s.value.name);
                self.record_outcome(audit, &name, result).await
            }
            BackupAction::CopyToDr { snapshot } => {
                let snapshot = snapshot.trim();
                if !valid_snapshot_name(snapshot) {
                    return Err(invalid(
                        "snapshot",
                        "a snapshot identifier: letters, digits, '-', ':', '.' or '_'",
                    ));
                }
                let (Some(dr_region), Some(dr)) = (&env.dr_region, &aws.dr_databases) else {
                    return Err(invalid(
                        "environment",
                        format!("{} has no dr_region configured", env.name),
                    ));
                };
                let region = self.find(environment)?.0.clone();
                // The snapshot must be one of this environment's manual snapshots, finished, and not yet copied.
                let reading = collector.subscribe().borrow().clone();
                let observed = reading.as_ref().map(|r| &r.observed);
                let source = observed
                    .and_then(|o| o.snapshots.as_ref())
                    .and_then(|s| s.as_ref().ok())
                    .and_then(|list| list.iter().find(|s| s.id == snapshot).cloned())
                    .ok_or_else(|| {
                        AppError::not_found(format!("manual snapshot {snapshot:?} in {}", env.name))
                    })?;
                if source.kind != "manual" {
                    return Err(invalid(
                        "snapshot",
                        format!("{snapshot} is an automated snapshot; copy a manual one"),
                    ));
                }
                if source.status != "available" {
                    return Err(AppError::Conflict {
                        message: format!(
                            "{snapshot} is {}; copy it once it is available",
                            source.status
                        ),
                    });
                }
                let already = observed
                    .and_then(|o| o.dr_snapshots.as_ref())
                    .and_then(|s| s.as_ref().ok())
                    .is_some_and(|copies| copies.iter().any(|c| c.id == snapshot));
                if already {
                    return Err(AppError::Conflict {
                        message: format!("{snapshot} already has a copy in {dr_region}"),
                    });
                }
                let arn = source.arn.clone().unwrap_or_default();
                audit.parameters =
                    serde_json::json!({ "source": arn, "region": dr_region }).to_string();
                let result = dr
                    .copy_snapshot_from(&arn, &region, snapshot, &collector.policy().dr_kms_key)
                    .await
                    .map(|s| s.id);
                self.record_outcome(audit, snapshot, result).await
            }
        };
        collector.wake();
        result
    }

    async fn record_drill(
        &self,
        drill: NewDrill,
        by: &Principal,
        audit: AuditRecord,
    ) -> Result<DrillView, AppError> {
        let (_, collector) = self.find(&drill.environment)?;
        let now = OffsetDateTime::now_utc();
        let performed_at = parse_when(&drill.performed_at)
            .ok_or_else(|| invalid("performed_at", "a date (YYYY-MM-DD) or an RFC 3339 time"))?;
        if performed_at > now + time::Duration::minutes(5) {
            return Err(invalid("performed_at", "a drill cannot be in the future"));
        }
        if performed_at < now - time::Duration::days(730) {
            return Err(invalid("performed_at", "more than two years ago"));
        }
        let snapshot = drill.snapshot.trim();
        if !valid_snapshot_name(snapshot) {
            return Err(invalid(
                "snapshot",
                "the snapshot restored: letters, digits, '-', ':', '.' or '_'",
            ));
        }
        if drill.duration_minutes == 0 || drill.duration_minutes > 7 * 24 * 60 {
            return Err(invalid(
                "duration_minutes",
                "how long the restore took: 1 minute to 7 days",
            ));
        }
        let performed_by = match drill.performed_by.trim() {
            "" => by.name.clone(),
            name => {
                app::validate::text("performed_by", name, 100, false)?;
                name.to_string()
            }
        };
        app::validate::text("notes", drill.notes.trim(), 2000, true)?;
        let row = DrillRow {
            id: 0,
            environment: drill.environment.clone(),
            performed_at,
            performed_by,
            snapshot: snapshot.to_string(),
            duration_minutes: drill.duration_minutes as i32,
            passed: drill.passed,
            notes: drill.notes.trim().to_string(),
            recorded_by: by.name.clone(),
            recorded_at: now,
        };
        let audit = AuditRecord {
            action: "backups.drill".into(),
            target: row.snapshot.clone(),
            environment: Some(row.environment.clone()),
            parameters: serde_json::json!({
                "performed_at": crate::audit::chain::canonical_time(performed_at),
                "performed_by": row.performed_by,
                "duration_minutes": row.duration_minutes,
                "passed": row.passed,
            })
            .to_string(),
            ..audit
        };
        let id = self.storage.insert_drill(&row, &audit).await?;
        collector.wake();
        Ok(collector::drill_view(&DrillRow { id, ..row }))
    }
}
