//! Reports: generated from an assessment and its recommendations, stored, read back by the
//! assessment's owner (or the admin).

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{AuthUser, Principal};
use crate::domain::{NewReport, Report, ReportFormat, ReportType};
use crate::error::{ApiError, ApiJson};
use crate::observe;
use crate::repo::loaders::RequestLoaders;
use crate::repo::parse_id;
use crate::reports::{ReportInput, render};
use crate::routes::assessments::find;
use crate::routes::cache;
use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(show))
        .routes(routes!(download))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateReport {
    #[serde(rename = "type")]
    report_type: ReportType,
    format: ReportFormat,
}

#[derive(Debug, Serialize)]
struct ReportView {
    #[serde(flatten)]
    report: Report,
    download_url: String,
}

impl From<Report> for ReportView {
    fn from(report: Report) -> Self {
        Self {
            download_url: format!("/api/reports/{}/download", report.id),
            report,
        }
    }
}

#[utoipa::path(
    post,
    path = "/api/assessments/{id}/reports",
    tag = "reports",
    summary = "Generate and store a report",
    params(("id" = String, Path, description = "ObjectId hex")),
    responses((status = 201, description = "Created"), (status = 400, description = "Malformed JSON or invalid id"), (status = 401, description = "Missing or unknown token"), (status = 403, description = "Forbidden"), (status = 404, description = "Not found"), (status = 422, description = "Invalid field (named in error.field)"))
)]
async fn create(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Extension(loaders): Extension<RequestLoaders>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CreateReport>,
) -> Result<(StatusCode, Json<ReportView>), ApiError> {
    let assessment = find(&state, &id).await?;
    caller.require_access(&assessment.user_id, "assessment")?;
    let ids = [assessment.id.clone()];
    let owner = assessment.user_id.clone();
    let (user, recommendations) = tokio::try_join!(
        loaders.user(&owner),
        state.repo.recommendations_by_assessments(&ids),
    )?;
    let input = ReportInput {
        assessment: &assessment,
        user: user.as_ref(),
        recommendations: &recommendations,
    };
    let content = render(body.report_type, body.format, input);
    let requester = caller
        .user()
        .map_or_else(|| assessment.user_id.clone(), |u| u.id.clone());
    let report = state
        .repo
        .create_report(NewReport {
            assessment_id: assessment.id.clone(),
            user_id: requester,
            report_type: body.report_type,
            format: body.format,
            content,
        })
        .await?;
    observe::report_created(&state.metrics, &report);
    cache::report_created(&state.cache, &assessment.id).await;
    tracing::info!(report_id = %report.id, format = report.format.as_str(), "report generated");
    Ok((StatusCode::CREATED, Json(report.into())))
}

/// A report the caller may read: the owner of its assessment, or the admin.
async fn readable(state: &AppState, caller: &Principal, id: &str) -> Result<Report, ApiError> {
    parse_id(id)?;
    let report = state
        .repo
        .get_report(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no report {id}")))?;
    let owner = match state.repo.get_assessment(&report.assessment_id).await? {
        Some(assessment) => assessment.user_id,
        None => report.user_id.clone(),
    };
    caller.require_access(&owner, "report")?;
    Ok(report)
}

#[utoipa::path(
    get,
    path = "/api/reports/{id}",
    tag = "reports",
    summary = "A report's metadata (owner of its assessment)",
    params(("id" = String, Path, description = "ObjectId hex")),
    responses((status = 200, description = "OK"), (status = 400, description = "Malformed JSON or invalid id"), (status = 401, description = "Missing or unknown token"), (status = 403, description = "Forbidden"), (status = 404, description = "Not found"))
)]
async fn show(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<ReportView>, ApiError> {
    Ok(Json(readable(&state, &caller, &id).await?.into()))
}

#[utoipa::path(
    get,
    path = "/api/reports/{id}/download",
    tag = "reports",
    summary = "The report document with its Content-Type",
    params(("id" = String, Path, description = "ObjectId hex")),
    responses((status = 200, description = "OK"), (status = 400, description = "Malformed JSON or invalid id"), (status = 401, description = "Missing or unknown token"), (status = 403, description = "Forbidden"), (status = 404, description = "Not found"))
)]
async fn download(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    readable(&state, &caller, &id).await?;
    let (report, content) = state
        .repo
        .report_document(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no report {id}")))?;
    let mut response = content.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(report.format.content_type()),
    );
    let disposition = format!(
        "attachment; filename=\"report-{}.{}\"",
        report.id,
        report.format.extension()
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}
