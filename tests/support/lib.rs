//! The test harness: a real `cc-node` process on its own ports and folder,
//! SIPp runs against it, and RTP endpoints that record what reaches them.
//!
//! Nothing is mocked: the node is the release or debug binary built by the
//! test command, SIPp is Debian's `sip-tester`, and media crosses loopback.

pub mod api;
pub mod baresip;
pub mod kamailio;
pub mod node;
pub mod pcap;
pub mod ports;
pub mod prompts;
pub mod redis;
pub mod rtp;
pub mod scenarios;
pub mod sipp;
pub mod tcp_proxy;
pub mod units;

pub use node::{Node, NodeOptions};
pub use rtp::RtpEndpoint;
pub use sipp::Sipp;
