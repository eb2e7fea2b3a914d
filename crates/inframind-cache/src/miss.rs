//! The miss and fill stage: the store lookup that needs a round trip, single flight, the fill
//! that calls the inner service, and stale serving.

use std::sync::Arc;

use http::{HeaderMap, Method, Request, Response, header};
use http_body::Body;
use tower_service::Service;

use crate::body::CacheBody;
use crate::buffer::{Fetched, fetch};
use crate::config::Config;
use crate::entry::Cached;
use crate::envelope::Envelope;
use crate::flight::{self, Join, Leader, Outcome};
use crate::handle::{CacheHandle, Counters, Shared};
use crate::headers::{Fwd, Storing};
use crate::key::Scope;
use crate::lookup::{Found, evaluate_lookup};
use crate::respond::{Label, RequestCtx, forwarded, respond};
use crate::store::{PutOutcome, now_ms};

/// Everything a cacheable request carries into the miss stage.
pub(crate) struct Miss<S, B> {
    pub(crate) config: Arc<Config>,
    pub(crate) handle: CacheHandle,
    pub(crate) inner: S,
    pub(crate) req: Request<B>,
    pub(crate) key: String,
    pub(crate) ctx: RequestCtx,
    /// An entry past its TTL that may still answer if the inner service fails.
    pub(crate) fallback: Option<Cached>,
    pub(crate) fwd: Fwd,
    /// The generations this request's own lookup saw (`None` before it, or when the store
    /// gave none): a flight computed under other generations began before a write this
    /// request must see, and is not joined.
    pub(crate) seen: Option<Vec<u64>>,
    /// The request's path scope, when the layer invalidates on unsafe requests.
    pub(crate) scope: Option<Scope>,
    /// What a lookup reads generations of: the request's namespaces, then the scope.
    pub(crate) namespaces: Arc<[Arc<str>]>,
    /// The namespaces derived from the request's path, when the layer derives them.
    pub(crate) derived: Option<Arc<[Arc<str>]>>,
}

/// The request's namespaces (`derived`, else the layer's) followed by `scope`: what a lookup
/// reads generations of.
pub(crate) fn lookup_namespaces(
    config: &Config,
    derived: Option<&Arc<[Arc<str>]>>,
    scope: Option<&Scope>,
) -> Arc<[Arc<str>]> {
    let own = derived.unwrap_or(&config.namespaces);
    match scope {
        None => Arc::clone(own),
        Some(scope) => own
            .iter()
            .cloned()
            .chain(std::iter::once(Arc::from(scope.as_str())))
            .collect(),
    }
}

/// The current generations of the request's namespaces (`derived`, else the layer's) and of
/// `scope` (created to live for the layer's entries), for a fill whose lookup did not give
/// them.
pub(crate) async fn current_generations(
    config: &Config,
    shared: &Shared,
    derived: Option<&[Arc<str>]>,
    scope: Option<&Scope>,
) -> Option<Vec<u64>> {
    let own = derived.unwrap_or(&config.namespaces);
    let mut generations = match shared.store.generations(own).await {
        Ok(generations) => generations,
        Err(error) => {
            shared.counters.store_error(&error);
            return None;
        }
    };
    if let Some(scope) = scope {
        match shared
            .store
            .scope_generation(scope.as_str(), config.lifetime())
            .await
        {
            Ok(generation) => generations.push(generation),
            Err(error) => {
                shared.counters.store_error(&error);
                return None;
            }
        }
    }
    Some(generations)
}

/// Whether `envelope`, computed under `generations`, may still be stored: its path scope
/// was not dropped while it was computed (an unsafe request in between), and is kept for as
/// long as the entry.
pub(crate) async fn scope_unchanged(
    shared: &Shared,
    scope: Option<&Scope>,
    generations: &[u64],
    envelope: &Envelope,
) -> bool {
    let Some(scope) = scope else {
        return true;
    };
    match shared
        .store
        .scope_generation(scope.as_str(), entry_lifetime(envelope))
        .await
    {
        Ok(generation) => generations.last() == Some(&generation),
        Err(error) => {
            shared.counters.store_error(&error);
            false
        }
    }
}

/// How long the store keeps an entry: its freshness plus the longer stale window.
fn entry_lifetime(envelope: &Envelope) -> std::time::Duration {
    std::time::Duration::from_millis(
        envelope.ttl_ms.saturating_add(
            envelope
                .stale_while_revalidate_ms
                .max(envelope.stale_if_error_ms),
        ),
    )
}

