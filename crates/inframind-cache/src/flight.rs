//! Single flight: concurrent misses on one key run the inner service once.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::watch;

use crate::service::Cached;

const SHARDS: usize = 16;

/// What the leader of a flight hands to the requests that waited for it.
#[derive(Clone)]
pub(crate) enum Outcome {
    Pending,
    /// A complete response the waiters may reuse.
    Shared(Arc<Cached>),
    /// The response cannot be shared (private to its request, too large, failed); each waiter
    /// calls the inner service itself.
    NotShared,
}

type Map = HashMap<String, watch::Receiver<Outcome>>;

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
    Waiter(watch::Receiver<Outcome>),
}

/// The request that computes the response. Dropping it without publishing (a cancelled request)
/// releases the waiters, who then call the inner service themselves.
pub(crate) struct Leader {
    flights: Arc<Flights>,
    key: String,
    tx: watch::Sender<Outcome>,
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
        let mut shard = self.shard(key).lock();
        if let Some(rx) = shard.get(key) {
            return Join::Waiter(rx.clone());
        }
        let (tx, rx) = watch::channel(Outcome::Pending);
        shard.insert(key.to_owned(), rx);
        Join::Leader(Leader {
            flights: Arc::clone(self),
            key: key.to_owned(),
            tx,
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
        self.tx.send_replace(outcome);
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        let mut shard = self.flights.shard(&self.key).lock();
        if let Some(rx) = shard.get(&self.key) {
            if rx.same_channel(&self.tx.subscribe()) {
                shard.remove(&self.key);
            }
        }
    }
}

/// Waits for the leader; a leader that went away without publishing counts as `NotShared`.
pub(crate) async fn wait(mut rx: watch::Receiver<Outcome>) -> Outcome {
    match rx.wait_for(|o| !matches!(o, Outcome::Pending)).await {
        Ok(outcome) => outcome.clone(),
        Err(_) => Outcome::NotShared,
    }
}
