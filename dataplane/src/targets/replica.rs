//! One worker's copy of the target tables: read on the packet path, changed only by
//! [`TableReplica::apply_pending`] between bursts.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::exact::{ExactTable, FilterView, Key};
use super::matches::Matches;
use super::prefix::{Bits, PrefixTable};
use super::ring::{Msg, Replacement, Ring};
use super::{Direction, InterceptSpec, Slot, Target, Update};
use crate::handoff::Layer;
use crate::parse::{Addrs, Dissection, IpKeys, MacPair, MAX_IP_LAYERS};

/// The hashes of a frame's addresses (src and dst per IP layer) under the exact
/// tables' seeds: computed once by [`TableReplica::hash_keys`], reused by the
/// later stages. Valid only with the dissection and replica it was made from.
#[derive(Clone, Copy, Debug, Default)]
pub struct KeyHashes([[u64; 2]; MAX_IP_LAYERS]);

/// The hashes of `src` and `dst` in `t`, whose filter lines start loading.
#[inline(always)]
fn hash_pair<K: Key>(t: &ExactTable<K>, src: K, dst: K) -> [u64; 2] {
    hash_pair_in(t.filter_view(), src, dst)
}

/// [`hash_pair`] with the table's filter at hand.
#[inline(always)]
fn hash_pair_in<K: Key>(f: FilterView<'_, K>, src: K, dst: K) -> [u64; 2] {
    let h = [f.hash(src), f.hash(dst)];
    f.prefetch(h[0]);
    f.prefetch(h[1]);
    h
}

/// [`TableReplica::hash_v4`] in three steps, with the exact IPv4 table's gate,
/// seed and filter taken out once ([`TableReplica::v4_hasher`]): a loop over
/// a chunk of frames keeps them in registers instead of reading them through
/// the replica per frame. Most frames' addresses lie in blocks holding no
/// target: [`Self::gate_passes`] turns them away from one L1 line, and only
/// the others are hashed ([`Self::hash`]) or, where prefixes are stored,
/// checked against them ([`Self::prefix_may_contain`]).
#[derive(Clone, Copy)]
pub struct V4Hasher<'a> {
    /// The exact table's gate, filter and seed; its gate is all clear while
    /// it never stored a key, so a CIDR- or MAC-only table hashes nothing.
    exact: FilterView<'a, u32>,
    /// The IPv4 prefixes, where any is stored.
    cidr: Option<&'a PrefixTable<u32>>,
}

impl V4Hasher<'_> {
    /// Whether the exact table's gate lets either address of a common IPv4
    /// frame through. A frame it turns away matches no exact IPv4 target and
    /// needs no hash: its [`KeyHashes`] may be left stale, as a lookup under a
    /// stale hash compares the key and finds nothing. Without a branch: which
    /// frames carry a target's block follows no pattern.
    #[inline(always)]
    pub fn gate_passes(&self, [src, dst]: [u32; 2]) -> bool {
        self.exact.gate_bit(src) | self.exact.gate_bit(dst) != 0
    }

    /// [`TableReplica::hash_v4`], for a frame [`Self::gate_passes`] let through.
    #[inline(always)]
    pub fn hash(&self, [src, dst]: [u32; 2], kh: &mut KeyHashes) {
        kh.0[0] = hash_pair_in(self.exact, src, dst);
    }

    /// Whether some IPv4 prefix is stored ([`Self::prefix_may_contain`] can
    /// say yes).
    #[inline(always)]
    pub fn has_prefixes(&self) -> bool {
        self.cidr.is_some()
    }

    /// Whether a stored prefix may contain either address (the prefix table's
    /// own gate): a frame the exact gate turned away may match only then.
    #[inline(always)]
    pub fn prefix_may_contain(&self, [src, dst]: [u32; 2]) -> bool {
        self.cidr
            .is_some_and(|c| c.may_contain(src) || c.may_contain(dst))
    }
}

/// Whether `t`'s filter passes either hash, starting to load the entries of those
/// that pass. Both filter words are tested without a branch between them: the one
/// branch left, on the result, is nearly always not taken.
#[inline(always)]
fn pass_and_prefetch<K: Key>(t: &ExactTable<K>, src: u64, dst: u64) -> bool {
    let (ps, pd) = (t.passes(src), t.passes(dst));
    if ps | pd {
        if ps {
            t.prefetch_entry(src);
        }
        if pd {
            t.prefetch_entry(dst);
        }
    }
    ps | pd
}

/// The CIDR part of stage 2 for a screened frame's two addresses. Not inlined
/// (most tables have no CIDR target); the addresses come in registers, where
/// handed over in memory their loads waited for the caller's stores.
#[inline(never)]
fn single_may_match_cidr<K: Bits>(cidr: &PrefixTable<K>, src: K, dst: K) -> bool {
    cidr.may_contain(src) || cidr.may_contain(dst)
}

/// A worker's target tables. Owned by its worker thread; fed by a [`super::TableWriter`].
pub struct TableReplica {
    ring: Arc<Ring>,
    epoch: u64,
    exact4: ExactTable<u32>,
    exact6: ExactTable<u128>,
    cidr4: PrefixTable<u32>,
    cidr6: PrefixTable<u128>,
    mac: ExactTable<u64>,
    intercepts: Vec<Option<InterceptSpec>>,
    targets: usize,
    /// Some IPv4 / IPv6 CIDR target is stored: stage 2 has more than the exact
    /// and MAC filters to consult for that family.
    has_cidr4: bool,
    has_cidr6: bool,
    spill_bytes: usize,
}

pub(crate) fn mac_key(mac: [u8; 6]) -> u64 {
    let [a, b, c, d, e, f] = mac;
    u64::from_be_bytes([0, 0, a, b, c, d, e, f])
}

impl TableReplica {
    pub(crate) fn new(ring: Arc<Ring>) -> Self {
        Self {
            ring,
            epoch: 0,
            exact4: ExactTable::default(),
            exact6: ExactTable::default(),
            cidr4: PrefixTable::default(),
            cidr6: PrefixTable::default(),
            mac: ExactTable::default(),
            intercepts: Vec::new(),
            targets: 0,
            has_cidr4: false,
            has_cidr6: false,
            spill_bytes: 0,
        }
    }

