//! Exact-address tables (IPv4 `u32`, MAC `u64`, IPv6 `u128` keys) built for the packet path:
//! open addressing with linear probing in one flat array, load at most 1/2, so a
//! lookup - hit or miss - usually reads one cache line, and that line's address is
//! known from the key's hash alone. The worker hashes each address once, then
//! prefetches the lines of a whole burst before probing any (hashbrown offers no
//! such hook).
//!
//! In front of the entries sits a filter that fits in cache: a blocked Bloom
//! filter, one 64-bit word per key with two bits set in it, 16 bits per key at the
//! highest load (at least 8 KiB, so small tables almost never pass a miss). A miss
//! usually stops at one word of a table 8 times smaller than the IPv4 entries:
//! about 1.7 % false positives at the highest load (5 % at 8 bits per key), each a
//! probe of the entry array, which is out of cache for a large table
//! (`perf/results/dataplane-2026-12-01.md`). Removing a key
//! leaves its bits set (a false positive costs one probe, never a wrong answer);
//! the filter is rebuilt once a quarter of the keys are stale (for a worker's
//! exact tables, by the writer: see [`ExactTable::rebuilt_by_owner`]).
//!
//! Each entry holds its key and a 32-bit value: one slot inline (the common case),
//! or the index of a sorted slot list in a side vector. Removal shifts the following
//! entries of the run back (no tombstones), so lookups never slow down with churn.
//!
//! An address table's entry may also carry a mark ([`ExactTable::mark`]): the
//! address has endpoint targets, looked up by port in a table of their own.
//! A marked address with no address target of its own is an entry with no slot:
//! the filters and gates let it through like any stored key, so the stages
//! before classification need no table more.

use super::slots::SlotSet;
use super::Slot;
use crate::dpdk::HugeArray;

/// Value of an empty entry.
const EMPTY: u32 = u32::MAX;
/// Values from here on index `spill` (a slot is a `u16`, so below this).
const SPILLED: u32 = 1 << 16;
/// Bit of a value: the key is marked (see [`ExactTable::mark`]).
const MARKED: u32 = 1 << 31;
/// Value (with [`MARKED`]) of a marked key in no slot. Below `EMPTY & !MARKED`,
/// so that no marked entry reads as empty.
const NO_SLOTS: u32 = MARKED - 2;
/// Entries of the first allocation.
const MIN_ENTRIES: usize = 16;
/// Tables with fewer entries stay in cache: prefetching them only costs time.
const PREFETCH_MIN_ENTRIES: usize = 1 << 15;
/// log2 of the filter bits per entry: 8 bits (16 per key at load 1/2), 1/8 of
/// the IPv4 entry array's bytes.
const FILTER_BITS_LOG2: u32 = 3;
/// Fewest filter words (8 KiB): an L1-resident filter of a small table.
const MIN_FILTER_WORDS: usize = 1024;

/// A key: an address as an unsigned integer, hashed to a 64-bit value.
pub(crate) trait Key: Copy + Eq + Default {
    /// A well-mixed 64-bit hash of `self` under `seed`.
    fn hash(self, seed: u64) -> u64;

    /// The key's coarse part the gate keeps, below [`GATE_BITS`]: the block
    /// an address is allocated in, where targets cluster (a carrier's
    /// subscribers) and most other traffic's addresses do not.
    fn gate(self) -> usize;

    /// Whether the gate also keeps the key's finer block ([`Self::fine_gate`]).
    const FINE: bool = false;

    /// The key's finer block inside its [`Self::gate`] block, below
    /// [`FINE_PER_BLOCK`] (where [`Self::FINE`]).
    #[inline(always)]
    fn fine_gate(self) -> usize {
        0
    }
}

/// Bits of a table's coarse gate: one per [`Key::gate`] value (8 KiB, in L1).
const GATE_BITS: usize = 1 << 16;

/// A table's coarse gate. Of fixed size, so that a [`Key::gate`] value
/// indexes it without a bounds check.
type Coarse = [u64; GATE_BITS / 64];

/// The coarse gate of a table that never stored a key: shared, not allocated.
static EMPTY_COARSE: Coarse = [0; GATE_BITS / 64];

/// Finer blocks per coarse block (an IPv4 /16's /24s).
const FINE_PER_BLOCK: usize = 256;

/// The finer blocks of one coarse block, a bit each (32 bytes).
type FineMap = [u64; FINE_PER_BLOCK / 64];

/// A coarse block's finer maps, in one cache line (aligned to it: a frame
/// in an endpoint's block reads both): [`ANY_KEY`]'s bits are those of its
/// finer blocks holding any key, [`IN_SLOT`]'s those holding a key in a
/// slot (not only marked).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct FineMaps([FineMap; 2]);
const ANY_KEY: usize = 0;
const IN_SLOT: usize = 1;

/// The number of the [`FineMaps`] of every coarse block without keys (none
/// open), and of those past the last number a `u16` holds (all open).
const FINE_NONE: u16 = 0;
const FINE_ALL: u16 = 1;

/// A table's gate: a key may be stored only if its coarse bit is set and,
/// for a key with a finer block ([`Key::FINE`]), that block's bit too. A few
/// keys in a block that carries much other traffic (a call's media relay, a
/// server in a hoster's /16) so open only their own finer blocks; a frame
/// whose coarse block holds keys reads that block's map number and its 32
/// bytes of finer bits, which stay in cache. Beside them, the finer blocks
/// holding a key in a slot: where a block holds marked keys only (a call's
/// media relay's addresses), a frame may pass on an endpoint's port only
/// ([`FilterView::in_slot_bit`]).
struct Gate {
    coarse: Box<Coarse>,
    /// Per coarse block, the number of its [`FineMaps`] in `fine`; empty for
    /// keys without finer blocks.
    fine_of: Box<[u16]>,
    /// The [`FineMaps`]: [`FINE_NONE`]'s, [`FINE_ALL`]'s, then one per
    /// coarse block that holds keys.
    fine: Vec<FineMaps>,
}

