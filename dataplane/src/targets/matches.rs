//! The intercepts one packet matched, deduplicated by slot, in a buffer allocated
//! once per worker: classification never allocates.

use super::{Direction, InterceptSpec, Layer, Match, Slot};

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
