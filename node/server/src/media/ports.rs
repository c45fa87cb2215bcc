//! The node's RTP port range. A port is held by a call leg for its life and
//! returns to the pool when the leg's [`RtpPort`] is dropped, so a call that
//! ends in any way (BYE, CANCEL, crash of its task) gives its port back.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use prometheus_client::metrics::gauge::Gauge;

/// Free even ports of the range.
pub struct PortPool {
    ip: IpAddr,
    free: Mutex<VecDeque<u16>>,
    in_use: Gauge,
}

/// A bound RTP port: the tokio socket receives (and relays), a duplicate of
/// the same socket lets the pacer thread send from the same port.
pub struct RtpPort {
    pool: Arc<PortPool>,
    pub port: u16,
    pub socket: Arc<tokio::net::UdpSocket>,
    pub sender: Arc<std::net::UdpSocket>,
}

impl PortPool {
    pub fn new(ip: IpAddr, min: u16, max: u16, in_use: Gauge) -> Arc<PortPool> {
        let first = min + (min % 2);
        let free = (first..=max).step_by(2).collect();
        Arc::new(PortPool {
            ip,
            free: Mutex::new(free),
            in_use,
        })
    }

    /// Binds the next free port; `None` when the range is exhausted. Ports
    /// some other process holds are skipped (and put back at the end).
    pub fn allocate(self: &Arc<Self>) -> Option<RtpPort> {
        let attempts = self.free.lock().ok()?.len().min(64);
        for _ in 0..attempts {
            let port = self.free.lock().ok()?.pop_front()?;
            match bind(SocketAddr::new(self.ip, port)) {
                Ok((socket, sender)) => {
                    self.in_use.inc();
                    return Some(RtpPort {
                        pool: Arc::clone(self),
                        port,
                        socket: Arc::new(socket),
                        sender: Arc::new(sender),
                    });
                }
                Err(_) => {
                    if let Ok(mut free) = self.free.lock() {
                        free.push_back(port);
                    }
                }
            }
        }
        None
    }
}

fn bind(addr: SocketAddr) -> std::io::Result<(tokio::net::UdpSocket, std::net::UdpSocket)> {
    let std_socket = std::net::UdpSocket::bind(addr)?;
    std_socket.set_nonblocking(true)?;
    let sender = std_socket.try_clone()?;
    let socket = tokio::net::UdpSocket::from_std(std_socket)?;
    Ok((socket, sender))
}

impl Drop for RtpPort {
    fn drop(&mut self) {
        self.pool.in_use.dec();
        if let Ok(mut free) = self.pool.free.lock() {
            free.push_back(self.port);
        }
    }
}
