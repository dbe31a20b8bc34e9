//! CIDR tables that find EVERY prefix containing an address, not only the longest:
//! one exact table per prefix length (the packet path's own, whose in-cache filter
//! stops most misses at one word), and a bitmap of the lengths in use so a lookup
//! probes only those. Adding or removing a prefix is O(1).
//!
//! In front sits a gate: an address's block is its first [`Bits::GATE_BITS`] bits
//! (/16 for IPv4; /48 for IPv6, where subscribers get /48 to /64 and a /16 is
//! half the Internet), and the gate has a bit per block bucket, set while a prefix
//! at least as long as the block lies in it. An address in a closed bucket (nearly
//! every address, when the targets are a few customer subnets) can only be in a
//! shorter prefix: it probes only those lengths, and the packet path skips the
//! frame altogether when there are none ([`PrefixTable::may_contain`]).

use super::exact::{ExactTable, Key, Slots};
use super::Slot;

/// An address as an unsigned integer (u32 for IPv4, u128 for IPv6).
pub(crate) trait Bits: Key {
    /// Address width in bits.
    const WIDTH: u8;
    /// Leading bits that make an address's gate block (below 64).
    const GATE_BITS: u8;
    /// The address with all but its first `len` bits cleared (`len <= WIDTH`).
    fn prefix(self, len: u8) -> Self;
    /// The gate bucket of the address's block, below [`GATE_BUCKETS`]: the block
    /// itself for IPv4, a hash of it for IPv6 (blocks sharing a bucket only open
    /// the gate for each other, they never close it).
    fn bucket(self) -> usize;
}

/// log2 of the gate's buckets: 64 Ki bits, an 8 KiB bitmap.
const GATE_BUCKETS_LOG2: u32 = 16;
const GATE_BUCKETS: usize = 1 << GATE_BUCKETS_LOG2;

/// Bit `l` set for every length `l` below `K`'s gate length (word 0 of `in_use`):
/// the lengths probed whatever the gate says.
fn short_lengths<K: Bits>() -> u64 {
    (1 << K::GATE_BITS) - 1
}

macro_rules! prefix_of {
    ($t:ty) => {
        #[inline]
        fn prefix(self, len: u8) -> Self {
            // Shift by WIDTH (len 0) overflows: the mask is then empty.
            <$t>::MAX
                .checked_shl(u32::from(Self::WIDTH - len.min(Self::WIDTH)))
                .map_or(0, |mask| self & mask)
        }
    };
}

// IPv4 buckets are the blocks themselves: one bucket per /16.
const _: () = assert!(<u32 as Bits>::GATE_BITS as u32 == GATE_BUCKETS_LOG2);

impl Bits for u32 {
    const WIDTH: u8 = 32;
    const GATE_BITS: u8 = 16;
    prefix_of!(u32);
    #[inline]
    fn bucket(self) -> usize {
        (self >> (Self::WIDTH - Self::GATE_BITS)) as usize
    }
}

impl Bits for u128 {
    const WIDTH: u8 = 128;
    const GATE_BITS: u8 = 48;
    prefix_of!(u128);
    #[inline]
    fn bucket(self) -> usize {
        let block = (self >> (Self::WIDTH - Self::GATE_BITS)) as u64;
        (block.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - GATE_BUCKETS_LOG2)) as usize
    }
}

/// All prefixes of one address family.
pub(crate) struct PrefixTable<K: Bits> {
    /// `by_len[l]` holds the prefixes of length `l`, keyed by the masked address.
    by_len: Vec<ExactTable<K>>,
    /// Bit `l` set iff `by_len[l]` is non-empty.
    in_use: [u64; 3],
    /// Per gate bucket: prefixes of length >= [`Bits::GATE_BITS`] in it (read on
    /// updates).
    long_per_bucket: Vec<u32>,
    /// Bit per bucket: set iff its count is non-zero (read per lookup: 8 KiB).
    gate: Vec<u64>,
}

