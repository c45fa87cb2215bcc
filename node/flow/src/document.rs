//! The unit's document: one YAML file per unit, as the service description
//! lists it (service numbers, agents and their endpoints, supervisors,
//! calendar and hours, messages, the call flow, tagging, outbound scope).
//!
//! These are the serde types only; [`crate::validate`] turns a document into
//! a checked [`crate::Unit`]. Unknown fields are refused, so a typo in a key
//! is an error and not a silently ignored setting.

use std::time::Duration;

use chrono::NaiveDate;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// One unit's document.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UnitDocument {
    /// The unit's identifier: lower-case letters, digits, `-` and `_`.
    pub unit: String,
    /// The unit's name, for people.
    pub name: String,
    /// The numbers (extensions) that reach the unit's call flow.
    pub service_numbers: Vec<String>,
    /// IANA time zone of the calendar, e.g. `Europe/Madrid`.
    pub timezone: String,
    /// Opening hours, holidays and exceptions. Without it the unit is open
    /// at all times (a `hours` step always takes its `open` branch).
    #[serde(default)]
    pub calendar: Option<CalendarSpec>,
    /// Prompt name → WAV file (8 kHz 16-bit mono), relative to the unit's
    /// prompt folder.
    #[serde(default)]
    pub prompts: IndexMap<String, String>,
    /// The agents.
    #[serde(default)]
    pub agents: Vec<AgentSpec>,
    /// The supervisors.
    #[serde(default)]
    pub supervisors: Vec<SupervisorSpec>,
    /// Attention queues by name.
    #[serde(default)]
    pub queues: IndexMap<String, QueueSpec>,
    /// Call tags agents may set, with their DTMF codes.
    #[serde(default)]
    pub tags: Vec<TagSpec>,
    /// Which numbers the unit may dial (forwards).
    #[serde(default)]
    pub outbound: OutboundSpec,
    /// How long the caller hears ringing before the flow answers.
    #[serde(default, with = "humantime_serde")]
    pub answer_delay: Duration,
    /// The call flow.
    pub flow: FlowSpec,
}

/// Weekly hours, holidays and dated exceptions.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CalendarSpec {
    /// Whether the university-wide closures apply too.
    #[serde(default = "yes")]
    pub inherit_university: bool,
    /// Opening ranges per weekday, `HH:MM-HH:MM` (end may be `24:00`).
    #[serde(default)]
    pub weekly: WeeklySpec,
    /// Days (or spans of days) closed, with a name.
    #[serde(default)]
    pub holidays: Vec<HolidaySpec>,
    /// Days with hours other than the weekly ones (an empty list closes the day).
    #[serde(default)]
    pub exceptions: Vec<ExceptionSpec>,
}

impl Default for CalendarSpec {
    fn default() -> Self {
        CalendarSpec {
            inherit_university: true,
            weekly: WeeklySpec::default(),
            holidays: Vec::new(),
            exceptions: Vec::new(),
        }
    }
}

fn yes() -> bool {
    true
}

/// Opening ranges per weekday.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct WeeklySpec {
    #[serde(default)]
    pub mon: Vec<String>,
    #[serde(default)]
    pub tue: Vec<String>,
    #[serde(default)]
    pub wed: Vec<String>,
    #[serde(default)]
    pub thu: Vec<String>,
    #[serde(default)]
    pub fri: Vec<String>,
    #[serde(default)]
    pub sat: Vec<String>,
    #[serde(default)]
    pub sun: Vec<String>,
}

/// A closed day, or a span of closed days.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HolidaySpec {
    /// The (first) day.
    pub date: NaiveDate,
    /// The last day of a span, inclusive.
    #[serde(default)]
    pub until: Option<NaiveDate>,
    /// What it is, e.g. "Christmas".
    pub name: String,
}

/// A day with its own hours.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExceptionSpec {
    /// The day.
    pub date: NaiveDate,
    /// Its opening ranges; empty means closed all day.
    #[serde(default)]
    pub hours: Vec<String>,
}

/// The university-wide calendar every unit inherits by default.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UniversityCalendar {
    /// Closures of the whole university.
    #[serde(default)]
    pub closures: Vec<HolidaySpec>,
}

/// How an agent is reached.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EndpointKind {
    /// An existing desk phone with its line on the university's platform.
    DeskPhone,
    /// The MicroSIP softphone, configured by the service.
    Microsip,
}

/// An agent.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AgentSpec {
    /// Identifier within the unit.
    pub id: String,
    /// Name, for people.
    pub name: String,
    /// The SIP URI the node dials to offer a call.
    pub uri: String,
    /// The kind of endpoint.
    pub endpoint: EndpointKind,
    /// The agent's own wrap-up time, instead of each queue's.
    #[serde(default, with = "humantime_serde")]
    pub wrap_up: Option<Duration>,
}

/// A supervisor.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SupervisorSpec {
    /// Identifier within the unit.
    pub id: String,
    /// Name.
    pub name: String,
    /// Contact address.
    #[serde(default)]
    pub email: Option<String>,
}

