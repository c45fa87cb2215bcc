//! Calls to a real node from SIPp: the first call path, end to end.
//!
//! Each test starts its own `cc-node` on free ports with the test units
//! below, whose prompts are noise-like audio unique to each name, so that
//! the bytes an RTP endpoint receives identify exactly the prompt played.

use std::time::Duration;

use cc_media::Law;
use cc_tests::node::{Node, NodeOptions};
use cc_tests::ports::free_port;
use cc_tests::prompts;
use cc_tests::rtp::{Received, RtpEndpoint};
use cc_tests::scenarios::{self, Codec, Ending, Then};
use cc_tests::Sipp;

const PROMPTS: &[(&str, u32)] = &[
    ("welcome", 1000),
    ("menu", 2000),
    ("one", 600),
    ("greeting", 500),
    ("thanks", 300),
    ("closed", 800),
    ("transfer", 400),
    ("long", 6000),
    ("moh", 2000),
];

/// Ports of the SIPp callees a test's units dial.
#[derive(Clone, Copy, Default)]
struct Peers {
    forward: u16,
    anna: u16,
    bob: u16,
}

fn units(peers: Peers) -> Vec<(String, String)> {
    let forward_port = peers.forward;
    let head = |id: &str, number: &str, extra: &str| {
        let prompts: String = PROMPTS
            .iter()
            .map(|(n, _)| format!("  {n}: {n}.wav\n"))
            .collect();
        format!(
            "unit: {id}\nname: Test {id}\nservice_numbers: [\"{number}\"]\ntimezone: Europe/Madrid\n{extra}prompts:\n{prompts}\
             tags:\n  - {{ code: \"1\", name: information }}\n"
        )
    };
    let always_open = "calendar:\n  weekly:\n    mon: [\"00:00-24:00\"]\n    tue: [\"00:00-24:00\"]\n    wed: [\"00:00-24:00\"]\n    thu: [\"00:00-24:00\"]\n    fri: [\"00:00-24:00\"]\n    sat: [\"00:00-24:00\"]\n    sun: [\"00:00-24:00\"]\n  inherit_university: false\n";
    vec![
        (
            "welcome.yaml".into(),
            head("welcome", "4102", "")
                + "flow:\n  start: greet\n  steps:\n    greet:\n      play: { prompts: [welcome], next: bye }\n    bye:\n      hangup: {}\n",
        ),
        (
            "menu.yaml".into(),
            head("menu", "4100", "")
                + "flow:\n  start: greet\n  steps:\n\
                   \x20   greet:\n      play: { prompts: [welcome], next: menu }\n\
                   \x20   menu:\n      menu: { prompt: menu, options: { \"1\": one, \"2\": message }, digit_timeout: 4s, retries: 0, on_timeout: bye, on_invalid: bye }\n\
                   \x20   one:\n      play: { prompts: [one], next: tagged }\n\
                   \x20   tagged:\n      tag: { tag: information, next: bye }\n\
                   \x20   message:\n      voicemail: { greeting: greeting, max_duration: 15s, next: thanks }\n\
                   \x20   thanks:\n      play: { prompts: [thanks], next: bye }\n\
                   \x20   bye:\n      hangup: {}\n",
        ),
        (
            "closed.yaml".into(),
            head("closed", "4101", "calendar:\n  inherit_university: false\n")
                + "flow:\n  start: hours\n  steps:\n\
                   \x20   hours:\n      hours: { open: greet, closed: closed }\n\
                   \x20   greet:\n      play: { prompts: [welcome], next: bye }\n\
                   \x20   closed:\n      play: { prompts: [closed], next: bye }\n\
                   \x20   bye:\n      hangup: {}\n",
        ),
        (
            "forward.yaml".into(),
            head("forward", "4103", always_open)
                + &format!(
                    "flow:\n  start: hours\n  steps:\n\
                     \x20   hours:\n      hours: {{ open: transfer, closed: bye }}\n\
                     \x20   transfer:\n      play: {{ prompts: [transfer], next: desk }}\n\
                     \x20   desk:\n      forward: {{ target: \"sip:desk@127.0.0.1:{forward_port}\", timeout: 10s, on_failure: bye }}\n\
                     \x20   bye:\n      hangup: {{}}\n"
                ),
        ),
        (
            "queue.yaml".into(),
            head("queue", "4105", "")
                + &format!(
                    "agents:\n  - {{ id: anna, name: Anna, uri: \"sip:anna@127.0.0.1:{}\", endpoint: microsip }}\n\
                     \x20 - {{ id: bob, name: Bob, uri: \"sip:bob@127.0.0.1:{}\", endpoint: desk_phone }}\n\
                     queues:\n  general: {{ agents: [anna, bob], ring_timeout: 5s, max_wait: 20s, music_on_hold: moh }}\n\
                     flow:\n  start: wait\n  steps:\n\
                     \x20   wait:\n      queue: {{ queue: general, on_timeout: bye, on_no_agents: bye }}\n\
                     \x20   bye:\n      hangup: {{}}\n",
                    peers.anna, peers.bob
                ),
        ),
        (
            "long.yaml".into(),
            head("long", "4106", "")
                + "flow:\n  start: talk\n  steps:\n    talk:\n      play: { prompts: [long], next: bye }\n    bye:\n      hangup: {}\n",
        ),
        (
            "ringing.yaml".into(),
            head("ringing", "4104", "answer_delay: 5s\n")
                + "flow:\n  start: greet\n  steps:\n    greet:\n      play: { prompts: [welcome], next: bye }\n    bye:\n      hangup: {}\n",
        ),
    ]
}

