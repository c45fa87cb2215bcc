//! Property: whatever happens to a call, in whatever order, the interpreter
//! never panics, ends exactly once, and accepts nothing after its end.

mod common;

use std::sync::Arc;

use cc_flow::{Action, FlowEvent, FlowRun, ForwardOutcome, QueueOutcome};
use chrono::{DateTime, Utc};
use common::*;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Happening {
    PlaybackDoneCurrent,
    PlaybackDoneStale(u64),
    TimerCurrent,
    Digit(char),
    Queue(u8),
    Forward(bool),
    RecordingDone,
    BridgeEnded,
    HangUp,
}

fn happening() -> impl Strategy<Value = Happening> {
    prop_oneof![
        4 => Just(Happening::PlaybackDoneCurrent),
        1 => (0u64..50).prop_map(Happening::PlaybackDoneStale),
        2 => Just(Happening::TimerCurrent),
        3 => prop::sample::select(vec!['0', '1', '2', '3', '4', '9', '*', '#']).prop_map(Happening::Digit),
        1 => (0u8..5).prop_map(Happening::Queue),
        1 => any::<bool>().prop_map(Happening::Forward),
        1 => Just(Happening::RecordingDone),
        1 => Just(Happening::BridgeEnded),
        1 => Just(Happening::HangUp),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn any_sequence_ends_once_and_never_panics(events in prop::collection::vec(happening(), 0..60), open in any::<bool>()) {
        let now: DateTime<Utc> = if open { "2026-12-07T10:00:00Z".parse().unwrap() } else { "2026-12-06T10:00:00Z".parse().unwrap() };
        let mut run = FlowRun::new(Arc::new(load(BASE).unwrap()));
        let mut play_token = 0;
        let mut timer_token = 0;
        let mut finished = 0;
        let observe = |actions: &[Action], play: &mut u64, timer: &mut u64, finished: &mut u32| {
            for (i, a) in actions.iter().enumerate() {
                match a {
                    Action::Play { token, .. } => *play = *token,
                    Action::StartTimer { token, .. } => *timer = *token,
                    Action::Finished { .. } => {
                        *finished += 1;
                        prop_assert_eq!(i, actions.len() - 1, "Finished is the last action");
                    }
                    _ => {}
                }
            }
            Ok(())
        };
        let actions = run.start(now);
        observe(&actions, &mut play_token, &mut timer_token, &mut finished)?;
        for event in events.into_iter().chain([Happening::HangUp]) {
            let was_finished = run.is_finished();
            let event = match event {
                Happening::PlaybackDoneCurrent => FlowEvent::PlaybackDone { token: play_token },
                Happening::PlaybackDoneStale(t) => FlowEvent::PlaybackDone { token: t },
                Happening::TimerCurrent => FlowEvent::TimerFired { token: timer_token },
                Happening::Digit(d) => FlowEvent::Digit(d),
                Happening::Queue(0) => FlowEvent::Queue(QueueOutcome::Answered { agent: "anna".into() }),
                Happening::Queue(1) => FlowEvent::Queue(QueueOutcome::Timeout),
                Happening::Queue(2) => FlowEvent::Queue(QueueOutcome::NoAgents),
                Happening::Queue(3) => FlowEvent::Queue(QueueOutcome::Full),
                Happening::Queue(_) => FlowEvent::Queue(QueueOutcome::Failed),
                Happening::Forward(true) => FlowEvent::Forward(ForwardOutcome::Answered),
                Happening::Forward(false) => FlowEvent::Forward(ForwardOutcome::Failed),
                Happening::RecordingDone => FlowEvent::RecordingDone,
                Happening::BridgeEnded => FlowEvent::BridgeEnded,
                Happening::HangUp => FlowEvent::CallerHungUp,
            };
            let actions = run.handle(now, event);
            if was_finished {
                prop_assert!(actions.is_empty(), "nothing after the end");
            }
            observe(&actions, &mut play_token, &mut timer_token, &mut finished)?;
        }
        prop_assert!(run.is_finished(), "a hang-up always ends the run");
        prop_assert_eq!(finished, 1, "the run ends exactly once");
    }
}
