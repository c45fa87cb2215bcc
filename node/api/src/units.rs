//! Units: the list, one unit, its versions, a sign-up, a new version.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use cc_governance::{assess, Approved, Permission, Request, RequestKind, RequestState};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::documents;
use crate::error::{ApiError, ApiResult, ErrorBody, JsonBody};
use crate::requests::{apply, RequestView};
use crate::AppState;

#[derive(Serialize, ToSchema)]
pub struct UnitView {
    pub id: String,
    pub name: String,
    /// `requested` (waiting for its sign-up approvals), `live`, `suspended`.
    pub state: String,
    pub live_version: Option<i32>,
    pub service_numbers: Vec<String>,
}

impl From<cc_store::units::UnitRow> for UnitView {
    fn from(row: cc_store::units::UnitRow) -> Self {
        UnitView {
            id: row.id,
            name: row.name,
            state: row.state,
            live_version: row.live_version,
            service_numbers: row.service_numbers,
        }
    }
}

/// A unit's document, as YAML, and why it is proposed.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Proposal {
    /// The whole document (the format of `units/<unit>.yaml`).
    pub yaml: String,
    #[serde(default)]
    pub reason: String,
}

/// A new version: a document, or an earlier version to roll back to.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionProposal {
    #[serde(default)]
    pub yaml: Option<String>,
    #[serde(default)]
    pub rollback_to: Option<i32>,
    #[serde(default)]
    pub reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct VersionView {
    pub version: i32,
    pub created_by: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub live: bool,
}

#[derive(Serialize, ToSchema)]
pub struct VersionDocument {
    pub version: i32,
    pub yaml: String,
}

