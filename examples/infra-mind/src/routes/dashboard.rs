//! The dashboard: totals and the ten most recent assessments with owners and counts.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::{DashboardCounts, Include, RecentAssessment};
use crate::error::ApiError;
use crate::state::AppState;

/// How many recent assessments the dashboard shows.
pub(crate) const RECENT: u64 = 10;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(dashboard))
}

#[derive(Debug, Serialize)]
struct Dashboard {
    counts: DashboardCounts,
    recent_assessments: Vec<RecentAssessment>,
}

#[utoipa::path(
    get,
    path = "/api/dashboard",
    tag = "dashboard",
    summary = "Totals and the 10 newest assessments with owners",
    responses((status = 200, description = "OK"))
)]
/// A fixed number of queries: the counts, the recent page, and one query per relation of
/// the recent page (users, recommendations) through `AppState::relations`.
async fn dashboard(State(state): State<AppState>) -> Result<Json<Dashboard>, ApiError> {
    let (counts, recent) = tokio::try_join!(
        state.repo.counts(),
        state.repo.list_assessments(Some(RECENT))
    )?;
    let owners_and_recommendations = Include {
        user: true,
        recommendations: true,
        reports: false,
    };
    let recent_assessments = state
        .relations(recent, owners_and_recommendations)
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
