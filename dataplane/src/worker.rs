//! The poll loop of one worker on a pinned core: apply table updates, receive a
//! burst, then per chunk of it read every frame's addresses (a common IPv4
//! or IPv6 frame, IPv4 or IPv6 in a GTP-U, GRE, IP-in-IP, VXLAN or ERSPAN
//! tunnel in IPv4 or IPv6, or either in an MPLS pseudowire is only screened,
//! any other dissected), hash them and prefetch their filter lines; then
//! pass every frame through the filters; then dissect and classify the few
//! that may match and hand off the matches. No allocation, lock, log or
//! syscall per packet; counters go to shared atomics once per burst.
#![forbid(unsafe_code)]

use std::sync::atomic::AtomicBool;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::handoff::{HandoffProducer, RxFrame};
use crate::parse::{
    common_gtpu_untagged, common_ipv4_untagged, common_ipv4_untagged_port, common_ipv6_untagged,
    dissect, dissect_cut, mac_words, screen_ipv4, Addrs, Dissection, Ipv4Screen, Ipv6Screen, Link,
    ParseError, TunnelV4V6,
};
use crate::source::{PacketSource, Poll, RxBurst};
use crate::targets::{KeyHashes, Matches, Screened, TableReplica, V4Hasher};

/// Counters of one worker, written by it once per burst and read by metrics.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct WorkerStats {
    /// Frames received.
    pub rx_packets: AtomicU64,
    /// Bytes received.
    pub rx_bytes: AtomicU64,
    /// Frames that matched at least one intercept.
    pub matches: AtomicU64,
    /// Records lost because the hand-off ring was full (intercept loss: alarm).
    pub handoff_drops: AtomicU64,
    /// Frames with a malformed header or a length past their bytes (classified
    /// by the layers before the fault), indexed by [`ParseError::index`].
    pub parse_errors: [AtomicU64; ParseError::COUNT],
    /// Records cut at the record capacity.
    pub truncated_copies: AtomicU64,
    /// Polls that returned frames.
    pub busy_polls: AtomicU64,
    /// Polls that returned nothing.
    pub idle_polls: AtomicU64,
    /// Table epoch this worker has applied.
    pub epoch: AtomicU64,
    /// Signalling records lost because the signalling ring was full (alarm).
    pub signalling_drops: AtomicU64,
    /// Receive time (ns since the Unix epoch) up to which every frame this
    /// worker will ever hand off has been handed off: stored (Release) after
    /// every busy burst's hand-off (under [`Clock::System`], of a full burst
    /// without a match, every [`WATERMARK_EVERY`]th) and each idle poll, so
    /// a reader that loads it (Acquire) and then drains the rings has seen
    /// every record stamped up to it. While idle the wall
    /// clock ([`Clock::System`]), or the last burst's time plus the time since
    /// ([`Clock::Source`]); `u64::MAX` once the source is exhausted.
    pub handed_off_until_ns: AtomicU64,
}

/// Table update messages a worker applies between two bursts, unless its owner
/// chooses otherwise: at a million targets an update costs about 0.2 µs (its
/// entry and filter line are cache misses), so 64 take ~15 µs, well inside the
/// 69 µs a 1024-descriptor RX ring takes to fill at 10 Gbit/s of 64-byte frames
/// (`growth_bench --budget`). Throughput is hardly lower: an idle worker loops
/// back at once.
pub const UPDATE_BUDGET: usize = 64;

/// Which time stamps a packet for the warrant-window check and its record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// Wall clock, read once per burst, when a frame of it is first found in a
    /// target table (most bursts have none).
    System,
    /// The source's receive timestamp when it gives one (capture files), else the
    /// wall clock.
    Source,
}

/// Everything one worker owns.
pub struct WorkerCtx<S> {
    /// Worker number, carried in its records.
    pub id: u16,
    /// Where frames come from.
    pub source: S,
    /// This worker's replica of the target tables.
    pub tables: TableReplica,
    /// This worker's hand-off ring.
    pub handoff: HandoffProducer,
    /// Where counters are published.
    pub stats: Arc<WorkerStats>,
    /// Time source for packets.
    pub clock: Clock,
    /// Most table updates applied between two bursts (bounds the added latency).
    pub update_budget: usize,
    /// The worker applies updates but polls no packet until this is set, so the
    /// initial tables are in effect before the first packet.
    pub armed: Arc<AtomicBool>,
}

/// Why [`run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// `quit` was set.
    Quit,
    /// The source ended (capture file read to the end).
    Exhausted,
}

/// Plain per-worker totals, stored to [`WorkerStats`] once per burst.
#[derive(Default)]
struct Totals {
    rx_packets: u64,
    rx_bytes: u64,
    matches: u64,
    drops: u64,
    parse_errors: [u64; ParseError::COUNT],
    truncated: u64,
    busy: u64,
    idle: u64,
    signalling_drops: u64,
}

