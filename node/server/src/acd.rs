//! The node's side of the ACD: the store (the model in memory for a single
//! node; Redis when nodes share queues), the routing of its notices to the
//! calls this node holds, and the ticker that runs what time makes due.
//!
//! Calls register before they join a queue, so that an offer made by the
//! join itself (a free agent) finds them. A notice for a call this node no
//! longer holds (it ended while the notice was on its way) releases what it
//! concerns, so no agent is left ringing for nobody.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cc_acd::{
    AcdStore, AgentConfig, Effects, Join, JoinOutcome, LeaveReason, MemoryStore, Member, Millis, Notice, OfferFailure, Position,
    QueueConfig, Snapshot, StoreError, UnitConfig,
};
use tokio::sync::Notify;

use crate::call::{CallInput, CallSender};
use crate::metrics::{Metrics, UnitQueue, UnitState};
use crate::units::Directory;

/// The wall clock in milliseconds, the ACD's time.
pub fn now_ms() -> Millis {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as Millis).unwrap_or_default()
}

/// How often every unit is ticked even without a known deadline: the safety
/// net behind the event-driven matching.
const SWEEP: Duration = Duration::from_secs(1);

/// The stores the node can use.
pub enum Store {
    /// The model in this process (the embedded default).
    Memory(MemoryStore),
}

macro_rules! with_store {
    ($self:expr, $s:ident => $body:expr) => {
        match &$self.store {
            Store::Memory($s) => $body,
        }
    };
}

/// The ACD as the node's calls use it.
pub struct Acd {
    node: String,
    store: Store,
    units: Vec<String>,
    calls: Mutex<HashMap<String, (String, CallSender)>>,
    wake: Mutex<BTreeMap<String, Millis>>,
    tick_now: Notify,
    metrics: Arc<Metrics>,
}

/// The ACD configuration of a unit, from its document.
pub fn unit_config(unit: &cc_flow::Unit) -> UnitConfig {
    let doc = &unit.document;
    UnitConfig {
        queues: doc
            .queues
            .iter()
            .map(|(name, q)| {
                let config = QueueConfig {
                    strategy: q.strategy,
                    ring_timeout_ms: q.ring_timeout.as_millis() as u64,
                    max_wait_ms: q.max_wait.as_millis() as u64,
                    wrap_up_ms: q.wrap_up.as_millis() as u64,
                    max_len: q.max_len,
                    escalate_after_ms: q.escalate_after.map_or(0, |d| d.as_millis() as u64),
                    no_answer_delay_ms: q.no_answer_delay.as_millis() as u64,
                    busy_delay_ms: q.busy_delay.as_millis() as u64,
                    reject_delay_ms: q.reject_delay.as_millis() as u64,
                    max_misses: q.max_misses,
                    resume_window_ms: q.resume_window.map_or(0, |d| d.as_millis() as u64),
                    members: q
                        .agents
                        .iter()
                        .map(|m| Member {
                            agent: m.agent().to_string(),
                            level: m.level(),
                        })
                        .collect(),
                };
                (name.clone(), config)
            })
            .collect(),
        agents: doc
            .agents
            .iter()
            .map(|a| AgentConfig {
                id: a.id.clone(),
                wrap_up_ms: a.wrap_up.map(|d| d.as_millis() as u64),
            })
            .collect(),
    }
}

impl Acd {
    /// Sets up the ACD for the node's units and starts its ticker.
    pub async fn start(node: &str, store: Store, directory: &Directory, metrics: Arc<Metrics>) -> Result<Arc<Acd>, StoreError> {
        let units: Vec<String> = directory.units().iter().map(|u| u.id().to_string()).collect();
        let acd = Arc::new(Acd {
            node: node.to_string(),
            store,
            units,
            calls: Mutex::new(HashMap::new()),
            wake: Mutex::new(BTreeMap::new()),
            tick_now: Notify::new(),
            metrics,
        });
        let now = now_ms();
        for runtime in directory.units() {
            let config = unit_config(&runtime.unit);
            with_store!(acd, s => s.configure(runtime.id(), &config, now).await)?;
        }
        match &acd.store {
            Store::Memory(memory) => {
                let weak = Arc::downgrade(&acd);
                memory.subscribe(
                    node,
                    Arc::new(move |notice| {
                        if let Some(acd) = weak.upgrade() {
                            acd.deliver(notice);
                        }
                    }),
                );
            }
        }
        tokio::spawn(Arc::clone(&acd).ticker());
        Ok(acd)
    }

