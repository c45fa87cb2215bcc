//! RFC 3261 §17.2.2: the non-INVITE server transaction, and the requests the
//! endpoint answers without its TU (405, 501, 400).

mod common;

use cc_sip::endpoint::MessageKind;
use cc_sip::headers::response_for;
use cc_sip::msg::Method;
use cc_sip::Event;
use common::*;

#[test]
fn a_repeated_bye_gets_the_same_answer_and_reaches_the_tu_once() {
    let mut h = Harness::new();
    let bye = request("BYE", "z9hG4bKb", "c1", 2, Some("n1"));
    h.receive(udp_peer(), &bye);
    let (tx, req) = match &h.events[0].1 {
        Event::Request { tx, request, .. } => (*tx, request.clone()),
        other => panic!("{other:?}"),
    };
    let now = h.now;
    h.endpoint
        .respond(now, tx, response_for(&req, 200, None))
        .unwrap();
    h.drain();
    h.advance_to(ms(10_000));
    h.receive(udp_peer(), &bye);
    assert_eq!(h.sent_at(MessageKind::Response(200)), vec![0, 10_000]);
    assert_eq!(h.events.len(), 1);
    // Timer J = 64·T1 after the final response.
    h.advance_to(ms(31_999));
    assert_eq!(h.endpoint.transaction_count().0, 1);
    h.advance_to(ms(32_000));
    assert_eq!(h.endpoint.transaction_count().0, 0);
}

#[test]
fn a_known_but_unsupported_method_gets_405_with_allow() {
    let mut h = Harness::new();
    h.receive(udp_peer(), &request("SUBSCRIBE", "z9hG4bKs", "c1", 1, None));
    let texts = h.sent_texts(MessageKind::Response(405));
    assert_eq!(texts.len(), 1);
    assert!(
        texts[0].contains("Allow: INVITE, ACK, BYE, CANCEL, OPTIONS"),
        "{}",
        texts[0]
    );
    assert!(h.events.is_empty());
}

#[test]
fn an_unknown_method_gets_501() {
    let mut h = Harness::new();
    h.receive(udp_peer(), &request("FOOBAR", "z9hG4bKf", "c1", 1, None));
    let texts = h.sent_texts(MessageKind::Response(501));
    assert_eq!(texts.len(), 1);
    assert!(texts[0].contains("CSeq: 1 FOOBAR"));
    assert!(texts[0].contains("To: <sip:4000@10.0.0.1>;tag="));
    assert!(h.events.is_empty());
}

#[test]
fn a_request_missing_call_id_gets_400_naming_it() {
    let mut h = Harness::new();
    let text = request("OPTIONS", "z9hG4bKo", "c1", 1, None).replace("Call-ID: c1\r\n", "");
    h.receive(udp_peer(), &text);
    let texts = h.sent_texts(MessageKind::Response(400));
    assert_eq!(texts.len(), 1);
    assert!(
        texts[0].starts_with("SIP/2.0 400 Bad Request (missing Call-ID header)"),
        "{}",
        texts[0]
    );
}

#[test]
fn options_reaches_the_tu() {
    let mut h = Harness::new();
    h.receive(udp_peer(), &request("OPTIONS", "z9hG4bKo", "c1", 1, None));
    assert!(
        matches!(&h.events[0].1, Event::Request { request, .. } if request.method == Method::Options)
    );
}

#[test]
fn a_double_crlf_over_tcp_gets_a_pong_and_over_udp_nothing() {
    let mut h = Harness::new();
    h.receive(tcp_peer(), "\r\n\r\n");
    assert_eq!(h.sent_at(MessageKind::Pong), vec![0]);
    h.receive(udp_peer(), "\r\n\r\n");
    assert_eq!(h.sent_at(MessageKind::Pong), vec![0]);
}

#[test]
fn over_a_stream_the_same_request_right_after_the_answer_is_a_new_request() {
    // Timer J is zero on a reliable transport: the transaction ends with
    // its final response, so the same request arriving at that very instant
    // (a peer reusing a branch on a new connection, before any timer ran)
    // is new, answered on the connection it came on, not lost to the old.
    let mut h = Harness::new();
    let options = request("OPTIONS", "z9hG4bKsame", "c1", 1, None);
    let first = tcp_peer();
    h.receive(first, &options);
    let (tx, req) = match &h.events[0].1 {
        Event::Request { tx, request, .. } => (*tx, request.clone()),
        other => panic!("{other:?}"),
    };
    let now = h.now;
    h.endpoint
        .respond(now, tx, response_for(&req, 200, None))
        .unwrap();
    h.drain();
    let second = cc_sip::Peer {
        addr: "10.0.0.2:40000".parse().unwrap(),
        ..tcp_peer()
    };
    h.receive(second, &options);
    assert_eq!(h.events.len(), 2, "the second request reached the TU");
    assert_eq!(h.endpoint.transaction_count().0, 1);
}
