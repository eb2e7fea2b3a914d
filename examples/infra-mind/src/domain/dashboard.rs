use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Assessment, Recommendation, Report, User};

/// Totals shown on the dashboard. Every known label is present, with zero when empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DashboardCounts {
    /// Registered users.
    pub users: u64,
    /// Assessments per status name.
    pub assessments_by_status: BTreeMap<String, u64>,
    /// Recommendations per priority name.
    pub recommendations_by_priority: BTreeMap<String, u64>,
    /// Reports per format name.
    pub reports_by_format: BTreeMap<String, u64>,
}

/// One row of the dashboard's recent list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecentAssessment {
    /// The assessment.
    #[serde(flatten)]
    pub assessment: Assessment,
    /// Its owner, when the user still exists.
    pub user: Option<User>,
    /// How many recommendations it has.
    pub recommendations_count: u64,
}

/// An assessment with everything that hangs off it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Related {
    /// The assessment.
    pub assessment: Assessment,
    /// Its owner, when the user still exists.
    pub user: Option<User>,
    /// Its recommendations, newest first.
    pub recommendations: Vec<Recommendation>,
    /// Its reports' metadata, newest first.
    pub reports: Vec<Report>,
}

/// Which relations of an assessment a request loads: `?include=user,recommendations,reports`
/// (any subset, comma-separated).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Include {
    /// The owner.
    pub user: bool,
    /// The recommendations.
    pub recommendations: bool,
    /// The reports' metadata.
    pub reports: bool,
}

impl Include {
    /// Every relation (`/full`).
    pub const ALL: Self = Self {
        user: true,
        recommendations: true,
        reports: true,
    };

    /// The relations' names, as `?include=` spells them.
    pub const NAMES: [&'static str; 3] = ["user", "recommendations", "reports"];

    /// Parses a comma-separated list of relation names; empty items are ignored.
    ///
    /// # Errors
    /// The first name that is not a relation.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut include = Self::default();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "user" => include.user = true,
                "recommendations" => include.recommendations = true,
                "reports" => include.reports = true,
                other => return Err(other.to_owned()),
            }
        }
        Ok(include)
    }

    /// Whether no relation is asked for.
    pub fn is_empty(self) -> bool {
        self == Self::default()
    }
}
