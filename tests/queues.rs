//! One ACD shared by two nodes through Redis: callers on both nodes served
//! in one global order, a dead node's callers and agents reaped by the
//! other, Redis restarting and failing over under the calls.

use std::time::{Duration, Instant};

use cc_tests::node::{Node, NodeOptions};
use cc_tests::ports::free_port;
use cc_tests::redis::{RedisCluster, RedisServer, Sentinel};
use cc_tests::rtp::RtpEndpoint;
use cc_tests::scenarios::{self, Codec, Ending, Then};
use cc_tests::sipp::SippResult;
use cc_tests::wait_until;
use cc_tests::Sipp;

/// The unit both nodes serve: number 4200, queue `desk` of anna and bob.
fn unit(anna: u16, bob: u16, strategy: &str) -> NodeOptions {
    NodeOptions {
        units: vec![(
            "help.yaml".into(),
            format!(
                "unit: help\nname: Help desk\nservice_numbers: [\"4200\"]\ntimezone: Europe/Madrid\n\
                 prompts:\n  moh: moh.wav\n  sorry: sorry.wav\n\
                 agents:\n  - {{ id: anna, name: Anna, uri: \"sip:anna@127.0.0.1:{anna}\", endpoint: microsip }}\n\
                 \x20 - {{ id: bob, name: Bob, uri: \"sip:bob@127.0.0.1:{bob}\", endpoint: desk_phone }}\n\
                 queues:\n  desk: {{ agents: [anna, bob], strategy: {strategy}, ring_timeout: 5s, max_wait: 60s, music_on_hold: moh }}\n\
                 flow:\n  start: wait\n  steps:\n    wait:\n      queue: {{ queue: desk, on_no_agents: bye, on_timeout: bye, on_failure: sorry }}\n    sorry:\n      play: {{ prompts: [sorry], next: bye }}\n    bye:\n      hangup: {{}}\n"
            ),
        )],
        prompts: vec![("help".into(), "moh".into(), 2000), ("help".into(), "sorry".into(), 1000)],
        env: vec![],
    }
}

fn start_nodes(
    redis_env: &[(String, String)],
    anna: u16,
    bob: u16,
    strategy: &str,
) -> (Node, Node) {
    let mut nodes = Vec::new();
    for name in ["a", "b"] {
        let mut options = unit(anna, bob, strategy);
        options.env = redis_env.to_vec();
        options.env.push(("CC__ACD__STORE".into(), "redis".into()));
        options
            .env
            .push(("CC__REDIS__NODE_TTL_MS".into(), "2000".into()));
        nodes.push(Node::start(&format!("node-{name}"), options));
    }
    let b = nodes.pop().unwrap();
    let a = nodes.pop().unwrap();
    (a, b)
}

fn single(redis: &RedisServer) -> Vec<(String, String)> {
    vec![("CC__REDIS__URL".into(), redis.url())]
}

fn agent(node: &Node, agent: &str, action: &str) {
    let (status, body) = node
        .http_post(&format!("/units/help/agents/{agent}/{action}"))
        .unwrap();
    assert_eq!(status, 200, "{action} {agent}: {body}");
}

fn snapshot(node: &Node) -> serde_json::Value {
    let (_, body) = node.http_get("/units/help/agents").unwrap();
    serde_json::from_str(&body).unwrap()
}

fn waiting(node: &Node) -> u64 {
    snapshot(node)["queues"][0]["waiting"].as_u64().unwrap()
}

