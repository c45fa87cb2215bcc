//! RFC 4733 telephone-events: one digit per key press.
//!
//! A phone sends an event as a run of packets sharing one RTP timestamp (the
//! event's start), with growing durations, and repeats the final "end" packet
//! three times. The detector reports a digit at the first packet of a new
//! event and ignores the rest of the run, so each press is one digit however
//! many packets carry it.

/// The 4-byte payload of a telephone-event packet (RFC 4733 §2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code: 0–9, 10 = `*`, 11 = `#`, 12–15 = A–D, 16 = flash.
    pub event: u8,
    /// The E bit: this packet ends the event.
    pub end: bool,
    /// Volume in -dBm0 (0–63).
    pub volume: u8,
    /// Duration so far, in timestamp units.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Reads the payload; `None` if it is shorter than 4 bytes.
    pub fn parse(payload: &[u8]) -> Option<TelephoneEvent> {
        let [event, flags, hi, lo] = *payload.get(..4)?.first_chunk::<4>()?;
        Some(TelephoneEvent {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3F,
            duration: u16::from_be_bytes([hi, lo]),
        })
    }

    /// Writes the payload.
    pub fn to_bytes(self) -> [u8; 4] {
        let flags = if self.end { 0x80 } else { 0 } | (self.volume & 0x3F);
        let [hi, lo] = self.duration.to_be_bytes();
        [self.event, flags, hi, lo]
    }

    /// The key of a DTMF event; `None` for flash and non-DTMF events.
    pub fn digit(self) -> Option<char> {
        match self.event {
            0..=9 => Some((b'0' + self.event) as char),
            10 => Some('*'),
            11 => Some('#'),
            12..=15 => Some((b'A' + self.event - 12) as char),
            _ => None,
        }
    }
}

/// Turns a stream of telephone-event packets into digits.
#[derive(Clone, Debug, Default)]
pub struct DtmfDetector {
    last: Option<(u32, u8)>,
}

impl DtmfDetector {
    /// A detector that has seen nothing.
    pub fn new() -> Self {
        DtmfDetector::default()
    }

    /// Feeds one telephone-event packet's RTP timestamp and payload; returns
    /// the digit if this packet starts a new key press.
    pub fn on_packet(&mut self, timestamp: u32, payload: &[u8]) -> Option<char> {
        let event = TelephoneEvent::parse(payload)?;
        let digit = event.digit()?;
        if self.last == Some((timestamp, event.event)) {
            return None;
        }
        self.last = Some((timestamp, event.event));
        Some(digit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(event: u8, end: bool, duration: u16) -> [u8; 4] {
        TelephoneEvent {
            event,
            end,
            volume: 10,
            duration,
        }
        .to_bytes()
    }

    #[test]
    fn one_press_with_redundant_end_packets_is_one_digit() {
        let mut d = DtmfDetector::new();
        let mut digits = Vec::new();
        for (ts, p) in [
            (1000, packet(5, false, 160)),
            (1000, packet(5, false, 320)),
            (1000, packet(5, true, 480)),
            (1000, packet(5, true, 480)),
            (1000, packet(5, true, 480)),
            (2000, packet(5, false, 160)),
            (2000, packet(5, true, 320)),
            (3000, packet(11, true, 320)),
        ] {
            digits.extend(d.on_packet(ts, &p));
        }
        assert_eq!(digits, vec!['5', '5', '#']);
    }

    #[test]
    fn short_or_unknown_payloads_are_ignored() {
        let mut d = DtmfDetector::new();
        assert_eq!(d.on_packet(1, &[1, 2]), None);
        assert_eq!(d.on_packet(1, &packet(16, false, 1)), None);
    }
}
