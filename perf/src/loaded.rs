//! A controller over `workers` polling workers with many address targets
//! already in their tables: the setup of the table-latency benchmarks.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use control::daemon::Controller;
use control::metrics::ProbeMetrics;
use control::model::{InterceptRequest, TargetPolicy};
use control::store::Store;
use dataplane::handoff::{channel, HandoffConsumer};
use dataplane::parse::IpPair;
use dataplane::source::{FrameBuf, PacketSource, Poll, RxBurst};
use dataplane::synth::Frame;
use dataplane::worker::{spawn, Clock, Exit, WorkerCtx, WorkerStats};

/// Endless traffic, one burst of 32 frames per poll: keeps the workers in their
/// packet loop (classify misses) while updates arrive. [`Loaded::send_to`] swaps
/// the burst to put a frame of a new target in it.
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
    let nobody = Ipv4Addr::new(192, 0, 2, 2);
    let other = frame(nobody);
    let mut b = FrameBuf::default();
    for _ in 0..31 {
        b.push(&other, 0, None);
    }
    b.push(&frame(target.unwrap_or(nobody)), 0, None);
    b
}

/// The bench destination: named by a DID so that X1 tasks can name it.
pub const DID: &str = "7d1c3a52-6a1e-4c0b-9a35-0c8e2b7c9f10";

/// A content request for `targets`, valid throughout any benchmark run.
pub fn request(liid: &str, targets: Vec<String>) -> InterceptRequest {
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

/// Store, controller and running workers with the preloaded targets.
pub struct Loaded {
    /// The store (in a temporary directory).
    pub store: Store,
    /// The controller sending the workers' table updates.
    pub controller: Arc<Controller>,
    traffic: Arc<Mutex<FrameBuf>>,
    consumers: Vec<HandoffConsumer>,
    threads: Vec<JoinHandle<Exit>>,
    quit: Arc<AtomicBool>,
    dir: PathBuf,
}

impl Loaded {
    /// Preloads `targets` IPv4 targets (10.0.0.0 upwards) on `workers` workers
    /// through the real path, intercepts of up to 100 000 targets each.
    ///
    /// # Errors
    /// Store, threads, or the preload not applied.
    pub fn start(name: &str, targets: u32, workers: usize) -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let store =
            Store::open(&dir.join("probe.db"), &dir.join("audit.jsonl")).context("store")?;
        let dest: control::model::Destination = serde_json::from_value(serde_json::json!({
            "name": DID, "address": "127.0.0.1:9", "format": "x2x3", "insecure_plaintext": true,
            "spool_dir": dir.join("spool")
        }))?;
        store.create_destination(&dest, "bench")?;

        let (writer, replicas) = dataplane::targets::replicas(workers, 65_536);
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
        let loaded = Self {
            store,
            controller,
            traffic,
            consumers,
            threads,
            quit,
            dir,
        };
        let started = Instant::now();
        let per = 100_000u32;
        let mut n = 0u32;
        while n < targets {
            let count = per.min(targets - n);
            let list = (n..n + count)
                .map(|k| Ipv4Addr::from(0x0A00_0000 + k).to_string())
                .collect();
            let i = loaded.create(&format!("PRELOAD-{n}"), list)?;
            let epoch = loaded.controller.install(&i)?;
            if !loaded.controller.wait_applied(epoch) {
                bail!("preload not applied");
            }
            n += count;
        }
        println!(
            "preloaded {n} targets on {workers} worker(s) in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Ok(loaded)
    }

    /// Stores (does not install) a content intercept of `targets`.
    ///
    /// # Errors
    /// Invalid request or store failure.
    pub fn create(&self, liid: &str, targets: Vec<String>) -> Result<control::model::Intercept> {
        // Inside every benchmark window; fixed so the run needs no clock crate.
        let now = control::model::parse_time("now", "2026-11-21T00:00:00Z")?;
        let valid = request(liid, targets).validate(now, &TargetPolicy::default())?;
        Ok(self.store.create_intercept(&valid, "bench", now)?)
    }

    /// From the next burst on, the traffic holds a frame to `target`.
    pub fn send_to(&self, target: Ipv4Addr) {
        *self.traffic.lock().unwrap_or_else(PoisonError::into_inner) = burst(Some(target));
    }

    /// Drains every ring; true if a record of a packet to `target` was among them.
    pub fn saw(&mut self, target: Ipv4Addr) -> bool {
        let mut seen = false;
        for c in &mut self.consumers {
            c.drain(usize::MAX, |r| {
                seen |= matches!(r.packet().addrs, Some(IpPair::V4 { dst, .. }) if dst == target);
            });
        }
        seen
    }

    /// Empties the hand-off rings (nothing matches, but be safe).
    pub fn drain(&mut self) {
        for c in &mut self.consumers {
            c.drain(usize::MAX, |_| {});
        }
    }

    /// Stops the workers and removes the temporary directory.
    pub fn stop(self) {
        self.quit.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