/// The lookup of a request the fast paths did not answer: a hit, a stale answer, or a miss.
/// (`miss.fallback` and `miss.fwd` are decided here.)
pub(crate) async fn run<S, B, ResBody>(
    miss: Miss<S, B>,
) -> Result<Response<CacheBody<ResBody>>, S::Error>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
    ResBody: Body + Send + 'static,
    ResBody::Data: Send,
    ResBody::Error: Send + 'static,
{
    let Miss {
        config,
        handle,
        inner,
        req,
        key,
        ctx,
        scope,
        namespaces,
        derived,
        ..
    } = miss;
    let shared = &*handle.shared;
    let counters = &shared.counters;
    let mut fallback = None;
    let mut seen = None;
    let lookup = if ctx.wants_fresh {
        None
    } else {
        Some(
            counters
                .get_latency
                .time(shared.store.get(&key, &namespaces))
                .await,
        )
    };
    let fwd = match lookup {
        None => Fwd::Request,
        Some(lookup) => match lookup {
            // Fail open, but still through single flight: an outage is when the origin most needs
            // it.
            Err(error) => {
                counters.store_error(&error);
                Fwd::StoreError
            }
            Ok(lookup) => {
                let now = now_ms();
                seen = lookup.generations.as_deref().map(<[u64]>::to_vec);
                match evaluate_lookup(&lookup, now) {
                    Found::Fresh(cached) => {
                        Counters::add(&counters.hits, 1);
                        return Ok(respond(&config, cached, &ctx, Label::Hit, now));
                    }
                    Found::Revalidate(cached) => {
                        Counters::add(&counters.stale_hits, 1);
                        spawn_revalidation(
                            Arc::clone(&config),
                            handle.clone(),
                            inner,
                            req,
                            key,
                            scope,
                            derived,
                        );
                        let label = Label::Stale("stale-while-revalidate");
                        return Ok(respond(&config, cached, &ctx, label, now));
                    }
                    Found::IfError(cached) => {
                        fallback = Some(cached);
                        Fwd::Stale
                    }
                    Found::Expired => Fwd::Stale,
                    Found::Invalidated => Fwd::Miss,
                    Found::Corrupt => {
                        tracing::debug!(key, "corrupt cache entry; deleting it");
                        Counters::add(&counters.corrupt_entries, 1);
                        if let Err(error) = shared.store.delete(&key).await {
                            counters.store_error(&error);
                        }
                        Fwd::Miss
                    }
                    Found::Absent => Fwd::UriMiss,
                }
            }
        },
    };
    // The miss path holds the inner service's future and the body being buffered: boxed
    // separately, so the hit path's future stays small.
    let miss = Miss {
        config,
        handle,
        inner,
        req,
        key,
        ctx,
        fallback,
        fwd,
        seen,
        scope,
        namespaces,
        derived,
    };
    Box::pin(join(miss)).await
}

/// Joins the key's flight: a waiter reuses the leader's response; the leader fills.
async fn join<S, B, ResBody>(miss: Miss<S, B>) -> Result<Response<CacheBody<ResBody>>, S::Error>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
    ResBody: Body + Send + 'static,
    ResBody::Data: Send,
    ResBody::Error: Send + 'static,
{
    let flights = Arc::clone(&miss.handle.shared.flights);
    let mut stale = None;
    loop {
        match flights.join_unless(&miss.key, stale.as_ref()) {
            Join::Waiter(flight) => {
                let counters = &miss.handle.shared.counters;
                let Outcome::Shared(cached) = flight::wait(Arc::clone(&flight)).await else {
                    // The leader's response was private to it, or it failed: go to the
                    // service.
                    Counters::add(&counters.misses, 1);
                    return forward(miss).await;
                };
                let current = began_under_current_generations(
                    &miss.config,
                    &miss.handle.shared,
                    miss.seen.as_deref(),
                    miss.derived.as_deref(),
                    miss.scope.as_ref(),
                    &cached,
                )
                .await;
                if !current {
                    // The flight began before a write this request follows: its answer may
                    // predate the write. Lead a new flight (or join whoever already does).
                    stale = Some(flight);
                    continue;
                }
                Counters::add(&counters.coalesced_waits, 1);
                let label = Label::Collapsed { fwd: miss.fwd };
                return Ok(respond(
                    &miss.config,
                    (*cached).clone(),
                    &miss.ctx,
                    label,
                    now_ms(),
                ));
            }
            Join::Leader(leader) => {
                // The fill runs to completion even when this request is dropped (a client
                // that hangs up): its waiters, and the next requests, get its response.
                let fill = fill(miss, leader);
                return match tokio::runtime::Handle::try_current() {
                    Ok(runtime) => match runtime.spawn(fill).await {
                        Ok(result) => result,
                        Err(error) => match error.try_into_panic() {
                            Ok(panic) => std::panic::resume_unwind(panic),
                            Err(_) => panic!("the cache's fill task was cancelled by its runtime"),
                        },
                    },
                    Err(_) => fill.await,
                };
            }
        }
    }
}

