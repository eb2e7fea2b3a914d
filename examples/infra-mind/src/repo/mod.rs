//! Storage: one object-safe [`Repository`] trait and its two backends, [`memory`] (embedded
//! mode, seeded from [`demo`]) and [`mongo`] (the official driver).
//!
//! Both backends keep the same observable behaviour, which the end-to-end suite checks on
//! each: ids are ObjectId hex, lists are newest first (`created_at`, then id, descending),
//! emails are unique, and timestamps have millisecond precision.

pub mod demo;
pub mod loaders;
pub mod memory;
pub mod mongo;
pub mod relations;

use std::collections::HashMap;

use async_trait::async_trait;
use bson::oid::ObjectId;

use crate::domain::{
    Assessment, AssessmentUpdate, DashboardCounts, Include, NewAssessment, NewRecommendation,
    NewReport, NewUser, Recommendation, Related, Report, ReportFormat, Timestamp, User,
};

/// What can go wrong in a store call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RepoError {
    /// The id is not 24 hex digits.
    #[error("{0:?} is not a valid id (expected 24 hexadecimal digits)")]
    InvalidId(String),
    /// A unique constraint was violated (the message names it).
    #[error("{0}")]
    Conflict(String),
    /// The backend cannot be reached; worth retrying later.
    #[error("{backend} is unavailable: {message}")]
    Unavailable {
        /// `mongodb`, ...
        backend: &'static str,
        /// What the driver said.
        message: String,
    },
    /// Anything else the backend reported.
    #[error("{0}")]
    Internal(String),
}

/// Parses an ObjectId hex string, the id format of both backends, in its one canonical
/// spelling: 24 lowercase hex digits, as ids are written. Another spelling of the same id
/// (uppercase hex) would be cached under a namespace (`assessments:{id}`) that writes to the
/// canonical id never invalidate, so it is refused rather than served stale.
///
/// # Errors
/// [`RepoError::InvalidId`] when `id` is not 24 lowercase hex digits.
pub fn parse_id(id: &str) -> Result<ObjectId, RepoError> {
    let canonical = id.len() == 24 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !canonical {
        return Err(RepoError::InvalidId(id.to_owned()));
    }
    ObjectId::parse_str(id).map_err(|_| RepoError::InvalidId(id.to_owned()))
}

/// Parses many ids, failing on the first invalid one.
///
/// # Errors
/// [`RepoError::InvalidId`] naming the first invalid id.
pub fn parse_ids(ids: &[String]) -> Result<Vec<ObjectId>, RepoError> {
    ids.iter().map(|id| parse_id(id)).collect()
}

