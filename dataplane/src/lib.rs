//! The per-packet path of calea-probe: NIC (DPDK ethdev or a pcap file) → worker →
//! zero-copy parse → classify against the worker's target-table replica → hand-off
//! ring to the control plane.
//!
//! Only [`dpdk`] wraps the C fast path; every other module forbids such code in
//! its first lines, so nothing inside it can allow any.

pub mod dpdk;
pub mod handoff;
pub mod parse;
pub mod source;
pub mod synth;
pub mod targets;
pub mod worker;
