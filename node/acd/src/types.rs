//! The vocabulary of the ACD: configuration, what operations answer, and
//! what they tell the nodes (notices) and the world (queue_log events).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use cc_flow::document::Strategy;

/// Milliseconds since the Unix epoch. Time is always an argument: every
/// node passes its own (NTP-disciplined) clock.
pub type Millis = u64;

/// A queue's member agent and its level (lower levels are offered first).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The agent's id within the unit.
    pub agent: String,
    /// Its level in this queue, 1 and up.
    pub level: u32,
}

/// How a queue behaves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueConfig {
    /// How the next agent is chosen.
    pub strategy: Strategy,
    /// How long an offer rings before the caller's node gives up on it.
    pub ring_timeout_ms: u64,
    /// The longest a caller waits before the queue step's timeout branch.
    pub max_wait_ms: u64,
    /// Time agents rest after a call of this queue (an agent's own wrap-up wins).
    pub wrap_up_ms: u64,
    /// The most callers waiting at once; 0 is no limit.
    pub max_len: u32,
    /// Every this long a waiting caller may also be offered to the next
    /// level of agents; 0: every level is eligible, lower levels first.
    pub escalate_after_ms: u64,
    /// How long an agent who did not answer is left alone.
    pub no_answer_delay_ms: u64,
    /// How long an agent whose phone was busy is left alone.
    pub busy_delay_ms: u64,
    /// How long an agent who rejected an offer is left alone.
    pub reject_delay_ms: u64,
    /// Consecutive missed offers after which an agent is paused; 0: never.
    pub max_misses: u32,
    /// A caller who hangs up and calls back within this time gets their
    /// place back; 0: off.
    pub resume_window_ms: u64,
    /// The agents of the queue.
    pub members: Vec<Member>,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            strategy: Strategy::LongestIdle,
            ring_timeout_ms: 15_000,
            max_wait_ms: 600_000,
            wrap_up_ms: 0,
            max_len: 0,
            escalate_after_ms: 0,
            no_answer_delay_ms: 5_000,
            busy_delay_ms: 10_000,
            reject_delay_ms: 10_000,
            max_misses: 3,
            resume_window_ms: 0,
            members: Vec::new(),
        }
    }
}

/// An agent's own settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentConfig {
    /// The agent's id within the unit.
    pub id: String,
    /// The agent's wrap-up time, instead of the queue's.
    pub wrap_up_ms: Option<u64>,
}

/// A unit's ACD configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitConfig {
    /// Queues by name.
    pub queues: BTreeMap<String, QueueConfig>,
    /// Agents.
    pub agents: Vec<AgentConfig>,
}

/// An agent's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    /// Not taking calls.
    LoggedOut,
    /// Free for an offer.
    Available,
    /// Ringing with an offer.
    Reserved,
    /// In a call.
    OnCall,
    /// Resting after a call.
    WrapUp,
    /// Paused, with a reason.
    Paused,
}

impl AgentState {
    /// The label used in metrics and APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::LoggedOut => "logged_out",
            AgentState::Available => "available",
            AgentState::Reserved => "reserved",
            AgentState::OnCall => "on_call",
            AgentState::WrapUp => "wrap_up",
            AgentState::Paused => "paused",
        }
    }

    /// Every state, for metrics that should show zeros.
    pub const ALL: [AgentState; 6] = [
        AgentState::LoggedOut,
        AgentState::Available,
        AgentState::Reserved,
        AgentState::OnCall,
        AgentState::WrapUp,
        AgentState::Paused,
    ];
}

/// A caller asks to wait.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Join {
    /// The queue.
    pub queue: String,
    /// The call (the caller leg's Call-ID).
    pub call: String,
    /// Who calls (their SIP URI), to give a returning caller their place.
    pub caller: String,
    /// The node holding the call: offers go there.
    pub node: String,
    /// 0–9; higher is served first.
    pub priority: u8,
}

/// What joining gave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum JoinOutcome {
    /// Waiting at this position (1 is next).
    Queued {
        /// 1-based position.
        position: u32,
        /// The caller got back the place of a recent abandoned call.
        resumed: bool,
    },
    /// No agent of the queue is logged in.
    NoAgents,
    /// The queue is at its maximum length.
    Full,
    /// No such queue.
    UnknownQueue,
}

/// Why a caller leaves a queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    /// The caller hung up.
    Abandon,
    /// The caller pressed the exit key.
    ExitKey,
    /// The caller's call failed (their node's business).
    Failure,
}

/// Why an offer was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfferFailure {
    /// The agent's phone rang out.
    NoAnswer,
    /// The agent's phone was busy.
    Busy,
    /// The agent rejected the call.
    Rejected,
    /// The agent's phone could not be reached.
    Unreachable,
}