/// Everything the API stores. Every list is newest first; every `*_by_*` batch call is one
/// query whatever the number of keys, which is what keeps `/full` and the dashboard at a
/// fixed query count.
#[async_trait]
pub trait Repository: Send + Sync + std::fmt::Debug + 'static {
    /// The backend's name in `/ready` and logs (`memory`, `mongodb`).
    fn backend(&self) -> &'static str;

    /// Checks that the backend answers.
    async fn ping(&self) -> Result<(), RepoError>;

    /// Creates a user; [`RepoError::Conflict`] when the email is taken.
    async fn create_user(&self, user: NewUser) -> Result<User, RepoError>;
    /// Creates many users in one bulk insert (the `seed` subcommand).
    async fn create_users(&self, users: Vec<NewUser>) -> Result<Vec<User>, RepoError>;
    /// Every user, newest first.
    async fn list_users(&self) -> Result<Vec<User>, RepoError>;
    /// One user.
    async fn get_user(&self, id: &str) -> Result<Option<User>, RepoError>;
    /// The users with these ids, in one query.
    async fn users_by_ids(&self, ids: &[String]) -> Result<Vec<User>, RepoError>;
    /// The user whose token hashes to `token_hash`.
    async fn user_by_token_hash(&self, token_hash: &str) -> Result<Option<User>, RepoError>;

    /// Creates an assessment owned by `user_id`.
    async fn create_assessment(
        &self,
        user_id: &str,
        assessment: NewAssessment,
    ) -> Result<Assessment, RepoError>;
    /// Creates many assessments in one bulk insert (the `seed` subcommand).
    async fn create_assessments(
        &self,
        assessments: Vec<(String, NewAssessment)>,
    ) -> Result<Vec<Assessment>, RepoError>;
    /// Assessments, newest first, at most `limit` when given.
    async fn list_assessments(&self, limit: Option<u64>) -> Result<Vec<Assessment>, RepoError>;
    /// One assessment.
    async fn get_assessment(&self, id: &str) -> Result<Option<Assessment>, RepoError>;
    /// The assessments with these ids, in one query.
    async fn assessments_by_ids(&self, ids: &[String]) -> Result<Vec<Assessment>, RepoError>;
    /// One user's assessments, newest first, at most `limit` when given.
    async fn assessments_by_user(
        &self,
        user_id: &str,
        limit: Option<u64>,
    ) -> Result<Vec<Assessment>, RepoError>;
    /// Applies the fields present in `update`; `None` when the assessment does not exist.
    async fn update_assessment(
        &self,
        id: &str,
        update: AssessmentUpdate,
    ) -> Result<Option<Assessment>, RepoError>;
    /// Deletes an assessment with its recommendations and reports; `false` when absent.
    async fn delete_assessment(&self, id: &str) -> Result<bool, RepoError>;

    /// Stores recommendations in one bulk insert.
    async fn create_recommendations(
        &self,
        recommendations: Vec<NewRecommendation>,
    ) -> Result<Vec<Recommendation>, RepoError>;
    /// Recommendations, newest first, at most `limit` when given.
    async fn list_recommendations(
        &self,
        limit: Option<u64>,
    ) -> Result<Vec<Recommendation>, RepoError>;
    /// The recommendations of these assessments, in one query, newest first.
    async fn recommendations_by_assessments(
        &self,
        assessment_ids: &[String],
    ) -> Result<Vec<Recommendation>, RepoError>;
    /// How many recommendations each of these assessments has, in one query.
    async fn recommendation_counts(
        &self,
        assessment_ids: &[String],
    ) -> Result<HashMap<String, u64>, RepoError>;

    /// Stores a generated report.
    async fn create_report(&self, report: NewReport) -> Result<Report, RepoError>;
    /// Stores many reports in one bulk insert (the `seed` subcommand).
    async fn create_reports(&self, reports: Vec<NewReport>) -> Result<Vec<Report>, RepoError>;
    /// A report's metadata.
    async fn get_report(&self, id: &str) -> Result<Option<Report>, RepoError>;
    /// A report's metadata and document.
    async fn report_document(&self, id: &str) -> Result<Option<(Report, Vec<u8>)>, RepoError>;
    /// The reports of these assessments, in one query, newest first.
    async fn reports_by_assessments(
        &self,
        assessment_ids: &[String],
    ) -> Result<Vec<Report>, RepoError>;

    /// The assessments with the `include`d relations (user, recommendations, reports): one
    /// query per relation whatever the number of assessments (MongoDB: `preload_relations`).
    /// Relations left out are `None` or empty and cost no query.
    async fn with_relations(
        &self,
        assessments: Vec<Assessment>,
        include: Include,
    ) -> Result<Vec<Related>, RepoError>;

    /// The dashboard's totals, in a fixed number of queries.
    async fn counts(&self) -> Result<DashboardCounts, RepoError>;

    /// How many users were active since `since`: created or changed an assessment, or
    /// generated a report (the `users_active` gauge, over the last 7 days).
    async fn active_users(&self, since: Timestamp) -> Result<u64, RepoError>;

    /// Deletes everything (the `seed --reset` flag and tests).
    async fn reset(&self) -> Result<(), RepoError>;
}

/// Fills in every known label with zero so both backends answer the same keys.
pub(crate) fn complete_counts(counts: &mut DashboardCounts) {
    use crate::domain::{AssessmentStatus, Priority};
    for status in AssessmentStatus::ALL {
        counts
            .assessments_by_status
            .entry(status.as_str().to_owned())
            .or_insert(0);
    }
    for priority in Priority::ALL {
        counts
            .recommendations_by_priority
            .entry(priority.as_str().to_owned())
            .or_insert(0);
    }
    for format in ReportFormat::ALL {
        counts
            .reports_by_format
            .entry(format.as_str().to_owned())
            .or_insert(0);
    }
}

/// A document's size as the metadata reports it.
pub(crate) fn size_of(content: &[u8]) -> u64 {
    u64::try_from(content.len()).unwrap_or(u64::MAX)
}
