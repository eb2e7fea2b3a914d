//! MongoDB command monitoring, connection-pool and server-monitoring (SDAM) events feeding the
//! DB families.
//!
//! [`DbEventHandler`] receives the driver's `CommandEvent`s, `CmapEvent`s and `SdamEvent`s, so
//! every command the driver sends is counted, whatever code path issued it:
//!
//! - `db_queries_total{collection, operation}` and `db_query_duration_seconds` for every
//!   command (`operation` is the command name: `find`, `insert`, `aggregate`, `getMore`...;
//!   `collection` is the command's target, or `none` for database commands such as `ping`);
//! - `db_errors_total{collection, type}` for failed commands (`type` is the server's code name,
//!   or `network`, `timeout`, ...) and for write errors reported inside a successful reply
//!   (`type` is the write error's code name, such as `DuplicateKey`);
//! - `db_connections_active` (checked out) and `db_connections_idle` (open, in the pool).
//!
//! # Outages
//!
//! An operation that never reaches a server sends no command, so no command event: with the
//! server down, `find_one` fails with a server-selection error after `server_selection_timeout`
//! and the command families above do not move. Three more sources cover that:
//!
//! - every failed heartbeat of the driver's server monitor counts in
//!   `db_errors_total{collection="none", error_type="heartbeat_failed"}` (from the SDAM
//!   events, so a total outage shows even without traffic);
//! - a connection the pool could not open for an operation counts in
//!   `db_errors_total{collection="none", error_type="connection_checkout_failed"}`;
//! - [`DbEventHandler::track`] (or [`DbEventHandler::record_result`]) wraps an operation and,
//!   when it fails without a command (server selection, or a cleared pool), counts it in
//!   `db_queries_total` and `db_query_duration_seconds` under the collection and operation you
//!   name, and a server-selection failure in `db_errors_total{error_type="server_selection"}`.
//!   Operations that did reach a server are left to the command events, so nothing is counted
//!   twice. (An operation whose new connection could not be opened shows only as
//!   `connection_checkout_failed`: its error does not tell whether a command was sent.)
//!
//! ```no_run
//! # async fn run() -> mongodb::error::Result<()> {
//! use inframind_metrics::{Metrics, mongodb::DbEventHandler};
//! use mongodb::{Client, options::ClientOptions};
//!
//! let metrics = Metrics::new();
//! let mut options = ClientOptions::parse("mongodb://127.0.0.1:27017").await?;
//! let db_events = DbEventHandler::new(&metrics);
//! db_events.install(&mut options);
//! let client = Client::with_options(options)?;
//! let users = client.database("app").collection::<mongodb::bson::Document>("users");
//! // Counted even when no server can be selected.
//! let user = db_events
//!     .track("users", "find", users.find_one(mongodb::bson::doc! { "_id": 1 }).into_future())
//!     .await?;
//! # let _ = user;
//! # Ok(())
//! # }
//! ```

use crate::{DbErrorLabels, Metrics};
use mongodb::bson::{Bson, Document};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::event::EventHandler;
use mongodb::event::cmap::{CmapEvent, ConnectionCheckoutFailedReason};
use mongodb::event::command::CommandEvent;
use mongodb::event::sdam::SdamEvent;
use mongodb::options::ClientOptions;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Commands started but not finished yet; bounded so that lost events cannot leak memory.
const MAX_PENDING: usize = 65_536;
/// The `collection` label of commands without a collection (`ping`, `listDatabases`, ...).
pub const NO_COLLECTION: &str = "none";

/// Feeds the DB families from the MongoDB driver's command and connection-pool events.
#[derive(Debug)]
pub struct DbEventHandler {
    metrics: Metrics,
    pending: Mutex<HashMap<i32, String>>,
}

impl DbEventHandler {
    /// A handler recording into `metrics`.
    pub fn new(metrics: &Metrics) -> Arc<Self> {
        Arc::new(Self {
            metrics: metrics.clone(),
            pending: Mutex::new(HashMap::new()),
        })
    }

