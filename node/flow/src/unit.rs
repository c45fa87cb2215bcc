//! A checked unit: its document, its calendar, and its flow compiled to
//! indices so the interpreter never looks a name up.

use std::time::Duration;

use crate::calendar::Calendar;
use crate::document::UnitDocument;

/// A step's index in its flow.
pub type StepId = usize;

/// A flow step with its references resolved.
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)]
pub enum CompiledStep {
    Play {
        prompts: Vec<String>,
        interruptible: bool,
        next: StepId,
    },
    Menu {
        prompt: String,
        options: Vec<(String, StepId)>,
        digit_timeout: Duration,
        retries: u32,
        invalid_prompt: Option<String>,
        on_invalid: Option<StepId>,
        on_timeout: Option<StepId>,
    },
    Hours {
        open: StepId,
        closed: StepId,
        holiday: StepId,
    },
    Queue {
        queue: String,
        priority: u8,
        on_timeout: Option<StepId>,
        on_no_agents: Option<StepId>,
        on_full: Option<StepId>,
        on_failure: Option<StepId>,
        exit_key: Option<char>,
        on_exit: Option<StepId>,
    },
    Voicemail {
        greeting: Option<String>,
        beep: bool,
        max_duration: Duration,
        next: Option<StepId>,
    },
    Forward {
        target: String,
        timeout: Duration,
        on_failure: Option<StepId>,
    },
    Tag {
        tag: String,
        next: StepId,
    },
    Hangup,
    Goto {
        next: StepId,
    },
}

impl CompiledStep {
    /// The steps this one can continue at.
    pub fn successors(&self) -> Vec<StepId> {
        match self {
            CompiledStep::Play { next, .. }
            | CompiledStep::Tag { next, .. }
            | CompiledStep::Goto { next } => vec![*next],
            CompiledStep::Menu {
                options,
                on_invalid,
                on_timeout,
                ..
            } => options
                .iter()
                .map(|(_, s)| *s)
                .chain(*on_invalid)
                .chain(*on_timeout)
                .collect(),
            CompiledStep::Hours {
                open,
                closed,
                holiday,
            } => vec![*open, *closed, *holiday],
            CompiledStep::Queue {
                on_timeout,
                on_no_agents,
                on_full,
                on_failure,
                on_exit,
                ..
            } => [on_timeout, on_no_agents, on_full, on_failure, on_exit]
                .into_iter()
                .flatten()
                .copied()
                .collect(),
            CompiledStep::Voicemail { next, .. } => next.iter().copied().collect(),
            CompiledStep::Forward { on_failure, .. } => on_failure.iter().copied().collect(),
            CompiledStep::Hangup => Vec::new(),
        }
    }

    /// Whether the step takes time (plays, listens, waits, rings). Steps
    /// that do not are executed in one go, and must not form a loop.
    pub fn waits(&self) -> bool {
        !matches!(
            self,
            CompiledStep::Hours { .. }
                | CompiledStep::Tag { .. }
                | CompiledStep::Goto { .. }
                | CompiledStep::Hangup
        )
    }

    /// The step type's name, for metrics and records.
    pub fn kind(&self) -> &'static str {
        match self {
            CompiledStep::Play { .. } => "play",
            CompiledStep::Menu { .. } => "menu",
            CompiledStep::Hours { .. } => "hours",
            CompiledStep::Queue { .. } => "queue",
            CompiledStep::Voicemail { .. } => "voicemail",
            CompiledStep::Forward { .. } => "forward",
            CompiledStep::Tag { .. } => "tag",
            CompiledStep::Hangup => "hangup",
            CompiledStep::Goto { .. } => "goto",
        }
    }
}

/// A compiled flow.
#[derive(Clone, Debug, PartialEq)]
pub struct Flow {
    names: Vec<String>,
    steps: Vec<CompiledStep>,
    start: StepId,
}

impl Flow {
    pub(crate) fn new(names: Vec<String>, steps: Vec<CompiledStep>, start: StepId) -> Self {
        Flow {
            names,
            steps,
            start,
        }
    }

    /// The first step.
    pub fn start(&self) -> StepId {
        self.start
    }

    /// A step.
    pub fn step(&self, id: StepId) -> &CompiledStep {
        &self.steps[id]
    }

    /// A step's name.
    pub fn name(&self, id: StepId) -> &str {
        &self.names[id]
    }

    /// Number of steps.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether the flow has no steps (never true for a validated flow).
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// A validated unit.
#[derive(Clone, Debug)]
pub struct Unit {
    /// The document it came from.
    pub document: UnitDocument,
    /// Its calendar.
    pub calendar: Calendar,
    /// Its flow.
    pub flow: Flow,
}

impl Unit {
    pub(crate) fn new(document: UnitDocument, calendar: Calendar, flow: Flow) -> Self {
        Unit {
            document,
            calendar,
            flow,
        }
    }

    /// The unit's identifier.
    pub fn id(&self) -> &str {
        &self.document.unit
    }
}
