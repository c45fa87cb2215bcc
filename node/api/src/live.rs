//! The supervisors' live view and the agents' states, from the ACD of the
//! node that serves the API (the queues are shared by every node, so any
//! node's view is the cluster's).

use std::future::Future;
use std::pin::Pin;

use axum::extract::{Path, State};
use axum::Json;
use cc_governance::Permission;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, JsonBody};
use crate::AppState;

pub type Pending<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Why the ACD did not do it.
pub enum LiveError {
    /// No such agent (or unit) here.
    NotFound(String),
    /// The ACD's store is unreachable.
    Unavailable(String),
}

/// What the node's ACD offers the API.
pub trait LiveAcd: Send + Sync {
    /// Queues (callers waiting, since when) and agents (state, since, the
    /// call they are in, calls answered, talk time) of a unit.
    fn snapshot(&self, unit: String) -> Pending<Result<Value, LiveError>>;
    /// `login`, `logout`, `pause` (with a reason) or `unpause` an agent;
    /// their state after it.
    fn agent(
        &self,
        unit: String,
        agent: String,
        action: AgentAction,
    ) -> Pending<Result<Value, LiveError>>;
}

/// What is done to an agent's state.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum AgentAction {
    Login,
    Logout,
    Pause {
        #[serde(default)]
        reason: Option<String>,
    },
    Unpause,
}

fn live_error(e: LiveError) -> ApiError {
    match e {
        LiveError::NotFound(m) => ApiError::not_found(m),
        LiveError::Unavailable(m) => ApiError::new(axum::http::StatusCode::SERVICE_UNAVAILABLE, m),
    }
}

fn acd(state: &AppState) -> Result<&std::sync::Arc<dyn LiveAcd>, ApiError> {
    state.live.as_ref().ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "no ACD behind this API (it is served by a node)",
        )
    })
}

/// The unit's queues and agents now.
#[utoipa::path(get, path = "/api/v1/units/{unit}/live", tag = "live", params(("unit" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn view(
    State(state): State<AppState>,
    caller: Caller,
    Path(unit): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require(Permission::Supervise, Some(&unit))?;
    let acd = acd(&state)?;
    acd.snapshot(unit).await.map(Json).map_err(live_error)
}

/// Logs an agent in or out, pauses or resumes them: the unit's
/// supervisors and managers any agent, an agent themself (an agent's user
/// name is their agent id). A logout or pause during a call applies at
/// its end.
#[utoipa::path(post, path = "/api/v1/units/{unit}/agents/{agent}/state", tag = "live",
    params(("unit" = String, Path), ("agent" = String, Path)), request_body = AgentAction,
    responses((status = 200, body = Object), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub async fn set_state(
    State(state): State<AppState>,
    caller: Caller,
    Path((unit, agent)): Path<(String, String)>,
    JsonBody(action): JsonBody<AgentAction>,
) -> ApiResult<Json<Value>> {
    let supervises = caller.may(Permission::Supervise, Some(&unit));
    if !supervises {
        caller.require(Permission::ActAsAgent, Some(&unit))?;
        if caller.username != agent {
            return Err(ApiError::not_found(format!("no agent {agent:?} of yours")));
        }
    }
    let acd = acd(&state)?;
    acd.agent(unit, agent, action)
        .await
        .map(Json)
        .map_err(live_error)
}