    /// The node's name, which offers for its calls carry.
    pub fn node(&self) -> &str {
        &self.node
    }

    fn deliver(self: &Arc<Self>, notice: Notice) {
        let owner = self.calls.lock().ok().and_then(|calls| calls.get(notice.call()).map(|(_, s)| s.clone()));
        let input = match &notice {
            Notice::Offer {
                agent,
                reservation,
                ring_timeout_ms,
                ..
            } => CallInput::Offer {
                agent: agent.clone(),
                reservation: reservation.clone(),
                ring_timeout: Duration::from_millis(*ring_timeout_ms),
            },
            Notice::Cancel { reservation, .. } => CallInput::CancelOffer {
                reservation: reservation.clone(),
            },
            Notice::Timeout { .. } => CallInput::QueueTimeout,
            Notice::NoAgents { .. } => CallInput::QueueNoAgents,
        };
        let delivered = owner.is_some_and(|o| o.try_send(input).is_ok());
        if !delivered {
            if let Notice::Offer { unit, call, .. } = notice {
                // The call is gone: take it out of the queue, which frees
                // the agent without counting a miss against them.
                let acd = Arc::clone(self);
                tokio::spawn(async move {
                    let _ = acd.leave(&unit, &call, LeaveReason::Failure).await;
                });
            }
        }
    }

    fn schedule(&self, unit: &str, fx: &Effects) {
        if let (Some(at), Ok(mut wake)) = (fx.next_tick, self.wake.lock()) {
            let entry = wake.entry(unit.to_string()).or_insert(at);
            if at < *entry {
                *entry = at;
                self.tick_now.notify_one();
            }
        }
    }

    fn observe(&self, unit: &str, fx: &Effects) {
        self.schedule(unit, fx);
        for event in &fx.events {
            self.metrics.acd_event(unit, &event.queue, &event.event);
        }
    }

