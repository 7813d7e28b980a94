//! `/auth/login`, `/auth/callback`, `/auth/logout`, `/auth/signed-out`. Every outcome, good or bad, is an audit
//! event; every refusal is a page that says what to do next, never a 500; a refused sign-in creates no session.

use super::oidc::{PendingLogin, SignInError};
use super::{pages, SessionUser, LOGINS_KEY, MAX_PENDING_LOGINS, USER_KEY};
use crate::http::AppState;
use app::auth::Caller;
use app::dto::{AuditRecord, Outcome};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde::Deserialize;
use tower_sessions::Session;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/login", get(login))
        .route("/auth/callback", get(callback))
        .route("/auth/logout", post(logout))
        .route("/auth/signed-out", get(signed_out))
}

/// Only a path inside the console: no scheme, no host, no `//` or `/\` (which browsers treat as another host).
pub fn safe_return_to(raw: Option<&str>) -> String {
    match raw {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && !path.starts_with("/auth/")
                && path.len() <= 2000
                && !path.chars().any(|c| c.is_control() || c == '\\') =>
        {
            path.to_string()
        }
        _ => "/".to_string(),
    }
}

#[derive(Deserialize)]
pub struct LoginQuery {
    return_to: Option<String>,
}

async fn record(state: &AppState, record: AuditRecord) {
    if let Err(error) = state.storage.append_audit(&record).await {
        tracing::error!(%error, action = %record.action, "could not record a sign-in event");
    }
}

fn as_user(
    caller: &Caller,
    user: &SessionUser,
    action: &str,
    outcome: Outcome,
    reason: &str,
) -> AuditRecord {
    let mut record = caller.record(action, outcome, reason);
    record.actor = user.subject.clone();
    record.actor_kind = "user".into();
    record.authority = user
        .roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",");
    record.parameters =
        serde_json::json!({ "name": user.name, "email": user.email, "groups": user.groups })
            .to_string();
    record
}

fn session_failure(error: tower_sessions::session::Error) -> Response {
    let reference = super::tokens::short_reference();
    tracing::error!(%reference, %error, "session store failed");
    pages::sign_in_again(
        "Sign-in is unavailable",
        503,
        &format!("Signalbox could not store your session (reference {reference}). Try again in a minute."),
    )
}

async fn login(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    session: Session,
    Query(query): Query<LoginQuery>,
) -> Response {
    let return_to = safe_return_to(query.return_to.as_deref());
    if caller.principal.is_some() {
        return Redirect::to(&return_to).into_response();
    }
    let (url, pending) = match state.gate.oidc.begin(return_to).await {
        Ok(begun) => begun,
        Err(error) => return refuse(&state, &caller, error).await,
    };
    let mut logins: Vec<PendingLogin> = match session.get(LOGINS_KEY).await {
        Ok(logins) => logins.unwrap_or_default(),
        Err(error) => return session_failure(error),
    };
    logins.push(pending);
    let excess = logins.len().saturating_sub(MAX_PENDING_LOGINS);
    logins.drain(..excess);
    if let Err(error) = session.insert(LOGINS_KEY, logins).await {
        return session_failure(error);
    }
    Redirect::to(url.as_str()).into_response()
}

