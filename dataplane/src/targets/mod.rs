//! Target tables: which intercepts a packet belongs to. Each worker owns a replica
//! and applies [`Update`]s from its own single-producer ring between bursts.
//!
//! Per worker: exact IPv4/IPv6 tables with an in-cache filter, CIDR tables that
//! find every containing prefix, an exact MAC table, an exact table of UDP
//! endpoints (address and port) whose addresses are marked in the exact
//! IPv4/IPv6 tables (so only frames touching such an address look at their
//! port, in the last stage), and an intercept array indexed by [`Slot`]. Each entry maps to the set of slots naming it (one inline, more
//! spilled to a boxed slice). A frame goes through three stages
//! ([`TableReplica::hash_keys`], [`TableReplica::may_match`],
//! [`TableReplica::classify_hashed`]) so the worker can overlap a burst's lookups.
#![forbid(unsafe_code)]

use std::sync::Arc;

mod exact;
mod matches;
mod prefix;
mod replica;
mod ring;
mod slots;
mod writer;

pub use li_types::{Direction, InterceptSpec, Layer, Match, Mode, Slot, Target};
pub use matches::Matches;
pub(crate) use replica::Screened;
pub use replica::{KeyHashes, TableReplica, V4Hasher};
pub use writer::TableWriter;

/// One writer and `workers` replicas, each linked by an update ring of
/// `ring_capacity` messages (at least 2). Bulk loads flow through the same rings in
/// chunks of that size. A [`TableWriter::send`] of n updates puts up to 3n + 1
/// messages on each ring (the updates, a clear counting as one removal per
/// target of its intercept; at most one rebuilt table per update; for an
/// endpoint target, its address's mark; the epoch marker) and waits while a
/// ring is full.
pub fn replicas(workers: usize, ring_capacity: usize) -> (TableWriter, Vec<TableReplica>) {
    let rings: Vec<Arc<ring::Ring>> = (0..workers)
        .map(|_| Arc::new(ring::Ring::new(ring_capacity)))
        .collect();
    let replicas = rings
        .iter()
        .map(|r| TableReplica::new(Arc::clone(r)))
        .collect();
    (TableWriter::new(rings), replicas)
}

/// A change to the target tables, sent by the control plane to every worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Update {
    /// Install or replace the intercept in `slot`.
    SetIntercept {
        /// Where.
        slot: Slot,
        /// What.
        spec: InterceptSpec,
    },
    /// Remove the intercept in `slot` and every target that points at it.
    ClearIntercept {
        /// Which.
        slot: Slot,
    },
    /// Add `target` to the intercept in `slot`.
    AddTarget {
        /// Intercept.
        slot: Slot,
        /// Identifier.
        target: Target,
    },
    /// Remove `target` from the intercept in `slot`.
    RemoveTarget {
        /// Intercept.
        slot: Slot,
        /// Identifier.
        target: Target,
    },
}
