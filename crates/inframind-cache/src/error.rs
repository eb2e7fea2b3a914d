//! Error types.

use std::time::Duration;

/// A boxed error from a store implementation.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A store operation that failed.
///
/// The cache layer never turns these into responses: a read that fails is served by the inner
/// service and counted in [`CacheStats::store_errors`](crate::CacheStats::store_errors).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The operation did not finish within the store's command timeout.
    #[error("store operation timed out after {0:?}")]
    Timeout(Duration),
    /// The Redis client reported an error (connection refused, reset, server error...).
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The store answered something the cache cannot use.
    #[error("unexpected store reply: {0}")]
    Protocol(String),
    /// Any other failure, from a third-party [`Store`](crate::Store).
    #[error(transparent)]
    Other(BoxError),
}

/// An error from the cache's API: building a layer or invalidating entries.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// The store failed, so the invalidation may not have happened.
    #[error("cache store failed: {0}")]
    Store(#[from] StoreError),
    /// A key prefix (namespace) that the cache cannot use.
    #[error("invalid cache namespace {namespace:?}: {reason}")]
    InvalidNamespace {
        /// The rejected namespace.
        namespace: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// An invalidation pattern that is empty or touches reserved keys.
    #[error("invalid invalidation pattern {pattern:?}: {reason}")]
    InvalidPattern {
        /// The rejected pattern.
        pattern: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A builder setting out of range.
    #[error("invalid cache setting `{setting}`: {reason}")]
    InvalidSetting {
        /// The builder method.
        setting: &'static str,
        /// Why it was rejected.
        reason: &'static str,
    },
}
