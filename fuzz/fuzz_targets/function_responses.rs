//! Fuzz what a function answers: partial batch responses (`batchItemFailures`) and the
//! outcome rules around them. Whatever the body, the result is a list of offsets or a
//! refusal of the whole batch, never a panic.
//!
//! Memory: at most 128 × input + 256 KiB at peak (the JSON document as serde_json values), and
//! nothing leaked.

#![no_main]

use bytes::Bytes;
use kafka_esm::invoke::{Invocation, outcome, partial};
use kafka_esm_fuzz::{KIB, check};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let bound = 128 * data.len() + 256 * KIB;
    check(data.len(), bound, "128 × input + 256 KiB", || run(data));
});

fn run(data: &[u8]) {
    let _ = partial::parse(data, "orders-3");
    let invocation = Invocation {
        status_code: 200,
        function_error: None,
        executed_version: None,
        payload: Bytes::copy_from_slice(data),
    };
    let _ = outcome(&Ok(invocation), true, "orders-3");
}
