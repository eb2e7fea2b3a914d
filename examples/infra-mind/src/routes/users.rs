//! Users: sign-up (the token is shown once), listing, `me`, and a user's assessments.

use axum::Json;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{AuthUser, generate_token, hash_token};
use crate::domain::{NewUser, User};
use crate::error::{ApiError, ApiJson};
use crate::repo::loaders::RequestLoaders;
use crate::repo::parse_id;
use crate::routes::assessments::{AssessmentList, ListQuery};
use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(me))
        .routes(routes!(show))
}

/// The per-user listing, wrapped with its own cache layer in `routes/mod.rs`.
pub(crate) fn assessments_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(assessments))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateUser {
    email: String,
    full_name: String,
}

/// A created user with its token, the only time the token is shown.
#[derive(Debug, Serialize)]
struct CreatedUser {
    #[serde(flatten)]
    user: User,
    token: String,
}

fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && email.len() <= 254
        && !email.chars().any(char::is_whitespace)
}

#[utoipa::path(
    post,
    path = "/api/users",
    tag = "users",
    summary = "Sign up; the bearer token is returned once",
    responses((status = 201, description = "Created"), (status = 400, description = "Malformed JSON or invalid id"), (status = 409, description = "Email taken"), (status = 422, description = "Invalid field (named in error.field)"))
)]
async fn create(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<CreatedUser>), ApiError> {
    let email = body.email.trim().to_lowercase();
    if !valid_email(&email) {
        return Err(ApiError::field(
            "email",
            "email must look like name@example.com",
        ));
    }
    let full_name = body.full_name.trim().to_owned();
    if full_name.is_empty() || full_name.len() > 200 {
        return Err(ApiError::field(
            "full_name",
            "full_name must be 1 to 200 characters",
        ));
    }
    let token = generate_token();
    let user = state
        .repo
        .create_user(NewUser {
            email,
            full_name,
            token_hash: hash_token(&token),
        })
        .await?;
    tracing::info!(user_id = %user.id, "user created");
    Ok((StatusCode::CREATED, Json(CreatedUser { user, token })))
}

#[utoipa::path(
    get,
    path = "/api/users",
    tag = "users",
    summary = "Every user, newest first",
    responses((status = 200, description = "OK"), (status = 401, description = "Missing or unknown token"))
)]
async fn list(
    State(state): State<AppState>,
    _caller: AuthUser,
) -> Result<Json<Vec<User>>, ApiError> {
    Ok(Json(state.repo.list_users().await?))
}

#[utoipa::path(
    get,
    path = "/api/users/me",
    tag = "users",
    summary = "The caller",
    responses((status = 200, description = "OK"), (status = 401, description = "Missing or unknown token"))
)]
async fn me(AuthUser(caller): AuthUser) -> Result<Json<serde_json::Value>, ApiError> {
    match caller.user() {
        Some(user) => Ok(Json(
            serde_json::to_value(user).map_err(|e| ApiError::Internal(e.to_string()))?,
        )),
        None => Ok(Json(serde_json::json!({ "admin": true }))),
    }
}

#[utoipa::path(
    get,
    path = "/api/users/{id}",
    tag = "users",
    summary = "One user",
    params(("id" = String, Path, description = "ObjectId hex")),
    responses((status = 200, description = "OK"), (status = 400, description = "Malformed JSON or invalid id"), (status = 401, description = "Missing or unknown token"), (status = 404, description = "Not found"))
)]
async fn show(
    State(state): State<AppState>,
    _caller: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<User>, ApiError> {
    parse_id(&id)?;
    state
        .repo
        .get_user(&id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no user {id}")))
}

#[utoipa::path(
    get,
    path = "/api/users/{user_id}/assessments",
    tag = "users",
    summary = "A user's assessments (the owner or the admin; cached 60 s per reader)",
    params(
        ("user_id" = String, Path, description = "ObjectId hex"),
        ("limit" = Option<u64>, Query, description = "Page size, 1 to 10000 (default 100)"),
        ("include" = Option<String>, Query, description = "Relations of each item: a comma-separated subset of user, recommendations, reports (one query per relation)")
    ),
    responses((status = 200, description = "OK"), (status = 400, description = "Malformed JSON or invalid id"), (status = 401, description = "Missing or unknown token"), (status = 403, description = "Forbidden"), (status = 404, description = "Not found"), (status = 422, description = "Invalid field (named in error.field)"))
)]
/// A user's assessments: the owner or an admin, anyone else 403.
async fn assessments(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Extension(loaders): Extension<RequestLoaders>,
    Path(user_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<AssessmentList>, ApiError> {
    parse_id(&user_id)?;
    let ListQuery { limit, include } = ListQuery::parse(query.as_deref())?;
    caller.require_access(&user_id, "list")?;
    if caller.is_admin() && loaders.user(&user_id).await?.is_none() {
        return Err(ApiError::NotFound(format!("no user {user_id}")));
    }
    let assessments = state
        .repo
        .assessments_by_user(&user_id, Some(limit))
        .await?;
    Ok(Json(
        AssessmentList::load(&state, assessments, include).await?,
    ))
}
