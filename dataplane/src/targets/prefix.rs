//! CIDR tables that find EVERY prefix containing an address, not only the longest:
//! one hash map per prefix length, and a bitmap of the lengths in use so a lookup
//! probes only those. Adding or removing a prefix is O(1).

use super::slots::{self, Map, SlotSet};
use super::Slot;

/// An address as an unsigned integer (u32 for IPv4, u128 for IPv6).
pub(crate) trait Bits: Copy + Eq + std::hash::Hash {
    /// Address width in bits.
    const WIDTH: u8;
    /// The address with all but its first `len` bits cleared (`len <= WIDTH`).
    fn prefix(self, len: u8) -> Self;
}

macro_rules! impl_bits {
    ($t:ty) => {
        impl Bits for $t {
            const WIDTH: u8 = <$t>::BITS as u8;
            #[inline]
            fn prefix(self, len: u8) -> Self {
                // Shift by WIDTH (len 0) overflows: the mask is then empty.
                <$t>::MAX
                    .checked_shl(u32::from(Self::WIDTH - len.min(Self::WIDTH)))
                    .map_or(0, |mask| self & mask)
            }
        }
    };
}
impl_bits!(u32);
impl_bits!(u128);

/// All prefixes of one address family.
pub(crate) struct PrefixTable<K: Bits> {
    /// `by_len[l]` holds the prefixes of length `l`, keyed by the masked address.
    by_len: Vec<Map<K>>,
    /// Bit `l` set iff `by_len[l]` is non-empty.
    in_use: [u64; 3],
}

impl<K: Bits> Default for PrefixTable<K> {
    fn default() -> Self {
        Self {
            by_len: (0..=K::WIDTH).map(|_| Map::default()).collect(),
            in_use: [0; 3],
        }
    }
}

impl<K: Bits> PrefixTable<K> {
    pub(crate) fn is_empty(&self) -> bool {
        self.in_use == [0; 3]
    }

    /// Adds `slot` to `addr/len` (host bits ignored). Returns true if the prefix is new.
    pub(crate) fn add(&mut self, addr: K, len: u8, slot: Slot, spill: &mut usize) -> bool {
        let len = len.min(K::WIDTH);
        let Some(map) = self.by_len.get_mut(usize::from(len)) else {
            return false;
        };
        let new = slots::add(map, addr.prefix(len), slot, spill);
        self.in_use[usize::from(len / 64)] |= 1 << (len % 64);
        new
    }

    /// Removes `slot` from `addr/len`. Returns true if the prefix disappeared.
    pub(crate) fn remove(&mut self, addr: K, len: u8, slot: Slot, spill: &mut usize) -> bool {
        let len = len.min(K::WIDTH);
        let Some(map) = self.by_len.get_mut(usize::from(len)) else {
            return false;
        };
        let gone = slots::remove(map, addr.prefix(len), slot, spill);
        if map.is_empty() {
            self.in_use[usize::from(len / 64)] &= !(1 << (len % 64));
        }
        gone
    }

    /// Calls `f` with the slots of every prefix that contains `addr`.
    #[inline]
    pub(crate) fn for_each_match(&self, addr: K, mut f: impl FnMut(&SlotSet)) {
        for (word, bits) in self.in_use.iter().enumerate() {
            let mut bits = *bits;
            while bits != 0 {
                let len = word * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if let Some(map) = self.by_len.get(len) {
                    // len <= WIDTH <= 128: fits in u8.
                    if let Some(set) = map.get(&addr.prefix(len as u8)) {
                        f(set);
                    }
                }
            }
        }
    }

    /// Heap bytes of the hash tables.
    pub(crate) fn allocation_size(&self) -> usize {
        self.by_len
            .iter()
            .map(|m| m.allocation_size())
            .sum::<usize>()
            + self.by_len.capacity() * std::mem::size_of::<Map<K>>()
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn masks_prefixes() {
        assert_eq!(0xc0a8_0102u32.prefix(24), 0xc0a8_0100);
        assert_eq!(0xffff_ffffu32.prefix(0), 0);
        assert_eq!(0xffff_ffffu32.prefix(32), 0xffff_ffff);
        assert_eq!(u128::MAX.prefix(128), u128::MAX);
        assert_eq!(u128::MAX.prefix(1), 1 << 127);
        assert_eq!(u128::MAX.prefix(0), 0);
    }

    #[test]
    fn finds_every_containing_prefix() {
        let mut t = PrefixTable::<u32>::default();
        let mut spill = 0;
        t.add(0x0a00_0000, 8, Slot(1), &mut spill);
        t.add(0x0a01_0000, 16, Slot(2), &mut spill);
        t.add(0x0a01_0200, 24, Slot(3), &mut spill);
        t.add(0, 0, Slot(4), &mut spill);
        t.add(0x0b00_0000, 8, Slot(5), &mut spill);
        let mut hits = Vec::new();
        t.for_each_match(0x0a01_0203, |s| hits.extend_from_slice(s.as_slice()));
        hits.sort();
        assert_eq!(hits, vec![Slot(1), Slot(2), Slot(3), Slot(4)]);
        assert!(t.remove(0, 0, Slot(4), &mut spill));
        assert_eq!(t.in_use[0] & 1, 0);
        assert_eq!(t.by_len.iter().map(|m| m.len()).sum::<usize>(), 4);
    }
}
