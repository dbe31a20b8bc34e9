//! Worker → control hand-off: per-worker SPSC rings of pre-allocated records.
//!
//! Two bounded wait-free SPSC rings of boxed records circulate between one worker
//! (producer) and one control-plane task (consumer): the consumer returns drained
//! records on the free ring, the worker fills free records and pushes them on the full
//! ring. Nothing is allocated after [`channel`]; a worker that finds no free record
//! counts a drop and moves on, it never waits. The worker fills the records
//! returned last first, so the few in use stay in a cache, and prefetches the
//! next ones ahead of the matches that fill them: a match is rare enough that
//! waiting for memory on each would cost more than the rest of its hand-off.
//!
//! Records are homogeneous in mode: matches of Content intercepts go into records
//! holding the whole frame, matches of Headers intercepts into records holding only
//! `frame[..header_len]`. A Headers-mode intercept therefore never shares a record
//! with payload bytes. They are homogeneous in the [`Layer`] matched as well: each
//! says where, in its frame, the packet of that layer is ([`Packet`]), from what
//! the worker's dissection already found, so the control plane delivers the
//! target's own packet without parsing the frame again.
#![forbid(unsafe_code)]

use crate::parse::{Dissection, IpPair, IpSpan};
use crate::targets::{Direction, Mode};
pub use crate::targets::{Layer, Match};

/// Most intercept matches one record carries; a packet matching more intercepts is
/// handed off in several records (nothing is lost).
pub const MAX_MATCHES: usize = 8;

/// Default frame capacity of a record: a 9216-byte jumbo frame.
pub const DEFAULT_FRAME_CAPACITY: usize = 9216;

/// Key of the probe's own signalling intercept (the configured NAS, DHCP
/// servers and relays): its matches go to the producer's signalling ring
/// ([`HandoffProducer::with_signalling`]), never to the content ring. The
/// control plane never gives an intercept this key.
pub const SIGNALLING_KEY: u32 = u32::MAX;

/// Bytes of a record's buffer prefetched before the first copy into it.
const FIRST_PREFETCH: usize = 256;
const CACHE_LINE: usize = 64;
/// Records a producer fills between two reads of its free ring.
const COLLECT_EVERY: usize = 16;

const NO_MATCH: Match = Match {
    key: 0,
    mode: Mode::Headers,
    direction: Direction::FromTarget,
    layer: Layer::Ip(0),
};

/// What a record's [`Packet`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PacketKind {
    /// No packet of the matched layer (not in the bytes at hand).
    #[default]
    None,
    /// An IPv4 packet.
    Ipv4,
    /// An IPv6 packet.
    Ipv6,
    /// An Ethernet frame with no IP packet inside (a MAC target's ARP, ...).
    Ethernet,
}

/// The target's packet in a record's frame: the IP packet of the layer matched
/// (a MAC target's: the first IP packet in its frame, else the frame itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Packet {
    /// What it is.
    pub kind: PacketKind,
    /// Offset of its first byte in the frame.
    pub at: u16,
    /// Offset of its transport header (or what its IP header carries).
    pub l4: u16,
    /// End of its headers: past its TCP/UDP/ICMP header, if it has one.
    pub end: u16,
    /// Its addresses (IP packets).
    pub addrs: Option<IpPair>,
    /// The protocol at `l4` (0 if none).
    pub proto: u8,
    /// Its TCP or UDP ports (source, destination), if it has whole such a header.
    pub ports: Option<(u16, u16)>,
}

