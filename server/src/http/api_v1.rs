//! The REST API for CI under `/api/v1`, with `Authorization: Bearer <token>`. The router is built from
//! [`API_ROUTES`], and each route's permission is enforced by one layer built from the same table, so a route
//! cannot exist without a rule; every call, allowed or not, is an audit event (a token use).

use super::AppState;
use crate::audit;
use app::auth::{decide, Caller, Permission};
use app::dto::{AuditFilter, Outcome};
use app::error::AppError;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::{Extension, Json, Router};
use serde::Deserialize;

pub struct ApiRoute {
    pub method: Method,
    /// axum's path syntax.
    pub path: &'static str,
    /// `None`: any valid token.
    pub permission: Option<Permission>,
    /// The audit trail's name for a call.
    pub action: &'static str,
    handler: fn() -> MethodRouter<AppState>,
}

pub const API_ROUTES: &[ApiRoute] = &[
    ApiRoute {
        method: Method::GET,
        path: "/api/v1/whoami",
        permission: None,
        action: "api.whoami",
        handler: || get(whoami),
    },
    ApiRoute {
        method: Method::GET,
        path: "/api/v1/environments",
        permission: Some(Permission::ViewConsole),
        action: "api.environments.list",
        handler: || get(environments),
    },
    ApiRoute {
        method: Method::GET,
        path: "/api/v1/environments/{name}",
        permission: Some(Permission::ViewConsole),
        action: "api.environments.get",
        handler: || get(environment),
    },
    ApiRoute {
        method: Method::GET,
        path: "/api/v1/health/{environment}/{service}",
        permission: Some(Permission::ViewConsole),
        action: "api.health.get",
        handler: || get(service_health),
    },
    ApiRoute {
        method: Method::GET,
        path: "/api/v1/backups/{environment}",
        permission: Some(Permission::ViewConsole),
        action: "api.backups.get",
        handler: || get(backups),
    },
    ApiRoute {
        method: Method::POST,
        path: "/api/v1/releases",
        permission: Some(Permission::RegisterRelease),
        action: "api.releases.register",
        handler: || post(register_release),
    },
    ApiRoute {
        method: Method::GET,
        path: "/api/v1/releases",
        permission: Some(Permission::ViewConsole),
        action: "api.releases.list",
        handler: || get(list_releases),
    },
    ApiRoute {
        method: Method::POST,
        path: "/api/v1/deployments",
        permission: Some(Permission::RequestDeploy),
        action: "api.deployments.request",
        handler: || post(request_deployment),
    },
    ApiRoute {
        method: Method::GET,
        path: "/api/v1/deployments",
        permission: Some(Permission::ViewConsole),
        action: "api.deployments.list",
        handler: || get(list_deployments),
    },
    ApiRoute {
        method: Method::GET,
        path: "/api/v1/deployments/{id}",
        permission: Some(Permission::ViewConsole),
        action: "api.deployments.get",
        handler: || get(get_deployment),
    },
    ApiRoute {
        method: Method::GET,
        path: "/api/v1/deployments/{id}/wait",
        permission: Some(Permission::ViewConsole),
        action: "api.deployments.wait",
        handler: || get(wait_deployment),
    },
    ApiRoute {
        method: Method::POST,
        path: "/api/v1/deployments/{id}/approve",
        permission: Some(Permission::ApproveDeploy),
        action: "api.deployments.approve",
        handler: || post(approve_deployment),
    },
    ApiRoute {
        method: Method::POST,
        path: "/api/v1/deployments/{id}/reject",
        permission: Some(Permission::ApproveDeploy),
        action: "api.deployments.reject",
        handler: || post(reject_deployment),
    },
    ApiRoute {
        method: Method::GET,
        path: "/api/v1/openapi.json",
        permission: None,
        action: "api.openapi",
        handler: || get(openapi),
    },
    ApiRoute {
        method: Method::GET,
        path: "/api/v1/audit/events",
        permission: Some(Permission::ViewAudit),
        action: "api.audit.list",
        handler: || get(audit_events),
    },
];

/// An error as the API answers it: the status that fits, and our own words.
pub struct ApiError(pub AppError);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let kind = match &self.0 {
            AppError::Unauthorized => "unauthorized",
            AppError::Forbidden { .. } => "forbidden",
            AppError::NotFound { .. } => "not_found",
            AppError::Validation { .. } => "validation",
            AppError::Conflict { .. } => "conflict",
            AppError::Upstream { .. } => "upstream",
            AppError::Internal { .. } => "internal",
        };
        (status, Json(serde_json::json!({ "error": kind, "message": self.0.to_string(), "detail": self.0 })))
            .into_response()
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        ApiError(error)
    }
}

#[derive(Clone)]
struct Rule {
    state: AppState,
    permission: Option<Permission>,
    action: &'static str,
}

