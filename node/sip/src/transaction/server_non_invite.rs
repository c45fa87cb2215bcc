//! The non-INVITE server transaction (RFC 3261 §17.2.2, Figure 8).
//!
//! ```text
//! Trying ─1xx─► Proceeding ─final─► Completed ─Timer J─► Terminated
//!   └──────────── final ──────────────┘  (request: resend last response)
//! ```

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::WrongState;
use crate::timer::{Timer, TimerConfig, TimerTable};

/// The states of a non-INVITE server transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerNonInviteState {
    /// The request arrived; nothing sent yet.
    Trying,
    /// A provisional response went out.
    Proceeding,
    /// The final response went out; retransmitted on each repeated request.
    Completed,
    /// Done.
    Terminated,
}

/// A non-INVITE server transaction.
#[derive(Debug)]
pub struct ServerNonInvite {
    state: ServerNonInviteState,
    reliable: bool,
    config: TimerConfig,
    timers: TimerTable,
    last_response: Option<Bytes>,
}

impl ServerNonInvite {
    /// A transaction for a request that just arrived.
    pub fn new(reliable: bool, config: TimerConfig) -> Self {
        ServerNonInvite {
            state: ServerNonInviteState::Trying,
            reliable,
            config,
            timers: TimerTable::default(),
            last_response: None,
        }
    }

    /// The current state.
    pub fn state(&self) -> ServerNonInviteState {
        self.state
    }

    /// The earliest armed timer.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    /// The request arrived again: the last response, if any, goes out again.
    pub fn on_request_retransmission(&self) -> Option<Bytes> {
        self.last_response.clone()
    }

    /// The TU sends a response.
    pub fn send_response(
        &mut self,
        now: Instant,
        status: u16,
        bytes: Bytes,
    ) -> Result<(), WrongState> {
        match (self.state, status) {
            (ServerNonInviteState::Trying | ServerNonInviteState::Proceeding, 100..=199) => {
                self.state = ServerNonInviteState::Proceeding;
            }
            (ServerNonInviteState::Trying | ServerNonInviteState::Proceeding, 200..=699) => {
                self.state = ServerNonInviteState::Completed;
                let wait = if self.reliable {
                    Duration::ZERO
                } else {
                    self.config.t1x64()
                };
                self.timers.set(Timer::J, now + wait);
            }
            (state, status) => {
                return Err(WrongState {
                    state: match state {
                        ServerNonInviteState::Trying => "Trying",
                        ServerNonInviteState::Proceeding => "Proceeding",
                        ServerNonInviteState::Completed => "Completed",
                        ServerNonInviteState::Terminated => "Terminated",
                    },
                    status,
                })
            }
        }
        self.last_response = Some(bytes);
        Ok(())
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.pop_expired(now) {
            if timer == Timer::J {
                self.state = ServerNonInviteState::Terminated;
                self.timers.clear();
            }
        }
    }
}
