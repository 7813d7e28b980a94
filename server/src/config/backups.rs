//! The `[backups]` section: the backup policy. Defaults are the seed's; every number can be changed.

use super::{invalid, ConfigError};
use crate::backups::policy::BackupPolicy;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileBackups {
    rds_retention_days: Option<i32>,
    rds_backup_window: Option<String>,
    pitr_max_lag_minutes: Option<u64>,
    manual_retention_days: Option<i64>,
    automated_max_age_hours: Option<u64>,
    redis_retention_days: Option<i32>,
    redis_max_age_hours: Option<u64>,
    drill_interval_days: Option<i64>,
    block_production_deploys: Option<bool>,
    refresh_secs: Option<u64>,
    dr_kms_key: Option<String>,
}

fn is_window(text: &str) -> bool {
    let time = |t: &str| {
        t.len() == 5
            && t.as_bytes()[2] == b':'
            && t[..2].parse::<u8>().is_ok_and(|h| h < 24)
            && t[3..].parse::<u8>().is_ok_and(|m| m < 60)
    };
    text.split_once('-')
        .is_some_and(|(from, to)| time(from) && time(to))
}

pub(super) fn resolve_backups(file: FileBackups) -> Result<BackupPolicy, ConfigError> {
    let d = BackupPolicy::default();
    let positive = |key: &str, value: Option<i64>, default: i64, max: i64| match value {
        Some(v) if !(1..=max).contains(&v) => Err(invalid(
            format!("backups.{key}"),
            format!("must be 1 to {max}, got {v}"),
        )),
        Some(v) => Ok(v),
        None => Ok(default),
    };
    let window = match file.rds_backup_window {
        Some(w) if !is_window(&w) => {
            return Err(invalid(
                "backups.rds_backup_window",
                format!("must look like 03:00-04:00 (UTC), got {w:?}"),
            ))
        }
        Some(w) => w,
        None => d.rds_backup_window.clone(),
    };
    let hours = |h: i64| Duration::from_secs(h as u64 * 3600);
    Ok(BackupPolicy {
        rds_retention_days: positive(
            "rds_retention_days",
            file.rds_retention_days.map(i64::from),
            i64::from(d.rds_retention_days),
            35,
        )? as i32,
        rds_backup_window: window,
        pitr_max_lag: Duration::from_secs(
            positive(
                "pitr_max_lag_minutes",
                file.pitr_max_lag_minutes.map(|v| v as i64),
                (d.pitr_max_lag.as_secs() / 60) as i64,
                24 * 60,
            )? as u64
                * 60,
        ),
        manual_retention_days: positive(
            "manual_retention_days",
            file.manual_retention_days,
            d.manual_retention_days,
            3650,
        )?,
        automated_max_age: hours(positive(
            "automated_max_age_hours",
            file.automated_max_age_hours.map(|v| v as i64),
            (d.automated_max_age.as_secs() / 3600) as i64,
            24 * 35,
        )?),
        redis_retention_days: positive(
            "redis_retention_days",
            file.redis_retention_days.map(i64::from),
            i64::from(d.redis_retention_days),
            35,
        )? as i32,
        redis_max_age: hours(positive(
            "redis_max_age_hours",
            file.redis_max_age_hours.map(|v| v as i64),
            (d.redis_max_age.as_secs() / 3600) as i64,
            24 * 35,
        )?),
        drill_interval_days: positive(
            "drill_interval_days",
            file.drill_interval_days,
            d.drill_interval_days,
            366,
        )?,
        block_production_deploys: file
            .block_production_deploys
            .unwrap_or(d.block_production_deploys),
        refresh: Duration::from_secs(positive(
            "refresh_secs",
            file.refresh_secs.map(|v| v as i64),
            d.refresh.as_secs() as i64,
            3600,
        )? as u64),
        dr_kms_key: file.dr_kms_key.unwrap_or(d.dr_kms_key),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_seed_policy_and_bad_values_name_the_key() {
        assert_eq!(
            resolve_backups(FileBackups::default()).unwrap(),
            BackupPolicy::default()
        );
        let policy = resolve_backups(FileBackups {
            rds_retention_days: Some(14),
            rds_backup_window: Some("01:30-02:30".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            (policy.rds_retention_days, policy.rds_backup_window.as_str()),
            (14, "01:30-02:30")
        );
        for (file, key) in [
            (
                FileBackups {
                    rds_retention_days: Some(0),
                    ..Default::default()
                },
                "backups.rds_retention_days",
            ),
            (
                FileBackups {
                    rds_backup_window: Some("3am".into()),
                    ..Default::default()
                },
                "backups.rds_backup_window",
            ),
            (
                FileBackups {
                    drill_interval_days: Some(400),
                    ..Default::default()
                },
                "backups.drill_interval_days",
            ),
        ] {
            let error = resolve_backups(file).unwrap_err().to_string();
            assert!(error.contains(key), "{error}");
        }
    }
}