    /// Sets the command, connection-pool and server-monitoring event handlers of `options`
    /// (replacing any already set).
    pub fn install(self: &Arc<Self>, options: &mut ClientOptions) {
        options.command_event_handler = Some(self.command_handler());
        options.cmap_event_handler = Some(self.cmap_handler());
        options.sdam_event_handler = Some(self.sdam_handler());
    }

    /// The server-monitoring handler (`ClientOptions::sdam_event_handler`).
    pub fn sdam_handler(self: &Arc<Self>) -> EventHandler<SdamEvent> {
        let this = Arc::clone(self);
        EventHandler::callback(move |event| this.on_sdam(&event))
    }

    /// Records one server-monitoring event: a failed heartbeat counts in
    /// `db_errors_total{collection="none", error_type="heartbeat_failed"}`.
    pub fn on_sdam(&self, event: &SdamEvent) {
        if let SdamEvent::ServerHeartbeatFailed(_) = event {
            self.metrics
                .db()
                .errors
                .get_or_create(&DbErrorLabels::new(NO_COLLECTION, "heartbeat_failed"))
                .inc();
        }
    }

    /// Runs `operation` and records it as [`record_result`](Self::record_result) does.
    ///
    /// # Errors
    /// The operation's own error, unchanged.
    pub async fn track<T>(
        &self,
        collection: &str,
        operation: &str,
        op: impl Future<Output = mongodb::error::Result<T>>,
    ) -> mongodb::error::Result<T> {
        let start = Instant::now();
        let result = op.await;
        self.record_result(collection, operation, start.elapsed(), &result);
        result
    }

    /// Records the outcome of one driver operation that took `elapsed`, when no command event
    /// covers it:
    ///
    /// - server selection failed (no server is reachable): one query and one
    ///   `db_errors_total{collection, error_type="server_selection"}`;
    /// - the pool was cleared while the operation waited for a connection: one query (the
    ///   error itself is already counted from the pool's checkout-failed event, as
    ///   `{collection="none", error_type="connection_checkout_failed"}`).
    ///
    /// Successes and errors from a server are counted by the command events, and are left
    /// alone, so wrapping every operation counts each exactly once.
    pub fn record_result<T>(
        &self,
        collection: &str,
        operation: &str,
        elapsed: Duration,
        result: &mongodb::error::Result<T>,
    ) {
        let Err(e) = result else { return };
        let db = self.metrics.db();
        match *e.kind {
            ErrorKind::ServerSelection { .. } => {
                db.record_query(collection, operation, elapsed, Some("server_selection"));
            }
            ErrorKind::ConnectionPoolCleared { .. } => {
                db.record_query(collection, operation, elapsed, None);
            }
            _ => {}
        }
    }

    /// The command-monitoring handler (`ClientOptions::command_event_handler`).
    pub fn command_handler(self: &Arc<Self>) -> EventHandler<CommandEvent> {
        let this = Arc::clone(self);
        EventHandler::callback(move |event| this.on_command(event))
    }

    /// The connection-pool handler (`ClientOptions::cmap_event_handler`).
    pub fn cmap_handler(self: &Arc<Self>) -> EventHandler<CmapEvent> {
        let this = Arc::clone(self);
        EventHandler::callback(move |event| this.on_cmap(&event))
    }

    /// Records one command event.
    pub fn on_command(&self, event: CommandEvent) {
        match event {
            CommandEvent::Started(e) => {
                let collection = collection_of(&e.command_name, &e.command);
                let mut pending = self.pending.lock();
                if pending.len() >= MAX_PENDING {
                    pending.clear();
                }
                pending.insert(e.request_id, collection);
            }
            CommandEvent::Succeeded(e) => {
                let collection = self.take(e.request_id);
                let error = write_error(&e.reply);
                self.metrics.db().record_query(
                    &collection,
                    &e.command_name,
                    e.duration,
                    error.as_deref(),
                );
            }
            CommandEvent::Failed(e) => {
                let collection = self.take(e.request_id);
                let error = error_type(&e.failure.kind);
                self.metrics.db().record_query(
                    &collection,
                    &e.command_name,
                    e.duration,
                    Some(&error),
                );
            }
            _ => {}
        }
    }

