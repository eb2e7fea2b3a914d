//! Everything the server does with `inframind-cache`, in one place: the store, one layer per
//! cached route, the principal the per-user route is keyed by, and invalidation after writes.
//!
//! | route | namespace | TTL |
//! |---|---|---|
//! | `GET /api/assessments` | `assessments:list` | 300 s |
//! | `GET /api/assessments/{id}`, `/full` | `assessments:item` | 300 s |
//! | `GET /api/users/{user_id}/assessments` | `assessments:user`, per requesting user | 60 s |
//! | `GET /api/recommendations` | `recommendations:list` | 300 s |

use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use inframind_cache::{
    CacheError, CacheHandle, CacheLayer, CachePrincipal, MemoryStore, RedisStore,
};

use crate::auth::principal;
use crate::state::AppState;

/// The assessment list.
pub(crate) const ASSESSMENT_LIST: &str = "assessments:list";
/// One assessment and its `/full` view. The cache's namespaces are fixed per layer, so all
/// assessments share this one and a write to any assessment invalidates it (see the report).
pub(crate) const ASSESSMENT_ITEM: &str = "assessments:item";
/// Per-user listings.
pub(crate) const ASSESSMENT_USER: &str = "assessments:user";
/// The recommendation list.
pub(crate) const RECOMMENDATION_LIST: &str = "recommendations:list";

const CATALOGUE_TTL: Duration = Duration::from_secs(300);
const PER_USER_TTL: Duration = Duration::from_secs(60);
const COMPRESS_ABOVE: usize = 1024;
const STALE_IF_ERROR: Duration = Duration::from_secs(3600);

/// Opens the cache store: Redis when `REDIS_URL` is set, else the in-process store.
///
/// # Errors
/// When Redis cannot be reached at start-up.
pub async fn open(
    redis_url: Option<&str>,
    key_prefix: Option<&str>,
) -> Result<CacheHandle, CacheError> {
    match redis_url {
        Some(url) => {
            let mut builder = RedisStore::builder(url).timeout(Duration::from_millis(500));
            if let Some(prefix) = key_prefix {
                builder = builder.key_prefix(prefix);
            }
            let store = builder.connect().await.map_err(CacheError::from)?;
            Ok(CacheHandle::new(store))
        }
        None => Ok(CacheHandle::new(MemoryStore::new())),
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
    pub(crate) fn new(cache: &CacheHandle) -> Result<Self, CacheError> {
        // zstd above 1 KiB on both stores (the in-process store defaults to uncompressed),
        // so zstd clients get the stored bytes as they are whichever store is configured.
        let shared = |namespace: &str| {
            cache
                .layer()
                .ttl(CATALOGUE_TTL)
                .prefix(namespace)
                .compress_above(COMPRESS_ABOVE)
                // The catalogue is the same for every reader: a frontend sends its token on
                // every request, and logged-in readers must hit the anonymous entries.
                .share_authenticated()
                // MongoDB down: keep serving what we have rather than a 503.
                .stale_if_error(STALE_IF_ERROR)
                .build()
        };
        Ok(Self {
            assessment_list: shared(ASSESSMENT_LIST)?,
            assessment_item: shared(ASSESSMENT_ITEM)?,
            assessment_user: cache
                .layer()
                .ttl(PER_USER_TTL)
                .prefix(ASSESSMENT_USER)
                .per_user()
                .build()?,
            recommendation_list: shared(RECOMMENDATION_LIST)?,
        })
    }
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
async fn invalidate(cache: &CacheHandle, namespaces: &[&str]) {
    for namespace in namespaces {
        if let Err(error) = cache.invalidate_namespace(namespace).await {
            tracing::warn!(%namespace, %error, "cache invalidation failed");
        }
    }
}

/// After `POST /api/assessments`.
pub(crate) async fn assessment_created(cache: &CacheHandle) {
    invalidate(cache, &["assessments"]).await;
}

/// After `PUT` or `DELETE /api/assessments/{id}` (a delete also removes recommendations).
pub(crate) async fn assessment_changed(cache: &CacheHandle, deleted: bool) {
    let mut namespaces = vec![ASSESSMENT_LIST, ASSESSMENT_ITEM, ASSESSMENT_USER];
    if deleted {
        namespaces.push("recommendations");
    }
    invalidate(cache, &namespaces).await;
}

/// After recommendations are written for an assessment.
pub(crate) async fn recommendations_changed(cache: &CacheHandle) {
    invalidate(cache, &["recommendations", ASSESSMENT_ITEM]).await;
}

/// After a report is written for an assessment (its `/full` lists reports).
pub(crate) async fn report_created(cache: &CacheHandle) {
    invalidate(cache, &[ASSESSMENT_ITEM]).await;
}
