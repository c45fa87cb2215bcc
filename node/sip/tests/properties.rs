//! Properties of the transaction layer under arbitrary traffic: it never
//! panics, everything it sends parses, and every transaction ends (no
//! leak) once the longest timer has run out.

mod common;

use std::time::Duration;

use cc_sip::headers::response_for;
use cc_sip::wire::{decode, Decoded};
use cc_sip::Event;
use common::*;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Input {
    Invite(u8),
    Ack(u8),
    Cancel(u8),
    Bye(u8),
    Options(u8),
    Garbage(Vec<u8>),
    Mutated(u8, usize, u8),
    Answer(u16),
    Wait(u64),
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        3 => (0u8..4).prop_map(Input::Invite),
        2 => (0u8..4).prop_map(Input::Ack),
        1 => (0u8..4).prop_map(Input::Cancel),
        1 => (0u8..4).prop_map(Input::Bye),
        1 => (0u8..4).prop_map(Input::Options),
        1 => prop::collection::vec(any::<u8>(), 0..200).prop_map(Input::Garbage),
        2 => (0u8..4, 0usize..600, any::<u8>()).prop_map(|(c, at, b)| Input::Mutated(c, at, b)),
        3 => prop::sample::select(vec![180u16, 200, 486, 603]).prop_map(Input::Answer),
        2 => (0u64..5000).prop_map(Input::Wait),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]
    #[test]
    fn arbitrary_traffic_never_leaks_or_panics(inputs in prop::collection::vec(input(), 0..40)) {
        let mut h = Harness::new();
        let mut pending = Vec::new();
        for input in inputs {
            match input {
                Input::Invite(c) => h.receive(udp_peer(), &invite(&format!("z9hG4bKi{c}"), &format!("c{c}"))),
                Input::Ack(c) => h.receive(udp_peer(), &request("ACK", &format!("z9hG4bKa{c}"), &format!("c{c}"), 1, Some("n1"))),
                Input::Cancel(c) => h.receive(udp_peer(), &request("CANCEL", &format!("z9hG4bKi{c}"), &format!("c{c}"), 1, None)),
                Input::Bye(c) => h.receive(udp_peer(), &request("BYE", &format!("z9hG4bKb{c}"), &format!("c{c}"), 2, Some("n1"))),
                Input::Options(c) => h.receive(udp_peer(), &request("OPTIONS", &format!("z9hG4bKo{c}"), &format!("o{c}"), 1, None)),
                Input::Garbage(bytes) => {
                    let now = h.now;
                    h.endpoint.handle_datagram(now, udp_peer(), &bytes);
                    h.drain();
                }
                Input::Mutated(c, at, byte) => {
                    let mut bytes = invite(&format!("z9hG4bKm{c}"), &format!("m{c}")).into_bytes();
                    let at = at % bytes.len();
                    bytes[at] = byte;
                    let now = h.now;
                    h.endpoint.handle_datagram(now, udp_peer(), &bytes);
                    h.drain();
                }
                Input::Answer(status) => {
                    if let Some((tx, request)) = pending.pop() {
                        let now = h.now;
                        let _ = h.endpoint.respond(now, tx, response_for(&request, status, Some("n1")));
                        h.drain();
                        if status < 200 {
                            // The TU still owes this request a final answer.
                            pending.insert(0, (tx, request));
                        }
                    }
                }
                Input::Wait(ms) => {
                    let to = h.elapsed() + Duration::from_millis(ms);
                    h.advance_to(to);
                }
            }
            for (_, event) in h.events.drain(..) {
                if let Event::Request { tx, request, .. } = event {
                    pending.push((tx, request));
                }
            }
        }
        for (_, transmit) in &h.sent {
            // A 400 echoes the request's own headers, which may be the very
            // ones it complains of (missing or malformed); every other
            // message we send must parse.
            let text = String::from_utf8_lossy(&transmit.payload);
            if text.starts_with("SIP/2.0 400 Bad Request") {
                continue;
            }
            match decode(&transmit.payload) {
                Decoded::Request(_) | Decoded::Response(_) | Decoded::Keepalive => {}
                other => prop_assert!(false, "we sent something unparseable: {other:?}\n{text}"),
            }
        }
        // The TU's side of the contract (RFC 3261 §17.2.1: the server INVITE
        // transaction waits for the TU): answer what is still open, then let
        // every timer run out.
        for (tx, request) in pending.drain(..) {
            let now = h.now;
            let _ = h.endpoint.respond(now, tx, response_for(&request, 500, Some("n1")));
        }
        let to = h.elapsed() + Duration::from_secs(70);
        h.advance_to(to);
        prop_assert_eq!(h.endpoint.transaction_count(), (0, 0), "transactions left behind");
        prop_assert_eq!(h.endpoint.poll_timeout(), None);
    }
}
