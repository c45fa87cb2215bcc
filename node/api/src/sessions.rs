//! Logging in: a token for a user name and password.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth;
use crate::error::{ApiError, ApiResult, ErrorBody, JsonBody};
use crate::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub username: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct Session {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// How long a token lasts.
const SESSION_HOURS: i64 = 12;

/// Logs in.
#[utoipa::path(post, path = "/api/v1/sessions", tag = "sessions", request_body = Login,
    responses((status = 201, body = Session), (status = 401, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    JsonBody(login): JsonBody<Login>,
) -> ApiResult<(StatusCode, Json<Session>)> {
    let client = state.store.client().await?;
    let user = cc_store::users::secret(&**client, &login.username).await?;
    // The same answer, and about the same time, for an unknown user.
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| state.dummy_hash.clone());
    let password = login.password.clone();
    let valid = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    let Some(user) = user.filter(|_| valid) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "wrong user name or password",
        ));
    };
    let (token, digest) = auth::new_token();
    let expires_at = chrono::Utc::now() + chrono::Duration::hours(SESSION_HOURS);
    cc_store::users::create_session(&**client, &digest, user.id, expires_at).await?;
    Ok((StatusCode::CREATED, Json(Session { token, expires_at })))
}