impl<K: Bits> Default for PrefixTable<K> {
    fn default() -> Self {
        Self {
            by_len: (0..=K::WIDTH).map(|_| ExactTable::default()).collect(),
            in_use: [0; 3],
            long_per_bucket: Vec::new(),
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
        if new && len >= K::GATE_BITS {
            self.count_long(addr.bucket(), true);
        }
        new
    }

    /// Puts `new` in place of the table of `len`-bit prefixes and returns the
    /// old one (None for a length beyond the family's width). `new` must hold
    /// the same prefixes, so the length bitmap and the gate stay as they are.
    pub(crate) fn swap_in(
        &mut self,
        len: u8,
        new: ExactTable<K>,
        spill: &mut usize,
    ) -> Option<ExactTable<K>> {
        let table = self.by_len.get_mut(usize::from(len))?;
        Some(table.swap_in(new, spill))
    }

    /// The table of `len`-bit prefixes.
    #[cfg(test)]
    pub(crate) fn table(&self, len: u8) -> &ExactTable<K> {
        &self.by_len[usize::from(len)]
    }

    /// Counts a long prefix in or out of `bucket`, opening or closing its gate bit.
    fn count_long(&mut self, bucket: usize, added: bool) {
        if self.long_per_bucket.is_empty() {
            self.long_per_bucket = vec![0; GATE_BUCKETS];
            self.gate = vec![0; GATE_BUCKETS / 64];
        }
        let (Some(count), Some(word)) = (
            self.long_per_bucket.get_mut(bucket),
            self.gate.get_mut(bucket / 64),
        ) else {
            return;
        };
        if added {
            *count += 1;
        } else {
            *count = count.saturating_sub(1);
        }
        let bit = 1 << (bucket % 64);
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
        if gone && len >= K::GATE_BITS {
            self.count_long(addr.bucket(), false);
        }
        gone
    }

    /// Whether a prefix of the gate length or longer may contain `addr`.
    #[inline]
    fn gate_open(&self, addr: K) -> bool {
        let bucket = addr.bucket();
        self.gate
            .get(bucket / 64)
            .is_some_and(|w| w >> (bucket % 64) & 1 != 0)
    }

    /// Whether some prefix may contain `addr`: false means none does, so the
    /// packet path need not call [`Self::for_each_match`]. Always true while a
    /// prefix shorter than the gate length is stored.
    #[inline]
    pub(crate) fn may_contain(&self, addr: K) -> bool {
        self.in_use[0] & short_lengths::<K>() != 0 || self.gate_open(addr)
    }

    /// Calls `f` with the slots of every prefix that contains `addr`.
    #[inline]
    pub(crate) fn for_each_match(&self, addr: K, mut f: impl FnMut(Slots<'_>)) {
        let open = self.gate_open(addr);
        for (word, bits) in self.in_use.iter().enumerate() {
            let mut bits = match (open, word) {
                (true, _) => *bits,
                (false, 0) => *bits & short_lengths::<K>(),
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
            + self.long_per_bucket.capacity() * std::mem::size_of::<u32>()
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

    /// Applies `ops` (address index, length, slot, add or remove) to a table
    /// and to a plain list, then checks that every probe finds exactly the
    /// slots of the listed prefixes that contain it (by brute force), and that
    /// the gate never closes on an address some prefix contains.
    fn check_against_model<K: Bits + std::fmt::Debug>(
        ops: &[(u32, u8, u16, bool)],
        probes: &[u32],
        addr: impl Fn(u32) -> K,
        host_bits: impl Fn(u32) -> K,
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        let mut t = PrefixTable::<K>::default();
        let mut model: Vec<(K, u8, u16)> = Vec::new();
        let mut spill = 0;
        for &(a, len, slot, add) in ops {
            let net = addr(a).prefix(len);
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
        for &p in probes {
            let probe = host_bits(p);
            let mut got = Vec::new();
            t.for_each_match(probe, |s| got.extend(s.as_slice().iter().map(|s| s.0)));
            got.sort_unstable();
            let mut want: Vec<u16> = model
                .iter()
                .filter(|&&(net, len, _)| probe.prefix(len) == net)
                .map(|&(_, _, slot)| slot)
                .collect();
            want.sort_unstable();
            if !want.is_empty() {
                proptest::prop_assert!(t.may_contain(probe), "gate closed on {probe:?}");
            }
            proptest::prop_assert_eq!(got, want);
        }
        Ok(())
    }

    /// Few distinct addresses, spread over the whole space, so prefixes nest.
    fn spread4(i: u32) -> u32 {
        i.wrapping_mul(0x1000_0001) ^ (i << 20)
    }

    /// The same for IPv6, with distinct bits on both sides of the /48 gate.
    fn spread6(i: u32) -> u128 {
        u128::from(spread4(i)) << 96 | u128::from(i.wrapping_mul(0x9e37_79b9)) << 64
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        #[test]
        fn ipv4_matches_every_containing_prefix_like_a_model(
            ops in proptest::collection::vec(
                (0u32..16, proptest::sample::select(vec![0u8, 8, 12, 16, 24, 31, 32]), 0u16..3, proptest::bool::ANY),
                0..120,
            ),
            probes in proptest::collection::vec(0u32..16, 1..20),
        ) {
            check_against_model(&ops, &probes, spread4, |p| spread4(p) ^ (p & 0xff))?;
        }

        #[test]
        fn ipv6_matches_every_containing_prefix_like_a_model(
            ops in proptest::collection::vec(
                (0u32..16, proptest::sample::select(vec![0u8, 16, 32, 47, 48, 56, 64, 100, 128]), 0u16..3, proptest::bool::ANY),
                0..120,
            ),
            probes in proptest::collection::vec(0u32..16, 1..20),
        ) {
            check_against_model(&ops, &probes, spread6, |p| spread6(p) ^ u128::from(p & 0xff) << 40)?;
        }
    }
}
