//! Single flight: concurrent misses on one key run the inner service once.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::entry::Cached;

const SHARDS: usize = 16;

/// What the leader of a flight hands to the requests that waited for it.
#[derive(Clone)]
pub(crate) enum Outcome {
    /// A complete response the waiters may reuse.
    Shared(Arc<Cached>),
    /// The response cannot be shared (private to its request, too large, failed, cancelled);
    /// each waiter calls the inner service itself.
    NotShared,
}

/// One in-flight miss.
pub(crate) struct Flight {
    outcome: Mutex<Option<Outcome>>,
    done: Notify,
}

type Map = HashMap<String, Arc<Flight>>;

/// In-flight misses by key.
pub(crate) struct Flights {
    shards: Box<[Mutex<Map>]>,
}

impl std::fmt::Debug for Flights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let in_flight: usize = self.shards.iter().map(|s| s.lock().len()).sum();
        f.debug_struct("Flights")
            .field("in_flight", &in_flight)
            .finish()
    }
}

pub(crate) enum Join {
    Leader(Leader),
    Waiter(Arc<Flight>),
}

/// The request that computes the response. Dropping it without publishing (a cancelled
/// request) releases the waiters with [`Outcome::NotShared`].
pub(crate) struct Leader {
    flights: Arc<Flights>,
    key: String,
    flight: Arc<Flight>,
}

impl Flights {
    pub(crate) fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Map::new())).collect(),
        }
    }

    fn shard(&self, key: &str) -> &Mutex<Map> {
        // Keys end in hex digits of a blake3 digest: the last byte is as good as a hash.
        let last = key.as_bytes().last().copied().unwrap_or(0) as usize;
        &self.shards[last % SHARDS]
    }

    pub(crate) fn join(self: &Arc<Self>, key: &str) -> Join {
        self.join_unless(key, None)
    }

    /// Joins `key`'s flight, unless it is `stale` (one whose answer the caller may not use,
    /// because it began before a write the caller follows): that one is replaced by a new
    /// flight the caller leads. Its leader still finishes, but new requests no longer join it.
    pub(crate) fn join_unless(self: &Arc<Self>, key: &str, stale: Option<&Arc<Flight>>) -> Join {
        let mut shard = self.shard(key).lock();
        if let Some(flight) = shard.get(key) {
            if !stale.is_some_and(|stale| Arc::ptr_eq(flight, stale)) {
                return Join::Waiter(Arc::clone(flight));
            }
        }
        let flight = Arc::new(Flight {
            outcome: Mutex::new(None),
            done: Notify::new(),
        });
        shard.insert(key.to_owned(), Arc::clone(&flight));
        Join::Leader(Leader {
            flights: Arc::clone(self),
            key: key.to_owned(),
            flight,
        })
    }

    /// Leads a flight for `key` unless one is already running.
    pub(crate) fn try_lead(self: &Arc<Self>, key: &str) -> Option<Leader> {
        match self.join(key) {
            Join::Leader(leader) => Some(leader),
            Join::Waiter(_) => None,
        }
    }
}

impl Leader {
    pub(crate) fn publish(&self, outcome: Outcome) {
        *self.flight.outcome.lock() = Some(outcome);
        self.flight.done.notify_waiters();
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        {
            let mut outcome = self.flight.outcome.lock();
            if outcome.is_none() {
                *outcome = Some(Outcome::NotShared);
                drop(outcome);
                self.flight.done.notify_waiters();
            }
        }
        let mut shard = self.flights.shard(&self.key).lock();
        if shard
            .get(&self.key)
            .is_some_and(|flight| Arc::ptr_eq(flight, &self.flight))
        {
            shard.remove(&self.key);
        }
    }
}

/// Waits for the leader's outcome.
pub(crate) async fn wait(flight: Arc<Flight>) -> Outcome {
    loop {
        let notified = flight.done.notified();
        let mut notified = std::pin::pin!(notified);
        // Registered before the check, so a publish in between is not missed.
        notified.as_mut().enable();
        if let Some(outcome) = flight.outcome.lock().clone() {
            return outcome;
        }
        notified.await;
    }
}
