//! The origin-driven mode's entries: reading the variant a request selects, writing an entry
//! under current generations, buffering a body to keep, and refreshing an entry from a `304`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::config::Config;
use crate::envelope::{Envelope, etag_of};
use crate::handle::{Counters, Shared};
use crate::key::Scope;
use crate::miss::{current_generations, scope_unchanged};
use crate::store::{PutOutcome, now_ms};

use super::rules::{self, ResponseDirectives};

/// How long the store keeps an entry past its freshness (and stale windows): to validate it
/// with a conditional request, for `max-stale`, and to answer when the origin cannot be
/// reached.
pub(super) const STALE_RETENTION: Duration = Duration::from_secs(60 * 60);

/// The stored header that records which variant (the request header values its `Vary`
/// names) an entry answers; never sent to clients.
pub(super) const VARIANT: HeaderName = HeaderName::from_static("x-inframind-variant");

/// An entry read from the store, with the key it lives under.
pub(super) struct Stored {
    pub(super) key: String,
    pub(super) envelope: Envelope,
}

/// The entry for this request, if any: the one under its key when that variant matches the
/// request's headers, else the variant its `Vary` selects.
pub(super) async fn lookup(
    shared: &Shared,
    key: &str,
    namespaces: &[Arc<str>],
    request: &HeaderMap,
) -> Option<Stored> {
    let primary = read(shared, key, namespaces).await?;
    let names = rules::vary_names(&primary.headers)?;
    if names.is_empty() {
        return Some(Stored {
            key: key.to_owned(),
            envelope: primary,
        });
    }
    let digest = rules::variant_digest(&names, request);
    if primary.headers.get(VARIANT) == Some(&hex_value(&digest)) {
        return Some(Stored {
            key: key.to_owned(),
            envelope: primary,
        });
    }
    let key = variant_key(key, &digest);
    let envelope = read(shared, &key, namespaces).await?;
    let names = rules::vary_names(&envelope.headers)?;
    let digest = rules::variant_digest(&names, request);
    (envelope.headers.get(VARIANT) == Some(&hex_value(&digest))).then_some(Stored { key, envelope })
}

/// The valid entry under `key`; a corrupt one is deleted.
async fn read(shared: &Shared, key: &str, namespaces: &[Arc<str>]) -> Option<Envelope> {
    let counters = &shared.counters;
    let lookup = match counters
        .get_latency
        .time(shared.store.get(key, namespaces))
        .await
    {
        Ok(lookup) => lookup,
        Err(error) => {
            counters.store_error(&error);
            return None;
        }
    };
    let value = lookup.value?;
    let generations = lookup.generations?;
    match Envelope::decode_expecting(&value, &generations) {
        Ok(Some(envelope)) => {
            let plain = envelope.plain_body().ok()?;
            if etag_of(&plain) != envelope.etag {
                Counters::add(&counters.corrupt_entries, 1);
                return None;
            }
            Some(Envelope {
                body: plain,
                compressed: false,
                ..envelope
            })
        }
        Ok(None) => None,
        Err(_) => {
            Counters::add(&counters.corrupt_entries, 1);
            if let Err(error) = shared.store.delete(key).await {
                counters.store_error(&error);
            }
            None
        }
    }
}

/// The key of the variant `digest` names, beside the primary key (same namespace).
pub(super) fn variant_key(key: &str, digest: &[u8; 32]) -> String {
    let namespace = key.rsplit_once(':').map_or(key, |(namespace, _)| namespace);
    let mut hasher = blake3::Hasher::new();
    hasher.update(key.as_bytes());
    hasher.update(digest);
    format!("{namespace}:{}", hasher.finalize().to_hex())
}

pub(super) fn hex_value(digest: &[u8; 32]) -> HeaderValue {
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    HeaderValue::try_from(hex).unwrap_or(HeaderValue::from_static("0"))
}

