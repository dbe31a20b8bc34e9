//! The update ring from the control plane's [`super::TableWriter`] to one worker's
//! [`super::TableReplica`], and the epoch that worker has applied.

use std::sync::atomic::AtomicU64;

use crossbeam::queue::ArrayQueue;
use crossbeam::utils::CachePadded;

use super::exact::ExactTable;
use super::Update;

/// One message on an update ring.
#[derive(Debug)]
pub(crate) enum Msg {
    /// A table change.
    Update(Update),
    /// Every message before this one is applied once the worker has consumed it.
    Epoch(u64),
    /// An exact table rebuilt larger by the writer, holding exactly what the
    /// replica's own table holds at this point of the ring: the worker swaps it
    /// in instead of rehashing (a stall of milliseconds at a million targets,
    /// while its NIC queue fills).
    Replace(Box<Replacement>),
}

/// A replacement exact table, by family.
pub(crate) enum Replacement {
    Ipv4(ExactTable<u32>),
    Ipv6(ExactTable<u128>),
    Mac(ExactTable<u64>),
}

impl Replacement {
    /// Entries of the table.
    pub(crate) fn capacity(&self) -> usize {
        match self {
            Replacement::Ipv4(t) => t.capacity(),
            Replacement::Ipv6(t) => t.capacity(),
            Replacement::Mac(t) => t.capacity(),
        }
    }
}

impl std::fmt::Debug for Replacement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (family, len) = match self {
            Replacement::Ipv4(t) => ("ipv4", t.len()),
            Replacement::Ipv6(t) => ("ipv6", t.len()),
            Replacement::Mac(t) => ("mac", t.len()),
        };
        write!(f, "Replacement({family}, {len} keys)")
    }
}

/// Shared between the writer and one replica.
pub(crate) struct Ring {
    pub(crate) queue: ArrayQueue<Msg>,
    /// Tables the replica swapped out, handed back for the writer to free: a
    /// worker never frees a large table between two bursts.
    pub(crate) retired: ArrayQueue<Replacement>,
    /// Last epoch the replica reached (Release by the worker, Acquire by the writer).
    pub(crate) applied: CachePadded<AtomicU64>,
}

impl Ring {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            queue: ArrayQueue::new(capacity.max(2)),
            // One per exact family, and a spare.
            retired: ArrayQueue::new(4),
            applied: CachePadded::new(AtomicU64::new(0)),
        }
    }
}
