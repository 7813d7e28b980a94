//! Wire types of the Backups page: what is backed up, each policy check with its reason, and the verdict
//! "recoverable now?".

use crate::dto::PanelState;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Green,
    Amber,
    Red,
    /// AWS could not be read: never a false green.
    Unknown,
}

impl CheckStatus {
    pub fn label(self) -> &'static str {
        match self {
            CheckStatus::Green => "green",
            CheckStatus::Amber => "amber",
            CheckStatus::Red => "red",
            CheckStatus::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupCheck {
    /// Stable id, e.g. `rds.retention`.
    pub id: String,
    /// "RDS", "Snapshots", "Disaster recovery", "Redis", "Restore drills"
    pub area: String,
    pub name: String,
    pub status: CheckStatus,
    /// In words, with the numbers: "retention 1 day, policy 7 days".
    pub reason: String,
    /// Whether it decides "recoverable now?" (the others put recovery at risk).
    pub critical: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recoverable {
    Yes,
    /// Recoverable now, but a policy check is amber or red.
    AtRisk,
    No,
    /// A check that decides it could not be read.
    Unknown,
}

impl Recoverable {
    pub fn label(self) -> &'static str {
        match self {
            Recoverable::Yes => "recoverable",
            Recoverable::AtRisk => "recoverable, at risk",
            Recoverable::No => "not recoverable",
            Recoverable::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupVerdict {
    pub recoverable: Recoverable,
    /// The newest point a restore reaches now (RFC 3339): point-in-time recovery, else the newest snapshot.
    pub recovery_point: Option<String>,
    /// How much data a restore now would lose, in seconds.
    pub data_loss_secs: Option<i64>,
    /// "RDS retention: retention 1 day, policy 7 days", for every check not green.
    pub failing: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatabaseView {
    pub id: String,
    pub status: String,
    pub engine: String,
    pub multi_az: bool,
    pub encrypted: bool,
    pub retention_days: i32,
    pub backup_window: Option<String>,
    pub latest_restorable_time: Option<String>,
    pub pitr_lag_secs: Option<i64>,
}

/// Where a manual snapshot's copy in the disaster-recovery region stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DrCopy {
    /// Copied and available.
    Present {
        id: String,
    },
    /// The copy is still being made.
    Copying {
        id: String,
        progress: Option<i32>,
    },
    Missing,
    /// The DR region could not be read.
    Unknown {
        reason: String,
    },
    /// Automated snapshots are not copied by this policy.
    NotRequired,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotView {
    pub id: String,
    /// automated or manual
    pub kind: String,
    pub status: String,
    /// Percent done while `creating`.
    pub progress: Option<i32>,
    pub created_at: Option<String>,
    pub age_secs: Option<i64>,
    pub size_gb: Option<i32>,
    pub encrypted: bool,
    /// Manual snapshots past the retention policy.
    pub past_retention: bool,
    pub dr_copy: DrCopy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheSnapshotView {
    pub name: String,
    pub status: String,
    /// automated or manual
    pub source: String,
    pub created_at: Option<String>,
    pub age_secs: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheView {
    pub id: String,
    pub status: String,
    pub retention_days: i32,
    pub snapshot_window: Option<String>,
    /// Newest first.
    pub snapshots: Vec<CacheSnapshotView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillView {
    pub id: i64,
    pub environment: String,
    /// RFC 3339
    pub performed_at: String,
    pub performed_by: String,
    pub snapshot: String,
    pub duration_minutes: u32,
    pub passed: bool,
    pub notes: String,
    pub recorded_by: String,
}

/// What a restore drill record says, as entered on the page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewDrill {
    pub environment: String,
    /// `YYYY-MM-DD` or RFC 3339; not in the future.
    pub performed_at: String,
    /// Who ran it, if not the person recording it.
    pub performed_by: String,
    pub snapshot: String,
    pub duration_minutes: u32,
    pub passed: bool,
    pub notes: String,
}

/// A backup action someone started from the console, with its current state read back from AWS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupActionView {
    /// `backups.rds_snapshot`, `backups.redis_snapshot`, `backups.dr_copy`
    pub action: String,
    pub target: String,
    pub requested_by: String,
    pub requested_at: String,
    /// requested, in progress (with percent), done, failed, gone
    pub state: String,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyView {
    pub rds_retention_days: i32,
    pub rds_backup_window: String,
    pub pitr_max_lag_minutes: i64,
    pub manual_retention_days: i64,
    pub dr_region: Option<String>,
    pub redis_retention_days: i32,
    pub redis_max_age_hours: i64,
    pub drill_interval_days: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupsView {
    pub environment: String,
    pub region: String,
    pub state: PanelState,
    pub verdict: BackupVerdict,
    pub checks: Vec<BackupCheck>,
    pub database: Option<DatabaseView>,
    /// Newest first; automated and manual.
    pub snapshots: Vec<SnapshotView>,
    pub cache: Option<CacheView>,
    /// Newest first.
    pub drills: Vec<DrillView>,
    pub actions: Vec<BackupActionView>,
    pub policy: PolicyView,
}

/// What a backup action button asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BackupAction {
    /// A manual RDS snapshot now.
    DatabaseSnapshot,
    /// A manual Redis snapshot now.
    CacheSnapshot,
    /// Copy a manual RDS snapshot to the disaster-recovery region.
    CopyToDr { snapshot: String },
}

impl BackupAction {
    /// The audit trail's verb.
    pub fn audit_action(&self) -> &'static str {
        match self {
            BackupAction::DatabaseSnapshot => "backups.rds_snapshot",
            BackupAction::CacheSnapshot => "backups.redis_snapshot",
            BackupAction::CopyToDr { .. } => "backups.dr_copy",
        }
    }
}
