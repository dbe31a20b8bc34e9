//! The update ring from the control plane's [`super::TableWriter`] to one worker's
//! [`super::TableReplica`], and the epoch that worker has applied.

use std::net::IpAddr;
use std::sync::atomic::AtomicU64;

use crossbeam::queue::ArrayQueue;
use crossbeam::utils::CachePadded;

use super::exact::{Endpoint, ExactTable};
use super::Update;

/// One message on an update ring.
#[derive(Debug)]
pub(crate) enum Msg {
    /// A table change.
    Update(Update),
    /// Every message before this one is applied once the worker has consumed it.
    Epoch(u64),
    /// An exact table rebuilt by the writer (larger, or with a fresh filter),
    /// holding exactly what the replica's own table holds at this point of the
    /// ring: the worker swaps it in instead of rehashing (a stall of
    /// milliseconds at a million targets, while its NIC queue fills).
    Replace(Box<Replacement>),
    /// `addr` has endpoint targets (`true`: sent before its first one is
    /// added) or no longer has any (`false`: sent after its last one is
    /// removed): its address table entry is marked, so that frames touching
    /// it reach the endpoint table.
    Mark(IpAddr, bool),
}

/// A replacement exact table: of a family's addresses, or of a CIDR table's
/// prefixes of one length.
pub(crate) enum Replacement {
    Ipv4(ExactTable<u32>),
    Ipv6(ExactTable<u128>),
    Mac(ExactTable<u64>),
    Net4(u8, ExactTable<u32>),
    Net6(u8, ExactTable<u128>),
    Endpoints(ExactTable<Endpoint>),
}

impl Replacement {
    /// Entries and keys of the table.
    pub(crate) fn size(&self) -> (usize, usize) {
        match self {
            Replacement::Ipv4(t) | Replacement::Net4(_, t) => (t.capacity(), t.len()),
            Replacement::Ipv6(t) | Replacement::Net6(_, t) => (t.capacity(), t.len()),
            Replacement::Mac(t) => (t.capacity(), t.len()),
            Replacement::Endpoints(t) => (t.capacity(), t.len()),
        }
    }
}

impl std::fmt::Debug for Replacement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let table = match self {
            Replacement::Ipv4(_) => "ipv4".to_owned(),
            Replacement::Ipv6(_) => "ipv6".to_owned(),
            Replacement::Mac(_) => "mac".to_owned(),
            Replacement::Net4(len, _) => format!("ipv4 /{len}"),
            Replacement::Net6(len, _) => format!("ipv6 /{len}"),
            Replacement::Endpoints(_) => "udp endpoints".to_owned(),
        };
        write!(f, "Replacement({table}, {} keys)", self.size().1)
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
            // A batch usually swaps one or two tables; more (the first
            // prefixes of many lengths: small tables) are freed by the replica.
            retired: ArrayQueue::new(8),
            applied: CachePadded::new(AtomicU64::new(0)),
        }
    }
}
