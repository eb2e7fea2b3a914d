//! Everything the server does with `inframind-cache`, in one place: the store, one layer per
//! cached route, the principal the per-user route is keyed by, and invalidation after writes.
//!
//! | route | namespace | TTL |
//! |---|---|---|
//! | `GET /api/assessments` (any `?limit=`, `?include=`) | `assessments:list` | 300 s |
//! | `GET /api/assessments/{id}`, `/full` | `assessments:{id}` (from the path) | 300 s |
//! | `GET /api/users/{user_id}/assessments` | `assessments:user`, per requesting user | 60 s |
//! | `GET /api/recommendations` | `recommendations:list` | 300 s |

use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use inframind_cache::{
    CacheError, CacheHandle, CacheLayer, CacheLayerBuilder, CachePrincipal, MemoryStore,
    RedisStore, namespace_segment,
};

use crate::auth::principal;
use crate::config::Config;
use crate::state::AppState;

/// The assessment list.
pub(crate) const ASSESSMENT_LIST: &str = "assessments:list";
/// Every assessment's namespace is below this one: `assessments:{id}` holds one assessment
/// and its `/full` view.
pub(crate) const ASSESSMENTS: &str = "assessments";
/// Per-user listings.
pub(crate) const ASSESSMENT_USER: &str = "assessments:user";
/// The recommendation list.
pub(crate) const RECOMMENDATION_LIST: &str = "recommendations:list";

const CATALOGUE_TTL: Duration = Duration::from_secs(300);
const PER_USER_TTL: Duration = Duration::from_secs(60);
const COMPRESS_ABOVE: usize = 1024;
const STALE_IF_ERROR: Duration = Duration::from_secs(3600);

/// Opens the cache store: Redis when `REDIS_URL` is set (with its hot tier, when
/// `CACHE_HOT_TIER_BYTES` is not 0), else the in-process store of `CACHE_MEMORY_BYTES`.
///
/// # Errors
/// When Redis cannot be reached at start-up.
pub async fn open(config: &Config) -> Result<CacheHandle, CacheError> {
    match &config.redis_url {
        Some(url) => {
            let mut builder = RedisStore::builder(url)
                .timeout(Duration::from_millis(500))
                .hot_tier(config.cache_hot_tier_bytes);
            if let Some(prefix) = &config.redis_key_prefix {
                builder = builder.key_prefix(prefix);
            }
            let store = builder.connect().await.map_err(CacheError::from)?;
            Ok(CacheHandle::new(store))
        }
        None => Ok(CacheHandle::new(MemoryStore::with_max_bytes(
            config.cache_memory_bytes,
        ))),
    }
}

/// One layer per cached route, sharing the handle's store and statistics.
#[derive(Debug, Clone)]
pub(crate) struct Layers {
    pub(crate) assessment_list: CacheLayer,
    pub(crate) assessment_item: CacheLayer,
    pub(crate) assessment_user: CacheLayer,
    pub(crate) recommendation_list: CacheLayer,
}

impl Layers {
    /// The layers, storing bodies of at most `max_body` bytes.
    ///
    /// # Errors
    /// When `max_body` is 0 or more than the store's largest entry.
    pub(crate) fn new(cache: &CacheHandle, max_body: u64) -> Result<Self, CacheError> {
        let max_body = usize::try_from(max_body).unwrap_or(usize::MAX);
        // zstd above 1 KiB on both stores (the in-process store defaults to uncompressed),
        // so zstd clients get the stored bytes as they are whichever store is configured.
        let shared = |namespace: &str| catalogue(cache, max_body).prefix(namespace).build();
        Ok(Self {
            assessment_list: shared(ASSESSMENT_LIST)?,
            // One layer on both item routes: each assessment under its own namespace, so a
            // write to one leaves the others cached.
            assessment_item: catalogue(cache, max_body)
                .prefix_from_path("/api/assessments/{id}", "assessments:{id}")
                .prefix_from_path("/api/assessments/{id}/full", "assessments:{id}")
                .build()?,
            assessment_user: cache
                .layer()
                .max_body(max_body)
                .ttl(PER_USER_TTL)
                .prefix(ASSESSMENT_USER)
                .per_user()
                .build()?,
            recommendation_list: shared(RECOMMENDATION_LIST)?,
        })
    }
}

