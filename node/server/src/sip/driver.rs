//! The SIP driver: the one task that owns the node's [`Endpoint`].
//!
//! It runs the endpoint the way quinn runs a connection: take every input
//! that is ready (a message, a command from a call), then drain transmits and
//! events, then sleep until the endpoint's next deadline. Events go to the
//! call they belong to, by Call-ID (requests, ACK, CANCEL) or by client
//! transaction (responses). New INVITEs are admitted here: a node that is
//! draining or full answers 503 with Retry-After; an unknown number gets 404.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use cc_sip::endpoint::{MessageKind, Received};
use cc_sip::headers::{self, response_for};
use cc_sip::msg::{Method, Request, Response};
use cc_sip::{ClientTxId, Endpoint, EndpointError, Event, Peer, ServerTxId};
use tokio::sync::{mpsc, oneshot};

use super::transport::Transports;
use crate::call::{self, CallInput, CallSender};
use crate::node::Node;

/// Everything the driver takes in.
// Each input moves once through a channel; boxing the big ones would cost an
// allocation per SIP message for no gain.
#[allow(clippy::large_enum_variant)]
pub enum SipInput {
    /// One whole message from a peer.
    Datagram { peer: Peer, bytes: Bytes },
    /// A TCP connection is up.
    TcpOpened {
        addr: std::net::SocketAddr,
        writer: mpsc::Sender<Bytes>,
    },
    /// A TCP connection closed; `failed` when it never opened.
    TcpClosed {
        addr: std::net::SocketAddr,
        failed: bool,
    },
    /// A call asks for something.
    Command(SipCommand),
}

/// What a call asks of the driver.
pub enum SipCommand {
    /// Answer a request.
    Respond { tx: ServerTxId, response: Response },
    /// Send a request; its responses come back to `owner`.
    Request {
        request: Request,
        peer: Peer,
        owner: CallSender,
        reply: oneshot::Sender<Result<ClientTxId, EndpointError>>,
    },
    /// Cancel an INVITE we sent.
    Cancel { tx: ClientTxId },
    /// Acknowledge a 2xx to our INVITE.
    Ack {
        invite_tx: ClientTxId,
        ack: Request,
        peer: Peer,
    },
    /// Route in-dialog requests with this Call-ID to `owner`.
    Route { call_id: String, owner: CallSender },
    /// Forget routes of a call that ended.
    Unroute { call_ids: Vec<String> },
}

/// How calls reach the driver.
#[derive(Clone)]
pub struct SipHandle {
    inputs: mpsc::Sender<SipInput>,
}

impl SipHandle {
    pub fn new(inputs: mpsc::Sender<SipInput>) -> SipHandle {
        SipHandle { inputs }
    }

    pub async fn command(&self, command: SipCommand) {
        let _ = self.inputs.send(SipInput::Command(command)).await;
    }

    /// Sends a request and waits for its transaction handle.
    pub async fn request(
        &self,
        request: Request,
        peer: Peer,
        owner: CallSender,
    ) -> Result<ClientTxId, EndpointError> {
        let (reply, answer) = oneshot::channel();
        self.command(SipCommand::Request {
            request,
            peer,
            owner,
            reply,
        })
        .await;
        answer
            .await
            .unwrap_or(Err(EndpointError::UnknownTransaction))
    }

    pub fn sender(&self) -> mpsc::Sender<SipInput> {
        self.inputs.clone()
    }
}

/// Inputs taken per wake-up before the driver flushes: bounds the latency a
/// burst of inputs adds to the timers and transmits behind it.
const MAX_INPUTS_PER_WAKE: usize = 64;

struct Driver {
    node: Arc<Node>,
    endpoint: Endpoint,
    transports: Transports,
    routes: HashMap<String, CallSender>,
    owners: HashMap<ClientTxId, CallSender>,
}

