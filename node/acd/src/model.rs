//! The ACD model: every operation on a unit's queues and agents, as plain
//! code over plain data.
//!
//! This is the specification. The in-memory store runs it as is; the Redis
//! store runs the same operations as Lua scripts over the same data, and the
//! property tests hold the two to the same answers, notices and events for
//! any sequence of operations.
//!
//! Conventions both implement:
//! - a waiting caller's place is a score, `(9 - priority) · 2^40 + seq`,
//!   where `seq` counts joins and reservations of the unit: lower is served
//!   first, so priority first, then arrival (global FIFO across nodes);
//! - every operation that can free an agent or add a caller ends by
//!   matching ([`Model::match_unit`]), so offers leave at once;
//! - reservation ids are `r<seq>`; a reservation expires
//!   `ring_timeout + RESERVATION_GRACE` after it was made, so a node that
//!   died mid-offer cannot hold an agent for ever.

use std::collections::{BTreeMap, BTreeSet};

use crate::types::*;

/// How long past its ring timeout a reservation outlives a silent node.
pub const RESERVATION_GRACE_MS: u64 = 10_000;

const PRIORITY_SHIFT: u64 = 1 << 40;

/// A waiting (or ringing) caller.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Call {
    queue: String,
    node: String,
    caller: String,
    score: u64,
    seq: u64,
    enqueued_at: Millis,
    /// (agent, reservation) of the offers ringing now.
    offers: Vec<(String, String)>,
    offer_expires: Millis,
}

/// An agent's state.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Agent {
    state: AgentState,
    since: Millis,
    reason: Option<String>,
    call: Option<String>,
    reservation: Option<String>,
    /// The node holding the call the agent rings for or is in.
    node: Option<String>,
    /// The queue of that call.
    queue: Option<String>,
    not_before: Millis,
    misses: u32,
    calls: u64,
    talk_ms: u64,
    idle_since: Millis,
    wrap_until: Millis,
    call_started: Millis,
    /// The reservation the agent's current call was answered on, so that a
    /// retried "answered" (the first reply lost) gets the same answer.
    answered: Option<String>,
    /// A logout or pause asked for while in a call, applied when it ends.
    pending: Option<Pending>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Pending {
    Logout,
    Pause(String),
}

/// One unit's state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Unit {
    config: UnitConfig,
    seq: u64,
    calls: BTreeMap<String, Call>,
    /// queue → (score, call)
    waiting: BTreeMap<String, BTreeSet<(u64, String)>>,
    agents: BTreeMap<String, Agent>,
    /// queue → the agent offered last (round robin with memory)
    last_offered: BTreeMap<String, String>,
    /// (queue, caller) → (score, until)
    resume: BTreeMap<(String, String), (u64, Millis)>,
    /// queue → exponential average of answered waits, ms
    average_wait: BTreeMap<String, u64>,
}

/// Every unit's ACD state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Model {
    units: BTreeMap<String, Unit>,
}

fn event(
    unit: &str,
    time: Millis,
    queue: &str,
    call: &str,
    agent: &str,
    name: &str,
    data: &[String],
) -> QueueEvent {
    QueueEvent {
        time,
        unit: unit.to_string(),
        queue: queue.to_string(),
        call: call.to_string(),
        agent: agent.to_string(),
        event: name.to_string(),
        data: data.to_vec(),
    }
}

fn secs(ms: u64) -> String {
    (ms / 1000).to_string()
}

impl Model {
    /// An empty model.
    pub fn new() -> Self {
        Model::default()
    }

    /// Sets a unit's queues and agents. Agents not seen before start logged
    /// out; state of existing agents and callers is kept.
    pub fn configure(&mut self, unit: &str, config: UnitConfig, now: Millis) {
        let u = self.units.entry(unit.to_string()).or_default();
        // Agents the unit no longer has go, unless a call holds them: those
        // go at the next configuration after it.
        u.agents.retain(|id, a| {
            config.agents.iter().any(|c| c.id == *id)
                || matches!(
                    a.state,
                    AgentState::Reserved | AgentState::OnCall | AgentState::WrapUp
                )
        });
        for agent in &config.agents {
            u.agents.entry(agent.id.clone()).or_insert(Agent {
                state: AgentState::LoggedOut,
                since: now,
                reason: None,
                call: None,
                reservation: None,
                node: None,
                queue: None,
                not_before: 0,
                misses: 0,
                calls: 0,
                talk_ms: 0,
                idle_since: now,
                wrap_until: 0,
                call_started: 0,
                answered: None,
                pending: None,
            });
        }
        u.config = config;
    }

