//! Records a caller's audio (voicemail) into 16-bit PCM, placing each packet
//! by its RTP timestamp, so that reordered packets land in order and lost
//! ones leave silence of the right length.

use std::io::{Seek, Write};
use std::time::Duration;

use crate::{Law, SAMPLE_RATE};

/// A jump in timestamps larger than this is a new stream, not a loss.
const MAX_GAP_SAMPLES: i64 = SAMPLE_RATE as i64 * 2;

/// One recording in progress.
#[derive(Clone, Debug)]
pub struct Recorder {
    samples: Vec<i16>,
    max_samples: usize,
    ssrc: Option<u32>,
    base_timestamp: u32,
    base_index: usize,
    end: usize,
}

impl Recorder {
    /// A recorder that keeps at most `limit` of audio.
    pub fn new(limit: Duration) -> Self {
        let max_samples = (limit.as_millis() as u64 * SAMPLE_RATE as u64 / 1000) as usize;
        Recorder {
            samples: Vec::with_capacity(max_samples.min(SAMPLE_RATE as usize * 10)),
            max_samples,
            ssrc: None,
            base_timestamp: 0,
            base_index: 0,
            end: 0,
        }
    }

    /// Adds one audio packet.
    pub fn on_packet(&mut self, ssrc: u32, timestamp: u32, payload: &[u8], law: Law) {
        if self.ssrc != Some(ssrc) {
            // A new stream (first packet, or the phone changed SSRC) continues
            // where the recording is.
            self.ssrc = Some(ssrc);
            self.base_timestamp = timestamp;
            self.base_index = self.end;
        }
        let offset = timestamp.wrapping_sub(self.base_timestamp) as i32 as i64;
        let mut position = self.base_index as i64 + offset;
        if position < 0 || position > self.end as i64 + MAX_GAP_SAMPLES {
            self.base_timestamp = timestamp;
            self.base_index = self.end;
            position = self.end as i64;
        }
        let position = position as usize;
        if position >= self.max_samples {
            return;
        }
        let stop = (position + payload.len()).min(self.max_samples);
        if self.samples.len() < stop {
            self.samples.resize(stop, 0);
        }
        for (slot, byte) in self.samples[position..stop].iter_mut().zip(payload) {
            *slot = law.decode(*byte);
        }
        self.end = self.end.max(stop);
    }

    /// Whether the limit is reached.
    pub fn is_full(&self) -> bool {
        self.end >= self.max_samples
    }

    /// The recorded length.
    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.end as u64 * 1_000_000 / SAMPLE_RATE as u64)
    }

    /// The recorded samples.
    pub fn samples(&self) -> &[i16] {
        &self.samples[..self.end]
    }

    /// Writes the recording as an 8 kHz 16-bit mono WAV.
    pub fn write_wav<W: Write + Seek>(&self, out: W) -> Result<(), hound::Error> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: SAMPLE_RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut writer = hound::WavWriter::new(out, spec)?;
        let mut i16_writer = writer.get_i16_writer(self.end as u32);
        for sample in self.samples() {
            i16_writer.write_sample(*sample);
        }
        i16_writer.flush()?;
        writer.finalize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_land_by_timestamp_and_losses_leave_silence() {
        let mut r = Recorder::new(Duration::from_secs(10));
        let loud = Law::Mu.encode(8000);
        r.on_packet(1, 1000, &[loud; 160], Law::Mu);
        r.on_packet(1, 1320, &[loud; 160], Law::Mu); // 1160 lost
        r.on_packet(1, 1160 + 480, &[loud; 160], Law::Mu);
        assert_eq!(r.duration(), Duration::from_millis(100));
        assert!(r.samples()[160..320].iter().all(|s| *s == 0));
        assert!(r.samples()[320..480].iter().all(|s| *s > 7000));
    }

    #[test]
    fn reordered_packets_are_put_back_in_order() {
        let mut r = Recorder::new(Duration::from_secs(10));
        r.on_packet(9, 500, &[Law::A.encode(100); 160], Law::A);
        r.on_packet(9, 820, &[Law::A.encode(300); 160], Law::A);
        r.on_packet(9, 660, &[Law::A.encode(200); 160], Law::A);
        let s = r.samples();
        assert!(
            s[0] < s[200] && s[200] < s[400],
            "{} {} {}",
            s[0],
            s[200],
            s[400]
        );
    }

    #[test]
    fn the_limit_caps_the_recording() {
        let mut r = Recorder::new(Duration::from_millis(30));
        for i in 0..10u32 {
            r.on_packet(1, i * 160, &[0x10; 160], Law::Mu);
        }
        assert!(r.is_full());
        assert_eq!(r.samples().len(), 240);
    }

    #[test]
    fn a_wav_comes_out_readable() {
        let mut r = Recorder::new(Duration::from_secs(1));
        r.on_packet(1, 0, &[Law::Mu.encode(1234); 160], Law::Mu);
        let mut out = std::io::Cursor::new(Vec::new());
        r.write_wav(&mut out).unwrap();
        out.set_position(0);
        let wav = hound::WavReader::new(out).unwrap();
        assert_eq!(wav.spec().sample_rate, 8000);
        assert_eq!(wav.duration(), 160);
    }
}
