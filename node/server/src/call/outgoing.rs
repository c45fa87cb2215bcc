//! Outgoing legs: an agent the ACD offered the call to (several at once with
//! ring-all), or a forward target. Each rings until it answers, fails or its
//! ring timeout cancels it; the first to answer is bridged to the caller and
//! the rest are cancelled.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cc_acd::OfferFailure;
use cc_flow::{FlowEvent, ForwardOutcome, QueueOutcome};
use cc_media::relay::{translate, Latch, LegFormat};
use cc_media::rtp;
use cc_sip::dialog::NewRequest;
use cc_sip::headers::{self, response_for};
use cc_sip::msg::{Method, Request, Response};
use cc_sip::sdp::{self, Codec, Direction, LocalMedia};
use cc_sip::{ClientTxId, Dialog, Peer, ServerTxId};

use super::{format_of, next_hop, resolve, Call, CODECS};
use crate::media::ports::RtpPort;
use crate::sip::SipCommand;

/// What an outgoing leg is for.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Purpose {
    /// An offer of the ACD to an agent of the unit.
    Agent { id: String, reservation: String },
    /// The flow's forward step.
    Forward,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LegState {
    Trying,
    Ringing,
    Cancelling,
    Connected,
}

/// Why we cancelled a leg, which decides what its failure reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Cancelled {
    /// It rang out: an offer not answered.
    RingTimeout,
    /// It is no longer wanted (the caller left, another agent answered):
    /// nothing to report.
    NotNeeded,
}

pub(super) struct OutLeg {
    pub(super) purpose: Purpose,
    pub(super) call_id: String,
    invite: Request,
    pub(super) tx: Option<ClientTxId>,
    peer: Peer,
    pub(super) port: RtpPort,
    dialog: Option<Dialog>,
    pub(super) format: Option<LegFormat>,
    pub(super) latch: Latch,
    pub(super) state: LegState,
    pub(super) ring_deadline: Instant,
    cancelled: Option<Cancelled>,
    /// Keys the agent presses (RFC 4733), for tagging the call.
    dtmf: cc_media::dtmf::DtmfDetector,
    /// `*` and the digits keyed since, until `#`.
    keyed: String,
}

impl OutLeg {
    pub(super) fn is_ringing(&self) -> bool {
        matches!(self.state, LegState::Trying | LegState::Ringing)
    }

    pub(super) fn reservation(&self) -> Option<&str> {
        match &self.purpose {
            Purpose::Agent { reservation, .. } => Some(reservation),
            Purpose::Forward => None,
        }
    }
}

/// What a final error response says about an offer.
fn failure_of(status: u16) -> OfferFailure {
    match status {
        486 | 600 => OfferFailure::Busy,
        603 => OfferFailure::Rejected,
        408 | 487 => OfferFailure::NoAnswer,
        _ => OfferFailure::Unreachable,
    }
}

impl Call {
    /// The leg bridged to the caller, if any.
    pub(super) fn connected(&self) -> Option<&OutLeg> {
        self.legs.iter().find(|l| l.state == LegState::Connected)
    }

    pub(super) async fn forward(&mut self, target: &str, timeout: Duration) {
        self.record.target = Some(target.to_string());
        // The one place a call can cost money: dial only what the unit
        // is approved for (its outbound scope), else take the step's
        // failure branch, with a record and a metric.
        if let Err(refusal) = self.unit.outbound.check(&self.node.plan, target) {
            let class = match &refusal {
                cc_numbering::Refusal::OutOfScope { class, .. } => class.name().to_string(),
                cc_numbering::Refusal::NotANumber(_) => "unknown".to_string(),
            };
            tracing::warn!(unit = %self.unit.id(), %target, %class, "forward refused: {refusal}");
            self.node
                .metrics
                .dial_refused
                .get_or_create(&crate::metrics::UnitKind {
                    unit: self.unit.id().to_string(),
                    kind: class.clone(),
                })
                .inc();
            self.record.dial_refused = Some(class);
            self.pending
                .push_back(FlowEvent::Forward(ForwardOutcome::Failed));
            return;
        }
        let uri = if target.starts_with("sip:") {
            Some(target.to_string())
        } else {
            let gateway = &self.node.settings.sip.extension_gateway;
            (!gateway.is_empty()).then(|| format!("sip:{target}@{gateway}"))
        };
        let started = match uri {
            Some(uri) => self.originate(&uri, timeout, Purpose::Forward).await,
            None => false,
        };
        if !started {
            self.pending
                .push_back(FlowEvent::Forward(ForwardOutcome::Failed));
        }
    }