impl Packet {
    /// The packet of `layer` in `frame`, dissected into `d`.
    fn of(layer: Layer, d: &Dissection, frame: &[u8]) -> Packet {
        let ip = |i: usize| {
            let span: &IpSpan = d.spans().get(i)?;
            let addrs = d.ips().nth(i)?;
            let kind = match addrs {
                IpPair::V4 { .. } => PacketKind::Ipv4,
                IpPair::V6 { .. } => PacketKind::Ipv6,
            };
            let l4 = usize::from(span.l4);
            let ports = match (span.proto, frame.get(l4..l4 + 4)) {
                (6 | 17, Some(p)) if usize::from(span.end) > l4 => Some((
                    u16::from_be_bytes([p[0], p[1]]),
                    u16::from_be_bytes([p[2], p[3]]),
                )),
                _ => None,
            };
            Some(Packet {
                kind,
                at: span.at,
                l4: span.l4,
                end: span.end,
                addrs: Some(addrs),
                proto: span.proto,
                ports,
            })
        };
        match layer {
            Layer::Ip(i) => ip(usize::from(i)),
            Layer::Ethernet(i) => {
                let at = d.eth_offsets().get(usize::from(i)).copied();
                at.and_then(|at| {
                    // The IP packet of the frame: the first one after its header.
                    let first = d.spans().iter().position(|s| s.at > at);
                    first.and_then(ip).or(Some(Packet {
                        kind: PacketKind::Ethernet,
                        at,
                        l4: d.header_len,
                        end: d.header_len,
                        ..Packet::default()
                    }))
                })
            }
        }
        .unwrap_or_default()
    }
}

/// A received frame as the hand-off sees it.
#[derive(Clone, Copy, Debug)]
pub struct RxFrame<'a> {
    /// The bytes received (all of them, or the first segment / the captured part).
    pub bytes: &'a [u8],
    /// The bytes received after `bytes`, in order (a multi-segment mbuf's later
    /// segments): a content copy holds them too.
    pub later: &'a [&'a [u8]],
    /// Its length on the wire: above the bytes' when only part was received.
    pub wire_len: u32,
}

impl<'a> RxFrame<'a> {
    /// A frame received whole.
    pub fn whole(bytes: &'a [u8]) -> RxFrame<'a> {
        RxFrame {
            bytes,
            later: &[],
            wire_len: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
        }
    }
}

/// A packet (or its headers) with the intercepts it matched. Lives in a pre-allocated
/// buffer that is recycled after the consumer has seen it.
#[derive(Debug)]
pub struct Record {
    buf: Box<[u8]>,
    len: usize,
    matches: [Match; MAX_MATCHES],
    match_count: u8,
    mode: Mode,
    timestamp_ns: u64,
    wire_len: u32,
    header_len: u16,
    l3_offset: Option<u16>,
    packet: Packet,
    worker: u16,
    truncated: bool,
}

impl Record {
    fn new(frame_capacity: usize) -> Box<Self> {
        Box::new(Self {
            buf: vec![0; frame_capacity].into_boxed_slice(),
            len: 0,
            matches: [NO_MATCH; MAX_MATCHES],
            match_count: 0,
            mode: Mode::Headers,
            timestamp_ns: 0,
            wire_len: 0,
            header_len: 0,
            l3_offset: None,
            packet: Packet::default(),
            worker: 0,
            truncated: false,
        })
    }

    /// Hints the CPU to pull in this record's header: its last writer was
    /// this core a whole ring ago, or the consumer.
    fn prefetch_header(&self) {
        let at = std::ptr::from_ref(self).cast::<u8>();
        for off in (0..size_of::<Self>()).step_by(CACHE_LINE) {
            crate::dpdk::prefetch_write(at.wrapping_add(off));
        }
    }

    /// Hints the CPU to pull in the first `len` bytes of this record's buffer.
    fn prefetch_buffer(&self, len: usize) {
        for off in (0..len.min(self.buf.len())).step_by(CACHE_LINE) {
            crate::dpdk::prefetch_write(self.buf.as_ptr().wrapping_add(off));
        }
    }

