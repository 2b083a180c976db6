//! Fuzz every Kafka response decoder, and the consumer group protocol decoders, with
//! arbitrary bodies at every version they accept (and some they don't). Nothing may panic.
//! Byte 0 picks the decoder, byte 1 the version; the rest is the response body as the
//! connection hands it up (after the response header).
//!
//! Memory: at most 64 × input + 4 KiB at peak, and nothing leaked. Every count is checked
//! against the bytes left before anything is reserved for it, so a reservation costs at
//! most (element size ÷ the element's smallest encoding) per input byte: 32 for Fetch
//! topics (64-byte structs, 2-byte minimum), less for every other array; the vectors of
//! the elements actually decoded, and the names copied into `String`s, add to it.

#![no_main]

use bytes::Bytes;
use kafka_esm::kafka::protocol::messages::*;
use kafka_esm_fuzz::{KIB, check};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [which, version, body @ ..] = data else {
        return;
    };
    // -1..=19 covers every decoder's range and its refusal edges.
    let v = i16::from(*version % 21) - 1;
    let bound = 64 * data.len() + 4 * KIB;
    check(data.len(), bound, "64 × input + 4 KiB", || {
        decode(*which, v, body)
    });
});

fn decode(which: u8, v: i16, body: &[u8]) {
    let body = Bytes::copy_from_slice(body);
    match which % 19 {
        0 => drop(api_versions::decode(body, v)),
        1 => drop(metadata::decode(body, v)),
        2 => drop(fetch::decode(body, v)),
        3 => drop(find_coordinator::decode(body, v)),
        4 => drop(join_group::decode(body, v)),
        5 => drop(sync_group::decode(body, v)),
        6 => drop(heartbeat::decode(body, v)),
        7 => drop(leave_group::decode(body, v)),
        8 => drop(list_offsets::decode(body, v)),
        9 => drop(offset_fetch::decode(body, v)),
        10 => drop(offset_commit::decode(body, v)),
        11 => drop(produce::decode(body, v)),
        12 => drop(init_producer_id::decode(body, v)),
        13 => drop(sasl_handshake::decode(body, v)),
        14 => drop(sasl_authenticate::decode(body, v)),
        15 => drop(consumer_protocol::decode_subscription(body)),
        16 => drop(consumer_protocol::decode_assignment(body)),
        17 => drop(describe_groups::decode(body, v)),
        _ => drop(create_topics::decode(body, v)),
    }
}