    /// A caller joins a queue. Joining twice with the same call answers the
    /// same position (retries after a lost reply are safe).
    pub fn join(&mut self, unit: &str, join: &Join, now: Millis) -> (JoinOutcome, Effects) {
        let mut fx = Effects::default();
        let Some(u) = self.units.get_mut(unit) else {
            return (JoinOutcome::UnknownQueue, fx);
        };
        let Some(config) = u.config.queues.get(&join.queue).cloned() else {
            return (JoinOutcome::UnknownQueue, fx);
        };
        if let Some(call) = u.calls.get(&join.call) {
            let position = rank(u, &call.queue, call.score);
            return (
                JoinOutcome::Queued {
                    position,
                    resumed: false,
                },
                fx,
            );
        }
        let logged_in = config.members.iter().any(|m| {
            u.agents
                .get(&m.agent)
                .is_some_and(|a| a.state != AgentState::LoggedOut)
        });
        if !logged_in {
            return (JoinOutcome::NoAgents, fx);
        }
        let waiting = u.waiting.get(&join.queue).map_or(0, |w| w.len()) as u32;
        if config.max_len > 0 && waiting >= config.max_len {
            return (JoinOutcome::Full, fx);
        }
        u.seq += 1;
        let seq = u.seq;
        let priority = u64::from(join.priority.min(9));
        let mut score = (9 - priority) * PRIORITY_SHIFT + seq;
        let mut resumed = false;
        let resume_key = (join.queue.clone(), join.caller.clone());
        if !join.caller.is_empty() {
            if let Some((old, until)) = u.resume.remove(&resume_key) {
                if until > now {
                    score = old;
                    resumed = true;
                }
            }
        }
        u.calls.insert(
            join.call.clone(),
            Call {
                queue: join.queue.clone(),
                node: join.node.clone(),
                caller: join.caller.clone(),
                score,
                seq,
                enqueued_at: now,
                offers: Vec::new(),
                offer_expires: 0,
            },
        );
        u.waiting
            .entry(join.queue.clone())
            .or_default()
            .insert((score, join.call.clone()));
        let position = rank(u, &join.queue, score);
        fx.events.push(event(
            unit,
            now,
            &join.queue,
            &join.call,
            "NONE",
            "ENTERQUEUE",
            &[String::new(), join.caller.clone(), position.to_string()],
        ));
        self.match_unit(unit, now, &mut fx);
        (JoinOutcome::Queued { position, resumed }, fx)
    }

    /// A caller leaves the queue. Returns the reservations that were ringing
    /// for them (the caller's node cancels those offers).
    pub fn leave(
        &mut self,
        unit: &str,
        call_id: &str,
        reason: LeaveReason,
        now: Millis,
    ) -> (Vec<(String, String)>, Effects) {
        let mut fx = Effects::default();
        let Some(u) = self.units.get_mut(unit) else {
            return (Vec::new(), fx);
        };
        let Some(call) = u.calls.get(call_id).cloned() else {
            return (Vec::new(), fx);
        };
        let position = rank(u, &call.queue, call.score);
        remove_call(u, call_id);
        let mut logged_out = false;
        for (agent, reservation) in &call.offers {
            logged_out |= release(unit, u, agent, reservation, now, 0, &mut fx);
            fx.events.push(event(
                unit,
                now,
                &call.queue,
                call_id,
                agent,
                "RINGCANCELED",
                &["0".into()],
            ));
        }
        let waited = secs(now.saturating_sub(call.enqueued_at));
        let (name, data) = match reason {
            LeaveReason::Abandon => ("ABANDON", vec![position.to_string(), "1".into(), waited]),
            LeaveReason::ExitKey => (
                "EXITWITHKEY",
                vec!["key".into(), position.to_string(), "1".into(), waited],
            ),
            LeaveReason::Failure => ("ABANDON", vec![position.to_string(), "1".into(), waited]),
        };
        fx.events
            .push(event(unit, now, &call.queue, call_id, "NONE", name, &data));
        if reason == LeaveReason::Abandon && !call.caller.is_empty() {
            let window = u
                .config
                .queues
                .get(&call.queue)
                .map_or(0, |q| q.resume_window_ms);
            if window > 0 {
                u.resume.insert(
                    (call.queue.clone(), call.caller.clone()),
                    (call.score, now + window),
                );
            }
        }
        if logged_out {
            self.after_logout_check(unit, now, &mut fx);
        }
        if !call.offers.is_empty() {
            self.match_unit(unit, now, &mut fx);
        }
        (call.offers, fx)
    }

