use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use cc_flow::document::Strategy;

/// A queue's settings, from the unit's document.
#[derive(Clone, Debug)]
pub struct QueueConfig {
    /// Agents serving it (ids unique on the node, e.g. `unit/agent`).
    pub agents: Vec<String>,
    /// How the next agent is chosen.
    pub strategy: Strategy,
    /// How long an offer rings.
    pub ring_timeout: Duration,
    /// The longest a caller waits.
    pub max_wait: Duration,
    /// Time an agent rests after a call.
    pub wrap_up: Duration,
}

/// How long an agent who missed an offer is left alone.
pub const MISSED_OFFER_REST: Duration = Duration::from_secs(5);

/// An agent's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentStatus {
    /// Not taking calls.
    LoggedOut,
    /// Free.
    Available,
    /// Ringing with an offer of this call.
    Reserved(String),
    /// In a call.
    OnCall(String),
    /// Resting after a call, until the instant.
    WrapUp(Instant),
}

#[derive(Debug)]
struct Agent {
    status: AgentStatus,
    idle_since: Instant,
    calls: u64,
    talk_time: Duration,
    call_started: Option<Instant>,
    not_before: Option<Instant>,
}

#[derive(Debug)]
struct Waiting {
    queue: String,
    seq: u64,
    enqueued_at: Instant,
    offered_to: Option<String>,
}

#[derive(Debug)]
struct Queue {
    config: QueueConfig,
    /// (sequence, call): first come, first served.
    waiting: BTreeMap<u64, String>,
    round_robin_next: usize,
}

/// A decision: ring `agent` for `call`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    /// The waiting call.
    pub call: String,
    /// The agent to ring.
    pub agent: String,
    /// The queue.
    pub queue: String,
    /// How long it rings.
    pub ring_timeout: Duration,
}

/// Why a caller could not join a queue.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// The queue does not exist on this node.
    #[error("unknown queue {0:?}")]
    UnknownQueue(String),
    /// No agent of the queue is logged in.
    #[error("no agent logged in")]
    NoAgents,
}

/// The distributor; see the [crate docs](crate).
#[derive(Debug, Default)]
pub struct Acd {
    queues: HashMap<String, Queue>,
    agents: HashMap<String, Agent>,
    calls: HashMap<String, Waiting>,
    seq: u64,
    random_state: u64,
}

impl Acd {
    /// An empty distributor.
    pub fn new() -> Self {
        Acd {
            random_state: 0x2545_F491_4F6C_DD1D,
            ..Acd::default()
        }
    }

    /// Adds or replaces a queue; its agents start available at `now` (until
    /// agents log in and out from their phones).
    pub fn configure_queue(&mut self, now: Instant, name: &str, config: QueueConfig) {
        for agent in &config.agents {
            self.agents.entry(agent.clone()).or_insert(Agent {
                status: AgentStatus::Available,
                idle_since: now,
                calls: 0,
                talk_time: Duration::ZERO,
                call_started: None,
                not_before: None,
            });
        }
        let waiting = self.queues.remove(name).map(|q| q.waiting).unwrap_or_default();
        self.queues.insert(
            name.to_string(),
            Queue {
                config,
                waiting,
                round_robin_next: 0,
            },
        );
    }

    /// An agent's state.
    pub fn agent_status(&self, agent: &str) -> Option<&AgentStatus> {
        self.agents.get(agent).map(|a| &a.status)
    }

    /// Sets an agent logged in (available) or out.
    pub fn set_logged_in(&mut self, now: Instant, agent: &str, logged_in: bool) {
        if let Some(a) = self.agents.get_mut(agent) {
            match (&a.status, logged_in) {
                (AgentStatus::LoggedOut, true) => {
                    a.status = AgentStatus::Available;
                    a.idle_since = now;
                }
                (AgentStatus::Available | AgentStatus::WrapUp(_), false) => a.status = AgentStatus::LoggedOut,
                _ => {}
            }
        }
    }

    /// The names of the configured queues.
    pub fn queue_names(&self) -> impl Iterator<Item = &str> {
        self.queues.keys().map(String::as_str)
    }

