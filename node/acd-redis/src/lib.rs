//! # cc-acd-redis: the ACD shared by every node, in Redis
//!
//! Every operation of the ACD model (`cc_acd::model`) runs here as one Lua
//! script (`lua/*.lua`, each prefixed by `lua/lib.lua`), so it is atomic
//! across nodes: two nodes matching at once cannot give one agent two
//! callers. Scripts run by SHA (`EVALSHA`), loaded again transparently after
//! a `NOSCRIPT` (a restarted or failed-over Redis).
//!
//! - **Keys** carry the unit in a hash tag, `cc:{unit}:…`, so a unit's keys
//!   sit in one Redis Cluster slot and each script touches one slot.
//! - **Notices** ("ring this agent", "the caller timed out") are published by
//!   the scripts themselves to `cc:node:<node>`, the channel of the node that
//!   holds the call, atomically with the decision. [`RedisStore::subscribe`]
//!   delivers a node's notices to it, reconnecting (and following a Sentinel
//!   failover) by itself.
//! - **Events** (queue_log words) go to the stream `cc:{unit}:events`.
//! - **Retries**: a client's first command after a reconnect can fail. Every
//!   script is safe to run twice (joins by call id, answers by reservation,
//!   ends by call), so a failed command is retried (twice at most).
//! - **Reservations expire** (ring timeout + 10 s): a node that dies while
//!   an agent rings for its caller cannot hold that agent for ever.
//!
//! Targets: one Redis (`redis://host:port`), Redis Sentinel (the master is
//! asked of the sentinels, and asked again after a failure), or Redis Cluster.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use cc_acd::{
    AcdStore, AgentError, Effects, Join, JoinOutcome, LeaveReason, LoggedEvent, Millis, Notice,
    OfferFailure, Position, QueueEvent, Snapshot, StoreError, UnitConfig,
};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelServerType};
use redis::{Script, ScriptInvocation};
use serde::de::DeserializeOwned;
use serde::Deserialize;

const LIB: &str = include_str!("../lua/lib.lua");

/// Where the shared state lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// One Redis: `redis://127.0.0.1:6379`.
    Single(String),
    /// Redis Sentinel: the sentinels' URLs and the master's name.
    Sentinel {
        /// `redis://host:port` of each sentinel.
        sentinels: Vec<String>,
        /// The monitored master's name.
        master: String,
    },
    /// Redis Cluster: some of its nodes.
    Cluster(Vec<String>),
}

struct Scripts {
    configure: Script,
    join: Script,
    leave: Script,
    answered: Script,
    failed: Script,
    ended: Script,
    agent: Script,
    tick: Script,
    reap: Script,
    snapshot: Script,
    position: Script,
}

fn script(body: &str) -> Script {
    Script::new(&format!("{LIB}\n{body}"))
}

impl Scripts {
    fn new() -> Scripts {
        Scripts {
            // The configuration is written before the library reads it.
            configure: Script::new(&format!(
                "redis.call('SET', KEYS[2], ARGV[3])\n{LIB}\n{}",
                include_str!("../lua/configure.lua")
            )),
            join: script(include_str!("../lua/join.lua")),
            leave: script(include_str!("../lua/leave.lua")),
            answered: script(include_str!("../lua/answered.lua")),
            failed: script(include_str!("../lua/failed.lua")),
            ended: script(include_str!("../lua/ended.lua")),
            agent: script(include_str!("../lua/agent.lua")),
            tick: script(include_str!("../lua/tick.lua")),
            reap: script(include_str!("../lua/reap.lua")),
            snapshot: script(include_str!("../lua/snapshot.lua")),
            position: script(include_str!("../lua/position.lua")),
        }
    }
}

enum AnyConnection {
    Manager(ConnectionManager),
    Cluster(ClusterConnection),
}

enum Connection {
    Manager(ConnectionManager),
    Sentinel {
        sentinel: Box<tokio::sync::Mutex<SentinelClient>>,
        master: tokio::sync::RwLock<ConnectionManager>,
    },
    Cluster(ClusterConnection),
}

