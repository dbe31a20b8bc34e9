//! The set of intercept slots one target points at: one slot inline (the common
//! case), more spilled to a small sorted boxed slice.

use super::Slot;

/// Slots of one table entry; never empty.
#[derive(Debug)]
pub(crate) enum SlotSet {
    One(Slot),
    Many(Box<[Slot]>),
}

impl SlotSet {
    pub(crate) fn as_slice(&self) -> &[Slot] {
        match self {
            SlotSet::One(s) => std::slice::from_ref(s),
            SlotSet::Many(v) => v,
        }
    }

    /// Heap bytes owned by this set.
    pub(crate) fn spilled_bytes(&self) -> usize {
        match self {
            SlotSet::One(_) => 0,
            SlotSet::Many(v) => std::mem::size_of_val::<[Slot]>(v),
        }
    }

    pub(crate) fn insert(&mut self, slot: Slot) {
        let cur = self.as_slice();
        if let Err(at) = cur.binary_search(&slot) {
            let mut v = Vec::with_capacity(cur.len() + 1);
            v.extend_from_slice(&cur[..at]);
            v.push(slot);
            v.extend_from_slice(&cur[at..]);
            *self = SlotSet::Many(v.into_boxed_slice());
        }
    }

    /// Removes `slot`; `None` if the set became empty.
    pub(crate) fn without(self, slot: Slot) -> Option<Self> {
        match self {
            SlotSet::One(s) if s == slot => None,
            SlotSet::One(s) => Some(SlotSet::One(s)),
            SlotSet::Many(v) => {
                let rest: Vec<Slot> = v.iter().copied().filter(|s| *s != slot).collect();
                match rest.as_slice() {
                    [] => None,
                    [one] => Some(SlotSet::One(*one)),
                    _ if rest.len() == v.len() => Some(SlotSet::Many(v)),
                    _ => Some(SlotSet::Many(rest.into_boxed_slice())),
                }
            }
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn slot_set_stays_small() {
        assert!(std::mem::size_of::<SlotSet>() <= 24);
    }
}
