//! Fuzz `dataplane::parse::dissect`: no input may panic it, and what it reports must
//! stay inside the frame. Run: `cargo +nightly fuzz run dissect`.
#![no_main]

use dataplane::parse::{dissect, Dissection};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut d = Dissection::default();
    let _ = dissect(data, &mut d);
    assert!(usize::from(d.header_len) <= data.len());
    if let Some(l3) = d.l3_offset {
        assert!(usize::from(l3) <= usize::from(d.header_len));
    }
});