impl Totals {
    fn publish(&self, s: &WorkerStats, epoch: u64) {
        s.rx_packets.store(self.rx_packets, Relaxed);
        s.rx_bytes.store(self.rx_bytes, Relaxed);
        s.matches.store(self.matches, Relaxed);
        s.handoff_drops.store(self.drops, Relaxed);
        for (a, v) in s.parse_errors.iter().zip(self.parse_errors) {
            a.store(v, Relaxed);
        }
        s.truncated_copies.store(self.truncated, Relaxed);
        s.busy_polls.store(self.busy, Relaxed);
        s.idle_polls.store(self.idle, Relaxed);
        s.epoch.store(epoch, Relaxed);
        s.signalling_drops.store(self.signalling_drops, Relaxed);
    }
}

fn wall_clock_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Frames that go through the lookup stages together: one chunk of a burst.
const CHUNK: usize = 32;
// A chunk's frames are tracked in the bits of a u32.
const _: () = assert!(CHUNK <= 32);
/// Frame `i + PREFETCH_AHEAD` is prefetched while frame `i` is dissected.
const PREFETCH_AHEAD: usize = 3;
/// Segments after the first a content copy takes from a multi-segment mbuf:
/// a 9216-byte jumbo frame in 2048-byte mbufs has 4. The rest of a longer
/// chain is left out and the record counted as truncated.
const MAX_LATER_SEGMENTS: usize = 8;

/// Per-worker scratch space for one chunk of frames (allocated once).
struct Scratch {
    /// Addresses of the frames [`screen_ipv4`] (plain) or [`Link::pseudowire`]
    /// screened with one IPv4 layer.
    v4: [[u32; 2]; CHUNK],
    /// Addresses of the frames [`Link::screen_ipv6`] (plain) or [`Link::pseudowire`]
    /// screened with one IPv6 layer.
    v6: [[u128; 2]; CHUNK],
    /// Outer and inner addresses of the frames [`screen_ipv4`] screened
    /// as a tunnel.
    tunnel: [[[u32; 2]; 2]; CHUNK],
    /// Outer and inner addresses of the frames [`Link::tunnel_ipv4_ipv6`]
    /// screened.
    tunnel6: [([u32; 2], [u128; 2]); CHUNK],
    /// Outer and inner addresses of the frames [`Link::screen_ipv6`] screened
    /// as a tunnel.
    over6: [([u128; 2], Addrs); CHUNK],
    kh: [KeyHashes; CHUNK],
    /// Dissections of the other frames, and of screened frames that may match.
    d: [Dissection; CHUNK],
    matches: Matches,
}

/// A worker's per-burst path on its own: its scratch space and totals. [`run`]
/// drives one; a benchmark times the same code on bursts it builds.
pub struct BurstPath {
    scratch: Box<Scratch>,
    lanes: Lanes,
    t: Totals,
}

/// The untagged-IPv4 loop's [`Lane`], the untagged-IPv6 loop's, which looks
/// at the frames the first left, and the untagged GTP-U loop's, which looks
/// at the frames both left.
#[derive(Default)]
struct Lanes {
    v4: Lane,
    v6: Lane,
    gtpu: Lane,
}

/// Chunks a lane's loop sits out once it took fewer than half the frames it
/// looked at.
const LANE_RETRY: u32 = 64;

/// Whether a chunk starts with the untagged-IPv4 loop (or the untagged-IPv6
/// or GTP-U loop looks at the frames the loops before it left). On a link of
/// other frames (VLAN-tagged, tunnelled, the other family) a loop takes none
/// and costs every frame a second look (IPv6 up to 5 %), so it turns itself
/// off once it takes fewer than half the frames it looked at and tries again
/// [`LANE_RETRY`] chunks later. Either way every frame is classified alike:
/// a loop only takes frames the screens would screen the same way (plain
/// IPv4 or IPv6, IPv4 in a tunnel in IPv4).
#[derive(Default)]
struct Lane {
    off_for: u32,
}

impl Lane {
    #[inline(always)]
    fn on(&mut self) -> bool {
        if self.off_for == 0 {
            return true;
        }
        self.off_for -= 1;
        false
    }

    /// Runs `screen`, a lane's loop over the frames of the bits it is given
    /// that returns the bits and bytes of the frames it took, over the
    /// frames of `chunk` not yet `taken`, if the lane is on and any is left
    /// (on a link of IPv4 alone none is: this costs it a test a chunk).
    /// Adds what it took to `taken` and `bytes`, and returns those bits.
    #[inline(always)]
    fn run(
        &mut self,
        chunk: u32,
        taken: &mut u32,
        bytes: &mut u64,
        screen: impl FnOnce(u32) -> (u32, u64),
    ) -> u32 {
        let left = chunk & !*taken;
        if left == 0 || !self.on() {
            return 0;
        }
        let (took, took_bytes) = screen(left);
        *bytes += took_bytes;
        self.took(took, left.count_ones() as usize);
        *taken |= took;
        took
    }

