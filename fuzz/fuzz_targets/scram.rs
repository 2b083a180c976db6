//! Fuzz the SCRAM client with arbitrary server messages: any server-first and
//! server-final is an answer or an error, never a panic. Byte 0 picks the hash; bytes
//! up to the first NUL are the server-first message, the rest the server-final. The
//! client nonce is the fixed "n", so inputs that start `r=n...` get past the nonce check;
//! the iteration cap is lowered so that accepted counts stay fast.
//!
//! Memory: at most 16 × input + 16 KiB at peak, and nothing leaked.

#![no_main]

use kafka_esm::kafka::client::conn::sasl::scram::{ScramClient, ScramHash};
use kafka_esm_fuzz::{KIB, check};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let bound = 16 * data.len() + 16 * KIB;
    check(data.len(), bound, "16 × input + 16 KiB", || run(data));
});

fn run(data: &[u8]) {
    let [which, rest @ ..] = data else {
        return;
    };
    let hash = if which % 2 == 0 {
        ScramHash::Sha256
    } else {
        ScramHash::Sha512
    };
    let (first, last) = match rest.iter().position(|b| *b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let Ok(client) = ScramClient::with_nonce(hash, "user", "pencil", "n") else {
        return;
    };
    let mut client = client.max_iterations(16);
    if let Ok(client_final) = client.handle_server_first(first) {
        assert!(client_final.starts_with(b"c=biws,r=n"));
        if client.handle_server_final(last).is_ok() {
            assert!(client.is_done());
        }
    }
}
