//! The signalling ring of a worker on a real capture: matches of the
//! signalling intercept (the configured NAS, DHCP servers, relays) land on it
//! in receive order, in every encapsulation the worker screens; content
//! records are as without it; a frame of both lands on both; a full
//! signalling ring is counted and never blocks the worker.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dataplane::handoff::{
    channel, HandoffConsumer, PacketKind, DEFAULT_FRAME_CAPACITY, SIGNALLING_KEY,
};
use dataplane::parse::IpPair;
use dataplane::source::PcapSource;
use dataplane::synth::{write_pcap, Frame};
use dataplane::targets::{replicas, InterceptSpec, Mode, Slot, Target, Update};
use dataplane::worker::{spawn, Clock, Exit, WorkerCtx, WorkerStats};

const BASE_NS: u64 = 1_700_000_000_000_000_000;
const WAIT: Duration = Duration::from_secs(30);
const A: [u8; 6] = [2, 0, 0, 0, 0, 1];
const B: [u8; 6] = [2, 0, 0, 0, 0, 2];
const CONTENT_KEY: u32 = 7;

fn nas() -> Ipv4Addr {
    Ipv4Addr::new(10, 9, 0, 1)
}
fn dhcp6() -> Ipv6Addr {
    "2001:db8:d::1".parse().unwrap()
}
fn target() -> Ipv4Addr {
    Ipv4Addr::new(10, 1, 0, 1)
}
fn other(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, i)
}
fn e() -> Frame {
    Frame::ethernet(A, B)
}

/// One record: its time stamp, frame, keys, and the matched packet's addresses.
#[derive(Debug, PartialEq, Eq)]
struct Rec {
    ts: u64,
    data: Vec<u8>,
    keys: Vec<u32>,
    addrs: Option<IpPair>,
}

fn drain(c: &mut HandoffConsumer) -> Vec<Rec> {
    let mut out = Vec::new();
    c.drain(usize::MAX, |r| {
        assert_eq!(r.mode(), Mode::Content);
        assert!(matches!(
            r.packet().kind,
            PacketKind::Ipv4 | PacketKind::Ipv6
        ));
        out.push(Rec {
            ts: r.timestamp_ns(),
            data: r.data().to_vec(),
            keys: r.matches().iter().map(|m| m.key).collect(),
            addrs: r.packet().addrs,
        });
    });
    out
}

fn v4(src: Ipv4Addr, dst: Ipv4Addr) -> Option<IpPair> {
    Some(IpPair::V4 { src, dst })
}

struct Outcome {
    signalling: Vec<Rec>,
    content: Vec<Rec>,
    stats: Arc<WorkerStats>,
}

/// Runs one worker over `frames` (stamped 1 µs apart) with the signalling
/// intercept on the NAS and the DHCPv6 server, a content intercept on the
/// target, and a signalling ring of `sig_records`; drains both rings at the end.
fn run(frames: &[Vec<u8>], sig_records: usize) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.pcap");
    let stamped: Vec<(u64, Vec<u8>)> = frames
        .iter()
        .enumerate()
        .map(|(i, f)| (BASE_NS + 1000 * i as u64, f.clone()))
        .collect();
    write_pcap(&path, &stamped).unwrap();
    let (mut writer, mut rs) = replicas(1, 1024);
    let (content, mut content_rx) = channel(256, DEFAULT_FRAME_CAPACITY);
    let (sig, mut sig_rx) = channel(sig_records, DEFAULT_FRAME_CAPACITY);
    let stats = Arc::new(WorkerStats::default());
    let armed = Arc::new(AtomicBool::new(false));
    let ctx = WorkerCtx {
        id: 0,
        source: PcapSource::open(&path, 4).unwrap(),
        tables: rs.remove(0),
        handoff: content.with_signalling(sig),
        stats: Arc::clone(&stats),
        clock: Clock::Source,
        update_budget: 64,
        armed: Arc::clone(&armed),
    };
    let handle = spawn(ctx, None, Arc::new(AtomicBool::new(false))).unwrap();
    let e = writer.send(&[
        Update::SetIntercept {
            slot: Slot(0),
            spec: InterceptSpec::always_open(SIGNALLING_KEY, Mode::Content),
        },
        Update::AddTarget {
            slot: Slot(0),
            target: Target::Ipv4(nas()),
        },
        Update::AddTarget {
            slot: Slot(0),
            target: Target::Ipv6(dhcp6()),
        },
        Update::SetIntercept {
            slot: Slot(1),
            spec: InterceptSpec::always_open(CONTENT_KEY, Mode::Content),
        },
        Update::AddTarget {
            slot: Slot(1),
            target: Target::Ipv4(target()),
        },
    ]);
    assert!(writer.wait_applied(e, WAIT));
    assert_eq!(stats.handed_off_until_ns.load(Ordering::Acquire), 0);
    armed.store(true, Ordering::Release);
    assert_eq!(handle.join().unwrap(), Exit::Exhausted);
    Outcome {
        signalling: drain(&mut sig_rx),
        content: drain(&mut content_rx),
        stats,
    }
}

