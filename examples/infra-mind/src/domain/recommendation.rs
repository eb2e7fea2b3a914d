use serde::{Deserialize, Serialize};

use super::Timestamp;

/// How urgent a recommendation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Nice to have.
    Low,
    /// Worth planning.
    Medium,
    /// Do soon.
    High,
    /// Do now.
    Critical,
}

impl Priority {
    /// Every priority, lowest first.
    pub const ALL: [Self; 4] = [Self::Low, Self::Medium, Self::High, Self::Critical];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    /// Parses the wire name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

/// A recommendation attached to an assessment, written by a person or an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// ObjectId hex.
    pub id: String,
    /// The assessment it belongs to.
    pub assessment_id: String,
    /// Short title.
    pub title: String,
    /// Area (`cost`, `security`, `reliability`, ...).
    pub category: String,
    /// Urgency.
    pub priority: Priority,
    /// Free text.
    pub description: Option<String>,
    /// The agent's confidence in `[0, 1]`, when an agent wrote it.
    pub confidence: Option<f64>,
    /// `manual`, or the provider that generated it.
    pub source: String,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
}

/// The body of `POST /api/recommendations`, and what an agent produces.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRecommendation {
    /// The assessment it belongs to.
    pub assessment_id: String,
    /// Short title.
    pub title: String,
    /// Area.
    pub category: String,
    /// Urgency.
    pub priority: Priority,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Confidence in `[0, 1]`; only agents set it.
    #[serde(skip)]
    pub confidence: Option<f64>,
    /// Who wrote it; `manual` for the API.
    #[serde(skip, default = "manual")]
    pub source: String,
}

fn manual() -> String {
    "manual".to_owned()
}
