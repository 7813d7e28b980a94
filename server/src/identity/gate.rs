//! The gate every console request passes: refuses cross-origin writes, works out who is calling (the session for
//! people, a bearer token on `/api/v1`), applies the rate limits, sends visitors who are not signed in to the
//! sign-in, and hands the [`Caller`] to what follows. Authorisation itself happens in each server function and
//! API route (`require`); the gate only establishes identity.

use super::oidc::Oidc;
use super::{tokens, SessionUser, USER_KEY};
use crate::config::SecurityConfig;
use crate::http::rate_limit::RateLimiter;
use crate::http::AppState;
use crate::storage::SharedStorage;
use app::auth::Caller;
use app::dto::Outcome;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use std::net::SocketAddr;
use std::time::Duration;
use tower_sessions::Session;

pub struct Gate {
    pub oidc: Oidc,
    pub storage: SharedStorage,
    pub security: SecurityConfig,
    /// `scheme://host[:port]` of `server.public_url`: the only origin allowed to send state-changing requests.
    pub public_origin: String,
    users: RateLimiter,
    addresses: RateLimiter,
}

impl Gate {
    pub fn new(
        oidc: Oidc,
        storage: SharedStorage,
        security: SecurityConfig,
        public_url: &url::Url,
    ) -> Gate {
        Gate {
            users: RateLimiter::new(security.per_user_per_minute),
            addresses: RateLimiter::new(security.per_ip_per_minute),
            oidc,
            storage,
            security,
            public_origin: public_url.origin().ascii_serialization(),
        }
    }
}

/// Paths anyone may fetch: probes and the static assets the sign-in pages need.
fn is_public(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/favicon.svg") || path.starts_with("/pkg/")
}

pub fn is_rest_api(path: &str) -> bool {
    path == "/api/v1" || path.starts_with("/api/v1/")
}

fn header_text(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn client_addr(request: &Request, trust_forwarded_for: bool) -> String {
    if trust_forwarded_for {
        // The load balancer appends the address it saw: the right-most entry is the one we can trust.
        if let Some(last) = header_text(request.headers(), "x-forwarded-for")
            .and_then(|v| v.rsplit(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            return last.to_string();
        }
    }
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Why a state-changing request looks like it came from another site, if it does.
fn cross_origin(request: &Request, public_origin: &str) -> Option<String> {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return None;
    }
    let headers = request.headers();
    // A bearer token without cookies cannot be sent by a browser on someone else's behalf.
    if is_rest_api(request.uri().path())
        && headers.contains_key(header::AUTHORIZATION)
        && !headers.contains_key(header::COOKIE)
    {
        return None;
    }
    if let Some(site) = header_text(headers, "sec-fetch-site") {
        if site != "same-origin" && site != "none" {
            return Some(format!("Sec-Fetch-Site is {site}"));
        }
    }
    match header_text(headers, header::ORIGIN) {
        Some(origin) if origin != public_origin => {
            Some(format!("Origin {origin} is not {public_origin}"))
        }
        Some(_) => None,
        // Older browsers send no Origin (nor Sec-Fetch-Site) on some cross-site posts, but a Referer when they
        // send anything: one from another site is refused too.
        None => {
            let referer = headers.get(header::REFERER)?;
            let origin = referer
                .to_str()
                .ok()
                .and_then(|r| url::Url::parse(r).ok())
                .map(|r| r.origin().ascii_serialization());
            match origin {
                Some(origin) if origin == public_origin => None,
                Some(origin) => Some(format!("Referer from {origin} is not {public_origin}")),
                None => Some("the Referer is not a URL".into()),
            }
        }
    }
}

fn json_error(status: StatusCode, error: &str, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({ "error": error, "message": message }).to_string(),
    )
        .into_response()
}

fn too_many(wait: Duration) -> Response {
    let mut response = json_error(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        &format!("too many requests; retry in {} s", wait.as_secs().max(1)),
    );
    if let Ok(value) = wait.as_secs().max(1).to_string().parse() {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The signed-in user of this session, if the session is still within its absolute lifetime.
async fn session_user(state: &AppState, caller: &Caller, session: &Session) -> Option<SessionUser> {
    let mut user: SessionUser = match session.get(USER_KEY).await {
        Ok(user) => user?,
        Err(error) => {
            tracing::error!(%error, "could not read the session");
            return None;
        }
    };
    let limit = state.gate.oidc.config().absolute_lifetime.as_secs() as i64;
    if now() - user.signed_in_at > limit {
        let _ = session.flush().await;
        let mut record = caller.record(
            "auth.session_expired",
            Outcome::Allowed,
            "absolute session lifetime reached",
        );
        record.actor = user.subject.clone();
        record.actor_kind = "user".into();
        let _ = state.storage.append_audit(&record).await;
        return None;
    }
    if now() - user.last_seen >= 60 {
        user.last_seen = now();
        if let Err(error) = session.insert(USER_KEY, &user).await {
            tracing::warn!(%error, "could not refresh the session");
        }
    }
    Some(user)
}

pub async fn gate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    if is_public(&path) {
        return next.run(request).await;
    }
    let gate = state.gate.clone();
    let mut caller = Caller {
        principal: None,
        request_id: header_text(request.headers(), "x-request-id")
            .unwrap_or_default()
            .to_string(),
        client_addr: client_addr(&request, gate.security.trust_forwarded_for),
    };

    // Limits first: everything after this may write an audit event, which a flood must not multiply.
    if gate.security.rate_limit_enabled {
        if let Err(wait) = gate.addresses.check(&format!("ip:{}", caller.client_addr)) {
            return too_many(wait);
        }
    }

    if let Some(reason) = cross_origin(&request, &gate.public_origin) {
        let record = caller
            .record("request.cross_origin", Outcome::Denied, &reason)
            .target(format!("{} {path}", request.method()));
        let _ = gate.storage.append_audit(&record).await;
        return json_error(
            StatusCode::FORBIDDEN,
            "cross_origin",
            "cross-origin request refused",
        );
    }

    if is_rest_api(&path) {
        let authorization =
            header_text(request.headers(), header::AUTHORIZATION).map(str::to_string);
        match tokens::authenticate(&gate.storage, authorization.as_deref()).await {
            Ok(Ok(principal)) => caller.principal = Some(principal),
            Ok(Err(refusal)) => {
                let record = caller
                    .record("api.authenticate", Outcome::Denied, refusal.to_string())
                    .target(format!("{} {path}", request.method()));
                let _ = gate.storage.append_audit(&record).await;
                let mut response = json_error(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    &refusal.to_string(),
                );
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
                return response;
            }
            Err(error) => {
                return json_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    &error.to_string(),
                )
            }
        }
    } else if let Some(session) = request.extensions().get::<Session>().cloned() {
        caller.principal = session_user(&state, &caller, &session)
            .await
            .map(|user| user.principal());
    }

    if let (true, Some(principal)) = (gate.security.rate_limit_enabled, &caller.principal) {
        if let Err(wait) = gate.users.check(&principal.subject) {
            return too_many(wait);
        }
    }

    // Pages send visitors to sign in; server functions answer 401 themselves (`require`).
    let is_page = request.method() == Method::GET
        && !path.starts_with("/api/")
        && !path.starts_with("/auth/")
        && path != "/live";
    if caller.principal.is_none() && is_page {
        let target = request
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let encoded: String = url::form_urlencoded::byte_serialize(target.as_bytes()).collect();
        return Redirect::to(&format!("/auth/login?return_to={encoded}")).into_response();
    }

    request.extensions_mut().insert(caller);
    next.run(request).await
}
