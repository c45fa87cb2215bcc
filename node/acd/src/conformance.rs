//! The behaviour every ACD store must show, as one suite run against each
//! (the in-memory store here, the Redis store in cc-acd-redis) with
//! [`conformance_suite!`](crate::conformance_suite).
//!
//! Each case takes a store and a unit name of its own, so that cases can
//! share one Redis server without seeing each other.
#![allow(missing_docs)]

use crate::store::AcdStore;
use crate::types::*;

const T0: Millis = 1_800_000_000_000;

fn queue(strategy: Strategy, members: &[(&str, u32)]) -> QueueConfig {
    QueueConfig {
        strategy,
        members: members
            .iter()
            .map(|(agent, level)| Member {
                agent: agent.to_string(),
                level: *level,
            })
            .collect(),
        ..QueueConfig::default()
    }
}

fn unit_config(queues: Vec<(&str, QueueConfig)>, agents: &[&str]) -> UnitConfig {
    UnitConfig {
        queues: queues
            .into_iter()
            .map(|(n, q)| (n.to_string(), q))
            .collect(),
        agents: agents
            .iter()
            .map(|a| AgentConfig {
                id: a.to_string(),
                wrap_up_ms: None,
            })
            .collect(),
    }
}

async fn setup<S: AcdStore>(store: &S, unit: &str, config: UnitConfig, logged_in: &[&str]) {
    store.configure(unit, &config, T0).await.unwrap();
    for agent in logged_in {
        store.login(unit, agent, T0).await.unwrap();
    }
}

fn join(queue: &str, call: &str, node: &str) -> Join {
    Join {
        queue: queue.into(),
        call: call.into(),
        caller: format!("sip:{call}@caller"),
        node: node.into(),
        priority: 5,
    }
}

/// (call, agent, reservation) of each offer.
pub fn offers(fx: &Effects) -> Vec<(String, String, String)> {
    fx.notices
        .iter()
        .filter_map(|n| match n {
            Notice::Offer {
                call,
                agent,
                reservation,
                ..
            } => Some((call.clone(), agent.clone(), reservation.clone())),
            _ => None,
        })
        .collect()
}

fn events(fx: &Effects) -> Vec<String> {
    fx.events.iter().map(|e| e.event.clone()).collect()
}

async fn state_of<S: AcdStore>(store: &S, unit: &str, agent: &str) -> AgentState {
    store
        .snapshot(unit)
        .await
        .unwrap()
        .agents
        .into_iter()
        .find(|a| a.id == agent)
        .unwrap()
        .state
}

pub async fn callers_are_offered_in_arrival_order_across_nodes<S: AcdStore>(store: &S, unit: &str) {
    setup(
        store,
        unit,
        unit_config(
            vec![("q", queue(Strategy::LongestIdle, &[("a", 1)]))],
            &["a"],
        ),
        &[],
    )
    .await;
    store.login(unit, "a", T0).await.unwrap();
    let (first, fx) = store
        .join(unit, &join("q", "c1", "n1"), T0 + 1)
        .await
        .unwrap();
    assert_eq!(
        first,
        JoinOutcome::Queued {
            position: 1,
            resumed: false
        }
    );
    assert_eq!(offers(&fx).len(), 1, "a free agent is offered at once");
    let (second, _) = store
        .join(unit, &join("q", "c2", "n2"), T0 + 2)
        .await
        .unwrap();
    assert_eq!(
        second,
        JoinOutcome::Queued {
            position: 2,
            resumed: false
        }
    );
    let (third, _) = store
        .join(unit, &join("q", "c3", "n1"), T0 + 3)
        .await
        .unwrap();
    assert_eq!(
        third,
        JoinOutcome::Queued {
            position: 3,
            resumed: false
        }
    );
    let (_, reservation) = (offers(&fx)[0].0.clone(), offers(&fx)[0].2.clone());
    let (answered, _) = store
        .offer_answered(unit, &reservation, T0 + 10)
        .await
        .unwrap();
    assert_eq!(answered, Some(("c1".to_string(), "a".to_string())));
    let fx = store
        .call_ended(unit, "a", "c1", true, T0 + 20)
        .await
        .unwrap();
    let next = offers(&fx);
    assert_eq!(next.len(), 1);
    assert_eq!(
        next[0].0, "c2",
        "the oldest caller, held by the other node, is next"
    );
    assert!(matches!(&fx.notices[0], Notice::Offer { node, .. } if node == "n2"));
}