    /// Applies up to `budget` messages from the update ring (O(1) each) and publishes
    /// the epoch reached. Returns the number of messages consumed.
    pub fn apply_pending(&mut self, budget: usize) -> usize {
        let mut n = 0;
        while n < budget {
            let Some(msg) = self.ring.queue.pop() else {
                break;
            };
            n += 1;
            match msg {
                Msg::Update(u) => self.apply(u),
                Msg::Epoch(e) => self.epoch = e,
                Msg::Replace(r) => self.replace(*r),
            }
        }
        if n > 0 {
            self.ring.applied.store(self.epoch, Ordering::Release);
        }
        n
    }

    /// Last epoch applied: every update sent up to it is in effect here.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Targets (exact addresses, prefixes, MACs) stored.
    pub fn target_count(&self) -> usize {
        self.targets
    }

    /// Approximate heap bytes used by the tables.
    pub fn memory_bytes(&self) -> usize {
        self.exact4.allocation_size()
            + self.exact6.allocation_size()
            + self.mac.allocation_size()
            + self.cidr4.allocation_size()
            + self.cidr6.allocation_size()
            + self.intercepts.capacity() * std::mem::size_of::<Option<InterceptSpec>>()
            + self.spill_bytes
    }

    /// Swaps in a table the writer rebuilt (larger, or with a fresh filter),
    /// with the same keys and slots, and hands the old one back to the writer to
    /// free (freed here only if the writer has not collected the ones before).
    fn replace(&mut self, r: Replacement) {
        let spill = &mut self.spill_bytes;
        let old = match r {
            Replacement::Ipv4(t) => Replacement::Ipv4(self.exact4.swap_in(t, spill)),
            Replacement::Ipv6(t) => Replacement::Ipv6(self.exact6.swap_in(t, spill)),
            Replacement::Mac(t) => Replacement::Mac(self.mac.swap_in(t, spill)),
            Replacement::Net4(len, t) => match self.cidr4.swap_in(len, t, spill) {
                Some(old) => Replacement::Net4(len, old),
                None => return,
            },
            Replacement::Net6(len, t) => match self.cidr6.swap_in(len, t, spill) {
                Some(old) => Replacement::Net6(len, old),
                None => return,
            },
        };
        drop(self.ring.retired.push(old));
    }

    fn apply(&mut self, u: Update) {
        let spill = &mut self.spill_bytes;
        match u {
            Update::SetIntercept { slot, spec } => {
                let i = usize::from(slot.0);
                if self.intercepts.len() <= i {
                    self.intercepts.resize(i + 1, None);
                }
                if let Some(s) = self.intercepts.get_mut(i) {
                    *s = Some(spec);
                }
            }
            // The writer removes the intercept's targets first (same ring, in order).
            Update::ClearIntercept { slot } => {
                if let Some(s) = self.intercepts.get_mut(usize::from(slot.0)) {
                    *s = None;
                }
            }
            Update::AddTarget { slot, target } => {
                let new = match target {
                    Target::Ipv4(a) => self.exact4.add(a.into(), slot, spill),
                    Target::Ipv6(a) => self.exact6.add(a.into(), slot, spill),
                    Target::Ipv4Net(a, l) => self.cidr4.add(a.into(), l, slot, spill),
                    Target::Ipv6Net(a, l) => self.cidr6.add(a.into(), l, slot, spill),
                    Target::Mac(m) => self.mac.add(mac_key(m), slot, spill),
                };
                self.targets += usize::from(new);
            }
            Update::RemoveTarget { slot, target } => {
                let gone = match target {
                    Target::Ipv4(a) => self.exact4.remove(a.into(), slot, spill),
                    Target::Ipv6(a) => self.exact6.remove(a.into(), slot, spill),
                    Target::Ipv4Net(a, l) => self.cidr4.remove(a.into(), l, slot, spill),
                    Target::Ipv6Net(a, l) => self.cidr6.remove(a.into(), l, slot, spill),
                    Target::Mac(m) => self.mac.remove(mac_key(m), slot, spill),
                };
                self.targets -= usize::from(gone);
            }
        }
        (self.has_cidr4, self.has_cidr6) = (!self.cidr4.is_empty(), !self.cidr6.is_empty());
    }

    /// Stage 1 of a frame's lookup, run on every frame of a burst before stage 2
    /// on any: hashes each address of every IP layer of `d` into `kh` (once: the
    /// later stages reuse it) and starts loading the filter lines they hash to, so
    /// the burst's memory accesses overlap instead of waiting one by one.
    #[inline]
    pub fn hash_keys(&self, d: &Dissection, kh: &mut KeyHashes) {
        if self.exact4.is_empty() && self.exact6.is_empty() {
            return;
        }
        if let Some(v4) = d.single_v4() {
            self.hash_v4(v4, kh);
            return;
        }
        for (keys, h) in d.ip_keys().zip(&mut kh.0) {
            *h = self.hash_layer(keys);
        }
    }

    /// The hashes of one IP layer's addresses in its family's exact table,
    /// whose filter lines start loading.
    #[inline(always)]
    fn hash_layer(&self, keys: IpKeys<'_>) -> [u64; 2] {
        match keys {
            IpKeys::V4([src, dst]) => hash_pair(&self.exact4, src, dst),
            IpKeys::V6(&[src, dst]) => hash_pair(&self.exact6, src, dst),
        }
    }

    /// Whether the filter of one IP layer's family passes either of its
    /// hashes `[src, dst]` (see [`pass_and_prefetch`]).
    #[inline(always)]
    fn layer_passes(&self, keys: IpKeys<'_>, [src, dst]: [u64; 2]) -> bool {
        match keys {
            IpKeys::V4(_) => pass_and_prefetch(&self.exact4, src, dst),
            IpKeys::V6(_) => pass_and_prefetch(&self.exact6, src, dst),
        }
    }

    /// [`Self::hash_keys`] for a frame whose only IP layer is IPv4 `[src, dst]`
    /// (screened by [`crate::parse::common_ipv4`]), without its [`Dissection`].
    #[inline(always)]
    pub fn hash_v4(&self, [src, dst]: [u32; 2], kh: &mut KeyHashes) {
        if !self.exact4.is_empty() {
            kh.0[0] = hash_pair(&self.exact4, src, dst);
        }
    }

