//! The four RFC 3261 §17 transaction state machines, one type each, with only
//! the states the RFC (and RFC 6026 for INVITE) defines.
//!
//! They hold serialized messages and timers, never sockets: every input is a
//! method call with `now`, and what must go on the wire comes back as bytes
//! for the [`Endpoint`](crate::Endpoint) to address and queue.

mod client_invite;
mod client_non_invite;
mod key;
mod server_invite;
mod server_non_invite;

pub use client_invite::{ClientInvite, ClientInviteState, InviteReaction};
pub use client_non_invite::{ClientNonInvite, ClientNonInviteState, NonInviteReaction};
pub use key::{ClientKey, KeyMethod, ServerKey};
pub use server_invite::{ServerInvite, ServerInviteState};
pub use server_non_invite::{ServerNonInvite, ServerNonInviteState};

use bytes::Bytes;

/// What a transaction wants done after a timer fired.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TimerStep {
    /// Bytes to retransmit to the transaction's peer.
    pub retransmit: Option<Bytes>,
    /// The transaction timed out without the answer it waited for: Timer B
    /// or F for a client (the TU treats it as 408), Timer L without an ACK for
    /// a server INVITE (the TU should end the call, §13.3.1.4).
    pub timed_out: bool,
}

/// A message the transaction cannot take in its current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {status} response cannot be sent in state {state}")]
pub struct WrongState {
    /// The state the transaction was in.
    pub state: &'static str,
    /// The status code the TU tried to send.
    pub status: u16,
}
