//! Dataplane throughput on one core: EAL + port on a vdev (normally
//! `net_pcap0,rx_pcap=FILE,infinite_rx=1`), `--targets` IPv4 targets (with
//! `--mix`, also IPv4 and IPv6 prefixes and MACs; with `--endpoints N`, N UDP
//! endpoint targets, some on the traffic's flows; with `--signalling`, the
//! probe's signalling intercept on `perf::signalling`'s addresses, its
//! matches in a ring of their own as in the daemon) loaded into the worker's
//! table replica through the update ring, one worker pinned to
//! `--core` for `--duration` seconds, and the hand-off ring drained by this
//! (control) thread as the daemon would. Prints `probe: X Mpps`.
//! `--workers N` opens N RX queues (net_pcap: one per `rx_pcap=`), worker i
//! on core `--core + i`, and prints each worker's Mpps as well.
//!
//! `dp_bench [OPTIONS] -- <EAL args>`
#![forbid(unsafe_code)]

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure, Context, Result};
use clap::Parser;
use dataplane::dpdk::{port_by_name, Eal, Mempool, Port, RxOptions};
use dataplane::handoff::{self, HandoffConsumer, SIGNALLING_KEY};
use dataplane::source::{DpdkSource, PacketSource, Poll};
use dataplane::targets::{
    self, InterceptSpec, Mode, Slot, TableReplica, TableWriter, Target, Update,
};
use dataplane::worker::{self, Clock, WorkerCtx, WorkerStats};
use perf::signalling;

#[derive(Parser, Debug)]
#[command(about = "One dataplane worker on a DPDK vdev: Mpps with N targets")]
struct Args {
    /// Target list (one IPv4 or IPv6 address a line, as written by gen_traffic).
    #[arg(long)]
    targets_file: Option<PathBuf>,
    /// Targets to provision (the first N of the list).
    #[arg(long, default_value_t = 0)]
    targets: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// DPDK port name.
    #[arg(long, default_value = "net_pcap0")]
    port: String,
    /// Mbufs in the pool (infinite_rx keeps the whole capture in mbufs).
    #[arg(long, default_value_t = 16383)]
    mbufs: u32,
    /// RX descriptors.
    #[arg(long, default_value_t = 1024)]
    rx_desc: u16,
    /// CPU core the worker is pinned to (worker i: this core + i).
    #[arg(long, default_value_t = 1)]
    core: usize,
    /// Workers, one RX queue each.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    workers: u16,
    /// What the intercept delivers for matched packets.
    #[arg(long, value_parser = ["headers", "content"], default_value = "content")]
    mode: String,
    /// Also provision a carrier's mix that no frame of the traffic is in:
    /// 1000 IPv4 /24s, 1000 IPv6 /56s and 100 MACs (stage 2 then screens the
    /// CIDR and MAC tables on every frame as well).
    #[arg(long)]
    mix: bool,
    /// Also provision this many UDP endpoint targets (a call's media; at
    /// least 1311): port 53 of the first 131 of gen_traffic's background
    /// destinations (their frames, about 0.1 %, match), port 5004 of the next
    /// 1180 (their frames, about 0.9 %, touch an address with endpoint
    /// targets on another port) and the rest on addresses no frame has.
    #[arg(long, default_value_t = 0)]
    endpoints: u32,
    /// Also install the probe's signalling intercept (the NAS, DHCP and SIP
    /// servers of gen_traffic's `--signalling-fraction` frames) with a
    /// signalling ring per worker, drained like the content ring.
    #[arg(long)]
    signalling: bool,
    /// Only receive and free (no parse/classify): the DPDK layer's own floor.
    #[arg(long)]
    rx_only: bool,
    /// EAL arguments, after `--`.
    #[arg(last = true)]
    eal: Vec<String>,
}

/// The target of one address.
fn host(addr: IpAddr) -> Target {
    match addr {
        IpAddr::V4(a) => Target::Ipv4(a),
        IpAddr::V6(a) => Target::Ipv6(a),
    }
}

fn read_targets(path: Option<&PathBuf>, n: usize) -> Result<Vec<Target>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let path = path.ok_or_else(|| anyhow!("--targets needs --targets-file"))?;
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut out = Vec::with_capacity(n);
    for line in BufReader::new(file).lines().take(n) {
        let line = line?;
        let addr = line
            .trim()
            .parse()
            .with_context(|| format!("bad address {line:?}"))?;
        out.push(host(addr));
    }
    ensure!(
        out.len() == n,
        "{} holds only {} targets",
        path.display(),
        out.len()
    );
    Ok(out)
}