/// Whether the leader's `cached` answer was computed under the generations this waiter
/// knows as current (its own lookup's, else read now). When they cannot be read (the store
/// is down) the answer is shared: nothing could be invalidated meanwhile.
async fn began_under_current_generations(
    config: &Config,
    shared: &Shared,
    seen: Option<&[u64]>,
    derived: Option<&[Arc<str>]>,
    scope: Option<&Scope>,
    cached: &Cached,
) -> bool {
    if cached.envelope.generations.is_empty() {
        // The leader could not read generations (the store failed or timed out): its answer
        // is shared as before, so a struggling store still coalesces a stampede.
        return true;
    }
    let current = match seen {
        Some(seen) => Some(seen.to_vec()),
        None => current_generations(config, shared, derived, scope).await,
    };
    current.is_none_or(|current| current == cached.envelope.generations)
}

/// Removes what makes a request conditional or partial, and turns HEAD into GET: a fill's
/// response is shared and stored, so it must be the whole representation whoever asked.
fn unconditional<B>(req: &mut Request<B>) {
    let headers: &mut HeaderMap = req.headers_mut();
    for name in [
        header::IF_NONE_MATCH,
        header::IF_MODIFIED_SINCE,
        header::RANGE,
        header::IF_RANGE,
    ] {
        headers.remove(name);
    }
    if req.method() == Method::HEAD {
        *req.method_mut() = Method::GET;
    }
}

/// The leader's fill: look again, call the inner service with the unconditional request,
/// share the result with the waiters and store it.
async fn fill<S, B, ResBody>(
    miss: Miss<S, B>,
    leader: Leader,
) -> Result<Response<CacheBody<ResBody>>, S::Error>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
    ResBody: Body + Send + 'static,
    ResBody::Data: Send,
    ResBody::Error: Send + 'static,
{
    let Miss {
        config,
        handle,
        mut inner,
        mut req,
        key,
        ctx,
        fallback,
        fwd,
        scope,
        namespaces,
        derived,
        ..
    } = miss;
    let shared = &*handle.shared;
    let counters = &shared.counters;
    unconditional(&mut req);

    // Look again now that this request leads: a flight that finished between the first lookup
    // and joining has stored its entry by now. (Not when the store just failed, nor when the
    // request asked to skip stored entries.)
    let generations = match fwd {
        Fwd::StoreError => None,
        Fwd::Request => {
            current_generations(&config, shared, derived.as_deref(), scope.as_ref()).await
        }
        _ => match counters
            .get_latency
            .time(shared.store.get(&key, &namespaces))
            .await
        {
            Ok(lookup) => {
                let now = now_ms();
                let found = evaluate_lookup(&lookup, now);
                if let Found::Fresh(cached) = found {
                    Counters::add(&counters.hits, 1);
                    let cached = Arc::new(cached);
                    leader.publish(Outcome::Shared(Arc::clone(&cached)));
                    let cached = Arc::unwrap_or_clone(cached);
                    return Ok(respond(&config, cached, &ctx, Label::Hit, now));
                }
                match lookup.generations {
                    Some(generations) => Some(generations.to_vec()),
                    None => {
                        current_generations(&config, shared, derived.as_deref(), scope.as_ref())
                            .await
                    }
                }
            }
            Err(error) => {
                counters.store_error(&error);
                None
            }
        },
    };

    Counters::add(&counters.misses, 1);
    let response = match inner.call(req).await {
        Ok(response) => response,
        Err(error) => {
            drop(leader);
            return match fallback {
                Some(stale) => Ok(serve_stale(&config, counters, stale, &ctx)),
                None => Err(error),
            };
        }
    };
    if response.status().is_server_error() {
        if let Some(stale) = fallback {
            drop(leader);
            return Ok(serve_stale(&config, counters, stale, &ctx));
        }
    }
    match fetch(&config, response, generations.is_some()).await {
        Fetched::Complete {
            cached,
            storable,
            extensions,
        } => {
            let mut cached = cached;
            if let Some(generations) = generations {
                cached.envelope.generations = generations;
            }
            let status = cached.envelope.status;
            // Never a status a waiter did not ask for (the request was made unconditional and
            // whole, but an origin may still answer 304 or 206).
            let shareable = status != http::StatusCode::NOT_MODIFIED
                && status != http::StatusCode::PARTIAL_CONTENT;
            let cached = Arc::new(cached);
            leader.publish(if shareable {
                Outcome::Shared(Arc::clone(&cached))
            } else {
                Outcome::NotShared
            });
            let storing = if storable
                && shareable
                && scope_unchanged(
                    shared,
                    scope.as_ref(),
                    &cached.envelope.generations,
                    &cached.envelope,
                )
                .await
            {
                store_entry(shared, &key, &cached.envelope).await
            } else {
                Storing::No
            };
            // Dropping the leader after the write: a request that finds no flight finds the
            // entry.
            drop(leader);
            let cached = Arc::unwrap_or_clone(cached);
            let label = Label::Miss { fwd, storing };
            let mut response = respond(&config, cached, &ctx, label, now_ms());
            // The inner service's extensions, on the response made from its own answer.
            *response.extensions_mut() = extensions;
            Ok(response)
        }
        Fetched::PassThrough(response) => {
            leader.publish(Outcome::NotShared);
            drop(leader);
            Ok(forwarded(&config, response, fwd))
        }
    }
}

