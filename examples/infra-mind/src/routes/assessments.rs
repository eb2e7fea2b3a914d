//! Assessments: the public catalogue (list, one, `/full`) and owner-checked writes.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use serde::Serialize;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::AuthUser;
use crate::domain::{
    Assessment, AssessmentUpdate, Include, NewAssessment, Recommendation, Report, User,
};
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
pub(crate) const MAX_LIMIT: u64 = 10_000;

/// A list's query: `?limit=N` (1 to 10,000, default 100) and
/// `?include=user,recommendations,reports` (the relations of each item; none by default).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ListQuery {
    pub(crate) limit: u64,
    pub(crate) include: Include,
}

impl ListQuery {
    /// Parses the raw query; a bad value is a 422 naming `limit` or `include`. Other
    /// parameters are ignored.
    pub(crate) fn parse(query: Option<&str>) -> Result<Self, ApiError> {
        let mut list = Self {
            limit: DEFAULT_LIMIT,
            include: Include::default(),
        };
        for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match &*key {
                "limit" => {
                    list.limit = value
                        .parse::<u64>()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| {
                            ApiError::field(
                                "limit",
                                format!("limit must be an integer from 1 to {MAX_LIMIT}"),
                            )
                        })?;
                }
                "include" => {
                    list.include = Include::parse(&value).map_err(|name| {
                        ApiError::field(
                            "include",
                            format!(
                                "unknown relation {name:?}; include takes a comma-separated list of {}",
                                Include::NAMES.join(", ")
                            ),
                        )
                    })?;
                }
                _ => {}
            }
        }
        Ok(list)
    }
}

/// One list item with the relations `?include=` asked for; relations left out are absent.
#[derive(Debug, Serialize)]
pub(crate) struct WithRelations {
    assessment: Assessment,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<Option<User>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recommendations: Option<Vec<Recommendation>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reports: Option<Vec<Report>>,
}

/// The list answer: plain assessments, or each with its `include`d relations.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum AssessmentList {
    Plain(Vec<Assessment>),
    WithRelations(Vec<WithRelations>),
}

impl AssessmentList {
    /// Loads the `include`d relations of `assessments` (none: no query).
    pub(crate) async fn load(
        state: &AppState,
        assessments: Vec<Assessment>,
        include: Include,
    ) -> Result<Self, ApiError> {
        if include.is_empty() {
            return Ok(Self::Plain(assessments));
        }
        let related = state.relations(assessments, include).await?;
        Ok(Self::WithRelations(
            related
                .into_iter()
                .map(|r| WithRelations {
                    assessment: r.assessment,
                    user: include.user.then_some(r.user),
                    recommendations: include.recommendations.then_some(r.recommendations),
                    reports: include.reports.then_some(r.reports),
                })
                .collect(),
        ))
    }
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
    summary = "Assessments, newest first, optionally with their relations (cached 300 s)",
    params(
        ("limit" = Option<u64>, Query, description = "Page size, 1 to 10000 (default 100)"),
        ("include" = Option<String>, Query, description = "Relations of each item: a comma-separated subset of user, recommendations, reports (one query per relation)")
    ),
    responses((status = 200, description = "OK"), (status = 422, description = "Invalid field (named in error.field)"))
)]
async fn list(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<AssessmentList>, ApiError> {
    let ListQuery { limit, include } = ListQuery::parse(query.as_deref())?;
    let assessments = state.repo.list_assessments(Some(limit)).await?;
    Ok(Json(
        AssessmentList::load(&state, assessments, include).await?,
    ))
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
/// recommendations and reports through `AppState::relations` (one query each, unless the
/// server runs `--relation-loading n-plus-one`).
async fn full(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Full>, ApiError> {
    let assessment = find(&state, &id).await?;
    let related = state
        .relations(vec![assessment], Include::ALL)
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
