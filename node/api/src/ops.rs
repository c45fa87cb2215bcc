//! The ICT operators' command line (`cc-node ops …`): the same API, driven
//! in process through the same router, as the user who logs in: a YAML
//! applied this way is a sign-up or a change like any other, with the
//! same rules and the same audit.

use axum::body::Body;
use axum::http::{Method, Request};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

/// What an operator asks.
pub enum OpsCommand {
    /// Sign a unit up, or propose a new version of it.
    Apply {
        yaml: String,
        reason: String,
    },
    /// Requests waiting for approvals, of one unit or of every unit.
    Pending {
        unit: Option<String>,
    },
    Approve {
        unit: String,
        id: i64,
        reason: String,
    },
    Reject {
        unit: String,
        id: i64,
        reason: String,
    },
    Audit {
        unit: String,
    },
}

struct Session {
    router: Router,
    token: String,
}

impl Session {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value, String> {
        call(&self.router, method, path, Some(&self.token), body).await
    }
}

async fn call(
    router: &Router,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Result<Value, String> {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = request
        .header("content-type", "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .map_err(|e| e.to_string())?;
    let response = router
        .clone()
        .oneshot(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if status.is_success() {
        Ok(value)
    } else {
        let mut message = format!(
            "{status}: {}",
            value["error"].as_str().unwrap_or("(no detail)")
        );
        for detail in value["details"].as_array().into_iter().flatten() {
            message.push_str(&format!("\n  {}", detail.as_str().unwrap_or_default()));
        }
        Err(message)
    }
}

/// Logs in as `username` and runs `command`; what to print.
pub async fn run(
    router: Router,
    username: &str,
    password: &str,
    command: OpsCommand,
) -> Result<String, String> {
    let login = call(
        &router,
        Method::POST,
        "/api/v1/sessions",
        None,
        Some(json!({ "username": username, "password": password })),
    )
    .await?;
    let token = login["token"].as_str().unwrap_or_default().to_string();
    let session = Session { router, token };
    match command {
        OpsCommand::Apply { yaml, reason } => {
            let unit = serde_norway::from_str::<Value>(&yaml)
                .ok()
                .and_then(|d| d["unit"].as_str().map(str::to_string))
                .ok_or("the document has no `unit`")?;
            let exists = session
                .call(Method::GET, &format!("/api/v1/units/{unit}"), None)
                .await
                .is_ok();
            let request = if exists {
                session
                    .call(
                        Method::POST,
                        &format!("/api/v1/units/{unit}/versions"),
                        Some(json!({ "yaml": yaml, "reason": reason })),
                    )
                    .await?
            } else {
                session
                    .call(
                        Method::POST,
                        "/api/v1/units",
                        Some(json!({ "yaml": yaml, "reason": reason })),
                    )
                    .await?
            };
            Ok(describe(&request))
        }
        OpsCommand::Pending { unit } => {
            let units: Vec<String> = match unit {
                Some(u) => vec![u],
                None => session
                    .call(Method::GET, "/api/v1/units", None)
                    .await?
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|u| u["id"].as_str().map(str::to_string))
                    .collect(),
            };
            let mut lines = Vec::new();
            for unit in units {
                let requests = session
                    .call(Method::GET, &format!("/api/v1/units/{unit}/requests"), None)
                    .await?;
                for request in requests.as_array().into_iter().flatten() {
                    if request["state"]["state"] == "pending" {
                        lines.push(describe(request));
                    }
                }
            }
            Ok(if lines.is_empty() {
                "nothing pending".into()
            } else {
                lines.join("\n")
            })
        }
        OpsCommand::Approve { unit, id, reason } => {
            let request = session
                .call(
                    Method::POST,
                    &format!("/api/v1/units/{unit}/requests/{id}/approve"),
                    Some(json!({ "reason": reason })),
                )
                .await?;
            Ok(describe(&request))
        }
        OpsCommand::Reject { unit, id, reason } => {
            let request = session
                .call(
                    Method::POST,
                    &format!("/api/v1/units/{unit}/requests/{id}/reject"),
                    Some(json!({ "reason": reason })),
                )
                .await?;
            Ok(describe(&request))
        }
        OpsCommand::Audit { unit } => {
            let trail = session
                .call(Method::GET, &format!("/api/v1/units/{unit}/audit"), None)
                .await?;
            Ok(trail
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| {
                    let changes = e["diff"].as_array().map_or(0, Vec::len);
                    format!(
                        "{}  {} ({})  {}  {}{}{}",
                        e["at"].as_str().unwrap_or_default(),
                        e["username"].as_str().unwrap_or_default(),
                        e["role"].as_str().unwrap_or_default(),
                        e["action"].as_str().unwrap_or_default(),
                        e["subject"].as_str().unwrap_or_default(),
                        if changes > 0 {
                            format!("  [{changes} change(s)]")
                        } else {
                            String::new()
                        },
                        match e["reason"].as_str() {
                            Some(r) if !r.is_empty() => format!("  \"{r}\""),
                            _ => String::new(),
                        }
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"))
        }
    }
}

/// One line for a request.
fn describe(request: &Value) -> String {
    let state = &request["state"];
    let status = match state["state"].as_str() {
        Some("pending") => format!(
            "pending, needs {}",
            state["needs"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|n| n.as_str().map(str::to_string).unwrap_or_else(|| {
                    n.as_object()
                        .and_then(|o| o.keys().next().cloned())
                        .unwrap_or_default()
                }))
                .collect::<Vec<_>>()
                .join(" and ")
        ),
        Some("rejected") => format!(
            "rejected by {}: {}",
            state["by"].as_str().unwrap_or_default(),
            state["reason"].as_str().unwrap_or_default()
        ),
        Some(other) => other.to_string(),
        None => "?".into(),
    };
    let costs: Vec<String> = request["costs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c["kind"].as_str().unwrap_or_default().to_string())
        .collect();
    format!(
        "request {} of unit {}: {} of version {} by {}: {}{}",
        request["id"],
        request["unit"].as_str().unwrap_or_default(),
        request["kind"].as_str().unwrap_or_default(),
        request["version"],
        request["requested_by"].as_str().unwrap_or_default(),
        status,
        if costs.is_empty() {
            String::new()
        } else {
            format!(" (carries cost: {})", costs.join(", "))
        }
    )
}
