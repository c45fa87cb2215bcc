//! The call-flow interpreter: a pure machine of (state, event) → actions.
//!
//! The call task in the shell feeds it what happened (a prompt finished, a
//! digit, a timer, the queue's or the forward's outcome, a hang-up) and
//! carries out what it asks (play, stop, start a timer, enqueue, record,
//! forward, tag, hang up). It never touches media or sockets, and reads the
//! time only from its arguments, so every flow can be walked in tests.
//!
//! Tokens tie asynchronous answers to the request that caused them: a
//! `PlaybackDone` or `TimerFired` whose token is not the current one is
//! stale (the playback was interrupted, the timer replaced) and is ignored.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::calendar::HoursStatus;
use crate::unit::{CompiledStep, StepId, Unit};

/// The prompt name of the beep before a voicemail recording; the node has a
/// built-in tone for it unless the unit defines its own.
pub const BEEP: &str = "beep";

/// Steps a call may enter before the interpreter gives up on it: a guard
/// against flows that loop through waiting steps for ever.
pub const MAX_STEPS: u32 = 500;

/// How a call ended, for its record and the metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// An agent answered it.
    Answered,
    /// A forward target answered it.
    Forwarded,
    /// The caller left a message.
    Voicemail,
    /// It came outside opening hours or on a holiday.
    Closed,
    /// The caller hung up before being served.
    Abandoned,
    /// The flow ran to its end with messages only (no agent was needed).
    Completed,
    /// The flow ended it unserved: queue timeout, no agents, queue full, or a
    /// forward that failed, without another branch.
    Unserved,
    /// Something went wrong: no common codec, a media or SIP failure, a flow
    /// that would not end.
    Failed,
}

impl Outcome {
    /// The label used in records and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::Forwarded => "forwarded",
            Outcome::Voicemail => "voicemail",
            Outcome::Closed => "closed",
            Outcome::Abandoned => "abandoned",
            Outcome::Completed => "completed",
            Outcome::Unserved => "unserved",
            Outcome::Failed => "failed",
        }
    }

    /// Every outcome, for metrics that should show zeros.
    pub const ALL: [Outcome; 8] = [
        Outcome::Answered,
        Outcome::Forwarded,
        Outcome::Voicemail,
        Outcome::Closed,
        Outcome::Abandoned,
        Outcome::Completed,
        Outcome::Unserved,
        Outcome::Failed,
    ];
}

/// What the ACD says about a queued call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueOutcome {
    /// An agent answered; the caller is now bridged to them.
    Answered {
        /// The agent.
        agent: String,
    },
    /// The queue's maximum wait passed.
    Timeout,
    /// No agent is logged in.
    NoAgents,
    /// The queue is full.
    Full,
    /// The queue could not be reached.
    Failed,
}

/// What happened to a forward.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ForwardOutcome {
    /// The target answered; the caller is bridged to it.
    Answered,
    /// No answer, busy, refused or unreachable.
    Failed,
}

/// An input to the interpreter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlowEvent {
    /// The playback with this token ended by itself.
    PlaybackDone {
        /// The token of its `Play` action.
        token: u64,
    },
    /// The caller pressed a key.
    Digit(char),
    /// The timer with this token fired.
    TimerFired {
        /// The token of its `StartTimer` action.
        token: u64,
    },
    /// The ACD's answer to `Enqueue`.
    Queue(QueueOutcome),
    /// The recording asked for by `Record` ended (its limit, or `#`).
    RecordingDone,
    /// The forward's outcome.
    Forward(ForwardOutcome),
    /// The agent or forward target hung up the bridged call.
    BridgeEnded,
    /// The caller hung up.
    CallerHungUp,
}

