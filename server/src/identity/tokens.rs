//! API tokens for CI: `sbx_<id>_<secret>`. The id finds nothing by itself; the secret is 256 random bits and only
//! its SHA-256 is stored, so a database leak gives no usable token. Shown once, scoped, expiring, revocable.

use crate::storage::{ApiTokenRow, SharedStorage};
use app::auth::{Principal, PrincipalKind, Scope};
use app::dto::{ApiTokenView, AuditRecord, CreatedToken};
use app::error::AppError;
use app::services::TokenService;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

const PREFIX: &str = "sbx_";

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// A short random reference for log lines that an error page points at.
pub fn short_reference() -> String {
    hex::encode(random_bytes::<4>())
}

pub fn secret_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Why a bearer token was not accepted; the API answers 401 with this text.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenRefusal {
    #[error("missing Authorization: Bearer token")]
    Missing,
    #[error("the token is malformed")]
    Malformed,
    #[error("the token is not known")]
    Unknown,
    #[error("the token was revoked")]
    Revoked,
    #[error("the token has expired")]
    Expired,
}

fn format_time(at: OffsetDateTime) -> String {
    crate::audit::chain::canonical_time(at)
}

fn scopes_of(row: &ApiTokenRow) -> Vec<Scope> {
    row.scopes
        .split_whitespace()
        .filter_map(Scope::parse)
        .collect()
}

pub fn view(row: &ApiTokenRow) -> ApiTokenView {
    ApiTokenView {
        id: row.id.clone(),
        name: row.name.clone(),
        scopes: scopes_of(row),
        created_by: row.created_by.clone(),
        created_at: format_time(row.created_at),
        expires_at: format_time(row.expires_at),
        last_used_at: row.last_used_at.map(format_time),
        revoked_at: row.revoked_at.map(format_time),
        revoked_by: row.revoked_by.clone(),
    }
}

/// Checks an `Authorization` header value and records the use.
pub async fn authenticate(
    storage: &SharedStorage,
    header: Option<&str>,
) -> Result<Result<Principal, TokenRefusal>, AppError> {
    let Some(header) = header else {
        return Ok(Err(TokenRefusal::Missing));
    };
    let Some(token) = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
    else {
        return Ok(Err(TokenRefusal::Missing));
    };
    if !token.starts_with(PREFIX) || token.len() > 200 {
        return Ok(Err(TokenRefusal::Malformed));
    }
    let Some(row) = storage
        .api_token_by_secret_hash(&secret_hash(token))
        .await?
    else {
        return Ok(Err(TokenRefusal::Unknown));
    };
    let now = OffsetDateTime::now_utc();
    if row.revoked_at.is_some() {
        return Ok(Err(TokenRefusal::Revoked));
    }
    if row.expires_at <= now {
        return Ok(Err(TokenRefusal::Expired));
    }
    storage.touch_api_token(&row.id, now).await?;
    Ok(Ok(Principal {
        subject: format!("token:{}", row.id),
        name: row.name.clone(),
        kind: PrincipalKind::Token,
        roles: Vec::new(),
        scopes: scopes_of(&row),
        owner: Some(row.created_by.clone()),
    }))
}

pub struct StoredTokens {
    storage: SharedStorage,
}

impl StoredTokens {
    pub fn new(storage: SharedStorage) -> Self {
        StoredTokens { storage }
    }
}

#[async_trait::async_trait]
impl TokenService for StoredTokens {
    async fn list(&self) -> Result<Vec<ApiTokenView>, AppError> {
        Ok(self.storage.api_tokens().await?.iter().map(view).collect())
    }

    async fn create(
        &self,
        by: &Principal,
        name: &str,
        scopes: &[Scope],
        valid_days: u32,
        audit: AuditRecord,
    ) -> Result<CreatedToken, AppError> {
        let id = hex::encode(random_bytes::<6>());
        let secret = format!(
            "{PREFIX}{id}_{}",
            URL_SAFE_NO_PAD.encode(random_bytes::<32>())
        );
        let now = OffsetDateTime::now_utc();
        let row = ApiTokenRow {
            id: id.clone(),
            name: name.to_string(),
            scopes: scopes
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            secret_hash: secret_hash(&secret),
            created_by: by.subject.clone(),
            created_at: now,
            expires_at: now + time::Duration::days(i64::from(valid_days)),
            last_used_at: None,
            revoked_at: None,
            revoked_by: None,
        };
        let audit = audit.target(format!("token:{id}")).parameters(
            serde_json::json!({
                "name": name,
                "scopes": row.scopes,
                "expires_at": format_time(row.expires_at),
            })
            .to_string(),
        );
        self.storage.insert_api_token(&row, &audit).await?;
        Ok(CreatedToken {
            token: view(&row),
            secret,
        })
    }

    async fn revoke(
        &self,
        by: &Principal,
        id: &str,
        audit: AuditRecord,
    ) -> Result<ApiTokenView, AppError> {
        app::validate::key("id", id)?;
        let audit = audit.target(format!("token:{id}"));
        match self
            .storage
            .revoke_api_token(id, &by.subject, OffsetDateTime::now_utc(), &audit)
            .await?
        {
            Some(row) => Ok(view(&row)),
            None => Err(AppError::not_found(format!("token {id:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_hash_is_not_the_token() {
        let token = "sbx_0123456789ab_secret";
        assert_eq!(secret_hash(token).len(), 64);
        assert_ne!(secret_hash(token), token);
        assert_eq!(short_reference().len(), 8);
    }
}
