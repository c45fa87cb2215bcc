//! A unit's YAML document through parsing and validation.
#![no_main]
use cc_flow::{load_unit, UniversityCalendar};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = load_unit("fuzz.yaml", text, &UniversityCalendar::default());
});
