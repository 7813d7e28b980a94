//! How Signalbox does it: configuration, storage, AWS adapters, the shared collectors and HTTP. `app` says what
//! the console shows; this crate implements its service traits. The binary is `main.rs`; tests drive
//! [`bootstrap::start`] on port 0.

pub mod audit;
pub mod aws;
pub mod backups;
pub mod bootstrap;
pub mod config;
pub mod engine;
pub mod health;
pub mod http;
pub mod identity;
pub mod notify;
pub mod overview;
pub mod secret;
pub mod storage;
pub mod topology;