/// The targets of `--mix`: in 172.16.0.0/12, 2001:db9::/32 and locally
/// administered MACs, apart from gen_traffic's addresses and MACs.
fn mix() -> impl Iterator<Item = Target> {
    let nets4 = (0..1000u32).map(|i| Target::Ipv4Net(Ipv4Addr::from(0xac10_0000 + (i << 8)), 24));
    let nets6 = (0..1000u128)
        .map(|i| Target::Ipv6Net(Ipv6Addr::from(0x2001_0db9_u128 << 96 | i << 72), 56));
    let macs = (0..100u8).map(|i| Target::Mac([6, 0, 0, 0, 1, i]));
    nets4.chain(nets6).chain(macs)
}

/// Background destinations (gen_traffic: 198.18.0.0/15, port 53) whose
/// port-53 endpoint `--endpoints` targets, and those it marks with another.
const HOT_ENDPOINTS: u32 = 131;
const MARKED_ENDPOINTS: u32 = 1311;

/// The targets of `--endpoints n` (see there).
fn endpoints(n: u32) -> impl Iterator<Item = Target> {
    let background = |i: u32| Ipv4Addr::from(0xc612_0000 + i);
    let hot = (0..HOT_ENDPOINTS.min(n)).map(move |i| Target::Ipv4Udp(background(i), 53));
    let marked =
        (HOT_ENDPOINTS..MARKED_ENDPOINTS.min(n)).map(move |i| Target::Ipv4Udp(background(i), 5004));
    // 100.64.0.0/10, two ports an address: apart from every frame.
    let idle = (MARKED_ENDPOINTS..n).map(|i| {
        let k = i - MARKED_ENDPOINTS;
        Target::Ipv4Udp(Ipv4Addr::from(0x6440_0000 + k / 2), 5004 + (k % 2) as u16)
    });
    hot.chain(marked).chain(idle)
}

/// Loads one intercept with `targets` through the update ring, the way the
/// control plane provisions a worker; returns the time it took.
/// `signalling` (the signalling intercept's addresses) go in a slot of their
/// own, as the daemon installs them.
fn provision(
    mut writer: TableWriter,
    replicas: &mut [TableReplica],
    (targets, mode): (&[Target], Mode),
    signalling: &[Target],
) -> Duration {
    let mut updates = Vec::new();
    for (slot, key, mode, targets) in [
        (Slot(0), 1, mode, targets),
        (Slot(1), SIGNALLING_KEY, Mode::Content, signalling),
    ] {
        let spec = InterceptSpec::always_open(key, mode);
        updates.push(Update::SetIntercept { slot, spec });
        updates.extend(
            targets
                .iter()
                .map(|&target| Update::AddTarget { slot, target }),
        );
    }
    let start = Instant::now();
    std::thread::scope(|s| {
        let sender = s.spawn(move || writer.send(&updates));
        let mut apply = || {
            replicas
                .iter_mut()
                .map(|r| r.apply_pending(4096))
                .sum::<usize>()
        };
        while !sender.is_finished() {
            if apply() == 0 {
                std::thread::yield_now();
            }
        }
        while apply() > 0 {}
    });
    start.elapsed()
}

/// The DPDK layer's own floor: receive and free, nothing else.
fn rx_only(mut source: DpdkSource, stats: &WorkerStats, quit: &AtomicBool) {
    let mut frames = 0u64;
    while !quit.load(Ordering::Relaxed) {
        if let Poll::Frames(n) = source.poll_burst(|_| {}) {
            frames += n as u64;
            stats.rx_packets.store(frames, Ordering::Relaxed);
        }
    }
}

/// What the control thread saw while the worker ran.
#[derive(Debug, Default)]
struct Drained {
    records: u64,
    /// Of `records`, those of the signalling rings.
    signalling: u64,
    bytes: u64,
    /// Frames each worker received between the first sample with traffic and the end.
    frames: Vec<u64>,
    /// Length of that window.
    window: Duration,
    /// CPU seconds each worker thread got over its whole life, if known.
    worker_cpu: Vec<Option<f64>>,
}

