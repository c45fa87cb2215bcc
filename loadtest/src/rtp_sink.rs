//! `rtp-sink PORT SECONDS`: receives RTP on 127.0.0.1:PORT for SECONDS and
//! prints, as JSON, how the streams arrived: packets, streams, and how many
//! packets came more than 5 ms after their schedule.
//!
//! The schedule of a stream is its own RTP clock: packet i is due at
//! `t0 + (ts_i - ts_0) / 8000 s`. Over loopback, arrival is sending, so this
//! measures the sender's pacing from outside it. `t0` is the stream's
//! earliest packet relative to its timestamps (the minimum of arrival minus
//! media time), so a late first packet does not make the rest look early.

use std::collections::HashMap;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

struct Stream {
    first_ts: u32,
    /// Arrival minus media time, in µs, per packet.
    offsets: Vec<i64>,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args
        .next()
        .and_then(|a| a.parse().ok())
        .expect("usage: rtp-sink PORT SECONDS");
    let seconds: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .expect("usage: rtp-sink PORT SECONDS");
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    let _ = socket.set_recv_buffer_size(16 << 20);
    socket
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into())
        .unwrap();
    let socket: UdpSocket = socket.into();
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let start = Instant::now();
    let end = start + Duration::from_secs(seconds);
    let mut streams: HashMap<u32, Stream> = HashMap::new();
    let mut packets = 0u64;
    let mut invalid = 0u64;
    let mut buffer = [0u8; 2048];
    while Instant::now() < end {
        let Ok((length, _)) = socket.recv_from(&mut buffer) else {
            continue;
        };
        let now = start.elapsed().as_micros() as i64;
        let Ok(packet) = cc_media::rtp::parse(&buffer[..length]) else {
            invalid += 1;
            continue;
        };
        packets += 1;
        let stream = streams.entry(packet.ssrc).or_insert(Stream {
            first_ts: packet.timestamp,
            offsets: Vec::new(),
        });
        let media_us = packet.timestamp.wrapping_sub(stream.first_ts) as i32 as i64 * 125;
        stream.offsets.push(now - media_us);
    }
    let mut late = 0u64;
    let mut lateness: Vec<i64> = Vec::with_capacity(packets as usize);
    for stream in streams.values() {
        let base = stream.offsets.iter().copied().min().unwrap_or(0);
        for offset in &stream.offsets {
            let l = offset - base;
            if l > 5_000 {
                late += 1;
            }
            lateness.push(l);
        }
    }
    lateness.sort_unstable();
    let pct = |p: f64| {
        lateness
            .get(((lateness.len() as f64 * p) as usize).min(lateness.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    let summary = serde_json::json!({
        "packets": packets,
        "invalid": invalid,
        "streams": streams.len(),
        "late_over_5ms": late,
        "late_share": if packets > 0 { late as f64 / packets as f64 } else { 0.0 },
        "lateness_p50_us": pct(0.50),
        "lateness_p99_us": pct(0.99),
        "lateness_max_us": lateness.last().copied().unwrap_or(0),
    });
    println!("{summary}");
}