/// How a queue picks the agent to offer a call to.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The agent idle longest.
    #[default]
    LongestIdle,
    /// Agents in turn, remembering where the last offer stopped.
    RoundRobin,
    /// Every free agent at once; the first to answer takes the call.
    RingAll,
    /// The agent with the fewest answered calls.
    FewestCalls,
    /// The agent with the least talk time.
    LeastTalkTime,
    /// Any free agent.
    Random,
}

/// A queue's agent: its id, or its id and level (`{ agent: pau, level: 2 }`;
/// lower levels are offered first, level 1 by default).
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(untagged)]
pub enum QueueMember {
    /// An agent at level 1.
    Agent(String),
    /// An agent at a level.
    Leveled {
        /// The agent's id.
        agent: String,
        /// Its level, 1 and up.
        level: u32,
    },
}

/// Read by hand rather than as an untagged enum, whose only error is "data
/// did not match any variant": a member with a misspelt or extra key is
/// refused with the key named, as everywhere else in a document.
impl<'de> Deserialize<'de> for QueueMember {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = QueueMember;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an agent id, or { agent: <id>, level: <1 and up> }")
            }

            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<QueueMember, E> {
                Ok(QueueMember::Agent(value.to_string()))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<QueueMember, A::Error> {
                let (mut agent, mut level) = (None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "agent" => agent = Some(map.next_value::<String>()?),
                        "level" => level = Some(map.next_value::<u32>()?),
                        other => {
                            return Err(serde::de::Error::unknown_field(other, &["agent", "level"]))
                        }
                    }
                }
                let agent = agent.ok_or_else(|| serde::de::Error::missing_field("agent"))?;
                Ok(QueueMember::Leveled {
                    agent,
                    level: level.unwrap_or(1),
                })
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl QueueMember {
    /// The agent's id.
    pub fn agent(&self) -> &str {
        match self {
            QueueMember::Agent(a) | QueueMember::Leveled { agent: a, .. } => a,
        }
    }

    /// The agent's level in the queue.
    pub fn level(&self) -> u32 {
        match self {
            QueueMember::Agent(_) => 1,
            QueueMember::Leveled { level, .. } => *level,
        }
    }
}

/// An attention queue.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QueueSpec {
    /// The agents serving the queue, with their levels.
    pub agents: Vec<QueueMember>,
    /// Agent selection.
    #[serde(default)]
    pub strategy: Strategy,
    /// How long an offered agent rings before the next one is tried.
    #[serde(default = "default_ring_timeout", with = "humantime_serde")]
    pub ring_timeout: Duration,
    /// The longest a caller waits before the queue step's timeout branch.
    #[serde(default = "default_max_wait", with = "humantime_serde")]
    pub max_wait: Duration,
    /// Prompt looped while waiting.
    #[serde(default)]
    pub music_on_hold: Option<String>,
    /// Time an agent stays unavailable after a call.
    #[serde(default, with = "humantime_serde")]
    pub wrap_up: Duration,
    /// The most callers waiting at once (then the queue step's `on_full`); 0: no limit.
    #[serde(default)]
    pub max_len: u32,
    /// Every this long a waiting caller may also be offered to the next
    /// level of agents; absent: every level at once, lower levels first.
    #[serde(default, with = "humantime_serde")]
    pub escalate_after: Option<Duration>,
    /// How long an agent who did not answer is left alone.
    #[serde(default = "default_no_answer_delay", with = "humantime_serde")]
    pub no_answer_delay: Duration,
    /// How long an agent whose phone was busy is left alone.
    #[serde(default = "default_busy_delay", with = "humantime_serde")]
    pub busy_delay: Duration,
    /// How long an agent who rejected a call is left alone.
    #[serde(default = "default_busy_delay", with = "humantime_serde")]
    pub reject_delay: Duration,
    /// Consecutive missed offers after which an agent is paused; 0: never.
    #[serde(default = "default_max_misses")]
    pub max_misses: u32,
    /// A caller who hangs up and calls back within this time gets their
    /// place back; absent: never.
    #[serde(default, with = "humantime_serde")]
    pub resume_window: Option<Duration>,
    /// How often a waiting caller hears the announcements; absent: never.
    #[serde(default, with = "humantime_serde")]
    pub announce_every: Option<Duration>,
    /// A prompt played at each announcement ("all our agents are busy…").
    #[serde(default)]
    pub announce: Option<String>,
    /// Whether the announcements tell the caller's position and estimated
    /// wait (needs the prompts `queue_position`, `queue_wait`, `minutes`
    /// and `number_1` … `number_20`).
    #[serde(default)]
    pub announce_position: bool,
}

fn default_no_answer_delay() -> Duration {
    Duration::from_secs(5)
}

fn default_busy_delay() -> Duration {
    Duration::from_secs(10)
}

fn default_max_misses() -> u32 {
    3
}

fn default_ring_timeout() -> Duration {
    Duration::from_secs(15)
}

fn default_max_wait() -> Duration {
    Duration::from_secs(600)
}

/// A call tag.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TagSpec {
    /// The DTMF code an agent keys to set it.
    pub code: String,
    /// The tag.
    pub name: String,
}

