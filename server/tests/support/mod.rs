#![allow(dead_code)]
//! Shared test support, all on 127.0.0.1: real PostgreSQL databases, a real moto server, the real OpenID
//! provider, a console started on port 0, and a small cookie-keeping browser.
pub mod api;
pub mod browser;
pub mod console;
pub mod deploy;
pub mod http;
pub mod idp;
pub mod moto;
pub mod postgres;
pub mod replica;
pub mod server_fns;

/// A small pool on `url`, for tests that open the storage directly.
pub fn database_config(url: &str) -> server::config::DatabaseConfig {
    server::config::DatabaseConfig {
        url: server::secret::DatabaseUrl::new(url),
        pool_size: 5,
        pool_timeout: std::time::Duration::from_secs(5),
    }
}
