//! The router. Probes and static assets are public; everything else passes the identity gate (session or API
//! token), and every page, server function and API route then checks its own permission. Outermost first:
//! request id → trace → security headers → body limit → session → gate → render queue and route preloads (pages
//! only) → routes.

use super::preloads::route_preloads;
use super::probes::{healthz, readyz};
use super::render_queue::{render_in_turn, RenderQueue};
use super::security::{security_headers, CspNonce, SecurityHeaders};
use crate::identity::gate::{gate, Gate};
use crate::storage::SharedStorage;
use app::auth::Caller;
use app::pages::RoutePreloads;
use app::services::Services;
use app::{shell, App};
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::http::HeaderName;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::get;
use axum::Router;
use leptos::config::LeptosOptions;
use leptos::prelude::{provide_context, use_context};
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

/// What every handler may reach. Behind one `Arc`: axum and the middleware clone the state for each request
/// (about twenty times per page), and a clone of the parts is some twenty reference counts and three vectors.
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

pub struct AppParts {
    pub leptos_options: LeptosOptions,
    pub services: Services,
    pub storage: SharedStorage,
    pub gate: Arc<Gate>,
    pub live: super::live::LiveSources,
    /// Pages rendered at once; `None`: no limit.
    pub render_slots: Option<usize>,
}

impl AppState {
    pub fn new(parts: AppParts) -> Self {
        AppState(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub const SESSION_COOKIE: &str = "signalbox_session";

/// Hands what the gate and the header layer worked out to the Leptos context of pages and server functions.
fn provide_request_context(services: Services) {
    provide_context(services);
    if let Some(parts) = use_context::<axum::http::request::Parts>() {
        if let Some(caller) = parts.extensions.get::<Caller>() {
            provide_context(caller.clone());
        }
        if let Some(CspNonce(nonce)) = parts.extensions.get::<CspNonce>() {
            provide_context(leptos::nonce::Nonce::from_value(nonce.as_str()));
        }
        if let Some(preloads) = parts.extensions.get::<RoutePreloads>() {
            provide_context(preloads.clone());
        }
    }
}

/// The whole application as a router, ready to serve or to drive in tests.
pub fn build_router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let services = state.services.clone();
    let fallback_services = state.services.clone();
    let options = state.leptos_options.clone();
    let console: Router<AppState> = Router::new()
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_request_context(services.clone()),
            move || shell(options.clone()),
        )
        // Before the routes added below: only pages fill the preloads.
        .layer(from_fn(route_preloads))
        .layer(from_fn_with_state(
            RenderQueue::new(state.render_slots),
            render_in_turn,
        ))
        .route("/live", get(super::live::live))
        .route("/audit/export.csv", get(crate::audit::export::export_csv))
        .route("/audit/export.json", get(crate::audit::export::export_json))
        .merge(crate::identity::routes::routes())
        .merge(super::api_v1::router(&state))
        // The 404 page is the app too: it needs the caller (the header) and the CSP nonce like any page.
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(
            move || provide_request_context(fallback_services.clone()),
            shell,
        ));

    let probes: Router<AppState> = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));

    let identity = state.gate.oidc.config();
    let sessions = SessionManagerLayer::new(state.storage.session_store())
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        // Lax, not Strict: the way back from the IdP is a cross-site navigation that must carry the cookie.
        .with_same_site(SameSite::Lax)
        .with_secure(identity.cookie_secure)
        .with_expiry(Expiry::OnInactivity(time::Duration::seconds(
            identity.idle_timeout.as_secs() as i64,
        )));
    let headers = SecurityHeaders {
        issuer_origin: Some(identity.issuer.origin().ascii_serialization()),
        allow_websocket: matches!(state.leptos_options.env, leptos::config::Env::DEV),
    };
    let max_body = state.gate.security.max_body_bytes;

    probes
        .merge(console)
        .layer(from_fn_with_state(state.clone(), gate))
        .layer(sessions)
        .with_state(state)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(RequestBodyLimitLayer::new(max_body))
        .layer(from_fn_with_state(headers, security_headers))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// Serves until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        build_router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