/// The Redis ACD store.
pub struct RedisStore {
    target: Target,
    connection: Connection,
    scripts: Scripts,
    /// The queue names of each configured unit, in name order (the scripts
    /// need their waiting sets declared as keys).
    queues: RwLock<HashMap<String, Vec<String>>>,
    /// Commands sent (round trips), retries included.
    commands: AtomicU64,
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(2)
}

async fn sentinel_master(
    sentinel: &mut SentinelClient,
) -> Result<ConnectionManager, redis::RedisError> {
    let client = sentinel.async_get_client().await?;
    ConnectionManager::new_with_config(client, manager_config()).await
}

fn sentinel_client(
    sentinels: &[String],
    master: &str,
) -> Result<SentinelClient, redis::RedisError> {
    SentinelClient::build(
        sentinels.to_vec(),
        master.to_string(),
        None,
        SentinelServerType::Master,
    )
}

/// Whether an error is one a retry (after a reconnect or a failover) may cure.
fn retryable(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.code() == Some("READONLY")
}

impl RedisStore {
    /// Connects to `target`.
    pub async fn connect(target: Target) -> Result<RedisStore, StoreError> {
        let connection = match &target {
            Target::Single(url) => {
                let client = redis::Client::open(url.as_str()).map_err(unavailable)?;
                Connection::Manager(
                    ConnectionManager::new_with_config(client, manager_config())
                        .await
                        .map_err(unavailable)?,
                )
            }
            Target::Sentinel { sentinels, master } => {
                let mut sentinel = sentinel_client(sentinels, master).map_err(unavailable)?;
                let manager = sentinel_master(&mut sentinel).await.map_err(unavailable)?;
                Connection::Sentinel {
                    sentinel: Box::new(tokio::sync::Mutex::new(sentinel)),
                    master: tokio::sync::RwLock::new(manager),
                }
            }
            Target::Cluster(nodes) => {
                let client = redis::cluster::ClusterClient::builder(nodes.clone())
                    .connection_timeout(Duration::from_secs(2))
                    .response_timeout(Duration::from_secs(2))
                    .build()
                    .map_err(unavailable)?;
                Connection::Cluster(client.get_async_connection().await.map_err(unavailable)?)
            }
        };
        Ok(RedisStore {
            target,
            connection,
            scripts: Scripts::new(),
            queues: RwLock::new(HashMap::new()),
            commands: AtomicU64::new(0),
        })
    }

    fn keys(&self, unit: &str) -> Result<Vec<String>, StoreError> {
        let queues = self
            .queues
            .read()
            .map_err(|e| StoreError::Protocol(e.to_string()))?;
        let names = queues.get(unit).ok_or_else(|| {
            StoreError::Protocol(format!("unit {unit:?} is not configured on this node"))
        })?;
        Ok(unit_keys(unit, names))
    }

    async fn invoke(
        &self,
        script: &Script,
        keys: &[String],
        args: &[String],
    ) -> Result<String, StoreError> {
        self.with_retries(|mut connection| async move {
            let mut invocation: ScriptInvocation<'_> = script.prepare_invoke();
            for key in keys {
                invocation.key(key);
            }
            for arg in args {
                invocation.arg(arg);
            }
            match &mut connection {
                AnyConnection::Manager(c) => invocation.invoke_async(c).await,
                AnyConnection::Cluster(c) => invocation.invoke_async(c).await,
            }
        })
        .await
    }

    /// A plain command, with the same retries as the scripts.
    async fn query<T: redis::FromRedisValue + Send>(
        &self,
        command: &redis::Cmd,
    ) -> Result<T, StoreError> {
        self.with_retries(|mut connection| async move {
            match &mut connection {
                AnyConnection::Manager(c) => command.query_async(c).await,
                AnyConnection::Cluster(c) => command.query_async(c).await,
            }
        })
        .await
    }

