//! Backup checks: what AWS and the drill records say, judged against the policy. Each check is green, amber, red
//! or unknown with its reason in words; the verdict "recoverable now?" follows from the critical ones. Plain Rust
//! over plain values, so the Backups page, the API and the release engine all judge alike.

use super::policy::BackupPolicy;
use crate::audit::chain::canonical_time;
use crate::aws::{CacheClusterSummary, CacheSnapshotSummary, DbInstanceSummary, DbSnapshotSummary};
use app::dto::{
    BackupCheck, BackupVerdict, CacheSnapshotView, CacheView, CheckStatus, DatabaseView, DrCopy,
    Recoverable, SnapshotView,
};
use time::OffsetDateTime;

/// A restore drill as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Drill {
    pub performed_at: OffsetDateTime,
    pub snapshot: String,
    pub passed: bool,
}

/// What one read found. `None`: not configured (no RDS instance, no DR region, no Redis). `Err`: could not be
/// read, with the reason in our words.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub database: Option<Result<DbInstanceSummary, String>>,
    pub snapshots: Option<Result<Vec<DbSnapshotSummary>, String>>,
    pub dr_region: Option<String>,
    pub dr_snapshots: Option<Result<Vec<DbSnapshotSummary>, String>>,
    pub cache: Option<Result<CacheClusterSummary, String>>,
    pub cache_snapshots: Option<Result<Vec<CacheSnapshotSummary>, String>>,
    pub drills: Option<Result<Vec<Drill>, String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    pub checks: Vec<BackupCheck>,
    pub verdict: BackupVerdict,
    pub database: Option<DatabaseView>,
    pub snapshots: Vec<SnapshotView>,
    pub cache: Option<CacheView>,
}

/// "3 d", "5 h", "40 min": an age in its largest unit.
pub fn age_words(secs: i64) -> String {
    match secs {
        s if s >= 2 * 86_400 => format!("{} d", s / 86_400),
        s if s >= 2 * 3600 => format!("{} h", s / 3600),
        s => format!("{} min", s / 60),
    }
}

fn plural(n: i64, one: &str) -> String {
    match n {
        1 => format!("1 {one}"),
        n => format!("{n} {one}s"),
    }
}

/// A daily backup's newest copy: green within `max`, amber up to twice it, red beyond or when there is none.
fn freshness(
    newest_age: Option<i64>,
    max: std::time::Duration,
    none: &str,
) -> (CheckStatus, String) {
    let max = max.as_secs() as i64;
    match newest_age {
        None => (CheckStatus::Red, none.to_string()),
        Some(a) if a > max => (
            if a > 2 * max {
                CheckStatus::Red
            } else {
                CheckStatus::Amber
            },
            format!("the newest is {} old (daily expected)", age_words(a)),
        ),
        Some(a) => (
            CheckStatus::Green,
            format!("the newest is {} old", age_words(a)),
        ),
    }
}

struct Checks(Vec<BackupCheck>);

impl Checks {
    fn add(
        &mut self,
        id: &str,
        area: &str,
        name: &str,
        critical: bool,
        status: CheckStatus,
        reason: String,
    ) {
        self.0.push(BackupCheck {
            id: id.into(),
            area: area.into(),
            name: name.into(),
            status,
            reason,
            critical,
        });
    }
}

fn snapshot_id_of_copy(copy: &DbSnapshotSummary) -> Option<&str> {
    // A copy names its source by ARN (…:snapshot:ID) or id; the demo and our own copies also keep the id.
    copy.source_snapshot
        .as_deref()
        .map(|source| source.rsplit(':').next().unwrap_or(source))
}

