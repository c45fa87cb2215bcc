//! RTP packets (RFC 3550) read and written with `rtp-rs`, and the state of
//! one outgoing stream.

use rtp_rs::{RtpPacketBuilder, RtpReader, Seq};

/// The fields of a received RTP packet the node uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// Payload type.
    pub payload_type: u8,
    /// Marker bit.
    pub marker: bool,
    /// Sequence number.
    pub sequence: u16,
    /// Media timestamp (8 kHz units for G.711 and telephone-event).
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// The payload, padding removed.
    pub payload: &'a [u8],
}

/// Why bytes are not an RTP packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    /// The header does not parse (short, wrong version, bad padding).
    #[error("not an RTP packet: {0}")]
    Malformed(String),
    /// An RTCP packet on the RTP port (RFC 5761 payload types 64–95 with the
    /// marker bit make 192–223 in the second byte).
    #[error("RTCP packet")]
    Rtcp,
}

/// Reads an RTP packet.
pub fn parse(bytes: &[u8]) -> Result<RtpPacket<'_>, RtpError> {
    if bytes.len() >= 2 && (192..=223).contains(&bytes[1]) {
        return Err(RtpError::Rtcp);
    }
    let reader = RtpReader::new(bytes).map_err(|e| RtpError::Malformed(format!("{e:?}")))?;
    Ok(RtpPacket {
        payload_type: reader.payload_type(),
        marker: reader.mark(),
        sequence: reader.sequence_number().into(),
        timestamp: reader.timestamp(),
        ssrc: reader.ssrc(),
        payload: reader.payload(),
    })
}

/// Largest RTP packet the node writes: 12-byte header and a 160-byte frame,
/// with room to spare for relayed packets carrying CSRCs or extensions.
pub const MAX_PACKET: usize = 1500;

/// The sequence number, timestamp and SSRC of one outgoing stream.
///
/// Sequence numbers go up by one per packet; the timestamp goes up by the
/// samples each packet carries (also across gaps, so a receiver sees real
/// time pass); the marker bit is set on the first packet of a talkspurt
/// (RFC 3551 §4.1).
#[derive(Clone, Debug)]
pub struct RtpSender {
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
    marker_pending: bool,
    packets: u64,
}

impl RtpSender {
    /// A stream with the given SSRC and random starting sequence number and
    /// timestamp (RFC 3550 §5.1 asks for random starts).
    pub fn new(ssrc: u32, first_sequence: u16, first_timestamp: u32) -> Self {
        RtpSender {
            ssrc,
            sequence: first_sequence,
            timestamp: first_timestamp,
            marker_pending: true,
            packets: 0,
        }
    }

    /// The SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Packets written so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// The timestamp the next packet will carry.
    pub fn next_timestamp(&self) -> u32 {
        self.timestamp
    }

    /// The next packet starts a talkspurt (marker bit).
    pub fn start_talkspurt(&mut self) {
        self.marker_pending = true;
    }

    /// Lets `samples` of media time pass without sending.
    pub fn skip(&mut self, samples: u32) {
        self.timestamp = self.timestamp.wrapping_add(samples);
    }

    /// Writes a packet carrying `payload` (which covers `samples` of media
    /// time) into `out`, returning its length.
    pub fn write(
        &mut self,
        payload_type: u8,
        payload: &[u8],
        samples: u32,
        out: &mut [u8],
    ) -> usize {
        let length = RtpPacketBuilder::new()
            .payload_type(payload_type)
            .marked(self.marker_pending)
            .sequence(Seq::from(self.sequence))
            .timestamp(self.timestamp)
            .ssrc(self.ssrc)
            .payload(payload)
            .build_into(out)
            .unwrap_or(0);
        if length > 0 {
            self.marker_pending = false;
            self.sequence = self.sequence.wrapping_add(1);
            self.timestamp = self.timestamp.wrapping_add(samples);
            self.packets += 1;
        }
        length
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_counts_up_across_the_wrap_with_one_marker() {
        let mut sender = RtpSender::new(0xdead_beef, u16::MAX, u32::MAX - 100);
        let mut buf = [0u8; MAX_PACKET];
        let mut seen = Vec::new();
        for _ in 0..3 {
            let n = sender.write(0, &[0xFF; 160], 160, &mut buf);
            let p = parse(&buf[..n]).unwrap();
            seen.push((p.sequence, p.timestamp, p.marker, p.ssrc, p.payload.len()));
        }
        assert_eq!(
            seen,
            vec![
                (u16::MAX, u32::MAX - 100, true, 0xdead_beef, 160),
                (0, 59, false, 0xdead_beef, 160),
                (1, 219, false, 0xdead_beef, 160),
            ]
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse(&[]).is_err());
        assert!(parse(&[0x80]).is_err());
        assert!(parse(&[0x40; 20]).is_err());
        assert_eq!(
            parse(&[0x80, 200, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(RtpError::Rtcp)
        );
    }
}
