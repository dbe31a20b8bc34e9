//! The worker's cost of handing off a matched frame, as the signalling path
//! pays it: a stream of frames of which one in `--match-every` is a
//! signalling frame (SIP, RADIUS, DHCP from `perf::signalling`) pushed to a
//! hand-off ring that a thread on another core drains, as the daemon's
//! signalling thread does (sleeping 200 µs when it finds none, as
//! `dp_bench`'s does). Between matches, each frame costs what a 1M-target
//! lookup costs the caches: two random reads in a `--table-mib` table, so a
//! record comes back to the worker as cold as it does in `dp_bench`.
//!
//! Prints ns per frame with the hand-off and without it (the reference, the
//! same stream and table reads), the hand-off's ns per matched frame, and
//! the ratio of the two per-frame figures.
#![forbid(unsafe_code)]

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::Result;
use clap::Parser;
use dataplane::handoff::{self, RxFrame, SIGNALLING_KEY};
use dataplane::parse::{dissect, Dissection};
use dataplane::targets::{Direction, Layer, Match, Mode};
use perf::signalling;
use perf::traffic::Rng;

#[derive(Parser)]
struct Args {
    /// Frames per run.
    #[arg(long, default_value_t = 20_000_000)]
    frames: u64,
    /// One frame in this many is a signalling match.
    #[arg(long, default_value_t = 100)]
    match_every: u64,
    /// Size of the table the other frames read from, MiB.
    #[arg(long, default_value_t = 64)]
    table_mib: usize,
    /// Runs of each kind; the median counts.
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let frames: Vec<Vec<u8>> = (0..3)
        .map(|k| signalling::frame(k, perf::traffic::target_addr(7)))
        .collect::<Result<_>>()?;
    let dissected: Vec<Dissection> = frames
        .iter()
        .map(|f| {
            let mut d = Dissection::default();
            dissect(f, &mut d)
                .map(|()| d)
                .map_err(|e| anyhow::anyhow!("{e:?}"))
        })
        .collect::<Result<_>>()?;
    let table = vec![0u64; args.table_mib << 17];
    let matched = [Match {
        key: SIGNALLING_KEY,
        mode: Mode::Content,
        direction: Direction::ToTarget,
        layer: Layer::Ip(0),
    }];
    let (content, _) = handoff::channel(16, 64);
    let (ring, mut consumer) = handoff::channel(4096, 2048);
    let mut producer = content.with_signalling(ring);
    let quit = AtomicBool::new(false);

    // One run: ns per frame, pushing every `match_every`th frame if `push`.
    let mut run = |push: bool| {
        let mut rng = Rng::new(1);
        let start = Instant::now();
        let mut acc = 0u64;
        for i in 0..args.frames {
            let a = rng.below(table.len() as u64) as usize;
            let b = rng.below(table.len() as u64) as usize;
            acc = acc.wrapping_add(table[a]).wrapping_add(table[b]);
            if push && i % args.match_every == 0 {
                let k = (i / args.match_every % 3) as usize;
                let p = producer.push(RxFrame::whole(&frames[k]), &dissected[k], &matched, i, 0);
                acc = acc.wrapping_add(p.signalling_dropped);
            }
        }
        black_box(acc);
        start.elapsed().as_nanos() as f64 / args.frames as f64
    };
    let (mut with, mut without) = (Vec::new(), Vec::new());
    let drained = std::thread::scope(|s| {
        let drainer = s.spawn(|| {
            let mut bytes = 0u64;
            while !quit.load(Ordering::Relaxed) {
                if consumer.drain(1024, |r| bytes += r.data().len() as u64) == 0 {
                    std::thread::sleep(std::time::Duration::from_micros(200));
                }
            }
            bytes
        });
        for _ in 0..args.runs.max(1) {
            without.push(run(false));
            with.push(run(true));
        }
        quit.store(true, Ordering::Relaxed);
        drainer.join().unwrap_or(0)
    });
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (with, without) = (median(&mut with), median(&mut without));
    println!(
        "handoff_bench: one frame in {} a signalling match, {} MiB table, {} frames x {} runs ({drained} bytes drained)",
        args.match_every, args.table_mib, args.frames, args.runs
    );
    println!("with hand-off: {with:.2} ns/frame");
    println!("reference (no hand-off): {without:.2} ns/frame");
    println!(
        "hand-off: {:.0} ns per matched frame; ratio reference/with {:.3}",
        (with - without) * args.match_every as f64,
        without / with
    );
    Ok(())
}
