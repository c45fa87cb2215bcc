//! The ACD task: the node's [`cc_acd::Acd`] behind a channel.
//!
//! Matching is event-driven: after every change (a caller joins, an agent's
//! offer fails, a call ends) the task asks the ACD for the offers it can make
//! and sends each to the call that holds the caller. The timer runs wrap-ups
//! and maximum waits.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cc_acd::{Acd, JoinError, QueueConfig};
use tokio::sync::{mpsc, oneshot};

use crate::call::{CallInput, CallSender};
use crate::metrics::{Metrics, UnitQueue};
use crate::units::Directory;

pub enum AcdCommand {
    Join {
        call: String,
        queue: String,
        owner: CallSender,
        reply: oneshot::Sender<Result<usize, JoinError>>,
    },
    Leave { call: String },
    Answered { call: String, agent: String },
    NotAnswered { call: String, agent: String },
    CallEnded { agent: String, queue: String },
}

#[derive(Clone)]
pub struct AcdHandle {
    commands: mpsc::Sender<AcdCommand>,
}

impl AcdHandle {
    pub async fn join(&self, call: &str, queue: &str, owner: CallSender) -> Result<usize, JoinError> {
        let (reply, answer) = oneshot::channel();
        let _ = self
            .commands
            .send(AcdCommand::Join {
                call: call.into(),
                queue: queue.into(),
                owner,
                reply,
            })
            .await;
        answer.await.unwrap_or(Err(JoinError::UnknownQueue(queue.into())))
    }

    pub async fn send(&self, command: AcdCommand) {
        let _ = self.commands.send(command).await;
    }
}

/// The ACD key of a unit's queue.
pub fn queue_key(unit: &str, queue: &str) -> String {
    format!("{unit}/{queue}")
}

/// The ACD key of a unit's agent.
pub fn agent_key(unit: &str, agent: &str) -> String {
    format!("{unit}/{agent}")
}

pub fn start(directory: &Directory, metrics: Arc<Metrics>) -> AcdHandle {
    let now = Instant::now();
    let mut acd = Acd::new();
    for runtime in directory.units() {
        let unit = runtime.id();
        for (name, spec) in &runtime.unit.document.queues {
            acd.configure_queue(
                now,
                &queue_key(unit, name),
                QueueConfig {
                    agents: spec.agents.iter().map(|a| agent_key(unit, a)).collect(),
                    strategy: spec.strategy,
                    ring_timeout: spec.ring_timeout,
                    max_wait: spec.max_wait,
                    wrap_up: spec.wrap_up,
                },
            );
        }
    }
    let (commands, receiver) = mpsc::channel(4096);
    tokio::spawn(run(acd, receiver, metrics));
    AcdHandle { commands }
}

async fn run(mut acd: Acd, mut commands: mpsc::Receiver<AcdCommand>, metrics: Arc<Metrics>) {
    let mut owners: HashMap<String, (CallSender, String)> = HashMap::new();
    loop {
        let deadline = acd.poll_timeout();
        tokio::select! {
            command = commands.recv() => {
                let Some(command) = command else { return };
                let now = Instant::now();
                match command {
                    AcdCommand::Join { call, queue, owner, reply } => {
                        let result = acd.join(now, &call, &queue);
                        if result.is_ok() {
                            owners.insert(call, (owner, queue));
                        }
                        let _ = reply.send(result);
                    }
                    AcdCommand::Leave { call } => {
                        acd.leave(now, &call);
                        owners.remove(&call);
                    }
                    AcdCommand::Answered { call, agent } => {
                        acd.answered(now, &call, &agent);
                        owners.remove(&call);
                    }
                    AcdCommand::NotAnswered { call, agent } => acd.not_answered(now, &call, &agent),
                    AcdCommand::CallEnded { agent, queue } => acd.call_ended(now, &agent, &queue),
                }
            }
            _ = sleep_until(deadline) => {
                for call in acd.handle_timeout(Instant::now()) {
                    if let Some((owner, _)) = owners.remove(&call) {
                        let _ = owner.try_send(CallInput::QueueTimeout);
                    }
                }
            }
        }
        let now = Instant::now();
        for offer in acd.match_offers(now) {
            let delivered = owners.get(&offer.call).is_some_and(|(owner, _)| {
                owner
                    .try_send(CallInput::Offer {
                        agent: offer.agent.clone(),
                        ring_timeout: offer.ring_timeout,
                    })
                    .is_ok()
            });
            if !delivered {
                acd.leave(now, &offer.call);
                owners.remove(&offer.call);
            }
        }
        report(&acd, &metrics);
    }
}

fn report(acd: &Acd, metrics: &Metrics) {
    for queue in acd.queue_names() {
        if let Some((unit, name)) = queue.split_once('/') {
            metrics
                .queue_waiting
                .get_or_create(&UnitQueue {
                    unit: unit.into(),
                    queue: name.into(),
                })
                .set(acd.waiting(queue) as i64);
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at.max(Instant::now()) + Duration::from_millis(1))).await,
        None => std::future::pending().await,
    }
}
