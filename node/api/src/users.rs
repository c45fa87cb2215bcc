//! Users, created by the ICT directorate.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use cc_governance::Permission;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{self, Caller};
use crate::error::{ApiError, ApiResult, ErrorBody, JsonBody};
use crate::AppState;

#[derive(Deserialize, Serialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct RoleGrant {
    /// `ict_directorate`, `unit_manager`, `supervisor`, `agent`, `noc_viewer`.
    pub role: String,
    /// The unit, for unit roles.
    #[serde(default)]
    pub unit: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub display_name: String,
    pub roles: Vec<RoleGrant>,
}

#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub id: i64,
    pub username: String,
    pub roles: Vec<RoleGrant>,
}

/// Creates a user with roles.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = UserView), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(user): JsonBody<NewUser>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    caller.require(Permission::Administer, None)?;
    if user.password.chars().count() < 12 {
        return Err(ApiError::bad_request(
            "a password has 12 characters at least",
        ));
    }
    for grant in &user.roles {
        let unit_role = matches!(grant.role.as_str(), "unit_manager" | "supervisor" | "agent");
        let platform_role = matches!(grant.role.as_str(), "ict_directorate" | "noc_viewer");
        if !unit_role && !platform_role {
            return Err(ApiError::bad_request(format!("no role {:?}", grant.role)));
        }
        if unit_role != grant.unit.is_some() {
            return Err(ApiError::bad_request(format!(
                "role {} {} a unit",
                grant.role,
                if unit_role { "needs" } else { "takes no" }
            )));
        }
    }
    let password = user.password.clone();
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|_| ApiError::bad_request("the password could not be hashed"))?;
    let mut client = state.store.client().await?;
    let tx = client.transaction().await?;
    if cc_store::users::secret(&*tx, &user.username)
        .await?
        .is_some()
    {
        return Err(ApiError::conflict(format!(
            "user {:?} exists already",
            user.username
        )));
    }
    let id = cc_store::users::create(&*tx, &user.username, &user.display_name, &hash)
        .await
        .map_err(|_| {
            ApiError::bad_request("a user name is lower-case letters, digits and . _ @ -")
        })?;
    for grant in &user.roles {
        if let Some(unit) = &grant.unit {
            if cc_store::units::get(&*tx, unit).await?.is_none() {
                return Err(ApiError::bad_request(format!("no unit {unit:?}")));
            }
        }
        cc_store::users::grant(&*tx, id, &grant.role, grant.unit.as_deref()).await?;
    }
    cc_store::governance::audit(
        &*tx,
        &caller.username,
        "ict_directorate",
        None,
        "user_created",
        &user.username,
        &serde_json::to_value(&user.roles).unwrap_or_default(),
        "",
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(UserView {
            id,
            username: user.username,
            roles: user.roles,
        }),
    ))
}
