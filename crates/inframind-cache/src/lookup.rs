//! The hit stage: what an entry found in the store is worth to a request.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::header::{self, HeaderMap};
use http::{Response, StatusCode};
use http_body::Body;

use crate::body::CacheBody;
use crate::entry::Cached;
use crate::envelope::{Envelope, etag_of};
use crate::headers::{CACHE_STATUS, small_number};
use crate::layer::Config;
use crate::policy;
use crate::prepared::Prepared;
use crate::respond::{Label, RequestCtx, fresh_status, respond};

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

/// Decodes and judges an entry read from a store. The body is checked against its ETag (the
/// blake3 of the plain body): bytes from outside the process may have been altered, and one
/// hash is cheap beside the round trip that fetched them.
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
    let age = now.saturating_sub(envelope.stored_at_ms);
    let ttl = envelope.ttl_ms;
    let fresh = age < ttl;
    let revalidate = !fresh && age < ttl.saturating_add(envelope.stale_while_revalidate_ms);
    if !fresh && !revalidate && age >= ttl.saturating_add(envelope.stale_if_error_ms) {
        return Found::Expired;
    }
    let plain = match envelope.plain_body() {
        Ok(plain) if etag_of(&plain) == envelope.etag => plain,
        _ => return Found::Corrupt,
    };
    let cached = Cached {
        envelope,
        plain: Some(plain),
    };
    if fresh {
        Found::Fresh(cached)
    } else if revalidate {
        Found::Revalidate(cached)
    } else {
        Found::IfError(cached)
    }
}

/// A fresh hit found in the in-process store's decoded entries.
pub(crate) enum PreparedHit<B: Body> {
    /// Answered by cloning the prepared head.
    Served(Response<CacheBody<B>>),
    /// A compressed entry (or one written by someone else): its envelope, to be served by
    /// [`respond`] once the store's lock is released (it may need decompressing).
    Envelope(Box<Envelope>),
}

/// A fresh hit from an entry the in-process store keeps decoded, or `None` when it is not
/// fresh under the current generations, or the request needs more than a clone (the ordinary
/// lookup then decides). Runs under the store's shard lock: it clones, never decompresses.
pub(crate) fn prepared_hit<B: Body>(
    config: &Config,
    (cells, scope): (&[Arc<AtomicU64>], Option<u64>),
    entry: &Prepared,
    request: &HeaderMap,
    head_only: bool,
    now: u64,
) -> Option<PreparedHit<B>> {
    let envelope = &entry.envelope;
    let recorded = &envelope.generations;
    if recorded.len() != cells.len() + usize::from(scope.is_some())
        || recorded
            .iter()
            .zip(cells)
            .any(|(generation, cell)| *generation != cell.load(Ordering::Acquire))
        || scope.is_some_and(|scope| recorded.last() != Some(&scope))
    {
        return None;
    }
    let age_ms = now.saturating_sub(envelope.stored_at_ms);
    if age_ms >= envelope.ttl_ms {
        return None;
    }
    let Some(head) = &entry.hit else {
        return Some(PreparedHit::Envelope(Box::new(envelope.clone())));
    };
    let if_none_match = request.get(header::IF_NONE_MATCH);
    if if_none_match.is_none() && request.contains_key(header::IF_MODIFIED_SINCE) {
        // A date to compare: the ordinary path does it.
        return None;
    }
    let mut headers = head.headers.clone();
    let age = small_number(age_ms / 1000);
    let status = fresh_status(config, (envelope.ttl_ms - age_ms) / 1000);
    // The head ends with its Age, X-Cache and Cache-Status slots: overwritten in place,
    // without hashing their names again.
    let mut slots = headers.iter_mut().skip(head.len - 3);
    match (slots.next(), slots.next(), slots.next()) {
        (Some((a, age_slot)), Some(_), Some((c, status_slot)))
            if *a == header::AGE && *c == CACHE_STATUS =>
        {
            *age_slot = age;
            *status_slot = status;
        }
        _ => {
            headers.insert(header::AGE, age);
            headers.insert(CACHE_STATUS, status);
        }
    }
    let not_modified = envelope.status == StatusCode::OK
        && if_none_match.is_some_and(|inm| policy::none_match(inm, head.etag.as_bytes()));
    let (status, body) = if not_modified {
        headers.remove(header::CONTENT_LENGTH);
        (StatusCode::NOT_MODIFIED, CacheBody::empty())
    } else if head_only {
        (envelope.status, CacheBody::empty())
    } else {
        (envelope.status, CacheBody::full(envelope.body.clone()))
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Some(PreparedHit::Served(response))
}

/// Serves a fresh entry that needs more than a clone (see [`PreparedHit::Envelope`]); `None`
/// when its body does not decompress (the ordinary lookup then finds it corrupt).
pub(crate) fn envelope_hit<B: Body>(
    config: &Config,
    envelope: Envelope,
    ctx: &RequestCtx,
    now: u64,
) -> Option<Response<CacheBody<B>>> {
    let plain = if envelope.compressed && ctx.accepts_zstd {
        None
    } else {
        Some(envelope.plain_body().ok()?)
    };
    let cached = Cached { envelope, plain };
    Some(respond(config, cached, ctx, Label::Hit, now))
}
