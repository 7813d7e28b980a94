//! The REST API for CI under `/api/v1`, with `Authorization: Bearer <token>`. The router is built from
//! [`API_ROUTES`], and each route's permission is enforced by one layer built from the same table, so a route
//! cannot exist without a rule; every call, allowed or not, is an audit event (a token use).

use super::AppState;
use crate::audit;
use app::auth::{decide, Caller, Permission};
use app::dto::{AuditFilter, Outcome};
use app::error::AppError;
use axum::extract::{Path, Query, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
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
            .health
            .service(&environment, &service)
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
    Query(params): Query<AuditQueryParams>,
) -> Result<Response, ApiError> {
    let limit = params.limit.unwrap_or(100).clamp(1, audit::BATCH);
    Ok(Json(
        state
            .services
            .audit
            .page(&params.filter, params.before, limit)
            .await?,
    )
    .into_response())
}