    /// Intercepts this record is delivered to (1..=[`MAX_MATCHES`]), all of [`Self::mode`].
    pub fn matches(&self) -> &[Match] {
        &self.matches[..usize::from(self.match_count).min(MAX_MATCHES)]
    }
    /// Mode of every match in this record: Content records hold the frame, Headers
    /// records only `frame[..header_len]`.
    pub fn mode(&self) -> Mode {
        self.mode
    }
    /// Capture time, ns since the Unix epoch (source timestamp or worker clock).
    pub fn timestamp_ns(&self) -> u64 {
        self.timestamp_ns
    }
    /// Length of the frame on the wire (may exceed `data().len()`).
    pub fn wire_len(&self) -> u32 {
        self.wire_len
    }
    /// End of the innermost parsed header in the frame (see [`Dissection::header_len`]).
    pub fn header_len(&self) -> u16 {
        self.header_len
    }
    /// Offset of the outermost IP header, `None` for non-IP frames.
    pub fn l3_offset(&self) -> Option<u16> {
        self.l3_offset
    }
    /// The packet of the layer every match of this record was made on.
    pub fn packet(&self) -> &Packet {
        &self.packet
    }
    /// Worker that captured the packet.
    pub fn worker(&self) -> u16 {
        self.worker
    }
    /// True if the copy was cut at the record capacity (frame larger than it).
    pub fn truncated(&self) -> bool {
        self.truncated
    }
    /// Copied bytes: the frame (Content) or exactly its headers (Headers).
    pub fn data(&self) -> &[u8] {
        &self.buf[..self.len.min(self.buf.len())]
    }
}

/// Worker side of a hand-off channel.
pub struct HandoffProducer {
    content: Ring,
    /// Where matches of [`SIGNALLING_KEY`] go.
    signalling: Option<Ring>,
}

/// One channel as its producer holds it: the free records it holds, filled
/// last-returned first, the next one's header and buffer prefetched and the
/// one after's header, so neither finding the buffer nor the copy into it
/// waits for memory.
///
/// Last-returned first keeps the records in use few: as many as are in
/// flight to the consumer and back, whose lines are still in a cache, rather
/// than the whole channel rotating through memory as a queue's order would
/// have it (4096 records of which each match touches eight lines are 2 MiB).
struct Ring {
    full: rtrb::Producer<Box<Record>>,
    free: rtrb::Consumer<Box<Record>>,
    /// Free records taken off the free ring, the last returned on top: the
    /// last is filled next. Room for every record of the channel.
    #[expect(clippy::vec_box, reason = "records move between rings by pointer")]
    stash: Vec<Box<Record>>,
    /// Records filled since the free ring was last read.
    filled_since_collect: usize,
    /// Bytes copied into the last record: what to prefetch of the next.
    last_len: usize,
}

impl Ring {
    /// The record to fill now, if a free one is left.
    fn take(&mut self) -> Option<Box<Record>> {
        if self.stash.is_empty() {
            self.collect();
        }
        self.filled_since_collect += 1;
        self.stash.pop()
    }

    /// Moves every record the consumer has returned onto the stash, in the
    /// order returned (within its capacity: never allocates). Reading the
    /// free ring's index costs a line the consumer wrote, so this runs once
    /// in [`COLLECT_EVERY`] records filled, or when the stash runs dry.
    fn collect(&mut self) {
        self.filled_since_collect = 0;
        if let Ok(returned) = self.free.read_chunk(self.free.slots()) {
            self.stash.extend(returned);
        }
    }

    /// Prefetches the records of the next two matches.
    fn ready_next(&mut self) {
        if self.filled_since_collect >= COLLECT_EVERY || self.stash.len() < 2 {
            self.collect();
        }
        let mut ahead = self.stash.iter().rev();
        if let Some(next) = ahead.next() {
            next.prefetch_buffer(self.last_len);
        }
        if let Some(after) = ahead.next() {
            after.prefetch_header();
        }
    }

    /// Keeps a record that could not be handed off for the next match (it
    /// came off the stash, so there is room: never allocates).
    fn give_back(&mut self, rec: Box<Record>) {
        self.stash.push(rec);
    }
}

/// Control side of a hand-off channel.
pub struct HandoffConsumer {
    full: rtrb::Consumer<Box<Record>>,
    free: rtrb::Producer<Box<Record>>,
}

/// What one [`HandoffProducer::push`] did, for the worker's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pushed {
    /// Records handed off.
    pub records: u64,
    /// Records that could not be handed off because no free record was available.
    pub dropped: u64,
    /// Records whose copy was cut at the record capacity.
    pub truncated: u64,
    /// Signalling records lost to a full signalling ring (or to none).
    pub signalling_dropped: u64,
}

