//! `/healthz` says the process answers; `/readyz` says it can do its work (database reachable, schema current).
//! Load balancers and orchestrators poll these without signing in.

use super::router::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use std::time::Duration;

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

const DATABASE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let backend = format!("{:?}", state.storage.backend()).to_lowercase();
    let check = async {
        state.storage.ping().await?;
        state.storage.schema_status().await
    };
    match tokio::time::timeout(DATABASE_CHECK_TIMEOUT, check).await {
        Ok(Ok(schema)) if schema.is_current() => (
            StatusCode::OK,
            Json(json!({
                "status": "ready",
                "database": backend,
                "migrations": { "applied": schema.applied, "expected": schema.expected },
            })),
        ),
        Ok(Ok(schema)) => {
            tracing::warn!(
                applied = schema.applied,
                expected = schema.expected,
                "not ready: migrations pending"
            );
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "not ready", "reason": "database migrations pending" })),
            )
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "not ready: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "not ready", "reason": "database unreachable" })),
            )
        }
        Err(_) => {
            tracing::warn!(
                timeout_ms = DATABASE_CHECK_TIMEOUT.as_millis() as u64,
                "not ready: database check timed out"
            );
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "not ready", "reason": "database did not answer in time" })),
            )
        }
    }
}
