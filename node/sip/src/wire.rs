//! Checks on a whole SIP message as it arrives, before anything trusts it.
//!
//! rsipstack's parser is lenient (a header line without a colon is skipped, a
//! body shorter than its Content-Length is accepted) and its method set is
//! closed (an extension method fails the whole parse). A UAS must still
//! answer such requests: RFC 3261 §8.2 and §18.3 ask for 400, 405, 416, 501
//! and 505 where the request can be answered at all. So every message passes
//! through [`decode`], which first scans the raw header section itself
//! ([`RawHeaders`]), checks what the node relies on, and only then hands the
//! bytes to the parser. What fails a check becomes a [`Rejection`] that names
//! the problem in its reason phrase; what cannot be answered (no Via, a broken
//! response, binary noise) is dropped with a [`DropReason`].

use std::fmt;
use std::net::SocketAddr;

use rsipstack::sip::{HeadersExt, Method, Request, Response, SipMessage};

use crate::headers;

/// The transports the node speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// Datagrams: the transaction layer retransmits (RFC 3261 §17).
    Udp,
    /// A stream: reliable, so no retransmissions and zero wait timers.
    Tcp,
}

impl Transport {
    /// Whether the transport is reliable (RFC 3261 §17: timers A, E, G are
    /// not used and D, I, J, K are zero on reliable transports).
    pub fn is_reliable(self) -> bool {
        matches!(self, Transport::Tcp)
    }

    /// The token used in Via headers.
    pub fn via_token(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.via_token())
    }
}

/// The other end of a message: where it came from, or where it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    /// UDP or TCP.
    pub transport: Transport,
    /// Address and port. Over TCP the shell keeps one connection per address.
    pub addr: SocketAddr,
}

/// What [`decode`] made of some bytes.
#[derive(Debug)]
pub enum Decoded {
    /// A CRLF keep-alive (RFC 5626 §3.5.1); a stream peer expects one CRLF back.
    Keepalive,
    /// A request that passed every check.
    Request(Request),
    /// A response that passed every check.
    Response(Response),
    /// A request the node will not process but can answer.
    Reject(Rejection),
    /// Nothing that can be answered.
    Drop(DropReason),
}

/// A request to be answered, statelessly, with an error status.
#[derive(Debug, Clone)]
pub struct Rejection {
    /// The status code: 400, 416, 501 or 505.
    pub status: u16,
    /// The reason phrase, naming what was wrong.
    pub reason: String,
    /// The request's header fields, to copy Via, From, To, Call-ID and CSeq.
    pub headers: RawHeaders,
}

/// Why a message was dropped without an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DropReason {
    /// No Via header: there is nowhere to send a response (RFC 3261 §18.2.2).
    NoVia,
    /// A response that fails a check is discarded (RFC 3261 §18.1.2, §18.3).
    BadResponse(String),
    /// Not SIP at all.
    NotSip,
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropReason::NoVia => f.write_str("request without Via"),
            DropReason::BadResponse(why) => write!(f, "bad response: {why}"),
            DropReason::NotSip => f.write_str("not a SIP message"),
        }
    }
}

/// Methods this parser knows. Anything else that is a valid token is an
/// extension method, answered with 501 (RFC 3261 §8.2.1).
const KNOWN_METHODS: &[&str] = &[
    "ACK",
    "BYE",
    "CANCEL",
    "INFO",
    "INVITE",
    "MESSAGE",
    "NOTIFY",
    "OPTIONS",
    "PRACK",
    "PUBLISH",
    "REFER",
    "REGISTER",
    "SUBSCRIBE",
    "UPDATE",
];

/// Largest message the node accepts; anything bigger is not a call-center
/// signalling message and is refused rather than buffered.
pub const MAX_MESSAGE_SIZE: usize = 64 * 1024;

