#![allow(dead_code)]
//! Shared test support: real PostgreSQL databases and a real moto server, both on 127.0.0.1.
pub mod http;
pub mod moto;
pub mod postgres;
