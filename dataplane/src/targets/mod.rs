//! Target tables: which intercepts a packet belongs to. Each worker owns a replica
//! and applies [`Update`]s from its own single-producer ring between bursts.
//!
//! Per worker: exact IPv4/IPv6 tables with an in-cache filter, CIDR tables that
//! find every containing prefix, an exact MAC table, an exact table of UDP and
//! TCP endpoints (address, port and protocol) whose addresses are marked in the exact
//! IPv4/IPv6 tables (so only frames touching such an address look at their
//! port, in the last stage), and an intercept array indexed by [`Slot`]. Each entry maps to the set of slots naming it (one inline, more
//! spilled to a boxed slice). A frame goes through three stages
//! ([`TableReplica::hash_keys`], [`TableReplica::may_match`],
//! [`TableReplica::classify_hashed`]) so the worker can overlap a burst's lookups.
#![forbid(unsafe_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

mod exact;
mod matches;
mod prefix;
mod replica;
mod ring;
mod slots;
mod writer;

pub use matches::{Layer, Match, Matches};
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

/// What a warrant lets the probe deliver for an intercept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Communication-identifying information only (pen register / trap and trace):
    /// headers up to the end of the transport header, never a payload byte.
    Headers,
    /// Identifying information plus full content.
    Content,
}

/// Direction of a matched packet relative to the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The target is the packet's source.
    FromTarget,
    /// The target is the packet's destination.
    ToTarget,
    /// Both source and destination are targets of the same intercept.
    Both,
}

/// One identifier a warrant names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// One IPv4 address.
    Ipv4(Ipv4Addr),
    /// One IPv6 address.
    Ipv6(Ipv6Addr),
    /// An IPv4 prefix; host bits must be zero.
    Ipv4Net(Ipv4Addr, u8),
    /// An IPv6 prefix; host bits must be zero.
    Ipv6Net(Ipv6Addr, u8),
    /// A MAC address (matches source or destination of any Ethernet layer).
    Mac([u8; 6]),
    /// A UDP endpoint on IPv4: matches a UDP datagram whose source or
    /// destination is this address and port (a call's media). The datagram is
    /// the one the frame's innermost IP layer carries, in any encapsulation
    /// (a tunnel's own UDP header, VXLAN's or GTP-U's, is not looked at). A
    /// non-first IP fragment carries no UDP header and never matches; TCP
    /// never does.
    Ipv4Udp(Ipv4Addr, u16),
    /// A UDP endpoint on IPv6 (see [`Target::Ipv4Udp`]).
    Ipv6Udp(Ipv6Addr, u16),
    /// A TCP endpoint on IPv4: matches a TCP segment whose source or
    /// destination is this address and port, in the innermost IP layer as
    /// for [`Target::Ipv4Udp`] (a non-first fragment never matches; UDP
    /// never does).
    Ipv4Tcp(Ipv4Addr, u16),
    /// A TCP endpoint on IPv6 (see [`Target::Ipv4Tcp`]).
    Ipv6Tcp(Ipv6Addr, u16),
}

impl Target {
    /// An endpoint target's address, port and whether it is TCP (else UDP);
    /// `None` for any other target.
    pub fn endpoint(self) -> Option<(IpAddr, u16, bool)> {
        match self {
            Target::Ipv4Udp(a, p) => Some((a.into(), p, false)),
            Target::Ipv6Udp(a, p) => Some((a.into(), p, false)),
            Target::Ipv4Tcp(a, p) => Some((a.into(), p, true)),
            Target::Ipv6Tcp(a, p) => Some((a.into(), p, true)),
            Target::Ipv4(_)
            | Target::Ipv6(_)
            | Target::Ipv4Net(..)
            | Target::Ipv6Net(..)
            | Target::Mac(_) => None,
        }
    }
}

/// Index of an intercept in every worker's intercept array. Chosen by the control
/// plane; a slot is reused only after its intercept was cleared on every worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slot(pub u16);

/// What a worker needs to know about an intercept to match and tag packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InterceptSpec {
    /// Control-plane key of the intercept, unique for the life of the probe's
    /// database and never reused: records carry it, so a reused slot can never
    /// attribute a packet to the wrong warrant.
    pub key: u32,
    /// Headers or content.
    pub mode: Mode,
    /// First nanosecond (Unix epoch, UTC) a packet may be delivered.
    pub valid_from_ns: u64,
    /// First nanosecond at which packets are no longer delivered (exclusive end).
    pub valid_until_ns: u64,
}

impl InterceptSpec {
    /// An intercept whose window never closes (benchmarks, tests, replays).
    pub fn always_open(key: u32, mode: Mode) -> Self {
        InterceptSpec {
            key,
            mode,
            valid_from_ns: 0,
            valid_until_ns: u64::MAX,
        }
    }
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
