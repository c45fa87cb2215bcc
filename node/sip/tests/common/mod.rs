//! A virtual-clock harness: one endpoint, a scripted peer, time that jumps
//! from deadline to deadline (quinn-proto's `Pair::drive`, without sockets).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cc_sip::endpoint::MessageKind;
use cc_sip::{Endpoint, EndpointConfig, Event, Peer, Transmit, Transport};

pub const PEER_ADDR: &str = "10.0.0.2:5060";

pub fn udp_peer() -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: PEER_ADDR.parse::<SocketAddr>().unwrap(),
    }
}

pub fn tcp_peer() -> Peer {
    Peer {
        transport: Transport::Tcp,
        ..udp_peer()
    }
}

pub struct Harness {
    pub endpoint: Endpoint,
    pub start: Instant,
    pub now: Instant,
    /// Everything sent, with the time offset it left at.
    pub sent: Vec<(Duration, Transmit)>,
    pub events: Vec<(Duration, Event)>,
}

impl Harness {
    pub fn new() -> Self {
        let start = Instant::now();
        Harness {
            endpoint: Endpoint::new(EndpointConfig {
                via_host: "10.0.0.1".into(),
                seed: 42,
                ..EndpointConfig::default()
            }),
            start,
            now: start,
            sent: Vec::new(),
            events: Vec::new(),
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Moves every output out of the endpoint, stamped with the current time.
    pub fn drain(&mut self) {
        let at = self.elapsed();
        while let Some(t) = self.endpoint.poll_transmit() {
            self.sent.push((at, t));
        }
        while let Some(e) = self.endpoint.poll_event() {
            self.events.push((at, e));
        }
    }

    pub fn receive(&mut self, peer: Peer, text: &str) {
        self.endpoint
            .handle_datagram(self.now, peer, text.as_bytes());
        self.drain();
    }

    /// Advances to `offset` since start, firing every deadline on the way at
    /// exactly its instant.
    pub fn advance_to(&mut self, offset: Duration) {
        let target = self.start + offset;
        while let Some(deadline) = self.endpoint.poll_timeout() {
            if deadline > target {
                break;
            }
            self.now = deadline.max(self.now);
            self.endpoint.handle_timeout(self.now);
            self.drain();
        }
        self.now = target;
    }

    /// Times (ms since start) at which messages of `kind` left.
    pub fn sent_at(&self, kind: MessageKind) -> Vec<u128> {
        self.sent
            .iter()
            .filter(|(_, t)| t.kind == kind)
            .map(|(at, _)| at.as_millis())
            .collect()
    }

    pub fn last_sent_text(&self) -> String {
        String::from_utf8_lossy(&self.sent.last().expect("nothing sent").1.payload).to_string()
    }

    pub fn sent_texts(&self, kind: MessageKind) -> Vec<String> {
        self.sent
            .iter()
            .filter(|(_, t)| t.kind == kind)
            .map(|(_, t)| String::from_utf8_lossy(&t.payload).to_string())
            .collect()
    }
}

pub fn invite(branch: &str, call_id: &str) -> String {
    let body = "v=0\r\no=- 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    format!(
        "INVITE sip:4000@10.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.0.0.2:5060;branch={branch};rport\r\n\
         Max-Forwards: 70\r\n\
         To: <sip:4000@10.0.0.1>\r\n\
         From: <sip:alice@10.0.0.2>;tag=alice1\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:alice@10.0.0.2:5060>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

pub fn request(
    method: &str,
    branch: &str,
    call_id: &str,
    cseq: u32,
    to_tag: Option<&str>,
) -> String {
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    format!(
        "{method} sip:4000@10.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.0.0.2:5060;branch={branch}\r\n\
         Max-Forwards: 70\r\n\
         To: <sip:4000@10.0.0.1>{to_tag}\r\n\
         From: <sip:alice@10.0.0.2>;tag=alice1\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} {method}\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// A response to the last request of `method` the harness sent, as the peer
/// would write it.
pub fn response_to(sent: &str, status: u16, to_tag: Option<&str>) -> String {
    let mut out = format!("SIP/2.0 {status} Whatever\r\n");
    for line in sent.split("\r\n") {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("via:")
            || lower.starts_with("from:")
            || lower.starts_with("call-id:")
            || lower.starts_with("cseq:")
        {
            out.push_str(line);
            out.push_str("\r\n");
        } else if lower.starts_with("to:") {
            out.push_str(line);
            if let Some(tag) = to_tag {
                out.push_str(";tag=");
                out.push_str(tag);
            }
            out.push_str("\r\n");
        }
    }
    if status < 300 {
        out.push_str("Contact: <sip:agent@10.0.0.2:5060>\r\n");
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

pub fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}
