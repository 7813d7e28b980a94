//! The backup policy: the seed's by default (RDS automated daily 03:00–04:00 UTC kept 7 days with point-in-time
//! recovery; a manual snapshot before major deploys kept 30 days and copied to the DR region; Redis daily at
//! 02:00 UTC kept 7 days; a restore drill every month), every number configurable under `[backups]`.

use app::dto::PolicyView;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct BackupPolicy {
    pub rds_retention_days: i32,
    /// `HH:MM-HH:MM` UTC, as RDS writes it.
    pub rds_backup_window: String,
    /// Point-in-time recovery may lag this much (AWS keeps it within ~5 minutes); twice it is red.
    pub pitr_max_lag: Duration,
    pub manual_retention_days: i64,
    /// The newest automated snapshot may be this old (daily, with a margin); twice it is red.
    pub automated_max_age: Duration,
    pub redis_retention_days: i32,
    pub redis_max_age: Duration,
    pub drill_interval_days: i64,
    /// The release engine may refuse production deploys while the environment is not recoverable.
    pub block_production_deploys: bool,
    /// How often the collector re-reads backups: they change slowly.
    pub refresh: Duration,
    /// The KMS key for copies in the DR region.
    pub dr_kms_key: String,
}

impl Default for BackupPolicy {
    fn default() -> Self {
        BackupPolicy {
            rds_retention_days: 7,
            rds_backup_window: "03:00-04:00".into(),
            pitr_max_lag: Duration::from_secs(15 * 60),
            manual_retention_days: 30,
            automated_max_age: Duration::from_secs(26 * 3600),
            redis_retention_days: 7,
            redis_max_age: Duration::from_secs(26 * 3600),
            drill_interval_days: 31,
            block_production_deploys: true,
            refresh: Duration::from_secs(60),
            dr_kms_key: "alias/aws/rds".into(),
        }
    }
}

impl BackupPolicy {
    pub fn view(&self, dr_region: Option<&str>) -> PolicyView {
        PolicyView {
            rds_retention_days: self.rds_retention_days,
            rds_backup_window: self.rds_backup_window.clone(),
            pitr_max_lag_minutes: (self.pitr_max_lag.as_secs() / 60) as i64,
            manual_retention_days: self.manual_retention_days,
            dr_region: dr_region.map(str::to_string),
            redis_retention_days: self.redis_retention_days,
            redis_max_age_hours: (self.redis_max_age.as_secs() / 3600) as i64,
            drill_interval_days: self.drill_interval_days,
        }
    }
}