    /// The agent of `reservation` answered. Returns the call and agent, or
    /// `None` when the reservation is stale (the caller left, it expired):
    /// the caller's node then ends the agent's leg.
    pub fn offer_answered(
        &mut self,
        unit: &str,
        reservation: &str,
        now: Millis,
    ) -> (Option<(String, String)>, Effects) {
        let mut fx = Effects::default();
        let Some(u) = self.units.get_mut(unit) else {
            return (None, fx);
        };
        let Some((agent_id, call_id)) = reserved_by(u, reservation) else {
            // A retry of an answer already recorded gets the same answer.
            let again = u
                .agents
                .iter()
                .find(|(_, a)| {
                    a.state == AgentState::OnCall && a.answered.as_deref() == Some(reservation)
                })
                .and_then(|(id, a)| a.call.clone().map(|c| (c, id.clone())));
            return (again, fx);
        };
        let Some(call) = u.calls.get(&call_id).cloned() else {
            return (None, fx);
        };
        remove_call(u, &call_id);
        let waited = now.saturating_sub(call.enqueued_at);
        let (mut released, mut logged_out) = (false, false);
        for (other, other_reservation) in call.offers.iter().filter(|(a, _)| *a != agent_id) {
            released = true;
            logged_out |= release(unit, u, other, other_reservation, now, 0, &mut fx);
            fx.notices.push(Notice::Cancel {
                unit: unit.to_string(),
                call: call_id.clone(),
                node: call.node.clone(),
                agent: other.clone(),
                reservation: other_reservation.clone(),
            });
            fx.events.push(event(
                unit,
                now,
                &call.queue,
                &call_id,
                other,
                "RINGCANCELED",
                &["0".into()],
            ));
        }
        if let Some(a) = u.agents.get_mut(&agent_id) {
            a.state = AgentState::OnCall;
            a.since = now;
            a.reservation = None;
            a.answered = Some(reservation.to_string());
            a.misses = 0;
            a.calls += 1;
            a.call_started = now;
            a.not_before = 0;
        }
        let average = u.average_wait.entry(call.queue.clone()).or_insert(waited);
        *average = (*average * 7 + waited) / 8;
        fx.events.push(event(
            unit,
            now,
            &call.queue,
            &call_id,
            &agent_id,
            "CONNECT",
            &[secs(waited), reservation.to_string(), "0".into()],
        ));
        // Ring-all: the agents who rang in vain are free for the next caller.
        if released {
            if logged_out {
                self.after_logout_check(unit, now, &mut fx);
            }
            self.match_unit(unit, now, &mut fx);
        }
        (Some((call_id, agent_id)), fx)
    }

    /// The agent of `reservation` did not take the call. The caller keeps
    /// their place; the agent rests, and is paused after too many misses.
    pub fn offer_failed(
        &mut self,
        unit: &str,
        reservation: &str,
        failure: OfferFailure,
        now: Millis,
    ) -> Effects {
        let mut fx = Effects::default();
        let Some(u) = self.units.get_mut(unit) else {
            return fx;
        };
        let Some((agent_id, call_id)) = reserved_by(u, reservation) else {
            return fx;
        };
        let Some(call) = u.calls.get_mut(&call_id) else {
            return fx;
        };
        call.offers.retain(|(_, r)| r != reservation);
        let queue = call.queue.clone();
        let config = u.config.queues.get(&queue).cloned().unwrap_or_default();
        let delay = match failure {
            OfferFailure::NoAnswer | OfferFailure::Unreachable => config.no_answer_delay_ms,
            OfferFailure::Busy => config.busy_delay_ms,
            OfferFailure::Rejected => config.reject_delay_ms,
        };
        fx.events.push(event(
            unit,
            now,
            &queue,
            &call_id,
            &agent_id,
            "RINGNOANSWER",
            &[config.ring_timeout_ms.to_string()],
        ));
        let logged_out = release(unit, u, &agent_id, reservation, now, delay, &mut fx);
        if failure != OfferFailure::Busy {
            if let Some(a) = u.agents.get_mut(&agent_id) {
                a.misses += 1;
                if a.state == AgentState::Available
                    && config.max_misses > 0
                    && a.misses >= config.max_misses
                {
                    let reason = format!("missed {} calls", a.misses);
                    a.state = AgentState::Paused;
                    a.since = now;
                    a.reason = Some(reason.clone());
                    fx.events.push(event(
                        unit,
                        now,
                        "NONE",
                        "NONE",
                        &agent_id,
                        "PAUSE",
                        &[reason],
                    ));
                }
            }
        }
        if logged_out {
            self.after_logout_check(unit, now, &mut fx);
        }
        self.match_unit(unit, now, &mut fx);
        fx
    }