/// Checks and parses one whole message (a datagram, or one framed stream message).
pub fn decode(bytes: &[u8]) -> Decoded {
    if bytes
        .iter()
        .all(|b| matches!(b, b'\r' | b'\n' | b' ' | b'\t'))
    {
        return Decoded::Keepalive;
    }
    // RFC 3261 §7.5: CRLFs before the start line are ignored.
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .unwrap_or(0);
    let bytes = &bytes[start..];

    let (head_len, body_start) = match find_head_end(bytes) {
        Some(found) => found,
        // A datagram without the blank line: treat everything as headers, so
        // that a request can still be answered.
        None => (bytes.len(), bytes.len()),
    };
    let head = String::from_utf8_lossy(&bytes[..head_len]);
    let raw = RawHeaders::scan(&head);
    let is_response = raw.start_line.starts_with("SIP/");
    // Header fields are UTF-8 text (RFC 3261 §25.1); anything else would be
    // read differently by the scan above and by the parser.
    let text = std::str::from_utf8(&bytes[..head_len]).is_ok();

    if is_response {
        if !text {
            return Decoded::Drop(DropReason::BadResponse("headers are not UTF-8".into()));
        }
        return decode_response(bytes, &raw, head_len, body_start);
    }
    if !text && raw.get("via").is_some() {
        return Decoded::Reject(Rejection {
            status: 400,
            reason: "Bad Request (header bytes are not UTF-8)".into(),
            headers: raw,
        });
    }
    decode_request(bytes, raw, head_len, body_start)
}

fn decode_response(bytes: &[u8], raw: &RawHeaders, head_len: usize, body_start: usize) -> Decoded {
    let bad = |why: &str| Decoded::Drop(DropReason::BadResponse(why.to_string()));
    let mut parts = raw.start_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    if !version.eq_ignore_ascii_case("SIP/2.0") {
        return bad("version");
    }
    match code.parse::<u16>() {
        Ok(100..=699) if code.len() == 3 => {}
        _ => return bad("status code"),
    }
    for name in ["via", "from", "to", "call-id", "cseq"] {
        if raw.get(name).is_none() {
            return bad(&format!("missing {name}"));
        }
    }
    let body = match body_slice(bytes, raw, head_len, body_start) {
        Ok(body) => body,
        Err(why) => return bad(&why),
    };
    match parse_with_body(bytes, head_len, body) {
        Ok(SipMessage::Response(response)) => {
            if let Err(why) = check_common_typed(&response) {
                return bad(&why);
            }
            Decoded::Response(response)
        }
        Ok(SipMessage::Request(_)) => bad("start line"),
        Err(why) => bad(&why),
    }
}

fn decode_request(bytes: &[u8], raw: RawHeaders, head_len: usize, body_start: usize) -> Decoded {
    if !raw
        .start_line
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
    {
        // Not a request line: binary noise or a stray fragment.
        if raw.get("via").is_none() {
            return Decoded::Drop(DropReason::NotSip);
        }
    }
    if raw.get("via").is_none() {
        return Decoded::Drop(DropReason::NoVia);
    }
    let reject = |status: u16, reason: String, raw: RawHeaders| {
        Decoded::Reject(Rejection {
            status,
            reason,
            headers: raw,
        })
    };

    // Request-Line = Method SP Request-URI SP SIP-Version CRLF: exactly one
    // space between three parts (RFC 3261 §7.1; RFC 4475 §3.1.2.x).
    let parts: Vec<&str> = raw.start_line.split(' ').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
        let reason = "Bad Request (malformed request line)".to_string();
        return reject(400, reason, raw);
    }
    let (method, uri, version) = (parts[0], parts[1], parts[2]);
    if !method.bytes().all(is_token_char) {
        return reject(400, "Bad Request (method is not a token)".into(), raw);
    }
    if !version.eq_ignore_ascii_case("SIP/2.0") {
        return reject(505, "Version Not Supported".into(), raw);
    }
    for (name, label) in [
        ("from", "From"),
        ("to", "To"),
        ("call-id", "Call-ID"),
        ("cseq", "CSeq"),
    ] {
        match raw.count(name) {
            0 => return reject(400, format!("Bad Request (missing {label} header)"), raw),
            1 => {}
            _ => {
                return reject(
                    400,
                    format!("Bad Request (more than one {label} header)"),
                    raw,
                )
            }
        }
    }
    // CSeq = 1*DIGIT LWS Method, the number below 2**31 and the method equal
    // to the request's (RFC 3261 §8.1.1.5, §8.2.2.x; RFC 4475 §3.1.2.x).
    match raw.get("cseq").and_then(headers::parse_cseq) {
        Some((_, cseq_method)) if cseq_method == method => {}
        Some(_) => {
            return reject(
                400,
                "Bad Request (CSeq method does not match the request)".into(),
                raw,
            )
        }
        None => return reject(400, "Bad Request (malformed CSeq)".into(), raw),
    }
    if let Some(max_forwards) = raw.get("max-forwards") {
        if max_forwards.trim().parse::<u8>().is_err() {
            return reject(400, "Bad Request (malformed Max-Forwards)".into(), raw);
        }
    }
    if !KNOWN_METHODS.contains(&method) {
        return reject(501, "Not Implemented".into(), raw);
    }
    let scheme = uri.split(':').next().unwrap_or_default();
    if !uri.contains(':') {
        return reject(400, "Bad Request (malformed Request-URI)".into(), raw);
    }
    if !(scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("tel")) {
        // sips: would need TLS end to end, which the node does not offer.
        return reject(416, "Unsupported URI Scheme".into(), raw);
    }
    let body = match body_slice(bytes, &raw, head_len, body_start) {
        Ok(body) => body,
        Err(why) => return reject(400, format!("Bad Request ({why})"), raw),
    };
    let request = match parse_with_body(bytes, head_len, body) {
        Ok(SipMessage::Request(request)) => request,
        Ok(SipMessage::Response(_)) => {
            return reject(400, "Bad Request (malformed request line)".into(), raw)
        }
        Err(why) => return reject(400, format!("Bad Request ({why})"), raw),
    };
    if let Err(why) = check_common_typed(&request) {
        return reject(400, format!("Bad Request ({why})"), raw);
    }
    if request.method == Method::Invite {
        if let Err(why) = check_invite(&raw) {
            return reject(400, format!("Bad Request ({why})"), raw);
        }
        if !request.body.is_empty() {
            let content_type = raw.get("content-type").unwrap_or_default();
            if !content_type
                .trim()
                .to_ascii_lowercase()
                .starts_with("application/sdp")
            {
                // RFC 3261 §21.4.13: the answer lists what we accept.
                return reject(415, "Unsupported Media Type".into(), raw);
            }
        }
    }
    // RFC 3261 §8.2.2.3: an extension the request requires and we lack.
    if !matches!(request.method, Method::Ack | Method::Cancel)
        && raw.get("require").is_some_and(|r| !r.trim().is_empty())
    {
        return reject(420, "Bad Extension".into(), raw);
    }
    Decoded::Request(request)
}