pub async fn higher_priority_goes_first<S: AcdStore>(store: &S, unit: &str) {
    setup(
        store,
        unit,
        unit_config(
            vec![("q", queue(Strategy::LongestIdle, &[("a", 1)]))],
            &["a"],
        ),
        &["a"],
    )
    .await;
    store.pause(unit, "a", "lunch", T0).await.unwrap();
    store
        .join(unit, &join("q", "low", "n1"), T0 + 1)
        .await
        .unwrap();
    let mut vip = join("q", "vip", "n1");
    vip.priority = 9;
    let (outcome, _) = store.join(unit, &vip, T0 + 2).await.unwrap();
    assert_eq!(
        outcome,
        JoinOutcome::Queued {
            position: 1,
            resumed: false
        }
    );
    let fx = store.unpause(unit, "a", T0 + 3).await.unwrap();
    assert_eq!(offers(&fx)[0].0, "vip");
}

pub async fn longest_idle_offers_the_agent_free_longest<S: AcdStore>(store: &S, unit: &str) {
    setup(
        store,
        unit,
        unit_config(
            vec![(
                "q",
                queue(Strategy::LongestIdle, &[("a", 1), ("b", 1), ("c", 1)]),
            )],
            &["a", "b", "c"],
        ),
        &[],
    )
    .await;
    store.login(unit, "b", T0).await.unwrap();
    store.login(unit, "c", T0 + 5).await.unwrap();
    store.login(unit, "a", T0 + 9).await.unwrap();
    let (_, fx) = store
        .join(unit, &join("q", "c1", "n1"), T0 + 10)
        .await
        .unwrap();
    assert_eq!(offers(&fx)[0].1, "b");
    let (_, fx) = store
        .join(unit, &join("q", "c2", "n1"), T0 + 11)
        .await
        .unwrap();
    assert_eq!(offers(&fx)[0].1, "c");
}

pub async fn round_robin_remembers_where_it_stopped<S: AcdStore>(store: &S, unit: &str) {
    setup(
        store,
        unit,
        unit_config(
            vec![(
                "q",
                queue(Strategy::RoundRobin, &[("c", 1), ("a", 1), ("b", 1)]),
            )],
            &["a", "b", "c"],
        ),
        &["a", "b", "c"],
    )
    .await;
    let mut order = Vec::new();
    for i in 0..6 {
        let (_, fx) = store
            .join(unit, &join("q", &format!("c{i}"), "n1"), T0 + 10 + i)
            .await
            .unwrap();
        let (_, agent, reservation) = offers(&fx).remove(0);
        order.push(agent.clone());
        store
            .offer_answered(unit, &reservation, T0 + 20 + i)
            .await
            .unwrap();
        store
            .call_ended(unit, &agent, &format!("c{i}"), true, T0 + 30 + i)
            .await
            .unwrap();
    }
    assert_eq!(
        order,
        ["c", "a", "b", "c", "a", "b"],
        "the document's order, not the names'"
    );
}

pub async fn fewest_calls_and_least_talk_time<S: AcdStore>(store: &S, unit: &str) {
    let config = unit_config(
        vec![
            (
                "fewest",
                queue(Strategy::FewestCalls, &[("a", 1), ("b", 1)]),
            ),
            (
                "talk",
                queue(Strategy::LeastTalkTime, &[("a", 1), ("b", 1)]),
            ),
        ],
        &["a", "b"],
    );
    setup(store, unit, config, &["a", "b"]).await;
    // a takes two short calls, b one long one.
    for (i, (agent, talk)) in [("a", 1_000u64), ("a", 1_000), ("b", 60_000)]
        .iter()
        .enumerate()
    {
        store
            .pause(unit, if *agent == "a" { "b" } else { "a" }, "x", T0)
            .await
            .unwrap();
        let (_, fx) = store
            .join(
                unit,
                &join("fewest", &format!("w{i}"), "n1"),
                T0 + 100 * i as u64,
            )
            .await
            .unwrap();
        let (_, offered, reservation) = offers(&fx).remove(0);
        assert_eq!(offered, *agent);
        store
            .offer_answered(unit, &reservation, T0 + 100 * i as u64)
            .await
            .unwrap();
        store
            .call_ended(
                unit,
                agent,
                &format!("w{i}"),
                true,
                T0 + 100 * i as u64 + talk,
            )
            .await
            .unwrap();
        store
            .unpause(unit, if *agent == "a" { "b" } else { "a" }, T0 + 100_000)
            .await
            .unwrap();
    }
    let (_, fx) = store
        .join(unit, &join("fewest", "f", "n1"), T0 + 200_000)
        .await
        .unwrap();
    assert_eq!(offers(&fx)[0].1, "b", "b has fewer calls");
    store
        .leave(unit, "f", LeaveReason::Abandon, T0 + 200_001)
        .await
        .unwrap();
    let (_, fx) = store
        .join(unit, &join("talk", "t", "n1"), T0 + 200_002)
        .await
        .unwrap();
    assert_eq!(offers(&fx)[0].1, "a", "a talked less");
}