impl Drained {
    /// Takes up to `max` records of each ring of `rx` (`rx[from..]` the
    /// signalling rings); returns how many it took.
    fn drain(&mut self, (rx, from): (&mut [HandoffConsumer], usize), max: usize) -> u64 {
        let mut all = 0;
        for (i, c) in rx.iter_mut().enumerate() {
            let n = c.drain(max, |r| self.bytes += r.data().len() as u64) as u64;
            if i >= from {
                self.signalling += n;
            }
            all += n;
        }
        self.records += all;
        all
    }
}

/// CPU time (user + system) of the calling thread, from /proc (USER_HZ = 100 on
/// Linux): on a shared machine, the worker's rate per CPU-second is the figure
/// that does not depend on what else runs.
fn thread_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let mut f = rest.split(' ').skip(11);
    let (utime, stime): (u64, u64) = (f.next()?.parse().ok()?, f.next()?.parse().ok()?);
    Some((utime + stime) as f64 / 100.0)
}

/// The control side: drains hand-off records as the daemon's encoder would
/// (`rx[from..]` are signalling rings, counted apart),
/// samples the worker's frame counter from the first traffic on, and sets
/// `quit` after `duration` of traffic; the caller drains the rest once the
/// worker has stopped.
fn control(
    (rx, from): (&mut [HandoffConsumer], usize),
    stats: &[Arc<WorkerStats>],
    quit: &AtomicBool,
    duration: Duration,
) -> Drained {
    let mut out = Drained::default();
    let give_up = Instant::now() + duration + Duration::from_secs(60);
    let mut start: Option<(Instant, Vec<u64>)> = None;
    loop {
        let n = out.drain((rx, from), 1024);
        let now = Instant::now();
        let frames: Vec<u64> = stats
            .iter()
            .map(|s| s.rx_packets.load(Ordering::Relaxed))
            .collect();
        match &start {
            None if frames.iter().any(|&f| f > 0) => start = Some((now, frames)),
            Some((t0, f0)) if now - *t0 >= duration => {
                out.frames = frames.iter().zip(f0).map(|(f, f0)| f - f0).collect();
                out.window = now - *t0;
                break;
            }
            _ if now >= give_up => break,
            _ => {}
        }
        if n == 0 {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    quit.store(true, Ordering::Relaxed);
    out
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mode = if args.mode == "headers" {
        Mode::Headers
    } else {
        Mode::Content
    };
    let mut targets = read_targets(args.targets_file.as_ref(), args.targets)?;

    let mut eal_args = vec!["dp_bench".to_owned()];
    eal_args.extend(args.eal.iter().cloned());
    let eal = Eal::init(&eal_args).context("EAL init")?;
    let pool = Mempool::new(&eal, "dp_bench", args.mbufs, 256, 2176).context("mempool")?;
    let port_id = port_by_name(&eal, &args.port).context("port")?;
    let port = Port::configure(
        port_id,
        args.workers,
        args.rx_desc,
        &pool,
        RxOptions::default(),
    )
    .context("port configure")?;
    port.start().context("port start")?;
    let queues = (0..args.workers)
        .map(|q| port.rx_queue(q))
        .collect::<Result<Vec<_>, _>>()?;

    let (writer, mut replicas) = targets::replicas(usize::from(args.workers), 4096);
    if args.mix {
        targets.extend(mix());
    }
    ensure!(
        args.endpoints == 0 || args.endpoints >= MARKED_ENDPOINTS,
        "--endpoints needs at least {MARKED_ENDPOINTS}"
    );
    targets.extend(endpoints(args.endpoints));
    let signalling: Vec<Target> = if args.signalling {
        signalling::ADDRESSES.into_iter().map(host).collect()
    } else {
        Vec::new()
    };
    let load = provision(writer, &mut replicas, (&targets, mode), &signalling);
    for r in &replicas {
        ensure!(
            r.target_count() == targets.len() + signalling.len(),
            "replica holds {} targets",
            r.target_count()
        );
    }
    let mem = replicas.first().map_or(0, TableReplica::memory_bytes);
    println!(
        "dp_bench: {} targets loaded in {:.2} s, table {} bytes = {} bytes/target/worker",
        targets.len(),
        load.as_secs_f64(),
        mem,
        mem.checked_div(targets.len()).unwrap_or(0)
    );

    let (mut producers, mut consumers): (Vec<_>, Vec<_>) = (0..args.workers)
        .map(|_| handoff::channel(4096, 2048))
        .unzip();
    // Consumers from here on are the signalling rings.
    let from = consumers.len();
    if args.signalling {
        producers = producers
            .into_iter()
            .map(|p| {
                let (ring, consumer) = handoff::channel(4096, 2048);
                consumers.push(consumer);
                p.with_signalling(ring)
            })
            .collect();
    }
    let stats: Vec<Arc<WorkerStats>> = (0..args.workers)
        .map(|_| Arc::new(WorkerStats::default()))
        .collect();
    let quit = AtomicBool::new(false);
    let armed = Arc::new(AtomicBool::new(true));
    let parts = queues.into_iter().zip(replicas).zip(producers).zip(&stats);
    let ctxs: Vec<_> = parts
        .enumerate()
        .map(|(i, (((rx, tables), handoff), stats))| WorkerCtx {
            id: u16::try_from(i).unwrap_or(u16::MAX),
            source: DpdkSource::new(rx),
            tables,
            handoff,
            stats: Arc::clone(stats),
            clock: Clock::System,
            update_budget: dataplane::worker::UPDATE_BUDGET,
            armed: Arc::clone(&armed),
        })
        .collect();
    let rx_only_mode = args.rx_only;
    let duration = Duration::from_secs_f64(args.duration);
    let drained = std::thread::scope(|s| -> Result<Drained> {
        let quit = &quit;
        let workers: Vec<_> = ctxs
            .into_iter()
            .enumerate()
            .map(|(i, ctx)| {
                let core = args.core + i;
                s.spawn(move || {
                    if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
                        eprintln!("dp_bench: could not pin worker {i} to core {core}");
                    }
                    let cpu0 = thread_cpu_secs();
                    if rx_only_mode {
                        rx_only(ctx.source, &ctx.stats, quit);
                    } else {
                        worker::run(ctx, quit);
                    }
                    thread_cpu_secs().zip(cpu0).map(|(b, a)| b - a)
                })
            })
            .collect();
        let mut drained = control((&mut consumers, from), &stats, quit, duration);
        for w in workers {
            let cpu = w.join().map_err(|_| anyhow!("worker panicked"))?;
            drained.worker_cpu.push(cpu);
        }
        drained.drain((&mut consumers, from), usize::MAX);
        Ok(drained)
    })?;

    let secs = drained.window.as_secs_f64();
    ensure!(secs > 0.0, "no traffic received");
    let port_stats = port.stats()?;
    let sum = |f: &dyn Fn(&WorkerStats) -> u64| stats.iter().map(|s| f(s)).sum::<u64>();
    let parse_errors = sum(&|s| {
        s.parse_errors
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    });
    println!(
        "matches {} handoff-drops {} signalling-drops {} parse-errors {parse_errors} drained {} records ({} signalling, {} bytes)",
        sum(&|s| s.matches.load(Ordering::Relaxed)),
        sum(&|s| s.handoff_drops.load(Ordering::Relaxed)),
        sum(&|s| s.signalling_drops.load(Ordering::Relaxed)),
        drained.records,
        drained.signalling,
        drained.bytes
    );
    println!(
        "port: ipackets {} imissed {} ierrors {} rx_nombuf {}",
        port_stats.ipackets, port_stats.imissed, port_stats.ierrors, port_stats.rx_nombuf
    );
    let cpu: Option<f64> = drained.worker_cpu.iter().copied().sum();
    if let Some(cpu) = cpu.filter(|&c| c > 0.0) {
        let total = sum(&|s| s.rx_packets.load(Ordering::Relaxed));
        println!(
            "worker: {:.2} Mpps per worker CPU-second ({total} frames in {cpu:.2} CPU-s)",
            total as f64 / cpu / 1e6
        );
    }
    if args.workers > 1 {
        for (i, f) in drained.frames.iter().enumerate() {
            println!(
                "worker {i} on core {}: {:.2} Mpps",
                args.core + i,
                *f as f64 / secs / 1e6
            );
        }
    }
    let frames: u64 = drained.frames.iter().sum();
    println!(
        "probe: {:.2} Mpps ({} frames in {secs:.2} s, {} targets{}{}{}{})",
        frames as f64 / secs / 1e6,
        frames,
        args.targets,
        if args.mix { " and the mix" } else { "" },
        if args.endpoints > 0 {
            format!(" and {} UDP endpoints", args.endpoints)
        } else {
            String::new()
        },
        if args.signalling {
            " and the signalling intercept"
        } else {
            ""
        },
        if rx_only_mode { ", rx only" } else { "" }
    );
    Ok(())
}
