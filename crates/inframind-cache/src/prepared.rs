//! Entries the in-process store keeps decoded, so a hit clones a response head instead of
//! parsing an envelope.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};

use crate::envelope::{Envelope, zstd_checksummed};
use crate::headers::{ACCEPT_ENCODING, CACHE_STATUS, X_CACHE, ZSTD, etag_header};

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
    /// The head of a fresh hit, when the entry can be served by cloning it: for a compressed
    /// entry, the head of its identity representation (body `plain`).
    pub(crate) hit: Option<HitHead>,
    /// A compressed entry: the head of its zstd representation (body `envelope.body`), for
    /// clients that accept zstd.
    pub(crate) zstd_hit: Option<HitHead>,
    /// A compressed entry's body, decompressed once when it was stored, so an identity client's
    /// hit does not decompress.
    pub(crate) plain: Option<Bytes>,
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
        let envelope = Envelope::decode(bytes).ok()?;
        Some(Self::prepare(envelope))
    }

    /// The heads of `envelope`'s hits (and its plain body, when compressed).
    fn prepare(mut envelope: Envelope) -> Self {
        if [header::AGE, X_CACHE, CACHE_STATUS]
            .iter()
            .any(|name| envelope.headers.contains_key(name))
        {
            // Stored headers the cache also sets for itself (an envelope this crate did not
            // write): the ordinary path answers.
            return Self {
                envelope,
                hit: None,
                zstd_hit: None,
                plain: None,
            };
        }
        if !envelope.compressed {
            let hit = HitHead::new(&envelope, envelope.body.len(), false);
            envelope.headers = HeaderMap::new();
            return Self {
                envelope,
                hit: Some(hit),
                zstd_hit: None,
                plain: None,
            };
        }
        // Checked as the ordinary lookup checks it: the frame's own checksum.
        let plain = zstd_checksummed(&envelope.body)
            .then(|| envelope.plain_body().ok())
            .flatten();
        let (hit, zstd_hit) = match &plain {
            Some(plain) => (
                Some(HitHead::new(&envelope, plain.len(), false)),
                Some(HitHead::new(&envelope, envelope.body.len(), true)),
            ),
            None => (None, None),
        };
        Self {
            envelope,
            hit,
            zstd_hit,
            plain,
        }
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
        Self::prepare(envelope)
    }

    /// Approximate heap bytes beyond the encoded value (whose buffer the body and header values
    /// share), charged to the store's byte bound.
    pub(crate) fn heap_size(&self) -> u64 {
        let maps = self.envelope.headers.capacity()
            + self.hit.as_ref().map_or(0, |hit| hit.headers.capacity())
            + self
                .zstd_hit
                .as_ref()
                .map_or(0, |hit| hit.headers.capacity());
        let plain = self.plain.as_ref().map_or(0, Bytes::len);
        // A map bucket (name, value, hash, links) plus its index slot, and the allocations.
        (maps * 112 + self.envelope.generations.len() * 8 + plain + 256) as u64
    }
}

impl HitHead {
    /// The head of a hit on `envelope` whose body is `body_len` bytes: the stored headers,
    /// for a compressed entry `Content-Encoding: zstd` when `raw_zstd` and
    /// `Vary: accept-encoding`, the `ETag` (the zstd representation's own when the tag is
    /// ours), `Content-Length`, then the per-hit slots. As `respond` builds it.
    fn new(envelope: &Envelope, body_len: usize, raw_zstd: bool) -> Self {
        let mut headers = HeaderMap::with_capacity(envelope.headers.len() + 6);
        for (name, value) in &envelope.headers {
            headers.append(name.clone(), value.clone());
        }
        if raw_zstd {
            headers.insert(header::CONTENT_ENCODING, ZSTD);
        }
        if envelope.compressed {
            headers.append(header::VARY, ACCEPT_ENCODING);
        }
        let etag = match headers.get(header::ETAG) {
            Some(tag) if raw_zstd && *tag == etag_header(&envelope.etag, false) => {
                let etag = etag_header(&envelope.etag, true);
                headers.insert(header::ETAG, etag.clone());
                etag
            }
            Some(etag) => etag.clone(),
            None => {
                let etag = etag_header(&envelope.etag, raw_zstd);
                headers.insert(header::ETAG, etag.clone());
                etag
            }
        };
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body_len));
        headers.insert(header::AGE, PLACEHOLDER);
        headers.insert(X_CACHE, HIT);
        headers.insert(CACHE_STATUS, PLACEHOLDER);
        let len = headers.len();
        Self { headers, etag, len }
    }
}
