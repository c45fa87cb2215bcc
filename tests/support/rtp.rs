//! An RTP endpoint for tests: records every packet that reaches it and, when
//! asked, answers with a stream of its own (as a phone would), to the
//! address the node's packets came from.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One received packet.
#[derive(Clone, Debug)]
pub struct Received {
    pub at: Instant,
    pub from: SocketAddr,
    pub payload_type: u8,
    pub marker: bool,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub payload: Vec<u8>,
}

pub struct RtpEndpoint {
    pub port: u16,
    pub ssrc: u32,
    packets: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
}

impl RtpEndpoint {
    /// Listens on a free port. With `answer`, sends its own PCMU stream
    /// (SSRC `ssrc`) every 20 ms to wherever the first packet came from.
    pub fn start(answer: bool) -> RtpEndpoint {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let port = socket.local_addr().unwrap().port();
        let ssrc = 0x5E5E_0000 | port as u32;
        let packets = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (Arc::clone(&packets), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut buffer = [0u8; 2048];
            let mut peer: Option<SocketAddr> = None;
            let mut sender = cc_media::rtp::RtpSender::new(ssrc, 1000, 160_000);
            let mut next_send = Instant::now();
            let mut out = [0u8; 256];
            while !s.load(Ordering::Relaxed) {
                if let Ok((length, from)) = socket.recv_from(&mut buffer) {
                    if let Ok(packet) = cc_media::rtp::parse(&buffer[..length]) {
                        peer.get_or_insert(from);
                        p.lock().unwrap().push(Received {
                            at: Instant::now(),
                            from,
                            payload_type: packet.payload_type,
                            marker: packet.marker,
                            sequence: packet.sequence,
                            timestamp: packet.timestamp,
                            ssrc: packet.ssrc,
                            payload: packet.payload.to_vec(),
                        });
                    }
                }
                if let (true, Some(to)) = (answer, peer) {
                    while Instant::now() >= next_send {
                        let n = sender.write(0, &[0x55; 160], 160, &mut out);
                        let _ = socket.send_to(&out[..n], to);
                        next_send += Duration::from_millis(20);
                    }
                    if next_send + Duration::from_millis(100) < Instant::now() {
                        next_send = Instant::now();
                    }
                }
            }
        });
        RtpEndpoint {
            port,
            ssrc,
            packets,
            stop,
        }
    }

    pub fn packets(&self) -> Vec<Received> {
        self.packets.lock().unwrap().clone()
    }

    /// Packets from one SSRC.
    pub fn from_ssrc(&self, ssrc: u32) -> Vec<Received> {
        self.packets()
            .into_iter()
            .filter(|p| p.ssrc == ssrc)
            .collect()
    }

    /// Waits until at least `count` packets arrived.
    pub fn wait_for(&self, count: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let packets = self.packets();
            if packets.len() >= count || Instant::now() > deadline {
                return packets;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RtpEndpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