/// The widest class of number the unit may dial, in increasing cost.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum OutboundScope {
    /// University extensions and SIP URIs only.
    #[default]
    Internal,
    /// Local numbers.
    Local,
    /// National fixed numbers.
    National,
    /// Mobile numbers.
    Mobile,
    /// International numbers.
    International,
}

/// What the unit may dial.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OutboundSpec {
    /// The approved scope.
    #[serde(default)]
    pub scope: OutboundScope,
    /// Single numbers approved beyond the scope (a manager's mobile, a
    /// premium line), in any spelling the numbering plan reads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub numbers: Vec<String>,
}

/// The call flow: named steps and the one to start with.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FlowSpec {
    /// The first step.
    pub start: String,
    /// The steps by name. Each step is a map with one key, its type
    /// (`play: {..}`), rather than a YAML tag (`!play`).
    #[serde(with = "serde_norway::with::singleton_map_recursive")]
    pub steps: IndexMap<String, Step>,
}

/// One step of a flow. In YAML the step type is the key:
/// `welcome: { play: { prompts: [welcome], next: menu } }`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Play prompts, then go on.
    Play(PlayStep),
    /// Play a prompt and collect digits.
    Menu(MenuStep),
    /// Branch on the unit's calendar.
    Hours(HoursStep),
    /// Hand the call to an attention queue.
    Queue(QueueStep),
    /// Record a message.
    Voicemail(VoicemailStep),
    /// Bridge the call to another SIP destination.
    Forward(ForwardStep),
    /// Add a tag to the call's record.
    Tag(TagStep),
    /// End the call.
    Hangup(HangupStep),
    /// Continue at another step.
    Goto(GotoStep),
}

/// `play`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PlayStep {
    /// Prompts, played back to back.
    pub prompts: Vec<String>,
    /// Whether a key press stops the prompts (the digit is kept for a
    /// following menu).
    #[serde(default)]
    pub interruptible: bool,
    /// The next step.
    pub next: String,
}

/// `menu`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MenuStep {
    /// The menu prompt (interruptible).
    pub prompt: String,
    /// Digits → step. Keys may be several digits long.
    pub options: IndexMap<String, String>,
    /// How long to wait for a (next) digit after the prompt.
    #[serde(default = "default_digit_timeout", with = "humantime_serde")]
    pub digit_timeout: Duration,
    /// Extra attempts after an invalid entry or a timeout.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Prompt played after an invalid entry before retrying.
    #[serde(default)]
    pub invalid_prompt: Option<String>,
    /// Where to go when the attempts end with an invalid entry.
    #[serde(default)]
    pub on_invalid: Option<String>,
    /// Where to go when the attempts end without input.
    #[serde(default)]
    pub on_timeout: Option<String>,
}

fn default_digit_timeout() -> Duration {
    Duration::from_secs(5)
}

fn default_retries() -> u32 {
    2
}

/// `hours`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HoursStep {
    /// Where to go when open.
    pub open: String,
    /// Where to go when closed.
    pub closed: String,
    /// Where to go on a holiday (defaults to `closed`).
    #[serde(default)]
    pub holiday: Option<String>,
}

/// `queue`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QueueStep {
    /// The queue.
    pub queue: String,
    /// After the queue's maximum wait.
    #[serde(default)]
    pub on_timeout: Option<String>,
    /// When no agent is logged in.
    #[serde(default)]
    pub on_no_agents: Option<String>,
    /// When the queue is full.
    #[serde(default)]
    pub on_full: Option<String>,
    /// When the queue cannot be reached (shared state down).
    #[serde(default)]
    pub on_failure: Option<String>,
    /// A key that leaves the queue.
    #[serde(default)]
    pub exit_key: Option<char>,
    /// The caller's priority, 0–9: higher is served first.
    #[serde(default = "default_priority")]
    pub priority: u8,
    /// Where the exit key goes.
    #[serde(default)]
    pub on_exit: Option<String>,
}

fn default_priority() -> u8 {
    5
}

/// `voicemail`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VoicemailStep {
    /// Prompt before the beep.
    #[serde(default)]
    pub greeting: Option<String>,
    /// Whether to beep before recording.
    #[serde(default = "yes")]
    pub beep: bool,
    /// The longest message.
    #[serde(default = "default_max_message", with = "humantime_serde")]
    pub max_duration: Duration,
    /// Where to go after recording (if the caller is still there); hang up if absent.
    #[serde(default)]
    pub next: Option<String>,
}

fn default_max_message() -> Duration {
    Duration::from_secs(120)
}

/// `forward`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ForwardStep {
    /// A SIP URI (`sip:desk@pbx.example.edu`) or an internal extension (`4321`).
    pub target: String,
    /// How long the target rings.
    #[serde(default = "default_ring_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Where to go when the target does not answer, is busy or fails.
    #[serde(default)]
    pub on_failure: Option<String>,
}

/// `tag`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TagStep {
    /// The tag's name (one of the unit's tags).
    pub tag: String,
    /// The next step.
    pub next: String,
}

/// `hangup`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HangupStep {}

/// `goto`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GotoStep {
    /// The step to continue at.
    pub step: String,
}
