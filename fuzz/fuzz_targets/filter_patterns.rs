//! Fuzz the filter pattern language: any bytes, parsed as a JSON pattern and compiled,
//! either are refused with a message or match a fixed record, never a panic.
//!
//! Memory: at most 128 × input + 256 KiB at peak (serde_json values, the compiled pattern
//! and the record fields it reads), and nothing leaked.

#![no_main]

use kafka_esm::filter::{Pattern, RecordView};
use kafka_esm_fuzz::{KIB, check};
use libfuzzer_sys::fuzz_target;

const VALUE: &[u8] =
    br#"{"device_ID":"AB1234","session":{"duration":162},"ip":"10.0.0.7","tags":["a","b",null,1.5]}"#;

fuzz_target!(|data: &[u8]| {
    let bound = 128 * data.len() + 256 * KIB;
    check(data.len(), bound, "128 × input + 256 KiB", || run(data));
});

fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Pattern::parse(text) {
        Ok(pattern) => {
            let json = RecordView {
                key: Some(b"plain key"),
                ..RecordView::with_value("mytopic", Some(VALUE))
            };
            let plain = RecordView::with_value("mytopic", Some(b"Hello, this is a test."));
            let _ = pattern.matches(&json);
            let _ = pattern.matches(&plain);
            // The value itself as the record: the fuzzer's bytes are also a payload.
            let _ = pattern.matches(&RecordView::with_value("t", Some(data)));
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}
