//! The node's HTTP side (axum): `/health` for load balancers and operators,
//! `/metrics` for Prometheus, the drain switch, and each unit's ACD: its
//! queues and agents, agent actions, and the queue log.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::node::Node;

pub fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/drain", post(drain))
        .route("/undrain", post(undrain))
        .route("/units/{unit}/agents", get(agents))
        .route("/units/{unit}/queue-log", get(queue_log))
        .route("/units/{unit}/agents/{agent}/{action}", post(agent_action))
        .with_state(node)
}

/// 200 while the node takes calls, 503 while it drains (so that anything
/// polling it stops sending new calls), with the numbers either way.
async fn health(State(node): State<Arc<Node>>) -> impl IntoResponse {
    let draining = node.is_draining();
    let body = json!({
        "status": if draining { "draining" } else { "ok" },
        "node": node.settings.node.name,
        "active_calls": node.active_calls(),
        "units": node.directory().units().len(),
        "uptime_s": node.started.elapsed().as_secs(),
    });
    let status = if draining {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (status, Json(body))
}

async fn metrics(State(node): State<Arc<Node>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        node.metrics.encode(),
    )
}

/// New calls get 503 with Retry-After, and OPTIONS probes get 503 too so a
/// dispatcher takes the node out; calls in progress go on.
async fn drain(State(node): State<Arc<Node>>) -> impl IntoResponse {
    node.set_draining(true);
    Json(json!({ "draining": true, "active_calls": node.active_calls() }))
}

async fn undrain(State(node): State<Arc<Node>>) -> impl IntoResponse {
    node.set_draining(false);
    Json(json!({ "draining": false, "active_calls": node.active_calls() }))
}

/// A unit's queues and agents as the ACD sees them.
async fn agents(State(node): State<Arc<Node>>, Path(unit): Path<String>) -> impl IntoResponse {
    if !node.directory().units().iter().any(|u| u.id() == unit) {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("no unit {unit:?}") })),
        );
    }
    match node.acd.snapshot(&unit).await {
        Ok(snapshot) => (
            StatusCode::OK,
            Json(serde_json::to_value(snapshot).unwrap_or_default()),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": e.to_string() })),
        ),
    }
}

#[derive(serde::Deserialize)]
struct LogQuery {
    after: Option<String>,
    limit: Option<usize>,
    format: Option<String>,
}

/// The most events one request returns.
const LOG_PAGE: usize = 1000;

/// `GET /units/{unit}/queue-log?after=<id>&limit=<n>&format=json|text`: the
/// unit's queue events, oldest first, for supervisors' views and reports;
/// `format=text` gives Asterisk `queue_log` lines, which queue reporting
/// tools read. Page on with `after` = the last id (JSON) or the `X-Next`
/// header.
async fn queue_log(
    State(node): State<Arc<Node>>,
    Path(unit): Path<String>,
    Query(query): Query<LogQuery>,
) -> Response {
    if !node.directory().units().iter().any(|u| u.id() == unit) {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("no unit {unit:?}") })),
        )
            .into_response();
    }
    let limit = query.limit.unwrap_or(LOG_PAGE).clamp(1, LOG_PAGE);
    let events = match node.acd.events(&unit, query.after.as_deref(), limit).await {
        Ok(events) => events,
        Err(cc_acd::StoreError::Invalid(e)) => {
            return (StatusCode::BAD_REQUEST, Json(json!({ "error": e }))).into_response()
        }
        Err(e) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "error": e.to_string() })),
            )
                .into_response()
        }
    };
    let next = events
        .last()
        .map(|e| e.id.clone())
        .or(query.after)
        .unwrap_or_default();
    match query.format.as_deref() {
        None | Some("json") => Json(json!({ "events": events, "next": next })).into_response(),
        Some("text") => {
            let mut text = String::new();
            for logged in &events {
                text.push_str(&logged.event.queue_log_line());
                text.push('\n');
            }
            (
                [
                    ("content-type", "text/plain; charset=utf-8".to_string()),
                    ("x-next", next),
                ],
                text,
            )
                .into_response()
        }
        Some(other) => (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": format!("no format {other:?}: json or text") })),
        )
            .into_response(),
    }
}

