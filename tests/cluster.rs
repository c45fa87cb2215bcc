//! The cluster: Kamailio (the project's kamailio.cfg) in front of two
//! nodes. Calls from the telephony platform's trunk are spread over the
//! nodes and fail over from a dead one; agents register with digest
//! credentials from PostgreSQL, and the nodes reach them through Kamailio.

use std::time::Duration;

use cc_media::Law;
use cc_tests::baresip::Baresip;
use cc_tests::kamailio::{Kamailio, KamailioPorts, DOMAIN};
use cc_tests::node::{Node, NodeOptions};
use cc_tests::ports::free_port;
use cc_tests::redis::RedisServer;
use cc_tests::rtp::RtpEndpoint;
use cc_tests::scenarios::{self, Codec, Ending, Then};
use cc_tests::sipp::SippResult;
use cc_tests::wait_until;
use cc_tests::Sipp;

fn finished(result: SippResult, label: &str, kamailio: &Kamailio) {
    assert!(
        result.success,
        "{label} failed:\n{}\n{}\nkamailio log:\n{}",
        result.errors,
        result.screen,
        kamailio.log()
    );
}

fn repository() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Two nodes with `options`, their outgoing calls through Kamailio at `ports`.
fn two_nodes(ports: KamailioPorts, options: impl Fn() -> NodeOptions) -> (Node, Node) {
    let start = |name: &str| {
        let mut o = options();
        o.env
            .push(("CC__SIP__OUTBOUND_PROXY".into(), ports.sip_addr()));
        Node::start(name, o)
    };
    (start("node-a"), start("node-b"))
}

/// `count` callers from the platform's trunk to `number`, `rate` a second;
/// the node hangs up on each.
fn trunk_callers(ports: KamailioPorts, number: &str, count: u32, rate: u32) -> (Sipp, RtpEndpoint) {
    trunk_callers_ending_within(ports, number, count, rate, 30)
}