    /// [`Self::hash_v4`]'s table, taken once for many frames.
    #[inline(always)]
    pub fn v4_hasher(&self) -> V4Hasher<'_> {
        V4Hasher {
            exact: self.exact4.filter_view(),
            cidr: self.has_cidr4.then_some(&self.cidr4),
        }
    }

    /// [`Self::hash_v4`] for a frame whose only IP layers are the IPv4 ones
    /// `[outer, inner]` (screened by [`crate::parse::common_tunnel_ipv4`]).
    #[inline(always)]
    pub fn hash_v4_tunnel(&self, [outer, inner]: [[u32; 2]; 2], kh: &mut KeyHashes) {
        if !self.exact4.is_empty() {
            kh.0[0] = hash_pair(&self.exact4, outer[0], outer[1]);
            kh.0[1] = hash_pair(&self.exact4, inner[0], inner[1]);
        }
    }

    /// [`Self::hash_v4_tunnel`] for a frame whose only IP layers are IPv4
    /// `outer` and IPv6 `inner` (screened by
    /// [`crate::parse::common_tunnel_ipv4_ipv6`]).
    #[inline(always)]
    pub fn hash_v4_v6_tunnel(&self, outer: [u32; 2], inner: &[u128; 2], kh: &mut KeyHashes) {
        self.hash_v4(outer, kh);
        if !self.exact6.is_empty() {
            kh.0[1] = hash_pair(&self.exact6, inner[0], inner[1]);
        }
    }

    /// [`Self::hash_v4_tunnel`] for a frame whose only IP layers are IPv6
    /// `outer` and `inner` of either family (screened by
    /// [`crate::parse::common_tunnel_ipv6`]).
    #[inline(always)]
    pub fn hash_v6_tunnel(&self, outer: [u128; 2], inner: &Addrs, kh: &mut KeyHashes) {
        self.hash_v6(outer, kh);
        kh.0[1] = self.hash_layer(inner.keys());
    }

    /// [`Self::hash_v4`] for a frame whose only IP layer is IPv6 `[src, dst]`
    /// (screened by [`crate::parse::common_ipv6`]).
    #[inline(always)]
    pub fn hash_v6(&self, [src, dst]: [u128; 2], kh: &mut KeyHashes) {
        if !self.exact6.is_empty() {
            kh.0[0] = hash_pair(&self.exact6, src, dst);
        }
    }

    /// Stage 2, once the filter lines are in: whether `d` (hashed by stage 1)
    /// may belong to an intercept. False for nearly every frame of a busy link,
    /// which then skips [`Self::classify_hashed`]; true if an exact filter lets an
    /// address through (whose table entry it then starts loading), if an address
    /// lies in an open CIDR gate bucket (or a prefix shorter than the gate length
    /// is stored), or if the MAC filter lets an address through. Never false for a
    /// frame that stage 3 would match.
    #[inline]
    pub fn may_match(&self, d: &Dissection, kh: &KeyHashes) -> bool {
        if self.targets == 0 {
            return false;
        }
        let mut exact = false;
        for (keys, &hashes) in d.ip_keys().zip(&kh.0) {
            exact |= self.layer_passes(keys, hashes);
        }
        exact
            || ((self.has_cidr4 || self.has_cidr6 || self.has_mac_targets())
                && self.may_match_cidr_or_mac(d))
    }

    /// [`Self::may_match`] for a frame whose only IP layer is IPv4 `v4` (hashed by
    /// [`Self::hash_v4`]), but for its MAC pair: [`Self::mac_words_may_match`]
    /// screens that.
    #[inline(always)]
    pub fn may_match_v4(&self, v4: [u32; 2], kh: &KeyHashes) -> bool {
        self.may_match_screened(
            &self.exact4,
            self.has_cidr4.then_some(&self.cidr4),
            [v4],
            kh,
        )
    }

    /// [`Self::may_match_v4`] for a frame whose only IP layers are the IPv4
    /// ones `[outer, inner]` (hashed by [`Self::hash_v4_tunnel`]).
    #[inline(always)]
    pub fn may_match_v4_tunnel(&self, layers: [[u32; 2]; 2], kh: &KeyHashes) -> bool {
        self.may_match_screened(
            &self.exact4,
            self.has_cidr4.then_some(&self.cidr4),
            layers,
            kh,
        )
    }

    /// [`Self::may_match_v4`] for a frame whose only IP layer is IPv6 `v6`
    /// (hashed by [`Self::hash_v6`]).
    #[inline(always)]
    pub fn may_match_v6(&self, v6: &[u128; 2], kh: &KeyHashes) -> bool {
        self.may_match_screened(
            &self.exact6,
            self.has_cidr6.then_some(&self.cidr6),
            [*v6],
            kh,
        )
    }

    /// [`Self::may_match_v4`] for a frame whose only IP layers are IPv4
    /// `outer` and IPv6 `inner` (hashed by [`Self::hash_v4_v6_tunnel`]).
    #[inline(always)]
    pub fn may_match_v4_v6_tunnel(
        &self,
        outer: [u32; 2],
        inner: &[u128; 2],
        kh: &KeyHashes,
    ) -> bool {
        let [[o_src, o_dst], [i_src, i_dst], ..] = kh.0;
        // Both layers' entries start loading: no short-circuit between them.
        let exact = pass_and_prefetch(&self.exact4, o_src, o_dst)
            | pass_and_prefetch(&self.exact6, i_src, i_dst);
        exact
            || (self.has_cidr4 && single_may_match_cidr(&self.cidr4, outer[0], outer[1]))
            || (self.has_cidr6 && single_may_match_cidr(&self.cidr6, inner[0], inner[1]))
    }

    /// [`Self::may_match_v4`] for a frame whose only IP layers are IPv6
    /// `outer` and `inner` of either family (hashed by
    /// [`Self::hash_v6_tunnel`]).
    #[inline(always)]
    pub fn may_match_v6_tunnel(&self, outer: &[u128; 2], inner: &Addrs, kh: &KeyHashes) -> bool {
        let [[o_src, o_dst], inner_hashes, ..] = kh.0;
        // Both layers' entries start loading: no short-circuit between them.
        let exact = pass_and_prefetch(&self.exact6, o_src, o_dst)
            | self.layer_passes(inner.keys(), inner_hashes);
        let inner_cidr = match inner.keys() {
            IpKeys::V4([src, dst]) => {
                self.has_cidr4 && single_may_match_cidr(&self.cidr4, src, dst)
            }
            IpKeys::V6(&[src, dst]) => {
                self.has_cidr6 && single_may_match_cidr(&self.cidr6, src, dst)
            }
        };
        exact
            || (self.has_cidr6 && single_may_match_cidr(&self.cidr6, outer[0], outer[1]))
            || inner_cidr
    }

    /// The MAC part of [`Self::may_match`] for a frame whose only MAC pair is
    /// `[dst, src]` as [`crate::parse::mac_words`] reads it: whether the MAC
    /// filter lets either address through (false when no MAC target is
    /// stored). The filter is small and in cache, so the worker asks in stage
    /// 1, with the frame at hand: asked in stage 2, behind the exact filters'
    /// misses, it cost a quarter of the throughput.
    #[inline(always)]
    pub fn mac_words_may_match(&self, [dst, src]: [u64; 2]) -> bool {
        let mac = |key: u64| self.mac.passes(self.mac.hash(key));
        self.has_mac_targets() && (mac(src) || mac(dst))
    }

    /// Whether MAC targets are stored (else [`Self::mac_words_may_match`] is
    /// false for every frame).
    #[inline(always)]
    pub fn has_mac_targets(&self) -> bool {
        !self.mac.is_empty()
    }

    /// Stage 2 of a screened frame, but for its MAC pair: its IP `layers`
    /// (outermost first, all of `exact`'s family, hashed in the same slots of
    /// `kh`) against `exact` and `cidr` (None when that family has no CIDR
    /// target).
    #[inline(always)]
    fn may_match_screened<K: Bits, const N: usize>(
        &self,
        exact: &ExactTable<K>,
        cidr: Option<&PrefixTable<K>>,
        layers: [[K; 2]; N],
        kh: &KeyHashes,
    ) -> bool {
        const { assert!(N <= MAX_IP_LAYERS) };
        // Always Some (the assertion above).
        let hashes = kh.0.first_chunk::<N>().copied().unwrap_or([[0; 2]; N]);
        // Every layer's entries start loading, as in `may_match`: no
        // short-circuit between layers.
        let exact = hashes.into_iter().fold(false, |any, [src, dst]| {
            any | pass_and_prefetch(exact, src, dst)
        });
        exact
            || cidr.is_some_and(|c| {
                layers
                    .iter()
                    .any(|&[src, dst]| single_may_match_cidr(c, src, dst))
            })
    }

    /// The CIDR and MAC part of [`Self::may_match`]: gate bits and the MAC filter
    /// are in cache (8 KiB each for the usual few targets), so nothing is
    /// prefetched.
    #[inline(never)]
    fn may_match_cidr_or_mac(&self, d: &Dissection) -> bool {
        let cidr = (self.has_cidr4 || self.has_cidr6)
            && d.ip_keys().any(|keys| match keys {
                IpKeys::V4([src, dst]) => {
                    self.cidr4.may_contain(src) || self.cidr4.may_contain(dst)
                }
                IpKeys::V6(&[src, dst]) => {
                    self.cidr6.may_contain(src) || self.cidr6.may_contain(dst)
                }
            });
        cidr || self.mac_may_match(|| d.macs())
    }

    /// Whether the MAC filter lets an address of the pairs `macs` reads
    /// through; `macs` is called only when MAC targets are stored.
    #[inline(always)]
    fn mac_may_match<M: AsRef<[MacPair]>>(&self, macs: impl FnOnce() -> M) -> bool {
        self.has_mac_targets()
            && macs()
                .as_ref()
                .iter()
                .any(|pair| self.mac_words_may_match([mac_key(pair.dst), mac_key(pair.src)]))
    }

    /// Finds every intercept `d` belongs to at time `ts_ns`: the three stages
    /// ([`Self::hash_keys`], [`Self::may_match`], [`Self::classify_hashed`]) on
    /// one frame.
    pub fn classify(&self, d: &Dissection, ts_ns: u64, out: &mut Matches) {
        let mut kh = KeyHashes::default();
        self.hash_keys(d, &mut kh);
        if self.may_match(d, &kh) {
            self.classify_hashed(d, &kh, || ts_ns, out);
        } else {
            out.clear();
        }
    }

    /// Stage 3: finds every intercept `d` (hashed into `kh` by
    /// [`Self::hash_keys`]) belongs to at the time `now` gives: src and dst of
    /// every IP layer (outer and tunnelled) against exact then CIDR tables, then
    /// the MACs of every Ethernet layer. A slot counts only if its intercept is set
    /// and `valid_from_ns <= now() < valid_until_ns`. Each stage is skipped when
    /// empty. `now` is called only once an address is found in a table, so a
    /// frame the filters let through by chance never reads the clock.
    #[inline]
    pub fn classify_hashed(
        &self,
        d: &Dissection,
        kh: &KeyHashes,
        mut now: impl FnMut() -> u64,
        out: &mut Matches,
    ) {
        out.clear();
        if self.targets == 0 {
            return;
        }
        let mut hit =
            |set: &[Slot], dir: Direction, layer: Layer| self.hit(set, dir, layer, now(), out);
        for (i, (keys, &[hs, hd])) in d.ip_keys().zip(&kh.0).enumerate() {
            // At most MAX_IP_LAYERS.
            let at = Layer::Ip(i as u8);
            match keys {
                IpKeys::V4([src, dst]) => {
                    if let Some(s) = self.exact4.get_hashed(src, hs) {
                        hit(s.as_slice(), Direction::FromTarget, at);
                    }
                    if let Some(s) = self.exact4.get_hashed(dst, hd) {
                        hit(s.as_slice(), Direction::ToTarget, at);
                    }
                    if !self.cidr4.is_empty() {
                        self.cidr4
                            .for_each_match(src, |s| hit(s.as_slice(), Direction::FromTarget, at));
                        self.cidr4
                            .for_each_match(dst, |s| hit(s.as_slice(), Direction::ToTarget, at));
                    }
                }
                IpKeys::V6(&[src, dst]) => {
                    if let Some(s) = self.exact6.get_hashed(src, hs) {
                        hit(s.as_slice(), Direction::FromTarget, at);
                    }
                    if let Some(s) = self.exact6.get_hashed(dst, hd) {
                        hit(s.as_slice(), Direction::ToTarget, at);
                    }
                    if !self.cidr6.is_empty() {
                        self.cidr6
                            .for_each_match(src, |s| hit(s.as_slice(), Direction::FromTarget, at));
                        self.cidr6
                            .for_each_match(dst, |s| hit(s.as_slice(), Direction::ToTarget, at));
                    }
                }
            }
        }
        if !self.mac.is_empty() {
            for (i, pair) in d.macs().iter().enumerate() {
                // At most MAX_ETH_LAYERS.
                let at = Layer::Ethernet(i as u8);
                if let Some(s) = self.mac.get(mac_key(pair.src)) {
                    hit(s.as_slice(), Direction::FromTarget, at);
                }
                if let Some(s) = self.mac.get(mac_key(pair.dst)) {
                    hit(s.as_slice(), Direction::ToTarget, at);
                }
            }
        }
    }

    #[inline]
    fn hit(&self, set: &[Slot], dir: Direction, layer: Layer, ts_ns: u64, out: &mut Matches) {
        for &slot in set {
            if let Some(Some(spec)) = self.intercepts.get(usize::from(slot.0)) {
                if spec.valid_from_ns <= ts_ns && ts_ns < spec.valid_until_ns {
                    out.add(slot, spec, dir, layer);
                }
            }
        }
    }
}

