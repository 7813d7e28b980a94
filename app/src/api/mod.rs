//! Server functions, one file an area, and the rule each one enforces.
pub mod audit;
pub mod backups;
pub mod health;
pub mod identity;
pub mod load;
pub mod overview;
pub mod releases;
pub mod tokens;

use crate::auth::Permission;

/// What a server function requires, by its URL. The authorisation matrix test takes the list of server
/// functions from Leptos' own registry and fails for any that is missing here, then checks every role against
/// this table and [`crate::auth::PERMISSIONS`].
pub const SERVER_FUNCTION_RULES: &[(&str, Option<Permission>)] = &[
    ("/api/whoami", None),
    ("/api/overview", Some(Permission::ViewConsole)),
    ("/api/environment", Some(Permission::ViewConsole)),
    ("/api/service", Some(Permission::ViewConsole)),
    ("/api/health", Some(Permission::ViewConsole)),
    ("/api/audit/page", Some(Permission::ViewAudit)),
    ("/api/audit/verify", Some(Permission::VerifyAudit)),
    ("/api/tokens/list", Some(Permission::ManageTokens)),
    ("/api/tokens/create", Some(Permission::ManageTokens)),
    ("/api/tokens/revoke", Some(Permission::ManageTokens)),
    ("/api/backups", Some(Permission::ViewConsole)),
    (
        "/api/backups/rds-snapshot",
        Some(Permission::OperateBackups),
    ),
    (
        "/api/backups/redis-snapshot",
        Some(Permission::OperateBackups),
    ),
    ("/api/backups/dr-copy", Some(Permission::OperateBackups)),
    ("/api/backups/drill", Some(Permission::OperateBackups)),
    ("/api/releases", Some(Permission::ViewConsole)),
    ("/api/releases/get", Some(Permission::ViewConsole)),
    ("/api/deploy/plan", Some(Permission::RequestDeploy)),
    ("/api/deploy/request", Some(Permission::RequestDeploy)),
    ("/api/deployments", Some(Permission::ViewConsole)),
    ("/api/deployments/get", Some(Permission::ViewConsole)),
    ("/api/deployments/decide", Some(Permission::ApproveDeploy)),
    ("/api/deployments/cancel", Some(Permission::RequestDeploy)),
    ("/api/deployments/control", Some(Permission::SwitchTraffic)),
    ("/api/deployments/rollback", Some(Permission::Rollback)),
];