/// [`trunk_callers`] whose calls must be ended by the other side within
/// `seconds` of being answered.
fn trunk_callers_ending_within(
    ports: KamailioPorts,
    number: &str,
    count: u32,
    rate: u32,
    seconds: u32,
) -> (Sipp, RtpEndpoint) {
    let rtp = RtpEndpoint::start(true);
    let port = rtp.port.to_string();
    let scenario = scenarios::caller(Codec::Pcmu, &[], Ending::NodeHangsUp).replace(
        r#"request="BYE" timeout="30000""#,
        &format!(r#"request="BYE" timeout="{}""#, seconds * 1000),
    );
    let sipp = Sipp::start_xml_on(
        ports.trunk,
        &ports.sip_addr(),
        &scenario,
        &[
            "-s",
            number,
            "-key",
            "rtp_ip",
            "127.0.0.1",
            "-key",
            "rtp_port",
            &port,
            "-m",
            &count.to_string(),
            "-r",
            &rate.to_string(),
            "-l",
            &count.to_string(),
            // The whole run's limit, past the harness's 60 s.
            "-timeout",
            &format!("{}s", 60 + seconds),
        ],
    );
    (sipp, rtp)
}

#[test]
fn calls_from_the_trunk_are_spread_over_both_nodes_and_answered() {
    let ports = KamailioPorts::choose();
    let (a, b) = two_nodes(ports, cc_tests::units::welcome_only);
    let kamailio = Kamailio::start(ports, &[a.sip_port, b.sip_port]);
    let (callers, _rtp) = trunk_callers(ports, "4102", 20, 10);
    finished(callers.wait(Duration::from_secs(60)), "callers", &kamailio);
    wait_until("every record is written", Duration::from_secs(5), || {
        a.records().len() + b.records().len() == 20
    });
    let (on_a, on_b) = (a.records().len(), b.records().len());
    assert_eq!(on_a + on_b, 20);
    assert!(
        on_a >= 5 && on_b >= 5,
        "spread over both nodes: {on_a} and {on_b}"
    );
    assert_eq!(kamailio.metric("kamailio_cc_node_invites_total"), 20.0);
}

#[test]
fn a_killed_node_costs_no_new_call() {
    let ports = KamailioPorts::choose();
    let (mut a, b) = two_nodes(ports, cc_tests::units::welcome_only);
    let kamailio = Kamailio::start(ports, &[a.sip_port, b.sip_port]);
    a.kill();
    // Every call is answered: the ones sent to the dead node time out there
    // and go to the other inside the same transaction; then the dead node
    // is marked down and gets none.
    let (callers, _rtp) = trunk_callers(ports, "4102", 10, 5);
    finished(callers.wait(Duration::from_secs(60)), "callers", &kamailio);
    assert_eq!(b.wait_records(10, Duration::from_secs(5)).len(), 10);
    assert!(kamailio.metric("kamailio_cc_node_failovers_total") >= 1.0);
    let up = kamailio.metric(&format!(
        "kamailio_cc_node_up{{node=\"sip:127.0.0.1:{}\"}}",
        a.sip_port
    ));
    assert_eq!(up, 0.0, "the dead node is marked down");
}

/// Unit `help` on 4200: queue `desk` of `agents` (`(id, uri)`, offered in
/// this order by round robin), music on hold, hang-up when it ends.
fn queue_unit(agents: &[(&str, String)]) -> NodeOptions {
    let specs: String = agents
        .iter()
        .map(|(id, uri)| {
            format!("  - {{ id: {id}, name: {id}, uri: \"{uri}\", endpoint: microsip }}\n")
        })
        .collect();
    let members: Vec<&str> = agents.iter().map(|(id, _)| *id).collect();
    NodeOptions {
        units: vec![(
            "help.yaml".into(),
            format!(
                "unit: help\nname: Help desk\nservice_numbers: [\"4200\"]\ntimezone: Europe/Madrid\n\
                 prompts:\n  moh: moh.wav\n\
                 agents:\n{specs}\
                 queues:\n  desk: {{ agents: [{members}], strategy: round_robin, ring_timeout: 5s, max_wait: 60s, music_on_hold: moh }}\n\
                 flow:\n  start: wait\n  steps:\n    wait:\n      queue: {{ queue: desk, on_no_agents: bye, on_timeout: bye, on_failure: bye }}\n    bye:\n      hangup: {{}}\n",
                members = members.join(", ")
            ),
        )],
        prompts: vec![("help".into(), "moh".into(), 2000)],
        env: vec![],
    }
}

/// The unit of the agent tests: bob then anna, both Kamailio accounts.
fn help_desk() -> NodeOptions {
    queue_unit(&[
        ("bob", format!("sip:bob@{DOMAIN}")),
        ("anna", format!("sip:anna@{DOMAIN}")),
    ])
}

/// `options` with the ACD in `redis`.
fn shared(mut options: NodeOptions, redis: &RedisServer) -> NodeOptions {
    options.env.push(("CC__ACD__STORE".into(), "redis".into()));
    options.env.push(("CC__REDIS__URL".into(), redis.url()));
    options
}

/// Agents `names` of the domain, each a subscriber with password
/// `<name>-secret`, all registered with the one SIPp that plays their
/// phones (answers after `ring_ms`, talks `talk_ms`).
fn agent_phones(
    kamailio: &Kamailio,
    names: &[&str],
    ring_ms: u32,
    talk_ms: u32,
) -> (Sipp, RtpEndpoint) {
    let rtp = RtpEndpoint::start(true);
    let port = free_port();
    let phones = Sipp::start_xml_on(
        port,
        &kamailio.ports.sip_addr(),
        &scenarios::agent_phone(ring_ms, talk_ms),
        &[
            "-key",
            "rtp_ip",
            "127.0.0.1",
            "-key",
            "rtp_port",
            &rtp.port.to_string(),
            "-m",
            "100000",
        ],
    );
    for name in names {
        let password = format!("{name}-secret");
        kamailio.add_subscriber(name, &password);
        let registered = Sipp::start_xml(
            &kamailio.ports.sip_addr(),
            &scenarios::register(name, DOMAIN, port, true),
            &["-au", name, "-ap", &password, "-m", "1"],
        );
        finished(
            registered.wait(Duration::from_secs(10)),
            &format!("{name} registers"),
            kamailio,
        );
    }
    (phones, rtp)
}

fn log_in(node: &Node, names: &[&str]) {
    for name in names {
        let (status, body) = node
            .http_post(&format!("/units/help/agents/{name}/login"))
            .unwrap();
        assert_eq!(status, 200, "{body}");
    }
}

/// Each agent's state as a node reports it.
fn agent_states(node: &Node) -> Vec<(String, String)> {
    let (_, body) = node.http_get("/units/help/agents").unwrap();
    let agents: serde_json::Value = serde_json::from_str(&body).unwrap();
    agents["agents"]
        .as_array()
        .unwrap_or_else(|| panic!("agents: {body}"))
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap_or_default().to_string(),
                a["state"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn domain_agents(names: &[&str]) -> Vec<(&'static str, String)> {
    names
        .iter()
        .map(|n| {
            (
                &*Box::leak(n.to_string().into_boxed_str()),
                format!("sip:{n}@{DOMAIN}"),
            )
        })
        .collect()
}

const FOUR: [&str; 4] = ["ag1", "ag2", "ag3", "ag4"];

#[test]
fn every_caller_is_answered_by_an_agent_registered_through_kamailio_on_both_nodes() {
    let redis = RedisServer::start();
    let ports = KamailioPorts::choose();
    let (a, b) = two_nodes(ports, || shared(queue_unit(&domain_agents(&FOUR)), &redis));
    let kamailio = Kamailio::start(ports, &[a.sip_port, b.sip_port]);
    let (phones, _agent_rtp) = agent_phones(&kamailio, &FOUR, 200, 1000);
    log_in(&a, &FOUR);

    let (callers, _rtp) = trunk_callers(ports, "4200", 20, 5);
    finished(callers.wait(Duration::from_secs(90)), "callers", &kamailio);
    wait_until("every record is written", Duration::from_secs(10), || {
        a.records().len() + b.records().len() == 20
    });
    let (on_a, on_b) = (a.records(), b.records());
    assert!(
        on_a.len() >= 4 && on_b.len() >= 4,
        "callers spread over both nodes: {} and {}",
        on_a.len(),
        on_b.len()
    );
    for record in on_a.iter().chain(&on_b) {
        let agent = record["agent"].as_str().unwrap_or_default();
        assert!(FOUR.contains(&agent), "answered by an agent: {record}");
    }
    finished(
        phones.stop(Duration::from_secs(30)),
        "agents' phones",
        &kamailio,
    );
    assert!(
        agent_states(&b)
            .iter()
            .all(|(_, state)| state == "available"),
        "{:?}",
        agent_states(&b)
    );
}

#[test]
fn a_node_killed_under_queue_load_costs_no_new_call_and_strands_no_agent() {
    let redis = RedisServer::start();
    let ports = KamailioPorts::choose();
    let (mut a, b) = two_nodes(ports, || shared(queue_unit(&domain_agents(&FOUR)), &redis));
    let kamailio = Kamailio::start(ports, &[a.sip_port, b.sip_port]);
    let (phones, _agent_rtp) = agent_phones(&kamailio, &FOUR, 200, 2000);
    log_in(&a, &FOUR);

    // Calls on both nodes, talking and waiting, when node A dies; more
    // calls come after. Every one must end well: the new ones go to B and
    // reach an agent; the ones A held are ended by Kamailio, whose
    // keep-alive (30 s) finds A gone and sends BYE to both sides.
    let (callers, _rtp) = trunk_callers_ending_within(ports, "4200", 30, 4, 60);
    wait_until("node A holds calls", Duration::from_secs(10), || {
        a.http_get("/health")
            .is_some_and(|(_, h)| !h.contains("\"active_calls\":0"))
    });
    std::thread::sleep(Duration::from_secs(1));
    a.kill();
    finished(callers.wait(Duration::from_secs(120)), "callers", &kamailio);
    wait_until("Kamailio holds no call", Duration::from_secs(45), || {
        kamailio.metric("kamailio_dialog_active_dialogs") == 0.0
    });
    // A's state is reaped by B: no caller of A's left queued, every agent
    // free again (none stuck reserved or on a call of the dead node).
    wait_until("every agent is available", Duration::from_secs(20), || {
        agent_states(&b)
            .iter()
            .all(|(_, state)| state == "available")
    });
    let (_, snapshot) = b.http_get("/units/help/agents").unwrap();
    assert!(
        snapshot.contains("\"waiting\":0"),
        "nobody left queued: {snapshot}"
    );
    let answered_on_b = b
        .records()
        .iter()
        .filter(|r| r["agent"].is_string())
        .count();
    assert!(
        answered_on_b >= 15,
        "the calls after the kill reached agents through B: {answered_on_b}"
    );
    let _ = phones.stop(Duration::from_secs(30));
}

#[test]
fn draining_a_node_under_load_fails_no_call() {
    let redis = RedisServer::start();
    let ports = KamailioPorts::choose();
    let (a, b) = two_nodes(ports, || shared(queue_unit(&domain_agents(&FOUR)), &redis));
    let kamailio = Kamailio::start(ports, &[a.sip_port, b.sip_port]);
    let (phones, _agent_rtp) = agent_phones(&kamailio, &FOUR, 200, 1500);
    log_in(&a, &FOUR);

    let (callers, _rtp) = trunk_callers(ports, "4200", 30, 5);
    wait_until("node A holds calls", Duration::from_secs(10), || {
        a.http_get("/health")
            .is_some_and(|(_, h)| !h.contains("\"active_calls\":0"))
    });
    // The documented operation: out of every Kamailio's dispatcher, then
    // the node refuses new calls, then wait until its calls are over.
    let node_a_sip = format!("127.0.0.1:{}", a.sip_port);
    let drain = std::process::Command::new("bash")
        .arg(repository().join("scripts/drain-node.sh"))
        .args([
            "drain",
            &node_a_sip,
            &format!("127.0.0.1:{}", a.http_port),
            &format!("127.0.0.1:{}", ports.http),
        ])
        .env("DRAIN_TIMEOUT", "60")
        .output()
        .unwrap();
    assert!(
        drain.status.success(),
        "drain: {}",
        String::from_utf8_lossy(&drain.stderr)
    );
    let (_, health) = a.http_get("/health").unwrap();
    assert!(health.contains("\"active_calls\":0"), "{health}");
    let sent_to_a = kamailio.metric(&format!(
        "kamailio_cc_node_invites_total{{node=\"sip:{node_a_sip}\"}}"
    ));

    finished(callers.wait(Duration::from_secs(90)), "callers", &kamailio);
    wait_until("every record is written", Duration::from_secs(10), || {
        a.records().len() + b.records().len() == 30
    });
    assert!(
        a.records()
            .iter()
            .chain(&b.records())
            .all(|r| r["agent"].is_string()),
        "every caller reached an agent"
    );
    assert_eq!(
        kamailio.metric(&format!(
            "kamailio_cc_node_invites_total{{node=\"sip:{node_a_sip}\"}}"
        )),
        sent_to_a,
        "a drained node gets no new call"
    );

    // Back in: the node takes calls again.
    let undrain = std::process::Command::new("bash")
        .arg(repository().join("scripts/drain-node.sh"))
        .args([
            "undrain",
            &node_a_sip,
            &format!("127.0.0.1:{}", a.http_port),
            &format!("127.0.0.1:{}", ports.http),
        ])
        .output()
        .unwrap();
    assert!(
        undrain.status.success(),
        "undrain: {}",
        String::from_utf8_lossy(&undrain.stderr)
    );
    let (more, _rtp_more) = trunk_callers(ports, "4200", 6, 3);
    finished(
        more.wait(Duration::from_secs(60)),
        "callers after undrain",
        &kamailio,
    );
    assert!(
        kamailio.metric(&format!(
            "kamailio_cc_node_invites_total{{node=\"sip:{node_a_sip}\"}}"
        )) > sent_to_a,
        "the node is back in the dispatcher"
    );
    finished(
        phones.stop(Duration::from_secs(30)),
        "agents' phones",
        &kamailio,
    );
}

#[test]
fn a_desk_phone_agent_is_reached_through_the_platforms_gateway() {
    let ports = KamailioPorts::choose();
    // Pau has no account here: his desk phone is line 2001 of the
    // university's platform, reached through its gateway.
    let (a, b) = two_nodes(ports, || {
        let mut o = queue_unit(&[("pau", "sip:2001@pbx.university.example".to_string())]);
        o.units[0].1 = o.units[0]
            .1
            .replace("endpoint: microsip", "endpoint: desk_phone");
        o
    });
    let kamailio = Kamailio::start(ports, &[a.sip_port, b.sip_port]);
    let agent_rtp = RtpEndpoint::start(true);
    let gateway = Sipp::start_xml_on(
        ports.gateway,
        &ports.sip_addr(),
        &scenarios::callee(Some(1000)),
        &[
            "-key",
            "rtp_ip",
            "127.0.0.1",
            "-key",
            "rtp_port",
            &agent_rtp.port.to_string(),
            "-m",
            "1",
        ],
    );
    // Each node keeps its agents in memory here: log pau in on both.
    log_in(&a, &["pau"]);
    log_in(&b, &["pau"]);
    let (caller, _rtp) = trunk_callers(ports, "4200", 1, 1);
    finished(
        caller.wait(Duration::from_secs(30)),
        "the caller",
        &kamailio,
    );
    let gateway = gateway.wait(Duration::from_secs(10));
    assert_eq!(
        gateway.received("INVITE sip:2001@pbx.university.example", ""),
        1,
        "the gateway is asked for line 2001:\n{}",
        gateway.messages
    );
    finished(gateway, "the gateway", &kamailio);
    wait_until("the record is written", Duration::from_secs(5), || {
        a.records().len() + b.records().len() == 1
    });
    let record = a.records().into_iter().chain(b.records()).next().unwrap();
    assert_eq!(record["agent"], "pau", "{record}");
}

#[test]
fn agents_register_with_their_password_and_an_unregistered_one_is_skipped() {
    let redis = RedisServer::start();
    let ports = KamailioPorts::choose();
    let (a, b) = two_nodes(ports, || shared(help_desk(), &redis));
    let kamailio = Kamailio::start(ports, &[a.sip_port, b.sip_port]);
    kamailio.add_subscriber("anna", "anna-secret");
    kamailio.add_subscriber("bob", "bob-secret");

    // Anna's phone: answers, talks a second, hangs up.
    let anna_port = free_port();
    let agent_rtp = RtpEndpoint::start(true);
    let anna = Sipp::start_xml_on(
        anna_port,
        &ports.sip_addr(),
        &scenarios::callee(Some(1000)),
        &[
            "-key",
            "rtp_ip",
            "127.0.0.1",
            "-key",
            "rtp_port",
            &agent_rtp.port.to_string(),
            "-m",
            "1",
        ],
    );
    let registered = Sipp::start_xml(
        &ports.sip_addr(),
        &scenarios::register("anna", DOMAIN, anna_port, true),
        &["-au", "anna", "-ap", "anna-secret", "-m", "1"],
    );
    finished(
        registered.wait(Duration::from_secs(10)),
        "anna registers",
        &kamailio,
    );
    // Bob gets his password wrong: refused, not registered.
    let refused = Sipp::start_xml(
        &ports.sip_addr(),
        &scenarios::register("bob", DOMAIN, free_port(), false),
        &["-au", "bob", "-ap", "not-bob-secret", "-m", "1"],
    );
    finished(
        refused.wait(Duration::from_secs(10)),
        "bob is refused",
        &kamailio,
    );
    assert_eq!(kamailio.registered(), ["anna"]);
    assert!(kamailio.metric("kamailio_cc_refused_total{reason=\"credentials\"}") >= 1.0);

    for agent in ["anna", "bob"] {
        let (status, body) = a
            .http_post(&format!("/units/help/agents/{agent}/login"))
            .unwrap();
        assert_eq!(status, 200, "{body}");
    }
    // Round robin offers bob first: Kamailio has no phone for him (480),
    // which is a missed offer, and the caller goes to anna.
    let (caller, _rtp) = trunk_callers(ports, "4200", 1, 1);
    finished(
        caller.wait(Duration::from_secs(30)),
        "the caller",
        &kamailio,
    );
    finished(anna.wait(Duration::from_secs(10)), "anna", &kamailio);
    let (_, log) = a.http_get("/units/help/queue-log?format=text").unwrap();
    let events: Vec<(String, String)> = log
        .lines()
        .filter_map(|l| {
            let fields: Vec<&str> = l.split('|').collect();
            Some((fields.get(3)?.to_string(), fields.get(4)?.to_string()))
        })
        .filter(|(_, event)| event == "RINGNOANSWER" || event == "CONNECT")
        .collect();
    assert_eq!(
        events,
        [
            ("bob".to_string(), "RINGNOANSWER".to_string()),
            ("anna".into(), "CONNECT".into())
        ],
        "{log}"
    );
    wait_until("both records are written", Duration::from_secs(5), || {
        a.records().len() + b.records().len() == 1
    });
    let record = a.records().into_iter().chain(b.records()).next().unwrap();
    assert_eq!(record["agent"], "anna", "{record}");
}

#[test]
fn callers_that_are_neither_the_trunk_nor_a_user_are_refused() {
    let ports = KamailioPorts::choose();
    let (a, b) = two_nodes(ports, cc_tests::units::welcome_only);
    let kamailio = Kamailio::start(ports, &[a.sip_port, b.sip_port]);
    // A stranger: another domain, not the trunk's address.
    let stranger = Sipp::start_xml(
        &ports.sip_addr(),
        &scenarios::refused_caller("sip:mallory@example.com", 403),
        &["-s", "4102", "-m", "1"],
    );
    finished(
        stranger.wait(Duration::from_secs(10)),
        "the stranger",
        &kamailio,
    );
    // Someone claiming to be a user of the domain must prove it.
    let claimant = Sipp::start_xml(
        &ports.sip_addr(),
        &scenarios::refused_caller(&format!("sip:anna@{DOMAIN}"), 407),
        &["-s", "4102", "-m", "1"],
    );
    finished(
        claimant.wait(Duration::from_secs(10)),
        "the claimant",
        &kamailio,
    );
    assert_eq!(
        a.records().len() + b.records().len(),
        0,
        "no call reached a node"
    );
    assert_eq!(
        kamailio.metric("kamailio_cc_refused_total{reason=\"caller\"}"),
        1.0
    );
}

#[test]
fn a_baresip_softphone_agent_talks_with_a_caller_both_ways() {
    let redis = RedisServer::start();
    let ports = KamailioPorts::choose();
    let (a, b) = two_nodes(ports, || {
        shared(queue_unit(&domain_agents(&["anna"])), &redis)
    });
    let kamailio = Kamailio::start(ports, &[a.sip_port, b.sip_port]);
    kamailio.add_subscriber("anna", "anna-secret");

    // Anna's softphone says the "anna speaks" test prompt in every call.
    let voice = cc_tests::node::temp_dir("anna-voice").join("anna.wav");
    cc_tests::prompts::write(&voice, "anna speaks", 120_000);
    let anna = Baresip::start("anna", "anna-secret", DOMAIN, &ports.sip_addr(), &voice);
    assert!(
        anna.wait_registered(Duration::from_secs(10)),
        "baresip registers:\n{}",
        anna.log()
    );
    assert_eq!(kamailio.registered(), ["anna"]);
    log_in(&a, &["anna"]);

    // The caller talks (a steady PCMU stream of 0x55) for 4 s, then hangs up.
    let rtp = RtpEndpoint::start(true);
    let caller = Sipp::start_xml_on(
        ports.trunk,
        &ports.sip_addr(),
        &scenarios::caller(Codec::Pcmu, &[Then::Pause(4000)], Ending::CallerHangsUp),
        &[
            "-s",
            "4200",
            "-key",
            "rtp_ip",
            "127.0.0.1",
            "-key",
            "rtp_port",
            &rtp.port.to_string(),
            "-m",
            "1",
        ],
    );
    finished(
        caller.wait(Duration::from_secs(30)),
        "the caller",
        &kamailio,
    );
    assert_eq!(anna.established_calls(), 1, "{}", anna.log());

    // Anna's voice reached the caller: whole 20 ms frames of her prompt,
    // byte for byte as her phone encoded them.
    let spoken = cc_tests::prompts::encoded("anna speaks", 120_000, Law::Mu);
    let heard = rtp
        .packets()
        .iter()
        .filter(|p| p.payload.len() == 160 && spoken.windows(160).any(|w| w == p.payload))
        .count();
    assert!(
        heard >= 50,
        "the caller heard {heard} frames of anna's voice"
    );

    // The caller's stream reached anna: her recording holds the decoded
    // 0x55 level for seconds, not silence.
    let level = Law::Mu.decode(0x55);
    let received = anna.received_audio();
    let of_caller = received.iter().filter(|s| **s == level).count();
    assert!(
        of_caller >= 8000 * 2,
        "anna heard {of_caller} samples of the caller ({} recorded)",
        received.len()
    );
    wait_until("the record is written", Duration::from_secs(5), || {
        a.records().len() + b.records().len() == 1
    });
}
