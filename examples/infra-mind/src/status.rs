//! What `/admin/status` and the status page show.

use std::time::Duration;

use serde::Serialize;

use crate::domain::DashboardCounts;
use crate::repo::Repository;

/// A point-in-time view of the server.
#[derive(Debug, Serialize)]
pub struct StatusSnapshot {
    /// The crate version.
    pub version: &'static str,
    /// Seconds since start-up.
    pub uptime_secs: u64,
    /// The store backend (`memory`, `mongodb`).
    pub store: &'static str,
    /// Whether the store answers.
    pub store_up: bool,
    /// The store's error when it does not.
    pub store_error: Option<String>,
    /// Totals, when the store answers.
    pub counts: Option<DashboardCounts>,
}

impl StatusSnapshot {
    /// Reads the store; never fails (an unreachable store is reported, not raised).
    pub async fn collect(repo: &dyn Repository, uptime: Duration) -> Self {
        let (store_up, store_error, counts) = match repo.counts().await {
            Ok(counts) => (true, None, Some(counts)),
            Err(error) => (false, Some(error.to_string()), None),
        };
        Self {
            version: env!("CARGO_PKG_VERSION"),
            uptime_secs: uptime.as_secs(),
            store: repo.backend(),
            store_up,
            store_error,
            counts,
        }
    }
}
