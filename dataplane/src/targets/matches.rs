//! The intercepts one packet matched, deduplicated by slot, in a buffer allocated
//! once per worker: classification never allocates.

use super::{Direction, InterceptSpec, Mode, Slot};
use crate::parse::{MAX_ETH_LAYERS, MAX_IP_LAYERS};

/// The layer of a frame a match was made on, by its index among the frame's
/// layers of that kind ([`Dissection::macs`](crate::parse::Dissection::macs),
/// [`Dissection::ips`](crate::parse::Dissection::ips)), outermost
/// first. Ordered so that the one to deliver of two is the greater: an IP
/// layer before an Ethernet one, an inner one before an outer one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Layer {
    /// An Ethernet header's MAC address.
    Ethernet(u8),
    /// An IP header's address.
    Ip(u8),
}

impl Layer {
    /// Every layer a dissection can hold.
    pub(crate) const ALL: [Layer; MAX_ETH_LAYERS + MAX_IP_LAYERS] = {
        let mut all = [Layer::Ip(0); MAX_ETH_LAYERS + MAX_IP_LAYERS];
        let mut i = 0;
        while i < MAX_ETH_LAYERS {
            all[i] = Layer::Ethernet(i as u8);
            i += 1;
        }
        while i < MAX_ETH_LAYERS + MAX_IP_LAYERS {
            all[i] = Layer::Ip((i - MAX_ETH_LAYERS) as u8);
            i += 1;
        }
        all
    };
}

/// One intercept a packet matched: what the control plane needs to encode and route it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Match {
    /// Intercept key (never reused), so a record is never attributed to the wrong warrant.
    pub key: u32,
    /// What the warrant allows to deliver.
    pub mode: Mode,
    /// Which side of the packet is the target.
    pub direction: Direction,
    /// The layer the target was found in (the innermost, if in several).
    pub layer: Layer,
}

/// Number of distinct slots ([`Slot`] is a u16).
const SLOTS: usize = 1 << 16;

/// Output of [`super::TableReplica::classify`]: at most one [`Match`] per intercept.
/// Reused across packets; its capacity covers every slot, so nothing is ever cut.
pub struct Matches {
    items: Vec<Match>,
    /// Per slot: `stamp << 32 | index in items` if the slot matched the current packet.
    seen: Box<[u64]>,
    stamp: u32,
}

impl Default for Matches {
    fn default() -> Self {
        Self::new()
    }
}

impl Matches {
    /// Allocates the buffer (done once per worker, before the first packet).
    pub fn new() -> Self {
        Self {
            items: Vec::with_capacity(SLOTS),
            seen: vec![0; SLOTS].into_boxed_slice(),
            stamp: 1,
        }
    }

    /// Matches of the last classified packet.
    pub fn as_slice(&self) -> &[Match] {
        &self.items
    }

    /// Number of intercepts the last packet matched.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True if the last packet matched no intercept.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    #[inline]
    pub(crate) fn clear(&mut self) {
        if !self.items.is_empty() {
            self.items.clear();
            self.stamp = self.stamp.wrapping_add(1);
            if self.stamp == 0 {
                self.reset_stamps();
            }
        }
    }

    #[cold]
    fn reset_stamps(&mut self) {
        self.seen.fill(0);
        self.stamp = 1;
    }

    /// Records that `slot` (holding `spec`) matched with `direction` on `layer`;
    /// a slot matched as source and as destination becomes [`Direction::Both`],
    /// one matched on several layers keeps the one to deliver (the greater).
    #[inline]
    pub(crate) fn add(
        &mut self,
        slot: Slot,
        spec: &InterceptSpec,
        direction: Direction,
        layer: Layer,
    ) {
        let Some(seen) = self.seen.get_mut(usize::from(slot.0)) else {
            return;
        };
        if (*seen >> 32) as u32 == self.stamp {
            if let Some(m) = self.items.get_mut((*seen & 0xffff_ffff) as usize) {
                if m.direction != direction {
                    m.direction = Direction::Both;
                }
                m.layer = m.layer.max(layer);
            }
            return;
        }
        *seen = u64::from(self.stamp) << 32 | self.items.len() as u64;
        self.items.push(Match {
            key: spec.key,
            mode: spec.mode,
            direction,
            layer,
        });
    }
}