    /// Callers waiting in a queue.
    pub fn waiting(&self, queue: &str) -> usize {
        self.queues.get(queue).map_or(0, |q| q.waiting.len())
    }

    /// A caller joins a queue; returns their 1-based position.
    pub fn join(&mut self, now: Instant, call: &str, queue: &str) -> Result<usize, JoinError> {
        let q = self.queues.get(queue).ok_or_else(|| JoinError::UnknownQueue(queue.to_string()))?;
        let anyone = q
            .config
            .agents
            .iter()
            .any(|a| self.agents.get(a).is_some_and(|a| a.status != AgentStatus::LoggedOut));
        if !anyone {
            return Err(JoinError::NoAgents);
        }
        self.seq += 1;
        let q = self.queues.get_mut(queue).ok_or_else(|| JoinError::UnknownQueue(queue.to_string()))?;
        q.waiting.insert(self.seq, call.to_string());
        self.calls.insert(
            call.to_string(),
            Waiting {
                queue: queue.to_string(),
                seq: self.seq,
                enqueued_at: now,
                offered_to: None,
            },
        );
        Ok(q.waiting.len())
    }

    /// A caller leaves (hung up, exit key, timeout). Returns the agent that
    /// was ringing for them, whose offer the caller's task must cancel.
    pub fn leave(&mut self, now: Instant, call: &str) -> Option<String> {
        let waiting = self.calls.remove(call)?;
        if let Some(q) = self.queues.get_mut(&waiting.queue) {
            q.waiting.remove(&waiting.seq);
        }
        let agent = waiting.offered_to?;
        if let Some(a) = self.agents.get_mut(&agent) {
            if a.status == AgentStatus::Reserved(call.to_string()) {
                a.status = AgentStatus::Available;
                a.idle_since = now;
            }
        }
        Some(agent)
    }

    /// How long a waiting caller has waited.
    pub fn waited(&self, now: Instant, call: &str) -> Option<Duration> {
        self.calls.get(call).map(|w| now.saturating_duration_since(w.enqueued_at))
    }

    /// Every match that can be made now: the head caller of each queue (not
    /// already ringing an agent) with the best free agent. Agents are
    /// reserved by the offers returned.
    pub fn match_offers(&mut self, now: Instant) -> Vec<Offer> {
        let mut offers = Vec::new();
        let mut names: Vec<String> = self.queues.keys().cloned().collect();
        names.sort();
        for name in names {
            loop {
                let Some(call) = self.head_unoffered(&name) else { break };
                let Some(agent) = self.pick_agent(now, &name) else { break };
                let ring_timeout = self.queues[&name].config.ring_timeout;
                if let Some(a) = self.agents.get_mut(&agent) {
                    a.status = AgentStatus::Reserved(call.clone());
                }
                if let Some(w) = self.calls.get_mut(&call) {
                    w.offered_to = Some(agent.clone());
                }
                offers.push(Offer {
                    call,
                    agent,
                    queue: name.clone(),
                    ring_timeout,
                });
            }
        }
        offers
    }

    fn head_unoffered(&self, queue: &str) -> Option<String> {
        let q = self.queues.get(queue)?;
        q.waiting
            .values()
            .find(|call| self.calls.get(*call).is_some_and(|w| w.offered_to.is_none()))
            .cloned()
    }

