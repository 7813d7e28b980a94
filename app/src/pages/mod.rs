//! One module a screen.
pub mod environment;
pub mod not_found;
pub mod overview;
pub mod service;