#[cfg(test)]
mod test {
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::time::Duration;

    use super::*;
    use crate::handoff::Match;
    use crate::parse::{IpPair, MacPair};
    use crate::targets::{replicas, Mode, Slot, TableWriter};

    const FROM: u64 = 1_000;
    const UNTIL: u64 = 2_000;

    fn spec(key: u32, mode: Mode) -> InterceptSpec {
        InterceptSpec {
            key,
            mode,
            valid_from_ns: FROM,
            valid_until_ns: UNTIL,
        }
    }

    fn v4(a: [u8; 4]) -> Ipv4Addr {
        Ipv4Addr::from(a)
    }

    fn pair4(src: [u8; 4], dst: [u8; 4]) -> IpPair {
        IpPair::V4 {
            src: v4(src),
            dst: v4(dst),
        }
    }

    /// One replica loaded with `updates`, all applied.
    fn loaded(updates: &[Update]) -> (TableWriter, TableReplica) {
        // Nothing drains the ring during the send: room for all of it.
        let (mut w, mut r) = replicas(1, (2 * updates.len() + 1).max(1024));
        let mut r = r.remove(0);
        let e = w.send(updates);
        while r.epoch() < e {
            r.apply_pending(16);
        }
        (w, r)
    }

    fn run(r: &TableReplica, ips: &[IpPair], macs: &[MacPair], ts: u64) -> Vec<Match> {
        let mut d = Dissection::default();
        for &ip in ips {
            d.push_ip(ip).unwrap();
        }
        for &mac in macs {
            d.push_mac(mac).unwrap();
        }
        let mut out = Matches::new();
        r.classify(&d, ts, &mut out);
        let mut v = out.as_slice().to_vec();
        v.sort_by_key(|m| m.key);
        v
    }

