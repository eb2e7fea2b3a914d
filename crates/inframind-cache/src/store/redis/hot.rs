//! The hot tier: entries a [`RedisStore`](super::RedisStore) keeps decoded in process, each
//! served only after Redis confirms it still holds that entry under the current generations.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use quick_cache::Weighter;
use quick_cache::sync::Cache;

use crate::entry::Cached;
use crate::envelope::{Envelope, etag_of, zstd_checksummed};
use crate::store::{Generations, HotTierStats, Lookup, Ready, ReadyEntry, glob};

/// The envelope's fixed fields before its generations: magic and version (4), flags (1),
/// status (2), stored at, TTL and the two stale windows (4 × 8), ETag (16).
const FIXED_HEAD: usize = 4 + 1 + 2 + 4 * 8 + 16;
/// Bytes charged per entry besides its key, bodies and headers: the map slot, the `Arc`s and
/// the decoded head's allocations.
const ENTRY_OVERHEAD: u64 = 512;
/// An entry size to size quick_cache's maps by (it needs only a rough count).
const TYPICAL_ENTRY: u64 = 16 * 1024;

/// How many bytes of an encoded entry identify it: everything up to and including its
/// generations (`FIXED_HEAD`, a count byte, 8 bytes each). Two entries with the same
/// identity were stored at the same millisecond with the same status, timing, body hash and
/// generations.
pub(super) fn identity_len(generations: usize) -> usize {
    FIXED_HEAD + 1 + 8 * generations
}

/// One entry held in process.
pub(super) struct HotEntry {
    /// The first [`identity_len`] bytes of the encoded entry, compared with what Redis holds.
    pub(super) identity: Bytes,
    /// The encoded entry, as stored in Redis (its body shared with `ready`'s when plain).
    pub(super) encoded: Bytes,
    pub(super) ready: Ready,
    /// Milliseconds since the Unix epoch when Redis drops the entry (its `PX`): the tier
    /// never holds it longer.
    pub(super) expires_at: u64,
    size: u64,
}

#[derive(Clone, Copy)]
struct EntryWeight;

impl Weighter<Box<str>, Arc<HotEntry>> for EntryWeight {
    fn weight(&self, key: &Box<str>, entry: &Arc<HotEntry>) -> u64 {
        key.len() as u64 + entry.size
    }
}

