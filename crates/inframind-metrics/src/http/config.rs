//! What one [`MetricsLayer`](crate::MetricsLayer) shares with every service it builds.

use super::table::{EndpointEntry, HttpTable};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, OnceLock};

/// Endpoint cache slots per layer.
pub(crate) const CACHE_SLOTS: usize = 64;

/// Where `http_request_duration_seconds` stops the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DurationUntil {
    /// When the inner service returns the response head (the default). A streamed body's
    /// transfer is not included; the request leaves `http_requests_in_progress` at the head.
    #[default]
    ResponseHead,
    /// When the response body has been sent in full (or dropped: the client hung up). The
    /// request stays in `http_requests_in_progress` until then. Costs a wrapped body on every
    /// response.
    ResponseEnd,
}

#[derive(Debug, Clone)]
pub(crate) struct Shared<E> {
    pub(crate) table: Arc<HttpTable>,
    /// One cached endpoint per service built by this layer (round-robin over the slots).
    pub(crate) cache: Arc<[OnceLock<Arc<EndpointEntry>>; CACHE_SLOTS]>,
    pub(crate) next_slot: Arc<AtomicUsize>,
    pub(crate) endpoint: E,
    pub(crate) excluded: Vec<Box<str>>,
    pub(crate) exemplars: bool,
    pub(crate) until: DurationUntil,
}

impl<E> Shared<E> {
    /// The same configuration with another endpoint label.
    pub(crate) fn with_endpoint<E2>(self, endpoint: E2) -> Shared<E2> {
        Shared {
            table: self.table,
            cache: self.cache,
            next_slot: self.next_slot,
            endpoint,
            excluded: self.excluded,
            exemplars: self.exemplars,
            until: self.until,
        }
    }
}
