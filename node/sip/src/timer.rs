//! RFC 3261 transaction timers as plain data.
//!
//! A transaction keeps a [`TimerTable`]: one optional deadline per [`Timer`].
//! Nothing here sleeps; the endpoint reports the earliest deadline and the
//! shell calls `handle_timeout(now)` when it passes.

use std::time::{Duration, Instant};

/// The base values of RFC 3261 Table 4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerConfig {
    /// T1, the round-trip estimate: 500 ms by default.
    pub t1: Duration,
    /// T2, the longest retransmit interval for non-INVITE requests and INVITE
    /// responses: 4 s by default.
    pub t2: Duration,
    /// T4, how long a message may stay in the network: 5 s by default.
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl TimerConfig {
    /// 64·T1: the transaction timeout of timers B, F, H, J, L and M.
    pub fn t1x64(&self) -> Duration {
        self.t1 * 64
    }
}

/// The transaction timers. Timer C belongs to proxies and is not used by a
/// user agent. Timers L and M come from RFC 6026, which keeps INVITE
/// transactions alive after a 2xx so that retransmissions are absorbed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// When to retransmit an INVITE (client, UDP): first after T1, the
    /// interval doubling each time, without cap (§17.1.1.2).
    A,
    /// When to give up on an INVITE with no response: 64·T1 (§17.1.1.2).
    B,
    /// When to leave Completed after a non-2xx final response to an INVITE,
    /// absorbing its retransmissions: 32 s over UDP, 0 over TCP (§17.1.1.2).
    D,
    /// When to retransmit a non-INVITE request (client, UDP): T1 doubling up
    /// to T2; in Proceeding, every T2 (§17.1.2.2).
    E,
    /// When to give up on a non-INVITE request: 64·T1 (§17.1.2.2).
    F,
    /// When to retransmit a final response to an INVITE until the ACK
    /// arrives (server, UDP): T1 doubling up to T2 (§17.2.1). The same
    /// schedule retransmits a 2xx, which §13.3.1.4 asks the UAS core to do.
    G,
    /// When to stop waiting for the ACK of a non-2xx final response: 64·T1
    /// (§17.2.1).
    H,
    /// When to leave Confirmed, absorbing ACK retransmissions: T4 over UDP,
    /// 0 over TCP (§17.2.1).
    I,
    /// When to leave Completed after a final response to a non-INVITE
    /// request: 64·T1 over UDP, 0 over TCP (§17.2.2).
    J,
    /// When to leave Completed after a final response to a non-INVITE
    /// request we sent: T4 over UDP, 0 over TCP (§17.1.2.2).
    K,
    /// When to leave Accepted after sending a 2xx to an INVITE (and, with no
    /// ACK by then, to tell the TU the ACK never came): 64·T1 (RFC 6026 §8.7,
    /// RFC 3261 §13.3.1.4).
    L,
    /// When to leave Accepted after receiving a 2xx to an INVITE, absorbing
    /// its retransmissions: 64·T1 (RFC 6026 §8.4).
    M,
}

const ALL: [Timer; 12] = [
    Timer::A,
    Timer::B,
    Timer::D,
    Timer::E,
    Timer::F,
    Timer::G,
    Timer::H,
    Timer::I,
    Timer::J,
    Timer::K,
    Timer::L,
    Timer::M,
];

impl Timer {
    fn index(self) -> usize {
        ALL.iter().position(|t| *t == self).unwrap_or(0)
    }
}

/// One optional deadline per timer.
#[derive(Clone, Debug, Default)]
pub struct TimerTable {
    deadlines: [Option<Instant>; 12],
}

impl TimerTable {
    /// Arms `timer` to fire at `at`, replacing any earlier deadline.
    pub fn set(&mut self, timer: Timer, at: Instant) {
        self.deadlines[timer.index()] = Some(at);
    }

    /// Disarms `timer`.
    pub fn stop(&mut self, timer: Timer) {
        self.deadlines[timer.index()] = None;
    }

    /// The deadline of `timer`, if armed.
    pub fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer.index()]
    }

    /// The earliest armed deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Disarms and returns the earliest timer due at `now`, if any. Timers
    /// due at the same instant fire in the order of [`Timer`].
    pub fn pop_expired(&mut self, now: Instant) -> Option<Timer> {
        let (index, _) = self
            .deadlines
            .iter()
            .enumerate()
            .filter_map(|(i, d)| d.filter(|d| *d <= now).map(|d| (i, d)))
            .min_by_key(|(i, d)| (*d, *i))?;
        self.deadlines[index] = None;
        Some(ALL[index])
    }

    /// Disarms every timer.
    pub fn clear(&mut self) {
        self.deadlines = [None; 12];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_timers_fire_earliest_first() {
        let t0 = Instant::now();
        let mut table = TimerTable::default();
        table.set(Timer::B, t0 + Duration::from_secs(32));
        table.set(Timer::A, t0 + Duration::from_millis(500));
        assert_eq!(table.next_deadline(), Some(t0 + Duration::from_millis(500)));
        assert_eq!(table.pop_expired(t0), None);
        assert_eq!(
            table.pop_expired(t0 + Duration::from_secs(40)),
            Some(Timer::A)
        );
        assert_eq!(
            table.pop_expired(t0 + Duration::from_secs(40)),
            Some(Timer::B)
        );
        assert_eq!(table.pop_expired(t0 + Duration::from_secs(40)), None);
    }
}