impl Pushed {
    fn add(&mut self, other: Pushed) {
        self.records += other.records;
        self.dropped += other.dropped;
        self.truncated += other.truncated;
        self.signalling_dropped += other.signalling_dropped;
    }
}

/// A hand-off channel of `capacity` records (at least 1) of `frame_capacity` bytes each,
/// all allocated now.
pub fn channel(capacity: usize, frame_capacity: usize) -> (HandoffProducer, HandoffConsumer) {
    let capacity = capacity.max(1);
    let (mut free_in, free) = rtrb::RingBuffer::new(capacity);
    for _ in 0..capacity {
        // Cannot fail: exactly `capacity` records go into a ring of that capacity.
        let _ = free_in.push(Record::new(frame_capacity));
    }
    let (full, full_out) = rtrb::RingBuffer::new(capacity);
    let content = Ring {
        full,
        free,
        stash: Vec::with_capacity(capacity),
        filled_since_collect: 0,
        last_len: FIRST_PREFETCH,
    };
    (
        HandoffProducer {
            content,
            signalling: None,
        },
        HandoffConsumer {
            full: full_out,
            free: free_in,
        },
    )
}

impl HandoffProducer {
    /// This producer, with matches of [`SIGNALLING_KEY`] going to `ring`'s
    /// channel (in content records), apart from every other match.
    #[must_use]
    pub fn with_signalling(mut self, ring: HandoffProducer) -> Self {
        self.signalling = Some(ring.content);
        self
    }

    /// Hands off one matched frame: Content matches in records holding the frame,
    /// Headers matches in records holding exactly `frame[..d.header_len]`, at most
    /// [`MAX_MATCHES`] matches per record, of one [`Layer`] each. A Content record is flagged truncated
    /// when it holds less than the wire frame (record capacity, or `frame` only
    /// partly received). Matches of [`SIGNALLING_KEY`] go, in content records,
    /// to the signalling ring. Never allocates, never waits.
    pub fn push(
        &mut self,
        frame: RxFrame<'_>,
        d: &Dissection,
        matches: &[Match],
        timestamp_ns: u64,
        worker: u16,
    ) -> Pushed {
        let mut out = Pushed::default();
        let stamp = (timestamp_ns, worker);
        let content = (frame.bytes, frame.later, frame.wire_len as usize);
        let h = &frame.bytes[..usize::from(d.header_len).min(frame.bytes.len())];
        let headers = (h, &[][..], h.len());
        // One record group per (class, layer) present, in `group`'s order.
        let mut groups = matches.iter().fold(0u32, |bits, m| bits | 1 << group(m));
        while groups != 0 {
            let g = groups.trailing_zeros() as usize;
            groups &= groups - 1;
            let layer = Layer::ALL[g % Layer::ALL.len()];
            let class = g / Layer::ALL.len();
            let (ring, mode, data) = match class {
                CONTENT => (Some(&mut self.content), Mode::Content, content),
                HEADERS => (Some(&mut self.content), Mode::Headers, headers),
                _ => (self.signalling.as_mut(), Mode::Content, content),
            };
            let Some(ring) = ring else {
                out.signalling_dropped += 1;
                continue;
            };
            let of = |m: &Match| group(m) == g;
            let p = push_group(ring, frame, data, d, matches, of, mode, layer, stamp);
            if class == SIGNALLING {
                out.signalling_dropped += p.dropped;
                out.truncated += p.truncated;
            } else {
                out.add(p);
            }
        }
        out
    }
}

/// Record classes, in the order a push hands them off: content matches,
/// headers matches, signalling matches.
const CONTENT: usize = 0;
const HEADERS: usize = 1;
const SIGNALLING: usize = 2;

