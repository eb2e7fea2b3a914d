//! Fuzzes the decoder of stored entries: bytes under a cache key come from a shared store and
//! may be anything. Decoding must return an error, never panic, and whatever decodes must
//! re-encode to the same bytes.
//!
//! Run with `cargo +nightly fuzz run envelope_decode` from `crates/inframind-cache`. Without
//! cargo-fuzz installed, the same build by hand (from `crates/inframind-cache/fuzz`):
//!
//! ```sh
//! RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
//!   -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
//!   -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions" \
//!   cargo +nightly build --release --target x86_64-unknown-linux-gnu --bin envelope_decode
//! target/x86_64-unknown-linux-gnu/release/envelope_decode -max_total_time=60 corpus/
//! ```
#![no_main]

use bytes::Bytes;
use inframind_cache::envelope::Envelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let bytes = Bytes::copy_from_slice(data);
    if let Ok(envelope) = Envelope::decode(&bytes) {
        // Decompression of a hostile body is bounded by the declared length.
        let _ = envelope.plain_body();
        let again = envelope.encode();
        assert_eq!(Envelope::decode(&again).as_ref(), Ok(&envelope));
    }
});
