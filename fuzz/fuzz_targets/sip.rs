//! Fuzz `voice::wire::parse` on SIP messages and their SDP (also in multipart
//! bodies): no input may panic it, and what it returns stays within the input.
//!
//! Run from fuzz/: `cargo +nightly fuzz run sip`.
#![forbid(unsafe_code)]
#![no_main]

use control::voice::wire::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = parse(data) {
        assert!(!m.call_id.is_empty() && m.call_id.len() <= data.len());
        assert!(m.contacts.len() + m.asserted.len() <= data.len());
        if let Some(sdp) = m.sdp {
            assert!(sdp.media.len() <= data.len());
        }
    }
});
