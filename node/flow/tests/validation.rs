//! Every validation error, each with the message an operator reads.

mod common;
use common::*;

fn error_of(yaml: &str) -> String {
    load(yaml).expect_err("the document should be refused")
}

#[test]
fn the_base_document_is_valid() {
    let unit = load(BASE).unwrap();
    assert_eq!(unit.id(), "test");
    assert_eq!(unit.flow.len(), 10);
}

#[test]
fn an_unknown_step_reference_names_the_step_and_the_field() {
    let e = error_of(&variant("open: welcome", "open: welcom"));
    assert_eq!(
        e,
        r#"units/test.yaml: step "hours": open goes to unknown step "welcom""#
    );
}

#[test]
fn an_unknown_menu_target_names_the_option() {
    let e = error_of(&variant(r#""2": message"#, r#""2": mesage"#));
    assert!(
        e.contains(r#"step "menu": option "2" goes to unknown step "mesage""#),
        "{e}"
    );
}

#[test]
fn an_unknown_prompt_is_named() {
    let e = error_of(&variant("prompts: [welcome]", "prompts: [welcome, jingle]"));
    assert_eq!(
        e,
        r#"units/test.yaml: step "welcome": play uses unknown prompt "jingle""#
    );
}

#[test]
fn an_unknown_queue_is_named() {
    let e = error_of(&variant("queue: { queue: general", "queue: { queue: sales"));
    assert_eq!(e, r#"units/test.yaml: step "queue": unknown queue "sales""#);
}

#[test]
fn an_unknown_tag_is_named() {
    let e = error_of(&variant("tag: { tag: information", "tag: { tag: complaint"));
    assert_eq!(
        e,
        r#"units/test.yaml: step "tag_info": unknown tag "complaint""#
    );
}

#[test]
fn an_unknown_start_is_refused() {
    let e = error_of(&variant("start: hours", "start: nowhere"));
    assert_eq!(
        e,
        r#"units/test.yaml: the flow starts at unknown step "nowhere""#
    );
}

#[test]
fn an_unreachable_step_is_named() {
    let yaml = format!("{BASE}    orphan:\n      hangup: {{}}\n");
    assert_eq!(
        error_of(&yaml),
        r#"units/test.yaml: step "orphan": is unreachable from the start"#
    );
}

#[test]
fn a_loop_that_never_waits_is_named_with_its_route() {
    let yaml = variant("open: welcome", "open: loop_a").replace(
        "    end:\n",
        "    loop_a:\n      goto: { step: loop_b }\n    loop_b:\n      tag: { tag: information, next: loop_a }\n    end:\n",
    );
    let e = error_of(&yaml);
    assert!(
        e.contains("loops without waiting: loop_a → loop_b → loop_a"),
        "{e}"
    );
    // The welcome chain is now unreachable too; both problems are reported.
    assert!(e.contains(r#"step "welcome": is unreachable"#), "{e}");
}

#[test]
fn a_loop_through_a_waiting_step_is_allowed() {
    let yaml = variant("on_timeout: goodbye", "on_timeout: menu");
    assert!(load(&yaml).is_ok());
}

#[test]
fn an_empty_play_is_refused() {
    let e = error_of(&variant("prompts: [bye]", "prompts: []"));
    assert!(
        e.contains(r#"step "goodbye": play needs at least one prompt"#),
        "{e}"
    );
}

#[test]
fn menu_keys_must_be_dtmf() {
    let e = error_of(&variant(r#""42": goodbye"#, r#""4x": goodbye"#));
    assert!(e.contains(r#"option "4x" must be keys 0-9, * or #"#), "{e}");
}

#[test]
fn a_forward_target_must_be_a_sip_uri_or_an_extension() {
    let e = error_of(&variant(
        r#"target: "sip:desk@127.0.0.1:5070""#,
        r#"target: "desk phone""#,
    ));
    assert!(
        e.contains(r#"forward target "desk phone" is neither a SIP URI nor an extension"#),
        "{e}"
    );
    assert!(load(&variant(
        r#"target: "sip:desk@127.0.0.1:5070""#,
        r#"target: "4321""#
    ))
    .is_ok());
}

#[test]
fn exit_key_needs_its_branch() {
    let e = error_of(&variant(
        r#", exit_key: "*", on_exit: message"#,
        r#", exit_key: "*""#,
    ));
    assert!(e.contains("exit_key and on_exit go together"), "{e}");
}

#[test]
fn unknown_fields_are_typos_not_settings() {
    let e = error_of(&variant("interruptible: true", "interuptible: true"));
    assert!(
        e.starts_with("units/test.yaml: not a valid unit document:"),
        "{e}"
    );
    assert!(e.contains("interuptible"), "{e}");
}

#[test]
fn a_bad_time_zone_and_bad_hours_are_reported_together() {
    let yaml = variant("timezone: Europe/Madrid", "timezone: Europe/Atlantis")
        .replace("08:00-20:00\"]\n    tue", "20:00-08:00\"]\n    tue");
    let e = error_of(&yaml);
    assert!(e.contains("unknown time zone \"Europe/Atlantis\""), "{e}");
    assert!(
        e.contains("calendar mon") && e.contains("after the start"),
        "{e}"
    );
}

#[test]
fn a_unit_without_a_calendar_is_always_open() {
    let yaml = BASE.replace("calendar:\n  weekly:\n    mon: [\"08:00-20:00\"]\n    tue: [\"08:00-20:00\"]\n  holidays:\n    - { date: 2026-12-08, name: Immaculate Conception }\n", "");
    assert!(!yaml.contains("calendar:"));
    let unit = load(&yaml).unwrap();
    let sunday = "2026-12-06T03:00:00Z".parse().unwrap();
    assert_eq!(unit.calendar.status(sunday), cc_flow::HoursStatus::Open);
}

#[test]
fn bad_hours_name_the_day() {
    let e = error_of(&BASE.replacen("08:00-20:00", "20:00-08:00", 1));
    assert!(
        e.contains("calendar mon") && e.contains("after the start"),
        "{e}"
    );
}

#[test]
fn a_queue_with_an_unknown_agent_is_refused() {
    let e = error_of(&variant("agents: [anna]", "agents: [anna, bob]"));
    assert_eq!(
        e,
        r#"units/test.yaml: queue "general": unknown agent "bob""#
    );
}

#[test]
fn an_agent_uri_must_be_sip() {
    let e = error_of(&variant(
        r#"uri: "sip:anna@127.0.0.1:5090""#,
        r#"uri: "anna""#,
    ));
    assert!(
        e.contains(r#"agent "anna": "anna" is not a SIP URI"#),
        "{e}"
    );
}

#[test]
fn service_numbers_are_digits() {
    let e = error_of(&variant(
        r#"service_numbers: ["4100"]"#,
        r#"service_numbers: ["help"]"#,
    ));
    assert!(e.contains(r#"service number "help" must be digits"#), "{e}");
    let e = error_of(&variant(
        r#"service_numbers: ["4100"]"#,
        "service_numbers: []",
    ));
    assert!(e.contains("at least one service number is needed"), "{e}");
}

#[test]
fn prompts_must_be_wav_and_tags_unique() {
    let e = error_of(&variant("bye: bye.wav", "bye: bye.mp3"));
    assert!(
        e.contains(r#"prompt "bye": "bye.mp3" is not a .wav file"#),
        "{e}"
    );
    let e = error_of(&variant(
        "- { code: \"1\", name: information }",
        "- { code: \"1\", name: information }\n  - { code: \"1\", name: other }",
    ));
    assert!(e.contains(r#"tag code "1" is used twice"#), "{e}");
}

#[test]
fn music_on_hold_must_be_a_prompt() {
    let e = error_of(&variant("music_on_hold: moh", "music_on_hold: jazz"));
    assert!(
        e.contains(r#"queue "general": unknown prompt "jazz" for music on hold"#),
        "{e}"
    );
}

#[test]
fn a_queue_member_with_a_level_is_read_and_a_misspelt_key_is_named() {
    let unit = load(&variant(
        "agents: [anna]",
        "agents: [{ agent: anna, level: 2 }]",
    ))
    .unwrap();
    let queue = &unit.document.queues["general"];
    assert_eq!(
        (queue.agents[0].agent(), queue.agents[0].level()),
        ("anna", 2)
    );
    let e = error_of(&variant(
        "agents: [anna]",
        "agents: [{ agent: anna, levle: 2 }]",
    ));
    assert!(e.contains("unknown field `levle`"), "{e}");
    let e = error_of(&variant("agents: [anna]", "agents: [{ level: 2 }]"));
    assert!(e.contains("missing field `agent`"), "{e}");
}
