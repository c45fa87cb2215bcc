//! The node's side of the ACD: the store (the model in memory for a single
//! node; Redis when nodes share queues), the routing of its notices to the
//! calls this node holds, and the ticker that runs what time makes due.
//!
//! Calls register before they join a queue, so that an offer made by the
//! join itself (a free agent) finds them. A notice for a call this node no
//! longer holds (it ended while the notice was on its way) releases what it
//! concerns, so no agent is left ringing for nobody.

use arc_swap::ArcSwap;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cc_acd::{
    AcdStore, AgentConfig, Effects, Join, JoinOutcome, LeaveReason, LoggedEvent, Member,
    MemoryStore, Millis, Notice, OfferFailure, Position, QueueConfig, Snapshot, StoreError,
    UnitConfig,
};
use tokio::sync::Notify;

use crate::call::{CallInput, CallSender};
use crate::metrics::{Metrics, UnitQueue, UnitState};
use crate::units::Directory;

/// The wall clock in milliseconds, the ACD's time.
pub fn now_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or_default()
}

/// How often the ticker wakes at least, and the leader reports the shared
/// figures (callers waiting, longest wait, agents by state).
const SWEEP: Duration = Duration::from_secs(1);

/// How often every unit is ticked even before its next known deadline: the
/// slow sweep behind the event-driven matching (a deadline set by a node
/// that died before it came is still met).
const SAFETY_SWEEP: Duration = Duration::from_secs(5);

/// The stores the node can use.
pub enum Store {
    /// The model in this process (the embedded default).
    Memory(MemoryStore),
    /// Redis, shared by every node of the cluster.
    Redis(Arc<cc_acd_redis::RedisStore>),
}

/// Runs one store operation on whichever store the node has, timed into
/// `cc_acd_store_seconds{op}` (and counted in `cc_acd_store_errors_total`
/// when it fails).
macro_rules! with_store {
    ($self:expr, $op:literal, $s:ident => $body:expr) => {{
        let started = std::time::Instant::now();
        let result = match &$self.store {
            Store::Memory($s) => $body,
            Store::Redis($s) => $body,
        };
        // Only the store's own failures count as errors, not requests it
        // refused (an unknown agent, a bad event id).
        let failed = matches!(
            result,
            Err(StoreError::Unavailable(_) | StoreError::Protocol(_))
        );
        $self.metrics.acd_store_op($op, started.elapsed(), !failed);
        result
    }};
}

/// A report to the store that failed while it was out of reach, kept to be
/// made again: an agent must not stay "on call" because Redis blinked.
#[derive(Clone, Debug)]
enum Retry {
    Answered {
        unit: String,
        reservation: String,
    },
    Leave {
        unit: String,
        call: String,
        reason: LeaveReason,
    },
    Failed {
        unit: String,
        reservation: String,
        failure: OfferFailure,
    },
    Ended {
        unit: String,
        agent: String,
        call: String,
        by_agent: bool,
    },
}

