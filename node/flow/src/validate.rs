//! From a document to a checked [`Unit`]: every reference resolved, every
//! step reachable, no loop that could spin without waiting.
//!
//! Errors are collected, not stopped at, so an operator sees every problem of
//! a document at once. Each names the file and, where there is one, the step.

use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::calendar::Calendar;
use crate::document::{Step, UnitDocument, UniversityCalendar};
use crate::unit::{CompiledStep, Flow, StepId, Unit};

/// One problem in a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidationError {
    /// The file (or other source) of the document.
    pub file: String,
    /// The step concerned, if any.
    pub step: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.step {
            Some(step) => write!(f, "{}: step {:?}: {}", self.file, step, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Every problem found in a document.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Parses a YAML document and validates it.
pub fn load_unit(
    file: &str,
    yaml: &str,
    university: &UniversityCalendar,
) -> Result<Unit, ValidationErrors> {
    let document: UnitDocument = serde_norway::from_str(yaml).map_err(|e| {
        ValidationErrors(vec![ValidationError {
            file: file.to_string(),
            step: None,
            message: format!("not a valid unit document: {e}"),
        }])
    })?;
    validate(file, document, university)
}

struct Checker<'a> {
    file: &'a str,
    errors: Vec<ValidationError>,
}

impl Checker<'_> {
    fn unit(&mut self, message: impl Into<String>) {
        self.errors.push(ValidationError {
            file: self.file.to_string(),
            step: None,
            message: message.into(),
        });
    }

    fn step(&mut self, step: &str, message: impl Into<String>) {
        self.errors.push(ValidationError {
            file: self.file.to_string(),
            step: Some(step.to_string()),
            message: message.into(),
        });
    }
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn is_dialable(s: &str) -> bool {
    let digits = s.strip_prefix('+').unwrap_or(s);
    !digits.is_empty() && digits.len() <= 20 && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Whether a forward target is a SIP URI (`sip:user@host`) or an internal
/// extension (digits).
pub fn is_forward_target(target: &str) -> bool {
    if let Some(rest) = target.strip_prefix("sip:") {
        let host = rest.rsplit('@').next().unwrap_or_default();
        return !host.is_empty() && !rest.contains(char::is_whitespace);
    }
    is_dialable(target)
}

/// Validates a document (see the [module docs](self)).
pub fn validate(
    file: &str,
    doc: UnitDocument,
    university: &UniversityCalendar,
) -> Result<Unit, ValidationErrors> {
    let mut c = Checker {
        file,
        errors: Vec::new(),
    };

    if !is_slug(&doc.unit) {
        c.unit(format!(
            "unit id {:?} must be lower-case letters, digits, '-' or '_'",
            doc.unit
        ));
    }
    if doc.service_numbers.is_empty() {
        c.unit("at least one service number is needed");
    }
    for number in &doc.service_numbers {
        if !is_dialable(number) {
            c.unit(format!("service number {number:?} must be digits"));
        }
    }
    let calendar = match &doc.calendar {
        Some(spec) => match Calendar::build(&doc.timezone, spec, university) {
            Ok(calendar) => Some(calendar),
            Err(errors) => {
                for e in errors.lines() {
                    c.unit(e);
                }
                None
            }
        },
        None => {
            if doc.timezone.parse::<chrono_tz::Tz>().is_err() {
                c.unit(format!("unknown time zone {:?}", doc.timezone));
            }
            Some(Calendar::always_open())
        }
    };
    for (name, path) in &doc.prompts {
        if !is_slug(name) {
            c.unit(format!(
                "prompt name {name:?} must be lower-case letters, digits, '-' or '_'"
            ));
        }
        if !path.to_ascii_lowercase().ends_with(".wav") {
            c.unit(format!("prompt {name:?}: {path:?} is not a .wav file"));
        }
    }
    let mut agent_ids = HashSet::new();
    for agent in &doc.agents {
        if !agent_ids.insert(agent.id.as_str()) {
            c.unit(format!("agent {:?} is listed twice", agent.id));
        }
        if !is_forward_target(&agent.uri) || !agent.uri.starts_with("sip:") {
            c.unit(format!(
                "agent {:?}: {:?} is not a SIP URI",
                agent.id, agent.uri
            ));
        }
    }
    for (name, queue) in &doc.queues {
        for member in &queue.agents {
            if !agent_ids.contains(member.agent()) {
                c.unit(format!(
                    "queue {name:?}: unknown agent {:?}",
                    member.agent()
                ));
            }
            if member.level() == 0 {
                c.unit(format!(
                    "queue {name:?}: agent {:?} has level 0; levels start at 1",
                    member.agent()
                ));
            }
        }
        if let Some(announce) = &queue.announce {
            if !doc.prompts.contains_key(announce) {
                c.unit(format!(
                    "queue {name:?}: unknown prompt {announce:?} to announce"
                ));
            }
        }
        if queue.announce_every.is_some_and(|d| d.is_zero()) {
            c.unit(format!("queue {name:?}: announce_every must be above zero"));
        }
        if let Some(moh) = &queue.music_on_hold {
            if !doc.prompts.contains_key(moh) {
                c.unit(format!(
                    "queue {name:?}: unknown prompt {moh:?} for music on hold"
                ));
            }
        }
        if queue.ring_timeout.is_zero() || queue.max_wait.is_zero() {
            c.unit(format!(
                "queue {name:?}: ring_timeout and max_wait must be above zero"
            ));
        }
    }
    let mut codes = HashSet::new();
    let mut tag_names = HashSet::new();
    for tag in &doc.tags {
        if tag.code.is_empty() || !tag.code.bytes().all(|b| b.is_ascii_digit()) {
            c.unit(format!(
                "tag {:?}: code {:?} must be digits",
                tag.name, tag.code
            ));
        }
        if !codes.insert(tag.code.as_str()) {
            c.unit(format!("tag code {:?} is used twice", tag.code));
        }
        if !tag_names.insert(tag.name.as_str()) {
            c.unit(format!("tag {:?} is listed twice", tag.name));
        }
    }

    let flow = compile_flow(&mut c, &doc, &tag_names);

    match (c.errors.is_empty(), calendar, flow) {
        (true, Some(calendar), Some(flow)) => Ok(Unit::new(doc, calendar, flow)),
        _ => Err(ValidationErrors(c.errors)),
    }
}

fn compile_flow(c: &mut Checker<'_>, doc: &UnitDocument, tags: &HashSet<&str>) -> Option<Flow> {
    let steps = &doc.flow.steps;
    let index: HashMap<&str, StepId> = steps
        .keys()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    if steps.is_empty() {
        c.unit("the flow has no steps");
        return None;
    }
    let start = match index.get(doc.flow.start.as_str()) {
        Some(i) => *i,
        None => {
            c.unit(format!(
                "the flow starts at unknown step {:?}",
                doc.flow.start
            ));
            return None;
        }
    };
    let errors_before = c.errors.len();
    let mut compiled = Vec::with_capacity(steps.len());
    for (name, step) in steps {
        if !is_slug(name) {
            c.step(
                name,
                "step names must be lower-case letters, digits, '-' or '_'",
            );
        }
        let mut goes_to = |field: &str, target: &str| -> StepId {
            match index.get(target) {
                Some(i) => *i,
                None => {
                    c.step(name, format!("{field} goes to unknown step {target:?}"));
                    0
                }
            }
        };
        let compiled_step = match step {
            Step::Play(p) => {
                let next = goes_to("next", &p.next);
                CompiledStep::Play {
                    prompts: p.prompts.clone(),
                    interruptible: p.interruptible,
                    next,
                }
            }
            Step::Menu(m) => {
                let options: Vec<(String, StepId)> = m
                    .options
                    .iter()
                    .map(|(digits, target)| {
                        (
                            digits.clone(),
                            goes_to(&format!("option {digits:?}"), target),
                        )
                    })
                    .collect();
                let on_invalid = m.on_invalid.as_deref().map(|t| goes_to("on_invalid", t));
                let on_timeout = m.on_timeout.as_deref().map(|t| goes_to("on_timeout", t));
                CompiledStep::Menu {
                    prompt: m.prompt.clone(),
                    options,
                    digit_timeout: m.digit_timeout,
                    retries: m.retries,
                    invalid_prompt: m.invalid_prompt.clone(),
                    on_invalid,
                    on_timeout,
                }
            }
            Step::Hours(h) => {
                let open = goes_to("open", &h.open);
                let closed = goes_to("closed", &h.closed);
                let holiday = h
                    .holiday
                    .as_deref()
                    .map(|t| goes_to("holiday", t))
                    .unwrap_or(closed);
                CompiledStep::Hours {
                    open,
                    closed,
                    holiday,
                }
            }
            Step::Queue(q) => CompiledStep::Queue {
                queue: q.queue.clone(),
                priority: q.priority,
                on_timeout: q.on_timeout.as_deref().map(|t| goes_to("on_timeout", t)),
                on_no_agents: q
                    .on_no_agents
                    .as_deref()
                    .map(|t| goes_to("on_no_agents", t)),
                on_full: q.on_full.as_deref().map(|t| goes_to("on_full", t)),
                on_failure: q.on_failure.as_deref().map(|t| goes_to("on_failure", t)),
                exit_key: q.exit_key,
                on_exit: q.on_exit.as_deref().map(|t| goes_to("on_exit", t)),
            },
            Step::Voicemail(v) => CompiledStep::Voicemail {
                greeting: v.greeting.clone(),
                beep: v.beep,
                max_duration: v.max_duration,
                next: v.next.as_deref().map(|t| goes_to("next", t)),
            },
            Step::Forward(f) => CompiledStep::Forward {
                target: f.target.clone(),
                timeout: f.timeout,
                on_failure: f.on_failure.as_deref().map(|t| goes_to("on_failure", t)),
            },
            Step::Tag(t) => CompiledStep::Tag {
                tag: t.tag.clone(),
                next: goes_to("next", &t.next),
            },
            Step::Hangup(_) => CompiledStep::Hangup,
            Step::Goto(g) => CompiledStep::Goto {
                next: goes_to("step", &g.step),
            },
        };
        check_step_contents(c, doc, tags, name, &compiled_step);
        compiled.push(compiled_step);
    }
    if c.errors.len() > errors_before {
        return None;
    }
    let names: Vec<String> = steps.keys().cloned().collect();
    check_reachable(c, &names, &compiled, start);
    check_instant_loops(c, &names, &compiled);
    (c.errors.len() == errors_before).then(|| Flow::new(names, compiled, start))
}

fn check_step_contents(
    c: &mut Checker<'_>,
    doc: &UnitDocument,
    tags: &HashSet<&str>,
    name: &str,
    step: &CompiledStep,
) {
    let prompts = &doc.prompts;
    let prompt = |c: &mut Checker<'_>, field: &str, p: &str| {
        if !prompts.contains_key(p) {
            c.step(name, format!("{field} uses unknown prompt {p:?}"));
        }
    };
    match step {
        CompiledStep::Play { prompts: list, .. } => {
            if list.is_empty() {
                c.step(name, "play needs at least one prompt");
            }
            for p in list {
                prompt(c, "play", p);
            }
        }
        CompiledStep::Menu {
            prompt: p,
            options,
            invalid_prompt,
            digit_timeout,
            ..
        } => {
            prompt(c, "menu", p);
            if let Some(p) = invalid_prompt {
                prompt(c, "invalid_prompt", p);
            }
            if options.is_empty() {
                c.step(name, "a menu needs at least one option");
            }
            for (digits, _) in options {
                if digits.is_empty()
                    || !digits
                        .chars()
                        .all(|d| d.is_ascii_digit() || d == '*' || d == '#')
                {
                    c.step(name, format!("option {digits:?} must be keys 0-9, * or #"));
                }
            }
            if digit_timeout.is_zero() {
                c.step(name, "digit_timeout must be above zero");
            }
        }
        CompiledStep::Queue {
            queue,
            exit_key,
            on_exit,
            priority,
            ..
        } => {
            if !doc.queues.contains_key(queue) {
                c.step(name, format!("unknown queue {queue:?}"));
            }
            if *priority > 9 {
                c.step(name, format!("priority {priority} is above 9"));
            }
            if exit_key.is_some() != on_exit.is_some() {
                c.step(name, "exit_key and on_exit go together");
            }
            if let Some(key) = exit_key {
                if !(key.is_ascii_digit() || *key == '*' || *key == '#') {
                    c.step(name, format!("exit_key {key:?} must be a key 0-9, * or #"));
                }
            }
        }
        CompiledStep::Voicemail {
            greeting,
            max_duration,
            ..
        } => {
            if let Some(p) = greeting {
                prompt(c, "greeting", p);
            }
            if max_duration.is_zero() {
                c.step(name, "max_duration must be above zero");
            }
        }
        CompiledStep::Forward {
            target, timeout, ..
        } => {
            if !is_forward_target(target) {
                c.step(
                    name,
                    format!("forward target {target:?} is neither a SIP URI nor an extension"),
                );
            }
            if timeout.is_zero() {
                c.step(name, "timeout must be above zero");
            }
        }
        CompiledStep::Tag { tag, .. } => {
            if !tags.contains(tag.as_str()) {
                c.step(name, format!("unknown tag {tag:?}"));
            }
        }
        CompiledStep::Hours { .. } | CompiledStep::Hangup | CompiledStep::Goto { .. } => {}
    }
}

fn check_reachable(c: &mut Checker<'_>, names: &[String], steps: &[CompiledStep], start: StepId) {
    let mut seen = vec![false; steps.len()];
    let mut stack = vec![start];
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        stack.extend(steps[i].successors());
    }
    for (i, reached) in seen.iter().enumerate() {
        if !reached {
            c.step(&names[i], "is unreachable from the start");
        }
    }
}