/// The units the caller may see.
#[utoipa::path(get, path = "/api/v1/units", tag = "units",
    responses((status = 200, body = [UnitView]), (status = 401, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<UnitView>>> {
    let client = state.store.client().await?;
    let only = caller.readable_units();
    let rows = cc_store::units::list(&**client, only.as_deref()).await?;
    Ok(Json(rows.into_iter().map(UnitView::from).collect()))
}

/// One unit.
#[utoipa::path(get, path = "/api/v1/units/{unit}", tag = "units", params(("unit" = String, Path)),
    responses((status = 200, body = UnitView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(unit): Path<String>,
) -> ApiResult<Json<UnitView>> {
    caller.require(Permission::ReadUnit, Some(&unit))?;
    let client = state.store.client().await?;
    let row = cc_store::units::get(&**client, &unit)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no unit {unit:?}")))?;
    Ok(Json(row.into()))
}

/// A unit's sign-up: the unit is created, not live, with its document as
/// version 1, and a request that needs a manager of the unit and the ICT
/// directorate. Sign-ups come through the ICT help desk.
#[utoipa::path(post, path = "/api/v1/units", tag = "units", request_body = Proposal,
    responses((status = 201, body = RequestView), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn sign_up(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(proposal): JsonBody<Proposal>,
) -> ApiResult<(StatusCode, Json<RequestView>)> {
    caller.require(Permission::Administer, None)?;
    let (document, json) = documents::parse(&proposal.yaml, "sign-up")?;
    let unit = document.unit.clone();
    let mut client = state.store.client().await?;
    let tx = client.transaction().await?;
    if cc_store::units::get(&*tx, &unit).await?.is_some() {
        return Err(ApiError::conflict(format!("unit {unit:?} exists already")));
    }
    for number in &document.service_numbers {
        if let Some(owner) = cc_store::units::number_owner(&*tx, number).await? {
            return Err(ApiError::conflict(format!(
                "service number {number} belongs to unit {owner:?}"
            )));
        }
    }
    cc_store::units::create(&*tx, &unit, &document.name).await?;
    let version =
        cc_store::units::add_version(&*tx, &unit, &proposal.yaml, &json, &caller.username).await?;
    let actor = caller.actor_for(None);
    let request = Request::new(&unit, RequestKind::SignUp, actor.clone())?;
    let costs = assess(&Approved::nothing(), &document, &state.plan);
    let id = cc_store::governance::create(
        &*tx,
        &unit,
        "sign_up",
        version,
        &serde_json::to_value(&costs).unwrap_or_default(),
        &serde_json::to_value(&request.state).unwrap_or_default(),
        &format!("{}/{}", actor.user, actor.role.name()),
        &proposal.reason,
        false,
    )
    .await?;
    let diff = serde_json::to_value(cc_governance::diff(None::<&Value>, &json)).unwrap_or_default();
    cc_store::governance::audit(
        &*tx,
        &actor.user,
        actor.role.name(),
        Some(&unit),
        "sign_up_requested",
        &format!("request {id}, version {version}"),
        &diff,
        &proposal.reason,
    )
    .await?;
    let row = cc_store::governance::get(&*tx, &unit, id, false)
        .await?
        .ok_or_else(|| ApiError::not_found("the request just made"))?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

/// A unit's versions, newest first.
#[utoipa::path(get, path = "/api/v1/units/{unit}/versions", tag = "units", params(("unit" = String, Path)),
    responses((status = 200, body = [VersionView]), (status = 404, body = ErrorBody)))]
pub async fn versions(
    State(state): State<AppState>,
    caller: Caller,
    Path(unit): Path<String>,
) -> ApiResult<Json<Vec<VersionView>>> {
    caller.require(Permission::ReadUnit, Some(&unit))?;
    let client = state.store.client().await?;
    let row = cc_store::units::get(&**client, &unit)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no unit {unit:?}")))?;
    let versions = cc_store::units::versions(&**client, &unit).await?;
    Ok(Json(
        versions
            .into_iter()
            .map(|(version, created_by, created_at)| VersionView {
                version,
                created_by,
                created_at,
                live: row.live_version == Some(version),
            })
            .collect(),
    ))
}

/// One version's document.
#[utoipa::path(get, path = "/api/v1/units/{unit}/versions/{version}", tag = "units",
    params(("unit" = String, Path), ("version" = i32, Path)),
    responses((status = 200, body = VersionDocument), (status = 404, body = ErrorBody)))]
pub async fn version(
    State(state): State<AppState>,
    caller: Caller,
    Path((unit, version)): Path<(String, i32)>,
) -> ApiResult<Json<VersionDocument>> {
    caller.require(Permission::ReadUnit, Some(&unit))?;
    let client = state.store.client().await?;
    let (yaml, _) = cc_store::units::version(&**client, &unit, version)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no version {version} of unit {unit:?}")))?;
    Ok(Json(VersionDocument { version, yaml }))
}

/// A new version of a live unit (or a rollback to an earlier one, which
/// is a change like any other). It applies at once unless it carries cost
/// against what is approved; then it waits for another manager of the unit.
#[utoipa::path(post, path = "/api/v1/units/{unit}/versions", tag = "units", params(("unit" = String, Path)),
    request_body = VersionProposal,
    responses((status = 201, body = RequestView), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn propose(
    State(state): State<AppState>,
    caller: Caller,
    Path(unit): Path<String>,
    JsonBody(proposal): JsonBody<VersionProposal>,
) -> ApiResult<(StatusCode, Json<RequestView>)> {
    caller.require(Permission::ProposeChange, Some(&unit))?;
    let mut client = state.store.client().await?;
    let tx = client.transaction().await?;
    let row = cc_store::units::get(&*tx, &unit)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no unit {unit:?}")))?;
    let Some(live) = row.live_version else {
        return Err(ApiError::conflict(format!(
            "unit {unit:?} is not live yet: its sign-up waits for its approvals"
        )));
    };
    let (kind, yaml) = match (proposal.yaml, proposal.rollback_to) {
        (Some(yaml), None) => ("change", yaml),
        (None, Some(to)) => {
            let (yaml, _) = cc_store::units::version(&*tx, &unit, to)
                .await?
                .ok_or_else(|| ApiError::bad_request(format!("no version {to} to roll back to")))?;
            ("rollback", yaml)
        }
        _ => return Err(ApiError::bad_request("give either `yaml` or `rollback_to`")),
    };
    let (document, json) = documents::parse(&yaml, &format!("{unit}.yaml"))?;
    if document.unit != unit {
        return Err(ApiError::bad_request(format!(
            "the document is for unit {:?}, not {unit:?}",
            document.unit
        )));
    }
    for number in &document.service_numbers {
        if let Some(owner) = cc_store::units::number_owner(&*tx, number).await? {
            if owner != unit {
                return Err(ApiError::conflict(format!(
                    "service number {number} belongs to unit {owner:?}"
                )));
            }
        }
    }
    let approved = crate::requests::approved_of(&*tx, &unit).await?;
    let costs = assess(&approved, &document, &state.plan);
    let actor = caller.actor_for(Some(&unit));
    let request = Request::new(
        &unit,
        RequestKind::Change {
            costs: costs.clone(),
        },
        actor.clone(),
    )?;
    let version = cc_store::units::add_version(&*tx, &unit, &yaml, &json, &caller.username).await?;
    let applied = request.state == RequestState::Applied;
    let id = cc_store::governance::create(
        &*tx,
        &unit,
        kind,
        version,
        &serde_json::to_value(&costs).unwrap_or_default(),
        &serde_json::to_value(&request.state).unwrap_or_default(),
        &format!("{}/{}", actor.user, actor.role.name()),
        &proposal.reason,
        applied,
    )
    .await?;
    let (_, live_json) = cc_store::units::version(&*tx, &unit, live)
        .await?
        .unwrap_or_default();
    let diff =
        serde_json::to_value(cc_governance::diff(Some(&live_json), &json)).unwrap_or_default();
    let action = if applied {
        format!("{kind}_applied")
    } else {
        format!("{kind}_requested")
    };
    cc_store::governance::audit(
        &*tx,
        &actor.user,
        actor.role.name(),
        Some(&unit),
        &action,
        &format!("request {id}, version {version} (live was {live})"),
        &diff,
        &proposal.reason,
    )
    .await?;
    if applied {
        apply(&*tx, &state, &unit, version, &document, false).await?;
    }
    let row = cc_store::governance::get(&*tx, &unit, id, false)
        .await?
        .ok_or_else(|| ApiError::not_found("the request just made"))?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

/// Checks a document without storing it: the same errors as the node's
/// loader.
#[utoipa::path(post, path = "/api/v1/validate", tag = "units", request_body = Proposal,
    responses((status = 200, body = Object), (status = 400, body = ErrorBody)))]
pub async fn validate(
    _caller: Caller,
    JsonBody(proposal): JsonBody<Proposal>,
) -> ApiResult<Json<Value>> {
    let (document, _) = documents::parse(&proposal.yaml, "document")?;
    Ok(Json(json!({ "unit": document.unit, "valid": true })))
}
