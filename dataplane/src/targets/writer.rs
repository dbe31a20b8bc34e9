//! The control plane's end of the update rings: broadcasts [`Update`]s to every
//! worker's replica, numbers them with epochs, and reports which epoch every worker
//! has applied.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hashbrown::{HashMap, HashSet};

use super::prefix::Bits;
use super::ring::{Msg, Reserve, Ring};
use super::{Slot, Target, Update};

type Hasher = foldhash::fast::RandomState;

/// Sends table updates to every worker (one writer per probe). It remembers each
/// intercept's targets so that [`Update::ClearIntercept`] reaches the workers as one
/// O(1) removal per target followed by the clear: a reused slot can never inherit
/// an old intercept's targets, and no worker ever scans its tables.
pub struct TableWriter {
    rings: Vec<Arc<Ring>>,
    epoch: u64,
    targets_of: HashMap<Slot, HashSet<Target, Hasher>, Hasher>,
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

impl TableWriter {
    pub(crate) fn new(rings: Vec<Arc<Ring>>) -> Self {
        Self {
            rings,
            epoch: 0,
            targets_of: HashMap::default(),
        }
    }

    fn broadcast(&self, msg: Msg) {
        for ring in &self.rings {
            push_waiting(ring, msg);
        }
    }

    /// Sends `updates`, in order, to every worker, then an epoch marker; returns that
    /// epoch. Waits (yielding) while a ring is full; a worker never waits.
    pub fn send(&mut self, updates: &[Update]) -> u64 {
        let mut reserve = Reserve::default();
        for u in updates {
            if let Update::AddTarget { target, .. } = u {
                match target {
                    Target::Ipv4(_) => reserve.ipv4 += 1,
                    Target::Ipv6(_) => reserve.ipv6 += 1,
                    Target::Mac(_) => reserve.mac += 1,
                    Target::Ipv4Net(..) | Target::Ipv6Net(..) => {}
                }
            }
        }
        if reserve.ipv4 + reserve.ipv6 + reserve.mac > 1024 {
            self.broadcast(Msg::Reserve(reserve));
        }
        for &u in updates {
            match u {
                Update::SetIntercept { .. } => self.broadcast(Msg::Update(u)),
                Update::ClearIntercept { slot } => {
                    for target in self.targets_of.remove(&slot).into_iter().flatten() {
                        self.broadcast(Msg::Update(Update::RemoveTarget { slot, target }));
                    }
                    self.broadcast(Msg::Update(u));
                }
                Update::AddTarget { slot, target } => {
                    let target = canonical(target);
                    self.targets_of.entry(slot).or_default().insert(target);
                    self.broadcast(Msg::Update(Update::AddTarget { slot, target }));
                }
                Update::RemoveTarget { slot, target } => {
                    let target = canonical(target);
                    if let Some(set) = self.targets_of.get_mut(&slot) {
                        set.remove(&target);
                        if set.is_empty() {
                            self.targets_of.remove(&slot);
                        }
                    }
                    self.broadcast(Msg::Update(Update::RemoveTarget { slot, target }));
                }
            }
        }
        self.epoch += 1;
        self.broadcast(Msg::Epoch(self.epoch));
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