    /// Sends the INVITE of an outgoing leg. False when it cannot even start
    /// (no route, no port).
    pub(super) async fn originate(
        &mut self,
        uri: &str,
        ring_timeout: Duration,
        purpose: Purpose,
    ) -> bool {
        let proxy = &self.node.settings.sip.outbound_proxy;
        let (peer, routes) = if proxy.is_empty() {
            (resolve(uri).await, Vec::new())
        } else {
            let route = format!("sip:{proxy};lr");
            (resolve(&route).await, vec![format!("<{route}>")])
        };
        let Some(peer) = peer else {
            tracing::info!(%uri, "cannot resolve the outgoing leg's target");
            return false;
        };
        let Some(port) = self.node.ports.allocate() else {
            return false;
        };
        let settings = &self.node.settings;
        let host = settings.sip_host();
        let call_id = self.node.call_id();
        let tag = self.node.tag();
        let caller_user = headers::first_uri(&self.record.caller)
            .and_then(|u| cc_sip::dialog::parse_uri(u).ok())
            .and_then(|u| u.user().map(str::to_string))
            .unwrap_or_else(|| "anonymous".into());
        let display = self.unit.unit.document.name.replace('"', "");
        let from = format!("\"{display}\" <sip:{caller_user}@{host}>;tag={tag}");
        let to = format!("<{uri}>");
        let contact = format!(
            "sip:{}@{}:{};transport={}",
            self.record.number,
            host,
            settings.sip.listen.port(),
            peer.transport.via_token().to_ascii_lowercase()
        );
        let built = NewRequest {
            method: Method::Invite,
            uri,
            from: &from,
            to: &to,
            call_id: &call_id,
            cseq: 1,
            contact: Some(&contact),
            routes: &routes,
        }
        .build();
        let Ok(mut invite) = built else { return false };
        let codecs: Vec<Codec> = match self.caller.negotiated.as_ref().map(|n| n.codec) {
            Some(Codec::Pcma) => vec![Codec::Pcma, Codec::Pcmu],
            _ => CODECS.to_vec(),
        };
        let local = LocalMedia {
            address: settings.media_address(),
            port: port.port,
            session_id: self.node.random() >> 1,
            version: 1,
        };
        headers::set_body(
            &mut invite,
            "application/sdp",
            sdp::write_offer(&local, &codecs, Direction::SendRecv).into_bytes(),
        );
        self.node
            .sip
            .command(SipCommand::Route {
                call_id: call_id.clone(),
                owner: self.me.clone(),
            })
            .await;
        let Ok(tx) = self
            .node
            .sip
            .request(invite.clone(), peer, self.me.clone())
            .await
        else {
            return false;
        };
        self.legs.push(OutLeg {
            purpose,
            call_id,
            invite,
            tx: Some(tx),
            peer,
            port,
            dialog: None,
            format: None,
            latch: Latch::new(None),
            state: LegState::Trying,
            ring_deadline: Instant::now() + ring_timeout,
            cancelled: None,
            dtmf: cc_media::dtmf::DtmfDetector::new(),
            keyed: String::new(),
        });
        true
    }

    pub(super) async fn on_response(&mut self, tx: ClientTxId, response: Response) {
        let Some(index) = self.legs.iter().position(|l| l.tx == Some(tx)) else {
            return;
        };
        let status = response.status_code.code();
        match status {
            100 => {}
            101..=199 => {
                if self.legs[index].state == LegState::Trying {
                    self.legs[index].state = LegState::Ringing;
                }
            }
            200..=299 => self.leg_answered(index, tx, response).await,
            _ => self.leg_failed(index, failure_of(status)).await,
        }
    }

    pub(super) async fn on_leg_timeout(&mut self, tx: ClientTxId) {
        if let Some(index) = self
            .legs
            .iter()
            .position(|l| l.tx == Some(tx) && l.state != LegState::Connected)
        {
            self.leg_failed(index, OfferFailure::Unreachable).await;
        }
    }