/// A loop made only of steps that take no time (hours, goto, tag) would
/// spin for ever; find one and name it.
fn check_instant_loops(c: &mut Checker<'_>, names: &[String], steps: &[CompiledStep]) {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    fn visit(
        i: StepId,
        steps: &[CompiledStep],
        marks: &mut [Mark],
        path: &mut Vec<StepId>,
    ) -> Option<Vec<StepId>> {
        marks[i] = Mark::Active;
        path.push(i);
        for next in steps[i].successors() {
            if steps[next].waits() {
                continue;
            }
            match marks[next] {
                Mark::Active => {
                    let from = path.iter().position(|s| *s == next).unwrap_or(0);
                    let mut cycle = path[from..].to_vec();
                    cycle.push(next);
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(cycle) = visit(next, steps, marks, path) {
                        return Some(cycle);
                    }
                }
                Mark::Done => {}
            }
        }
        path.pop();
        marks[i] = Mark::Done;
        None
    }
    let mut marks = vec![Mark::New; steps.len()];
    for i in 0..steps.len() {
        if steps[i].waits() || marks[i] != Mark::New {
            continue;
        }
        if let Some(cycle) = visit(i, steps, &mut marks, &mut Vec::new()) {
            let route = cycle
                .iter()
                .map(|s| names[*s].as_str())
                .collect::<Vec<_>>()
                .join(" → ");
            c.step(&names[cycle[0]], format!("loops without waiting: {route}"));
            return;
        }
    }
}