    /// The agent's call ended: wrap-up (the agent's or the queue's), then
    /// available; a logout or pause asked for during the call applies now.
    /// Only the call named ends: a retried report cannot end the agent's next call.
    pub fn call_ended(
        &mut self,
        unit: &str,
        agent_id: &str,
        call_id: &str,
        by_agent: bool,
        now: Millis,
    ) -> Effects {
        let mut fx = Effects::default();
        let Some(u) = self.units.get_mut(unit) else {
            return fx;
        };
        let agent_wrap = u
            .config
            .agents
            .iter()
            .find(|a| a.id == agent_id)
            .and_then(|a| a.wrap_up_ms);
        let Some(a) = u.agents.get_mut(agent_id) else {
            return fx;
        };
        if a.state != AgentState::OnCall || a.call.as_deref() != Some(call_id) {
            return fx;
        }
        let queue = a.queue.clone().unwrap_or_default();
        let call = a.call.clone().unwrap_or_default();
        let talk = now.saturating_sub(a.call_started);
        a.talk_ms += talk;
        a.idle_since = now;
        a.call = None;
        a.node = None;
        a.queue = None;
        a.answered = None;
        let wrap =
            agent_wrap.unwrap_or_else(|| u.config.queues.get(&queue).map_or(0, |q| q.wrap_up_ms));
        fx.events.push(event(
            unit,
            now,
            &queue,
            &call,
            agent_id,
            if by_agent {
                "COMPLETEAGENT"
            } else {
                "COMPLETECALLER"
            },
            &["0".into(), secs(talk), "1".into()],
        ));
        a.since = now;
        if wrap > 0 {
            a.state = AgentState::WrapUp;
            a.wrap_until = now + wrap;
        } else {
            a.state = AgentState::Available;
        }
        apply_pending(unit, agent_id, a, now, &mut fx);
        self.after_logout_check(unit, now, &mut fx);
        self.match_unit(unit, now, &mut fx);
        fx
    }

    /// An agent logs in (becomes available).
    pub fn login(
        &mut self,
        unit: &str,
        agent_id: &str,
        now: Millis,
    ) -> Result<Effects, AgentError> {
        let mut fx = Effects::default();
        let a = self.agent_mut(unit, agent_id)?;
        match a.state {
            AgentState::LoggedOut => {
                a.state = AgentState::Available;
                a.since = now;
                a.idle_since = now;
                a.misses = 0;
                a.reason = None;
                fx.events.push(event(
                    unit,
                    now,
                    "NONE",
                    "NONE",
                    agent_id,
                    "AGENTLOGIN",
                    &[],
                ));
            }
            _ => {
                if a.pending == Some(Pending::Logout) {
                    a.pending = None;
                }
            }
        }
        self.match_unit(unit, now, &mut fx);
        Ok(fx)
    }

    /// An agent logs out (at once, or when the call in progress ends).
    pub fn logout(
        &mut self,
        unit: &str,
        agent_id: &str,
        now: Millis,
    ) -> Result<Effects, AgentError> {
        let mut fx = Effects::default();
        let a = self.agent_mut(unit, agent_id)?;
        match a.state {
            AgentState::LoggedOut => {}
            AgentState::Reserved | AgentState::OnCall => a.pending = Some(Pending::Logout),
            _ => {
                a.state = AgentState::LoggedOut;
                a.since = now;
                a.reason = None;
                fx.events.push(event(
                    unit,
                    now,
                    "NONE",
                    "NONE",
                    agent_id,
                    "AGENTLOGOFF",
                    &[],
                ));
            }
        }
        self.after_logout_check(unit, now, &mut fx);
        Ok(fx)
    }

    /// An agent pauses (at once, or when the call in progress ends).
    pub fn pause(
        &mut self,
        unit: &str,
        agent_id: &str,
        reason: &str,
        now: Millis,
    ) -> Result<Effects, AgentError> {
        let mut fx = Effects::default();
        let a = self.agent_mut(unit, agent_id)?;
        match a.state {
            AgentState::LoggedOut | AgentState::Paused => {}
            AgentState::Reserved | AgentState::OnCall => {
                a.pending = Some(Pending::Pause(reason.to_string()))
            }
            AgentState::Available | AgentState::WrapUp => {
                a.state = AgentState::Paused;
                a.since = now;
                a.reason = Some(reason.to_string());
                fx.events.push(event(
                    unit,
                    now,
                    "NONE",
                    "NONE",
                    agent_id,
                    "PAUSE",
                    &[reason.to_string()],
                ));
            }
        }
        Ok(fx)
    }

