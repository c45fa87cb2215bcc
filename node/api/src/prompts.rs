//! Prompts: uploaded as WAV, checked, converted to what the nodes play
//! (8 kHz, mono, 16-bit PCM), and kept versioned.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use cc_governance::Permission;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::AppState;

/// The longest prompt: music on hold loops, so ten minutes is plenty.
const MAX_MS: u64 = 10 * 60 * 1000;
/// The largest upload (a 10-minute 48 kHz stereo 16-bit WAV is ~110 MB;
/// record it at a lower rate).
pub const MAX_BYTES: usize = 64 * 1024 * 1024;

#[derive(Serialize, ToSchema)]
pub struct PromptView {
    pub name: String,
    pub version: i32,
    pub duration_ms: i32,
    pub created_by: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A WAV file in any PCM or float format, rate and channel count, as 8 kHz
/// mono 16-bit samples, or why it cannot be.
pub fn to_prompt_samples(bytes: &[u8]) -> Result<Vec<i16>, String> {
    let reader = hound::WavReader::new(std::io::Cursor::new(bytes))
        .map_err(|e| format!("not a WAV file: {e}"))?;
    let spec = reader.spec();
    if spec.channels == 0 || spec.sample_rate < 4000 || spec.sample_rate > 192_000 {
        return Err(format!(
            "{} channel(s) at {} Hz cannot be a prompt",
            spec.channels, spec.sample_rate
        ));
    }
    let frames = u64::from(reader.duration());
    if frames == 0 {
        return Err("the recording is empty".into());
    }
    if frames * 1000 / u64::from(spec.sample_rate) > MAX_MS {
        return Err(format!(
            "a prompt lasts {} minutes at most",
            MAX_MS / 60_000
        ));
    }
    // Every format as f32 in [-1, 1].
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .into_samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(|e| format!("a damaged WAV file: {e}"))?,
        hound::SampleFormat::Int => {
            let scale = (1i64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|s| s as f32 / scale))
                .collect::<Result<_, _>>()
                .map_err(|e| format!("a damaged WAV file: {e}"))?
        }
    };
    let channels = usize::from(spec.channels);
    let mono: Vec<f32> = samples
        .chunks(channels)
        .map(|frame| frame.iter().sum::<f32>() / frame.len() as f32)
        .collect();
    // Linear interpolation to 8 kHz: prompts are speech and music on hold
    // for G.711 (which keeps 300-3400 Hz); no finer filter is heard there.
    let ratio = f64::from(spec.sample_rate) / 8000.0;
    let out_len = ((mono.len() as f64) / ratio).floor() as usize;
    let resampled = (0..out_len.max(1)).map(|i| {
        let at = i as f64 * ratio;
        let index = at.floor() as usize;
        let fraction = (at - index as f64) as f32;
        let a = mono.get(index).copied().unwrap_or(0.0);
        let b = mono.get(index + 1).copied().unwrap_or(a);
        a + (b - a) * fraction
    });
    Ok(resampled
        .map(|s| (s.clamp(-1.0, 1.0) * 32767.0) as i16)
        .collect())
}

fn wav_bytes(samples: &[i16]) -> Vec<u8> {
    let mut cursor = std::io::Cursor::new(Vec::new());
    {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut writer = hound::WavWriter::new(&mut cursor, spec).expect("a WAV header in memory");
        for s in samples {
            writer.write_sample(*s).expect("writing in memory");
        }
        writer.finalize().expect("writing in memory");
    }
    cursor.into_inner()
}