    fn m(key: u32, mode: Mode, direction: Direction) -> Match {
        on(key, mode, direction, Layer::Ip(0))
    }

    fn on(key: u32, mode: Mode, direction: Direction, layer: Layer) -> Match {
        Match {
            key,
            mode,
            direction,
            layer,
        }
    }

    fn set(slot: u16, key: u32, mode: Mode) -> Update {
        Update::SetIntercept {
            slot: Slot(slot),
            spec: spec(key, mode),
        }
    }

    fn add(slot: u16, target: Target) -> Update {
        Update::AddTarget {
            slot: Slot(slot),
            target,
        }
    }

    #[test]
    fn exact_ipv4_sets_direction_per_side_and_merges_to_both() {
        let (_w, r) = loaded(&[
            set(0, 10, Mode::Content),
            set(1, 11, Mode::Headers),
            add(0, Target::Ipv4(v4([10, 0, 0, 1]))),
            add(1, Target::Ipv4(v4([10, 0, 0, 2]))),
            add(0, Target::Ipv4(v4([10, 0, 0, 3]))),
        ]);
        let out = run(&r, &[pair4([10, 0, 0, 1], [10, 0, 0, 2])], &[], FROM);
        assert_eq!(
            out,
            vec![
                m(10, Mode::Content, Direction::FromTarget),
                m(11, Mode::Headers, Direction::ToTarget)
            ]
        );
        let out = run(&r, &[pair4([10, 0, 0, 3], [10, 0, 0, 1])], &[], FROM);
        assert_eq!(out, vec![m(10, Mode::Content, Direction::Both)]);
        assert!(run(&r, &[pair4([10, 0, 0, 4], [10, 0, 0, 5])], &[], FROM).is_empty());
        // An inner (tunnelled) layer matches as well as an outer one.
        let out = run(
            &r,
            &[
                pair4([1, 1, 1, 1], [2, 2, 2, 2]),
                pair4([9, 9, 9, 9], [10, 0, 0, 2]),
            ],
            &[],
            FROM,
        );
        assert_eq!(
            out,
            vec![on(11, Mode::Headers, Direction::ToTarget, Layer::Ip(1))]
        );
        // Found in both, the target's packet is the inner one.
        let out = run(
            &r,
            &[
                pair4([10, 0, 0, 2], [2, 2, 2, 2]),
                pair4([9, 9, 9, 9], [10, 0, 0, 2]),
            ],
            &[],
            FROM,
        );
        assert_eq!(
            out,
            vec![on(11, Mode::Headers, Direction::Both, Layer::Ip(1))]
        );
    }

