//! Loading an assessment's relations: batched (one query per relation, whatever the number of
//! assessments) or, for comparison, one query per assessment and relation, as the spec's
//! "before" code does (`--relation-loading n-plus-one`).

use super::{RepoError, Repository};
use crate::config::RelationLoading;
use crate::domain::{Assessment, Include, Related};

/// The `include`d relations of `assessments`, loaded as `mode` says, in the assessments'
/// order. Relations left out are `None` or empty.
///
/// # Errors
/// The store's error.
pub async fn load(
    repo: &dyn Repository,
    mode: RelationLoading,
    assessments: Vec<Assessment>,
    include: Include,
) -> Result<Vec<Related>, RepoError> {
    match mode {
        RelationLoading::Batched => repo.with_relations(assessments, include).await,
        RelationLoading::NPlusOne => one_by_one(repo, assessments, include).await,
    }
}

/// 1 + N x relations queries: each assessment's user, recommendations and reports in turn.
async fn one_by_one(
    repo: &dyn Repository,
    assessments: Vec<Assessment>,
    include: Include,
) -> Result<Vec<Related>, RepoError> {
    let mut related = Vec::with_capacity(assessments.len());
    for assessment in assessments {
        let ids = std::slice::from_ref(&assessment.id);
        let user = match include.user {
            true => repo.get_user(&assessment.user_id).await?,
            false => None,
        };
        let recommendations = match include.recommendations {
            true => repo.recommendations_by_assessments(ids).await?,
            false => Vec::new(),
        };
        let reports = match include.reports {
            true => repo.reports_by_assessments(ids).await?,
            false => Vec::new(),
        };
        related.push(Related {
            assessment,
            user,
            recommendations,
            reports,
        });
    }
    Ok(related)
}
