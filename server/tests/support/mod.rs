#![allow(dead_code)]
//! Shared test support, all on 127.0.0.1: real PostgreSQL databases, a real moto server, the real OpenID
//! provider, a console started on port 0, and a small cookie-keeping browser.
pub mod browser;
pub mod console;
pub mod http;
pub mod idp;
pub mod moto;
pub mod postgres;
