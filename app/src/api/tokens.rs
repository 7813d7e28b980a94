#[cfg(feature = "ssr")]
use crate::auth::{Permission, Scope};
#[cfg(feature = "ssr")]
use crate::dto::Outcome;
use crate::dto::{ApiTokenView, CreatedToken};
use crate::error::AppError;
use leptos::prelude::*;

/// The longest a token may live: CI tokens are rotated at least yearly.
pub const MAX_TOKEN_DAYS: u32 = 365;

#[server(endpoint = "tokens/list")]
pub async fn list_tokens() -> Result<Vec<ApiTokenView>, AppError> {
    crate::auth::require(Permission::ManageTokens, "token.list").await?;
    crate::services::respond(crate::services::services()?.tokens.list().await)
}

/// `scopes` is a list of scope names (`read`, `audit:read`, `releases:write`, `deployments:request`).
#[server(endpoint = "tokens/create")]
pub async fn create_token(
    name: String,
    #[server(default)] scopes: Vec<String>,
    valid_days: u32,
) -> Result<CreatedToken, AppError> {
    let principal = crate::auth::require(Permission::ManageTokens, "token.create").await?;
    crate::services::respond(create_checked(principal, name, scopes, valid_days).await)
}

/// A token request checked: its trimmed name and its scopes, or an error naming the field. Also used by the
/// `signalbox token-create` command.
#[cfg(feature = "ssr")]
pub fn checked_token_request(
    name: &str,
    scopes: &[String],
    valid_days: u32,
) -> Result<(String, Vec<Scope>), AppError> {
    let name = name.trim().to_string();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(AppError::Validation {
            field: "name".into(),
            message: "give the token a name of 1 to 80 characters".into(),
        });
    }
    crate::validate::text("name", &name, 80, false)?;
    let mut parsed = Vec::new();
    for scope in scopes {
        let scope = Scope::parse(scope.trim()).ok_or_else(|| AppError::Validation {
            field: "scopes".into(),
            message: format!(
                "unknown scope {:?}; known: {}",
                crate::validate::shortened(scope, 40),
                Scope::ALL.map(|s| s.as_str()).join(", ")
            ),
        })?;
        if !parsed.contains(&scope) {
            parsed.push(scope);
        }
    }
    if parsed.is_empty() {
        return Err(AppError::Validation {
            field: "scopes".into(),
            message: "choose at least one scope".into(),
        });
    }
    if valid_days == 0 || valid_days > MAX_TOKEN_DAYS {
        return Err(AppError::Validation {
            field: "valid_days".into(),
            message: format!("a token is valid for 1 to {MAX_TOKEN_DAYS} days"),
        });
    }
    Ok((name, parsed))
}

#[cfg(feature = "ssr")]
async fn create_checked(
    principal: crate::auth::Principal,
    name: String,
    scopes: Vec<String>,
    valid_days: u32,
) -> Result<CreatedToken, AppError> {
    let (name, parsed) = checked_token_request(&name, &scopes, valid_days)?;
    let caller = crate::auth::caller()?;
    let audit = caller.record("token.create", Outcome::Allowed, "");
    crate::services::services()?
        .tokens
        .create(&principal, &name, &parsed, valid_days, audit)
        .await
}

#[server(endpoint = "tokens/revoke")]
pub async fn revoke_token(id: String) -> Result<ApiTokenView, AppError> {
    let principal = crate::auth::require(Permission::ManageTokens, "token.revoke").await?;
    let caller = crate::auth::caller()?;
    let audit = caller.record("token.revoke", Outcome::Allowed, "");
    crate::services::respond(
        crate::services::services()?
            .tokens
            .revoke(&principal, id.trim(), audit)
            .await,
    )
}
