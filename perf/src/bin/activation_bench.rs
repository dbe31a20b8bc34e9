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
//!
//! `cargo run --release -p perf --bin activation_bench -- --n 500`
#![forbid(unsafe_code)]

use std::net::Ipv4Addr;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use control::api::{Peer, Provisioning};
use control::daemon::Controller;
use control::metrics::ProbeMetrics;
use control::model::{InterceptRequest, TargetPolicy};
use control::store::Store;
use control::x1::message::{
    write_request, DeliveryType, Kind, Request, TargetIdentifier, TaskDetails,
};
use control::x1::X1Service;
use dataplane::handoff::{channel, HandoffConsumer};
use dataplane::parse::IpPair;
use dataplane::source::{FrameBuf, PacketSource, Poll, RxBurst};
use dataplane::synth::Frame;
use dataplane::worker::{spawn, Clock, WorkerCtx, WorkerStats};
use hdrhistogram::Histogram;

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

/// Endless traffic, one burst of 32 frames per poll: keeps the workers in their
/// packet loop (classify misses) while updates arrive. The bench swaps the burst
/// to put a frame of the next X1 target in it.
struct Traffic {
    frames: Arc<Mutex<FrameBuf>>,
}

impl PacketSource for Traffic {
    type Burst<'a> = FrameBuf;

    fn poll_burst<F: FnOnce(&FrameBuf)>(&mut self, f: F) -> Poll {
        let frames = self.frames.lock().unwrap_or_else(PoisonError::into_inner);
        f(&frames);
        Poll::Frames(frames.len())
    }
}

/// 31 frames to nobody and one to `target` (if any).
fn burst(target: Option<Ipv4Addr>) -> FrameBuf {
    let frame = |dst| {
        Frame::ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(Ipv4Addr::new(192, 0, 2, 1), dst)
            .udp(1000, 2000)
            .payload(&[0; 18])
            .build()
    };
    let other = frame(Ipv4Addr::new(192, 0, 2, 2));
    let mut b = FrameBuf::default();
    for _ in 0..31 {
        b.push(&other, 0, None);
    }
    b.push(
        &frame(target.unwrap_or(Ipv4Addr::new(192, 0, 2, 2))),
        0,
        None,
    );
    b
}

/// Drains every ring; true if a record of a packet to `target` was among them.
fn saw(consumers: &mut [HandoffConsumer], target: Ipv4Addr) -> bool {
    let mut seen = false;
    for c in consumers {
        c.drain(usize::MAX, |r| {
            seen |= matches!(r.packet().addrs, Some(IpPair::V4 { dst, .. }) if dst == target);
        });
    }
    seen
}

/// The bench destination: named by a DID so that X1 tasks can name it.
const DID: &str = "7d1c3a52-6a1e-4c0b-9a35-0c8e2b7c9f10";

fn request(liid: &str, targets: Vec<String>) -> InterceptRequest {
    InterceptRequest {
        liid: liid.to_owned(),
        warrant_ref: "BENCH".into(),
        issuing_authority: "bench".into(),
        valid_from: "2026-01-01T00:00:00Z".into(),
        valid_until: "2099-01-01T00:00:00Z".into(),
        mode: "content".into(),
        targets,
        destinations: vec![DID.into()],
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    // Inside every benchmark window; fixed so the run needs no clock crate.
    let now = control::model::parse_time("now", "2026-11-21T00:00:00Z")?;
    let dir = std::env::temp_dir().join(format!("activation-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let store = Store::open(&dir.join("probe.db"), &dir.join("audit.jsonl")).context("store")?;
    let dest: control::model::Destination = serde_json::from_value(serde_json::json!({
        "name": DID, "address": "127.0.0.1:9", "format": "x2x3", "insecure_plaintext": true,
        "spool_dir": dir.join("spool")
    }))?;
    store.create_destination(&dest, "bench")?;

    let (writer, replicas) = dataplane::targets::replicas(args.workers, 65_536);
    let quit = Arc::new(AtomicBool::new(false));
    let armed = Arc::new(AtomicBool::new(true));
    let traffic = Arc::new(Mutex::new(burst(None)));
    let mut threads = Vec::new();
    let mut consumers = Vec::new();
    for (i, tables) in replicas.into_iter().enumerate() {
        let (handoff, consumer) = channel(1024, 2048);
        consumers.push(consumer);
        let ctx = WorkerCtx {
            id: u16::try_from(i)?,
            source: Traffic {
                frames: Arc::clone(&traffic),
            },
            tables,
            handoff,
            stats: Arc::new(WorkerStats::default()),
            clock: Clock::System,
            update_budget: dataplane::worker::UPDATE_BUDGET,
            armed: armed.clone(),
        };
        threads.push(spawn(ctx, None, quit.clone())?);
    }
    let controller = Arc::new(Controller::new(
        store.clone(),
        writer,
        None,
        ProbeMetrics::unregistered()?,
        Duration::from_secs(60),
        TargetPolicy::default(),
    ));

    // Preload: intercepts of up to 100 000 targets each, through the real path.
    let started = Instant::now();
    let per = 100_000u32;
    let mut loaded = 0u32;
    while loaded < args.targets {
        let count = per.min(args.targets - loaded);
        let targets = (loaded..loaded + count)
            .map(|k| Ipv4Addr::from(0x0A00_0000 + k).to_string())
            .collect();
        let valid = request(&format!("PRELOAD-{loaded}"), targets)
            .validate(now, &TargetPolicy::default())?;
        let i = store.create_intercept(&valid, "bench", now)?;
        let epoch = controller.install(&i)?;
        if !controller.wait_applied(epoch) {
            bail!("preload not applied");
        }
        loaded += count;
    }
    println!(
        "preloaded {loaded} targets on {} worker(s) in {:.1} s",
        args.workers,
        started.elapsed().as_secs_f64()
    );

    let mut total = Histogram::<u64>::new(3)?;
    let mut apply = Histogram::<u64>::new(3)?;
    for n in 0..args.n {
        let target = Ipv4Addr::from(0xC000_0000 + n).to_string();
        let valid =
            request(&format!("BENCH-{n}"), vec![target]).validate(now, &TargetPolicy::default())?;
        let t0 = Instant::now();
        let i = store.create_intercept(&valid, "bench", now)?;
        let t1 = Instant::now();
        let epoch = controller.install(&i)?;
        if !controller.wait_applied(epoch) {
            bail!("creation {n} not applied");
        }
        let t2 = Instant::now();
        total.record(u64::try_from((t2 - t0).as_micros())?)?;
        apply.record(u64::try_from((t2 - t1).as_micros())?)?;
        // Keep the hand-off rings empty (nothing matches, but be safe).
        for c in &mut consumers {
            c.drain(usize::MAX, |_| {});
        }
    }
    // X1: ActivateTask received -> answered, and -> first packet handed off.
    let x1 = X1Service::new(
        Arc::clone(&controller) as Arc<dyn Provisioning>,
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
        *traffic.lock().unwrap_or_else(PoisonError::into_inner) = burst(Some(target));
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
        let _ = saw(&mut consumers, target);
        let t0 = Instant::now();
        let reply = x1.handle(&peer, body.as_bytes());
        let t1 = Instant::now();
        if !reply.body.contains("AcknowledgedAndCompleted") {
            bail!("X1 activation {n} refused: {}", reply.body);
        }
        let deadline = t0 + Duration::from_secs(1);
        while !saw(&mut consumers, target) {
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
    quit.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
