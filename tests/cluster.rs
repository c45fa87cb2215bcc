//! The cluster: Kamailio (the project's kamailio.cfg) in front of two
//! nodes. Calls from the telephony platform's trunk are spread over the
//! nodes and fail over from a dead one; agents register with digest
//! credentials from PostgreSQL, and the nodes reach them through Kamailio.

use std::time::{Duration, Instant};

use cc_tests::kamailio::{Kamailio, KamailioPorts, DOMAIN};
use cc_tests::node::{Node, NodeOptions};
use cc_tests::ports::free_port;
use cc_tests::redis::RedisServer;
use cc_tests::rtp::RtpEndpoint;
use cc_tests::scenarios::{self, Codec, Ending};
use cc_tests::sipp::SippResult;
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

fn wait_until(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what} did not happen within {within:?}");
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
    let rtp = RtpEndpoint::start(true);
    let port = rtp.port.to_string();
    let sipp = Sipp::start_xml_on(
        ports.trunk,
        &ports.sip_addr(),
        &scenarios::caller(Codec::Pcmu, &[], Ending::NodeHangsUp),
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
    assert_eq!(b.records().len(), 10);
    assert!(kamailio.metric("kamailio_cc_node_failovers_total") >= 1.0);
    let up = kamailio.metric(&format!(
        "kamailio_cc_node_up{{node=\"sip:127.0.0.1:{}\"}}",
        a.sip_port
    ));
    assert_eq!(up, 0.0, "the dead node is marked down");
}

/// The unit of the agent tests: number 4200, queue `desk` of bob then
/// anna (round robin, so bob is offered first), both Kamailio accounts.
fn help_desk() -> NodeOptions {
    NodeOptions {
        units: vec![(
            "help.yaml".into(),
            format!(
                "unit: help\nname: Help desk\nservice_numbers: [\"4200\"]\ntimezone: Europe/Madrid\n\
                 prompts:\n  moh: moh.wav\n\
                 agents:\n  - {{ id: anna, name: Anna, uri: \"sip:anna@{DOMAIN}\", endpoint: microsip }}\n\
                 \x20 - {{ id: bob, name: Bob, uri: \"sip:bob@{DOMAIN}\", endpoint: microsip }}\n\
                 queues:\n  desk: {{ agents: [bob, anna], strategy: round_robin, ring_timeout: 5s, max_wait: 60s, music_on_hold: moh }}\n\
                 flow:\n  start: wait\n  steps:\n    wait:\n      queue: {{ queue: desk, on_no_agents: bye, on_timeout: bye, on_failure: bye }}\n    bye:\n      hangup: {{}}\n"
            ),
        )],
        prompts: vec![("help".into(), "moh".into(), 2000)],
        env: vec![],
    }
}

#[test]
fn agents_register_with_their_password_and_an_unregistered_one_is_skipped() {
    let redis = RedisServer::start();
    let ports = KamailioPorts::choose();
    let (a, b) = two_nodes(ports, || {
        let mut o = help_desk();
        o.env.push(("CC__ACD__STORE".into(), "redis".into()));
        o.env.push(("CC__REDIS__URL".into(), redis.url()));
        o
    });
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
