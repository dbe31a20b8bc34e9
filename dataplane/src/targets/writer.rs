//! The control plane's end of the update rings: broadcasts [`Update`]s to every
//! worker's replica, numbers them with epochs, and reports which epoch every worker
//! has applied.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hashbrown::{HashMap, HashSet};

use super::exact::{ExactTable, Key};
use super::prefix::Bits;
use super::replica::{endpoint_key, mac_key};
use super::ring::{Msg, Replacement, Ring};
use super::{Slot, Target, Update};

type Hasher = foldhash::fast::RandomState;

/// Sends table updates to every worker (one writer per probe). It remembers each
/// intercept's targets so that [`Update::ClearIntercept`] reaches the workers as one
/// O(1) removal per target followed by the clear: a reused slot can never inherit
/// an old intercept's targets, and no worker ever scans its tables.
///
/// It also grows the workers' exact tables for them (the address tables and the
/// CIDR tables' per-length ones): before a batch that could fill one past half
/// its entries it builds a larger copy per worker from what it remembers and
/// sends it ahead of the batch, so a worker swaps a table in instead of
/// rehashing between two bursts (10 ms at 100k keys, longer than a NIC queue
/// holds frames at line rate). Likewise, once a quarter of a table's targets
/// were removed, it sends a fresh table whose filter has no stale bits, which
/// the replicas would otherwise rebuild themselves.
pub struct TableWriter {
    rings: Vec<Arc<Ring>>,
    epoch: u64,
    targets_of: HashMap<Slot, HashSet<Target, Hasher>, Hasher>,
    /// Per address of an endpoint target, the (slot, endpoint) pairs naming
    /// it: while any does, the address is marked in its family's table
    /// ([`Msg::Mark`]).
    endpoint_addrs: HashMap<IpAddr, usize, Hasher>,
    /// By [`TableId::index`].
    tables: Vec<Tally>,
}

/// What the writer knows of the replicas' copy of one exact table.
#[derive(Clone, Copy, Default)]
struct Tally {
    /// (slot, target) pairs stored: at least the keys the table holds.
    pairs: usize,
    /// Pairs removed since the last table sent: at least its stale keys.
    removed: usize,
    /// Entries of the last table sent.
    capacity: usize,
}

/// One exact table of a replica: the IPv4, IPv6 or MAC addresses, the UDP
/// and TCP endpoints, or the IPv4 or IPv6 prefixes of one length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TableId {
    Ipv4,
    Ipv6,
    Mac,
    Endpoints,
    Net4(u8),
    Net6(u8),
}

/// First [`TableId::index`] of the IPv4 and of the IPv6 prefix tables.
const NET4_BASE: usize = 4;
const NET6_BASE: usize = NET4_BASE + u32::WIDTH as usize + 1;

impl TableId {
    const COUNT: usize = NET6_BASE + u128::WIDTH as usize + 1;

    /// The table a canonical target (see [`canonical`]) is stored in.
    fn of(target: Target) -> TableId {
        match target {
            Target::Ipv4(_) => TableId::Ipv4,
            Target::Ipv6(_) => TableId::Ipv6,
            Target::Mac(_) => TableId::Mac,
            Target::Ipv4Net(_, len) => TableId::Net4(len),
            Target::Ipv6Net(_, len) => TableId::Net6(len),
            Target::Ipv4Udp(..)
            | Target::Ipv6Udp(..)
            | Target::Ipv4Tcp(..)
            | Target::Ipv6Tcp(..) => TableId::Endpoints,
        }
    }

    /// The address table of a family.
    fn of_addr(addr: IpAddr) -> TableId {
        match addr {
            IpAddr::V4(_) => TableId::Ipv4,
            IpAddr::V6(_) => TableId::Ipv6,
        }
    }

    /// Below [`Self::COUNT`] (prefix lengths are clamped to the width).
    fn index(self) -> usize {
        match self {
            TableId::Ipv4 => 0,
            TableId::Ipv6 => 1,
            TableId::Mac => 2,
            TableId::Endpoints => 3,
            TableId::Net4(len) => NET4_BASE + usize::from(len.min(u32::WIDTH)),
            TableId::Net6(len) => NET6_BASE + usize::from(len.min(u128::WIDTH)),
        }
    }

    /// The table of index `i` (`i < COUNT`).
    fn from_index(i: usize) -> TableId {
        let len = |base: usize| u8::try_from(i - base).unwrap_or(u8::MAX);
        match i {
            0 => TableId::Ipv4,
            1 => TableId::Ipv6,
            2 => TableId::Mac,
            3 => TableId::Endpoints,
            _ if i < NET6_BASE => TableId::Net4(len(NET4_BASE)),
            _ => TableId::Net6(len(NET6_BASE)),
        }
    }
}

/// `target` with its host bits cleared and its prefix length clamped, so that the
/// writer and the replicas agree on which entry it names.
fn canonical(target: Target) -> Target {
    match target {
        Target::Ipv4Net(a, l) => {
            let l = l.min(u32::WIDTH);
            Target::Ipv4Net(u32::from(a).prefix(l).into(), l)
        }
        Target::Ipv6Net(a, l) => {
            let l = l.min(u128::WIDTH);
            Target::Ipv6Net(u128::from(a).prefix(l).into(), l)
        }
        t => t,
    }
}

