//! One task per call: the caller's leg (we are its UAS), at most one outgoing
//! leg (an agent offered the call, or a forward target; we are its UAC), the
//! unit's flow, and the media between them.
//!
//! The task is glue between pure cores: SIP dialogs ([`cc_sip::Dialog`]),
//! SDP ([`cc_sip::sdp`]), the flow interpreter ([`cc_flow::FlowRun`]) and the
//! media pieces ([`cc_media`]). It owns the call's RTP sockets and relays
//! between them; prompts go out through the node's pacer thread.
//!
//! The life of a call:
//! 1. [`start`] (in the SIP driver): the number names a unit, the SDP offer
//!    has a codec we speak, an RTP port is free; otherwise 404, 488 or 503.
//! 2. The task answers (after the unit's answer delay, with 180 meanwhile)
//!    and runs the flow; a CANCEL before the answer ends it with 487.
//! 3. The flow's actions play prompts, queue, record, forward; its events
//!    come from the pacer, the caller's RTP (RFC 4733 digits), the ACD and
//!    the outgoing leg.
//! 4. Whatever ends the call (BYE either side, the flow, dead media, a
//!    missing ACK), the task tears both legs down, leaves the queue, and
//!    writes the call's record.

mod routing;
mod voicemail;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cc_flow::{Action, FlowEvent, FlowRun, ForwardOutcome, Outcome, QueueOutcome};
use cc_media::dtmf::DtmfDetector;
use cc_media::recorder::Recorder;
use cc_media::relay::{translate, LegFormat, Latch, PacketKind};
use cc_media::rtp::{self, RtpSender};
use cc_media::Law;
use cc_sip::dialog::NewRequest;
use cc_sip::headers::{self, response_for};
use cc_sip::msg::{HeadersExt, Method, Request, Response};
use cc_sip::sdp::{self, Codec, Direction, LocalMedia, Negotiated};
use cc_sip::{ClientTxId, Dialog, Event, Peer, ServerTxId, Transport};
use chrono::Utc;
use tokio::sync::mpsc;

use crate::acd::{queue_key, AcdCommand};
use crate::media::engine::{LegId, MediaCommand, PlaybackDone};
use crate::media::ports::RtpPort;
use crate::metrics::{UnitKind, UnitLabel, UnitOutcome, WaitLabels};
use crate::node::Node;
use crate::records::CallRecord;
use crate::sip::SipCommand;
use crate::units::UnitRuntime;

pub use routing::resolve;

/// What reaches a call task.
#[derive(Debug)]
pub enum CallInput {
    /// A SIP event for one of the call's legs.
    Sip(Event),
    /// The ACD offers the caller to an agent (`unit/agent`).
    Offer { agent: String, ring_timeout: Duration },
    /// The caller waited as long as the queue allows.
    QueueTimeout,
}

/// A call task's inbox.
pub type CallSender = mpsc::Sender<CallInput>;

/// Events a call takes in before it must have handled them: a call gets a
/// handful of SIP events and offers in its life, so a full inbox means a
/// flood, which is dropped.
const INBOX: usize = 32;

const CODECS: [Codec; 2] = [Codec::Pcmu, Codec::Pcma];

fn law_of(codec: Codec) -> Law {
    match codec {
        Codec::Pcmu => Law::Mu,
        Codec::Pcma => Law::A,
    }
}

fn format_of(n: &Negotiated) -> LegFormat {
    LegFormat {
        law: law_of(n.codec),
        payload_type: n.payload_type,
        dtmf_payload_type: n.dtmf_payload_type,
    }
}

/// Admits a new INVITE and starts its task, or returns the status to refuse
/// it with.
pub fn start(node: Arc<Node>, tx: ServerTxId, invite: Request, source: Peer) -> Result<CallSender, u16> {
    let number = invite
        .uri
        .user()
        .map(str::to_string)
        .or_else(|| invite.to_header().ok().and_then(|t| t.uri().ok()).and_then(|u| u.user().map(str::to_string)))
        .unwrap_or_default();
    let Some(unit) = node.directory.by_number(&number).cloned() else {
        return Err(404);
    };
    let call_id = headers::call_id(&invite).unwrap_or_default();
    let caller_uri = invite
        .from_header()
        .ok()
        .and_then(|f| headers::first_uri(f.value()).map(str::to_string))
        .unwrap_or_default();
    let record = CallRecord {
        call_id: call_id.clone(),
        node: node.settings.node.name.clone(),
        unit: unit.id().to_string(),
        number: number.clone(),
        caller: caller_uri,
        started_at: Utc::now(),
        answered_at: None,
        ended_at: None,
        path: Vec::new(),
        queue: None,
        queue_wait_ms: None,
        agent: None,
        target: None,
        outcome: Outcome::Failed.as_str().into(),
        tags: Vec::new(),
        ended_by: None,
        voicemail: None,
        sip_status: None,
    };
    let refuse = |status: u16, mut record: CallRecord| {
        record.ended_at = Some(Utc::now());
        record.sip_status = Some(status);
        record.ended_by = Some("node".into());
        node.metrics
            .calls
            .get_or_create(&UnitOutcome {
                unit: record.unit.clone(),
                outcome: Outcome::Failed.as_str().into(),
            })
            .inc();
        node.records.write(record);
        Err(status)
    };

    let offer = if invite.body.is_empty() {
        None
    } else {
        match sdp::parse(&invite.body) {
            Ok(offer) => Some(offer),
            Err(_) => return refuse(488, record),
        }
    };
    let negotiated = match &offer {
        Some(offer) => match sdp::answer(offer, &CODECS) {
            Ok(n) => Some(n),
            Err(_) => return refuse(488, record),
        },
        None => None,
    };
    let Some(port) = node.ports.allocate() else {
        return refuse(503, record);
    };

    let (me, inbox) = mpsc::channel(INBOX);
    let (media_done_tx, media_done) = mpsc::unbounded_channel();
    let local_tag = node.tag();
    let leg = node.random();
    let flow = FlowRun::new(Arc::clone(&unit.unit));
    let now = Instant::now();
    let caller = CallerLeg {
        latch: Latch::new(negotiated.as_ref().and_then(|n| n.destination)),
        format: negotiated.as_ref().map(format_of),
        negotiated,
        invite,
        tx,
        source,
        local_tag,
        dialog: None,
        port,
        leg,
        dtmf: DtmfDetector::new(),
        last_rtp: now,
        session_id: node.random() >> 1,
        sdp_version: 1,
        answered: false,
        offered_late: offer.is_none(),
        held: false,
        final_sent: false,
    };
    node.call_started();
    node.metrics.calls_active.get_or_create(&UnitLabel { unit: unit.id().into() }).inc();
    let max_call = now + Duration::from_secs(node.settings.limits.max_call_s);
    let call = Call {
        node,
        unit,
        inbox,
        me: me.clone(),
        media_done,
        media_done_tx,
        caller,
        other: None,
        flow,
        flow_timer: None,
        answer_at: None,
        recording: None,
        queue: None,
        record,
        max_call,
        pending: VecDeque::new(),
        caller_gone: false,
        done: false,
    };
    tokio::spawn(call.run());
    Ok(me)
}

