//! The in-memory model is the specification; the Redis scripts must agree
//! with it. Random sequences of operations (callers join and leave, agents
//! log in, out and pause, answer or miss offers, calls end, nodes die, time
//! passes) run against both, and every answer, notice and event, and the
//! final state, must be the same.

mod support;

use std::collections::BTreeMap;

use cc_acd::{
    AcdStore, AgentConfig, Effects, Join, LeaveReason, Member, MemoryStore, Millis, Notice,
    OfferFailure, QueueConfig, UnitConfig,
};
use cc_acd_redis::{RedisStore, Target};
use proptest::prelude::*;
use support::RedisServer;

const AGENTS: [&str; 4] = ["ana", "bo", "cy", "di"];
const NODES: [&str; 3] = ["n1", "n2", "n3"];
const STRATEGIES: [cc_acd::Strategy; 6] = [
    cc_acd::Strategy::LongestIdle,
    cc_acd::Strategy::RoundRobin,
    cc_acd::Strategy::RingAll,
    cc_acd::Strategy::FewestCalls,
    cc_acd::Strategy::LeastTalkTime,
    cc_acd::Strategy::Random,
];

#[derive(Clone, Debug)]
enum Op {
    Join {
        queue: usize,
        call: u8,
        node: usize,
        priority: u8,
        caller: u8,
    },
    Leave {
        call: u8,
        reason: u8,
    },
    Answered {
        pick: usize,
    },
    Failed {
        pick: usize,
        failure: u8,
    },
    Ended {
        agent: usize,
        by_agent: bool,
    },
    Login(usize),
    Logout(usize),
    Pause(usize),
    Unpause(usize),
    Tick,
    Reap(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0usize..2, 0u8..20, 0usize..3, 0u8..10, 0u8..4).prop_map(|(queue, call, node, priority, caller)| Op::Join { queue, call, node, priority, caller }),
        2 => (0u8..20, 0u8..3).prop_map(|(call, reason)| Op::Leave { call, reason }),
        4 => (0usize..64).prop_map(|pick| Op::Answered { pick }),
        3 => (0usize..64, 0u8..4).prop_map(|(pick, failure)| Op::Failed { pick, failure }),
        3 => (0usize..4, any::<bool>()).prop_map(|(agent, by_agent)| Op::Ended { agent, by_agent }),
        2 => (0usize..4).prop_map(Op::Login),
        1 => (0usize..4).prop_map(Op::Logout),
        1 => (0usize..4).prop_map(Op::Pause),
        1 => (0usize..4).prop_map(Op::Unpause),
        3 => Just(Op::Tick),
        1 => (0usize..3).prop_map(Op::Reap),
    ]
}

#[derive(Clone, Debug)]
struct Case {
    strategies: (usize, usize),
    escalate: bool,
    limits: (u32, u64, u64),
    steps: Vec<(u64, Op)>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        (0usize..6, 0usize..6),
        any::<bool>(),
        (0u32..4, 0u64..3, 0u64..2),
        prop::collection::vec((0u64..40_000, op()), 1..60),
    )
        .prop_map(|(strategies, escalate, limits, steps)| Case {
            strategies,
            escalate,
            limits,
            steps,
        })
}

fn config(case: &Case) -> UnitConfig {
    let (max_len, wrap, resume) = case.limits;
    let queue = |strategy: usize, members: &[(&str, u32)]| QueueConfig {
        strategy: STRATEGIES[strategy],
        ring_timeout_ms: 15_000,
        max_wait_ms: 120_000,
        wrap_up_ms: wrap * 5_000,
        max_len,
        escalate_after_ms: if case.escalate { 20_000 } else { 0 },
        no_answer_delay_ms: 5_000,
        busy_delay_ms: 8_000,
        reject_delay_ms: 9_000,
        max_misses: 2,
        resume_window_ms: resume * 60_000,
        members: members
            .iter()
            .map(|(a, l)| Member {
                agent: a.to_string(),
                level: *l,
            })
            .collect(),
    };
    UnitConfig {
        queues: BTreeMap::from([
            (
                "q1".to_string(),
                queue(case.strategies.0, &[("ana", 1), ("bo", 1), ("cy", 2)]),
            ),
            (
                "q2".to_string(),
                queue(case.strategies.1, &[("bo", 1), ("di", 1), ("cy", 1)]),
            ),
        ]),
        agents: AGENTS
            .iter()
            .map(|a| AgentConfig {
                id: a.to_string(),
                wrap_up_ms: (*a == "di").then_some(2_000),
            })
            .collect(),
    }
}

/// What the two stores must agree on: everything but the tick hint.
fn comparable(fx: &Effects) -> (Vec<Notice>, Vec<cc_acd::QueueEvent>) {
    (fx.notices.clone(), fx.events.clone())
}

fn reservations(fx: &Effects, known: &mut Vec<String>) {
    for n in &fx.notices {
        if let Notice::Offer { reservation, .. } = n {
            known.push(reservation.clone());
        }
    }
}

