//! Who may do what: the roles, the permissions and the one table that joins them, and the API token scopes.
//! Compiled for the browser too, so the UI offers only what the user may do; the server checks the same table
//! before doing anything ([`require`]).

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Deployer,
    Approver,
    Admin,
    Auditor,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Viewer,
        Role::Deployer,
        Role::Approver,
        Role::Admin,
        Role::Auditor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Deployer => "deployer",
            Role::Approver => "approver",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == text)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something a caller may be allowed to do. Every server function and API route names exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Permission {
    /// Overview, environments, services, deployment history.
    ViewConsole,
    /// Register a build as a release (CI).
    RegisterRelease,
    RequestDeploy,
    ApproveDeploy,
    SwitchTraffic,
    Rollback,
    /// Read and export the audit trail.
    ViewAudit,
    /// Run the tamper check over the whole audit trail.
    VerifyAudit,
    /// Create, list and revoke API tokens.
    ManageTokens,
    /// Take snapshots, copy them to the DR region, record restore drills.
    OperateBackups,
    /// Deploy during a freeze window, with a reason that is recorded and announced.
    BreakGlass,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ViewConsole => "view console",
            Permission::RegisterRelease => "register releases",
            Permission::RequestDeploy => "request deploys",
            Permission::ApproveDeploy => "approve deploys",
            Permission::SwitchTraffic => "switch traffic",
            Permission::Rollback => "roll back",
            Permission::ViewAudit => "view the audit trail",
            Permission::VerifyAudit => "verify the audit trail",
            Permission::ManageTokens => "manage API tokens",
            Permission::OperateBackups => "operate backups",
            Permission::BreakGlass => "break a deploy freeze",
        }
    }
}

use Permission as P;
use Role::*;

/// The permission table: the only place that says which role may do what.
pub const PERMISSIONS: &[(Permission, &[Role])] = &[
    (
        P::ViewConsole,
        &[Viewer, Deployer, Approver, Admin, Auditor],
    ),
    (P::RegisterRelease, &[Deployer, Approver, Admin]),
    (P::RequestDeploy, &[Deployer, Approver, Admin]),
    (P::ApproveDeploy, &[Approver, Admin]),
    (P::SwitchTraffic, &[Approver, Admin]),
    (P::Rollback, &[Approver, Admin]),
    (P::ViewAudit, &[Auditor, Admin]),
    (P::VerifyAudit, &[Auditor, Admin]),
    (P::ManageTokens, &[Admin]),
    (P::OperateBackups, &[Deployer, Approver, Admin]),
    (P::BreakGlass, &[Admin]),
];

pub fn role_may(role: Role, permission: Permission) -> bool {
    PERMISSIONS
        .iter()
        .any(|(p, roles)| *p == permission && roles.contains(&role))
}

/// What an API token may be used for. A token grants exactly the permissions of its scopes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scope {
    #[serde(rename = "read")]
    Read,
    #[serde(rename = "audit:read")]
    AuditRead,
    #[serde(rename = "releases:write")]
    ReleasesWrite,
    #[serde(rename = "deployments:request")]
    DeploymentsRequest,
    #[serde(rename = "deployments:approve")]
    DeploymentsApprove,
}

/// The scope table, beside the permission table.
pub const SCOPES: &[(Scope, &[Permission])] = &[
    (Scope::Read, &[P::ViewConsole]),
    (Scope::AuditRead, &[P::ViewAudit]),
    (Scope::ReleasesWrite, &[P::RegisterRelease]),
    (Scope::DeploymentsRequest, &[P::RequestDeploy]),
    (Scope::DeploymentsApprove, &[P::ApproveDeploy]),
];

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::Read,
        Scope::AuditRead,
        Scope::ReleasesWrite,
        Scope::DeploymentsRequest,
        Scope::DeploymentsApprove,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::AuditRead => "audit:read",
            Scope::ReleasesWrite => "releases:write",
            Scope::DeploymentsRequest => "deployments:request",
            Scope::DeploymentsApprove => "deployments:approve",
        }
    }

    pub fn parse(text: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == text)
    }

    pub fn grants(self, permission: Permission) -> bool {
        SCOPES
            .iter()
            .any(|(s, permissions)| *s == self && permissions.contains(&permission))
    }

    /// The scope a token needs for `permission`, for the 403 that names it.
    pub fn needed_for(permission: Permission) -> Option<Scope> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.grants(permission))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrincipalKind {
    /// A person signed in through single sign-on.
    User,
    /// CI, with an API token.
    Token,
}

/// Who is calling. Sent to the browser (the signed-in user's own identity), so it holds no secrets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The IdP's subject, or `token:<id>`.
    pub subject: String,
    /// What people read: the user's name or the token's name.
    pub name: String,
    pub kind: PrincipalKind,
    pub roles: Vec<Role>,
    /// For tokens only.
    pub scopes: Vec<Scope>,
    /// For tokens: the subject of the person who created it, who acts through it.
    #[serde(default)]
    pub owner: Option<String>,
}

impl Principal {
    pub fn may(&self, permission: Permission) -> bool {
        match self.kind {
            PrincipalKind::User => self.roles.iter().any(|role| role_may(*role, permission)),
            PrincipalKind::Token => self.scopes.iter().any(|scope| scope.grants(permission)),
        }
    }

    /// Everyone this caller acts as: itself and, for a token, the person who created it. A requester may not
    /// approve their own deploy through any of these.
    pub fn identities(&self) -> Vec<&str> {
        std::iter::once(self.subject.as_str())
            .chain(self.owner.as_deref())
            .collect()
    }