/// The address of an endpoint target.
fn endpoint_addr(target: Target) -> Option<IpAddr> {
    target.endpoint().map(|(addr, ..)| addr)
}

/// Waits (on the control side only) until `ring` has room for `msg`. Gives up if the
/// replica is gone (its worker exited).
fn push_waiting(ring: &Arc<Ring>, mut msg: Msg) {
    let mut tries = 0u32;
    while let Err(back) = ring.queue.push(msg) {
        if Arc::strong_count(ring) == 1 {
            return;
        }
        msg = back;
        tries = tries.saturating_add(1);
        if tries < 64 {
            std::hint::spin_loop();
        } else if tries < 256 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
}

/// One (slot, canonical target) pair more or fewer in the target's table.
fn count(tables: &mut [Tally], target: Target, added: bool) {
    count_in(tables, TableId::of(target), added);
}

/// One pair (or marked address) more or fewer in table `id`.
fn count_in(tables: &mut [Tally], id: TableId, added: bool) {
    let Some(t) = tables.get_mut(id.index()) else {
        return;
    };
    if added {
        t.pairs += 1;
    } else {
        t.pairs = t.pairs.saturating_sub(1);
        t.removed += 1;
    }
}

impl TableWriter {
    pub(crate) fn new(rings: Vec<Arc<Ring>>) -> Self {
        Self {
            rings,
            epoch: 0,
            targets_of: HashMap::default(),
            endpoint_addrs: HashMap::default(),
            tables: vec![Tally::default(); TableId::COUNT],
        }
    }

    fn broadcast(&self, update: Update) {
        for ring in &self.rings {
            push_waiting(ring, Msg::Update(update));
        }
    }

    /// A (slot, target) pair was stored (`added`) or dropped: counts it, and
    /// for an endpoint target marks its address on every replica before its
    /// first endpoint is added (call this before broadcasting the addition)
    /// or clears the mark after its last one is removed (call this after
    /// broadcasting the removal), so a frame touching it never misses an
    /// endpoint stored.
    fn stored(&mut self, target: Target, added: bool) {
        count(&mut self.tables, target, added);
        let Some(addr) = endpoint_addr(target) else {
            return;
        };
        let n = self.endpoint_addrs.entry(addr).or_default();
        let flips = if added {
            *n += 1;
            *n == 1
        } else {
            *n = n.saturating_sub(1);
            *n == 0
        };
        if flips && !added {
            self.endpoint_addrs.remove(&addr);
        }
        if flips {
            count_in(&mut self.tables, TableId::of_addr(addr), added);
            for ring in &self.rings {
                push_waiting(ring, Msg::Mark(addr, added));
            }
        }
    }

    /// Frees the tables replicas swapped out.
    fn free_retired(&self) {
        for ring in &self.rings {
            while ring.retired.pop().is_some() {}
        }
    }

    /// Sends every replica a larger copy of table `id` when `adding` more pairs
    /// could fill its current one past half (where [`ExactTable::add`] would
    /// rehash on the worker).
    fn grow_ahead(&mut self, id: TableId, adding: usize) {
        let t = self.tables[id.index()];
        let want = t.pairs + adding;
        if adding > 0 && want * 2 > t.capacity {
            self.send_rebuilt(id, want);
        }
    }

    /// Sends every replica a fresh copy of table `id` once a quarter of its
    /// pairs were removed since the last one: the removed keys' filter bits are
    /// still set (false positives), and the replicas leave the rebuild to the
    /// writer.
    fn clean_filter(&mut self, id: TableId) {
        let t = self.tables[id.index()];
        if t.removed > 0 && t.removed * 4 > t.pairs {
            self.send_rebuilt(id, t.capacity / 2);
        }
    }

    /// Builds, for every replica, a copy of table `id` with room for `keys`
    /// keys holding exactly the remembered targets, and sends it.
    fn send_rebuilt(&mut self, id: TableId, keys: usize) {
        for ring in &self.rings {
            let table = match id {
                TableId::Ipv4 => Replacement::Ipv4(self.build_marked(
                    keys,
                    |t| match t {
                        Target::Ipv4(a) => Some(u32::from(a)),
                        _ => None,
                    },
                    |a| match a {
                        IpAddr::V4(a) => Some(u32::from(a)),
                        IpAddr::V6(_) => None,
                    },
                )),
                TableId::Ipv6 => Replacement::Ipv6(self.build_marked(
                    keys,
                    |t| match t {
                        Target::Ipv6(a) => Some(u128::from(a)),
                        _ => None,
                    },
                    |a| match a {
                        IpAddr::V6(a) => Some(u128::from(a)),
                        IpAddr::V4(_) => None,
                    },
                )),
                TableId::Mac => Replacement::Mac(self.build(keys, |t| match t {
                    Target::Mac(m) => Some(mac_key(m)),
                    _ => None,
                })),
                TableId::Endpoints => Replacement::Endpoints(self.build(keys, endpoint_key)),
                // Canonical prefixes: host bits already cleared, as the
                // replica's CIDR tables key them.
                TableId::Net4(len) => Replacement::Net4(
                    len,
                    self.build(keys, |t| match t {
                        Target::Ipv4Net(a, l) if l == len => Some(u32::from(a)),
                        _ => None,
                    }),
                ),
                TableId::Net6(len) => Replacement::Net6(
                    len,
                    self.build(keys, |t| match t {
                        Target::Ipv6Net(a, l) if l == len => Some(u128::from(a)),
                        _ => None,
                    }),
                ),
            };
            self.tables[id.index()].capacity = table.size().0;
            push_waiting(ring, Msg::Replace(Box::new(table)));
        }
        self.tables[id.index()].removed = 0;
    }

    /// An exact table with room for `keys` keys, holding every remembered
    /// target `key_of` maps to a key, in all its slots.
    fn build<K: Key>(&self, keys: usize, key_of: impl Fn(Target) -> Option<K>) -> ExactTable<K> {
        let mut table = ExactTable::rebuilt_by_owner();
        table.reserve(keys);
        let mut spill = 0;
        for (&slot, targets) in &self.targets_of {
            for key in targets.iter().filter_map(|&t| key_of(t)) {
                table.add(key, slot, &mut spill);
            }
        }
        table
    }

    /// [`Self::build`] for an address table, with every endpoint target's
    /// address `mark_of` maps to a key marked.
    fn build_marked<K: Key>(
        &self,
        keys: usize,
        key_of: impl Fn(Target) -> Option<K>,
        mark_of: impl Fn(IpAddr) -> Option<K>,
    ) -> ExactTable<K> {
        let mut table = self.build(keys, key_of);
        for key in self.endpoint_addrs.keys().filter_map(|&a| mark_of(a)) {
            table.mark(key);
        }
        table
    }

    /// Sends `updates`, in order, to every worker, then an epoch marker; returns that
    /// epoch. Waits (yielding) while a ring is full; a worker never waits.
    pub fn send(&mut self, updates: &[Update]) -> u64 {
        self.free_retired();
        let mut adding = [0; TableId::COUNT];
        // Addresses of endpoints this batch may mark first: each may add an
        // entry to its family's table (counted once, or a batch of a call's
        // ports would grow that table for nothing).
        let mut marking: HashSet<IpAddr, Hasher> = HashSet::default();
        for u in updates {
            if let Update::AddTarget { target, .. } = u {
                let addr_table = endpoint_addr(*target)
                    .filter(|a| !self.endpoint_addrs.contains_key(a) && marking.insert(*a))
                    .map(TableId::of_addr);
                for id in std::iter::once(TableId::of(canonical(*target))).chain(addr_table) {
                    if let Some(n) = adding.get_mut(id.index()) {
                        *n += 1;
                    }
                }
            }
        }
        for (i, &n) in adding.iter().enumerate() {
            self.grow_ahead(TableId::from_index(i), n);
        }
        for &u in updates {
            match u {
                Update::SetIntercept { .. } => self.broadcast(u),
                Update::ClearIntercept { slot } => {
                    for target in self.targets_of.remove(&slot).into_iter().flatten() {
                        self.broadcast(Update::RemoveTarget { slot, target });
                        self.stored(target, false);
                    }
                    self.broadcast(u);
                }
                Update::AddTarget { slot, target } => {
                    let target = canonical(target);
                    if self.targets_of.entry(slot).or_default().insert(target) {
                        self.stored(target, true);
                    }
                    self.broadcast(Update::AddTarget { slot, target });
                }
                Update::RemoveTarget { slot, target } => {
                    let target = canonical(target);
                    let mut dropped = false;
                    if let Some(set) = self.targets_of.get_mut(&slot) {
                        dropped = set.remove(&target);
                        if set.is_empty() {
                            self.targets_of.remove(&slot);
                        }
                    }
                    self.broadcast(Update::RemoveTarget { slot, target });
                    if dropped {
                        self.stored(target, false);
                    }
                }
            }
        }
        for i in 0..TableId::COUNT {
            self.clean_filter(TableId::from_index(i));
        }
        self.epoch += 1;
        for ring in &self.rings {
            push_waiting(ring, Msg::Epoch(self.epoch));
        }
        self.epoch
    }

    /// Last epoch returned by [`Self::send`].
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Lowest epoch applied by any worker: everything sent up to it is in effect on
    /// every worker.
    pub fn min_applied(&self) -> u64 {
        self.rings
            .iter()
            .map(|r| r.applied.load(Ordering::Acquire))
            .min()
            .unwrap_or(self.epoch)
    }

    /// Polls until every worker has applied `epoch`; false on timeout.
    pub fn wait_applied(&self, epoch: u64, timeout: Duration) -> bool {
        let start = Instant::now();
        loop {
            self.free_retired();
            if self.min_applied() >= epoch {
                return true;
            }
            if start.elapsed() >= timeout {
                return false;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}