/// A waiter whose leader could not share: call the service with its own request, keep
/// nothing.
async fn forward<S, B, ResBody>(miss: Miss<S, B>) -> Result<Response<CacheBody<ResBody>>, S::Error>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    ResBody: Body,
{
    let Miss {
        config,
        handle,
        mut inner,
        req,
        ctx,
        fallback,
        fwd,
        ..
    } = miss;
    let counters = &handle.shared.counters;
    match inner.call(req).await {
        Ok(response) => {
            if response.status().is_server_error() {
                if let Some(stale) = fallback {
                    return Ok(serve_stale(&config, counters, stale, &ctx));
                }
            }
            Ok(forwarded(&config, response.map(CacheBody::inner), fwd))
        }
        Err(error) => match fallback {
            Some(stale) => Ok(serve_stale(&config, counters, stale, &ctx)),
            None => Err(error),
        },
    }
}

fn serve_stale<B: Body>(
    config: &Config,
    counters: &Counters,
    stale: Cached,
    ctx: &RequestCtx,
) -> Response<CacheBody<B>> {
    Counters::add(&counters.stale_hits, 1);
    respond(config, stale, ctx, Label::Stale("stale-if-error"), now_ms())
}

/// Refreshes an entry in the background while the stale one is served, unless a refresh (or a
/// miss) for the key is already running.
fn spawn_revalidation<S, B, ResBody>(
    config: Arc<Config>,
    handle: CacheHandle,
    mut inner: S,
    mut req: Request<B>,
    key: String,
    scope: Option<Scope>,
    derived: Option<Arc<[Arc<str>]>>,
) where
    S: Service<Request<B>, Response = Response<ResBody>> + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    ResBody: Body + Send + 'static,
    ResBody::Data: Send,
    ResBody::Error: Send + 'static,
{
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let Some(leader) = handle.shared.flights.try_lead(&key) else {
        return;
    };
    unconditional(&mut req);
    runtime.spawn(async move {
        let shared = &*handle.shared;
        let Some(generations) =
            current_generations(&config, shared, derived.as_deref(), scope.as_ref()).await
        else {
            return;
        };
        Counters::add(&shared.counters.misses, 1);
        let Ok(response) = inner.call(req).await else {
            return;
        };
        if let Fetched::Complete {
            mut cached,
            storable: true,
            ..
        } = fetch(&config, response, true).await
        {
            cached.envelope.generations = generations;
            let cached = Arc::new(cached);
            leader.publish(Outcome::Shared(Arc::clone(&cached)));
            let envelope = &cached.envelope;
            if scope_unchanged(shared, scope.as_ref(), &envelope.generations, envelope).await {
                store_entry(shared, &key, envelope).await;
            }
        }
        drop(leader);
    });
}

/// Writes an entry; what the store did with it. A failure is counted, never surfaced.
async fn store_entry(shared: &Shared, key: &str, envelope: &Envelope) -> Storing {
    // Kept for its freshness plus the longer stale window.
    let store_ttl = std::time::Duration::from_millis(
        envelope.ttl_ms.saturating_add(
            envelope
                .stale_while_revalidate_ms
                .max(envelope.stale_if_error_ms),
        ),
    );
    let bytes = envelope.encode();
    let len = bytes.len() as u64;
    let put = shared.store.put_entry(key, bytes, envelope, store_ttl);
    let outcome = shared.counters.put_latency.time(put).await;
    match outcome {
        Ok(PutOutcome::Stored) => {
            let counters = &shared.counters;
            Counters::add(&counters.bytes_stored, len);
            if envelope.compressed {
                let saved = envelope
                    .plain_len
                    .saturating_sub(envelope.body.len() as u64);
                Counters::add(&counters.bytes_saved_by_compression, saved);
            }
            Storing::Stored
        }
        Ok(_) => Storing::TooLarge,
        Err(error) => {
            shared.counters.store_error(&error);
            Storing::No
        }
    }
}