impl Gate {
    fn new<K: Key>() -> Gate {
        let blocks = if K::FINE { GATE_BITS } else { 0 };
        Gate {
            coarse: Box::new(EMPTY_COARSE),
            fine_of: vec![FINE_NONE; blocks].into_boxed_slice(),
            fine: vec![
                FineMaps([[0; FINE_PER_BLOCK / 64]; 2]),
                FineMaps([[u64::MAX; FINE_PER_BLOCK / 64]; 2]),
            ],
        }
    }

    fn clear(&mut self) {
        self.coarse.fill(0);
        self.fine_of.fill(FINE_NONE);
        self.fine.truncate(usize::from(FINE_ALL) + 1);
    }

    /// Sets the bits of `key`, its [`IN_SLOT`] bit too if `in_slot`.
    fn mark<K: Key>(&mut self, key: K, in_slot: bool) {
        let g = key.gate();
        set_bit(&mut self.coarse[..], g);
        let Some(n) = self.fine_of.get_mut(g) else {
            return;
        };
        if *n == FINE_NONE {
            *n = u16::try_from(self.fine.len()).unwrap_or(FINE_ALL);
            if *n != FINE_ALL {
                self.fine.push(FineMaps([[0; FINE_PER_BLOCK / 64]; 2]));
            }
        }
        if let Some(maps) = self.fine.get_mut(usize::from(*n)) {
            set_bit(&mut maps.0[ANY_KEY], key.fine_gate());
            if in_slot {
                set_bit(&mut maps.0[IN_SLOT], key.fine_gate());
            }
        }
    }

    fn view(&self) -> GateView<'_> {
        GateView {
            coarse: &self.coarse,
            fine_of: &self.fine_of,
            fine: &self.fine,
        }
    }

    fn allocation_size(&self) -> usize {
        size_of::<Coarse>()
            + self.fine_of.len() * size_of::<u16>()
            + self.fine.capacity() * size_of::<FineMaps>()
    }
}

/// A table's [`Gate`], borrowed.
#[derive(Clone, Copy)]
struct GateView<'a> {
    coarse: &'a Coarse,
    fine_of: &'a [u16],
    fine: &'a [FineMaps],
}

/// The gate of a table that never stored a key.
const EMPTY_GATE: GateView<'static> = GateView {
    coarse: &EMPTY_COARSE,
    fine_of: &[],
    fine: &[],
};

impl GateView<'_> {
    /// The coarse bit of `key`, as 0 or 1.
    #[inline(always)]
    fn block_open<K: Key>(self, key: K) -> u64 {
        map_bit(self.coarse, key.gate())
    }

    /// The bit of `key` in its coarse block's finer map `which` ([`ANY_KEY`]
    /// or [`IN_SLOT`]), as 0 or 1 (1, for a key without finer blocks).
    #[inline(always)]
    fn fine_map_bit<K: Key>(self, key: K, which: usize) -> u64 {
        if !K::FINE {
            return 1;
        }
        let n = self.fine_of.get(key.gate());
        let map = n.and_then(|&n| self.fine.get(usize::from(n)));
        map.map_or(0, |m| map_bit(&m.0[which % 2], key.fine_gate()))
    }

    /// The finer bit of `key` whose coarse bit is set, as 0 or 1 (its coarse
    /// bit, for a key without finer blocks).
    #[inline(always)]
    fn fine_bit<K: Key>(self, key: K) -> u64 {
        self.fine_map_bit(key, ANY_KEY)
    }

    /// As 0 or 1, whether the finer block of a `key` whose [`Self::fine_bit`]
    /// is 1 holds a key in a slot (1 for a key without finer blocks).
    #[inline(always)]
    fn in_slot_bit<K: Key>(self, key: K) -> u64 {
        self.fine_map_bit(key, IN_SLOT)
    }

    /// The bit of `key` (coarse and finer), as 0 or 1: two such bits are
    /// or-ed with a shift and an `or` each, where booleans took a mask and a
    /// compare each.
    #[inline(always)]
    fn bit<K: Key>(self, key: K) -> u64 {
        let g = key.gate();
        let open = map_bit(self.coarse, g);
        if !K::FINE {
            return open;
        }
        // Without a branch (whether a frame's address lies in a gated block
        // follows no pattern): a key of a closed block reads the first
        // block's number, in cache, instead of its own.
        let n = self.fine_of.get(g & (open as usize).wrapping_neg());
        let map = n.and_then(|&n| self.fine.get(usize::from(n)));
        open & map.map_or(0, |m| map_bit(&m.0[ANY_KEY], key.fine_gate()))
    }
}

/// What [`FilterView::hash`] gives a key whose gate bit is clear: no stored
/// key's hash ([`stored_hash`] sets bit 0), and the filter passes it never.
const NOT_STORED: u64 = 0;

/// The hash a key is stored and looked up under: [`Key::hash`] with bit 0
/// set, so that it never reads as [`NOT_STORED`].
#[inline(always)]
fn stored_hash<K: Key>(key: K, seed: u64) -> u64 {
    key.hash(seed) | 1
}

/// Two rounds of multiply and xor-shift (as in murmur3's finaliser): every key
/// bit reaches the high bits the index is taken from, even for keys that are
/// themselves multiples of a stride.
#[inline(always)]
fn mix(x: u64) -> u64 {
    let h = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    (h ^ (h >> 32)).wrapping_mul(0xc4ce_b9fe_1a85_ec53)
}

impl Key for u32 {
    #[inline(always)]
    fn hash(self, seed: u64) -> u64 {
        mix(u64::from(self) ^ seed)
    }

    /// An IPv4 address's /16.
    #[inline(always)]
    fn gate(self) -> usize {
        (self >> 16) as usize
    }

    const FINE: bool = true;

    /// An IPv4 address's /24 in its /16.
    #[inline(always)]
    fn fine_gate(self) -> usize {
        (self >> 8) as usize % FINE_PER_BLOCK
    }
}

impl Key for u64 {
    #[inline(always)]
    fn hash(self, seed: u64) -> u64 {
        mix(self ^ seed)
    }