    /// Runs `attempt` on a connection, again (up to twice) after an error a
    /// reconnect or a failover may cure; with Sentinel, the master is asked
    /// of the sentinels again first.
    async fn with_retries<T, F, Fut>(&self, attempt: F) -> Result<T, StoreError>
    where
        F: Fn(AnyConnection) -> Fut,
        Fut: std::future::Future<Output = Result<T, redis::RedisError>>,
    {
        let mut last = None;
        for round in 0..3u64 {
            let connection = match &self.connection {
                Connection::Manager(manager) => AnyConnection::Manager(manager.clone()),
                Connection::Cluster(cluster) => AnyConnection::Cluster(cluster.clone()),
                Connection::Sentinel { master, .. } => {
                    AnyConnection::Manager(master.read().await.clone())
                }
            };
            self.commands.fetch_add(1, Ordering::Relaxed);
            match attempt(connection).await {
                Ok(reply) => return Ok(reply),
                Err(e) if retryable(&e) && round < 2 => {
                    tracing::debug!(error = %e, round, "retrying a Redis command");
                    if let Connection::Sentinel { sentinel, master } = &self.connection {
                        let mut sentinel = sentinel.lock().await;
                        if let Ok(manager) = sentinel_master(&mut sentinel).await {
                            *master.write().await = manager;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(50 * (round + 1))).await;
                    last = Some(e);
                }
                Err(e) => return Err(unavailable(e)),
            }
        }
        Err(unavailable(last.unwrap_or_else(|| {
            redis::RedisError::from((redis::ErrorKind::Io, "no attempt"))
        })))
    }

    /// Commands this store has sent to Redis (each one round trip), retries
    /// included; the notice subscription is not counted.
    pub fn commands_sent(&self) -> u64 {
        self.commands.load(Ordering::Relaxed)
    }

    /// Writes `config` again if the unit's state is gone (a Redis restarted
    /// without persistence, a flushed database): the node recovers by itself.
    pub async fn ensure_configured(
        &self,
        unit: &str,
        config: &UnitConfig,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let key = format!("cc:{{{unit}}}:config");
        let exists: bool = self.query(redis::cmd("EXISTS").arg(&key)).await?;
        if !exists {
            tracing::warn!(
                unit,
                "the unit's ACD state is gone from Redis; configuring it again"
            );
            self.configure(unit, config, now).await?;
        }
        Ok(!exists)
    }

    /// This node is alive for `ttl_ms`, and known to the others. True when
    /// the node was not known before: its first beat, or the others reaped
    /// it (it was out of reach too long) or Redis lost its state; either
    /// way, its waiting callers are no longer in the shared queues.
    pub async fn heartbeat(
        &self,
        node: &str,
        ttl_ms: u64,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let _: () = self
            .query(
                redis::cmd("SET")
                    .arg(format!("cc:node:{node}:alive"))
                    .arg(now)
                    .arg("PX")
                    .arg(ttl_ms),
            )
            .await?;
        let added: u64 = self
            .query(redis::cmd("ZADD").arg("cc:nodes").arg(now).arg(node))
            .await?;
        Ok(added == 1)
    }

    /// Known nodes whose heartbeat has lapsed.
    pub async fn dead_nodes(&self) -> Result<Vec<String>, StoreError> {
        let nodes: Vec<String> = self
            .query(redis::cmd("ZRANGE").arg("cc:nodes").arg(0).arg(-1))
            .await?;
        let mut dead = Vec::new();
        for node in nodes {
            let alive: bool = self
                .query(redis::cmd("EXISTS").arg(format!("cc:node:{node}:alive")))
                .await?;
            if !alive {
                dead.push(node);
            }
        }
        Ok(dead)
    }

    /// A dead node's state is reaped everywhere: forget it.
    pub async fn forget_node(&self, node: &str) -> Result<(), StoreError> {
        let _: () = self
            .query(redis::cmd("ZREM").arg("cc:nodes").arg(node))
            .await?;
        Ok(())
    }

    /// Takes or keeps the lease of the node that reports the cluster's shared
    /// figures (queue lengths, agents by state); true while this node has it.
    pub async fn lead(&self, node: &str, ttl_ms: u64) -> Result<bool, StoreError> {
        let taken: Option<String> = self
            .query(
                redis::cmd("SET")
                    .arg("cc:leader")
                    .arg(node)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl_ms),
            )
            .await?;
        if taken.is_some() {
            return Ok(true);
        }
        let holder: Option<String> = self.query(redis::cmd("GET").arg("cc:leader")).await?;
        if holder.as_deref() == Some(node) {
            let _: () = self
                .query(redis::cmd("PEXPIRE").arg("cc:leader").arg(ttl_ms))
                .await?;
            return Ok(true);
        }
        Ok(false)
    }

