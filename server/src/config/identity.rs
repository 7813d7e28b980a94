//! The `[identity]` and `[security]` sections: single sign-on, sessions, the group → role mapping, and the
//! limits the web layer enforces.

use super::{invalid, layered_int, layered_string, ConfigError};
use crate::secret::Secret;
use app::auth::Role;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct IdentityConfig {
    pub issuer: url::Url,
    pub client_id: String,
    pub client_secret: ClientSecretSource,
    pub scopes: Vec<String>,
    pub groups_claim: String,
    /// Claim value → roles. Values that map to nothing give no role.
    pub roles: BTreeMap<String, Vec<Role>>,
    pub idle_timeout: Duration,
    pub absolute_lifetime: Duration,
    pub cookie_secure: bool,
    /// `<public_url>/auth/callback`
    pub redirect_url: url::Url,
    /// `<public_url>/auth/signed-out`
    pub post_logout_url: url::Url,
}

/// Where the client secret comes from; it is read at start-up, never from the TOML file itself.
#[derive(Debug, Clone)]
pub enum ClientSecretSource {
    Env(Secret<String>),
    File(PathBuf),
    /// A Parameter Store (SecureString) name, read with the console's own AWS credentials.
    Parameter(String),
}

#[derive(Debug, Clone)]
pub struct SecurityConfig {
    pub rate_limit_enabled: bool,
    /// Requests per minute for one signed-in user or token.
    pub per_user_per_minute: u32,
    /// Requests per minute from one client address.
    pub per_ip_per_minute: u32,
    pub max_body_bytes: usize,
    /// Behind a load balancer: take the client address from the right-most X-Forwarded-For entry.
    pub trust_forwarded_for: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileIdentity {
    issuer: Option<String>,
    client_id: Option<String>,
    client_secret_file: Option<PathBuf>,
    client_secret_parameter: Option<String>,
    scopes: Option<Vec<String>>,
    groups_claim: Option<String>,
    idle_timeout_minutes: Option<i64>,
    absolute_lifetime_hours: Option<i64>,
    cookie_secure: Option<bool>,
    #[serde(default)]
    roles: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileSecurity {
    rate_limit_enabled: Option<bool>,
    /// "100/minute", as the seed writes it.
    default_rate_limit: Option<String>,
    per_ip_rate_limit: Option<String>,
    max_body_bytes: Option<i64>,
    trust_forwarded_for: Option<bool>,
}

fn parse_bool(key: &str, raw: &str) -> Result<bool, ConfigError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(invalid(key, format!("expected true or false, got {raw:?}"))),
    }
}

/// "100/minute", "10/second", "5000/hour" → requests per minute.
fn parse_rate(key: &str, raw: &str) -> Result<u32, ConfigError> {
    let problem = || invalid(key, format!("expected a rate like 100/minute, got {raw:?}"));
    let (count, unit) = raw.trim().split_once('/').ok_or_else(problem)?;
    let count: u32 = count.trim().parse().map_err(|_| problem())?;
    let per_minute = match unit.trim() {
        "second" | "s" => count.checked_mul(60),
        "minute" | "min" | "m" => Some(count),
        "hour" | "h" => Some(count.div_ceil(60)),
        _ => None,
    }
    .ok_or_else(problem)?;
    if per_minute == 0 {
        return Err(invalid(key, "must allow at least one request a minute"));
    }
    Ok(per_minute)
}

pub(super) fn resolve_security(
    file: FileSecurity,
    env: &HashMap<String, String>,
) -> Result<SecurityConfig, ConfigError> {
    let rate_limit_enabled = match env
        .get("RATE_LIMIT_ENABLED")
        .filter(|v| !v.trim().is_empty())
    {
        Some(raw) => parse_bool("RATE_LIMIT_ENABLED", raw)?,
        None => file.rate_limit_enabled.unwrap_or(true),
    };
    let (default_key, default_raw) = match env
        .get("DEFAULT_RATE_LIMIT")
        .filter(|v| !v.trim().is_empty())
    {
        Some(raw) => ("DEFAULT_RATE_LIMIT", raw.clone()),
        None => (
            "security.default_rate_limit",
            file.default_rate_limit
                .unwrap_or_else(|| "100/minute".into()),
        ),
    };
    let per_user_per_minute = parse_rate(default_key, &default_raw)?;
    let per_ip_per_minute = match layered_string(env, "RATE_LIMIT_PER_IP", file.per_ip_rate_limit) {
        Some(raw) => parse_rate("security.per_ip_rate_limit (RATE_LIMIT_PER_IP)", &raw)?,
        None => per_user_per_minute,
    };
    let max_body_bytes = layered_int(
        env,
        "SIGNALBOX_MAX_BODY_BYTES",
        "security.max_body_bytes",
        file.max_body_bytes,
        64 * 1024,
        1024..=16 * 1024 * 1024,
    )? as usize;
    let trust_forwarded_for = match env
        .get("SIGNALBOX_TRUST_FORWARDED_FOR")
        .filter(|v| !v.trim().is_empty())
    {
        Some(raw) => parse_bool("SIGNALBOX_TRUST_FORWARDED_FOR", raw)?,
        None => file.trust_forwarded_for.unwrap_or(false),
    };
    Ok(SecurityConfig {
        trust_forwarded_for,
        rate_limit_enabled,
        per_user_per_minute,
        per_ip_per_minute,
        max_body_bytes,
    })
}

