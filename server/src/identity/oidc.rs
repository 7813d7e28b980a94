//! OpenID Connect with the `openidconnect` crate: discovery (issuer compared exactly), authorization code with
//! PKCE (S256), state and nonce; the ID token's signature (JWKS), audience, issuer, expiry and nonce are checked
//! by the crate. The crate does not check `state` or the `iss` callback parameter (RFC 9207): [`Oidc::finish`]
//! does.

use crate::config::IdentityConfig;
use crate::secret::Secret;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreClaimName, CoreClaimType,
    CoreClientAuthMethod, CoreErrorResponseType, CoreGenderClaim, CoreGrantType, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreJwsSigningAlgorithm,
    CoreResponseMode, CoreResponseType, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreSubjectIdentifierType, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AdditionalProviderMetadata, AuthorizationCode, Client, ClientId,
    ClientSecret, CsrfToken, EmptyExtraTokenFields, EndSessionUrl, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IdTokenFields, IssuerUrl, LogoutRequest, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, PostLogoutRedirectUrl, ProviderMetadata, RedirectUrl, Scope,
    StandardErrorResponse, StandardTokenResponse, TokenResponse,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::RwLock;

/// Every claim the ID token carries beyond the standard ones, so any claim can hold the groups.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct OtherClaims {
    #[serde(flatten)]
    claims: serde_json::Map<String, serde_json::Value>,
}
impl AdditionalClaims for OtherClaims {}

/// Discovery fields the core metadata lacks: RP-initiated logout and RFC 9207's `iss` parameter.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct LogoutAndIssMetadata {
    end_session_endpoint: Option<EndSessionUrl>,
    authorization_response_iss_parameter_supported: Option<bool>,
}
impl AdditionalProviderMetadata for LogoutAndIssMetadata {}

type Metadata = ProviderMetadata<
    LogoutAndIssMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

type TokenFields = IdTokenFields<
    OtherClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

type OidcClient = Client<
    OtherClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    StandardTokenResponse<TokenFields, CoreTokenType>,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// How long discovery (and the JWKS in it) is trusted before it is fetched again, so key rotation is picked up.
const DISCOVERY_TTL: Duration = Duration::from_secs(600);
/// A sign-in that takes longer than this is started again.
pub const LOGIN_TTL: Duration = Duration::from_secs(600);

struct Discovered {
    client: OidcClient,
    end_session: Option<EndSessionUrl>,
    iss_parameter: bool,
    fetched: Instant,
}

/// A sign-in in progress, kept in the session between `/auth/login` and `/auth/callback`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PendingLogin {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub return_to: String,
    /// Unix seconds.
    pub started_at: i64,
}

/// What the ID token says about the person, after every check passed.
#[derive(Clone, Debug)]
pub struct VerifiedUser {
    pub subject: String,
    pub name: String,
    pub email: Option<String>,
    /// The values of the configured groups claim.
    pub groups: Vec<String>,
    pub id_token: String,
}

/// Why a sign-in was refused. `Display` is the reason recorded in the audit trail; [`SignInError::page`] is what
/// the person reads.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("the identity provider could not be reached: {0}")]
    ProviderUnavailable(String),
    #[error("the callback carried no state")]
    MissingState,
    #[error("no sign-in was waiting for this state (replayed, expired or started elsewhere)")]
    UnknownState,
    #[error("the sign-in took longer than {} minutes", LOGIN_TTL.as_secs() / 60)]
    Expired,
    #[error("the identity provider answered with error {error}: {description}")]
    ProviderRefused { error: String, description: String },
    #[error("the callback's iss parameter {0:?} is not the configured issuer")]
    IssuerMismatch(String),
    #[error("the callback carried no iss parameter, which the provider promises")]
    MissingIssuer,
    #[error("the callback carried no code")]
    MissingCode,
    #[error("the code could not be exchanged: {0}")]
    Exchange(String),
    #[error("the ID token was refused: {0}")]
    InvalidIdToken(String),
}

