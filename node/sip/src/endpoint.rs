//! The transaction layer of one node: every transaction, keyed and timed.
//!
//! The [`Endpoint`] sits between the wire and the transaction user (the call
//! tasks in the shell). It decodes messages ([`crate::wire`]), matches them to
//! transactions (RFC 3261 §17.1.3, §17.2.3), answers what needs no TU
//! (100 Trying, retransmissions, CANCEL, 405, 481 for CANCEL, and the
//! 400/501/505 rejections), and reports the rest as [`Event`]s.
//!
//! It is driven like str0m's `Rtc` or quinn-proto's `Connection`: inputs go in
//! through `handle_*`, outputs come out of `poll_transmit`, `poll_event` and
//! `poll_timeout`. Nothing here reads a clock.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Instant;

use bytes::Bytes;
use rsipstack::sip::{Header, Headers, HeadersExt, Method, Request, Response, Version};

use crate::headers::{self, call_id, cseq, top_via, via_param, via_sent_by};
use crate::ids::IdGenerator;
use crate::timer::TimerConfig;
use crate::transaction::{
    ClientInvite, ClientInviteState, ClientKey, ClientNonInvite, InviteReaction, KeyMethod,
    NonInviteReaction, ServerInvite, ServerInviteState, ServerKey, ServerNonInvite, TimerStep,
    WrongState,
};
use crate::wire::{self, Decoded, DropReason, Peer, Transport};

/// Settings of an endpoint.
#[derive(Clone, Debug)]
pub struct EndpointConfig {
    /// T1, T2, T4.
    pub timers: TimerConfig,
    /// The host (an address, normally) written in our Via sent-by.
    pub via_host: String,
    /// Port written in Via for UDP.
    pub udp_port: u16,
    /// Port written in Via for TCP.
    pub tcp_port: u16,
    /// Methods the TU handles; any other known method gets 405 with Allow.
    pub allow: Vec<Method>,
    /// Written in the Server header of every response the endpoint builds.
    pub server_name: String,
    /// Seeds branches and tags; see [`IdGenerator`].
    pub seed: u64,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            timers: TimerConfig::default(),
            via_host: "127.0.0.1".into(),
            udp_port: 5060,
            tcp_port: 5060,
            allow: vec![
                Method::Invite,
                Method::Ack,
                Method::Bye,
                Method::Cancel,
                Method::Options,
                Method::Info,
                Method::Update,
            ],
            server_name: "cc-node".into(),
            seed: 0,
        }
    }
}

/// A handle to a server transaction, for [`Endpoint::respond`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerTxId(u64);

/// A handle to a client transaction, for [`Endpoint::cancel`] and
/// [`Endpoint::send_ack`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientTxId(u64);

/// What the endpoint tells its transaction user.
#[derive(Debug)]
pub enum Event {
    /// A new request (not ACK, not CANCEL) opened a server transaction.
    /// Answer it with [`Endpoint::respond`]. For INVITE, 100 Trying is out.
    Request {
        /// The transaction to answer on.
        tx: ServerTxId,
        /// The request.
        request: Request,
        /// Where it came from.
        source: Peer,
    },
    /// The first ACK for a 2xx we sent, or an ACK that matches nothing (a
    /// stray or late ACK; `invite_tx` is `None` then).
    Ack {
        /// The ACK.
        request: Request,
        /// Where it came from.
        source: Peer,
        /// The INVITE transaction whose 2xx it acknowledges.
        invite_tx: Option<ServerTxId>,
    },
    /// A CANCEL matched an INVITE still in Proceeding. The endpoint already
    /// answered the CANCEL with 200 and the INVITE with 487 (§9.2).
    Cancelled {
        /// The cancelled INVITE's transaction.
        invite_tx: ServerTxId,
        /// Its Call-ID.
        call_id: String,
    },
    /// We sent a 2xx to an INVITE and no ACK came within 64·T1; RFC 3261
    /// §13.3.1.4 asks the TU to end the session with a BYE.
    AckTimeout {
        /// The INVITE transaction.
        invite_tx: ServerTxId,
        /// Its Call-ID.
        call_id: String,
    },
    /// A response to one of our requests.
    Response {
        /// The client transaction.
        tx: ClientTxId,
        /// The response.
        response: Response,
    },
    /// One of our requests got no final response (Timer B or F), or its
    /// transport failed; the TU treats it as a 408.
    Timeout {
        /// The client transaction.
        tx: ClientTxId,
        /// The method of the request.
        method: Method,
        /// Its Call-ID.
        call_id: String,
    },
}