    /// Targets added one request at a time, as an operator adds them: the writer
    /// grows every exact table ahead (a replacement on the ring), the CIDR
    /// tables' per-length ones included, so the worker never rehashes one
    /// itself, and every key and slot survives each swap.
    #[test]
    fn tables_grow_on_the_writer_side_and_keep_every_target() {
        let (mut w, mut rs) = replicas(2, 64);
        w.send(&[set(0, 10, Mode::Content), set(1, 11, Mode::Headers)]);
        let ip4 = |i: u32| Target::Ipv4(Ipv4Addr::from(0x0a00_0000 + i));
        let ip6 = |i: u32| Target::Ipv6(Ipv6Addr::from(0x2001_0db8_u128 << 96 | u128::from(i)));
        let mac = |i: u32| {
            let [_, b, c, d] = i.to_be_bytes();
            Target::Mac([2, 0, 0, b, c, d])
        };
        // Subscriber prefixes, apart from the hosts: 172.16.0.0/12 in /24s,
        // 2001:db9::/32 in /56s.
        let net4 = |i: u32| Ipv4Addr::from(0xac10_0000 + (i << 8));
        let net6 = |i: u32| Ipv6Addr::from(0x2001_0db9_u128 << 96 | u128::from(i) << 72);
        let n = 3000;
        let mut retired = 0;
        for i in 0..n {
            let mut ups = vec![
                add(0, ip4(i)),
                add(0, ip6(i)),
                add(0, Target::Ipv4Net(net4(i), 24)),
                add(0, Target::Ipv6Net(net6(i), 56)),
            ];
            if i % 10 == 0 {
                // Shared with a second intercept: a spilled slot list.
                ups.extend([add(1, ip4(i)), add(1, mac(i))]);
            }
            let e = w.send(&ups);
            for r in &mut rs {
                while r.epoch() < e {
                    r.apply_pending(16);
                }
                retired += r.ring.retired.len();
            }
        }
        // Swapped-out tables go back to the writer, which frees them.
        assert!(retired > 0);
        assert!(w.wait_applied(w.epoch(), Duration::from_secs(1)));
        assert!(rs.iter().all(|r| r.ring.retired.is_empty()));
        let macs = n / 10;
        for r in &rs {
            assert_eq!(r.target_count(), (4 * n + macs) as usize);
            assert_eq!(
                (
                    r.exact4.grown_by_add,
                    r.exact6.grown_by_add,
                    r.mac.grown_by_add,
                    r.cidr4.table(24).grown_by_add,
                    r.cidr6.table(56).grown_by_add
                ),
                (0, 0, 0, 0, 0),
                "a worker rehashed a table itself"
            );
            assert!(r.exact4.capacity() >= 2 * n as usize);
            assert!(r.cidr6.table(56).capacity() >= 2 * n as usize);
            assert_eq!(
                r.spill_bytes,
                r.exact4.spilled_bytes(),
                "spilled lists counted"
            );
            assert!(r.spill_bytes > 0);
            for i in 0..n {
                let expect = if i % 10 == 0 {
                    vec![
                        m(10, Mode::Content, Direction::FromTarget),
                        m(11, Mode::Headers, Direction::FromTarget),
                    ]
                } else {
                    vec![m(10, Mode::Content, Direction::FromTarget)]
                };
                let Target::Ipv4(a) = ip4(i) else {
                    unreachable!()
                };
                assert_eq!(
                    run(
                        r,
                        &[IpPair::V4 {
                            src: a,
                            dst: v4([192, 0, 2, 1])
                        }],
                        &[],
                        FROM
                    ),
                    expect
                );
                let Target::Ipv6(a) = ip6(i) else {
                    unreachable!()
                };
                let p6 = IpPair::V6 {
                    src: a,
                    dst: Ipv6Addr::LOCALHOST,
                };
                assert_eq!(
                    run(r, &[p6], &[], FROM),
                    vec![m(10, Mode::Content, Direction::FromTarget)]
                );
                // A host inside each prefix, as the destination.
                let in4 = Ipv4Addr::from(u32::from(net4(i)) | 0x7f);
                let in6 = Ipv6Addr::from(u128::from(net6(i)) | 0xab << 64 | 1);
                for pair in [
                    IpPair::V4 {
                        src: v4([192, 0, 2, 1]),
                        dst: in4,
                    },
                    IpPair::V6 {
                        src: Ipv6Addr::LOCALHOST,
                        dst: in6,
                    },
                ] {
                    assert_eq!(
                        run(r, &[pair], &[], FROM),
                        vec![m(10, Mode::Content, Direction::ToTarget)],
                        "prefix {i} in {pair:?}"
                    );
                }
            }
            let Target::Mac(src) = mac(10) else {
                unreachable!()
            };
            let pair = MacPair { src, dst: [2; 6] };
            assert_eq!(
                run(r, &[], &[pair], FROM),
                vec![on(
                    11,
                    Mode::Headers,
                    Direction::FromTarget,
                    Layer::Ethernet(0)
                )]
            );
        }
        // Without the writer, the same adds rehash the table on its owner.
        let mut t = ExactTable::<u32>::default();
        let mut spill = 0;
        for i in 0..n {
            t.add(i, Slot(0), &mut spill);
        }
        assert!(t.grown_by_add > 0);
    }

    /// Loads targets `0..n` (by `target`) into one intercept and `n..n + 100`
    /// into another, removes the first half one request at a time, then clears
    /// the first intercept: the writer sends fresh tables before a quarter of
    /// `table`'s keys are stale, so the worker never rebuilds a filter, and
    /// lookups (`probe(i)`: a packet from target `i`) stay exact.
    fn filters_rebuilt_by_the_writer<K: Key>(
        n: u32,
        target: impl Fn(u32) -> Target,
        probe: impl Fn(u32) -> IpPair,
        table: impl Fn(&TableReplica) -> &ExactTable<K>,
    ) {
        let mut ups = vec![set(0, 10, Mode::Content), set(1, 11, Mode::Content)];
        ups.extend((0..n).map(|i| add(0, target(i))));
        ups.extend((n..n + 100).map(|i| add(1, target(i))));
        let (mut w, mut r) = loaded(&ups);
        let found = |r: &TableReplica, i: u32| !run(r, &[probe(i)], &[], FROM).is_empty();
        let mut fresh = 0;
        for i in 0..n / 2 {
            let e = w.send(&[Update::RemoveTarget {
                slot: Slot(0),
                target: target(i),
            }]);
            while r.epoch() < e {
                r.apply_pending(16);
            }
            let (stale, rebuilds_itself) = table(&r).staleness();
            assert!(!rebuilds_itself);
            assert!(stale * 4 <= table(&r).len(), "stale past a quarter");
            fresh += usize::from(stale == 0);
        }
        assert!(fresh > 1, "the writer sent fresh tables");
        assert!((0..n / 2).all(|i| !found(&r, i)));
        assert!((n / 2..n + 100).all(|i| found(&r, i)));
        let e = w.send(&[Update::ClearIntercept { slot: Slot(0) }]);
        while r.epoch() < e {
            r.apply_pending(64);
        }
        assert_eq!((table(&r).len(), table(&r).staleness().0), (100, 0));
        assert!((0..n).all(|i| !found(&r, i)));
        assert!((n..n + 100).all(|i| found(&r, i)));
    }

