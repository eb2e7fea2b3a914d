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
