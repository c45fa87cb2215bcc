//! The SIP shell: sockets (UDP, TCP) and the one task that owns the node's
//! transaction [`Endpoint`](cc_sip::Endpoint) and routes its events to calls.

pub mod driver;
pub mod transport;

pub use driver::{SipCommand, SipHandle, SipInput};