    #[test]
    fn filters_are_rebuilt_on_the_writer_side_as_targets_go() {
        let ip4 = |i: u32| Ipv4Addr::from(0x0a00_0000 + i);
        filters_rebuilt_by_the_writer(
            4000,
            |i| Target::Ipv4(ip4(i)),
            |i| IpPair::V4 {
                src: ip4(i),
                dst: v4([192, 0, 2, 1]),
            },
            |r| &r.exact4,
        );
    }

    /// The same for a CIDR table's per-length table, with IPv6 /56s probed by
    /// a host inside each.
    #[test]
    fn prefix_filters_are_rebuilt_on_the_writer_side_as_targets_go() {
        let net6 = |i: u32| 0x2001_0db9_u128 << 96 | u128::from(i) << 72;
        filters_rebuilt_by_the_writer(
            2000,
            |i| Target::Ipv6Net(net6(i).into(), 56),
            |i| IpPair::V6 {
                src: (net6(i) | 0x5a << 64 | 7).into(),
                dst: Ipv6Addr::LOCALHOST,
            },
            |r| r.cidr6.table(56),
        );
    }

    #[test]
    fn warrant_window_is_checked_per_packet() {
        let (_w, r) = loaded(&[
            set(3, 7, Mode::Content),
            add(3, Target::Ipv4(v4([1, 2, 3, 4]))),
        ]);
        let p = [pair4([1, 2, 3, 4], [5, 6, 7, 8])];
        assert!(run(&r, &p, &[], FROM - 1).is_empty());
        assert_eq!(run(&r, &p, &[], FROM).len(), 1);
        assert_eq!(run(&r, &p, &[], UNTIL - 1).len(), 1);
        assert!(run(&r, &p, &[], UNTIL).is_empty());
    }

    #[test]
    fn target_without_intercept_never_matches() {
        let (_w, r) = loaded(&[add(4, Target::Ipv4(v4([1, 2, 3, 4])))]);
        assert_eq!(r.target_count(), 1);
        assert!(run(&r, &[pair4([1, 2, 3, 4], [5, 6, 7, 8])], &[], FROM).is_empty());
    }

    #[test]
    fn cleared_slot_reused_does_not_inherit_old_targets() {
        let old = Target::Ipv4(v4([1, 2, 3, 4]));
        let new = Target::Ipv6(Ipv6Addr::LOCALHOST);
        let (mut w, mut r) = loaded(&[set(2, 1, Mode::Content), add(2, old)]);
        let e = w.send(&[
            Update::ClearIntercept { slot: Slot(2) },
            set(2, 99, Mode::Headers),
            add(2, new),
        ]);
        while r.epoch() < e {
            r.apply_pending(1);
        }
        assert_eq!(r.target_count(), 1);
        assert!(run(&r, &[pair4([1, 2, 3, 4], [5, 6, 7, 8])], &[], FROM).is_empty());
        let p6 = IpPair::V6 {
            src: Ipv6Addr::UNSPECIFIED,
            dst: Ipv6Addr::LOCALHOST,
        };
        assert_eq!(
            run(&r, &[p6], &[], FROM),
            vec![m(99, Mode::Headers, Direction::ToTarget)]
        );
    }

    #[test]
    fn cidr_finds_all_containing_prefixes_and_host_bits_are_ignored() {
        let (mut w, mut r) = loaded(&[
            set(0, 1, Mode::Content),
            set(1, 2, Mode::Content),
            set(2, 3, Mode::Headers),
            add(0, Target::Ipv4Net(v4([10, 0, 0, 0]), 8)),
            add(1, Target::Ipv4Net(v4([10, 1, 2, 99]), 24)),
            add(
                2,
                Target::Ipv6Net("2001:db8::".parse().unwrap_or(Ipv6Addr::UNSPECIFIED), 32),
            ),
        ]);
        let out = run(&r, &[pair4([8, 8, 8, 8], [10, 1, 2, 3])], &[], FROM);
        assert_eq!(
            out,
            vec![
                m(1, Mode::Content, Direction::ToTarget),
                m(2, Mode::Content, Direction::ToTarget)
            ]
        );
        let p6 = IpPair::V6 {
            src: "2001:db8:1::5".parse().unwrap_or(Ipv6Addr::UNSPECIFIED),
            dst: Ipv6Addr::LOCALHOST,
        };
        assert_eq!(
            run(&r, &[p6], &[], FROM),
            vec![m(3, Mode::Headers, Direction::FromTarget)]
        );
        // Removing with other host bits names the same prefix.
        let e = w.send(&[Update::RemoveTarget {
            slot: Slot(1),
            target: Target::Ipv4Net(v4([10, 1, 2, 0]), 24),
        }]);
        while r.epoch() < e {
            r.apply_pending(8);
        }
        let out = run(&r, &[pair4([8, 8, 8, 8], [10, 1, 2, 3])], &[], FROM);
        assert_eq!(out, vec![m(1, Mode::Content, Direction::ToTarget)]);
    }

