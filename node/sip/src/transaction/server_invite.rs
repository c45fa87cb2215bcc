//! The INVITE server transaction (RFC 3261 §17.2.1, Figure 7, as amended by
//! RFC 6026 §7.1 with the Accepted state).
//!
//! ```text
//!              INVITE → pass to TU, send 100
//!   ┌───────────── Proceeding ◄── 1xx from TU / INVITE: resend 1xx
//!   │ 2xx from TU            │ 300-699 from TU
//!   ▼                        ▼
//! Accepted              Completed ◄── Timer G: resend; INVITE: resend
//!   │ Timer G: resend 2xx     │ ACK              │ Timer H
//!   │ ACK (new branch): to TU ▼                  ▼
//!   │ Timer L            Confirmed ─ Timer I ─► Terminated
//!   └──────────────────────────────────────────► Terminated
//! ```

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{TimerStep, WrongState};
use crate::timer::{Timer, TimerConfig, TimerTable};

/// The states of an INVITE server transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerInviteState {
    /// Waiting for the TU's final response; provisional ones may go out.
    Proceeding,
    /// A 3xx–6xx went out; retransmitted until the ACK (Timer G, H).
    Completed,
    /// A 2xx went out; retransmitted until the ACK, then absorbing (Timer L).
    Accepted,
    /// The ACK for a 3xx–6xx arrived; absorbing its retransmissions (Timer I).
    Confirmed,
    /// Done; the endpoint forgets the transaction.
    Terminated,
}

impl ServerInviteState {
    fn name(self) -> &'static str {
        match self {
            ServerInviteState::Proceeding => "Proceeding",
            ServerInviteState::Completed => "Completed",
            ServerInviteState::Accepted => "Accepted",
            ServerInviteState::Confirmed => "Confirmed",
            ServerInviteState::Terminated => "Terminated",
        }
    }
}

/// An INVITE server transaction.
#[derive(Debug)]
pub struct ServerInvite {
    state: ServerInviteState,
    reliable: bool,
    config: TimerConfig,
    timers: TimerTable,
    last_response: Option<Bytes>,
    interval: Duration,
    acked: bool,
}

impl ServerInvite {
    /// A transaction for an INVITE that just arrived.
    pub fn new(reliable: bool, config: TimerConfig) -> Self {
        ServerInvite {
            state: ServerInviteState::Proceeding,
            reliable,
            config,
            timers: TimerTable::default(),
            last_response: None,
            interval: config.t1,
            acked: false,
        }
    }

    /// The current state.
    pub fn state(&self) -> ServerInviteState {
        self.state
    }

    /// The earliest armed timer.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    /// The INVITE arrived again: what to resend (§17.2.1). In Accepted and
    /// Confirmed a retransmitted INVITE is absorbed (RFC 6026 §7.1).
    pub fn on_request_retransmission(&self) -> Option<Bytes> {
        match self.state {
            ServerInviteState::Proceeding | ServerInviteState::Completed => {
                self.last_response.clone()
            }
            _ => None,
        }
    }

    /// The TU sends a response with `status`, serialized as `bytes`.
    pub fn send_response(
        &mut self,
        now: Instant,
        status: u16,
        bytes: Bytes,
    ) -> Result<(), WrongState> {
        let wrong = WrongState {
            state: self.state.name(),
            status,
        };
        if self.state != ServerInviteState::Proceeding {
            return Err(wrong);
        }
        match status {
            100..=199 => {}
            200..=299 => {
                self.state = ServerInviteState::Accepted;
                self.timers.set(Timer::L, now + self.config.t1x64());
                self.arm_retransmission(now);
            }
            300..=699 => {
                self.state = ServerInviteState::Completed;
                self.timers.set(Timer::H, now + self.config.t1x64());
                self.arm_retransmission(now);
            }
            _ => return Err(wrong),
        }
        self.last_response = Some(bytes);
        Ok(())
    }

    fn arm_retransmission(&mut self, now: Instant) {
        if !self.reliable {
            self.interval = self.config.t1;
            self.timers.set(Timer::G, now + self.interval);
        }
    }

    /// An ACK with this transaction's branch: the ACK of a 3xx–6xx (§17.2.1).
    /// Some user agents reuse the INVITE's branch for the ACK of a 2xx; in
    /// Accepted that ACK is treated like [`on_2xx_ack`](Self::on_2xx_ack).
    /// Returns true when the ACK is the first for a 2xx and goes to the TU.
    pub fn on_ack(&mut self, now: Instant) -> bool {
        match self.state {
            ServerInviteState::Completed => {
                self.state = ServerInviteState::Confirmed;
                self.timers.stop(Timer::G);
                self.timers.stop(Timer::H);
                let wait = if self.reliable {
                    Duration::ZERO
                } else {
                    self.config.t4
                };
                self.timers.set(Timer::I, now + wait);
                false
            }
            ServerInviteState::Accepted => self.on_2xx_ack(),
            _ => false,
        }
    }

    /// The ACK of our 2xx arrived (it carries a new branch, so the endpoint
    /// matched it by Call-ID and CSeq). Stops the 2xx retransmissions; the
    /// transaction stays in Accepted until Timer L to absorb retransmitted
    /// INVITEs. Returns true for the first ACK only.
    pub fn on_2xx_ack(&mut self) -> bool {
        if self.state != ServerInviteState::Accepted || self.acked {
            return false;
        }
        self.acked = true;
        self.timers.stop(Timer::G);
        true
    }

    /// Whether the ACK for a 2xx arrived.
    pub fn acked(&self) -> bool {
        self.acked
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) -> TimerStep {
        let mut step = TimerStep::default();
        while let Some(timer) = self.timers.pop_expired(now) {
            match (self.state, timer) {
                (ServerInviteState::Completed | ServerInviteState::Accepted, Timer::G) => {
                    step.retransmit = self.last_response.clone();
                    self.interval = (self.interval * 2).min(self.config.t2);
                    self.timers.set(Timer::G, now + self.interval);
                }
                (ServerInviteState::Completed, Timer::H) => self.terminate(),
                (ServerInviteState::Confirmed, Timer::I) => self.terminate(),
                (ServerInviteState::Accepted, Timer::L) => {
                    step.timed_out = !self.acked;
                    self.terminate();
                }
                _ => {}
            }
        }
        step
    }

    fn terminate(&mut self) {
        self.state = ServerInviteState::Terminated;
        self.timers.clear();
    }
}