    /// A MAC address's first two bytes (of its vendor's OUI).
    #[inline(always)]
    fn gate(self) -> usize {
        (self >> 32) as usize & (GATE_BITS - 1)
    }
}

impl Key for u128 {
    #[inline(always)]
    fn hash(self, seed: u64) -> u64 {
        let (hi, lo) = ((self >> 64) as u64, self as u64);
        mix(lo ^ seed ^ mix(hi))
    }

    /// An IPv6 address's /32 (a carrier's usual allocation), folded.
    #[inline(always)]
    fn gate(self) -> usize {
        let block = (self >> 96) as u32;
        ((block >> 16) ^ block) as usize & (GATE_BITS - 1)
    }
}

/// An endpoint target's key: an address of either family, a port and the
/// transport (UDP or TCP). An IPv6 address is kept as two words (an entry of
/// 32 bytes, where a `u128`'s alignment made it 48); an IPv4 one in `lo`, with
/// [`Endpoint::V4`] set in `port`, so that it never equals an IPv6 address's
/// key. [`Endpoint::TCP`] in `port` tells a TCP endpoint from the UDP one on
/// the same address and port: the protocol is part of the one key and hash,
/// so no frame pays a second lookup.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Endpoint {
    hi: u64,
    lo: u64,
    port: u32,
}

impl Endpoint {
    /// Bit of `port` telling an IPv4 endpoint.
    const V4: u32 = 1 << 16;
    /// Bit of `port` telling a TCP endpoint (clear: UDP).
    const TCP: u32 = 1 << 17;

    /// An IPv4 address (host order) and port, of TCP if `tcp`, else of UDP.
    #[inline(always)]
    pub(crate) fn v4(addr: u32, port: u16, tcp: bool) -> Self {
        Self {
            hi: 0,
            lo: u64::from(addr),
            port: Self::V4 | Self::proto(tcp) | u32::from(port),
        }
    }

    /// An IPv6 address and port, of TCP if `tcp`, else of UDP.
    #[inline(always)]
    pub(crate) fn v6(addr: u128, port: u16, tcp: bool) -> Self {
        Self {
            hi: (addr >> 64) as u64,
            lo: addr as u64,
            port: Self::proto(tcp) | u32::from(port),
        }
    }

    /// The protocol bit of a TCP (`tcp`) or UDP endpoint, without a branch.
    #[inline(always)]
    fn proto(tcp: bool) -> u32 {
        Self::TCP * u32::from(tcp)
    }
}

impl Key for Endpoint {
    #[inline(always)]
    fn hash(self, seed: u64) -> u64 {
        mix(self.lo ^ seed ^ mix(self.hi ^ (u64::from(self.port) << 32)))
    }

    /// The address's block, as its family's address table gates it.
    #[inline(always)]
    fn gate(self) -> usize {
        if self.port & Self::V4 != 0 {
            (self.lo as u32).gate()
        } else {
            (u128::from(self.hi) << 64).gate()
        }
    }
}

#[derive(Clone, Copy, Default)]
struct Entry<K> {
    key: K,
    value: u32,
}

/// The slots of one entry, borrowed from the table.
pub(crate) enum Slots<'a> {
    One([Slot; 1]),
    Many(&'a [Slot]),
}

impl Slots<'_> {
    #[inline]
    pub(crate) fn as_slice(&self) -> &[Slot] {
        match self {
            Slots::One(s) => s,
            Slots::Many(v) => v,
        }
    }
}

/// Word of a filter for hash `h` (from its high bits, `shift` the right
/// shift for the filter's size; out of range while empty) and the two bits of
/// that word set for it (from its low bits but bit 0, which
/// [`stored_hash`] sets).
#[inline(always)]
fn filter_probe(h: u64, shift: u32) -> (usize, u64) {
    let word = (h >> shift) as usize;
    (word, 1 << ((h >> 1) & 63) | 1 << ((h >> 7) & 63))
}

/// Bit `i` of `map`, as 0 or 1 (0 past its end).
#[inline(always)]
fn map_bit(map: &[u64], i: usize) -> u64 {
    map.get(i / 64).map_or(0, |w| w >> (i % 64) & 1)
}

/// Sets bit `i` of `map` (none past its end).
fn set_bit(map: &mut [u64], i: usize) {
    if let Some(w) = map.get_mut(i / 64) {
        *w |= 1 << (i % 64);
    }
}

/// Sets the filter bits and the gate bits of `key`, of hash `h` and stored
/// `value`.
fn mark<K: Key>(
    filter: &mut [u64],
    shift: u32,
    gate: &mut Option<Gate>,
    key: K,
    h: u64,
    value: u32,
) {
    let (word, bits) = filter_probe(h, shift);
    if let Some(w) = filter.get_mut(word) {
        *w |= bits;
    }
    gate.get_or_insert_with(Gate::new::<K>)
        .mark(key, in_slot(value));
}

/// Whether a stored `value` holds a slot (is not only marked).
fn in_slot(value: u32) -> bool {
    value & !MARKED != NO_SLOTS
}

/// An exact table's gate, filter and hash seed, borrowed: everything a
/// lookup reads before it knows whether the key may be stored.
#[derive(Clone, Copy)]
pub(crate) struct FilterView<'a, K> {
    gate: GateView<'a>,
    words: &'a [u64],
    /// Right shift turning a hash into a word index.
    shift: u32,
    seed: u64,
    /// Whether the table is large enough to be worth prefetching.
    prefetch: bool,
    key: std::marker::PhantomData<K>,
}

impl<'a, K: Key> FilterView<'a, K> {
    /// The table's coarse gate bit of `key`, as 0 or 1: 0 where the key is
    /// known not to be stored, from one L1 line. A loop over many frames
    /// asks it of all and [`Self::gate_bit`] only of those it lets through.
    #[inline(always)]
    pub(crate) fn block_open(&self, key: K) -> u64 {
        self.gate.block_open(key)
    }

    /// The table's finer gate bit of a `key` whose [`Self::block_open`] is 1,
    /// as 0 or 1: with it, [`Self::gate_bit`] without a second coarse read.
    #[inline(always)]
    pub(crate) fn fine_bit(&self, key: K) -> u64 {
        self.gate.fine_bit(key)
    }