/// Uploads a new version of a prompt (the body is the WAV file). It is
/// played from the next call on.
#[utoipa::path(put, path = "/api/v1/units/{unit}/prompts/{name}", tag = "prompts",
    params(("unit" = String, Path), ("name" = String, Path)),
    request_body(content = Vec<u8>, content_type = "application/octet-stream",
        description = "the WAV file (any PCM or float format, rate and channels)"),
    responses((status = 201, body = PromptView), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    Path((unit, name)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<PromptView>)> {
    caller.require(Permission::ProposeChange, Some(&unit))?;
    let valid_name = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !valid_name {
        return Err(ApiError::bad_request(
            "a prompt name is lower-case letters, digits, '-' and '_'",
        ));
    }
    let samples = tokio::task::spawn_blocking(move || to_prompt_samples(&body))
        .await
        .map_err(|_| ApiError::bad_request("the WAV file could not be read"))?
        .map_err(ApiError::bad_request)?;
    let duration_ms = (samples.len() / 8) as i32;
    let wav = wav_bytes(&samples);
    let mut client = state.store.client().await?;
    let tx = client.transaction().await?;
    if cc_store::units::get(&*tx, &unit).await?.is_none() {
        return Err(ApiError::not_found(format!("no unit {unit:?}")));
    }
    let version = cc_store::prompts::add(
        &*tx,
        &unit,
        &name,
        &wav,
        duration_ms.max(1),
        &caller.username,
    )
    .await?;
    let actor = caller.actor_for(Some(&unit));
    cc_store::governance::audit(
        &*tx,
        &actor.user,
        actor.role.name(),
        Some(&unit),
        "prompt_uploaded",
        &format!("prompt {name} version {version} ({duration_ms} ms)"),
        &serde_json::Value::Array(vec![]),
        "",
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(PromptView {
            name,
            version,
            duration_ms,
            created_by: caller.username,
            created_at: chrono::Utc::now(),
        }),
    ))
}

/// A unit's prompts, latest versions.
#[utoipa::path(get, path = "/api/v1/units/{unit}/prompts", tag = "prompts", params(("unit" = String, Path)),
    responses((status = 200, body = [PromptView]), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(unit): Path<String>,
) -> ApiResult<Json<Vec<PromptView>>> {
    caller.require(Permission::ReadUnit, Some(&unit))?;
    let client = state.store.client().await?;
    let rows = cc_store::prompts::list(&**client, &unit).await?;
    Ok(Json(
        rows.into_iter()
            .map(
                |(name, version, duration_ms, created_by, created_at)| PromptView {
                    name,
                    version,
                    duration_ms,
                    created_by,
                    created_at,
                },
            )
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(rate: u32, channels: u16, bits: u16, seconds: f32) -> Vec<u8> {
        let mut cursor = std::io::Cursor::new(Vec::new());
        {
            let spec = hound::WavSpec {
                channels,
                sample_rate: rate,
                bits_per_sample: bits,
                sample_format: hound::SampleFormat::Int,
            };
            let mut w = hound::WavWriter::new(&mut cursor, spec).unwrap();
            let frames = (rate as f32 * seconds) as usize;
            for i in 0..frames {
                let v = ((i as f32 * 440.0 * 2.0 * std::f32::consts::PI / rate as f32).sin()
                    * 0.5
                    * ((1i32 << (bits - 1)) - 1) as f32) as i32;
                for _ in 0..channels {
                    w.write_sample(v).unwrap();
                }
            }
            w.finalize().unwrap();
        }
        cursor.into_inner()
    }

    #[test]
    fn any_pcm_wav_becomes_8_khz_mono_16_bit_of_the_same_length() {
        for (rate, channels, bits) in [(8000, 1, 16), (44100, 2, 16), (48000, 1, 24), (16000, 2, 8)]
        {
            let samples = to_prompt_samples(&wav(rate, channels, bits, 1.0)).unwrap();
            assert!(
                (7990..=8000).contains(&samples.len()),
                "{rate} {channels} {bits}: {}",
                samples.len()
            );
            let peak = samples.iter().map(|s| s.unsigned_abs()).max().unwrap();
            assert!(
                (15000..=17000).contains(&peak),
                "{rate} {channels} {bits}: peak {peak}"
            );
        }
    }

    #[test]
    fn what_is_not_a_prompt_is_refused_with_a_reason() {
        assert!(to_prompt_samples(b"RIFF....WAVEnot really")
            .unwrap_err()
            .contains("WAV"));
        assert!(to_prompt_samples(&[]).is_err());
        assert!(to_prompt_samples(&wav(8000, 1, 16, 0.0))
            .unwrap_err()
            .contains("empty"));
        assert!(to_prompt_samples(&wav(8000, 1, 16, 601.0))
            .unwrap_err()
            .contains("minutes"));
    }
}
