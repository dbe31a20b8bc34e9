//! Per-packet cost of dissect + classify, on the miss and the hit path, against
//! 0 / 1k / 100k / 1M IPv4 targets, a CIDR table, a carrier's mix of hosts, subnets
//! and MACs, IPv6 targets, and 1M IPv4 targets with 100k UDP endpoint targets (a
//! call's media: hits, frames to an endpoint's address on another port, and
//! frames to other addresses of the endpoints' /16s),
//! over 64k pre-built
//! frames, frame by frame and through the worker's own per-burst code (bursts of 32:
//! screen (IPv4, IPv6) or dissect all and prefetch their table lines, then classify the few that
//! may match); next to it the cost of merely touching each frame, as a reference.
//! Also memory per target per worker replica.
//!
//! Also the frames the worker's lanes leave to its screens (a PPPoE link, IP
//! tunnels of either family in either, a pseudowire), 1M IPv4 and 100k IPv6
//! hosts loaded.
//!
//! `cargo run --release -p perf --bin classify_bench [CASE]`: only the cases
//! whose name contains CASE, if given.
#![forbid(unsafe_code)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use dataplane::handoff;
use dataplane::parse::{common_ipv4, common_ipv6, dissect, Dissection};
use dataplane::source::FrameBuf;
use dataplane::synth::Frame;
use dataplane::targets::{
    replicas, InterceptSpec, KeyHashes, Matches, Mode, Slot, TableReplica, TableWriter, Target,
    Update,
};
use dataplane::worker::{BurstPath, Clock};
use perf::timing::FrameTimer;
use perf::traffic::{Encap, Underlay};

const FRAMES: usize = 1 << 16;
const ROUNDS: usize = 30;
const RUNS: usize = 5;
const TIMER: FrameTimer = FrameTimer {
    rounds: ROUNDS,
    runs: RUNS,
};
/// Frames per burst, as the DPDK source hands them to a worker.
const BURST: usize = 32;

/// xorshift64*: deterministic pseudo-random addresses.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn frame4(src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    frame4_ports(src, dst, [40000, 443])
}

fn frame4_ports(src: Ipv4Addr, dst: Ipv4Addr, [sport, dport]: [u16; 2]) -> Vec<u8> {
    Frame::ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src, dst)
        .udp(sport, dport)
        .payload(&[0; 18])
        .build()
}

/// UDP endpoints of a call's media: 4 ports (RTP and RTCP of two streams)
/// on each of `n / 4` addresses of 198.18.0.0/15, apart from the other
/// targets and the misses.
fn endpoints4(n: usize) -> Vec<(Ipv4Addr, u16)> {
    (0..n as u32)
        .map(|i| (Ipv4Addr::from(0xc612_0000 + i / 4), 16384 + (i % 4) as u16))
        .collect()
}

/// `n` distinct IPv4 hosts of 10.0.0.0/8 (n <= 2^24), spread out: an odd multiplier
/// permutes the 24 host bits.
fn hosts4(n: usize) -> Vec<Ipv4Addr> {
    (0..n as u32)
        .map(|i| Ipv4Addr::from(0x0a00_0000 | (i.wrapping_mul(0x9e_3779) & 0x00ff_ffff)))
        .collect()
}

/// Frames between two addresses that are no target.
fn miss_frames4(rng: &mut Rng) -> Vec<Vec<u8>> {
    (0..FRAMES)
        .map(|_| frame4(miss4(rng), miss4(rng)))
        .collect()
}

/// Frames from a non-target to one of `targets`.
fn hit_frames4(rng: &mut Rng, targets: &[Ipv4Addr]) -> Vec<Vec<u8>> {
    (0..FRAMES)
        .map(|_| frame4(miss4(rng), targets[rng.below(targets.len())]))
        .collect()
}

fn frame6(src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
    Frame::ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv6(src, dst)
        .udp(40000, 443)
        .build()
}

/// Addresses used as targets: 10.0.0.0/8, spread out. Misses come from 100.64.0.0/10.
fn target4(rng: &mut Rng) -> Ipv4Addr {
    Ipv4Addr::from(0x0a00_0000 | (rng.next() as u32 & 0x00ff_ffff))
}
fn miss4(rng: &mut Rng) -> Ipv4Addr {
    Ipv4Addr::from(0x6440_0000 | (rng.next() as u32 & 0x003f_ffff))
}
fn target6(rng: &mut Rng) -> Ipv6Addr {
    Ipv6Addr::from((0x2001_0db8u128 << 96) | u128::from(rng.next()))
}
fn miss6(rng: &mut Rng) -> Ipv6Addr {
    Ipv6Addr::from((0x2001_0db9u128 << 96) | u128::from(rng.next()))
}