struct CallerLeg {
    invite: Request,
    tx: ServerTxId,
    source: Peer,
    local_tag: String,
    dialog: Option<Dialog>,
    port: RtpPort,
    leg: LegId,
    negotiated: Option<Negotiated>,
    format: Option<LegFormat>,
    latch: Latch,
    dtmf: DtmfDetector,
    last_rtp: Instant,
    session_id: u64,
    sdp_version: u64,
    answered: bool,
    /// The INVITE had no SDP: our 200 carries the offer, the ACK the answer.
    offered_late: bool,
    /// The caller holds the call (sendonly/inactive): no media expected.
    held: bool,
    /// A final response went to the INVITE (200, or 487 after CANCEL).
    final_sent: bool,
}

#[derive(Clone, Debug, PartialEq)]
enum Purpose {
    Agent { key: String, id: String, queue: String },
    Forward { target: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OtherState {
    Trying,
    Ringing,
    Cancelling,
    Connected,
}

struct OtherLeg {
    purpose: Purpose,
    call_id: String,
    invite: Request,
    tx: Option<ClientTxId>,
    peer: Peer,
    port: RtpPort,
    dialog: Option<Dialog>,
    format: Option<LegFormat>,
    latch: Latch,
    state: OtherState,
    ring_deadline: Instant,
}

struct Queued {
    key: String,
    name: String,
    joined_at: Instant,
    offered_to: Option<String>,
}

struct Call {
    node: Arc<Node>,
    unit: Arc<UnitRuntime>,
    inbox: mpsc::Receiver<CallInput>,
    me: CallSender,
    media_done: mpsc::UnboundedReceiver<PlaybackDone>,
    media_done_tx: mpsc::UnboundedSender<PlaybackDone>,
    caller: CallerLeg,
    other: Option<OtherLeg>,
    flow: FlowRun,
    flow_timer: Option<(Instant, u64)>,
    answer_at: Option<Instant>,
    recording: Option<(Recorder, Instant)>,
    queue: Option<Queued>,
    record: CallRecord,
    max_call: Instant,
    /// Flow events produced while carrying out actions, fed back in order.
    pending: VecDeque<FlowEvent>,
    /// The caller hung up (or their media died): a queue left now was abandoned.
    caller_gone: bool,
    done: bool,
}

async fn sleep_until(at: Instant) {
    tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await
}

impl Call {
    async fn run(mut self) {
        let delay = self.unit.unit.document.answer_delay;
        if delay.is_zero() {
            self.answer().await;
        } else {
            self.ring().await;
            self.answer_at = Some(Instant::now() + delay);
        }
        let mut caller_buffer = [0u8; rtp::MAX_PACKET];
        let mut other_buffer = [0u8; rtp::MAX_PACKET];
        while !self.done {
            let caller_socket = Arc::clone(&self.caller.port.socket);
            let other_socket = self.other.as_ref().map(|o| Arc::clone(&o.port.socket));
            let deadline = self.next_deadline();
            tokio::select! {
                input = self.inbox.recv() => match input {
                    Some(input) => self.on_input(input).await,
                    None => self.done = true,
                },
                Some(done) = self.media_done.recv() => {
                    if done.leg == self.caller.leg {
                        self.pending.push_back(FlowEvent::PlaybackDone { token: done.token });
                    }
                }
                received = caller_socket.recv_from(&mut caller_buffer) => {
                    if let Ok((length, source)) = received {
                        self.on_caller_rtp(&mut caller_buffer[..length], source);
                    }
                }
                received = recv_other(other_socket.as_deref(), &mut other_buffer) => {
                    if let Some((length, source)) = received {
                        self.on_other_rtp(&mut other_buffer[..length], source);
                    }
                }
                _ = sleep_until(deadline) => self.on_timer().await,
            }
            self.drain_flow().await;
        }
        self.finish().await;
    }

    fn next_deadline(&self) -> Instant {
        let mut deadline = self.max_call;
        let mut consider = |at: Option<Instant>| {
            if let Some(at) = at {
                deadline = deadline.min(at);
            }
        };
        consider(self.flow_timer.map(|(at, _)| at));
        consider(self.answer_at);
        consider(self.recording.as_ref().map(|(_, at)| *at));
        consider(self.other.as_ref().filter(|o| matches!(o.state, OtherState::Trying | OtherState::Ringing)).map(|o| o.ring_deadline));
        if self.caller.answered && !self.caller.held {
            consider(Some(self.caller.last_rtp + self.rtp_timeout()));
        }
        deadline
    }

    fn rtp_timeout(&self) -> Duration {
        Duration::from_secs(self.node.settings.media.rtp_timeout_s)
    }

    async fn on_timer(&mut self) {
        let now = Instant::now();
        if self.answer_at.is_some_and(|at| at <= now) {
            self.answer_at = None;
            self.answer().await;
        }
        if let Some((at, token)) = self.flow_timer {
            if at <= now {
                self.flow_timer = None;
                self.pending.push_back(FlowEvent::TimerFired { token });
            }
        }
        if self.recording.as_ref().is_some_and(|(_, at)| *at <= now) {
            self.end_recording().await;
        }
        if let Some(other) = &self.other {
            if matches!(other.state, OtherState::Trying | OtherState::Ringing) && other.ring_deadline <= now {
                self.cancel_other().await;
            }
        }
        if self.caller.answered && !self.caller.held && self.caller.last_rtp + self.rtp_timeout() <= now {
            tracing::info!(call = %self.record.call_id, "no RTP from the caller: ending the call as dead");
            self.record.ended_by = Some("rtp_timeout".into());
            self.hang_up_caller().await;
            self.caller_hung_up();
        }
        if self.max_call <= now {
            self.record.ended_by = Some("max_duration".into());
            self.hang_up_caller().await;
            self.caller_hung_up();
        }
    }

    /// Feeds queued flow events to the interpreter and carries out what it
    /// asks, until nothing is left.
    async fn drain_flow(&mut self) {
        while let Some(event) = self.pending.pop_front() {
            let actions = self.flow.handle(Utc::now(), event);
            self.apply(actions).await;
        }
    }

    async fn apply(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::EnterStep { name, kind } => {
                    self.record.path.push(name);
                    self.node
                        .metrics
                        .flow_steps
                        .get_or_create(&UnitKind {
                            unit: self.unit.id().into(),
                            kind: kind.into(),
                        })
                        .inc();
                }
                Action::Play { token, prompts } => self.play(token, &prompts),
                Action::StopPlayback => self.node.media.send(MediaCommand::Stop { leg: self.caller.leg }),
                Action::StartTimer { token, after } => self.flow_timer = Some((Instant::now() + after, token)),
                Action::Enqueue { queue } => self.enqueue(&queue).await,
                Action::LeaveQueue => {
                    let outcome = if self.caller_gone { "abandoned" } else { "left" };
                    self.leave_queue(outcome).await
                }
                Action::Record { max_duration } => {
                    self.recording = Some((Recorder::new(max_duration), Instant::now() + max_duration));
                }
                Action::StopRecording => self.end_recording().await,
                Action::Forward { target, timeout } => self.forward(&target, timeout).await,
                Action::Tag(tag) => self.record.tags.push(tag),
                Action::Hangup => {
                    self.record.ended_by.get_or_insert_with(|| "node".into());
                    self.hang_up_other().await;
                    self.hang_up_caller().await;
                }
                Action::Finished { outcome } => {
                    self.record.outcome = outcome.as_str().into();
                    self.done = true;
                }
            }
        }
    }

