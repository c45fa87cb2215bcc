//! SDP offer/answer (RFC 3264) for one audio stream of G.711 with RFC 4733
//! telephone-events.
//!
//! Parsing uses the `sdp` crate (webrtc-rs), which keeps unknown attributes
//! and accepts the quirks SIP trunks send. The node writes its own SDP: a
//! B2BUA answer needs only the connection address, the port, the chosen codec,
//! telephone-event and the direction.

use std::fmt::Write;
use std::io::Cursor;
use std::net::{IpAddr, SocketAddr};

/// The codecs the node speaks: G.711 in both laws.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law, static payload type 0.
    Pcmu,
    /// G.711 A-law, static payload type 8.
    Pcma,
}

impl Codec {
    /// The static payload type (RFC 3551).
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The encoding name of `a=rtpmap`.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    fn from_name(name: &str) -> Option<Codec> {
        match name.to_ascii_uppercase().as_str() {
            "PCMU" => Some(Codec::Pcmu),
            "PCMA" => Some(Codec::Pcma),
            _ => None,
        }
    }
}

/// The payload type the node offers for telephone-event.
pub const TELEPHONE_EVENT_PT: u8 = 101;

/// Media direction (RFC 3264 §5.1, §6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Both ways.
    SendRecv,
    /// The writer of the SDP only sends.
    SendOnly,
    /// The writer of the SDP only receives.
    RecvOnly,
    /// Neither (hold).
    Inactive,
}

impl Direction {
    /// The direction an answer takes to this offered direction.
    pub fn answer(self) -> Direction {
        match self {
            Direction::SendRecv => Direction::SendRecv,
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            Direction::Inactive => Direction::Inactive,
        }
    }

    /// Whether the writer of this direction may send.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether the writer of this direction may receive.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    fn attribute(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }
}

/// What an SDP says about its audio stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AudioStream {
    /// Where to send RTP; `None` when the stream is on hold with the old
    /// `c=0.0.0.0` convention (RFC 2543) or the port is 0.
    pub destination: Option<SocketAddr>,
    /// The payload formats in order of preference: `(pt, encoding name)`.
    pub formats: Vec<(u8, String)>,
    /// The direction, as written by the SDP's author.
    pub direction: Direction,
    /// `a=ptime`, in ms.
    pub ptime: Option<u32>,
}

/// An SDP the node cannot work with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    /// Not parseable SDP.
    #[error("malformed SDP: {0}")]
    Malformed(String),
    /// No audio stream at all.
    #[error("no audio stream in the SDP")]
    NoAudio,
    /// No codec in common: answered with 488 (RFC 3261 §13.3.1.1).
    #[error("no common codec: offered {0}")]
    NoCommonCodec(String),
}

/// Parses an SDP body and returns its first audio stream.
pub fn parse(body: &[u8]) -> Result<AudioStream, SdpError> {
    let text = String::from_utf8_lossy(body);
    // Some gateways omit the mandatory t= line; every parser refuses that, so
    // add one (RFC 4566 §5: "t=0 0" means a permanent session).
    let mut text = text.replace("\r\n", "\n").replace('\n', "\r\n");
    if !text.contains("\r\nt=") {
        if let Some(pos) = text.find("\r\nm=").or_else(|| text.find("\r\nc=")) {
            text.insert_str(pos + 2, "t=0 0\r\n");
        }
    }
    let session = sdp::SessionDescription::unmarshal(&mut Cursor::new(text.as_bytes()))
        .map_err(|e| SdpError::Malformed(e.to_string()))?;
    let media = session
        .media_descriptions
        .iter()
        .find(|m| m.media_name.media.eq_ignore_ascii_case("audio"))
        .ok_or(SdpError::NoAudio)?;

    let connection = media
        .connection_information
        .as_ref()
        .or(session.connection_information.as_ref())
        .and_then(|c| c.address.as_ref())
        .map(|a| a.address.split('/').next().unwrap_or_default().to_string());
    let address: Option<IpAddr> = connection.as_deref().and_then(|a| a.parse().ok());
    let port = u16::try_from(media.media_name.port.value).unwrap_or(0);
    let destination = match address {
        Some(ip) if !ip.is_unspecified() && port != 0 => Some(SocketAddr::new(ip, port)),
        _ => None,
    };

    let rtpmap = |pt: u8| -> Option<String> {
        media.attributes.iter().find_map(|a| {
            if a.key != "rtpmap" {
                return None;
            }
            let value = a.value.as_deref()?;
            let (number, encoding) = value.split_once(' ')?;
            (number.trim().parse::<u8>().ok()? == pt).then(|| {
                encoding
                    .split('/')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_string()
            })
        })
    };
    let mut formats = Vec::new();
    for format in &media.media_name.formats {
        let Ok(pt) = format.parse::<u8>() else {
            continue;
        };
        let name = rtpmap(pt).or_else(|| match pt {
            0 => Some("PCMU".into()),
            8 => Some("PCMA".into()),
            _ => None,
        });
        if let Some(name) = name {
            formats.push((pt, name));
        }
    }

    let find_direction = |attributes: &[sdp::description::common::Attribute]| {
        attributes.iter().find_map(|a| match a.key.as_str() {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        })
    };
    let mut direction = find_direction(&media.attributes)
        .or_else(|| find_direction(&session.attributes))
        .unwrap_or(Direction::SendRecv);
    if address.is_some_and(|ip| ip.is_unspecified()) {
        // RFC 2543 hold: c=0.0.0.0 means "do not send to me".
        direction = match direction {
            Direction::SendRecv | Direction::SendOnly => Direction::SendOnly,
            _ => Direction::Inactive,
        };
    }
    let ptime = media
        .attributes
        .iter()
        .find(|a| a.key == "ptime")
        .and_then(|a| a.value.as_deref()?.trim().parse().ok());
    Ok(AudioStream {
        destination,
        formats,
        direction,
        ptime,
    })
}

