//! Users, their roles, and their sessions.

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;

use crate::StoreError;

/// A user as the API needs them to authenticate.
pub struct UserSecret {
    pub id: i64,
    pub password_hash: String,
}

/// Creates a user; returns their id.
pub async fn create(
    client: &impl GenericClient,
    username: &str,
    display_name: &str,
    password_hash: &str,
) -> Result<i64, StoreError> {
    let row = client
        .query_one(
            "INSERT INTO users (username, display_name, password_hash) VALUES ($1, $2, $3) RETURNING id",
            &[&username, &display_name, &password_hash],
        )
        .await?;
    Ok(row.get(0))
}

/// Gives a user a role (`unit` for unit roles).
pub async fn grant(
    client: &impl GenericClient,
    user_id: i64,
    role: &str,
    unit: Option<&str>,
) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO user_roles (user_id, role, unit) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[&user_id, &role, &unit],
        )
        .await?;
    Ok(())
}

pub async fn secret(
    client: &impl GenericClient,
    username: &str,
) -> Result<Option<UserSecret>, StoreError> {
    Ok(client
        .query_opt(
            "SELECT id, password_hash FROM users WHERE username = $1",
            &[&username],
        )
        .await?
        .map(|row| UserSecret {
            id: row.get(0),
            password_hash: row.get(1),
        }))
}

/// `(role, unit)` of each of the user's roles.
pub async fn roles(
    client: &impl GenericClient,
    user_id: i64,
) -> Result<Vec<(String, Option<String>)>, StoreError> {
    Ok(client
        .query(
            "SELECT role, unit FROM user_roles WHERE user_id = $1",
            &[&user_id],
        )
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect())
}

pub async fn create_session(
    client: &impl GenericClient,
    token_sha256: &[u8],
    user_id: i64,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO sessions (token_sha256, user_id, expires_at) VALUES ($1, $2, $3)",
            &[&token_sha256, &user_id, &expires_at],
        )
        .await?;
    Ok(())
}

/// The user of a session that has not expired: `(id, username)`.
pub async fn session_user(
    client: &impl GenericClient,
    token_sha256: &[u8],
) -> Result<Option<(i64, String)>, StoreError> {
    Ok(client
        .query_opt(
            "SELECT u.id, u.username FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.token_sha256 = $1 AND s.expires_at > now()",
            &[&token_sha256],
        )
        .await?
        .map(|row| (row.get(0), row.get(1))))
}
