//! The dashboard: totals and the ten most recent assessments with owners and counts.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::domain::{DashboardCounts, RecentAssessment};
use crate::error::ApiError;
use crate::state::AppState;

/// How many recent assessments the dashboard shows.
pub(crate) const RECENT: u64 = 10;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/api/dashboard", get(dashboard))
}

#[derive(Debug, Serialize)]
struct Dashboard {
    counts: DashboardCounts,
    recent_assessments: Vec<RecentAssessment>,
}

/// A fixed number of queries: the counts, the recent page, and one query per relation of
/// the recent page (users, recommendations, reports) through `Repository::with_relations`.
async fn dashboard(State(state): State<AppState>) -> Result<Json<Dashboard>, ApiError> {
    let (counts, recent) = tokio::try_join!(
        state.repo.counts(),
        state.repo.list_assessments(Some(RECENT))
    )?;
    let recent_assessments = state
        .repo
        .with_relations(recent)
        .await?
        .into_iter()
        .map(|related| RecentAssessment {
            recommendations_count: related.recommendations.len() as u64,
            user: related.user,
            assessment: related.assessment,
        })
        .collect();
    Ok(Json(Dashboard {
        counts,
        recent_assessments,
    }))
}