    /// As 0 or 1, whether a key in a slot may share the finer block of a
    /// `key` whose [`Self::fine_bit`] is 1: where not, only a marked key (an
    /// address of endpoint targets) may be `key`.
    #[inline(always)]
    pub(crate) fn in_slot_bit(&self, key: K) -> u64 {
        self.gate.in_slot_bit(key)
    }

    /// The table's whole gate bit of `key` (coarse and finer), as 0 or 1: 0
    /// where the key is known not to be stored.
    #[inline(always)]
    pub(crate) fn gate_bit(&self, key: K) -> u64 {
        self.gate.bit(key)
    }

    /// See [`ExactTable::hash`].
    #[inline(always)]
    pub(crate) fn hash(&self, key: K) -> u64 {
        self.hash_under(key, self.gate_bit(key))
    }

    /// [`Self::hash`] of a key whose [`Self::gate_bit`] is `gate_bit`.
    #[inline(always)]
    pub(crate) fn hash_under(&self, key: K, gate_bit: u64) -> u64 {
        let h = stored_hash(key, self.seed);
        // Without a branch: whether a frame's address lies in a gated block
        // follows no pattern the CPU could predict.
        if gate_bit != 0 {
            h
        } else {
            NOT_STORED
        }
    }

    /// See [`ExactTable::passes`].
    #[inline(always)]
    pub(crate) fn passes(&self, h: u64) -> bool {
        let (word, bits) = filter_probe(h, self.shift);
        h != NOT_STORED && self.words.get(word).is_some_and(|w| w & bits == bits)
    }

    /// Hints the CPU to load the filter line a lookup of hash `h` reads first.
    #[inline(always)]
    pub(crate) fn prefetch(&self, h: u64) {
        if !self.prefetch {
            return;
        }
        // The word index is in range for a table this large; a prefetch never
        // faults anyway, so it needs no bounds check. NOT_STORED loads word
        // 0, a line as good as any.
        let word = filter_probe(h, self.shift).0;
        crate::dpdk::prefetch(self.words.as_ptr().wrapping_add(word));
    }
}

/// An exact-match table from keys to slot sets.
pub(crate) struct ExactTable<K: Copy> {
    entries: HugeArray<Entry<K>>,
    /// Right shift turning a hash into an index (64 - log2 of the entry count).
    shift: u32,
    len: usize,
    seed: u64,
    /// `max(8 * entries.len(), 64 * MIN_FILTER_WORDS)` bits; see [`filter_probe`].
    filter: HugeArray<u64>,
    /// The bits of every key stored (left set for removed ones until the
    /// filter is rebuilt): a key whose bits are clear is not stored, known
    /// from lines in cache. None until a key is stored.
    gate: Option<Gate>,
    /// Right shift turning a hash into a filter word index.
    filter_shift: u32,
    /// Keys removed since the filter was last built (their bits may still be set).
    stale: u32,
    /// The table rebuilds its filter once a quarter of its keys are stale; a
    /// worker's exact tables leave that to their writer, which sends a fresh
    /// table instead (a rebuild at a million keys takes the worker 10 ms).
    rebuilds_filter: bool,
    /// Slot lists of keys in more than one intercept; `free` lists unused indices.
    spill: Vec<Box<[Slot]>>,
    free: Vec<u32>,
    /// Times [`Self::add`] had to grow the table.
    #[cfg(test)]
    pub(crate) grown_by_add: u32,
}

impl<K: Key> Default for ExactTable<K> {
    fn default() -> Self {
        // Per-table random seed: an attacker choosing packet addresses cannot aim
        // at the longest runs without knowing it.
        let seed = std::hash::BuildHasher::hash_one(&std::hash::RandomState::new(), 0u8);
        Self {
            entries: HugeArray::default(),
            // Any shift below 64 works while empty: every index is out of range.
            shift: 63,
            len: 0,
            seed,
            filter: HugeArray::default(),
            gate: None,
            filter_shift: 63,
            stale: 0,
            rebuilds_filter: true,
            spill: Vec::new(),
            free: Vec::new(),
            #[cfg(test)]
            grown_by_add: 0,
        }
    }
}