pub(super) fn resolve_identity(
    file: FileIdentity,
    env: &HashMap<String, String>,
    public_url: &url::Url,
) -> Result<Option<IdentityConfig>, ConfigError> {
    let Some(issuer_raw) = layered_string(env, "SIGNALBOX_OIDC_ISSUER", file.issuer) else {
        return Ok(None);
    };
    let issuer_key = "identity.issuer (SIGNALBOX_OIDC_ISSUER)";
    let issuer = url::Url::parse(issuer_raw.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| {
            invalid(
                issuer_key,
                format!("expected an http(s) URL, got {issuer_raw:?}"),
            )
        })?;
    let client_id = layered_string(env, "SIGNALBOX_OIDC_CLIENT_ID", file.client_id)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            invalid(
                "identity.client_id (SIGNALBOX_OIDC_CLIENT_ID)",
                "is required with an issuer",
            )
        })?;

    let from_env = env
        .get("SIGNALBOX_OIDC_CLIENT_SECRET")
        .filter(|v| !v.trim().is_empty())
        .map(|v| ClientSecretSource::Env(Secret::new(v.trim().to_string())));
    let from_file = layered_string(
        env,
        "SIGNALBOX_OIDC_CLIENT_SECRET_FILE",
        file.client_secret_file.map(|p| p.display().to_string()),
    )
    .map(|p| ClientSecretSource::File(PathBuf::from(p)));
    let from_parameter = layered_string(
        env,
        "SIGNALBOX_OIDC_CLIENT_SECRET_PARAMETER",
        file.client_secret_parameter,
    )
    .map(ClientSecretSource::Parameter);
    let client_secret = from_env.or(from_file).or(from_parameter).ok_or_else(|| {
        invalid(
            "identity.client_secret",
            "set SIGNALBOX_OIDC_CLIENT_SECRET, identity.client_secret_file or identity.client_secret_parameter",
        )
    })?;

    let scopes: Vec<String> = match env
        .get("SIGNALBOX_OIDC_SCOPES")
        .filter(|v| !v.trim().is_empty())
    {
        Some(raw) => raw.split_whitespace().map(str::to_string).collect(),
        None => file.scopes.unwrap_or_else(|| {
            ["openid", "profile", "email", "groups"]
                .map(String::from)
                .to_vec()
        }),
    };
    if !scopes.iter().any(|s| s == "openid") {
        return Err(invalid(
            "identity.scopes (SIGNALBOX_OIDC_SCOPES)",
            "must include openid",
        ));
    }
    let groups_claim = layered_string(env, "SIGNALBOX_OIDC_GROUPS_CLAIM", file.groups_claim)
        .unwrap_or_else(|| "groups".into());

    let mut roles = BTreeMap::new();
    for (group, names) in file.roles {
        let mut parsed = Vec::new();
        for name in names {
            let role = Role::parse(name.trim()).ok_or_else(|| {
                invalid(
                    format!("identity.roles.{group:?}"),
                    format!(
                        "unknown role {name:?}; roles are {}",
                        Role::ALL.map(|r| r.as_str()).join(", ")
                    ),
                )
            })?;
            parsed.push(role);
        }
        roles.insert(group, parsed);
    }

    let idle_minutes = layered_int(
        env,
        "SIGNALBOX_SESSION_IDLE_MINUTES",
        "identity.idle_timeout_minutes",
        file.idle_timeout_minutes,
        60,
        1..=24 * 60,
    )?;
    let absolute_hours = layered_int(
        env,
        "SIGNALBOX_SESSION_MAX_HOURS",
        "identity.absolute_lifetime_hours",
        file.absolute_lifetime_hours,
        12,
        1..=24 * 30,
    )?;
    // Plain http is only acceptable on this machine: anywhere else the cookie must be Secure.
    let local_http = public_url.scheme() == "http"
        && matches!(
            public_url.host_str(),
            Some("127.0.0.1") | Some("localhost") | Some("[::1]")
        );
    let cookie_secure = match env
        .get("SIGNALBOX_COOKIE_SECURE")
        .filter(|v| !v.trim().is_empty())
    {
        Some(raw) => parse_bool("SIGNALBOX_COOKIE_SECURE", raw)?,
        None => file.cookie_secure.unwrap_or(!local_http),
    };
    let join = |path: &str| {
        public_url.join(path).map_err(|_| {
            invalid(
                "server.public_url (SIGNALBOX_PUBLIC_URL)",
                "cannot build the sign-in URLs from it",
            )
        })
    };
    Ok(Some(IdentityConfig {
        issuer,
        client_id,
        client_secret,
        scopes,
        groups_claim,
        roles,
        idle_timeout: Duration::from_secs(idle_minutes as u64 * 60),
        absolute_lifetime: Duration::from_secs(absolute_hours as u64 * 3600),
        cookie_secure,
        redirect_url: join("/auth/callback")?,
        post_logout_url: join("/auth/signed-out")?,
    }))
}

impl IdentityConfig {
    /// The roles a set of claim values grants, deduplicated and ordered.
    pub fn roles_for(&self, values: &[String]) -> Vec<Role> {
        let mut roles: Vec<Role> = values
            .iter()
            .filter_map(|v| self.roles.get(v))
            .flatten()
            .copied()
            .collect();
        roles.sort();
        roles.dedup();
        roles
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_read_as_the_seed_writes_them() {
        assert_eq!(parse_rate("k", "100/minute").unwrap(), 100);
        assert_eq!(parse_rate("k", "2/second").unwrap(), 120);
        assert_eq!(parse_rate("k", "2000/hour").unwrap(), 34);
        let error = parse_rate("DEFAULT_RATE_LIMIT", "lots")
            .unwrap_err()
            .to_string();
        assert!(error.contains("DEFAULT_RATE_LIMIT"), "{error}");
    }
}
