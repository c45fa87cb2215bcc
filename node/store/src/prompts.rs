//! Prompts: a unit's audio, versioned.

use tokio_postgres::GenericClient;

use crate::StoreError;

/// Stores a new version of a prompt; returns its number.
pub async fn add(
    client: &impl GenericClient,
    unit: &str,
    name: &str,
    wav: &[u8],
    duration_ms: i32,
    created_by: &str,
) -> Result<i32, StoreError> {
    let row = client
        .query_one(
            "INSERT INTO prompts (unit, name, version, wav, duration_ms, created_by)
             VALUES ($1, $2, (SELECT coalesce(max(version), 0) + 1 FROM prompts WHERE unit = $1 AND name = $2), $3, $4, $5)
             RETURNING version",
            &[&unit, &name, &wav, &duration_ms, &created_by],
        )
        .await?;
    Ok(row.get(0))
}

/// `(name, version, duration_ms, created_by, created_at)` of a unit's
/// latest prompts.
pub async fn list(
    client: &impl GenericClient,
    unit: &str,
) -> Result<Vec<(String, i32, i32, String, chrono::DateTime<chrono::Utc>)>, StoreError> {
    Ok(client
        .query(
            "SELECT DISTINCT ON (name) name, version, duration_ms, created_by, created_at FROM prompts
             WHERE unit = $1 ORDER BY name, version DESC",
            &[&unit],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect())
}

/// The latest audio of every prompt of the live units: `(unit, name, wav)`.
pub async fn live_audio(
    client: &impl GenericClient,
) -> Result<Vec<(String, String, Vec<u8>)>, StoreError> {
    Ok(client
        .query(
            "SELECT DISTINCT ON (p.unit, p.name) p.unit, p.name, p.wav FROM prompts p
             JOIN live_versions l ON l.unit = p.unit ORDER BY p.unit, p.name, p.version DESC",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}
