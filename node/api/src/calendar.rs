//! The university-wide calendar: closures every unit follows (unless a
//! unit's own calendar says otherwise), versioned like a unit.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use cc_flow::UniversityCalendar;
use cc_governance::Permission;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, JsonBody};
use crate::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarProposal {
    /// The calendar as YAML: `closures: [{ date: 2026-12-25, name: Christmas }, …]`
    /// (the format of `units/_university.yaml`).
    pub yaml: String,
    #[serde(default)]
    pub reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct CalendarView {
    pub version: i32,
    #[schema(value_type = Object)]
    pub calendar: Value,
}

/// The university-wide calendar in force (version 0: none yet).
#[utoipa::path(get, path = "/api/v1/calendar", tag = "calendar",
    responses((status = 200, body = CalendarView), (status = 401, body = ErrorBody)))]
pub async fn get(State(state): State<AppState>, _caller: Caller) -> ApiResult<Json<CalendarView>> {
    let client = state.store.client().await?;
    let row = client
        .query_opt(
            "SELECT version, document FROM university_calendar_versions ORDER BY version DESC LIMIT 1",
            &[],
        )
        .await?;
    Ok(Json(match row {
        Some(r) => CalendarView {
            version: r.get(0),
            calendar: r.get(1),
        },
        None => CalendarView {
            version: 0,
            calendar: serde_json::json!({ "closures": [] }),
        },
    }))
}

/// A new version of the university-wide calendar (the ICT directorate):
/// every node serves it at once.
#[utoipa::path(put, path = "/api/v1/calendar", tag = "calendar", request_body = CalendarProposal,
    responses((status = 201, body = CalendarView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(proposal): JsonBody<CalendarProposal>,
) -> ApiResult<(StatusCode, Json<CalendarView>)> {
    caller.require(Permission::Administer, None)?;
    let calendar: UniversityCalendar = serde_norway::from_str(&proposal.yaml)
        .map_err(|e| ApiError::bad_request(format!("not a university calendar: {e}")))?;
    let json = serde_json::to_value(&calendar).unwrap_or_default();
    let mut client = state.store.client().await?;
    let tx = client.transaction().await?;
    let before: Option<Value> = tx
        .query_opt(
            "SELECT document FROM university_calendar_versions ORDER BY version DESC LIMIT 1",
            &[],
        )
        .await?
        .map(|r| r.get(0));
    let version: i32 = tx
        .query_one(
            "INSERT INTO university_calendar_versions (version, document, created_by)
             VALUES ((SELECT coalesce(max(version), 0) + 1 FROM university_calendar_versions), $1, $2)
             RETURNING version",
            &[&json, &caller.username],
        )
        .await?
        .get(0);
    let diff =
        serde_json::to_value(cc_governance::diff(before.as_ref(), &json)).unwrap_or_default();
    cc_store::governance::audit(
        &*tx,
        &caller.username,
        "ict_directorate",
        None,
        "university_calendar_changed",
        &format!("version {version}"),
        &diff,
        &proposal.reason,
    )
    .await?;
    // Every node reloads (the payload names no unit: all of them).
    tx.execute("SELECT pg_notify('cc_config', '*')", &[])
        .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(CalendarView {
            version,
            calendar: json,
        }),
    ))
}