#[derive(serde::Deserialize)]
struct PauseReason {
    reason: Option<String>,
}

/// `POST /units/{unit}/agents/{agent}/{login|logout|pause|unpause}`: what an
/// agent's feature codes do, for operators and tests (the governed API with
/// authentication comes with the units' REST API).
async fn agent_action(
    State(node): State<Arc<Node>>,
    Path((unit, agent, action)): Path<(String, String, String)>,
    Query(query): Query<PauseReason>,
) -> impl IntoResponse {
    let action = match action.as_str() {
        "login" => crate::acd::AgentAction::Login,
        "logout" => crate::acd::AgentAction::Logout,
        "pause" => crate::acd::AgentAction::Pause(query.reason.unwrap_or_else(|| "paused".into())),
        "unpause" => crate::acd::AgentAction::Unpause,
        other => {
            return (
                StatusCode::NOT_FOUND,
                Json(
                    json!({ "error": format!("no action {other:?}: login, logout, pause or unpause") }),
                ),
            )
        }
    };
    if !node.directory().units().iter().any(|u| u.id() == unit) {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("no unit {unit:?}") })),
        );
    }
    match node.acd.agent(&unit, &agent, action).await {
        Ok(()) => {
            let snapshot = node.acd.snapshot(&unit).await.ok();
            let state = snapshot.and_then(|s| s.agents.into_iter().find(|a| a.id == agent));
            (
                StatusCode::OK,
                Json(serde_json::to_value(state).unwrap_or_default()),
            )
        }
        Err(cc_acd::StoreError::Agent(e)) => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": e.to_string() })),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": e.to_string() })),
        ),
    }
}

/// The node's ACD behind the governance API's live view.
pub struct LiveAcd(pub Arc<Node>);

impl cc_api::live::LiveAcd for LiveAcd {
    fn snapshot(
        &self,
        unit: String,
    ) -> cc_api::live::Pending<Result<serde_json::Value, cc_api::live::LiveError>> {
        let node = Arc::clone(&self.0);
        Box::pin(async move {
            if !node.directory().units().iter().any(|u| u.id() == unit) {
                return Err(cc_api::live::LiveError::NotFound(format!(
                    "unit {unit:?} is not served"
                )));
            }
            node.acd
                .snapshot(&unit)
                .await
                .map(|s| serde_json::to_value(s).unwrap_or_default())
                .map_err(|e| cc_api::live::LiveError::Unavailable(e.to_string()))
        })
    }

    fn agent(
        &self,
        unit: String,
        agent: String,
        action: cc_api::live::AgentAction,
    ) -> cc_api::live::Pending<Result<serde_json::Value, cc_api::live::LiveError>> {
        use cc_api::live::{AgentAction as Api, LiveError};
        let node = Arc::clone(&self.0);
        Box::pin(async move {
            if !node.directory().units().iter().any(|u| u.id() == unit) {
                return Err(LiveError::NotFound(format!("unit {unit:?} is not served")));
            }
            let action = match action {
                Api::Login => crate::acd::AgentAction::Login,
                Api::Logout => crate::acd::AgentAction::Logout,
                Api::Pause { reason } => {
                    crate::acd::AgentAction::Pause(reason.unwrap_or_else(|| "paused".into()))
                }
                Api::Unpause => crate::acd::AgentAction::Unpause,
            };
            match node.acd.agent(&unit, &agent, action).await {
                Ok(()) => {
                    let snapshot = node.acd.snapshot(&unit).await.ok();
                    let state = snapshot.and_then(|s| s.agents.into_iter().find(|a| a.id == agent));
                    Ok(serde_json::to_value(state).unwrap_or_default())
                }
                Err(cc_acd::StoreError::Agent(e)) => Err(LiveError::NotFound(e.to_string())),
                Err(e) => Err(LiveError::Unavailable(e.to_string())),
            }
        })
    }
}