    // ----- the caller's leg -----

    async fn respond(&self, tx: ServerTxId, response: Response) {
        self.node.sip.command(SipCommand::Respond { tx, response }).await;
    }

    fn contact(&self, transport: Transport) -> String {
        let settings = &self.node.settings;
        format!(
            "sip:{}@{}:{};transport={}",
            self.record.number,
            settings.sip_host(),
            settings.sip.listen.port(),
            transport.via_token().to_ascii_lowercase()
        )
    }

    fn local_media(&mut self) -> LocalMedia {
        self.caller.sdp_version += 1;
        LocalMedia {
            address: self.node.settings.media_address(),
            port: self.caller.port.port,
            session_id: self.caller.session_id,
            version: self.caller.sdp_version,
        }
    }

    async fn ring(&self) {
        let response = response_for(&self.caller.invite, 180, Some(&self.caller.local_tag));
        self.respond(self.caller.tx, response).await;
    }

    async fn answer(&mut self) {
        if self.caller.answered || self.done {
            return;
        }
        let local = self.local_media();
        let body = match &self.caller.negotiated {
            Some(n) => sdp::write_answer(&local, n),
            None => sdp::write_offer(&local, &CODECS, Direction::SendRecv),
        };
        let contact = self.contact(self.caller.source.transport);
        let mut response = response_for(&self.caller.invite, 200, Some(&self.caller.local_tag));
        headers::push(&mut response.headers, "Contact", format!("<{contact}>"));
        headers::push(&mut response.headers, "Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE");
        headers::set_body(&mut response, "application/sdp", body.into_bytes());
        self.respond(self.caller.tx, response).await;
        self.caller.final_sent = true;
        match Dialog::uas(&self.caller.invite, &self.caller.local_tag, &contact) {
            Ok(dialog) => self.caller.dialog = Some(dialog),
            Err(e) => tracing::warn!(error = %e, "caller dialog"),
        }
        self.caller.answered = true;
        self.caller.last_rtp = Instant::now();
        self.record.answered_at = Some(Utc::now());
        if !self.caller.offered_late {
            self.open_caller_media();
            let actions = self.flow.start(Utc::now());
            self.apply(actions).await;
        }
    }