    /// A paused agent is available again.
    pub fn unpause(
        &mut self,
        unit: &str,
        agent_id: &str,
        now: Millis,
    ) -> Result<Effects, AgentError> {
        let mut fx = Effects::default();
        let a = self.agent_mut(unit, agent_id)?;
        if a.state == AgentState::Paused {
            a.state = AgentState::Available;
            a.since = now;
            a.idle_since = now;
            a.reason = None;
            a.misses = 0;
            fx.events
                .push(event(unit, now, "NONE", "NONE", agent_id, "UNPAUSE", &[]));
        } else if matches!(a.pending, Some(Pending::Pause(_))) {
            a.pending = None;
        }
        self.match_unit(unit, now, &mut fx);
        Ok(fx)
    }

    fn agent_mut(&mut self, unit: &str, agent_id: &str) -> Result<&mut Agent, AgentError> {
        self.units
            .get_mut(unit)
            .and_then(|u| u.agents.get_mut(agent_id))
            .ok_or_else(|| AgentError::UnknownAgent(agent_id.to_string()))
    }

    /// Runs what time has made due in a unit: wrap-ups ending, reservations
    /// of silent nodes expiring, callers over their queue's maximum wait,
    /// returning callers' places lapsing. Returns when to call it next.
    pub fn tick(&mut self, unit: &str, now: Millis) -> (Option<Millis>, Effects) {
        let mut fx = Effects::default();
        let Some(u) = self.units.get_mut(unit) else {
            return (None, fx);
        };
        let mut logged_out = false;
        for (id, a) in u.agents.iter_mut() {
            if a.state == AgentState::WrapUp && a.wrap_until <= now {
                a.state = AgentState::Available;
                a.since = a.wrap_until;
                a.idle_since = a.wrap_until;
                logged_out |= apply_pending(unit, id, a, now, &mut fx);
            }
        }
        let expired: Vec<String> = u
            .calls
            .iter()
            .filter(|(_, c)| !c.offers.is_empty() && c.offer_expires <= now)
            .map(|(id, _)| id.clone())
            .collect();
        let expired: Vec<String> = expired
            .iter()
            .flat_map(|call_id| {
                u.calls
                    .get(call_id)
                    .map(|c| c.offers.clone())
                    .unwrap_or_default()
            })
            .map(|(_, reservation)| reservation)
            .collect();
        for reservation in expired {
            fx = merge(
                fx,
                self.offer_failed(unit, &reservation, OfferFailure::NoAnswer, now),
            );
        }
        let Some(u) = self.units.get_mut(unit) else {
            return (None, fx);
        };
        let timed_out: Vec<(String, Call)> = u
            .calls
            .iter()
            .filter(|(_, c)| {
                c.offers.is_empty()
                    && u.config
                        .queues
                        .get(&c.queue)
                        .is_some_and(|q| now.saturating_sub(c.enqueued_at) >= q.max_wait_ms)
            })
            .map(|(id, c)| (id.clone(), c.clone()))
            .collect();
        for (call_id, call) in timed_out {
            let position = rank(u, &call.queue, call.score);
            remove_call(u, &call_id);
            fx.events.push(event(
                unit,
                now,
                &call.queue,
                &call_id,
                "NONE",
                "EXITWITHTIMEOUT",
                &[
                    position.to_string(),
                    "1".into(),
                    secs(now.saturating_sub(call.enqueued_at)),
                ],
            ));
            fx.notices.push(Notice::Timeout {
                unit: unit.to_string(),
                queue: call.queue.clone(),
                call: call_id,
                node: call.node,
            });
        }
        u.resume.retain(|_, (_, until)| *until > now);
        if logged_out {
            self.after_logout_check(unit, now, &mut fx);
        }
        self.match_unit(unit, now, &mut fx);
        (self.next_deadline(unit, now), fx)
    }

    /// When [`tick`](Self::tick) next has work for a unit.
    pub fn next_deadline(&self, unit: &str, now: Millis) -> Option<Millis> {
        let u = self.units.get(unit)?;
        let mut next: Option<Millis> = None;
        let mut consider = |at: Millis| {
            let at = at.max(now);
            next = Some(next.map_or(at, |n: Millis| n.min(at)));
        };
        for a in u.agents.values() {
            if a.state == AgentState::WrapUp {
                consider(a.wrap_until);
            }
            if a.state == AgentState::Available && a.not_before > now {
                consider(a.not_before);
            }
        }
        for c in u.calls.values() {
            if c.offers.is_empty() {
                if let Some(q) = u.config.queues.get(&c.queue) {
                    consider(c.enqueued_at + q.max_wait_ms);
                    if let Some(periods) = now
                        .saturating_sub(c.enqueued_at)
                        .checked_div(q.escalate_after_ms)
                    {
                        // The next level joins at the next whole period.
                        consider(c.enqueued_at + (periods + 1) * q.escalate_after_ms);
                    }
                }
            } else {
                consider(c.offer_expires);
            }
        }
        for (_, until) in u.resume.values() {
            consider(*until);
        }
        next
    }

