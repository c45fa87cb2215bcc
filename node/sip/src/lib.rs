//! # cc-sip: the node's SIP, without I/O
//!
//! Everything the call-center node knows about SIP that is *protocol* rather
//! than *plumbing* lives here, as plain synchronous code: no sockets, no tokio,
//! no clock. Time is always an input (`now: Instant`), so the RFC 3261 timers
//! can be checked to the millisecond under a virtual clock, and the async shell
//! in `node/server` only moves bytes and sleeps until [`Endpoint::poll_timeout`].
//!
//! ```text
//!  bytes from UDP/TCP ──► wire (checks, 400/501/505 answers)
//!                           │
//!                           ▼
//!                       Endpoint ── transactions (RFC 3261 §17, RFC 6026)
//!                           │          server INVITE / non-INVITE
//!                           │          client INVITE / non-INVITE
//!                           ▼          timers A–M in one TimerTable each
//!                  Event (Request, Ack, Cancelled, Response, Timeout, …)
//!                           │
//!                           ▼
//!                 call task (in the shell) ── Dialog (RFC 3261 §12)
//!                                           └─ sdp (offer/answer, RFC 3264)
//! ```
//!
//! ## Run loop
//!
//! Feed inputs with [`Endpoint::handle_datagram`] (a whole message: a UDP
//! datagram, or one message cut from a TCP stream by [`framing::StreamFramer`])
//! and [`Endpoint::handle_timeout`]. After any input or any call that sends
//! (`respond`, `send_request`, `cancel`, `send_ack`), drain
//! [`Endpoint::poll_transmit`] and [`Endpoint::poll_event`] until they return
//! `None`, then sleep until [`Endpoint::poll_timeout`] or the next packet.
//!
//! ## Why not rsip, why not rsipstack's transactions
//!
//! The users named `rsip` for parsing. It rejects traffic a node behind
//! Kamailio meets every day (IPv6 literals, quoted parameters such as
//! `+sip.instance`, compact and folded headers) and has had no release since
//! 2022. We parse with the `sip` module of `rsipstack`, a maintained parser
//! with rsip's API. Its parser is lenient and its method set is closed, so
//! [`wire`] adds the checks that let us answer 400, 501 and 505 ourselves.
//!
//! rsipstack's transaction and dialog layers are tied to tokio and read the
//! wall clock inside, so their timer schedules cannot be tested exactly. The
//! transaction and dialog machines here are our own, small, and pure. (Pulling
//! rsipstack's parser in still compiles tokio as a dependency: its
//! `platform-tokio` feature is the only way to build the crate. This crate
//! uses none of it.)
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod dialog;
pub mod endpoint;
pub mod framing;
pub mod headers;
pub mod ids;
pub mod sdp;
pub mod timer;
pub mod transaction;
pub mod wire;

/// The SIP message types (rsipstack's rsip-compatible parser), re-exported so
/// the rest of the node names one SIP vocabulary.
pub use rsipstack::sip as msg;

pub use dialog::{Dialog, DialogError, DialogId};
pub use endpoint::{
    ClientTxId, Endpoint, EndpointConfig, EndpointError, Event, ServerTxId, Transmit,
};
pub use timer::{Timer, TimerConfig};
pub use wire::{Peer, Transport};
