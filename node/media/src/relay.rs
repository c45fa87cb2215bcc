//! Joining two legs: what a packet from one leg becomes on the other, and
//! where each leg's packets go.

use std::net::SocketAddr;

use crate::Law;

/// How a leg carries audio and events, as negotiated in its SDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LegFormat {
    /// The G.711 law of the leg's audio.
    pub law: Law,
    /// The audio payload type.
    pub payload_type: u8,
    /// The telephone-event payload type, if negotiated.
    pub dtmf_payload_type: Option<u8>,
}

/// What a received packet is on its leg.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketKind {
    /// The leg's audio codec.
    Audio,
    /// A telephone-event.
    Event,
    /// Anything else (comfort noise, an unexpected codec): not relayed.
    Other,
}

impl LegFormat {
    /// Classifies a payload type received on this leg.
    pub fn classify(&self, payload_type: u8) -> PacketKind {
        if payload_type == self.payload_type {
            PacketKind::Audio
        } else if Some(payload_type) == self.dtmf_payload_type {
            PacketKind::Event
        } else {
            PacketKind::Other
        }
    }
}

/// Rewrites an RTP packet received on a leg of format `from` in place so it
/// can go out on a leg of format `to`: payload type mapped, and the G.711
/// payload converted when the laws differ. Returns false when the packet has
/// no place on the other leg (an event the other leg did not negotiate,
/// or a payload type neither leg knows).
pub fn translate(
    packet: &mut [u8],
    payload_offset: usize,
    from: &LegFormat,
    to: &LegFormat,
) -> bool {
    if packet.len() < 12 || payload_offset > packet.len() {
        return false;
    }
    let payload_type = packet[1] & 0x7F;
    let new_type = match from.classify(payload_type) {
        PacketKind::Audio => {
            if from.law != to.law {
                for byte in &mut packet[payload_offset..] {
                    *byte = from.law.convert(*byte, to.law);
                }
            }
            to.payload_type
        }
        PacketKind::Event => match to.dtmf_payload_type {
            Some(pt) => pt,
            None => return false,
        },
        PacketKind::Other => return false,
    };
    packet[1] = (packet[1] & 0x80) | (new_type & 0x7F);
    true
}

/// Where a leg's RTP goes: the address its SDP gave, until a packet arrives
/// from the peer; then the address that packet came from (symmetric RTP,
/// RFC 4961), which is what reaches a phone behind NAT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Latch {
    signalled: Option<SocketAddr>,
    learned: Option<SocketAddr>,
}

impl Latch {
    /// A latch for the SDP's address.
    pub fn new(signalled: Option<SocketAddr>) -> Self {
        Latch {
            signalled,
            learned: None,
        }
    }

    /// A new SDP (re-INVITE) changes the signalled address and forgets what
    /// was learned when the address really changed.
    pub fn resignal(&mut self, signalled: Option<SocketAddr>) {
        if signalled != self.signalled {
            self.signalled = signalled;
            self.learned = None;
        }
    }

    /// A packet arrived from `source`; returns true if the latch moved.
    pub fn on_packet_from(&mut self, source: SocketAddr) -> bool {
        if self.learned.is_none() {
            self.learned = Some(source);
            return Some(source) != self.signalled;
        }
        false
    }

    /// Where to send now.
    pub fn destination(&self) -> Option<SocketAddr> {
        self.learned.or(self.signalled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MU: LegFormat = LegFormat {
        law: Law::Mu,
        payload_type: 0,
        dtmf_payload_type: Some(101),
    };
    const A: LegFormat = LegFormat {
        law: Law::A,
        payload_type: 8,
        dtmf_payload_type: Some(96),
    };

    fn packet(pt: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, pt | 0x80, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4];
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn audio_changes_law_and_payload_type_and_keeps_the_marker() {
        let mut p = packet(0, &[Law::Mu.encode(5000); 4]);
        assert!(translate(&mut p, 12, &MU, &A));
        assert_eq!(p[1], 0x80 | 8);
        assert_eq!(p[12], Law::A.encode(Law::Mu.decode(Law::Mu.encode(5000))));
    }

    #[test]
    fn events_are_remapped_or_dropped() {
        let mut p = packet(101, &[1, 0x80, 0, 160]);
        assert!(translate(&mut p, 12, &MU, &A));
        assert_eq!(p[1] & 0x7F, 96);
        let no_events = LegFormat {
            dtmf_payload_type: None,
            ..A
        };
        let mut p = packet(101, &[1, 0x80, 0, 160]);
        assert!(!translate(&mut p, 12, &MU, &no_events));
        let mut cn = packet(13, &[0]);
        assert!(!translate(&mut cn, 12, &MU, &A));
    }

    #[test]
    fn the_latch_follows_the_first_source() {
        let sdp: SocketAddr = "10.0.0.2:4000".parse().unwrap();
        let nat: SocketAddr = "192.0.2.7:31000".parse().unwrap();
        let mut latch = Latch::new(Some(sdp));
        assert_eq!(latch.destination(), Some(sdp));
        assert!(latch.on_packet_from(nat));
        assert_eq!(latch.destination(), Some(nat));
        assert!(
            !latch.on_packet_from("198.51.100.1:1".parse().unwrap()),
            "no hijack after latching"
        );
        assert_eq!(latch.destination(), Some(nat));
    }
}