    /// After the loop took the frames of `taken` from a chunk of `len`.
    #[inline(always)]
    fn took(&mut self, taken: u32, len: usize) {
        if (taken.count_ones() as usize) * 2 < len {
            self.off_for = LANE_RETRY;
        }
    }
}

impl Default for BurstPath {
    fn default() -> Self {
        BurstPath {
            scratch: Box::new(Scratch {
                v4: [[0; 2]; CHUNK],
                v6: [[0; 2]; CHUNK],
                tunnel: [[[0; 2]; 2]; CHUNK],
                tunnel6: [([0; 2], [0; 2]); CHUNK],
                over6: [([0; 2], Addrs::V4([0; 2])); CHUNK],
                kh: [KeyHashes::default(); CHUNK],
                d: [Dissection::default(); CHUNK],
                matches: Matches::new(),
            }),
            lanes: Lanes::default(),
            t: Totals::default(),
        }
    }
}

impl BurstPath {
    /// Classifies every frame of `b` against `tables` and hands each match to
    /// `handoff` as worker `id`, stamped by `clock`. Returns the wall clock
    /// if a match read it (the burst's frames are stamped from it). Always
    /// inlined, as is the per-burst code it calls: left to the compiler, the
    /// worker's loop called it and ran 12-15 % slower with 1M targets.
    #[inline(always)]
    pub fn process<B: RxBurst + ?Sized>(
        &mut self,
        b: &B,
        tables: &TableReplica,
        handoff: &mut HandoffProducer,
        clock: Clock,
        id: u16,
    ) -> Option<u64> {
        let cx = FrameCtx {
            id,
            clock,
            tables,
            handoff,
            t: &mut self.t,
        };
        process(b, &mut self.scratch, &mut self.lanes, cx)
    }

    /// Frames matched so far.
    pub fn matches(&self) -> u64 {
        self.t.matches
    }
}

/// What the per-frame path needs besides the frames.
struct FrameCtx<'a> {
    id: u16,
    clock: Clock,
    tables: &'a TableReplica,
    handoff: &'a mut HandoffProducer,
    t: &'a mut Totals,
}

