//! The node's Prometheus metrics (served on `/metrics`).
//!
//! Built with `prometheus-client`, the official Rust client, rather than the
//! `prometheus` crate the users named: that one has had one release since
//! 2023 and an open question over its maintenance (tikv/rust-prometheus#530),
//! and its default features pull protobuf. The names are documented for
//! operators in `docs/metrics.md`.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UnitOutcome {
    pub unit: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UnitLabel {
    pub unit: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UnitKind {
    pub unit: String,
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UnitQueue {
    pub unit: String,
    pub queue: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UnitState {
    pub unit: String,
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueEventLabels {
    pub unit: String,
    pub queue: String,
    pub event: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpLabel {
    pub op: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WaitLabels {
    pub unit: String,
    pub queue: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SipMethod {
    pub direction: String,
    pub method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SipCode {
    pub direction: String,
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Direction {
    pub direction: String,
}

/// Every metric of the node, cheap to clone.
pub struct Metrics {
    registry: Registry,
    pub calls: Family<UnitOutcome, Counter>,
    pub calls_active: Family<UnitLabel, Gauge>,
    pub calls_total_active: Gauge,
    pub sip_requests: Family<SipMethod, Counter>,
    pub sip_responses: Family<SipCode, Counter>,
    pub sip_retransmissions: Family<Direction, Counter>,
    pub sip_dropped: Counter,
    pub rtp_in: Counter,
    pub rtp_out: Counter,
    pub rtp_invalid: Counter,
    pub rtp_late: Counter,
    pub rtp_send_lateness: Histogram,
    pub rtp_ports_in_use: Gauge,
    pub dtmf: Family<UnitLabel, Counter>,
    pub flow_steps: Family<UnitKind, Counter>,
    pub queue_waiting: Family<UnitQueue, Gauge>,
    pub queue_longest_wait: Family<UnitQueue, Gauge<f64, AtomicU64>>,
    pub agents: Family<UnitState, Gauge>,
    pub queue_events: Family<QueueEventLabels, Counter>,
    pub acd_failures: Counter,
    pub acd_store_seconds: Family<OpLabel, Histogram>,
    pub acd_store_errors: Family<OpLabel, Counter>,
    pub offer_dispatch: Histogram,
    pub redis_commands: Counter,
    pub queue_wait: Family<WaitLabels, Histogram>,
    pub voicemails: Family<UnitLabel, Counter>,
    pub draining: Gauge,
    pub records_dropped: Counter,
    /// Forwards refused at dial time, by unit and number class (`kind`).
    pub dial_refused: Family<UnitKind, Counter>,
    /// Tags set on calls, by unit and tag (`kind`).
    pub call_tags: Family<UnitKind, Counter>,
    /// Call records copied into PostgreSQL, and bytes of them not yet.
    pub records_stored: Counter,
    pub records_spooled_bytes: Gauge,
}

fn wait_histogram() -> Histogram {
    // Sub-second buckets too: a well-staffed queue answers within one.
    Histogram::new([
        0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0,
    ])
}

impl Metrics {
    pub fn new(node: &str) -> Metrics {
        let mut registry = Registry::with_labels(
            [(
                std::borrow::Cow::Borrowed("node"),
                std::borrow::Cow::Owned(node.to_string()),
            )]
            .into_iter(),
        );
        let calls = Family::<UnitOutcome, Counter>::default();
        registry.register(
            "cc_calls",
            "Calls ended, by unit and outcome",
            calls.clone(),
        );
        let calls_active = Family::<UnitLabel, Gauge>::default();
        registry.register(
            "cc_calls_active",
            "Calls in progress, by unit",
            calls_active.clone(),
        );
        let calls_total_active = Gauge::default();
        registry.register(
            "cc_node_calls_active",
            "Calls in progress on the node",
            calls_total_active.clone(),
        );
        let sip_requests = Family::<SipMethod, Counter>::default();
        registry.register(
            "cc_sip_requests",
            "SIP requests by direction and method (retransmissions included)",
            sip_requests.clone(),
        );
        let sip_responses = Family::<SipCode, Counter>::default();
        registry.register(
            "cc_sip_responses",
            "SIP responses by direction and status code",
            sip_responses.clone(),
        );
        let sip_retransmissions = Family::<Direction, Counter>::default();
        registry.register(
            "cc_sip_retransmissions",
            "SIP messages sent again by a timer or for a repeated request",
            sip_retransmissions.clone(),
        );
        let sip_dropped = Counter::default();
        registry.register(
            "cc_sip_dropped",
            "Inbound SIP messages dropped unanswered (unparseable, no Via)",
            sip_dropped.clone(),
        );
        let rtp = Family::<Direction, Counter>::default();
        registry.register("cc_rtp_packets", "RTP packets by direction", rtp.clone());
        let rtp_in = rtp
            .get_or_create(&Direction {
                direction: "in".into(),
            })
            .clone();
        let rtp_out = rtp
            .get_or_create(&Direction {
                direction: "out".into(),
            })
            .clone();
        let rtp_invalid = Counter::default();
        registry.register(
            "cc_rtp_invalid_packets",
            "Datagrams on RTP ports that are not RTP, or not from the call",
            rtp_invalid.clone(),
        );
        let rtp_late = Counter::default();
        registry.register(
            "cc_rtp_late_packets",
            "Paced RTP packets sent more than 5 ms after their schedule",
            rtp_late.clone(),
        );
        let rtp_send_lateness = Histogram::new([0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05]);
        registry.register(
            "cc_rtp_send_lateness_seconds",
            "How late paced RTP packets leave against their 20 ms schedule",
            rtp_send_lateness.clone(),
        );
        let rtp_ports_in_use = Gauge::default();
        registry.register(
            "cc_rtp_ports_in_use",
            "RTP ports held by calls",
            rtp_ports_in_use.clone(),
        );
        let dtmf = Family::<UnitLabel, Counter>::default();
        registry.register(
            "cc_dtmf_events",
            "DTMF key presses received (RFC 4733 or SIP INFO)",
            dtmf.clone(),
        );
        let flow_steps = Family::<UnitKind, Counter>::default();
        registry.register(
            "cc_flow_steps",
            "Flow steps entered, by unit and step type",
            flow_steps.clone(),
        );
        let queue_waiting = Family::<UnitQueue, Gauge>::default();
        registry.register(
            "cc_queue_waiting",
            "Callers waiting, by unit and queue",
            queue_waiting.clone(),
        );
        let queue_longest_wait = Family::<UnitQueue, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "cc_queue_longest_wait_seconds",
            "How long the longest-waiting caller has waited, by unit and queue",
            queue_longest_wait.clone(),
        );
        let agents = Family::<UnitState, Gauge>::default();
        registry.register("cc_agents", "Agents by unit and state", agents.clone());
        let queue_events = Family::<QueueEventLabels, Counter>::default();
        registry.register("cc_queue_events", "Queue happenings in queue_log words (ENTERQUEUE, OFFER, CONNECT, RINGNOANSWER, ABANDON, …)", queue_events.clone());
        let acd_failures = Counter::default();
        registry.register(
            "cc_acd_failures",
            "Queue steps that could not reach the ACD store and took their failure branch",
            acd_failures.clone(),
        );
        let acd_store_seconds = Family::<OpLabel, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0,
            ])
        });
        registry.register(
            "cc_acd_store_seconds",
            "Time of each ACD store operation (one Lua script with Redis), by operation",
            acd_store_seconds.clone(),
        );
        let acd_store_errors = Family::<OpLabel, Counter>::default();
        registry.register(
            "cc_acd_store_errors",
            "ACD store operations that failed (Redis unreachable, a bad reply), by operation",
            acd_store_errors.clone(),
        );
        let offer_dispatch = Histogram::new([
            0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0,
        ]);
        registry.register(
            "cc_acd_offer_dispatch_seconds",
            "From the ACD matching an agent to a caller (the agent freed, the caller came) to the INVITE to the agent leaving the caller's node",
            offer_dispatch.clone(),
        );
        let redis_commands = Counter::default();
        registry.register(
            "cc_acd_redis_commands",
            "Commands (round trips) this node sent to Redis, retries included (updated every heartbeat)",
            redis_commands.clone(),
        );
        let queue_wait = Family::<WaitLabels, Histogram>::new_with_constructor(wait_histogram);
        registry.register(
            "cc_queue_wait_seconds",
            "Time callers waited in queue, by outcome (answered, abandoned, left, timeout, no_agents, full, failed)",
            queue_wait.clone(),
        );
        let voicemails = Family::<UnitLabel, Counter>::default();
        registry.register(
            "cc_voicemails",
            "Voicemail messages stored",
            voicemails.clone(),
        );
        let draining = Gauge::default();
        registry.register(
            "cc_node_draining",
            "1 while the node refuses new calls (draining)",
            draining.clone(),
        );
        let records_dropped = Counter::default();
        registry.register(
            "cc_records_dropped",
            "Call records that could not be written",
            records_dropped.clone(),
        );
        let dial_refused = Family::<UnitKind, Counter>::default();
        registry.register(
            "cc_dial_refused",
            "Forwards refused because the number (kind: its class) is outside the unit's approved scope",
            dial_refused.clone(),
        );
        let call_tags = Family::<UnitKind, Counter>::default();
        registry.register(
            "cc_call_tags",
            "Tags set on calls (kind: the tag), by the flow or by an agent's keys",
            call_tags.clone(),
        );
        let records_stored = Counter::default();
        registry.register(
            "cc_records_stored",
            "Call records copied into PostgreSQL (with store.url)",
            records_stored.clone(),
        );
        let records_spooled_bytes = Gauge::default();
        registry.register(
            "cc_records_spooled_bytes",
            "Bytes of call records on disk not yet in PostgreSQL (grows while it is away)",
            records_spooled_bytes.clone(),
        );
        Metrics {
            registry,
            calls,
            calls_active,
            calls_total_active,
            sip_requests,
            sip_responses,
            sip_retransmissions,
            sip_dropped,
            rtp_in,
            rtp_out,
            rtp_invalid,
            rtp_late,
            rtp_send_lateness,
            rtp_ports_in_use,
            dtmf,
            flow_steps,
            queue_waiting,
            queue_longest_wait,
            agents,
            queue_events,
            acd_failures,
            acd_store_seconds,
            acd_store_errors,
            offer_dispatch,
            redis_commands,
            queue_wait,
            voicemails,
            draining,
            records_dropped,
            dial_refused,
            records_stored,
            records_spooled_bytes,
            call_tags,
        }
    }

    /// Registers the zero series of a unit so dashboards show it before its
    /// first call.
    pub fn register_unit(&self, unit: &str, queues: &[String]) {
        for outcome in cc_flow::Outcome::ALL {
            let _ = self.calls.get_or_create(&UnitOutcome {
                unit: unit.into(),
                outcome: outcome.as_str().into(),
            });
        }
        let _ = self
            .calls_active
            .get_or_create(&UnitLabel { unit: unit.into() });
        for queue in queues {
            let _ = self.queue_waiting.get_or_create(&UnitQueue {
                unit: unit.into(),
                queue: queue.clone(),
            });
        }
    }

    /// Times one ACD store operation.
    pub fn acd_store_op(&self, op: &str, took: std::time::Duration, ok: bool) {
        let label = OpLabel { op: op.into() };
        self.acd_store_seconds
            .get_or_create(&label)
            .observe(took.as_secs_f64());
        if !ok {
            self.acd_store_errors.get_or_create(&label).inc();
        }
    }

    /// Counts a queue event.
    pub fn acd_event(&self, unit: &str, queue: &str, event: &str) {
        self.queue_events
            .get_or_create(&QueueEventLabels {
                unit: unit.into(),
                queue: queue.into(),
                event: event.into(),
            })
            .inc();
    }

    pub fn sip_request(&self, direction: &str, method: &str) {
        self.sip_requests
            .get_or_create(&SipMethod {
                direction: direction.into(),
                method: method.into(),
            })
            .inc();
    }

    pub fn sip_response(&self, direction: &str, code: u16) {
        self.sip_responses
            .get_or_create(&SipCode {
                direction: direction.into(),
                code: code.to_string(),
            })
            .inc();
    }

    /// The exposition in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
