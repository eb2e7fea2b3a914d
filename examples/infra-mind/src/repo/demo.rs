//! Demo data: what embedded mode starts with, and what `seed` writes to MongoDB.

use rand::RngCore;

use super::{RepoError, Repository};
use crate::domain::{
    AssessmentStatus, NewAssessment, NewRecommendation, NewReport, NewUser, Priority, ReportFormat,
    ReportType,
};

/// How much demo data to make.
#[derive(Debug, Clone)]
pub struct DemoSize {
    /// Users.
    pub users: usize,
    /// Assessments, spread round-robin over the users.
    pub assessments: usize,
    /// Recommendations per assessment.
    pub recommendations_per_assessment: usize,
    /// Reports per assessment.
    pub reports_per_assessment: usize,
}

impl Default for DemoSize {
    /// The embedded store's start: 3 users, 6 assessments, 3 recommendations and 1 report each.
    fn default() -> Self {
        Self {
            users: 3,
            assessments: 6,
            recommendations_per_assessment: 3,
            reports_per_assessment: 1,
        }
    }
}

const NAMES: [&str; 8] = [
    "Ada Lovelace",
    "Grace Hopper",
    "Alan Turing",
    "Barbara Liskov",
    "Edsger Dijkstra",
    "Margaret Hamilton",
    "Donald Knuth",
    "Radia Perlman",
];
const CLOUDS: [&str; 3] = ["aws", "gcp", "azure"];
const WORKLOADS: [&str; 5] = [
    "Checkout service",
    "Data lake",
    "ML training cluster",
    "Customer portal",
    "Event pipeline",
];
const ADVICE: [(&str, &str); 6] = [
    ("Right-size idle instances", "cost"),
    ("Enable encryption at rest", "security"),
    ("Spread across availability zones", "reliability"),
    ("Add autoscaling on queue depth", "performance"),
    ("Move cold data to archive storage", "cost"),
    ("Rotate access keys automatically", "security"),
];

/// The `index`-th demo user. The token is random and thrown away: demo users cannot log in;
/// create your own with `POST /api/users`.
pub fn user(index: usize) -> NewUser {
    let name = NAMES[index % NAMES.len()];
    let slug = name.to_lowercase().replace(' ', ".");
    let mut secret = [0_u8; 32];
    rand::rng().fill_bytes(&mut secret);
    NewUser {
        email: format!("{slug}.{index}@example.com"),
        full_name: name.to_owned(),
        token_hash: blake3::hash(&secret).to_hex().to_string(),
    }
}

/// The `index`-th demo assessment.
pub fn assessment(index: usize) -> NewAssessment {
    NewAssessment {
        title: format!("{} #{index}", WORKLOADS[index % WORKLOADS.len()]),
        description: Some("Demo assessment from the seeded data.".to_owned()),
        cloud_provider: Some(CLOUDS[index % CLOUDS.len()].to_owned()),
        status: Some(AssessmentStatus::ALL[index % AssessmentStatus::ALL.len()]),
    }
}

/// The `index`-th demo recommendation of an assessment.
pub fn recommendation(assessment_id: &str, index: usize) -> NewRecommendation {
    let (title, category) = ADVICE[index % ADVICE.len()];
    NewRecommendation {
        assessment_id: assessment_id.to_owned(),
        title: title.to_owned(),
        category: category.to_owned(),
        priority: Priority::ALL[index % Priority::ALL.len()],
        description: Some(format!("{title} ({category}).")),
        confidence: Some(0.8),
        source: "demo".to_owned(),
    }
}

/// A small JSON summary report for an assessment.
pub fn report(assessment_id: &str, user_id: &str) -> NewReport {
    let content = serde_json::json!({ "assessment_id": assessment_id, "summary": "demo report" });
    NewReport {
        assessment_id: assessment_id.to_owned(),
        user_id: user_id.to_owned(),
        report_type: ReportType::Summary,
        format: ReportFormat::Json,
        content: content.to_string().into_bytes(),
    }
}

/// Writes `size` worth of demo data with bulk inserts (one per collection).
///
/// # Errors
/// The store's error.
pub async fn load(repo: &dyn Repository, size: &DemoSize) -> Result<(), RepoError> {
    if size.users == 0 {
        return Ok(());
    }
    let users = repo
        .create_users((0..size.users).map(user).collect())
        .await?;
    let assessments = repo
        .create_assessments(
            (0..size.assessments)
                .map(|i| (users[i % users.len()].id.clone(), assessment(i)))
                .collect(),
        )
        .await?;
    let recommendations = assessments
        .iter()
        .flat_map(|a| (0..size.recommendations_per_assessment).map(|i| recommendation(&a.id, i)))
        .collect();
    repo.create_recommendations(recommendations).await?;
    let reports = assessments
        .iter()
        .flat_map(|a| (0..size.reports_per_assessment).map(|_| report(&a.id, &a.user_id)))
        .collect();
    repo.create_reports(reports).await?;
    Ok(())
}
