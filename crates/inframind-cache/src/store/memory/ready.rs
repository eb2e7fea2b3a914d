//! The ready-made hit: a fresh entry answered by cloning its prepared head.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::{Response, StatusCode, header};

use super::MemoryStore;
use crate::headers::{CACHE_STATUS, small_number};
use crate::policy;
use crate::store::HitRequest;

impl MemoryStore {
    /// A fresh hit from the decoded entry under `hit.key`, when it can be served by cloning
    /// its head (see [`Store::ready_hit`]).
    pub(super) fn serve_ready(
        &self,
        hit: &HitRequest<'_>,
        cells: &[Arc<AtomicU64>],
    ) -> Option<Response<Bytes>> {
        let if_none_match = hit.headers.get(header::IF_NONE_MATCH);
        if if_none_match.is_none() && hit.headers.contains_key(header::IF_MODIFIED_SINCE) {
            // A date to compare: the ordinary path does it.
            return None;
        }
        // A path scope that does not exist was dropped: nothing under it is served.
        let scope = match hit.scope {
            Some(scope) => Some(self.scope_generation_now(scope, hit.now_ms)?),
            None => None,
        };
        let now = hit.now_ms;
        // Under the shard's read lock: the checks, and cloning the head and body.
        let (mut headers, body, status, not_modified, slots_from, ttl_left, age_ms) = self
            .with_live(hit.key, now, |slot| {
                let entry = slot.prepared.as_ref()?;
                let envelope = &entry.envelope;
                // A compressed entry has a head per representation; zstd clients get the
                // stored bytes, the others the body decompressed when it was stored.
                let (head, body) = match (&entry.zstd_hit, &entry.plain) {
                    (Some(zstd), _) if policy::accepts_zstd(hit.headers) => (zstd, &envelope.body),
                    (_, Some(plain)) => (entry.hit.as_ref()?, plain),
                    _ => (entry.hit.as_ref()?, &envelope.body),
                };
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
                let not_modified = envelope.status == StatusCode::OK
                    && if_none_match
                        .is_some_and(|inm| policy::none_match(inm, head.etag.as_bytes()));
                Some((
                    head.headers.clone(),
                    body.clone(),
                    envelope.status,
                    not_modified,
                    head.len - 3,
                    (envelope.ttl_ms - age_ms) / 1000,
                    age_ms,
                ))
            })?;

        let age = small_number(age_ms / 1000);
        let cache_status = hit.fresh_cache_status(ttl_left);
        // The head ends with its Age, X-Cache and Cache-Status slots: overwritten in place,
        // without hashing their names again.
        let mut slots = headers.iter_mut().skip(slots_from);
        match (slots.next(), slots.next(), slots.next()) {
            (Some((a, age_slot)), Some(_), Some((c, status_slot)))
                if *a == header::AGE && *c == CACHE_STATUS =>
            {
                *age_slot = age;
                *status_slot = cache_status;
            }
            _ => {
                headers.insert(header::AGE, age);
                headers.insert(CACHE_STATUS, cache_status);
            }
        }
        let (status, body) = if not_modified {
            headers.remove(header::CONTENT_LENGTH);
            (StatusCode::NOT_MODIFIED, Bytes::new())
        } else if hit.head_only {
            (status, Bytes::new())
        } else {
            (status, body)
        };
        let mut response = Response::new(body);
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        Some(response)
    }
}
