//! The caller's leg: answering, in-dialog requests (BYE, re-INVITE for hold,
//! INFO digits), RTP in (latching, RFC 4733 digits, recording, the relay to
//! the connected leg) and prompts out.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use cc_flow::FlowEvent;
use cc_media::dtmf::DtmfDetector;
use cc_media::relay::{translate, Latch, LegFormat, PacketKind};
use cc_media::rtp::{self, RtpSender};
use cc_media::Law;
use cc_sip::headers::{self, response_for};
use cc_sip::msg::{Method, Request, Response};
use cc_sip::sdp::{self, Direction, LocalMedia, Negotiated};
use cc_sip::{Dialog, Peer, ServerTxId, Transport};
use chrono::Utc;

use super::{format_of, resolve, Call, CODECS};
use crate::media::engine::{LegId, MediaCommand};
use crate::media::ports::RtpPort;
use crate::metrics::UnitLabel;
use crate::sip::SipCommand;

pub(super) struct CallerLeg {
    pub(super) invite: Request,
    pub(super) tx: ServerTxId,
    pub(super) source: Peer,
    pub(super) local_tag: String,
    pub(super) dialog: Option<Dialog>,
    pub(super) port: RtpPort,
    pub(super) leg: LegId,
    pub(super) negotiated: Option<Negotiated>,
    pub(super) format: Option<LegFormat>,
    pub(super) latch: Latch,
    pub(super) dtmf: DtmfDetector,
    pub(super) last_rtp: Instant,
    pub(super) session_id: u64,
    pub(super) sdp_version: u64,
    pub(super) answered: bool,
    /// The INVITE had no SDP: our 200 carries the offer, the ACK the answer.
    pub(super) offered_late: bool,
    /// The caller holds the call (sendonly/inactive): no media expected.
    pub(super) held: bool,
    /// A final response went to the INVITE (200, or 487 after CANCEL).
    pub(super) final_sent: bool,
}

impl Call {
    pub(super) async fn respond(&self, tx: ServerTxId, response: Response) {
        self.node
            .sip
            .command(SipCommand::Respond { tx, response })
            .await;
    }

