//! Small, allocation-light readers and builders for the header fields the
//! transaction and dialog layers use on every message.
//!
//! rsipstack keeps headers as text and parses them on demand; its typed parse
//! allocates a structure per call. The transaction layer reads a branch, a tag
//! or a CSeq for every message it sees, so these readers work on the text
//! directly. They respect quoted strings and `<…>` so that a parameter of a
//! URI is never mistaken for a parameter of the header.

use rsipstack::sip::{Header, Headers, HeadersExt, Method, Request, Response, StatusCode, Version};

/// Where a character of a header value stands: inside a quoted string,
/// inside `<…>`, or at the top level. Escapes (`\x`) inside quotes are
/// skipped. Every reader below is a walk with this scanner.
#[derive(Clone, Copy, Default)]
struct Scanner {
    quoted: bool,
    angle: bool,
    escaped: bool,
}

impl Scanner {
    /// Takes one character; returns true when it is structural (not
    /// escaped, not inside quotes), i.e. a delimiter could be one.
    fn step(&mut self, c: char) -> bool {
        if self.escaped {
            self.escaped = false;
            return false;
        }
        match c {
            '\\' if self.quoted => {
                self.escaped = true;
                false
            }
            '"' => {
                self.quoted = !self.quoted;
                false
            }
            _ if self.quoted => false,
            '<' => {
                self.angle = true;
                true
            }
            '>' => {
                self.angle = false;
                true
            }
            _ => true,
        }
    }

    /// The positions of `wanted` outside quotes, and outside `<…>` unless
    /// `inside_angles` allows them there.
    fn find_all(
        value: &str,
        wanted: char,
        inside_angles: bool,
    ) -> impl Iterator<Item = usize> + '_ {
        let mut scanner = Scanner::default();
        value
            .char_indices()
            .filter(move |(_, c)| {
                scanner.step(*c) && *c == wanted && (inside_angles || !scanner.angle)
            })
            .map(|(i, _)| i)
    }
}

/// Splits a header value at top-level commas (RFC 3261 §7.3.1), ignoring
/// commas inside quotes or angle brackets.
pub fn split_list(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in Scanner::find_all(value, ',', false) {
        out.push(value[start..i].trim());
        start = i + 1;
    }
    out.push(value[start..].trim());
    out.retain(|s| !s.is_empty());
    out
}

/// The header parameters of one header value (a name-addr, an addr-spec or a
/// Via entry): everything after the first `;` that is outside quotes and
/// outside `<…>`.
fn header_params(value: &str) -> &str {
    Scanner::find_all(value, ';', false)
        .next()
        .map_or("", |i| &value[i + 1..])
}

/// A header parameter's value (`tag`, `branch`, `rport`, …); `Some("")` for
/// a parameter without a value. Names compare case-insensitively.
pub fn param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    header_params(value).split(';').find_map(|p| {
        let (key, val) = match p.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => (p.trim(), ""),
        };
        key.eq_ignore_ascii_case(name)
            .then(|| val.trim_matches('"'))
    })
}

/// A Via entry's parameter.
pub fn via_param<'a>(via: &'a str, name: &str) -> Option<&'a str> {
    param(via, name)
}

/// The first Via entry of a message (the top of the first Via header, which
/// may hold several comma-joined entries).
pub fn top_via<M: HeadersExt>(message: &M) -> Option<String> {
    let first = message.via_header().ok()?;
    let entry = split_list(first.value()).into_iter().next()?;
    entry
        .starts_with("SIP/2.0/")
        .then(|| entry.to_string())
        .or_else(|| {
            // Tolerate lower-case protocol names; reject anything else.
            entry
                .to_ascii_uppercase()
                .starts_with("SIP/2.0/")
                .then(|| entry.to_string())
        })
}

/// The `sent-by` of a Via entry (`host[:port]`), used in server transaction
/// keys (RFC 3261 §17.2.3).
pub fn via_sent_by(via: &str) -> &str {
    let after_proto = via
        .split_once(char::is_whitespace)
        .map(|x| x.1)
        .unwrap_or("");
    let end = after_proto.find(';').unwrap_or(after_proto.len());
    after_proto[..end].trim()
}

/// `CSeq` as `(number, method)`; `None` unless the number is below 2**31 and
/// the method a token.
pub fn parse_cseq(value: &str) -> Option<(u32, &str)> {
    let mut parts = value.split_whitespace();
    let number = parts.next()?;
    let method = parts.next()?;
    if parts.next().is_some() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number: u32 = number.parse().ok().filter(|n| *n < 1 << 31)?;
    Some((number, method))
}

/// The CSeq number and method of a parsed message.
pub fn cseq<M: HeadersExt>(message: &M) -> Option<(u32, Method)> {
    let (number, method) = parse_cseq(message.cseq_header().ok()?.value())?;
    Some((number, method.parse().ok()?))
}

/// The URI inside a name-addr (`"x" <sip:a@b;lr>;tag=1` → `sip:a@b;lr`) or
/// an addr-spec (`sip:a@b;tag=1` → `sip:a@b`).
pub fn first_uri(value: &str) -> Option<&str> {
    let value = value.trim();
    if let Some(open) = find_unquoted(value, '<') {
        let rest = &value[open + 1..];
        let close = rest.find('>')?;
        let uri = rest[..close].trim();
        return (!uri.is_empty() && uri.contains(':')).then_some(uri);
    }
    let end = value.find(';').unwrap_or(value.len());
    let uri = value[..end].trim();
    (!uri.is_empty() && uri.contains(':') && !uri.contains(' ')).then_some(uri)
}

