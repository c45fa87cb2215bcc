//! Dialogs (RFC 3261 §12): what a call leg remembers between requests.
//!
//! A [`Dialog`] is built from the INVITE and its 2xx, on either side, and then
//! builds the in-dialog requests (BYE, re-INVITE, the ACK of a 2xx) with the
//! right Request-URI, Route set, tags and CSeq, and checks the requests that
//! come in (§12.2.2). It does not send anything itself.

use rsipstack::sip::{Header, Headers, HeadersExt, Method, Request, Response, Uri, Version};

use crate::headers::{self, call_id, cseq, first_uri, split_list, tag};

/// Identifies a dialog: Call-ID and both tags, from our point of view.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DialogId {
    /// The Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's tag.
    pub remote_tag: String,
}

/// Which side created the dialog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// We answered the INVITE (the caller's leg).
    Uas,
    /// We sent the INVITE (the node's outgoing leg).
    Uac,
}

/// Why a dialog could not be built or a request not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DialogError {
    /// A header the dialog needs is missing or malformed.
    #[error("cannot build a dialog: {0}")]
    Missing(&'static str),
    /// A URI did not parse.
    #[error("malformed URI {0:?}")]
    BadUri(String),
}

/// One dialog.
#[derive(Clone, Debug)]
pub struct Dialog {
    id: DialogId,
    role: Role,
    /// Our name-addr with our tag: the From of our requests.
    local: String,
    /// The peer's name-addr with its tag: the To of our requests.
    remote: String,
    local_cseq: u32,
    remote_cseq: Option<u32>,
    remote_target: String,
    route_set: Vec<String>,
    local_contact: String,
}

impl Dialog {
    /// The dialog of an INVITE we answer with a tag of ours (§12.1.1): the
    /// route set is the Record-Route of the INVITE in order, the remote
    /// target its Contact.
    pub fn uas(
        invite: &Request,
        local_tag: &str,
        local_contact: &str,
    ) -> Result<Self, DialogError> {
        let call_id = call_id(invite).ok_or(DialogError::Missing("Call-ID"))?;
        let from = invite
            .from_header()
            .map_err(|_| DialogError::Missing("From"))?
            .value()
            .to_string();
        let remote_tag = tag(&from)
            .ok_or(DialogError::Missing("From tag"))?
            .to_string();
        let to = invite
            .to_header()
            .map_err(|_| DialogError::Missing("To"))?
            .value()
            .to_string();
        let local = if tag(&to).is_some() {
            to
        } else {
            format!("{to};tag={local_tag}")
        };
        let (number, _) = cseq(invite).ok_or(DialogError::Missing("CSeq"))?;
        Ok(Dialog {
            id: DialogId {
                call_id,
                local_tag: local_tag.to_string(),
                remote_tag,
            },
            role: Role::Uas,
            local,
            remote: from,
            local_cseq: 0,
            remote_cseq: Some(number),
            remote_target: contact_uri(invite)?,
            route_set: record_routes(invite),
            local_contact: local_contact.to_string(),
        })
    }

    /// The dialog created by a 2xx (or a tagged 1xx) to an INVITE we sent
    /// (§12.1.2): the route set is the response's Record-Route reversed.
    pub fn uac(invite: &Request, response: &Response) -> Result<Self, DialogError> {
        let call_id = call_id(invite).ok_or(DialogError::Missing("Call-ID"))?;
        let local = invite
            .from_header()
            .map_err(|_| DialogError::Missing("From"))?
            .value()
            .to_string();
        let local_tag = tag(&local)
            .ok_or(DialogError::Missing("From tag"))?
            .to_string();
        let remote = response
            .to_header()
            .map_err(|_| DialogError::Missing("To"))?
            .value()
            .to_string();
        let remote_tag = tag(&remote)
            .ok_or(DialogError::Missing("To tag"))?
            .to_string();
        let (number, _) = cseq(invite).ok_or(DialogError::Missing("CSeq"))?;
        let mut route_set = record_routes(response);
        route_set.reverse();
        let local_contact = invite
            .contact_header()
            .ok()
            .and_then(|c| first_uri(c.value()).map(str::to_string))
            .unwrap_or_default();
        Ok(Dialog {
            id: DialogId {
                call_id,
                local_tag,
                remote_tag,
            },
            role: Role::Uac,
            local,
            remote,
            local_cseq: number,
            remote_cseq: None,
            remote_target: contact_uri(response)?,
            route_set,
            local_contact,
        })
    }

    /// The dialog's identifier.
    pub fn id(&self) -> &DialogId {
        &self.id
    }

    /// Which side created it.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The route set, first hop first.
    pub fn route_set(&self) -> &[String] {
        &self.route_set
    }

    /// The peer's Contact URI.
    pub fn remote_target(&self) -> &str {
        &self.remote_target
    }