/// A replica holding `targets`, spread over 64 always-open intercepts, loaded through
/// the rings exactly as a daemon would.
fn load(targets: &[Target]) -> Result<(TableWriter, TableReplica)> {
    let (mut w, mut rs) = replicas(1, 1 << 14);
    let mut r = rs.pop().context("no replica")?;
    let mut ups: Vec<Update> = (0..64u16)
        .map(|s| Update::SetIntercept {
            slot: Slot(s),
            spec: InterceptSpec::always_open(u32::from(s), Mode::Content),
        })
        .collect();
    ups.extend(
        targets
            .iter()
            .enumerate()
            .map(|(i, &target)| Update::AddTarget {
                slot: Slot((i % 64) as u16),
                target,
            }),
    );
    let e = std::thread::scope(|s| {
        let sender = s.spawn(|| w.send(&ups));
        while r.epoch() == 0 {
            if r.apply_pending(4096) == 0 {
                std::thread::yield_now();
            }
        }
        sender.join()
    })
    .map_err(|_| anyhow::anyhow!("writer thread panicked"))?;
    ensure!(
        w.wait_applied(e, Duration::from_secs(5)),
        "tables not applied"
    );
    Ok((w, r))
}

/// Median ns per frame of parsing alone, the worker's way: a screen for a
/// common IPv4 or IPv6 frame, dissect for any other (the parser's share of the
/// cost).
fn parse_cost(frames: &[Vec<u8>]) -> f64 {
    let mut d = Dissection::default();
    TIMER.ns_per_frame(frames, |fr| {
        if let Some([src, dst]) = common_ipv4(fr) {
            u64::from(src ^ dst)
        } else if let Some([src, dst]) = common_ipv6(fr) {
            (src ^ dst) as u64
        } else {
            u64::from(dissect(fr, &mut d).is_ok()) + u64::from(d.header_len)
        }
    })
}

/// Share of `frames` that stage 2 lets through to full classification.
fn past_stage2(r: &TableReplica, frames: &[Vec<u8>]) -> f64 {
    let mut d = Dissection::default();
    let mut kh = KeyHashes::default();
    let past = frames
        .iter()
        .filter(|fr| {
            dissect(fr, &mut d).is_ok() && {
                r.hash_keys(&d, &mut kh);
                r.may_match(&d, &kh)
            }
        })
        .count();
    past as f64 / frames.len().max(1) as f64
}

fn classify_cost(r: &TableReplica, frames: &[Vec<u8>], expect_hit: bool) -> Result<f64> {
    let mut d = Dissection::default();
    let mut m = Matches::new();
    // Check once that the path measured is the one claimed.
    for fr in frames {
        dissect(fr, &mut d).map_err(|e| anyhow::anyhow!("dissect: {e:?}"))?;
        r.classify(&d, 1, &mut m);
        ensure!(m.is_empty() != expect_hit, "frame on the wrong path");
    }
    Ok(TIMER.ns_per_frame(frames, |fr| {
        if dissect(fr, &mut d).is_err() {
            return 0;
        }
        r.classify(&d, 1, &mut m);
        m.len() as u64
    }))
}

/// Median ns per frame of the worker's own per-burst code ([`BurstPath`]) on
/// bursts of 32 frames: screen or dissect all, hash their addresses and prefetch
/// their filter lines, pass all through the filters (prefetching the entries that
/// pass), then dissect and classify those that may match and hand off the matches.
/// The hit path's figure includes copying each record into the hand-off ring and
/// draining it after every burst.
fn burst_cost(r: &TableReplica, frames: &[Vec<u8>]) -> f64 {
    let bursts: Vec<FrameBuf> = frames
        .chunks(BURST)
        .map(|chunk| {
            let mut b = FrameBuf::default();
            for fr in chunk {
                b.push(fr, fr.len() as u32, None);
            }
            b
        })
        .collect();
    let (mut producer, mut consumer) = handoff::channel(4 * BURST, 256);
    let mut path = BurstPath::default();
    let mut runs: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..ROUNDS {
                for b in &bursts {
                    path.process(black_box(b), r, &mut producer, Clock::System, 0);
                    consumer.drain(BURST, |rec| {
                        black_box(rec.data().len());
                    });
                }
            }
            black_box(path.matches());
            start.elapsed().as_nanos() as f64 / (ROUNDS * frames.len()) as f64
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[RUNS / 2]
}