fn find_unquoted(value: &str, wanted: char) -> Option<usize> {
    // '<' opens the angle state, so it must be looked for with angles allowed.
    Scanner::find_all(value, wanted, true).next()
}

/// Whether every quoted string in a header value is closed (a `\` escapes
/// the next character inside quotes).
pub fn quotes_balanced(value: &str) -> bool {
    let mut scanner = Scanner::default();
    value.chars().for_each(|c| {
        scanner.step(c);
    });
    !scanner.quoted
}

/// The tag of a From or To value.
pub fn tag(value: &str) -> Option<&str> {
    param(value, "tag").filter(|t| !t.is_empty())
}

/// The From tag of a message.
pub fn from_tag<M: HeadersExt>(message: &M) -> Option<String> {
    tag(message.from_header().ok()?.value()).map(str::to_string)
}

/// The To tag of a message.
pub fn to_tag<M: HeadersExt>(message: &M) -> Option<String> {
    tag(message.to_header().ok()?.value()).map(str::to_string)
}

/// The Call-ID of a message.
pub fn call_id<M: HeadersExt>(message: &M) -> Option<String> {
    Some(message.call_id_header().ok()?.value().trim().to_string())
}

/// A response to `request` (RFC 3261 §8.2.6.2): Via, From, To, Call-ID and
/// CSeq copied; for a dialog-creating INVITE response (1xx except 100, 2xx)
/// Record-Route too (§12.1.1). The To tag is added when `to_tag` is given and
/// the request had none.
pub fn response_for(request: &Request, status: u16, to_tag: Option<&str>) -> Response {
    let mut headers = Headers::default();
    let copies_record_route = request.method == Method::Invite && (101..300).contains(&status);
    for header in request.headers.iter() {
        match header {
            Header::Via(_) | Header::From(_) | Header::CallId(_) | Header::CSeq(_) => {
                headers.push(header.clone())
            }
            Header::RecordRoute(_) if copies_record_route => headers.push(header.clone()),
            Header::To(to) => {
                let mut value = to.value().to_string();
                if let Some(t) = to_tag {
                    if tag(&value).is_none() && status != 100 {
                        value.push_str(";tag=");
                        value.push_str(t);
                    }
                }
                headers.push(Header::To(rsipstack::sip::To::new(value)));
            }
            _ => {}
        }
    }
    Response {
        status_code: StatusCode::from(status),
        wire_reason: None,
        version: Version::V2,
        headers,
        body: Vec::new(),
    }
}

/// Appends a header built from a name and a value.
pub fn push(headers: &mut Headers, name: &str, value: impl Into<String>) {
    headers.push(rsipstack::sip::headers::make_header(name, value.into()));
}

/// A request or a response: something with headers and a body.
pub trait Message: rsipstack::sip::HasHeaders {
    /// The body.
    fn body_mut(&mut self) -> &mut Vec<u8>;
}

impl Message for Request {
    fn body_mut(&mut self) -> &mut Vec<u8> {
        &mut self.body
    }
}

impl Message for Response {
    fn body_mut(&mut self) -> &mut Vec<u8> {
        &mut self.body
    }
}

/// Sets a body with its Content-Type, and Content-Length to match.
pub fn set_body<M: Message>(message: &mut M, content_type: &str, body: Vec<u8>) {
    let headers = message.headers_mut();
    headers.retain(|h| !matches!(h, Header::ContentType(_) | Header::ContentLength(_)));
    if !body.is_empty() {
        push(headers, "Content-Type", content_type);
    }
    push(headers, "Content-Length", body.len().to_string());
    *message.body_mut() = body;
}

/// Sets `Content-Length` to the body's length, replacing any earlier one.
pub fn fix_content_length<M: rsipstack::sip::HasHeaders>(message: &mut M, body_len: usize) {
    let headers = message.headers_mut();
    headers.retain(|h| !matches!(h, Header::ContentLength(_)));
    push(headers, "Content-Length", body_len.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_ignore_uri_parameters_and_quotes() {
        assert_eq!(tag(r#""a;tag=no" <sip:a@b;tag=no>;tag=yes"#), Some("yes"));
        assert_eq!(tag("sip:a@b;tag=x"), Some("x"));
        assert_eq!(tag("<sip:a@b>"), None);
    }

    #[test]
    fn lists_split_only_at_top_level_commas() {
        assert_eq!(
            split_list(r#""Doe, J" <sip:a@b>, <sip:c@d;x=1,2>"#),
            vec![r#""Doe, J" <sip:a@b>"#, "<sip:c@d;x=1,2>"]
        );
    }

    #[test]
    fn via_sent_by_and_branch() {
        let via = "SIP/2.0/UDP 10.0.0.1:5060 ;branch=z9hG4bK1;rport";
        assert_eq!(via_sent_by(via), "10.0.0.1:5060");
        assert_eq!(via_param(via, "branch"), Some("z9hG4bK1"));
        assert_eq!(via_param(via, "rport"), Some(""));
    }

    #[test]
    fn cseq_rejects_out_of_range_numbers() {
        assert_eq!(parse_cseq("1 INVITE"), Some((1, "INVITE")));
        assert_eq!(parse_cseq("2147483648 INVITE"), None);
        assert_eq!(parse_cseq("-1 INVITE"), None);
        assert_eq!(parse_cseq("1"), None);
    }

    #[test]
    fn uris_come_out_of_name_addrs() {
        assert_eq!(first_uri(r#""x" <sip:a@b;lr>;tag=1"#), Some("sip:a@b;lr"));
        assert_eq!(first_uri("sip:a@b;tag=1"), Some("sip:a@b"));
        assert_eq!(first_uri("<>"), None);
    }
}
