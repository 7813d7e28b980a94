//! Who is calling: single sign-on ([`oidc`]), sessions in the database, roles from the IdP's groups, API tokens
//! ([`tokens`]), the gate every request passes ([`gate`]) and the sign-in routes ([`routes`]).

pub mod gate;
pub mod oidc;
pub mod pages;
pub mod routes;
pub mod tokens;

use crate::config::{ClientSecretSource, Config, IdentityConfig};
use crate::secret::Secret;
use app::auth::{Principal, PrincipalKind, Role};
use serde::{Deserialize, Serialize};

/// Session keys.
pub const USER_KEY: &str = "user";
pub const LOGINS_KEY: &str = "logins";
/// Sign-ins in progress kept per browser (several tabs may start one).
pub const MAX_PENDING_LOGINS: usize = 5;

/// The signed-in person, as kept in the server-side session.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SessionUser {
    pub subject: String,
    pub name: String,
    pub email: Option<String>,
    pub groups: Vec<String>,
    pub roles: Vec<Role>,
    /// Unix seconds; the absolute lifetime counts from here.
    pub signed_in_at: i64,
    /// Unix seconds, refreshed at most once a minute: each refresh saves the session and so extends its idle
    /// expiry, without a database write per request.
    pub last_seen: i64,
    /// Sent back as `id_token_hint` at sign-out.
    pub id_token: String,
}

impl SessionUser {
    pub fn principal(&self) -> Principal {
        Principal {
            subject: self.subject.clone(),
            name: self.name.clone(),
            kind: PrincipalKind::User,
            roles: self.roles.clone(),
            scopes: Vec::new(),
            owner: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IdentitySetupError {
    #[error("single sign-on is not configured: set identity.issuer (SIGNALBOX_OIDC_ISSUER), identity.client_id and the client secret")]
    NotConfigured,
    #[error("cannot read the OIDC client secret from {path}: {reason}")]
    SecretFile { path: String, reason: String },
    #[error("cannot read the OIDC client secret from Parameter Store {name}: {reason}")]
    SecretParameter { name: String, reason: String },
}

/// Reads the client secret from where the configuration says.
pub async fn client_secret(
    config: &Config,
) -> Result<(IdentityConfig, Secret<String>), IdentitySetupError> {
    let identity = config
        .identity
        .clone()
        .ok_or(IdentitySetupError::NotConfigured)?;
    let secret = match &identity.client_secret {
        ClientSecretSource::Env(secret) => secret.clone(),
        ClientSecretSource::File(path) => std::fs::read_to_string(path)
            .map(|s| Secret::new(s.trim().to_string()))
            .map_err(|e| IdentitySetupError::SecretFile {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?,
        ClientSecretSource::Parameter(name) => crate::aws::ssm::read_secure_parameter(config, name)
            .await
            .map_err(|e| IdentitySetupError::SecretParameter {
                name: name.clone(),
                reason: e.public_message(),
            })?,
    };
    Ok((identity, secret))
}
