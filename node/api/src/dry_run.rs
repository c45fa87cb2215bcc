//! The dry run: what happens to a call to a number at a given time.

use axum::extract::State;
use axum::Json;
use cc_governance::Permission;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, JsonBody};
use crate::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DryRunRequest {
    /// The service number called.
    pub number: String,
    /// When (RFC 3339); now if absent.
    #[serde(default)]
    pub at: Option<chrono::DateTime<chrono::Utc>>,
    /// Keys the caller presses whenever the flow waits for one.
    #[serde(default)]
    pub digits: String,
}

#[derive(Serialize, ToSchema)]
pub struct DryRunAnswer {
    pub unit: String,
    /// The live version walked.
    pub version: i32,
    pub at: chrono::DateTime<chrono::Utc>,
    /// The steps entered, in order.
    pub path: Vec<String>,
    /// The prompts played, in order.
    pub prompts: Vec<String>,
    pub tags: Vec<String>,
    /// Where the call gets: `queue <name>`, `forward <target>`,
    /// `voicemail`, `hangup` or `ends (<outcome>)`.
    pub reaches: String,
}

/// Walks the live flow of the unit that answers `number` (its calendar
/// and the university's included) without making a call.
#[utoipa::path(post, path = "/api/v1/dry-run", tag = "units", request_body = DryRunRequest,
    responses((status = 200, body = DryRunAnswer), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn dry_run(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(request): JsonBody<DryRunRequest>,
) -> ApiResult<Json<DryRunAnswer>> {
    if request.digits.len() > 64
        || !request
            .digits
            .chars()
            .all(|c| c.is_ascii_digit() || c == '*' || c == '#')
    {
        return Err(ApiError::bad_request(
            "digits are 0-9, * and # (64 at most)",
        ));
    }
    let client = state.store.client().await?;
    // The same answer whether nobody answers the number or another unit
    // does: which unit serves what is not the caller's to learn here.
    let not_found = || ApiError::not_found("no unit of yours answers this number");
    let unit = cc_store::units::number_owner(&**client, &request.number)
        .await?
        .ok_or_else(not_found)?;
    if !caller.may(Permission::ReadUnit, Some(&unit)) {
        return Err(not_found());
    }
    let live = cc_store::units::get(&**client, &unit)
        .await?
        .and_then(|u| u.live_version)
        .ok_or_else(not_found)?;
    let (yaml, _) = cc_store::units::version(&**client, &unit, live)
        .await?
        .ok_or_else(not_found)?;
    let university = cc_store::units::university_calendar(&**client)
        .await?
        .and_then(|c| serde_json::from_value(c).ok())
        .unwrap_or_default();
    let loaded = cc_flow::load_unit(&format!("{unit}.yaml"), &yaml, &university)
        .map_err(|e| ApiError::conflict(format!("the live version no longer loads: {e}")))?;
    let at = request.at.unwrap_or_else(chrono::Utc::now);
    let walk = cc_flow::dry_run(std::sync::Arc::new(loaded), at, &request.digits);
    Ok(Json(DryRunAnswer {
        unit,
        version: live,
        at,
        path: walk.path,
        prompts: walk.prompts,
        tags: walk.tags,
        reaches: walk.reaches,
    }))
}
