//! RFC 3261 §17.2.1 and §13.3.1.4 (with RFC 6026): the INVITE server
//! transaction, under a virtual clock. Every schedule is checked to the
//! millisecond; nothing sleeps.

mod common;

use cc_sip::endpoint::MessageKind;
use cc_sip::headers::response_for;
use cc_sip::transaction::ServerInviteState;
use cc_sip::{Event, ServerTxId};
use common::*;

fn invite_tx(h: &Harness) -> ServerTxId {
    h.events
        .iter()
        .find_map(|(_, e)| match e {
            Event::Request { tx, .. } => Some(*tx),
            _ => None,
        })
        .expect("INVITE reached the TU")
}

fn answer(h: &mut Harness, status: u16) -> ServerTxId {
    let tx = invite_tx(h);
    let request = h
        .events
        .iter()
        .find_map(|(_, e)| match e {
            Event::Request { request, .. } => Some(request.clone()),
            _ => None,
        })
        .unwrap();
    let response = response_for(&request, status, Some("node1"));
    let now = h.now;
    h.endpoint.respond(now, tx, response).unwrap();
    h.drain();
    tx
}

#[test]
fn an_invite_gets_100_trying_at_once() {
    let mut h = Harness::new();
    h.receive(udp_peer(), &invite("z9hG4bKa", "c1"));
    assert_eq!(h.sent_at(MessageKind::Response(100)), vec![0]);
}

#[test]
fn a_2xx_is_retransmitted_on_the_timer_g_schedule_until_the_ack() {
    let mut h = Harness::new();
    h.receive(udp_peer(), &invite("z9hG4bKa", "c1"));
    let tx = answer(&mut h, 200);
    h.advance_to(ms(8000));
    // T1, then doubling up to T2: 0.5, 1, 2, 4, 4 s apart.
    assert_eq!(
        h.sent_at(MessageKind::Response(200)),
        vec![0, 500, 1500, 3500, 7500]
    );
    h.receive(
        udp_peer(),
        &request("ACK", "z9hG4bKack", "c1", 1, Some("node1")),
    );
    assert!(h.events.iter().any(|(at, e)| at.as_millis() == 8000
        && matches!(e, Event::Ack { invite_tx: Some(t), .. } if *t == tx)));
    h.advance_to(ms(40_000));
    assert_eq!(
        h.sent_at(MessageKind::Response(200)).len(),
        5,
        "no retransmission after the ACK"
    );
    assert!(!h
        .events
        .iter()
        .any(|(_, e)| matches!(e, Event::AckTimeout { .. })));
    assert_eq!(
        h.endpoint.transaction_count(),
        (0, 0),
        "Timer L ended the transaction"
    );
}

#[test]
fn a_2xx_never_acked_times_out_at_64_t1() {
    let mut h = Harness::new();
    h.receive(udp_peer(), &invite("z9hG4bKa", "c1"));
    answer(&mut h, 200);
    h.advance_to(ms(40_000));
    assert_eq!(
        h.sent_at(MessageKind::Response(200)),
        vec![0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    let timeouts: Vec<u128> = h
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::AckTimeout { .. }))
        .map(|(at, _)| at.as_millis())
        .collect();
    assert_eq!(timeouts, vec![32_000]);
}

#[test]
fn a_retransmitted_ack_reaches_the_tu_once() {
    let mut h = Harness::new();
    h.receive(udp_peer(), &invite("z9hG4bKa", "c1"));
    answer(&mut h, 200);
    let ack = request("ACK", "z9hG4bKack", "c1", 1, Some("node1"));
    h.receive(udp_peer(), &ack);
    h.receive(udp_peer(), &ack);
    assert_eq!(
        h.events
            .iter()
            .filter(|(_, e)| matches!(e, Event::Ack { .. }))
            .count(),
        1
    );
}

#[test]
fn a_retransmitted_invite_gets_the_last_provisional_again_and_never_reaches_the_tu_twice() {
    let mut h = Harness::new();
    let inv = invite("z9hG4bKa", "c1");
    h.receive(udp_peer(), &inv);
    answer(&mut h, 180);
    h.receive(udp_peer(), &inv);
    assert_eq!(h.sent_at(MessageKind::Response(180)), vec![0, 0]);
    assert_eq!(
        h.events
            .iter()
            .filter(|(_, e)| matches!(e, Event::Request { .. }))
            .count(),
        1
    );
}