fn start_node(label: &str, forward_port: u16) -> Node {
    start_node_with(
        label,
        Peers {
            forward: forward_port,
            ..Peers::default()
        },
        vec![],
    )
}

fn start_node_with(label: &str, peers: Peers, env: Vec<(String, String)>) -> Node {
    let mut prompts = Vec::new();
    for unit in [
        "welcome", "menu", "closed", "forward", "queue", "long", "ringing",
    ] {
        for (name, ms) in PROMPTS {
            prompts.push((unit.to_string(), name.to_string(), *ms));
        }
    }
    Node::start(
        label,
        NodeOptions {
            units: units(peers),
            prompts,
            env,
        },
    )
}

fn target(node: &Node) -> String {
    format!("127.0.0.1:{}", node.sip_port)
}

fn caller_args(number: &str, rtp: &RtpEndpoint) -> Vec<String> {
    [
        "-s",
        number,
        "-key",
        "rtp_ip",
        "127.0.0.1",
        "-key",
        "rtp_port",
        &rtp.port.to_string(),
        "-m",
        "1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn as_refs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn record_of(node: &Node) -> serde_json::Value {
    let records = node.wait_records(1, Duration::from_secs(10));
    assert_eq!(
        records.len(),
        1,
        "one call, one record; log:\n{}",
        node.log()
    );
    records[0].clone()
}

fn strings(value: &serde_json::Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Checks that `packets` carry exactly the prompt `name` (whole frames, the
/// last padded with silence), paced as one RTP stream should be.
fn assert_prompt(packets: &[Received], name: &str, millis: u32) {
    let expected = prompts::encoded(name, millis, Law::Mu);
    let frames = expected.len().div_ceil(160);
    assert!(
        packets.len() >= frames,
        "{} packets for {frames} frames of {name}",
        packets.len()
    );
    let stream = &packets[..frames];
    let payload: Vec<u8> = stream.iter().flat_map(|p| p.payload.clone()).collect();
    assert_eq!(
        &payload[..expected.len()],
        &expected[..],
        "the audio of prompt {name}"
    );
    assert!(
        payload[expected.len()..].iter().all(|b| *b == 0xFF),
        "padding is µ-law silence"
    );
    for pair in stream.windows(2) {
        assert_eq!(
            pair[1].sequence,
            pair[0].sequence.wrapping_add(1),
            "consecutive sequence numbers"
        );
        assert_eq!(
            pair[1].timestamp,
            pair[0].timestamp.wrapping_add(160),
            "timestamps advance 160 per packet"
        );
        assert_eq!(pair[1].ssrc, pair[0].ssrc, "one SSRC");
        assert!(
            !pair[1].marker,
            "marker only on the first packet of the talkspurt"
        );
    }
    assert!(stream[0].marker, "the first packet carries the marker bit");
    assert!(stream.iter().all(|p| p.payload_type == 0));
    let span = stream[frames - 1].at - stream[0].at;
    let ideal = Duration::from_millis(20 * (frames as u64 - 1));
    assert!(
        span + Duration::from_millis(60) >= ideal && span <= ideal + Duration::from_millis(60),
        "{frames} packets over {span:?}, paced at 20 ms would take {ideal:?}"
    );
}

#[test]
fn a_call_hears_the_welcome_prompt_and_is_hung_up() {
    let node = start_node("welcome", 9);
    let rtp = RtpEndpoint::start(false);
    let args = caller_args("4102", &rtp);
    let result = Sipp::start_xml(
        &target(&node),
        &scenarios::caller(Codec::Pcmu, &[], Ending::NodeHangsUp),
        &as_refs(&args),
    )
    .wait(Duration::from_secs(20));
    assert!(
        result.success,
        "SIPp failed:\n{}\n{}\nnode:\n{}",
        result.errors,
        result.screen,
        node.log()
    );
    assert_prompt(&rtp.packets(), "welcome", 1000);
    let record = record_of(&node);
    assert_eq!(record["outcome"], "completed");
    assert_eq!(strings(&record["path"]), ["greet", "bye"]);
    assert_eq!(record["ended_by"], "node");
    assert_eq!(
        node.wait_metric("cc_rtp_ports_in_use", 0.0, Duration::from_secs(5)),
        0.0
    );
}

#[test]
fn an_rfc4733_digit_picks_a_menu_branch() {
    let node = start_node("dtmf", 9);
    let rtp = RtpEndpoint::start(false);
    let args = caller_args("4100", &rtp);
    let xml = scenarios::caller(
        Codec::Pcmu,
        &[Then::Pause(1500), Then::PlayPcap(scenarios::dtmf_pcap('1'))],
        Ending::NodeHangsUp,
    );
    let result =
        Sipp::start_xml(&target(&node), &xml, &as_refs(&args)).wait(Duration::from_secs(30));
    assert!(
        result.success,
        "SIPp failed:\n{}\n{}\nnode:\n{}",
        result.errors,
        result.screen,
        node.log()
    );
    let record = record_of(&node);
    assert_eq!(
        strings(&record["path"]),
        ["greet", "menu", "one", "tagged", "bye"]
    );
    assert_eq!(strings(&record["tags"]), ["information"]);
    // Ten packets carry the one key press (three of them redundant ends).
    assert_eq!(node.metric("cc_dtmf_events_total{"), 1.0);
    assert_prompt(&rtp.packets(), "welcome", 1000);
}

#[test]
fn voicemail_stores_the_callers_audio_with_its_duration() {
    let node = start_node("voicemail", 9);
    let rtp = RtpEndpoint::start(false);
    let args = caller_args("4100", &rtp);
    let xml = scenarios::caller(
        Codec::Pcma,
        &[
            Then::Pause(1500),
            Then::PlayPcap(scenarios::dtmf_pcap('2')),
            Then::Pause(2000),
            Then::PlayPcap(scenarios::AUDIO_PCAP.into()),
            Then::Pause(8000),
        ],
        Ending::CallerHangsUp,
    );
    let result =
        Sipp::start_xml(&target(&node), &xml, &as_refs(&args)).wait(Duration::from_secs(40));
    assert!(
        result.success,
        "SIPp failed:\n{}\n{}\nnode:\n{}",
        result.errors,
        result.screen,
        node.log()
    );
    let record = record_of(&node);
    assert_eq!(record["outcome"], "voicemail");
    // The caller hung up while recording: the message is kept.
    assert_eq!(strings(&record["path"]), ["greet", "menu", "message"]);
    let wav_path = record["voicemail"]
        .as_str()
        .expect("the record names the voicemail file")
        .to_string();
    let mut wav = hound::WavReader::open(&wav_path).expect("a readable WAV");
    assert_eq!(wav.spec().sample_rate, 8000);
    assert_eq!(wav.spec().channels, 1);
    let stored: Vec<i16> = wav.samples::<i16>().map(Result::unwrap).collect();

    // What SIPp played: 236 packets of 30 ms A-law.
    let played: Vec<i16> = cc_tests::pcap::rtp_payloads(scenarios::AUDIO_PCAP)
        .into_iter()
        .flat_map(|(_, payload)| payload.into_iter().map(|b| Law::A.decode(b)))
        .collect();
    let seconds = stored.len() as f64 / 8000.0;
    assert!(
        (seconds - played.len() as f64 / 8000.0).abs() < 0.05,
        "stored {seconds:.3} s"
    );
    assert_eq!(
        stored, played,
        "the stored message is the caller's audio, sample for sample"
    );
    let rms =
        (stored.iter().map(|s| (*s as f64).powi(2)).sum::<f64>() / stored.len() as f64).sqrt();
    assert!(rms > 500.0, "not silence (RMS {rms:.0})");
    let metadata: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(std::path::Path::new(&wav_path).with_extension("json")).unwrap(),
    )
    .unwrap();
    assert_eq!(metadata["unit"], "menu");
    assert_eq!(
        metadata["duration_ms"].as_u64().unwrap() / 10,
        (played.len() as u64 * 1000 / 8000) / 10
    );
    assert!(metadata["caller"]
        .as_str()
        .unwrap()
        .starts_with("sip:caller1@"));
    assert_eq!(node.metric("cc_voicemails_total{"), 1.0);
}

#[test]
fn closed_hours_play_the_closed_prompt_and_hang_up() {
    let node = start_node("closed", 9);
    let rtp = RtpEndpoint::start(false);
    let args = caller_args("4101", &rtp);
    let result = Sipp::start_xml(
        &target(&node),
        &scenarios::caller(Codec::Pcmu, &[], Ending::NodeHangsUp),
        &as_refs(&args),
    )
    .wait(Duration::from_secs(20));
    assert!(
        result.success,
        "SIPp failed:\n{}\n{}",
        result.errors, result.screen
    );
    assert_prompt(&rtp.packets(), "closed", 800);
    let record = record_of(&node);
    assert_eq!(record["outcome"], "closed");
    assert_eq!(strings(&record["path"]), ["hours", "closed", "bye"]);
}

/// Runs a forward with the callee (a SIPp UAS) on `callee_xml`; returns the
/// two RTP endpoints and the node.
fn forward(
    label: &str,
    caller_then: &[Then],
    caller_ending: Ending,
    callee_xml: &str,
) -> (Node, RtpEndpoint, RtpEndpoint) {
    let callee_port = free_port();
    let node = start_node(label, callee_port);
    let caller_rtp = RtpEndpoint::start(true);
    let callee_rtp = RtpEndpoint::start(true);
    let callee_args = [
        "-key",
        "rtp_ip",
        "127.0.0.1",
        "-key",
        "rtp_port",
        &callee_rtp.port.to_string(),
        "-m",
        "1",
    ];
    let callee = Sipp::start_xml_on(callee_port, &target(&node), callee_xml, &callee_args);
    std::thread::sleep(Duration::from_millis(300));
    let args = caller_args("4103", &caller_rtp);
    let xml = scenarios::caller(Codec::Pcmu, caller_then, caller_ending);
    let caller =
        Sipp::start_xml(&target(&node), &xml, &as_refs(&args)).wait(Duration::from_secs(30));
    let callee = callee.wait(Duration::from_secs(15));
    assert!(
        caller.success,
        "caller failed:\n{}\n{}\nnode:\n{}",
        caller.errors,
        caller.screen,
        node.log()
    );
    assert!(
        callee.success,
        "callee failed:\n{}\n{}\nnode:\n{}",
        callee.errors,
        callee.screen,
        node.log()
    );
    (node, caller_rtp, callee_rtp)
}

fn assert_media_both_ways(caller_rtp: &RtpEndpoint, callee_rtp: &RtpEndpoint) {
    let at_caller = caller_rtp.from_ssrc(callee_rtp.ssrc).len();
    let at_callee = callee_rtp.from_ssrc(caller_rtp.ssrc).len();
    assert!(
        at_caller >= 50,
        "the caller got {at_caller} packets from the callee"
    );
    assert!(
        at_callee >= 50,
        "the callee got {at_callee} packets from the caller"
    );
}

#[test]
fn a_forward_relays_rtp_both_ways_and_the_callers_bye_ends_both_legs() {
    let (node, caller_rtp, callee_rtp) = forward(
        "fwd-caller-bye",
        &[Then::Pause(4000)],
        Ending::CallerHangsUp,
        &scenarios::callee(None),
    );
    assert_media_both_ways(&caller_rtp, &callee_rtp);
    let record = record_of(&node);
    assert_eq!(record["outcome"], "forwarded");
    assert_eq!(record["ended_by"], "caller");
    assert_eq!(
        node.wait_metric("cc_rtp_ports_in_use", 0.0, Duration::from_secs(5)),
        0.0
    );
    assert_eq!(node.metric("cc_node_calls_active"), 0.0);
}

#[test]
fn a_forward_ends_both_legs_when_the_target_hangs_up() {
    let (node, caller_rtp, callee_rtp) = forward(
        "fwd-callee-bye",
        &[],
        Ending::NodeHangsUp,
        &scenarios::callee(Some(3000)),
    );
    assert_media_both_ways(&caller_rtp, &callee_rtp);
    let record = record_of(&node);
    assert_eq!(record["outcome"], "forwarded");
    assert_eq!(record["ended_by"], "target");
    assert_eq!(
        node.wait_metric("cc_rtp_ports_in_use", 0.0, Duration::from_secs(5)),
        0.0
    );
}

#[test]
fn a_caller_hanging_up_while_the_target_rings_cancels_the_target() {
    let (node, _, _) = forward(
        "fwd-cancel",
        &[Then::Pause(2500)],
        Ending::CallerHangsUp,
        &scenarios::callee_cancelled(),
    );
    let record = record_of(&node);
    assert_eq!(record["outcome"], "abandoned");
    assert_eq!(
        node.wait_metric("cc_rtp_ports_in_use", 0.0, Duration::from_secs(5)),
        0.0
    );
    assert_eq!(node.metric("cc_node_calls_active"), 0.0);
}

#[test]
fn cancel_before_the_answer_gets_487_and_leaves_nothing_behind() {
    let node = start_node("cancel", 9);
    let result = Sipp::start_xml(
        &target(&node),
        &scenarios::caller_cancels(),
        &["-s", "4104", "-m", "1"],
    )
    .wait(Duration::from_secs(20));
    assert!(
        result.success,
        "SIPp failed:\n{}\n{}\nnode:\n{}",
        result.errors,
        result.screen,
        node.log()
    );
    let record = record_of(&node);
    assert_eq!(record["outcome"], "abandoned");
    assert_eq!(record["sip_status"], 487);
    assert_eq!(record["ended_by"], "cancel");
    assert!(record["answered_at"].is_null());
    assert_eq!(
        node.wait_metric("cc_rtp_ports_in_use", 0.0, Duration::from_secs(5)),
        0.0
    );
    assert_eq!(node.metric("cc_node_calls_active"), 0.0);
}

#[test]
fn over_udp_the_200_is_retransmitted_until_the_ack() {
    let node = start_node("retransmit", 9);
    let rtp = RtpEndpoint::start(false);
    let args = caller_args("4100", &rtp);
    // The caller holds its ACK for 2.2 s: the 200 goes out at 0, 0.5 and
    // 1.5 s (T1 doubling), then stops when the ACK arrives.
    let xml = scenarios::caller_acking_after(
        Codec::Pcmu,
        2200,
        &[Then::Pause(2500)],
        Ending::CallerHangsUp,
    );
    let result =
        Sipp::start_xml(&target(&node), &xml, &as_refs(&args)).wait(Duration::from_secs(20));
    assert!(
        result.success,
        "SIPp failed:\n{}\n{}",
        result.errors, result.screen
    );
    assert_eq!(
        result.received("SIP/2.0 200 OK", "CSeq: 1 INVITE"),
        3,
        "{}",
        result.messages
    );
    assert_eq!(node.metric("cc_sip_retransmissions_total{"), 2.0);
}

fn queued_call(
    label: &str,
    anna_xml: &str,
    bob_xml: Option<&str>,
) -> (Node, serde_json::Value, RtpEndpoint, RtpEndpoint) {
    let peers = Peers {
        anna: free_port(),
        bob: free_port(),
        ..Peers::default()
    };
    let node = start_node_with(label, peers, vec![]);
    for agent in ["anna", "bob"] {
        let (status, body) = node
            .http_post(&format!("/units/queue/agents/{agent}/login"))
            .unwrap();
        assert_eq!(status, 200, "{body}");
    }
    let caller_rtp = RtpEndpoint::start(true);
    let agent_rtp = RtpEndpoint::start(true);
    let agent_args = [
        "-key",
        "rtp_ip",
        "127.0.0.1",
        "-key",
        "rtp_port",
        &agent_rtp.port.to_string(),
        "-m",
        "1",
    ];
    let anna = Sipp::start_xml_on(peers.anna, &target(&node), anna_xml, &agent_args);
    let bob = bob_xml.map(|xml| Sipp::start_xml_on(peers.bob, &target(&node), xml, &agent_args));
    std::thread::sleep(Duration::from_millis(300));
    let args = caller_args("4105", &caller_rtp);
    let caller = Sipp::start_xml(
        &target(&node),
        &scenarios::caller(Codec::Pcmu, &[], Ending::NodeHangsUp),
        &as_refs(&args),
    )
    .wait(Duration::from_secs(40));
    assert!(
        caller.success,
        "caller failed:\n{}\n{}\nnode:\n{}",
        caller.errors,
        caller.screen,
        node.log()
    );
    let anna = anna.wait(Duration::from_secs(10));
    assert!(
        anna.success,
        "anna failed:\n{}\n{}",
        anna.errors,
        node.log()
    );
    if let Some(bob) = bob {
        let bob = bob.wait(Duration::from_secs(10));
        assert!(bob.success, "bob failed:\n{}\n{}", bob.errors, node.log());
    }
    let record = record_of(&node);
    (node, record, caller_rtp, agent_rtp)
}

#[test]
fn a_queued_caller_hears_music_and_is_answered_by_an_agent() {
    let (node, record, caller_rtp, agent_rtp) =
        queued_call("queue", &scenarios::callee(Some(2500)), None);
    assert_eq!(record["outcome"], "answered");
    assert_eq!(record["agent"], "anna");
    assert_eq!(record["queue"], "general");
    assert!(record["queue_wait_ms"].as_u64().is_some());
    assert_eq!(record["ended_by"], "agent");
    // Music on hold first (the node's stream), then the agent's voice.
    let music = prompts::encoded("moh", 2000, Law::Mu);
    let first = &caller_rtp.packets()[0];
    assert_eq!(
        &first.payload[..],
        &music[..160],
        "music on hold starts the wait"
    );
    assert_media_both_ways(&caller_rtp, &agent_rtp);
    assert_eq!(node.metric("cc_queue_wait_seconds_count{node=\"queue\",unit=\"queue\",queue=\"general\",outcome=\"answered\"}"), 1.0);
    assert_eq!(
        node.wait_metric("cc_rtp_ports_in_use", 0.0, Duration::from_secs(5)),
        0.0
    );
}

#[test]
fn a_busy_agent_passes_the_caller_to_the_next_one() {
    let (_, record, _, _) = queued_call(
        "queue-busy",
        &scenarios::callee_busy(),
        Some(&scenarios::callee(Some(1500))),
    );
    assert_eq!(record["outcome"], "answered");
    assert_eq!(
        record["agent"], "bob",
        "anna was busy; the caller kept their place for bob"
    );
}

#[test]
fn the_node_behind_a_proxy_keeps_the_record_route_and_sends_its_bye_through_it() {
    let node = start_node("proxy", 9);
    let proxy_port = free_port();
    let proxy = Sipp::start_xml_on(
        proxy_port,
        &target(&node),
        &scenarios::proxy_gets_bye(),
        &["-m", "1"],
    );
    let rtp = RtpEndpoint::start(false);
    let args = caller_args("4102", &rtp);
    let caller = Sipp::start_xml(
        &target(&node),
        &scenarios::caller_behind_proxy(proxy_port),
        &as_refs(&args),
    )
    .wait(Duration::from_secs(20));
    assert!(
        caller.success,
        "caller failed (Record-Route missing from the 200?):\n{}\n{}",
        caller.errors,
        node.log()
    );
    let proxy = proxy.wait(Duration::from_secs(10));
    assert!(
        proxy.success,
        "the BYE did not reach the proxy with Route and the caller's Contact:\n{}\n{}\n{}",
        proxy.errors,
        proxy.messages,
        node.log()
    );
}

#[test]
fn hold_stops_the_prompt_and_resume_brings_it_back() {
    let node = start_node("hold", 9);
    let rtp = RtpEndpoint::start(false);
    let args = caller_args("4106", &rtp);
    let started = std::time::Instant::now();
    let result = Sipp::start_xml(
        &target(&node),
        &scenarios::caller_holds(1000, 2000, 1500),
        &as_refs(&args),
    )
    .wait(Duration::from_secs(20));
    assert!(
        result.success,
        "SIPp failed (hold answered without recvonly?):\n{}\n{}",
        result.errors,
        node.log()
    );
    let packets = rtp.packets();
    let at = |p: &Received| (p.at - started).as_millis() as u64;
    let held: Vec<u64> = packets
        .iter()
        .map(at)
        .filter(|t| (1500..2900).contains(t))
        .collect();
    assert!(held.is_empty(), "RTP while on hold at {held:?} ms");
    assert!(
        packets.iter().map(at).any(|t| t < 1000),
        "the prompt played before the hold"
    );
    assert!(
        packets.iter().map(at).any(|t| t > 3300),
        "the prompt came back after the resume"
    );
}

#[test]
fn a_caller_whose_media_stopped_is_ended_as_dead() {
    let node = start_node_with(
        "dead",
        Peers::default(),
        vec![("CC__MEDIA__RTP_TIMEOUT_S".into(), "2".into())],
    );
    let rtp = RtpEndpoint::start(false);
    let args = caller_args("4106", &rtp);
    let started = std::time::Instant::now();
    let result = Sipp::start_xml(
        &target(&node),
        &scenarios::caller(Codec::Pcmu, &[], Ending::NodeHangsUp),
        &as_refs(&args),
    )
    .wait(Duration::from_secs(20));
    assert!(
        result.success,
        "SIPp failed:\n{}\n{}",
        result.errors,
        node.log()
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(5),
        "ended after {elapsed:?}, before the 6 s prompt's end"
    );
    let record = record_of(&node);
    assert_eq!(record["ended_by"], "rtp_timeout");
}

#[test]
fn a_call_over_tcp_is_answered_and_hung_up_over_tcp() {
    let node = start_node("tcp", 9);
    let rtp = RtpEndpoint::start(false);
    let mut args = caller_args("4102", &rtp);
    args.extend(["-t".to_string(), "t1".to_string()]);
    let result = Sipp::start_xml(
        &target(&node),
        &scenarios::caller(Codec::Pcmu, &[], Ending::NodeHangsUp),
        &as_refs(&args),
    )
    .wait(Duration::from_secs(20));
    assert!(
        result.success,
        "SIPp over TCP failed:\n{}\n{}\n{}",
        result.errors,
        result.messages,
        node.log()
    );
    assert_prompt(&rtp.packets(), "welcome", 1000);
    assert!(
        result.messages.contains("Contact: <sip:4102@127.0.0.1:")
            && result.messages.contains("transport=tcp>")
    );
}

fn raw_invite(node: &Node, number: &str) -> String {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n";
    let invite = format!(
        "INVITE sip:{number}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKraw{port}\r\nMax-Forwards: 70\r\n\
         To: <sip:{number}@127.0.0.1>\r\nFrom: <sip:raw@127.0.0.1>;tag=r{port}\r\nCall-ID: raw-{port}@127.0.0.1\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:raw@127.0.0.1:{port}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    node.send_udp(&socket, invite.as_bytes());
    socket
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut buffer = [0u8; 4096];
    loop {
        let n = socket.recv(&mut buffer).expect("an answer");
        let text = String::from_utf8_lossy(&buffer[..n]).to_string();
        if !text.starts_with("SIP/2.0 1") {
            return text;
        }
    }
}

#[test]
fn a_draining_node_answers_503_with_retry_after_and_comes_back() {
    let node = start_node("drain", 9);
    assert_eq!(node.http_post("/drain").unwrap().0, 200);
    assert_eq!(node.http_get("/health").unwrap().0, 503);
    let answer = raw_invite(&node, "4102");
    assert!(answer.starts_with("SIP/2.0 503"), "{answer}");
    assert!(answer.contains("Retry-After: 30"), "{answer}");
    let options = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("torture/valid-compact.sip"),
    )
    .unwrap();
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    node.send_udp(&socket, &options);
    socket
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut buffer = [0u8; 4096];
    let n = socket.recv(&mut buffer).unwrap();
    assert!(
        String::from_utf8_lossy(&buffer[..n]).starts_with("SIP/2.0 503"),
        "OPTIONS probes see the drain"
    );
    assert_eq!(node.metric("cc_node_draining"), 1.0);
    assert_eq!(node.http_post("/undrain").unwrap().0, 200);
    assert!(raw_invite(&node, "4102").starts_with("SIP/2.0 200"));
}

#[test]
fn at_the_call_limit_new_calls_get_503() {
    let node = start_node_with(
        "limit",
        Peers::default(),
        vec![("CC__LIMITS__MAX_CALLS".into(), "1".into())],
    );
    assert!(
        raw_invite(&node, "4106").starts_with("SIP/2.0 200"),
        "the first call is taken"
    );
    let answer = raw_invite(&node, "4106");
    assert!(
        answer.starts_with("SIP/2.0 503") && answer.contains("Retry-After:"),
        "{answer}"
    );
}

fn agent_state(node: &Node, unit: &str, agent: &str) -> String {
    let (_, body) = node.http_get(&format!("/units/{unit}/agents")).unwrap();
    let snapshot: serde_json::Value = serde_json::from_str(&body).unwrap();
    snapshot["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == agent)
        .map(|a| a["state"].as_str().unwrap().to_string())
        .unwrap()
}

fn dial_feature(node: &Node, code: &str, from_user: &str) -> Vec<Received> {
    let rtp = RtpEndpoint::start(false);
    let args = caller_args(code, &rtp);
    let xml = scenarios::caller(Codec::Pcmu, &[], Ending::NodeHangsUp)
        .replace("sip:caller[call_number]@", &format!("sip:{from_user}@"));
    let result =
        Sipp::start_xml(&target(node), &xml, &as_refs(&args)).wait(Duration::from_secs(15));
    assert!(
        result.success,
        "SIPp failed dialling {code}:\n{}\n{}",
        result.errors,
        node.log()
    );
    rtp.packets()
}

#[test]
fn agents_log_in_pause_and_log_out_with_feature_codes() {
    let node = start_node_with(
        "features",
        Peers {
            anna: 5091,
            bob: 5092,
            ..Peers::default()
        },
        vec![],
    );
    assert_eq!(agent_state(&node, "queue", "anna"), "logged_out");
    let tone = dial_feature(&node, "*41", "anna");
    assert!(
        tone.len() >= 15,
        "the confirmation tone reached the phone ({} packets)",
        tone.len()
    );
    assert_eq!(agent_state(&node, "queue", "anna"), "available");
    dial_feature(&node, "*43", "anna");
    assert_eq!(agent_state(&node, "queue", "anna"), "paused");
    dial_feature(&node, "*44", "anna");
    assert_eq!(agent_state(&node, "queue", "anna"), "available");
    dial_feature(&node, "*42", "anna");
    assert_eq!(agent_state(&node, "queue", "anna"), "logged_out");
    // A phone that is no agent's hears the error tone and changes nothing.
    let error = dial_feature(&node, "*41", "stranger");
    assert!(!error.is_empty());
    assert_eq!(agent_state(&node, "queue", "bob"), "logged_out");
    assert_eq!(node.metric("cc_queue_events_total{node=\"features\",unit=\"queue\",queue=\"NONE\",event=\"AGENTLOGIN\"}"), 1.0);
}

#[test]
fn an_agent_tags_the_call_with_keys_the_caller_does_not_hear() {
    // Anna answers, keys *1# (the unit's tag "information"), then hangs up.
    let keys: String = ['*', '1', '#']
        .iter()
        .map(|d| {
            format!(
                "  <nop><action><exec play_pcap_audio=\"{}\"/></action></nop>\n  <pause milliseconds=\"400\"/>\n",
                scenarios::dtmf_pcap(*d)
            )
        })
        .collect();
    let anna = scenarios::callee(Some(1500)).replacen(
        "<recv request=\"ACK\" crlf=\"true\"/>\n",
        &format!("<recv request=\"ACK\" crlf=\"true\"/>\n{keys}"),
        1,
    );
    let (node, record, caller_rtp, _) = queued_call("queue-tag-keys", &anna, None);
    assert_eq!(record["agent"], "anna");
    assert_eq!(
        record["tags"],
        serde_json::json!(["information"]),
        "{record}"
    );
    assert!(node.metric("cc_call_tags_total{") >= 1.0, "counted");
    let events = caller_rtp
        .packets()
        .iter()
        .filter(|p| p.payload_type == 101)
        .count();
    assert_eq!(events, 0, "the agent's keys are not relayed to the caller");
}
