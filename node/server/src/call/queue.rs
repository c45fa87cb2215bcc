//! The queue step: joining the ACD, music on hold, periodic announcements
//! with the caller's position and estimated wait, offers to agents, and
//! leaving (hang-up, exit key, timeout, no agents).

use std::time::{Duration, Instant};

use cc_acd::{JoinOutcome, LeaveReason};
use cc_flow::{FlowEvent, QueueOutcome};

use super::outgoing::Purpose;
use super::{Call, OWN_TOKENS};
use crate::media::engine::MediaCommand;
use crate::metrics::WaitLabels;

/// Token of music on hold (it loops, so it never comes back as done).
const MUSIC: u64 = OWN_TOKENS;

/// The longest number the position and wait announcements speak.
const MAX_SPOKEN: u64 = 20;

/// How long after the queue's maximum wait the call gives up by itself if
/// the ACD has not timed the caller out (its store out of reach): the ACD's
/// own timeout normally comes first.
const GIVE_UP_GRACE: Duration = Duration::from_secs(10);

pub(super) struct Queued {
    name: String,
    priority: u8,
    joined_at: Instant,
    /// When the next announcement is due.
    pub(super) announce_at: Option<Instant>,
    /// The token of the announcement playing now.
    announcing: Option<u64>,
    /// When the call stops waiting for the ACD's timeout (see
    /// [`GIVE_UP_GRACE`]).
    pub(super) give_up_at: Instant,
    announcements: u64,
}

impl Call {
    fn queue_spec(&self, name: &str) -> Option<&cc_flow::document::QueueSpec> {
        self.unit.unit.document.queues.get(name)
    }

    pub(super) async fn enqueue(&mut self, name: &str, priority: u8) {
        self.record.queue = Some(name.to_string());
        let result = self
            .node
            .acd
            .join(
                &self.record.unit,
                name,
                &self.record.call_id,
                &self.record.caller,
                priority,
                self.me.clone(),
            )
            .await;
        match result {
            Ok(JoinOutcome::Queued { .. }) => {
                let announce_at = self
                    .queue_spec(name)
                    .and_then(|q| q.announce_every)
                    .map(|every| Instant::now() + every);
                let max_wait = self
                    .queue_spec(name)
                    .map_or(Duration::from_secs(600), |q| q.max_wait);
                self.queue = Some(Queued {
                    name: name.to_string(),
                    priority,
                    joined_at: Instant::now(),
                    announce_at,
                    announcing: None,
                    announcements: 0,
                    give_up_at: Instant::now() + max_wait + GIVE_UP_GRACE,
                });
                self.music_on_hold();
            }
            Ok(JoinOutcome::NoAgents) => self
                .pending
                .push_back(FlowEvent::Queue(QueueOutcome::NoAgents)),
            Ok(JoinOutcome::Full) => self.pending.push_back(FlowEvent::Queue(QueueOutcome::Full)),
            Ok(JoinOutcome::UnknownQueue) => {
                // The store does not know the queue (its state lost and not
                // yet written again): the failure branch, as when it is out
                // of reach.
                self.node.metrics.acd_failures.inc();
                self.pending
                    .push_back(FlowEvent::Queue(QueueOutcome::Failed));
            }
            Err(e) => {
                // The shared state is out of reach: the step's failure branch
                // (voicemail, say) rather than dead air.
                tracing::warn!(call = %self.record.call_id, error = %e, "cannot join the queue");
                self.node.metrics.acd_failures.inc();
                self.pending
                    .push_back(FlowEvent::Queue(QueueOutcome::Failed));
            }
        }
    }

