//! The node's HTTP side (axum): `/health` for load balancers and operators,
//! `/metrics` for Prometheus, and the drain switch.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
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
        "units": node.directory.units().len(),
        "uptime_s": node.started.elapsed().as_secs(),
    });
    let status = if draining { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
    (status, Json(body))
}

async fn metrics(State(node): State<Arc<Node>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
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
