//! Activation latency: with `--targets` (default 1M) IPv4 targets already loaded on
//! `--workers` workers that are polling a source, measures for `--n` intercept
//! creations the time from "request accepted" (store commit, with its audit
//! record, fsync'd) to "every worker applied it" (epoch reached on all replicas),
//! and the table part alone. Prints p50/p99/max in ms. Goal: p99 < 5 ms.
//!
//! Then, as many X1 activations (#28): an `ActivateTaskRequest` document handed
//! to the NE's real X1 handler (parse, schema checks, store, tables) while the
//! workers' traffic already holds a frame of the task's new target, to the
//! first record of that target handed off by a worker. Goal: p99 < 10 ms.
//! Last, the ratio of that to the reference (accepted -> all workers applied).
//!
//! `cargo run --release -p perf --bin activation_bench -- --n 500`
#![forbid(unsafe_code)]

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::Parser;
use control::api::{Peer, Provisioning};
use control::x1::message::{
    write_request, DeliveryType, Kind, Request, TargetIdentifier, TaskDetails,
};
use control::x1::X1Service;
use hdrhistogram::Histogram;
use perf::loaded::{Loaded, DID};

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
    // X1: ActivateTask received -> answered, and -> first packet handed off.
    let x1 = X1Service::new(
        Arc::clone(&loaded.controller) as Arc<dyn Provisioning>,
        &serde_json::from_value(serde_json::json!({
            "listen": "127.0.0.1:0", "admf_identities": ["admf"]
        }))?,
        "ne".into(),
    );
    let peer = Peer {
        cn: "admf".into(),
        addr: "127.0.0.1:1".into(),
    };
    let did = uuid::Uuid::parse_str(DID)?;
    let mut answered = Histogram::<u64>::new(3)?;
    let mut first = Histogram::<u64>::new(3)?;
    for n in 0..args.n {
        let target = Ipv4Addr::from(0xC100_0000 + n);
        loaded.send_to(target);
        let body = write_request(
            "admf",
            "ne",
            &[(
                uuid::Uuid::new_v4(),
                Kind::ActivateTask,
                Request::ActivateTask(TaskDetails {
                    xid: uuid::Uuid::new_v4(),
                    targets: vec![TargetIdentifier::Ipv4(target)],
                    delivery: DeliveryType::X2AndX3,
                    dids: vec![did],
                    mediation: None,
                }),
            )],
        );
        let _ = loaded.saw(target);
        let t0 = Instant::now();
        let reply = x1.handle(&peer, body.as_bytes());
        let t1 = Instant::now();
        if !reply.body.contains("AcknowledgedAndCompleted") {
            bail!("X1 activation {n} refused: {}", reply.body);
        }
        let deadline = t0 + Duration::from_secs(1);
        while !loaded.saw(target) {
            if Instant::now() > deadline {
                bail!("no packet of X1 target {n} handed off within 1 s");
            }
            std::hint::spin_loop();
        }
        let t2 = Instant::now();
        answered.record(u64::try_from((t1 - t0).as_micros())?)?;
        first.record(u64::try_from((t2 - t0).as_micros())?)?;
    }
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    for (name, h) in [
        ("accepted (commit+fsync) -> all workers applied", &total),
        ("tables only: send -> all workers applied", &apply),
        ("X1 ActivateTask received -> answered OK", &answered),
        (
            "X1 ActivateTask received -> first packet handed off",
            &first,
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
    // Both paths measured in this run on the same load: the ratio is what X1
    // (XML, schema checks, the first packet's hand-off) costs over the
    // reference, whatever the machine and profile.
    println!(
        "ratio X1 first packet / reference: p50={:.2} p99={:.2} max={:.2}",
        ms(&first, 0.5) / ms(&total, 0.5),
        ms(&first, 0.99) / ms(&total, 0.99),
        first.max() as f64 / total.max() as f64
    );
    loaded.stop();
    Ok(())
}
