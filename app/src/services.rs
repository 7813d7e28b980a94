//! The console's use cases as the server functions see them. The `server` crate implements these traits and
//! provides a [`Services`] value through Leptos context; server functions take it from there.

use crate::auth::{Principal, Scope};
use crate::dto::{
    ApiTokenView, AuditFilter, AuditPage, AuditRecord, BackupAction, BackupsView, ChainReport,
    CreatedToken, DeployMarker, DeploymentAction, DeploymentDetail, DeploymentFilter,
    DeploymentPage, DrillView, EnvironmentOverview, NewDrill, NewRelease, Overview, PlanView,
    ReleasePage, ReleaseView, ServiceHealth,
};
use crate::error::AppError;
use std::sync::Arc;

#[async_trait::async_trait]
pub trait OverviewService: Send + Sync + 'static {
    /// Every configured environment, as the shared collector last saw it.
    async fn overview(&self) -> Result<Overview, AppError>;
    /// One environment; `NotFound` when no environment has that name.
    async fn environment(&self, name: &str) -> Result<EnvironmentOverview, AppError>;
    /// One environment narrowed to one service; `NotFound` when either name is unknown.
    async fn service(
        &self,
        environment: &str,
        service: &str,
    ) -> Result<EnvironmentOverview, AppError> {
        let mut overview = self.environment(environment).await?;
        if !overview.services.iter().any(|s| s.name == service) {
            return Err(AppError::not_found(format!(
                "service {service:?} in {environment}"
            )));
        }
        overview.services.retain(|s| s.name == service);
        Ok(overview)
    }
}

/// Service health as the shared collectors last judged it.
#[async_trait::async_trait]
pub trait HealthService: Send + Sync + 'static {
    /// `NotFound` when the environment or the service is unknown.
    async fn service(&self, environment: &str, service: &str) -> Result<ServiceHealth, AppError>;
}

/// The audit trail: append-only, hash-chained.
#[async_trait::async_trait]
pub trait AuditService: Send + Sync + 'static {
    /// Seals and appends one event (for events that go with no other write: sign-in, denials, reads).
    async fn record(&self, record: AuditRecord) -> Result<(), AppError>;
    /// Newest first, `limit` events older than `before` (a `seq`), filtered.
    async fn page(
        &self,
        filter: &AuditFilter,
        before: Option<i64>,
        limit: u32,
    ) -> Result<AuditPage, AppError>;
    async fn verify(&self) -> Result<ChainReport, AppError>;
}

/// API tokens for CI. Each change is written together with its audit event.
#[async_trait::async_trait]
pub trait TokenService: Send + Sync + 'static {
    async fn list(&self) -> Result<Vec<ApiTokenView>, AppError>;
    async fn create(
        &self,
        by: &Principal,
        name: &str,
        scopes: &[Scope],
        valid_days: u32,
        audit: AuditRecord,
    ) -> Result<CreatedToken, AppError>;
    async fn revoke(
        &self,
        by: &Principal,
        id: &str,
        audit: AuditRecord,
    ) -> Result<ApiTokenView, AppError>;
}

/// Backup and recovery status per environment, and the backup actions. Each action leaves an audit event, with
/// outcome `failed` and our reason when AWS refuses it.
#[async_trait::async_trait]
pub trait BackupService: Send + Sync + 'static {
    async fn view(&self, environment: &str) -> Result<BackupsView, AppError>;
    /// Starts the action against AWS; returns the id of the snapshot (or copy) it created.
    async fn act(
        &self,
        environment: &str,
        action: BackupAction,
        by: &Principal,
        audit: AuditRecord,
    ) -> Result<String, AppError>;
    /// Stores a restore drill and its audit event together.
    async fn record_drill(
        &self,
        drill: NewDrill,
        by: &Principal,
        audit: AuditRecord,
    ) -> Result<DrillView, AppError>;
}

/// Releases and deployments: the release engine as pages and the API use it. Every change is written with its
/// audit event in one transaction; refusals (a requester approving their own deploy, an expired approval, a
/// frozen environment) are audited as denied.
#[async_trait::async_trait]
pub trait ReleaseService: Send + Sync + 'static {
    /// Stores a release; registering the same service and version again answers the stored one (`false`), or
    /// `Conflict` when anything differs.
    async fn register(
        &self,
        release: NewRelease,
        by: &Principal,
        audit: AuditRecord,
    ) -> Result<(ReleaseView, bool), AppError>;
    async fn releases(
        &self,
        service: Option<String>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<ReleasePage, AppError>;
    async fn release(&self, id: &str) -> Result<ReleaseView, AppError>;
    /// What deploying `release` to `environment` would do, read from AWS now.
    async fn plan(&self, release_id: &str, environment: &str) -> Result<PlanView, AppError>;
    /// Freezes the plan and stores the request; `break_glass` is the reason for deploying in a freeze window.
    async fn request(
        &self,
        release_id: &str,
        environment: &str,
        break_glass: Option<String>,
        by: &Principal,
        audit: AuditRecord,
    ) -> Result<DeploymentDetail, AppError>;
    async fn deployment(&self, id: &str) -> Result<DeploymentDetail, AppError>;
    /// Newest first, `seq < before`.
    async fn deployments(
        &self,
        filter: &DeploymentFilter,
        before: Option<i64>,
        limit: u32,
    ) -> Result<DeploymentPage, AppError>;
    /// The switches and rollbacks of one service in the last weeks, oldest first: the health charts' markers.
    async fn markers(
        &self,
        environment: &str,
        service: &str,
    ) -> Result<Vec<DeployMarker>, AppError>;
    /// `reason` is required to reject; `confirm` must be the service name where the environment asks for it.
    async fn act(
        &self,
        id: &str,
        action: DeploymentAction,
        reason: String,
        confirm: String,
        by: &Principal,
        audit: AuditRecord,
    ) -> Result<DeploymentDetail, AppError>;
}

#[derive(Clone)]
pub struct Services {
    pub overview: Arc<dyn OverviewService>,
    pub audit: Arc<dyn AuditService>,
    pub tokens: Arc<dyn TokenService>,
    pub health: Arc<dyn HealthService>,
    pub backups: Arc<dyn BackupService>,
    pub releases: Arc<dyn ReleaseService>,
}

impl Services {
    /// A service's health with Signalbox's own switches and rollbacks as its charts' markers. The markers are a
    /// garnish: a history that cannot be read leaves the charts without them (the error is logged).
    pub async fn service_health(
        &self,
        environment: &str,
        service: &str,
    ) -> Result<ServiceHealth, AppError> {
        let mut health = self.health.service(environment, service).await?;
        health.deploy_markers = self
            .releases
            .markers(environment, service)
            .await
            .unwrap_or_default();
        Ok(health)
    }
}

/// The services for this request; their absence is a wiring bug, reported as an internal error.
pub fn services() -> Result<Services, AppError> {
    leptos::prelude::use_context::<Services>().ok_or_else(|| {
        tracing::error!("Services missing from the Leptos context");
        AppError::Internal {
            reference: "services-missing".into(),
        }
    })
}

/// Sets the HTTP status of a page rendered on the server, so that a missing environment answers 404, not 200.
pub fn set_page_status(error: &AppError) {
    if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
        if let Ok(status) = http::StatusCode::from_u16(error.status_code()) {
            response.set_status(status);
        }
    }
}

/// A server function's result on its way out: an error sets the HTTP status that fits it (404, 422, 502…), so
/// clients and the browser see the same status a page would.
pub fn respond<T>(result: Result<T, AppError>) -> Result<T, AppError> {
    if let Err(error) = &result {
        set_page_status(error);
    }
    result
}
