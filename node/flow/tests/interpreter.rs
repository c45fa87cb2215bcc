//! Walking calls through a flow: (state, event) → actions, with no sockets.

mod common;

use std::sync::Arc;
use std::time::Duration;

use cc_flow::{Action, FlowEvent, FlowRun, ForwardOutcome, Outcome, QueueOutcome};
use chrono::{DateTime, Utc};
use common::*;

fn monday_open() -> DateTime<Utc> {
    "2026-12-07T10:00:00Z".parse().unwrap()
}

fn sunday_closed() -> DateTime<Utc> {
    "2026-12-06T10:00:00Z".parse().unwrap()
}

fn holiday() -> DateTime<Utc> {
    "2026-12-08T10:00:00Z".parse().unwrap()
}

fn run() -> FlowRun {
    FlowRun::new(Arc::new(load(BASE).unwrap()))
}

fn played(actions: &[Action]) -> Option<(u64, Vec<String>)> {
    actions.iter().find_map(|a| match a {
        Action::Play { token, prompts } => Some((*token, prompts.clone())),
        _ => None,
    })
}

fn timer(actions: &[Action]) -> Option<(u64, Duration)> {
    actions.iter().find_map(|a| match a {
        Action::StartTimer { token, after } => Some((*token, *after)),
        _ => None,
    })
}

fn finished(actions: &[Action]) -> Option<Outcome> {
    actions.iter().find_map(|a| match a {
        Action::Finished { outcome } => Some(*outcome),
        _ => None,
    })
}

/// Starts a call at `now` and lets the welcome prompt finish; returns the
/// menu prompt's token.
fn to_menu(r: &mut FlowRun, now: DateTime<Utc>) -> u64 {
    let a = r.start(now);
    let (token, prompts) = played(&a).unwrap();
    assert_eq!(prompts, vec!["welcome"]);
    let a = r.handle(now, FlowEvent::PlaybackDone { token });
    let (token, prompts) = played(&a).unwrap();
    assert_eq!(prompts, vec!["menu"]);
    token
}

#[test]
fn closed_hours_play_the_closed_message_and_hang_up() {
    let mut r = run();
    let now = sunday_closed();
    let a = r.start(now);
    let (token, prompts) = played(&a).unwrap();
    assert_eq!(prompts, vec!["closed"]);
    let a = r.handle(now, FlowEvent::PlaybackDone { token });
    assert!(a.contains(&Action::Hangup));
    assert_eq!(finished(&a), Some(Outcome::Closed));
    assert_eq!(r.path(), vec!["hours", "closed", "end"]);
}

#[test]
fn a_holiday_without_its_own_branch_goes_to_closed() {
    let mut r = run();
    let a = r.start(holiday());
    assert_eq!(played(&a).unwrap().1, vec!["closed"]);
}

#[test]
fn a_digit_picks_a_menu_branch() {
    let mut r = run();
    let now = monday_open();
    to_menu(&mut r, now);
    let a = r.handle(now, FlowEvent::Digit('3'));
    assert!(a.contains(&Action::StopPlayback));
    assert!(a.contains(&Action::Forward {
        target: "sip:desk@127.0.0.1:5070".into(),
        timeout: Duration::from_secs(20)
    }));
    let a = r.handle(now, FlowEvent::Forward(ForwardOutcome::Answered));
    assert!(a.is_empty());
    let a = r.handle(now, FlowEvent::BridgeEnded);
    assert_eq!(
        a,
        vec![
            Action::Hangup,
            Action::Finished {
                outcome: Outcome::Forwarded
            }
        ]
    );
}

#[test]
fn a_key_during_an_interruptible_prompt_is_kept_for_the_menu() {
    let mut r = run();
    let now = monday_open();
    let a = r.start(now);
    assert!(played(&a).is_some());
    let a = r.handle(now, FlowEvent::Digit('2'));
    assert!(a.contains(&Action::StopPlayback));
    // The menu starts and takes the typed-ahead 2 at once: voicemail greeting.
    let (_, prompts) = a
        .iter()
        .filter_map(|x| match x {
            Action::Play { token, prompts } => Some((*token, prompts.clone())),
            _ => None,
        })
        .next_back()
        .unwrap();
    assert_eq!(prompts, vec!["greeting", "beep"]);
}

#[test]
fn multi_digit_options_wait_for_the_next_key_or_the_timeout() {
    let mut r = run();
    let now = monday_open();
    to_menu(&mut r, now);
    let a = r.handle(now, FlowEvent::Digit('4'));
    let (token, after) = timer(&a).expect("waits for a second digit");
    assert_eq!(after, Duration::from_secs(5));
    let a = r.handle(now, FlowEvent::Digit('2'));
    assert_eq!(played(&a).unwrap().1, vec!["bye"]);
    // The old timer firing late changes nothing.
    assert!(r.handle(now, FlowEvent::TimerFired { token }).is_empty());
}

#[test]
fn an_invalid_key_replays_with_the_invalid_prompt_then_gives_up() {
    let mut r = run();
    let now = monday_open();
    to_menu(&mut r, now);
    for _ in 0..2 {
        let a = r.handle(now, FlowEvent::Digit('9'));
        assert_eq!(played(&a).unwrap().1, vec!["invalid", "menu"]);
    }
    let a = r.handle(now, FlowEvent::Digit('9'));
    assert_eq!(
        played(&a).unwrap().1,
        vec!["bye"],
        "retries exhausted: on_invalid"
    );
}

