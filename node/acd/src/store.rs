//! The one interface every ACD store offers, and the in-memory store.
//!
//! Every operation is one atomic step of the [model](crate::model): the
//! in-memory store holds the model in a mutex; the Redis store runs each
//! operation as one Lua script. Both answer with the operation's result and
//! its [`Effects`], and both deliver notices to the nodes they are for.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};

use crate::model::Model;
use crate::types::*;

/// Why a store operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The shared state cannot be reached (Redis down, failing over).
    #[error("the ACD store is unreachable: {0}")]
    Unavailable(String),
    /// The store answered something this code cannot read.
    #[error("the ACD store answered badly: {0}")]
    Protocol(String),
    /// An agent operation on an agent that does not exist.
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// A request the store cannot take (an event id that is not one).
    #[error("{0}")]
    Invalid(String),
}

/// Receives the notices addressed to one node.
pub type NoticeSink = Arc<dyn Fn(Notice) + Send + Sync>;

/// An ACD store. Every method is one atomic operation of the model.
pub trait AcdStore: Send + Sync + 'static {
    /// Sets a unit's queues and agents (idempotent; nodes call it at start).
    fn configure(
        &self,
        unit: &str,
        config: &UnitConfig,
        now: Millis,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// A caller joins a queue.
    fn join(
        &self,
        unit: &str,
        join: &Join,
        now: Millis,
    ) -> impl Future<Output = Result<(JoinOutcome, Effects), StoreError>> + Send;
    /// A caller leaves; returns the (agent, reservation) offers that rang.
    fn leave(
        &self,
        unit: &str,
        call: &str,
        reason: LeaveReason,
        now: Millis,
    ) -> impl Future<Output = Result<(Vec<(String, String)>, Effects), StoreError>> + Send;
    /// An offer was answered; `None` if the reservation is stale.
    fn offer_answered(
        &self,
        unit: &str,
        reservation: &str,
        now: Millis,
    ) -> impl Future<Output = Result<(Option<(String, String)>, Effects), StoreError>> + Send;
    /// An offer was not taken.
    fn offer_failed(
        &self,
        unit: &str,
        reservation: &str,
        failure: OfferFailure,
        now: Millis,
    ) -> impl Future<Output = Result<Effects, StoreError>> + Send;
    /// An agent's call `call` ended.
    fn call_ended(
        &self,
        unit: &str,
        agent: &str,
        call: &str,
        by_agent: bool,
        now: Millis,
    ) -> impl Future<Output = Result<Effects, StoreError>> + Send;
    /// An agent logs in.
    fn login(
        &self,
        unit: &str,
        agent: &str,
        now: Millis,
    ) -> impl Future<Output = Result<Effects, StoreError>> + Send;
    /// An agent logs out.
    fn logout(
        &self,
        unit: &str,
        agent: &str,
        now: Millis,
    ) -> impl Future<Output = Result<Effects, StoreError>> + Send;
    /// An agent pauses.
    fn pause(
        &self,
        unit: &str,
        agent: &str,
        reason: &str,
        now: Millis,
    ) -> impl Future<Output = Result<Effects, StoreError>> + Send;
    /// An agent unpauses.
    fn unpause(
        &self,
        unit: &str,
        agent: &str,
        now: Millis,
    ) -> impl Future<Output = Result<Effects, StoreError>> + Send;
    /// Runs what time made due; returns when to tick next.
    fn tick(
        &self,
        unit: &str,
        now: Millis,
    ) -> impl Future<Output = Result<(Option<Millis>, Effects), StoreError>> + Send;
    /// Cleans up after a dead node.
    fn reap_node(
        &self,
        unit: &str,
        node: &str,
        now: Millis,
    ) -> impl Future<Output = Result<Effects, StoreError>> + Send;
    /// A waiting caller's place.
    fn position(
        &self,
        unit: &str,
        call: &str,
    ) -> impl Future<Output = Result<Option<Position>, StoreError>> + Send;
    /// A unit's queues and agents.
    fn snapshot(&self, unit: &str) -> impl Future<Output = Result<Snapshot, StoreError>> + Send;
    /// Up to `limit` of a unit's queue events, oldest first, after the one
    /// with id `after` (from the oldest kept without it). The log keeps the
    /// last [`EVENTS_KEPT`] events or so.
    fn events(
        &self,
        unit: &str,
        after: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<LoggedEvent>, StoreError>> + Send;
}

/// About how many events a unit's log keeps.
pub const EVENTS_KEPT: usize = 100_000;

/// The model in a mutex: the ACD of a single node (the embedded default),
/// and the reference the Redis store is tested against.
#[derive(Clone, Default)]
pub struct MemoryStore {
    model: Arc<Mutex<Model>>,
    sinks: Arc<Mutex<HashMap<String, NoticeSink>>>,
    log: Arc<Mutex<EventLog>>,
}

/// Each unit's recent events, numbered.
#[derive(Default)]
struct EventLog {
    next: u64,
    units: HashMap<String, VecDeque<(u64, QueueEvent)>>,
}

impl EventLog {
    fn append(&mut self, events: &[QueueEvent]) {
        for event in events {
            self.next += 1;
            let log = self.units.entry(event.unit.clone()).or_default();
            if log.len() >= EVENTS_KEPT {
                log.pop_front();
            }
            log.push_back((self.next, event.clone()));
        }
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    /// Delivers notices for `node` to `sink` from now on.
    pub fn subscribe(&self, node: &str, sink: NoticeSink) {
        if let Ok(mut sinks) = self.sinks.lock() {
            sinks.insert(node.to_string(), sink);
        }
    }

    fn run<T>(
        &self,
        unit: &str,
        now: Millis,
        f: impl FnOnce(&mut Model) -> (T, Effects),
    ) -> (T, Effects) {
        // The lock is never held across an await: every operation is sync.
        let (result, effects) = {
            let mut model = self
                .model
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let (result, mut effects) = f(&mut model);
            effects.next_tick = model.next_deadline(unit, now);
            (result, effects)
        };
        if let Ok(mut log) = self.log.lock() {
            log.append(&effects.events);
        }
        self.deliver(&effects);
        (result, effects)
    }

    fn deliver(&self, effects: &Effects) {
        let sinks: Vec<(Notice, NoticeSink)> = {
            let Ok(sinks) = self.sinks.lock() else { return };
            effects
                .notices
                .iter()
                .filter_map(|n| sinks.get(n.node()).map(|s| (n.clone(), Arc::clone(s))))
                .collect()
        };
        for (notice, sink) in sinks {
            sink(notice);
        }
    }
}

impl AcdStore for MemoryStore {
    async fn configure(
        &self,
        unit: &str,
        config: &UnitConfig,
        now: Millis,
    ) -> Result<(), StoreError> {
        self.run(unit, now, |m| {
            m.configure(unit, config.clone(), now);
            ((), Effects::default())
        });
        Ok(())
    }

    async fn join(
        &self,
        unit: &str,
        join: &Join,
        now: Millis,
    ) -> Result<(JoinOutcome, Effects), StoreError> {
        Ok(self.run(unit, now, |m| m.join(unit, join, now)))
    }

    async fn leave(
        &self,
        unit: &str,
        call: &str,
        reason: LeaveReason,
        now: Millis,
    ) -> Result<(Vec<(String, String)>, Effects), StoreError> {
        Ok(self.run(unit, now, |m| m.leave(unit, call, reason, now)))
    }

    async fn offer_answered(
        &self,
        unit: &str,
        reservation: &str,
        now: Millis,
    ) -> Result<(Option<(String, String)>, Effects), StoreError> {
        Ok(self.run(unit, now, |m| m.offer_answered(unit, reservation, now)))
    }

    async fn offer_failed(
        &self,
        unit: &str,
        reservation: &str,
        failure: OfferFailure,
        now: Millis,
    ) -> Result<Effects, StoreError> {
        Ok(self
            .run(unit, now, |m| {
                ((), m.offer_failed(unit, reservation, failure, now))
            })
            .1)
    }

    async fn call_ended(
        &self,
        unit: &str,
        agent: &str,
        call: &str,
        by_agent: bool,
        now: Millis,
    ) -> Result<Effects, StoreError> {
        Ok(self
            .run(unit, now, |m| {
                ((), m.call_ended(unit, agent, call, by_agent, now))
            })
            .1)
    }

    async fn login(&self, unit: &str, agent: &str, now: Millis) -> Result<Effects, StoreError> {
        let (result, _) = self.run(unit, now, |m| match m.login(unit, agent, now) {
            Ok(fx) => (Ok(fx.clone()), fx),
            Err(e) => (Err(e), Effects::default()),
        });
        Ok(result?)
    }

    async fn logout(&self, unit: &str, agent: &str, now: Millis) -> Result<Effects, StoreError> {
        let (result, _) = self.run(unit, now, |m| match m.logout(unit, agent, now) {
            Ok(fx) => (Ok(fx.clone()), fx),
            Err(e) => (Err(e), Effects::default()),
        });
        Ok(result?)
    }

    async fn pause(
        &self,
        unit: &str,
        agent: &str,
        reason: &str,
        now: Millis,
    ) -> Result<Effects, StoreError> {
        let (result, _) = self.run(unit, now, |m| match m.pause(unit, agent, reason, now) {
            Ok(fx) => (Ok(fx.clone()), fx),
            Err(e) => (Err(e), Effects::default()),
        });
        Ok(result?)
    }

    async fn unpause(&self, unit: &str, agent: &str, now: Millis) -> Result<Effects, StoreError> {
        let (result, _) = self.run(unit, now, |m| match m.unpause(unit, agent, now) {
            Ok(fx) => (Ok(fx.clone()), fx),
            Err(e) => (Err(e), Effects::default()),
        });
        Ok(result?)
    }

    async fn tick(&self, unit: &str, now: Millis) -> Result<(Option<Millis>, Effects), StoreError> {
        Ok(self.run(unit, now, |m| m.tick(unit, now)))
    }

    async fn reap_node(&self, unit: &str, node: &str, now: Millis) -> Result<Effects, StoreError> {
        Ok(self
            .run(unit, now, |m| ((), m.reap_node(unit, node, now)))
            .1)
    }

    async fn position(&self, unit: &str, call: &str) -> Result<Option<Position>, StoreError> {
        Ok(self
            .model
            .lock()
            .map_err(|e| StoreError::Protocol(e.to_string()))?
            .position(unit, call))
    }

    async fn snapshot(&self, unit: &str) -> Result<Snapshot, StoreError> {
        Ok(self
            .model
            .lock()
            .map_err(|e| StoreError::Protocol(e.to_string()))?
            .snapshot(unit))
    }

    async fn events(
        &self,
        unit: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LoggedEvent>, StoreError> {
        let after = match after {
            Some(id) => id
                .parse::<u64>()
                .map_err(|_| StoreError::Invalid(format!("no event id {id:?}")))?,
            None => 0,
        };
        let log = self
            .log
            .lock()
            .map_err(|e| StoreError::Protocol(e.to_string()))?;
        Ok(log
            .units
            .get(unit)
            .into_iter()
            .flatten()
            .filter(|(id, _)| *id > after)
            .take(limit)
            .map(|(id, event)| LoggedEvent {
                id: id.to_string(),
                event: event.clone(),
            })
            .collect())
    }
}