pub async fn random_offers_someone_free<S: AcdStore>(store: &S, unit: &str) {
    setup(
        store,
        unit,
        unit_config(
            vec![(
                "q",
                queue(Strategy::Random, &[("a", 1), ("b", 1), ("c", 1)]),
            )],
            &["a", "b", "c"],
        ),
        &["a", "b", "c"],
    )
    .await;
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..3 {
        let (_, fx) = store
            .join(unit, &join("q", &format!("c{i}"), "n1"), T0 + 10 + i * 37)
            .await
            .unwrap();
        seen.insert(offers(&fx)[0].1.clone());
    }
    assert_eq!(seen.len(), 3, "three callers, three different free agents");
}

pub async fn ring_all_rings_everyone_and_the_first_answer_wins<S: AcdStore>(store: &S, unit: &str) {
    setup(
        store,
        unit,
        unit_config(
            vec![(
                "q",
                queue(Strategy::RingAll, &[("a", 1), ("b", 1), ("c", 2)]),
            )],
            &["a", "b", "c"],
        ),
        &["a", "b", "c"],
    )
    .await;
    let (_, fx) = store
        .join(unit, &join("q", "c1", "n1"), T0 + 1)
        .await
        .unwrap();
    let rung: Vec<String> = offers(&fx).into_iter().map(|(_, a, _)| a).collect();
    assert_eq!(rung, ["a", "b"], "every free agent of the lowest level");
    let b = offers(&fx)
        .into_iter()
        .find(|(_, a, _)| a == "b")
        .unwrap()
        .2;
    let (answered, fx) = store.offer_answered(unit, &b, T0 + 5).await.unwrap();
    assert_eq!(answered, Some(("c1".into(), "b".into())));
    assert!(
        matches!(&fx.notices[..], [Notice::Cancel { agent, .. }] if agent == "a"),
        "{:?}",
        fx.notices
    );
    assert_eq!(state_of(store, unit, "a").await, AgentState::Available);
}

pub async fn levels_escalate_while_the_caller_keeps_their_place<S: AcdStore>(
    store: &S,
    unit: &str,
) {
    let mut q = queue(Strategy::LongestIdle, &[("first", 1), ("backup", 2)]);
    q.escalate_after_ms = 30_000;
    setup(
        store,
        unit,
        unit_config(vec![("q", q)], &["first", "backup"]),
        &["first", "backup"],
    )
    .await;
    store
        .pause(unit, "first", "busy elsewhere", T0)
        .await
        .unwrap();
    let (_, fx) = store
        .join(unit, &join("q", "c1", "n1"), T0 + 1)
        .await
        .unwrap();
    assert!(offers(&fx).is_empty(), "level 2 waits for the escalation");
    let (_, fx) = store.tick(unit, T0 + 30_000).await.unwrap();
    assert!(offers(&fx).is_empty());
    let (_, fx) = store.tick(unit, T0 + 30_001).await.unwrap();
    assert_eq!(
        offers(&fx)[0].1,
        "backup",
        "after 30 s the next level joins"
    );
}

pub async fn a_missed_offer_keeps_the_place_rests_the_agent_and_pauses_after_three<S: AcdStore>(
    store: &S,
    unit: &str,
) {
    setup(
        store,
        unit,
        unit_config(
            vec![("q", queue(Strategy::LongestIdle, &[("a", 1), ("b", 1)]))],
            &["a", "b"],
        ),
        &["a"],
    )
    .await;
    let (_, fx) = store
        .join(unit, &join("q", "c1", "n1"), T0 + 1)
        .await
        .unwrap();
    store
        .join(unit, &join("q", "c2", "n1"), T0 + 2)
        .await
        .unwrap();
    let mut reservation = offers(&fx)[0].2.clone();
    let mut now = T0 + 10;
    for miss in 1..=3 {
        let fx = store
            .offer_failed(unit, &reservation, OfferFailure::NoAnswer, now)
            .await
            .unwrap();
        assert!(events(&fx).contains(&"RINGNOANSWER".to_string()));
        assert!(offers(&fx).is_empty(), "the agent rests");
        if miss == 3 {
            assert_eq!(state_of(store, unit, "a").await, AgentState::Paused);
            break;
        }
        now += 5_000;
        let (_, fx) = store.tick(unit, now).await.unwrap();
        let offered = offers(&fx);
        assert_eq!(offered[0].0, "c1", "the caller kept their place");
        reservation = offered[0].2.clone();
        now += 15_000;
    }
    let fx = store.login(unit, "b", now).await.unwrap();
    assert_eq!(offers(&fx)[0].0, "c1");
}

