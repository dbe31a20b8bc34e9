//! The worker loop end to end on a real capture file: pcap source → dissect →
//! classify → hand-off. Every record handed off is compared, packet by packet, with
//! the expected set; headers-mode records must hold no payload byte.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dataplane::handoff::{channel, HandoffConsumer, DEFAULT_FRAME_CAPACITY};
use dataplane::parse::{dissect, Dissection, ParseError};
use dataplane::source::{FrameBuf, PacketSource, PcapSource, Poll, RxBurst};
use dataplane::synth::{write_pcap, write_pcap_cut, Frame};
use dataplane::targets::{
    replicas, Direction, InterceptSpec, Mode, Slot, TableWriter, Target, Update,
};
use dataplane::worker::{spawn, Clock, Exit, WorkerCtx, WorkerStats};

#[path = "classify_encaps.rs"]
mod corpus;

use corpus::{corpus, load_updates, load_updates_but, mode_of, o4, t4, PAYLOAD, PREFIX_KEYS};

const BASE_NS: u64 = 1_700_000_000_000_000_000;
const WAIT: Duration = Duration::from_secs(30);

/// One record as the control plane sees it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Rec {
    ts: u64,
    mode: u8,
    keys: Vec<(u32, u8)>,
    data: Vec<u8>,
    wire_len: u32,
}

fn dir_code(d: Direction) -> u8 {
    d as u8
}

fn mode(m: Mode) -> u8 {
    m as u8
}

/// The records a frame with matches `expect` must give: one per mode present, the
/// whole frame for Content, the frame without its payload for Headers.
fn expected(ts: u64, frame: &[u8], expect: &[(u32, Direction)]) -> Vec<Rec> {
    let mut out = Vec::new();
    for m in [Mode::Content, Mode::Headers] {
        let keys: Vec<(u32, u8)> = expect
            .iter()
            .filter(|(k, _)| mode_of(*k) == m)
            .map(|&(k, d)| (k, dir_code(d)))
            .collect();
        if keys.is_empty() {
            continue;
        }
        let data = match m {
            Mode::Content => frame.to_vec(),
            Mode::Headers => frame[..frame.len() - PAYLOAD.len()].to_vec(),
        };
        out.push(Rec {
            ts,
            mode: mode(m),
            keys,
            data,
            wire_len: frame.len() as u32,
        });
    }
    out
}

fn drain(c: &mut HandoffConsumer) -> Vec<Rec> {
    let mut out = Vec::new();
    c.drain(usize::MAX, |r| {
        assert!(r.matches().len() <= dataplane::handoff::MAX_MATCHES);
        assert!(r.wire_len() as usize >= r.data().len());
        assert_eq!(r.worker(), 3);
        let mut keys: Vec<(u32, u8)> = r
            .matches()
            .iter()
            .map(|m| {
                assert_eq!(m.mode, r.mode());
                (m.key, dir_code(m.direction))
            })
            .collect();
        keys.sort();
        if r.mode() == Mode::Headers {
            assert_eq!(usize::from(r.header_len()), r.data().len());
        }
        out.push(Rec {
            ts: r.timestamp_ns(),
            mode: mode(r.mode()),
            keys,
            data: r.data().to_vec(),
            wire_len: r.wire_len(),
        });
    });
    // A frame matched on several layers comes in a record per layer: one
    // Rec per frame and mode, as `expected` gives.
    out.sort();
    out.dedup_by(|later, first| {
        // Two equal frames stamped alike match the same intercepts; one frame's
        // records of different layers, different ones.
        let same = (later.ts, later.mode, &later.data) == (first.ts, first.mode, &first.data)
            && !later.keys.iter().any(|k| first.keys.contains(k));
        if same {
            first.keys.append(&mut later.keys);
            first.keys.sort();
        }
        same
    });
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

struct Running {
    writer: TableWriter,
    consumer: HandoffConsumer,
    stats: Arc<WorkerStats>,
    armed: Arc<AtomicBool>,
    handle: JoinHandle<Exit>,
}

/// Starts a worker (unarmed) on `source`, with a hand-off ring of `records`.
fn start<S: PacketSource + Send + 'static>(source: S, records: usize, clock: Clock) -> Running {
    let (writer, mut rs) = replicas(1, 1024);
    let (handoff, consumer) = channel(records, DEFAULT_FRAME_CAPACITY);
    let stats = Arc::new(WorkerStats::default());
    let armed = Arc::new(AtomicBool::new(false));
    let ctx = WorkerCtx {
        id: 3,
        source,
        tables: rs.remove(0),
        handoff,
        stats: Arc::clone(&stats),
        clock,
        update_budget: 64,
        armed: Arc::clone(&armed),
    };
    let handle = spawn(ctx, None, Arc::new(AtomicBool::new(false))).unwrap();
    Running {
        writer,
        consumer,
        stats,
        armed,
        handle,
    }
}

