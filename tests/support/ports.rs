//! Free ports on loopback, chosen by the kernel, so tests can run in
//! parallel (and beside other processes of the machine).

use std::net::{TcpListener, UdpSocket};

/// A port free for both UDP and TCP right now (and the next one for UDP).
pub fn free_port() -> u16 {
    free_ports(2)
}

/// The first of `count` consecutive ports free for UDP (the first also for
/// TCP) right now: SIPp's media takes four (audio and video, RTP and RTCP).
///
/// Chosen at random in 10000-19999, below the kernel's ephemeral range
/// (32768 and up): a port the kernel hands out for some outgoing
/// connection (a psql, a Redis client, SIPp) can then never take it
/// between the choice and the bind. Tests of other processes choose at
/// random too, and the bind check skips what they hold.
pub fn free_ports(count: u16) -> u16 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0);
    let seed = u64::from(std::process::id()).rotate_left(32)
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
    let _ = STATE.compare_exchange(0, seed | 1, Ordering::Relaxed, Ordering::Relaxed);
    loop {
        // xorshift64: a different sequence in every process.
        let mut x = STATE.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        STATE.store(x, Ordering::Relaxed);
        let port = 10_000 + (x % 9_990) as u16;
        let udp_free =
            (port..port + count.max(1)).all(|p| UdpSocket::bind(("127.0.0.1", p)).is_ok());
        if udp_free && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A range of `count` ports that looks free, for a node's RTP (the node
/// skips any port some other process holds).
pub fn free_range(count: u16) -> (u16, u16) {
    let base = 20_000 + (std::process::id() as u16 % 200) * 150 + (free_port() % 97) * 2;
    (base - base % 2, base - base % 2 + count)
}