pub async fn busy_goes_to_the_next_agent_without_counting_a_miss<S: AcdStore>(
    store: &S,
    unit: &str,
) {
    setup(
        store,
        unit,
        unit_config(
            vec![("q", queue(Strategy::LongestIdle, &[("a", 1), ("b", 1)]))],
            &["a", "b"],
        ),
        &["a"],
    )
    .await;
    store.login(unit, "b", T0 + 1).await.unwrap();
    let (_, fx) = store
        .join(unit, &join("q", "c1", "n1"), T0 + 2)
        .await
        .unwrap();
    let (_, agent, reservation) = offers(&fx).remove(0);
    assert_eq!(agent, "a");
    let fx = store
        .offer_failed(unit, &reservation, OfferFailure::Busy, T0 + 3)
        .await
        .unwrap();
    assert_eq!(offers(&fx)[0].1, "b");
}

pub async fn wrap_up_per_queue_and_per_agent<S: AcdStore>(store: &S, unit: &str) {
    let mut q = queue(Strategy::LongestIdle, &[("a", 1), ("b", 1)]);
    q.wrap_up_ms = 10_000;
    let mut config = unit_config(vec![("q", q)], &["a", "b"]);
    config.agents[1].wrap_up_ms = Some(2_000);
    setup(store, unit, config, &["a"]).await;
    let (_, fx) = store
        .join(unit, &join("q", "c1", "n1"), T0 + 1)
        .await
        .unwrap();
    store
        .offer_answered(unit, &offers(&fx)[0].2, T0 + 2)
        .await
        .unwrap();
    store
        .call_ended(unit, "a", "c1", false, T0 + 100)
        .await
        .unwrap();
    assert_eq!(state_of(store, unit, "a").await, AgentState::WrapUp);
    let (next, _) = store.tick(unit, T0 + 101).await.unwrap();
    assert_eq!(next, Some(T0 + 10_100));
    store.tick(unit, T0 + 10_100).await.unwrap();
    assert_eq!(state_of(store, unit, "a").await, AgentState::Available);
    store.pause(unit, "a", "x", T0 + 10_101).await.unwrap();
    store.login(unit, "b", T0 + 10_102).await.unwrap();
    let (_, fx) = store
        .join(unit, &join("q", "c2", "n1"), T0 + 10_103)
        .await
        .unwrap();
    store
        .offer_answered(unit, &offers(&fx)[0].2, T0 + 10_104)
        .await
        .unwrap();
    store
        .call_ended(unit, "b", "c2", true, T0 + 10_200)
        .await
        .unwrap();
    let (next, _) = store.tick(unit, T0 + 10_201).await.unwrap();
    assert_eq!(next, Some(T0 + 12_200), "b's own wrap-up of 2 s");
}

pub async fn an_agent_in_a_call_or_ringing_is_never_offered_another<S: AcdStore>(
    store: &S,
    unit: &str,
) {
    let config = unit_config(
        vec![
            ("sales", queue(Strategy::LongestIdle, &[("a", 1)])),
            ("support", queue(Strategy::LongestIdle, &[("a", 1)])),
        ],
        &["a"],
    );
    setup(store, unit, config, &["a"]).await;
    let (_, fx) = store
        .join(unit, &join("sales", "c1", "n1"), T0 + 1)
        .await
        .unwrap();
    assert_eq!(offers(&fx).len(), 1);
    let (_, fx) = store
        .join(unit, &join("support", "c2", "n2"), T0 + 2)
        .await
        .unwrap();
    assert!(offers(&fx).is_empty(), "a is ringing for c1");
    let reservation = store.snapshot(unit).await.unwrap();
    assert_eq!(reservation.agents[0].state, AgentState::Reserved);
}

