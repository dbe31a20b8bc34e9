//! Cost of [`dissect`] per frame in every encapsulation `gen_traffic` writes,
//! IPv4 and IPv6 flows: 4096 distinct frames of each (the branch predictor
//! cannot learn one), median of 9 runs. Next to it, as the reference measured
//! in the same run on the same frames, the cost of touching one byte of each
//! frame, and the ratio of the two.
//!
//! `cargo run --release -p perf --bin parse_bench`
#![forbid(unsafe_code)]

use std::net::IpAddr;

use anyhow::{ensure, Result};
use dataplane::parse::{dissect, Dissection};
use perf::timing::FrameTimer;
use perf::traffic::{background_flow, ipv6_of, Encap, Rng, Underlay};

const FRAMES: usize = 4096;
const ROUNDS: usize = 200;
const RUNS: usize = 9;
const TIMER: FrameTimer = FrameTimer {
    rounds: ROUNDS,
    runs: RUNS,
};

/// [`FRAMES`] frames of distinct flows in `encap` over `underlay`, IPv6
/// flows if `ipv6`.
fn frames(encap: Encap, underlay: Underlay, ipv6: bool) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(7);
    (0..FRAMES)
        .map(|i| {
            let (src, dst, sport, dport) = background_flow(&mut rng);
            let flow: (IpAddr, IpAddr) = if ipv6 {
                (ipv6_of(src).into(), ipv6_of(dst).into())
            } else {
                (src.into(), dst.into())
            };
            encap.frame_over(underlay, flow, (sport, dport), i as u32)
        })
        .collect()
}

fn main() -> Result<()> {
    let v4 = Underlay::Ipv4;
    let gtpu = Encap::Gtpu { pdu_session: false };
    let shapes = [
        ("plain", Encap::Plain, v4),
        ("PPPoE on a VLAN", Encap::Pppoe, v4),
        ("GTP-U", gtpu, v4),
        (
            "GTP-U with PDU session",
            Encap::Gtpu { pdu_session: true },
            v4,
        ),
        ("GTP-U over IPv6", gtpu, Underlay::Ipv6),
        ("GRE with a key", Encap::Gre, v4),
        ("IP in IP", Encap::IpIp, v4),
        ("VXLAN", Encap::Vxlan, v4),
        ("ERSPAN II", Encap::Erspan, v4),
        (
            "MPLS pseudowire",
            Encap::Pseudowire { control_word: true },
            v4,
        ),
        (
            "pseudowire, no control word",
            Encap::Pseudowire {
                control_word: false,
            },
            v4,
        ),
    ];
    println!("dissect per frame ({FRAMES} distinct frames, {ROUNDS} rounds, median of {RUNS}); reference: touch one byte of each frame");
    println!();
    println!("| traffic | flows | frame bytes | dissect ns/frame | reference ns/frame | dissect / reference |");
    println!("|---|---|---:|---:|---:|---:|");
    let mut d = Dissection::default();
    for (name, encap, underlay) in shapes {
        for ipv6 in [false, true] {
            let frames = frames(encap, underlay, ipv6);
            // Every frame must dissect whole: a benchmark of error paths
            // would measure the wrong thing.
            ensure!(
                frames.iter().all(|f| dissect(f, &mut d).is_ok()),
                "{name}: a frame does not dissect"
            );
            let touch = TIMER.touch_ns_per_frame(&frames);
            let cost = TIMER.ns_per_frame(&frames, |fr| {
                u64::from(dissect(fr, &mut d).is_ok()) + u64::from(d.header_len)
            });
            let family = if ipv6 { "IPv6" } else { "IPv4" };
            println!(
                "| {name} | {family} | {} | {cost:.2} | {touch:.2} | {:.1} |",
                frames[0].len(),
                cost / touch
            );
        }
    }
    Ok(())
}
