//! Requests, decisions and the audit log.

use serde_json::Value;
use tokio_postgres::GenericClient;

use crate::StoreError;

/// A request as stored.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RequestRow {
    pub id: i64,
    pub unit: String,
    pub kind: String,
    pub version: i32,
    pub costs: Value,
    pub state: Value,
    pub requested_by: String,
    pub requested_role: String,
    pub reason: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

const REQUEST_SELECT: &str =
    "SELECT id, unit, kind, version, costs, state, requested_by, reason, created_at FROM requests";

fn request_row(row: &tokio_postgres::Row) -> RequestRow {
    let requested_by: String = row.get(6);
    let (user, role) = requested_by
        .split_once('/')
        .map(|(u, r)| (u.to_string(), r.to_string()))
        .unwrap_or((requested_by.clone(), String::new()));
    RequestRow {
        id: row.get(0),
        unit: row.get(1),
        kind: row.get(2),
        version: row.get(3),
        costs: row.get(4),
        state: row.get(5),
        requested_by: user,
        requested_role: role,
        reason: row.get(7),
        created_at: row.get(8),
    }
}

/// Stores a request; `requested_by` is `user/role`.
#[allow(clippy::too_many_arguments)]
pub async fn create(
    client: &impl GenericClient,
    unit: &str,
    kind: &str,
    version: i32,
    costs: &Value,
    state: &Value,
    requested_by: &str,
    reason: &str,
    closed: bool,
) -> Result<i64, StoreError> {
    let row = client
        .query_one(
            "INSERT INTO requests (unit, kind, version, costs, state, requested_by, reason, closed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $8 THEN now() END) RETURNING id",
            &[&unit, &kind, &version, costs, state, &requested_by, &reason, &closed],
        )
        .await?;
    Ok(row.get(0))
}

pub async fn list(client: &impl GenericClient, unit: &str) -> Result<Vec<RequestRow>, StoreError> {
    Ok(client
        .query(
            &format!("{REQUEST_SELECT} WHERE unit = $1 ORDER BY id DESC"),
            &[&unit],
        )
        .await?
        .iter()
        .map(request_row)
        .collect())
}

/// One request of `unit`, locked for a decision when `for_update`.
pub async fn get(
    client: &impl GenericClient,
    unit: &str,
    id: i64,
    for_update: bool,
) -> Result<Option<RequestRow>, StoreError> {
    let lock = if for_update { " FOR UPDATE" } else { "" };
    Ok(client
        .query_opt(
            &format!("{REQUEST_SELECT} WHERE unit = $1 AND id = $2{lock}"),
            &[&unit, &id],
        )
        .await?
        .as_ref()
        .map(request_row))
}

pub async fn set_state(
    client: &impl GenericClient,
    id: i64,
    state: &Value,
    closed: bool,
) -> Result<(), StoreError> {
    client
        .execute(
            "UPDATE requests SET state = $2, closed_at = CASE WHEN $3 THEN now() END WHERE id = $1",
            &[&id, state, &closed],
        )
        .await?;
    Ok(())
}

/// Users who approved a request.
pub async fn approvers(client: &impl GenericClient, id: i64) -> Result<Vec<String>, StoreError> {
    Ok(client
        .query(
            "SELECT username FROM decisions WHERE request_id = $1 AND decision = 'approve'",
            &[&id],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect())
}

pub async fn add_decision(
    client: &impl GenericClient,
    id: i64,
    username: &str,
    role: &str,
    decision: &str,
    reason: &str,
) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO decisions (request_id, username, role, decision, reason) VALUES ($1, $2, $3, $4, $5)",
            &[&id, &username, &role, &decision, &reason],
        )
        .await?;
    Ok(())
}

/// One line of the audit log.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AuditRow {
    pub id: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub username: String,
    pub role: String,
    pub unit: Option<String>,
    pub action: String,
    pub subject: String,
    pub diff: Value,
    pub reason: String,
}

#[allow(clippy::too_many_arguments)]
pub async fn audit(
    client: &impl GenericClient,
    username: &str,
    role: &str,
    unit: Option<&str>,
    action: &str,
    subject: &str,
    diff: &Value,
    reason: &str,
) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO audit_log (username, role, unit, action, subject, diff, reason)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&username, &role, &unit, &action, &subject, diff, &reason],
        )
        .await?;
    Ok(())
}

pub async fn audit_trail(
    client: &impl GenericClient,
    unit: &str,
) -> Result<Vec<AuditRow>, StoreError> {
    Ok(client
        .query(
            "SELECT id, at, username, role, unit, action, subject, diff, reason FROM audit_log
             WHERE unit = $1 ORDER BY id",
            &[&unit],
        )
        .await?
        .iter()
        .map(|row| AuditRow {
            id: row.get(0),
            at: row.get(1),
            username: row.get(2),
            role: row.get(3),
            unit: row.get(4),
            action: row.get(5),
            subject: row.get(6),
            diff: row.get(7),
            reason: row.get(8),
        })
        .collect())
}