/// Runs the driver until its input channel closes.
pub async fn run(
    node: Arc<Node>,
    endpoint: Endpoint,
    transports: Transports,
    mut inputs: mpsc::Receiver<SipInput>,
) {
    let mut driver = Driver {
        node,
        endpoint,
        transports,
        routes: HashMap::new(),
        owners: HashMap::new(),
    };
    loop {
        let deadline = driver.endpoint.poll_timeout();
        tokio::select! {
            input = inputs.recv() => {
                let Some(input) = input else { return };
                driver.handle_input(input);
                for _ in 0..MAX_INPUTS_PER_WAKE {
                    match inputs.try_recv() {
                        Ok(input) => driver.handle_input(input),
                        Err(_) => break,
                    }
                }
            }
            _ = sleep_until(deadline) => {
                driver.endpoint.handle_timeout(Instant::now());
            }
        }
        driver.flush();
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}

impl Driver {
    fn handle_input(&mut self, input: SipInput) {
        let now = Instant::now();
        match input {
            SipInput::Datagram { peer, bytes } => {
                let received = self.endpoint.handle_datagram(now, peer, &bytes);
                let metrics = &self.node.metrics;
                match received {
                    Received::Request(method) => metrics.sip_request("in", &method.to_string()),
                    Received::Response(code) | Received::Stray(code) => {
                        metrics.sip_response("in", code)
                    }
                    Received::Rejected(_) => metrics.sip_request("in", "malformed"),
                    Received::Dropped(reason) => {
                        metrics.sip_dropped.inc();
                        tracing::debug!(%reason, addr = %peer.addr, "dropped a SIP message");
                    }
                    Received::Keepalive => {}
                }
            }
            SipInput::TcpOpened { addr, writer } => self.transports.opened(addr, writer),
            SipInput::TcpClosed { addr, failed } => {
                if self.transports.closed(addr) || failed {
                    self.endpoint.handle_transport_error(Peer {
                        transport: cc_sip::Transport::Tcp,
                        addr,
                    });
                }
            }
            SipInput::Command(command) => self.handle_command(now, command),
        }
    }

    fn handle_command(&mut self, now: Instant, command: SipCommand) {
        match command {
            SipCommand::Respond { tx, response } => {
                if let Err(e) = self.endpoint.respond(now, tx, response) {
                    tracing::debug!(error = %e, "response not sent");
                }
            }
            SipCommand::Request {
                request,
                peer,
                owner,
                reply,
            } => {
                let result = self.endpoint.send_request(now, request, peer);
                if let Ok(tx) = result {
                    self.owners.insert(tx, owner);
                }
                let _ = reply.send(result);
            }
            SipCommand::Cancel { tx } => {
                let _ = self.endpoint.cancel(now, tx);
            }
            SipCommand::Ack {
                invite_tx,
                ack,
                peer,
            } => self.endpoint.send_ack(now, invite_tx, ack, peer),
            SipCommand::Route { call_id, owner } => {
                self.routes.insert(call_id, owner);
            }
            SipCommand::Unroute { call_ids } => {
                for call_id in call_ids {
                    self.routes.remove(&call_id);
                }
                self.owners.retain(|_, owner| !owner.is_closed());
            }
        }
    }

    fn flush(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(transmit) = self.endpoint.poll_transmit() {
                progressed = true;
                let metrics = &self.node.metrics;
                match transmit.kind {
                    MessageKind::Request(method) => metrics.sip_request("out", &method.to_string()),
                    MessageKind::Response(code) => metrics.sip_response("out", code),
                    MessageKind::Pong => {}
                }
                if transmit.retransmission {
                    metrics
                        .sip_retransmissions
                        .get_or_create(&crate::metrics::Direction {
                            direction: "out".into(),
                        })
                        .inc();
                }
                self.transports.send(transmit.peer, transmit.payload);
            }
            while let Some(event) = self.endpoint.poll_event() {
                progressed = true;
                self.dispatch(event);
            }
            // Dispatching can answer requests (404, 481, 503), which queues
            // transmits again; loop until both queues are empty.
            if !progressed {
                break;
            }
        }
    }

    fn respond(
        &mut self,
        tx: ServerTxId,
        request: &Request,
        status: u16,
        extra: &[(&str, String)],
    ) {
        let tag = self.endpoint.ids().tag();
        let mut response = response_for(request, status, Some(&tag));
        for (name, value) in extra {
            headers::push(&mut response.headers, name, value.clone());
        }
        let _ = self.endpoint.respond(Instant::now(), tx, response);
    }

    fn route(&mut self, call_id: &str, input: CallInput) -> bool {
        match self.routes.get(call_id) {
            Some(owner) => match owner.try_send(input) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!(call_id, "call inbox full; event dropped");
                    true
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.routes.remove(call_id);
                    false
                }
            },
            None => false,
        }
    }

    fn dispatch(&mut self, event: Event) {
        match event {
            Event::Request {
                tx,
                request,
                source,
            } => self.on_request(tx, request, source),
            Event::Ack {
                request,
                source,
                invite_tx,
            } => {
                if let Some(call_id) = headers::call_id(&request) {
                    let event = Event::Ack {
                        request,
                        source,
                        invite_tx,
                    };
                    let _ = self.route(&call_id, CallInput::Sip(event));
                }
            }
            Event::Cancelled { invite_tx, call_id } => {
                let _ = self.route(
                    &call_id.clone(),
                    CallInput::Sip(Event::Cancelled { invite_tx, call_id }),
                );
            }
            Event::AckTimeout { invite_tx, call_id } => {
                let _ = self.route(
                    &call_id.clone(),
                    CallInput::Sip(Event::AckTimeout { invite_tx, call_id }),
                );
            }
            Event::Response { tx, response } => {
                let status = response.status_code.code();
                let is_invite = headers::cseq(&response).is_some_and(|(_, m)| m == Method::Invite);
                let done = status >= 300 || (status >= 200 && !is_invite);
                let owner = if done {
                    self.owners.remove(&tx)
                } else {
                    self.owners.get(&tx).cloned()
                };
                if let Some(owner) = owner {
                    let _ = owner.try_send(CallInput::Sip(Event::Response { tx, response }));
                }
            }
            Event::Timeout {
                tx,
                method,
                call_id,
            } => {
                if let Some(owner) = self.owners.remove(&tx) {
                    let _ = owner.try_send(CallInput::Sip(Event::Timeout {
                        tx,
                        method,
                        call_id,
                    }));
                }
            }
        }
    }

    fn on_request(&mut self, tx: ServerTxId, request: Request, source: Peer) {
        let call_id = headers::call_id(&request).unwrap_or_default();
        let in_dialog = headers::to_tag(&request).is_some();
        if in_dialog {
            let routed = self.route(
                &call_id,
                CallInput::Sip(Event::Request {
                    tx,
                    request: request.clone(),
                    source,
                }),
            );
            if !routed {
                // No such dialog here (any more): 481, for OPTIONS too, so
                // that a proxy's in-dialog keep-alive ends a stale call.
                self.respond(tx, &request, 481, &[]);
            }
            return;
        }
        match request.method {
            Method::Invite => {
                if self.routes.contains_key(&call_id) {
                    // Same Call-ID, no To tag, another branch: a merged
                    // request (RFC 3261 §8.2.2.2).
                    self.respond(tx, &request, 482, &[]);
                    return;
                }
                let node = Arc::clone(&self.node);
                if node.is_draining() || node.active_calls() >= node.settings.limits.max_calls {
                    let retry = node.settings.sip.retry_after_s.to_string();
                    self.respond(tx, &request, 503, &[("Retry-After", retry)]);
                    return;
                }
                match call::start(node, tx, request.clone(), source) {
                    Ok(owner) => {
                        self.routes.insert(call_id, owner);
                    }
                    Err(status) => self.respond(tx, &request, status, &[]),
                }
            }
            Method::Options => self.answer_options(tx, &request),
            _ => self.respond(tx, &request, 481, &[]),
        }
    }

    /// OPTIONS: 200 with our capabilities, or 503 while draining so that a
    /// dispatcher probing the node takes it out of rotation.
    fn answer_options(&mut self, tx: ServerTxId, request: &Request) {
        let allow = self.endpoint.allow_header().to_string();
        if self.node.is_draining() {
            let retry = self.node.settings.sip.retry_after_s.to_string();
            self.respond(
                tx,
                request,
                503,
                &[("Retry-After", retry), ("Allow", allow)],
            );
        } else {
            self.respond(
                tx,
                request,
                200,
                &[("Allow", allow), ("Accept", "application/sdp".into())],
            );
        }
    }
}