    /// A node died: its waiting callers leave the queues, the agents it had
    /// reserved are available again, those it had in calls go to wrap-up.
    pub fn reap_node(&mut self, unit: &str, node: &str, now: Millis) -> Effects {
        let mut fx = Effects::default();
        let Some(u) = self.units.get_mut(unit) else {
            return fx;
        };
        let lost: Vec<(String, Call)> = u
            .calls
            .iter()
            .filter(|(_, c)| c.node == node)
            .map(|(id, c)| (id.clone(), c.clone()))
            .collect();
        let mut logged_out = false;
        for (call_id, call) in lost {
            let position = rank(u, &call.queue, call.score);
            remove_call(u, &call_id);
            for (agent, reservation) in &call.offers {
                logged_out |= release(unit, u, agent, reservation, now, 0, &mut fx);
            }
            fx.events.push(event(
                unit,
                now,
                &call.queue,
                &call_id,
                "NONE",
                "ABANDON",
                &[
                    position.to_string(),
                    "1".into(),
                    secs(now.saturating_sub(call.enqueued_at)),
                    "node_lost".into(),
                ],
            ));
        }
        let in_calls: Vec<(String, String)> = u
            .agents
            .iter()
            .filter(|(_, a)| a.state == AgentState::OnCall && a.node.as_deref() == Some(node))
            .map(|(id, a)| (id.clone(), a.call.clone().unwrap_or_default()))
            .collect();
        for (agent, call) in in_calls {
            fx = merge(fx, self.call_ended(unit, &agent, &call, false, now));
        }
        if logged_out {
            self.after_logout_check(unit, now, &mut fx);
        }
        self.match_unit(unit, now, &mut fx);
        fx
    }

    /// A caller's place.
    pub fn position(&self, unit: &str, call_id: &str) -> Option<Position> {
        let u = self.units.get(unit)?;
        let call = u.calls.get(call_id)?;
        Some(Position {
            position: rank(u, &call.queue, call.score),
            waiting: u.waiting.get(&call.queue).map_or(0, |w| w.len()) as u32,
            average_wait_ms: u.average_wait.get(&call.queue).copied().unwrap_or(0),
        })
    }

    /// The unit's queues and agents.
    pub fn snapshot(&self, unit: &str) -> Snapshot {
        let Some(u) = self.units.get(unit) else {
            return Snapshot::default();
        };
        let queues = u
            .config
            .queues
            .keys()
            .map(|name| {
                let waiting = u.waiting.get(name);
                QueueView {
                    name: name.clone(),
                    waiting: waiting.map_or(0, |w| w.len()) as u32,
                    oldest_since: waiting
                        .into_iter()
                        .flatten()
                        .filter_map(|(_, call)| u.calls.get(call).map(|c| c.enqueued_at))
                        .min(),
                }
            })
            .collect();
        // Agents a new version of the document dropped keep their state
        // (a call may still be going on) but are no longer shown.
        let agents = u
            .agents
            .iter()
            .filter(|(id, _)| u.config.agents.iter().any(|c| c.id == **id))
            .map(|(id, a)| AgentView {
                id: id.clone(),
                state: a.state,
                since: a.since,
                reason: a.reason.clone(),
                call: a.call.clone(),
                ringing: match (a.state, &a.reservation, &a.queue, &a.node) {
                    (AgentState::Reserved, Some(reservation), Some(queue), Some(node)) => {
                        Some(Ringing {
                            reservation: reservation.clone(),
                            queue: queue.clone(),
                            node: node.clone(),
                        })
                    }
                    _ => None,
                },
                calls: a.calls,
                talk_ms: a.talk_ms,
            })
            .collect();
        Snapshot { queues, agents }
    }