pub fn assess(policy: &BackupPolicy, observed: &Observed, now: OffsetDateTime) -> Assessment {
    let mut checks = Checks(Vec::new());
    let age = |at: Option<OffsetDateTime>| at.map(|t| (now - t).whole_seconds().max(0));

    // RDS instance: automated backups, retention, window, point-in-time recovery, Multi-AZ, encryption.
    let mut database = None;
    let mut recovery_point: Option<OffsetDateTime> = None;
    match &observed.database {
        None => {}
        Some(Err(reason)) => {
            for (id, name) in [
                ("rds.automated_backups", "Automated backups"),
                ("rds.pitr", "Point-in-time recovery"),
            ] {
                checks.add(id, "RDS", name, true, CheckStatus::Unknown, reason.clone());
            }
        }
        Some(Ok(db)) => {
            let lag = age(db.latest_restorable_time);
            database = Some(DatabaseView {
                id: db.id.clone(),
                status: db.status.clone(),
                engine: db.engine.clone(),
                multi_az: db.multi_az,
                encrypted: db.encrypted,
                retention_days: db.backup_retention_days,
                backup_window: db.backup_window.clone(),
                latest_restorable_time: db.latest_restorable_time.map(canonical_time),
                pitr_lag_secs: lag,
            });
            let retention = db.backup_retention_days;
            checks.add(
                "rds.automated_backups",
                "RDS",
                "Automated backups",
                true,
                if retention > 0 { CheckStatus::Green } else { CheckStatus::Red },
                if retention > 0 {
                    format!("on, kept {}", plural(i64::from(retention), "day"))
                } else {
                    "off: retention is 0 days, so there are no automated backups and no point-in-time recovery".into()
                },
            );
            let wanted = policy.rds_retention_days;
            checks.add(
                "rds.retention",
                "RDS",
                "Backup retention",
                false,
                match retention {
                    0 => CheckStatus::Red,
                    r if r < wanted => CheckStatus::Amber,
                    _ => CheckStatus::Green,
                },
                format!(
                    "retention {}, policy {}",
                    plural(i64::from(retention), "day"),
                    plural(i64::from(wanted), "day")
                ),
            );
            let window = db.backup_window.clone().unwrap_or_default();
            checks.add(
                "rds.backup_window",
                "RDS",
                "Backup window",
                false,
                if window == policy.rds_backup_window {
                    CheckStatus::Green
                } else {
                    CheckStatus::Amber
                },
                match window.is_empty() {
                    true => format!("none set, policy {} UTC", policy.rds_backup_window),
                    false => format!("{window} UTC, policy {} UTC", policy.rds_backup_window),
                },
            );
            let max = policy.pitr_max_lag.as_secs() as i64;
            let (status, reason) = match (retention, lag) {
                (0, _) => (
                    CheckStatus::Red,
                    "unavailable: automated backups are off".to_string(),
                ),
                (_, None) => (
                    CheckStatus::Red,
                    "RDS reports no latest restorable time".to_string(),
                ),
                (_, Some(lag)) if lag > 2 * max => (
                    CheckStatus::Red,
                    format!(
                        "a restore now would lose {} of data (limit {})",
                        age_words(lag),
                        age_words(max)
                    ),
                ),
                (_, Some(lag)) if lag > max => (
                    CheckStatus::Amber,
                    format!(
                        "a restore now would lose {} of data (limit {})",
                        age_words(lag),
                        age_words(max)
                    ),
                ),
                (_, Some(lag)) => (
                    CheckStatus::Green,
                    format!("a restore now would lose {} of data", age_words(lag)),
                ),
            };
            if retention > 0 {
                recovery_point = db.latest_restorable_time;
            }
            checks.add(
                "rds.pitr",
                "RDS",
                "Point-in-time recovery",
                true,
                status,
                reason,
            );
            checks.add(
                "rds.multi_az",
                "RDS",
                "Multi-AZ",
                false,
                if db.multi_az {
                    CheckStatus::Green
                } else {
                    CheckStatus::Amber
                },
                if db.multi_az {
                    "a standby in another zone".into()
                } else {
                    "single zone: no standby".into()
                },
            );
            checks.add(
                "rds.encryption",
                "RDS",
                "Encryption at rest",
                false,
                if db.encrypted {
                    CheckStatus::Green
                } else {
                    CheckStatus::Red
                },
                if db.encrypted {
                    "encrypted".into()
                } else {
                    "storage is not encrypted".into()
                },
            );
        }
    }

    // Snapshots, and their copies in the DR region.
    let mut snapshots = Vec::new();
    match &observed.snapshots {
        None => {}
        Some(Err(reason)) => {
            checks.add(
                "snapshots.automated",
                "Snapshots",
                "Latest automated snapshot",
                false,
                CheckStatus::Unknown,
                reason.clone(),
            );
            checks.add(
                "dr.copies",
                "Disaster recovery",
                "Copies in the DR region",
                false,
                CheckStatus::Unknown,
                reason.clone(),
            );
        }
        Some(Ok(list)) => {
            let mut list = list.clone();
            list.sort_by_key(|s| std::cmp::Reverse(s.created_at));
            let dr = &observed.dr_snapshots;
            let copy_of = |snapshot: &DbSnapshotSummary| -> DrCopy {
                if snapshot.kind != "manual" {
                    return DrCopy::NotRequired;
                }
                match dr {
                    None => DrCopy::NotRequired,
                    Some(Err(reason)) => DrCopy::Unknown {
                        reason: reason.clone(),
                    },
                    Some(Ok(copies)) => {
                        match copies.iter().find(|c| {
                            snapshot_id_of_copy(c) == Some(snapshot.id.as_str())
                                || c.id == snapshot.id
                        }) {
                            Some(copy) if copy.status == "available" => DrCopy::Present {
                                id: copy.id.clone(),
                            },
                            Some(copy) => DrCopy::Copying {
                                id: copy.id.clone(),
                                progress: copy.progress,
                            },
                            None => DrCopy::Missing,
                        }
                    }
                }
            };
            let retention_secs = policy.manual_retention_days * 86_400;
            for snapshot in &list {
                let snapshot_age = age(snapshot.created_at);
                snapshots.push(SnapshotView {
                    id: snapshot.id.clone(),
                    kind: snapshot.kind.clone(),
                    status: snapshot.status.clone(),
                    progress: snapshot.progress,
                    created_at: snapshot.created_at.map(canonical_time),
                    age_secs: snapshot_age,
                    size_gb: snapshot.allocated_gb,
                    encrypted: snapshot.encrypted,
                    past_retention: snapshot.kind == "manual"
                        && snapshot_age.is_some_and(|a| a > retention_secs),
                    dr_copy: copy_of(snapshot),
                });
            }
            // The newest snapshot anyone could restore is a recovery point when PITR is not.
            if recovery_point.is_none() {
                recovery_point = list
                    .iter()
                    .filter(|s| s.status == "available")
                    .filter_map(|s| s.created_at)
                    .max();
            }
            let automated = list
                .iter()
                .find(|s| s.kind == "automated" && s.status == "available");
            let (status, reason) = freshness(
                automated.and_then(|s| age(s.created_at)),
                policy.automated_max_age,
                "no automated snapshot",
            );
            checks.add(
                "snapshots.automated",
                "Snapshots",
                "Latest automated snapshot",
                false,
                status,
                reason,
            );

            let manual: Vec<&SnapshotView> =
                snapshots.iter().filter(|s| s.kind == "manual").collect();
            let expired: Vec<String> = manual
                .iter()
                .filter(|s| s.past_retention)
                .map(|s| format!("{} ({})", s.id, age_words(s.age_secs.unwrap_or(0))))
                .collect();
            checks.add(
                "snapshots.manual_retention",
                "Snapshots",
                "Manual snapshot retention",
                false,
                if expired.is_empty() {
                    CheckStatus::Green
                } else {
                    CheckStatus::Amber
                },
                match expired.is_empty() {
                    true => format!(
                        "{} within {} days",
                        plural(manual.len() as i64, "manual snapshot"),
                        policy.manual_retention_days
                    ),
                    false => format!(
                        "past the {}-day retention: {}",
                        policy.manual_retention_days,
                        expired.join(", ")
                    ),
                },
            );
            let unencrypted: Vec<&str> = snapshots
                .iter()
                .filter(|s| !s.encrypted)
                .map(|s| s.id.as_str())
                .collect();
            checks.add(
                "snapshots.encryption",
                "Snapshots",
                "Snapshot encryption",
                false,
                if unencrypted.is_empty() {
                    CheckStatus::Green
                } else {
                    CheckStatus::Red
                },
                match unencrypted.is_empty() {
                    true => "every snapshot is encrypted".into(),
                    false => format!("not encrypted: {}", unencrypted.join(", ")),
                },
            );

            // Every manual snapshot inside its retention has an available copy in the DR region.
            let current: Vec<&SnapshotView> = manual
                .iter()
                .copied()
                .filter(|s| !s.past_retention)
                .collect();
            match (&observed.dr_region, dr) {
                (None, _) | (_, None) => checks.add(
                    "dr.copies",
                    "Disaster recovery",
                    "Copies in the DR region",
                    false,
                    CheckStatus::Amber,
                    "no DR region is configured for this environment".into(),
                ),
                (Some(region), Some(Err(reason))) => checks.add(
                    "dr.copies",
                    "Disaster recovery",
                    "Copies in the DR region",
                    false,
                    CheckStatus::Unknown,
                    format!("{region} could not be read: {reason}"),
                ),
                (Some(region), Some(Ok(_))) => {
                    let missing: Vec<&str> = current
                        .iter()
                        .filter(|s| s.dr_copy == DrCopy::Missing)
                        .map(|s| s.id.as_str())
                        .collect();
                    let copying: Vec<&str> = current
                        .iter()
                        .filter(|s| matches!(s.dr_copy, DrCopy::Copying { .. }))
                        .map(|s| s.id.as_str())
                        .collect();
                    let newest_missing = current
                        .first()
                        .is_some_and(|s| s.dr_copy == DrCopy::Missing);
                    let (status, reason) = if current.is_empty() {
                        (
                            CheckStatus::Amber,
                            format!(
                                "no manual snapshot within {} days to copy",
                                policy.manual_retention_days
                            ),
                        )
                    } else if newest_missing {
                        (
                            CheckStatus::Red,
                            format!(
                                "no copy in {region} of the newest manual snapshot: {}",
                                missing.join(", ")
                            ),
                        )
                    } else if !missing.is_empty() {
                        (
                            CheckStatus::Amber,
                            format!("stale: {region} lacks {}", missing.join(", ")),
                        )
                    } else if !copying.is_empty() {
                        (
                            CheckStatus::Amber,
                            format!("copying to {region}: {}", copying.join(", ")),
                        )
                    } else {
                        (
                            CheckStatus::Green,
                            format!(
                                "{} copied to {region}",
                                plural(current.len() as i64, "manual snapshot")
                            ),
                        )
                    };
                    checks.add(
                        "dr.copies",
                        "Disaster recovery",
                        "Copies in the DR region",
                        false,
                        status,
                        reason,
                    );
                }
            }
        }
    }

    // Redis: a recent daily snapshot and its retention.
    let mut cache = None;
    match (&observed.cache, &observed.cache_snapshots) {
        (None, _) => {}
        (Some(Err(reason)), _) | (Some(Ok(_)), Some(Err(reason))) => {
            checks.add(
                "redis.snapshot",
                "Redis",
                "Latest snapshot",
                true,
                CheckStatus::Unknown,
                reason.clone(),
            );
        }
        (Some(Ok(cluster)), found) => {
            let mut list: Vec<CacheSnapshotSummary> = match found {
                Some(Ok(list)) => list.clone(),
                _ => Vec::new(),
            };
            list.sort_by_key(|s| std::cmp::Reverse(s.created_at));
            let newest = list
                .iter()
                .find(|s| s.status == "available")
                .and_then(|s| age(s.created_at));
            let (status, reason) = freshness(newest, policy.redis_max_age, "no Redis snapshot");
            checks.add(
                "redis.snapshot",
                "Redis",
                "Latest snapshot",
                true,
                status,
                reason,
            );
            let retention = cluster.snapshot_retention_days;
            checks.add(
                "redis.retention",
                "Redis",
                "Snapshot retention",
                false,
                match retention {
                    0 => CheckStatus::Red,
                    r if r < policy.redis_retention_days => CheckStatus::Amber,
                    _ => CheckStatus::Green,
                },
                match retention {
                    0 => "automatic snapshots are off (retention 0 days)".into(),
                    r => format!(
                        "retention {}, policy {}",
                        plural(i64::from(r), "day"),
                        plural(i64::from(policy.redis_retention_days), "day")
                    ),
                },
            );
            cache = Some(CacheView {
                id: cluster.id.clone(),
                status: cluster.status.clone(),
                retention_days: retention,
                snapshot_window: cluster.snapshot_window.clone(),
                snapshots: list
                    .iter()
                    .map(|s| CacheSnapshotView {
                        name: s.name.clone(),
                        status: s.status.clone(),
                        source: s.source.clone(),
                        created_at: s.created_at.map(canonical_time),
                        age_secs: age(s.created_at),
                    })
                    .collect(),
            });
        }
    }

    // Restore drills: the last passing one within the interval.
    match &observed.drills {
        None => {}
        Some(Err(reason)) => checks.add(
            "drills.recent",
            "Restore drills",
            "Last passing drill",
            false,
            CheckStatus::Unknown,
            reason.clone(),
        ),
        Some(Ok(drills)) => {
            let last = drills
                .iter()
                .filter(|d| d.passed)
                .map(|d| d.performed_at)
                .max();
            let interval = policy.drill_interval_days;
            let (status, reason) = match last.map(|at| (now - at).whole_days()) {
                None => (CheckStatus::Red, format!("no passing restore drill recorded (policy: every {interval} days)")),
                Some(days) if days > interval => (
                    CheckStatus::Red,
                    format!("overdue: the last passing drill was {} ago (policy: every {interval} days)", plural(days, "day")),
                ),
                Some(0) => (CheckStatus::Green, "passed today".to_string()),
                Some(days) => (CheckStatus::Green, format!("passed {} ago", plural(days, "day"))),
            };
            checks.add(
                "drills.recent",
                "Restore drills",
                "Last passing drill",
                false,
                status,
                reason,
            );
        }
    }

    let checks = checks.0;
    let critical = |status: CheckStatus| checks.iter().any(|c| c.critical && c.status == status);
    let recoverable = if critical(CheckStatus::Red) {
        Recoverable::No
    } else if critical(CheckStatus::Unknown) {
        Recoverable::Unknown
    } else if checks.iter().any(|c| c.status != CheckStatus::Green) {
        Recoverable::AtRisk
    } else {
        Recoverable::Yes
    };
    let failing = checks
        .iter()
        .filter(|c| c.status != CheckStatus::Green)
        .map(|c| format!("{} — {}: {}", c.area, c.name, c.reason))
        .collect();
    Assessment {
        verdict: BackupVerdict {
            recoverable,
            recovery_point: recovery_point.map(canonical_time),
            data_loss_secs: recovery_point.map(|at| (now - at).whole_seconds().max(0)),
            failing,
        },
        checks,
        database,
        snapshots,
        cache,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    fn now() -> OffsetDateTime {
        time::macros::datetime!(2026-11-29 12:00 UTC)
    }

    fn snapshot(id: &str, kind: &str, days_ago: i64) -> DbSnapshotSummary {
        DbSnapshotSummary {
            id: id.into(),
            arn: Some(format!("arn:aws:rds:us-east-1:123456789012:snapshot:{id}")),
            progress: Some(100),
            kind: kind.into(),
            status: "available".into(),
            created_at: Some(now() - Duration::days(days_ago)),
            encrypted: true,
            allocated_gb: Some(100),
            source_snapshot: None,
        }
    }

    fn copy(of: &str) -> DbSnapshotSummary {
        DbSnapshotSummary {
            source_snapshot: Some(format!("arn:aws:rds:us-east-1:123456789012:snapshot:{of}")),
            ..snapshot(of, "manual", 2)
        }
    }

    /// The seed's compliant production: every check green.
    fn compliant() -> Observed {
        Observed {
            database: Some(Ok(DbInstanceSummary {
                id: "db".into(),
                status: "available".into(),
                engine: "postgres".into(),
                multi_az: true,
                encrypted: true,
                backup_retention_days: 7,
                backup_window: Some("03:00-04:00".into()),
                latest_restorable_time: Some(now() - Duration::minutes(5)),
            })),
            snapshots: Some(Ok(vec![
                snapshot("rds:db-2026-11-29-03-00", "automated", 0),
                snapshot("db-pre-deploy", "manual", 3),
            ])),
            dr_region: Some("us-west-2".into()),
            dr_snapshots: Some(Ok(vec![copy("db-pre-deploy")])),
            cache: Some(Ok(CacheClusterSummary {
                id: "redis".into(),
                status: "available".into(),
                engine: "redis".into(),
                snapshot_retention_days: 7,
                snapshot_window: Some("02:00-03:00".into()),
            })),
            cache_snapshots: Some(Ok(vec![CacheSnapshotSummary {
                name: "redis-daily".into(),
                status: "available".into(),
                source: "automated".into(),
                created_at: Some(now() - Duration::hours(10)),
            }])),
            drills: Some(Ok(vec![Drill {
                performed_at: now() - Duration::days(12),
                snapshot: "db-pre-deploy".into(),
                passed: true,
            }])),
        }
    }

    fn check<'a>(assessment: &'a Assessment, id: &str) -> &'a BackupCheck {
        assessment
            .checks
            .iter()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("{id}"))
    }

    #[test]
    fn a_compliant_environment_is_recoverable_with_every_check_green() {
        let a = assess(&BackupPolicy::default(), &compliant(), now());
        let not_green: Vec<_> = a
            .checks
            .iter()
            .filter(|c| c.status != CheckStatus::Green)
            .collect();
        assert!(not_green.is_empty(), "{not_green:?}");
        assert_eq!(a.verdict.recoverable, Recoverable::Yes);
        assert_eq!(a.verdict.data_loss_secs, Some(300));
        assert_eq!(
            a.snapshots[1].dr_copy,
            DrCopy::Present {
                id: "db-pre-deploy".into()
            }
        );
        assert_eq!(check(&a, "drills.recent").reason, "passed 12 days ago");
    }

    #[test]
    fn each_departure_from_policy_turns_its_check_with_the_reason() {
        let policy = BackupPolicy::default();
        let mut o = compliant();
        if let Some(Ok(db)) = &mut o.database {
            db.backup_retention_days = 1;
        }
        o.dr_snapshots = Some(Ok(Vec::new()));
        if let Some(Ok(list)) = &mut o.cache_snapshots {
            list[0].created_at = Some(now() - Duration::days(3));
        }
        o.drills = Some(Ok(vec![Drill {
            performed_at: now() - Duration::days(40),
            snapshot: "x".into(),
            passed: true,
        }]));
        if let Some(Ok(list)) = &mut o.snapshots {
            list.push(snapshot("db-old", "manual", 45));
        }
        let a = assess(&policy, &o, now());
        let retention = check(&a, "rds.retention");
        assert_eq!(
            (retention.status, retention.reason.as_str()),
            (CheckStatus::Amber, "retention 1 day, policy 7 days")
        );
        let dr = check(&a, "dr.copies");
        assert_eq!(dr.status, CheckStatus::Red);
        assert_eq!(
            dr.reason,
            "no copy in us-west-2 of the newest manual snapshot: db-pre-deploy"
        );
        let redis = check(&a, "redis.snapshot");
        assert_eq!(
            (redis.status, redis.reason.as_str()),
            (CheckStatus::Red, "the newest is 3 d old (daily expected)")
        );
        let drills = check(&a, "drills.recent");
        assert_eq!(drills.status, CheckStatus::Red);
        assert_eq!(
            drills.reason,
            "overdue: the last passing drill was 40 days ago (policy: every 31 days)"
        );
        let manual = check(&a, "snapshots.manual_retention");
        assert_eq!(
            (manual.status, manual.reason.as_str()),
            (
                CheckStatus::Amber,
                "past the 30-day retention: db-old (45 d)"
            )
        );
        // The Redis snapshot is critical: the environment cannot be restored whole.
        assert_eq!(a.verdict.recoverable, Recoverable::No);
        assert!(
            a.verdict
                .failing
                .iter()
                .any(|f| f.starts_with("Redis — Latest snapshot: the newest is 3 d old")),
            "{:?}",
            a.verdict.failing
        );
    }

    #[test]
    fn non_critical_failures_leave_it_recoverable_but_at_risk() {
        let mut o = compliant();
        o.drills = Some(Ok(Vec::new()));
        let a = assess(&BackupPolicy::default(), &o, now());
        assert_eq!(a.verdict.recoverable, Recoverable::AtRisk);
        assert_eq!(
            check(&a, "drills.recent").reason,
            "no passing restore drill recorded (policy: every 31 days)"
        );
    }

    #[test]
    fn a_lagging_restore_point_is_amber_then_red_and_backups_off_is_not_recoverable() {
        let mut o = compliant();
        if let Some(Ok(db)) = &mut o.database {
            db.latest_restorable_time = Some(now() - Duration::hours(2));
        }
        let a = assess(&BackupPolicy::default(), &o, now());
        let pitr = check(&a, "rds.pitr");
        assert_eq!(
            (pitr.status, pitr.reason.as_str()),
            (
                CheckStatus::Red,
                "a restore now would lose 2 h of data (limit 15 min)"
            )
        );
        assert_eq!(a.verdict.data_loss_secs, Some(7200));
        if let Some(Ok(db)) = &mut o.database {
            db.latest_restorable_time = Some(now() - Duration::minutes(20));
        }
        assert_eq!(
            check(&assess(&BackupPolicy::default(), &o, now()), "rds.pitr").status,
            CheckStatus::Amber
        );
        if let Some(Ok(db)) = &mut o.database {
            db.backup_retention_days = 0;
        }
        let a = assess(&BackupPolicy::default(), &o, now());
        assert_eq!(check(&a, "rds.automated_backups").status, CheckStatus::Red);
        assert_eq!(a.verdict.recoverable, Recoverable::No);
        // Without PITR the newest snapshot is the recovery point.
        assert_eq!(a.verdict.data_loss_secs, Some(0));
    }

    #[test]
    fn unreadable_aws_is_unknown_never_green() {
        let mut o = compliant();
        o.dr_snapshots = Some(Err("AWS did not answer (RDS DescribeDBSnapshots)".into()));
        let a = assess(&BackupPolicy::default(), &o, now());
        let dr = check(&a, "dr.copies");
        assert_eq!(dr.status, CheckStatus::Unknown);
        assert!(dr.reason.starts_with("us-west-2 could not be read"));
        assert!(matches!(a.snapshots[1].dr_copy, DrCopy::Unknown { .. }));
        assert_eq!(a.verdict.recoverable, Recoverable::AtRisk);
        o.database = Some(Err("AWS refused access (RDS DescribeDBInstances)".into()));
        let a = assess(&BackupPolicy::default(), &o, now());
        assert_eq!(check(&a, "rds.pitr").status, CheckStatus::Unknown);
        assert_eq!(a.verdict.recoverable, Recoverable::Unknown);
    }

    #[test]
    fn a_copy_in_progress_is_amber_and_an_older_missing_copy_is_stale() {
        let mut o = compliant();
        if let Some(Ok(list)) = &mut o.snapshots {
            list.push(snapshot("db-older", "manual", 10));
        }
        let a = assess(&BackupPolicy::default(), &o, now());
        let dr = check(&a, "dr.copies");
        assert_eq!(
            (dr.status, dr.reason.as_str()),
            (CheckStatus::Amber, "stale: us-west-2 lacks db-older")
        );
        if let Some(Ok(copies)) = &mut o.dr_snapshots {
            copies.push(DbSnapshotSummary {
                status: "creating".into(),
                progress: Some(40),
                ..copy("db-older")
            });
        }
        let a = assess(&BackupPolicy::default(), &o, now());
        assert_eq!(
            check(&a, "dr.copies").reason,
            "copying to us-west-2: db-older"
        );
        assert_eq!(
            a.snapshots[2].dr_copy,
            DrCopy::Copying {
                id: "db-older".into(),
                progress: Some(40)
            }
        );
    }
}