fn main() -> Result<()> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let touch_frames: Vec<Vec<u8>> = miss_frames4(&mut rng);
    let touch = TIMER.touch_ns_per_frame(&touch_frames);
    println!("reference: touch one byte of each frame: {touch:.2} ns/frame ({FRAMES} frames, {ROUNDS} rounds, median of {RUNS})");
    println!();
    println!("| case | targets | path | dissect+classify ns/pkt | same, burst of 32 + prefetch | parse alone (screen or dissect) ns/pkt | classify alone, burst (difference) | frames past stage 2 | table bytes/target |");
    println!("|---|---:|---|---:|---:|---:|---:|---:|---:|");

    let only = std::env::args().nth(1);
    let report = |name: &str,
                  targets: Vec<Target>,
                  hits: Vec<Vec<u8>>,
                  misses: Vec<Vec<u8>>|
     -> Result<()> {
        if only
            .as_ref()
            .is_some_and(|only| !name.contains(only.as_str()))
        {
            return Ok(());
        }
        let (_w, r) = load(&targets)?;
        let per_target = if r.target_count() == 0 {
            "-".to_string()
        } else {
            format!("{:.1}", r.memory_bytes() as f64 / r.target_count() as f64)
        };
        let n = r.target_count();
        let row = |path: &str, frames: &[Vec<u8>], hit: bool| -> Result<()> {
            let single = classify_cost(&r, frames, hit)?;
            let burst = burst_cost(&r, frames);
            let parse = parse_cost(frames);
            let alone = burst - parse;
            let past = 100.0 * past_stage2(&r, frames);
            println!("| {name} | {n} | {path} | {single:.2} | {burst:.2} | {parse:.2} | {alone:.2} | {past:.1} % | {per_target} |");
            Ok(())
        };
        row("miss", &misses, false)?;
        if !hits.is_empty() {
            row("hit", &hits, true)?;
        }
        Ok(())
    };

    for n in [0usize, 1_000, 100_000, 1_000_000] {
        let addrs = hosts4(n);
        let targets = addrs.iter().map(|&a| Target::Ipv4(a)).collect();
        let misses = miss_frames4(&mut rng);
        let hits = if n == 0 {
            Vec::new()
        } else {
            hit_frames4(&mut rng, &addrs)
        };
        report("ipv4 exact", targets, hits, misses)?;
    }

    // 10k prefixes over 8 lengths (/16 to /30): every lookup probes 8 tables.
    let nets: Vec<(Ipv4Addr, u8)> = (0..10_000)
        .map(|i| (target4(&mut rng), 16 + 2 * (i % 8) as u8))
        .collect();
    let targets = nets.iter().map(|&(a, l)| Target::Ipv4Net(a, l)).collect();
    let misses = miss_frames4(&mut rng);
    let hits = hit_frames4(&mut rng, &nets.iter().map(|n| n.0).collect::<Vec<_>>());
    report("ipv4 cidr (8 lengths)", targets, hits, misses)?;

    // A carrier's mix: 1M IPv4 hosts, 1k IPv4 /24s, 1k IPv6 /56s and 100 MACs.
    // Stage 2 screens the CIDR and MAC tables too, so a miss should cost about
    // what it costs with the exact table alone.
    let hosts = hosts4(1_000_000);
    let mut targets: Vec<Target> = hosts.iter().map(|&a| Target::Ipv4(a)).collect();
    targets.extend((0..1_000).map(|_| Target::Ipv4Net(target4(&mut rng), 24)));
    targets.extend((0..1_000).map(|_| Target::Ipv6Net(target6(&mut rng), 56)));
    targets.extend((0..100u8).map(|i| Target::Mac([6, 0, 0, 0, 1, i])));
    let misses = miss_frames4(&mut rng);
    let hits = hit_frames4(&mut rng, &hosts);
    report("mixed (hosts, /24s, /56s, MACs)", targets, hits, misses)?;

    // 1M hosts and 100k UDP endpoints: a miss should cost what it costs
    // with the hosts alone (the endpoints' addresses are marked in the same
    // exact table); a frame to an endpoint's address on another port is a
    // candidate that stage 3 turns away.
    let hosts = hosts4(1_000_000);
    let eps = endpoints4(100_000);
    let mut targets: Vec<Target> = hosts.iter().map(|&a| Target::Ipv4(a)).collect();
    targets.extend(eps.iter().map(|&(a, p)| Target::Ipv4Udp(a, p)));
    let to_endpoint = |rng: &mut Rng, port_offset: u16| {
        let (a, p) = eps[rng.below(eps.len())];
        frame4_ports(miss4(rng), a, [40000, p + port_offset])
    };
    let misses = miss_frames4(&mut rng);
    let hits = (0..FRAMES).map(|_| to_endpoint(&mut rng, 0)).collect();
    report(
        "1M ipv4 + 100k udp endpoints",
        targets.clone(),
        hits,
        misses,
    )?;
    // Ports 4 past an endpoint's: on its address, never one of its ports.
    let other_ports = (0..FRAMES).map(|_| to_endpoint(&mut rng, 4)).collect();
    report(
        "1M ipv4 + 100k udp endpoints, endpoint address other port",
        targets,
        Vec::new(),
        other_ports,
    )?;

    // 1M hosts and a media relay's endpoints in every /16 the misses come
    // from (4 addresses of 4 ports in each of 100.64.0.0/10's): a few
    // targets in a block much other traffic goes to should cost that
    // traffic what it costs with the hosts alone.
    let relays = (0..64u32).flat_map(|block| {
        (0..16u32).map(move |i| {
            let addr = Ipv4Addr::from(0x6440_0000 + (block << 16) + (i / 4) * 0x0101);
            Target::Ipv4Udp(addr, 16384 + (i % 4) as u16)
        })
    });
    let mut targets: Vec<Target> = hosts.iter().map(|&a| Target::Ipv4(a)).collect();
    targets.extend(relays);
    let misses = miss_frames4(&mut rng);
    report(
        "1M ipv4 + 1k udp endpoints in the misses' /16s",
        targets,
        Vec::new(),
        misses,
    )?;

    let addrs: Vec<Ipv6Addr> = (0..100_000).map(|_| target6(&mut rng)).collect();
    let targets = addrs.iter().map(|&a| Target::Ipv6(a)).collect();
    let misses = (0..FRAMES)
        .map(|_| frame6(miss6(&mut rng), miss6(&mut rng)))
        .collect();
    let hits = (0..FRAMES)
        .map(|_| frame6(miss6(&mut rng), addrs[rng.below(addrs.len())]))
        .collect();
    report("ipv6 exact", targets, hits, misses)?;

    // The frames the lanes leave to the screens: a tagged link, tunnels of
    // either family in either and a pseudowire; misses between non-targets,
    // hits to a target inside.
    let hosts6: Vec<Ipv6Addr> = (0..100_000).map(|_| target6(&mut rng)).collect();
    let mut targets: Vec<Target> = hosts.iter().map(|&a| Target::Ipv4(a)).collect();
    targets.extend(hosts6.iter().map(|&a| Target::Ipv6(a)));
    let pw = Encap::Pseudowire { control_word: true };
    let gtpu = Encap::Gtpu { pdu_session: false };
    let shapes = [
        ("pppoe", Encap::Pppoe, Underlay::Ipv4, false),
        ("gre", Encap::Gre, Underlay::Ipv4, false),
        ("vxlan over ipv6", Encap::Vxlan, Underlay::Ipv6, false),
        ("ipv6 in gtp-u", gtpu, Underlay::Ipv4, true),
        ("ipv6 in ipv6", Encap::IpIp, Underlay::Ipv6, true),
        ("pseudowire", pw, Underlay::Ipv4, false),
    ];
    for (shape, encap, underlay, v6) in shapes {
        let frame = |rng: &mut Rng, hit: bool| {
            let (src, dst): (IpAddr, IpAddr) = match (v6, hit) {
                (false, false) => (miss4(rng).into(), miss4(rng).into()),
                (false, true) => (miss4(rng).into(), hosts[rng.below(hosts.len())].into()),
                (true, false) => (miss6(rng).into(), miss6(rng).into()),
                (true, true) => (miss6(rng).into(), hosts6[rng.below(hosts6.len())].into()),
            };
            let tunnel = rng.below(1 << 12) as u32;
            encap.frame_over(underlay, (src, dst), (40000, 443), tunnel)
        };
        let misses = (0..FRAMES).map(|_| frame(&mut rng, false)).collect();
        let hits = (0..FRAMES).map(|_| frame(&mut rng, true)).collect();
        let name = format!("1M ipv4 + 100k ipv6, {shape}");
        report(&name, targets.clone(), hits, misses)?;
    }
    Ok(())
}
