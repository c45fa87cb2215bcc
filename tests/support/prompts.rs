//! Test prompts: deterministic noise-like audio, different for each name,
//! so the bytes a receiver gets can be matched to exactly one prompt.

use std::path::Path;

use cc_media::Law;

/// The 16-bit samples of a test prompt.
pub fn samples(name: &str, millis: u32) -> Vec<i16> {
    let mut state: u32 = name
        .bytes()
        .fold(2166136261, |h, b| (h ^ b as u32).wrapping_mul(16777619));
    (0..millis * 8)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            ((state >> 16) as i16) / 4
        })
        .collect()
}

/// Writes a prompt WAV.
pub fn write(path: &Path, name: &str, millis: u32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).expect("creating a prompt");
    for sample in samples(name, millis) {
        writer.write_sample(sample).unwrap();
    }
    writer.finalize().unwrap();
}

/// The prompt as the node sends it in `law`.
pub fn encoded(name: &str, millis: u32, law: Law) -> Vec<u8> {
    law.encode_all(&samples(name, millis))
}