/// The record group of `m`: its class and layer, as a bit index (3 classes
/// of `Layer::ALL.len()` layers fit a u32).
fn group(m: &Match) -> usize {
    let class = match (m.key, m.mode) {
        (SIGNALLING_KEY, _) => SIGNALLING,
        (_, Mode::Content) => CONTENT,
        (_, Mode::Headers) => HEADERS,
    };
    class * Layer::ALL.len() + m.layer.index()
}

/// [`HandoffProducer::push`] onto `ring` for the matches `of`
/// selects, all of `mode` and made on `layer`; `data` is what a record copies
/// (the first bytes, the later segments, the whole length).
#[allow(clippy::too_many_arguments)]
fn push_group(
    ring: &mut Ring,
    frame: RxFrame<'_>,
    (data, later, whole): (&[u8], &[&[u8]], usize),
    d: &Dissection,
    matches: &[Match],
    of: impl Fn(&Match) -> bool,
    mode: Mode,
    layer: Layer,
    (timestamp_ns, worker): (u64, u16),
) -> Pushed {
    let mut out = Pushed::default();
    let mut of_mode = matches.iter().filter(|m| of(m)).peekable();
    if of_mode.peek().is_none() {
        return out;
    }
    let packet = Packet::of(layer, d, frame.bytes);
    while of_mode.peek().is_some() {
        let Some(mut rec) = ring.take() else {
            out.dropped += 1;
            of_mode.by_ref().take(MAX_MATCHES).for_each(drop);
            continue;
        };
        let mut n = 0;
        for (slot, m) in rec.matches.iter_mut().zip(of_mode.by_ref()) {
            *slot = *m;
            n += 1;
        }
        rec.match_count = n;
        rec.mode = mode;
        let mut len = 0;
        let mut received = 0;
        for piece in std::iter::once(data).chain(later.iter().copied()) {
            let room = &mut rec.buf[len..];
            let n = piece.len().min(room.len());
            room[..n].copy_from_slice(&piece[..n]);
            len += n;
            received += piece.len();
        }
        rec.len = len;
        ring.last_len = len;
        rec.truncated = len < whole.max(received);
        rec.timestamp_ns = timestamp_ns;
        rec.wire_len = frame.wire_len;
        rec.header_len = d.header_len;
        rec.l3_offset = d.l3_offset;
        rec.packet = packet;
        rec.worker = worker;
        out.truncated += u64::from(rec.truncated);
        match ring.full.push(rec) {
            Ok(()) => out.records += 1,
            // Unreachable (both rings hold every record), but never lose a buffer.
            Err(rtrb::PushError::Full(rec)) => {
                out.dropped += 1;
                ring.give_back(rec);
            }
        }
    }
    ring.ready_next();
    out
}

impl HandoffConsumer {
    /// Calls `f` on up to `max` handed-off records, oldest first, and recycles each
    /// afterwards. Returns how many were drained.
    pub fn drain(&mut self, max: usize, mut f: impl FnMut(&Record)) -> usize {
        let mut n = 0;
        while n < max {
            let Ok(rec) = self.full.pop() else {
                break;
            };
            f(&rec);
            // Cannot fail: the free ring has room for every record.
            let _ = self.free.push(rec);
            n += 1;
        }
        n
    }

