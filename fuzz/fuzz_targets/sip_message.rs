//! A datagram through the whole transaction layer: wire checks, parsing,
//! transaction matching, stateless answers, timers.
#![no_main]
use std::time::{Duration, Instant};

use cc_sip::{Endpoint, EndpointConfig, Peer, Transport};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = cc_sip::wire::decode(data);
    let mut endpoint = Endpoint::new(EndpointConfig::default());
    let now = Instant::now();
    let peer = Peer {
        transport: if data.first().is_some_and(|b| b & 1 == 1) { Transport::Tcp } else { Transport::Udp },
        addr: "192.0.2.2:5060".parse().unwrap(),
    };
    // The same bytes twice: the second is a retransmission.
    endpoint.handle_datagram(now, peer, data);
    endpoint.handle_datagram(now, peer, data);
    while endpoint.poll_transmit().is_some() {}
    while let Some(event) = endpoint.poll_event() {
        if let cc_sip::Event::Request { tx, request, .. } = event {
            let response = cc_sip::headers::response_for(&request, 200, Some("t"));
            let _ = endpoint.respond(now, tx, response);
        }
    }
    endpoint.handle_timeout(now + Duration::from_secs(64));
    while endpoint.poll_transmit().is_some() {}
});
