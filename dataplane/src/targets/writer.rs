//! The control plane's end of the update rings: broadcasts [`Update`]s to every
//! worker's replica, numbers them with epochs, and reports which epoch every worker
//! has applied.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hashbrown::{HashMap, HashSet};

use super::exact::{ExactTable, Key};
use super::prefix::Bits;
use super::replica::mac_key;
use super::ring::{Msg, Replacement, Ring};
use super::{Slot, Target, Update};

type Hasher = foldhash::fast::RandomState;

/// Sends table updates to every worker (one writer per probe). It remembers each
/// intercept's targets so that [`Update::ClearIntercept`] reaches the workers as one
/// O(1) removal per target followed by the clear: a reused slot can never inherit
/// an old intercept's targets, and no worker ever scans its tables.
///
/// It also grows the workers' exact tables for them: before a batch that could
/// fill one past half its entries it builds a larger copy per worker from what it
/// remembers and sends it ahead of the batch, so a worker swaps a table in
/// instead of rehashing a million keys between two bursts. Likewise, once a
/// quarter of a table's targets were removed, it sends a fresh table whose filter
/// has no stale bits, which the replicas would otherwise rebuild themselves.
pub struct TableWriter {
    rings: Vec<Arc<Ring>>,
    epoch: u64,
    targets_of: HashMap<Slot, HashSet<Target, Hasher>, Hasher>,
    tables: [FamilyTables; Family::COUNT],
}

/// What the writer knows of the replicas' exact table of one [`Family`].
#[derive(Clone, Copy, Default)]
struct FamilyTables {
    /// (slot, target) pairs stored: at least the keys the table holds.
    pairs: usize,
    /// Pairs removed since the last table sent: at least its stale keys.
    removed: usize,
    /// Entries of the last table sent.
    capacity: usize,
}

/// The exact tables the writer grows.
#[derive(Clone, Copy)]
enum Family {
    Ipv4,
    Ipv6,
    Mac,
}

impl Family {
    const COUNT: usize = 3;
    const ALL: [Family; Family::COUNT] = [Family::Ipv4, Family::Ipv6, Family::Mac];

    fn of(target: Target) -> Option<Family> {
        match target {
            Target::Ipv4(_) => Some(Family::Ipv4),
            Target::Ipv6(_) => Some(Family::Ipv6),
            Target::Mac(_) => Some(Family::Mac),
            Target::Ipv4Net(..) | Target::Ipv6Net(..) => None,
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

/// One (slot, target) pair more or fewer in the target's family.
fn count(tables: &mut [FamilyTables; Family::COUNT], target: Target, added: bool) {
    let Some(t) = Family::of(target).and_then(|f| tables.get_mut(f as usize)) else {
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
            tables: [FamilyTables::default(); Family::COUNT],
        }
    }

    fn broadcast(&self, update: Update) {
        for ring in &self.rings {
            push_waiting(ring, Msg::Update(update));
        }
    }

    /// Frees the tables replicas swapped out.
    fn free_retired(&self) {
        for ring in &self.rings {
            while ring.retired.pop().is_some() {}
        }
    }

    /// Sends every replica a larger table of `family` when `adding` more pairs
    /// could fill its current one past half (where [`ExactTable::add`] would
    /// rehash on the worker).
    fn grow_ahead(&mut self, family: Family, adding: usize) {
        let t = self.tables[family as usize];
        let want = t.pairs + adding;
        if adding > 0 && want * 2 > t.capacity {
            self.send_rebuilt(family, want);
        }
    }

    /// Sends every replica a fresh table of `family` once a quarter of its pairs
    /// were removed since the last one: the removed keys' filter bits are still
    /// set (false positives), and the replicas leave the rebuild to the writer.
    fn clean_filter(&mut self, family: Family) {
        let t = self.tables[family as usize];
        if t.removed > 0 && t.removed * 4 > t.pairs {
            self.send_rebuilt(family, t.capacity / 2);
        }
    }

    /// Builds, for every replica, a table of `family` with room for `keys` keys
    /// holding exactly the remembered targets, and sends it.
    fn send_rebuilt(&mut self, family: Family, keys: usize) {
        let f = family as usize;
        for ring in &self.rings {
            let table = match family {
                Family::Ipv4 => Replacement::Ipv4(self.build(keys, |t| match t {
                    Target::Ipv4(a) => Some(u32::from(a)),
                    _ => None,
                })),
                Family::Ipv6 => Replacement::Ipv6(self.build(keys, |t| match t {
                    Target::Ipv6(a) => Some(u128::from(a)),
                    _ => None,
                })),
                Family::Mac => Replacement::Mac(self.build(keys, |t| match t {
                    Target::Mac(m) => Some(mac_key(m)),
                    _ => None,
                })),
            };
            self.tables[f].capacity = table.capacity();
            push_waiting(ring, Msg::Replace(Box::new(table)));
        }
        self.tables[f].removed = 0;
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

    /// Sends `updates`, in order, to every worker, then an epoch marker; returns that
    /// epoch. Waits (yielding) while a ring is full; a worker never waits.
    pub fn send(&mut self, updates: &[Update]) -> u64 {
        self.free_retired();
        let mut adding = [0; Family::COUNT];
        for u in updates {
            if let Update::AddTarget { target, .. } = u {
                if let Some(f) = Family::of(*target) {
                    adding[f as usize] += 1;
                }
            }
        }
        for f in Family::ALL {
            self.grow_ahead(f, adding[f as usize]);
        }
        for &u in updates {
            match u {
                Update::SetIntercept { .. } => self.broadcast(u),
                Update::ClearIntercept { slot } => {
                    for target in self.targets_of.remove(&slot).into_iter().flatten() {
                        count(&mut self.tables, target, false);
                        self.broadcast(Update::RemoveTarget { slot, target });
                    }
                    self.broadcast(u);
                }
                Update::AddTarget { slot, target } => {
                    let target = canonical(target);
                    if self.targets_of.entry(slot).or_default().insert(target) {
                        count(&mut self.tables, target, true);
                    }
                    self.broadcast(Update::AddTarget { slot, target });
                }
                Update::RemoveTarget { slot, target } => {
                    let target = canonical(target);
                    if let Some(set) = self.targets_of.get_mut(&slot) {
                        if set.remove(&target) {
                            count(&mut self.tables, target, false);
                        }
                        if set.is_empty() {
                            self.targets_of.remove(&slot);
                        }
                    }
                    self.broadcast(Update::RemoveTarget { slot, target });
                }
            }
        }
        for f in Family::ALL {
            self.clean_filter(f);
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
