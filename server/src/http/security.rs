//! The seed's security headers on every response, and a Content-Security-Policy whose script nonce changes per
//! request: Leptos puts the nonce on its hydration script, so `default-src 'self'` holds without 'unsafe-inline'.

use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;

/// The nonce of this request, for the Leptos context.
#[derive(Clone, Debug)]
pub struct CspNonce(pub String);

/// What the policy needs to know beyond the request.
#[derive(Clone, Debug)]
pub struct SecurityHeaders {
    /// The IdP's origin: sign-out posts a form whose answer redirects there, which `form-action` must allow.
    pub issuer_origin: Option<String>,
    /// Development only: cargo-leptos' live-reload websocket.
    pub allow_websocket: bool,
}

impl SecurityHeaders {
    fn policy(&self, nonce: &str) -> String {
        let form_action = match &self.issuer_origin {
            Some(origin) => format!("'self' {origin}"),
            None => "'self'".into(),
        };
        let connect = if self.allow_websocket {
            "'self' ws:"
        } else {
            "'self'"
        };
        format!(
            "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
             img-src 'self' data:; connect-src {connect}; object-src 'none'; base-uri 'none'; \
             frame-ancestors 'none'; form-action {form_action}"
        )
    }
}

pub async fn security_headers(
    axum::extract::State(settings): axum::extract::State<SecurityHeaders>,
    mut request: Request,
    next: Next,
) -> Response {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let nonce = URL_SAFE_NO_PAD.encode(bytes);
    request.extensions_mut().insert(CspNonce(nonce.clone()));
    let is_asset = request.uri().path().starts_with("/pkg/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&settings.policy(&nonce)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    let fixed: [(HeaderName, &str); 5] = [
        (
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=63072000; includeSubDomains; preload",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=()",
        ),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    // Pages and API answers carry who-did-what; only the hashed static assets may be cached.
    if !is_asset && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