/// Something the call task must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// The call entered a step (for the record's path and the metrics).
    EnterStep {
        /// The step's name.
        name: String,
        /// The step's type.
        kind: &'static str,
    },
    /// Play prompts back to back; answer with `PlaybackDone { token }`.
    Play {
        /// Ties the answer to this request.
        token: u64,
        /// Prompt names.
        prompts: Vec<String>,
    },
    /// Stop the current playback (no `PlaybackDone` is expected).
    StopPlayback,
    /// Start (or replace) the call's timer; answer with `TimerFired { token }`.
    StartTimer {
        /// Ties the answer to this request.
        token: u64,
        /// When, from now.
        after: Duration,
    },
    /// Put the caller in a queue (with its music on hold); answer with `Queue(..)`.
    Enqueue {
        /// The queue's name.
        queue: String,
        /// The caller's priority, 0–9.
        priority: u8,
    },
    /// Take the caller out of the queue (exit key).
    LeaveQueue,
    /// Record the caller for at most `max_duration`; answer with `RecordingDone`.
    Record {
        /// The limit.
        max_duration: Duration,
    },
    /// End the recording now (the caller pressed `#`).
    StopRecording,
    /// Bridge the caller to `target`; answer with `Forward(..)`.
    Forward {
        /// A SIP URI or an extension.
        target: String,
        /// How long it may ring.
        timeout: Duration,
    },
    /// Add a tag to the call's record.
    Tag(String),
    /// End the call from our side (BYE to whoever is still there).
    Hangup,
    /// The flow is over; always the last action. Nothing is accepted after it.
    Finished {
        /// How the call ended.
        outcome: Outcome,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MenuPhase {
    /// The prompt is playing; a key interrupts it.
    Prompting,
    /// Waiting for a (next) key.
    Waiting,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    NotStarted,
    Playing {
        step: StepId,
        token: u64,
    },
    Menu {
        step: StepId,
        phase: MenuPhase,
        attempt: u32,
        buffer: String,
        token: u64,
    },
    Queued {
        step: StepId,
    },
    Greeting {
        step: StepId,
        token: u64,
    },
    Recording {
        step: StepId,
    },
    Forwarding {
        step: StepId,
    },
    Connected {
        outcome: Outcome,
    },
    Finished,
}

/// One call's walk through its unit's flow.
#[derive(Debug)]
pub struct FlowRun {
    unit: Arc<Unit>,
    state: State,
    next_token: u64,
    typeahead: String,
    path: Vec<StepId>,
    tags: Vec<String>,
    hint: Option<Outcome>,
    steps_entered: u32,
}

impl FlowRun {
    /// A run of `unit`'s flow that has not started.
    pub fn new(unit: Arc<Unit>) -> Self {
        FlowRun {
            unit,
            state: State::NotStarted,
            next_token: 0,
            typeahead: String::new(),
            path: Vec::new(),
            tags: Vec::new(),
            hint: None,
            steps_entered: 0,
        }
    }

    /// The steps entered so far, by name, in order.
    pub fn path(&self) -> Vec<&str> {
        self.path.iter().map(|s| self.unit.flow.name(*s)).collect()
    }

    /// The tags added so far.
    pub fn tags(&self) -> &[String] {
        &self.tags
    }

    /// Whether the run is over.
    pub fn is_finished(&self) -> bool {
        self.state == State::Finished
    }

    /// Starts the flow at its first step (the call has been answered).
    #[must_use]
    pub fn start(&mut self, now: DateTime<Utc>) -> Vec<Action> {
        let mut actions = Vec::new();
        if self.state == State::NotStarted {
            let start = self.unit.flow.start();
            self.enter(now, start, &mut actions);
        }
        actions
    }

    /// Takes one event.
    #[must_use]
    pub fn handle(&mut self, now: DateTime<Utc>, event: FlowEvent) -> Vec<Action> {
        let mut actions = Vec::new();
        if matches!(self.state, State::Finished | State::NotStarted) {
            return actions;
        }
        if event == FlowEvent::CallerHungUp {
            let outcome = match &self.state {
                State::Connected { outcome } => *outcome,
                State::Recording { .. } => Outcome::Voicemail,
                _ => match self.hint {
                    Some(hint @ (Outcome::Closed | Outcome::Voicemail)) => hint,
                    _ => Outcome::Abandoned,
                },
            };
            if matches!(self.state, State::Queued { .. }) {
                actions.push(Action::LeaveQueue);
            }
            self.finish(outcome, &mut actions);
            return actions;
        }
        let state = self.state.clone();
        match (state, event) {
            (State::Playing { step, token }, FlowEvent::PlaybackDone { token: t })
                if t == token =>
            {
                self.follow(now, step, &mut actions);
            }
            (State::Playing { step, .. }, FlowEvent::Digit(d)) => {
                if let CompiledStep::Play {
                    interruptible: true,
                    ..
                } = self.unit.flow.step(step)
                {
                    self.typeahead.push(d);
                    actions.push(Action::StopPlayback);
                    self.follow(now, step, &mut actions);
                }
            }
            (State::Menu { .. }, event) => self.menu_event(now, event, &mut actions),
            (State::Queued { step }, FlowEvent::Queue(outcome)) => {
                self.queue_outcome(now, step, outcome, &mut actions)
            }
            (State::Queued { step }, FlowEvent::Digit(d)) => {
                if let CompiledStep::Queue {
                    exit_key: Some(key),
                    on_exit: Some(exit),
                    ..
                } = self.unit.flow.step(step)
                {
                    if *key == d {
                        let exit = *exit;
                        actions.push(Action::LeaveQueue);
                        self.enter(now, exit, &mut actions);
                    }
                }
            }
            (State::Greeting { step, token }, FlowEvent::PlaybackDone { token: t })
                if t == token =>
            {
                if let CompiledStep::Voicemail { max_duration, .. } = self.unit.flow.step(step) {
                    actions.push(Action::Record {
                        max_duration: *max_duration,
                    });
                    self.state = State::Recording { step };
                }
            }
            (State::Recording { .. }, FlowEvent::Digit('#')) => actions.push(Action::StopRecording),
            (State::Recording { step }, FlowEvent::RecordingDone) => {
                self.hint = Some(Outcome::Voicemail);
                match self.unit.flow.step(step) {
                    CompiledStep::Voicemail {
                        next: Some(next), ..
                    } => {
                        let next = *next;
                        self.enter(now, next, &mut actions)
                    }
                    _ => self.hang_up(Outcome::Voicemail, &mut actions),
                }
            }
            (State::Forwarding { step }, FlowEvent::Forward(outcome)) => match outcome {
                ForwardOutcome::Answered => {
                    self.state = State::Connected {
                        outcome: Outcome::Forwarded,
                    }
                }
                ForwardOutcome::Failed => {
                    self.hint = Some(Outcome::Unserved);
                    let on_failure = match self.unit.flow.step(step) {
                        CompiledStep::Forward { on_failure, .. } => *on_failure,
                        _ => None,
                    };
                    self.branch_or_hang_up(now, on_failure, Outcome::Unserved, &mut actions);
                }
            },
            (State::Connected { outcome }, FlowEvent::BridgeEnded) => {
                self.hang_up(outcome, &mut actions)
            }
            _ => {}
        }
        actions
    }

    fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }

    fn finish(&mut self, outcome: Outcome, actions: &mut Vec<Action>) {
        self.state = State::Finished;
        actions.push(Action::Finished { outcome });
    }

    fn hang_up(&mut self, outcome: Outcome, actions: &mut Vec<Action>) {
        actions.push(Action::Hangup);
        self.finish(outcome, actions);
    }

    fn branch_or_hang_up(
        &mut self,
        now: DateTime<Utc>,
        branch: Option<StepId>,
        outcome: Outcome,
        actions: &mut Vec<Action>,
    ) {
        match branch {
            Some(step) => self.enter(now, step, actions),
            None => self.hang_up(outcome, actions),
        }
    }

    /// Continues after a step that has a single `next`.
    fn follow(&mut self, now: DateTime<Utc>, step: StepId, actions: &mut Vec<Action>) {
        match self.unit.flow.step(step) {
            CompiledStep::Play { next, .. }
            | CompiledStep::Tag { next, .. }
            | CompiledStep::Goto { next } => {
                let next = *next;
                self.enter(now, next, actions)
            }
            _ => self.hang_up(Outcome::Failed, actions),
        }
    }

    fn enter(&mut self, now: DateTime<Utc>, step: StepId, actions: &mut Vec<Action>) {
        self.steps_entered += 1;
        if self.steps_entered > MAX_STEPS {
            self.hang_up(Outcome::Failed, actions);
            return;
        }
        self.path.push(step);
        let unit = Arc::clone(&self.unit);
        let compiled = unit.flow.step(step);
        actions.push(Action::EnterStep {
            name: unit.flow.name(step).to_string(),
            kind: compiled.kind(),
        });
        match compiled {
            CompiledStep::Play { prompts, .. } => {
                let token = self.token();
                actions.push(Action::Play {
                    token,
                    prompts: prompts.clone(),
                });
                self.state = State::Playing { step, token };
            }
            CompiledStep::Menu { prompt, .. } => {
                let buffer = std::mem::take(&mut self.typeahead);
                let token = self.token();
                self.state = State::Menu {
                    step,
                    phase: MenuPhase::Prompting,
                    attempt: 0,
                    buffer: String::new(),
                    token,
                };
                actions.push(Action::Play {
                    token,
                    prompts: vec![prompt.clone()],
                });
                for digit in buffer.chars() {
                    if !matches!(self.state, State::Menu { step: s, .. } if s == step) {
                        break;
                    }
                    self.menu_event(now, FlowEvent::Digit(digit), actions);
                }
            }
            CompiledStep::Hours {
                open,
                closed,
                holiday,
            } => {
                let next = match unit.calendar.status(now) {
                    HoursStatus::Open => *open,
                    HoursStatus::Closed => {
                        self.hint = Some(Outcome::Closed);
                        *closed
                    }
                    HoursStatus::Holiday(_) => {
                        self.hint = Some(Outcome::Closed);
                        *holiday
                    }
                };
                self.enter(now, next, actions);
            }
            CompiledStep::Queue {
                queue, priority, ..
            } => {
                actions.push(Action::Enqueue {
                    queue: queue.clone(),
                    priority: *priority,
                });
                self.state = State::Queued { step };
            }
            CompiledStep::Voicemail { greeting, beep, .. } => {
                let mut prompts: Vec<String> = greeting.iter().cloned().collect();
                if *beep {
                    prompts.push(BEEP.to_string());
                }
                let token = self.token();
                if prompts.is_empty() {
                    if let CompiledStep::Voicemail { max_duration, .. } = compiled {
                        actions.push(Action::Record {
                            max_duration: *max_duration,
                        });
                    }
                    self.state = State::Recording { step };
                } else {
                    actions.push(Action::Play { token, prompts });
                    self.state = State::Greeting { step, token };
                }
            }
            CompiledStep::Forward {
                target, timeout, ..
            } => {
                actions.push(Action::Forward {
                    target: target.clone(),
                    timeout: *timeout,
                });
                self.state = State::Forwarding { step };
            }
            CompiledStep::Tag { tag, next } => {
                actions.push(Action::Tag(tag.clone()));
                self.tags.push(tag.clone());
                let next = *next;
                self.enter(now, next, actions);
            }
            CompiledStep::Goto { next } => {
                let next = *next;
                self.enter(now, next, actions);
            }
            CompiledStep::Hangup => {
                let outcome = self.hint.unwrap_or(Outcome::Completed);
                self.hang_up(outcome, actions);
            }
        }
    }

    fn queue_outcome(
        &mut self,
        now: DateTime<Utc>,
        step: StepId,
        outcome: QueueOutcome,
        actions: &mut Vec<Action>,
    ) {
        let CompiledStep::Queue {
            on_timeout,
            on_no_agents,
            on_full,
            on_failure,
            ..
        } = self.unit.flow.step(step).clone()
        else {
            return;
        };
        let branch = match outcome {
            QueueOutcome::Answered { .. } => {
                self.state = State::Connected {
                    outcome: Outcome::Answered,
                };
                return;
            }
            QueueOutcome::Timeout => on_timeout,
            QueueOutcome::NoAgents => on_no_agents,
            QueueOutcome::Full => on_full,
            QueueOutcome::Failed => on_failure,
        };
        self.hint = Some(Outcome::Unserved);
        self.branch_or_hang_up(now, branch, Outcome::Unserved, actions);
    }

    fn menu_event(&mut self, now: DateTime<Utc>, event: FlowEvent, actions: &mut Vec<Action>) {
        let State::Menu {
            step,
            phase,
            attempt,
            mut buffer,
            token,
        } = self.state.clone()
        else {
            return;
        };
        let CompiledStep::Menu {
            options,
            digit_timeout,
            ..
        } = self.unit.flow.step(step).clone()
        else {
            return;
        };
        match event {
            FlowEvent::PlaybackDone { token: t } if t == token && phase == MenuPhase::Prompting => {
                let token = self.token();
                actions.push(Action::StartTimer {
                    token,
                    after: digit_timeout,
                });
                self.state = State::Menu {
                    step,
                    phase: MenuPhase::Waiting,
                    attempt,
                    buffer,
                    token,
                };
            }
            FlowEvent::Digit(d) => {
                if phase == MenuPhase::Prompting {
                    actions.push(Action::StopPlayback);
                }
                buffer.push(d);
                let exact = options.iter().find(|(k, _)| *k == buffer).map(|(_, s)| *s);
                let longer = options
                    .iter()
                    .any(|(k, _)| k.len() > buffer.len() && k.starts_with(&buffer));
                match (exact, longer) {
                    (Some(next), false) => self.enter(now, next, actions),
                    (_, true) => {
                        let token = self.token();
                        actions.push(Action::StartTimer {
                            token,
                            after: digit_timeout,
                        });
                        self.state = State::Menu {
                            step,
                            phase: MenuPhase::Waiting,
                            attempt,
                            buffer,
                            token,
                        };
                    }
                    (None, false) => self.menu_retry(now, step, attempt, true, actions),
                }
            }
            FlowEvent::TimerFired { token: t } if t == token && phase == MenuPhase::Waiting => {
                match options.iter().find(|(k, _)| *k == buffer).map(|(_, s)| *s) {
                    Some(next) => self.enter(now, next, actions),
                    None => self.menu_retry(now, step, attempt, !buffer.is_empty(), actions),
                }
            }
            _ => {}
        }
    }

    fn menu_retry(
        &mut self,
        now: DateTime<Utc>,
        step: StepId,
        attempt: u32,
        invalid: bool,
        actions: &mut Vec<Action>,
    ) {
        let CompiledStep::Menu {
            prompt,
            retries,
            invalid_prompt,
            on_invalid,
            on_timeout,
            ..
        } = self.unit.flow.step(step).clone()
        else {
            return;
        };
        if attempt >= retries {
            let branch = if invalid { on_invalid } else { on_timeout };
            self.branch_or_hang_up(now, branch, self.hint.unwrap_or(Outcome::Unserved), actions);
            return;
        }
        let mut prompts = Vec::new();
        if invalid {
            prompts.extend(invalid_prompt);
        }
        prompts.push(prompt);
        let token = self.token();
        actions.push(Action::Play { token, prompts });
        self.state = State::Menu {
            step,
            phase: MenuPhase::Prompting,
            attempt: attempt + 1,
            buffer: String::new(),
            token,
        };
    }
}
