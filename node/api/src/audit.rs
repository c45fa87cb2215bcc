//! The audit trail of a unit.

use axum::extract::{Path, State};
use axum::Json;
use cc_governance::Permission;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::AppState;

#[derive(Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    /// Who, in which role.
    pub username: String,
    pub role: String,
    /// What: `sign_up_requested`, `change_applied`, `approved_applied`, …
    pub action: String,
    pub subject: String,
    /// The changes (JSON Pointer path, before, after).
    #[schema(value_type = Object)]
    pub diff: Value,
    /// Why.
    pub reason: String,
}

/// Every change, approval and rejection of a unit, oldest first.
#[utoipa::path(get, path = "/api/v1/units/{unit}/audit", tag = "audit", params(("unit" = String, Path)),
    responses((status = 200, body = [AuditEntry]), (status = 404, body = ErrorBody)))]
pub async fn trail(
    State(state): State<AppState>,
    caller: Caller,
    Path(unit): Path<String>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    caller.require(Permission::ReadUnit, Some(&unit))?;
    let client = state.store.client().await?;
    let rows = cc_store::governance::audit_trail(&**client, &unit).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| AuditEntry {
                id: r.id,
                at: r.at,
                username: r.username,
                role: r.role,
                action: r.action,
                subject: r.subject,
                diff: r.diff,
                reason: r.reason,
            })
            .collect(),
    ))
}