#[test]
fn a_final_error_is_retransmitted_until_the_ack_then_confirmed_for_t4() {
    let mut h = Harness::new();
    h.receive(udp_peer(), &invite("z9hG4bKa", "c1"));
    let tx = answer(&mut h, 486);
    h.advance_to(ms(2000));
    assert_eq!(h.sent_at(MessageKind::Response(486)), vec![0, 500, 1500]);
    // The ACK of a non-2xx carries the INVITE's branch (§17.1.1.3).
    h.receive(
        udp_peer(),
        &request("ACK", "z9hG4bKa", "c1", 1, Some("node1")),
    );
    assert_eq!(
        h.endpoint.server_invite_state(tx),
        Some(ServerInviteState::Confirmed)
    );
    assert!(
        !h.events.iter().any(|(_, e)| matches!(e, Event::Ack { .. })),
        "non-2xx ACK stays in the transaction"
    );
    h.advance_to(ms(6999));
    assert_eq!(
        h.endpoint.server_invite_state(tx),
        Some(ServerInviteState::Confirmed)
    );
    h.advance_to(ms(7000));
    assert_eq!(
        h.endpoint.server_invite_state(tx),
        None,
        "Timer I = T4 after the ACK"
    );
    assert_eq!(h.sent_at(MessageKind::Response(486)).len(), 3);
}

#[test]
fn a_final_error_without_ack_gives_up_at_timer_h() {
    let mut h = Harness::new();
    h.receive(udp_peer(), &invite("z9hG4bKa", "c1"));
    let tx = answer(&mut h, 603);
    h.advance_to(ms(31_999));
    assert_eq!(
        h.endpoint.server_invite_state(tx),
        Some(ServerInviteState::Completed)
    );
    h.advance_to(ms(32_000));
    assert_eq!(h.endpoint.server_invite_state(tx), None);
}

#[test]
fn over_tcp_nothing_is_retransmitted() {
    let mut h = Harness::new();
    h.receive(tcp_peer(), &invite("z9hG4bKa", "c1"));
    answer(&mut h, 200);
    h.advance_to(ms(40_000));
    assert_eq!(h.sent_at(MessageKind::Response(200)), vec![0]);
    assert_eq!(
        h.events
            .iter()
            .filter(|(_, e)| matches!(e, Event::AckTimeout { .. }))
            .count(),
        1
    );
}

#[test]
fn cancel_before_the_final_response_gets_200_and_the_invite_487() {
    let mut h = Harness::new();
    h.receive(udp_peer(), &invite("z9hG4bKa", "c1"));
    answer(&mut h, 180);
    h.receive(udp_peer(), &request("CANCEL", "z9hG4bKa", "c1", 1, None));
    let ok = h.sent_texts(MessageKind::Response(200));
    assert_eq!(ok.len(), 1);
    assert!(ok[0].contains("CSeq: 1 CANCEL"));
    let terminated = h.sent_texts(MessageKind::Response(487));
    assert_eq!(terminated.len(), 1);
    assert!(terminated[0].contains("CSeq: 1 INVITE"));
    assert!(
        terminated[0].contains("tag=node1"),
        "487 keeps the To tag of the 180"
    );
    assert!(h
        .events
        .iter()
        .any(|(_, e)| matches!(e, Event::Cancelled { .. })));
    // A 2xx attempted after the CANCEL is refused: the INVITE is completed.
    let tx = invite_tx(&h);
    assert!(h.endpoint.server_invite_state(tx) == Some(ServerInviteState::Completed));
}

#[test]
fn cancel_of_an_unknown_invite_gets_481() {
    let mut h = Harness::new();
    h.receive(udp_peer(), &request("CANCEL", "z9hG4bKnone", "c9", 1, None));
    assert_eq!(h.sent_at(MessageKind::Response(481)), vec![0]);
}

#[test]
fn cancel_after_the_2xx_changes_nothing() {
    let mut h = Harness::new();
    h.receive(udp_peer(), &invite("z9hG4bKa", "c1"));
    answer(&mut h, 200);
    h.receive(udp_peer(), &request("CANCEL", "z9hG4bKa", "c1", 1, None));
    assert_eq!(h.sent_at(MessageKind::Response(487)), Vec::<u128>::new());
    assert!(!h
        .events
        .iter()
        .any(|(_, e)| matches!(e, Event::Cancelled { .. })));
}