fn ts(i: usize) -> u64 {
    BASE_NS + 1000 * i as u64
}

#[test]
fn signalling_lands_on_its_ring_in_order_in_every_encapsulation() {
    let radius = |f: Frame| f.ipv4(nas(), other(9)).udp(50000, 1813).payload(b"acct");
    // Frame, and the addresses of the layer the NAS was found in.
    let sig: Vec<(Vec<u8>, Option<IpPair>)> = vec![
        (radius(e()).build(), v4(nas(), other(9))),
        (radius(e().vlan(10)).build(), v4(nas(), other(9))),
        (radius(e().qinq(20).vlan(30)).build(), v4(nas(), other(9))),
        (
            radius(e().ipv4(other(1), other(2)).gre()).build(),
            v4(nas(), other(9)),
        ),
        (
            radius(e().ipv4(other(3), other(4)).vxlan(42).inner_ethernet(A, B)).build(),
            v4(nas(), other(9)),
        ),
        (
            radius(e().ipv4(other(5), other(6)).gtpu(9)).build(),
            v4(nas(), other(9)),
        ),
        (radius(e().mpls(&[16, 17])).build(), v4(nas(), other(9))),
        (
            e().ipv6(dhcp6(), "2001:db8:d::2".parse().unwrap())
                .udp(547, 546)
                .payload(b"reply")
                .build(),
            Some(IpPair::V6 {
                src: dhcp6(),
                dst: "2001:db8:d::2".parse().unwrap(),
            }),
        ),
    ];
    let content = e().ipv4(other(7), target()).tcp(1, 2).build();
    let both = e().ipv4(nas(), target()).udp(1813, 1813).build();
    let nothing = e().ipv4(other(7), other(8)).tcp(1, 2).build();
    // Signalling frames interleaved with content and unmatched frames.
    let mut frames = Vec::new();
    let mut want_sig = Vec::new();
    for (f, addrs) in &sig {
        want_sig.push(Rec {
            ts: ts(frames.len()),
            data: f.clone(),
            keys: vec![SIGNALLING_KEY],
            addrs: *addrs,
        });
        frames.push(f.clone());
        frames.push(nothing.clone());
    }
    let content_at = frames.len();
    frames.push(content.clone());
    let both_at = frames.len();
    frames.push(both.clone());
    want_sig.push(Rec {
        ts: ts(both_at),
        data: both.clone(),
        keys: vec![SIGNALLING_KEY],
        addrs: v4(nas(), target()),
    });

    let out = run(&frames, 64);
    assert_eq!(out.signalling, want_sig);
    let want_content: Vec<Rec> = [(content_at, &content), (both_at, &both)]
        .into_iter()
        .map(|(i, f)| Rec {
            ts: ts(i),
            data: f.clone(),
            keys: vec![CONTENT_KEY],
            addrs: v4(if i == both_at { nas() } else { other(7) }, target()),
        })
        .collect();
    assert_eq!(out.content, want_content);
    assert_eq!(out.stats.signalling_drops.load(Ordering::Relaxed), 0);
    assert_eq!(out.stats.handoff_drops.load(Ordering::Relaxed), 0);
    // The source exhausted: everything it will ever hand off, it has.
    assert_eq!(
        out.stats.handed_off_until_ns.load(Ordering::Acquire),
        u64::MAX
    );
}

#[test]
fn a_full_signalling_ring_is_counted_and_blocks_neither_worker_nor_content() {
    let radius = e().ipv4(nas(), other(9)).udp(50000, 1813).build();
    let content = e().ipv4(other(7), target()).tcp(1, 2).build();
    let mut frames = Vec::new();
    for _ in 0..10 {
        frames.push(radius.clone());
        frames.push(content.clone());
    }
    let out = run(&frames, 3);
    // The first three fill the ring; no one drains it.
    assert_eq!(
        out.signalling.iter().map(|r| r.ts).collect::<Vec<_>>(),
        vec![ts(0), ts(2), ts(4)]
    );
    assert_eq!(out.stats.signalling_drops.load(Ordering::Relaxed), 7);
    assert_eq!(out.content.len(), 10);
    assert_eq!(out.stats.handoff_drops.load(Ordering::Relaxed), 0);
}

#[test]
fn addresses_unrelated_to_signalling_are_not_on_its_ring() {
    let frames = vec![
        e().ipv4(other(1), other(2)).udp(50000, 1813).build(),
        e().ip(IpAddr::V4(other(3)), IpAddr::V4(target()))
            .udp(67, 68)
            .build(),
    ];
    let out = run(&frames, 8);
    assert!(out.signalling.is_empty());
    assert_eq!(out.content.len(), 1);
}