    fn open_caller_media(&mut self) {
        let Some(n) = &self.caller.negotiated else { return };
        let format = format_of(n);
        self.caller.format = Some(format);
        // Held: the caller sends us nothing (our side does not receive).
        self.caller.held = !n.direction.receives();
        let sender = RtpSender::new(self.node.random() as u32, self.node.random() as u16, self.node.random() as u32);
        self.node.media.send(MediaCommand::Open {
            leg: self.caller.leg,
            socket: Arc::clone(&self.caller.port.sender),
            destination: self.caller.latch.destination(),
            law: format.law,
            payload_type: format.payload_type,
            sender,
            done: self.media_done_tx.clone(),
        });
        self.node.media.send(MediaCommand::Mute {
            leg: self.caller.leg,
            muted: !n.may_send(),
        });
    }

    async fn hang_up_caller(&mut self) {
        if !self.caller.answered {
            return;
        }
        let Some(mut dialog) = self.caller.dialog.take() else { return };
        self.caller.answered = false;
        self.node.media.send(MediaCommand::Stop { leg: self.caller.leg });
        if let Ok(bye) = dialog.request(Method::Bye) {
            let peer = self.caller_next_hop_for(&dialog).await;
            let _ = self.node.sip.request(bye, peer, self.me.clone()).await;
        }
    }

    /// Where in-dialog requests to the caller go: the first route, or the
    /// address the INVITE came from (which reaches a phone behind NAT where
    /// its Contact may not).
    async fn caller_next_hop_for(&self, dialog: &Dialog) -> Peer {
        if !dialog.route_set().is_empty() {
            if let Some(peer) = resolve(dialog.next_hop()).await {
                return peer;
            }
        }
        self.caller.source
    }

    fn play(&mut self, token: u64, prompts: &[String]) {
        let law = self.caller.format.map(|f| f.law).unwrap_or(Law::Mu);
        let items: Vec<Arc<[u8]>> = prompts
            .iter()
            .filter_map(|name| self.unit.prompt(name))
            .map(|p| Arc::clone(p.encoded(law)))
            .collect();
        if items.is_empty() {
            self.pending.push_back(FlowEvent::PlaybackDone { token });
            return;
        }
        self.node.media.send(MediaCommand::Play {
            leg: self.caller.leg,
            items,
            looping: false,
            token,
        });
    }

    fn on_caller_rtp(&mut self, packet: &mut [u8], source: SocketAddr) {
        let node = Arc::clone(&self.node);
        let metrics = &node.metrics;
        let (Some(format), true) = (self.caller.format, self.caller.answered) else {
            metrics.rtp_invalid.inc();
            return;
        };
        let parsed = match rtp::parse(packet) {
            Ok(p) => p,
            Err(_) => {
                metrics.rtp_invalid.inc();
                return;
            }
        };
        metrics.rtp_in.inc();
        self.caller.last_rtp = Instant::now();
        if self.caller.latch.on_packet_from(source) {
            self.node.media.send(MediaCommand::Destination {
                leg: self.caller.leg,
                destination: Some(source),
            });
        }
        let kind = format.classify(parsed.payload_type);
        let bridged = self.other.as_ref().is_some_and(|o| o.state == OtherState::Connected);
        match kind {
            PacketKind::Event if !bridged => {
                if let Some(digit) = self.caller.dtmf.on_packet(parsed.timestamp, parsed.payload) {
                    self.on_digit(digit);
                }
            }
            PacketKind::Audio => {
                if let Some((recorder, _)) = &mut self.recording {
                    recorder.on_packet(parsed.ssrc, parsed.timestamp, parsed.payload, format.law);
                }
            }
            _ => {}
        }
        if bridged {
            let offset = packet.len() - parsed.payload.len();
            if let Some(other) = &self.other {
                if let (Some(to), Some(destination)) = (other.format, other.latch.destination()) {
                    if translate(packet, offset, &format, &to) && other.port.socket.try_send_to(packet, destination).is_ok() {
                        metrics.rtp_out.inc();
                    }
                }
            }
        }
    }

    fn on_digit(&mut self, digit: char) {
        self.node.metrics.dtmf.get_or_create(&UnitLabel { unit: self.unit.id().into() }).inc();
        self.pending.push_back(FlowEvent::Digit(digit));
    }

    fn on_other_rtp(&mut self, packet: &mut [u8], source: SocketAddr) {
        let metrics = &self.node.metrics;
        let Some(other) = &mut self.other else { return };
        let (Some(format), OtherState::Connected) = (other.format, other.state) else {
            metrics.rtp_invalid.inc();
            return;
        };
        let Ok(parsed) = rtp::parse(packet) else {
            metrics.rtp_invalid.inc();
            return;
        };
        metrics.rtp_in.inc();
        other.latch.on_packet_from(source);
        let offset = packet.len() - parsed.payload.len();
        if let (Some(to), Some(destination)) = (self.caller.format, self.caller.latch.destination()) {
            let muted = self.caller.negotiated.as_ref().is_some_and(|n| !n.may_send());
            if !muted && translate(packet, offset, &format, &to) && self.caller.port.socket.try_send_to(packet, destination).is_ok() {
                metrics.rtp_out.inc();
            }
        }
    }

