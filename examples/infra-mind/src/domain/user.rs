use serde::{Deserialize, Serialize};

use super::Timestamp;

/// A registered user, as the API shows it (the token hash never leaves the store).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// ObjectId hex.
    pub id: String,
    /// Lower-cased, unique.
    pub email: String,
    /// Display name.
    pub full_name: String,
    /// When the user was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
}

/// What the store needs to create a user.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Lower-cased email.
    pub email: String,
    /// Display name.
    pub full_name: String,
    /// blake3 hex of the user's bearer token.
    pub token_hash: String,
}