impl SignInError {
    /// (HTTP status, title, explanation) for the page; never a 500.
    pub fn page(&self) -> (u16, &'static str, String) {
        match self {
            SignInError::ProviderUnavailable(_) => (
                503,
                "The identity provider is not answering",
                "Signalbox could not reach the single sign-on provider. Nothing was changed; try again in a minute, \
                 and tell the console's operators if it persists."
                    .into(),
            ),
            SignInError::MissingState
            | SignInError::UnknownState
            | SignInError::Expired
            | SignInError::MissingCode => (
                400,
                "This sign-in cannot be completed",
                "The sign-in response was incomplete, already used, too old, or did not start in this browser. \
                 Start again."
                    .into(),
            ),
            SignInError::ProviderRefused { error, .. } => (
                403,
                "The identity provider refused the sign-in",
                format!("It answered \u{201c}{error}\u{201d}. Start again, or ask your administrator for access."),
            ),
            SignInError::IssuerMismatch(_)
            | SignInError::MissingIssuer
            | SignInError::Exchange(_)
            | SignInError::InvalidIdToken(_) => (
                400,
                "The sign-in could not be verified",
                "The answer from the identity provider did not pass Signalbox's checks, so you were not signed \
                 in. The attempt was recorded. Start again; tell the console's operators if it persists."
                    .into(),
            ),
        }
    }
}

pub struct Oidc {
    config: IdentityConfig,
    secret: Secret<String>,
    http: reqwest::Client,
    discovered: RwLock<Option<Arc<Discovered>>>,
}

fn random_token() -> String {
    CsrfToken::new_random().secret().clone()
}