/// Checks the typed parse of the headers every message needs, so that later
/// code can rely on them.
fn check_common_typed<M: HeadersExt>(message: &M) -> Result<(), String> {
    let via = headers::top_via(message).ok_or_else(|| "malformed Via".to_string())?;
    // A Via without branch is an RFC 2543 peer; the endpoint keys its
    // transactions differently (RFC 3261 §17.2.3), so it is not an error.
    if headers::via_sent_by(&via).is_empty() {
        return Err("Via without sent-by".into());
    }
    for header in message.headers().iter() {
        if !headers::quotes_balanced(header.value()) {
            return Err(format!("unterminated quoted string in {}", header.name()));
        }
    }
    message.call_id_header().map_err(|_| "missing Call-ID")?;
    headers::cseq(message).ok_or("malformed CSeq")?;
    let from = message.from_header().map_err(|_| "missing From")?;
    from.uri().map_err(|_| "malformed From URI")?;
    let to = message.to_header().map_err(|_| "missing To")?;
    to.uri().map_err(|_| "malformed To URI")?;
    Ok(())
}

fn check_invite(raw: &RawHeaders) -> Result<(), String> {
    let contact = raw.get("contact").ok_or("INVITE without Contact")?;
    if headers::first_uri(contact).is_none() {
        return Err("malformed Contact".into());
    }
    Ok(())
}

/// The message body according to Content-Length (RFC 3261 §18.3): bytes past
/// it are discarded, a body shorter than it is an error.
fn body_slice<'a>(
    bytes: &'a [u8],
    raw: &RawHeaders,
    _head_len: usize,
    body_start: usize,
) -> Result<&'a [u8], String> {
    let available = &bytes[body_start.min(bytes.len())..];
    let mut declared: Option<usize> = None;
    for value in raw.all("content-length") {
        let value = value.trim();
        let length = value
            .parse::<usize>()
            .ok()
            .filter(|_| value.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| "malformed Content-Length".to_string())?;
        match declared {
            Some(previous) if previous != length => {
                return Err("conflicting Content-Length headers".into())
            }
            _ => declared = Some(length),
        }
    }
    match declared {
        Some(length) if length > available.len() => {
            Err(format!("body shorter than Content-Length {length}"))
        }
        Some(length) => Ok(&available[..length]),
        None => Ok(available),
    }
}