    fn pick_agent(&mut self, now: Instant, queue: &str) -> Option<String> {
        let q = self.queues.get(queue)?;
        let free: Vec<(usize, &String, &Agent)> = q
            .config
            .agents
            .iter()
            .enumerate()
            .filter_map(|(i, id)| self.agents.get(id).map(|a| (i, id, a)))
            .filter(|(_, _, a)| a.status == AgentStatus::Available && a.not_before.is_none_or(|t| t <= now))
            .collect();
        if free.is_empty() {
            return None;
        }
        let chosen = match q.config.strategy {
            Strategy::LongestIdle | Strategy::RingAll => free.iter().min_by_key(|(i, _, a)| (a.idle_since, *i)),
            Strategy::FewestCalls => free.iter().min_by_key(|(i, _, a)| (a.calls, a.idle_since, *i)),
            Strategy::LeastTalkTime => free.iter().min_by_key(|(i, _, a)| (a.talk_time, a.idle_since, *i)),
            Strategy::RoundRobin => {
                let start = q.round_robin_next;
                free.iter().min_by_key(|(i, _, _)| (*i + q.config.agents.len() - start) % q.config.agents.len())
            }
            Strategy::Random => {
                self.random_state ^= self.random_state << 13;
                self.random_state ^= self.random_state >> 7;
                self.random_state ^= self.random_state << 17;
                free.get((self.random_state % free.len() as u64) as usize)
            }
        };
        let (index, id, _) = chosen?;
        let (index, id) = (*index, (*id).clone());
        if let Some(q) = self.queues.get_mut(queue) {
            q.round_robin_next = (index + 1) % q.config.agents.len().max(1);
        }
        Some(id)
    }

    /// The agent answered: the caller leaves the queue, the agent is on call.
    pub fn answered(&mut self, now: Instant, call: &str, agent: &str) {
        if let Some(w) = self.calls.remove(call) {
            if let Some(q) = self.queues.get_mut(&w.queue) {
                q.waiting.remove(&w.seq);
            }
        }
        if let Some(a) = self.agents.get_mut(agent) {
            a.status = AgentStatus::OnCall(call.to_string());
            a.calls += 1;
            a.call_started = Some(now);
        }
    }

    /// The agent did not answer (timeout, busy, refused, unreachable): they
    /// rest for [`MISSED_OFFER_REST`]; the caller keeps their place.
    pub fn not_answered(&mut self, now: Instant, call: &str, agent: &str) {
        if let Some(w) = self.calls.get_mut(call) {
            if w.offered_to.as_deref() == Some(agent) {
                w.offered_to = None;
            }
        }
        if let Some(a) = self.agents.get_mut(agent) {
            if a.status == AgentStatus::Reserved(call.to_string()) {
                a.status = AgentStatus::Available;
                a.not_before = Some(now + MISSED_OFFER_REST);
            }
        }
    }

    /// The agent's call ended: wrap-up for the queue's time, then available.
    pub fn call_ended(&mut self, now: Instant, agent: &str, queue: &str) {
        let wrap_up = self.queues.get(queue).map_or(Duration::ZERO, |q| q.config.wrap_up);
        if let Some(a) = self.agents.get_mut(agent) {
            if let Some(started) = a.call_started.take() {
                a.talk_time += now.saturating_duration_since(started);
            }
            a.idle_since = now;
            a.status = if wrap_up.is_zero() {
                AgentStatus::Available
            } else {
                AgentStatus::WrapUp(now + wrap_up)
            };
        }
    }

    /// Ends wrap-ups that are over, and returns callers who waited longer
    /// than their queue allows (removed from the queue).
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<String> {
        for a in self.agents.values_mut() {
            if let AgentStatus::WrapUp(until) = a.status {
                if until <= now {
                    a.status = AgentStatus::Available;
                    a.idle_since = until;
                }
            }
            if a.not_before.is_some_and(|t| t <= now) {
                a.not_before = None;
            }
        }
        let expired: Vec<String> = self
            .calls
            .iter()
            .filter(|(_, w)| {
                w.offered_to.is_none()
                    && self
                        .queues
                        .get(&w.queue)
                        .is_some_and(|q| now.saturating_duration_since(w.enqueued_at) >= q.config.max_wait)
            })
            .map(|(call, _)| call.clone())
            .collect();
        for call in &expired {
            self.leave(now, call);
        }
        expired
    }