    // ----- SIP events -----

    async fn on_input(&mut self, input: CallInput) {
        match input {
            CallInput::Sip(event) => self.on_sip(event).await,
            CallInput::Offer { agent, ring_timeout } => self.on_offer(agent, ring_timeout).await,
            CallInput::QueueTimeout => {
                if self.queue.is_some() {
                    self.observe_wait("timeout");
                    self.queue = None;
                    self.node.media.send(MediaCommand::Stop { leg: self.caller.leg });
                    self.pending.push_back(FlowEvent::Queue(QueueOutcome::Timeout));
                }
            }
        }
    }

    async fn on_sip(&mut self, event: Event) {
        match event {
            Event::Request { tx, request, source } => {
                let call_id = headers::call_id(&request).unwrap_or_default();
                if call_id == self.record.call_id {
                    self.on_caller_request(tx, request, source).await;
                } else {
                    self.on_other_request(tx, request).await;
                }
            }
            Event::Ack { request, .. } => {
                if self.caller.offered_late && self.caller.format.is_none() {
                    self.on_late_answer(&request).await;
                }
            }
            Event::Cancelled { .. } => {
                self.caller.final_sent = true;
                if !self.caller.answered {
                    self.record.ended_by = Some("cancel".into());
                    self.record.outcome = Outcome::Abandoned.as_str().into();
                    self.record.sip_status = Some(487);
                    self.answer_at = None;
                    self.done = true;
                }
            }
            Event::AckTimeout { call_id, .. } => {
                if call_id == self.record.call_id {
                    self.record.ended_by = Some("no_ack".into());
                    self.hang_up_caller().await;
                    self.caller_hung_up();
                    if !self.flow_started() {
                        self.done = true;
                    }
                }
            }
            Event::Response { tx, response } => self.on_response(tx, response).await,
            Event::Timeout { tx, .. } => {
                if self.other.as_ref().and_then(|o| o.tx) == Some(tx) {
                    self.other_failed().await;
                }
            }
        }
    }

    fn caller_hung_up(&mut self) {
        self.caller_gone = true;
        self.pending.push_back(FlowEvent::CallerHungUp);
    }

    fn flow_started(&self) -> bool {
        !self.record.path.is_empty()
    }

    async fn on_late_answer(&mut self, ack: &Request) {
        let negotiated = sdp::parse(&ack.body).ok().and_then(|s| sdp::accept_answer(&s, &CODECS).ok());
        match negotiated {
            Some(n) => {
                self.caller.latch = Latch::new(n.destination);
                self.caller.negotiated = Some(n);
                self.open_caller_media();
                let actions = self.flow.start(Utc::now());
                self.apply(actions).await;
            }
            None => {
                self.record.ended_by = Some("node".into());
                self.hang_up_caller().await;
                self.done = true;
            }
        }
    }

    async fn on_caller_request(&mut self, tx: ServerTxId, request: Request, source: Peer) {
        let Some(dialog) = self.caller.dialog.as_mut() else {
            let response = response_for(&request, 481, None);
            self.respond(tx, response).await;
            return;
        };
        if !dialog.matches(&request) {
            self.respond(tx, response_for(&request, 481, None)).await;
            return;
        }
        if let Err(status) = dialog.on_request(&request) {
            self.respond(tx, response_for(&request, status, None)).await;
            return;
        }
        let _ = source;
        match request.method {
            Method::Bye => {
                self.respond(tx, response_for(&request, 200, None)).await;
                self.record.ended_by.get_or_insert_with(|| "caller".into());
                self.caller.answered = false;
                self.caller.dialog = None;
                self.node.media.send(MediaCommand::Stop { leg: self.caller.leg });
                self.caller_hung_up();
                self.hang_up_other().await;
            }
            Method::Invite | Method::Update => self.on_caller_reinvite(tx, request).await,
            Method::Info => {
                let digit = dtmf_relay_digit(&request);
                self.respond(tx, response_for(&request, 200, None)).await;
                if let Some(digit) = digit {
                    self.on_digit(digit);
                }
            }
            _ => self.respond(tx, response_for(&request, 200, None)).await,
        }
    }

    /// A re-INVITE or UPDATE from the caller: hold, resume, or a new address.
    /// Answered here; the agent's leg keeps its own session.
    async fn on_caller_reinvite(&mut self, tx: ServerTxId, request: Request) {
        let mut response = response_for(&request, 200, None);
        if !request.body.is_empty() {
            let negotiated = sdp::parse(&request.body).map_err(|_| 488).and_then(|offer| {
                sdp::answer(&offer, &CODECS).map_err(|_| 488)
            });
            match negotiated {
                Ok(n) => {
                    self.caller.latch.resignal(n.destination);
                    self.caller.held = !n.direction.receives();
                    self.node.media.send(MediaCommand::Destination {
                        leg: self.caller.leg,
                        destination: self.caller.latch.destination(),
                    });
                    self.node.media.send(MediaCommand::Mute {
                        leg: self.caller.leg,
                        muted: !n.may_send(),
                    });
                    self.caller.format = Some(format_of(&n));
                    self.caller.negotiated = Some(n.clone());
                    self.caller.last_rtp = Instant::now();
                    let local = self.local_media();
                    headers::set_body(&mut response, "application/sdp", sdp::write_answer(&local, &n).into_bytes());
                }
                Err(status) => {
                    self.respond(tx, response_for(&request, status, None)).await;
                    return;
                }
            }
        }
        if request.method == Method::Invite {
            let contact = self.contact(self.caller.source.transport);
            headers::push(&mut response.headers, "Contact", format!("<{contact}>"));
        }
        self.respond(tx, response).await;
    }