    /// Callers of queues left without any logged-in agent leave them.
    fn after_logout_check(&mut self, unit: &str, now: Millis, fx: &mut Effects) {
        let Some(u) = self.units.get_mut(unit) else {
            return;
        };
        let empty: Vec<String> = u
            .config
            .queues
            .iter()
            .filter(|(_, q)| {
                !q.members.iter().any(|m| {
                    u.agents
                        .get(&m.agent)
                        .is_some_and(|a| a.state != AgentState::LoggedOut)
                })
            })
            .map(|(name, _)| name.clone())
            .collect();
        for queue in empty {
            let calls: Vec<(u64, String)> = u
                .waiting
                .get(&queue)
                .map(|w| w.iter().cloned().collect())
                .unwrap_or_default();
            for (score, call_id) in calls {
                let Some(call) = u.calls.get(&call_id).cloned() else {
                    continue;
                };
                let position = rank(u, &queue, score);
                remove_call(u, &call_id);
                fx.events.push(event(
                    unit,
                    now,
                    &queue,
                    &call_id,
                    "NONE",
                    "EXITEMPTY",
                    &[
                        position.to_string(),
                        "1".into(),
                        secs(now.saturating_sub(call.enqueued_at)),
                    ],
                ));
                fx.notices.push(Notice::NoAgents {
                    unit: unit.to_string(),
                    queue: queue.clone(),
                    call: call_id,
                    node: call.node,
                });
            }
        }
    }

    /// Makes every offer that can be made now: repeatedly the best waiting
    /// caller (priority, then arrival, across the unit's queues) that an
    /// eligible agent is free for.
    pub fn match_unit(&mut self, unit: &str, now: Millis, fx: &mut Effects) {
        let Some(u) = self.units.get_mut(unit) else {
            return;
        };
        loop {
            // The head caller not ringing anyone, per queue.
            let mut heads: Vec<(u64, String, String)> = Vec::new();
            for (queue, waiting) in &u.waiting {
                if let Some((score, call)) = waiting
                    .iter()
                    .find(|(_, c)| u.calls.get(c).is_some_and(|c| c.offers.is_empty()))
                {
                    heads.push((*score, call.clone(), queue.clone()));
                }
            }
            heads.sort();
            let mut offered = false;
            for (_, call_id, queue) in heads {
                let Some(config) = u.config.queues.get(&queue).cloned() else {
                    continue;
                };
                let call = u.calls[&call_id].clone();
                let chosen = choose_agents(u, &queue, &config, &call, now);
                if chosen.is_empty() {
                    continue;
                }
                for agent_id in chosen {
                    u.seq += 1;
                    let reservation = format!("r{}", u.seq);
                    if let Some(a) = u.agents.get_mut(&agent_id) {
                        a.state = AgentState::Reserved;
                        a.since = now;
                        a.call = Some(call_id.clone());
                        a.reservation = Some(reservation.clone());
                        a.node = Some(call.node.clone());
                        a.queue = Some(queue.clone());
                    }
                    u.last_offered.insert(queue.clone(), agent_id.clone());
                    if let Some(c) = u.calls.get_mut(&call_id) {
                        c.offers.push((agent_id.clone(), reservation.clone()));
                        c.offer_expires = now + config.ring_timeout_ms + RESERVATION_GRACE_MS;
                    }
                    fx.events.push(event(
                        unit,
                        now,
                        &queue,
                        &call_id,
                        &agent_id,
                        "OFFER",
                        std::slice::from_ref(&reservation),
                    ));
                    fx.notices.push(Notice::Offer {
                        unit: unit.to_string(),
                        queue: queue.clone(),
                        call: call_id.clone(),
                        node: call.node.clone(),
                        agent: agent_id,
                        reservation,
                        ring_timeout_ms: config.ring_timeout_ms,
                        offered_at: now,
                    });
                }
                offered = true;
                break;
            }
            if !offered {
                return;
            }
        }
    }
}

fn merge(mut a: Effects, b: Effects) -> Effects {
    a.notices.extend(b.notices);
    a.events.extend(b.events);
    a
}

/// 1-based rank of a score in its queue.
fn rank(u: &Unit, queue: &str, score: u64) -> u32 {
    u.waiting
        .get(queue)
        .map_or(0, |w| w.range(..(score, String::new())).count() as u32)
        + 1
}

fn remove_call(u: &mut Unit, call_id: &str) {
    if let Some(call) = u.calls.remove(call_id) {
        if let Some(w) = u.waiting.get_mut(&call.queue) {
            w.remove(&(call.score, call_id.to_string()));
        }
    }
}

/// The agent and call holding a reservation.
fn reserved_by(u: &Unit, reservation: &str) -> Option<(String, String)> {
    u.agents
        .iter()
        .find(|(_, a)| {
            a.state == AgentState::Reserved && a.reservation.as_deref() == Some(reservation)
        })
        .and_then(|(id, a)| a.call.clone().map(|c| (id.clone(), c)))
}