/// One burst, per chunk of [`CHUNK`] frames, in three stages, as l3fwd's main
/// loop: stage 1 reads every frame's addresses (the lanes, then the screens,
/// fully dissecting only the frames neither takes), hashes them and starts
/// loading their filter lines; stage 2 passes them through the filters
/// (starting to load the entries of those that pass); stage 3 dissects the
/// screened survivors, classifies every survivor and hands off the matches.
#[inline(always)]
fn process<B: RxBurst + ?Sized>(
    b: &B,
    s: &mut Scratch,
    lanes: &mut Lanes,
    mut cx: FrameCtx<'_>,
) -> Option<u64> {
    let n = b.len();
    cx.t.rx_packets += n as u64;
    let mut now = None;
    for i in 0..PREFETCH_AHEAD.min(n) {
        b.prefetch(i);
    }
    // Summed here and stored once: a per-frame add to `cx.t` is a store the
    // compiler cannot keep in a register.
    let mut rx_bytes = 0u64;
    let mut macs = MacScreen::new(cx.tables);
    let v4_hasher = cx.tables.v4_hasher();
    let mut start = 0;
    while start < n {
        let len = (n - start).min(CHUNK);
        // Stage 1. Untagged IPv4 comes first, in a loop of its own at fixed
        // offsets (on most links nearly every frame; see [`Lane`]), then
        // untagged IPv6 in another, among the frames the first left, then
        // untagged IPv4 in GTP-U among the frames both left. The frames they
        // leave go through the screens: IPv4, plain or in a tunnel in IPv4,
        // in one pass (a mobile core's user plane, a traffic mirror), then
        // IPv6, plain or as a tunnel in IPv6, in one pass, then IPv6 in a
        // tunnel in IPv4, then either family in a pseudowire (a metro core);
        // the walker dissects the rest.
        let (mut taken, mut screened4) = (0, 0);
        if lanes.v4.on() {
            let bytes;
            (taken, screened4, bytes) =
                screen_common_ipv4(b, start, len, v4_hasher, &mut s.v4, &mut s.kh);
            rx_bytes += bytes;
            lanes.v4.took(taken, len);
        }
        let chunk = u32::MAX >> (CHUNK - len);
        let mut screened6 = lanes.v6.run(chunk, &mut taken, &mut rx_bytes, |left| {
            let out = (&mut s.v6, &mut s.kh);
            screen_lane(b, (start, left), common_ipv6_untagged, cx.tables, out)
        });
        // Frames screened as IPv4 in a tunnel in IPv4 (addresses in `s.tunnel`),
        // as IPv6 in one (in `s.tunnel6`), and as a tunnel in IPv6 (in
        // `s.over6`).
        let mut screened_tunnel = lanes.gtpu.run(chunk, &mut taken, &mut rx_bytes, |left| {
            let out = (&mut s.tunnel, &mut s.kh);
            screen_lane(b, (start, left), common_gtpu_untagged, cx.tables, out)
        });
        let mut screened_tunnel6 = 0u32;
        let mut dissected = 0u32;
        let mut screened_over6 = 0u32;
        // Screened frames the MAC filter lets through (stage 2's MAC part, done
        // here with the frame at hand).
        let mut mac_pass = 0u32;
        // Their MAC pairs apart, as most tables store no MAC target.
        if macs.tables.is_some() {
            for j in bits(taken) {
                mac_pass |= macs.bit(b.frame(start + j), None) << j;
            }
        }
        for j in bits(chunk & !taken) {
            let i = start + j;
            b.prefetch(i + PREFETCH_AHEAD);
            let frame = b.frame(i);
            rx_bytes += frame.len() as u64;
            let Some(kh) = s.kh.get_mut(j) else {
                continue;
            };
            // Each screen that takes the frame ends the block. The first reads
            // the link layers itself (read before it and held, they cost plain
            // IPv4 2 instructions a frame); the rest share one reading.
            'screened: {
                let ipv4 = screen_ipv4(frame);
                if let (Some(Ipv4Screen::Plain(addrs)), Some(v4)) = (ipv4, s.v4.get_mut(j)) {
                    *v4 = addrs;
                    cx.tables.hash_screened(&addrs, kh);
                    screened4 |= 1 << j;
                    mac_pass |= macs.bit(frame, None) << j;
                    break 'screened;
                }
                if let (Some(Ipv4Screen::Tunnel(t)), Some(tunnel)) = (ipv4, s.tunnel.get_mut(j)) {
                    *tunnel = t.layers;
                    cx.tables.hash_screened(&t.layers, kh);
                    screened_tunnel |= 1 << j;
                    mac_pass |= macs.bit(frame, t.inner_eth) << j;
                    break 'screened;
                }
                let link = Link::of(frame);
                if let Some(ipv6) = link.and_then(Link::screen_ipv6) {
                    match (ipv6, s.v6.get_mut(j), s.over6.get_mut(j)) {
                        (Ipv6Screen::Plain(addrs), Some(v6), _) => {
                            *v6 = addrs;
                            cx.tables.hash_screened(&addrs, kh);
                            screened6 |= 1 << j;
                            mac_pass |= macs.bit(frame, None) << j;
                        }
                        (Ipv6Screen::Tunnel(t), _, Some(over6)) => {
                            *over6 = (t.outer, t.inner);
                            cx.tables.hash_screened(&(t.outer, t.inner), kh);
                            screened_over6 |= 1 << j;
                            mac_pass |= macs.bit(frame, t.inner_eth) << j;
                        }
                        // Not reached: j < CHUNK.
                        _ => {}
                    }
                    break 'screened;
                }
                if let (Some(t), Some(tunnel6)) =
                    (link.and_then(screen_tunnel_ipv4_ipv6), s.tunnel6.get_mut(j))
                {
                    *tunnel6 = (t.outer, t.inner);
                    cx.tables.hash_screened(&(t.outer, t.inner), kh);
                    screened_tunnel6 |= 1 << j;
                    mac_pass |= macs.bit(frame, t.inner_eth) << j;
                    break 'screened;
                }
                if let (Some(pw), Some(v4), Some(v6)) = (
                    link.and_then(Link::pseudowire),
                    s.v4.get_mut(j),
                    s.v6.get_mut(j),
                ) {
                    // Its one IP layer, as a common frame's of its family.
                    match pw.addrs {
                        Addrs::V4(addrs) => {
                            *v4 = addrs;
                            cx.tables.hash_screened(&addrs, kh);
                            screened4 |= 1 << j;
                        }
                        Addrs::V6(addrs) => {
                            *v6 = addrs;
                            cx.tables.hash_screened(&addrs, kh);
                            screened6 |= 1 << j;
                        }
                    }
                    mac_pass |= macs.bit(frame, Some(pw.inner_eth)) << j;
                    break 'screened;
                }
                if let Some(d) = s.d.get_mut(j) {
                    let wire_len = b.wire_len(i) as usize;
                    if let Err(e) = dissect_other(frame, wire_len, d, kh, cx.tables) {
                        parse_error(cx.t, e);
                    }
                    dissected |= 1 << j;
                }
            }
        }
        let sorted = Sorted {
            taken,
            screened4,
            screened6,
            screened_tunnel,
            screened_tunnel6,
            screened_over6,
            dissected,
            mac_pass,
        };
        let candidates = filter_chunk(&sorted, s, cx.tables);
        classify_chunk(
            b,
            (start, candidates),
            sorted.screened(),
            s,
            &mut cx,
            &mut now,
        );
        start += len;
    }
    cx.t.rx_bytes += rx_bytes;
    now
}

