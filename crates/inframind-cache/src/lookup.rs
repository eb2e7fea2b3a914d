//! The hit stage: what an entry found in the store is worth to a request.

use bytes::Bytes;

use crate::entry::Cached;
use crate::envelope::{Envelope, etag_of, zstd_checksummed};
use crate::store::Lookup;

/// What the bytes under a key are worth now.
pub(crate) enum Found {
    Absent,
    /// Undecodable, or a body that does not hash to its ETag: deleted, counted, a miss.
    Corrupt,
    Invalidated,
    Expired,
    Fresh(Cached),
    /// Past its TTL, within its stale-while-revalidate window.
    Revalidate(Cached),
    /// Past its TTL, within its stale-if-error window only.
    IfError(Cached),
}

/// Decodes and judges an entry read from a store. The body is checked, since bytes from
/// outside the process may have been altered: a compressed body by the content checksum its
/// zstd frame carries (checked as it decompresses), any other against its ETag (the blake3 of
/// the plain body), which is cheap beside the round trip that fetched it.
pub(crate) fn evaluate(value: Option<&Bytes>, generations: Option<&[u64]>, now: u64) -> Found {
    let Some(value) = value else {
        return Found::Absent;
    };
    let Some(generations) = generations else {
        // The store lost a generation: nothing computed under it may be served.
        return Found::Invalidated;
    };
    let envelope = match Envelope::decode_expecting(value, generations) {
        Ok(Some(envelope)) => envelope,
        Ok(None) => return Found::Invalidated,
        Err(_) => return Found::Corrupt,
    };
    let freshness = freshness(&envelope, now);
    if let Freshness::Expired = freshness {
        return Found::Expired;
    }
    let plain = match envelope.plain_body() {
        // zstd checked the frame's own content checksum as it decompressed.
        Ok(plain) if envelope.compressed && zstd_checksummed(&envelope.body) => plain,
        Ok(plain) if etag_of(&plain) == envelope.etag => plain,
        _ => return Found::Corrupt,
    };
    let cached = Cached {
        envelope,
        plain: Some(plain),
    };
    freshness.found(cached)
}

/// [`evaluate`] of a whole [`Lookup`]: an entry the store kept decoded and verified (its hot
/// tier) is judged without decoding it again, once its generations are checked here against
/// the ones read with this lookup.
pub(crate) fn evaluate_lookup(lookup: &Lookup, now: u64) -> Found {
    let Some(ready) = &lookup.ready else {
        return evaluate(lookup.value.as_ref(), lookup.generations.as_deref(), now);
    };
    let entry = &*ready.0;
    if lookup.generations.as_deref() != Some(&*entry.generations) {
        return Found::Invalidated;
    }
    match freshness(&entry.cached.envelope, now) {
        Freshness::Expired => Found::Expired,
        freshness => freshness.found(entry.cached.clone()),
    }
}

/// Where an entry stands in its lifetime at `now`.
enum Freshness {
    Fresh,
    Revalidate,
    IfError,
    Expired,
}

impl Freshness {
    fn found(self, cached: Cached) -> Found {
        match self {
            Self::Fresh => Found::Fresh(cached),
            Self::Revalidate => Found::Revalidate(cached),
            Self::IfError => Found::IfError(cached),
            Self::Expired => Found::Expired,
        }
    }
}

fn freshness(envelope: &Envelope, now: u64) -> Freshness {
    let age = now.saturating_sub(envelope.stored_at_ms);
    let ttl = envelope.ttl_ms;
    if age < ttl {
        Freshness::Fresh
    } else if age < ttl.saturating_add(envelope.stale_while_revalidate_ms) {
        Freshness::Revalidate
    } else if age < ttl.saturating_add(envelope.stale_if_error_ms) {
        Freshness::IfError
    } else {
        Freshness::Expired
    }
}
