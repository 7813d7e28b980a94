//! HTTP: the router, its layers (security headers, rate limits), the REST API and the probes.

pub mod api_v1;
pub mod live;
pub mod openapi;
pub mod preloads;
pub mod probes;
pub mod rate_limit;
pub mod render_queue;
pub mod router;
pub mod security;

pub use router::{build_router, serve, AppParts, AppState};