/// The frames of a chunk by what stage 1 made of them (bit j: frame j).
struct Sorted {
    /// Taken by a lane: all screened, whether stage 2 needs to see them or not.
    taken: u32,
    /// Screened with one IPv4 layer (addresses in `s.v4`), one IPv6 layer
    /// (`s.v6`), as IPv4 in a tunnel in IPv4 (`s.tunnel`), IPv6 in a tunnel in
    /// IPv4 (`s.tunnel6`), or either family in a tunnel in IPv6 (`s.over6`),
    /// where stage 2 has to look at them.
    screened4: u32,
    screened6: u32,
    screened_tunnel: u32,
    screened_tunnel6: u32,
    screened_over6: u32,
    /// Dissected (into `s.d`, up to a fault).
    dissected: u32,
    /// Screened frames the MAC filter lets through (stage 2's MAC part, done
    /// with the frame at hand).
    mac_pass: u32,
}

impl Sorted {
    /// The screened frames: stage 3 dissects those it classifies.
    fn screened(&self) -> u32 {
        self.taken
            | self.screened4
            | self.screened6
            | self.screened_tunnel
            | self.screened_tunnel6
            | self.screened_over6
    }
}

/// Stage 2 for a chunk stage 1 sorted: the frames that may match (an exact
/// filter passes an address, whose entry then starts loading, a stored
/// prefix may contain one, or the MAC filter passed the frame), one screen's
/// records at a time (no dispatch per frame), then the dissected frames.
#[inline(always)]
fn filter_chunk(sorted: &Sorted, s: &Scratch, tables: &TableReplica) -> u32 {
    let mut candidates = sorted.mac_pass;
    let (kh, pass) = (&s.kh, &mut candidates);
    filter_screened(tables, kh, pass, sorted.screened4, &s.v4);
    filter_screened(tables, kh, pass, sorted.screened_tunnel, &s.tunnel);
    filter_screened(tables, kh, pass, sorted.screened_tunnel6, &s.tunnel6);
    filter_screened(tables, kh, pass, sorted.screened_over6, &s.over6);
    filter_screened(tables, kh, pass, sorted.screened6, &s.v6);
    for j in bits(sorted.dissected) {
        if let (Some(d), Some(kh)) = (s.d.get(j), s.kh.get(j)) {
            candidates |= u32::from(tables.may_match(d, kh)) << j;
        }
    }
    candidates
}

/// Stage 3 for the `candidates` of the chunk of `b` from `start`: each
/// dissected (if `screened`: stage 1 read only its addresses), classified,
/// and its matches handed off.
#[inline(always)]
fn classify_chunk<B: RxBurst + ?Sized>(
    b: &B,
    (start, candidates): (usize, u32),
    screened: u32,
    s: &mut Scratch,
    cx: &mut FrameCtx<'_>,
    now: &mut Option<u64>,
) {
    for j in bits(candidates) {
        let (Some(d), Some(kh)) = (s.d.get_mut(j), s.kh.get(j)) else {
            continue;
        };
        let i = start + j;
        if screened & (1 << j) != 0 {
            if let Err(e) = dissect(b.frame(i), d) {
                // Not reached: the screens pass only frames dissect takes.
                // Were it, the frame goes on by its layers, as in stage 1.
                parse_error(cx.t, e);
            }
        }
        // Read only for a frame with an address in a table (not for one the
        // filters let through by chance).
        let mut frame_ts = None;
        let mut ts = || *frame_ts.get_or_insert_with(|| frame_time(cx.clock, b, i, now));
        cx.tables.classify_hashed(d, kh, &mut ts, &mut s.matches);
        if !s.matches.is_empty() {
            let ts = ts();
            deliver(b, i, d, &s.matches, ts, cx);
        }
    }
}

/// The time of frame `i` of `b` under `clock`; `now` caches the wall clock, read
/// at most once per burst. Frame `i` is stamped `i` ns after it, so that frames
/// of one burst keep their order in time (a session's last packet and the
/// signalling that ends it may share a burst).
fn frame_time<B: RxBurst + ?Sized>(clock: Clock, b: &B, i: usize, now: &mut Option<u64>) -> u64 {
    let offset = u64::try_from(i).unwrap_or(u64::MAX);
    let mut wall = || now.get_or_insert_with(wall_clock_ns).saturating_add(offset);
    match clock {
        Clock::Source => b.timestamp(i).unwrap_or_else(wall),
        Clock::System => wall(),
    }
}

/// Stage 2's MAC part for screened frames, done in stage 1 with the frame at
/// hand: the tables, if they store a MAC target (most store none), and the
/// last pair screened at the start of a frame and inside one, with the
/// filter's answer. A link's frames carry few pairs (a router-to-router link
/// one, both ways: the answer is the same either way, so the memo keeps the
/// pair in address order), so most frames compare twelve bytes instead of
/// hashing two addresses. It lives for one burst: tables change only between
/// bursts.
struct MacScreen<'a> {
    tables: Option<&'a TableReplica>,
    last: [MacMemo; 2],
}

