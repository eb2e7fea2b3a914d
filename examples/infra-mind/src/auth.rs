//! Bearer tokens. `POST /api/users` hands a user its token once; the store keeps only its
//! blake3 hash and looks users up by it, so a stolen database holds no usable token. The
//! admin token comes from `ADMIN_TOKEN` or is generated at start-up.
//!
//! Extractors: [`AuthUser`] (a valid token, else 401), [`MaybeUser`] (no header is `None`, a
//! bad token still 401), [`Admin`] (the admin token; 401 without a token, 403 with a user's).

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use rand::RngCore;

use crate::domain::User;
use crate::error::ApiError;
use crate::state::AppState;

/// Prefix of generated tokens, so a leaked one is recognisable in logs and secret scanners.
const TOKEN_PREFIX: &str = "imt_";

/// A new random token: 256 bits, hex, with the `imt_` prefix.
pub fn generate_token() -> String {
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let mut token = String::with_capacity(TOKEN_PREFIX.len() + 64);
    token.push_str(TOKEN_PREFIX);
    for byte in bytes {
        token.push_str(&format!("{byte:02x}"));
    }
    token
}

/// The hash the store keeps for a token (blake3, hex).
pub fn hash_token(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

/// The admin token, held as its hash only.
#[derive(Debug, Clone)]
pub struct AdminToken {
    hash: blake3::Hash,
}

impl AdminToken {
    /// From the plain token.
    pub fn new(token: &str) -> Self {
        Self {
            hash: blake3::hash(token.as_bytes()),
        }
    }

    /// Whether `token` is the admin token. `blake3::Hash` compares in constant time.
    pub fn matches(&self, token: &str) -> bool {
        blake3::hash(token.as_bytes()) == self.hash
    }
}

/// Who is calling.
#[derive(Debug, Clone)]
pub enum Principal {
    /// The operator, with the admin token: may read and change everything.
    Admin,
    /// A registered user.
    User(User),
}

impl Principal {
    /// The user, when the caller is one.
    pub fn user(&self) -> Option<&User> {
        match self {
            Self::Admin => None,
            Self::User(user) => Some(user),
        }
    }

    /// Whether the caller is the admin.
    pub fn is_admin(&self) -> bool {
        matches!(self, Self::Admin)
    }

    /// Whether the caller may act on something owned by `owner_id`.
    pub fn may_access(&self, owner_id: &str) -> bool {
        match self {
            Self::Admin => true,
            Self::User(user) => user.id == owner_id,
        }
    }

    /// The id the response cache keys per-user entries by.
    pub fn cache_key(&self) -> String {
        match self {
            Self::Admin => "admin".to_owned(),
            Self::User(user) => format!("user:{}", user.id),
        }
    }

    /// A 403 unless the caller may act on `owner_id`'s `what`.
    ///
    /// # Errors
    /// [`ApiError::Forbidden`].
    pub fn require_access(&self, owner_id: &str, what: &str) -> Result<(), ApiError> {
        if self.may_access(owner_id) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this {what} belongs to another user"
            )))
        }
    }
}

/// The bearer token of the request, if it has an `Authorization` header.
fn bearer(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let Some(value) = parts.headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = || ApiError::Unauthorized("expected Authorization: Bearer <token>".to_owned());
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(malformed());
    }
    Ok(Some(token))
}

/// Resolves the token to a principal: the admin, a user, or 401.
async fn resolve(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    if state.admin.matches(token) {
        return Ok(Principal::Admin);
    }
    // The lookup is by hash, so its timing can reveal only the hash, never the token.
    match state.repo.user_by_token_hash(&hash_token(token)).await? {
        Some(user) => Ok(Principal::User(user)),
        None => Err(ApiError::Unauthorized(
            "unknown or revoked token".to_owned(),
        )),
    }
}

/// The principal of a request, resolved once and kept in the request extensions.
pub(crate) async fn principal(
    parts: &mut Parts,
    state: &AppState,
) -> Result<Option<Principal>, ApiError> {
    if let Some(known) = parts.extensions.get::<Principal>() {
        return Ok(Some(known.clone()));
    }
    let Some(token) = bearer(parts)? else {
        return Ok(None);
    };
    let principal = resolve(state, token).await?;
    parts.extensions.insert(principal.clone());
    Ok(Some(principal))
}

/// A caller with a valid token; 401 otherwise.
#[derive(Debug, Clone)]
pub struct AuthUser(pub Principal);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match principal(parts, state).await? {
            Some(principal) => Ok(Self(principal)),
            None => Err(ApiError::Unauthorized(
                "this route needs Authorization: Bearer <token>".to_owned(),
            )),
        }
    }
}

/// A caller who may be anonymous. A token that is present but unknown is still a 401.
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<Principal>);

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        principal(parts, state).await.map(Self)
    }
}

impl OptionalFromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, ApiError> {
        Ok(principal(parts, state).await?.map(Self))
    }
}

/// The admin; 401 without a valid token, 403 with a user's token.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match principal(parts, state).await? {
            Some(Principal::Admin) => Ok(Self),
            Some(Principal::User(_)) => Err(ApiError::Forbidden(
                "this route needs the admin token".to_owned(),
            )),
            None => Err(ApiError::Unauthorized(
                "this route needs Authorization: Bearer <admin token>".to_owned(),
            )),
        }
    }
}
