//! Per-request `inframind-loader` loaders over the store, named for the batching statistics
//! (`/admin/batching/stats`, `loader_*` metrics).

use std::sync::Arc;

use inframind_loader::{BatchFn, LoadError, Loaded, Loader, StatsRegistry};

use super::{RepoError, Repository};
use crate::domain::User;

/// Loads users by id with one `users_by_ids` query per batch.
#[derive(Debug, Clone)]
pub struct UsersById(pub Arc<dyn Repository>);

impl BatchFn<String, User> for UsersById {
    type Error = RepoError;

    fn load(
        &self,
        keys: &[String],
    ) -> impl Future<Output = Result<Loaded<String, User, RepoError>, RepoError>> + Send {
        let repo = Arc::clone(&self.0);
        let keys = keys.to_vec();
        async move {
            let users = repo.users_by_ids(&keys).await?;
            let mut loaded = Loaded::with_capacity(users.len());
            for user in users {
                loaded.insert(user.id.clone(), user);
            }
            Ok(loaded)
        }
    }
}

/// A user loader for one request.
pub type UserLoader = Loader<String, User, UsersById>;

/// The loaders one request shares (kept in its extensions by `routes::middleware`).
#[derive(Debug, Clone)]
pub struct RequestLoaders {
    /// Users by id, named `User_id` in the statistics.
    pub users: UserLoader,
}

impl RequestLoaders {
    /// Fresh loaders (empty per-request caches) reporting to `stats`.
    pub fn new(repo: &Arc<dyn Repository>, stats: &StatsRegistry) -> Self {
        Self {
            users: Loader::builder(UsersById(Arc::clone(repo)))
                .name("User_id")
                .stats(stats)
                .build(),
        }
    }
}

impl RequestLoaders {
    /// One user through the request's loader (batched with concurrent loads, cached for the
    /// rest of the request).
    ///
    /// # Errors
    /// The store's error.
    pub async fn user(&self, id: &str) -> Result<Option<User>, RepoError> {
        self.users
            .load(id.to_owned())
            .await
            .map_err(|error| match error {
                LoadError::Key(e) | LoadError::Batch(e) => match e.as_ref() {
                    RepoError::Unavailable { backend, message } => RepoError::Unavailable {
                        backend,
                        message: message.clone(),
                    },
                    other => RepoError::Internal(other.to_string()),
                },
                other => RepoError::Internal(other.to_string()),
            })
    }
}