    async fn leg_answered(&mut self, index: usize, tx: ClientTxId, response: Response) {
        let leg = &mut self.legs[index];
        let dialog = match Dialog::uac(&leg.invite, &response) {
            Ok(d) => d,
            Err(e) => {
                tracing::info!(error = %e, "a 2xx that makes no dialog");
                return;
            }
        };
        if let Some(existing) = &leg.dialog {
            // A second 2xx: another fork of the same INVITE. Acknowledge it
            // and end that second dialog; the first stays.
            if existing.id() != dialog.id() {
                let peer = leg.peer;
                self.ack_and_bye(tx, dialog, peer).await;
            }
            return;
        }
        let peer = next_hop(&dialog, leg.peer).await;
        if let Ok(ack) = dialog.ack(1) {
            self.node
                .sip
                .command(SipCommand::Ack {
                    invite_tx: tx,
                    ack,
                    peer,
                })
                .await;
        }
        let leg = &mut self.legs[index];
        leg.dialog = Some(dialog);
        let negotiated = sdp::parse(&response.body)
            .ok()
            .and_then(|s| sdp::accept_answer(&s, &CODECS).ok());
        let unwanted =
            leg.cancelled.is_some() || self.legs.iter().any(|l| l.state == LegState::Connected);
        let negotiated = match (negotiated, unwanted) {
            (Some(n), false) => n,
            _ => {
                // Answered after our CANCEL crossed it, after another agent
                // took the call, or with an SDP we cannot use: end that leg.
                let failure = match self.legs[index].cancelled {
                    Some(Cancelled::NotNeeded) => None,
                    _ if self.legs.iter().any(|l| l.state == LegState::Connected) => None,
                    _ => Some(OfferFailure::NoAnswer),
                };
                self.bye_leg(index).await;
                let leg = self.legs.remove(index);
                self.leg_gone(leg, failure).await;
                return;
            }
        };
        if let Purpose::Agent { reservation, id } = self.legs[index].purpose.clone() {
            let taken = match self
                .node
                .acd
                .answered(&self.record.unit, &reservation)
                .await
            {
                Ok(taken) => taken.map(|_| ()),
                Err(cc_acd::StoreError::Unavailable(e)) => {
                    // The agent answered and the caller is waiting: they
                    // talk. The answer is reported when the store is back
                    // (before the call's end, which is kept the same way).
                    tracing::warn!(error = %e, "the ACD is unreachable; bridging the agent who answered");
                    self.node.acd.forget(&self.record.call_id);
                    Some(())
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the ACD could not record an answer");
                    None
                }
            };
            if taken.is_none() {
                // A stale offer (the caller left the queue, the reservation
                // expired): the agent's call has nobody to talk to.
                self.bye_leg(index).await;
                let leg = self.legs.remove(index);
                self.leg_gone(leg, None).await;
                return;
            }
            self.queue_answered(&id);
            self.pending
                .push_back(FlowEvent::Queue(QueueOutcome::Answered { agent: id }));
        } else {
            self.pending
                .push_back(FlowEvent::Forward(ForwardOutcome::Answered));
        }
        let leg = &mut self.legs[index];
        leg.format = Some(format_of(&negotiated));
        leg.latch = Latch::new(negotiated.destination);
        leg.state = LegState::Connected;
        // The caller stops hearing music on hold; the others stop ringing.
        self.node
            .media
            .send(crate::media::engine::MediaCommand::Stop {
                leg: self.caller.leg,
            });
        for i in 0..self.legs.len() {
            if i != index && self.legs[i].is_ringing() {
                self.cancel_leg(i, Cancelled::NotNeeded).await;
            }
        }
    }

    async fn ack_and_bye(&self, tx: ClientTxId, mut dialog: Dialog, fallback: Peer) {
        let peer = next_hop(&dialog, fallback).await;
        if let Ok(ack) = dialog.ack(1) {
            self.node
                .sip
                .command(SipCommand::Ack {
                    invite_tx: tx,
                    ack,
                    peer,
                })
                .await;
        }
        if let Ok(bye) = dialog.request(Method::Bye) {
            let _ = self.node.sip.request(bye, peer, self.me.clone()).await;
        }
    }

    async fn bye_leg(&mut self, index: usize) {
        let leg = &mut self.legs[index];
        let fallback = leg.peer;
        if let Some(dialog) = leg.dialog.as_mut() {
            if let Ok(bye) = dialog.request(Method::Bye) {
                let dialog = dialog.clone();
                let peer = next_hop(&dialog, fallback).await;
                let _ = self.node.sip.request(bye, peer, self.me.clone()).await;
            }
        }
    }

    /// A leg ended before being connected.
    async fn leg_failed(&mut self, index: usize, failure: OfferFailure) {
        if self.legs[index].state == LegState::Connected {
            return;
        }
        let leg = self.legs.remove(index);
        let failure = match leg.cancelled {
            Some(Cancelled::NotNeeded) => None,
            Some(Cancelled::RingTimeout) => Some(OfferFailure::NoAnswer),
            None => Some(failure),
        };
        self.leg_gone(leg, failure).await;
    }