/// What a node must do, as decided by an ACD operation anywhere.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "notice")]
pub enum Notice {
    /// Ring `agent` for `call` (held by `node`) for `ring_timeout_ms`.
    Offer {
        /// The unit.
        unit: String,
        /// The queue.
        queue: String,
        /// The waiting call.
        call: String,
        /// The node holding it.
        node: String,
        /// The agent to ring.
        agent: String,
        /// The reservation to answer or fail with.
        reservation: String,
        /// How long to ring.
        ring_timeout_ms: u64,
        /// When the offer was made (the operation that freed the agent or
        /// brought the caller), to measure how soon the agent's phone rings.
        offered_at: Millis,
    },
    /// Stop ringing `agent` for `call` (another agent took it: ring-all).
    Cancel {
        /// The unit.
        unit: String,
        /// The call.
        call: String,
        /// The node holding it.
        node: String,
        /// The agent to stop ringing.
        agent: String,
        /// Its reservation.
        reservation: String,
    },
    /// The caller waited the queue's maximum; follow the timeout branch.
    Timeout {
        /// The unit.
        unit: String,
        /// The queue.
        queue: String,
        /// The call.
        call: String,
        /// The node holding it.
        node: String,
    },
    /// Every agent of the queue logged out; follow the no-agents branch.
    NoAgents {
        /// The unit.
        unit: String,
        /// The queue.
        queue: String,
        /// The call.
        call: String,
        /// The node holding it.
        node: String,
    },
}

impl Notice {
    /// The node the notice is for.
    pub fn node(&self) -> &str {
        match self {
            Notice::Offer { node, .. }
            | Notice::Cancel { node, .. }
            | Notice::Timeout { node, .. }
            | Notice::NoAgents { node, .. } => node,
        }
    }

    /// The call it is about.
    pub fn call(&self) -> &str {
        match self {
            Notice::Offer { call, .. }
            | Notice::Cancel { call, .. }
            | Notice::Timeout { call, .. }
            | Notice::NoAgents { call, .. } => call,
        }
    }
}

/// One queue happening, in the vocabulary of Asterisk's `queue_log`
/// (`ENTERQUEUE`, `CONNECT`, `RINGNOANSWER`, `ABANDON`, …), plus `OFFER`
/// (app_queue logs no event when it starts ringing an agent).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct QueueEvent {
    /// When.
    pub time: Millis,
    /// The unit.
    pub unit: String,
    /// The queue, or `NONE` for agent events.
    pub queue: String,
    /// The call, or `NONE`.
    pub call: String,
    /// The agent, or `NONE`.
    pub agent: String,
    /// The event name.
    pub event: String,
    /// Its data fields, as in queue_log.
    pub data: Vec<String>,
}

/// A queue event as the store keeps it, with its place in the unit's log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedEvent {
    /// Its id in the log: pass it as `after` to read on from it. Opaque (a
    /// Redis stream id, a counter in memory), increasing.
    pub id: String,
    /// The event.
    #[serde(flatten)]
    pub event: QueueEvent,
}

impl QueueEvent {
    /// The event as a line of Asterisk's `queue_log` file
    /// (`epoch|callid|queue|agent|event|data1|data2|…`), which queue
    /// reporting tools read.
    pub fn queue_log_line(&self) -> String {
        let mut line = format!(
            "{}|{}|{}|{}|{}",
            self.time / 1000,
            self.call,
            self.queue,
            self.agent,
            self.event
        );
        for field in &self.data {
            line.push('|');
            line.push_str(&field.replace(['|', '\n', '\r'], " "));
        }
        line
    }
}

/// What an operation changed beyond its answer: notices for nodes, events
/// for the log. Both are ordered.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Effects {
    /// Notices, to deliver to their nodes.
    pub notices: Vec<Notice>,
    /// Events, to append to the queue log.
    pub events: Vec<QueueEvent>,
    /// When the unit next needs a tick (a wrap-up ends, a rest ends, a
    /// reservation or a wait expires), as of the end of the operation.
    #[serde(default)]
    pub next_tick: Option<Millis>,
}

/// An agent as the world may see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentView {
    /// The agent.
    pub id: String,
    /// Its state.
    pub state: AgentState,
    /// Since when.
    pub since: Millis,
    /// The pause reason.
    pub reason: Option<String>,
    /// The call it rings for or is in.
    pub call: Option<String>,
    /// While it rings: the offer's reservation and the call's queue, so a
    /// node that missed the offer notice can pick it up again.
    pub ringing: Option<Ringing>,
    /// Calls answered.
    pub calls: u64,
    /// Time in calls, ms.
    pub talk_ms: u64,
}

/// The offer an agent rings for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ringing {
    /// The offer's reservation.
    pub reservation: String,
    /// The queue of the call.
    pub queue: String,
    /// The node holding the call.
    pub node: String,
}

/// A queue as the world may see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueView {
    /// The queue.
    pub name: String,
    /// Callers waiting (ringing agents included).
    pub waiting: u32,
    /// When the longest-waiting caller joined.
    pub oldest_since: Option<Millis>,
}

/// A unit's ACD at a glance.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Queues, by name.
    pub queues: Vec<QueueView>,
    /// Agents, by id.
    pub agents: Vec<AgentView>,
}

/// Where a waiting caller stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// 1-based place in the queue.
    pub position: u32,
    /// Callers ahead or behind who are ringing an agent count too.
    pub waiting: u32,
    /// Average wait of the queue's answered callers, ms (0 before the first).
    pub average_wait_ms: u64,
}

/// An operation on an agent the state does not allow.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum AgentError {
    /// No such agent in the unit.
    #[error("unknown agent {0:?}")]
    UnknownAgent(String),
}