/// RFC 5861's windows from the response's own directives (closed by `must-revalidate`).
pub(super) fn windows(directives: &ResponseDirectives) -> (u64, u64) {
    if directives.must_revalidate || directives.no_cache {
        return (0, 0);
    }
    let ms = |s: Option<u64>| s.unwrap_or(0).saturating_mul(1000);
    (
        ms(directives.stale_while_revalidate),
        ms(directives.stale_if_error),
    )
}

/// Whether a stale entry may answer in place of an origin that failed.
/// Whether a stale entry is within its `stale-if-error` window.
pub(super) fn stale_if_error(envelope: &Envelope, now: u64) -> bool {
    let age = now.saturating_sub(envelope.stored_at_ms);
    age < envelope.ttl_ms.saturating_add(envelope.stale_if_error_ms)
}

/// The stored entry, its headers updated from a `304` and its age and freshness recomputed
/// from the validation's timing.
pub(super) fn refreshed(
    config: &Config,
    stored: Stored,
    not_modified: &HeaderMap,
    request_ms: u64,
    response_ms: u64,
) -> Stored {
    let Stored { key, mut envelope } = stored;
    rules::update_from_304(&mut envelope.headers, not_modified);
    let mut timed = envelope.headers.clone();
    timed.remove(header::AGE);
    if let Some(age) = not_modified.get(header::AGE) {
        timed.insert(header::AGE, age.clone());
    }
    let directives = ResponseDirectives::parse(&envelope.headers, &config.targets);
    let timing = rules::timing(
        envelope.status,
        &timed,
        &directives,
        request_ms,
        response_ms,
    );
    let (swr, sie) = windows(&directives);
    envelope.stored_at_ms = timing.born_ms;
    envelope.ttl_ms = timing.lifetime_ms;
    envelope.stale_while_revalidate_ms = swr;
    envelope.stale_if_error_ms = sie;
    Stored { key, envelope }
}

/// Writes an entry under the current generations of its namespaces and path scope; whether
/// it was stored. Failures are counted, never surfaced.
pub(super) async fn store(config: &Config, shared: &Shared, entry: &Stored, scope: &Scope) -> bool {
    let Some(generations) = current_generations(config, shared, None, Some(scope)).await else {
        return false;
    };
    let mut envelope = entry.envelope.clone();
    envelope.generations = generations;
    let directives = ResponseDirectives::parse(&envelope.headers, &config.targets);
    if (directives.no_store && !directives.must_understand) || directives.private {
        // A 304 may turn an entry unstorable.
        if let Err(error) = shared.store.delete(&entry.key).await {
            shared.counters.store_error(&error);
        }
        return false;
    }
    let now = now_ms();
    let left = envelope
        .stored_at_ms
        .saturating_add(envelope.ttl_ms)
        .saturating_add(
            envelope
                .stale_while_revalidate_ms
                .max(envelope.stale_if_error_ms),
        )
        .saturating_sub(now);
    let keep_ms = left.saturating_add(STALE_RETENTION.as_millis() as u64);
    if keep_ms == 0 {
        return false;
    }
    if !scope_unchanged(shared, Some(scope), &envelope.generations, &envelope).await {
        return false;
    }
    if let Some(threshold) = config.compress_above {
        let already_encoded = envelope.headers.contains_key(header::CONTENT_ENCODING);
        if envelope.body.len() >= threshold && !already_encoded {
            if let Ok(packed) = crate::envelope::compress(&envelope.body, config.compression_level)
            {
                if packed.len() < envelope.body.len() {
                    envelope.body = Bytes::from(packed);
                    envelope.compressed = true;
                }
            }
        }
    }
    let bytes = envelope.encode();
    let len = bytes.len() as u64;
    let put = shared
        .store
        .put_entry(&entry.key, bytes, &envelope, Duration::from_millis(keep_ms));
    match shared.counters.put_latency.time(put).await {
        Ok(PutOutcome::Stored) => {
            Counters::add(&shared.counters.bytes_stored, len);
            true
        }
        Ok(_) => false,
        Err(error) => {
            shared.counters.store_error(&error);
            false
        }
    }
}