fn parse_with_body(bytes: &[u8], head_len: usize, body: &[u8]) -> Result<SipMessage, String> {
    // The parser expects head + CRLFCRLF + body; rebuild exactly that so it
    // sees the body Content-Length allowed and nothing more.
    let mut message = Vec::with_capacity(head_len + 4 + body.len());
    message.extend_from_slice(&bytes[..head_len]);
    message.extend_from_slice(b"\r\n\r\n");
    message.extend_from_slice(body);
    let mut parsed = rsipstack::sip::parser::parse_message(&message).map_err(|e| e.to_string())?;
    // The parser trusts the first Content-Length it sees; the body is ours.
    match &mut parsed {
        SipMessage::Request(r) => r.body = body.to_vec(),
        SipMessage::Response(r) => r.body = body.to_vec(),
    }
    Ok(parsed)
}

/// Finds the end of the header section: `(header length, body start)`.
fn find_head_end(bytes: &[u8]) -> Option<(usize, usize)> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|pos| (pos, pos + 4))
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// The header section as text: the start line, then each field unfolded,
/// with compact names (RFC 3261 §7.3.3) expanded and names lower-cased.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawHeaders {
    /// The first line, as received.
    pub start_line: String,
    /// `(lower-case long name, value)` in order of arrival.
    pub fields: Vec<(String, String)>,
}

impl RawHeaders {
    /// Scans a header section (everything before the blank line).
    pub fn scan(head: &str) -> RawHeaders {
        let mut lines = head.split("\r\n").flat_map(|l| l.split('\n'));
        let start_line = lines
            .next()
            .unwrap_or_default()
            .trim_end_matches('\r')
            .to_string();
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in lines {
            let line = line.trim_end_matches('\r');
            if line.is_empty() {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                // Folded continuation of the previous field (RFC 3261 §7.3.1).
                if let Some((_, value)) = fields.last_mut() {
                    value.push(' ');
                    value.push_str(line.trim());
                }
                continue;
            }
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let name = expand_compact(name.trim());
            fields.push((name, value.trim().to_string()));
        }
        RawHeaders { start_line, fields }
    }

    /// The first value of a field (lower-case long name).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a field, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// How many times a field occurs.
    pub fn count(&self, name: &str) -> usize {
        self.fields.iter().filter(|(n, _)| n == name).count()
    }

    /// A stateless response to these headers (RFC 3261 §8.2.6): Via, From,
    /// Call-ID and CSeq copied, a To tag added when missing.
    pub fn response(
        &self,
        status: u16,
        reason: &str,
        to_tag: &str,
        extra: &[(&str, &str)],
    ) -> Vec<u8> {
        let mut out = format!("SIP/2.0 {status} {reason}\r\n");
        for via in self.all("via") {
            out.push_str("Via: ");
            out.push_str(via);
            out.push_str("\r\n");
        }
        for (name, label) in [
            ("from", "From"),
            ("to", "To"),
            ("call-id", "Call-ID"),
            ("cseq", "CSeq"),
        ] {
            if let Some(value) = self.get(name) {
                out.push_str(label);
                out.push_str(": ");
                out.push_str(value);
                if name == "to" && headers::param(value, "tag").is_none() {
                    out.push_str(";tag=");
                    out.push_str(to_tag);
                }
                out.push_str("\r\n");
            }
        }
        for (name, value) in extra {
            out.push_str(name);
            out.push_str(": ");
            out.push_str(value);
            out.push_str("\r\n");
        }
        out.push_str("Content-Length: 0\r\n\r\n");
        out.into_bytes()
    }
}

