//! `inframind-loader`: the DataLoader pattern and `preload_relations`, to end N+1 queries against
//! MongoDB without adding latency.
//!
//! - [`Loader`] turns concurrent `load(key)` calls into one batch call. Keys are de-duplicated,
//!   cached for the request (keys in flight included), chunked at `max_batch_size` with a limit
//!   on concurrent chunks, and every key gets its own answer: found, missing (`None`) or its own
//!   error, which need not be `Clone`. There is no fixed delay: the batch goes out once the
//!   task queueing keys has yielded, from that task itself, on current-thread and multi-thread
//!   runtimes alike.
//! - [`preload_relations`] loads N parents' relations with one query per relation, concurrently,
//!   and hands back typed results: `Option<T>` for [`One`], `Vec<T>` for [`Many`], nested
//!   relations included. [`preload_into`] writes them into the parents' own fields instead
//!   (`assessment.user`).
//! - [`MongoSource`] (feature `mongodb`) queries a collection with `$in` over the official
//!   driver, by `_id` or any field, with projection and serde decoding, chunked under MongoDB's
//!   limits. [`MemorySource`] does the same in memory, for tests and embedded mode.
//! - [`StatsRegistry`] adds up the spec's batching statistics (`total_batches`,
//!   `total_items_loaded`, `total_queries`, `queries_saved`, `efficiency_ratio`, batch sizes)
//!   across the per-request loaders that share a name, such as `User_id`.
//!
//! # A loader
//!
//! ```
//! use inframind_loader::{Loader, MemorySource, StatsRegistry};
//!
//! #[derive(Clone, Debug, PartialEq)]
//! struct User { id: u32, name: String }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let users = MemorySource::new("users").field("_id", |u: &User| u.id);
//! users.extend((1..=3).map(|id| User { id, name: format!("user {id}") }));
//! let registry = StatsRegistry::new(); // one per application
//!
//! // One loader per request.
//! let loader: Loader<u32, User, _> =
//!     Loader::builder(users.by_id()).name("User_id").stats(&registry).build();
//! let (a, b, again, none) =
//!     tokio::join!(loader.load(1), loader.load(2), loader.load(1), loader.load(99));
//! assert_eq!(a.unwrap().unwrap().name, "user 1");
//! assert_eq!(b.unwrap().unwrap().name, "user 2");
//! assert_eq!(again.unwrap().unwrap().name, "user 1");
//! assert_eq!(none.unwrap(), None); // missing is not an error
//! assert_eq!(users.queries(), 1); // four loads, one query
//!
//! let stats = registry.get("User_id").unwrap();
//! assert_eq!((stats.total_batches, stats.total_items_loaded), (1, 3));
//!
//! // After a write, keep the cache honest.
//! loader.prime(2, User { id: 2, name: "renamed".into() });
//! loader.clear(&1);
//! # }
//! ```
//!
//! A batch function can also be a closure, `Fn(Vec<K>) -> impl Future<Output = Result<Loaded<K,
//! V, E>, E>>`, or any type implementing [`BatchFn`].
//!
//! # Preloading relations
//!
//! The spec's `{'user': (User, 'user_id', 'one'), 'recommendations': (Recommendation,
//! 'assessment_id', 'many')}`:
//!
//! ```
//! use inframind_loader::{Many, MemorySource, One, preload_relations};
//!
//! #[derive(Clone, Debug)] struct User { id: u32, name: String }
//! #[derive(Clone, Debug)] struct Assessment { id: u32, user_id: u32 }
//! #[derive(Clone, Debug)] struct Recommendation { id: u32, assessment_id: u32 }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), inframind_loader::PreloadError> {
//! let users = MemorySource::new("users").field("_id", |u: &User| u.id);
//! users.extend((1..=10).map(|id| User { id, name: format!("user {id}") }));
//! let recommendations = MemorySource::new("recommendations")
//!     .field("assessment_id", |r: &Recommendation| r.assessment_id);
//! recommendations.extend((0..300).map(|id| Recommendation { id, assessment_id: id % 100 }));
//!
//! let assessments: Vec<Assessment> =
//!     (0..100).map(|id| Assessment { id, user_id: 1 + id % 10 }).collect();
//!
//! let rows = preload_relations(
//!     assessments,
//!     (
//!         One::new(&users, "_id", |a: &Assessment| a.user_id),
//!         Many::new(&recommendations, "assessment_id", |a: &Assessment| a.id),
//!     ),
//! )
//! .await?;
//!
//! for (assessment, (user, recs)) in &rows {
//!     // `user: Option<User>`, `recs: Vec<Recommendation>`: no map to dig in.
//!     assert_eq!(user.as_ref().unwrap().id, assessment.user_id);
//!     assert_eq!(recs.len(), 3);
//! }
//! // 100 parents, two relations: two queries instead of 200.
//! assert_eq!(users.queries() + recommendations.queries(), 2);
//! # Ok(())
//! # }
//! ```
//!
//! With MongoDB, the sources are `MongoSource::<User>::new(db.collection("users"))` and so on;
//! everything else stays the same.
//!
//! # Features
//!
//! - `mongodb`: [`MongoSource`] over the official `mongodb` driver 3.x (`bson` 3).

#![cfg_attr(docsrs, feature(doc_cfg))]

mod loader;
pub mod preload;
pub mod source;
pub mod stats;

pub use crate::loader::{BatchFn, Load, LoadError, LoadMany, Loaded, Loader, LoaderBuilder};
pub use crate::preload::{Many, One, PreloadError, preload_into, preload_relations};
pub use crate::source::{ByField, Fetched, MemoryError, MemorySource, Source};
#[cfg(feature = "mongodb")]
#[cfg_attr(docsrs, doc(cfg(feature = "mongodb")))]
pub use crate::source::{MongoError, MongoSource};
pub use crate::stats::{BatchSizeHistogram, LoaderStats, StatsRegistry};
