//! A unit's call records and voicemail, for its supervisors and managers.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use cc_governance::Permission;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::AppState;

#[derive(Deserialize, IntoParams)]
pub struct RecordsQuery {
    /// How many, newest first (default 100, at most 1000).
    pub limit: Option<i64>,
}

/// A unit's call records, newest first (as the nodes write them: path
/// through the flow, queue and wait, agent, outcome, tags).
#[utoipa::path(get, path = "/api/v1/units/{unit}/records", tag = "calls",
    params(("unit" = String, Path), RecordsQuery),
    responses((status = 200, body = [Object]), (status = 404, body = ErrorBody)))]
pub async fn records(
    State(state): State<AppState>,
    caller: Caller,
    Path(unit): Path<String>,
    Query(query): Query<RecordsQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    caller.require(Permission::Supervise, Some(&unit))?;
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let client = state.store.client().await?;
    Ok(Json(
        cc_store::calls::records(&**client, &unit, limit).await?,
    ))
}

#[derive(Serialize, ToSchema)]
pub struct VoicemailView {
    pub id: i64,
    pub call_id: String,
    pub caller: String,
    pub received_at: chrono::DateTime<chrono::Utc>,
    pub duration_ms: i32,
    /// Who listened first (None: nobody yet).
    pub heard_by: Option<String>,
}

/// A unit's voicemail, newest first.
#[utoipa::path(get, path = "/api/v1/units/{unit}/voicemail", tag = "calls", params(("unit" = String, Path)),
    responses((status = 200, body = [VoicemailView]), (status = 404, body = ErrorBody)))]
pub async fn voicemail(
    State(state): State<AppState>,
    caller: Caller,
    Path(unit): Path<String>,
) -> ApiResult<Json<Vec<VoicemailView>>> {
    caller.require(Permission::Supervise, Some(&unit))?;
    let client = state.store.client().await?;
    let rows = cc_store::calls::voicemail(&**client, &unit).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| VoicemailView {
                id: r.id,
                call_id: r.call_id,
                caller: r.caller,
                received_at: r.received_at,
                duration_ms: r.duration_ms,
                heard_by: r.heard_by,
            })
            .collect(),
    ))
}

/// One voicemail's audio (WAV); the first listener is recorded.
#[utoipa::path(get, path = "/api/v1/units/{unit}/voicemail/{id}/audio", tag = "calls",
    params(("unit" = String, Path), ("id" = i64, Path)),
    responses((status = 200, content_type = "audio/wav", body = Vec<u8>), (status = 404, body = ErrorBody)))]
pub async fn voicemail_audio(
    State(state): State<AppState>,
    caller: Caller,
    Path((unit, id)): Path<(String, i64)>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::Supervise, Some(&unit))?;
    let client = state.store.client().await?;
    let wav = cc_store::calls::voicemail_audio(&**client, &unit, id, &caller.username)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no voicemail {id} of unit {unit:?}")))?;
    Ok(([(header::CONTENT_TYPE, "audio/wav")], wav))
}
