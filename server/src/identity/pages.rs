//! The few pages served outside the Leptos app: sign-in outcomes, "no access", signed out. Plain HTML with the
//! console's stylesheet, no script, so they work while the rest of the console (or the IdP) does not.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

pub fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&#39;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// A page with a title, a paragraph (already escaped HTML) and optional actions.
pub fn page(status: u16, title: &str, body_html: &str) -> Response {
    let html = format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Signalbox</title><link rel="stylesheet" href="/pkg/signalbox.css"><link rel="icon" href="/favicon.svg" type="image/svg+xml"></head>
<body><header class="topbar"><a class="brand" href="/"><span class="brand-mark" aria-hidden="true"></span>Signalbox</a></header>
<main id="main" class="auth-page" data-auth-page="{status}"><h1>{title}</h1>{body_html}</main></body></html>"#,
        title = escape(title),
    );
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

pub fn sign_in_again(title: &str, status: u16, explanation: &str) -> Response {
    page(
        status,
        title,
        &format!(
            r#"<p>{}</p><p><a class="button" href="/auth/login" id="sign-in-again">Sign in again</a></p>"#,
            escape(explanation)
        ),
    )
}

/// `sign_out`: the provider's end-session URL, so the person can sign in as someone else (no Signalbox session
/// exists to end).
pub fn no_access(name: &str, groups: &[String], sign_out: Option<&str>) -> Response {
    let groups = if groups.is_empty() {
        "no groups".to_string()
    } else {
        groups
            .iter()
            .map(|g| format!("<code>{}</code>", escape(g)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    page(
        403,
        "No access",
        &format!(
            r#"<p id="no-access">You signed in as <strong>{}</strong>, but your groups ({groups}) give no Signalbox role.</p>
<p>Ask an administrator to add you to a group that maps to a role (viewer, deployer, approver, auditor or admin). The attempt was recorded.</p>
<p><a class="button" id="sign-out" href="{}">Sign out of the identity provider</a></p>"#,
            escape(name),
            escape(sign_out.unwrap_or("/auth/signed-out"))
        ),
    )
}

pub fn signed_out() -> Response {
    page(
        200,
        "Signed out",
        r#"<p id="signed-out">You are signed out of Signalbox.</p><p><a class="button" href="/auth/login">Sign in again</a></p>"#,
    )
}