pub fn router(state: &AppState) -> Router<AppState> {
    let mut router = Router::new();
    for route in API_ROUTES {
        let rule = Rule {
            state: state.clone(),
            permission: route.permission,
            action: route.action,
        };
        router = router.route(
            route.path,
            (route.handler)().route_layer(from_fn_with_state(rule, authorize)),
        );
    }
    router.fallback(|| async { ApiError(AppError::not_found("this API route")).into_response() })
}

/// The permission check of one route, and its audit event.
async fn authorize(
    State(Rule {
        state,
        permission,
        action,
    }): State<Rule>,
    Extension(caller): Extension<Caller>,
    request: Request,
    next: Next,
) -> Response {
    let decision = match permission {
        Some(permission) => decide(&caller, permission).map(|_| ()),
        None if caller.principal.is_some() => Ok(()),
        None => decide(&caller, Permission::ViewConsole).map(|_| ()),
    };
    let target = format!("{} {}", request.method(), request.uri().path());
    let (outcome, reason) = match &decision {
        Ok(()) => (Outcome::Allowed, String::new()),
        Err(refusal) => (Outcome::Denied, refusal.reason.clone()),
    };
    let record = caller
        .record(action, outcome, reason)
        .target(target)
        .parameters(serde_json::json!({ "query": request.uri().query() }).to_string());
    if let Err(error) = state.storage.append_audit(&record).await {
        return ApiError(error.into()).into_response();
    }
    match decision {
        Ok(()) => next.run(request).await,
        Err(refusal) => ApiError(refusal.error).into_response(),
    }
}

async fn whoami(Extension(caller): Extension<Caller>) -> Response {
    Json(caller.principal).into_response()
}

async fn environments(State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(Json(state.services.overview.overview().await?).into_response())
}

async fn environment(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(state.services.overview.environment(&name).await?).into_response())
}

/// The health gate's verdict per colour, with the rules that fired and the KPIs: what CI and the release engine
/// gate on.
async fn service_health(
    State(state): State<AppState>,
    Path((environment, service)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    Ok(Json(
        state
            .services
            .service_health(&environment, &service)
            .await?,
    )
    .into_response())
}

/// "Recoverable now?" with the checks behind it, for CI and the release engine.
async fn backups(
    State(state): State<AppState>,
    Path(environment): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(state.services.backups.view(&environment).await?).into_response())
}

#[derive(Deserialize)]
struct AuditQueryParams {
    #[serde(flatten)]
    filter: AuditFilter,
    before: Option<i64>,
    limit: Option<u32>,
}

async fn audit_events(
    State(state): State<AppState>,
    params: Result<Query<AuditQueryParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let params = query(params)?;
    let (limit, before) = paging(params.limit, params.before, 100, audit::BATCH)?;
    Ok(Json(
        state
            .services
            .audit
            .page(&params.filter, before, limit)
            .await?,
    )
    .into_response())
}

/// The caller's identity and a fresh audit record for what it does, inside an API handler.
fn acting(
    caller: &Caller,
    action: &str,
) -> Result<(app::auth::Principal, app::dto::AuditRecord), ApiError> {
    let principal = caller
        .principal
        .clone()
        .ok_or(ApiError(AppError::Unauthorized))?;
    Ok((principal, caller.record(action, Outcome::Allowed, "")))
}

/// A JSON body that does not parse is a 422 naming the problem, never axum's plain-text 400.
fn body<T: serde::de::DeserializeOwned>(
    payload: Result<Json<T>, axum::extract::rejection::JsonRejection>,
) -> Result<T, ApiError> {
    payload.map(|Json(value)| value).map_err(|rejection| {
        ApiError(AppError::Validation {
            field: "body".into(),
            message: rejection.body_text().chars().take(300).collect(),
        })
    })
}

/// A query string that does not parse is a 422 naming the parameter, never axum's plain-text 400.
fn query<T>(params: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    params.map(|Query(value)| value).map_err(|rejection| {
        let text = rejection.body_text();
        // "Failed to deserialize query string: limit: invalid digit found in string"
        let detail = text
            .split_once("query string: ")
            .map_or(text.as_str(), |(_, rest)| rest);
        let (field, message) = detail.split_once(": ").unwrap_or(("query", detail));
        invalid(field, message.chars().take(300).collect::<String>())
    })
}

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError(AppError::Validation {
        field: field.into(),
        message: message.into(),
    })
}

/// `limit` within 1..=`max` (default `default`), and `before` a sequence number (0 or more).
fn paging(
    limit: Option<u32>,
    before: Option<i64>,
    default: u32,
    max: u32,
) -> Result<(u32, Option<i64>), ApiError> {
    let limit = limit.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(invalid("limit", format!("1 to {max}")));
    }
    if before.is_some_and(|b| b < 0) {
        return Err(invalid("before", "a sequence number, 0 or more"));
    }
    Ok((limit, before))
}

/// Most items a page of releases or deployments holds.
pub const PAGE_MAX: u32 = 200;