/// Loads `updates` before the first packet, then lets the worker run to the end.
fn run_to_end(path: &Path, updates: &[Update], records: usize) -> (Vec<Rec>, Arc<WorkerStats>) {
    let mut r = start(PcapSource::open(path, 8).unwrap(), records, Clock::Source);
    let e = r.writer.send(updates);
    assert!(r.writer.wait_applied(e, WAIT));
    r.armed.store(true, Ordering::Release);
    assert_eq!(r.handle.join().unwrap(), Exit::Exhausted);
    (drain(&mut r.consumer), r.stats)
}

fn write(dir: &Path, frames: &[Vec<u8>]) -> (std::path::PathBuf, Vec<(u64, Vec<u8>)>) {
    let stamped: Vec<(u64, Vec<u8>)> = frames
        .iter()
        .enumerate()
        .map(|(i, f)| (BASE_NS + 1000 * i as u64, f.clone()))
        .collect();
    let path = dir.join("in.pcap");
    write_pcap(&path, &stamped).unwrap();
    (path, stamped)
}

#[test]
fn hands_off_exactly_the_expected_records_and_no_payload_in_headers_mode() {
    let dir = tempfile::tempdir().unwrap();
    let cases = corpus();
    let mut frames: Vec<Vec<u8>> = cases.iter().map(|c| c.frame.clone()).collect();
    // An unparseable frame (IPv4 header cut short) is counted and dropped.
    frames.push(cases[0].frame[..14 + 12].to_vec());
    let (path, stamped) = write(dir.path(), &frames);
    let mut want: Vec<Rec> = cases
        .iter()
        .zip(&stamped)
        .flat_map(|(c, (ts, f))| expected(*ts, f, &c.expect))
        .collect();
    want.sort();

    let (got, stats) = run_to_end(&path, &load_updates(), 512);
    assert_eq!(got, want);
    for r in got.iter().filter(|r| r.mode == mode(Mode::Headers)) {
        assert!(
            !contains(&r.data, PAYLOAD),
            "payload in headers record at {}",
            r.ts
        );
        assert!(!contains(&r.data, b"\xde\xad\xbe\xef"));
    }
    let matched = cases.iter().filter(|c| !c.expect.is_empty()).count() as u64;
    assert_eq!(
        stats.rx_packets.load(Ordering::Relaxed),
        frames.len() as u64
    );
    assert_eq!(
        stats.rx_bytes.load(Ordering::Relaxed),
        frames.iter().map(|f| f.len() as u64).sum::<u64>()
    );
    assert_eq!(stats.matches.load(Ordering::Relaxed), matched);
    assert_eq!(stats.handoff_drops.load(Ordering::Relaxed), 0);
    let errors: u64 = stats
        .parse_errors
        .iter()
        .map(|e| e.load(Ordering::Relaxed))
        .sum();
    assert_eq!(errors, 1);
}

/// A capture with a snap length, or a mirror session that truncates, holds
/// each frame only up to the end of its headers, with its length on the wire:
/// every frame still gives exactly the records of the whole frame, holding the
/// bytes captured, and each cut IP frame is counted once as a bad length.
#[test]
fn frames_cut_after_their_headers_give_the_records_of_whole_ones() {
    let dir = tempfile::tempdir().unwrap();
    let cases = corpus();
    let cut: Vec<(u64, &[u8], usize)> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let headers = &c.frame[..c.frame.len() - PAYLOAD.len()];
            (BASE_NS + 1000 * i as u64, headers, c.frame.len())
        })
        .collect();
    let path = dir.path().join("cut.pcap");
    write_pcap_cut(&path, cut.iter().copied()).unwrap();
    let mut want: Vec<Rec> = cases
        .iter()
        .zip(&cut)
        .flat_map(|(c, &(ts, headers, _))| {
            expected(ts, &c.frame, &c.expect)
                .into_iter()
                .map(move |r| Rec {
                    data: headers.to_vec(),
                    ..r
                })
        })
        .collect();
    want.sort();
    assert!(want.len() > 20, "the corpus has matches");

    let (got, stats) = run_to_end(&path, &load_updates(), 512);
    assert_eq!(got, want);
    let mut d = Dissection::default();
    let ip_frames = cases
        .iter()
        .filter(|c| dissect(&c.frame, &mut d).is_ok() && d.ips().next().is_some())
        .count() as u64;
    let counted = |e: ParseError| stats.parse_errors[e.index()].load(Ordering::Relaxed);
    assert_eq!(counted(ParseError::BadLength), ip_frames);
    assert_eq!(counted(ParseError::Truncated), 0);
}

