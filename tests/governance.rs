//! The governance walk against a real node and PostgreSQL: a unit signed
//! up through the API answers its number only once a manager of the unit
//! and the ICT directorate have approved it; a forward to a mobile is not
//! dialled until another manager approves the change; a node without
//! PostgreSQL serves the configuration it cached.

use std::process::Command;
use std::time::Duration;

use cc_tests::api::{self, Database};
use cc_tests::node::{temp_dir, Node, NodeOptions};
use cc_tests::ports::free_port;
use cc_tests::rtp::RtpEndpoint;
use cc_tests::scenarios::{self, Codec, Ending};
use cc_tests::wait_until;
use cc_tests::Sipp;
use serde_json::{json, Value};

fn node_on(
    database_url: &str,
    api_port: u16,
    cache: &std::path::Path,
    gateway: u16,
    label: &str,
) -> Node {
    Node::start(
        label,
        NodeOptions {
            units: vec![],
            prompts: vec![],
            env: vec![
                ("CC__STORE__URL".into(), database_url.into()),
                ("CC__API__LISTEN".into(), format!("127.0.0.1:{api_port}")),
                (
                    "CC__PATHS__CONFIG_CACHE".into(),
                    cache.display().to_string(),
                ),
                (
                    "CC__SIP__EXTENSION_GATEWAY".into(),
                    format!("127.0.0.1:{gateway}"),
                ),
            ],
        },
    )
}

/// The library's document: a welcome prompt, then hang up, or (with a
/// forward step `out`) the forward.
fn library(forward: &str, outbound: &str) -> String {
    let next = if forward.is_empty() { "bye" } else { "out" };
    format!(
        "unit: library\nname: Library\nservice_numbers: [\"4100\"]\ntimezone: Europe/Madrid\n\
         prompts:\n  welcome: welcome.wav\n\
         outbound: {outbound}\n\
         flow:\n  start: greet\n  steps:\n\
         \x20   greet:\n      play: {{ prompts: [welcome], next: {next} }}\n\
         \x20   bye:\n      hangup: {{}}\n{forward}"
    )
}