/// A message to put on the wire.
#[derive(Debug, Clone)]
pub struct Transmit {
    /// Where to: over UDP a datagram to this address; over TCP the shell's
    /// connection to it.
    pub peer: Peer,
    /// The serialized message.
    pub payload: Bytes,
    /// What it is, for metrics and logs.
    pub kind: MessageKind,
    /// Whether this is a retransmission by a timer or of a cached answer.
    pub retransmission: bool,
}

/// The kind of a transmitted or received message, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// A request of a method.
    Request(Method),
    /// A response with a status code.
    Response(u16),
    /// A keep-alive answer (CRLF).
    Pong,
}

/// What [`Endpoint::handle_datagram`] made of the input, for metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A request of a method (new or retransmitted).
    Request(Method),
    /// A response with a status code.
    Response(u16),
    /// A keep-alive.
    Keepalive,
    /// A request answered with an error status by the wire checks.
    Rejected(u16),
    /// Something unanswerable, dropped.
    Dropped(DropReason),
    /// A response that matched no transaction.
    Stray(u16),
}

/// A TU call the endpoint cannot honour.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// The transaction ended or never existed.
    #[error("no such transaction")]
    UnknownTransaction,
    /// The transaction is in a state that does not take this response.
    #[error(transparent)]
    WrongState(#[from] WrongState),
    /// CANCEL after a final response, or for a non-INVITE (§9.1).
    #[error("nothing left to cancel")]
    NothingToCancel,
    /// ACK goes through [`Endpoint::send_ack`], CANCEL through [`Endpoint::cancel`].
    #[error("{0} is not sent with send_request")]
    NotARequestMethod(Method),
    /// The request lacks a header the transaction layer needs.
    #[error("request lacks {0}")]
    Incomplete(&'static str),
}

#[derive(Debug)]
enum ServerMachine {
    Invite(ServerInvite),
    NonInvite(ServerNonInvite),
}

#[derive(Debug)]
struct ServerTx {
    key: ServerKey,
    peer: Peer,
    machine: ServerMachine,
    /// The INVITE, kept to answer a CANCEL with 487.
    invite: Option<Request>,
    /// The To tag of our responses, reused by the 487 after a CANCEL.
    local_tag: Option<String>,
    /// (Call-ID, CSeq number) under which the 2xx's ACK is expected.
    ack_key: Option<(String, u32)>,
    call_id: String,
}

#[derive(Debug)]
enum ClientMachine {
    Invite(ClientInvite),
    NonInvite(ClientNonInvite),
}

#[derive(Debug)]
struct ClientTx {
    key: ClientKey,
    peer: Peer,
    machine: ClientMachine,
    request: Request,
    call_id: String,
    cancel_pending: bool,
    cancel_sent: bool,
    /// The ACK sent for the first 3xx–6xx, resent on its retransmissions.
    non_2xx_ack: Option<Bytes>,
    /// The ACK the TU sent for a 2xx, with the To tag of that 2xx; resent
    /// when the same 2xx is retransmitted (RFC 6026 §8.4: the TU would resend
    /// it anyway, so the endpoint saves it the trouble).
    ack_2xx: Option<(String, Bytes)>,
}

/// The transaction layer; see the [module docs](self).
#[derive(Debug)]
pub struct Endpoint {
    config: EndpointConfig,
    ids: IdGenerator,
    next_id: u64,
    server: HashMap<u64, ServerTx>,
    server_keys: HashMap<ServerKey, u64>,
    client: HashMap<u64, ClientTx>,
    client_keys: HashMap<ClientKey, u64>,
    acks_awaited: HashMap<(String, u32), u64>,
    timers: BTreeSet<(Instant, u64)>,
    scheduled: HashMap<u64, Instant>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    allow_header: String,
}

impl Endpoint {
    /// An endpoint with no transactions.
    pub fn new(config: EndpointConfig) -> Self {
        let allow_header = config
            .allow
            .iter()
            .map(|m| m.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        Endpoint {
            ids: IdGenerator::new(config.seed),
            config,
            next_id: 0,
            server: HashMap::new(),
            server_keys: HashMap::new(),
            client: HashMap::new(),
            client_keys: HashMap::new(),
            acks_awaited: HashMap::new(),
            timers: BTreeSet::new(),
            scheduled: HashMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            allow_header,
        }
    }

    /// The identifier generator, for tags and Call-IDs of the TU's requests.
    pub fn ids(&mut self) -> &mut IdGenerator {
        &mut self.ids
    }

    /// The configuration.
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// The comma-separated methods we accept, for Allow headers.
    pub fn allow_header(&self) -> &str {
        &self.allow_header
    }

    /// Live transactions: (server, client).
    pub fn transaction_count(&self) -> (usize, usize) {
        (self.server.len(), self.client.len())
    }

    /// The state of a server INVITE transaction, for tests and diagnostics.
    pub fn server_invite_state(&self, tx: ServerTxId) -> Option<ServerInviteState> {
        match &self.server.get(&tx.0)?.machine {
            ServerMachine::Invite(m) => Some(m.state()),
            ServerMachine::NonInvite(_) => None,
        }
    }

    /// The state of a client INVITE transaction, for tests and diagnostics.
    pub fn client_invite_state(&self, tx: ClientTxId) -> Option<ClientInviteState> {
        match &self.client.get(&tx.0)?.machine {
            ClientMachine::Invite(m) => Some(m.state()),
            ClientMachine::NonInvite(_) => None,
        }
    }

    /// The next message to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the TU.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called.
    /// Changes after any `handle_*`, `respond`, `send_*` or `cancel` call.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|(at, _)| *at)
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(at, id)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            self.scheduled.remove(&id);
            if self.server.contains_key(&id) {
                self.server_timeout(now, id);
            } else if self.client.contains_key(&id) {
                self.client_timeout(now, id);
            }
        }
    }

    fn server_timeout(&mut self, now: Instant, id: u64) {
        let Some(tx) = self.server.get_mut(&id) else {
            return;
        };
        let (step, terminated) = match &mut tx.machine {
            ServerMachine::Invite(m) => {
                let step = m.handle_timeout(now);
                (step, m.state() == ServerInviteState::Terminated)
            }
            ServerMachine::NonInvite(m) => {
                m.handle_timeout(now);
                (
                    TimerStep::default(),
                    m.state() == crate::transaction::ServerNonInviteState::Terminated,
                )
            }
        };
        let peer = tx.peer;
        if let Some(bytes) = step.retransmit {
            let kind = response_kind(&bytes);
            self.transmits.push_back(Transmit {
                peer,
                payload: bytes,
                kind,
                retransmission: true,
            });
        }
        if step.timed_out {
            let call_id = tx.call_id.clone();
            self.events.push_back(Event::AckTimeout {
                invite_tx: ServerTxId(id),
                call_id,
            });
        }
        if terminated {
            self.remove_server(id);
        } else {
            self.reschedule(id);
        }
    }

    fn client_timeout(&mut self, now: Instant, id: u64) {
        let Some(tx) = self.client.get_mut(&id) else {
            return;
        };
        let (step, terminated) = match &mut tx.machine {
            ClientMachine::Invite(m) => {
                let step = m.handle_timeout(now);
                (step, m.state() == ClientInviteState::Terminated)
            }
            ClientMachine::NonInvite(m) => {
                let step = m.handle_timeout(now);
                (
                    step,
                    m.state() == crate::transaction::ClientNonInviteState::Terminated,
                )
            }
        };
        if let Some(bytes) = step.retransmit {
            self.transmits.push_back(Transmit {
                peer: tx.peer,
                payload: bytes,
                kind: MessageKind::Request(tx.key.method),
                retransmission: true,
            });
        }
        if step.timed_out {
            self.events.push_back(Event::Timeout {
                tx: ClientTxId(id),
                method: tx.key.method,
                call_id: tx.call_id.clone(),
            });
        }
        if terminated {
            self.remove_client(id);
        } else {
            self.reschedule(id);
        }
    }

    /// The transport to `peer` failed (a TCP connection refused or reset):
    /// every client transaction towards it ends as a timeout (§8.1.3.1).
    pub fn handle_transport_error(&mut self, peer: Peer) {
        let failed: Vec<u64> = self
            .client
            .iter()
            .filter(|(_, tx)| tx.peer == peer)
            .map(|(id, _)| *id)
            .collect();
        for id in failed {
            if let Some(tx) = self.client.get(&id) {
                let pending = match &tx.machine {
                    ClientMachine::Invite(m) => matches!(
                        m.state(),
                        ClientInviteState::Calling | ClientInviteState::Proceeding
                    ),
                    ClientMachine::NonInvite(m) => matches!(
                        m.state(),
                        crate::transaction::ClientNonInviteState::Trying
                            | crate::transaction::ClientNonInviteState::Proceeding
                    ),
                };
                if pending {
                    self.events.push_back(Event::Timeout {
                        tx: ClientTxId(id),
                        method: tx.key.method,
                        call_id: tx.call_id.clone(),
                    });
                }
            }
            self.remove_client(id);
        }
    }

    /// Takes in one whole message from `source`.
    pub fn handle_datagram(&mut self, now: Instant, source: Peer, bytes: &[u8]) -> Received {
        // Timers due by now fire first: a transaction that ended at this
        // instant (Timer J or K of zero on a stream) must not take the
        // message for a retransmission of its own just because the I/O
        // shell has not yet come round to its timers.
        self.handle_timeout(now);
        if bytes.len() > wire::MAX_MESSAGE_SIZE {
            return Received::Dropped(DropReason::NotSip);
        }
        match wire::decode(bytes) {
            Decoded::Keepalive => {
                if source.transport.is_reliable() {
                    self.transmits.push_back(Transmit {
                        peer: source,
                        payload: Bytes::from_static(b"\r\n"),
                        kind: MessageKind::Pong,
                        retransmission: false,
                    });
                }
                Received::Keepalive
            }
            Decoded::Drop(reason) => Received::Dropped(reason),
            Decoded::Reject(rejection) => {
                let tag = self.ids.tag();
                let server = format!("Server: {}", self.config.server_name);
                let (name, value) = server.split_once(": ").unwrap_or(("Server", "cc-node"));
                let mut extra = vec![(name, value)];
                let unsupported = rejection
                    .headers
                    .get("require")
                    .unwrap_or_default()
                    .to_string();
                match rejection.status {
                    415 => extra.push(("Accept", "application/sdp")),
                    420 => extra.push(("Unsupported", unsupported.as_str())),
                    _ => {}
                }
                let payload =
                    rejection
                        .headers
                        .response(rejection.status, &rejection.reason, &tag, &extra);
                self.transmits.push_back(Transmit {
                    peer: source,
                    payload: Bytes::from(payload),
                    kind: MessageKind::Response(rejection.status),
                    retransmission: false,
                });
                Received::Rejected(rejection.status)
            }
            Decoded::Request(request) => {
                let method = request.method;
                self.on_request(now, source, request);
                Received::Request(method)
            }
            Decoded::Response(response) => self.on_response(now, response),
        }
    }

    fn server_key(request: &Request, method: KeyMethod) -> Option<ServerKey> {
        let via = top_via(request)?;
        let branch = via_param(&via, "branch").unwrap_or_default();
        let sent_by = via_sent_by(&via).to_ascii_lowercase();
        let branch = if branch.starts_with("z9hG4bK") {
            branch.to_string()
        } else {
            // RFC 2543 peers: no unique branch. Key on what §17.2.3 lists for
            // them instead (Call-ID, From tag, CSeq number, top Via).
            let (number, _) = cseq(request)?;
            format!(
                "2543:{}:{}:{}:{}",
                call_id(request)?,
                headers::from_tag(request).unwrap_or_default(),
                number,
                via
            )
        };
        Some(ServerKey {
            branch,
            sent_by,
            method,
        })
    }

    fn on_request(&mut self, now: Instant, source: Peer, request: Request) {
        let method = request.method;
        if method == Method::Ack {
            self.on_ack(now, source, request);
            return;
        }
        let Some(key) = Self::server_key(&request, method.into()) else {
            return;
        };
        if let Some(&id) = self.server_keys.get(&key) {
            self.on_request_retransmission(id);
            return;
        }
        if method == Method::Cancel {
            self.on_cancel(now, source, request, key);
            return;
        }
        let id = self.open_server_tx(now, source, &request, key);
        if !self.config.allow.contains(&method) {
            let mut response = headers::response_for(&request, 405, Some(&self.ids.tag()));
            headers::push(&mut response.headers, "Allow", self.allow_header.clone());
            let _ = self.respond(now, ServerTxId(id), response);
            return;
        }
        if method == Method::Invite {
            let trying = headers::response_for(&request, 100, None);
            let _ = self.respond(now, ServerTxId(id), trying);
        }
        self.events.push_back(Event::Request {
            tx: ServerTxId(id),
            request,
            source,
        });
    }

    fn open_server_tx(
        &mut self,
        _now: Instant,
        source: Peer,
        request: &Request,
        key: ServerKey,
    ) -> u64 {
        let id = self.allocate_id();
        let reliable = source.transport.is_reliable();
        let machine = if request.method == Method::Invite {
            ServerMachine::Invite(ServerInvite::new(reliable, self.config.timers))
        } else {
            ServerMachine::NonInvite(ServerNonInvite::new(reliable, self.config.timers))
        };
        let invite = (request.method == Method::Invite).then(|| request.clone());
        self.server_keys.insert(key.clone(), id);
        self.server.insert(
            id,
            ServerTx {
                key,
                peer: source,
                machine,
                invite,
                local_tag: None,
                ack_key: None,
                call_id: call_id(request).unwrap_or_default(),
            },
        );
        id
    }

    fn on_request_retransmission(&mut self, id: u64) {
        let Some(tx) = self.server.get(&id) else {
            return;
        };
        let resend = match &tx.machine {
            ServerMachine::Invite(m) => m.on_request_retransmission(),
            ServerMachine::NonInvite(m) => m.on_request_retransmission(),
        };
        if let Some(bytes) = resend {
            let kind = response_kind(&bytes);
            self.transmits.push_back(Transmit {
                peer: tx.peer,
                payload: bytes,
                kind,
                retransmission: true,
            });
        }
    }

    fn on_ack(&mut self, now: Instant, source: Peer, request: Request) {
        if let Some(key) = Self::server_key(&request, KeyMethod::Invite) {
            if let Some(&id) = self.server_keys.get(&key) {
                if let Some(ServerTx {
                    machine: ServerMachine::Invite(m),
                    ..
                }) = self.server.get_mut(&id)
                {
                    let to_tu = m.on_ack(now);
                    self.reschedule(id);
                    if to_tu {
                        self.events.push_back(Event::Ack {
                            request,
                            source,
                            invite_tx: Some(ServerTxId(id)),
                        });
                    }
                    return;
                }
            }
        }
        let ack_key = call_id(&request).zip(cseq(&request).map(|(n, _)| n));
        if let Some(&id) = ack_key.as_ref().and_then(|k| self.acks_awaited.get(k)) {
            if let Some(ServerTx {
                machine: ServerMachine::Invite(m),
                ..
            }) = self.server.get_mut(&id)
            {
                let first = m.on_2xx_ack();
                self.reschedule(id);
                if first {
                    self.events.push_back(Event::Ack {
                        request,
                        source,
                        invite_tx: Some(ServerTxId(id)),
                    });
                }
            }
            return;
        }
        self.events.push_back(Event::Ack {
            request,
            source,
            invite_tx: None,
        });
    }

    fn on_cancel(&mut self, now: Instant, source: Peer, cancel: Request, key: ServerKey) {
        let invite_key = ServerKey {
            method: KeyMethod::Invite,
            ..key.clone()
        };
        let cancel_id = self.open_server_tx(now, source, &cancel, key);
        let invite_id = self.server_keys.get(&invite_key).copied();
        let Some(invite_id) = invite_id else {
            let response = headers::response_for(&cancel, 481, Some(&self.ids.tag()));
            let _ = self.respond(now, ServerTxId(cancel_id), response);
            return;
        };
        let invite_tx = &self.server[&invite_id];
        let tag = invite_tx
            .local_tag
            .clone()
            .unwrap_or_else(|| self.ids.tag());
        let ok = headers::response_for(&cancel, 200, Some(&tag));
        let _ = self.respond(now, ServerTxId(cancel_id), ok);

        let invite_tx = &self.server[&invite_id];
        let proceeding = matches!(&invite_tx.machine, ServerMachine::Invite(m) if m.state() == ServerInviteState::Proceeding);
        if let (true, Some(invite)) = (proceeding, invite_tx.invite.as_ref()) {
            let terminated = headers::response_for(invite, 487, Some(&tag));
            let call_id = invite_tx.call_id.clone();
            let _ = self.respond(now, ServerTxId(invite_id), terminated);
            self.events.push_back(Event::Cancelled {
                invite_tx: ServerTxId(invite_id),
                call_id,
            });
        }
    }

    /// Sends `response` on server transaction `tx`. A 2xx to an INVITE is
    /// retransmitted (UDP) until its ACK arrives; see [`Event::Ack`] and
    /// [`Event::AckTimeout`].
    pub fn respond(
        &mut self,
        now: Instant,
        tx: ServerTxId,
        mut response: Response,
    ) -> Result<(), EndpointError> {
        let id = tx.0;
        let server_name = self.config.server_name.clone();
        let entry = self
            .server
            .get_mut(&id)
            .ok_or(EndpointError::UnknownTransaction)?;
        let status = response.status_code.code();
        if !response
            .headers
            .iter()
            .any(|h| matches!(h, Header::Server(_)))
        {
            headers::push(&mut response.headers, "Server", server_name);
        }
        let body_len = response.body.len();
        headers::fix_content_length(&mut response, body_len);
        let bytes = Bytes::from(response.to_bytes());
        match &mut entry.machine {
            ServerMachine::Invite(m) => m.send_response(now, status, bytes.clone())?,
            ServerMachine::NonInvite(m) => m.send_response(now, status, bytes.clone())?,
        }
        if status > 100 {
            if let Some(tag) = headers::to_tag(&response) {
                entry.local_tag.get_or_insert(tag);
            }
        }
        if matches!(entry.machine, ServerMachine::Invite(_)) && (200..300).contains(&status) {
            if let Some((number, _)) = cseq(&response) {
                let key = (entry.call_id.clone(), number);
                entry.ack_key = Some(key.clone());
                self.acks_awaited.insert(key, id);
            }
        }
        self.transmits.push_back(Transmit {
            peer: entry.peer,
            payload: bytes,
            kind: MessageKind::Response(status),
            retransmission: false,
        });
        self.reschedule(id);
        if let Some(ServerTx {
            machine: ServerMachine::NonInvite(m),
            ..
        }) = self.server.get(&id)
        {
            if m.state() == crate::transaction::ServerNonInviteState::Terminated {
                self.remove_server(id);
            }
        }
        Ok(())
    }

    /// Sends a request that opens a client transaction. The endpoint adds
    /// the top Via (our sent-by, a fresh branch, `rport`) and Content-Length.
    pub fn send_request(
        &mut self,
        now: Instant,
        mut request: Request,
        peer: Peer,
    ) -> Result<ClientTxId, EndpointError> {
        if matches!(request.method, Method::Ack | Method::Cancel) {
            return Err(EndpointError::NotARequestMethod(request.method));
        }
        let branch = self.ids.branch();
        let via = self.via_value(peer.transport, &branch);
        request
            .headers
            .push_front(Header::Via(rsipstack::sip::Via::new(via)));
        let body_len = request.body.len();
        headers::fix_content_length(&mut request, body_len);
        self.open_client_tx(now, request, peer, branch)
    }

    fn via_value(&self, transport: Transport, branch: &str) -> String {
        let port = match transport {
            Transport::Udp => self.config.udp_port,
            Transport::Tcp => self.config.tcp_port,
        };
        format!(
            "SIP/2.0/{} {}:{};branch={};rport",
            transport.via_token(),
            self.config.via_host,
            port,
            branch
        )
    }

    fn open_client_tx(
        &mut self,
        now: Instant,
        request: Request,
        peer: Peer,
        branch: String,
    ) -> Result<ClientTxId, EndpointError> {
        let call_id = call_id(&request).ok_or(EndpointError::Incomplete("Call-ID"))?;
        cseq(&request).ok_or(EndpointError::Incomplete("CSeq"))?;
        let bytes = Bytes::from(request.to_bytes());
        let reliable = peer.transport.is_reliable();
        let machine = if request.method == Method::Invite {
            ClientMachine::Invite(ClientInvite::new(
                now,
                bytes.clone(),
                reliable,
                self.config.timers,
            ))
        } else {
            ClientMachine::NonInvite(ClientNonInvite::new(
                now,
                bytes.clone(),
                reliable,
                self.config.timers,
            ))
        };
        let id = self.allocate_id();
        let key = ClientKey {
            branch,
            method: request.method,
        };
        self.transmits.push_back(Transmit {
            peer,
            payload: bytes,
            kind: MessageKind::Request(request.method),
            retransmission: false,
        });
        self.client_keys.insert(key.clone(), id);
        self.client.insert(
            id,
            ClientTx {
                key,
                peer,
                machine,
                request,
                call_id,
                cancel_pending: false,
                cancel_sent: false,
                non_2xx_ack: None,
                ack_2xx: None,
            },
        );
        self.reschedule(id);
        Ok(ClientTxId(id))
    }

    /// Cancels an INVITE we sent (§9.1). Before any provisional response the
    /// CANCEL waits and goes out with the first 1xx; after a final response
    /// there is nothing to cancel (after a 2xx the TU sends BYE instead).
    pub fn cancel(&mut self, now: Instant, tx: ClientTxId) -> Result<(), EndpointError> {
        let entry = self
            .client
            .get_mut(&tx.0)
            .ok_or(EndpointError::UnknownTransaction)?;
        let ClientMachine::Invite(m) = &entry.machine else {
            return Err(EndpointError::NothingToCancel);
        };
        if entry.cancel_sent || entry.cancel_pending {
            return Ok(());
        }
        match m.state() {
            ClientInviteState::Calling => {
                entry.cancel_pending = true;
                Ok(())
            }
            ClientInviteState::Proceeding => {
                self.send_cancel(now, tx.0);
                Ok(())
            }
            _ => Err(EndpointError::NothingToCancel),
        }
    }

    fn send_cancel(&mut self, now: Instant, id: u64) {
        let Some(entry) = self.client.get_mut(&id) else {
            return;
        };
        entry.cancel_sent = true;
        entry.cancel_pending = false;
        let invite = &entry.request;
        let mut cancel = Request {
            method: Method::Cancel,
            uri: invite.uri.clone(),
            version: Version::V2,
            headers: Headers::default(),
            body: Vec::new(),
        };
        copy_for_cancel_or_ack(invite, &mut cancel.headers, None);
        let branch = entry.key.branch.clone();
        let peer = entry.peer;
        let _ = self.open_client_tx(now, cancel, peer, branch);
    }

    /// Sends the ACK for a 2xx to our INVITE `invite_tx` (§13.2.2.4). The
    /// ACK is its own transaction-less request: the endpoint adds a fresh
    /// Via and resends the ACK whenever that same 2xx is retransmitted.
    pub fn send_ack(&mut self, _now: Instant, invite_tx: ClientTxId, mut ack: Request, peer: Peer) {
        let branch = self.ids.branch();
        let via = self.via_value(peer.transport, &branch);
        ack.headers
            .push_front(Header::Via(rsipstack::sip::Via::new(via)));
        let body_len = ack.body.len();
        headers::fix_content_length(&mut ack, body_len);
        let bytes = Bytes::from(ack.to_bytes());
        if let (Some(entry), Some(tag)) = (self.client.get_mut(&invite_tx.0), headers::to_tag(&ack))
        {
            if entry.ack_2xx.is_none() {
                entry.ack_2xx = Some((tag, bytes.clone()));
            }
        }
        self.transmits.push_back(Transmit {
            peer,
            payload: bytes,
            kind: MessageKind::Request(Method::Ack),
            retransmission: false,
        });
    }

    /// Sends a message outside any transaction (a stateless answer).
    pub fn send_stateless(&mut self, peer: Peer, payload: Bytes, kind: MessageKind) {
        self.transmits.push_back(Transmit {
            peer,
            payload,
            kind,
            retransmission: false,
        });
    }

    fn on_response(&mut self, now: Instant, response: Response) -> Received {
        let status = response.status_code.code();
        let Some(via) = top_via(&response) else {
            return Received::Dropped(DropReason::BadResponse("Via".into()));
        };
        let Some((_, method)) = cseq(&response) else {
            return Received::Dropped(DropReason::BadResponse("CSeq".into()));
        };
        let key = ClientKey {
            branch: via_param(&via, "branch").unwrap_or_default().to_string(),
            method,
        };
        let Some(&id) = self.client_keys.get(&key) else {
            return Received::Stray(status);
        };
        let Some(entry) = self.client.get_mut(&id) else {
            return Received::Stray(status);
        };
        match &mut entry.machine {
            ClientMachine::NonInvite(m) => {
                if m.on_response(now, status) == NonInviteReaction::PassUp {
                    self.events.push_back(Event::Response {
                        tx: ClientTxId(id),
                        response,
                    });
                }
            }
            ClientMachine::Invite(m) => match m.on_response(now, status) {
                InviteReaction::PassUp => {
                    let send_cancel = entry.cancel_pending && (101..200).contains(&status);
                    if status >= 200 {
                        entry.cancel_pending = false;
                    }
                    self.events.push_back(Event::Response {
                        tx: ClientTxId(id),
                        response,
                    });
                    if send_cancel || (entry.cancel_pending && status == 100) {
                        self.send_cancel(now, id);
                    }
                }
                InviteReaction::AckAndPassUp => {
                    entry.cancel_pending = false;
                    let mut ack = Request {
                        method: Method::Ack,
                        uri: entry.request.uri.clone(),
                        version: Version::V2,
                        headers: Headers::default(),
                        body: Vec::new(),
                    };
                    copy_for_cancel_or_ack(&entry.request, &mut ack.headers, Some(&response));
                    let bytes = Bytes::from(ack.to_bytes());
                    entry.non_2xx_ack = Some(bytes.clone());
                    self.transmits.push_back(Transmit {
                        peer: entry.peer,
                        payload: bytes,
                        kind: MessageKind::Request(Method::Ack),
                        retransmission: false,
                    });
                    self.events.push_back(Event::Response {
                        tx: ClientTxId(id),
                        response,
                    });
                }
                InviteReaction::ResendAck => {
                    if let Some(bytes) = entry.non_2xx_ack.clone() {
                        self.transmits.push_back(Transmit {
                            peer: entry.peer,
                            payload: bytes,
                            kind: MessageKind::Request(Method::Ack),
                            retransmission: true,
                        });
                    }
                }
                InviteReaction::Repeated2xx => {
                    let tag = headers::to_tag(&response).unwrap_or_default();
                    match &entry.ack_2xx {
                        Some((acked_tag, bytes)) if *acked_tag == tag => {
                            self.transmits.push_back(Transmit {
                                peer: entry.peer,
                                payload: bytes.clone(),
                                kind: MessageKind::Request(Method::Ack),
                                retransmission: true,
                            });
                        }
                        // A 2xx from another fork, or before the TU acked:
                        // the TU decides (ACK, and BYE a second dialog).
                        _ => self.events.push_back(Event::Response {
                            tx: ClientTxId(id),
                            response,
                        }),
                    }
                }
                InviteReaction::Absorb => {}
            },
        }
        self.reschedule(id);
        Received::Response(status)
    }

    fn allocate_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn reschedule(&mut self, id: u64) {
        let next = if let Some(tx) = self.server.get(&id) {
            match &tx.machine {
                ServerMachine::Invite(m) => m.next_deadline(),
                ServerMachine::NonInvite(m) => m.next_deadline(),
            }
        } else if let Some(tx) = self.client.get(&id) {
            match &tx.machine {
                ClientMachine::Invite(m) => m.next_deadline(),
                ClientMachine::NonInvite(m) => m.next_deadline(),
            }
        } else {
            None
        };
        let previous = self.scheduled.get(&id).copied();
        if previous == next {
            return;
        }
        if let Some(at) = previous {
            self.timers.remove(&(at, id));
            self.scheduled.remove(&id);
        }
        if let Some(at) = next {
            self.timers.insert((at, id));
            self.scheduled.insert(id, at);
        }
    }

    fn remove_server(&mut self, id: u64) {
        if let Some(tx) = self.server.remove(&id) {
            self.server_keys.remove(&tx.key);
            if let Some(key) = tx.ack_key {
                self.acks_awaited.remove(&key);
            }
        }
        if let Some(at) = self.scheduled.remove(&id) {
            self.timers.remove(&(at, id));
        }
    }

    fn remove_client(&mut self, id: u64) {
        if let Some(tx) = self.client.remove(&id) {
            self.client_keys.remove(&tx.key);
        }
        if let Some(at) = self.scheduled.remove(&id) {
            self.timers.remove(&(at, id));
        }
    }
}

