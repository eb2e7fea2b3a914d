//! [`PreloadError`].

use std::error::Error as StdError;
use std::sync::Arc;

/// Why a preload failed: a relation's query failed, or one of its documents did not decode.
#[derive(Debug, thiserror::Error)]
#[error("preloading the relation on `{field}` failed: {source}")]
pub struct PreloadError {
    field: String,
    #[source]
    source: Arc<dyn StdError + Send + Sync>,
}

impl Clone for PreloadError {
    fn clone(&self) -> Self {
        Self {
            field: self.field.clone(),
            source: Arc::clone(&self.source),
        }
    }
}

impl PreloadError {
    pub(crate) fn new(field: &str, source: impl StdError + Send + Sync + 'static) -> Self {
        Self {
            field: field.to_owned(),
            source: Arc::new(source),
        }
    }

    pub(crate) fn misaligned() -> Self {
        #[derive(Debug, thiserror::Error)]
        #[error("a relation returned a different number of outputs than there are parents")]
        struct Misaligned;
        Self::new("?", Misaligned)
    }

    /// The field the failing relation matched on.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The source's error ([`MemoryError`](crate::MemoryError), `MongoError`, ...), to
    /// downcast.
    pub fn source_error(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.source
    }
}