/// A MAC pair as [`mac_words`] reads it, lower address first, and whether
/// the MAC filter passes it.
#[derive(Clone, Copy)]
struct MacMemo {
    words: [u64; 2],
    passes: bool,
}

impl<'a> MacScreen<'a> {
    fn new(tables: &'a TableReplica) -> Self {
        // No pair reads as these words (a MAC is 48 bits): the first asks the filter.
        let none = MacMemo {
            words: [u64::MAX; 2],
            passes: false,
        };
        MacScreen {
            tables: tables.has_mac_targets().then_some(tables),
            last: [none; 2],
        }
    }

    /// 1 if the MAC filter lets an address of the MAC pair at the start of
    /// `frame`, or of the inner frame's at `inner_eth` (a mirror tunnel's or a
    /// pseudowire's, with a pair of its own), through.
    #[inline(always)]
    fn bit(&mut self, frame: &[u8], inner_eth: Option<usize>) -> u32 {
        let Some(tables) = self.tables else {
            return 0;
        };
        let [outer, inner] = &mut self.last;
        let passes = |memo: &mut MacMemo, f: &[u8]| {
            let [a, b] = mac_words(f);
            let words = [a.min(b), a.max(b)];
            if words != memo.words {
                *memo = MacMemo {
                    words,
                    passes: tables.mac_words_may_match(words),
                };
            }
            memo.passes
        };
        let inner_frame = inner_eth.and_then(|at| frame.get(at..));
        u32::from(passes(outer, frame) || inner_frame.is_some_and(|f| passes(inner, f)))
    }
}

/// Stage 1 for the common frames of the chunk of `b` from `start` (`len`
/// frames): those [`common_ipv4_untagged`] takes, their addresses in `v4` and,
/// for those the exact gate lets through, hashes in `kh`. Returns the bits of
/// the frames it took, of those that may match (the gate let them through or
/// a stored prefix may contain an address: the others need no stage 2), and
/// their bytes. Out of line, with the table's gate in a register: inside the
/// per-burst code, whose many live values left it few, it reloaded half its
/// operands from the stack every frame. The reading and the coarse gate come
/// first, in a loop of their own; the addresses it lets through are checked
/// against the finer gate after it (an address of a block of endpoints'
/// addresses alone, at an endpoint's port only), and the few frames that gate
/// passes are hashed from its bits:
/// one loop doing all kept too many values live and spilled them.
#[inline(never)]
fn screen_common_ipv4<B: RxBurst + ?Sized>(
    b: &B,
    start: usize,
    len: usize,
    hasher: V4Hasher<'_>,
    v4: &mut [[u32; 2]; CHUNK],
    kh: &mut [KeyHashes; CHUNK],
) -> (u32, u32, u64) {
    // Bits 2j and 2j + 1: the coarse gate lets frame j's source, destination through.
    let (mut taken, mut gated, mut bytes) = (0u32, 0u64, 0u64);
    for (j, v4) in v4.iter_mut().take(len).enumerate() {
        let i = start + j;
        b.prefetch(i + PREFETCH_AHEAD);
        let frame = b.frame(i);
        if let Some(addrs) = common_ipv4_untagged(frame) {
            bytes += frame.len() as u64;
            *v4 = addrs;
            gated |= hasher.block_bits(addrs) << (2 * j);
            taken |= 1 << j;
        }
    }
    // The finer gate of the addresses the coarse one let through, each alone:
    // in a block with targets, one address of a frame often lies and the
    // other not (a server's clients), and its coarse bit is known. `gate`:
    // bits 2j and 2j + 1 as in `gated`, both gates; `open`: the frames with
    // either.
    let (mut gate, mut open) = (0u64, 0u32);
    for k in bits(gated) {
        let (j, side) = (k / 2, k % 2);
        if let Some(&addr) = v4.get(j).and_then(|a| a.get(side)) {
            let bit = hasher.fine_bit(addr);
            gate |= bit << k;
            open |= (bit as u32) << j;
        }
    }
    if hasher.has_endpoints() {
        // Of the few addresses the finer gate let through, those of a block
        // of marked addresses alone (a media relay's) go on only at an
        // endpoint's port.
        for k in bits(gate) {
            let (j, side) = (k / 2, k % 2);
            if let Some(&addr) = v4.get(j).and_then(|a| a.get(side)) {
                if hasher.in_slot_bit(addr) == 0 {
                    let port = common_ipv4_untagged_port(b.frame(start + j), side);
                    if !hasher.may_be_endpoint(addr, port) {
                        gate &= !(1 << k);
                        open &= !(u32::from(gate >> (2 * j) & 3 == 0) << j);
                    }
                }
            }
        }
    }
    for j in bits(open) {
        if let (Some(&addrs), Some(kh)) = (v4.get(j), kh.get_mut(j)) {
            let pair = gate >> (2 * j);
            hasher.hash_gated(addrs, [pair & 1, pair >> 1 & 1], kh);
        }
    }
    if hasher.has_prefixes() {
        for j in bits(taken & !open) {
            if let Some(&addrs) = v4.get(j) {
                open |= u32::from(hasher.prefix_may_contain(addrs)) << j;
            }
        }
    }
    (taken, open, bytes)
}

