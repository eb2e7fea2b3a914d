//! Assessments: the public catalogue (list, one, `/full`) and owner-checked writes.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::auth::AuthUser;
use crate::domain::{Assessment, AssessmentUpdate, NewAssessment, Recommendation, Report, User};
use crate::error::{ApiError, ApiJson};
use crate::observe;
use crate::repo::parse_id;
use crate::routes::cache;
use crate::state::AppState;

/// `GET /api/assessments` (the cached list) and `POST`.
pub(crate) fn list_router() -> Router<AppState> {
    Router::new().route("/api/assessments", get(list).post(create))
}

/// One assessment and `/full` (cached under `assessments:{id}`), with its writes.
pub(crate) fn item_router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/assessments/{id}",
            get(show).put(update).delete(remove),
        )
        .route("/api/assessments/{id}/full", get(full))
}

/// Default and largest page of a list.
pub(crate) const DEFAULT_LIMIT: u64 = 100;
pub(crate) const MAX_LIMIT: u64 = 1000;

/// Reads `?limit=N` (1 to 1000, default 100); a bad value is a 422 naming `limit`.
pub(crate) fn limit_param(query: Option<&str>) -> Result<u64, ApiError> {
    let Some(query) = query else {
        return Ok(DEFAULT_LIMIT);
    };
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key == "limit" {
            return match value.parse::<u64>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
                _ => Err(ApiError::field(
                    "limit",
                    format!("limit must be an integer from 1 to {MAX_LIMIT}"),
                )),
            };
        }
    }
    Ok(DEFAULT_LIMIT)
}

fn check_title(title: &str) -> Result<String, ApiError> {
    let title = title.trim();
    if title.is_empty() || title.len() > 200 {
        return Err(ApiError::field(
            "title",
            "title must be 1 to 200 characters",
        ));
    }
    Ok(title.to_owned())
}

async fn list(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<Assessment>>, ApiError> {
    let limit = limit_param(query.as_deref())?;
    Ok(Json(state.repo.list_assessments(Some(limit)).await?))
}

async fn create(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    ApiJson(mut body): ApiJson<NewAssessment>,
) -> Result<(StatusCode, Json<Assessment>), ApiError> {
    let Some(user) = caller.user() else {
        return Err(ApiError::Forbidden(
            "the admin token has no user; create a user and use its token to own assessments"
                .to_owned(),
        ));
    };
    body.title = check_title(&body.title)?;
    let assessment = state.repo.create_assessment(&user.id, body).await?;
    observe::assessment_created(&state.metrics, &assessment);
    cache::assessment_created(&state.cache).await;
    tracing::info!(assessment_id = %assessment.id, "assessment created");
    Ok((StatusCode::CREATED, Json(assessment)))
}

/// Loads an assessment or answers 400 (bad id) / 404 (unknown).
pub(crate) async fn find(state: &AppState, id: &str) -> Result<Assessment, ApiError> {
    parse_id(id)?;
    state
        .repo
        .get_assessment(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no assessment {id}")))
}

async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Assessment>, ApiError> {
    find(&state, &id).await.map(Json)
}

async fn update(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<String>,
    ApiJson(mut body): ApiJson<AssessmentUpdate>,
) -> Result<Json<Assessment>, ApiError> {
    let existing = find(&state, &id).await?;
    caller.require_access(&existing.user_id, "assessment")?;
    if let Some(title) = &body.title {
        body.title = Some(check_title(title)?);
    }
    let updated = state
        .repo
        .update_assessment(&id, body)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no assessment {id}")))?;
    cache::assessment_changed(&state.cache, false).await;
    Ok(Json(updated))
}

async fn remove(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let existing = find(&state, &id).await?;
    caller.require_access(&existing.user_id, "assessment")?;
    if state.repo.delete_assessment(&id).await? {
        cache::assessment_changed(&state.cache, true).await;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("no assessment {id}")))
    }
}

/// An assessment with its user, recommendations and reports.
#[derive(Debug, Serialize)]
struct Full {
    assessment: Assessment,
    user: Option<User>,
    recommendations: Vec<Recommendation>,
    reports: Vec<Report>,
}

/// Four queries whatever the number of related rows: the assessment, then its user,
/// recommendations and reports through `Repository::with_relations` (one query each).
async fn full(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Full>, ApiError> {
    let assessment = find(&state, &id).await?;
    let related = state
        .repo
        .with_relations(vec![assessment])
        .await?
        .pop()
        .ok_or_else(|| ApiError::Internal("with_relations dropped the assessment".to_owned()))?;
    Ok(Json(Full {
        assessment: related.assessment,
        user: related.user,
        recommendations: related.recommendations,
        reports: related.reports,
    }))
}
