//! The per-packet path of calea-probe: NIC (DPDK ethdev or a pcap file) → worker →
//! zero-copy parse → classify against the worker's target-table replica → hand-off
//! ring to the control plane.
//!
//! Only [`dpdk`] wraps the C fast path; every other module forbids such code in
//! its first lines, so nothing inside it can allow any.
//!
//! The `dpdk` feature (default) links libdpdk. Without it, [`dpdk`] keeps only
//! the huge-page arrays, the MTU setting and the prefetch hint, and [`source`]
//! only the capture-file source: everything else builds and tests on a machine
//! without libdpdk.
//!
//! The `synth` feature (off by default) adds `synth`, the test-frame builder
//! the tests, benches, fuzz seeds and the demo use.

pub mod dpdk;
pub mod handoff;
pub mod parse;
pub mod source;
#[cfg(any(test, feature = "synth"))]
pub mod synth;
pub mod targets;
pub mod worker;
