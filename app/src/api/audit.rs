#[cfg(feature = "ssr")]
use crate::auth::Permission;
#[cfg(feature = "ssr")]
use crate::dto::Outcome;
use crate::dto::{AuditFilter, AuditPage, ChainReport};
use crate::error::AppError;
use leptos::prelude::*;

/// Events shown per page; also the export's batch size divided by ten.
pub const AUDIT_PAGE_SIZE: u32 = 50;

#[server(endpoint = "audit/page")]
pub async fn list_audit_events(
    #[server(default)] filter: AuditFilter,
    before: Option<i64>,
) -> Result<AuditPage, AppError> {
    crate::auth::require(Permission::ViewAudit, "audit.view").await?;
    crate::services::respond(
        crate::services::services()?
            .audit
            .page(&filter, before, AUDIT_PAGE_SIZE)
            .await,
    )
}

/// Re-computes every hash in the chain. Recorded, with its result, so that checks leave evidence too.
#[server(endpoint = "audit/verify")]
pub async fn verify_audit() -> Result<ChainReport, AppError> {
    crate::auth::require(Permission::VerifyAudit, "audit.verify").await?;
    let services = crate::services::services()?;
    let report = crate::services::respond(services.audit.verify().await)?;
    let caller = crate::auth::caller()?;
    crate::services::respond(
        services
            .audit
            .record(caller.record("audit.verify", Outcome::Allowed, report.summary()))
            .await,
    )?;
    Ok(report)
}
