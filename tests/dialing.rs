//! The approved scope at dial time: a forward to a number the unit is not
//! approved for is refused (the caller goes to the step's failure branch),
//! with a record and a metric; approved, the same forward goes out through
//! the telephony platform's gateway.

use std::time::Duration;

use cc_tests::node::{Node, NodeOptions};
use cc_tests::ports::free_port;
use cc_tests::rtp::RtpEndpoint;
use cc_tests::scenarios::{self, Codec, Ending};
use cc_tests::Sipp;

/// Unit `sales` on 4300: a welcome prompt, then a forward to a mobile,
/// then (on failure) a goodbye prompt; `outbound` is its outbound spec.
fn forwarding_unit(outbound: &str, gateway: u16) -> NodeOptions {
    NodeOptions {
        units: vec![(
            "sales.yaml".into(),
            format!(
                "unit: sales\nname: Sales\nservice_numbers: [\"4300\"]\ntimezone: Europe/Madrid\n\
                 prompts:\n  welcome: welcome.wav\n  sorry: sorry.wav\n\
                 outbound: {outbound}\n\
                 flow:\n  start: greet\n  steps:\n\
                 \x20   greet:\n      play: {{ prompts: [welcome], next: out }}\n\
                 \x20   out:\n      forward: {{ target: \"+34612345678\", timeout: 10s, on_failure: sorry }}\n\
                 \x20   sorry:\n      play: {{ prompts: [sorry], next: bye }}\n\
                 \x20   bye:\n      hangup: {{}}\n"
            ),
        )],
        prompts: vec![
            ("sales".into(), "welcome".into(), 500),
            ("sales".into(), "sorry".into(), 500),
        ],
        env: vec![(
            "CC__SIP__EXTENSION_GATEWAY".into(),
            format!("127.0.0.1:{gateway}"),
        )],
    }
}

fn call(node: &Node, ending: Ending) -> cc_tests::sipp::SippResult {
    let rtp = RtpEndpoint::start(true);
    let port = rtp.port.to_string();
    Sipp::start_xml(
        &format!("127.0.0.1:{}", node.sip_port),
        &scenarios::caller(Codec::Pcmu, &[], ending),
        &[
            "-s",
            "4300",
            "-key",
            "rtp_ip",
            "127.0.0.1",
            "-key",
            "rtp_port",
            &port,
            "-m",
            "1",
        ],
    )
    .wait(Duration::from_secs(30))
}

#[test]
fn a_forward_to_a_mobile_is_refused_unless_the_unit_is_approved_for_it() {
    // Approved for local calls only: the mobile is refused at dial time.
    let gateway_port = free_port();
    let gateway = cc_tests::sipp::answering_gateway(gateway_port);
    let node = Node::start(
        "dial-refused",
        forwarding_unit("{ scope: local }", gateway_port),
    );
    let caller = call(&node, Ending::NodeHangsUp);
    assert!(caller.success, "{}\n{}", caller.errors, node.log());
    let records = node.wait_records(1, Duration::from_secs(5));
    assert_eq!(records[0]["dial_refused"], "mobile", "{}", records[0]);
    assert!(
        records[0]["path"].to_string().contains("sorry"),
        "the failure branch: {}",
        records[0]
    );
    let metrics = node.http_get("/metrics").unwrap().1;
    let refused: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("cc_dial_refused_total{"))
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0].contains("unit=\"sales\"")
            && refused[0].contains("kind=\"mobile\"")
            && refused[0].ends_with(" 1"),
        "{refused:?}"
    );
    let gateway = gateway.wait(Duration::from_millis(500));
    assert_eq!(
        gateway.received("INVITE", ""),
        0,
        "nothing reached the gateway:\n{}",
        gateway.messages
    );
    drop(node);

    // The number approved by name: the forward goes out through the
    // gateway, and the mobile answers.
    let gateway_port = free_port();
    let gateway = cc_tests::sipp::answering_gateway(gateway_port);
    let node = Node::start(
        "dial-allowed",
        forwarding_unit("{ scope: local, numbers: [\"612 345 678\"] }", gateway_port),
    );
    let caller = call(&node, Ending::NodeHangsUp);
    assert!(caller.success, "{}\n{}", caller.errors, node.log());
    let gateway = gateway.wait(Duration::from_secs(10));
    assert_eq!(
        gateway.received("INVITE sip:+34612345678@", ""),
        1,
        "{}",
        gateway.messages
    );
    let records = node.wait_records(1, Duration::from_secs(5));
    assert_eq!(records[0]["dial_refused"], serde_json::Value::Null);
    assert_eq!(node.metric("cc_dial_refused_total"), 0.0);
}

#[test]
fn a_numbering_plan_of_its_own_classifies_the_targets() {
    // A plan where 6xx xxx xxx numbers are local: the same forward as
    // above, with a local scope, goes out.
    let plan = cc_tests::node::temp_dir("plan").join("plan.yaml");
    std::fs::write(
        &plan,
        "country_code: \"34\"\ninternational_prefix: \"00\"\nnational_length: 9\n\
         internal: [{ length: 4 }]\nshort: [{ number: \"112\", class: emergency }]\n\
         national: [{ prefix: \"6\", class: national, geographic: true }]\nlocal_prefixes: [\"6\"]\n",
    )
    .unwrap();
    let printed = std::process::Command::new(cc_tests::node::binary())
        .arg("numbering-plan")
        .env("CC__NUMBERING__PLAN_FILE", &plan)
        .output()
        .unwrap();
    assert!(
        printed.status.success(),
        "{}",
        String::from_utf8_lossy(&printed.stderr)
    );
    assert!(String::from_utf8_lossy(&printed.stdout).contains("local_prefixes"));

    let gateway_port = free_port();
    let gateway = cc_tests::sipp::answering_gateway(gateway_port);
    let mut options = forwarding_unit("{ scope: local }", gateway_port);
    options.env.push((
        "CC__NUMBERING__PLAN_FILE".into(),
        plan.display().to_string(),
    ));
    let node = Node::start("dial-plan", options);
    let caller = call(&node, Ending::NodeHangsUp);
    assert!(caller.success, "{}\n{}", caller.errors, node.log());
    let gateway = gateway.wait(Duration::from_secs(10));
    assert_eq!(
        gateway.received("INVITE sip:+34612345678@", ""),
        1,
        "{}",
        gateway.messages
    );
}