    /// Tells whoever asked for a leg that ended unconnected.
    async fn leg_gone(&mut self, leg: OutLeg, failure: Option<OfferFailure>) {
        self.node
            .sip
            .command(SipCommand::Unroute {
                call_ids: vec![leg.call_id.clone()],
            })
            .await;
        let Some(failure) = failure else { return };
        match &leg.purpose {
            Purpose::Agent { reservation, .. } => {
                if let Err(e) = self
                    .node
                    .acd
                    .failed(&self.record.unit, reservation, failure)
                    .await
                {
                    tracing::warn!(error = %e, "the ACD could not record a missed offer");
                }
            }
            Purpose::Forward => self
                .pending
                .push_back(FlowEvent::Forward(ForwardOutcome::Failed)),
        }
    }

    async fn cancel_leg(&mut self, index: usize, why: Cancelled) {
        let leg = &mut self.legs[index];
        if let (Some(tx), true) = (leg.tx, leg.is_ringing()) {
            leg.state = LegState::Cancelling;
            leg.cancelled = Some(why);
            self.node.sip.command(SipCommand::Cancel { tx }).await;
            // The 487 (or Timer B) ends the leg.
        }
    }

    /// Cancels the legs whose ring timeout passed.
    pub(super) async fn ring_timeouts(&mut self, now: Instant) {
        for i in 0..self.legs.len() {
            if self.legs[i].is_ringing() && self.legs[i].ring_deadline <= now {
                self.cancel_leg(i, Cancelled::RingTimeout).await;
            }
        }
    }

    /// Stops ringing the agent of a reservation the ACD took back.
    pub(super) async fn cancel_offer(&mut self, reservation: &str) {
        if let Some(index) = self
            .legs
            .iter()
            .position(|l| l.reservation() == Some(reservation))
        {
            self.cancel_leg(index, Cancelled::NotNeeded).await;
        }
    }

    /// Cancels agent legs whose reservations the ACD released.
    pub(super) async fn cancel_offers(&mut self, reservations: &[String]) {
        for reservation in reservations {
            self.cancel_offer(reservation).await;
        }
    }

    /// Ends every outgoing leg: BYE to the connected one, CANCEL to the rest.
    pub(super) async fn hang_up_legs(&mut self) {
        for i in 0..self.legs.len() {
            if self.legs[i].is_ringing() {
                self.cancel_leg(i, Cancelled::NotNeeded).await;
            }
        }
        if let Some(index) = self
            .legs
            .iter()
            .position(|l| l.state == LegState::Connected)
        {
            self.bye_leg(index).await;
            let leg = self.legs.remove(index);
            self.connected_leg_ended(leg, false).await;
        }
    }

    async fn connected_leg_ended(&mut self, leg: OutLeg, by_leg: bool) {
        self.node
            .sip
            .command(SipCommand::Unroute {
                call_ids: vec![leg.call_id.clone()],
            })
            .await;
        match leg.purpose {
            Purpose::Agent { id, .. } => {
                if let Err(e) = self
                    .node
                    .acd
                    .call_ended(&self.record.unit, &id, &self.record.call_id, by_leg)
                    .await
                {
                    tracing::warn!(error = %e, "the ACD could not record the end of a call");
                }
                if by_leg {
                    self.record.ended_by.get_or_insert_with(|| "agent".into());
                }
            }
            Purpose::Forward => {
                if by_leg {
                    self.record.ended_by.get_or_insert_with(|| "target".into());
                }
            }
        }
        if by_leg {
            self.pending.push_back(FlowEvent::BridgeEnded);
        }
    }

    /// An in-dialog request on an outgoing leg (its Call-ID is the leg's).
    pub(super) async fn on_leg_request(&mut self, tx: ServerTxId, request: Request) {
        let index = self.legs.iter().position(|l| {
            l.dialog.as_ref().is_some_and(|d| {
                headers::to_tag(&request).as_deref() == Some(&d.id().local_tag)
                    && headers::from_tag(&request).as_deref() == Some(&d.id().remote_tag)
            })
        });
        let Some(index) = index else {
            self.respond(tx, response_for(&request, 481, None)).await;
            return;
        };
        match request.method {
            Method::Bye => {
                self.respond(tx, response_for(&request, 200, None)).await;
                let leg = self.legs.remove(index);
                if leg.state == LegState::Connected {
                    self.connected_leg_ended(leg, true).await;
                } else {
                    self.leg_gone(leg, None).await;
                }
            }
            Method::Invite | Method::Update => {
                // Hold or resume from the agent's phone: answered with our
                // side unchanged; the relay follows its new address.
                let mut response = response_for(&request, 200, None);
                if let Ok(n) = sdp::parse(&request.body).and_then(|o| sdp::answer(&o, &CODECS)) {
                    let leg = &mut self.legs[index];
                    leg.latch.resignal(n.destination);
                    leg.format = Some(format_of(&n));
                    let local = LocalMedia {
                        address: self.node.settings.media_address(),
                        port: leg.port.port,
                        session_id: 1,
                        version: 2,
                    };
                    headers::set_body(
                        &mut response,
                        "application/sdp",
                        sdp::write_answer(&local, &n).into_bytes(),
                    );
                }
                self.respond(tx, response).await;
            }
            _ => self.respond(tx, response_for(&request, 200, None)).await,
        }
    }

