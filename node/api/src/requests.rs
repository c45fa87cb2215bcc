//! Requests: the pending list, and approving or rejecting one.

use axum::extract::{Path, State};
use axum::Json;
use cc_flow::UnitDocument;
use cc_governance::{
    Approved, Decision, Need, Outcome, Permission, Request, RequestKind, RequestState,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_postgres::GenericClient;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::documents;
use crate::error::{ApiError, ApiResult, ErrorBody, JsonBody};
use crate::AppState;

#[derive(Serialize, ToSchema)]
pub struct RequestView {
    pub id: i64,
    pub unit: String,
    /// `sign_up`, `change` or `rollback`.
    pub kind: String,
    /// The version it proposes.
    pub version: i32,
    /// What in it carries cost (empty: nothing).
    #[schema(value_type = Object)]
    pub costs: Value,
    /// `{"state": "pending", "needs": [...]}`, `{"state": "applied"}` or
    /// `{"state": "rejected", "by": ..., "reason": ...}`.
    #[schema(value_type = Object)]
    pub state: Value,
    pub requested_by: String,
    pub reason: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<cc_store::governance::RequestRow> for RequestView {
    fn from(row: cc_store::governance::RequestRow) -> Self {
        RequestView {
            id: row.id,
            unit: row.unit,
            kind: row.kind,
            version: row.version,
            costs: row.costs,
            state: row.state,
            requested_by: row.requested_by,
            reason: row.reason,
            created_at: row.created_at,
        }
    }
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// Why (required to reject).
    #[serde(default)]
    pub reason: String,
}

/// What the unit is approved for now.
pub async fn approved_of(client: &impl GenericClient, unit: &str) -> Result<Approved, ApiError> {
    Ok(match cc_store::units::approved(client, unit).await? {
        Some((scope, max_agents)) => Approved {
            scope: serde_json::from_value(scope).unwrap_or_default(),
            max_agents: max_agents.max(0) as usize,
        },
        None => Approved::nothing(),
    })
}

/// Makes `version` live; with `grant`, what it needs becomes approved.
pub async fn apply(
    client: &impl GenericClient,
    state: &AppState,
    unit: &str,
    version: i32,
    document: &UnitDocument,
    grant: bool,
) -> Result<(), ApiError> {
    cc_store::units::go_live(client, unit, version, &document.service_numbers).await?;
    sync_agents(client, unit, document).await?;
    if grant {
        let approved = approved_of(client, unit)
            .await?
            .merged(&Approved::granted_by(document, &state.plan));
        cc_store::units::set_approved(
            client,
            unit,
            &serde_json::to_value(&approved.scope).unwrap_or_default(),
            approved.max_agents as i32,
        )
        .await?;
    }
    Ok(())
}

/// An agent as the document names it: id, name, endpoint, URI, and the SIP
/// account (user, password) of an agent on MicroSIP.
type OwnedAgent = (String, String, String, String, Option<(String, String)>);

/// The unit's agents as `document` names them; an agent on MicroSIP gets
/// a SIP account (the user part of their address; a generated password,
/// kept while the account lives).
async fn sync_agents(
    client: &impl GenericClient,
    unit: &str,
    document: &UnitDocument,
) -> Result<(), ApiError> {
    let specs: Vec<OwnedAgent> = document
        .agents
        .iter()
        .map(|a| {
            let endpoint = match a.endpoint {
                cc_flow::document::EndpointKind::Microsip => "microsip",
                cc_flow::document::EndpointKind::DeskPhone => "desk_phone",
            };
            let account = (endpoint == "microsip").then(|| {
                let user = a
                    .uri
                    .trim_start_matches("sip:")
                    .split('@')
                    .next()
                    .unwrap_or(&a.id)
                    .to_string();
                (user, crate::auth::new_password())
            });
            (
                a.id.clone(),
                a.name.clone(),
                endpoint.to_string(),
                a.uri.clone(),
                account,
            )
        })
        .collect();
    let agents: Vec<cc_store::agents::AgentSpec> = specs
        .iter()
        .map(
            |(id, name, endpoint, uri, account)| cc_store::agents::AgentSpec {
                id,
                name,
                endpoint,
                uri,
                account: account.as_ref().map(|(u, p)| (u.as_str(), p.as_str())),
            },
        )
        .collect();
    cc_store::agents::sync(client, unit, &agents).await?;
    Ok(())
}

/// A unit's requests, newest first.
#[utoipa::path(get, path = "/api/v1/units/{unit}/requests", tag = "requests", params(("unit" = String, Path)),
    responses((status = 200, body = [RequestView]), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(unit): Path<String>,
) -> ApiResult<Json<Vec<RequestView>>> {
    caller.require(Permission::ReadUnit, Some(&unit))?;
    let client = state.store.client().await?;
    let rows = cc_store::governance::list(&**client, &unit).await?;
    Ok(Json(rows.into_iter().map(RequestView::from).collect()))
}

/// One request.
#[utoipa::path(get, path = "/api/v1/units/{unit}/requests/{id}", tag = "requests",
    params(("unit" = String, Path), ("id" = i64, Path)),
    responses((status = 200, body = RequestView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path((unit, id)): Path<(String, i64)>,
) -> ApiResult<Json<RequestView>> {
    caller.require(Permission::ReadUnit, Some(&unit))?;
    let client = state.store.client().await?;
    let row = cc_store::governance::get(&**client, &unit, id, false)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no request {id} of unit {unit:?}")))?;
    Ok(Json(row.into()))
}

/// Approves a request.
#[utoipa::path(post, path = "/api/v1/units/{unit}/requests/{id}/approve", tag = "requests",
    params(("unit" = String, Path), ("id" = i64, Path)), request_body = DecisionBody,
    responses((status = 200, body = RequestView), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Path((unit, id)): Path<(String, i64)>,
    body: axum::body::Bytes,
) -> ApiResult<Json<RequestView>> {
    // The body is optional: an approval needs no reason.
    let reason = if body.iter().all(u8::is_ascii_whitespace) {
        String::new()
    } else {
        serde_json::from_slice::<DecisionBody>(&body)
            .map_err(|e| ApiError::bad_request(format!("the body is not a decision: {e}")))?
            .reason
    };
    decide(state, caller, unit, id, Decision::Approve, reason).await
}

/// Rejects a request, with a reason.
#[utoipa::path(post, path = "/api/v1/units/{unit}/requests/{id}/reject", tag = "requests",
    params(("unit" = String, Path), ("id" = i64, Path)), request_body = DecisionBody,
    responses((status = 200, body = RequestView), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn reject(
    State(state): State<AppState>,
    caller: Caller,
    Path((unit, id)): Path<(String, i64)>,
    JsonBody(body): JsonBody<DecisionBody>,
) -> ApiResult<Json<RequestView>> {
    let reason = body.reason.clone();
    decide(
        state,
        caller,
        unit,
        id,
        Decision::Reject {
            reason: body.reason,
        },
        reason,
    )
    .await
}

async fn decide(
    state: AppState,
    caller: Caller,
    unit: String,
    id: i64,
    decision: Decision,
    reason: String,
) -> ApiResult<Json<RequestView>> {
    caller.require(Permission::ReadUnit, Some(&unit))?;
    let mut client = state.store.client().await?;
    let tx = client.transaction().await?;
    let row = cc_store::governance::get(&*tx, &unit, id, true)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no request {id} of unit {unit:?}")))?;
    let kind = match row.kind.as_str() {
        "sign_up" => RequestKind::SignUp,
        _ => RequestKind::Change {
            costs: serde_json::from_value(row.costs.clone()).unwrap_or_default(),
        },
    };
    let request_state: RequestState =
        serde_json::from_value(row.state.clone()).unwrap_or(RequestState::Pending {
            needs: vec![Need::IctDirectorate],
        });
    let requester = cc_governance::Actor {
        user: row.requested_by.clone(),
        role: cc_governance::Role::Supervisor,
        unit: Some(unit.clone()),
    };
    let mut request = Request {
        unit: unit.clone(),
        kind,
        requested_by: requester,
        state: request_state,
    };
    let actor = caller.actor_for(Some(&unit));
    let approvers = cc_store::governance::approvers(&*tx, id).await?;
    let is_reject = matches!(decision, Decision::Reject { .. });
    let outcome = request.decide(&actor, decision, &approvers)?;
    cc_store::governance::add_decision(
        &*tx,
        id,
        &actor.user,
        actor.role.name(),
        if is_reject { "reject" } else { "approve" },
        &reason,
    )
    .await?;
    let closed = !matches!(outcome, Outcome::StillPending(_));
    cc_store::governance::set_state(
        &*tx,
        id,
        &serde_json::to_value(&request.state).unwrap_or_default(),
        closed,
    )
    .await?;
    let action = match outcome {
        Outcome::StillPending(_) => "approved_pending",
        Outcome::Apply => "approved_applied",
        Outcome::Rejected => "rejected",
    };
    cc_store::governance::audit(
        &*tx,
        &actor.user,
        actor.role.name(),
        Some(&unit),
        action,
        &format!("request {id} ({}), version {}", row.kind, row.version),
        &Value::Array(vec![]),
        &reason,
    )
    .await?;
    if outcome == Outcome::Apply {
        let (_, json) = cc_store::units::version(&*tx, &unit, row.version)
            .await?
            .ok_or_else(|| ApiError::not_found("the request's version"))?;
        let document = documents::from_json(&json)?;
        apply(&*tx, &state, &unit, row.version, &document, true).await?;
    }
    let row = cc_store::governance::get(&*tx, &unit, id, false)
        .await?
        .ok_or_else(|| ApiError::not_found("the request"))?;
    tx.commit().await?;
    Ok(Json(row.into()))
}
