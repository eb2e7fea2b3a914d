//! `inframind-loader`: DataLoader batching and `preload_relations` for MongoDB.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod loader;
pub mod preload;
pub mod source;
pub mod stats;

pub use crate::loader::{BatchFn, Load, LoadError, LoadMany, Loaded, Loader, LoaderBuilder};
pub use crate::preload::{Many, One, PreloadError, preload_relations};
pub use crate::source::{ByField, Fetched, MemoryError, MemorySource, Source};
#[cfg(feature = "mongodb")]
pub use crate::source::{MongoError, MongoSource};
pub use crate::stats::{BatchSizeHistogram, LoaderStats, StatsRegistry};
