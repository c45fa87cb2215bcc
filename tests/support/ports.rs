//! Free ports on loopback, chosen by the kernel, so tests can run in
//! parallel (and beside other processes of the machine).

use std::net::{TcpListener, UdpSocket};

/// A port free for both UDP and TCP right now.
pub fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("binding a UDP port");
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok()
            && UdpSocket::bind(("127.0.0.1", port + 1)).is_ok()
        {
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
