//! Storing a voicemail: the recording as an 8 kHz 16-bit WAV, and beside it
//! a JSON file with who called whom, when, and for how long.

use std::path::PathBuf;

use cc_media::recorder::Recorder;
use chrono::Utc;

use crate::node::Node;
use crate::records::CallRecord;
use crate::units::UnitRuntime;

/// Writes the message; returns its path, or `None` when there was nothing
/// to keep (no audio) or the disk refused.
pub async fn store(
    node: &Node,
    unit: &UnitRuntime,
    record: &CallRecord,
    recorder: Recorder,
) -> Option<String> {
    if recorder.samples().is_empty() {
        return None;
    }
    let folder = node.settings.paths.voicemail.join(unit.id());
    let stamp = Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    let safe_call: String = record
        .call_id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(48)
        .collect();
    let wav: PathBuf = folder.join(format!("{stamp}-{safe_call}.wav"));
    let metadata = serde_json::json!({
        "unit": unit.id(),
        "number": record.number,
        "caller": record.caller,
        "call_id": record.call_id,
        "received_at": Utc::now(),
        "duration_ms": recorder.duration().as_millis() as u64,
        "file": wav.file_name().map(|f| f.to_string_lossy().to_string()),
    });
    let wav_path = wav.clone();
    let written = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        std::fs::create_dir_all(&folder)?;
        let file = std::fs::File::create(&wav_path)?;
        recorder
            .write_wav(std::io::BufWriter::new(file))
            .map_err(std::io::Error::other)?;
        std::fs::write(
            wav_path.with_extension("json"),
            serde_json::to_vec_pretty(&metadata)?,
        )?;
        Ok(())
    })
    .await;
    match written {
        Ok(Ok(())) => Some(wav.display().to_string()),
        Ok(Err(e)) => {
            tracing::error!(error = %e, path = %wav.display(), "storing a voicemail");
            None
        }
        Err(_) => None,
    }
}