    async fn run<T: DeserializeOwned>(
        &self,
        script: &Script,
        unit: &str,
        now: Millis,
        args: &[&str],
    ) -> Result<(T, Effects), StoreError> {
        let keys = self.keys(unit)?;
        let mut all = vec![unit.to_string(), now.to_string()];
        all.extend(args.iter().map(|a| a.to_string()));
        let reply = self.invoke(script, &keys, &all).await?;
        parse_reply(&reply)
    }

    /// Delivers the notices published for `node` to `sink`, for as long as
    /// the returned task lives. It reconnects by itself (to the new master
    /// after a Sentinel failover), and calls `subscribed` each time it is
    /// listening again: Pub/Sub keeps nothing for an absent listener, so
    /// what was published meanwhile must be read from the state.
    pub fn subscribe(
        self: &Arc<Self>,
        node: &str,
        sink: cc_acd::store::NoticeSink,
        subscribed: Arc<dyn Fn() + Send + Sync>,
    ) -> tokio::task::JoinHandle<()> {
        let channel = format!("cc:node:{node}");
        let target = self.target.clone();
        tokio::spawn(async move {
            for attempt in 0usize.. {
                if let Err(e) = listen(&target, attempt, &channel, &sink, &subscribed).await {
                    tracing::warn!(error = %e, "ACD notice subscription lost; reconnecting");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    }
}

/// Listens on `channel` until the connection drops. In a cluster a PUBLISH
/// reaches every primary, so any one will do: each attempt takes the next.
async fn listen(
    target: &Target,
    attempt: usize,
    channel: &str,
    sink: &cc_acd::store::NoticeSink,
    subscribed: &Arc<dyn Fn() + Send + Sync>,
) -> Result<(), redis::RedisError> {
    use futures_util::StreamExt;
    let client = match target {
        Target::Single(url) => redis::Client::open(url.as_str())?,
        Target::Cluster(nodes) => {
            let node = nodes.get(attempt % nodes.len().max(1));
            redis::Client::open(node.map(String::as_str).unwrap_or_default())?
        }
        Target::Sentinel { sentinels, master } => {
            sentinel_client(sentinels, master)?
                .async_get_client()
                .await?
        }
    };
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channel).await?;
    subscribed();
    let mut messages = pubsub.on_message();
    while let Some(message) = messages.next().await {
        let payload: String = message.get_payload()?;
        match serde_json::from_str::<Notice>(&payload) {
            Ok(notice) => sink(notice),
            Err(e) => tracing::warn!(error = %e, payload, "an unreadable ACD notice"),
        }
    }
    Ok(())
}

/// The keys of a unit, as `lua/lib.lua` lists them.
pub fn unit_keys(unit: &str, queues: &[String]) -> Vec<String> {
    let tag = format!("cc:{{{unit}}}:");
    let mut keys: Vec<String> = [
        "seq",
        "config",
        "agents",
        "calls",
        "lastoffered",
        "resume",
        "avgwait",
        "events",
        "deadlines",
        "reservations",
        "available",
        "unoffered",
    ]
    .iter()
    .map(|k| format!("{tag}{k}"))
    .collect();
    keys.extend(queues.iter().map(|q| format!("{tag}waiting:{q}")));
    keys
}

/// Lua's cjson writes an empty table as `{}`; where the reply has arrays,
/// read them as arrays.
fn arrays(reply: &str) -> String {
    let mut text = reply.to_string();
    for key in ["notices", "events", "data", "offers", "queues", "agents"] {
        text = text.replace(&format!("\"{key}\":{{}}"), &format!("\"{key}\":[]"));
    }
    text
}

#[derive(Deserialize)]
struct Reply<T> {
    result: T,
    #[serde(default)]
    notices: Vec<Notice>,
    #[serde(default)]
    events: Vec<QueueEvent>,
    #[serde(default)]
    next_tick: Option<Millis>,
}

fn parse_reply<T: DeserializeOwned>(reply: &str) -> Result<(T, Effects), StoreError> {
    let reply: Reply<T> = serde_json::from_str(&arrays(reply))
        .map_err(|e| StoreError::Protocol(format!("{e}: {reply}")))?;
    Ok((
        reply.result,
        Effects {
            notices: reply.notices,
            events: reply.events,
            next_tick: reply.next_tick,
        },
    ))
}

#[derive(Deserialize)]
struct Offers {
    offers: Vec<(String, String)>,
}

#[derive(Deserialize)]
struct Answered {
    answered: bool,
    call: Option<String>,
    agent: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum AgentReply {
    Done(#[allow(dead_code)] bool),
    Failed { error: String },
}

fn failure_name(failure: OfferFailure) -> &'static str {
    match failure {
        OfferFailure::NoAnswer => "no_answer",
        OfferFailure::Busy => "busy",
        OfferFailure::Rejected => "rejected",
        OfferFailure::Unreachable => "unreachable",
    }
}

impl RedisStore {
    async fn agent_op(
        &self,
        unit: &str,
        agent: &str,
        action: &str,
        reason: &str,
        now: Millis,
    ) -> Result<Effects, StoreError> {
        let (reply, fx): (AgentReply, Effects) = self
            .run(&self.scripts.agent, unit, now, &[agent, action, reason])
            .await?;
        match reply {
            AgentReply::Done(_) => Ok(fx),
            AgentReply::Failed { error } if error == "unknown_agent" => Err(StoreError::Agent(
                AgentError::UnknownAgent(agent.to_string()),
            )),
            AgentReply::Failed { error } => Err(StoreError::Protocol(error)),
        }
    }
}

impl AcdStore for RedisStore {
    async fn configure(
        &self,
        unit: &str,
        config: &UnitConfig,
        now: Millis,
    ) -> Result<(), StoreError> {
        // BTreeMap keys come in name order, as the scripts sort them.
        let names: Vec<String> = config.queues.keys().cloned().collect();
        if let Ok(mut queues) = self.queues.write() {
            queues.insert(unit.to_string(), names);
        }
        // Members by level, then in the document's order, as the scripts
        // expect them, so that matching need not sort them each time.
        let mut config = config.clone();
        for queue in config.queues.values_mut() {
            queue.members.sort_by_key(|m| m.level);
        }
        let json =
            serde_json::to_string(&config).map_err(|e| StoreError::Protocol(e.to_string()))?;
        let (_, _): (bool, Effects) = self
            .run(&self.scripts.configure, unit, now, &[&json])
            .await?;
        Ok(())
    }

    async fn join(
        &self,
        unit: &str,
        join: &Join,
        now: Millis,
    ) -> Result<(JoinOutcome, Effects), StoreError> {
        let priority = join.priority.to_string();
        self.run(
            &self.scripts.join,
            unit,
            now,
            &[&join.queue, &join.call, &join.caller, &join.node, &priority],
        )
        .await
    }

    async fn leave(
        &self,
        unit: &str,
        call: &str,
        reason: LeaveReason,
        now: Millis,
    ) -> Result<(Vec<(String, String)>, Effects), StoreError> {
        let reason = match reason {
            LeaveReason::Abandon => "abandon",
            LeaveReason::ExitKey => "exit_key",
            LeaveReason::Failure => "failure",
        };
        let (offers, fx): (Offers, Effects) = self
            .run(&self.scripts.leave, unit, now, &[call, reason])
            .await?;
        Ok((offers.offers, fx))
    }

    async fn offer_answered(
        &self,
        unit: &str,
        reservation: &str,
        now: Millis,
    ) -> Result<(Option<(String, String)>, Effects), StoreError> {
        let (answered, fx): (Answered, Effects) = self
            .run(&self.scripts.answered, unit, now, &[reservation])
            .await?;
        let pair = match (answered.answered, answered.call, answered.agent) {
            (true, Some(call), Some(agent)) => Some((call, agent)),
            _ => None,
        };
        Ok((pair, fx))
    }

    async fn offer_failed(
        &self,
        unit: &str,
        reservation: &str,
        failure: OfferFailure,
        now: Millis,
    ) -> Result<Effects, StoreError> {
        let (_, fx): (bool, Effects) = self
            .run(
                &self.scripts.failed,
                unit,
                now,
                &[reservation, failure_name(failure)],
            )
            .await?;
        Ok(fx)
    }

    async fn call_ended(
        &self,
        unit: &str,
        agent: &str,
        call: &str,
        by_agent: bool,
        now: Millis,
    ) -> Result<Effects, StoreError> {
        let by = if by_agent { "1" } else { "0" };
        let (_, fx): (bool, Effects) = self
            .run(&self.scripts.ended, unit, now, &[agent, call, by])
            .await?;
        Ok(fx)
    }

    async fn login(&self, unit: &str, agent: &str, now: Millis) -> Result<Effects, StoreError> {
        self.agent_op(unit, agent, "login", "", now).await
    }

    async fn logout(&self, unit: &str, agent: &str, now: Millis) -> Result<Effects, StoreError> {
        self.agent_op(unit, agent, "logout", "", now).await
    }

    async fn pause(
        &self,
        unit: &str,
        agent: &str,
        reason: &str,
        now: Millis,
    ) -> Result<Effects, StoreError> {
        self.agent_op(unit, agent, "pause", reason, now).await
    }

    async fn unpause(&self, unit: &str, agent: &str, now: Millis) -> Result<Effects, StoreError> {
        self.agent_op(unit, agent, "unpause", "", now).await
    }

    async fn tick(&self, unit: &str, now: Millis) -> Result<(Option<Millis>, Effects), StoreError> {
        let (_, fx): (bool, Effects) = self.run(&self.scripts.tick, unit, now, &[]).await?;
        Ok((fx.next_tick, fx))
    }

    async fn reap_node(&self, unit: &str, node: &str, now: Millis) -> Result<Effects, StoreError> {
        let (_, fx): (bool, Effects) = self.run(&self.scripts.reap, unit, now, &[node]).await?;
        Ok(fx)
    }

    async fn position(&self, unit: &str, call: &str) -> Result<Option<Position>, StoreError> {
        let keys = self.keys(unit)?;
        let reply = self
            .invoke(
                &self.scripts.position,
                &keys,
                &[unit.to_string(), "0".into(), call.to_string()],
            )
            .await?;
        serde_json::from_str(&reply).map_err(|e| StoreError::Protocol(e.to_string()))
    }

    async fn snapshot(&self, unit: &str) -> Result<Snapshot, StoreError> {
        let keys = self.keys(unit)?;
        let reply = self
            .invoke(
                &self.scripts.snapshot,
                &keys,
                &[unit.to_string(), "0".into()],
            )
            .await?;
        serde_json::from_str(&arrays(&reply))
            .map_err(|e| StoreError::Protocol(format!("{e}: {reply}")))
    }

    async fn events(
        &self,
        unit: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LoggedEvent>, StoreError> {
        if let Some(id) = after {
            // A stream id is `<ms>-<seq>`; anything else would be a Redis error.
            let valid = id.split_once('-').is_some_and(|(ms, seq)| {
                !ms.is_empty()
                    && !seq.is_empty()
                    && ms.bytes().chain(seq.bytes()).all(|b| b.is_ascii_digit())
            });
            if !valid {
                return Err(StoreError::Invalid(format!("no event id {id:?}")));
            }
        }
        let start = after.map_or_else(|| "-".to_string(), |id| format!("({id}"));
        let entries: Vec<(String, Vec<String>)> = self
            .query(
                redis::cmd("XRANGE")
                    .arg(format!("cc:{{{unit}}}:events"))
                    .arg(start)
                    .arg("+")
                    .arg("COUNT")
                    .arg(limit),
            )
            .await?;
        entries
            .into_iter()
            .map(|(id, fields)| {
                let json = fields
                    .chunks(2)
                    .find(|pair| pair.first().map(String::as_str) == Some("event"))
                    .and_then(|pair| pair.get(1))
                    .ok_or_else(|| StoreError::Protocol(format!("event {id} has no body")))?;
                let event: QueueEvent = serde_json::from_str(&arrays(json))
                    .map_err(|e| StoreError::Protocol(format!("{e}: {json}")))?;
                Ok(LoggedEvent { id, event })
            })
            .collect()
    }
}