    /// Stage 2 lets through every frame that matches a CIDR or MAC target, and
    /// screens out frames far from all of them - until a prefix shorter than the
    /// gate length makes every address a candidate.
    #[test]
    fn stage_two_screens_cidr_and_mac_targets_without_losing_a_match() {
        let v6 = |s: &str| s.parse::<Ipv6Addr>().unwrap_or(Ipv6Addr::UNSPECIFIED);
        let mac = [2, 0, 0, 0, 0, 9];
        let (mut w, mut r) = loaded(&[
            set(0, 1, Mode::Content),
            add(0, Target::Ipv4Net(v4([100, 64, 7, 0]), 24)),
            add(0, Target::Ipv6Net(v6("2001:db8:aa:bb00::"), 56)),
            add(0, Target::Mac(mac)),
        ]);
        let may = |r: &TableReplica, ip: IpPair, macs: MacPair| {
            let mut d = Dissection::default();
            d.push_mac(macs).unwrap();
            d.push_ip(ip).unwrap();
            let mut kh = KeyHashes::default();
            r.hash_keys(&d, &mut kh);
            r.may_match(&d, &kh)
        };
        let other_macs = MacPair {
            src: [4; 6],
            dst: [6; 6],
        };
        let six = |src: &str, dst: &str| IpPair::V6 {
            src: v6(src),
            dst: v6(dst),
        };
        // Every frame of a target passes, whichever side it is on.
        assert!(may(&r, pair4([8, 8, 4, 4], [100, 64, 7, 200]), other_macs));
        assert!(may(&r, six("2001:db8:aa:bbff::1", "2600::1"), other_macs));
        assert!(may(&r, six("2600::1", "2001:db8:aa:bb00::7"), other_macs));
        let target_mac = MacPair {
            src: [4; 6],
            dst: mac,
        };
        assert!(may(&r, pair4([8, 8, 4, 4], [9, 9, 9, 9]), target_mac));
        // Frames of other networks and MACs do not.
        assert!(!may(&r, pair4([8, 8, 4, 4], [9, 9, 9, 9]), other_macs));
        assert!(!may(&r, six("2600::1", "2a00:1450::5"), other_macs));
        // A /8 is shorter than the IPv4 gate's /16 blocks: every IPv4 frame is a
        // candidate while it is stored, and stage 3 decides.
        let e = w.send(&[add(0, Target::Ipv4Net(v4([10, 0, 0, 0]), 8))]);
        while r.epoch() < e {
            r.apply_pending(8);
        }
        assert!(may(&r, pair4([8, 8, 4, 4], [9, 9, 9, 9]), other_macs));
        assert!(run(
            &r,
            &[pair4([8, 8, 4, 4], [9, 9, 9, 9])],
            &[other_macs],
            FROM
        )
        .is_empty());
        assert!(!may(&r, six("2600::1", "2a00:1450::5"), other_macs));
    }

    #[test]
    fn mac_targets_match_any_ethernet_layer() {
        let mac = [2, 0, 0, 0, 0, 1];
        let (_w, r) = loaded(&[set(0, 5, Mode::Content), add(0, Target::Mac(mac))]);
        let macs = [
            MacPair::default(),
            MacPair {
                src: [9; 6],
                dst: mac,
            },
        ];
        assert_eq!(
            run(&r, &[], &macs, FROM),
            vec![on(
                5,
                Mode::Content,
                Direction::ToTarget,
                Layer::Ethernet(1)
            )]
        );
    }

    #[test]
    fn a_mac_shared_by_two_intercepts_stays_until_both_remove_it() {
        let mac = [2, 0, 0, 0, 0, 7];
        let other = [2, 0, 0, 0, 0, 8];
        let (mut w, mut r) = loaded(&[
            set(0, 5, Mode::Content),
            set(1, 6, Mode::Headers),
            add(0, Target::Mac(mac)),
            add(1, Target::Mac(mac)),
            add(1, Target::Mac(other)),
        ]);
        let frame = [MacPair {
            src: mac,
            dst: other,
        }];
        let mut got = run(&r, &[], &frame, FROM);
        got.sort_by_key(|x| x.key);
        let eth = Layer::Ethernet(0);
        assert_eq!(
            got,
            vec![
                on(5, Mode::Content, Direction::FromTarget, eth),
                on(6, Mode::Headers, Direction::Both, eth)
            ]
        );
        let remove = |slot, target| Update::RemoveTarget {
            slot: Slot(slot),
            target,
        };
        let e = w.send(&[remove(1, Target::Mac(mac)), remove(1, Target::Mac(other))]);
        while r.epoch() < e {
            r.apply_pending(16);
        }
        assert_eq!(
            run(&r, &[], &frame, FROM),
            vec![on(5, Mode::Content, Direction::FromTarget, eth)]
        );
        assert_eq!(r.target_count(), 1);
    }

    #[test]
    fn one_target_in_many_intercepts_and_many_targets_in_one() {
        let t = Target::Ipv4(v4([1, 1, 1, 1]));
        let mut ups: Vec<Update> = (0..20)
            .map(|s| set(s, 100 + u32::from(s), Mode::Content))
            .collect();
        ups.extend((0..20).map(|s| add(s, t)));
        ups.extend((0..50u8).map(|i| add(0, Target::Ipv4(v4([2, 2, 2, i])))));
        let (mut w, mut r) = loaded(&ups);
        assert_eq!(r.target_count(), 51);
        let out = run(&r, &[pair4([1, 1, 1, 1], [2, 2, 2, 7])], &[], FROM);
        let mut want: Vec<Match> = (0..20)
            .map(|s| m(100 + s, Mode::Content, Direction::FromTarget))
            .collect();
        want[0].direction = Direction::Both;
        assert_eq!(out, want);
        let e = w.send(&[Update::ClearIntercept { slot: Slot(0) }]);
        while r.epoch() < e {
            r.apply_pending(8);
        }
        assert_eq!(r.target_count(), 1);
        assert_eq!(
            run(&r, &[pair4([1, 1, 1, 1], [2, 2, 2, 7])], &[], FROM).len(),
            19
        );
    }

    #[test]
    fn epoch_is_applied_only_when_every_worker_applied_it() {
        let (mut w, mut rs) = replicas(2, 64);
        let e = w.send(&[add(0, Target::Ipv4(v4([1, 1, 1, 1])))]);
        assert_eq!(e, 1);
        // The first IPv4 table (built by the writer), the add, the marker.
        assert_eq!(rs[0].apply_pending(usize::MAX), 3);
        assert_eq!(w.min_applied(), 0);
        assert!(!w.wait_applied(e, Duration::from_millis(20)));
        rs[1].apply_pending(2);
        assert!(
            !w.wait_applied(e, Duration::from_millis(20)),
            "marker not consumed yet"
        );
        rs[1].apply_pending(1);
        assert!(w.wait_applied(e, Duration::from_secs(5)));
        assert_eq!(w.min_applied(), 1);
        assert!(rs[1].memory_bytes() > 0);
        assert_eq!(rs[1].target_count(), 1);
    }

    #[test]
    fn full_ring_makes_the_writer_wait_not_the_worker() {
        let (mut w, mut rs) = replicas(1, 4);
        let mut r = rs.remove(0);
        let ups: Vec<Update> = (0..1000u32)
            .map(|i| add(0, Target::Ipv4(Ipv4Addr::from(i))))
            .collect();
        std::thread::scope(|s| {
            let sender = s.spawn(|| w.send(&ups));
            while r.epoch() < 1 {
                r.apply_pending(3);
            }
            assert_eq!(sender.join().ok(), Some(1));
        });
        assert_eq!(r.target_count(), 1000);
        assert_eq!(r.epoch(), 1);
    }
}
