//! Releases and deployments: list, plan, request, and the actions on a deployment, one server function per
//! permission so each has exactly one rule.

#[cfg(feature = "ssr")]
use crate::auth::Permission;
use crate::dto::{
    DeploymentAction, DeploymentDetail, DeploymentPage, PlanView, ReleasePage, ReleaseView,
};
#[cfg(feature = "ssr")]
use crate::dto::{DeploymentFilter, Outcome};
use crate::error::AppError;
use leptos::prelude::*;

/// Releases, newest first, 50 a page (`before` = the last page's `next_before`).
#[server(endpoint = "releases")]
pub async fn list_releases(
    #[server(default)] service: Option<String>,
    #[server(default)] before: Option<i64>,
) -> Result<ReleasePage, AppError> {
    crate::auth::require(Permission::ViewConsole, "releases.view").await?;
    crate::services::respond(
        crate::services::services()?
            .releases
            .releases(service, before, 50)
            .await,
    )
}

#[server(endpoint = "releases/get")]
pub async fn get_release(id: String) -> Result<ReleaseView, AppError> {
    crate::auth::require(Permission::ViewConsole, "releases.view").await?;
    crate::services::respond(crate::services::services()?.releases.release(&id).await)
}

/// What deploying `release` to `environment` would do: the diff, the colours, the snapshots, the gates.
#[server(endpoint = "deploy/plan")]
pub async fn plan_deploy(release: String, environment: String) -> Result<PlanView, AppError> {
    crate::auth::require(Permission::RequestDeploy, "deployments.plan").await?;
    crate::services::respond(
        crate::services::services()?
            .releases
            .plan(&release, &environment)
            .await,
    )
}

/// Requests the deploy; during a freeze only an admin may, with a break-glass reason.
#[server(endpoint = "deploy/request")]
pub async fn request_deploy(
    release: String,
    environment: String,
    #[server(default)] break_glass: String,
) -> Result<DeploymentDetail, AppError> {
    let principal = crate::auth::require(Permission::RequestDeploy, "deployments.request").await?;
    let audit = crate::auth::caller()?.record("deployments.request", Outcome::Allowed, "");
    let break_glass = Some(break_glass).filter(|r| !r.trim().is_empty());
    crate::services::respond(
        crate::services::services()?
            .releases
            .request(&release, &environment, break_glass, &principal, audit)
            .await,
    )
}

/// Deployment history, newest first, 50 a page, filtered on the server.
#[server(endpoint = "deployments")]
pub async fn list_deployments(
    #[server(default)] environment: Option<String>,
    #[server(default)] service: Option<String>,
    #[server(default)] state: Option<String>,
    #[server(default)] before: Option<i64>,
) -> Result<DeploymentPage, AppError> {
    crate::auth::require(Permission::ViewConsole, "deployments.view").await?;
    let filter = DeploymentFilter {
        environment,
        service,
        state,
        release: None,
    };
    crate::services::respond(
        crate::services::services()?
            .releases
            .deployments(&filter, before, 50)
            .await,
    )
}

#[server(endpoint = "deployments/get")]
pub async fn get_deployment(id: String) -> Result<DeploymentDetail, AppError> {
    crate::auth::require(Permission::ViewConsole, "deployments.view").await?;
    crate::services::respond(crate::services::services()?.releases.deployment(&id).await)
}

/// The actions each deployment server function accepts: one permission each.
pub const ACTIONS_BY_ENDPOINT: &[(&str, &[DeploymentAction])] = &[
    (
        "decide",
        &[DeploymentAction::Approve, DeploymentAction::Reject],
    ),
    ("cancel", &[DeploymentAction::Cancel]),
    (
        "control",
        &[
            DeploymentAction::SwitchNow,
            DeploymentAction::Pause,
            DeploymentAction::Resume,
            DeploymentAction::Retry,
        ],
    ),
    (
        "rollback",
        &[DeploymentAction::Abort, DeploymentAction::RollbackNow],
    ),
];

/// The server function that carries `action`.
pub fn endpoint_for(action: DeploymentAction) -> &'static str {
    ACTIONS_BY_ENDPOINT
        .iter()
        .find(|(_, actions)| actions.contains(&action))
        .map(|(endpoint, _)| *endpoint)
        .expect("every action has an endpoint")
}

#[cfg(feature = "ssr")]
async fn act(
    endpoint: &str,
    id: String,
    action: String,
    reason: String,
    confirm: String,
) -> Result<DeploymentDetail, AppError> {
    let allowed = ACTIONS_BY_ENDPOINT
        .iter()
        .find(|(e, _)| *e == endpoint)
        .map(|(_, actions)| *actions)
        .unwrap_or(&[]);
    let permission = allowed
        .first()
        .map(|a| a.permission())
        .unwrap_or(Permission::Rollback);
    // The audit trail records our names, not the text as sent: an unknown action, a malformed id, are named so.
    let name = format!(
        "deployments.{}",
        DeploymentAction::parse(&action).map_or("unknown", |a| a.as_str())
    );
    let target = crate::validate::key("id", &id)
        .is_ok()
        .then(|| format!("deployment/{id}"));
    let principal = crate::auth::require_on(permission, &name, target).await?;
    let Some(action) = DeploymentAction::parse(&action).filter(|a| allowed.contains(a)) else {
        return crate::services::respond(Err(AppError::Validation {
            field: "action".into(),
            message: format!(
                "one of {}",
                allowed
                    .iter()
                    .map(|a| a.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }));
    };
    let audit = crate::auth::caller()?.record(&name, Outcome::Allowed, "");
    crate::services::respond(
        crate::services::services()?
            .releases
            .act(&id, action, reason, confirm, &principal, audit)
            .await,
    )
}

/// Approve or reject (a rejection needs a reason). The requester is refused, on this path and every other.
#[server(endpoint = "deployments/decide")]
pub async fn decide_deployment(
    id: String,
    action: String,
    #[server(default)] reason: String,
) -> Result<DeploymentDetail, AppError> {
    act("decide", id, action, reason, String::new()).await
}

#[server(endpoint = "deployments/cancel")]
pub async fn cancel_deployment(
    id: String,
    action: String,
    #[server(default)] reason: String,
) -> Result<DeploymentDetail, AppError> {
    act("cancel", id, action, reason, String::new()).await
}

/// Switch now, pause, resume, retry a halted step.
#[server(endpoint = "deployments/control")]
pub async fn control_deployment(
    id: String,
    action: String,
    #[server(default)] confirm: String,
) -> Result<DeploymentDetail, AppError> {
    act("control", id, action, String::new(), confirm).await
}

/// Abort or roll back now; production asks for the service name in `confirm`.
#[server(endpoint = "deployments/rollback")]
pub async fn rollback_deployment(
    id: String,
    action: String,
    #[server(default)] reason: String,
    #[server(default)] confirm: String,
) -> Result<DeploymentDetail, AppError> {
    act("rollback", id, action, reason, confirm).await
}