async fn run_case(redis: &RedisStore, unit: &str, case: &Case) -> Result<(), TestCaseError> {
    let memory = MemoryStore::new();
    let config = config(case);
    let mut now: Millis = 1_800_000_000_000;
    memory.configure(unit, &config, now).await.unwrap();
    redis.configure(unit, &config, now).await.unwrap();
    let mut known: Vec<String> = vec!["r999999".into()];
    for (step, (advance, op)) in case.steps.iter().enumerate() {
        now += advance;
        let context = format!("step {step} {op:?} at +{}", now - 1_800_000_000_000);
        match op {
            Op::Join {
                queue,
                call,
                node,
                priority,
                caller,
            } => {
                let join = Join {
                    queue: ["q1", "q2"][*queue].into(),
                    call: format!("c{call}"),
                    caller: format!("sip:caller{caller}@x"),
                    node: NODES[*node].into(),
                    priority: *priority,
                };
                let (a, fa) = memory.join(unit, &join, now).await.unwrap();
                let (b, fb) = redis.join(unit, &join, now).await.unwrap();
                prop_assert_eq!(&a, &b, "{}", context);
                prop_assert_eq!(comparable(&fa), comparable(&fb), "{}", context);
                reservations(&fa, &mut known);
            }
            Op::Leave { call, reason } => {
                let reason = [
                    LeaveReason::Abandon,
                    LeaveReason::ExitKey,
                    LeaveReason::Failure,
                ][*reason as usize];
                let call = format!("c{call}");
                let (a, fa) = memory.leave(unit, &call, reason, now).await.unwrap();
                let (b, fb) = redis.leave(unit, &call, reason, now).await.unwrap();
                prop_assert_eq!(&a, &b, "{}", context);
                prop_assert_eq!(comparable(&fa), comparable(&fb), "{}", context);
                reservations(&fa, &mut known);
            }
            Op::Answered { pick } => {
                let r = known[pick % known.len()].clone();
                let (a, fa) = memory.offer_answered(unit, &r, now).await.unwrap();
                let (b, fb) = redis.offer_answered(unit, &r, now).await.unwrap();
                prop_assert_eq!(&a, &b, "{}", context);
                prop_assert_eq!(comparable(&fa), comparable(&fb), "{}", context);
            }
            Op::Failed { pick, failure } => {
                let r = known[pick % known.len()].clone();
                let failure = [
                    OfferFailure::NoAnswer,
                    OfferFailure::Busy,
                    OfferFailure::Rejected,
                    OfferFailure::Unreachable,
                ][*failure as usize];
                let fa = memory.offer_failed(unit, &r, failure, now).await.unwrap();
                let fb = redis.offer_failed(unit, &r, failure, now).await.unwrap();
                prop_assert_eq!(comparable(&fa), comparable(&fb), "{}", context);
                reservations(&fa, &mut known);
            }
            Op::Ended { agent, by_agent } => {
                let snapshot = memory.snapshot(unit).await.unwrap();
                let call = snapshot
                    .agents
                    .iter()
                    .find(|a| a.id == AGENTS[*agent])
                    .and_then(|a| a.call.clone())
                    .unwrap_or_default();
                let fa = memory
                    .call_ended(unit, AGENTS[*agent], &call, *by_agent, now)
                    .await
                    .unwrap();
                let fb = redis
                    .call_ended(unit, AGENTS[*agent], &call, *by_agent, now)
                    .await
                    .unwrap();
                prop_assert_eq!(comparable(&fa), comparable(&fb), "{}", context);
                reservations(&fa, &mut known);
            }
            Op::Login(a) | Op::Logout(a) | Op::Pause(a) | Op::Unpause(a) => {
                let agent = AGENTS[*a];
                let (fa, fb) = match op {
                    Op::Login(_) => (
                        memory.login(unit, agent, now).await.unwrap(),
                        redis.login(unit, agent, now).await.unwrap(),
                    ),
                    Op::Logout(_) => (
                        memory.logout(unit, agent, now).await.unwrap(),
                        redis.logout(unit, agent, now).await.unwrap(),
                    ),
                    Op::Pause(_) => (
                        memory.pause(unit, agent, "coffee", now).await.unwrap(),
                        redis.pause(unit, agent, "coffee", now).await.unwrap(),
                    ),
                    _ => (
                        memory.unpause(unit, agent, now).await.unwrap(),
                        redis.unpause(unit, agent, now).await.unwrap(),
                    ),
                };
                prop_assert_eq!(comparable(&fa), comparable(&fb), "{}", context);
                reservations(&fa, &mut known);
            }
            Op::Tick => {
                let (_, fa) = memory.tick(unit, now).await.unwrap();
                let (_, fb) = redis.tick(unit, now).await.unwrap();
                prop_assert_eq!(comparable(&fa), comparable(&fb), "{}", context);
                reservations(&fa, &mut known);
            }
            Op::Reap(n) => {
                let fa = memory.reap_node(unit, NODES[*n], now).await.unwrap();
                let fb = redis.reap_node(unit, NODES[*n], now).await.unwrap();
                prop_assert_eq!(comparable(&fa), comparable(&fb), "{}", context);
                reservations(&fa, &mut known);
            }
        }
        let sa = memory.snapshot(unit).await.unwrap();
        let sb = redis.snapshot(unit).await.unwrap();
        prop_assert_eq!(&sa, &sb, "snapshot after {}", context);
    }
    Ok(())
}

#[test]
fn the_redis_scripts_do_what_the_model_does() {
    let server = RedisServer::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let redis = runtime
        .block_on(RedisStore::connect(Target::Single(server.url())))
        .unwrap();
    let cases: u32 = std::env::var("ACD_PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(2000);
    let counter = std::sync::atomic::AtomicU64::new(0);
    proptest!(ProptestConfig::with_cases(cases), |(case in case())| {
        let unit = format!("u{}", counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        runtime.block_on(run_case(&redis, &unit, &case))?;
    });
}
