//! The update ring from the control plane's [`super::TableWriter`] to one worker's
//! [`super::TableReplica`], and the epoch that worker has applied.

use std::sync::atomic::AtomicU64;

use crossbeam::queue::ArrayQueue;
use crossbeam::utils::CachePadded;

use super::Update;

/// One message on an update ring.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Msg {
    /// A table change.
    Update(Update),
    /// Every message before this one is applied once the worker has consumed it.
    Epoch(u64),
    /// Room for this many new entries is about to be needed (bulk loads: grow the
    /// tables once rather than rehashing repeatedly).
    Reserve(Reserve),
}

/// New entries a batch may add, per table.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Reserve {
    pub(crate) ipv4: usize,
    pub(crate) ipv6: usize,
    pub(crate) mac: usize,
}

/// Shared between the writer and one replica.
pub(crate) struct Ring {
    pub(crate) queue: ArrayQueue<Msg>,
    /// Last epoch the replica reached (Release by the worker, Acquire by the writer).
    pub(crate) applied: CachePadded<AtomicU64>,
}

impl Ring {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            queue: ArrayQueue::new(capacity.max(2)),
            applied: CachePadded::new(AtomicU64::new(0)),
        }
    }
}
