//! HTTP: the router, its layers, and the probes.

pub mod probes;
pub mod router;

pub use router::{build_router, serve, AppState};