/// Without the prefix targets, whose short prefixes make every frame of their
/// family a candidate, stage 2's exact and MAC filters alone decide which
/// frames reach classification: in every encapsulation, and on both layers of
/// a tunnel. With one family's prefix alone, the other family's layers are
/// decided by the filters and this family's by its prefix.
#[test]
fn filters_alone_pass_every_exact_match() {
    let dir = tempfile::tempdir().unwrap();
    let cases = corpus();
    let frames: Vec<Vec<u8>> = cases.iter().map(|c| c.frame.clone()).collect();
    let (path, stamped) = write(dir.path(), &frames);
    for skip in [&PREFIX_KEYS[..], &PREFIX_KEYS[..1], &PREFIX_KEYS[1..]] {
        let mut want: Vec<Rec> = cases
            .iter()
            .zip(&stamped)
            .flat_map(|(c, (ts, f))| expected(*ts, f, &c.expect_without(skip)))
            .collect();
        want.sort();
        assert!(want.len() > 20, "the corpus has exact matches");
        let (got, _) = run_to_end(&path, &load_updates_but(skip), 512);
        assert_eq!(got, want, "without intercepts {skip:?}");
    }
}

#[test]
fn full_handoff_ring_counts_drops_and_the_worker_keeps_going() {
    let dir = tempfile::tempdir().unwrap();
    let cases = corpus();
    let frames: Vec<Vec<u8>> = cases.iter().map(|c| c.frame.clone()).collect();
    let (path, stamped) = write(dir.path(), &frames);
    let all: Vec<Rec> = cases
        .iter()
        .zip(&stamped)
        .flat_map(|(c, (ts, f))| expected(*ts, f, &c.expect))
        .collect();

    // Records of every match (a frame matched on two layers gives one each).
    let records = {
        let mut r = start(PcapSource::open(&path, 8).unwrap(), 512, Clock::Source);
        let e = r.writer.send(&load_updates());
        assert!(r.writer.wait_applied(e, WAIT));
        r.armed.store(true, Ordering::Release);
        assert_eq!(r.handle.join().unwrap(), Exit::Exhausted);
        r.consumer.drain(usize::MAX, |_| {}) as u64
    };
    let (got, stats) = run_to_end(&path, &load_updates(), 3);
    // The first three records fit; every later one is a counted drop.
    let mut first: Vec<Rec> = all[..3].to_vec();
    first.sort();
    assert_eq!(got, first);
    assert_eq!(stats.handoff_drops.load(Ordering::Relaxed), records - 3);
    assert_eq!(
        stats.rx_packets.load(Ordering::Relaxed),
        frames.len() as u64
    );
}

#[test]
fn warrant_window_opens_and_closes_mid_capture() {
    let dir = tempfile::tempdir().unwrap();
    let target = Ipv4Addr::new(198, 51, 100, 7);
    let frames: Vec<Vec<u8>> = (0..20)
        .map(|i| {
            let f = Frame::ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
            let f = if i & 1 == 0 {
                f.ipv4(o4(1), target)
            } else {
                f.ipv4(target, o4(1))
            };
            f.udp(1, 2).payload(PAYLOAD).build()
        })
        .collect();
    let (path, stamped) = write(dir.path(), &frames);
    let slot = Slot(9);
    let updates = [
        Update::SetIntercept {
            slot,
            spec: InterceptSpec {
                key: 900,
                mode: Mode::Headers,
                valid_from_ns: BASE_NS + 5000,
                valid_until_ns: BASE_NS + 12_000,
            },
        },
        Update::AddTarget {
            slot,
            target: Target::Ipv4(target),
        },
    ];
    let (got, _) = run_to_end(&path, &updates, 64);
    let want: Vec<Rec> = (5..12)
        .map(|i: usize| {
            let d = if i & 1 == 0 {
                Direction::ToTarget
            } else {
                Direction::FromTarget
            };
            let (ts, f) = &stamped[i];
            Rec {
                ts: *ts,
                mode: mode(Mode::Headers),
                keys: vec![(900, dir_code(d))],
                data: f[..f.len() - PAYLOAD.len()].to_vec(),
                wire_len: f.len() as u32,
            }
        })
        .collect();
    assert_eq!(got, want);
}

