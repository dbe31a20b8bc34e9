//! Activation latency: with `--targets` (default 1M) IPv4 targets already loaded on
//! `--workers` workers that are polling a source, measures for `--n` intercept
//! creations the time from "request accepted" (store commit, with its audit
//! record, fsync'd) to "every worker applied it" (epoch reached on all replicas),
//! and the table part alone. Prints p50/p99/max in ms. Goal: p99 < 5 ms.
//!
//! `cargo run --release -p perf --bin activation_bench -- --n 500`
#![forbid(unsafe_code)]

use std::net::Ipv4Addr;
use std::time::Instant;

use anyhow::{bail, Result};
use clap::Parser;
use hdrhistogram::Histogram;
use perf::loaded::Loaded;

#[derive(Parser)]
struct Args {
    /// Targets preloaded on every worker.
    #[arg(long, default_value_t = 1_000_000)]
    targets: u32,
    /// Intercept creations measured.
    #[arg(long, default_value_t = 200)]
    n: u32,
    /// Workers (each polls its own source).
    #[arg(long, default_value_t = 1)]
    workers: usize,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mut loaded = Loaded::start("activation-bench", args.targets, args.workers)?;
    let mut total = Histogram::<u64>::new(3)?;
    let mut apply = Histogram::<u64>::new(3)?;
    for n in 0..args.n {
        let target = Ipv4Addr::from(0xC000_0000 + n).to_string();
        let t0 = Instant::now();
        let i = loaded.create(&format!("BENCH-{n}"), vec![target])?;
        let t1 = Instant::now();
        let epoch = loaded.controller.install(&i)?;
        if !loaded.controller.wait_applied(epoch) {
            bail!("creation {n} not applied");
        }
        let t2 = Instant::now();
        total.record(u64::try_from((t2 - t0).as_micros())?)?;
        apply.record(u64::try_from((t2 - t1).as_micros())?)?;
        loaded.drain();
    }
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    for (name, h) in [
        ("accepted (commit+fsync) -> all workers applied", &total),
        ("tables only: send -> all workers applied", &apply),
    ] {
        println!(
            "{name}: n={} p50={:.3} ms p99={:.3} ms max={:.3} ms",
            h.len(),
            ms(h, 0.5),
            ms(h, 0.99),
            h.max() as f64 / 1000.0
        );
    }
    loaded.stop();
    Ok(())
}