    // ----- queue -----

    async fn enqueue(&mut self, name: &str) {
        let key = queue_key(self.unit.id(), name);
        self.record.queue = Some(name.to_string());
        match self.node.acd.join(&self.record.call_id, &key, self.me.clone()).await {
            Ok(_) => {
                self.queue = Some(Queued {
                    key,
                    name: name.to_string(),
                    joined_at: Instant::now(),
                    offered_to: None,
                });
                self.music_on_hold(name);
            }
            Err(cc_acd::JoinError::NoAgents) => self.pending.push_back(FlowEvent::Queue(QueueOutcome::NoAgents)),
            Err(_) => self.pending.push_back(FlowEvent::Queue(QueueOutcome::Failed)),
        }
    }

    fn music_on_hold(&mut self, queue: &str) {
        let law = self.caller.format.map(|f| f.law).unwrap_or(Law::Mu);
        let moh = self
            .unit
            .unit
            .document
            .queues
            .get(queue)
            .and_then(|q| q.music_on_hold.as_deref())
            .and_then(|p| self.unit.prompt(p));
        if let Some(prompt) = moh {
            self.node.media.send(MediaCommand::Play {
                leg: self.caller.leg,
                items: vec![Arc::clone(prompt.encoded(law))],
                looping: true,
                token: 0,
            });
        }
    }

    fn observe_wait(&mut self, outcome: &str) {
        if let Some(queued) = &self.queue {
            let waited = queued.joined_at.elapsed();
            self.record.queue_wait_ms = Some(waited.as_millis() as u64);
            self.node
                .metrics
                .queue_wait
                .get_or_create(&WaitLabels {
                    unit: self.unit.id().into(),
                    queue: queued.name.clone(),
                    outcome: outcome.into(),
                })
                .observe(waited.as_secs_f64());
        }
    }

    async fn leave_queue(&mut self, outcome: &str) {
        if self.queue.is_none() {
            return;
        }
        self.observe_wait(outcome);
        self.queue = None;
        self.node.acd.send(AcdCommand::Leave { call: self.record.call_id.clone() }).await;
        self.node.media.send(MediaCommand::Stop { leg: self.caller.leg });
        if matches!(self.other.as_ref().map(|o| &o.purpose), Some(Purpose::Agent { .. })) {
            self.cancel_other().await;
        }
    }

    async fn on_offer(&mut self, agent_key_value: String, ring_timeout: Duration) {
        let Some(queued) = &self.queue else {
            self.node.acd.send(AcdCommand::Leave { call: self.record.call_id.clone() }).await;
            return;
        };
        let queue = queued.key.clone();
        let agent_id = agent_key_value.split_once('/').map(|(_, a)| a.to_string()).unwrap_or_default();
        let uri = self
            .unit
            .unit
            .document
            .agents
            .iter()
            .find(|a| a.id == agent_id)
            .map(|a| a.uri.clone());
        let purpose = Purpose::Agent {
            key: agent_key_value.clone(),
            id: agent_id,
            queue,
        };
        let started = match (uri, self.other.is_none()) {
            (Some(uri), true) => self.originate(&uri, ring_timeout, purpose).await,
            _ => false,
        };
        if started {
            if let Some(q) = &mut self.queue {
                q.offered_to = Some(agent_key_value);
            }
        } else {
            self.node
                .acd
                .send(AcdCommand::NotAnswered {
                    call: self.record.call_id.clone(),
                    agent: agent_key_value,
                })
                .await;
        }
    }

    // ----- the outgoing leg -----

    async fn forward(&mut self, target: &str, timeout: Duration) {
        let uri = if target.starts_with("sip:") {
            Some(target.to_string())
        } else {
            let gateway = &self.node.settings.sip.extension_gateway;
            (!gateway.is_empty()).then(|| format!("sip:{target}@{gateway}"))
        };
        self.record.target = Some(target.to_string());
        let started = match uri {
            Some(uri) => {
                self.originate(
                    &uri,
                    timeout,
                    Purpose::Forward {
                        target: target.to_string(),
                    },
                )
                .await
            }
            None => false,
        };
        if !started {
            self.pending.push_back(FlowEvent::Forward(ForwardOutcome::Failed));
        }
    }

