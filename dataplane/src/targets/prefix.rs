//! CIDR tables that find EVERY prefix containing an address, not only the longest:
//! one exact table per prefix length (the packet path's own, whose in-cache filter
//! stops most misses at one word), and a bitmap of the lengths in use so a lookup
//! probes only those. Adding or removing a prefix is O(1).
//!
//! In front sits a gate: one bit per block of the first 16 address bits, set while
//! a prefix of length 16 or more lies in the block. An address in a closed block
//! (nearly every address, when the targets are a few customer subnets) probes
//! only the lengths below 16, and those rarely exist.

use super::exact::{ExactTable, Key, Slots};
use super::Slot;

/// An address as an unsigned integer (u32 for IPv4, u128 for IPv6).
pub(crate) trait Bits: Key {
    /// Address width in bits.
    const WIDTH: u8;
    /// The address with all but its first `len` bits cleared (`len <= WIDTH`).
    fn prefix(self, len: u8) -> Self;
    /// The first [`GATE_BITS`] bits: the address's block in the gate.
    fn block(self) -> usize;
}

/// Bits of an address that select its gate block.
const GATE_BITS: u8 = 16;
/// Lengths below [`GATE_BITS`]: probed whatever the gate says.
const SHORT_LENGTHS: u64 = (1 << GATE_BITS) - 1;

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
            #[inline]
            fn block(self) -> usize {
                (self >> (Self::WIDTH - GATE_BITS)) as usize
            }
        }
    };
}
impl_bits!(u32);
impl_bits!(u128);

/// All prefixes of one address family.
pub(crate) struct PrefixTable<K: Bits> {
    /// `by_len[l]` holds the prefixes of length `l`, keyed by the masked address.
    by_len: Vec<ExactTable<K>>,
    /// Bit `l` set iff `by_len[l]` is non-empty.
    in_use: [u64; 3],
    /// Per block: prefixes of length >= [`GATE_BITS`] in it (read on updates).
    long_per_block: Vec<u32>,
    /// Bit per block: set iff its count is non-zero (read per lookup: 8 KiB).
    gate: Vec<u64>,
}

impl<K: Bits> Default for PrefixTable<K> {
    fn default() -> Self {
        Self {
            by_len: (0..=K::WIDTH).map(|_| ExactTable::default()).collect(),
            in_use: [0; 3],
            long_per_block: Vec::new(),
            gate: Vec::new(),
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
        let Some(table) = self.by_len.get_mut(usize::from(len)) else {
            return false;
        };
        let new = table.add(addr.prefix(len), slot, spill);
        self.in_use[usize::from(len / 64)] |= 1 << (len % 64);
        if new && len >= GATE_BITS {
            self.count_long(addr.block(), true);
        }
        new
    }

    /// Counts a long prefix in or out of `block`, opening or closing its gate bit.
    fn count_long(&mut self, block: usize, added: bool) {
        if self.long_per_block.is_empty() {
            self.long_per_block = vec![0; 1 << GATE_BITS];
            self.gate = vec![0; (1 << GATE_BITS) / 64];
        }
        let (Some(count), Some(word)) = (
            self.long_per_block.get_mut(block),
            self.gate.get_mut(block / 64),
        ) else {
            return;
        };
        if added {
            *count += 1;
        } else {
            *count = count.saturating_sub(1);
        }
        let bit = 1 << (block % 64);
        if *count == 0 {
            *word &= !bit;
        } else {
            *word |= bit;
        }
    }

    /// Removes `slot` from `addr/len`. Returns true if the prefix disappeared.
    pub(crate) fn remove(&mut self, addr: K, len: u8, slot: Slot, spill: &mut usize) -> bool {
        let len = len.min(K::WIDTH);
        let Some(table) = self.by_len.get_mut(usize::from(len)) else {
            return false;
        };
        let gone = table.remove(addr.prefix(len), slot, spill);
        if table.is_empty() {
            self.in_use[usize::from(len / 64)] &= !(1 << (len % 64));
        }
        if gone && len >= GATE_BITS {
            self.count_long(addr.block(), false);
        }
        gone
    }

    /// Calls `f` with the slots of every prefix that contains `addr`.
    #[inline]
    pub(crate) fn for_each_match(&self, addr: K, mut f: impl FnMut(Slots<'_>)) {
        let block = addr.block();
        let open = self
            .gate
            .get(block / 64)
            .is_some_and(|w| w >> (block % 64) & 1 != 0);
        for (word, bits) in self.in_use.iter().enumerate() {
            let mut bits = match (open, word) {
                (true, _) => *bits,
                (false, 0) => *bits & SHORT_LENGTHS,
                (false, _) => 0,
            };
            while bits != 0 {
                let len = word * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if let Some(table) = self.by_len.get(len) {
                    // len <= WIDTH <= 128: fits in u8.
                    if let Some(set) = table.get(addr.prefix(len as u8)) {
                        f(set);
                    }
                }
            }
        }
    }

    /// Heap bytes of the tables.
    pub(crate) fn allocation_size(&self) -> usize {
        self.by_len
            .iter()
            .map(ExactTable::allocation_size)
            .sum::<usize>()
            + self.by_len.capacity() * std::mem::size_of::<ExactTable<K>>()
            + self.long_per_block.capacity() * std::mem::size_of::<u32>()
            + self.gate.capacity() * std::mem::size_of::<u64>()
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
        assert_eq!(t.by_len.iter().map(ExactTable::len).sum::<usize>(), 4);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        /// Under any adds and removes, a lookup yields exactly the slots of the
        /// stored prefixes that contain the address (checked by brute force).
        #[test]
        fn matches_every_containing_prefix_like_a_model(
            ops in proptest::collection::vec(
                (0u32..16, proptest::sample::select(vec![0u8, 8, 12, 16, 24, 31, 32]), 0u16..3, proptest::bool::ANY),
                0..120,
            ),
            probes in proptest::collection::vec(0u32..16, 1..20),
        ) {
            // Few distinct addresses (spread over the whole space) so prefixes nest.
            let spread = |i: u32| i.wrapping_mul(0x1000_0001) ^ (i << 20);
            let mut t = PrefixTable::<u32>::default();
            let mut model: Vec<(u32, u8, u16)> = Vec::new();
            let mut spill = 0;
            for (a, len, slot, add) in ops {
                let net = spread(a).prefix(len);
                let present = model.contains(&(net, len, slot));
                if add {
                    t.add(net, len, Slot(slot), &mut spill);
                    if !present {
                        model.push((net, len, slot));
                    }
                } else {
                    t.remove(net, len, Slot(slot), &mut spill);
                    model.retain(|&m| m != (net, len, slot));
                }
            }
            for p in probes {
                let addr = spread(p) ^ (p & 0xff);
                let mut got = Vec::new();
                t.for_each_match(addr, |s| got.extend(s.as_slice().iter().map(|s| s.0)));
                got.sort_unstable();
                let mut want: Vec<u16> = model
                    .iter()
                    .filter(|&&(net, len, _)| addr.prefix(len) == net)
                    .map(|&(_, _, slot)| slot)
                    .collect();
                want.sort_unstable();
                proptest::prop_assert_eq!(got, want);
            }
        }
    }
}
