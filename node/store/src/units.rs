//! Units, their versions and what is live.

use serde_json::Value;
use tokio_postgres::GenericClient;

use crate::StoreError;

/// A unit as listed.
#[derive(Clone, Debug, serde::Serialize)]
pub struct UnitRow {
    pub id: String,
    pub name: String,
    pub state: String,
    pub live_version: Option<i32>,
    pub service_numbers: Vec<String>,
}

const UNIT_SELECT: &str = "SELECT u.id, u.name, u.state, l.version,
        coalesce((SELECT array_agg(number ORDER BY number) FROM service_numbers s WHERE s.unit = u.id), '{}')
    FROM units u LEFT JOIN live_versions l ON l.unit = u.id";

fn unit_row(row: &tokio_postgres::Row) -> UnitRow {
    UnitRow {
        id: row.get(0),
        name: row.get(1),
        state: row.get(2),
        live_version: row.get(3),
        service_numbers: row.get(4),
    }
}

/// Units, all (None) or those listed.
pub async fn list(
    client: &impl GenericClient,
    only: Option<&[String]>,
) -> Result<Vec<UnitRow>, StoreError> {
    let rows = match only {
        None => {
            client
                .query(&format!("{UNIT_SELECT} ORDER BY u.id"), &[])
                .await?
        }
        Some(ids) => {
            client
                .query(
                    &format!("{UNIT_SELECT} WHERE u.id = ANY($1) ORDER BY u.id"),
                    &[&ids],
                )
                .await?
        }
    };
    Ok(rows.iter().map(unit_row).collect())
}

pub async fn get(client: &impl GenericClient, unit: &str) -> Result<Option<UnitRow>, StoreError> {
    Ok(client
        .query_opt(&format!("{UNIT_SELECT} WHERE u.id = $1"), &[&unit])
        .await?
        .as_ref()
        .map(unit_row))
}

/// A new unit, not live.
pub async fn create(client: &impl GenericClient, unit: &str, name: &str) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO units (id, name) VALUES ($1, $2)",
            &[&unit, &name],
        )
        .await?;
    Ok(())
}

/// Stores a new version; returns its number.
pub async fn add_version(
    client: &impl GenericClient,
    unit: &str,
    yaml: &str,
    document: &Value,
    created_by: &str,
) -> Result<i32, StoreError> {
    let row = client
        .query_one(
            "INSERT INTO unit_versions (unit, version, yaml, document, created_by)
             VALUES ($1, (SELECT coalesce(max(version), 0) + 1 FROM unit_versions WHERE unit = $1), $2, $3, $4)
             RETURNING version",
            &[&unit, &yaml, document, &created_by],
        )
        .await?;
    Ok(row.get(0))
}

/// A version's YAML and document.
pub async fn version(
    client: &impl GenericClient,
    unit: &str,
    version: i32,
) -> Result<Option<(String, Value)>, StoreError> {
    Ok(client
        .query_opt(
            "SELECT yaml, document FROM unit_versions WHERE unit = $1 AND version = $2",
            &[&unit, &version],
        )
        .await?
        .map(|row| (row.get(0), row.get(1))))
}

/// `(version, created_by, created_at)` of every version, newest first.
pub async fn versions(
    client: &impl GenericClient,
    unit: &str,
) -> Result<Vec<(i32, String, chrono::DateTime<chrono::Utc>)>, StoreError> {
    Ok(client
        .query(
            "SELECT version, created_by, created_at FROM unit_versions WHERE unit = $1 ORDER BY version DESC",
            &[&unit],
        )
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect())
}

/// Makes `version` the live one (nodes are notified), the unit live, and
/// its service numbers those of the document.
pub async fn go_live(
    client: &impl GenericClient,
    unit: &str,
    version: i32,
    service_numbers: &[String],
) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO live_versions (unit, version) VALUES ($1, $2)
             ON CONFLICT (unit) DO UPDATE SET version = excluded.version, since = now()",
            &[&unit, &version],
        )
        .await?;
    client
        .execute("UPDATE units SET state = 'live' WHERE id = $1", &[&unit])
        .await?;
    client
        .execute("DELETE FROM service_numbers WHERE unit = $1", &[&unit])
        .await?;
    for number in service_numbers {
        client
            .execute(
                "INSERT INTO service_numbers (number, unit) VALUES ($1, $2)",
                &[number, &unit],
            )
            .await?;
    }
    Ok(())
}

/// The unit that already serves `number`, if any.
pub async fn number_owner(
    client: &impl GenericClient,
    number: &str,
) -> Result<Option<String>, StoreError> {
    Ok(client
        .query_opt(
            "SELECT unit FROM service_numbers WHERE number = $1",
            &[&number],
        )
        .await?
        .map(|row| row.get(0)))
}

/// The approved envelope (JSON of cc_governance::Approved), if any.
pub async fn approved(
    client: &impl GenericClient,
    unit: &str,
) -> Result<Option<(Value, i32)>, StoreError> {
    Ok(client
        .query_opt(
            "SELECT scope, max_agents FROM approved WHERE unit = $1",
            &[&unit],
        )
        .await?
        .map(|row| (row.get(0), row.get(1))))
}

pub async fn set_approved(
    client: &impl GenericClient,
    unit: &str,
    scope: &Value,
    max_agents: i32,
) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO approved (unit, scope, max_agents) VALUES ($1, $2, $3)
             ON CONFLICT (unit) DO UPDATE SET scope = excluded.scope, max_agents = excluded.max_agents, updated_at = now()",
            &[&unit, scope, &max_agents],
        )
        .await?;
    Ok(())
}

/// `(unit, yaml)` of every live version.
pub async fn live_documents(
    client: &impl GenericClient,
) -> Result<Vec<(String, String)>, StoreError> {
    Ok(client
        .query(
            "SELECT l.unit, v.yaml FROM live_versions l
             JOIN unit_versions v ON v.unit = l.unit AND v.version = l.version
             JOIN units u ON u.id = l.unit WHERE u.state = 'live' ORDER BY l.unit",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// The latest university-wide calendar, if any.
pub async fn university_calendar(client: &impl GenericClient) -> Result<Option<Value>, StoreError> {
    Ok(client
        .query_opt(
            "SELECT document FROM university_calendar_versions ORDER BY version DESC LIMIT 1",
            &[],
        )
        .await?
        .map(|r| r.get(0)))
}
