//! The non-INVITE client transaction (RFC 3261 §17.1.2, Figure 6).
//!
//! ```text
//! Trying ─Timer E: resend, interval doubles to T2─┐   Timer F ─► Terminated
//!   │ 1xx                                         │
//!   ▼                                             │
//! Proceeding ─Timer E: resend every T2            │
//!   │ final (both states)                         │
//!   ▼                                             │
//! Completed ─Timer K─► Terminated                 │
//! ```

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::TimerStep;
use crate::timer::{Timer, TimerConfig, TimerTable};

/// The states of a non-INVITE client transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientNonInviteState {
    /// The request went out; retransmitted on Timer E (UDP).
    Trying,
    /// A provisional response arrived; retransmissions continue every T2.
    Proceeding,
    /// The final response arrived; absorbing its retransmissions (Timer K).
    Completed,
    /// Done.
    Terminated,
}

/// What to do with a response the transaction just took in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonInviteReaction {
    /// Pass the response to the TU.
    PassUp,
    /// A retransmission: nothing to do.
    Absorb,
}

/// A non-INVITE client transaction.
#[derive(Debug)]
pub struct ClientNonInvite {
    state: ClientNonInviteState,
    reliable: bool,
    config: TimerConfig,
    timers: TimerTable,
    request: Bytes,
    interval: Duration,
}

impl ClientNonInvite {
    /// A transaction whose request is being sent at `now`.
    pub fn new(now: Instant, request: Bytes, reliable: bool, config: TimerConfig) -> Self {
        let mut timers = TimerTable::default();
        timers.set(Timer::F, now + config.t1x64());
        if !reliable {
            timers.set(Timer::E, now + config.t1);
        }
        ClientNonInvite {
            state: ClientNonInviteState::Trying,
            reliable,
            config,
            timers,
            request,
            interval: config.t1,
        }
    }

    /// The current state.
    pub fn state(&self) -> ClientNonInviteState {
        self.state
    }

    /// The earliest armed timer.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    /// A response arrived.
    pub fn on_response(&mut self, now: Instant, status: u16) -> NonInviteReaction {
        use ClientNonInviteState::*;
        match (self.state, status) {
            (Trying | Proceeding, 100..=199) => {
                self.state = Proceeding;
                NonInviteReaction::PassUp
            }
            (Trying | Proceeding, 200..=699) => {
                self.state = Completed;
                self.timers.clear();
                let wait = if self.reliable {
                    Duration::ZERO
                } else {
                    self.config.t4
                };
                self.timers.set(Timer::K, now + wait);
                NonInviteReaction::PassUp
            }
            _ => NonInviteReaction::Absorb,
        }
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) -> TimerStep {
        let mut step = TimerStep::default();
        while let Some(timer) = self.timers.pop_expired(now) {
            match (self.state, timer) {
                (ClientNonInviteState::Trying | ClientNonInviteState::Proceeding, Timer::E) => {
                    step.retransmit = Some(self.request.clone());
                    self.interval = if self.state == ClientNonInviteState::Proceeding {
                        self.config.t2
                    } else {
                        (self.interval * 2).min(self.config.t2)
                    };
                    self.timers.set(Timer::E, now + self.interval);
                }
                (ClientNonInviteState::Trying | ClientNonInviteState::Proceeding, Timer::F) => {
                    step.timed_out = true;
                    self.terminate();
                }
                (ClientNonInviteState::Completed, Timer::K) => self.terminate(),
                _ => {}
            }
        }
        step
    }

    fn terminate(&mut self) {
        self.state = ClientNonInviteState::Terminated;
        self.timers.clear();
    }
}
