//! An SDP offer through offer/answer, and our answer parsed back.
#![no_main]
use cc_sip::sdp::{self, Codec, LocalMedia};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(offer) = sdp::parse(data) else { return };
    let Ok(negotiated) = sdp::answer(&offer, &[Codec::Pcmu, Codec::Pcma]) else { return };
    let local = LocalMedia {
        address: "192.0.2.1".parse().unwrap(),
        port: 20000,
        session_id: 1,
        version: 1,
    };
    let answer = sdp::write_answer(&local, &negotiated);
    let back = sdp::parse(answer.as_bytes()).expect("our own answer parses");
    assert!(sdp::accept_answer(&back, &[negotiated.codec]).is_ok());
});
