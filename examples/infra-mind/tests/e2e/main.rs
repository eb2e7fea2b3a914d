//! End-to-end tests: the real server on loopback, a real HTTP client, both stores.

mod admin;
mod assessments;
mod batching;
mod caching;
mod common;
mod cors;
mod dashboard;
mod deploy;
mod errors;
mod lifecycle;
mod llm;
mod metrics;
mod openapi;
mod parity;
mod recommendations;
mod reports;
mod seed;
mod users;