/// The outcome of an offer/answer exchange for one leg.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// The codec both ends use.
    pub codec: Codec,
    /// Its payload type on this leg.
    pub payload_type: u8,
    /// The telephone-event payload type, if both ends have it.
    pub dtmf_payload_type: Option<u8>,
    /// Where to send RTP (before latching to the source actually seen).
    pub destination: Option<SocketAddr>,
    /// Our direction on this leg.
    pub direction: Direction,
}

impl Negotiated {
    /// Whether we may send media now (not held by the peer).
    pub fn may_send(&self) -> bool {
        self.direction.sends() && self.destination.is_some()
    }
}

/// Answers an offer: the first offered codec we have (the offerer's
/// preference), telephone-event if offered, the mirrored direction.
pub fn answer(offer: &AudioStream, ours: &[Codec]) -> Result<Negotiated, SdpError> {
    let (pt, codec) = offer
        .formats
        .iter()
        .find_map(|(pt, name)| {
            Codec::from_name(name)
                .filter(|c| ours.contains(c))
                .map(|c| (*pt, c))
        })
        .ok_or_else(|| {
            SdpError::NoCommonCodec(
                offer
                    .formats
                    .iter()
                    .map(|(_, n)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            )
        })?;
    Ok(Negotiated {
        codec,
        payload_type: pt,
        dtmf_payload_type: telephone_event(offer),
        destination: offer.destination,
        direction: offer.direction.answer(),
    })
}

/// Reads the answer to an offer we made with `ours`.
pub fn accept_answer(answer: &AudioStream, ours: &[Codec]) -> Result<Negotiated, SdpError> {
    let (pt, codec) = answer
        .formats
        .iter()
        .find_map(|(pt, name)| {
            Codec::from_name(name)
                .filter(|c| ours.contains(c))
                .map(|c| (*pt, c))
        })
        .ok_or_else(|| {
            SdpError::NoCommonCodec(
                answer
                    .formats
                    .iter()
                    .map(|(_, n)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            )
        })?;
    Ok(Negotiated {
        codec,
        payload_type: pt,
        dtmf_payload_type: telephone_event(answer),
        destination: answer.destination,
        direction: answer.direction.answer(),
    })
}

fn telephone_event(stream: &AudioStream) -> Option<u8> {
    stream
        .formats
        .iter()
        .find(|(_, name)| name.eq_ignore_ascii_case("telephone-event"))
        .map(|(pt, _)| *pt)
}

/// Our side of the session, for writing SDP.
#[derive(Clone, Debug)]
pub struct LocalMedia {
    /// Address in `o=` and `c=`.
    pub address: IpAddr,
    /// Our RTP port.
    pub port: u16,
    /// Session id for `o=` (stable for the call).
    pub session_id: u64,
    /// Session version for `o=` (incremented on each new SDP).
    pub version: u64,
}

fn write_header(out: &mut String, local: &LocalMedia) {
    let ip = match local.address {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    };
    let _ = write!(
        out,
        "v=0\r\no=cc-node {} {} IN {ip} {}\r\ns=cc-node\r\nc=IN {ip} {}\r\nt=0 0\r\n",
        local.session_id, local.version, local.address, local.address
    );
}

/// Writes our answer for `negotiated`.
pub fn write_answer(local: &LocalMedia, negotiated: &Negotiated) -> String {
    let mut out = String::with_capacity(256);
    write_header(&mut out, local);
    let _ = write!(
        out,
        "m=audio {} RTP/AVP {}",
        local.port, negotiated.payload_type
    );
    if let Some(dtmf) = negotiated.dtmf_payload_type {
        let _ = write!(out, " {dtmf}");
    }
    let _ = write!(
        out,
        "\r\na=rtpmap:{} {}/8000\r\n",
        negotiated.payload_type,
        negotiated.codec.name()
    );
    if let Some(dtmf) = negotiated.dtmf_payload_type {
        let _ = write!(
            out,
            "a=rtpmap:{dtmf} telephone-event/8000\r\na=fmtp:{dtmf} 0-15\r\n"
        );
    }
    let _ = write!(
        out,
        "a=ptime:20\r\na={}\r\n",
        negotiated.direction.attribute()
    );
    out
}

/// Writes an offer of `codecs` (in preference order) plus telephone-event.
pub fn write_offer(local: &LocalMedia, codecs: &[Codec], direction: Direction) -> String {
    let mut out = String::with_capacity(256);
    write_header(&mut out, local);
    let _ = write!(out, "m=audio {} RTP/AVP", local.port);
    for codec in codecs {
        let _ = write!(out, " {}", codec.payload_type());
    }
    let _ = write!(out, " {TELEPHONE_EVENT_PT}\r\n");
    for codec in codecs {
        let _ = write!(
            out,
            "a=rtpmap:{} {}/8000\r\n",
            codec.payload_type(),
            codec.name()
        );
    }
    let _ = write!(
        out,
        "a=rtpmap:{TELEPHONE_EVENT_PT} telephone-event/8000\r\na=fmtp:{TELEPHONE_EVENT_PT} 0-15\r\na=ptime:20\r\na={}\r\n",
        direction.attribute()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\n\
        m=audio 4000 RTP/AVP 18 8 0 96\r\na=rtpmap:18 G729/8000\r\na=rtpmap:8 PCMA/8000\r\n\
        a=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-16\r\na=silenceSupp:off - - - -\r\n";

    #[test]
    fn the_answer_takes_the_first_common_codec_and_the_offered_event_type() {
        let offer = parse(OFFER.as_bytes()).unwrap();
        let n = answer(&offer, &[Codec::Pcmu, Codec::Pcma]).unwrap();
        assert_eq!(n.codec, Codec::Pcma);
        assert_eq!(n.dtmf_payload_type, Some(96));
        assert_eq!(n.destination, Some("10.0.0.2:4000".parse().unwrap()));
        let sdp = write_answer(
            &LocalMedia {
                address: "10.0.0.1".parse().unwrap(),
                port: 20000,
                session_id: 5,
                version: 1,
            },
            &n,
        );
        assert!(sdp.contains("m=audio 20000 RTP/AVP 8 96\r\n"), "{sdp}");
        let back = parse(sdp.as_bytes()).unwrap();
        assert_eq!(back.direction, Direction::SendRecv);
    }

    #[test]
    fn no_common_codec_is_an_error_naming_the_offer() {
        let offer = parse(OFFER.replace(" 8 0 96", "").as_bytes()).unwrap();
        assert_eq!(
            answer(&offer, &[Codec::Pcmu]),
            Err(SdpError::NoCommonCodec("G729".into()))
        );
    }

    #[test]
    fn hold_is_mirrored() {
        let held = format!("{OFFER}a=sendonly\r\n");
        let n = answer(&parse(held.as_bytes()).unwrap(), &[Codec::Pcma]).unwrap();
        assert_eq!(n.direction, Direction::RecvOnly);
        assert!(!n.may_send());
        let old_hold = OFFER.replace("c=IN IP4 10.0.0.2", "c=IN IP4 0.0.0.0");
        let n = answer(&parse(old_hold.as_bytes()).unwrap(), &[Codec::Pcma]).unwrap();
        assert!(!n.may_send());
    }

    #[test]
    fn a_missing_t_line_is_tolerated() {
        let no_t = OFFER.replace("t=0 0\r\n", "");
        assert!(parse(no_t.as_bytes()).is_ok());
    }
}
