//! Industry Events API: events, companies and the deals between them, served as JSON.
//!
//! Layers point one way: [`http`] (extractors, status codes, headers) calls [`repo`]
//! (all SQL), which works in [`model`] types (validation, no HTTP, no SQL).

pub mod auth;
pub mod commands;
pub mod config;
pub mod db;
pub mod error;
pub mod http;
pub mod import;
pub mod model;
pub mod repo;
pub mod seed;
pub mod telemetry;
pub mod webhook;

pub use http::AppState;
pub use http::app;

/// The schema migrations in `migrations/`, embedded at build time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();
