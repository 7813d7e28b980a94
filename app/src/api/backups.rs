#[cfg(feature = "ssr")]
use crate::auth::Permission;
#[cfg(feature = "ssr")]
use crate::dto::{BackupAction, NewDrill, Outcome};
use crate::dto::{BackupsView, DrillView};
use crate::error::AppError;
use leptos::prelude::*;

/// An environment's backups judged against the policy, with "recoverable now?".
#[server(endpoint = "backups")]
pub async fn get_backups(environment: String) -> Result<BackupsView, AppError> {
    crate::auth::require(Permission::ViewConsole, "backups.view").await?;
    crate::services::respond(
        crate::services::services()?
            .backups
            .view(&environment)
            .await,
    )
}

#[cfg(feature = "ssr")]
async fn act(environment: String, action: BackupAction) -> Result<String, AppError> {
    let principal = crate::auth::require(Permission::OperateBackups, action.audit_action()).await?;
    let audit = crate::auth::caller()?.record(action.audit_action(), Outcome::Allowed, "");
    crate::services::respond(
        crate::services::services()?
            .backups
            .act(&environment, action, &principal, audit)
            .await,
    )
}

/// Starts a manual RDS snapshot now; answers its identifier.
#[server(endpoint = "backups/rds-snapshot")]
pub async fn take_rds_snapshot(environment: String) -> Result<String, AppError> {
    act(environment, BackupAction::DatabaseSnapshot).await
}

/// Starts a manual Redis snapshot now; answers its name.
#[server(endpoint = "backups/redis-snapshot")]
pub async fn take_redis_snapshot(environment: String) -> Result<String, AppError> {
    act(environment, BackupAction::CacheSnapshot).await
}

/// Copies a manual RDS snapshot to the environment's disaster-recovery region.
#[server(endpoint = "backups/dr-copy")]
pub async fn copy_snapshot_to_dr(
    environment: String,
    snapshot: String,
) -> Result<String, AppError> {
    act(environment, BackupAction::CopyToDr { snapshot }).await
}

/// Records a restore drill: who restored which snapshot when, how long it took, and whether it passed.
#[server(endpoint = "backups/drill")]
pub async fn record_drill(
    environment: String,
    performed_at: String,
    #[server(default)] performed_by: String,
    snapshot: String,
    duration_minutes: u32,
    #[server(default)] passed: bool,
    #[server(default)] notes: String,
) -> Result<DrillView, AppError> {
    let principal = crate::auth::require(Permission::OperateBackups, "backups.drill").await?;
    let audit = crate::auth::caller()?.record("backups.drill", Outcome::Allowed, "");
    let drill = NewDrill {
        environment,
        performed_at,
        performed_by,
        snapshot,
        duration_minutes,
        passed,
        notes,
    };
    crate::services::respond(
        crate::services::services()?
            .backups
            .record_drill(drill, &principal, audit)
            .await,
    )
}
