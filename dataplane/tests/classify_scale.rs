//! One million IPv4 targets load through the update rings in budgeted chunks while
//! the "worker" keeps applying, then classify correctly (hits and misses), one
//! frame at a time and on the worker's burst path.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use dataplane::handoff;
use dataplane::parse::{dissect, Dissection};
use dataplane::source::FrameBuf;
use dataplane::synth::Frame;
use dataplane::targets::{
    replicas, Direction, InterceptSpec, Matches, Mode, Slot, TableReplica, Target, Update,
};
use dataplane::worker::{BurstPath, Clock};

const TARGETS: u32 = 1_000_000;

/// Target `i` (0..TARGETS) lives in 10.0.0.0/8 at an odd offset; even offsets are misses.
fn target(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x0a00_0000 + 2 * i + 1)
}

#[test]
fn one_million_ipv4_targets_load_and_classify() {
    let (mut w, mut rs) = replicas(1, 4096);
    let mut r = rs.remove(0);
    let mut ups = Vec::with_capacity(TARGETS as usize + 64);
    for s in 0..64u16 {
        ups.push(Update::SetIntercept {
            slot: Slot(s),
            spec: InterceptSpec::always_open(5000 + u32::from(s), Mode::Content),
        });
    }
    ups.extend((0..TARGETS).map(|i| Update::AddTarget {
        slot: Slot((i % 64) as u16),
        target: Target::Ipv4(target(i)),
    }));
    let start = Instant::now();
    let e = std::thread::scope(|s| {
        let sender = s.spawn(|| w.send(&ups));
        while r.epoch() == 0 {
            if r.apply_pending(4096) == 0 {
                std::thread::yield_now();
            }
        }
        sender.join().unwrap()
    });
    assert!(w.wait_applied(e, Duration::from_secs(1)));
    eprintln!(
        "loaded {} targets in {:?}, {} bytes/target",
        r.target_count(),
        start.elapsed(),
        r.memory_bytes() / r.target_count()
    );
    assert_eq!(r.target_count(), TARGETS as usize);

    let mut d = Dissection::default();
    let mut out = Matches::new();
    for i in (0..TARGETS).step_by(997).chain([TARGETS - 1]) {
        let hit = Frame::ethernet([2; 6], [4; 6])
            .ipv4(Ipv4Addr::new(192, 0, 2, 1), target(i))
            .udp(1, 2)
            .build();
        dissect(&hit, &mut d).unwrap();
        r.classify(&d, 1, &mut out);
        let got: Vec<(u32, Direction)> = out
            .as_slice()
            .iter()
            .map(|m| (m.key, m.direction))
            .collect();
        assert_eq!(
            got,
            vec![(5000 + i % 64, Direction::ToTarget)],
            "target {i}"
        );
        let miss_addr = Ipv4Addr::from(u32::from(target(i)) + 1);
        let miss = Frame::ethernet([2; 6], [4; 6])
            .ipv4(miss_addr, Ipv4Addr::new(192, 0, 2, 1))
            .udp(1, 2)
            .build();
        dissect(&miss, &mut d).unwrap();
        r.classify(&d, 1, &mut out);
        assert!(out.is_empty(), "miss {miss_addr}");
    }
    worker_hands_off_exactly_the_target_frames(&r, &[]);
    // A prefix and a MAC target beside the million: frames outside every
    // exact target's block then match by those alone.
    let net = Ipv4Addr::new(203, 0, 113, 0);
    let mac = [2, 0, 0, 0, 0, 0x77];
    let e = w.send(&[
        Update::AddTarget {
            slot: Slot(0),
            target: Target::Ipv4Net(net, 24),
        },
        Update::AddTarget {
            slot: Slot(1),
            target: Target::Mac(mac),
        },
    ]);
    while r.apply_pending(64) > 0 {}
    assert!(w.wait_applied(e, Duration::from_secs(1)));
    let by_prefix = Frame::ethernet([2; 6], [4; 6])
        .ipv4(Ipv4Addr::new(198, 18, 0, 9), Ipv4Addr::new(203, 0, 113, 5))
        .udp(1000, 2000)
        .payload(&[0; 18])
        .build();
    let by_mac = Frame::ethernet(mac, [4; 6])
        .ipv4(Ipv4Addr::new(198, 18, 0, 9), Ipv4Addr::new(192, 0, 2, 9))
        .udp(1000, 2000)
        .payload(&[0; 18])
        .build();
    worker_hands_off_exactly_the_target_frames(&r, &[by_prefix, by_mac]);
}

/// The worker's burst path over frames whose other address lies inside the
/// targets' blocks (10.0.0.0/8's first /16s, a near miss) or outside them
/// (the table's gate turns those away), and over `more` frames, each a match:
/// exactly the frames with a target are handed off.
fn worker_hands_off_exactly_the_target_frames(r: &TableReplica, more: &[Vec<u8>]) {
    let udp = |src: Ipv4Addr, dst: Ipv4Addr| {
        Frame::ethernet([2; 6], [4; 6])
            .ipv4(src, dst)
            .udp(1000, 2000)
            .payload(&[0; 18])
            .build()
    };
    let outside = Ipv4Addr::new(198, 18, 0, 1);
    let mut frames = Vec::new();
    let mut want = Vec::new();
    for i in (0..TARGETS).step_by(4999) {
        let near = Ipv4Addr::from(u32::from(target(i)) + 1);
        let hit = udp(near, target(i));
        want.push(hit.clone());
        frames.extend([udp(near, outside), hit, udp(outside, near)]);
        frames.push(udp(target(i), outside));
        want.push(udp(target(i), outside));
        frames.push(udp(outside, Ipv4Addr::new(192, 0, 2, (i % 250) as u8)));
        if let Some(f) = more.get(i as usize % 7) {
            frames.push(f.clone());
            want.push(f.clone());
        }
    }
    let (mut producer, mut consumer) = handoff::channel(1024, 256);
    let mut path = BurstPath::default();
    let mut got = Vec::new();
    for chunk in frames.chunks(32) {
        let mut b = FrameBuf::default();
        for f in chunk {
            b.push(f, f.len() as u32, None);
        }
        path.process(&b, r, &mut producer, Clock::System, 0);
        consumer.drain(usize::MAX, |rec| got.push(rec.data().to_vec()));
    }
    assert_eq!(got.len(), want.len());
    assert_eq!(got, want, "exactly the target frames, in order");
}
