//! Assessments: the public catalogue (list, one, `/full`) and owner-checked writes.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use serde::Serialize;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::AuthUser;
use crate::domain::{Assessment, AssessmentUpdate, NewAssessment, Recommendation, Report, User};
use crate::error::{ApiError, ApiJson};
use crate::observe;
use crate::repo::parse_id;
use crate::routes::cache;
use crate::state::AppState;

/// `GET /api/assessments` (the cached list) and `POST`.
pub(crate) fn list_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create))
}

/// One assessment and `/full` (cached under `assessments:{id}`), with its writes.
pub(crate) fn item_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(show, update, remove))
        .routes(routes!(full))
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

#[utoipa::path(
    get,
    path = "/api/assessments",
    tag = "assessments",
    summary = "Assessments, newest first (cached 300 s)",
    responses((status = 200, description = "OK"), (status = 422, description = "Invalid field (named in error.field)"))
)]
async fn list(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<Assessment>>, ApiError> {
    let limit = limit_param(query.as_deref())?;
    Ok(Json(state.repo.list_assessments(Some(limit)).await?))
}

#[utoipa::path(
    post,
    path = "/api/assessments",
    tag = "assessments",
    summary = "Create an assessment owned by the caller",
    responses((status = 201, description = "Created"), (status = 400, description = "Malformed JSON or invalid id"), (status = 401, description = "Missing or unknown token"), (status = 403, description = "Forbidden"), (status = 422, description = "Invalid field (named in error.field)"))
)]
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

#[utoipa::path(
    get,
    path = "/api/assessments/{id}",
    tag = "assessments",
    summary = "One assessment (cached 300 s)",
    params(("id" = String, Path, description = "ObjectId hex")),
    responses((status = 200, description = "OK"), (status = 400, description = "Malformed JSON or invalid id"), (status = 404, description = "Not found"))
)]
async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Assessment>, ApiError> {
    find(&state, &id).await.map(Json)
}

#[utoipa::path(
    put,
    path = "/api/assessments/{id}",
    tag = "assessments",
    summary = "Change an assessment (its owner or the admin)",
    params(("id" = String, Path, description = "ObjectId hex")),
    responses((status = 200, description = "OK"), (status = 400, description = "Malformed JSON or invalid id"), (status = 401, description = "Missing or unknown token"), (status = 403, description = "Forbidden"), (status = 404, description = "Not found"), (status = 422, description = "Invalid field (named in error.field)"))
)]
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
    cache::assessment_changed(&state.cache, &id, false).await;
    Ok(Json(updated))
}

#[utoipa::path(
    delete,
    path = "/api/assessments/{id}",
    tag = "assessments",
    summary = "Delete an assessment with its recommendations and reports",
    params(("id" = String, Path, description = "ObjectId hex")),
    responses((status = 204, description = "No content"), (status = 400, description = "Malformed JSON or invalid id"), (status = 401, description = "Missing or unknown token"), (status = 403, description = "Forbidden"), (status = 404, description = "Not found"))
)]
async fn remove(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let existing = find(&state, &id).await?;
    caller.require_access(&existing.user_id, "assessment")?;
    if state.repo.delete_assessment(&id).await? {
        cache::assessment_changed(&state.cache, &id, true).await;
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

#[utoipa::path(
    get,
    path = "/api/assessments/{id}/full",
    tag = "assessments",
    summary = "The assessment with its user, recommendations and reports (4 queries)",
    params(("id" = String, Path, description = "ObjectId hex")),
    responses((status = 200, description = "OK"), (status = 400, description = "Malformed JSON or invalid id"), (status = 404, description = "Not found"))
)]
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