/// [`screen_common_ipv4`] for another common shape of frame (untagged IPv6,
/// untagged IPv4 in GTP-U), over the frames of `left` (bits of the chunk of
/// `b` from `start`): those `screen` takes, what it read of them in `out.0`
/// and their hashes in `out.1`. Returns the bits of the frames it took and
/// their bytes. Every one of them goes through stage 2: IPv6 addresses
/// cluster in few blocks, and a tunnel's outer ones are few, so the gate
/// would rarely turn a frame away.
#[inline(never)]
fn screen_lane<B: RxBurst + ?Sized, A: Screened>(
    b: &B,
    (start, left): (usize, u32),
    screen: impl Fn(&[u8]) -> Option<A>,
    tables: &TableReplica,
    (read, kh): (&mut [A; CHUNK], &mut [KeyHashes; CHUNK]),
) -> (u32, u64) {
    let (mut taken, mut bytes) = (0u32, 0u64);
    for j in bits(left) {
        let i = start + j;
        b.prefetch(i + PREFETCH_AHEAD);
        let frame = b.frame(i);
        if let (Some(layers), Some(out), Some(kh)) = (screen(frame), read.get_mut(j), kh.get_mut(j))
        {
            bytes += frame.len() as u64;
            *out = layers;
            tables.hash_screened(out, kh);
            taken |= 1 << j;
        }
    }
    (taken, bytes)
}

/// Stage 2 of the frames of `mask` (bits of a chunk) a screen read into
/// `read` and hashed into `kh`, but for their MAC pairs: the bits of those
/// that may match, added to `pass`.
#[inline(always)]
fn filter_screened<A: Screened>(
    tables: &TableReplica,
    kh: &[KeyHashes; CHUNK],
    pass: &mut u32,
    mask: u32,
    read: &[A; CHUNK],
) {
    for j in bits(mask) {
        if let (Some(layers), Some(kh)) = (read.get(j), kh.get(j)) {
            *pass |= u32::from(tables.may_match_screened(layers, kh)) << j;
        }
    }
}

/// [`Link::tunnel_ipv4_ipv6`] out of line: only frames the screens before it
/// declined get there, and inlined, it slowed IPv4 in GTP-U by 12 %.
#[inline(never)]
fn screen_tunnel_ipv4_ipv6(link: Link<'_>) -> Option<TunnelV4V6> {
    link.tunnel_ipv4_ipv6()
}

/// Stage 1 for a frame the screens declined (tunnels, IPv4 options, fragments,
/// IPv6 extension headers, other protocols, malformed or cut frames):
/// [`dissect_cut`] (the frame had `wire_len` bytes on the wire), which hands
/// them to the general walker, then the hashes of every layer. A malformed
/// frame is classified by the layers before its fault (a cut capture or a bad
/// inner header does not hide its outer addresses); its error is returned to
/// be counted.
#[inline(never)]
fn dissect_other(
    frame: &[u8],
    wire_len: usize,
    d: &mut Dissection,
    kh: &mut KeyHashes,
    tables: &TableReplica,
) -> Result<(), ParseError> {
    let parsed = dissect_cut(frame, wire_len, d);
    tables.hash_keys(d, kh);
    parsed
}

/// Indices of the set bits of `mask`, lowest first.
#[inline(always)]
fn bits(mask: impl Into<u64>) -> impl Iterator<Item = usize> {
    let mut mask: u64 = mask.into();
    std::iter::from_fn(move || {
        let j = mask.trailing_zeros();
        mask &= mask.wrapping_sub(1);
        (j < 64).then_some(j as usize)
    })
}

#[cold]
fn parse_error(t: &mut Totals, e: ParseError) {
    if let Some(c) = t.parse_errors.get_mut(e.index()) {
        *c += 1;
    }
}

/// Hands matched frame `i` of `b` to the control plane (rare: off the hot path).
#[cold]
#[inline(never)]
fn deliver<B: RxBurst + ?Sized>(
    b: &B,
    i: usize,
    d: &Dissection,
    matches: &Matches,
    ts: u64,
    cx: &mut FrameCtx<'_>,
) {
    cx.t.matches += 1;
    let mut later = [&[][..]; MAX_LATER_SEGMENTS];
    let n = b.later_segments(i, &mut later);
    let frame = RxFrame {
        bytes: b.frame(i),
        later: later.get(..n).unwrap_or_default(),
        wire_len: b.wire_len(i),
    };
    let pushed = cx.handoff.push(frame, d, matches.as_slice(), ts, cx.id);
    cx.t.drops += pushed.dropped;
    cx.t.truncated += pushed.truncated;
    cx.t.signalling_drops += pushed.signalling_dropped;
}

