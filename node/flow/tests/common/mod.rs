#![allow(dead_code)]
use cc_flow::{load_unit, Unit, UniversityCalendar};

/// A small valid unit that uses every step type.
pub const BASE: &str = r#"
unit: test
name: Test unit
service_numbers: ["4100"]
timezone: Europe/Madrid
calendar:
  weekly:
    mon: ["08:00-20:00"]
    tue: ["08:00-20:00"]
  holidays:
    - { date: 2026-12-08, name: Immaculate Conception }
prompts:
  welcome: welcome.wav
  menu: menu.wav
  invalid: invalid.wav
  closed: closed.wav
  moh: moh.wav
  greeting: greeting.wav
  bye: bye.wav
agents:
  - { id: anna, name: Anna, uri: "sip:anna@127.0.0.1:5090", endpoint: microsip }
queues:
  general: { agents: [anna], music_on_hold: moh }
tags:
  - { code: "1", name: information }
flow:
  start: hours
  steps:
    hours:
      hours: { open: welcome, closed: closed }
    welcome:
      play: { prompts: [welcome], interruptible: true, next: menu }
    menu:
      menu:
        prompt: menu
        options: { "1": tag_info, "2": message, "3": desk, "42": goodbye }
        invalid_prompt: invalid
        on_invalid: goodbye
        on_timeout: goodbye
    tag_info:
      tag: { tag: information, next: queue }
    queue:
      queue: { queue: general, on_timeout: message, on_no_agents: message, exit_key: "*", on_exit: message }
    message:
      voicemail: { greeting: greeting, max_duration: 60s }
    desk:
      forward: { target: "sip:desk@127.0.0.1:5070", timeout: 20s, on_failure: message }
    closed:
      play: { prompts: [closed], next: end }
    goodbye:
      play: { prompts: [bye], next: end }
    end:
      hangup: {}
"#;

pub fn load(yaml: &str) -> Result<Unit, String> {
    load_unit("units/test.yaml", yaml, &UniversityCalendar::default()).map_err(|e| e.to_string())
}

/// The base document with `from` replaced by `to` (which must occur).
pub fn variant(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "the base has no {from:?}");
    BASE.replacen(from, to, 1)
}
