//! One module a screen.
pub mod audit;
pub mod backups;
pub mod deploy;
pub mod deployments;
pub mod environment;
pub mod not_found;
pub mod overview;
pub mod releases;
pub mod service;
pub mod tokens;
