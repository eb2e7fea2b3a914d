//! The origin-driven mode ([`CacheLayerBuilder::origin_driven`](crate::CacheLayerBuilder::origin_driven)):
//! the layer acts as an RFC 9111 shared cache in front of a service it does not own. The
//! response decides what is stored and for how long; stale entries are validated with a
//! conditional request and updated from a `304`; `Vary` selects among stored variants;
//! unsafe methods invalidate.
//!
//! Single flight and the store's in-process hit fast path are not used in this mode: each
//! request reads the store and judges the entry against its own directives.

mod entries;
mod respond;
mod rules;

use std::sync::Arc;

use http::header::{self, HeaderMap};
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use tower_service::Service;

use crate::body::CacheBody;
use crate::buffer::buffer_body;
use crate::config::Config;
use crate::envelope::{Envelope, etag_of};
use crate::handle::{CacheHandle, Counters};
use crate::headers::{HIT, MISS, STALE};
use crate::key::Scope;
use crate::miss::lookup_namespaces;
use crate::store::now_ms;

use entries::{
    Stored, VARIANT, hex_value, lookup, refreshed, stale_if_error, store, variant_key, windows,
};
use respond::{Conditional, label, serve, serve_stale_as, status_value};
use rules::{RequestDirectives, ResponseDirectives};

/// A GET or HEAD request in the origin-driven mode.
pub(crate) async fn run<S, B, ResBody>(
    config: Arc<Config>,
    handle: CacheHandle,
    inner: S,
    req: Request<B>,
) -> Result<Response<CacheBody<ResBody>>, S::Error>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    ResBody: Body + Send + 'static,
    ResBody::Data: Send,
    ResBody::Error: Send + 'static,
{
    let shared = &*handle.shared;
    let counters = &shared.counters;
    let directives = RequestDirectives::parse(req.headers());
    let key = config.keys.key_inline(&req, None).into_string();
    let scope = config.keys.scope(&req);
    let namespaces = lookup_namespaces(&config, None, Some(&scope));
    let found = lookup(shared, &key, &namespaces, req.headers()).await;
    let authorized = req.headers().contains_key(header::AUTHORIZATION);
    let conditional = Conditional::of(req.headers());
    let head = req.method() == Method::HEAD;

    let mut stale = None;
    if let Some(stored) = found {
        let now = now_ms();
        let cc = ResponseDirectives::parse(&stored.envelope.headers, &config.targets);
        let age_ms = now.saturating_sub(stored.envelope.stored_at_ms);
        let lifetime_ms = stored.envelope.ttl_ms;
        let fresh = age_ms < lifetime_ms;
        // RFC 9111 §3.5: a response to an authenticated request is shared only when it says so.
        let may_share = !authorized || cc.public || cc.must_revalidate || cc.s_maxage.is_some();
        let validate = cc.no_cache || directives.no_cache || !may_share;
        let acceptable_age = directives
            .max_age
            .is_none_or(|max| age_ms < max.saturating_add(1).saturating_mul(1000));
        let fresh_enough = directives
            .min_fresh
            .is_none_or(|min| lifetime_ms.saturating_sub(age_ms) >= min.saturating_mul(1000));
        if !validate && fresh && acceptable_age && fresh_enough {
            Counters::add(&counters.hits, 1);
            return Ok(serve(
                &config,
                stored.envelope,
                age_ms,
                &conditional,
                head,
                HIT,
                "hit",
            ));
        }
        let over_ms = age_ms.saturating_sub(lifetime_ms);
        // `s-maxage` carries `proxy-revalidate` for a shared cache (RFC 9111 §5.2.2.10).
        let may_go_stale = !validate && !cc.must_revalidate && cc.s_maxage.is_none();
        let stale_allowed = !fresh
            && may_go_stale
            && acceptable_age
            && directives
                .max_stale
                .is_some_and(|max| max.is_none_or(|m| over_ms <= m.saturating_mul(1000)));
        if stale_allowed {
            Counters::add(&counters.stale_hits, 1);
            let status = "hit; detail=max-stale";
            return Ok(serve(
                &config,
                stored.envelope,
                age_ms,
                &conditional,
                head,
                STALE,
                status,
            ));
        }
        // RFC 5861: within its stale-while-revalidate window, the entry answers while one
        // background request validates it.
        let revalidate_in_background = !fresh
            && may_go_stale
            && acceptable_age
            && over_ms < stored.envelope.stale_while_revalidate_ms;
        if revalidate_in_background {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                Counters::add(&counters.stale_hits, 1);
                let response = serve(
                    &config,
                    stored.envelope.clone(),
                    age_ms,
                    &conditional,
                    head,
                    STALE,
                    "hit; detail=stale-while-revalidate",
                );
                // One validation at a time per key; requests meanwhile get the stale entry.
                if let Some(leader) = shared.flights.try_lead(&key) {
                    Counters::add(&counters.misses, 1);
                    // The background validation is a plain GET, whatever this request was.
                    let mut background = req;
                    *background.method_mut() = Method::GET;
                    let task = forward(Forward {
                        config: Arc::clone(&config),
                        handle: handle.clone(),
                        inner,
                        req: background,
                        stale: Some(stored),
                        may_go_stale: false,
                        directives: RequestDirectives::default(),
                        conditional: Conditional::none(),
                        head: false,
                        key,
                        scope,
                    });
                    runtime.spawn(async move {
                        let _ = task.await;
                        drop(leader);
                    });
                }
                return Ok(response);
            }
        }
        stale = Some((stored, may_go_stale));
    }
    let stale_permitted = stale.as_ref().is_some_and(|(_, permitted)| *permitted);
    if directives.only_if_cached {
        // RFC 9111 §5.2.1.7: nothing stored that may answer.
        let mut response = Response::new(CacheBody::empty());
        *response.status_mut() = StatusCode::GATEWAY_TIMEOUT;
        return Ok(label(
            response,
            MISS,
            status_value(&config, "fwd=miss; detail=only-if-cached"),
        ));
    }

    Counters::add(&counters.misses, 1);
    forward(Forward {
        config,
        handle: handle.clone(),
        inner,
        req,
        stale: stale.map(|(stored, _)| stored),
        may_go_stale: stale_permitted,
        directives,
        conditional,
        head,
        key,
        scope,
    })
    .await
}