fn expand_compact(name: &str) -> String {
    let long = match name.to_ascii_lowercase().as_str() {
        "i" => "call-id",
        "m" => "contact",
        "e" => "content-encoding",
        "l" => "content-length",
        "c" => "content-type",
        "f" => "from",
        "s" => "subject",
        "k" => "supported",
        "t" => "to",
        "v" => "via",
        "o" => "event",
        "r" => "refer-to",
        "b" => "referred-by",
        "u" => "allow-events",
        "x" => "session-expires",
        other => return other.to_string(),
    };
    long.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(extra: &str, body: &str) -> Vec<u8> {
        format!(
            "INVITE sip:4000@10.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK776asdhds\r\n\
             Max-Forwards: 70\r\n\
             To: <sip:4000@10.0.0.1>\r\n\
             From: \"Alice\" <sip:alice@10.0.0.2>;tag=1928301774\r\n\
             Call-ID: a84b4c76e66710@10.0.0.2\r\n\
             CSeq: 314159 INVITE\r\n\
             Contact: <sip:alice@10.0.0.2>\r\n\
             {extra}\
             Content-Type: application/sdp\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    fn rejected(bytes: &[u8]) -> (u16, String) {
        match decode(bytes) {
            Decoded::Reject(r) => (r.status, r.reason),
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn a_plain_invite_is_accepted_with_its_body() {
        let Decoded::Request(r) = decode(&request("", "v=0\r\n")) else {
            panic!("not accepted")
        };
        assert_eq!(r.method, Method::Invite);
        assert_eq!(r.body, b"v=0\r\n");
    }

    #[test]
    fn crlf_alone_is_a_keepalive() {
        assert!(matches!(decode(b"\r\n\r\n"), Decoded::Keepalive));
    }

    #[test]
    fn an_extension_method_gets_501() {
        let bytes = String::from_utf8(request("", ""))
            .unwrap()
            .replace("INVITE sip", "FOOBAR sip")
            .replace("314159 INVITE", "314159 FOOBAR");
        assert_eq!(rejected(bytes.as_bytes()).0, 501);
    }

    #[test]
    fn a_short_body_gets_400() {
        let mut bytes = request("", "v=0\r\no=x\r\n");
        bytes.truncate(bytes.len() - 4);
        let (status, reason) = rejected(&bytes);
        assert_eq!(status, 400);
        assert!(reason.contains("Content-Length"), "{reason}");
    }

    #[test]
    fn bytes_past_content_length_are_discarded() {
        let mut bytes = request("", "v=0\r\n");
        bytes.extend_from_slice(b"garbage");
        let Decoded::Request(r) = decode(&bytes) else {
            panic!("not accepted")
        };
        assert_eq!(r.body, b"v=0\r\n");
    }

    #[test]
    fn a_wrong_version_gets_505() {
        let bytes = String::from_utf8(request("", ""))
            .unwrap()
            .replace("SIP/2.0\r\nVia", "SIP/7.0\r\nVia");
        assert_eq!(rejected(bytes.as_bytes()).0, 505);
    }

    #[test]
    fn a_cseq_method_mismatch_gets_400() {
        let bytes = String::from_utf8(request("", ""))
            .unwrap()
            .replace("314159 INVITE", "314159 BYE");
        assert_eq!(rejected(bytes.as_bytes()).0, 400);
    }

    #[test]
    fn a_sips_uri_gets_416() {
        let bytes = String::from_utf8(request("", ""))
            .unwrap()
            .replace("INVITE sip:", "INVITE sips:");
        assert_eq!(rejected(bytes.as_bytes()).0, 416);
    }

    #[test]
    fn compact_and_folded_headers_are_understood() {
        let bytes = b"OPTIONS sip:4000@10.0.0.1 SIP/2.0\r\n\
            v: SIP/2.0/UDP 10.0.0.2:5060\r\n ;branch=z9hG4bKfold\r\n\
            t: <sip:4000@10.0.0.1>\r\n\
            f: <sip:alice@10.0.0.2>;tag=1\r\n\
            i: compact@10.0.0.2\r\n\
            CSeq: 1 OPTIONS\r\n\
            l: 0\r\n\r\n";
        let Decoded::Request(r) = decode(bytes) else {
            panic!("not accepted")
        };
        assert_eq!(
            headers::via_param(&headers::top_via(&r).unwrap(), "branch"),
            Some("z9hG4bKfold")
        );
    }

    #[test]
    fn a_request_without_via_is_dropped() {
        let bytes = b"OPTIONS sip:a@b SIP/2.0\r\nTo: <sip:a@b>\r\nFrom: <sip:c@d>;tag=1\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n";
        assert!(matches!(decode(bytes), Decoded::Drop(DropReason::NoVia)));
    }

    #[test]
    fn a_stateless_response_copies_the_dialog_headers_and_adds_a_tag() {
        let raw = RawHeaders::scan(
            "FOO sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP g;branch=z9hG4bK2\r\nTo: <sip:a@b>\r\nFrom: <sip:c@d>;tag=1\r\ni: x\r\nCSeq: 1 FOO",
        );
        let text = String::from_utf8(raw.response(501, "Not Implemented", "t1", &[])).unwrap();
        assert!(text.starts_with("SIP/2.0 501 Not Implemented\r\n"));
        assert_eq!(text.matches("Via: ").count(), 2);
        assert!(text.contains("To: <sip:a@b>;tag=t1\r\n"));
        assert!(text.contains("Call-ID: x\r\n"));
    }
}