    /// When [`handle_timeout`](Self::handle_timeout) has work next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let wrap_ups = self.agents.values().filter_map(|a| match a.status {
            AgentStatus::WrapUp(until) => Some(until),
            _ => a.not_before,
        });
        // A caller ringing an agent cannot expire until the offer ends
        // (handle_timeout skips them), so their deadline is not a wake-up.
        let waits = self.calls.values().filter(|w| w.offered_to.is_none()).filter_map(|w| {
            self.queues
                .get(&w.queue)
                .map(|q| w.enqueued_at + q.config.max_wait)
        });
        wrap_ups.chain(waits).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(agents: &[&str], strategy: Strategy) -> QueueConfig {
        QueueConfig {
            agents: agents.iter().map(|a| a.to_string()).collect(),
            strategy,
            ring_timeout: Duration::from_secs(15),
            max_wait: Duration::from_secs(60),
            wrap_up: Duration::from_secs(10),
        }
    }

    #[test]
    fn callers_are_served_in_arrival_order_by_the_longest_idle_agent() {
        let t0 = Instant::now();
        let mut acd = Acd::new();
        acd.configure_queue(t0, "q", config(&["a", "b"], Strategy::LongestIdle));
        acd.call_ended(t0 + Duration::from_secs(1), "a", "none");
        acd.join(t0, "c1", "q").unwrap();
        acd.join(t0, "c2", "q").unwrap();
        acd.join(t0, "c3", "q").unwrap();
        let offers = acd.match_offers(t0 + Duration::from_secs(2));
        let pairs: Vec<_> = offers.iter().map(|o| (o.call.as_str(), o.agent.as_str())).collect();
        assert_eq!(pairs, vec![("c1", "b"), ("c2", "a")]);
        assert!(acd.match_offers(t0).is_empty(), "no agent is offered two calls");
    }

    #[test]
    fn a_missed_offer_keeps_the_callers_place_and_rests_the_agent() {
        let t0 = Instant::now();
        let mut acd = Acd::new();
        acd.configure_queue(t0, "q", config(&["a", "b"], Strategy::RoundRobin));
        acd.join(t0, "c1", "q").unwrap();
        acd.join(t0, "c2", "q").unwrap();
        let first = acd.match_offers(t0);
        assert_eq!(first.len(), 2);
        acd.not_answered(t0, "c1", &first[0].agent);
        let again = acd.match_offers(t0);
        assert!(again.is_empty(), "the missing agent rests; the other rings c2");
        acd.handle_timeout(t0 + MISSED_OFFER_REST);
        let again = acd.match_offers(t0 + MISSED_OFFER_REST);
        assert_eq!(again[0].call, "c1");
    }

    #[test]
    fn wrap_up_then_available() {
        let t0 = Instant::now();
        let mut acd = Acd::new();
        acd.configure_queue(t0, "q", config(&["a"], Strategy::LongestIdle));
        acd.join(t0, "c1", "q").unwrap();
        let o = acd.match_offers(t0).remove(0);
        acd.answered(t0, "c1", &o.agent);
        assert_eq!(acd.waiting("q"), 0);
        acd.call_ended(t0 + Duration::from_secs(30), "a", "q");
        acd.join(t0, "c2", "q").unwrap();
        assert!(acd.match_offers(t0 + Duration::from_secs(31)).is_empty());
        acd.handle_timeout(t0 + Duration::from_secs(40));
        assert_eq!(acd.match_offers(t0 + Duration::from_secs(40)).len(), 1);
    }

    #[test]
    fn waiting_too_long_expires_and_nobody_logged_in_refuses() {
        let t0 = Instant::now();
        let mut acd = Acd::new();
        acd.configure_queue(t0, "q", config(&["a"], Strategy::LongestIdle));
        acd.set_logged_in(t0, "a", false);
        assert_eq!(acd.join(t0, "c0", "q"), Err(JoinError::NoAgents));
        acd.set_logged_in(t0, "a", true);
        acd.join(t0, "c1", "q").unwrap();
        let o = acd.match_offers(t0).remove(0);
        acd.not_answered(t0, "c1", &o.agent);
        assert_eq!(acd.poll_timeout(), Some(t0 + MISSED_OFFER_REST));
        assert_eq!(acd.handle_timeout(t0 + Duration::from_secs(60)), vec!["c1".to_string()]);
        assert_eq!(acd.waiting("q"), 0);
    }
}
