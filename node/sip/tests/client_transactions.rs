//! RFC 3261 §17.1.1 and §17.1.2 (with RFC 6026 §7.2): the client
//! transactions of the node's outgoing leg, under a virtual clock.

mod common;

use cc_sip::dialog::NewRequest;
use cc_sip::endpoint::MessageKind;
use cc_sip::msg::Method;
use cc_sip::transaction::ClientInviteState;
use cc_sip::{ClientTxId, Event};
use common::*;

fn send(h: &mut Harness, method: Method, peer: cc_sip::Peer) -> ClientTxId {
    let request = NewRequest {
        method,
        uri: "sip:agent@10.0.0.2:5060",
        from: "<sip:4000@10.0.0.1>;tag=node1",
        to: "<sip:agent@10.0.0.2>",
        call_id: "out1@10.0.0.1",
        cseq: 1,
        contact: Some("sip:4000@10.0.0.1:5060"),
        routes: &[],
    }
    .build()
    .unwrap();
    let now = h.now;
    let tx = h.endpoint.send_request(now, request, peer).unwrap();
    h.drain();
    tx
}

fn first_sent(h: &Harness, method: Method) -> String {
    h.sent_texts(MessageKind::Request(method)).remove(0)
}

#[test]
fn an_unanswered_invite_is_retransmitted_on_timer_a_and_times_out_on_timer_b() {
    let mut h = Harness::new();
    let tx = send(&mut h, Method::Invite, udp_peer());
    h.advance_to(ms(40_000));
    // Timer A doubles without cap: 0.5, 1, 2, 4, 8, 16 s apart; B at 32 s.
    assert_eq!(
        h.sent_at(MessageKind::Request(Method::Invite)),
        vec![0, 500, 1500, 3500, 7500, 15500, 31500]
    );
    let timeouts: Vec<_> = h
        .events
        .iter()
        .filter_map(|(at, e)| {
            matches!(e, Event::Timeout { tx: t, .. } if *t == tx).then_some(at.as_millis())
        })
        .collect();
    assert_eq!(timeouts, vec![32_000]);
    assert_eq!(h.endpoint.transaction_count(), (0, 0));
}

#[test]
fn a_provisional_response_stops_retransmission_and_timer_b() {
    let mut h = Harness::new();
    let tx = send(&mut h, Method::Invite, udp_peer());
    h.advance_to(ms(600));
    let invite = first_sent(&h, Method::Invite);
    h.receive(udp_peer(), &response_to(&invite, 180, Some("ag1")));
    h.advance_to(ms(60_000));
    assert_eq!(
        h.sent_at(MessageKind::Request(Method::Invite)),
        vec![0, 500]
    );
    assert_eq!(
        h.endpoint.client_invite_state(tx),
        Some(ClientInviteState::Proceeding)
    );
    assert!(!h
        .events
        .iter()
        .any(|(_, e)| matches!(e, Event::Timeout { .. })));
}

#[test]
fn a_busy_answer_is_acked_in_the_transaction_and_retransmissions_get_the_same_ack() {
    let mut h = Harness::new();
    let tx = send(&mut h, Method::Invite, udp_peer());
    let invite = first_sent(&h, Method::Invite);
    let busy = response_to(&invite, 486, Some("ag1"));
    h.receive(udp_peer(), &busy);
    h.receive(udp_peer(), &busy);
    let acks = h.sent_texts(MessageKind::Request(Method::Ack));
    assert_eq!(acks.len(), 2);
    assert_eq!(acks[0], acks[1]);
    let branch = |text: &str| {
        text.split("branch=")
            .nth(1)
            .unwrap()
            .split([';', '\r'])
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        branch(&acks[0]),
        branch(&invite),
        "the ACK of a non-2xx reuses the INVITE's branch"
    );
    assert!(
        acks[0].contains("tag=ag1"),
        "the ACK's To carries the response's tag"
    );
    assert!(acks[0].contains("CSeq: 1 ACK"));
    assert_eq!(
        h.events
            .iter()
            .filter(|(_, e)| matches!(e, Event::Response { .. }))
            .count(),
        1
    );
    // Timer D: 32 s over UDP.
    h.advance_to(ms(31_999));
    assert_eq!(
        h.endpoint.client_invite_state(tx),
        Some(ClientInviteState::Completed)
    );
    h.advance_to(ms(32_000));
    assert_eq!(h.endpoint.client_invite_state(tx), None);
}

#[test]
fn a_retransmitted_2xx_gets_the_tus_ack_again_without_bothering_the_tu() {
    let mut h = Harness::new();
    let tx = send(&mut h, Method::Invite, udp_peer());
    let invite = first_sent(&h, Method::Invite);
    let ok = response_to(&invite, 200, Some("ag1"));
    h.receive(udp_peer(), &ok);
    assert_eq!(
        h.endpoint.client_invite_state(tx),
        Some(ClientInviteState::Accepted)
    );
    let ack = NewRequest {
        method: Method::Ack,
        uri: "sip:agent@10.0.0.2:5060",
        from: "<sip:4000@10.0.0.1>;tag=node1",
        to: "<sip:agent@10.0.0.2>;tag=ag1",
        call_id: "out1@10.0.0.1",
        cseq: 1,
        contact: None,
        routes: &[],
    }
    .build()
    .unwrap();
    let now = h.now;
    h.endpoint.send_ack(now, tx, ack, udp_peer());
    h.drain();
    h.receive(udp_peer(), &ok);
    assert_eq!(h.sent_at(MessageKind::Request(Method::Ack)).len(), 2);
    assert_eq!(
        h.events
            .iter()
            .filter(|(_, e)| matches!(e, Event::Response { .. }))
            .count(),
        1
    );
    // A 2xx from another fork (another To tag) does reach the TU.
    h.receive(udp_peer(), &response_to(&invite, 200, Some("ag2")));
    assert_eq!(
        h.events
            .iter()
            .filter(|(_, e)| matches!(e, Event::Response { .. }))
            .count(),
        2
    );
    // Timer M ends the transaction 64·T1 after the first 2xx.
    h.advance_to(ms(32_000));
    assert_eq!(h.endpoint.transaction_count(), (0, 0));
}