    pub(super) fn contact(&self, transport: Transport) -> String {
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

    pub(super) async fn ring(&self) {
        let response = response_for(&self.caller.invite, 180, Some(&self.caller.local_tag));
        self.respond(self.caller.tx, response).await;
    }

    pub(super) async fn answer(&mut self) {
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
        headers::push(
            &mut response.headers,
            "Allow",
            "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE",
        );
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
        let Some(n) = &self.caller.negotiated else {
            return;
        };
        let format = format_of(n);
        self.caller.format = Some(format);
        // Held: the caller sends us nothing (our side does not receive).
        self.caller.held = !n.direction.receives();
        let sender = RtpSender::new(
            self.node.random() as u32,
            self.node.random() as u16,
            self.node.random() as u32,
        );
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

    /// The ACK of a 200 that carried our offer (the INVITE had no SDP)
    /// carries the caller's answer.
    pub(super) async fn on_late_answer(&mut self, ack: &Request) {
        let negotiated = sdp::parse(&ack.body)
            .ok()
            .and_then(|s| sdp::accept_answer(&s, &CODECS).ok());
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

    pub(super) async fn hang_up_caller(&mut self) {
        if !self.caller.answered {
            return;
        }
        let Some(mut dialog) = self.caller.dialog.take() else {
            return;
        };
        self.caller.answered = false;
        self.node.media.send(MediaCommand::Stop {
            leg: self.caller.leg,
        });
        if let Ok(bye) = dialog.request(Method::Bye) {
            let peer = self.caller_next_hop(&dialog).await;
            let _ = self.node.sip.request(bye, peer, self.me.clone()).await;
        }
    }

    /// Where in-dialog requests to the caller go: the first route, or the
    /// address the INVITE came from (which reaches a phone behind NAT where
    /// its Contact may not).
    async fn caller_next_hop(&self, dialog: &Dialog) -> Peer {
        if !dialog.route_set().is_empty() {
            if let Some(peer) = resolve(dialog.next_hop()).await {
                return peer;
            }
        }
        self.caller.source
    }

    /// Plays prompts of the unit to the caller; `token` comes back in a
    /// `PlaybackDone` when they end.
    pub(super) fn play(&mut self, token: u64, prompts: &[String]) {
        self.play_looping(token, prompts, false);
    }

    pub(super) fn play_looping(&mut self, token: u64, prompts: &[String], looping: bool) {
        let law = self.caller.format.map(|f| f.law).unwrap_or(Law::Mu);
        let items: Vec<Arc<[u8]>> = prompts
            .iter()
            .filter_map(|name| self.unit.prompt(name))
            .map(|p| Arc::clone(p.encoded(law)))
            .collect();
        if items.is_empty() {
            if token < super::OWN_TOKENS {
                self.pending.push_back(FlowEvent::PlaybackDone { token });
            }
            return;
        }
        self.node.media.send(MediaCommand::Play {
            leg: self.caller.leg,
            items,
            looping,
            token,
        });
    }

    pub(super) fn on_caller_rtp(&mut self, packet: &mut [u8], source: SocketAddr) {
        let node = Arc::clone(&self.node);
        let metrics = &node.metrics;
        let (Some(format), true) = (self.caller.format, self.caller.answered) else {
            metrics.rtp_invalid.inc();
            return;
        };
        let Ok(parsed) = rtp::parse(packet) else {
            metrics.rtp_invalid.inc();
            return;
        };
        metrics.rtp_in.inc();
        self.caller.last_rtp = Instant::now();
        if self.caller.latch.on_packet_from(source) {
            self.node.media.send(MediaCommand::Destination {
                leg: self.caller.leg,
                destination: Some(source),
            });
        }
        let bridged = self.connected().is_some();
        match format.classify(parsed.payload_type) {
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
            if let Some(other) = self.connected() {
                if let (Some(to), Some(destination)) = (other.format, other.latch.destination()) {
                    if translate(packet, offset, &format, &to)
                        && other.port.socket.try_send_to(packet, destination).is_ok()
                    {
                        metrics.rtp_out.inc();
                    }
                }
            }
        }
    }

    pub(super) fn on_digit(&mut self, digit: char) {
        self.node
            .metrics
            .dtmf
            .get_or_create(&UnitLabel {
                unit: self.record.unit.clone(),
            })
            .inc();
        self.pending.push_back(FlowEvent::Digit(digit));
    }

    /// Sends a relayed packet (already translated) to the caller.
    pub(super) fn send_to_caller(&self, packet: &[u8]) -> bool {
        let muted = self
            .caller
            .negotiated
            .as_ref()
            .is_some_and(|n| !n.may_send());
        match (muted, self.caller.latch.destination()) {
            (false, Some(destination)) => self
                .caller
                .port
                .socket
                .try_send_to(packet, destination)
                .is_ok(),
            _ => false,
        }
    }

    pub(super) async fn on_caller_request(
        &mut self,
        tx: ServerTxId,
        request: Request,
        _source: Peer,
    ) {
        let Some(dialog) = self.caller.dialog.as_mut() else {
            self.respond(tx, response_for(&request, 481, None)).await;
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
        match request.method {
            Method::Bye => {
                self.respond(tx, response_for(&request, 200, None)).await;
                self.record.ended_by.get_or_insert_with(|| "caller".into());
                self.caller.answered = false;
                self.caller.dialog = None;
                self.node.media.send(MediaCommand::Stop {
                    leg: self.caller.leg,
                });
                self.caller_hung_up();
                self.hang_up_legs().await;
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
            let negotiated = sdp::parse(&request.body)
                .map_err(|_| 488)
                .and_then(|offer| sdp::answer(&offer, &CODECS).map_err(|_| 488));
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
                    headers::set_body(
                        &mut response,
                        "application/sdp",
                        sdp::write_answer(&local, &n).into_bytes(),
                    );
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
}

/// The key of a SIP INFO with `application/dtmf-relay` (`Signal=5`).
fn dtmf_relay_digit(request: &Request) -> Option<char> {
    use cc_sip::msg::HeadersExt;
    let content_type = request.header_value("Content-Type")?;
    if !content_type.to_ascii_lowercase().contains("dtmf") {
        return None;
    }
    let body = String::from_utf8_lossy(&request.body);
    body.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        if key.trim().eq_ignore_ascii_case("signal") {
            value
                .trim()
                .chars()
                .next()
                .filter(|c| c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D'))
        } else {
            None
        }
    })
}
