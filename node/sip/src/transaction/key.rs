//! Transaction identifiers (RFC 3261 §17.1.3 and §17.2.3).

use rsipstack::sip::Method;

/// The method part of a transaction key: ACK belongs to the INVITE
/// transaction it acknowledges, CANCEL has its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyMethod {
    /// INVITE, and the ACK of a non-2xx response to it.
    Invite,
    /// Any other method, CANCEL included.
    Other(Method),
}

impl From<Method> for KeyMethod {
    fn from(method: Method) -> Self {
        match method {
            Method::Invite | Method::Ack => KeyMethod::Invite,
            other => KeyMethod::Other(other),
        }
    }
}

/// Matches a request to a server transaction: the top Via's branch and
/// sent-by, and the method (§17.2.3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServerKey {
    /// The branch parameter (with the z9hG4bK cookie, or a synthesised key
    /// for RFC 2543 peers).
    pub branch: String,
    /// The Via sent-by, lower-cased.
    pub sent_by: String,
    /// The method class.
    pub method: KeyMethod,
}

/// Matches a response to a client transaction: our branch and the CSeq
/// method (§17.1.3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientKey {
    /// The branch we put in the top Via.
    pub branch: String,
    /// The CSeq method of the request (INVITE and CANCEL share a branch).
    pub method: Method,
}
