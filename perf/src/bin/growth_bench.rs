//! Table updates without a worker stall. First the bulk load: times every call a
//! worker makes between two bursts (`apply_pending` of `--budget` messages, the
//! daemon's budget by default) and prints the worst and the 99th percentile
//! against the time a 1024-descriptor RX ring takes to fill at 10 Gbit/s of
//! 64-byte frames. Then growth: loads `--targets` (default 1M) targets
//! onto one replica (IPv4 hosts, or with `--kind net6` IPv6 /56 subscriber
//! prefixes, which live in a CIDR table's per-length table), then adds single targets, one request each, until the exact
//! table has grown. For every request it times the replica's apply (what the
//! worker does between two bursts) and the writer's send (the control thread,
//! which builds the larger table). Prints the apply at the growth, the median
//! apply of an ordinary add as the reference, their ratio, and the send at the
//! growth. Then removes a third of the targets one request at a time, past the
//! quarter of stale keys at which a filter is rebuilt, and prints the worst apply
//! and send.
//!
//! `cargo run --release -p perf --bin growth_bench [-- --kind net6]`
#![forbid(unsafe_code)]

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use clap::{Parser, ValueEnum};
use dataplane::targets::{replicas, InterceptSpec, Mode, Slot, TableReplica, Target, Update};

#[derive(Parser)]
struct Args {
    /// Targets loaded before the single adds.
    #[arg(long, default_value_t = 1_000_000)]
    targets: u32,
    /// Messages a worker applies between two bursts.
    #[arg(long, default_value_t = dataplane::worker::UPDATE_BUDGET)]
    budget: usize,
    /// What the targets are.
    #[arg(long, value_enum, default_value_t = Kind::Host4)]
    kind: Kind,
}

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    /// IPv4 hosts in 10.0.0.0/8.
    Host4,
    /// IPv6 /56 prefixes in 2001:db8::/32.
    Net6,
}

impl Kind {
    /// Target number `i` (below 2^24).
    fn target(self, i: u32) -> Target {
        match self {
            Kind::Host4 => Target::Ipv4(Ipv4Addr::from(0x0a00_0000 + i)),
            Kind::Net6 => Target::Ipv6Net(
                Ipv6Addr::from(0x2001_0db8_u128 << 96 | u128::from(i) << 72),
                56,
            ),
        }
    }
}

fn add(kind: Kind, i: u32) -> Update {
    Update::AddTarget {
        slot: Slot(0),
        target: kind.target(i),
    }
}

/// Applies everything up to `epoch`; returns how long it took.
fn apply(r: &mut TableReplica, epoch: u64) -> Duration {
    let start = Instant::now();
    while r.epoch() < epoch {
        r.apply_pending(64);
    }
    start.elapsed()
}

/// Microseconds 1024 frames take to arrive at 10 Gbit/s line rate of 64-byte
/// frames (14.88 Mpps).
const RING_FILL_US: f64 = 1024.0 / 14.88;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() -> Result<()> {
    let args = Args::parse();
    ensure!(args.targets < 1 << 22, "--targets must be below 2^22");
    let kind = args.kind;
    let (mut w, mut rs) = replicas(1, 2 * args.targets as usize + 1);
    let mut r = rs.pop().context("no replica")?;
    let mut load = vec![Update::SetIntercept {
        slot: Slot(0),
        spec: InterceptSpec::always_open(1, Mode::Content),
    }];
    load.extend((0..args.targets).map(|i| add(kind, i)));
    // Sent whole before the replica applies any of it, so the timed calls do
    // not share the two cores with the writer: room for every message.
    w.send(&load);
    let mut calls = Vec::new();
    let loading = Instant::now();
    while r.epoch() < 1 {
        let start = Instant::now();
        if r.apply_pending(args.budget) == args.budget {
            calls.push(start.elapsed());
        }
    }
    let loaded_in = loading.elapsed();
    calls.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let p99 = calls
        .get(calls.len() * 99 / 100)
        .copied()
        .unwrap_or_default();
    println!(
        "bulk load of {} targets, applied in {:.2} s: apply_pending({}) worst {:.1} us, p99 {:.1} us over {} full calls (a 1024-descriptor RX ring fills in {RING_FILL_US:.0} us at 14.88 Mpps)",
        args.targets,
        loaded_in.as_secs_f64(),
        args.budget,
        us(calls.last().copied().unwrap_or_default()),
        us(p99),
        calls.len(),
    );

    let start_bytes = r.memory_bytes();
    let mut ordinary = Vec::new();
    let mut growth = None;
    for i in args.targets.. {
        let sent = Instant::now();
        let e = w.send(&[add(kind, i)]);
        let send = sent.elapsed();
        let applied = apply(&mut r, e);
        if r.memory_bytes() > start_bytes {
            growth = Some((i, send, applied));
            break;
        }
        ordinary.push(applied);
        ensure!(i < args.targets.saturating_mul(4), "the table never grew");
    }
    let (at, send, applied) = growth.context("the table never grew")?;
    ordinary.sort();
    let median = ordinary
        .get(ordinary.len() / 2)
        .copied()
        .unwrap_or_default();
    println!(
        "growth at {} targets: replica apply {:.3} ms (the swap), ordinary add {:.4} ms (median of {}), ratio {:.0}",
        at + 1,
        ms(applied),
        ms(median),
        ordinary.len(),
        applied.as_secs_f64() / median.as_secs_f64().max(1e-9)
    );
    println!(
        "writer send at the growth: {:.1} ms (builds the larger table on the control thread)",
        ms(send)
    );

    // Removals: a filter with a quarter of its keys stale is rebuilt, by the
    // writer (a fresh table) rather than the worker.
    let (mut worst_apply, mut worst_send) = (Duration::ZERO, Duration::ZERO);
    let removals = (at + 1) / 3;
    for i in 0..removals {
        let sent = Instant::now();
        let e = w.send(&[Update::RemoveTarget {
            slot: Slot(0),
            target: kind.target(i),
        }]);
        worst_send = worst_send.max(sent.elapsed());
        worst_apply = worst_apply.max(apply(&mut r, e));
    }
    println!(
        "{removals} single removals: worst replica apply {:.3} ms, worst writer send {:.1} ms (the fresh table)",
        ms(worst_apply),
        ms(worst_send)
    );
    Ok(())
}
