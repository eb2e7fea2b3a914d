//! A registry of named breakers, with snapshots for admin endpoints.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use crate::events::{Listener, StateTransition};
use crate::snapshot::BreakerSnapshot;
use crate::{BreakerConfig, CircuitBreaker};

struct RegistryInner {
    breakers: RwLock<BTreeMap<Arc<str>, CircuitBreaker>>,
    listeners: Arc<RwLock<Vec<Listener>>>,
}

/// Named breakers, shared by cloning (an `Arc` inside).
///
/// ```
/// use std::time::Duration;
/// use inframind_breaker::{BreakerConfig, BreakerRegistry, CircuitState};
///
/// let registry = BreakerRegistry::new();
/// let openai = registry.create_breaker(
///     "openai",
///     BreakerConfig::builder()
///         .failure_threshold(5)
///         .recovery_timeout(Duration::from_secs(60))
///         .build()?,
/// );
/// assert_eq!(registry.get("openai").unwrap().name(), openai.name());
/// let all = registry.snapshot();
/// assert_eq!(all[0].name, "openai");
/// assert_eq!(all[0].state, CircuitState::Closed);
/// # Ok::<(), inframind_breaker::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct BreakerRegistry {
    inner: Arc<RegistryInner>,
}

impl fmt::Debug for BreakerRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerRegistry")
            .field("breakers", &self.names())
            .finish_non_exhaustive()
    }
}

impl Default for BreakerRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl BreakerRegistry {
    /// An empty registry.
    #[must_use]
    pub fn new() -> Self {
        Self {
            inner: Arc::new(RegistryInner {
                breakers: RwLock::new(BTreeMap::new()),
                listeners: Arc::new(RwLock::new(Vec::new())),
            }),
        }
    }

    /// The breaker named `name`, created with `config` if there is none yet. An existing
    /// breaker is returned as it is (its configuration and state are kept).
    pub fn create_breaker(&self, name: impl AsRef<str>, config: BreakerConfig) -> CircuitBreaker {
        let name = name.as_ref();
        if let Some(existing) = self.get(name) {
            return existing;
        }
        let mut map = self
            .inner
            .breakers
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        map.entry(Arc::from(name))
            .or_insert_with_key(|key| {
                CircuitBreaker::with_shared_listeners(
                    Arc::clone(key),
                    config,
                    Arc::clone(&self.inner.listeners),
                )
            })
            .clone()
    }

    /// The breaker named `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<CircuitBreaker> {
        self.inner
            .breakers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// Removes the breaker named `name` from the registry (handles keep working).
    pub fn remove(&self, name: &str) -> Option<CircuitBreaker> {
        self.inner
            .breakers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name)
    }

    /// The registered names, sorted.
    #[must_use]
    pub fn names(&self) -> Vec<String> {
        self.inner
            .breakers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .map(|k| k.to_string())
            .collect()
    }

    /// Snapshots of every registered breaker, sorted by name.
    #[must_use]
    pub fn snapshot(&self) -> Vec<BreakerSnapshot> {
        let breakers: Vec<CircuitBreaker> = self
            .inner
            .breakers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        breakers.iter().map(CircuitBreaker::snapshot).collect()
    }

    /// Calls `f` on every state transition of every breaker of this registry, those created
    /// before and after this call.
    pub fn subscribe<F>(&self, f: F)
    where
        F: Fn(&StateTransition) + Send + Sync + 'static,
    {
        self.inner
            .listeners
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::new(f));
    }
}

impl BreakerRegistry {
    /// Whether both are handles to the same breaker registry.
    pub fn ptr_eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}