#[test]
fn a_cancel_before_any_provisional_waits_for_one() {
    let mut h = Harness::new();
    let tx = send(&mut h, Method::Invite, udp_peer());
    let now = h.now;
    h.endpoint.cancel(now, tx).unwrap();
    h.drain();
    assert!(
        h.sent_at(MessageKind::Request(Method::Cancel)).is_empty(),
        "§9.1: no CANCEL before a 1xx"
    );
    h.advance_to(ms(700));
    let invite = first_sent(&h, Method::Invite);
    h.receive(udp_peer(), &response_to(&invite, 180, Some("ag1")));
    let cancels = h.sent_texts(MessageKind::Request(Method::Cancel));
    assert_eq!(cancels.len(), 1);
    assert!(cancels[0].starts_with("CANCEL sip:agent@10.0.0.2:5060 SIP/2.0"));
    assert!(cancels[0].contains("CSeq: 1 CANCEL"));
    // The CANCEL is answered, the INVITE ends with 487, which is ACKed.
    h.receive(udp_peer(), &response_to(&cancels[0], 200, Some("ag1")));
    h.receive(udp_peer(), &response_to(&invite, 487, Some("ag1")));
    assert_eq!(h.sent_at(MessageKind::Request(Method::Ack)).len(), 1);
    assert_eq!(
        h.endpoint.client_invite_state(tx),
        Some(ClientInviteState::Completed)
    );
}

#[test]
fn a_bye_is_retransmitted_on_timer_e_capped_at_t2_and_times_out_on_timer_f() {
    let mut h = Harness::new();
    send(&mut h, Method::Bye, udp_peer());
    h.advance_to(ms(40_000));
    assert_eq!(
        h.sent_at(MessageKind::Request(Method::Bye)),
        vec![0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    let timeouts: Vec<_> = h
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::Timeout { .. }))
        .map(|(at, _)| at.as_millis())
        .collect();
    assert_eq!(timeouts, vec![32_000]);
}

#[test]
fn after_a_provisional_a_non_invite_is_retransmitted_every_t2() {
    let mut h = Harness::new();
    send(&mut h, Method::Bye, udp_peer());
    let bye = first_sent(&h, Method::Bye);
    h.advance_to(ms(600));
    h.receive(udp_peer(), &response_to(&bye, 100, None));
    h.advance_to(ms(13_000));
    // 0.5 (Trying), then in Proceeding every T2 from the next firing.
    assert_eq!(
        h.sent_at(MessageKind::Request(Method::Bye)),
        vec![0, 500, 1500, 5500, 9500]
    );
}

#[test]
fn a_final_response_to_a_bye_ends_the_transaction_after_timer_k() {
    let mut h = Harness::new();
    send(&mut h, Method::Bye, udp_peer());
    let bye = first_sent(&h, Method::Bye);
    h.receive(udp_peer(), &response_to(&bye, 200, Some("ag1")));
    h.receive(udp_peer(), &response_to(&bye, 200, Some("ag1")));
    assert_eq!(
        h.events
            .iter()
            .filter(|(_, e)| matches!(e, Event::Response { .. }))
            .count(),
        1
    );
    h.advance_to(ms(4_999));
    assert_eq!(h.endpoint.transaction_count().1, 1);
    h.advance_to(ms(5_000));
    assert_eq!(h.endpoint.transaction_count().1, 0, "Timer K = T4");
}

#[test]
fn over_tcp_requests_are_not_retransmitted_and_completed_ends_at_once() {
    let mut h = Harness::new();
    send(&mut h, Method::Bye, tcp_peer());
    let bye = first_sent(&h, Method::Bye);
    h.advance_to(ms(10_000));
    assert_eq!(h.sent_at(MessageKind::Request(Method::Bye)), vec![0]);
    h.receive(tcp_peer(), &response_to(&bye, 200, Some("ag1")));
    h.advance_to(ms(10_000));
    assert_eq!(h.endpoint.transaction_count().1, 0);
    assert!(bye.contains("SIP/2.0/TCP"));
}

#[test]
fn a_transport_failure_times_out_pending_requests() {
    let mut h = Harness::new();
    let tx = send(&mut h, Method::Invite, tcp_peer());
    h.endpoint.handle_transport_error(tcp_peer());
    h.drain();
    assert!(h
        .events
        .iter()
        .any(|(_, e)| matches!(e, Event::Timeout { tx: t, .. } if *t == tx)));
    assert_eq!(h.endpoint.transaction_count(), (0, 0));
}