/// The settings every catalogue layer shares.
fn catalogue(cache: &CacheHandle, max_body: usize) -> CacheLayerBuilder {
    cache
                .layer()
                .max_body(max_body)
                .ttl(CATALOGUE_TTL)
                .compress_above(COMPRESS_ABOVE)
                // The catalogue is the same for every reader: a frontend sends its token on
                // every request, and logged-in readers must hit the anonymous entries.
                .share_authenticated()
                // MongoDB down: keep serving what we have rather than a 503.
                .stale_if_error(STALE_IF_ERROR)
}

/// Resolves the bearer token before the per-user cache layer runs, and hands the layer the
/// principal it keys by. The handler's extractor reuses the resolved principal; a bad token is
/// left for it to answer 401.
pub(crate) async fn principal_for_cache(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    if let Ok(Some(principal)) = principal(&mut parts, &state).await {
        parts
            .extensions
            .insert(CachePrincipal::new(principal.cache_key()));
    }
    next.run(Request::from_parts(parts, body)).await
}

/// Invalidates `namespaces` and everything below each (O(1) each); a store error is logged
/// (the entries expire with their TTL).
async fn invalidate<S: AsRef<str>>(cache: &CacheHandle, namespaces: &[S]) {
    for namespace in namespaces {
        let namespace = namespace.as_ref();
        if let Err(error) = cache.invalidate_namespace(namespace).await {
            tracing::warn!(%namespace, %error, "cache invalidation failed");
        }
    }
}

/// The namespace of assessment `id`'s `GET /api/assessments/{id}` and `/full` entries, escaped
/// as the cache layer derives it from the path.
pub(crate) fn assessment_namespace(id: &str) -> Option<String> {
    namespace_segment(id).map(|segment| format!("{ASSESSMENTS}:{segment}"))
}

/// The namespaces a write to assessment `id` makes stale, with `also`.
fn for_assessment(id: &str, also: &[&str]) -> Vec<String> {
    let mut namespaces: Vec<String> = also.iter().map(|s| (*s).to_owned()).collect();
    match assessment_namespace(id) {
        Some(item) => namespaces.push(item),
        // Not a value the layer caches under (empty, over-long): nothing of it is cached
        // per item, but be safe and drop every item.
        None => namespaces.push(ASSESSMENTS.to_owned()),
    }
    namespaces
}

/// After `POST /api/assessments`.
pub(crate) async fn assessment_created(cache: &CacheHandle) {
    invalidate(cache, &[ASSESSMENTS]).await;
}

/// After `PUT` or `DELETE /api/assessments/{id}`: its own entries, the list and the per-user
/// listings (a delete also removes its recommendations).
pub(crate) async fn assessment_changed(cache: &CacheHandle, id: &str, deleted: bool) {
    let mut also = vec![ASSESSMENT_LIST, ASSESSMENT_USER];
    if deleted {
        also.push("recommendations");
    }
    invalidate(cache, &for_assessment(id, &also)).await;
}

/// After recommendations are written for assessment `id`: its `/full` lists them, as do the
/// recommendation list and the assessment lists read with `?include=recommendations`.
pub(crate) async fn recommendations_changed(cache: &CacheHandle, id: &str) {
    invalidate(
        cache,
        &for_assessment(id, &["recommendations", ASSESSMENT_LIST, ASSESSMENT_USER]),
    )
    .await;
}

/// After a report is written for assessment `id`: its `/full` and the assessment lists read
/// with `?include=reports` list reports.
pub(crate) async fn report_created(cache: &CacheHandle, id: &str) {
    invalidate(
        cache,
        &for_assessment(id, &[ASSESSMENT_LIST, ASSESSMENT_USER]),
    )
    .await;
}
