//! The set of intercept slots one target points at: one slot inline (the common
//! case), more spilled to a small sorted boxed slice.

use std::hash::Hash;

use hashbrown::HashMap;

use super::Slot;

/// Hash map of the MAC table (hashbrown with foldhash); addresses and prefixes use
/// the packet path's own [`super::exact::ExactTable`].
pub(crate) type Map<K> = HashMap<K, SlotSet, foldhash::fast::RandomState>;

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

/// Adds `slot` to `key`'s set. Returns true if `key` is a new entry.
pub(crate) fn add<K: Hash + Eq>(map: &mut Map<K>, key: K, slot: Slot, spill: &mut usize) -> bool {
    match map.get_mut(&key) {
        Some(set) => {
            *spill -= set.spilled_bytes();
            set.insert(slot);
            *spill += set.spilled_bytes();
            false
        }
        None => {
            map.insert(key, SlotSet::One(slot));
            true
        }
    }
}

/// Removes `slot` from `key`'s set. Returns true if the entry disappeared.
pub(crate) fn remove<K: Hash + Eq>(
    map: &mut Map<K>,
    key: K,
    slot: Slot,
    spill: &mut usize,
) -> bool {
    let Some(set) = map.remove(&key) else {
        return false;
    };
    *spill -= set.spilled_bytes();
    match set.without(slot) {
        Some(set) => {
            *spill += set.spilled_bytes();
            map.insert(key, set);
            false
        }
        None => true,
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn inline_then_spill_then_back_inline() {
        let mut map = Map::default();
        let mut spill = 0;
        assert!(add(&mut map, 1u32, Slot(5), &mut spill));
        assert!(!add(&mut map, 1u32, Slot(2), &mut spill));
        assert!(!add(&mut map, 1u32, Slot(5), &mut spill));
        assert_eq!(map[&1].as_slice(), &[Slot(2), Slot(5)]);
        assert_eq!(spill, 4);
        assert!(!remove(&mut map, 1u32, Slot(2), &mut spill));
        assert!(matches!(map[&1], SlotSet::One(Slot(5))));
        assert_eq!(spill, 0);
        assert!(!remove(&mut map, 1u32, Slot(9), &mut spill));
        assert!(remove(&mut map, 1u32, Slot(5), &mut spill));
        assert!(map.is_empty());
    }

    #[test]
    fn slot_set_stays_small() {
        assert!(std::mem::size_of::<SlotSet>() <= 24);
    }
}
