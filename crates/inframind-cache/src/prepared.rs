//! Entries the in-process store keeps decoded, so a hit clones a response head instead of
//! parsing an envelope.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};

use crate::envelope::Envelope;
use crate::headers::{CACHE_STATUS, X_CACHE, etag_header};

/// `X-Cache: HIT`, already in a prepared head.
const HIT: HeaderValue = HeaderValue::from_static("HIT");
/// Stands for the per-response values (`Age`, `Cache-Status`) until a hit sets them.
const PLACEHOLDER: HeaderValue = HeaderValue::from_static("0");

/// An envelope decoded once, when it was stored.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// The decoded envelope, with its generations. Its headers are moved into `hit` when there
    /// is one (they are not needed twice).
    pub(crate) envelope: Envelope,
    /// The head of a fresh hit, when the entry can be served by cloning it.
    pub(crate) hit: Option<HitHead>,
}

/// The response head of a fresh hit on an uncompressed entry: the stored headers with the
/// `ETag` and `Content-Length` the cache serves, then `Age`, `X-Cache: HIT` and `Cache-Status`
/// (the first and last to be overwritten by each hit; a map does not grow when a value is
/// replaced).
#[derive(Debug)]
pub(crate) struct HitHead {
    pub(crate) headers: HeaderMap,
    /// The `ETag` in `headers`, for `If-None-Match` without a map lookup.
    pub(crate) etag: HeaderValue,
    /// How many values `headers` holds (its last three are the per-hit slots).
    pub(crate) len: usize,
}

impl Prepared {
    /// Decodes `bytes`; `None` when they are not a valid envelope (the cache's ordinary lookup
    /// then finds them corrupt, and deletes them).
    pub(crate) fn decode(bytes: &Bytes) -> Option<Self> {
        let mut envelope = Envelope::decode(bytes).ok()?;
        let hit = HitHead::new(&mut envelope);
        Some(Self { envelope, hit })
    }

    /// `envelope`, which `encoded` is the encoding of, without decoding it again. The body is
    /// taken from `encoded` (its last bytes), so the entry holds it once.
    pub(crate) fn from_encoded(envelope: &Envelope, encoded: &Bytes) -> Self {
        let mut envelope = envelope.clone();
        // The envelope's last field is the body (see the layout in `envelope`).
        if let Some(start) = encoded.len().checked_sub(envelope.body.len()) {
            let body = encoded.slice(start..);
            debug_assert_eq!(body, envelope.body);
            envelope.body = body;
        }
        let hit = HitHead::new(&mut envelope);
        Self { envelope, hit }
    }

    /// Approximate heap bytes beyond the encoded value (whose buffer the body and header values
    /// share), charged to the store's byte bound.
    pub(crate) fn heap_size(&self) -> u64 {
        let maps = self.envelope.headers.capacity()
            + self.hit.as_ref().map_or(0, |hit| hit.headers.capacity());
        // A map bucket (name, value, hash, links) plus its index slot, and the allocations.
        (maps * 112 + self.envelope.generations.len() * 8 + 256) as u64
    }
}

impl HitHead {
    /// The head for `envelope`, or `None` when its hits need more than a clone: a compressed
    /// body (whose representation depends on the client), or stored headers the cache also
    /// sets for itself (an envelope this crate did not write).
    fn new(envelope: &mut Envelope) -> Option<Self> {
        if envelope.compressed
            || [header::AGE, X_CACHE, CACHE_STATUS]
                .iter()
                .any(|name| envelope.headers.contains_key(name))
        {
            return None;
        }
        let mut headers = HeaderMap::with_capacity(envelope.headers.len() + 4);
        for (name, value) in &envelope.headers {
            headers.append(name.clone(), value.clone());
        }
        envelope.headers = HeaderMap::new();
        let etag = match headers.get(header::ETAG) {
            Some(etag) => etag.clone(),
            None => {
                let etag = etag_header(&envelope.etag, false);
                headers.insert(header::ETAG, etag.clone());
                etag
            }
        };
        headers.insert(
            header::CONTENT_LENGTH,
            HeaderValue::from(envelope.body.len()),
        );
        headers.insert(header::AGE, PLACEHOLDER);
        headers.insert(X_CACHE, HIT);
        headers.insert(CACHE_STATUS, PLACEHOLDER);
        let len = headers.len();
        Some(Self { headers, etag, len })
    }
}
