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
use crate::error::{ApiError, ApiResult, ErrorBody, JsonBody};
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagRequest {
    /// One of the unit's tags (its document's `tags`).
    pub tag: String,
}

#[derive(Serialize, ToSchema)]
pub struct TagsView {
    pub call_id: String,
    pub tags: Vec<String>,
}

/// Tags a call of the unit (after it, in wrap-up): its supervisors and
/// managers any call, an agent their own (an agent's user name is their
/// agent id in the unit).
#[utoipa::path(post, path = "/api/v1/units/{unit}/records/{call_id}/tags", tag = "calls",
    params(("unit" = String, Path), ("call_id" = String, Path)), request_body = TagRequest,
    responses((status = 200, body = TagsView), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn tag(
    State(state): State<AppState>,
    caller: Caller,
    Path((unit, call_id)): Path<(String, String)>,
    JsonBody(request): JsonBody<TagRequest>,
) -> ApiResult<Json<TagsView>> {
    let supervises = caller.may(Permission::Supervise, Some(&unit));
    if !supervises {
        caller.require(Permission::ActAsAgent, Some(&unit))?;
    }
    let mut client = state.store.client().await?;
    let tx = client.transaction().await?;
    let not_found = || ApiError::not_found(format!("no call {call_id:?} of unit {unit:?}"));
    let agent = cc_store::calls::record_agent(&*tx, &unit, &call_id)
        .await?
        .ok_or_else(not_found)?;
    if !supervises && agent.as_deref() != Some(caller.username.as_str()) {
        return Err(not_found());
    }
    // The unit's tags, from its live version.
    let live = cc_store::units::get(&*tx, &unit)
        .await?
        .and_then(|u| u.live_version)
        .ok_or_else(not_found)?;
    let (_, document) = cc_store::units::version(&*tx, &unit, live)
        .await?
        .ok_or_else(not_found)?;
    let known: Vec<String> = document["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str().map(str::to_string))
        .collect();
    if !known.contains(&request.tag) {
        return Err(ApiError::bad_request(format!(
            "{:?} is not a tag of unit {unit:?} (its tags: {})",
            request.tag,
            known.join(", ")
        )));
    }
    let tags =
        cc_store::calls::add_tag(&*tx, &unit, &call_id, &request.tag, &caller.username).await?;
    tx.commit().await?;
    Ok(Json(TagsView { call_id, tags }))
}