    /// Joins the queue again after the shared state lost the caller; the
    /// caller keeps hearing music on hold, and is told nothing of it.
    pub(super) async fn requeue(&mut self) {
        let Some(queued) = &self.queue else { return };
        let (name, priority) = (queued.name.clone(), queued.priority);
        let result = self
            .node
            .acd
            .join(
                &self.record.unit,
                &name,
                &self.record.call_id,
                &self.record.caller,
                priority,
                self.me.clone(),
            )
            .await;
        match result {
            Ok(JoinOutcome::Queued { .. }) => {}
            Ok(JoinOutcome::NoAgents) => self.queue_ended(QueueOutcome::NoAgents, "no_agents"),
            Ok(JoinOutcome::Full) => self.queue_ended(QueueOutcome::Full, "full"),
            Ok(JoinOutcome::UnknownQueue) | Err(_) => {
                self.node.metrics.acd_failures.inc();
                self.queue_ended(QueueOutcome::Failed, "failed");
            }
        }
    }

    fn music_on_hold(&mut self) {
        let Some(queue) = &self.queue else { return };
        let moh = self
            .queue_spec(&queue.name)
            .and_then(|q| q.music_on_hold.clone());
        match moh {
            Some(prompt) => self.play_looping(MUSIC, &[prompt], true),
            None => self.node.media.send(MediaCommand::Stop {
                leg: self.caller.leg,
            }),
        }
    }

    /// Plays the queue's announcement, then the caller's position and
    /// estimated wait, between stretches of music on hold.
    pub(super) async fn announce(&mut self) {
        let Some(queue) = &mut self.queue else { return };
        queue.announce_at = None;
        if queue.announcing.is_some()
            || self
                .legs
                .iter()
                .any(|l| l.state == super::outgoing::LegState::Connected)
        {
            return;
        }
        let name = queue.name.clone();
        queue.announcements += 1;
        let token = OWN_TOKENS + queue.announcements;
        let spec = self.queue_spec(&name).cloned();
        let mut prompts: Vec<String> = spec.iter().filter_map(|q| q.announce.clone()).collect();
        if spec.as_ref().is_some_and(|q| q.announce_position) {
            if let Ok(Some(position)) = self
                .node
                .acd
                .position(&self.record.unit, &self.record.call_id)
                .await
            {
                let spoken = u64::from(position.position);
                if spoken <= MAX_SPOKEN {
                    prompts.push("queue_position".into());
                    prompts.push(format!("number_{spoken}"));
                }
                if position.average_wait_ms > 0 {
                    let minutes = (position.average_wait_ms * spoken)
                        .div_ceil(60_000)
                        .clamp(1, MAX_SPOKEN);
                    prompts.extend([
                        "queue_wait".to_string(),
                        format!("number_{minutes}"),
                        "minutes".into(),
                    ]);
                }
            }
        }
        let playable = prompts.iter().any(|p| self.unit.prompt(p).is_some());
        if playable {
            if let Some(queue) = &mut self.queue {
                queue.announcing = Some(token);
            }
            self.play(token, &prompts);
        } else {
            self.schedule_announcement();
        }
    }

    pub(super) fn announcement_done(&mut self, token: u64) {
        let Some(queue) = &mut self.queue else { return };
        if queue.announcing == Some(token) {
            queue.announcing = None;
            self.music_on_hold();
            self.schedule_announcement();
        }
    }

    fn schedule_announcement(&mut self) {
        let every = self
            .queue
            .as_ref()
            .and_then(|q| self.queue_spec(&q.name))
            .and_then(|q| q.announce_every);
        if let (Some(queue), Some(every)) = (&mut self.queue, every) {
            queue.announce_at = Some(Instant::now() + every);
        }
    }

    pub(super) async fn on_offer(
        &mut self,
        agent: String,
        reservation: String,
        ring_timeout: Duration,
        offered_at: cc_acd::Millis,
    ) {
        if self
            .legs
            .iter()
            .any(|l| l.reservation() == Some(reservation.as_str()))
        {
            // Delivered twice (notice and pick-up after a reconnect).
            return;
        }
        let uri = self
            .unit
            .unit
            .document
            .agents
            .iter()
            .find(|a| a.id == agent)
            .map(|a| a.uri.clone());
        let started = match (&self.queue, uri) {
            (Some(_), Some(uri)) => {
                let purpose = Purpose::Agent {
                    id: agent.clone(),
                    reservation: reservation.clone(),
                };
                self.originate(&uri, ring_timeout, purpose).await
            }
            _ => false,
        };
        if started {
            // The agent's phone is being dialled: how long since the ACD
            // matched them (the agent freed, the caller came).
            let waited = crate::acd::now_ms().saturating_sub(offered_at);
            self.node
                .metrics
                .offer_dispatch
                .observe(waited as f64 / 1000.0);
        }
        if !started {
            let _ = self
                .node
                .acd
                .failed(
                    &self.record.unit,
                    &reservation,
                    cc_acd::OfferFailure::Unreachable,
                )
                .await;
        }
    }

