//! One worker's copy of the target tables: read on the packet path, changed only by
//! [`TableReplica::apply_pending`] between bursts.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::exact::{Endpoint, ExactTable, FilterView, Key};
use super::matches::Matches;
use super::prefix::{Bits, PrefixTable};
use super::ring::{Msg, Replacement, Ring};
use super::{Direction, InterceptSpec, Layer, Slot, Target, Update};
use crate::parse::ip::IpProtocol;
use crate::parse::{Addrs, Dissection, IpKeys, MacPair, Transport, MAX_IP_LAYERS};

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

/// [`TableReplica::hash_screened`] of one IPv4 layer in four steps, with the exact IPv4 table's gate,
/// seed and filter taken out once ([`TableReplica::v4_hasher`]): a loop over
/// a chunk of frames keeps them in registers instead of reading them through
/// the replica per frame. Most frames' addresses lie in blocks holding no
/// target: [`Self::block_bits`] turns them away from one L1 line, [`Self::fine_bit`]
/// most of the others, and only the rest are hashed ([`Self::hash_gated`]) or, where prefixes are stored,
/// checked against them ([`Self::prefix_may_contain`]).
#[derive(Clone, Copy)]
pub struct V4Hasher<'a> {
    /// The exact table's gate, filter and seed; its gate is all clear while
    /// it never stored a key, so a CIDR- or MAC-only table hashes nothing.
    exact: FilterView<'a, u32>,
    /// The IPv4 prefixes, where any is stored.
    cidr: Option<&'a PrefixTable<u32>>,
    /// The endpoint table, where any endpoint is stored.
    endpoints: Option<&'a ExactTable<Endpoint>>,
}

