//! A TCP byte stream cut at arbitrary points, framed into messages.
#![no_main]
use std::time::Instant;

use cc_sip::framing::{Frame, StreamFramer};
use cc_sip::{Endpoint, EndpointConfig, Peer, Transport};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&step, rest)) = data.split_first() else { return };
    let step = usize::from(step).max(1);
    let mut framer = StreamFramer::new();
    let mut endpoint = Endpoint::new(EndpointConfig::default());
    let peer = Peer {
        transport: Transport::Tcp,
        addr: "192.0.2.2:5060".parse().unwrap(),
    };
    for chunk in rest.chunks(step) {
        framer.extend(chunk);
        loop {
            match framer.next_frame() {
                Ok(Some(Frame::Message(message))) => {
                    endpoint.handle_datagram(Instant::now(), peer, &message);
                }
                Ok(Some(Frame::Keepalive)) => {}
                Ok(None) | Err(_) => break,
            }
        }
    }
    while endpoint.poll_transmit().is_some() {}
    while endpoint.poll_event().is_some() {}
});
