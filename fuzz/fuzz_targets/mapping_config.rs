//! Fuzz the mapping configuration: any document (valid JSON or not) is either a mapping
//! or a list of errors naming fields, never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        match kafka_esm::config::from_cli_input_json(text) {
            Ok(_) => {}
            Err(e) => {
                assert!(!e.errors().is_empty());
                let _ = e.to_string();
            }
        }
    }
});
