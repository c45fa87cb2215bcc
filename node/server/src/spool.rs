//! Call records and voicemail into PostgreSQL, off the call path.
//!
//! The node writes both to disk first, as it always does (the records'
//! JSON lines, the voicemail's WAV and JSON): that is the spool. This task
//! copies what is new into PostgreSQL and remembers how far it got (the
//! records file's offset in `<records>.stored`, a `.stored` mark beside
//! each voicemail), so an outage of PostgreSQL delays the copy and loses
//! nothing: it resumes where it stopped. The files stay for the
//! operators' own rotation; a records file that got shorter (rotated)
//! starts again from its beginning.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cc_store::Store;

use crate::metrics::Metrics;

/// How often the spool is looked at, and waited on after a failure.
const PERIOD: Duration = Duration::from_secs(1);
const AFTER_FAILURE: Duration = Duration::from_secs(5);
/// Records per transaction.
const BATCH: usize = 500;

pub async fn run(store: Store, records: PathBuf, voicemail: PathBuf, metrics: Arc<Metrics>) {
    let offset_file = PathBuf::from(format!("{}.stored", records.display()));
    loop {
        let records_done = ship_records(&store, &records, &offset_file, &metrics).await;
        let voicemail_done = ship_voicemail(&store, &voicemail).await;
        match (records_done, voicemail_done) {
            (Ok(_), Ok(_)) => tokio::time::sleep(PERIOD).await,
            (r, v) => {
                if let Err(e) = r.and(v) {
                    tracing::warn!(error = %e, "storing records in PostgreSQL: kept on disk, trying again");
                }
                tokio::time::sleep(AFTER_FAILURE).await;
            }
        }
    }
}

fn read_offset(path: &Path) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

fn write_offset(path: &Path, offset: u64) -> std::io::Result<()> {
    let temporary = path.with_extension("stored.tmp");
    std::fs::write(&temporary, offset.to_string())?;
    std::fs::rename(&temporary, path)
}

/// Copies the records written since the last time; how many.
async fn ship_records(
    store: &Store,
    records: &Path,
    offset_file: &Path,
    metrics: &Metrics,
) -> Result<usize, String> {
    let length = match std::fs::metadata(records) {
        Ok(m) => m.len(),
        Err(_) => return Ok(0),
    };
    let mut offset = read_offset(offset_file);
    if offset > length {
        offset = 0; // rotated
    }
    metrics.records_spooled_bytes.set((length - offset) as i64);
    if offset == length {
        return Ok(0);
    }
    let bytes = {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = std::fs::File::open(records).map_err(|e| e.to_string())?;
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| e.to_string())?;
        let mut bytes = Vec::new();
        file.take((length - offset).min(8 * 1024 * 1024))
            .read_to_end(&mut bytes)
            .map_err(|e| e.to_string())?;
        bytes
    };
    // Whole lines only: the writer may be in the middle of one.
    let Some(end) = bytes.iter().rposition(|b| *b == b'\n') else {
        return Ok(0);
    };
    let mut shipped = 0;
    let mut consumed = 0usize;
    let lines: Vec<&[u8]> = bytes[..=end].split_inclusive(|b| *b == b'\n').collect();
    for chunk in lines.chunks(BATCH) {
        let mut client = store.client().await.map_err(|e| e.to_string())?;
        let tx = client.transaction().await.map_err(|e| e.to_string())?;
        for line in chunk {
            if let Ok(record) = serde_json::from_slice::<serde_json::Value>(line) {
                if cc_store::calls::add_record(&*tx, &record)
                    .await
                    .map_err(|e| e.to_string())?
                {
                    shipped += 1;
                }
            }
        }
        tx.commit().await.map_err(|e| e.to_string())?;
        consumed += chunk.iter().map(|l| l.len()).sum::<usize>();
        let at = offset + consumed as u64;
        write_offset(offset_file, at).map_err(|e| e.to_string())?;
        metrics.records_spooled_bytes.set((length - at) as i64);
    }
    metrics.records_stored.inc_by(shipped as u64);
    Ok(shipped)
}

/// Copies the voicemail not stored yet; how many.
async fn ship_voicemail(store: &Store, folder: &Path) -> Result<usize, String> {
    let Ok(units) = std::fs::read_dir(folder) else {
        return Ok(0);
    };
    let mut shipped = 0;
    for unit in units.flatten() {
        let Ok(entries) = std::fs::read_dir(unit.path()) else {
            continue;
        };
        for entry in entries.flatten() {
            let metadata_path = entry.path();
            if metadata_path.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let mark = metadata_path.with_extension("stored");
            if mark.exists() {
                continue;
            }
            let wav_path = metadata_path.with_extension("wav");
            let (Ok(metadata), Ok(wav)) = (std::fs::read(&metadata_path), std::fs::read(&wav_path))
            else {
                continue;
            };
            let Ok(metadata) = serde_json::from_slice::<serde_json::Value>(&metadata) else {
                continue;
            };
            let client = store.client().await.map_err(|e| e.to_string())?;
            cc_store::calls::add_voicemail(&**client, &metadata, &wav)
                .await
                .map_err(|e| e.to_string())?;
            std::fs::write(&mark, b"").map_err(|e| e.to_string())?;
            shipped += 1;
        }
    }
    Ok(shipped)
}
