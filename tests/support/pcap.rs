//! Reads the RTP packets of a classic pcap file (Ethernet, IPv4, UDP), to
//! compare what SIPp played with what the node stored.

/// `(timestamp, payload)` of every RTP packet, in file order.
pub fn rtp_payloads(path: &str) -> Vec<(u32, Vec<u8>)> {
    let data = std::fs::read(path).expect("reading a pcap");
    let link = u32::from_le_bytes(data[20..24].try_into().unwrap());
    let link_header = match link {
        1 => 14,
        113 => 16,
        other => panic!("unexpected pcap link type {other}"),
    };
    let mut out = Vec::new();
    let mut offset = 24;
    while offset + 16 <= data.len() {
        let included =
            u32::from_le_bytes(data[offset + 8..offset + 12].try_into().unwrap()) as usize;
        let packet = &data[offset + 16..offset + 16 + included];
        offset += 16 + included;
        let ip = &packet[link_header..];
        let ip_header = ((ip[0] & 0x0F) as usize) * 4;
        let rtp = &ip[ip_header + 8..];
        let parsed = cc_media::rtp::parse(rtp).expect("an RTP packet in the pcap");
        out.push((parsed.timestamp, parsed.payload.to_vec()));
    }
    out
}
