//! The INVITE client transaction (RFC 3261 §17.1.1, Figure 5, as amended by
//! RFC 6026 §7.2 with the Accepted state).
//!
//! ```text
//! Calling ─Timer A: resend─┐      Timer B ─► Terminated (TU: timeout)
//!   │ 1xx                   │
//!   ▼                       │
//! Proceeding ◄─1xx          │
//!   │ 2xx (both states) ─► Accepted ─Timer M─► Terminated
//!   │ 300-699 (both states): send ACK
//!   ▼
//! Completed ─ 300-699 again: resend ACK ─ Timer D ─► Terminated
//! ```

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::TimerStep;
use crate::timer::{Timer, TimerConfig, TimerTable};

/// The states of an INVITE client transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientInviteState {
    /// The INVITE went out; retransmitted on Timer A (UDP) until a response.
    Calling,
    /// A provisional response arrived.
    Proceeding,
    /// A 2xx arrived; later 2xx (retransmissions, forks) still reach the TU.
    Accepted,
    /// A 3xx–6xx arrived and was ACKed; its retransmissions get the ACK again.
    Completed,
    /// Done.
    Terminated,
}

/// What to do with a response the transaction just took in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InviteReaction {
    /// Pass the response to the TU.
    PassUp,
    /// A first 3xx–6xx: send the ACK (built by the endpoint) and pass up.
    AckAndPassUp,
    /// A retransmitted 3xx–6xx: resend the ACK, nothing to the TU.
    ResendAck,
    /// A 2xx in Accepted: a retransmission or a fork; the endpoint decides.
    Repeated2xx,
    /// Nothing to do.
    Absorb,
}

/// An INVITE client transaction.
#[derive(Debug)]
pub struct ClientInvite {
    state: ClientInviteState,
    reliable: bool,
    config: TimerConfig,
    timers: TimerTable,
    request: Bytes,
    interval: Duration,
}

impl ClientInvite {
    /// A transaction whose INVITE (`request`) is being sent at `now`.
    pub fn new(now: Instant, request: Bytes, reliable: bool, config: TimerConfig) -> Self {
        let mut timers = TimerTable::default();
        timers.set(Timer::B, now + config.t1x64());
        if !reliable {
            timers.set(Timer::A, now + config.t1);
        }
        ClientInvite {
            state: ClientInviteState::Calling,
            reliable,
            config,
            timers,
            request,
            interval: config.t1,
        }
    }

    /// The current state.
    pub fn state(&self) -> ClientInviteState {
        self.state
    }

    /// The earliest armed timer.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    /// A response to the INVITE arrived.
    pub fn on_response(&mut self, now: Instant, status: u16) -> InviteReaction {
        use ClientInviteState::*;
        match (self.state, status) {
            (Calling | Proceeding, 100..=199) => {
                self.state = Proceeding;
                self.timers.stop(Timer::A);
                self.timers.stop(Timer::B);
                InviteReaction::PassUp
            }
            (Calling | Proceeding, 200..=299) => {
                self.state = Accepted;
                self.timers.clear();
                self.timers.set(Timer::M, now + self.config.t1x64());
                InviteReaction::PassUp
            }
            (Calling | Proceeding, 300..=699) => {
                self.state = Completed;
                self.timers.clear();
                let wait = if self.reliable {
                    Duration::ZERO
                } else {
                    Duration::from_secs(32)
                };
                self.timers.set(Timer::D, now + wait);
                InviteReaction::AckAndPassUp
            }
            (Accepted, 200..=299) => InviteReaction::Repeated2xx,
            (Completed, 300..=699) => InviteReaction::ResendAck,
            _ => InviteReaction::Absorb,
        }
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) -> TimerStep {
        let mut step = TimerStep::default();
        while let Some(timer) = self.timers.pop_expired(now) {
            match (self.state, timer) {
                (ClientInviteState::Calling, Timer::A) => {
                    step.retransmit = Some(self.request.clone());
                    self.interval *= 2;
                    self.timers.set(Timer::A, now + self.interval);
                }
                (ClientInviteState::Calling, Timer::B) => {
                    step.timed_out = true;
                    self.terminate();
                }
                (ClientInviteState::Completed, Timer::D)
                | (ClientInviteState::Accepted, Timer::M) => self.terminate(),
                _ => {}
            }
        }
        step
    }

    fn terminate(&mut self) {
        self.state = ClientInviteState::Terminated;
        self.timers.clear();
    }
}
