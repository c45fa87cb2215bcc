//! `acd-bench`: how many matches one Redis sustains with several nodes
//! contending, and how many round trips an answered call costs.
//!
//! Each simulated node has its own connections and notice subscription, as
//! a real node does, and keeps `--waiting` callers in one shared queue of
//! `--agents` agents. When an offer for one of its callers arrives (from
//! whichever node's operation made it), it answers, ends the call at once
//! (the agent hangs up) and brings a new caller: join, answer, end, each one
//! script. Ending the call frees the agent, and the same script offers it
//! the oldest caller of any node. No SIP, no media: this is the ACD alone,
//! the ceiling the nodes work under.
//!
//! Prints one JSON object: matches per second, round trips per answered
//! call (counted by the clients, and `EVALSHA` calls from Redis's own
//! `INFO commandstats`), and the latency of each operation.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cc_acd::{AcdStore, AgentConfig, Join, Member, Notice, QueueConfig, Strategy, UnitConfig};
use cc_acd_redis::{RedisStore, Target};
use clap::Parser;

#[derive(Parser)]
#[command(about = "Matches per second one Redis sustains with several nodes contending")]
struct Args {
    /// The Redis to use (its state for the unit `bench` is replaced).
    #[arg(long, default_value = "redis://127.0.0.1:6379/")]
    redis: String,
    /// Simulated nodes, each with its own connections.
    #[arg(long, default_value_t = 4)]
    nodes: usize,
    /// Agents in the queue.
    #[arg(long, default_value_t = 50)]
    agents: usize,
    /// Callers each node keeps waiting.
    #[arg(long, default_value_t = 25)]
    waiting: usize,
    /// How long to run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

const UNIT: &str = "bench";
const QUEUE: &str = "q";

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// Operation latencies, in microseconds, by operation.
#[derive(Default)]
struct Latencies(Mutex<HashMap<&'static str, Vec<u64>>>);

impl Latencies {
    fn record(&self, op: &'static str, since: Instant) {
        let micros = since.elapsed().as_micros() as u64;
        if let Ok(mut all) = self.0.lock() {
            all.entry(op).or_default().push(micros);
        }
    }

    fn report(&self) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        if let Ok(mut all) = self.0.lock() {
            for (op, samples) in all.iter_mut() {
                samples.sort_unstable();
                let at = |q: f64| {
                    samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)] as f64
                        / 1000.0
                };
                out.insert(
                    op.to_string(),
                    serde_json::json!({ "count": samples.len(), "p50_ms": at(0.50), "p99_ms": at(0.99), "max_ms": at(1.0) }),
                );
            }
        }
        serde_json::Value::Object(out)
    }
}

struct Shared {
    stop: AtomicBool,
    matches: AtomicU64,
    answered: AtomicU64,
    errors: AtomicU64,
    calls: AtomicU64,
    latencies: Latencies,
}

fn unit_config(agents: usize) -> UnitConfig {
    let members: Vec<Member> = (0..agents)
        .map(|i| Member {
            agent: format!("a{i}"),
            level: 1,
        })
        .collect();
    let queue = QueueConfig {
        strategy: Strategy::LongestIdle,
        members,
        ..QueueConfig::default()
    };
    UnitConfig {
        queues: [(QUEUE.to_string(), queue)].into_iter().collect(),
        agents: (0..agents)
            .map(|i| AgentConfig {
                id: format!("a{i}"),
                wrap_up_ms: None,
            })
            .collect(),
    }
}

