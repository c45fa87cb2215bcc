//! UDP and TCP for SIP. Every received message goes to the driver as a
//! [`SipInput::Datagram`]; the driver sends through [`Transports`].
//!
//! Backpressure: the driver's input channel is bounded. A UDP flood that
//! fills it is dropped at the socket (and counted) instead of queueing
//! without limit; TCP connections wait (the kernel then slows the peer).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use cc_sip::framing::{Frame, StreamFramer};
use cc_sip::{Peer, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

use super::driver::SipInput;
use crate::metrics::Metrics;

/// Reads datagrams and hands them to the driver.
pub async fn udp_receiver(
    socket: Arc<UdpSocket>,
    to_driver: mpsc::Sender<SipInput>,
    metrics: Arc<Metrics>,
) {
    let mut buffer = vec![0u8; 65_536];
    loop {
        match socket.recv_from(&mut buffer).await {
            Ok((length, addr)) => {
                let input = SipInput::Datagram {
                    peer: Peer {
                        transport: Transport::Udp,
                        addr,
                    },
                    bytes: Bytes::copy_from_slice(&buffer[..length]),
                };
                if to_driver.try_send(input).is_err() {
                    metrics.sip_dropped.inc();
                }
            }
            // ICMP port-unreachable from an earlier send shows up here on
            // Linux; it is not a reason to stop listening.
            Err(e) => tracing::debug!(error = %e, "udp receive"),
        }
    }
}

/// Accepts TCP connections.
pub async fn tcp_acceptor(listener: TcpListener, to_driver: mpsc::Sender<SipInput>) {
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                let _ = stream.set_nodelay(true);
                spawn_connection(stream, addr, to_driver.clone());
            }
            Err(e) => {
                tracing::warn!(error = %e, "tcp accept");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// Opens a connection to `addr` for an outgoing request.
pub fn connect(addr: SocketAddr, to_driver: mpsc::Sender<SipInput>) {
    tokio::spawn(async move {
        let connected =
            tokio::time::timeout(std::time::Duration::from_secs(5), TcpStream::connect(addr)).await;
        match connected {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                spawn_connection(stream, addr, to_driver);
            }
            _ => {
                let _ = to_driver
                    .send(SipInput::TcpClosed { addr, failed: true })
                    .await;
            }
        }
    });
}

fn spawn_connection(stream: TcpStream, addr: SocketAddr, to_driver: mpsc::Sender<SipInput>) {
    let (writer_tx, mut writer_rx) = mpsc::channel::<Bytes>(256);
    tokio::spawn(async move {
        if to_driver
            .send(SipInput::TcpOpened {
                addr,
                writer: writer_tx,
            })
            .await
            .is_err()
        {
            return;
        }
        let (mut reader, mut writer) = stream.into_split();
        let mut framer = StreamFramer::new();
        let mut buffer = vec![0u8; 16 * 1024];
        let peer = Peer {
            transport: Transport::Tcp,
            addr,
        };
        loop {
            tokio::select! {
                read = reader.read(&mut buffer) => {
                    let length = match read {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    framer.extend(&buffer[..length]);
                    loop {
                        match framer.next_frame() {
                            Ok(Some(Frame::Message(message))) => {
                                if to_driver.send(SipInput::Datagram { peer, bytes: Bytes::from(message) }).await.is_err() {
                                    return;
                                }
                            }
                            Ok(Some(Frame::Keepalive)) => {
                                if to_driver.send(SipInput::Datagram { peer, bytes: Bytes::from_static(b"\r\n\r\n") }).await.is_err() {
                                    return;
                                }
                            }
                            Ok(None) => break,
                            Err(e) => {
                                tracing::info!(%addr, error = %e, "closing a TCP connection that cannot be framed");
                                let _ = to_driver.send(SipInput::TcpClosed { addr, failed: false }).await;
                                return;
                            }
                        }
                    }
                }
                outgoing = writer_rx.recv() => {
                    let Some(bytes) = outgoing else { break };
                    if writer.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to_driver
            .send(SipInput::TcpClosed {
                addr,
                failed: false,
            })
            .await;
    });
}

/// The driver's way out: one UDP socket and the open TCP connections.
pub struct Transports {
    pub udp: Arc<UdpSocket>,
    tcp: HashMap<SocketAddr, mpsc::Sender<Bytes>>,
    pending: HashMap<SocketAddr, Vec<Bytes>>,
    to_driver: mpsc::Sender<SipInput>,
}

impl Transports {
    pub fn new(udp: Arc<UdpSocket>, to_driver: mpsc::Sender<SipInput>) -> Transports {
        Transports {
            udp,
            tcp: HashMap::new(),
            pending: HashMap::new(),
            to_driver,
        }
    }

    pub fn send(&mut self, peer: Peer, payload: Bytes) {
        match peer.transport {
            Transport::Udp => {
                if let Err(e) = self.udp.try_send_to(&payload, peer.addr) {
                    tracing::debug!(addr = %peer.addr, error = %e, "udp send");
                }
            }
            Transport::Tcp => {
                if let Some(writer) = self.tcp.get(&peer.addr) {
                    if writer.try_send(payload).is_err() {
                        tracing::debug!(addr = %peer.addr, "tcp writer full or gone");
                    }
                } else {
                    let queue = self.pending.entry(peer.addr).or_default();
                    if queue.is_empty() {
                        connect(peer.addr, self.to_driver.clone());
                    }
                    queue.push(payload);
                }
            }
        }
    }

    pub fn opened(&mut self, addr: SocketAddr, writer: mpsc::Sender<Bytes>) {
        for payload in self.pending.remove(&addr).unwrap_or_default() {
            let _ = writer.try_send(payload);
        }
        self.tcp.insert(addr, writer);
    }

    /// Returns true when messages waited for a connection that never came.
    pub fn closed(&mut self, addr: SocketAddr) -> bool {
        self.tcp.remove(&addr);
        self.pending.remove(&addr).is_some()
    }
}