    /// Records waiting to be drained.
    pub fn pending(&self) -> usize {
        self.full.slots()
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn m(key: u32, mode: Mode) -> Match {
        Match {
            key,
            mode,
            direction: Direction::ToTarget,
            layer: Layer::Ip(0),
        }
    }

    fn dissection(header_len: u16) -> Dissection {
        let mut d = Dissection::default();
        d.header_len = header_len;
        d
    }

    #[test]
    fn headers_records_hold_only_headers_and_content_records_the_frame() {
        let (mut p, mut c) = channel(4, 64);
        let frame: Vec<u8> = (0..40).collect();
        let pushed = p.push(
            RxFrame::whole(&frame),
            &dissection(14),
            &[m(1, Mode::Headers), m(2, Mode::Content)],
            7,
            3,
        );
        assert_eq!(
            pushed,
            Pushed {
                records: 2,
                dropped: 0,
                truncated: 0,
                signalling_dropped: 0
            }
        );
        let mut seen = Vec::new();
        c.drain(10, |r| {
            seen.push((r.mode(), r.matches().to_vec(), r.data().to_vec()))
        });
        assert_eq!(
            seen,
            vec![
                (Mode::Content, vec![m(2, Mode::Content)], frame.clone()),
                (
                    Mode::Headers,
                    vec![m(1, Mode::Headers)],
                    frame[..14].to_vec()
                ),
            ]
        );
    }

    #[test]
    fn splits_more_than_max_matches_and_counts_drops_when_full() {
        let (mut p, mut c) = channel(2, 64);
        let many: Vec<Match> = (0..20).map(|k| m(k, Mode::Content)).collect();
        let pushed = p.push(RxFrame::whole(&[1; 10]), &dissection(0), &many, 0, 0);
        assert_eq!(
            pushed,
            Pushed {
                records: 2,
                dropped: 1,
                truncated: 0,
                signalling_dropped: 0
            }
        );
        let mut keys = Vec::new();
        assert_eq!(
            c.drain(10, |r| keys.extend(r.matches().iter().map(|x| x.key))),
            2
        );
        assert_eq!(keys, (0..16).collect::<Vec<_>>());
        let pushed = p.push(RxFrame::whole(&[1; 10]), &dissection(0), &many[..9], 0, 0);
        assert_eq!(pushed.records, 2);
    }

    #[test]
    fn every_record_comes_back_however_pushes_and_drains_interleave() {
        // More records than one collection's worth, fewer than two: the
        // worker's stash and prefetching never keep a record from the full
        // ring or lose one.
        let capacity = COLLECT_EVERY + 5;
        let (mut p, mut c) = channel(capacity, 64);
        let one = [m(1, Mode::Content)];
        let mut next = 0u64;
        for round in 0..200u64 {
            let pushes = round % (2 * capacity as u64);
            let mut records = 0;
            for _ in 0..pushes {
                let frame = next.to_be_bytes();
                records += p
                    .push(RxFrame::whole(&frame), &dissection(0), &one, next, 0)
                    .records;
                next += 1;
            }
            assert_eq!(records, pushes.min(capacity as u64), "round {round}");
            let mut stamps = Vec::new();
            c.drain(usize::MAX, |r| {
                assert_eq!(r.data(), r.timestamp_ns().to_be_bytes());
                stamps.push(r.timestamp_ns());
            });
            let first = next - pushes;
            let expected: Vec<u64> = (first..first + records).collect();
            assert_eq!(stamps, expected, "round {round}");
        }
    }

    #[test]
    fn records_are_refilled_last_returned_first() {
        // One match at a time, drained at once: a queue's order would cycle
        // through all 64 buffers, the stash's reuses those filled between
        // two reads of the free ring.
        let (mut p, mut c) = channel(64, 64);
        let mut buffers = std::collections::HashSet::new();
        for i in 0..200u64 {
            let frame = i.to_be_bytes();
            let pushed = p.push(
                RxFrame::whole(&frame),
                &dissection(0),
                &[m(1, Mode::Content)],
                i,
                0,
            );
            assert_eq!(pushed.records, 1);
            assert_eq!(
                c.drain(1, |r| {
                    assert_eq!(r.data(), frame);
                    buffers.insert(r.data().as_ptr() as usize);
                }),
                1
            );
        }
        assert!(
            buffers.len() <= COLLECT_EVERY + 2,
            "{} buffers in use",
            buffers.len()
        );
    }

    #[test]
    fn truncates_frames_longer_than_capacity_and_flags_them() {
        let (mut p, mut c) = channel(1, 8);
        let pushed = p.push(
            RxFrame::whole(&[9; 20]),
            &dissection(4),
            &[m(1, Mode::Content)],
            0,
            0,
        );
        assert_eq!(
            pushed,
            Pushed {
                records: 1,
                dropped: 0,
                truncated: 1,
                signalling_dropped: 0
            }
        );
        c.drain(1, |r| {
            assert!(r.truncated());
            assert_eq!(r.data(), &[9; 8]);
            assert_eq!(r.wire_len(), 20);
        });
    }

    #[test]
    fn flags_content_of_a_partly_received_frame_but_not_its_complete_headers() {
        let (mut p, mut c) = channel(2, 64);
        let frame = RxFrame {
            bytes: &[5; 30],
            later: &[],
            wire_len: 1500,
        };
        let both = [m(1, Mode::Content), m(2, Mode::Headers)];
        let pushed = p.push(frame, &dissection(20), &both, 0, 0);
        assert_eq!((pushed.records, pushed.truncated), (2, 1));
        let mut seen = Vec::new();
        c.drain(2, |r| {
            seen.push((r.mode(), r.truncated(), r.data().len(), r.wire_len()))
        });
        assert_eq!(
            seen,
            vec![
                (Mode::Content, true, 30, 1500),
                (Mode::Headers, false, 20, 1500)
            ]
        );
    }

    #[test]
    fn copies_later_segments_after_the_first_in_content_mode_only() {
        let (mut p, mut c) = channel(4, 64);
        let frame = RxFrame {
            bytes: &[1; 30],
            later: &[&[2; 20], &[3; 20]],
            wire_len: 70,
        };
        let both = [m(1, Mode::Content), m(2, Mode::Headers)];
        assert_eq!(p.push(frame, &dissection(20), &both, 0, 0).truncated, 1);
        let mut seen = Vec::new();
        c.drain(2, |r| {
            seen.push((r.mode(), r.truncated(), r.data().to_vec()))
        });
        let mut content = vec![1; 30];
        content.extend([2; 20]);
        content.extend([3; 14]);
        assert_eq!(
            seen,
            vec![
                (Mode::Content, true, content),
                (Mode::Headers, false, vec![1; 20])
            ]
        );
    }

    #[test]
    fn signalling_matches_go_to_their_own_ring_in_content_records() {
        let (content, mut c) = channel(4, 64);
        let (sig, mut sc) = channel(1, 64);
        let mut p = content.with_signalling(sig);
        let frame: Vec<u8> = (0..40).collect();
        let both = [m(SIGNALLING_KEY, Mode::Content), m(2, Mode::Headers)];
        let pushed = p.push(RxFrame::whole(&frame), &dissection(14), &both, 7, 3);
        assert_eq!((pushed.records, pushed.signalling_dropped), (1, 0));
        let mut seen = Vec::new();
        c.drain(10, |r| seen.push((r.matches().to_vec(), r.data().len())));
        assert_eq!(seen, vec![(vec![m(2, Mode::Headers)], 14)]);
        let mut seen = Vec::new();
        sc.drain(10, |r| {
            seen.push((r.mode(), r.matches().to_vec(), r.data().to_vec()))
        });
        assert_eq!(seen, vec![(Mode::Content, vec![both[0]], frame.clone())]);
        // The signalling ring full (one record, not drained): counted apart,
        // the content ring unaffected.
        let sig_only = [m(SIGNALLING_KEY, Mode::Content)];
        assert_eq!(
            p.push(RxFrame::whole(&frame), &dissection(14), &sig_only, 8, 3)
                .signalling_dropped,
            0
        );
        let pushed = p.push(RxFrame::whole(&frame), &dissection(14), &both, 9, 3);
        assert_eq!(
            (pushed.records, pushed.dropped, pushed.signalling_dropped),
            (1, 0, 1)
        );
        assert_eq!((sc.pending(), c.pending()), (1, 1));
    }

    #[test]
    fn signalling_matches_without_a_ring_are_counted_lost() {
        let (mut p, c) = channel(4, 64);
        let pushed = p.push(
            RxFrame::whole(&[1; 20]),
            &dissection(14),
            &[m(SIGNALLING_KEY, Mode::Content)],
            0,
            0,
        );
        assert_eq!((pushed.records, pushed.signalling_dropped), (0, 1));
        assert_eq!(c.pending(), 0);
    }
}
