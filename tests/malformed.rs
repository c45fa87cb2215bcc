//! Malformed and tortuous SIP (a corpus written by the categories of RFC
//! 4475, in `tests/torture/`) sent to a running node: every message that can
//! be answered gets the status `expected.tsv` names, the rest are dropped,
//! the node never falls over, and it serves calls afterwards.

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use cc_tests::node::Node;
use cc_tests::rtp::RtpEndpoint;
use cc_tests::scenarios::{self, Codec, Ending};
use cc_tests::Sipp;

fn corpus() -> Vec<(String, String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("torture");
    let manifest = std::fs::read_to_string(dir.join("expected.tsv")).unwrap();
    manifest
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let mut parts = line.split('\t');
            let name = parts.next().unwrap().to_string();
            let expected = parts.next().unwrap().to_string();
            let bytes = std::fs::read(dir.join(format!("{name}.sip"))).unwrap();
            (name, expected, bytes)
        })
        .collect()
}

/// The first final status that comes back within `within`, if any.
fn final_status(socket: &UdpSocket, within: Duration) -> Option<u16> {
    let deadline = Instant::now() + within;
    let mut buffer = [0u8; 65_536];
    while Instant::now() < deadline {
        socket
            .set_read_timeout(Some(
                deadline
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(1)),
            ))
            .unwrap();
        let Ok(length) = socket.recv(&mut buffer) else {
            break;
        };
        let text = String::from_utf8_lossy(&buffer[..length]);
        let status: u16 = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if status >= 200 {
            return Some(status);
        }
    }
    None
}

#[test]
fn the_corpus_is_answered_as_expected_and_calls_still_work() {
    let mut node = Node::start("malformed", cc_tests::units::welcome_only());
    let mut wrong = Vec::new();
    for (name, expected, bytes) in corpus() {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        node.send_udp(&socket, &bytes);
        let wait = if expected == "none" {
            Duration::from_millis(300)
        } else {
            Duration::from_secs(2)
        };
        let got = final_status(&socket, wait)
            .map(|s| s.to_string())
            .unwrap_or_else(|| "none".into());
        if got != expected {
            wrong.push(format!("{name}: expected {expected}, got {got}"));
        }
        assert!(
            node.is_running(),
            "the node died on {name}:\n{}",
            node.log()
        );
    }
    assert!(
        wrong.is_empty(),
        "{}\nnode log:\n{}",
        wrong.join("\n"),
        node.log()
    );

    // A burst of the whole corpus, a hundred times over, at once.
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let corpus = corpus();
    for _ in 0..100 {
        for (_, _, bytes) in &corpus {
            node.send_udp(&socket, bytes);
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(node.is_running(), "the node died under the burst");

    // And a real call afterwards.
    let rtp = RtpEndpoint::start(false);
    let port = rtp.port.to_string();
    let result = Sipp::start_xml(
        &format!("127.0.0.1:{}", node.sip_port),
        &scenarios::caller(Codec::Pcmu, &[], Ending::NodeHangsUp),
        &[
            "-s",
            "4102",
            "-key",
            "rtp_ip",
            "127.0.0.1",
            "-key",
            "rtp_port",
            &port,
            "-m",
            "1",
        ],
    )
    .wait(Duration::from_secs(20));
    assert!(
        result.success,
        "no call after the corpus:\n{}\n{}",
        result.errors,
        node.log()
    );
    assert!(
        rtp.packets().len() >= 50,
        "the welcome prompt reached the caller"
    );
}

fn tcp_exchange(node: &Node, bytes: &[u8]) -> (Vec<u8>, bool) {
    let mut stream = TcpStream::connect(("127.0.0.1", node.sip_port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    stream.write_all(bytes).unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let closed = loop {
        match stream.read(&mut buffer) {
            Ok(0) => break true,
            Ok(n) => {
                received.extend_from_slice(&buffer[..n]);
                if received.windows(4).any(|w| w == b"\r\n\r\n") || received == b"\r\n" {
                    break false;
                }
            }
            Err(_) => break false,
        }
    };
    (received, closed)
}

#[test]
fn over_tcp_messages_are_framed_pings_answered_and_unframeable_streams_closed() {
    let node = Node::start("malformed-tcp", cc_tests::units::welcome_only());
    let options =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("torture/valid-compact.sip"))
            .unwrap();
    let (answer, _) = tcp_exchange(&node, &options);
    assert!(
        String::from_utf8_lossy(&answer).starts_with("SIP/2.0 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    let (pong, _) = tcp_exchange(&node, b"\r\n\r\n");
    assert_eq!(pong, b"\r\n", "a CRLF ping gets a CRLF pong (RFC 5626)");

    let no_length =
        b"OPTIONS sip:a@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.2;branch=z9hG4bKt\r\n\r\n";
    let (_, closed) = tcp_exchange(&node, no_length);
    assert!(
        closed,
        "a stream message without Content-Length cannot be framed: the connection closes"
    );

    // The same message split into single bytes is still one message.
    let mut stream = TcpStream::connect(("127.0.0.1", node.sip_port)).unwrap();
    stream.set_nodelay(true).unwrap();
    for byte in &options {
        stream.write_all(&[*byte]).unwrap();
    }
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut buffer = [0u8; 4096];
    let n = stream.read(&mut buffer).unwrap();
    assert!(String::from_utf8_lossy(&buffer[..n]).starts_with("SIP/2.0 200"));
}