#[test]
fn silence_times_out_after_the_retries() {
    let mut r = run();
    let now = monday_open();
    let mut token = to_menu(&mut r, now);
    for attempt in 0..3 {
        let a = r.handle(now, FlowEvent::PlaybackDone { token });
        let (t, after) = timer(&a).unwrap();
        assert_eq!(after, Duration::from_secs(5));
        let a = r.handle(now, FlowEvent::TimerFired { token: t });
        let (next, prompts) = played(&a).unwrap();
        if attempt < 2 {
            assert_eq!(prompts, vec!["menu"]);
        } else {
            assert_eq!(prompts, vec!["bye"]);
        }
        token = next;
    }
    let a = r.handle(now, FlowEvent::PlaybackDone { token });
    assert_eq!(finished(&a), Some(Outcome::Completed));
}

#[test]
fn the_queue_branch_tags_then_enqueues_and_an_answer_connects() {
    let mut r = run();
    let now = monday_open();
    to_menu(&mut r, now);
    let a = r.handle(now, FlowEvent::Digit('1'));
    assert!(a.contains(&Action::Tag("information".into())));
    assert!(a.contains(&Action::Enqueue {
        queue: "general".into(),
        priority: 5
    }));
    let a = r.handle(
        now,
        FlowEvent::Queue(QueueOutcome::Answered {
            agent: "anna".into(),
        }),
    );
    assert!(a.is_empty());
    let a = r.handle(now, FlowEvent::CallerHungUp);
    assert_eq!(
        a,
        vec![Action::Finished {
            outcome: Outcome::Answered
        }]
    );
    assert_eq!(r.tags(), ["information"]);
    assert_eq!(
        r.path(),
        vec!["hours", "welcome", "menu", "tag_info", "queue"]
    );
}

#[test]
fn hanging_up_in_the_queue_is_an_abandon() {
    let mut r = run();
    let now = monday_open();
    to_menu(&mut r, now);
    let _ = r.handle(now, FlowEvent::Digit('1'));
    let a = r.handle(now, FlowEvent::CallerHungUp);
    assert_eq!(
        a,
        vec![
            Action::LeaveQueue,
            Action::Finished {
                outcome: Outcome::Abandoned
            }
        ]
    );
}

#[test]
fn the_exit_key_leaves_the_queue_for_voicemail_and_the_message_is_the_outcome() {
    let mut r = run();
    let now = monday_open();
    to_menu(&mut r, now);
    let _ = r.handle(now, FlowEvent::Digit('1'));
    let a = r.handle(now, FlowEvent::Digit('*'));
    assert_eq!(a[0], Action::LeaveQueue);
    let (token, prompts) = played(&a).unwrap();
    assert_eq!(prompts, vec!["greeting", "beep"]);
    let a = r.handle(now, FlowEvent::PlaybackDone { token });
    assert_eq!(
        a,
        vec![Action::Record {
            max_duration: Duration::from_secs(60)
        }]
    );
    let a = r.handle(now, FlowEvent::Digit('#'));
    assert_eq!(a, vec![Action::StopRecording]);
    let a = r.handle(now, FlowEvent::RecordingDone);
    assert_eq!(
        a,
        vec![
            Action::Hangup,
            Action::Finished {
                outcome: Outcome::Voicemail
            }
        ]
    );
}

#[test]
fn no_agents_follows_its_branch() {
    let mut r = run();
    let now = monday_open();
    to_menu(&mut r, now);
    let _ = r.handle(now, FlowEvent::Digit('1'));
    let a = r.handle(now, FlowEvent::Queue(QueueOutcome::NoAgents));
    assert_eq!(played(&a).unwrap().1, vec!["greeting", "beep"]);
}

#[test]
fn a_failed_forward_follows_on_failure() {
    let mut r = run();
    let now = monday_open();
    to_menu(&mut r, now);
    let _ = r.handle(now, FlowEvent::Digit('3'));
    let a = r.handle(now, FlowEvent::Forward(ForwardOutcome::Failed));
    assert_eq!(played(&a).unwrap().1, vec!["greeting", "beep"]);
}

#[test]
fn a_caller_hanging_up_while_recording_left_a_message() {
    let mut r = run();
    let now = monday_open();
    to_menu(&mut r, now);
    let a = r.handle(now, FlowEvent::Digit('2'));
    let (token, _) = played(&a).unwrap();
    let _ = r.handle(now, FlowEvent::PlaybackDone { token });
    assert_eq!(
        r.handle(now, FlowEvent::CallerHungUp),
        vec![Action::Finished {
            outcome: Outcome::Voicemail
        }]
    );
}

#[test]
fn nothing_is_accepted_after_the_end() {
    let mut r = run();
    let now = sunday_closed();
    let a = r.start(now);
    let (token, _) = played(&a).unwrap();
    let _ = r.handle(now, FlowEvent::PlaybackDone { token });
    assert!(r.is_finished());
    assert!(r.handle(now, FlowEvent::Digit('1')).is_empty());
    assert!(r.handle(now, FlowEvent::CallerHungUp).is_empty());
}

#[test]
fn a_flow_that_loops_through_waiting_steps_is_cut_off() {
    let yaml = variant("on_timeout: goodbye", "on_timeout: menu");
    let mut r = FlowRun::new(Arc::new(load(&yaml).unwrap()));
    let now = monday_open();
    let mut token = to_menu(&mut r, now);
    let mut outcome = None;
    for _ in 0..5000 {
        let a = r.handle(now, FlowEvent::PlaybackDone { token });
        let Some((t, _)) = timer(&a) else { break };
        let a = r.handle(now, FlowEvent::TimerFired { token: t });
        if let Some(o) = finished(&a) {
            outcome = Some(o);
            break;
        }
        token = played(&a).unwrap().0;
    }
    assert_eq!(outcome, Some(Outcome::Failed));
}