async fn join_one(store: &RedisStore, node: &str, shared: &Shared) {
    let id = shared.calls.fetch_add(1, Ordering::Relaxed);
    let join = Join {
        queue: QUEUE.into(),
        call: format!("{node}-c{id}"),
        caller: String::new(),
        node: node.into(),
        priority: 5,
    };
    let started = Instant::now();
    match store.join(UNIT, &join, now_ms()).await {
        Ok(_) => shared.latencies.record("join", started),
        Err(_) => {
            shared.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// An offer reached this node: the agent answers, talks for no time, hangs
/// up; a new caller takes the place of the one served.
async fn serve(
    store: Arc<RedisStore>,
    node: String,
    shared: Arc<Shared>,
    agent: String,
    call: String,
    reservation: String,
) {
    shared.matches.fetch_add(1, Ordering::Relaxed);
    let started = Instant::now();
    match store.offer_answered(UNIT, &reservation, now_ms()).await {
        Ok((Some(_), _)) => shared.latencies.record("answered", started),
        _ => {
            shared.errors.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
    let started = Instant::now();
    match store.call_ended(UNIT, &agent, &call, true, now_ms()).await {
        Ok(_) => {
            shared.latencies.record("ended", started);
            shared.answered.fetch_add(1, Ordering::Relaxed);
        }
        Err(_) => {
            shared.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
    if !shared.stop.load(Ordering::Relaxed) {
        join_one(&store, &node, &shared).await;
    }
}

fn commandstat(info: &str, command: &str) -> u64 {
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("cmdstat_{command}:calls=")))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

async fn redis_info(url: &str) -> anyhow::Result<String> {
    let client = redis::Client::open(url)?;
    let mut connection = client.get_multiplexed_async_connection().await?;
    Ok(redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut connection)
        .await?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        matches: AtomicU64::new(0),
        answered: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        calls: AtomicU64::new(0),
        latencies: Latencies::default(),
    });
    // A clean unit: forget what an earlier run left.
    {
        let client = redis::Client::open(args.redis.as_str())?;
        let mut connection = client.get_multiplexed_async_connection().await?;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("cc:{{{UNIT}}}:*"))
            .query_async(&mut connection)
            .await?;
        if !keys.is_empty() {
            let _: () = redis::cmd("DEL")
                .arg(keys)
                .query_async(&mut connection)
                .await?;
        }
    }
    let config = unit_config(args.agents);
    let mut stores = Vec::new();
    for n in 0..args.nodes {
        let node = format!("bench-node-{n}");
        let store = Arc::new(RedisStore::connect(Target::Single(args.redis.clone())).await?);
        store.configure(UNIT, &config, now_ms()).await?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Notice>();
        store.subscribe(
            &node,
            Arc::new(move |notice| drop(tx.send(notice))),
            Arc::new(|| {}),
        );
        let (store2, node2, shared2) = (Arc::clone(&store), node.clone(), Arc::clone(&shared));
        tokio::spawn(async move {
            while let Some(notice) = rx.recv().await {
                if let Notice::Offer {
                    agent,
                    call,
                    reservation,
                    ..
                } = notice
                {
                    tokio::spawn(serve(
                        Arc::clone(&store2),
                        node2.clone(),
                        Arc::clone(&shared2),
                        agent,
                        call,
                        reservation,
                    ));
                }
            }
        });
        stores.push((node, store));
    }
    // Let the subscriptions settle before anything is published.
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Agents log in paused (a queue without agents takes no callers), the
    // callers come, then every agent is free at once.
    for i in 0..args.agents {
        let (_, store) = &stores[i % stores.len()];
        store.login(UNIT, &format!("a{i}"), now_ms()).await?;
        store
            .pause(UNIT, &format!("a{i}"), "bench", now_ms())
            .await?;
    }
    for (node, store) in &stores {
        for _ in 0..args.waiting {
            join_one(store, node, &shared).await;
        }
    }
    let before = redis_info(&args.redis).await?;
    let sent_before: u64 = stores.iter().map(|(_, s)| s.commands_sent()).sum();
    let started = Instant::now();
    for i in 0..args.agents {
        let (_, store) = &stores[i % stores.len()];
        store.unpause(UNIT, &format!("a{i}"), now_ms()).await?;
    }
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    shared.stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let (matches, answered) = (
        shared.matches.load(Ordering::Relaxed),
        shared.answered.load(Ordering::Relaxed),
    );
    let sent: u64 = stores.iter().map(|(_, s)| s.commands_sent()).sum::<u64>() - sent_before;
    let after = redis_info(&args.redis).await?;
    let evalsha = commandstat(&after, "evalsha") - commandstat(&before, "evalsha");
    let per_call = |n: u64| {
        if answered == 0 {
            0.0
        } else {
            n as f64 / answered as f64
        }
    };
    let report = serde_json::json!({
        "nodes": args.nodes,
        "agents": args.agents,
        "waiting_per_node": args.waiting,
        "seconds": elapsed,
        "matches": matches,
        "answered": answered,
        "errors": shared.errors.load(Ordering::Relaxed),
        "matches_per_second": matches as f64 / elapsed,
        "round_trips_per_answered_call": per_call(sent),
        "evalsha_per_answered_call": per_call(evalsha),
        "latency": shared.latencies.report(),
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