    /// The tag whose DTMF code an agent keyed (`*<code>#`): on the call's
    /// record, once, and counted.
    fn tag_by_code(&mut self, code: &str) {
        let tag = self
            .unit
            .unit
            .document
            .tags
            .iter()
            .find(|t| t.code == code)
            .map(|t| t.name.clone());
        let Some(tag) = tag else {
            tracing::info!(unit = %self.unit.id(), code, "an agent keyed a code that is no tag");
            return;
        };
        if !self.record.tags.contains(&tag) {
            self.tag(tag);
        }
    }

    /// Puts a tag on the call's record, and counts it.
    pub(super) fn tag(&mut self, tag: String) {
        self.node
            .metrics
            .call_tags
            .get_or_create(&crate::metrics::UnitKind {
                unit: self.unit.id().to_string(),
                kind: tag.clone(),
            })
            .inc();
        self.record.tags.push(tag);
    }

    /// RTP from the connected leg goes to the caller.
    pub(super) fn on_other_rtp(&mut self, packet: &mut [u8], source: SocketAddr) {
        let node = Arc::clone(&self.node);
        let metrics = &node.metrics;
        let Some(index) = self
            .legs
            .iter()
            .position(|l| l.state == LegState::Connected)
        else {
            return;
        };
        let leg = &mut self.legs[index];
        let Some(format) = leg.format else {
            metrics.rtp_invalid.inc();
            return;
        };
        let Ok(parsed) = rtp::parse(packet) else {
            metrics.rtp_invalid.inc();
            return;
        };
        metrics.rtp_in.inc();
        leg.latch.on_packet_from(source);
        // An agent's keys are for the platform (tags), not the caller's ear.
        if matches!(leg.purpose, Purpose::Agent { .. })
            && format.classify(parsed.payload_type) == cc_media::relay::PacketKind::Event
        {
            if let Some(digit) = leg.dtmf.on_packet(parsed.timestamp, parsed.payload) {
                if let Some(code) = keyed_code(&mut leg.keyed, digit) {
                    self.tag_by_code(&code);
                }
            }
            return;
        }
        let offset = packet.len() - parsed.payload.len();
        if let Some(to) = self.caller.format {
            if translate(packet, offset, &format, &to) && self.send_to_caller(packet) {
                metrics.rtp_out.inc();
            }
        }
    }
}

/// An agent's keys, one at a time, in `keyed`: `*` starts a tag code, `#`
/// ends it (the code is returned); anything else outside a code is
/// ignored, and a code longer than 8 digits is dropped.
fn keyed_code(keyed: &mut String, digit: char) -> Option<String> {
    match digit {
        '*' => {
            keyed.clear();
            keyed.push('*');
            None
        }
        '#' if keyed.starts_with('*') => {
            let code = keyed[1..].to_string();
            keyed.clear();
            (!code.is_empty()).then_some(code)
        }
        d if keyed.starts_with('*') && d.is_ascii_digit() && keyed.len() <= 8 => {
            keyed.push(d);
            None
        }
        _ => {
            keyed.clear();
            None
        }
    }
}

#[cfg(test)]
mod keyed_tests {
    use super::keyed_code;

    fn keys(sequence: &str) -> Vec<String> {
        let mut keyed = String::new();
        sequence
            .chars()
            .filter_map(|d| keyed_code(&mut keyed, d))
            .collect()
    }

    #[test]
    fn a_code_is_star_digits_pound() {
        assert_eq!(keys("*1#"), ["1"]);
        assert_eq!(keys("*12#*3#"), ["12", "3"]);
        assert_eq!(keys("1#"), Vec::<String>::new(), "no star");
        assert_eq!(keys("*#"), Vec::<String>::new(), "empty");
        assert_eq!(keys("*1*2#"), ["2"], "a star starts over");
        assert_eq!(keys("*123456789#"), Vec::<String>::new(), "too long");
        assert_eq!(keys("*1A#*2#"), ["2"]);
    }
}