fn agent_view(node: &Node, id: &str) -> serde_json::Value {
    snapshot(node)["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id)
        .cloned()
        .unwrap()
}

/// A caller to 4200 on `node`, tagged by the user part `who`, hanging up
/// after `stay` ms (or when the node hangs up, for `None`).
fn caller(node: &Node, who: &str, stay: Option<u32>) -> (Sipp, RtpEndpoint) {
    let rtp = RtpEndpoint::start(true);
    let xml = match stay {
        Some(ms) => scenarios::caller(Codec::Pcmu, &[Then::Pause(ms)], Ending::CallerHangsUp),
        None => scenarios::caller(Codec::Pcmu, &[], Ending::NodeHangsUp),
    }
    .replace("sip:caller[call_number]@", &format!("sip:{who}@"));
    let port = rtp.port.to_string();
    let sipp = Sipp::start_xml(
        &format!("127.0.0.1:{}", node.sip_port),
        &xml,
        &[
            "-s",
            "4200",
            "-key",
            "rtp_ip",
            "127.0.0.1",
            "-key",
            "rtp_port",
            &port,
            "-m",
            "1",
        ],
    );
    (sipp, rtp)
}

/// The records of both nodes, by caller user, with the agent and the time
/// the call ended.
fn served(nodes: &[&Node], expected: usize) -> Vec<(String, String, String)> {
    // A record is written just after the caller's BYE is answered, so the
    // caller's SIPp can exit a moment before its record is on disk.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let out = served_now(nodes);
        if out.len() >= expected || Instant::now() > deadline {
            return out;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn served_now(nodes: &[&Node]) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = nodes
        .iter()
        .flat_map(|n| n.records())
        .filter(|r| r["agent"].is_string())
        .map(|r| {
            let who = r["caller"]
                .as_str()
                .unwrap()
                .trim_start_matches("sip:")
                .split('@')
                .next()
                .unwrap()
                .to_string();
            (
                r["ended_at"].as_str().unwrap().to_string(),
                who,
                r["agent"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

fn finished(result: SippResult, label: &str, node: &Node) {
    assert!(
        result.success,
        "{label} failed:\n{}\n{}\nnode log:\n{}",
        result.errors,
        result.screen,
        node.log()
    );
}

#[test]
fn callers_on_two_nodes_are_served_in_one_global_order() {
    let redis = RedisServer::start();
    let anna_port = free_port();
    let (a, b) = start_nodes(&single(&redis), anna_port, free_port(), "longest_idle");
    let agent_rtp = RtpEndpoint::start(true);
    let anna = Sipp::start_xml_on(
        anna_port,
        &format!("127.0.0.1:{}", a.sip_port),
        &scenarios::callee(Some(1500)),
        &[
            "-key",
            "rtp_ip",
            "127.0.0.1",
            "-key",
            "rtp_port",
            &agent_rtp.port.to_string(),
            "-m",
            "3",
        ],
    );
    agent(&a, "anna", "login");
    agent(&a, "anna", "pause");
    let first = caller(&a, "first", None);
    wait_until("the first caller waits", Duration::from_secs(5), || {
        waiting(&a) == 1
    });
    let second = caller(&b, "second", None);
    wait_until("the second caller waits", Duration::from_secs(5), || {
        waiting(&a) == 2
    });
    let third = caller(&a, "third", None);
    wait_until("the third caller waits", Duration::from_secs(5), || {
        waiting(&b) == 3
    });
    // The agent comes back on node b: node a's oldest caller goes first.
    agent(&b, "anna", "unpause");
    for (sipp, label, node) in [
        (first, "first", &a),
        (second, "second", &b),
        (third, "third", &a),
    ] {
        finished(sipp.0.wait(Duration::from_secs(30)), label, node);
    }
    finished(anna.wait(Duration::from_secs(10)), "anna", &a);
    let order: Vec<String> = served(&[&a, &b], 3)
        .into_iter()
        .map(|(_, who, agent)| format!("{who}:{agent}"))
        .collect();
    assert_eq!(order, ["first:anna", "second:anna", "third:anna"]);
    assert_eq!(waiting(&b), 0);
    assert_eq!(agent_view(&b, "anna")["calls"], 3);
}

#[test]
fn a_killed_node_leaves_no_ghost_caller_and_no_stuck_agent() {
    let redis = RedisServer::start();
    let anna_port = free_port();
    let (mut a, b) = start_nodes(&single(&redis), anna_port, free_port(), "longest_idle");
    let agent_rtp = RtpEndpoint::start(true);
    let _anna = Sipp::start_xml_on(
        anna_port,
        &format!("127.0.0.1:{}", b.sip_port),
        &scenarios::callee(None),
        &[
            "-key",
            "rtp_ip",
            "127.0.0.1",
            "-key",
            "rtp_port",
            &agent_rtp.port.to_string(),
            "-m",
            "2",
        ],
    );
    agent(&a, "anna", "login");
    // anna takes a caller through node a; another waits on a, a third on b.
    let _talking = caller(&a, "talking", Some(20_000));
    wait_until(
        "anna answers through node a",
        Duration::from_secs(10),
        || agent_view(&b, "anna")["state"] == "on_call",
    );
    let _ghost = caller(&a, "ghost", Some(20_000));
    wait_until("a caller waits on node a", Duration::from_secs(5), || {
        waiting(&b) == 1
    });
    // Long enough to be bridged after the reap even on a loaded machine.
    let survivor = caller(&b, "survivor", Some(9_000));
    wait_until("a caller waits on node b", Duration::from_secs(5), || {
        waiting(&b) == 2
    });

    let killed = Instant::now();
    a.kill();
    // Within 5 s node b has reaped node a: the ghost caller is gone and anna
    // is free, so she is offered the survivor.
    wait_until(
        "node a's caller is reaped and anna is free",
        Duration::from_secs(5),
        || {
            let view = agent_view(&b, "anna");
            let free_of_a = view["state"] != "on_call"
                || view["call"]
                    .as_str()
                    .is_some_and(|c| !c.is_empty() && waiting(&b) == 0);
            waiting(&b) <= 1 && free_of_a
        },
    );
    let reaped_in = killed.elapsed();
    finished(survivor.0.wait(Duration::from_secs(20)), "survivor", &b);
    let served = served(&[&b], 1);
    assert!(
        served
            .iter()
            .any(|(_, who, agent)| who == "survivor" && agent == "anna"),
        "{served:?}\n{:#?}\n{}",
        b.records(),
        b.log()
    );
    assert!(
        reaped_in < Duration::from_secs(5),
        "reaped in {reaped_in:?}"
    );
    assert_eq!(waiting(&b), 0, "no ghost caller left");
}

#[test]
fn a_redis_restart_is_survived() {
    let mut redis = RedisServer::start_with(&["--appendfsync", "always"]);
    let anna_port = free_port();
    let (a, b) = start_nodes(&single(&redis), anna_port, free_port(), "longest_idle");
    let agent_rtp = RtpEndpoint::start(true);
    let anna = Sipp::start_xml_on(
        anna_port,
        &format!("127.0.0.1:{}", a.sip_port),
        &scenarios::callee(Some(1000)),
        &[
            "-key",
            "rtp_ip",
            "127.0.0.1",
            "-key",
            "rtp_port",
            &agent_rtp.port.to_string(),
            "-m",
            "2",
        ],
    );
    agent(&a, "anna", "login");
    finished(
        caller(&a, "before", None).0.wait(Duration::from_secs(20)),
        "before",
        &a,
    );
    redis.restart();
    std::thread::sleep(Duration::from_millis(1500));
    finished(
        caller(&b, "after", None).0.wait(Duration::from_secs(30)),
        "after",
        &b,
    );
    finished(anna.wait(Duration::from_secs(10)), "anna", &a);
    let order: Vec<String> = served(&[&a, &b], 2)
        .into_iter()
        .map(|(_, who, _)| who)
        .collect();
    assert_eq!(order, ["before", "after"]);
}

/// The callers in the order agents were connected to them, from the
/// unit's queue log (whichever node connected them).
fn connect_order(node: &Node) -> Vec<String> {
    let (_, body) = node.http_get("/units/help/queue-log").unwrap();
    let log: serde_json::Value = serde_json::from_str(&body).unwrap();
    let events = log["events"].as_array().unwrap();
    let caller_of = |call: &str| {
        events
            .iter()
            .find(|e| e["event"] == "ENTERQUEUE" && e["call"] == call)
            .and_then(|e| e["data"][1].as_str())
            .map(|uri| {
                uri.trim_start_matches("sip:")
                    .split('@')
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
            .unwrap_or_default()
    };
    events
        .iter()
        .filter(|e| e["event"] == "CONNECT")
        .map(|e| caller_of(e["call"].as_str().unwrap_or_default()))
        .collect()
}

#[test]
fn a_sentinel_failover_under_calls_keeps_every_caller_in_place() {
    let primary = RedisServer::start();
    let replica = RedisServer::start_with(&["--replicaof", "127.0.0.1", &primary.port.to_string()]);
    let sentinel = Sentinel::start(&primary);
    let mut primary = primary;
    let env = vec![
        (
            "CC__REDIS__SENTINELS".into(),
            format!("127.0.0.1:{}", sentinel.port),
        ),
        ("CC__REDIS__MASTER_NAME".into(), "mymaster".into()),
    ];
    let (anna_port, bob_port) = (free_port(), free_port());
    let (a, b) = start_nodes(&env, anna_port, bob_port, "longest_idle");
    let agent_rtp = RtpEndpoint::start(true);
    let rtp_port = agent_rtp.port.to_string();
    let agent_args = [
        "-key",
        "rtp_ip",
        "127.0.0.1",
        "-key",
        "rtp_port",
        &rtp_port,
        "-m",
        "10",
    ];
    let _anna = Sipp::start_xml_on(
        anna_port,
        &format!("127.0.0.1:{}", a.sip_port),
        &scenarios::callee(Some(8000)),
        &agent_args,
    );
    let _bob = Sipp::start_xml_on(
        bob_port,
        &format!("127.0.0.1:{}", b.sip_port),
        &scenarios::callee(Some(1000)),
        &agent_args,
    );
    agent(&a, "anna", "login");
    agent(&b, "bob", "login");
    agent(&b, "bob", "pause");
    // Anna takes c1; c2…c6 wait, joining on both nodes in turn.
    let mut callers = Vec::new();
    for i in 1..=6u64 {
        let node = if i % 2 == 1 { &a } else { &b };
        callers.push((caller(node, &format!("c{i}"), None), format!("c{i}"), node));
        if i == 1 {
            wait_until("anna talks to c1", Duration::from_secs(5), || {
                agent_view(&a, "anna")["state"] == "on_call"
            });
        } else {
            wait_until("the caller waits", Duration::from_secs(5), || {
                waiting(&a) == i - 1
            });
        }
    }
    wait_until("the replica has the queue", Duration::from_secs(5), || {
        replica
            .cli(&["ZCARD", "cc:{help}:waiting:desk"])
            .is_some_and(|r| r.trim() == "5")
    });
    // The primary dies while anna is in a call and five callers wait.
    primary.kill();
    wait_until(
        "the sentinel promotes the replica",
        Duration::from_secs(15),
        || sentinel.primary_port() == Some(replica.port),
    );
    wait_until(
        "the nodes see the queue again",
        Duration::from_secs(10),
        || {
            b.http_get("/units/help/agents")
                .is_some_and(|(s, body)| s == 200 && body.contains("\"waiting\":5"))
        },
    );
    agent(&b, "bob", "unpause");
    for ((sipp, _rtp), label, node) in callers {
        finished(sipp.wait(Duration::from_secs(40)), &label, node);
    }
    assert_eq!(
        connect_order(&a),
        ["c1", "c2", "c3", "c4", "c5", "c6"],
        "every caller kept their place across the failover"
    );
}

#[test]
fn ring_all_rings_both_agents_and_the_other_stops_ringing() {
    let redis = RedisServer::start();
    let (anna_port, bob_port) = (free_port(), free_port());
    let (a, _b) = start_nodes(&single(&redis), anna_port, bob_port, "ring_all");
    let agent_rtp = RtpEndpoint::start(true);
    let anna = Sipp::start_xml_on(
        anna_port,
        &format!("127.0.0.1:{}", a.sip_port),
        &scenarios::callee(Some(1500)),
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
    let bob = Sipp::start_xml_on(
        bob_port,
        &format!("127.0.0.1:{}", a.sip_port),
        &scenarios::callee_cancelled(),
        &["-m", "1"],
    );
    agent(&a, "bob", "login");
    agent(&a, "anna", "login");
    finished(
        caller(&a, "caller", None).0.wait(Duration::from_secs(20)),
        "caller",
        &a,
    );
    finished(anna.wait(Duration::from_secs(10)), "anna", &a);
    finished(
        bob.wait(Duration::from_secs(10)),
        "bob (cancelled when anna answered)",
        &a,
    );
    let served = served(&[&a], 1);
    assert_eq!(served.len(), 1);
    assert_eq!(served[0].2, "anna");
}

#[test]
fn without_redis_bridged_calls_go_on_callers_take_the_failure_branch_and_the_node_recovers() {
    let mut redis = RedisServer::start();
    let anna_port = free_port();
    let (a, _b) = start_nodes(&single(&redis), anna_port, free_port(), "longest_idle");
    let agent_rtp = RtpEndpoint::start(true);
    let anna = Sipp::start_xml_on(
        anna_port,
        &format!("127.0.0.1:{}", a.sip_port),
        &scenarios::callee(Some(3000)),
        &[
            "-key",
            "rtp_ip",
            "127.0.0.1",
            "-key",
            "rtp_port",
            &agent_rtp.port.to_string(),
            "-m",
            "2",
        ],
    );
    agent(&a, "anna", "login");
    let talker = caller(&a, "talker", None);
    wait_until("anna talks", Duration::from_secs(5), || {
        agent_view(&a, "anna")["state"] == "on_call"
    });

    redis.kill();
    // A new caller is not left in silence: the queue step's failure branch.
    let (late, late_rtp) = caller(&a, "late", None);
    finished(late.wait(Duration::from_secs(20)), "late", &a);
    assert!(
        late_rtp.packets().len() >= 40,
        "the caller heard the failure branch's prompt"
    );
    assert_eq!(a.metric("cc_acd_failures_total"), 1.0);
    assert!(a.metric("cc_acd_store_errors_total") >= 1.0);
    // The bridged call went on, and ends when the agent hangs up.
    finished(talker.0.wait(Duration::from_secs(20)), "talker", &a);

    redis.restart();
    // The node tells Redis the call it missed has ended: anna is free again.
    wait_until("anna is available again", Duration::from_secs(10), || {
        a.http_get("/units/help/agents")
            .is_some_and(|(s, body)| s == 200 && body.contains("\"state\":\"available\""))
    });
    finished(
        caller(&a, "after", None).0.wait(Duration::from_secs(20)),
        "after",
        &a,
    );
    finished(anna.wait(Duration::from_secs(10)), "anna", &a);
    let order: Vec<String> = served(&[&a], 2)
        .into_iter()
        .map(|(_, who, _)| who)
        .collect();
    assert_eq!(order, ["talker", "after"]);

    // The queue log has the whole story, as queue_log lines.
    let (status, text) = a.http_get("/units/help/queue-log?format=text").unwrap();
    assert_eq!(status, 200);
    let events: Vec<&str> = text.lines().filter_map(|l| l.split('|').nth(4)).collect();
    for expected in [
        "AGENTLOGIN",
        "ENTERQUEUE",
        "OFFER",
        "CONNECT",
        "COMPLETEAGENT",
    ] {
        assert_eq!(
            events.iter().filter(|e| **e == expected).count(),
            if expected == "AGENTLOGIN" { 1 } else { 2 },
            "{expected} in\n{text}"
        );
    }
    let (status, body) = a.http_get("/units/help/queue-log?after=garbage").unwrap();
    assert_eq!(status, 400, "{body}");
    let (status, _) = a.http_get("/units/nobody/queue-log").unwrap();
    assert_eq!(status, 404);
}

#[test]
fn a_redis_cluster_keeps_each_unit_in_one_slot_and_serves_both_nodes() {
    let cluster = RedisCluster::start();
    let env = vec![("CC__REDIS__CLUSTER".to_string(), cluster.addresses())];
    let anna_port = free_port();
    let (a, b) = start_nodes(&env, anna_port, free_port(), "longest_idle");
    let agent_rtp = RtpEndpoint::start(true);
    let anna = Sipp::start_xml_on(
        anna_port,
        &format!("127.0.0.1:{}", a.sip_port),
        &scenarios::callee(Some(1000)),
        &[
            "-key",
            "rtp_ip",
            "127.0.0.1",
            "-key",
            "rtp_port",
            &agent_rtp.port.to_string(),
            "-m",
            "2",
        ],
    );
    agent(&a, "anna", "login");
    agent(&a, "anna", "pause");
    let first = caller(&b, "first", None);
    wait_until("first waits", Duration::from_secs(5), || waiting(&a) == 1);
    let second = caller(&a, "second", None);
    wait_until("second waits", Duration::from_secs(5), || waiting(&b) == 2);
    // Every key of the unit is on one primary: its scripts run in one slot.
    let per_server = cluster.keys_per_server("cc:{help}:*");
    assert_eq!(
        per_server.iter().filter(|n| **n > 0).count(),
        1,
        "{per_server:?}"
    );
    assert!(per_server.iter().sum::<usize>() >= 5, "{per_server:?}");
    agent(&b, "anna", "unpause");
    finished(first.0.wait(Duration::from_secs(20)), "first", &b);
    finished(second.0.wait(Duration::from_secs(20)), "second", &a);
    finished(anna.wait(Duration::from_secs(10)), "anna", &a);
    let order: Vec<String> = served(&[&a, &b], 2)
        .into_iter()
        .map(|(_, who, _)| who)
        .collect();
    assert_eq!(order, ["first", "second"]);
}

#[test]
fn round_robin_takes_the_agents_in_turn_across_nodes() {
    let redis = RedisServer::start();
    let (anna_port, bob_port) = (free_port(), free_port());
    let (a, b) = start_nodes(&single(&redis), anna_port, bob_port, "round_robin");
    let agent_rtp = RtpEndpoint::start(true);
    let rtp_port = agent_rtp.port.to_string();
    let agent_args = [
        "-key",
        "rtp_ip",
        "127.0.0.1",
        "-key",
        "rtp_port",
        &rtp_port,
        "-m",
        "2",
    ];
    let anna = Sipp::start_xml_on(
        anna_port,
        &format!("127.0.0.1:{}", a.sip_port),
        &scenarios::callee(Some(300)),
        &agent_args,
    );
    let bob = Sipp::start_xml_on(
        bob_port,
        &format!("127.0.0.1:{}", b.sip_port),
        &scenarios::callee(Some(300)),
        &agent_args,
    );
    agent(&a, "anna", "login");
    agent(&b, "bob", "login");
    // One caller at a time, on alternate nodes: each finds both agents free,
    // and the queue's memory picks the one after the last offered.
    for i in 1..=4 {
        let node = if i % 2 == 1 { &a } else { &b };
        finished(
            caller(node, &format!("c{i}"), None)
                .0
                .wait(Duration::from_secs(20)),
            &format!("c{i}"),
            node,
        );
        wait_until("both agents are free", Duration::from_secs(5), || {
            agent_view(&a, "anna")["state"] == "available"
                && agent_view(&a, "bob")["state"] == "available"
        });
    }
    finished(anna.wait(Duration::from_secs(10)), "anna", &a);
    finished(bob.wait(Duration::from_secs(10)), "bob", &b);
    let agents: Vec<String> = served(&[&a, &b], 4)
        .into_iter()
        .map(|(_, _, agent)| agent)
        .collect();
    assert_eq!(agents, ["anna", "bob", "anna", "bob"]);
}

#[test]
fn one_unit_never_sees_or_changes_another_units_agents_or_log() {
    let redis = RedisServer::start();
    let mut options = unit(free_port(), free_port(), "longest_idle");
    options.units.push((
        "other.yaml".into(),
        "unit: other\nname: Other\nservice_numbers: [\"4300\"]\ntimezone: Europe/Madrid\n\
         agents:\n  - { id: zed, name: Zed, uri: \"sip:zed@127.0.0.1:9\", endpoint: desk_phone }\n\
         queues:\n  desk: { agents: [zed] }\n\
         flow:\n  start: wait\n  steps:\n    wait:\n      queue: { queue: desk }\n"
            .into(),
    ));
    options.env = single(&redis);
    options.env.push(("CC__ACD__STORE".into(), "redis".into()));
    let node = Node::start("tenancy", options);
    // Another unit's agent cannot be acted on through this unit, either way.
    let (status, body) = node.http_post("/units/help/agents/zed/login").unwrap();
    assert_eq!(status, 404, "{body}");
    let (status, body) = node.http_post("/units/other/agents/anna/login").unwrap();
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        node.http_post("/units/other/agents/zed/login").unwrap().0,
        200
    );
    agent(&node, "anna", "login");
    // Each unit sees its own agents and its own log only.
    let (_, help) = node.http_get("/units/help/agents").unwrap();
    assert!(help.contains("anna") && !help.contains("zed"), "{help}");
    let (_, other) = node.http_get("/units/other/agents").unwrap();
    assert!(other.contains("zed") && !other.contains("anna"), "{other}");
    let (_, log) = node.http_get("/units/help/queue-log?format=text").unwrap();
    assert!(
        log.contains("|anna|AGENTLOGIN") && !log.contains("zed"),
        "{log}"
    );
    let (_, log) = node.http_get("/units/other/queue-log?format=text").unwrap();
    assert!(
        log.contains("|zed|AGENTLOGIN") && !log.contains("anna"),
        "{log}"
    );
    // In Redis, each unit's keys are its own.
    let help_keys = redis.cli(&["KEYS", "cc:{help}:*"]).unwrap();
    let other_keys = redis.cli(&["KEYS", "cc:{other}:*"]).unwrap();
    assert!(!help_keys.trim().is_empty() && !other_keys.trim().is_empty());
    assert!(redis.cli(&["HKEYS", "cc:{other}:agents"]).unwrap().trim() == "zed");
}

#[test]
fn a_caller_waiting_when_redis_goes_away_is_not_left_on_hold_for_ever() {
    let mut redis = RedisServer::start();
    let mut options = unit(free_port(), free_port(), "longest_idle");
    options.units[0].1 = options.units[0].1.replace("max_wait: 60s", "max_wait: 2s");
    options.env = single(&redis);
    options.env.push(("CC__ACD__STORE".into(), "redis".into()));
    let node = Node::start("give-up", options);
    agent(&node, "anna", "login");
    agent(&node, "anna", "pause");
    let (waiting_caller, _rtp) = caller(&node, "patient", None);
    wait_until("the caller waits", Duration::from_secs(5), || {
        waiting(&node) == 1
    });
    redis.kill();
    // The ACD cannot time the caller out; the call does, after the queue's
    // maximum wait and a grace, and takes the timeout branch (hang-up here).
    let started = Instant::now();
    finished(
        waiting_caller.wait(Duration::from_secs(30)),
        "patient",
        &node,
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert!(
        node.log().contains("no word from the ACD"),
        "{}",
        node.log()
    );
    let record = node.records().into_iter().last().unwrap();
    assert_eq!(record["outcome"], "unserved", "{record}");
}
