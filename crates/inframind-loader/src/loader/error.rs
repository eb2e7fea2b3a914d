//! The error a `load` ends with.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// Why one key's load failed.
///
/// It is `Clone` whatever the batch function's error type is: the error is shared behind an
/// `Arc` between the waiters of the key (or of the batch).
#[derive(Debug)]
#[non_exhaustive]
pub enum LoadError<E> {
    /// The batch function reported an error for this key alone.
    Key(Arc<E>),
    /// The batch function failed as a whole, so every key of that batch failed.
    Batch(Arc<E>),
    /// The batch function panicked while loading this key's batch.
    Panicked,
    /// The batch was dropped before it finished (its runtime shut down), or no Tokio runtime
    /// was running to dispatch it.
    Aborted,
}

impl<E> LoadError<E> {
    /// The batch function's error, for [`Key`](Self::Key) and [`Batch`](Self::Batch).
    pub fn inner(&self) -> Option<&E> {
        match self {
            Self::Key(e) | Self::Batch(e) => Some(e),
            Self::Panicked | Self::Aborted => None,
        }
    }

    /// Whether the batch function failed for the whole batch ([`Batch`](Self::Batch)), rather
    /// than for this key alone. `false` for [`Panicked`](Self::Panicked) and
    /// [`Aborted`](Self::Aborted), which are not the batch function's errors.
    pub fn is_batch(&self) -> bool {
        matches!(self, Self::Batch(_))
    }
}

/// Equal when the variants match and, for [`Key`](LoadError::Key) and
/// [`Batch`](LoadError::Batch), the errors are equal.
impl<E: PartialEq> PartialEq for LoadError<E> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Key(a), Self::Key(b)) | (Self::Batch(a), Self::Batch(b)) => **a == **b,
            (Self::Panicked, Self::Panicked) | (Self::Aborted, Self::Aborted) => true,
            _ => false,
        }
    }
}

impl<E: Eq> Eq for LoadError<E> {}

impl<E> Clone for LoadError<E> {
    fn clone(&self) -> Self {
        match self {
            Self::Key(e) => Self::Key(Arc::clone(e)),
            Self::Batch(e) => Self::Batch(Arc::clone(e)),
            Self::Panicked => Self::Panicked,
            Self::Aborted => Self::Aborted,
        }
    }
}

impl<E: fmt::Display> fmt::Display for LoadError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Key(e) => write!(f, "loading the key failed: {e}"),
            Self::Batch(e) => write!(f, "loading the key's batch failed: {e}"),
            Self::Panicked => f.write_str("the batch function panicked"),
            Self::Aborted => f.write_str("the batch was dropped before it finished"),
        }
    }
}

impl<E: Error + 'static> Error for LoadError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Key(e) | Self::Batch(e) => Some(&**e),
            Self::Panicked | Self::Aborted => None,
        }
    }
}