/// Passes frames of `inner` until `limit` have been delivered, then reports Idle
/// until `gate` is set (one frame per poll, so the stop is exact).
struct Gated {
    inner: PcapSource,
    limit: usize,
    delivered: usize,
    gate: Arc<AtomicBool>,
}

impl Gated {
    /// The one-frame-a-poll source of the capture at `path`, stopping after
    /// `limit` frames until the flag returned with it is set.
    fn over(path: &Path, limit: usize) -> (Gated, Arc<AtomicBool>) {
        let gate = Arc::new(AtomicBool::new(false));
        let source = Gated {
            inner: PcapSource::open(path, 1).unwrap(),
            limit,
            delivered: 0,
            gate: Arc::clone(&gate),
        };
        (source, gate)
    }
}

impl PacketSource for Gated {
    type Burst<'a> = FrameBuf;

    fn poll_burst<F: FnOnce(&FrameBuf)>(&mut self, f: F) -> Poll {
        if self.delivered >= self.limit && !self.gate.load(Ordering::Acquire) {
            return Poll::Idle;
        }
        let delivered = &mut self.delivered;
        self.inner.poll_burst(|b| {
            *delivered += b.len();
            f(b)
        })
    }
}

/// A UDP frame from a target.
fn udp_frame() -> Vec<u8> {
    Frame::ethernet([2; 6], [4; 6])
        .ipv4(t4(), o4(1))
        .udp(1, 2)
        .build()
}

/// Hands out one frame a poll and never idles, the n-th stamped `BASE_NS +
/// 1000 n` (that stamp stored in `last` first); exhausted once `stop` is set.
struct Busy {
    frame: Vec<u8>,
    buf: FrameBuf,
    n: u64,
    last: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl PacketSource for Busy {
    type Burst<'a> = FrameBuf;

    fn poll_burst<F: FnOnce(&FrameBuf)>(&mut self, f: F) -> Poll {
        if self.stop.load(Ordering::Acquire) {
            return Poll::Exhausted;
        }
        let ts = BASE_NS + 1000 * self.n;
        self.n += 1;
        self.last.store(ts, Ordering::Release);
        self.buf.clear();
        self.buf.push(&self.frame, 0, Some(ts));
        f(&self.buf);
        Poll::Frames(1)
    }
}

/// Runs a worker on a [`Busy`] source under `clock` until its watermark has
/// moved 20 times, checking each value read against `bound` (the most it may
/// be, given the last frame's stamp).
fn watermark_moves_while_busy(clock: Clock, bound: impl Fn(u64) -> u64) {
    let (last, stop) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let source = Busy {
        frame: udp_frame(),
        buf: FrameBuf::default(),
        n: 0,
        last: Arc::clone(&last),
        stop: Arc::clone(&stop),
    };
    let r = start(source, 64, clock);
    r.armed.store(true, Ordering::Release);
    let started = Instant::now();
    let mut moves = 0;
    let mut seen = 0;
    // The source never idles: only busy bursts can move the watermark.
    while moves < 20 {
        assert!(
            started.elapsed() < WAIT,
            "the watermark moved {moves} times"
        );
        let until = r.stats.handed_off_until_ns.load(Ordering::Acquire);
        let most = bound(last.load(Ordering::Acquire));
        assert!(until <= most, "watermark {until} ahead of {most}");
        if until > seen {
            seen = until;
            moves += 1;
        }
        std::thread::yield_now();
    }
    stop.store(true, Ordering::Release);
    assert_eq!(r.handle.join().unwrap(), Exit::Exhausted);
    assert_eq!(
        r.stats.handed_off_until_ns.load(Ordering::Acquire),
        u64::MAX
    );
}

#[test]
fn the_hand_off_watermark_moves_while_busy_and_never_runs_ahead() {
    // The source's clock: up to the last frame handed out.
    watermark_moves_while_busy(Clock::Source, |last| last);
    // The wall clock: up to now.
    watermark_moves_while_busy(Clock::System, |_| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        now.unwrap().as_nanos() as u64
    });
}

