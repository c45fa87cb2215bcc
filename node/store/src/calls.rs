//! Call records and voicemail.

use serde_json::Value;
use tokio_postgres::GenericClient;

use crate::StoreError;

/// Stores a node's call record (its JSON, as the node writes it); a
/// record already stored (same call) is left alone. False when its unit
/// is not the platform's (nothing stored).
pub async fn add_record(client: &impl GenericClient, record: &Value) -> Result<bool, StoreError> {
    let text = |key: &str| {
        record
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let time = |key: &str| {
        record
            .get(key)
            .and_then(Value::as_str)
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&chrono::Utc))
    };
    let tags: Vec<String> = record
        .get("tags")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let started = time("started_at").unwrap_or_else(chrono::Utc::now);
    let agent = record.get("agent").and_then(Value::as_str);
    let queue = record.get("queue").and_then(Value::as_str);
    let inserted = client
        .execute(
            "INSERT INTO call_records (call_id, unit, node, started_at, ended_at, caller, number, agent, queue, outcome, tags, record)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12
             WHERE EXISTS (SELECT 1 FROM units WHERE id = $2)
             ON CONFLICT (call_id) DO NOTHING",
            &[
                &text("call_id"),
                &text("unit"),
                &text("node"),
                &started,
                &time("ended_at"),
                &text("caller"),
                &text("number"),
                &agent,
                &queue,
                &text("outcome"),
                &tags,
                record,
            ],
        )
        .await?;
    Ok(inserted == 1
        || client
            .query_opt(
                "SELECT 1 FROM call_records WHERE call_id = $1",
                &[&text("call_id")],
            )
            .await?
            .is_some())
}

/// Stores a voicemail (its metadata as the node writes it, and the WAV).
pub async fn add_voicemail(
    client: &impl GenericClient,
    metadata: &Value,
    wav: &[u8],
) -> Result<bool, StoreError> {
    let text = |key: &str| {
        metadata
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let received = metadata
        .get("received_at")
        .and_then(Value::as_str)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(chrono::Utc::now);
    let duration = metadata
        .get("duration_ms")
        .and_then(Value::as_i64)
        .unwrap_or(0) as i32;
    let inserted = client
        .execute(
            "INSERT INTO voicemail (unit, call_id, caller, received_at, duration_ms, wav)
             SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM units WHERE id = $1)
             ON CONFLICT (call_id) DO NOTHING",
            &[
                &text("unit"),
                &text("call_id"),
                &text("caller"),
                &received,
                &duration,
                &wav,
            ],
        )
        .await?;
    Ok(inserted == 1)
}

/// A unit's records, newest first: `(call_id, record)`.
pub async fn records(
    client: &impl GenericClient,
    unit: &str,
    limit: i64,
) -> Result<Vec<Value>, StoreError> {
    Ok(client
        .query(
            "SELECT record FROM call_records WHERE unit = $1 ORDER BY started_at DESC LIMIT $2",
            &[&unit, &limit],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// A voicemail as listed.
#[derive(Clone, Debug, serde::Serialize)]
pub struct VoicemailRow {
    pub id: i64,
    pub call_id: String,
    pub caller: String,
    pub received_at: chrono::DateTime<chrono::Utc>,
    pub duration_ms: i32,
    pub heard_by: Option<String>,
}

pub async fn voicemail(
    client: &impl GenericClient,
    unit: &str,
) -> Result<Vec<VoicemailRow>, StoreError> {
    Ok(client
        .query(
            "SELECT id, call_id, caller, received_at, duration_ms, heard_by FROM voicemail
             WHERE unit = $1 ORDER BY received_at DESC",
            &[&unit],
        )
        .await?
        .iter()
        .map(|r| VoicemailRow {
            id: r.get(0),
            call_id: r.get(1),
            caller: r.get(2),
            received_at: r.get(3),
            duration_ms: r.get(4),
            heard_by: r.get(5),
        })
        .collect())
}

/// One voicemail's audio, marked heard by `who`.
pub async fn voicemail_audio(
    client: &impl GenericClient,
    unit: &str,
    id: i64,
    who: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(client
        .query_opt(
            "UPDATE voicemail SET heard_by = coalesce(heard_by, $3), heard_at = coalesce(heard_at, now())
             WHERE unit = $1 AND id = $2 RETURNING wav",
            &[&unit, &id, &who],
        )
        .await?
        .map(|r| r.get(0)))
}

/// The agent of a stored call of `unit` (None: no such call; Some(None):
/// a call no agent took).
pub async fn record_agent(
    client: &impl GenericClient,
    unit: &str,
    call_id: &str,
) -> Result<Option<Option<String>>, StoreError> {
    Ok(client
        .query_opt(
            "SELECT agent FROM call_records WHERE unit = $1 AND call_id = $2",
            &[&unit, &call_id],
        )
        .await?
        .map(|r| r.get(0)))
}

/// Adds `tag` to a stored call (once); the call's tags after it.
pub async fn add_tag(
    client: &impl GenericClient,
    unit: &str,
    call_id: &str,
    tag: &str,
    by: &str,
) -> Result<Vec<String>, StoreError> {
    client
        .execute(
            "INSERT INTO call_tags (call_id, unit, tag, tagged_by) VALUES ($1, $2, $3, $4)
             ON CONFLICT (call_id, tag) DO NOTHING",
            &[&call_id, &unit, &tag, &by],
        )
        .await?;
    let row = client
        .query_one(
            "UPDATE call_records SET
                 tags = CASE WHEN $3 = ANY(tags) THEN tags ELSE array_append(tags, $3) END,
                 record = jsonb_set(record, '{tags}',
                     CASE WHEN record->'tags' ? $3 THEN record->'tags'
                          ELSE coalesce(record->'tags', '[]'::jsonb) || to_jsonb($3::text) END)
             WHERE unit = $1 AND call_id = $2 RETURNING tags",
            &[&unit, &call_id, &tag],
        )
        .await?;
    Ok(row.get(0))
}
