//! Real test services for the Infra Mind workspace: a running Redis and a running MongoDB wire
//! server (SecantusDB, or a real `mongod` through the same URI variable).
//!
//! Tests never mock a store. They ask this crate for a server:
//!
//! ```no_run
//! let redis = inframind_test_support::redis();
//! // `redis.url()` selects a logical database of this test's own; `redis.key("x")` is
//! // namespaced under a prefix no other test uses.
//! let _client_url = redis.url();
//!
//! let mongo = inframind_test_support::mongodb();
//! // `mongo.uri()` reaches the server; `mongo.database()` is a fresh database name.
//! let _db = mongo.database();
//! ```
//!
//! The shared servers come from `INFRAMIND_TEST_REDIS_URL` and `INFRAMIND_TEST_MONGODB_URI` when
//! the test command (`./scripts/test`) started them, or are started privately per test process
//! from the binaries this crate finds. If neither works, the calling test panics with a message
//! that says how to install what is missing: a test that needs a service never skips.

mod error;
mod mongo;
mod process;
mod redis;

pub use crate::error::ServiceError;
pub use crate::mongo::{MongoServer, TestMongo, mongodb, try_mongodb};
pub use crate::redis::{RedisServer, TestRedis, redis, try_redis};

/// The workspace root, for finding the project-local virtualenv and scratch folders.
pub(crate) fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A number unique within this process, for database names and key prefixes.
pub(crate) fn next_unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