impl<K: Key> ExactTable<K> {
    /// An empty table that never rebuilds its filter itself: its owner replaces
    /// it with a fresh one instead.
    pub(crate) fn rebuilt_by_owner() -> Self {
        Self {
            rebuilds_filter: false,
            ..Self::default()
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Keys stored.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Stale keys, and whether the table rebuilds its filter itself.
    #[cfg(test)]
    pub(crate) fn staleness(&self) -> (usize, bool) {
        (self.stale as usize, self.rebuilds_filter)
    }

    /// Entries allocated: [`Self::add`] grows the table (a rehash) once more
    /// than half of them would be in use.
    pub(crate) fn capacity(&self) -> usize {
        self.entries.len()
    }

    /// Puts `new` in place of this table and returns the old one; `spill` (the
    /// owner's count of spilled list bytes) follows.
    pub(crate) fn swap_in(&mut self, new: Self, spill: &mut usize) -> Self {
        *spill = (*spill + new.spilled_bytes()).saturating_sub(self.spilled_bytes());
        std::mem::replace(self, new)
    }

    /// Heap bytes of the slot lists of keys in more than one intercept.
    pub(crate) fn spilled_bytes(&self) -> usize {
        self.spill
            .iter()
            .map(|s| std::mem::size_of_val::<[Slot]>(s))
            .sum()
    }

    /// Heap bytes used.
    pub(crate) fn allocation_size(&self) -> usize {
        self.entries.allocation_size()
            + self.filter.allocation_size()
            + self.gate.as_ref().map_or(0, Gate::allocation_size)
            + self.spill.capacity() * std::mem::size_of::<Box<[Slot]>>()
            + self.free.capacity() * std::mem::size_of::<u32>()
    }

    /// Index of the home entry of a key with hash `h`: below the entry count
    /// unless the table has no entries.
    #[inline(always)]
    fn home(&self, h: u64) -> usize {
        (h >> self.shift) as usize
    }

    /// The hash every lookup of `key` starts from: computed once per address and
    /// passed to the other calls. [`NOT_STORED`] (the filter never passes it)
    /// where the gate knows the key is not stored.
    #[inline(always)]
    pub(crate) fn hash(&self, key: K) -> u64 {
        self.filter_view().hash(key)
    }

    /// Whether the filter lets a key with hash `h` through (always, for a key in
    /// the table; rarely, for another).
    #[inline(always)]
    pub(crate) fn passes(&self, h: u64) -> bool {
        self.filter_view().passes(h)
    }

    /// Whether the table is large enough to be worth prefetching.
    #[inline(always)]
    pub(crate) fn prefetches(&self) -> bool {
        self.entries.len() >= PREFETCH_MIN_ENTRIES
    }

    /// What [`Self::hash`] and [`Self::passes`] read of the table, copied
    /// out: a loop over many frames takes it once and keeps it in registers.
    #[inline(always)]
    pub(crate) fn filter_view(&self) -> FilterView<'_, K> {
        FilterView {
            gate: self.gate.as_ref().map_or(EMPTY_GATE, Gate::view),
            words: &self.filter,
            shift: self.filter_shift,
            seed: self.seed,
            prefetch: self.prefetches(),
            key: std::marker::PhantomData,
        }
    }

    /// Hints the CPU to load the home entry of hash `h`: the second prefetch
    /// stage, for hashes the filter let through.
    #[inline(always)]
    pub(crate) fn prefetch_entry(&self, h: u64) {
        if !self.prefetches() {
            return;
        }
        if let Some(e) = self.entries.get(self.home(h)) {
            crate::dpdk::prefetch(std::ptr::from_ref(e));
        }
    }

    /// Index of the entry of `key` (hash `h`), if present.
    #[inline(always)]
    fn find(&self, key: K, h: u64) -> Option<usize> {
        let mask = self.entries.len().wrapping_sub(1);
        let mut i = self.home(h);
        // At most half full: the walk always reaches an empty entry.
        loop {
            let e = self.entries.get(i)?;
            if e.value == EMPTY {
                return None;
            }
            if e.key == key {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// The slots `key` points at.
    #[inline(always)]
    pub(crate) fn get(&self, key: K) -> Option<Slots<'_>> {
        self.get_hashed(key, self.hash(key))
    }

    /// The slots `key`, of hash `h` (from [`Self::hash`]), points at.
    #[inline(always)]
    pub(crate) fn get_hashed(&self, key: K, h: u64) -> Option<Slots<'_>> {
        self.get_marked_hashed(key, h).map(|(slots, _)| slots)
    }

    /// [`Self::get_hashed`], and whether `key` is marked ([`Self::mark`]).
    #[inline(always)]
    pub(crate) fn get_marked_hashed(&self, key: K, h: u64) -> Option<(Slots<'_>, bool)> {
        if !self.passes(h) {
            return None;
        }
        self.get_slow(key, h)
    }

    /// The probe behind a filter hit (a key, or a false positive).
    #[inline(never)]
    fn get_slow(&self, key: K, h: u64) -> Option<(Slots<'_>, bool)> {
        let value = self.entries.get(self.find(key, h)?)?.value;
        Some((self.slots(value & !MARKED), value & MARKED != 0))
    }

    /// The slots of an unmarked value (none for [`NO_SLOTS`]).
    #[inline(always)]
    fn slots(&self, value: u32) -> Slots<'_> {
        match u16::try_from(value) {
            Ok(slot) => Slots::One([Slot(slot)]),
            Err(_) => Slots::Many(
                self.spill
                    .get(value.wrapping_sub(SPILLED) as usize)
                    .map_or(&[][..], |v| &v[..]),
            ),
        }
    }

    /// Makes room for `additional` more keys without growing again.
    pub(crate) fn reserve(&mut self, additional: usize) {
        let want = (self.len + additional).saturating_mul(2).max(MIN_ENTRIES);
        if want > self.entries.len() {
            self.rehash(want.next_power_of_two());
        }
    }

    fn rehash(&mut self, size: usize) {
        let old = std::mem::replace(
            &mut self.entries,
            HugeArray::new(
                size,
                Entry {
                    key: K::default(),
                    value: EMPTY,
                },
            ),
        );
        self.shift = 64 - size.trailing_zeros();
        let words = ((size << FILTER_BITS_LOG2) / 64).max(MIN_FILTER_WORDS);
        self.filter = HugeArray::new(words, 0);
        self.filter_shift = 64 - words.trailing_zeros();
        // Placing the keys sets exactly their filter bits: nothing is stale.
        for e in old.iter().filter(|e| e.value != EMPTY) {
            self.place(e.key, e.value);
        }
        self.stale = 0;
    }

    /// Sets exactly the bits of the keys present.
    fn rebuild_filter(&mut self) {
        let mut filter = std::mem::take(&mut self.filter);
        let mut gate = std::mem::take(&mut self.gate);
        filter.fill(0);
        if let Some(g) = gate.as_mut() {
            g.clear();
        }
        for e in self.entries.iter().filter(|e| e.value != EMPTY) {
            let h = stored_hash(e.key, self.seed);
            mark(&mut filter, self.filter_shift, &mut gate, e.key, h, e.value);
        }
        self.filter = filter;
        self.gate = gate;
        self.stale = 0;
    }

    /// Stores a key known to be absent.
    fn place(&mut self, key: K, value: u32) {
        let mask = self.entries.len() - 1;
        let h = stored_hash(key, self.seed);
        mark(
            &mut self.filter,
            self.filter_shift,
            &mut self.gate,
            key,
            h,
            value,
        );
        let mut i = self.home(h);
        while let Some(e) = self.entries.get_mut(i) {
            if e.value == EMPTY {
                *e = Entry { key, value };
                return;
            }
            i = (i + 1) & mask;
        }
    }

    /// Current slots of an unmarked `value` as a set (None for
    /// [`NO_SLOTS`]), taking a spilled list out of `spill`.
    fn take_set(&mut self, value: u32) -> Option<SlotSet> {
        match u16::try_from(value) {
            Ok(s) => Some(SlotSet::One(Slot(s))),
            Err(_) if value == NO_SLOTS => None,
            Err(_) => {
                let i = (value - SPILLED) as usize;
                self.free.push(value - SPILLED);
                Some(SlotSet::Many(
                    self.spill
                        .get_mut(i)
                        .map(std::mem::take)
                        .unwrap_or_default(),
                ))
            }
        }
    }

    /// Encodes `set` as an unmarked entry value, spilling a list.
    fn put_set(&mut self, set: Option<SlotSet>) -> u32 {
        match set {
            None => NO_SLOTS,
            Some(SlotSet::One(s)) => u32::from(s.0),
            Some(SlotSet::Many(v)) => match self.free.pop() {
                Some(i) => {
                    if let Some(e) = self.spill.get_mut(i as usize) {
                        *e = v;
                    }
                    i + SPILLED
                }
                None => {
                    self.spill.push(v);
                    (self.spill.len() - 1) as u32 + SPILLED
                }
            },
        }
    }

    /// Adds `slot` to `key`'s set. Returns true if `key` is a new target (it
    /// was in no slot: absent, or only marked). `spill` tracks the bytes of
    /// spilled slot lists.
    pub(crate) fn add(&mut self, key: K, slot: Slot, spill: &mut usize) -> bool {
        let (had, _) = self.change(key, spill, |set, marked| {
            let set = match set {
                Some(mut set) => {
                    set.insert(slot);
                    set
                }
                None => SlotSet::One(slot),
            };
            (Some(set), marked)
        });
        !had
    }

    /// Removes `slot` from `key`'s set. Returns true if `key` is a target no
    /// more (its set became empty; a marked key stays, in no slot).
    pub(crate) fn remove(&mut self, key: K, slot: Slot, spill: &mut usize) -> bool {
        let (had, has) = self.change(key, spill, |set, marked| {
            (set.and_then(|s| s.without(slot)), marked)
        });
        had && !has
    }

    /// Marks `key` (an address some endpoint target names), storing it in
    /// no slot if absent.
    pub(crate) fn mark(&mut self, key: K) {
        self.change(key, &mut 0, |set, _| (set, true));
    }

    /// Clears `key`'s mark, removing it if it is in no slot.
    pub(crate) fn unmark(&mut self, key: K) {
        self.change(key, &mut 0, |set, _| (set, false));
    }

    /// Whether `key` is stored and marked.
    #[cfg(test)]
    pub(crate) fn is_marked(&self, key: K) -> bool {
        self.get_marked_hashed(key, self.hash(key))
            .is_some_and(|(_, marked)| marked)
    }

    /// Gives `f` the slots and the mark of `key` (none and false if absent)
    /// and stores what it returns; no slot and no mark remove the entry.
    /// `spill` tracks the bytes of spilled slot lists. Returns whether `key`
    /// was in a slot before, and is after.
    fn change(
        &mut self,
        key: K,
        spill: &mut usize,
        f: impl FnOnce(Option<SlotSet>, bool) -> (Option<SlotSet>, bool),
    ) -> (bool, bool) {
        let found = self.find(key, stored_hash(key, self.seed));
        let value = found
            .and_then(|i| self.entries.get(i))
            .map_or(EMPTY, |e| e.value);
        let (set, marked) = match found {
            Some(_) => (self.take_set(value & !MARKED), value & MARKED != 0),
            None => (None, false),
        };
        let before = set.as_ref().map_or(0, SlotSet::spilled_bytes);
        let had = set.is_some();
        let (set, marked) = f(set, marked);
        let has = set.is_some();
        // Added first: a mark's caller counts nothing (0) but moves a list.
        *spill = *spill + set.as_ref().map_or(0, SlotSet::spilled_bytes) - before;
        if set.is_none() && !marked {
            let Some(i) = found else {
                return (had, has);
            };
            self.delete_at(i);
            self.len -= 1;
            self.stale = self.stale.saturating_add(1);
            if self.rebuilds_filter && self.stale as usize * 4 > self.len {
                self.rebuild_filter();
            }
            return (had, has);
        }
        let value = self.put_set(set) | if marked { MARKED } else { 0 };
        if let Some(i) = found {
            if let Some(e) = self.entries.get_mut(i) {
                e.value = value;
            }
            if has && !had {
                // A marked key's first slot: its block now holds a key in a slot.
                if let Some(g) = self.gate.as_mut() {
                    g.mark(key, true);
                }
            }
            return (had, has);
        }
        if (self.len + 1) * 2 > self.entries.len() {
            #[cfg(test)]
            {
                self.grown_by_add += 1;
            }
            self.rehash((self.entries.len() * 2).max(MIN_ENTRIES));
        }
        self.place(key, value);
        self.len += 1;
        (had, has)
    }

    /// Empties entry `hole` and shifts back the entries after it whose home is
    /// not between the hole and them, so every run stays unbroken.
    fn delete_at(&mut self, mut hole: usize) {
        let mask = self.entries.len() - 1;
        let mut i = hole;
        loop {
            i = (i + 1) & mask;
            let Some(&e) = self.entries.get(i) else {
                return;
            };
            if e.value == EMPTY {
                break;
            }
            let home = self.home(stored_hash(e.key, self.seed));
            // Distance from home to i and from home to the hole, modulo the size:
            // the entry may move into the hole iff the hole is on its probe path.
            if (i.wrapping_sub(home) & mask) >= (i.wrapping_sub(hole) & mask) {
                if let Some(h) = self.entries.get_mut(hole) {
                    *h = e;
                }
                hole = i;
            }
        }
        if let Some(h) = self.entries.get_mut(hole) {
            h.value = EMPTY;
        }
    }
}

#[cfg(test)]
mod test {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    #[derive(Clone, Copy, Debug)]
    enum Op {
        Add(u32, u16),
        Remove(u32, u16),
        Mark(u32),
        Unmark(u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Few distinct keys and slots: many collisions, spills and deletions.
        (0u32..64, 0u16..4, 0u8..6).prop_map(|(k, s, what)| {
            let k = k.wrapping_mul(0x0100_0001);
            match what {
                0..=1 => Op::Add(k, s),
                2..=3 => Op::Remove(k, s),
                4 => Op::Mark(k),
                _ => Op::Unmark(k),
            }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// The table behaves like a map of sorted slot sets and marks, an
        /// entry living while it has a slot or a mark, under any sequence of
        /// adds, removes, marks and unmarks (growth, spills, backward-shift
        /// deletion included).
        #[test]
        fn behaves_like_a_map_of_slot_sets(ops in proptest::collection::vec(op(), 0..400)) {
            let mut t = ExactTable::<u32>::default();
            let mut model: HashMap<u32, (Vec<u16>, bool)> = HashMap::new();
            let mut spill = 0;
            for op in ops {
                let k = match op {
                    Op::Add(k, _) | Op::Remove(k, _) | Op::Mark(k) | Op::Unmark(k) => k,
                };
                let (set, marked) = model.entry(k).or_default();
                let had = !set.is_empty();
                // An add returns true when the key had no slot, a remove when
                // it has none left.
                let (got, want) = match op {
                    Op::Add(_, s) => {
                        if let Err(at) = set.binary_search(&s) {
                            set.insert(at, s);
                        }
                        (t.add(k, Slot(s), &mut spill), !had)
                    }
                    Op::Remove(_, s) => {
                        set.retain(|&x| x != s);
                        (t.remove(k, Slot(s), &mut spill), had && set.is_empty())
                    }
                    Op::Mark(_) => {
                        *marked = true;
                        t.mark(k);
                        (true, true)
                    }
                    Op::Unmark(_) => {
                        *marked = false;
                        t.unmark(k);
                        (true, true)
                    }
                };
                if set.is_empty() && !*marked {
                    model.remove(&k);
                }
                prop_assert_eq!(got, want, "{:?}", op);
                prop_assert_eq!(t.len, model.len());
                prop_assert!(t.len * 2 <= t.entries.len().max(1));
            }
            for k in (0u32..64).map(|k| k.wrapping_mul(0x0100_0001)) {
                let got = t
                    .get_marked_hashed(k, t.hash(k))
                    .map(|(s, m)| (s.as_slice().iter().map(|s| s.0).collect::<Vec<_>>(), m));
                prop_assert_eq!(got.as_ref(), model.get(&k));
            }
            let want_spill: usize = model.values().filter(|v| v.0.len() > 1).map(|v| v.0.len() * 2).sum();
            prop_assert_eq!(spill, want_spill);
        }
    }

    #[test]
    fn endpoint_keys_of_either_family_and_protocol_are_distinct() {
        let mut t = ExactTable::<Endpoint>::default();
        let mut spill = 0;
        let a = 0xc612_0001u32;
        assert!(t.add(Endpoint::v4(a, 5004, false), Slot(1), &mut spill));
        // The same bits as an IPv6 address, another port, another address,
        // the same address and port over TCP.
        for other in [
            Endpoint::v6(u128::from(a), 5004, false),
            Endpoint::v4(a, 5005, false),
            Endpoint::v4(a + 1, 5004, false),
            Endpoint::v4(a, 5004, true),
        ] {
            assert!(t.get(other).is_none(), "{other:?}");
        }
        assert!(t.add(
            Endpoint::v6(u128::from(a), 5004, false),
            Slot(2),
            &mut spill
        ));
        assert!(t.add(Endpoint::v4(a, 5004, true), Slot(3), &mut spill));
        assert!(t.get(Endpoint::v6(u128::from(a), 5004, true)).is_none());
        assert!(t.add(Endpoint::v6(u128::from(a), 5004, true), Slot(4), &mut spill));
        for (ep, slot) in [
            (Endpoint::v4(a, 5004, false), 1),
            (Endpoint::v6(u128::from(a), 5004, false), 2),
            (Endpoint::v4(a, 5004, true), 3),
            (Endpoint::v6(u128::from(a), 5004, true), 4),
        ] {
            assert_eq!(t.get(ep).unwrap().as_slice(), [Slot(slot)], "{ep:?}");
        }
    }

    #[test]
    fn wide_keys_and_reserve() {
        let mut t = ExactTable::<u128>::default();
        let mut spill = 0;
        t.reserve(1000);
        let size = t.entries.len();
        assert_eq!(size, 2048);
        for i in 0..1000u128 {
            assert!(t.add(i << 64 | i, Slot(7), &mut spill));
        }
        assert_eq!(t.entries.len(), size, "reserve avoided growth");
        assert!(t.get(5 << 64 | 5).is_some());
        assert!(t.get(5 << 64 | 6).is_none());
        for i in 0..1000u128 {
            assert!(t.remove(i << 64 | i, Slot(7), &mut spill));
        }
        assert!(t.is_empty());
        assert!(t.entries.iter().all(|e| e.value == EMPTY));
    }

    #[test]
    fn a_block_of_marked_keys_alone_is_told_from_one_with_a_key_in_a_slot() {
        let mut t = ExactTable::<u32>::default();
        let mut spill = 0;
        // A relay's addresses, marked only, in 198.18.0/24; a marked one
        // and a target in 198.18.1/24.
        t.mark(0xc612_0005);
        t.mark(0xc612_0007);
        t.mark(0xc612_0105);
        t.add(0xc612_01f0, Slot(1), &mut spill);
        let bits = |t: &ExactTable<u32>, key| {
            let view = t.filter_view();
            (view.in_slot_bit(key), view.fine_bit(key))
        };
        assert_eq!(bits(&t, 0xc612_0063), (0, 1));
        assert_eq!(bits(&t, 0xc612_0163), (1, 1));
        assert_eq!(bits(&t, 0xc612_0263).1, 0);
        // A marked key's first slot opens its block to every port.
        t.add(0xc612_0007, Slot(2), &mut spill);
        assert_eq!(bits(&t, 0xc612_0063), (1, 1));
        // Rebuilt once it is only marked again, the block is marked-only.
        t.remove(0xc612_0007, Slot(2), &mut spill);
        t.rebuild_filter();
        assert_eq!(bits(&t, 0xc612_0063), (0, 1));
        assert!(t.is_marked(0xc612_0007));
    }

    #[test]
    fn a_few_keys_in_a_block_open_their_24s_not_the_whole_16() {
        let mut t = ExactTable::<u32>::default();
        let mut spill = 0;
        // A media relay's two addresses in 198.18/16, where other traffic
        // goes to all 256 /24s; and a million-target block elsewhere.
        for key in [0xc612_0005, 0xc612_0106] {
            t.add(key, Slot(1), &mut spill);
        }
        for i in 0..20_000 {
            t.add(0x6440_0000 + 13 * i, Slot(2), &mut spill);
        }
        let open: Vec<u32> = (0..256u32)
            .filter(|&net| t.hash(0xc612_0000 | net << 8 | 77) != NOT_STORED)
            .collect();
        assert_eq!(open, [0, 1]);
        // The finer bit alone, for a key whose /16 is open, says the same.
        let view = t.filter_view();
        assert!((0..256u32).all(|net| {
            let key = 0xc612_0000 | net << 8 | 77;
            view.fine_bit(key) == u64::from(open.contains(&net))
        }));
        assert_ne!(t.hash(0xc612_01ff), NOT_STORED);
        assert!(t.get(0xc612_0005).is_some() && t.get(0xc612_0106).is_some());
        assert_eq!(t.hash(0xc613_0005), NOT_STORED);
        // Rebuilt without one of them, its /24 closes.
        t.remove(0xc612_0106, Slot(1), &mut spill);
        t.rebuild_filter();
        assert_eq!(t.hash(0xc612_0106), NOT_STORED);
        assert!(t.get(0xc612_0005).is_some());
        assert!((0..20_000).all(|i| t.get(0x6440_0000 + 13 * i).is_some()));
    }

    #[test]
    fn keys_in_every_16_are_found_past_the_last_finer_map() {
        let mut t = ExactTable::<u32>::default();
        let mut spill = 0;
        let key = |block: u32| block << 16 | 0x0101;
        for block in 0..1 << 16 {
            t.add(key(block), Slot(1), &mut spill);
        }
        assert!((0..1 << 16).all(|block| t.get(key(block)).is_some()));
        // A u16 numbers 65534 maps of their own: the two blocks past them
        // open all their /24s, the others only their key's.
        let open = (0..1 << 16u32)
            .filter(|&block| t.hash(block << 16 | 0x0501) != NOT_STORED)
            .count();
        assert_eq!(open, 2);
    }

    #[test]
    fn the_gate_turns_away_keys_of_blocks_the_table_holds_none_of() {
        let mut t = ExactTable::<u32>::default();
        let mut spill = 0;
        // 40000 keys from 100.64.0.0 on, every third address: 100.64/16 and
        // 100.65/16.
        let key = |i: u32| 0x6440_0000 + 3 * i;
        for i in 0..40_000 {
            t.add(key(i), Slot(1), &mut spill);
        }
        assert!((0..40_000).all(|i| t.get(key(i)).is_some()));
        // Outside both blocks: known absent from the gate alone.
        for other in [0x0a00_0001, 0xc612_0001, 0x6442_0000] {
            assert_eq!(t.hash(other), NOT_STORED);
            assert!(!t.passes(t.hash(other)));
            assert!(t.get(other).is_none());
        }
        // Inside: the filter and the entries decide.
        assert_ne!(t.hash(key(7) + 1), NOT_STORED);
        assert!(t.get(key(7) + 1).is_none());
        // Removed keys leave their block's bit until the filter is rebuilt.
        let second = (0..40_000).filter(|&i| key(i) >= 0x6441_0000);
        for i in second.clone() {
            t.remove(key(i), Slot(1), &mut spill);
        }
        assert!(second.clone().all(|i| t.get(key(i)).is_none()));
        assert!((0..40_000)
            .filter(|&i| key(i) < 0x6441_0000)
            .all(|i| t.get(key(i)).is_some()));
        t.rebuild_filter();
        assert_eq!(t.hash(0x6441_0001), NOT_STORED);
        assert_ne!(t.hash(0x6440_0001), NOT_STORED);
    }

    #[test]
    fn an_empty_table_stores_nothing_and_one_key_opens_its_block() {
        let mut t = ExactTable::<u32>::default();
        let mut spill = 0;
        assert_eq!(t.hash(0x6440_0001), NOT_STORED);
        t.add(0x6440_0001, Slot(1), &mut spill);
        assert_eq!(t.hash(0x0a00_0001), NOT_STORED);
        assert_ne!(t.hash(0x6440_0002), NOT_STORED);
        assert!(t.get(0x6440_0001).is_some());
        assert!(t.get(0x6440_0002).is_none());
        assert!(t.get(0x0a00_0001).is_none());
    }

    #[test]
    fn filter_passes_every_key_and_few_others_at_the_highest_load() {
        let mut t = ExactTable::<u32>::default();
        let mut spill = 0;
        // An odd multiplier is a bijection: keys and non-keys never collide.
        let spread = |i: u32| i.wrapping_mul(0x9e37_79b1);
        let n = 1 << 16;
        for i in 0..n {
            t.add(spread(i), Slot(0), &mut spill);
        }
        assert_eq!(
            t.entries.len(),
            2 * n as usize,
            "load 1/2: 16 filter bits per key"
        );
        assert!((0..n).all(|i| t.passes(t.hash(spread(i)))));
        let others = 100_000;
        let passed = (n..n + others)
            .filter(|&i| t.passes(t.hash(spread(i))))
            .count();
        let rate = passed as f64 / f64::from(others);
        // The figure the module documents (`-- --nocapture` shows it).
        eprintln!("false positive rate at 16 bits per key: {rate:.4}");
        assert!(rate < 0.025, "false positive rate {rate}");
    }
}