#[test]
fn after_a_few_bursts_an_idle_source_clock_moves_the_watermark_past_them() {
    // Fewer bursts than the watermark's interval under the system clock,
    // then idle: the source's time must still run on from the last frame.
    let dir = tempfile::tempdir().unwrap();
    let frames = vec![udp_frame(); 5];
    let (path, stamped) = write(dir.path(), &frames);
    let (source, gate) = Gated::over(&path, 5);
    let r = start(source, 64, Clock::Source);
    r.armed.store(true, Ordering::Release);
    let started = Instant::now();
    let last = stamped[4].0;
    while r.stats.handed_off_until_ns.load(Ordering::Acquire) < last {
        assert!(
            started.elapsed() < WAIT,
            "the watermark never passed the last frame"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    gate.store(true, Ordering::Release);
    assert_eq!(r.handle.join().unwrap(), Exit::Exhausted);
}

#[test]
fn updates_sent_mid_stream_reach_the_worker_and_are_reported_applied() {
    let dir = tempfile::tempdir().unwrap();
    let frames: Vec<Vec<u8>> = (0..10)
        .map(|_| {
            Frame::ethernet([2; 6], [4; 6])
                .ipv4(t4(), o4(1))
                .tcp(1, 2)
                .payload(PAYLOAD)
                .build()
        })
        .collect();
    let (path, stamped) = write(dir.path(), &frames);
    let (source, gate) = Gated::over(&path, 5);
    let mut r = start(source, 64, Clock::Source);
    r.armed.store(true, Ordering::Release);
    let start_wait = Instant::now();
    while r.stats.rx_packets.load(Ordering::Relaxed) < 5 {
        assert!(
            start_wait.elapsed() < WAIT,
            "worker did not process the first frames"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(r.consumer.pending(), 0);
    let e = r.writer.send(&load_updates());
    assert!(r.writer.wait_applied(e, WAIT));
    assert_eq!(r.writer.min_applied(), e);
    gate.store(true, Ordering::Release);
    assert_eq!(r.handle.join().unwrap(), Exit::Exhausted);
    assert_eq!(r.stats.epoch.load(Ordering::Relaxed), e);
    let got = drain(&mut r.consumer);
    let mut by_ts: BTreeMap<u64, usize> = BTreeMap::new();
    for rec in &got {
        *by_ts.entry(rec.ts).or_default() += 1;
    }
    let want: BTreeMap<u64, usize> = stamped[5..].iter().map(|(ts, _)| (*ts, 2)).collect();
    assert_eq!(
        by_ts, want,
        "one content (100) and one headers (105) record per later frame"
    );
}

#[test]
fn system_clock_stamps_packets_with_wall_time_not_capture_time() {
    let dir = tempfile::tempdir().unwrap();
    let frame = Frame::ethernet([2; 6], [4; 6])
        .ipv4(t4(), o4(1))
        .udp(1, 2)
        .payload(PAYLOAD)
        .build();
    // Capture time far in the past: outside a window that opened an hour ago.
    let (path, _) = write(dir.path(), &[frame.clone(), frame]);
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    };
    let before = now();
    let slot = Slot(1);
    let updates = [
        Update::SetIntercept {
            slot,
            spec: InterceptSpec {
                key: 7,
                mode: Mode::Content,
                valid_from_ns: before - 3_600_000_000_000,
                valid_until_ns: u64::MAX,
            },
        },
        Update::AddTarget {
            slot,
            target: Target::Ipv4(t4()),
        },
    ];
    let mut r = start(PcapSource::open(&path, 8).unwrap(), 8, Clock::System);
    let e = r.writer.send(&updates);
    assert!(r.writer.wait_applied(e, WAIT));
    r.armed.store(true, Ordering::Release);
    assert_eq!(r.handle.join().unwrap(), Exit::Exhausted);
    let got = drain(&mut r.consumer);
    let after = now();
    assert_eq!(got.len(), 2);
    assert!(
        got.iter().all(|rec| (before..=after).contains(&rec.ts)),
        "{got:?}"
    );
}