    /// Sends the INVITE of the outgoing leg. False when it cannot even start
    /// (no route, no port).
    async fn originate(&mut self, uri: &str, ring_timeout: Duration, purpose: Purpose) -> bool {
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
            _ => vec![Codec::Pcmu, Codec::Pcma],
        };
        let local = LocalMedia {
            address: settings.media_address(),
            port: port.port,
            session_id: self.node.random() >> 1,
            version: 1,
        };
        headers::set_body(&mut invite, "application/sdp", sdp::write_offer(&local, &codecs, Direction::SendRecv).into_bytes());
        self.node
            .sip
            .command(SipCommand::Route {
                call_id: call_id.clone(),
                owner: self.me.clone(),
            })
            .await;
        let tx = self.node.sip.request(invite.clone(), peer, self.me.clone()).await.ok();
        if tx.is_none() {
            return false;
        }
        self.other = Some(OtherLeg {
            purpose,
            call_id,
            invite,
            tx,
            peer,
            port,
            dialog: None,
            format: None,
            latch: Latch::new(None),
            state: OtherState::Trying,
            ring_deadline: Instant::now() + ring_timeout,
        });
        true
    }

    async fn on_response(&mut self, tx: ClientTxId, response: Response) {
        let Some(other) = &mut self.other else { return };
        if other.tx != Some(tx) {
            return;
        }
        let status = response.status_code.code();
        match status {
            100 => {}
            101..=199 => {
                if other.state == OtherState::Trying {
                    other.state = OtherState::Ringing;
                }
            }
            200..=299 => self.on_other_answered(tx, response).await,
            _ => self.other_failed().await,
        }
    }

    async fn on_other_answered(&mut self, tx: ClientTxId, response: Response) {
        let Some(other) = &mut self.other else { return };
        let dialog = match Dialog::uac(&other.invite, &response) {
            Ok(d) => d,
            Err(e) => {
                tracing::info!(error = %e, "a 2xx that makes no dialog");
                return;
            }
        };
        if other.dialog.is_some() {
            // A second 2xx: a retransmission the endpoint did not absorb, or
            // another fork. Acknowledge it; a second dialog is ended.
            if other.dialog.as_ref().map(|d| d.id()) != Some(dialog.id()) {
                let mut extra = dialog.clone();
                if let Ok(ack) = extra.ack(1) {
                    let peer = next_hop(&extra, other.peer).await;
                    self.node.sip.command(SipCommand::Ack { invite_tx: tx, ack, peer }).await;
                }
                if let Ok(bye) = extra.request(Method::Bye) {
                    let peer = next_hop(&extra, other.peer).await;
                    let _ = self.node.sip.request(bye, peer, self.me.clone()).await;
                }
            }
            return;
        }
        let peer = next_hop(&dialog, other.peer).await;
        if let Ok(ack) = dialog.ack(1) {
            self.node.sip.command(SipCommand::Ack { invite_tx: tx, ack, peer }).await;
        }
        let cancelled = other.state == OtherState::Cancelling;
        let negotiated = sdp::parse(&response.body).ok().and_then(|s| sdp::accept_answer(&s, &CODECS).ok());
        other.dialog = Some(dialog);
        let Some(negotiated) = negotiated.filter(|_| !cancelled) else {
            // Answered after our CANCEL crossed it, or with an SDP we cannot
            // use: end that leg at once.
            self.hang_up_other().await;
            self.other_failed().await;
            return;
        };
        other.format = Some(format_of(&negotiated));
        other.latch = Latch::new(negotiated.destination);
        other.state = OtherState::Connected;
        let purpose = other.purpose.clone();
        // The caller stops hearing music on hold and hears the other party.
        self.node.media.send(MediaCommand::Stop { leg: self.caller.leg });
        match purpose {
            Purpose::Agent { key, id, .. } => {
                self.observe_wait("answered");
                self.queue = None;
                self.record.agent = Some(id.clone());
                self.node
                    .acd
                    .send(AcdCommand::Answered {
                        call: self.record.call_id.clone(),
                        agent: key,
                    })
                    .await;
                self.pending.push_back(FlowEvent::Queue(QueueOutcome::Answered { agent: id }));
            }
            Purpose::Forward { .. } => self.pending.push_back(FlowEvent::Forward(ForwardOutcome::Answered)),
        }
    }

    /// The outgoing leg failed before being connected (no answer, busy,
    /// refused, unreachable, or cancelled by its ring timeout).
    async fn other_failed(&mut self) {
        let Some(other) = self.other.take() else { return };
        if other.state == OtherState::Connected {
            self.other = Some(other);
            return;
        }
        self.node.sip.command(SipCommand::Unroute { call_ids: vec![other.call_id.clone()] }).await;
        match other.purpose {
            Purpose::Agent { key, .. } => {
                if let Some(q) = &mut self.queue {
                    q.offered_to = None;
                }
                self.node
                    .acd
                    .send(AcdCommand::NotAnswered {
                        call: self.record.call_id.clone(),
                        agent: key,
                    })
                    .await;
            }
            Purpose::Forward { .. } => self.pending.push_back(FlowEvent::Forward(ForwardOutcome::Failed)),
        }
    }

    async fn cancel_other(&mut self) {
        let Some(other) = &mut self.other else { return };
        if let (Some(tx), OtherState::Trying | OtherState::Ringing) = (other.tx, other.state) {
            other.state = OtherState::Cancelling;
            self.node.sip.command(SipCommand::Cancel { tx }).await;
            // The 487 ends the leg; if it never comes, Timer B does.
        }
    }

    async fn hang_up_other(&mut self) {
        let Some(other) = &mut self.other else { return };
        match other.state {
            OtherState::Trying | OtherState::Ringing => {
                if let Some(tx) = other.tx {
                    other.state = OtherState::Cancelling;
                    self.node.sip.command(SipCommand::Cancel { tx }).await;
                }
            }
            OtherState::Connected | OtherState::Cancelling => {
                if let Some(dialog) = other.dialog.as_mut() {
                    if let Ok(bye) = dialog.request(Method::Bye) {
                        let fallback = other.peer;
                        let dialog = dialog.clone();
                        let peer = next_hop(&dialog, fallback).await;
                        let _ = self.node.sip.request(bye, peer, self.me.clone()).await;
                    }
                }
                let other = self.other.take();
                if let Some(Purpose::Agent { key, queue, .. }) = other.map(|o| o.purpose) {
                    self.node.acd.send(AcdCommand::CallEnded { agent: key, queue }).await;
                }
            }
        }
    }

    async fn on_other_request(&mut self, tx: ServerTxId, request: Request) {
        let Some(other) = &mut self.other else {
            self.respond(tx, response_for(&request, 481, None)).await;
            return;
        };
        let matches = other.dialog.as_ref().is_some_and(|d| {
            headers::to_tag(&request).as_deref() == Some(&d.id().local_tag)
                && headers::from_tag(&request).as_deref() == Some(&d.id().remote_tag)
        });
        if !matches {
            self.respond(tx, response_for(&request, 481, None)).await;
            return;
        }
        match request.method {
            Method::Bye => {
                self.respond(tx, response_for(&request, 200, None)).await;
                let other = self.other.take();
                if let Some(o) = other {
                    self.node.sip.command(SipCommand::Unroute { call_ids: vec![o.call_id.clone()] }).await;
                    if let Purpose::Agent { key, queue, .. } = o.purpose {
                        self.node.acd.send(AcdCommand::CallEnded { agent: key, queue }).await;
                        self.record.ended_by.get_or_insert_with(|| "agent".into());
                    } else {
                        self.record.ended_by.get_or_insert_with(|| "target".into());
                    }
                }
                self.pending.push_back(FlowEvent::BridgeEnded);
            }
            Method::Invite | Method::Update => {
                // Hold or resume from the agent's phone: answered with our
                // side unchanged; the relay follows its new address.
                let mut response = response_for(&request, 200, None);
                if let Ok(n) = sdp::parse(&request.body).and_then(|o| sdp::answer(&o, &CODECS)) {
                    other.latch.resignal(n.destination);
                    other.format = Some(format_of(&n));
                    let local = LocalMedia {
                        address: self.node.settings.media_address(),
                        port: other.port.port,
                        session_id: 1,
                        version: 2,
                    };
                    headers::set_body(&mut response, "application/sdp", sdp::write_answer(&local, &n).into_bytes());
                }
                self.respond(tx, response).await;
            }
            _ => self.respond(tx, response_for(&request, 200, None)).await,
        }
    }

    // ----- voicemail -----

    async fn end_recording(&mut self) {
        let Some((recorder, _)) = self.recording.take() else { return };
        let path = voicemail::store(&self.node, &self.unit, &self.record, recorder).await;
        if let Some(path) = path {
            self.record.voicemail = Some(path);
            self.node.metrics.voicemails.get_or_create(&UnitLabel { unit: self.unit.id().into() }).inc();
        }
        self.pending.push_back(FlowEvent::RecordingDone);
    }

    // ----- the end -----

    async fn finish(mut self) {
        // A caller who hung up mid-recording left a message: keep it.
        if self.recording.is_some() {
            self.end_recording().await;
            self.pending.clear();
        }
        self.leave_queue("abandoned").await;
        self.hang_up_other().await;
        if self.other.is_some() {
            // Still ringing: the CANCEL is out; the endpoint finishes it.
            if let Some(o) = self.other.take() {
                if let Purpose::Agent { key, .. } = o.purpose {
                    self.node
                        .acd
                        .send(AcdCommand::NotAnswered {
                            call: self.record.call_id.clone(),
                            agent: key,
                        })
                        .await;
                }
                self.node.sip.command(SipCommand::Unroute { call_ids: vec![o.call_id] }).await;
            }
        }
        self.hang_up_caller().await;
        if !self.caller.final_sent {
            // Ended before answering (shutdown, a failure): the INVITE still
            // gets its final response, or the caller would ring for ever.
            let response = response_for(&self.caller.invite, 480, Some(&self.caller.local_tag));
            self.respond(self.caller.tx, response).await;
            self.record.sip_status = Some(480);
        }
        self.node.media.send(MediaCommand::Close { leg: self.caller.leg });
        self.node
            .sip
            .command(SipCommand::Unroute {
                call_ids: vec![self.record.call_id.clone()],
            })
            .await;
        self.record.ended_at = Some(Utc::now());
        let mut seen = std::collections::HashSet::new();
        self.record.tags.retain(|t| seen.insert(t.clone()));
        let metrics = &self.node.metrics;
        metrics
            .calls
            .get_or_create(&UnitOutcome {
                unit: self.unit.id().into(),
                outcome: self.record.outcome.clone(),
            })
            .inc();
        metrics.calls_active.get_or_create(&UnitLabel { unit: self.unit.id().into() }).dec();
        self.node.call_ended();
        self.node.records.write(self.record);
    }
}

async fn recv_other(socket: Option<&tokio::net::UdpSocket>, buffer: &mut [u8]) -> Option<(usize, SocketAddr)> {
    match socket {
        Some(socket) => socket.recv_from(buffer).await.ok(),
        None => std::future::pending().await,
    }
}

async fn next_hop(dialog: &Dialog, fallback: Peer) -> Peer {
    resolve(dialog.next_hop()).await.unwrap_or(fallback)
}

/// The key of a SIP INFO with `application/dtmf-relay` (`Signal=5`).
fn dtmf_relay_digit(request: &Request) -> Option<char> {
    let content_type = request.header_value("Content-Type")?;
    if !content_type.to_ascii_lowercase().contains("dtmf") {
        return None;
    }
    let body = String::from_utf8_lossy(&request.body);
    body.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        if key.trim().eq_ignore_ascii_case("signal") {
            value.trim().chars().next().filter(|c| c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D'))
        } else {
            None
        }
    })
}