/// A request the stored entries could not answer, on its way to the origin.
struct Forward<S, B> {
    config: Arc<Config>,
    handle: CacheHandle,
    inner: S,
    req: Request<B>,
    /// The stale entry, validated with this request when it has a validator.
    stale: Option<Stored>,
    /// Whether the stale entry may answer if the origin cannot be reached.
    may_go_stale: bool,
    directives: RequestDirectives,
    conditional: Conditional,
    head: bool,
    key: String,
    scope: Scope,
}

/// Sends the request (conditional when a stale entry has validators), updates the entry from
/// a `304`, stores a storable response, or serves the stale entry when the origin fails and
/// that is allowed.
async fn forward<S, B, ResBody>(
    forward: Forward<S, B>,
) -> Result<Response<CacheBody<ResBody>>, S::Error>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    ResBody: Body + Send + 'static,
    ResBody::Data: Send,
    ResBody::Error: Send + 'static,
{
    let Forward {
        config,
        handle,
        mut inner,
        mut req,
        mut stale,
        may_go_stale,
        directives,
        conditional,
        head,
        key,
        scope,
    } = forward;
    let shared = &*handle.shared;
    let counters = &shared.counters;
    let validating = match &stale {
        Some(stored) => add_validators(&mut req, &stored.envelope.headers),
        None => false,
    };
    let method = req.method().clone();
    let request_headers = req.headers().clone();
    let request_ms = now_ms();
    let response = match inner.call(req).await {
        Ok(response) => response,
        Err(error) => {
            // RFC 9111 §4.2.4: a cache that cannot reach the origin may serve stale, unless
            // the response or the request forbade it.
            return match stale.filter(|_| may_go_stale) {
                Some(stored) => Ok(serve_stale_as(
                    &config,
                    stored,
                    &conditional,
                    head,
                    "stale-if-disconnected",
                )),
                None => Err(error),
            };
        }
    };
    let response_ms = now_ms();
    if response.status().is_server_error() {
        if let Some(stored) =
            stale.take_if(|s| may_go_stale && stale_if_error(&s.envelope, response_ms))
        {
            return Ok(serve_stale_as(
                &config,
                stored,
                &conditional,
                head,
                "stale-if-error",
            ));
        }
    }
    if validating && response.status() == StatusCode::NOT_MODIFIED {
        if let Some(stored) = stale {
            let (parts, _) = response.into_parts();
            let updated = refreshed(&config, stored, &parts.headers, request_ms, response_ms);
            let envelope = updated.envelope.clone();
            store(&config, shared, &updated, &scope).await;
            let age_ms = now_ms().saturating_sub(envelope.stored_at_ms);
            return Ok(serve(
                &config,
                envelope,
                age_ms,
                &conditional,
                head,
                HIT,
                "fwd=stale; fwd-status=304",
            ));
        }
    }
    let fwd = if stale.is_some() {
        "fwd=stale"
    } else {
        "fwd=uri-miss"
    };
    let response_directives = ResponseDirectives::parse(response.headers(), &config.targets);
    let keep = !head
        && rules::storable(
            &method,
            &directives,
            &request_headers,
            response.status(),
            response.headers(),
            &response_directives,
        );
    if !keep {
        if response.status().is_success() && !head && method == Method::GET {
            // A response that may not be kept replaces nothing: drop what it supersedes.
            if let Some(stored) = &stale {
                if let Err(error) = shared.store.delete(&stored.key).await {
                    counters.store_error(&error);
                }
            }
        }
        return Ok(label(
            response.map(CacheBody::inner),
            MISS,
            status_value(&config, fwd),
        ));
    }
    let (parts, body) = response.into_parts();
    let plain = match buffer_body(config.max_body, &parts.headers, body).await {
        Ok(plain) => plain,
        Err(body) => {
            let response = Response::from_parts(parts, body);
            return Ok(label(response, MISS, status_value(&config, fwd)));
        }
    };
    let timing = rules::timing(
        parts.status,
        &parts.headers,
        &response_directives,
        request_ms,
        response_ms,
    );
    let mut headers = rules::stored_headers(&parts.headers);
    let variant_key = match rules::vary_names(&headers) {
        Some(names) if !names.is_empty() => {
            let digest = rules::variant_digest(&names, &request_headers);
            headers.insert(VARIANT, hex_value(&digest));
            Some(variant_key(&key, &digest))
        }
        _ => None,
    };
    let (swr, sie) = windows(&response_directives);
    let envelope = Envelope {
        status: parts.status,
        headers,
        etag: etag_of(&plain),
        plain_len: plain.len() as u64,
        body: plain.clone(),
        compressed: false,
        stored_at_ms: timing.born_ms,
        ttl_ms: timing.lifetime_ms,
        stale_while_revalidate_ms: swr,
        stale_if_error_ms: sie,
        generations: Vec::new(),
    };
    let mut entry = Stored {
        key: key.clone(),
        envelope,
    };
    let stored = store(&config, shared, &entry, &scope).await;
    if let Some(variant_key) = variant_key {
        entry.key = variant_key;
        store(&config, shared, &entry, &scope).await;
    }
    let status = if stored {
        format!("{fwd}; stored")
    } else {
        fwd.to_owned()
    };
    let response = Response::from_parts(parts, CacheBody::full(plain));
    Ok(label(response, MISS, status_value(&config, &status)))
}
/// Puts the stored entry's validators on the request (replacing the client's own, which the
/// cache answers itself); `false` when the entry has none.
fn add_validators<B>(req: &mut Request<B>, stored: &HeaderMap) -> bool {
    let etag = stored.get(header::ETAG).cloned();
    let modified = stored.get(header::LAST_MODIFIED).cloned();
    if etag.is_none() && modified.is_none() {
        return false;
    }
    let headers = req.headers_mut();
    for name in [
        header::IF_NONE_MATCH,
        header::IF_MODIFIED_SINCE,
        header::IF_MATCH,
        header::IF_UNMODIFIED_SINCE,
        header::IF_RANGE,
        header::RANGE,
    ] {
        headers.remove(name);
    }
    if let Some(etag) = etag {
        headers.insert(header::IF_NONE_MATCH, etag);
    }
    if let Some(modified) = modified {
        headers.insert(header::IF_MODIFIED_SINCE, modified);
    }
    true
}