/// The tier: a byte-bounded S3-FIFO cache (quick_cache) of entries, and its counters.
pub(super) struct HotTier {
    entries: Cache<Box<str>, Arc<HotEntry>, EntryWeight>,
    max_bytes: u64,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl HotTier {
    pub(super) fn new(max_bytes: u64) -> Self {
        let estimated = usize::try_from((max_bytes / TYPICAL_ENTRY).max(16)).unwrap_or(usize::MAX);
        Self {
            entries: Cache::with_weighter(estimated, max_bytes, EntryWeight),
            max_bytes,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The entry held under `key`, unless Redis has dropped it by `now` (then it goes).
    pub(super) fn entry(&self, key: &str, now: u64) -> Option<Arc<HotEntry>> {
        let entry = self.entries.get(key)?;
        if entry.expires_at > now {
            return Some(entry);
        }
        self.entries
            .remove_if(key, |held| Arc::ptr_eq(held, &entry));
        None
    }

    pub(super) fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    /// Forgets `entry` under `key` (not a newer one put there since).
    pub(super) fn forget(&self, key: &str, entry: &Arc<HotEntry>) {
        self.entries.remove_if(key, |held| Arc::ptr_eq(held, entry));
    }

    pub(super) fn remove(&self, key: &str) {
        self.entries.remove(key);
    }

    pub(super) fn remove_matching(&self, pattern: &str) {
        self.entries
            .retain(|key, _| !glob::matches(pattern.as_bytes(), key.as_bytes()));
    }

    /// Keeps the entry the cache just wrote to Redis (`encoded`, `envelope` decoded), for
    /// `ttl_ms` from `now`.
    pub(super) fn keep_written(
        &self,
        key: &str,
        encoded: &Bytes,
        envelope: &Envelope,
        now: u64,
        ttl_ms: u64,
    ) {
        let mut envelope = envelope.clone();
        // The envelope's last field is its body: share the encoded buffer rather than hold
        // the body twice.
        if let Some(start) = encoded.len().checked_sub(envelope.body.len()) {
            if encoded[start..] == envelope.body[..] {
                envelope.body = encoded.slice(start..);
            }
        }
        // Decompressed once here, so that no hit does.
        let Ok(plain) = envelope.plain_body() else {
            return;
        };
        self.insert(key, encoded, envelope, plain, now.saturating_add(ttl_ms));
    }

    /// `lookup` (just read whole from Redis), with the entry kept ready when it is a valid
    /// one computed under the generations read with it; a lookup it cannot keep is returned
    /// as it is, for the ordinary path to judge (and delete, when corrupt).
    pub(super) fn keep_fetched(&self, key: &str, mut lookup: Lookup, now: u64) -> Lookup {
        let (Some(encoded), Some(generations)) = (&lookup.value, &lookup.generations) else {
            return lookup;
        };
        let Ok(envelope) = Envelope::decode(encoded) else {
            return lookup;
        };
        if envelope.generations[..] != generations[..] {
            return lookup;
        }
        let lifetime = envelope.ttl_ms.saturating_add(
            envelope
                .stale_while_revalidate_ms
                .max(envelope.stale_if_error_ms),
        );
        let expires_at = envelope.stored_at_ms.saturating_add(lifetime);
        if expires_at <= now {
            return lookup;
        }
        // The checks the ordinary lookup makes of bytes from outside the process.
        let plain = match envelope.plain_body() {
            Ok(plain) if envelope.compressed && zstd_checksummed(&envelope.body) => plain,
            Ok(plain) if etag_of(&plain) == envelope.etag => plain,
            _ => return lookup,
        };
        let encoded = encoded.clone();
        lookup.ready = self.insert(key, &encoded, envelope, plain, expires_at);
        lookup
    }

    fn insert(
        &self,
        key: &str,
        encoded: &Bytes,
        mut envelope: Envelope,
        plain: Bytes,
        expires_at: u64,
    ) -> Option<Ready> {
        let generations = Generations::from_slice(&envelope.generations)?;
        let identity_len = identity_len(generations.len());
        if encoded.len() < identity_len {
            return None;
        }
        envelope.generations = Vec::new();
        let plain_extra = if envelope.compressed { plain.len() } else { 0 };
        let head: usize = envelope
            .headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 64)
            .sum();
        let size = (encoded.len() + plain_extra + head) as u64 + ENTRY_OVERHEAD;
        let ready = Ready(Arc::new(ReadyEntry {
            cached: Cached {
                envelope,
                plain: Some(plain),
            },
            generations,
        }));
        let entry = Arc::new(HotEntry {
            identity: encoded.slice(..identity_len),
            encoded: encoded.clone(),
            ready: ready.clone(),
            expires_at,
            size,
        });
        self.entries.insert(key.into(), entry);
        Some(ready)
    }

    pub(super) fn stats(&self) -> HotTierStats {
        HotTierStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.entries.len() as u64,
            bytes: self.entries.weight(),
            max_bytes: self.max_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, StatusCode};

    use super::*;

    fn envelope(generations: Vec<u64>, stored_at_ms: u64, body: &'static [u8]) -> Envelope {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "application/json".parse().unwrap());
        Envelope {
            status: StatusCode::OK,
            headers,
            body: Bytes::from_static(body),
            compressed: false,
            plain_len: body.len() as u64,
            stored_at_ms,
            ttl_ms: 60_000,
            stale_while_revalidate_ms: 0,
            stale_if_error_ms: 0,
            etag: etag_of(body),
            generations,
        }
    }

    /// The identity is exactly the envelope up to its generations: if the layout changes,
    /// this fails before the tier compares the wrong bytes.
    #[test]
    fn identity_ends_with_the_generations() {
        for count in 0..4usize {
            let generations: Vec<u64> = (1..=count as u64).map(|g| g * 0x0101).collect();
            let encoded = envelope(generations.clone(), 7, b"{}").encode();
            let end = identity_len(count);
            assert_eq!(usize::from(encoded[FIXED_HEAD]), count);
            let mut tail = Vec::new();
            for g in &generations {
                tail.extend_from_slice(&g.to_be_bytes());
            }
            assert_eq!(&encoded[FIXED_HEAD + 1..end], &tail[..]);
            // The header count follows.
            assert_eq!(&encoded[end..end + 2], &1u16.to_be_bytes());
        }
    }

    #[test]
    fn entries_that_differ_in_time_body_or_generations_differ_in_identity() {
        let base = envelope(vec![1, 2], 7, b"{\"a\":1}").encode();
        let others = [
            envelope(vec![1, 3], 7, b"{\"a\":1}").encode(),
            envelope(vec![1, 2], 8, b"{\"a\":1}").encode(),
            envelope(vec![1, 2], 7, b"{\"a\":2}").encode(),
        ];
        let end = identity_len(2);
        for other in others {
            assert_ne!(&base[..end], &other[..end]);
        }
    }

    #[test]
    fn a_kept_entry_is_found_until_it_expires_and_counted() {
        let tier = HotTier::new(1 << 20);
        let envelope = envelope(vec![5], 1_000, b"{\"a\":1}");
        let encoded = envelope.encode();
        tier.keep_written("ns:k", &encoded, &envelope, 1_000, 500);
        let entry = tier.entry("ns:k", 1_499).expect("held");
        assert_eq!(entry.identity, encoded.slice(..identity_len(1)));
        assert_eq!(&*entry.ready.0.generations, &[5]);
        assert!(
            tier.entry("ns:k", 1_500).is_none(),
            "gone with its Redis lifetime"
        );
        let stats = tier.stats();
        assert_eq!((stats.entries, stats.max_bytes), (0, 1 << 20));
    }
}
