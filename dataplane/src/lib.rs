//! The per-packet path of calea-probe: NIC (DPDK ethdev or a pcap file) → worker →
//! zero-copy parse → classify against the worker's target-table replica → hand-off
//! ring to the control plane.
//!
//! Only [`dpdk`] is exempt from the crate-wide `deny(unsafe_code)`: it wraps the
//! C fast path; every other module forbids unsafe code, so no `allow` inside it
//! can bring any back.
#![deny(unsafe_code)]

#[allow(unsafe_code)]
pub mod dpdk;
pub mod handoff;
pub mod parse;
pub mod source;
pub mod synth;
pub mod targets;
pub mod worker;