pub async fn agents_removed_from_the_unit_go_once_no_call_holds_them<S: AcdStore>(
    store: &S,
    unit: &str,
) {
    let config = unit_config(
        vec![(
            "sales",
            queue(Strategy::LongestIdle, &[("a", 1), ("b", 1), ("c", 1)]),
        )],
        &["a", "b", "c"],
    );
    setup(store, unit, config, &["a", "b"]).await;
    let (_, fx) = store
        .join(unit, &join("sales", "c1", "n1"), T0 + 1)
        .await
        .unwrap();
    // Longest idle: one of a and b rings for c1.
    let (_, ringing, reservation) = offers(&fx)[0].clone();
    // A new configuration with only c: the unit shows c alone; the agent
    // ringing for c1 is no longer the unit's but the call still holds
    // them, and their answer still connects it.
    let only_c = unit_config(
        vec![("sales", queue(Strategy::LongestIdle, &[("c", 1)]))],
        &["c"],
    );
    store.configure(unit, &only_c, T0 + 2).await.unwrap();
    let ids: Vec<String> = store
        .snapshot(unit)
        .await
        .unwrap()
        .agents
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(ids, ["c"]);
    let (answered, _) = store
        .offer_answered(unit, &reservation, T0 + 3)
        .await
        .unwrap();
    assert_eq!(
        answered.map(|(call, _)| call).as_deref(),
        Some("c1"),
        "{ringing} answers c1"
    );
    // A caller now reaches nobody who left.
    let (_, fx) = store
        .join(unit, &join("sales", "c2", "n1"), T0 + 4)
        .await
        .unwrap();
    assert!(
        offers(&fx).is_empty(),
        "c is logged out, the others are gone: {fx:?}"
    );
}

pub async fn max_wait_times_out_and_no_agents_sends_callers_away<S: AcdStore>(
    store: &S,
    unit: &str,
) {
    let mut q = queue(Strategy::LongestIdle, &[("a", 1)]);
    q.max_wait_ms = 60_000;
    setup(store, unit, unit_config(vec![("q", q)], &["a"]), &[]).await;
    let (outcome, _) = store.join(unit, &join("q", "c0", "n1"), T0).await.unwrap();
    assert_eq!(outcome, JoinOutcome::NoAgents);
    store.login(unit, "a", T0).await.unwrap();
    store.pause(unit, "a", "x", T0).await.unwrap();
    store
        .join(unit, &join("q", "c1", "n1"), T0 + 1)
        .await
        .unwrap();
    store
        .join(unit, &join("q", "c2", "n2"), T0 + 30_000)
        .await
        .unwrap();
    let (next, fx) = store.tick(unit, T0 + 59_000).await.unwrap();
    assert!(fx.notices.is_empty());
    assert_eq!(next, Some(T0 + 60_001));
    let (_, fx) = store.tick(unit, T0 + 60_001).await.unwrap();
    assert!(
        matches!(&fx.notices[..], [Notice::Timeout { call, .. }] if call == "c1"),
        "{:?}",
        fx.notices
    );
    assert_eq!(events(&fx), ["EXITWITHTIMEOUT"]);
    let fx = store.logout(unit, "a", T0 + 60_002).await.unwrap();
    assert!(
        matches!(&fx.notices[..], [Notice::NoAgents { call, node, .. }] if call == "c2" && node == "n2"),
        "{:?}",
        fx.notices
    );
    assert!(events(&fx).contains(&"EXITEMPTY".to_string()));
}

pub async fn a_full_queue_refuses<S: AcdStore>(store: &S, unit: &str) {
    let mut q = queue(Strategy::LongestIdle, &[("a", 1)]);
    q.max_len = 2;
    setup(store, unit, unit_config(vec![("q", q)], &["a"]), &["a"]).await;
    store.pause(unit, "a", "x", T0).await.unwrap();
    store
        .join(unit, &join("q", "c1", "n1"), T0 + 1)
        .await
        .unwrap();
    store
        .join(unit, &join("q", "c2", "n1"), T0 + 2)
        .await
        .unwrap();
    let (outcome, _) = store
        .join(unit, &join("q", "c3", "n1"), T0 + 3)
        .await
        .unwrap();
    assert_eq!(outcome, JoinOutcome::Full);
}

pub async fn a_caller_who_calls_back_gets_their_place<S: AcdStore>(store: &S, unit: &str) {
    let mut q = queue(Strategy::LongestIdle, &[("a", 1)]);
    q.resume_window_ms = 120_000;
    setup(store, unit, unit_config(vec![("q", q)], &["a"]), &["a"]).await;
    store.pause(unit, "a", "x", T0).await.unwrap();
    store
        .join(unit, &join("q", "first", "n1"), T0 + 1)
        .await
        .unwrap();
    store
        .join(unit, &join("q", "second", "n1"), T0 + 2)
        .await
        .unwrap();
    store
        .leave(unit, "first", LeaveReason::Abandon, T0 + 10)
        .await
        .unwrap();
    let mut back = join("q", "first-again", "n2");
    back.caller = "sip:first@caller".into();
    let (outcome, _) = store.join(unit, &back, T0 + 60_000).await.unwrap();
    assert_eq!(
        outcome,
        JoinOutcome::Queued {
            position: 1,
            resumed: true
        }
    );
    let position = store.position(unit, "second").await.unwrap().unwrap();
    assert_eq!(position.position, 2);
}

