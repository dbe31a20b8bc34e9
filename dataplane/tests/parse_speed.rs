//! Benchmark, not a pass/fail test: prints the cost of `dissect` per frame for the
//! miss path and a few encapsulations. Run with
//! `cargo test --release -p dataplane --test parse_speed -- --ignored --nocapture`.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use dataplane::parse::{dissect, Dissection};
use dataplane::synth::Frame;

const ROUNDS: u32 = 5_000_000;
const BATCHES: u32 = 20;

#[test]
#[ignore = "benchmark: run with --release -- --ignored --nocapture"]
fn dissect_ns_per_frame() {
    let (a, b) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let v4 = |x| Ipv4Addr::new(10, 0, 0, x);
    let v6 = |x| Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, x);
    let frames = [
        (
            "eth/ipv4/udp (miss path)",
            Frame::ethernet(a, b).ipv4(v4(1), v4(2)).udp(1, 2),
        ),
        (
            "eth/vlan/ipv6/tcp",
            Frame::ethernet(a, b).vlan(7).ipv6(v6(1), v6(2)).tcp(1, 2),
        ),
        (
            "eth/mpls x2/ipv4/tcp",
            Frame::ethernet(a, b)
                .mpls(&[16, 17])
                .ipv4(v4(1), v4(2))
                .tcp(1, 2),
        ),
        (
            "vxlan inner eth/ipv4/tcp",
            Frame::ethernet(a, b)
                .ipv4(v4(1), v4(2))
                .vxlan(1)
                .inner_ethernet(a, b)
                .ipv4(v4(3), v4(4))
                .tcp(1, 2),
        ),
        (
            "gtpu inner ipv6/udp",
            Frame::ethernet(a, b)
                .ipv4(v4(1), v4(2))
                .gtpu(9)
                .ipv6(v6(3), v6(4))
                .udp(1, 2),
        ),
    ];
    let mut d = Dissection::default();
    for (name, f) in frames {
        let bytes = f.payload(&[0u8; 64]).build();
        for _ in 0..ROUNDS / 10 {
            let _ = dissect(black_box(&bytes), &mut d);
        }
        // Best of several batches: the machine is shared, preemption only adds time.
        let mut ns = f64::INFINITY;
        for _ in 0..BATCHES {
            let start = Instant::now();
            for _ in 0..ROUNDS / BATCHES {
                let _ = black_box(dissect(black_box(&bytes), &mut d));
                black_box(&d);
            }
            let batch = start.elapsed().as_secs_f64() * 1e9 / f64::from(ROUNDS / BATCHES);
            ns = ns.min(batch);
        }
        println!(
            "dissect {name:<28} {ns:6.2} ns/frame (best batch)  ({:.1} Mframes/s per core)",
            1e3 / ns
        );
        assert!(d.ips().count() > 0);
    }
}