/// The headers a CANCEL (§9.1) or the ACK of a non-2xx (§17.1.1.3) copies
/// from the INVITE: the top Via only, Route, From, Call-ID, the CSeq number;
/// To from the INVITE (CANCEL) or from the response (ACK, with its tag).
fn copy_for_cancel_or_ack(invite: &Request, out: &mut Headers, response: Option<&Response>) {
    let method = if response.is_some() { "ACK" } else { "CANCEL" };
    if let Some(via) = top_via(invite) {
        out.push(Header::Via(rsipstack::sip::Via::new(via)));
    }
    for header in invite.headers.iter() {
        match header {
            Header::Route(_) | Header::From(_) | Header::CallId(_) => out.push(header.clone()),
            Header::To(_) if response.is_none() => out.push(header.clone()),
            _ => {}
        }
    }
    if let Some(to) = response.and_then(|r| r.to_header().ok()) {
        out.push(Header::To(to.clone()));
    }
    if let Some((number, _)) = cseq(invite) {
        headers::push(out, "CSeq", format!("{number} {method}"));
    }
    headers::push(out, "Max-Forwards", "70");
    headers::push(out, "Content-Length", "0");
}

fn response_kind(bytes: &[u8]) -> MessageKind {
    let code = bytes
        .get(8..11)
        .and_then(|c| std::str::from_utf8(c).ok())
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    MessageKind::Response(code)
}
