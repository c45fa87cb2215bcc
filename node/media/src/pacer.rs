//! Which stream sends its next 20 ms frame when.
//!
//! One heap for every playing stream of a node, instead of one timer per
//! stream: the shell sleeps until [`Pacer::next_deadline`], then takes every
//! due stream from [`Pacer::poll`]. Each stream keeps its own phase (frame n
//! is due at start + n·20 ms), so a late wake-up delays packets but never
//! shifts the schedule. A stream that fell far behind (the process was
//! stalled) skips the frames it missed rather than sending them in a burst.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::Hash;
use std::time::{Duration, Instant};

use crate::FRAME_DURATION;

/// Behind by more than this, a stream skips frames instead of catching up.
pub const MAX_CATCH_UP: Duration = Duration::from_millis(100);

/// A stream whose frame is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Due<K> {
    /// The stream.
    pub key: K,
    /// When the frame was due (to measure lateness against).
    pub scheduled: Instant,
    /// Frames skipped before this one because the stream fell behind; the
    /// RTP timestamp must advance by them too.
    pub skipped: u32,
}

/// The schedule of every playing stream.
#[derive(Debug)]
pub struct Pacer<K> {
    heap: BinaryHeap<Reverse<(Instant, u64, K)>>,
    active: HashMap<K, u64>,
    generation: u64,
}

impl<K: Copy + Eq + Hash + Ord> Default for Pacer<K> {
    fn default() -> Self {
        Pacer {
            heap: BinaryHeap::new(),
            active: HashMap::new(),
            generation: 0,
        }
    }
}

impl<K: Copy + Eq + Hash + Ord> Pacer<K> {
    /// An empty schedule.
    pub fn new() -> Self {
        Self::default()
    }

    /// Streams scheduled.
    pub fn len(&self) -> usize {
        self.active.len()
    }

    /// Whether no stream is scheduled.
    pub fn is_empty(&self) -> bool {
        self.active.is_empty()
    }

    /// Schedules `key`'s first frame at `first`, then one every 20 ms.
    /// Replaces any earlier schedule of the same key.
    pub fn insert(&mut self, key: K, first: Instant) {
        self.generation += 1;
        self.active.insert(key, self.generation);
        self.heap.push(Reverse((first, self.generation, key)));
    }

    /// Stops scheduling `key`.
    pub fn remove(&mut self, key: K) {
        self.active.remove(&key);
    }

    /// When the earliest frame is due.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        self.drop_stale();
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// The next stream due at `now`, rescheduled for its following frame.
    pub fn poll(&mut self, now: Instant) -> Option<Due<K>> {
        self.drop_stale();
        let Reverse((at, generation, key)) = *self.heap.peek()?;
        if at > now {
            return None;
        }
        self.heap.pop();
        let mut scheduled = at;
        let mut skipped = 0u32;
        while now.saturating_duration_since(scheduled) > MAX_CATCH_UP {
            scheduled += FRAME_DURATION;
            skipped += 1;
        }
        self.heap
            .push(Reverse((scheduled + FRAME_DURATION, generation, key)));
        Some(Due {
            key,
            scheduled,
            skipped,
        })
    }

    fn drop_stale(&mut self) {
        while let Some(Reverse((_, generation, key))) = self.heap.peek() {
            if self.active.get(key) == Some(generation) {
                break;
            }
            self.heap.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn streams_keep_their_own_phase() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new();
        pacer.insert(1u32, t0);
        pacer.insert(2u32, t0 + ms(7));
        let mut log = Vec::new();
        let mut now = t0;
        while now <= t0 + ms(60) {
            while let Some(due) = pacer.poll(now) {
                log.push((due.key, (due.scheduled - t0).as_millis()));
            }
            now = pacer.next_deadline().unwrap();
        }
        assert_eq!(
            log,
            vec![(1, 0), (2, 7), (1, 20), (2, 27), (1, 40), (2, 47), (1, 60)]
        );
    }

    #[test]
    fn a_removed_stream_is_not_polled() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new();
        pacer.insert(1u32, t0);
        pacer.remove(1);
        assert_eq!(pacer.poll(t0 + ms(100)), None);
        assert_eq!(pacer.next_deadline(), None);
        assert!(pacer.is_empty());
    }

    #[test]
    fn a_stalled_stream_skips_instead_of_bursting() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new();
        pacer.insert(1u32, t0);
        let due = pacer.poll(t0 + ms(500)).unwrap();
        assert_eq!(due.skipped, 20);
        assert_eq!(due.scheduled, t0 + ms(400));
        // Catching up within MAX_CATCH_UP happens frame by frame.
        let mut sent = 1;
        while pacer.poll(t0 + ms(500)).is_some() {
            sent += 1;
        }
        assert_eq!(sent, 6);
    }
}
