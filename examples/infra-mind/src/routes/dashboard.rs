//! The dashboard: totals and the ten most recent assessments with owners and counts.

use std::collections::HashMap;

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

/// A fixed number of queries: the counts, the recent page, one batch of users and one of
/// recommendation counts.
async fn dashboard(State(state): State<AppState>) -> Result<Json<Dashboard>, ApiError> {
    let (counts, recent) = tokio::try_join!(
        state.repo.counts(),
        state.repo.list_assessments(Some(RECENT))
    )?;
    let mut user_ids: Vec<String> = recent.iter().map(|a| a.user_id.clone()).collect();
    user_ids.sort();
    user_ids.dedup();
    let assessment_ids: Vec<String> = recent.iter().map(|a| a.id.clone()).collect();
    let (users, rec_counts) = tokio::try_join!(
        state.repo.users_by_ids(&user_ids),
        state.repo.recommendation_counts(&assessment_ids),
    )?;
    let users: HashMap<String, _> = users.into_iter().map(|u| (u.id.clone(), u)).collect();
    let recent_assessments = recent
        .into_iter()
        .map(|assessment| RecentAssessment {
            user: users.get(&assessment.user_id).cloned(),
            recommendations_count: rec_counts.get(&assessment.id).copied().unwrap_or(0),
            assessment,
        })
        .collect();
    Ok(Json(Dashboard {
        counts,
        recent_assessments,
    }))
}
