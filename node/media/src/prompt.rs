//! Prompts: 8 kHz 16-bit mono WAV files, encoded once into both G.711 laws
//! and shared by every call that plays them.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use crate::{Law, SAMPLE_RATE};

/// The longest prompt the node loads (music on hold loops, so it need not be long).
pub const MAX_PROMPT: Duration = Duration::from_secs(600);

/// A prompt ready to play: its audio in both laws.
#[derive(Clone, Debug)]
pub struct Prompt {
    name: String,
    mu: Arc<[u8]>,
    a: Arc<[u8]>,
}

/// Why a prompt could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PromptError {
    /// Not a readable WAV file.
    #[error("prompt {name:?}: not a readable WAV file: {source}")]
    Wav {
        /// The prompt's name.
        name: String,
        /// hound's error.
        #[source]
        source: hound::Error,
    },
    /// A WAV in another format.
    #[error("prompt {name:?}: must be 8000 Hz 16-bit mono PCM WAV, found {rate} Hz {bits}-bit {channels}-channel")]
    Format {
        /// The prompt's name.
        name: String,
        /// Sample rate found.
        rate: u32,
        /// Bits per sample found.
        bits: u16,
        /// Channels found.
        channels: u16,
    },
    /// No samples.
    #[error("prompt {name:?}: no audio")]
    Empty {
        /// The prompt's name.
        name: String,
    },
    /// Longer than [`MAX_PROMPT`].
    #[error("prompt {name:?}: longer than {} s", MAX_PROMPT.as_secs())]
    TooLong {
        /// The prompt's name.
        name: String,
    },
}

impl Prompt {
    /// Reads a WAV and encodes it.
    pub fn from_wav<R: Read>(name: &str, reader: R) -> Result<Prompt, PromptError> {
        let wav = hound::WavReader::new(reader).map_err(|source| PromptError::Wav {
            name: name.to_string(),
            source,
        })?;
        let spec = wav.spec();
        if spec.sample_rate != SAMPLE_RATE
            || spec.channels != 1
            || spec.bits_per_sample != 16
            || spec.sample_format != hound::SampleFormat::Int
        {
            return Err(PromptError::Format {
                name: name.to_string(),
                rate: spec.sample_rate,
                bits: spec.bits_per_sample,
                channels: spec.channels,
            });
        }
        if wav.duration() as u64 > MAX_PROMPT.as_secs() * SAMPLE_RATE as u64 {
            return Err(PromptError::TooLong {
                name: name.to_string(),
            });
        }
        let samples: Vec<i16> = wav
            .into_samples::<i16>()
            .collect::<Result<_, _>>()
            .map_err(|source| PromptError::Wav {
                name: name.to_string(),
                source,
            })?;
        if samples.is_empty() {
            return Err(PromptError::Empty {
                name: name.to_string(),
            });
        }
        Ok(Prompt::from_samples(name, &samples))
    }

    /// Encodes samples already in memory (generated tones, tests).
    pub fn from_samples(name: &str, samples: &[i16]) -> Prompt {
        Prompt {
            name: name.to_string(),
            mu: Law::Mu.encode_all(samples).into(),
            a: Law::A.encode_all(samples).into(),
        }
    }

    /// The prompt's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The audio in `law`, one byte per sample.
    pub fn encoded(&self, law: Law) -> &Arc<[u8]> {
        match law {
            Law::Mu => &self.mu,
            Law::A => &self.a,
        }
    }

    /// How long it plays.
    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.mu.len() as u64 * 1_000_000 / SAMPLE_RATE as u64)
    }
}

/// The samples of a sine tone.
pub fn tone_samples(frequency: f32, duration: Duration, amplitude: i16) -> Vec<i16> {
    let count = (duration.as_secs_f32() * SAMPLE_RATE as f32) as usize;
    (0..count)
        .map(|i| {
            let t = i as f32 / SAMPLE_RATE as f32;
            ((t * frequency * std::f32::consts::TAU).sin() * amplitude as f32) as i16
        })
        .collect()
}

/// A short tone: the voicemail beep, or test audio.
pub fn tone(name: &str, frequency: f32, duration: Duration, amplitude: i16) -> Prompt {
    Prompt::from_samples(name, &tone_samples(frequency, duration, amplitude))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn wav(rate: u32, channels: u16, samples: &[i16]) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::new(&mut out, spec).unwrap();
        for s in samples {
            w.write_sample(*s).unwrap();
        }
        w.finalize().unwrap();
        out.into_inner()
    }

    #[test]
    fn a_wav_is_encoded_in_both_laws() {
        let p = Prompt::from_wav("hello", Cursor::new(wav(8000, 1, &[0, 1000, -1000, 0]))).unwrap();
        assert_eq!(p.encoded(Law::Mu).len(), 4);
        assert_eq!(p.encoded(Law::A)[1], Law::A.encode(1000));
        assert_eq!(p.duration(), Duration::from_micros(500));
    }

    #[test]
    fn other_formats_are_refused_with_what_was_found() {
        let err = Prompt::from_wav("cd", Cursor::new(wav(44100, 2, &[0, 0]))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "prompt \"cd\": must be 8000 Hz 16-bit mono PCM WAV, found 44100 Hz 16-bit 2-channel"
        );
        assert!(Prompt::from_wav("junk", Cursor::new(b"RIFF....".to_vec())).is_err());
        assert!(matches!(
            Prompt::from_wav("empty", Cursor::new(wav(8000, 1, &[]))),
            Err(PromptError::Empty { .. })
        ));
    }
}