/// The time up to which burst `b` has been handed off, under `clock`: its
/// last frame's (a source's frames come in order), or the wall clock now,
/// before which every frame of it was stamped. `now`: the wall clock as its
/// matches read it, if they did (its frames' times count from it).
fn burst_end<B: RxBurst + ?Sized>(clock: Clock, b: &B, mut now: Option<u64>) -> u64 {
    match b.len().checked_sub(1) {
        Some(last) => frame_time(clock, b, last, &mut now),
        None => wall_clock_ns(),
    }
}

/// Full bursts without a match between two moves of
/// [`WorkerStats::handed_off_until_ns`] under [`Clock::System`] (any other
/// burst moves it): moved every burst, its clock reads and atomic update
/// cost the worker about 2 ns a frame. At line rate 16 bursts take some
/// microseconds, and an idle poll moves it at once; until then it only
/// lags, never runs ahead.
const WATERMARK_EVERY: u64 = 16;

/// How far behind the wall clock's progress an idle worker of [`Clock::Source`]
/// keeps the time it publishes (a device clock may drift from the host's).
const SOURCE_CLOCK_MARGIN_NS: u64 = 1_000_000;

/// Runs the worker loop until `quit` is set or the source is exhausted.
pub fn run<S: PacketSource>(ctx: WorkerCtx<S>, quit: &AtomicBool) -> Exit {
    let WorkerCtx {
        id,
        mut source,
        mut tables,
        mut handoff,
        stats,
        clock,
        update_budget,
        armed,
    } = ctx;
    let mut path = BurstPath::default();
    // Time a burst was last handed off up to, and when (Clock::Source only).
    let mut last_burst: Option<(u64, Instant)> = None;
    tracing::info!(worker = id, "worker started");
    while !quit.load(Relaxed) {
        let applied = tables.apply_pending(update_budget);
        if !armed.load(Acquire) {
            stats.epoch.store(tables.epoch(), Relaxed);
            if applied == 0 {
                std::thread::sleep(Duration::from_micros(100));
            }
            continue;
        }
        let mut handed_off = None;
        let poll = source.poll_burst(|b| {
            let matched = path.t.matches;
            let now = path.process(b, &tables, &mut handoff, clock, id);
            // Skipped only on full bursts without a match, under the system
            // clock: a source's own clock runs on from the last burst's time
            // while idle, and a slower source (partial bursts, never idle)
            // or a match the control plane waits for must not wait 16 bursts.
            let skip = clock == Clock::System
                && b.len() >= CHUNK
                && path.t.matches == matched
                && !path.t.busy.is_multiple_of(WATERMARK_EVERY);
            if !skip {
                handed_off = Some(burst_end(clock, b, now));
            }
        });
        let t = &mut path.t;
        let handed_off = match poll {
            Poll::Frames(_) => {
                t.busy += 1;
                if let (Some(ns), Clock::Source) = (handed_off, clock) {
                    last_burst = Some((ns, Instant::now()));
                }
                handed_off
            }
            Poll::Idle => {
                t.idle += 1;
                match clock {
                    Clock::System => Some(wall_clock_ns()),
                    // A source of its own time stamps: its clock has run on
                    // since the last burst, less a margin for its drift.
                    Clock::Source => last_burst.map(|(ns, at)| {
                        let ran = u64::try_from(at.elapsed().as_nanos()).unwrap_or(u64::MAX);
                        ns.saturating_add(ran.saturating_sub(SOURCE_CLOCK_MARGIN_NS))
                    }),
                }
            }
            Poll::Exhausted => {
                t.publish(&stats, tables.epoch());
                stats.handed_off_until_ns.store(u64::MAX, Release);
                tracing::info!(worker = id, "source exhausted");
                return Exit::Exhausted;
            }
        };
        t.publish(&stats, tables.epoch());
        if let Some(ns) = handed_off {
            stats.handed_off_until_ns.fetch_max(ns, Release);
        }
    }
    Exit::Quit
}

/// Starts [`run`] on its own thread, pinned to `core` if given.
///
/// # Errors
/// If the thread cannot be created.
pub fn spawn<S: PacketSource + Send + 'static>(
    ctx: WorkerCtx<S>,
    core: Option<usize>,
    quit: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<Exit>> {
    std::thread::Builder::new()
        .name(format!("worker-{}", ctx.id))
        .spawn(move || {
            if let Some(id) = core {
                if !core_affinity::set_for_current(core_affinity::CoreId { id }) {
                    tracing::warn!(worker = ctx.id, core = id, "cannot pin worker to core");
                }
            }
            run(ctx, &quit)
        })
}
