//! Fuzz the mapping configuration: any document (valid JSON or not) is either a mapping
//! or a list of errors naming fields, never a panic.
//!
//! Memory: at most 128 × input + 256 KiB at peak (the JSON document as serde_json values, and
//! the mapping or its errors), and nothing leaked.

#![no_main]

use kafka_esm_fuzz::{KIB, check};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let bound = 128 * data.len() + 256 * KIB;
    check(data.len(), bound, "128 × input + 256 KiB", || run(data));
});

fn run(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        match kafka_esm::config::from_cli_input_json(text) {
            Ok(_) => {}
            Err(e) => {
                assert!(!e.errors().is_empty());
                let _ = e.to_string();
            }
        }
    }
}