    /// Where an in-dialog request goes first: the first route, or the remote
    /// target when there is no route set (§12.2.1.1, §8.1.2).
    pub fn next_hop(&self) -> &str {
        self.route_set
            .first()
            .and_then(|r| first_uri(r))
            .unwrap_or(&self.remote_target)
    }

    /// A new in-dialog request (BYE, re-INVITE, INFO, …) with the next CSeq
    /// (§12.2.1.1). Loose routing keeps the remote target as Request-URI and
    /// the route set in Route; a strict first route (no `lr`) becomes the
    /// Request-URI and the remote target goes last in Route.
    pub fn request(&mut self, method: Method) -> Result<Request, DialogError> {
        self.local_cseq += 1;
        self.build(method, self.local_cseq)
    }

    /// The ACK of the 2xx to our INVITE with CSeq `invite_cseq` (§13.2.2.4).
    pub fn ack(&self, invite_cseq: u32) -> Result<Request, DialogError> {
        self.build(Method::Ack, invite_cseq)
    }

    fn build(&self, method: Method, number: u32) -> Result<Request, DialogError> {
        let strict = self
            .route_set
            .first()
            .and_then(|r| first_uri(r))
            .is_some_and(|uri| !uri.to_ascii_lowercase().contains(";lr"));
        let (request_uri, routes): (String, Vec<String>) = if strict {
            let first = first_uri(&self.route_set[0])
                .unwrap_or_default()
                .to_string();
            let mut routes: Vec<String> = self.route_set[1..].to_vec();
            routes.push(format!("<{}>", self.remote_target));
            (first, routes)
        } else {
            (self.remote_target.clone(), self.route_set.clone())
        };
        let uri = parse_uri(&request_uri)?;
        let mut headers = Headers::default();
        for route in routes {
            headers::push(&mut headers, "Route", route);
        }
        headers::push(&mut headers, "From", self.local.clone());
        headers::push(&mut headers, "To", self.remote.clone());
        headers::push(&mut headers, "Call-ID", self.id.call_id.clone());
        headers::push(&mut headers, "CSeq", format!("{number} {method}"));
        headers::push(&mut headers, "Max-Forwards", "70");
        if matches!(method, Method::Invite | Method::Update) && !self.local_contact.is_empty() {
            headers::push(&mut headers, "Contact", format!("<{}>", self.local_contact));
        }
        Ok(Request {
            method,
            uri,
            version: Version::V2,
            headers,
            body: Vec::new(),
        })
    }

    /// Whether an incoming request belongs to this dialog: same Call-ID, its
    /// To tag ours and its From tag the peer's.
    pub fn matches(&self, request: &Request) -> bool {
        call_id(request).as_deref() == Some(&self.id.call_id)
            && headers::to_tag(request).as_deref() == Some(&self.id.local_tag)
            && headers::from_tag(request).as_deref() == Some(&self.id.remote_tag)
    }

    /// Checks an in-dialog request (§12.2.2): a CSeq below the last one gets
    /// 500; a re-INVITE or UPDATE refreshes the remote target. Returns the
    /// status to answer with on failure.
    pub fn on_request(&mut self, request: &Request) -> Result<(), u16> {
        if request.method == Method::Ack || request.method == Method::Cancel {
            return Ok(());
        }
        let (number, _) = cseq(request).ok_or(400u16)?;
        if let Some(last) = self.remote_cseq {
            if number < last {
                return Err(500);
            }
        }
        self.remote_cseq = Some(number);
        if matches!(request.method, Method::Invite | Method::Update) {
            if let Ok(target) = contact_uri(request) {
                self.remote_target = target;
            }
        }
        Ok(())
    }
}

/// An out-of-dialog request: an INVITE of the node's outgoing leg, an
/// OPTIONS probe. `from` and `to` are name-addrs; `from` carries our tag.
pub struct NewRequest<'a> {
    /// The method.
    pub method: Method,
    /// The Request-URI.
    pub uri: &'a str,
    /// From, with our tag.
    pub from: &'a str,
    /// To, without a tag.
    pub to: &'a str,
    /// A fresh Call-ID.
    pub call_id: &'a str,
    /// The CSeq number.
    pub cseq: u32,
    /// Our Contact URI.
    pub contact: Option<&'a str>,
    /// A preloaded route set (e.g. an outbound proxy), first hop first.
    pub routes: &'a [String],
}

impl NewRequest<'_> {
    /// Builds the request (without Via, which the endpoint adds).
    pub fn build(&self) -> Result<Request, DialogError> {
        let mut headers = Headers::default();
        for route in self.routes {
            headers::push(&mut headers, "Route", route.clone());
        }
        headers::push(&mut headers, "From", self.from);
        headers::push(&mut headers, "To", self.to);
        headers::push(&mut headers, "Call-ID", self.call_id);
        headers::push(
            &mut headers,
            "CSeq",
            format!("{} {}", self.cseq, self.method),
        );
        headers::push(&mut headers, "Max-Forwards", "70");
        if let Some(contact) = self.contact {
            headers::push(&mut headers, "Contact", format!("<{contact}>"));
        }
        Ok(Request {
            method: self.method,
            uri: parse_uri(self.uri)?,
            version: Version::V2,
            headers,
            body: Vec::new(),
        })
    }
}