    async fn ticker(self: Arc<Self>) {
        loop {
            let now = now_ms();
            let next = {
                let wake = self.wake.lock().map(|w| w.values().min().copied()).unwrap_or(None);
                wake.unwrap_or(now + SWEEP.as_millis() as u64).min(now + SWEEP.as_millis() as u64)
            };
            if next > now {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(next - now)) => {}
                    _ = self.tick_now.notified() => continue,
                }
            }
            let now = now_ms();
            for unit in self.units.clone() {
                let due = self.wake.lock().map(|w| w.get(&unit).is_none_or(|at| *at <= now)).unwrap_or(true);
                if !due {
                    continue;
                }
                if let Ok(mut wake) = self.wake.lock() {
                    wake.remove(&unit);
                }
                match with_store!(self, s => s.tick(&unit, now).await) {
                    Ok((next, fx)) => {
                        self.observe(&unit, &fx);
                        if let (Some(at), Ok(mut wake)) = (next, self.wake.lock()) {
                            wake.insert(unit.clone(), at);
                        }
                    }
                    Err(e) => tracing::warn!(unit, error = %e, "ACD tick"),
                }
                self.report(&unit).await;
            }
        }
    }

    async fn report(&self, unit: &str) {
        let Ok(snapshot) = with_store!(self, s => s.snapshot(unit).await) else { return };
        let now = now_ms();
        for queue in &snapshot.queues {
            let labels = UnitQueue {
                unit: unit.into(),
                queue: queue.name.clone(),
            };
            self.metrics.queue_waiting.get_or_create(&labels).set(i64::from(queue.waiting));
            let longest = queue.oldest_since.map_or(0.0, |since| now.saturating_sub(since) as f64 / 1000.0);
            self.metrics.queue_longest_wait.get_or_create(&labels).set(longest);
        }
        let mut by_state: BTreeMap<&str, i64> = cc_acd::AgentState::ALL.iter().map(|s| (s.as_str(), 0)).collect();
        for agent in &snapshot.agents {
            *by_state.entry(agent.state.as_str()).or_default() += 1;
        }
        for (state, count) in by_state {
            self.metrics
                .agents
                .get_or_create(&UnitState {
                    unit: unit.into(),
                    state: state.into(),
                })
                .set(count);
        }
    }

    /// A caller joins a queue; offers, timeouts and no-agent notices for the
    /// call go to `owner` from now on.
    pub async fn join(&self, unit: &str, queue: &str, call: &str, caller: &str, priority: u8, owner: CallSender) -> Result<JoinOutcome, StoreError> {
        if let Ok(mut calls) = self.calls.lock() {
            calls.insert(call.to_string(), (unit.to_string(), owner));
        }
        let join = Join {
            queue: queue.into(),
            call: call.into(),
            caller: caller.into(),
            node: self.node.clone(),
            priority,
        };
        let result = with_store!(self, s => s.join(unit, &join, now_ms()).await);
        match &result {
            Ok((JoinOutcome::Queued { .. }, fx)) => self.observe(unit, fx),
            _ => self.forget(call),
        }
        result.map(|(outcome, _)| outcome)
    }

    /// The call no longer takes notices.
    pub fn forget(&self, call: &str) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.remove(call);
        }
    }

    /// A caller leaves; returns the reservations that were ringing.
    pub async fn leave(&self, unit: &str, call: &str, reason: LeaveReason) -> Result<Vec<String>, StoreError> {
        self.forget(call);
        let (offers, fx) = with_store!(self, s => s.leave(unit, call, reason, now_ms()).await)?;
        self.observe(unit, &fx);
        Ok(offers.into_iter().map(|(_, r)| r).collect())
    }

    /// An agent answered an offer; `None` when it is stale.
    pub async fn answered(&self, unit: &str, reservation: &str) -> Result<Option<(String, String)>, StoreError> {
        let (answered, fx) = with_store!(self, s => s.offer_answered(unit, reservation, now_ms()).await)?;
        self.observe(unit, &fx);
        if let Some((call, _)) = &answered {
            self.forget(call);
        }
        Ok(answered)
    }

    /// An offer was not taken.
    pub async fn failed(&self, unit: &str, reservation: &str, failure: OfferFailure) -> Result<(), StoreError> {
        let fx = with_store!(self, s => s.offer_failed(unit, reservation, failure, now_ms()).await)?;
        self.observe(unit, &fx);
        Ok(())
    }

    /// An agent's call ended.
    pub async fn call_ended(&self, unit: &str, agent: &str, by_agent: bool) -> Result<(), StoreError> {
        let fx = with_store!(self, s => s.call_ended(unit, agent, by_agent, now_ms()).await)?;
        self.observe(unit, &fx);
        Ok(())
    }

    /// An agent's state changes (feature codes, the HTTP API).
    pub async fn agent(&self, unit: &str, agent: &str, action: AgentAction) -> Result<(), StoreError> {
        let now = now_ms();
        let fx = match action {
            AgentAction::Login => with_store!(self, s => s.login(unit, agent, now).await)?,
            AgentAction::Logout => with_store!(self, s => s.logout(unit, agent, now).await)?,
            AgentAction::Pause(reason) => with_store!(self, s => s.pause(unit, agent, &reason, now).await)?,
            AgentAction::Unpause => with_store!(self, s => s.unpause(unit, agent, now).await)?,
        };
        self.observe(unit, &fx);
        self.report(unit).await;
        Ok(())
    }

    /// A waiting caller's place.
    pub async fn position(&self, unit: &str, call: &str) -> Result<Option<Position>, StoreError> {
        with_store!(self, s => s.position(unit, call).await)
    }

    /// A unit's queues and agents.
    pub async fn snapshot(&self, unit: &str) -> Result<Snapshot, StoreError> {
        with_store!(self, s => s.snapshot(unit).await)
    }
}

/// What an agent can do to their state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentAction {
    Login,
    Logout,
    Pause(String),
    Unpause,
}
