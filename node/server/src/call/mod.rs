//! One task per call: the caller's leg (we are its UAS), the outgoing legs
//! (agents the call is offered to, or a forward target; we are their UAC),
//! the unit's flow, and the media between them.
//!
//! The task is glue between pure cores: SIP dialogs ([`cc_sip::Dialog`]),
//! SDP ([`cc_sip::sdp`]), the flow interpreter ([`cc_flow::FlowRun`]) and the
//! media pieces ([`cc_media`]). It owns the call's RTP sockets and relays
//! between them; prompts go out through the node's pacer thread.
//!
//! | file | what of the call it handles |
//! |---|---|
//! | `mod.rs` | admission, the task's loop and timers, the flow's actions, the end |
//! | `caller.rs` | the caller's leg: answer, in-dialog requests, RTP, DTMF, prompts |
//! | `outgoing.rs` | outgoing legs: originate, responses, cancel, bridge, relay |
//! | `queue.rs` | the queue step: join, offers, announcements, leaving |
//! | `features.rs` | agents' feature codes (log in, out, pause) |
//! | `voicemail.rs`, `routing.rs` | storing a message; where a URI goes |
//!
//! The life of a call:
//! 1. [`start`] (in the SIP driver): the number names a unit (or is a
//!    feature code), the SDP offer has a codec we speak, an RTP port is
//!    free; otherwise 404, 488 or 503.
//! 2. The task answers (after the unit's answer delay, with 180 meanwhile)
//!    and runs the flow; a CANCEL before the answer ends it with 487.
//! 3. The flow's actions play prompts, queue, record, forward; its events
//!    come from the pacer, the caller's RTP (RFC 4733 digits), the ACD and
//!    the outgoing legs.
//! 4. Whatever ends the call (BYE either side, the flow, dead media, a
//!    missing ACK), the task tears every leg down, leaves the queue, and
//!    writes the call's record.

mod caller;
mod features;
mod outgoing;
mod queue;
mod routing;
mod voicemail;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cc_flow::{Action, FlowEvent, FlowRun, Outcome};
use cc_media::dtmf::DtmfDetector;
use cc_media::recorder::Recorder;
use cc_media::relay::{Latch, LegFormat};
use cc_media::rtp;
use cc_media::Law;
use cc_sip::headers::{self, response_for};
use cc_sip::msg::{HeadersExt, Request};
use cc_sip::sdp::{self, Codec, Negotiated};
use cc_sip::{Dialog, Event, Peer, ServerTxId};
use chrono::Utc;
use tokio::sync::mpsc;

use crate::media::engine::{MediaCommand, PlaybackDone};
use crate::metrics::{UnitKind, UnitLabel, UnitOutcome};
use crate::node::Node;
use crate::records::CallRecord;
use crate::sip::SipCommand;
use crate::units::UnitRuntime;

pub use features::FeatureCodes;
use outgoing::OutLeg;
use queue::Queued;
pub use routing::resolve;

/// What reaches a call task.
// Each input moves once through a channel; boxing SIP events would cost an
// allocation per message for no gain.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum CallInput {
    /// A SIP event for one of the call's legs.
    Sip(Event),
    /// The ACD offers the caller to an agent (its id in the unit).
    Offer {
        agent: String,
        reservation: String,
        ring_timeout: Duration,
        /// When the ACD made the offer (wall clock, ms).
        offered_at: cc_acd::Millis,
    },
    /// Stop ringing the agent of this reservation (another took the call).
    CancelOffer { reservation: String },
    /// The caller waited as long as the queue allows.
    QueueTimeout,
    /// Every agent of the queue logged out.
    QueueNoAgents,
    /// The shared queues lost this node's callers (the other nodes took it
    /// for dead, or Redis lost its state): a waiting caller joins again.
    Requeue,
}

/// A call task's inbox.
pub type CallSender = mpsc::Sender<CallInput>;

/// Events a call takes in before it must have handled them: a call gets a
/// handful of SIP events and offers in its life, so a full inbox means a
/// flood, which is dropped.
const INBOX: usize = 32;

const CODECS: [Codec; 2] = [Codec::Pcmu, Codec::Pcma];