    /// Roles (users) or scopes (tokens), as the audit trail records them.
    pub fn authority(&self) -> String {
        match self.kind {
            PrincipalKind::User => self
                .roles
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(","),
            PrincipalKind::Token => self
                .scopes
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(","),
        }
    }
}

#[cfg(feature = "ssr")]
mod server_side {
    use super::*;
    use crate::dto::{AuditRecord, Outcome};
    use crate::error::AppError;

    /// The request as the identity layer saw it; the server puts it in the Leptos context of every request.
    #[derive(Clone, Debug)]
    pub struct Caller {
        pub principal: Option<Principal>,
        pub request_id: String,
        pub client_addr: String,
    }

    impl Caller {
        /// An audit record for what this caller did; the caller fills in target, environment and parameters.
        pub fn record(
            &self,
            action: &str,
            outcome: Outcome,
            reason: impl Into<String>,
        ) -> AuditRecord {
            let (actor, actor_kind, authority) = match &self.principal {
                Some(p) => (
                    p.subject.clone(),
                    match p.kind {
                        PrincipalKind::User => "user",
                        PrincipalKind::Token => "token",
                    }
                    .to_string(),
                    p.authority(),
                ),
                None => ("anonymous".into(), "anonymous".into(), String::new()),
            };
            AuditRecord {
                actor,
                actor_kind,
                authority,
                action: action.to_string(),
                target: String::new(),
                environment: None,
                parameters: "{}".into(),
                outcome,
                reason: reason.into(),
                request_id: self.request_id.clone(),
                client_addr: self.client_addr.clone(),
            }
        }
    }

    pub fn caller() -> Result<Caller, AppError> {
        leptos::prelude::use_context::<Caller>().ok_or_else(|| {
            tracing::error!("Caller missing from the Leptos context");
            AppError::Internal {
                reference: "caller-missing".into(),
            }
        })
    }

    /// A refusal: the reason the audit trail records, and the error the caller gets.
    #[derive(Debug, Clone)]
    pub struct Refusal {
        pub reason: String,
        pub error: AppError,
    }

    /// The decision alone: may this caller do this? Used by [`require`] and by the server's HTTP routes.
    pub fn decide(caller: &Caller, permission: Permission) -> Result<Principal, Refusal> {
        match &caller.principal {
            Some(principal) if principal.may(permission) => Ok(principal.clone()),
            Some(principal) => Err(match (&principal.kind, Scope::needed_for(permission)) {
                (PrincipalKind::Token, Some(scope)) => Refusal {
                    reason: format!("the token lacks the scope {scope}"),
                    error: AppError::Forbidden {
                        action: format!("{} (needs scope {scope})", permission.as_str()),
                    },
                },
                _ => Refusal {
                    reason: format!(
                        "no role of {:?} may {}",
                        principal.authority(),
                        permission.as_str()
                    ),
                    error: AppError::Forbidden {
                        action: permission.as_str().to_string(),
                    },
                },
            }),
            None => Err(Refusal {
                reason: "not signed in".to_string(),
                error: AppError::Unauthorized,
            }),
        }
    }

    /// Authorisation, first thing in every server function: the caller must be signed in and hold `permission`.
    /// A refusal is recorded in the audit trail and sets the HTTP status (401 or 403).
    pub async fn require(permission: Permission, action: &str) -> Result<Principal, AppError> {
        require_on(permission, action, None).await
    }

    /// [`require`] for an action on one thing (`deployment/dep-…`): a refusal is recorded against it, so the
    /// thing's own audit history shows who tried and was refused.
    pub async fn require_on(
        permission: Permission,
        action: &str,
        target: Option<String>,
    ) -> Result<Principal, AppError> {
        let caller = caller()?;
        let refusal = match decide(&caller, permission) {
            Ok(principal) => return Ok(principal),
            Err(refusal) => refusal,
        };
        let mut record = caller.record(action, Outcome::Denied, refusal.reason);
        if let Some(target) = target {
            record = record.target(target);
        }
        if let Ok(services) = crate::services::services() {
            if let Err(e) = services.audit.record(record).await {
                tracing::error!(error = ?e, "could not record a denied attempt");
            }
        }
        crate::services::set_page_status(&refusal.error);
        Err(refusal.error)
    }
}

#[cfg(feature = "ssr")]
pub use server_side::{caller, decide, require, require_on, Caller, Refusal};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_permission_has_a_row_and_admin_may_do_everything_but_nothing_is_implicit() {
        for (permission, roles) in PERMISSIONS {
            assert!(!roles.is_empty(), "{permission:?} has no role");
        }
        assert!(role_may(Role::Admin, Permission::ManageTokens));
        assert!(!role_may(Role::Viewer, Permission::RequestDeploy));
        assert!(!role_may(Role::Deployer, Permission::ApproveDeploy));
        assert!(!role_may(Role::Auditor, Permission::SwitchTraffic));
        assert!(role_may(Role::Auditor, Permission::ViewAudit));
    }

    #[test]
    fn a_token_has_only_the_permissions_of_its_scopes() {
        let token = Principal {
            subject: "token:1".into(),
            name: "ci".into(),
            kind: PrincipalKind::Token,
            roles: vec![Role::Admin],
            scopes: vec![Scope::Read],
            owner: Some("ada".into()),
        };
        assert!(token.may(Permission::ViewConsole));
        assert!(
            !token.may(Permission::ManageTokens),
            "roles do not apply to tokens"
        );
        assert_eq!(
            Scope::needed_for(Permission::RequestDeploy),
            Some(Scope::DeploymentsRequest)
        );
        assert_eq!(Scope::parse("audit:read"), Some(Scope::AuditRead));
        assert_eq!(Scope::parse("write"), None);
    }
}
