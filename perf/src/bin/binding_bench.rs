//! Binding latency: with `--targets` (default 1M) IPv4 targets loaded on
//! `--workers` polling workers, measures for `--n` subscriber bindings of an
//! identity intercept the time from the binding change reaching the controller
//! (`Controller::bind`, what the session glue calls for a `BindingChange`) to
//! every worker's acknowledgement, and the same for the binding's end
//! (`unbind`). Reference in the same run: an address intercept's activation
//! (install → every worker). Prints p50/p99/max in ms. Goal: p99 < 5 ms.
//!
//! `cargo run --release -p perf --bin binding_bench -- --n 2000`
#![forbid(unsafe_code)]

use std::net::Ipv4Addr;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;
use dataplane::targets::Target;
use hdrhistogram::Histogram;
use perf::loaded::Loaded;

#[derive(Parser)]
struct Args {
    /// Targets preloaded on every worker.
    #[arg(long, default_value_t = 1_000_000)]
    targets: u32,
    /// Bindings measured (each also ended).
    #[arg(long, default_value_t = 2000)]
    n: u32,
    /// Address intercept activations measured as the reference.
    #[arg(long, default_value_t = 200)]
    reference: u32,
    /// Workers (each polls its own source).
    #[arg(long, default_value_t = 1)]
    workers: usize,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mut loaded = Loaded::start("binding-bench", args.targets, args.workers)?;
    let micros = |t: Instant| u64::try_from(t.elapsed().as_micros());
    // The subscriber's warrant (its own address target only keeps it valid).
    let warrant = loaded.create("SUBSCRIBER", vec!["198.18.0.1".into()])?;
    let epoch = loaded.controller.install(&warrant)?;
    if !loaded.controller.wait_applied(epoch) {
        bail!("warrant not applied");
    }
    let mut bind = Histogram::<u64>::new(3)?;
    let mut unbind = Histogram::<u64>::new(3)?;
    for n in 0..args.n {
        // A fresh address per session: each binding adds and removes a table entry.
        let address = [Target::Ipv4(Ipv4Addr::from(0x6440_0000 + n))];
        let t0 = Instant::now();
        let epoch = loaded
            .controller
            .bind(warrant.key, &address)
            .context("warrant not installed")?;
        if !loaded.controller.wait_applied(epoch) {
            bail!("binding {n} not applied");
        }
        bind.record(micros(t0)?)?;
        let t1 = Instant::now();
        let epoch = loaded
            .controller
            .unbind(warrant.key, &address)
            .context("warrant not installed")?;
        if !loaded.controller.wait_applied(epoch) {
            bail!("unbinding {n} not applied");
        }
        unbind.record(micros(t1)?)?;
        loaded.drain();
    }
    let mut reference = Histogram::<u64>::new(3)?;
    for n in 0..args.reference {
        let i = loaded.create(
            &format!("REF-{n}"),
            vec![Ipv4Addr::from(0xC000_0000 + n).to_string()],
        )?;
        let t0 = Instant::now();
        let epoch = loaded.controller.install(&i)?;
        if !loaded.controller.wait_applied(epoch) {
            bail!("reference {n} not applied");
        }
        reference.record(micros(t0)?)?;
    }
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    for (name, h) in [
        ("binding -> all workers applied", &bind),
        ("binding end -> all workers applied", &unbind),
        (
            "reference: address intercept install -> all workers applied",
            &reference,
        ),
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
