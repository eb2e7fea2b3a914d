//! Recommendations: the public list and owner-checked manual creation.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use serde::Serialize;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::agents;
use crate::auth::AuthUser;
use crate::domain::{NewRecommendation, Recommendation};
use crate::error::{ApiError, ApiJson};
use crate::observe;
use crate::routes::assessments::{ListQuery, find};
use crate::routes::cache;
use crate::state::AppState;

/// The list (cached in `routes/mod.rs`) and manual creation.
pub(crate) fn list_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create))
}

/// Agent generation.
pub(crate) fn generate_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(generate))
}

#[utoipa::path(
    get,
    path = "/api/recommendations",
    tag = "recommendations",
    summary = "Recommendations, newest first (cached 300 s)",
    responses((status = 200, description = "OK"), (status = 422, description = "Invalid field (named in error.field)"))
)]
async fn list(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<Recommendation>>, ApiError> {
    let ListQuery { limit, .. } = ListQuery::parse(query.as_deref())?;
    Ok(Json(state.repo.list_recommendations(Some(limit)).await?))
}

#[utoipa::path(
    post,
    path = "/api/recommendations",
    tag = "recommendations",
    summary = "Add a recommendation to one of the caller's assessments",
    responses((status = 201, description = "Created"), (status = 400, description = "Malformed JSON or invalid id"), (status = 401, description = "Missing or unknown token"), (status = 403, description = "Forbidden"), (status = 404, description = "Not found"), (status = 422, description = "Invalid field (named in error.field)"))
)]
async fn create(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    ApiJson(mut body): ApiJson<NewRecommendation>,
) -> Result<(StatusCode, Json<Recommendation>), ApiError> {
    body.title = body.title.trim().to_owned();
    if body.title.is_empty() || body.title.len() > 200 {
        return Err(ApiError::field(
            "title",
            "title must be 1 to 200 characters",
        ));
    }
    body.category = body.category.trim().to_lowercase();
    if body.category.is_empty() || body.category.len() > 50 {
        return Err(ApiError::field(
            "category",
            "category must be 1 to 50 characters",
        ));
    }
    let assessment = find(&state, &body.assessment_id).await?;
    caller.require_access(&assessment.user_id, "assessment")?;
    let created = state
        .repo
        .create_recommendations(vec![body])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::Internal("the store returned no recommendation".to_owned()))?;
    observe::recommendations_created(&state.metrics, std::slice::from_ref(&created));
    cache::recommendations_changed(&state.cache, &assessment.id).await;
    Ok((StatusCode::CREATED, Json(created)))
}

#[derive(Debug, Serialize)]
struct GeneratedView {
    provider: String,
    model: String,
    recommendations: Vec<Recommendation>,
}

#[utoipa::path(
    post,
    path = "/api/assessments/{id}/recommendations/generate",
    tag = "recommendations",
    summary = "Run the recommendation agent through the LLM providers",
    params(("id" = String, Path, description = "ObjectId hex")),
    responses((status = 201, description = "Created"), (status = 400, description = "Malformed JSON or invalid id"), (status = 401, description = "Missing or unknown token"), (status = 403, description = "Forbidden"), (status = 404, description = "Not found"), (status = 503, description = "Backend unavailable (Retry-After)"))
)]
/// Runs the recommendation agent through the provider chain. 503 with `Retry-After` when no
/// provider can answer (every breaker open, or every provider failing).
async fn generate(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<GeneratedView>), ApiError> {
    let assessment = find(&state, &id).await?;
    caller.require_access(&assessment.user_id, "assessment")?;
    let started = std::time::Instant::now();
    let generated = match agents::generate(&state.llm, state.repo.as_ref(), &assessment).await {
        Ok(generated) => generated,
        Err(error) => {
            observe::agent_run(
                &state.metrics,
                agents::AGENT,
                started.elapsed(),
                Err(error.kind()),
            );
            return Err(error.into());
        }
    };
    observe::agent_run(
        &state.metrics,
        agents::AGENT,
        generated.duration,
        Ok(&generated.recommendations),
    );
    observe::recommendations_created(&state.metrics, &generated.recommendations);
    cache::recommendations_changed(&state.cache, &assessment.id).await;
    tracing::info!(
        provider = %generated.provider,
        count = generated.recommendations.len(),
        "recommendations generated"
    );
    Ok((
        StatusCode::CREATED,
        Json(GeneratedView {
            provider: generated.provider,
            model: generated.model,
            recommendations: generated.recommendations,
        }),
    ))
}