    fn observe_wait(&mut self, outcome: &str) {
        if let Some(queued) = &self.queue {
            let waited = queued.joined_at.elapsed();
            self.record.queue_wait_ms = Some(waited.as_millis() as u64);
            self.node
                .metrics
                .queue_wait
                .get_or_create(&WaitLabels {
                    unit: self.record.unit.clone(),
                    queue: queued.name.clone(),
                    outcome: outcome.into(),
                })
                .observe(waited.as_secs_f64());
        }
    }

    /// An agent answered: the wait is over.
    pub(super) fn queue_answered(&mut self, agent: &str) {
        self.observe_wait("answered");
        self.queue = None;
        self.record.agent = Some(agent.to_string());
    }

    /// The queue's maximum wait is long past and the ACD said nothing (its
    /// store is out of reach): the caller takes the timeout branch rather
    /// than hear music until the store returns. The ACD is told when it can
    /// be (the leave is kept and made again).
    pub(super) async fn give_up_waiting(&mut self) {
        let ringing = self.legs.iter().any(|l| l.is_ringing());
        let Some(queued) = &mut self.queue else {
            return;
        };
        if ringing {
            // An offer runs its course; look again in a second.
            queued.give_up_at = Instant::now() + Duration::from_secs(1);
            return;
        }
        tracing::warn!(call = %self.record.call_id, "no word from the ACD past the queue's maximum wait: taking the timeout branch");
        let _ = self
            .node
            .acd
            .leave(
                &self.record.unit,
                &self.record.call_id,
                LeaveReason::Failure,
            )
            .await;
        self.queue_ended(QueueOutcome::Timeout, "timeout");
    }

    /// The ACD ended the wait (timeout, no agents left).
    pub(super) fn queue_ended(&mut self, outcome: QueueOutcome, label: &str) {
        if self.queue.is_none() {
            return;
        }
        self.observe_wait(label);
        self.queue = None;
        self.node.acd.forget(&self.record.call_id);
        self.node.media.send(MediaCommand::Stop {
            leg: self.caller.leg,
        });
        self.pending.push_back(FlowEvent::Queue(outcome));
    }

    /// The caller leaves the queue (hang-up, exit key); agents ringing for
    /// them stop.
    pub(super) async fn leave_queue(&mut self, reason: LeaveReason) {
        if self.queue.is_none() {
            return;
        }
        self.observe_wait(match reason {
            LeaveReason::Abandon => "abandoned",
            LeaveReason::ExitKey => "left",
            LeaveReason::Failure => "failed",
        });
        self.queue = None;
        self.node.media.send(MediaCommand::Stop {
            leg: self.caller.leg,
        });
        match self
            .node
            .acd
            .leave(&self.record.unit, &self.record.call_id, reason)
            .await
        {
            Ok(reservations) => self.cancel_offers(&reservations).await,
            Err(e) => {
                tracing::warn!(error = %e, "the ACD could not take a caller out of the queue")
            }
        }
        // Whatever the ACD said, no agent of ours rings for a caller who left.
        let ringing: Vec<String> = self
            .legs
            .iter()
            .filter(|l| l.is_ringing())
            .filter_map(|l| match &l.purpose {
                Purpose::Agent { reservation, .. } => Some(reservation.clone()),
                Purpose::Forward => None,
            })
            .collect();
        self.cancel_offers(&ringing).await;
    }
}