impl Oidc {
    pub fn new(config: IdentityConfig, secret: Secret<String>) -> Oidc {
        let http = reqwest::Client::builder()
            // A redirect from a discovery or token endpoint is refused, not followed (SSRF).
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(3))
            // No idle connections kept: a sign-in makes two or three calls minutes apart, and reusing a connection
            // the IdP has meanwhile closed fails the token exchange ("connection closed before message completed",
            // seen with the demo IdP).
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(10))
            .build()
            .expect("the HTTP client for the identity provider");
        Oidc {
            config,
            secret,
            http,
            discovered: RwLock::new(None),
        }
    }

    pub fn config(&self) -> &IdentityConfig {
        &self.config
    }

    async fn discover(&self, fresh: bool) -> Result<Arc<Discovered>, SignInError> {
        if !fresh {
            if let Some(d) = self.discovered.read().await.as_ref() {
                if d.fetched.elapsed() < DISCOVERY_TTL {
                    return Ok(d.clone());
                }
            }
        }
        let issuer = IssuerUrl::new(
            self.config
                .issuer
                .as_str()
                .trim_end_matches('/')
                .to_string(),
        )
        .map_err(|e| SignInError::ProviderUnavailable(e.to_string()))?;
        // Issuer URLs are compared byte for byte; keep the configured spelling when it has a trailing slash.
        let issuer =
            if self.config.issuer.as_str().ends_with('/') && self.config.issuer.path() != "/" {
                IssuerUrl::new(self.config.issuer.as_str().to_string())
                    .map_err(|e| SignInError::ProviderUnavailable(e.to_string()))?
            } else {
                issuer
            };
        let metadata = Metadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| SignInError::ProviderUnavailable(error_chain(&e)))?;
        let extra = metadata.additional_metadata().clone();
        let client = OidcClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.secret.expose().clone())),
        )
        .set_redirect_uri(
            RedirectUrl::new(self.config.redirect_url.to_string())
                .map_err(|e| SignInError::ProviderUnavailable(e.to_string()))?,
        );
        let discovered = Arc::new(Discovered {
            client,
            end_session: extra.end_session_endpoint,
            iss_parameter: extra
                .authorization_response_iss_parameter_supported
                .unwrap_or(false),
            fetched: Instant::now(),
        });
        *self.discovered.write().await = Some(discovered.clone());
        Ok(discovered)
    }

    /// Where to send the browser, and what to remember until it comes back.
    pub async fn begin(&self, return_to: String) -> Result<(url::Url, PendingLogin), SignInError> {
        let discovered = self.discover(false).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = random_token();
        let nonce = random_token();
        let (state_for_request, nonce_for_request) = (state.clone(), nonce.clone());
        let mut request = discovered.client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            move || CsrfToken::new(state_for_request),
            move || Nonce::new(nonce_for_request),
        );
        for scope in self.config.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, _, _) = request.set_pkce_challenge(challenge).url();
        Ok((
            url,
            PendingLogin {
                state,
                nonce,
                pkce_verifier: verifier.secret().clone(),
                return_to,
                started_at: time::OffsetDateTime::now_utc().unix_timestamp(),
            },
        ))
    }

    /// Completes a sign-in: the caller has already matched `state` to `pending`.
    pub async fn finish(
        &self,
        pending: PendingLogin,
        code: Option<&str>,
        iss: Option<&str>,
    ) -> Result<VerifiedUser, SignInError> {
        let age = time::OffsetDateTime::now_utc().unix_timestamp() - pending.started_at;
        if age < 0 || age as u64 > LOGIN_TTL.as_secs() {
            return Err(SignInError::Expired);
        }
        let discovered = self.discover(false).await?;
        match iss {
            Some(iss) if !same_issuer(iss, self.config.issuer.as_str()) => {
                return Err(SignInError::IssuerMismatch(iss.chars().take(200).collect()))
            }
            None if discovered.iss_parameter => return Err(SignInError::MissingIssuer),
            _ => {}
        }
        let code = code
            .filter(|c| !c.is_empty())
            .ok_or(SignInError::MissingCode)?;
        let response = discovered
            .client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| SignInError::Exchange(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| SignInError::Exchange(error_chain(&e)))?;
        let id_token = response.id_token().ok_or_else(|| {
            SignInError::InvalidIdToken("the token response has no ID token".into())
        })?;
        let nonce = Nonce::new(pending.nonce);
        let verifier = discovered.client.id_token_verifier();
        let claims = match id_token.claims(&verifier, &nonce) {
            Ok(claims) => claims.clone(),
            Err(first) => {
                // An unknown signing key may mean the provider rotated its keys: fetch the JWKS once more.
                let fresh = self.discover(true).await?;
                let verifier = fresh.client.id_token_verifier();
                let claims = id_token
                    .claims(&verifier, &nonce)
                    .map_err(|_| SignInError::InvalidIdToken(first.to_string()))?
                    .clone();
                claims
            }
        };
        let groups = self.claim_values(&claims);
        let subject = claims.subject().to_string();
        let email = claims.email().map(|e| e.to_string());
        let name = claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.to_string())
            .or_else(|| claims.preferred_username().map(|u| u.to_string()))
            .or_else(|| email.clone())
            .unwrap_or_else(|| subject.clone());
        Ok(VerifiedUser {
            subject,
            name,
            email,
            groups,
            id_token: id_token.to_string(),
        })
    }

    /// The values of the configured groups claim: a string or an array of strings.
    fn claim_values(
        &self,
        claims: &openidconnect::IdTokenClaims<OtherClaims, CoreGenderClaim>,
    ) -> Vec<String> {
        let standard = match self.config.groups_claim.as_str() {
            "email" => claims.email().map(|e| e.to_string()),
            "preferred_username" => claims.preferred_username().map(|u| u.to_string()),
            "sub" => Some(claims.subject().to_string()),
            _ => None,
        };
        if let Some(value) = standard {
            return vec![value];
        }
        match claims
            .additional_claims()
            .claims
            .get(&self.config.groups_claim)
        {
            Some(serde_json::Value::String(s)) => vec![s.clone()],
            Some(serde_json::Value::Array(values)) => values
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The provider's end-session URL (RP-initiated logout), when it offers one.
    pub async fn end_session_url(&self, id_token: Option<&str>) -> Option<url::Url> {
        let discovered = self.discover(false).await.ok()?;
        let endpoint = discovered.end_session.clone()?;
        let mut request = LogoutRequest::from(endpoint)
            .set_client_id(ClientId::new(self.config.client_id.clone()))
            .set_post_logout_redirect_uri(
                PostLogoutRedirectUrl::new(self.config.post_logout_url.to_string()).ok()?,
            );
        if let Some(token) = id_token.and_then(|t| {
            t.parse::<openidconnect::IdToken<
                OtherClaims,
                CoreGenderClaim,
                CoreJweContentEncryptionAlgorithm,
                CoreJwsSigningAlgorithm,
            >>()
            .ok()
        }) {
            request = request.set_id_token_hint(&token);
        }
        Some(request.http_get_url())
    }
}

/// Issuers compare exactly, except that a trailing slash on a bare host is the same URL.
fn same_issuer(a: &str, b: &str) -> bool {
    a == b || a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// An error and its sources on one line, for the log and the audit reason (never shown to the browser).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}
