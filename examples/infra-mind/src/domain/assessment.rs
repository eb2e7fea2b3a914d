use serde::{Deserialize, Serialize};

use super::Timestamp;

/// Where an assessment is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssessmentStatus {
    /// Being written.
    Draft,
    /// Under analysis.
    InProgress,
    /// Finished.
    Completed,
}

impl AssessmentStatus {
    /// Every status, in display order.
    pub const ALL: [Self; 3] = [Self::Draft, Self::InProgress, Self::Completed];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
        }
    }

    /// Parses the wire name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// An infrastructure assessment owned by one user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assessment {
    /// ObjectId hex.
    pub id: String,
    /// The owner's id.
    pub user_id: String,
    /// Short title.
    pub title: String,
    /// Free text.
    pub description: Option<String>,
    /// Cloud the workload runs on (`aws`, `gcp`, `azure`, ...).
    pub cloud_provider: Option<String>,
    /// Life-cycle status.
    pub status: AssessmentStatus,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: Timestamp,
}

/// The body of `POST /api/assessments`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAssessment {
    /// Short title (required, not blank).
    pub title: String,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Cloud the workload runs on.
    #[serde(default)]
    pub cloud_provider: Option<String>,
    /// Defaults to `draft`.
    #[serde(default)]
    pub status: Option<AssessmentStatus>,
}

/// The body of `PUT /api/assessments/{id}`: every field optional, absent means unchanged.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssessmentUpdate {
    /// New title.
    #[serde(default)]
    pub title: Option<String>,
    /// New description.
    #[serde(default)]
    pub description: Option<String>,
    /// New cloud provider.
    #[serde(default)]
    pub cloud_provider: Option<String>,
    /// New status.
    #[serde(default)]
    pub status: Option<AssessmentStatus>,
}