impl V4Hasher<'_> {
    /// The exact table's coarse gate bits of a common IPv4 frame's addresses:
    /// bit 0 the source's, bit 1 the destination's. A frame with neither
    /// matches no exact IPv4 target and needs no hash: its [`KeyHashes`] may be
    /// left stale, as a lookup under a stale hash compares the key and finds
    /// nothing. Without a branch: which frames carry a target's block follows
    /// no pattern.
    #[inline(always)]
    pub fn block_bits(&self, [src, dst]: [u32; 2]) -> u64 {
        self.exact.block_open(src) | self.exact.block_open(dst) << 1
    }

    /// The finer gate bit, as 0 or 1, of an address whose bit
    /// [`Self::block_bits`] set: a few targets in a block much other traffic
    /// goes to so send little of it on.
    #[inline(always)]
    pub fn fine_bit(&self, addr: u32) -> u64 {
        self.exact.fine_bit(addr)
    }

    /// Whether an endpoint target is stored: [`Self::in_slot_bit`] and
    /// [`Self::may_be_endpoint`] then tell more than [`Self::fine_bit`].
    #[inline(always)]
    pub fn has_endpoints(&self) -> bool {
        self.endpoints.is_some()
    }

    /// As 0 or 1, whether the finer block of an address whose
    /// [`Self::fine_bit`] is 1 holds a target address. Where not, it holds
    /// marked addresses only (a call's media relay's, say), and a frame to
    /// one of them may match only at an endpoint's port
    /// ([`Self::may_be_endpoint`]).
    #[inline(always)]
    pub fn in_slot_bit(&self, addr: u32) -> u64 {
        self.exact.in_slot_bit(addr)
    }

    /// Whether an endpoint of `addr` at `port` (and TCP or not; None:
    /// neither TCP nor UDP) may be stored.
    #[inline(always)]
    pub fn may_be_endpoint(&self, addr: u32, port: Option<(u16, bool)>) -> bool {
        self.endpoints
            .zip(port)
            .is_some_and(|(eps, (port, tcp))| eps.passes(eps.hash(Endpoint::v4(addr, port, tcp))))
    }

    /// [`TableReplica::hash_screened`]'s hashes in `kh` of a frame whose addresses'
    /// whole gate bits (coarse and finer, as 0 or 1) are `[gs, gd]`, one of
    /// them set.
    #[inline(always)]
    pub fn hash_gated(&self, [src, dst]: [u32; 2], [gs, gd]: [u64; 2], kh: &mut KeyHashes) {
        let h = [
            self.exact.hash_under(src, gs),
            self.exact.hash_under(dst, gd),
        ];
        self.exact.prefetch(h[0]);
        self.exact.prefetch(h[1]);
        kh.0[0] = h;
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

/// An IP family's tables in a replica: its exact table and, where any is
/// stored, its prefixes.
pub(crate) trait Family: Key + Bits {
    /// The exact table of this family and its prefixes, if any is stored.
    fn tables(r: &TableReplica) -> (&ExactTable<Self>, Option<&PrefixTable<Self>>);
}

impl Family for u32 {
    #[inline(always)]
    fn tables(r: &TableReplica) -> (&ExactTable<u32>, Option<&PrefixTable<u32>>) {
        (&r.exact4, r.has_cidr4.then_some(&r.cidr4))
    }
}

impl Family for u128 {
    #[inline(always)]
    fn tables(r: &TableReplica) -> (&ExactTable<u128>, Option<&PrefixTable<u128>>) {
        (&r.exact6, r.has_cidr6.then_some(&r.cidr6))
    }
}

/// The IP layers a screen read from a frame, outermost first, each
/// `[src, dst]`: one layer (`[K; 2]`), or two (`([O; 2], [I; 2])`, the same
/// as `[[K; 2]; 2]`, and IPv6 over an inner layer of either family). Every
/// screen's record is one of these, so one pair,
/// [`TableReplica::hash_screened`] and [`TableReplica::may_match_screened`],
/// serves them all, each shape compiled on its own (no dispatch per frame).
pub(crate) trait Screened: Copy {
    /// Stage 1: the layers' hashes into `kh` (layer `n` in slot `n`), their
    /// filter lines loading.
    fn hash(&self, r: &TableReplica, kh: &mut KeyHashes);
    /// Stage 2 but for the MAC pair: whether an exact filter passes a hash
    /// (whose entry then starts loading) or a stored prefix may contain an
    /// address.
    fn may_match(&self, r: &TableReplica, kh: &KeyHashes) -> bool;
}

/// Layer `n`'s hashes of `[src, dst]` into `kh`, unless its family's table
/// is empty.
#[inline(always)]
fn hash_layer_into<F: Family>(r: &TableReplica, n: usize, [src, dst]: [F; 2], kh: &mut KeyHashes) {
    let (exact, _) = F::tables(r);
    if let (false, Some(h)) = (exact.is_empty(), kh.0.get_mut(n)) {
        *h = hash_pair(exact, src, dst);
    }
}

/// Whether a stored prefix of `F` may contain `src` or `dst`.
#[inline(always)]
fn cidr_may_contain<F: Family>(r: &TableReplica, [src, dst]: [F; 2]) -> bool {
    F::tables(r)
        .1
        .is_some_and(|c| single_may_match_cidr(c, src, dst))
}

impl<F: Family> Screened for [F; 2] {
    #[inline(always)]
    fn hash(&self, r: &TableReplica, kh: &mut KeyHashes) {
        hash_layer_into(r, 0, *self, kh);
    }

    #[inline(always)]
    fn may_match(&self, r: &TableReplica, kh: &KeyHashes) -> bool {
        let [hs, hd] = kh.0[0];
        pass_and_prefetch(F::tables(r).0, hs, hd) || cidr_may_contain(r, *self)
    }
}

impl<O: Family, I: Family> Screened for ([O; 2], [I; 2]) {
    #[inline(always)]
    fn hash(&self, r: &TableReplica, kh: &mut KeyHashes) {
        hash_layer_into(r, 0, self.0, kh);
        hash_layer_into(r, 1, self.1, kh);
    }

    #[inline(always)]
    fn may_match(&self, r: &TableReplica, kh: &KeyHashes) -> bool {
        let [[o_src, o_dst], [i_src, i_dst], ..] = kh.0;
        // Both layers' entries start loading: no short-circuit between them.
        let exact = pass_and_prefetch(O::tables(r).0, o_src, o_dst)
            | pass_and_prefetch(I::tables(r).0, i_src, i_dst);
        exact || cidr_may_contain(r, self.0) || cidr_may_contain(r, self.1)
    }
}

impl<F: Family> Screened for [[F; 2]; 2] {
    /// Both layers under one view of their table (taken twice, its fields
    /// were read twice).
    #[inline(always)]
    fn hash(&self, r: &TableReplica, kh: &mut KeyHashes) {
        let (exact, _) = F::tables(r);
        if !exact.is_empty() {
            let f = exact.filter_view();
            let [[os, od], [is, id]] = *self;
            kh.0[0] = hash_pair_in(f, os, od);
            kh.0[1] = hash_pair_in(f, is, id);
        }
    }

    #[inline(always)]
    fn may_match(&self, r: &TableReplica, kh: &KeyHashes) -> bool {
        (self[0], self[1]).may_match(r, kh)
    }
}

impl Screened for ([u128; 2], Addrs) {
    #[inline(always)]
    fn hash(&self, r: &TableReplica, kh: &mut KeyHashes) {
        match self.1 {
            Addrs::V4(inner) => (self.0, inner).hash(r, kh),
            Addrs::V6(inner) => [self.0, inner].hash(r, kh),
        }
    }

    #[inline(always)]
    fn may_match(&self, r: &TableReplica, kh: &KeyHashes) -> bool {
        match self.1 {
            Addrs::V4(inner) => (self.0, inner).may_match(r, kh),
            Addrs::V6(inner) => [self.0, inner].may_match(r, kh),
        }
    }
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
    /// UDP and TCP endpoint targets by address, port and protocol; their addresses are marked
    /// in `exact4` / `exact6` (see [`Msg::Mark`]).
    endpoints: ExactTable<Endpoint>,
    intercepts: Vec<Option<InterceptSpec>>,
    targets: usize,
    /// Some IPv4 / IPv6 CIDR target is stored: stage 2 has more than the exact
    /// and MAC filters to consult for that family.
    has_cidr4: bool,
    has_cidr6: bool,
    spill_bytes: usize,
}

/// The key of an endpoint target in the endpoint table; `None` for any other.
pub(crate) fn endpoint_key(target: Target) -> Option<Endpoint> {
    Some(match target.endpoint()? {
        (IpAddr::V4(a), port, tcp) => Endpoint::v4(a.into(), port, tcp),
        (IpAddr::V6(a), port, tcp) => Endpoint::v6(a.into(), port, tcp),
    })
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
            endpoints: ExactTable::default(),
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
                Msg::Mark(addr, on) => self.mark(addr, on),
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

    /// Targets (exact addresses, prefixes, MACs, endpoints) stored.
    pub fn target_count(&self) -> usize {
        self.targets
    }

    /// Approximate heap bytes used by the tables.
    pub fn memory_bytes(&self) -> usize {
        self.exact4.allocation_size()
            + self.exact6.allocation_size()
            + self.mac.allocation_size()
            + self.endpoints.allocation_size()
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
            Replacement::Endpoints(t) => Replacement::Endpoints(self.endpoints.swap_in(t, spill)),
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

    /// Marks `addr` as having UDP endpoint targets, or clears its mark: an
    /// address, not a target of its own, so [`Self::target_count`] stays.
    fn mark(&mut self, addr: IpAddr, on: bool) {
        match (addr, on) {
            (IpAddr::V4(a), true) => self.exact4.mark(a.into()),
            (IpAddr::V4(a), false) => self.exact4.unmark(a.into()),
            (IpAddr::V6(a), true) => self.exact6.mark(a.into()),
            (IpAddr::V6(a), false) => self.exact6.unmark(a.into()),
        }
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
                    Target::Ipv4Udp(..)
                    | Target::Ipv6Udp(..)
                    | Target::Ipv4Tcp(..)
                    | Target::Ipv6Tcp(..) => {
                        endpoint_key(target).is_some_and(|ep| self.endpoints.add(ep, slot, spill))
                    }
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
                    Target::Ipv4Udp(..)
                    | Target::Ipv6Udp(..)
                    | Target::Ipv4Tcp(..)
                    | Target::Ipv6Tcp(..) => endpoint_key(target)
                        .is_some_and(|ep| self.endpoints.remove(ep, slot, spill)),
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
            self.hash_screened(&v4, kh);
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

    /// [`Self::hash_keys`] for a frame a screen read (`layers`), without its
    /// [`Dissection`]. A layer whose family's exact table is empty keeps a
    /// stale hash: that table's filter passes nothing.
    #[inline(always)]
    pub(crate) fn hash_screened<S: Screened>(&self, layers: &S, kh: &mut KeyHashes) {
        layers.hash(self, kh);
    }

    /// [`Self::hash_screened`]'s IPv4 table, taken once for many frames.
    #[inline(always)]
    pub fn v4_hasher(&self) -> V4Hasher<'_> {
        V4Hasher {
            exact: self.exact4.filter_view(),
            cidr: self.has_cidr4.then_some(&self.cidr4),
            endpoints: (!self.endpoints.is_empty()).then_some(&self.endpoints),
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

    /// [`Self::may_match`] for a frame a screen read (`layers`, hashed by
    /// [`Self::hash_screened`]), but for its MAC pair:
    /// [`Self::mac_words_may_match`] screens that.
    #[inline(always)]
    pub(crate) fn may_match_screened<S: Screened>(&self, layers: &S, kh: &KeyHashes) -> bool {
        layers.may_match(self, kh)
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
        // Endpoint targets match the UDP or TCP header of the innermost IP
        // layer, the one `transport` is of: the datagram or segment the frame
        // carries, not a tunnel's. A non-first fragment has no such header,
        // so none. The protocol goes into the endpoint's key (TCP or not).
        let innermost = d.spans().len().wrapping_sub(1);
        let ports = d.transport.and_then(|t| match IpProtocol::from(t.proto) {
            IpProtocol::Udp => Some((t, false)),
            IpProtocol::Tcp => Some((t, true)),
            _ => None,
        });
        for (i, (keys, &hashes)) in d.ip_keys().zip(&kh.0).enumerate() {
            // At most MAX_IP_LAYERS.
            let at = Layer::Ip(i as u8);
            let ports = ports.filter(|_| i == innermost);
            let mut hit_here = |set: &[Slot], dir: Direction| hit(set, dir, at);
            match keys {
                IpKeys::V4([src, dst]) => {
                    self.exact_hits(
                        &self.exact4,
                        [src, dst],
                        hashes,
                        ports,
                        Endpoint::v4,
                        &mut hit_here,
                    );
                    if !self.cidr4.is_empty() {
                        self.cidr4
                            .for_each_match(src, |s| hit(s.as_slice(), Direction::FromTarget, at));
                        self.cidr4
                            .for_each_match(dst, |s| hit(s.as_slice(), Direction::ToTarget, at));
                    }
                }
                IpKeys::V6(&[src, dst]) => {
                    self.exact_hits(
                        &self.exact6,
                        [src, dst],
                        hashes,
                        ports,
                        Endpoint::v6,
                        &mut hit_here,
                    );
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

    /// Stage 3 of one IP layer's addresses `[src, dst]` (hashed `[hs, hd]`)
    /// in their family's exact `table`: each one's slots, and for a marked
    /// one, if the layer carries `ports` (a transport and whether it is TCP),
    /// the slots of its endpoint (`endpoint` of it, its port and the
    /// protocol), all to `hit` with the address's direction.
    #[inline(always)]
    fn exact_hits<K: Key>(
        &self,
        table: &ExactTable<K>,
        [src, dst]: [K; 2],
        [hs, hd]: [u64; 2],
        ports: Option<(Transport, bool)>,
        endpoint: fn(K, u16, bool) -> Endpoint,
        hit: &mut impl FnMut(&[Slot], Direction),
    ) {
        let sides = [
            (
                src,
                hs,
                Direction::FromTarget,
                ports.map(|(t, tcp)| (t.src_port, tcp)),
            ),
            (
                dst,
                hd,
                Direction::ToTarget,
                ports.map(|(t, tcp)| (t.dst_port, tcp)),
            ),
        ];
        for (key, h, dir, port) in sides {
            let Some((slots, marked)) = table.get_marked_hashed(key, h) else {
                continue;
            };
            hit(slots.as_slice(), dir);
            if let (true, Some((port, tcp))) = (marked, port) {
                self.endpoint_hits(endpoint(key, port, tcp), dir, hit);
            }
        }
    }

    /// The slots of endpoint `ep`, to `hit` with direction `dir`. Out of
    /// line: only frames touching an address with endpoint targets get here.
    #[inline(never)]
    fn endpoint_hits(
        &self,
        ep: Endpoint,
        dir: Direction,
        hit: &mut impl FnMut(&[Slot], Direction),
    ) {
        if let Some(slots) = self.endpoints.get(ep) {
            hit(slots.as_slice(), dir);
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
mod test;