pub async fn a_silent_node_cannot_hold_an_agent<S: AcdStore>(store: &S, unit: &str) {
    setup(
        store,
        unit,
        unit_config(
            vec![("q", queue(Strategy::LongestIdle, &[("a", 1)]))],
            &["a"],
        ),
        &["a"],
    )
    .await;
    let (_, fx) = store
        .join(unit, &join("q", "c1", "n1"), T0 + 1)
        .await
        .unwrap();
    assert_eq!(offers(&fx).len(), 1);
    let expires = T0 + 1 + 15_000 + crate::model::RESERVATION_GRACE_MS;
    let (next, _) = store.tick(unit, T0 + 2).await.unwrap();
    assert_eq!(next, Some(expires));
    let (_, fx) = store.tick(unit, expires).await.unwrap();
    assert!(events(&fx).contains(&"RINGNOANSWER".to_string()));
    assert_eq!(state_of(store, unit, "a").await, AgentState::Available);
}

pub async fn a_dead_node_leaves_no_ghost_caller_and_no_stuck_agent<S: AcdStore>(
    store: &S,
    unit: &str,
) {
    let mut q = queue(Strategy::LongestIdle, &[("a", 1), ("b", 1), ("c", 1)]);
    q.wrap_up_ms = 0;
    setup(
        store,
        unit,
        unit_config(vec![("q", q)], &["a", "b", "c"]),
        &["a", "b"],
    )
    .await;
    let (_, fx) = store
        .join(unit, &join("q", "on-call", "dead"), T0 + 1)
        .await
        .unwrap();
    store
        .offer_answered(unit, &offers(&fx)[0].2, T0 + 2)
        .await
        .unwrap();
    let (_, fx) = store
        .join(unit, &join("q", "ringing", "dead"), T0 + 3)
        .await
        .unwrap();
    assert_eq!(offers(&fx).len(), 1);
    store
        .join(unit, &join("q", "waiting", "dead"), T0 + 4)
        .await
        .unwrap();
    store
        .join(unit, &join("q", "alive", "n2"), T0 + 5)
        .await
        .unwrap();
    let fx = store.reap_node(unit, "dead", T0 + 100).await.unwrap();
    let snapshot = store.snapshot(unit).await.unwrap();
    assert_eq!(
        snapshot.queues[0].waiting, 1,
        "only the live node's caller remains"
    );
    let offered = offers(&fx);
    assert_eq!(
        offered.len(),
        1,
        "a freed agent takes the live caller: {:?}",
        fx.notices
    );
    assert_eq!(offered[0].0, "alive");
    assert!(snapshot
        .agents
        .iter()
        .all(|a| a.state != AgentState::OnCall || a.call.as_deref() == Some("alive")));
    assert!(snapshot
        .agents
        .iter()
        .filter(|a| a.state == AgentState::Reserved)
        .all(|a| a.call.as_deref() == Some("alive")));
}

pub async fn joining_twice_and_stale_reservations_are_safe<S: AcdStore>(store: &S, unit: &str) {
    setup(
        store,
        unit,
        unit_config(
            vec![("q", queue(Strategy::LongestIdle, &[("a", 1)]))],
            &["a"],
        ),
        &["a"],
    )
    .await;
    store.pause(unit, "a", "x", T0).await.unwrap();
    let (first, _) = store
        .join(unit, &join("q", "c1", "n1"), T0 + 1)
        .await
        .unwrap();
    let (again, fx) = store
        .join(unit, &join("q", "c1", "n1"), T0 + 2)
        .await
        .unwrap();
    assert_eq!(first, again);
    assert!(fx.events.is_empty(), "a retried join changes nothing");
    let (answered, _) = store.offer_answered(unit, "r999", T0 + 3).await.unwrap();
    assert_eq!(answered, None);
    let fx = store
        .offer_failed(unit, "r999", OfferFailure::NoAnswer, T0 + 3)
        .await
        .unwrap();
    assert!(fx.events.is_empty());
    let (released, _) = store
        .leave(unit, "nobody", LeaveReason::Abandon, T0 + 4)
        .await
        .unwrap();
    assert!(released.is_empty());
}