/// Playback tokens above this are the call's own (announcements, music on
/// hold), not the flow's.
const OWN_TOKENS: u64 = u64::MAX / 2;

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
pub fn start(
    node: Arc<Node>,
    tx: ServerTxId,
    invite: Request,
    source: Peer,
) -> Result<CallSender, u16> {
    let number = invite
        .uri
        .user()
        .map(str::to_string)
        .or_else(|| {
            invite
                .to_header()
                .ok()
                .and_then(|t| t.uri().ok())
                .and_then(|u| u.user().map(str::to_string))
        })
        .unwrap_or_default();
    let caller_uri = invite
        .from_header()
        .ok()
        .and_then(|f| headers::first_uri(f.value()).map(str::to_string))
        .unwrap_or_default();
    let feature = node
        .features
        .recognise(&number, &caller_uri, &node.directory());
    let unit = match &feature {
        Some(f) => Arc::clone(&f.confirm),
        None => match node.directory().by_number(&number) {
            Some(unit) => Arc::clone(unit),
            None => return Err(404),
        },
    };
    let record_unit = feature
        .as_ref()
        .map_or_else(|| unit.id().to_string(), |f| f.unit.clone());
    let call_id = headers::call_id(&invite).unwrap_or_default();
    let record = CallRecord {
        call_id: call_id.clone(),
        node: node.settings.node.name.clone(),
        unit: record_unit,
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
        dial_refused: None,
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
    let caller = caller::CallerLeg {
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
    node.metrics
        .calls_active
        .get_or_create(&UnitLabel {
            unit: record.unit.clone(),
        })
        .inc();
    let max_call = now + Duration::from_secs(node.settings.limits.max_call_s);
    let call = Call {
        node,
        unit,
        inbox,
        me: me.clone(),
        media_done,
        media_done_tx,
        caller,
        legs: Vec::new(),
        flow,
        flow_timer: None,
        answer_at: None,
        recording: None,
        queue: None,
        feature,
        record,
        max_call,
        pending: VecDeque::new(),
        caller_gone: false,
        done: false,
    };
    tokio::spawn(call.run());
    Ok(me)
}

struct Call {
    node: Arc<Node>,
    /// The unit whose flow runs (for a feature code, the confirmation flow).
    unit: Arc<UnitRuntime>,
    inbox: mpsc::Receiver<CallInput>,
    me: CallSender,
    media_done: mpsc::UnboundedReceiver<PlaybackDone>,
    media_done_tx: mpsc::UnboundedSender<PlaybackDone>,
    caller: caller::CallerLeg,
    /// Outgoing legs: agents ringing (several with ring-all), or the one
    /// connected, or a forward target.
    legs: Vec<OutLeg>,
    flow: FlowRun,
    flow_timer: Option<(Instant, u64)>,
    answer_at: Option<Instant>,
    recording: Option<(Recorder, Instant)>,
    queue: Option<Queued>,
    feature: Option<features::FeatureCall>,
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
        if self.feature.is_some() {
            self.run_feature().await;
        }
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
            let other_socket = self.connected().map(|o| Arc::clone(&o.port.socket));
            let deadline = self.next_deadline();
            tokio::select! {
                input = self.inbox.recv() => match input {
                    Some(input) => self.on_input(input).await,
                    None => self.done = true,
                },
                Some(done) = self.media_done.recv() => self.on_playback_done(done),
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
        consider(
            self.legs
                .iter()
                .filter(|l| l.is_ringing())
                .map(|l| l.ring_deadline)
                .min(),
        );
        consider(self.queue.as_ref().and_then(|q| q.announce_at));
        consider(self.queue.as_ref().map(|q| q.give_up_at));
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
        self.ring_timeouts(now).await;
        if self
            .queue
            .as_ref()
            .and_then(|q| q.announce_at)
            .is_some_and(|at| at <= now)
        {
            self.announce().await;
        }
        if self.queue.as_ref().is_some_and(|q| q.give_up_at <= now) {
            self.give_up_waiting().await;
        }
        if self.caller.answered
            && !self.caller.held
            && self.caller.last_rtp + self.rtp_timeout() <= now
        {
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

    fn on_playback_done(&mut self, done: PlaybackDone) {
        if done.leg != self.caller.leg {
            return;
        }
        if done.token >= OWN_TOKENS {
            self.announcement_done(done.token);
        } else {
            self.pending
                .push_back(FlowEvent::PlaybackDone { token: done.token });
        }
    }

    fn caller_hung_up(&mut self) {
        self.caller_gone = true;
        self.pending.push_back(FlowEvent::CallerHungUp);
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
                            unit: self.record.unit.clone(),
                            kind: kind.into(),
                        })
                        .inc();
                }
                Action::Play { token, prompts } => self.play(token, &prompts),
                Action::StopPlayback => self.node.media.send(MediaCommand::Stop {
                    leg: self.caller.leg,
                }),
                Action::StartTimer { token, after } => {
                    self.flow_timer = Some((Instant::now() + after, token))
                }
                Action::Enqueue { queue, priority } => self.enqueue(&queue, priority).await,
                Action::LeaveQueue => {
                    let reason = if self.caller_gone {
                        cc_acd::LeaveReason::Abandon
                    } else {
                        cc_acd::LeaveReason::ExitKey
                    };
                    self.leave_queue(reason).await
                }
                Action::Record { max_duration } => {
                    self.recording =
                        Some((Recorder::new(max_duration), Instant::now() + max_duration));
                }
                Action::StopRecording => self.end_recording().await,
                Action::Forward { target, timeout } => self.forward(&target, timeout).await,
                Action::Tag(tag) => self.tag(tag),
                Action::Hangup => {
                    self.record.ended_by.get_or_insert_with(|| "node".into());
                    self.hang_up_legs().await;
                    self.hang_up_caller().await;
                }
                Action::Finished { outcome } => {
                    self.record.outcome = outcome.as_str().into();
                    self.done = true;
                }
            }
        }
    }

    async fn on_input(&mut self, input: CallInput) {
        match input {
            CallInput::Sip(event) => self.on_sip(event).await,
            CallInput::Offer {
                agent,
                reservation,
                ring_timeout,
                offered_at,
            } => {
                self.on_offer(agent, reservation, ring_timeout, offered_at)
                    .await
            }
            CallInput::CancelOffer { reservation } => self.cancel_offer(&reservation).await,
            CallInput::QueueTimeout => self.queue_ended(cc_flow::QueueOutcome::Timeout, "timeout"),
            CallInput::QueueNoAgents => {
                self.queue_ended(cc_flow::QueueOutcome::NoAgents, "no_agents")
            }
            CallInput::Requeue => self.requeue().await,
        }
    }

    async fn on_sip(&mut self, event: Event) {
        match event {
            Event::Request {
                tx,
                request,
                source,
            } => {
                let call_id = headers::call_id(&request).unwrap_or_default();
                if call_id == self.record.call_id {
                    self.on_caller_request(tx, request, source).await;
                } else {
                    self.on_leg_request(tx, request).await;
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
                    if self.record.path.is_empty() {
                        self.done = true;
                    }
                }
            }
            Event::Response { tx, response } => self.on_response(tx, response).await,
            Event::Timeout { tx, .. } => self.on_leg_timeout(tx).await,
        }
    }

    // ----- voicemail -----

    async fn end_recording(&mut self) {
        let Some((recorder, _)) = self.recording.take() else {
            return;
        };
        let path = voicemail::store(&self.node, &self.unit, &self.record, recorder).await;
        if let Some(path) = path {
            self.record.voicemail = Some(path);
            self.node
                .metrics
                .voicemails
                .get_or_create(&UnitLabel {
                    unit: self.record.unit.clone(),
                })
                .inc();
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
        self.leave_queue(cc_acd::LeaveReason::Abandon).await;
        self.hang_up_legs().await;
        self.hang_up_caller().await;
        if !self.caller.final_sent {
            // Ended before answering (shutdown, a failure): the INVITE still
            // gets its final response, or the caller would ring for ever.
            let response = response_for(&self.caller.invite, 480, Some(&self.caller.local_tag));
            self.respond(self.caller.tx, response).await;
            self.record.sip_status = Some(480);
        }
        self.node.media.send(MediaCommand::Close {
            leg: self.caller.leg,
        });
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
                unit: self.record.unit.clone(),
                outcome: self.record.outcome.clone(),
            })
            .inc();
        metrics
            .calls_active
            .get_or_create(&UnitLabel {
                unit: self.record.unit.clone(),
            })
            .dec();
        self.node.call_ended();
        self.node.records.write(self.record);
    }
}

async fn recv_other(
    socket: Option<&tokio::net::UdpSocket>,
    buffer: &mut [u8],
) -> Option<(usize, SocketAddr)> {
    match socket {
        Some(socket) => socket.recv_from(buffer).await.ok(),
        None => std::future::pending().await,
    }
}

async fn next_hop(dialog: &Dialog, fallback: Peer) -> Peer {
    resolve(dialog.next_hop()).await.unwrap_or(fallback)
}