/// A call to 4100: `Ok(packets heard)` when answered, `Err(what SIPp
/// saw)` otherwise.
fn call_library(node: &Node) -> Result<usize, String> {
    let rtp = RtpEndpoint::start(true);
    let port = rtp.port.to_string();
    let result = Sipp::start_xml(
        &format!("127.0.0.1:{}", node.sip_port),
        &scenarios::caller(Codec::Pcmu, &[], Ending::NodeHangsUp),
        &[
            "-s",
            "4100",
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
    .wait(Duration::from_secs(30));
    if result.success {
        Ok(rtp.packets().len())
    } else {
        Err(format!("{}\n{}", result.errors, result.screen))
    }
}

fn refused_with_404(node: &Node) -> bool {
    Sipp::start_xml(
        &format!("127.0.0.1:{}", node.sip_port),
        &scenarios::refused_caller("sip:someone@192.0.2.1", 404),
        &["-s", "4100", "-m", "1"],
    )
    .wait(Duration::from_secs(10))
    .success
}

/// Signs the library up with `yaml` (and its welcome prompt), gives it a
/// manager, maria, and approves it: her token.
fn live_library(api_port: u16, irene: &str, yaml: &str) -> String {
    let request = ok(
        api::json(
            api_port,
            "POST",
            "/api/v1/units",
            Some(irene),
            &json!({ "yaml": yaml }),
        ),
        201,
    );
    let wav = temp_dir("welcome").join("welcome.wav");
    cc_tests::prompts::write(&wav, "welcome", 500);
    let bytes = std::fs::read(&wav).unwrap();
    let upload = "/api/v1/units/library/prompts/welcome";
    ok(
        api::request(
            api_port,
            "PUT",
            upload,
            Some(irene),
            Some(("audio/wav", &bytes)),
        ),
        201,
    );
    let manager = json!({ "username": "maria", "password": "maria-password",
                          "roles": [{ "role": "unit_manager", "unit": "library" }] });
    ok(
        api::json(api_port, "POST", "/api/v1/users", Some(irene), &manager),
        201,
    );
    let maria = login(api_port, "maria");
    let approve = format!("/api/v1/units/library/requests/{}/approve", request["id"]);
    for token in [maria.as_str(), irene] {
        ok(
            api::json(api_port, "POST", &approve, Some(token), &json!({})),
            200,
        );
    }
    maria
}

fn login(port: u16, user: &str) -> String {
    let (status, body) = api::json(
        port,
        "POST",
        "/api/v1/sessions",
        None,
        &json!({ "username": user, "password": format!("{user}-password") }),
    );
    assert_eq!(status, 201, "{body}");
    body["token"].as_str().unwrap().to_string()
}

/// The list at `path` once it holds `at_least` items (what the spool
/// copies reaches PostgreSQL within a few seconds).
fn listed_once(api_port: u16, path: &str, token: &str, at_least: usize) -> Value {
    let mut listed = Value::Null;
    wait_until(
        &format!("{path} lists {at_least}"),
        Duration::from_secs(10),
        || {
            listed = api::json(api_port, "GET", path, Some(token), &Value::Null).1;
            listed.as_array().is_some_and(|l| l.len() >= at_least)
        },
    );
    listed
}

fn ok(answer: (u16, Value), expected: u16) -> Value {
    assert_eq!(answer.0, expected, "{}", answer.1);
    answer.1
}

/// A fresh database whose first ICT account, irene, is made as operators
/// make it: by the command line.
fn database_with_irene() -> Database {
    let database = Database::create();
    let (ok, out) = cli(
        &database,
        "irene-password",
        &["user", "add", "irene", "--role", "ict_directorate"],
    );
    assert!(ok, "{out}");
    database
}

/// A node on `database` serving the API (no gateway): the node, the API's
/// port and irene's token.
fn governed_node(database: &Database, label: &str) -> (Node, u16, String) {
    let api_port = free_port();
    let cache = temp_dir(&format!("{label}-cache")).join("cache");
    let node = node_on(&database.url, api_port, &cache, free_port(), label);
    let irene = login(api_port, "irene");
    (node, api_port, irene)
}

#[test]
fn a_unit_signed_up_through_the_api_answers_once_approved_and_spends_only_what_is_approved() {
    // The first ICT account, by the operators' CLI.
    let database = database_with_irene();

    let api_port = free_port();
    let cache = temp_dir("config-cache").join("cache");
    let gateway_port = free_port();
    let node = node_on(&database.url, api_port, &cache, gateway_port, "governed");
    let irene = login(api_port, "irene");

    // The sign-up (through the ICT help desk), and the unit's prompt.
    let request = ok(
        api::json(
            api_port,
            "POST",
            "/api/v1/units",
            Some(&irene),
            &json!({ "yaml": library("", "{ scope: local }"), "reason": "ticket 1" }),
        ),
        201,
    );
    let id = request["id"].as_i64().unwrap();
    let wav = temp_dir("welcome").join("welcome.wav");
    cc_tests::prompts::write(&wav, "welcome", 1000);
    let bytes = std::fs::read(&wav).unwrap();
    ok(
        api::request(
            api_port,
            "PUT",
            "/api/v1/units/library/prompts/welcome",
            Some(&irene),
            Some(("audio/wav", &bytes)),
        ),
        201,
    );
    ok(
        api::json(
            api_port,
            "POST",
            "/api/v1/users",
            Some(&irene),
            &json!({ "username": "maria",
            "password": "maria-password", "roles": [{ "role": "unit_manager", "unit": "library" }] }),
        ),
        201,
    );
    ok(
        api::json(
            api_port,
            "POST",
            "/api/v1/users",
            Some(&irene),
            &json!({ "username": "marc",
            "password": "marc-password", "roles": [{ "role": "unit_manager", "unit": "library" }] }),
        ),
        201,
    );
    let maria = login(api_port, "maria");
    let marc = login(api_port, "marc");

    // Not live: the number is unknown to the node.
    assert!(refused_with_404(&node), "{}", node.log());
    let approve = format!("/api/v1/units/library/requests/{id}/approve");
    let state = ok(
        api::json(api_port, "POST", &approve, Some(&maria), &json!({})),
        200,
    );
    assert_eq!(state["state"]["state"], "pending");
    std::thread::sleep(Duration::from_millis(500));
    assert!(refused_with_404(&node), "one approval is not enough");
    let state = ok(
        api::json(api_port, "POST", &approve, Some(&irene), &json!({})),
        200,
    );
    assert_eq!(state["state"]["state"], "applied");

    // Live: the node reloads and answers, playing the uploaded prompt.
    wait_until("the node serves the unit", Duration::from_secs(10), || {
        node.http_get("/health")
            .is_some_and(|(_, h)| h.contains("\"units\":1"))
    });
    let heard =
        call_library(&node).unwrap_or_else(|e| panic!("the call failed: {e}\n{}", node.log()));
    assert!(heard >= 40, "the welcome prompt: {heard} packets");

    // A forward to a mobile: the change waits for another manager, and
    // until then nothing is dialled.
    let gateway = cc_tests::sipp::answering_gateway(gateway_port);
    let forward =
        "    out:\n      forward: { target: \"+34612345678\", timeout: 10s, on_failure: bye }\n";
    let change = ok(
        api::json(
            api_port,
            "POST",
            "/api/v1/units/library/versions",
            Some(&maria),
            &json!({ "yaml": library(forward, "{ scope: local }"), "reason": "after-hours duty phone" }),
        ),
        201,
    );
    assert_eq!(change["state"]["state"], "pending", "{change}");
    assert_eq!(change["costs"][0]["class"], "mobile", "{change}");
    assert!(call_library(&node).is_ok());
    let change_id = change["id"].as_i64().unwrap();
    let approve = format!("/api/v1/units/library/requests/{change_id}/approve");
    assert_eq!(
        api::json(api_port, "POST", &approve, Some(&maria), &json!({})).0,
        403,
        "not her own"
    );
    ok(
        api::json(
            api_port,
            "POST",
            &approve,
            Some(&marc),
            &json!({ "reason": "ok" }),
        ),
        200,
    );
    wait_until("the change is served", Duration::from_secs(10), || {
        std::fs::read_to_string(cache.join("library.yaml"))
            .is_ok_and(|y| y.contains("+34612345678"))
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(call_library(&node).is_ok());
    let gateway = gateway.wait(Duration::from_secs(10));
    assert_eq!(
        gateway.received("INVITE sip:+34612345678@", ""),
        1,
        "the approved forward is dialled:\n{}\n{}",
        gateway.messages,
        node.log()
    );
    // The node's records reach PostgreSQL (through its on-disk spool), and
    // the unit's managers read them.
    let records = listed_once(api_port, "/api/v1/units/library/records", &maria, 3);
    assert!(
        records
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["target"] == "+34612345678"),
        "{records}"
    );
    // Audited: who, what, why.
    let trail = ok(
        api::json(
            api_port,
            "GET",
            "/api/v1/units/library/audit",
            Some(&maria),
            &Value::Null,
        ),
        200,
    );
    let actions: Vec<&str> = trail
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"change_requested") && actions.contains(&"approved_applied"),
        "{actions:?}"
    );
    drop(node);

    // Without PostgreSQL the node serves what it cached, forward included.
    let gateway_port = free_port();
    let gateway = cc_tests::sipp::answering_gateway(gateway_port);
    let offline = node_on(
        "postgres://postgres@127.0.0.1:1/nowhere",
        free_port(),
        &cache,
        gateway_port,
        "offline",
    );
    assert!(
        offline
            .http_get("/health")
            .is_some_and(|(_, h)| h.contains("\"units\":1")),
        "{}",
        offline.log()
    );
    if let Err(e) = call_library(&offline) {
        panic!("{e}\n{}", offline.log());
    }
    assert_eq!(
        gateway
            .wait(Duration::from_secs(10))
            .received("INVITE sip:+34612345678@", ""),
        1
    );
}

/// How many of a unit's records PostgreSQL holds (asked directly).
fn stored_records(database: &Database) -> usize {
    let out = Command::new("psql")
        .arg(&database.url)
        .args(["-qAt", "-c", "SELECT count(*) FROM call_records"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

#[test]
fn a_postgresql_outage_loses_no_record_and_stops_no_call() {
    let database = database_with_irene();
    // The node reaches PostgreSQL through a link the test can cut.
    let server = database
        .url
        .split('/')
        .nth(2)
        .unwrap()
        .rsplit('@')
        .next()
        .unwrap()
        .to_string();
    let link = cc_tests::tcp_proxy::TcpProxy::start(&server);
    let through_link = database
        .url
        .replacen(&server, &format!("127.0.0.1:{}", link.port), 1);
    let api_port = free_port();
    let cache = temp_dir("outage-cache").join("cache");
    let node = node_on(&through_link, api_port, &cache, free_port(), "outage");

    let irene = login(api_port, "irene");
    live_library(api_port, &irene, &library("", "{ scope: local }"));
    wait_until("the node serves the unit", Duration::from_secs(10), || {
        node.http_get("/health")
            .is_some_and(|(_, h)| h.contains("\"units\":1"))
    });
    call_library(&node).unwrap_or_else(|e| panic!("{e}\n{}", node.log()));
    wait_until(
        "the first record is stored",
        Duration::from_secs(10),
        || stored_records(&database) == 1,
    );

    // PostgreSQL goes away: calls go on, from the cached configuration;
    // their records wait on disk.
    link.cut();
    for _ in 0..3 {
        call_library(&node).unwrap_or_else(|e| panic!("during the outage: {e}\n{}", node.log()));
    }
    assert_eq!(stored_records(&database), 1);
    assert!(
        node.metric("cc_records_spooled_bytes") > 0.0,
        "the spool holds them"
    );

    // Back: every record arrives, none twice.
    link.restore();
    wait_until("every record is stored", Duration::from_secs(20), || {
        stored_records(&database) == 4
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(stored_records(&database), 4);
    wait_until("the spool is empty", Duration::from_secs(5), || {
        node.metric("cc_records_spooled_bytes") == 0.0
    });
}

/// `cc-node <args>` against `database` as whoever's password is given.
fn cli(database: &Database, password: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(cc_tests::node::binary())
        .args(args)
        .env("CC__STORE__URL", &database.url)
        .env("CC__LOG__LEVEL", "warn")
        .env("CC_PASSWORD", password)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_operators_command_line_applies_lists_approves_and_audits() {
    let database = database_with_irene();
    let file = temp_dir("ops").join("library.yaml");
    std::fs::write(&file, library("", "{ scope: local }")).unwrap();
    let file = file.display().to_string();

    let (ok, out) = cli(
        &database,
        "irene-password",
        &[
            "ops", "--user", "irene", "apply", &file, "--reason", "ticket 7",
        ],
    );
    assert!(ok, "{out}");
    assert!(out.contains("sign_up") && out.contains("pending"), "{out}");
    let (ok, out) = cli(
        &database,
        "maria-password",
        &[
            "user",
            "add",
            "maria",
            "--role",
            "unit_manager",
            "--unit",
            "library",
        ],
    );
    assert!(ok, "{out}");
    let (_, pending) = cli(
        &database,
        "irene-password",
        &["ops", "--user", "irene", "pending"],
    );
    assert!(pending.contains("request 1 of unit library"), "{pending}");
    // A wrong password gets nowhere.
    let (ok, out) = cli(
        &database,
        "not-maria",
        &["ops", "--user", "maria", "approve", "library", "1"],
    );
    assert!(!ok && out.contains("401"), "{out}");
    let (ok, out) = cli(
        &database,
        "maria-password",
        &["ops", "--user", "maria", "approve", "library", "1"],
    );
    assert!(ok && out.contains("pending"), "{out}");
    let (ok, out) = cli(
        &database,
        "irene-password",
        &["ops", "--user", "irene", "approve", "library", "1"],
    );
    assert!(ok && out.contains("applied"), "{out}");
    let (_, pending) = cli(
        &database,
        "irene-password",
        &["ops", "--user", "irene", "pending"],
    );
    assert!(pending.contains("nothing pending"), "{pending}");
    let (ok, out) = cli(
        &database,
        "irene-password",
        &[
            "ops", "--user", "irene", "reject", "library", "1", "--reason", "late",
        ],
    );
    assert!(!ok && out.contains("409"), "a closed request: {out}");

    // A change that carries cost, applied by the operator: it waits.
    std::fs::write(&file, library("", "{ scope: international }")).unwrap();
    let (ok, out) = cli(
        &database,
        "irene-password",
        &["ops", "--user", "irene", "apply", &file],
    );
    assert!(
        ok && out.contains("pending") && out.contains("scope_widened"),
        "{out}"
    );

    let (ok, trail) = cli(
        &database,
        "maria-password",
        &["ops", "--user", "maria", "audit", "library"],
    );
    assert!(ok, "{trail}");
    for expected in [
        "sign_up_requested",
        "\"ticket 7\"",
        "maria (unit_manager)  approved_pending",
        "approved_applied",
        "change_requested",
    ] {
        assert!(trail.contains(expected), "{expected} in:\n{trail}");
    }
}

#[test]
fn an_agent_provisioned_through_the_api_registers_with_the_account_of_its_microsip_ini() {
    use cc_tests::kamailio::{Kamailio, KamailioPorts, DOMAIN};
    let database = database_with_irene();
    let (node, api_port, irene) = governed_node(&database, "agents");
    let yaml = library("", "{ scope: local }").replace(
        "outbound:",
        &format!(
            "agents:\n  - {{ id: anna, name: Anna Puig, uri: \"sip:anna@{DOMAIN}\", endpoint: microsip }}\n\
             \x20 - {{ id: pau, name: Pau Serra, uri: \"sip:2002@pbx.university.example\", endpoint: desk_phone }}\noutbound:"
        ),
    );
    let maria = live_library(api_port, &irene, &yaml);

    let agents = ok(
        api::json(
            api_port,
            "GET",
            "/api/v1/units/library/agents",
            Some(&maria),
            &Value::Null,
        ),
        200,
    );
    assert_eq!(agents[0]["sip_username"], "anna", "{agents}");
    assert_eq!(agents[1]["endpoint"], "desk_phone", "{agents}");
    assert!(
        !agents.to_string().contains("password"),
        "no password in the list: {agents}"
    );
    let (status, ini) = api::request(
        api_port,
        "GET",
        "/api/v1/units/library/agents/anna/microsip.ini",
        Some(&maria),
        None,
    );
    assert_eq!(status, 200, "{ini}");
    let ini = ini.as_str().unwrap().to_string();
    let field = |key: &str| {
        ini.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("{key} in {ini}"))
            .trim()
            .to_string()
    };
    assert_eq!(field("username"), "anna");
    assert_eq!(field("domain"), DOMAIN);
    assert!(field("audioCodecs").contains("PCMA") && field("audioCodecs").contains("PCMU"));
    let password = field("password");
    assert!(password.len() >= 16, "{password}");
    let (status, _) = api::request(
        api_port,
        "GET",
        "/api/v1/units/library/agents/pau/microsip.ini",
        Some(&maria),
        None,
    );
    assert_eq!(status, 409, "a desk phone keeps its line's configuration");

    // The live view, and agents' states over the API: the supervisors'
    // any agent, an agent their own.
    wait_until("the node serves the unit", Duration::from_secs(10), || {
        node.http_get("/health")
            .is_some_and(|(_, h)| h.contains("\"units\":1"))
    });
    let live = ok(
        api::json(
            api_port,
            "GET",
            "/api/v1/units/library/live",
            Some(&maria),
            &Value::Null,
        ),
        200,
    );
    assert!(live["agents"].to_string().contains("logged_out"), "{live}");
    let anna_state = ok(
        api::json(
            api_port,
            "POST",
            "/api/v1/units/library/agents/anna/state",
            Some(&maria),
            &json!({ "action": "login" }),
        ),
        200,
    );
    assert_eq!(anna_state["state"], "available", "{anna_state}");
    ok(
        api::json(
            api_port,
            "POST",
            "/api/v1/users",
            Some(&irene),
            &json!({ "username": "pau",
            "password": "pau-password", "roles": [{ "role": "agent", "unit": "library" }] }),
        ),
        201,
    );
    let pau = login(api_port, "pau");
    let state = ok(
        api::json(
            api_port,
            "POST",
            "/api/v1/units/library/agents/pau/state",
            Some(&pau),
            &json!({ "action": "login" }),
        ),
        200,
    );
    assert_eq!(state["state"], "available", "{state}");
    let paused = ok(
        api::json(
            api_port,
            "POST",
            "/api/v1/units/library/agents/pau/state",
            Some(&pau),
            &json!({ "action": "pause", "reason": "lunch" }),
        ),
        200,
    );
    assert_eq!(paused["state"], "paused", "{paused}");
    assert_eq!(
        api::json(
            api_port,
            "POST",
            "/api/v1/units/library/agents/anna/state",
            Some(&pau),
            &json!({ "action": "logout" })
        )
        .0,
        404,
        "not pau's to change"
    );
    assert_eq!(
        api::json(
            api_port,
            "GET",
            "/api/v1/units/library/live",
            Some(&pau),
            &Value::Null
        )
        .0,
        403
    );

    // Kamailio on the platform's database: the account is the agent's.
    let ports = KamailioPorts::choose();
    let kamailio = Kamailio::start_on(ports, &[node.sip_port], &database.name, false);
    let register = |password: &str, accepted: bool| {
        Sipp::start_xml(
            &ports.sip_addr(),
            &scenarios::register("anna", DOMAIN, free_port(), accepted),
            &["-au", "anna", "-ap", password, "-m", "1"],
        )
        .wait(Duration::from_secs(10))
    };
    let refused = register("not-the-password", false);
    assert!(refused.success, "{}\n{}", refused.errors, kamailio.log());
    assert!(kamailio.registered().is_empty());
    let registered = register(&password, true);
    assert!(
        registered.success,
        "{}\n{}",
        registered.errors,
        kamailio.log()
    );
    assert_eq!(kamailio.registered(), ["anna"]);
    drop(kamailio);
}

#[test]
fn a_voicemail_left_on_the_node_is_listened_to_by_the_units_supervisor_through_the_api() {
    use cc_media::Law;
    use cc_tests::scenarios::Then;
    let database = database_with_irene();
    let (node, api_port, irene) = governed_node(&database, "voicemail");
    let yaml = library("", "{ scope: local }").replace(
        "play: { prompts: [welcome], next: bye }",
        "voicemail: { greeting: welcome, max_duration: 15s, next: bye }",
    );
    live_library(api_port, &irene, &yaml);
    ok(
        api::json(
            api_port,
            "POST",
            "/api/v1/users",
            Some(&irene),
            &json!({ "username": "sofia", "password": "sofia-password",
                     "roles": [{ "role": "supervisor", "unit": "library" }] }),
        ),
        201,
    );
    let sofia = login(api_port, "sofia");
    wait_until("the node serves the unit", Duration::from_secs(10), || {
        node.http_get("/health")
            .is_some_and(|(_, h)| h.contains("\"units\":1"))
    });

    // A caller speaks after the greeting and the beep, then hangs up.
    let rtp = RtpEndpoint::start(false);
    let port = rtp.port.to_string();
    let xml = scenarios::caller(
        Codec::Pcma,
        &[
            Then::Pause(1500),
            Then::PlayPcap(scenarios::AUDIO_PCAP.into()),
            Then::Pause(8000),
        ],
        Ending::CallerHangsUp,
    );
    let result = Sipp::start_xml(
        &format!("127.0.0.1:{}", node.sip_port),
        &xml,
        &[
            "-s",
            "4100",
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
    .wait(Duration::from_secs(40));
    assert!(
        result.success,
        "{}\n{}\n{}",
        result.errors,
        result.screen,
        node.log()
    );

    // It reaches PostgreSQL through the spool; the supervisor lists it...
    let listed = listed_once(api_port, "/api/v1/units/library/voicemail", &sofia, 1);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    let message = &listed[0];
    assert!(
        message["caller"]
            .as_str()
            .unwrap()
            .starts_with("sip:caller1@"),
        "{listed}"
    );
    assert_eq!(message["heard_by"], Value::Null);

    // ... and plays it: the caller's own audio, sample for sample.
    let (status, wav) = api::request_bytes(
        api_port,
        "GET",
        &format!("/api/v1/units/library/voicemail/{}/audio", message["id"]),
        Some(&sofia),
        None,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&wav));
    let mut wav = hound::WavReader::new(std::io::Cursor::new(wav)).expect("a WAV");
    assert_eq!(wav.spec().sample_rate, 8000);
    let stored: Vec<i16> = wav.samples::<i16>().map(Result::unwrap).collect();
    let played: Vec<i16> = cc_tests::pcap::rtp_payloads(scenarios::AUDIO_PCAP)
        .into_iter()
        .flat_map(|(_, payload)| payload.into_iter().map(|b| Law::A.decode(b)))
        .collect();
    assert_eq!(stored, played, "the caller's message as spoken");
    assert_eq!(
        message["duration_ms"].as_i64().unwrap() / 10,
        played.len() as i64 / 80
    );
    // Who listened first is kept.
    let listed = ok(
        api::json(
            api_port,
            "GET",
            "/api/v1/units/library/voicemail",
            Some(&sofia),
            &Value::Null,
        ),
        200,
    );
    assert_eq!(listed[0]["heard_by"], "sofia", "{listed}");
}