    fn take(&self, request_id: i32) -> String {
        self.pending
            .lock()
            .remove(&request_id)
            .unwrap_or_else(|| NO_COLLECTION.to_owned())
    }

    /// Records one connection-pool event.
    pub fn on_cmap(&self, event: &CmapEvent) {
        let db = self.metrics.db();
        match event {
            CmapEvent::ConnectionCreated(_) | CmapEvent::ConnectionCheckedIn(_) => {
                if matches!(event, CmapEvent::ConnectionCheckedIn(_)) {
                    db.connections_active.dec();
                }
                db.connections_idle.inc();
            }
            CmapEvent::ConnectionCheckedOut(_) => {
                db.connections_idle.dec();
                db.connections_active.inc();
            }
            CmapEvent::ConnectionClosed(_) => {
                db.connections_idle.dec();
            }
            CmapEvent::ConnectionCheckoutFailed(e)
                if matches!(e.reason, ConnectionCheckoutFailedReason::ConnectionError) =>
            {
                db.errors
                    .get_or_create(&DbErrorLabels::new(
                        NO_COLLECTION,
                        "connection_checkout_failed",
                    ))
                    .inc();
            }
            _ => {}
        }
    }
}

/// The collection a command targets: the value of its first field when it is a string, or the
/// `collection` field (`getMore`).
fn collection_of(command_name: &str, command: &Document) -> String {
    if let Some(Bson::String(c)) = command.get("collection") {
        return c.clone();
    }
    match command
        .get(command_name)
        .or_else(|| command.iter().next().map(|(_, v)| v))
    {
        Some(Bson::String(c)) if !c.is_empty() => c.clone(),
        _ => NO_COLLECTION.to_owned(),
    }
}

/// The error type of a successful reply that carries write errors.
fn write_error(reply: &Document) -> Option<String> {
    if let Ok(errors) = reply.get_array("writeErrors") {
        let first = errors.first().and_then(Bson::as_document);
        let name = first
            .and_then(|d| d.get_str("codeName").ok().map(str::to_owned))
            .or_else(|| first.and_then(|d| d.get_i32("code").ok()).map(code_name))
            .unwrap_or_else(|| "WriteError".to_owned());
        return Some(name);
    }
    reply
        .get_document("writeConcernError")
        .ok()
        .map(|_| "WriteConcernError".to_owned())
}

/// Names of common server error codes, for replies that carry only the number.
fn code_name(code: i32) -> String {
    match code {
        11000 | 11001 | 12582 => "DuplicateKey".to_owned(),
        50 => "MaxTimeMSExpired".to_owned(),
        112 => "WriteConflict".to_owned(),
        121 => "DocumentValidationFailure".to_owned(),
        13 => "Unauthorized".to_owned(),
        _ => format!("code_{code}"),
    }
}

fn error_type(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::Command(e) if !e.code_name.is_empty() => e.code_name.clone(),
        ErrorKind::Command(e) => code_name(e.code),
        ErrorKind::Write(WriteFailure::WriteError(e)) => {
            e.code_name.clone().unwrap_or_else(|| code_name(e.code))
        }
        ErrorKind::Write(WriteFailure::WriteConcernError(_)) => "WriteConcernError".to_owned(),
        ErrorKind::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => "timeout".to_owned(),
        ErrorKind::Io(_) => "network".to_owned(),
        ErrorKind::ServerSelection { .. } => "server_selection".to_owned(),
        ErrorKind::Authentication { .. } => "authentication".to_owned(),
        ErrorKind::ConnectionPoolCleared { .. } => "pool_cleared".to_owned(),
        ErrorKind::InvalidResponse { .. } => "invalid_response".to_owned(),
        _ => "other".to_owned(),
    }
}
