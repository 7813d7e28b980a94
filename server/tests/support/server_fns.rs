//! What the tests that go through every server function share: a valid request body for each, by its URL.

/// A valid request body for each server function, so an allowed call gets past argument parsing. A server
/// function without one fails the tests that enumerate them (`authorization.rs`, `hostile.rs`, `identity.rs`).
pub fn sample_body(path: &str) -> &'static str {
    match path {
        "/api/whoami" | "/api/overview" | "/api/audit/page" | "/api/audit/verify"
        | "/api/tokens/list" => "",
        "/api/environment" => "name=production",
        "/api/service" | "/api/health" => "environment=production&service=api",
        "/api/tokens/create" => "name=matrix&scopes[0]=read&valid_days=1",
        "/api/tokens/revoke" => "id=no-such-token",
        "/api/backups" | "/api/backups/rds-snapshot" | "/api/backups/redis-snapshot" => {
            "environment=production"
        }
        "/api/backups/dr-copy" => "environment=production&snapshot=no-such-snapshot",
        "/api/backups/drill" => {
            "environment=production&performed_at=2026-11-01&snapshot=matrix&duration_minutes=30&passed=true"
        }
        "/api/releases" | "/api/deployments" => "",
        "/api/releases/get" | "/api/deployments/get" => "id=no-such",
        "/api/deploy/plan" | "/api/deploy/request" => "release=no-such&environment=production",
        "/api/deployments/decide" => "id=no-such&action=approve",
        "/api/deployments/cancel" => "id=no-such&action=cancel",
        "/api/deployments/control" => "id=no-such&action=pause",
        "/api/deployments/rollback" => "id=no-such&action=rollback_now",
        other => panic!(
            "server function {other} has no sample request in tests/support/server_fns.rs: add one"
        ),
    }
}

/// Every registered server function's URL, from Leptos' own registry.
pub fn registered() -> Vec<String> {
    leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.to_string())
        .collect()
}
