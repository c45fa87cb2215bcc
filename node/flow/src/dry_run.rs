//! "What happens to a call at time T?": the flow walked without a call,
//! with the interpreter itself, up to where a person (an agent, a forward
//! target, the caller leaving a message) would take over.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::interpreter::{Action, FlowEvent, FlowRun};
use crate::unit::Unit;

/// Where the walk stopped, and what the caller heard on the way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DryRun {
    /// The steps entered, in order.
    pub path: Vec<String>,
    /// The prompts played, in order.
    pub prompts: Vec<String>,
    /// Tags the flow set.
    pub tags: Vec<String>,
    /// What the call reaches: `queue <name>`, `forward <target>`,
    /// `voicemail`, `hangup`, or `ends (<outcome>)`.
    pub reaches: String,
}

/// Walks `unit`'s flow for a call arriving at `at`, the caller pressing
/// `digits` one by one whenever the flow waits for a key (and nothing when
/// they run out, so menus time out as they would).
pub fn dry_run(unit: Arc<Unit>, at: DateTime<Utc>, digits: &str) -> DryRun {
    let mut run = FlowRun::new(unit);
    let mut digits = digits.chars();
    let mut result = DryRun {
        path: Vec::new(),
        prompts: Vec::new(),
        tags: Vec::new(),
        reaches: String::new(),
    };
    let mut pending = run.start(at);
    // Every event moves the flow on; a flow that would not stop is cut.
    for _ in 0..2_000 {
        let mut next: Option<FlowEvent> = None;
        for action in pending.drain(..) {
            match action {
                Action::EnterStep { name, .. } => result.path.push(name),
                Action::Play { token, prompts } => {
                    result.prompts.extend(prompts);
                    next.get_or_insert(FlowEvent::PlaybackDone { token });
                }
                Action::StartTimer { token, .. } => {
                    // Waiting for a key: the next digit, or the timeout.
                    next = Some(match digits.next() {
                        Some(digit) => FlowEvent::Digit(digit),
                        None => FlowEvent::TimerFired { token },
                    });
                }
                Action::Enqueue { queue, .. } => {
                    result.reaches = format!("queue {queue}");
                }
                Action::Forward { target, .. } => {
                    result.reaches = format!("forward {target}");
                }
                Action::Record { .. } => result.reaches = "voicemail".into(),
                Action::Tag(tag) => result.tags.push(tag),
                Action::Hangup => {
                    if result.reaches.is_empty() {
                        result.reaches = "hangup".into();
                    }
                }
                Action::Finished { outcome } => {
                    if result.reaches.is_empty() {
                        result.reaches = format!("ends ({})", outcome.as_str());
                    }
                    return result;
                }
                Action::StopPlayback | Action::LeaveQueue | Action::StopRecording => {}
            }
        }
        if !result.reaches.is_empty() && result.reaches != "hangup" {
            return result;
        }
        match next {
            Some(event) => pending = run.handle(at, event),
            None => break,
        }
    }
    if result.reaches.is_empty() {
        result.reaches = "waits".into();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{load_unit, UniversityCalendar};

    fn unit() -> Arc<Unit> {
        let yaml = "unit: library\nname: Library\nservice_numbers: [\"4100\"]\ntimezone: Europe/Madrid\n\
            prompts:\n  welcome: w.wav\n  menu: m.wav\n  closed: c.wav\n\
            calendar:\n  weekly:\n    mon: [\"09:00-14:00\"]\n\
            agents:\n  - { id: anna, name: Anna, uri: \"sip:anna@cc.local\", endpoint: microsip }\n\
            queues:\n  desk: { agents: [anna] }\n\
            flow:\n  start: hours\n  steps:\n\
            \x20   hours:\n      hours: { open: welcome, closed: closed }\n\
            \x20   welcome:\n      play: { prompts: [welcome], next: menu }\n\
            \x20   menu:\n      menu: { prompt: menu, options: { \"1\": desk, \"2\": out }, on_timeout: bye, on_invalid: bye }\n\
            \x20   desk:\n      queue: { queue: desk, on_no_agents: bye, on_timeout: bye, on_failure: bye }\n\
            \x20   out:\n      forward: { target: \"4321\", on_failure: bye }\n\
            \x20   closed:\n      play: { prompts: [closed], next: bye }\n\
            \x20   bye:\n      hangup: {}\n";
        Arc::new(
            load_unit("library.yaml", yaml, &UniversityCalendar::default())
                .unwrap_or_else(|e| panic!("{e}")),
        )
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn open_hours_and_a_key_lead_to_the_queue() {
        // Monday 10:00 in Madrid (08:00 UTC in winter).
        let walk = dry_run(unit(), at("2026-12-07T09:00:00Z"), "1");
        assert_eq!(walk.path, ["hours", "welcome", "menu", "desk"]);
        assert_eq!(walk.prompts, ["welcome", "menu"]);
        assert_eq!(walk.reaches, "queue desk");
        let walk = dry_run(unit(), at("2026-12-07T09:00:00Z"), "2");
        assert_eq!(walk.reaches, "forward 4321");
    }

    #[test]
    fn closed_hours_play_the_closed_message_and_hang_up() {
        let walk = dry_run(unit(), at("2026-12-07T18:00:00Z"), "");
        assert_eq!(walk.path, ["hours", "closed", "bye"]);
        assert_eq!(walk.prompts, ["closed"]);
        assert_eq!(walk.reaches, "hangup");
    }

    #[test]
    fn no_key_lets_the_menu_time_out() {
        let walk = dry_run(unit(), at("2026-12-07T09:00:00Z"), "");
        assert_eq!(
            walk.path.last().map(String::as_str),
            Some("bye"),
            "{walk:?}"
        );
    }
}