/// An agent's reservation ends without a call: available again after
/// `rest` (or logged out or paused, if that was asked for meanwhile).
/// True when a logout asked for meanwhile took effect: the caller must then
/// see whether a queue was left without agents.
#[must_use]
fn release(
    unit: &str,
    u: &mut Unit,
    agent_id: &str,
    reservation: &str,
    now: Millis,
    rest: u64,
    fx: &mut Effects,
) -> bool {
    let Some(a) = u.agents.get_mut(agent_id) else {
        return false;
    };
    if a.state != AgentState::Reserved || a.reservation.as_deref() != Some(reservation) {
        return false;
    }
    a.state = AgentState::Available;
    a.since = now;
    a.call = None;
    a.reservation = None;
    a.node = None;
    a.queue = None;
    a.not_before = now + rest;
    apply_pending(unit, agent_id, a, now, fx)
}

/// A logout or pause asked for during a call, applied once the agent is
/// free (available or in wrap-up). True when it was a logout.
fn apply_pending(unit: &str, agent_id: &str, a: &mut Agent, now: Millis, fx: &mut Effects) -> bool {
    match a.pending.take() {
        Some(Pending::Logout) => {
            a.state = AgentState::LoggedOut;
            a.since = now;
            a.reason = None;
            fx.events.push(event(
                unit,
                now,
                "NONE",
                "NONE",
                agent_id,
                "AGENTLOGOFF",
                &[],
            ));
            true
        }
        Some(Pending::Pause(reason)) => {
            a.state = AgentState::Paused;
            a.since = now;
            a.reason = Some(reason.clone());
            fx.events.push(event(
                unit,
                now,
                "NONE",
                "NONE",
                agent_id,
                "PAUSE",
                &[reason],
            ));
            false
        }
        None => false,
    }
}

/// The agents to offer `call` to: none, one (most strategies), or every
/// eligible one of the lowest level (ring-all).
fn choose_agents(
    u: &Unit,
    queue: &str,
    config: &QueueConfig,
    call: &Call,
    now: Millis,
) -> Vec<String> {
    // Member order: by level, then as the document lists them (the order
    // round-robin follows and ties go by).
    let mut members: Vec<&Member> = config.members.iter().collect();
    members.sort_by_key(|m| m.level);
    let lowest = members.first().map_or(0, |m| m.level);
    let allowed = match now
        .saturating_sub(call.enqueued_at)
        .checked_div(config.escalate_after_ms)
    {
        Some(periods) => lowest.saturating_add(periods.min(u64::from(u32::MAX)) as u32),
        None => u32::MAX,
    };
    // (position in member order, member, agent) of the free agents.
    let free: Vec<(usize, &Member, &Agent)> = members
        .iter()
        .enumerate()
        .filter(|(_, m)| m.level <= allowed)
        .filter_map(|(i, m)| u.agents.get(&m.agent).map(|a| (i, *m, a)))
        .filter(|(_, _, a)| a.state == AgentState::Available && a.not_before <= now)
        .collect();
    let Some(level) = free.first().map(|(_, m, _)| m.level) else {
        return Vec::new();
    };
    let candidates: Vec<(usize, &Member, &Agent)> = free
        .into_iter()
        .filter(|(_, m, _)| m.level == level)
        .collect();
    let pick = |key: &dyn Fn(&Agent) -> (u64, u64)| -> Vec<String> {
        candidates
            .iter()
            .min_by_key(|(i, _, a)| (key(a), *i))
            .map(|(_, m, _)| vec![m.agent.clone()])
            .unwrap_or_default()
    };
    match config.strategy {
        Strategy::RingAll => candidates.iter().map(|(_, m, _)| m.agent.clone()).collect(),
        Strategy::LongestIdle => pick(&|a| (a.idle_since, 0)),
        Strategy::FewestCalls => pick(&|a| (a.calls, a.idle_since)),
        Strategy::LeastTalkTime => pick(&|a| (a.talk_ms, a.idle_since)),
        Strategy::RoundRobin => {
            // The first candidate after the agent offered last, in member
            // order, wrapping round (from the first if that agent is gone).
            let last = u
                .last_offered
                .get(queue)
                .and_then(|l| members.iter().position(|m| m.agent == *l));
            let index = last
                .and_then(|last| candidates.iter().position(|(i, _, _)| *i > last))
                .unwrap_or(0);
            vec![candidates[index].1.agent.clone()]
        }
        Strategy::Random => {
            let index = ((now + call.seq * 7919) % candidates.len() as u64) as usize;
            vec![candidates[index].1.agent.clone()]
        }
    }
}