pub async fn retried_reports_change_nothing_twice<S: AcdStore>(store: &S, unit: &str) {
    setup(
        store,
        unit,
        unit_config(
            vec![("q", queue(Strategy::LongestIdle, &[("a", 1)]))],
            &["a"],
        ),
        &["a"],
    )
    .await;
    let (_, fx) = store
        .join(unit, &join("q", "c1", "n1"), T0 + 1)
        .await
        .unwrap();
    let reservation = offers(&fx)[0].2.clone();
    let (first, _) = store
        .offer_answered(unit, &reservation, T0 + 2)
        .await
        .unwrap();
    let (again, fx) = store
        .offer_answered(unit, &reservation, T0 + 3)
        .await
        .unwrap();
    assert_eq!(
        first, again,
        "a retried answer (its reply lost) gets the same answer"
    );
    assert!(fx.events.is_empty());
    store
        .call_ended(unit, "a", "c1", false, T0 + 10)
        .await
        .unwrap();
    let (_, fx) = store
        .join(unit, &join("q", "c2", "n1"), T0 + 11)
        .await
        .unwrap();
    store
        .offer_answered(unit, &offers(&fx)[0].2, T0 + 12)
        .await
        .unwrap();
    let fx = store
        .call_ended(unit, "a", "c1", false, T0 + 13)
        .await
        .unwrap();
    assert!(fx.events.is_empty(), "a retried end of c1 does not end c2");
    assert_eq!(state_of(store, unit, "a").await, AgentState::OnCall);
}

pub async fn logout_and_pause_during_a_call_wait_for_its_end<S: AcdStore>(store: &S, unit: &str) {
    setup(
        store,
        unit,
        unit_config(
            vec![("q", queue(Strategy::LongestIdle, &[("a", 1)]))],
            &["a"],
        ),
        &["a"],
    )
    .await;
    let (_, fx) = store
        .join(unit, &join("q", "c1", "n1"), T0 + 1)
        .await
        .unwrap();
    store
        .offer_answered(unit, &offers(&fx)[0].2, T0 + 2)
        .await
        .unwrap();
    store.logout(unit, "a", T0 + 3).await.unwrap();
    assert_eq!(state_of(store, unit, "a").await, AgentState::OnCall);
    let fx = store
        .call_ended(unit, "a", "c1", false, T0 + 4)
        .await
        .unwrap();
    assert_eq!(state_of(store, unit, "a").await, AgentState::LoggedOut);
    assert!(events(&fx).contains(&"AGENTLOGOFF".to_string()));
    assert!(store.login(unit, "nobody", T0).await.is_err());
}

pub async fn a_logout_that_waited_for_a_missed_offer_sends_the_callers_away<S: AcdStore>(
    store: &S,
    unit: &str,
) {
    setup(
        store,
        unit,
        unit_config(
            vec![("q", queue(Strategy::LongestIdle, &[("a", 1)]))],
            &["a", "gone"],
        ),
        &["a"],
    )
    .await;
    let (_, fx) = store
        .join(unit, &join("q", "c1", "n1"), T0 + 1)
        .await
        .unwrap();
    let reservation = offers(&fx)[0].2.clone();
    // The agent logs out while ringing: it waits for the offer's end.
    store.logout(unit, "a", T0 + 2).await.unwrap();
    store
        .join(unit, &join("q", "c2", "n2"), T0 + 3)
        .await
        .unwrap();
    let fx = store
        .offer_failed(unit, &reservation, OfferFailure::NoAnswer, T0 + 4)
        .await
        .unwrap();
    assert_eq!(state_of(store, unit, "a").await, AgentState::LoggedOut);
    assert_eq!(
        events(&fx),
        ["RINGNOANSWER", "AGENTLOGOFF", "EXITEMPTY", "EXITEMPTY"],
        "nobody is left to serve the queue: both callers go to its no-agents branch"
    );
    let sent_away: Vec<&str> = fx
        .notices
        .iter()
        .filter(|n| matches!(n, Notice::NoAgents { .. }))
        .map(|n| n.call())
        .collect();
    assert_eq!(sent_away, ["c1", "c2"]);
    // An agent the document no longer lists is not shown.
    let snapshot = store.snapshot(unit).await.unwrap();
    assert!(snapshot.agents.iter().any(|a| a.id == "gone"));
    setup(
        store,
        unit,
        unit_config(
            vec![("q", queue(Strategy::LongestIdle, &[("a", 1)]))],
            &["a"],
        ),
        &[],
    )
    .await;
    let snapshot = store.snapshot(unit).await.unwrap();
    let ids: Vec<&str> = snapshot.agents.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["a"]);
}

