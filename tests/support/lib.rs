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

/// Waits (at most `within`) until `check` holds; panics naming `what`.
pub fn wait_until(what: &str, within: std::time::Duration, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("{what} did not happen within {within:?}");
}
