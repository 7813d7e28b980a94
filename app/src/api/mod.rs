//! Server functions, one file an area.
pub mod overview;