pub async fn events_speak_queue_log<S: AcdStore>(store: &S, unit: &str) {
    setup(
        store,
        unit,
        unit_config(
            vec![("q", queue(Strategy::LongestIdle, &[("a", 1)]))],
            &["a"],
        ),
        &[],
    )
    .await;
    let fx = store.login(unit, "a", T0).await.unwrap();
    assert_eq!(events(&fx), ["AGENTLOGIN"]);
    let (_, fx) = store
        .join(unit, &join("q", "c1", "n1"), T0 + 1000)
        .await
        .unwrap();
    assert_eq!(events(&fx), ["ENTERQUEUE", "OFFER"]);
    let (_, fx) = store
        .offer_answered(unit, &offers(&fx)[0].2, T0 + 6000)
        .await
        .unwrap();
    assert_eq!(events(&fx), ["CONNECT"]);
    assert_eq!(fx.events[0].data[0], "5", "waited 5 s");
    let fx = store
        .call_ended(unit, "a", "c1", false, T0 + 66_000)
        .await
        .unwrap();
    assert_eq!(events(&fx), ["COMPLETECALLER"]);
    assert_eq!(fx.events[0].data[1], "60", "talked 60 s");
}

pub async fn the_event_log_keeps_every_event_in_order<S: AcdStore>(store: &S, unit: &str) {
    setup(
        store,
        unit,
        unit_config(
            vec![("q", queue(Strategy::LongestIdle, &[("a", 1)]))],
            &["a"],
        ),
        &[],
    )
    .await;
    let mut emitted = events(&store.login(unit, "a", T0).await.unwrap());
    let (_, fx) = store
        .join(unit, &join("q", "c1", "n1"), T0 + 1000)
        .await
        .unwrap();
    emitted.extend(events(&fx));
    let (_, fx) = store
        .join(unit, &join("q", "c2", "n2"), T0 + 2000)
        .await
        .unwrap();
    emitted.extend(events(&fx));
    let logged = store.events(unit, None, 1000).await.unwrap();
    let names: Vec<String> = logged.iter().map(|e| e.event.event.clone()).collect();
    assert_eq!(
        names, emitted,
        "the log holds what the operations returned, in order"
    );
    assert_eq!(logged[2].event.call, "c1");
    // Reading on from an id gives what came after it, a page at a time.
    let page = store.events(unit, Some(&logged[1].id), 2).await.unwrap();
    assert_eq!(page, logged[2..4].to_vec());
    let rest = store.events(unit, Some(&logged[3].id), 1000).await.unwrap();
    assert_eq!(rest, logged[4..].to_vec());
    assert!(store
        .events(unit, Some(&logged.last().unwrap().id), 10)
        .await
        .unwrap()
        .is_empty());
    // Another unit's log is its own; a bad id is an error, not a panic.
    assert!(store
        .events("some-other-unit", None, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store.events(unit, Some("not an id"), 10).await.is_err());
    assert_eq!(
        logged[1].event.queue_log_line(),
        format!(
            "{}|c1|q|NONE|ENTERQUEUE||sip:c1@caller|1",
            (T0 + 1000) / 1000
        ),
        "queue_log: epoch|callid|queue|agent|event|url|callerid|position"
    );
}

/// Generates one `#[tokio::test]` per case for a store built by `$make`, an
/// expression giving `(guard, store)` (the guard is kept for the case).
#[macro_export]
macro_rules! conformance_suite {
    ($make:expr) => {
        $crate::conformance_suite!(@cases $make;
            callers_are_offered_in_arrival_order_across_nodes,
            higher_priority_goes_first,
            longest_idle_offers_the_agent_free_longest,
            round_robin_remembers_where_it_stopped,
            fewest_calls_and_least_talk_time,
            random_offers_someone_free,
            ring_all_rings_everyone_and_the_first_answer_wins,
            levels_escalate_while_the_caller_keeps_their_place,
            a_missed_offer_keeps_the_place_rests_the_agent_and_pauses_after_three,
            busy_goes_to_the_next_agent_without_counting_a_miss,
            wrap_up_per_queue_and_per_agent,
            an_agent_in_a_call_or_ringing_is_never_offered_another,
            agents_removed_from_the_unit_go_once_no_call_holds_them,
            max_wait_times_out_and_no_agents_sends_callers_away,
            a_full_queue_refuses,
            a_caller_who_calls_back_gets_their_place,
            a_silent_node_cannot_hold_an_agent,
            a_dead_node_leaves_no_ghost_caller_and_no_stuck_agent,
            joining_twice_and_stale_reservations_are_safe,
            retried_reports_change_nothing_twice,
            logout_and_pause_during_a_call_wait_for_its_end,
            events_speak_queue_log,
            the_event_log_keeps_every_event_in_order,
            a_logout_that_waited_for_a_missed_offer_sends_the_callers_away
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                // `$make` gives `(guard, store)`: the guard (a server, say)
                // lives as long as the case.
                let (_guard, store) = $make;
                $crate::conformance::$case(&store, stringify!($case)).await;
            }
        )*
    };
}