/// Parses a URI, naming it in the error.
pub fn parse_uri(uri: &str) -> Result<Uri, DialogError> {
    Uri::try_from(uri).map_err(|_| DialogError::BadUri(uri.to_string()))
}

fn contact_uri<M: HeadersExt>(message: &M) -> Result<String, DialogError> {
    let contact = message
        .contact_header()
        .map_err(|_| DialogError::Missing("Contact"))?;
    let first = split_list(contact.value())
        .into_iter()
        .next()
        .unwrap_or_default();
    first_uri(first)
        .map(str::to_string)
        .ok_or(DialogError::Missing("Contact URI"))
}

fn record_routes<M: HeadersExt>(message: &M) -> Vec<String> {
    message
        .headers()
        .iter()
        .filter_map(|h| match h {
            Header::RecordRoute(rr) => Some(rr.value().to_string()),
            _ => None,
        })
        .flat_map(|value| {
            split_list(&value)
                .into_iter()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{decode, Decoded};

    fn invite_through_proxy() -> Request {
        let text = "INVITE sip:4000@10.0.0.1 SIP/2.0\r\n\
            Record-Route: <sip:10.0.0.9;lr>, <sip:10.0.0.8;lr;ftag=x>\r\n\
            Via: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKp\r\n\
            Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKa\r\n\
            To: <sip:4000@10.0.0.1>\r\n\
            From: \"Alice\" <sip:alice@10.0.0.2>;tag=a1\r\n\
            Call-ID: c1\r\n\
            CSeq: 7 INVITE\r\n\
            Contact: <sip:alice@10.0.0.2:5062;transport=udp>\r\n\
            Content-Length: 0\r\n\r\n";
        match decode(text.as_bytes()) {
            Decoded::Request(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_uas_bye_follows_the_record_route_in_order() {
        let invite = invite_through_proxy();
        let mut dialog = Dialog::uas(&invite, "n1", "sip:node@10.0.0.1").unwrap();
        let bye = dialog.request(Method::Bye).unwrap();
        let text = bye.to_string();
        assert!(
            text.to_ascii_lowercase()
                .starts_with("bye sip:alice@10.0.0.2:5062;transport=udp sip/2.0"),
            "{text}"
        );
        let first = text.find("Route: <sip:10.0.0.9;lr>").unwrap();
        let second = text.find("Route: <sip:10.0.0.8;lr;ftag=x>").unwrap();
        assert!(first < second);
        assert!(text.contains("From: <sip:4000@10.0.0.1>;tag=n1"));
        assert!(text.contains("To: \"Alice\" <sip:alice@10.0.0.2>;tag=a1"));
        assert!(text.contains("CSeq: 1 BYE"));
        assert_eq!(dialog.next_hop(), "sip:10.0.0.9;lr");
    }

    #[test]
    fn an_older_cseq_gets_500_and_a_newer_one_passes() {
        let invite = invite_through_proxy();
        let mut dialog = Dialog::uas(&invite, "n1", "sip:node@10.0.0.1").unwrap();
        let mut bye = invite.clone();
        bye.method = Method::Bye;
        bye.headers.retain(|h| !matches!(h, Header::CSeq(_)));
        headers::push(&mut bye.headers, "CSeq", "6 BYE");
        assert_eq!(dialog.on_request(&bye), Err(500));
        bye.headers.retain(|h| !matches!(h, Header::CSeq(_)));
        headers::push(&mut bye.headers, "CSeq", "8 BYE");
        assert_eq!(dialog.on_request(&bye), Ok(()));
    }

    #[test]
    fn a_strict_route_becomes_the_request_uri() {
        let text = "INVITE sip:4000@10.0.0.1 SIP/2.0\r\n\
            Record-Route: <sip:10.0.0.9>\r\n\
            Via: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKp\r\n\
            To: <sip:4000@10.0.0.1>\r\nFrom: <sip:a@10.0.0.2>;tag=a1\r\nCall-ID: c2\r\n\
            CSeq: 1 INVITE\r\nContact: <sip:a@10.0.0.2>\r\nContent-Length: 0\r\n\r\n";
        let Decoded::Request(invite) = decode(text.as_bytes()) else {
            panic!()
        };
        let mut dialog = Dialog::uas(&invite, "n1", "sip:node@10.0.0.1").unwrap();
        let bye = dialog.request(Method::Bye).unwrap().to_string();
        assert!(bye.starts_with("BYE sip:10.0.0.9 SIP/2.0"), "{bye}");
        assert!(bye.contains("Route: <sip:a@10.0.0.2>"), "{bye}");
    }
}
