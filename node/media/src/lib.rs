//! # cc-media: the node's media, without I/O
//!
//! Everything the node does to audio is here as plain synchronous code; the
//! shell in `node/server` owns the UDP sockets and the clock.
//!
//! ```text
//!  WAV file ──prompt──► G.711 bytes (both laws, once, shared)
//!                          │
//!                       player ── 160-byte frames ──► rtp::RtpSender ──► packet
//!                          ▲                              (seq, ts, marker, SSRC)
//!                       pacer: which stream is due when (20 ms each, one heap)
//!
//!  packet ──rtp::parse──► dtmf::DtmfDetector ──► one digit per RFC 4733 event
//!                    ├──► recorder::Recorder ──► 16-bit PCM placed by timestamp
//!                    └──► relay::Relay ──► the other leg (PT mapped, law converted)
//! ```
//!
//! Crates: `rtp-rs` reads and writes RTP headers (it keeps no stream state,
//! so sequence, timestamp and SSRC management is [`rtp::RtpSender`]);
//! `audio-codec-algorithms` does G.711 (`no_std`, no panics); `hound` reads
//! and writes WAV (16-bit PCM only: it cannot read G.711 WAVs, so prompts are
//! stored as PCM and encoded here once).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod dtmf;
pub mod g711;
pub mod pacer;
pub mod player;
pub mod prompt;
pub mod recorder;
pub mod relay;
pub mod rtp;

/// Samples per second of G.711 and of every prompt.
pub const SAMPLE_RATE: u32 = 8000;
/// Samples (and G.711 bytes) in one 20 ms packet.
pub const SAMPLES_PER_FRAME: usize = 160;
/// The packet interval.
pub const FRAME_DURATION: std::time::Duration = std::time::Duration::from_millis(20);

pub use g711::Law;
