//! RTP from the network through everything that reads it: the header
//! parser, the RFC 4733 detector, the voicemail recorder and the relay.
#![no_main]
use std::time::Duration;

use cc_media::dtmf::DtmfDetector;
use cc_media::recorder::Recorder;
use cc_media::relay::{translate, LegFormat};
use cc_media::Law;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut detector = DtmfDetector::new();
    let mut recorder = Recorder::new(Duration::from_secs(2));
    let from = LegFormat {
        law: Law::Mu,
        payload_type: 0,
        dtmf_payload_type: Some(101),
    };
    let to = LegFormat {
        law: Law::A,
        payload_type: 8,
        dtmf_payload_type: Some(96),
    };
    for packet in data.split(|b| *b == 0xFE) {
        let Ok(parsed) = cc_media::rtp::parse(packet) else { continue };
        let _ = detector.on_packet(parsed.timestamp, parsed.payload);
        recorder.on_packet(parsed.ssrc, parsed.timestamp, parsed.payload, Law::Mu);
        let offset = packet.len() - parsed.payload.len();
        let mut copy = packet.to_vec();
        let _ = translate(&mut copy, offset, &from, &to);
    }
    assert!(recorder.samples().len() <= 16_000);
});
