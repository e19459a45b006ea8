//! One integration binary (one link step) for the whole HTTP API, against real
//! PostgreSQL: each test gets a fresh database of its own.

// A failed unwrap is how a test says "this should not happen"; helpers included.
#![allow(clippy::unwrap_used)]

mod adversarial;
mod auth;
mod companies;
mod conditional;
mod connections;
mod errors;
mod events;
mod export;
mod feeds;
mod fields;
mod graph;
mod helpers;
mod import;
mod instances;
mod limits;
mod list;
mod live;
mod logging;
mod openapi;
mod ops;
mod pages;
mod replicas;
mod resilience;
mod retention;
mod safety;
mod serving;
mod tags;
mod timeline;
mod webhooks;
