//! Fuzzes the decoder of stored entries: bytes under a cache key come from a shared store and
//! may be anything. Decoding must return an error, never panic, and whatever decodes must
//! re-encode to the same bytes.
//!
//! Run with `cargo +nightly fuzz run envelope_decode` from `crates/inframind-cache`.
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