/// Records the refusal and shows its page.
async fn refuse(state: &AppState, caller: &Caller, error: SignInError) -> Response {
    tracing::warn!(%error, "sign-in refused");
    let outcome = match error {
        SignInError::ProviderUnavailable(_) => Outcome::Failed,
        _ => Outcome::Denied,
    };
    record(
        state,
        caller.record("auth.sign_in", outcome, error.to_string()),
    )
    .await;
    let (status, title, explanation) = error.page();
    pages::sign_in_again(title, status, &explanation)
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn callback(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    session: Session,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let Some(returned_state) = query.state.as_deref().filter(|s| !s.is_empty()) else {
        return refuse(&state, &caller, SignInError::MissingState).await;
    };
    // The pending sign-in is taken out whatever happens next: a state works once.
    let mut logins: Vec<PendingLogin> = match session.get(LOGINS_KEY).await {
        Ok(logins) => logins.unwrap_or_default(),
        Err(error) => return session_failure(error),
    };
    let position = logins.iter().position(|p| p.state == returned_state);
    let pending = position.map(|i| logins.remove(i));
    if let Err(error) = session.insert(LOGINS_KEY, logins).await {
        return session_failure(error);
    }
    let Some(pending) = pending else {
        return refuse(&state, &caller, SignInError::UnknownState).await;
    };
    if let Some(error) = query.error {
        let description: String = query
            .error_description
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect();
        return refuse(
            &state,
            &caller,
            SignInError::ProviderRefused { error, description },
        )
        .await;
    }
    let return_to = pending.return_to.clone();
    let verified = match state
        .gate
        .oidc
        .finish(pending, query.code.as_deref(), query.iss.as_deref())
        .await
    {
        Ok(verified) => verified,
        Err(error) => return refuse(&state, &caller, error).await,
    };
    let roles = state.gate.oidc.config().roles_for(&verified.groups);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let user = SessionUser {
        subject: verified.subject,
        name: verified.name,
        email: verified.email,
        groups: verified.groups,
        roles,
        signed_in_at: now,
        last_seen: now,
        id_token: verified.id_token,
    };
    if user.roles.is_empty() {
        record(
            &state,
            as_user(
                &caller,
                &user,
                "auth.sign_in",
                Outcome::Denied,
                "the user's groups map to no role",
            ),
        )
        .await;
        let sign_out = state.gate.oidc.end_session_url(Some(&user.id_token)).await;
        return pages::no_access(
            &user.name,
            &user.groups,
            sign_out.as_ref().map(|u| u.as_str()),
        );
    }
    // A new session id at sign-in, so an id planted before sign-in is worth nothing after it.
    if let Err(error) = session.cycle_id().await {
        return session_failure(error);
    }
    if let Err(error) = session.remove::<Vec<PendingLogin>>(LOGINS_KEY).await {
        return session_failure(error);
    }
    if let Err(error) = session.insert(USER_KEY, &user).await {
        return session_failure(error);
    }
    record(
        &state,
        as_user(&caller, &user, "auth.sign_in", Outcome::Allowed, ""),
    )
    .await;
    Redirect::to(&return_to).into_response()
}

async fn logout(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    session: Session,
) -> Response {
    let user: Option<SessionUser> = session.get(USER_KEY).await.ok().flatten();
    // flush() deletes the server-side record and clears the cookie.
    if let Err(error) = session.flush().await {
        return session_failure(error);
    }
    let Some(user) = user else {
        return Redirect::to("/auth/signed-out").into_response();
    };
    record(
        &state,
        as_user(&caller, &user, "auth.sign_out", Outcome::Allowed, ""),
    )
    .await;
    match state.gate.oidc.end_session_url(Some(&user.id_token)).await {
        Some(url) => Redirect::to(url.as_str()).into_response(),
        None => Redirect::to("/auth/signed-out").into_response(),
    }
}

async fn signed_out() -> Response {
    pages::signed_out()
}

#[cfg(test)]
mod tests {
    use super::safe_return_to;

    #[test]
    fn return_to_only_ever_points_inside_the_console() {
        assert_eq!(
            safe_return_to(Some("/env/production?x=1")),
            "/env/production?x=1"
        );
        for hostile in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "javascript:alert(1)",
            "/auth/logout",
            "/ok\r\nLocation: x",
            "",
            "https:evil.example",
            "\\\\evil.example",
            "/\t/evil.example",
            "http://127.0.0.1:3000@evil.example/",
            "///evil.example",
        ] {
            assert_eq!(safe_return_to(Some(hostile)), "/", "{hostile:?}");
        }
        assert_eq!(safe_return_to(None), "/");
    }
}
