//! Where a SIP URI goes: the peer (transport, address) to send a request to.

use std::net::SocketAddr;

use cc_sip::dialog::parse_uri;
use cc_sip::msg::{Host, Param};
use cc_sip::{Peer, Transport};

/// Resolves a URI to a peer: its host (an address, or a name looked up in
/// DNS A/AAAA records), its port (5060 by default) and its `transport`
/// parameter (UDP by default).
pub async fn resolve(uri: &str) -> Option<Peer> {
    let parsed = parse_uri(uri).ok()?;
    let transport = parsed
        .params
        .iter()
        .find_map(|p| match p {
            Param::Transport(t) => Some(t.to_string()),
            Param::Other(name, Some(value)) if name.value().eq_ignore_ascii_case("transport") => {
                Some(value.value().to_string())
            }
            _ => None,
        })
        .map(|t| {
            if t.eq_ignore_ascii_case("tcp") {
                Transport::Tcp
            } else {
                Transport::Udp
            }
        })
        .unwrap_or(Transport::Udp);
    let port = parsed
        .host_with_port
        .port
        .map(|p| p.value())
        .unwrap_or(5060);
    let addr: SocketAddr = match &parsed.host_with_port.host {
        Host::IpAddr(ip) => SocketAddr::new(*ip, port),
        Host::Domain(name) => {
            let name = name.to_string();
            let name = name
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            if let Ok(ip) = name.parse() {
                SocketAddr::new(ip, port)
            } else {
                tokio::net::lookup_host((name.as_str(), port))
                    .await
                    .ok()?
                    .next()?
            }
        }
    };
    Some(Peer { transport, addr })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn addresses_ports_and_transports() {
        let p = resolve("sip:agent@127.0.0.1:5090").await.unwrap();
        assert_eq!(p.addr, "127.0.0.1:5090".parse().unwrap());
        assert_eq!(p.transport, Transport::Udp);
        let p = resolve("sip:127.0.0.1;lr;transport=tcp").await.unwrap();
        assert_eq!(p.addr.port(), 5060);
        assert_eq!(p.transport, Transport::Tcp);
        let p = resolve("sip:agent@localhost:5091").await.unwrap();
        assert_eq!(p.addr.port(), 5091);
    }
}