/// CI registers a build. 201 when new; 200 with the stored release when the same build is registered again.
async fn register_release(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    payload: Result<Json<app::dto::NewRelease>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let release = body(payload)?;
    let (principal, audit) = acting(&caller, "releases.register")?;
    let (view, created) = state
        .services
        .releases
        .register(release, &principal, audit)
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view)).into_response())
}

#[derive(Deserialize)]
struct PageParams {
    service: Option<String>,
    environment: Option<String>,
    state: Option<String>,
    release: Option<String>,
    before: Option<i64>,
    limit: Option<u32>,
}

async fn list_releases(
    State(state): State<AppState>,
    params: Result<Query<PageParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let params = query(params)?;
    let (limit, before) = paging(params.limit, params.before, 50, PAGE_MAX)?;
    Ok(Json(
        state
            .services
            .releases
            .releases(params.service, before, limit)
            .await?,
    )
    .into_response())
}

#[derive(Deserialize)]
struct DeployRequest {
    release: String,
    environment: String,
    #[serde(default)]
    break_glass: Option<String>,
}

async fn request_deployment(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    payload: Result<Json<DeployRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let request = body(payload)?;
    let (principal, audit) = acting(&caller, "deployments.request")?;
    let view = state
        .services
        .releases
        .request(
            &request.release,
            &request.environment,
            request.break_glass,
            &principal,
            audit,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

async fn list_deployments(
    State(state): State<AppState>,
    params: Result<Query<PageParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let params = query(params)?;
    let (limit, before) = paging(params.limit, params.before, 50, PAGE_MAX)?;
    if params
        .state
        .as_deref()
        .is_some_and(|s| app::dto::DeploymentState::parse(s).is_none())
    {
        return Err(invalid(
            "state",
            "one of the deployment states (requested, queued, …, done)",
        ));
    }
    let filter = app::dto::DeploymentFilter {
        environment: params.environment,
        service: params.service,
        state: params.state,
        release: params.release,
    };
    Ok(Json(
        state
            .services
            .releases
            .deployments(&filter, before, limit)
            .await?,
    )
    .into_response())
}

async fn get_deployment(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(state.services.releases.deployment(&id).await?).into_response())
}

#[derive(Deserialize)]
struct WaitParams {
    timeout_secs: Option<u64>,
}

/// Answers when the deployment finishes or halts, or after `timeout_secs` (default 60,
/// at most 300) with its state then; `finished` says which. CI loops on it.
async fn wait_deployment(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Result<Query<WaitParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    use app::dto::DeploymentState as S;
    let timeout = query(params)?.timeout_secs.unwrap_or(60);
    if !(1..=300).contains(&timeout) {
        return Err(invalid("timeout_secs", "1 to 300"));
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(timeout);
    loop {
        let view = state.services.releases.deployment(&id).await?;
        let settled = view.summary.state.is_terminal() || matches!(view.summary.state, S::Halted);
        if settled || std::time::Instant::now() >= deadline {
            return Ok(
                Json(serde_json::json!({ "finished": settled, "deployment": view }))
                    .into_response(),
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

#[derive(Deserialize, Default)]
struct DecisionBody {
    #[serde(default)]
    reason: String,
}

async fn decide_on(
    state: AppState,
    caller: Caller,
    id: String,
    action: app::dto::DeploymentAction,
    payload: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let reason = match payload.is_empty() {
        true => String::new(),
        false => {
            serde_json::from_slice::<DecisionBody>(&payload)
                .map_err(|e| {
                    ApiError(AppError::Validation {
                        field: "body".into(),
                        message: format!("expected {{\"reason\": \"…\"}}: {e}"),
                    })
                })?
                .reason
        }
    };
    let (principal, audit) = acting(&caller, &format!("deployments.{}", action.as_str()))?;
    Ok(Json(
        state
            .services
            .releases
            .act(&id, action, reason, String::new(), &principal, audit)
            .await?,
    )
    .into_response())
}

async fn approve_deployment(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    payload: axum::body::Bytes,
) -> Result<Response, ApiError> {
    decide_on(
        state,
        caller,
        id,
        app::dto::DeploymentAction::Approve,
        payload,
    )
    .await
}

async fn reject_deployment(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    payload: axum::body::Bytes,
) -> Result<Response, ApiError> {
    decide_on(
        state,
        caller,
        id,
        app::dto::DeploymentAction::Reject,
        payload,
    )
    .await
}

/// The document names the environments and services configured here, so a client (or a fuzzer) knows which
/// values are accepted.
async fn openapi(State(state): State<AppState>) -> Result<Response, ApiError> {
    let overview = state.services.overview.overview().await?;
    let environments: Vec<String> = overview
        .environments
        .iter()
        .map(|e| e.name.clone())
        .collect();
    let mut services: Vec<String> = overview
        .environments
        .iter()
        .flat_map(|e| e.services.iter().map(|s| s.name.clone()))
        .collect();
    services.sort();
    services.dedup();
    Ok(Json(super::openapi::document(
        env!("CARGO_PKG_VERSION"),
        &environments,
        &services,
    ))
    .into_response())
}
