//! Intercept slot allocation. A slot freed by `ClearIntercept` at epoch E is handed
//! out again only once every worker applied E, so a worker can never see a new
//! intercept's targets while still holding the old one's in the same slot.

use std::collections::VecDeque;

use dataplane::targets::Slot;

/// Free list of `u16` slots with deferred reuse.
#[derive(Debug, Default)]
pub(crate) struct SlotAllocator {
    free: Vec<u16>,
    /// Lowest slot never handed out.
    next: u32,
    /// Slots cleared at an epoch some worker may not have applied yet, oldest first.
    retired: VecDeque<(u64, u16)>,
}

impl SlotAllocator {
    /// A free slot, reclaiming retired ones whose epoch every worker reached.
    /// `None` when all 65 536 slots hold live intercepts.
    pub(crate) fn allocate(&mut self, min_applied: u64) -> Option<Slot> {
        while let Some(&(epoch, slot)) = self.retired.front() {
            if epoch > min_applied {
                break;
            }
            self.retired.pop_front();
            self.free.push(slot);
        }
        if let Some(slot) = self.free.pop() {
            return Some(Slot(slot));
        }
        let slot = u16::try_from(self.next).ok()?;
        self.next += 1;
        Some(Slot(slot))
    }

    /// Returns `slot`, cleared in the update batch that ends at `epoch`.
    pub(crate) fn retire(&mut self, slot: Slot, epoch: u64) {
        self.retired.push_back((epoch, slot.0));
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn retired_slot_is_reused_only_after_every_worker_applied_its_clear() {
        let mut a = SlotAllocator::default();
        let s0 = a.allocate(0).unwrap();
        a.retire(s0, 5);
        assert_ne!(a.allocate(4), Some(s0));
        assert_eq!(a.allocate(5), Some(s0));
    }

    #[test]
    fn runs_out_after_65536_live_slots() {
        let mut a = SlotAllocator::default();
        for i in 0..=u16::MAX {
            assert_eq!(a.allocate(0), Some(Slot(i)));
        }
        assert_eq!(a.allocate(0), None);
    }
}