/// The ACD as the node's calls use it.
pub struct Acd {
    node: String,
    store: Store,
    /// The units and their queue settings; swapped whole when the
    /// configuration is reloaded.
    units: ArcSwap<Vec<String>>,
    configs: ArcSwap<BTreeMap<String, UnitConfig>>,
    retries: Mutex<Vec<Retry>>,
    node_ttl_ms: u64,
    leading: std::sync::atomic::AtomicBool,
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

/// The units of a directory, and the ACD configuration of each.
fn configs_of(directory: &Directory) -> (Vec<String>, BTreeMap<String, UnitConfig>) {
    let units = directory
        .units()
        .iter()
        .map(|u| u.id().to_string())
        .collect();
    let configs = directory
        .units()
        .iter()
        .map(|u| (u.id().to_string(), unit_config(&u.unit)))
        .collect();
    (units, configs)
}

impl Acd {
    /// Sets up the ACD for the node's units and starts its ticker.
    pub async fn start(
        node: &str,
        store: Store,
        directory: &Directory,
        metrics: Arc<Metrics>,
        node_ttl_ms: u64,
    ) -> Result<Arc<Acd>, StoreError> {
        let (units, configs) = configs_of(directory);
        let leading = matches!(store, Store::Memory(_));
        let acd = Arc::new(Acd {
            node: node.to_string(),
            store,
            units: ArcSwap::from_pointee(units),
            configs: ArcSwap::from_pointee(configs),
            retries: Mutex::new(Vec::new()),
            node_ttl_ms,
            leading: std::sync::atomic::AtomicBool::new(leading),
            calls: Mutex::new(HashMap::new()),
            wake: Mutex::new(BTreeMap::new()),
            tick_now: Notify::new(),
            metrics,
        });
        let now = now_ms();
        for (unit, config) in acd.configs.load_full().iter() {
            with_store!(acd, "configure", s => s.configure(unit, config, now).await)?;
        }
        let weak = Arc::downgrade(&acd);
        let sink: cc_acd::store::NoticeSink = Arc::new(move |notice| {
            if let Some(acd) = weak.upgrade() {
                acd.deliver(notice);
            }
        });
        match &acd.store {
            Store::Memory(memory) => memory.subscribe(node, sink),
            Store::Redis(redis) => {
                let weak = Arc::downgrade(&acd);
                let subscribed: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
                    if let Some(acd) = weak.upgrade() {
                        tokio::spawn(async move { acd.pick_up_missed_offers().await });
                    }
                });
                redis.subscribe(node, sink, subscribed);
                redis.heartbeat(node, acd.node_ttl_ms, now).await?;
                tokio::spawn(Arc::clone(&acd).maintain(Arc::clone(redis)));
            }
        }
        tokio::spawn(Arc::clone(&acd).ticker());
        Ok(acd)
    }

    /// Takes a reloaded configuration: new units and changed queues are
    /// configured in the store, then used; calls in progress go on.
    pub async fn reconfigure(&self, directory: &Directory) {
        let (units, configs) = configs_of(directory);
        let old = self.configs.load_full();
        let now = now_ms();
        for (unit, config) in &configs {
            if old.get(unit) != Some(config) {
                if let Err(e) =
                    with_store!(self, "configure", s => s.configure(unit, config, now).await)
                {
                    tracing::warn!(unit, error = %e, "configuring a reloaded unit's queues");
                }
            }
        }
        self.configs.store(Arc::new(configs));
        self.units.store(Arc::new(units));
        self.tick_now.notify_one();
    }

    /// With shared state: heartbeats, reaping dead nodes, putting back a
    /// unit's state Redis lost, making again the reports that failed, and
    /// the lease of the node that reports the cluster's shared figures.
    ///
    /// A node reaps another only after it has itself reached Redis for a
    /// whole heartbeat lifetime: when Redis comes back from an outage (a
    /// restart, a Sentinel failover) every heartbeat has lapsed, and the
    /// first node back must not take the others' callers for dead.
    async fn maintain(self: Arc<Self>, redis: Arc<cc_acd_redis::RedisStore>) {
        let period = Duration::from_millis((self.node_ttl_ms / 3).max(100));
        let mut commands_counted = 0;
        let mut reachable_since = Some(now_ms());
        loop {
            tokio::time::sleep(period).await;
            let sent = redis.commands_sent();
            self.metrics
                .redis_commands
                .inc_by(sent.saturating_sub(commands_counted));
            commands_counted = sent;
            let now = now_ms();
            match redis.heartbeat(&self.node, self.node_ttl_ms, now).await {
                Ok(unknown) => {
                    let since = *reachable_since.get_or_insert(now);
                    for (unit, config) in self.configs.load_full().iter() {
                        let _ = redis.ensure_configured(unit, config, now).await;
                    }
                    if unknown {
                        tracing::warn!("this node was taken for dead (or Redis lost its state); its callers join their queues again");
                        self.requeue_all();
                    }
                    if now.saturating_sub(since) < self.node_ttl_ms {
                        continue;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "ACD heartbeat");
                    reachable_since = None;
                    // Cut off, this node cannot know the shared figures,
                    // and its lease will pass to another: stop reporting.
                    self.stop_leading();
                    continue;
                }
            }
            match redis.dead_nodes().await {
                Ok(dead) => {
                    for node in dead.into_iter().filter(|n| *n != self.node) {
                        tracing::warn!(
                            node,
                            "a node stopped beating: reaping its callers and agents"
                        );
                        let mut reaped = true;
                        for unit in self.units.load_full().iter() {
                            match redis.reap_node(unit, &node, now).await {
                                Ok(fx) => self.observe(unit, &fx),
                                Err(_) => reaped = false,
                            }
                        }
                        if reaped {
                            let _ = redis.forget_node(&node).await;
                        }
                    }
                }
                Err(e) => tracing::debug!(error = %e, "listing nodes"),
            }
            self.retry_reports().await;
            let leading = redis
                .lead(&self.node, self.node_ttl_ms)
                .await
                .unwrap_or(false);
            if leading {
                self.leading
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            } else {
                self.stop_leading();
            }
        }
    }

    /// Another node reports the shared figures now (or this one cannot):
    /// this node's copies go, so that no dashboard counts them twice.
    fn stop_leading(&self) {
        if self
            .leading
            .swap(false, std::sync::atomic::Ordering::Relaxed)
        {
            self.metrics.queue_waiting.clear();
            self.metrics.queue_longest_wait.clear();
            self.metrics.agents.clear();
        }
    }

    /// Tells every caller this node holds in a queue to join it again.
    fn requeue_all(&self) {
        let owners: Vec<CallSender> = self
            .calls
            .lock()
            .map(|c| c.values().map(|(_, s)| s.clone()).collect())
            .unwrap_or_default();
        for owner in owners {
            let _ = owner.try_send(CallInput::Requeue);
        }
    }

    /// Offers made while this node was not listening (its subscription was
    /// re-established) reach their calls from the state instead: the agents
    /// ringing for this node's calls. A call ignores an offer it already has.
    async fn pick_up_missed_offers(self: Arc<Self>) {
        for unit in self.units.load_full().iter() {
            let Ok(snapshot) = with_store!(self, "snapshot", s => s.snapshot(unit).await) else {
                continue;
            };
            for agent in snapshot.agents {
                let (Some(call), Some(ringing)) = (agent.call, agent.ringing) else {
                    continue;
                };
                if ringing.node != self.node {
                    continue;
                }
                let ring_timeout_ms = self
                    .configs
                    .load()
                    .get(unit)
                    .and_then(|c| c.queues.get(&ringing.queue))
                    .map_or(0, |q| q.ring_timeout_ms);
                self.deliver(Notice::Offer {
                    unit: unit.clone(),
                    queue: ringing.queue,
                    call,
                    node: ringing.node,
                    agent: agent.id,
                    reservation: ringing.reservation,
                    ring_timeout_ms,
                    offered_at: agent.since,
                });
            }
        }
    }

    fn keep_for_retry(&self, retry: Retry, error: &StoreError) {
        if matches!(error, StoreError::Unavailable(_)) {
            if let Ok(mut retries) = self.retries.lock() {
                retries.push(retry);
            }
        }
    }

    async fn retry_reports(&self) {
        let pending: Vec<Retry> = self
            .retries
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default();
        for retry in pending {
            let result = match &retry {
                Retry::Answered { unit, reservation } => {
                    self.answered(unit, reservation).await.map(|_| ())
                }
                Retry::Leave { unit, call, reason } => {
                    self.leave(unit, call, *reason).await.map(|_| ())
                }
                Retry::Failed {
                    unit,
                    reservation,
                    failure,
                } => self.failed(unit, reservation, *failure).await,
                Retry::Ended {
                    unit,
                    agent,
                    call,
                    by_agent,
                } => self.call_ended(unit, agent, call, *by_agent).await,
            };
            if result.is_ok() {
                tracing::info!(?retry, "a report the ACD missed is made");
            }
        }
    }

    /// The node's name, which offers for its calls carry.
    pub fn node(&self) -> &str {
        &self.node
    }

    fn deliver(self: &Arc<Self>, notice: Notice) {
        let owner = self
            .calls
            .lock()
            .ok()
            .and_then(|calls| calls.get(notice.call()).map(|(_, s)| s.clone()));
        let input = match &notice {
            Notice::Offer {
                agent,
                reservation,
                ring_timeout_ms,
                offered_at,
                ..
            } => CallInput::Offer {
                agent: agent.clone(),
                reservation: reservation.clone(),
                ring_timeout: Duration::from_millis(*ring_timeout_ms),
                offered_at: *offered_at,
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
        let mut last_ticked: HashMap<String, Millis> = HashMap::new();
        let mut last_report: Millis = 0;
        loop {
            let now = now_ms();
            let next = {
                let wake = self
                    .wake
                    .lock()
                    .map(|w| w.values().min().copied())
                    .unwrap_or(None);
                wake.unwrap_or(now + SWEEP.as_millis() as u64)
                    .min(now + SWEEP.as_millis() as u64)
            };
            if next > now {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(next - now)) => {}
                    _ = self.tick_now.notified() => continue,
                }
            }
            let now = now_ms();
            for unit in self.units.load_full().iter() {
                // Due: its next deadline passed (as this node last heard
                // it), or the safety sweep's time came.
                let due = self
                    .wake
                    .lock()
                    .map(|w| w.get(unit).is_none_or(|at| *at <= now))
                    .unwrap_or(true);
                let swept = last_ticked
                    .get(unit)
                    .is_some_and(|at| now.saturating_sub(*at) < SAFETY_SWEEP.as_millis() as u64);
                if !due && swept {
                    continue;
                }
                last_ticked.insert(unit.clone(), now);
                if let Ok(mut wake) = self.wake.lock() {
                    wake.remove(unit);
                }
                match with_store!(self, "tick", s => s.tick(unit, now).await) {
                    Ok((next, fx)) => {
                        self.observe(unit, &fx);
                        if let (Some(at), Ok(mut wake)) = (next, self.wake.lock()) {
                            wake.insert(unit.clone(), at);
                        }
                    }
                    Err(e) => tracing::warn!(unit, error = %e, "ACD tick"),
                }
            }
            // The shared figures, every second, from the leader alone.
            if now.saturating_sub(last_report) >= SWEEP.as_millis() as u64 {
                last_report = now;
                for unit in self.units.load_full().iter() {
                    self.report(unit).await;
                }
            }
        }
    }

    async fn report(&self, unit: &str) {
        // The shared figures come from one node of the cluster only.
        if !self.leading.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let Ok(snapshot) = with_store!(self, "snapshot", s => s.snapshot(unit).await) else {
            return;
        };
        let now = now_ms();
        for queue in &snapshot.queues {
            let labels = UnitQueue {
                unit: unit.into(),
                queue: queue.name.clone(),
            };
            self.metrics
                .queue_waiting
                .get_or_create(&labels)
                .set(i64::from(queue.waiting));
            let longest = queue
                .oldest_since
                .map_or(0.0, |since| now.saturating_sub(since) as f64 / 1000.0);
            self.metrics
                .queue_longest_wait
                .get_or_create(&labels)
                .set(longest);
        }
        let mut by_state: BTreeMap<&str, i64> = cc_acd::AgentState::ALL
            .iter()
            .map(|s| (s.as_str(), 0))
            .collect();
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
    pub async fn join(
        &self,
        unit: &str,
        queue: &str,
        call: &str,
        caller: &str,
        priority: u8,
        owner: CallSender,
    ) -> Result<JoinOutcome, StoreError> {
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
        let result = with_store!(self, "join", s => s.join(unit, &join, now_ms()).await);
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
    pub async fn leave(
        &self,
        unit: &str,
        call: &str,
        reason: LeaveReason,
    ) -> Result<Vec<String>, StoreError> {
        self.forget(call);
        let (offers, fx) =
            with_store!(self, "leave", s => s.leave(unit, call, reason, now_ms()).await)
                .inspect_err(|e| {
                    self.keep_for_retry(
                        Retry::Leave {
                            unit: unit.into(),
                            call: call.into(),
                            reason,
                        },
                        e,
                    )
                })?;
        self.observe(unit, &fx);
        Ok(offers.into_iter().map(|(_, r)| r).collect())
    }

    /// An agent answered an offer; `None` when it is stale.
    pub async fn answered(
        &self,
        unit: &str,
        reservation: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        let (answered, fx) = with_store!(self, "offer_answered", s => s.offer_answered(unit, reservation, now_ms()).await)
            .inspect_err(|e| {
                self.keep_for_retry(
                    Retry::Answered {
                        unit: unit.into(),
                        reservation: reservation.into(),
                    },
                    e,
                )
            })?;
        self.observe(unit, &fx);
        if let Some((call, _)) = &answered {
            self.forget(call);
        }
        Ok(answered)
    }

    /// An offer was not taken.
    pub async fn failed(
        &self,
        unit: &str,
        reservation: &str,
        failure: OfferFailure,
    ) -> Result<(), StoreError> {
        let fx = with_store!(self, "offer_failed", s => s.offer_failed(unit, reservation, failure, now_ms()).await)
            .inspect_err(|e| {
                self.keep_for_retry(
                    Retry::Failed {
                        unit: unit.into(),
                        reservation: reservation.into(),
                        failure,
                    },
                    e,
                )
            })?;
        self.observe(unit, &fx);
        Ok(())
    }

    /// An agent's call `call` ended.
    pub async fn call_ended(
        &self,
        unit: &str,
        agent: &str,
        call: &str,
        by_agent: bool,
    ) -> Result<(), StoreError> {
        let fx = with_store!(self, "call_ended", s => s.call_ended(unit, agent, call, by_agent, now_ms()).await)
            .inspect_err(|e| {
                self.keep_for_retry(
                    Retry::Ended {
                        unit: unit.into(),
                        agent: agent.into(),
                        call: call.into(),
                        by_agent,
                    },
                    e,
                )
            })?;
        self.observe(unit, &fx);
        Ok(())
    }

    /// An agent's state changes (feature codes, the HTTP API).
    pub async fn agent(
        &self,
        unit: &str,
        agent: &str,
        action: AgentAction,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let fx = match action {
            AgentAction::Login => with_store!(self, "login", s => s.login(unit, agent, now).await)?,
            AgentAction::Logout => {
                with_store!(self, "logout", s => s.logout(unit, agent, now).await)?
            }
            AgentAction::Pause(reason) => {
                with_store!(self, "pause", s => s.pause(unit, agent, &reason, now).await)?
            }
            AgentAction::Unpause => {
                with_store!(self, "unpause", s => s.unpause(unit, agent, now).await)?
            }
        };
        self.observe(unit, &fx);
        self.report(unit).await;
        Ok(())
    }

    /// A waiting caller's place.
    pub async fn position(&self, unit: &str, call: &str) -> Result<Option<Position>, StoreError> {
        with_store!(self, "position", s => s.position(unit, call).await)
    }

    /// A unit's queues and agents.
    pub async fn snapshot(&self, unit: &str) -> Result<Snapshot, StoreError> {
        with_store!(self, "snapshot", s => s.snapshot(unit).await)
    }

    /// A unit's queue events after `after`, oldest first: the cluster's
    /// whole log (Redis keeps it for every node), not only this node's.
    pub async fn events(
        &self,
        unit: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LoggedEvent>, StoreError> {
        with_store!(self, "events", s => s.events(unit, after, limit).await)
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
