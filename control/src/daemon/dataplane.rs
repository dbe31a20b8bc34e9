//! The daemon's dataplane: EAL + ports + one worker per RX queue (or one worker on
//! the `[dataplane] pcap_file` source, no EAL), each owning a table replica and a
//! hand-off producer. Workers apply table updates from the start but poll no packet
//! until [`Dataplane::arm`], which the daemon calls once every stored intercept is
//! in effect on every worker.

use std::collections::btree_map::{BTreeMap, Entry};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use dataplane::dpdk::{port_by_name, port_socket, Eal, Mempool, Port, RxOptions};
use dataplane::handoff::{channel, HandoffConsumer, HandoffProducer};
use dataplane::source::{DpdkSource, PacketSource, PcapSource, Poll};
use dataplane::targets::TableReplica;
use dataplane::worker::{spawn, Clock, Exit, WorkerCtx, WorkerStats, UPDATE_BUDGET};

use super::signalling::SignallingInput;
use super::DaemonError;
use crate::config::{DataplaneConfig, PortRef, Timestamps};
use crate::doctor::{node_of_cpu, Host};
use crate::metrics::{NicSample, ProbeMetrics, WorkerSample};

/// RX descriptors per queue.
const RX_DESC: u16 = 1024;
/// Per-lcore mempool cache.
const POOL_CACHE: u32 = 256;
/// mbuf data room: DPDK's default (2 KiB + headroom); larger frames are
/// scattered over several (see `[dataplane] mtu`).
const MBUF_DATA_ROOM: u16 = 2048 + 128;
/// Record size of a signalling ring: the longest RADIUS packet (4096 bytes,
/// RFC 2865) with room for its headers and encapsulations.
const SIGNALLING_FRAME_CAPACITY: usize = 4096 + 512;
/// Parse-error counter names, by `ParseError::index()`.
const PARSE_ERROR_KINDS: [&str; dataplane::parse::ParseError::COUNT] =
    ["truncated", "bad_length", "bad_version", "too_deep"];

/// A capture file replayed once; afterwards the worker idles (instead of
/// exiting) so it keeps applying table updates and the API keeps working.
struct ReplayOnce(PcapSource);

impl PacketSource for ReplayOnce {
    type Burst<'a> = <PcapSource as PacketSource>::Burst<'a>;

    fn poll_burst<F: FnOnce(&Self::Burst<'_>)>(&mut self, f: F) -> Poll {
        match self.0.poll_burst(f) {
            Poll::Exhausted => {
                std::thread::sleep(std::time::Duration::from_micros(200));
                Poll::Idle
            }
            other => other,
        }
    }
}

enum Sources {
    Pcap(Vec<ReplayOnce>),
    Dpdk(Vec<DpdkSource>),
}

/// Workers, their counters, the arm/quit flags, and the DPDK objects they need.
/// Field order is drop order: queues and ports before the pools, the EAL last.
pub(super) struct Dataplane {
    sources: Option<Sources>,
    workers: usize,
    ports: Vec<Port>,
    _pools: Vec<Mempool>,
    _eal: Option<Eal>,
    clock: Clock,
    handoff_capacity: usize,
    frame_capacity: usize,
    cores: Vec<usize>,
    armed: Arc<AtomicBool>,
    quit: Arc<AtomicBool>,
    stats: Vec<Arc<WorkerStats>>,
    threads: Vec<JoinHandle<Exit>>,
}

fn dp_err(what: &str) -> impl FnOnce(dataplane::dpdk::DpdkError) -> DaemonError + '_ {
    move |e| DaemonError::Dataplane(format!("{what}: {e}"))
}

impl Dataplane {
    /// Opens the source: the capture file, or EAL + every configured port
    /// (started; nothing is polled until armed).
    pub(super) fn prepare(cfg: &DataplaneConfig) -> Result<Self, DaemonError> {
        let clock = match cfg.timestamps {
            Timestamps::Device => Clock::Source,
            Timestamps::System => Clock::System,
        };
        let burst = usize::from(cfg.burst);
        let (sources, ports, pools, eal) = if let Some(pcap) = &cfg.pcap_file {
            let src = PcapSource::open(pcap, burst)
                .map_err(|e| DaemonError::Dataplane(format!("{}: {e}", pcap.display())))?;
            (
                Sources::Pcap(vec![ReplayOnce(src)]),
                Vec::new(),
                Vec::new(),
                None,
            )
        } else {
            let mut args = vec!["calea-probe".to_owned()];
            args.extend(cfg.eal_args.iter().cloned());
            let eal = Eal::init(&args).map_err(dp_err("EAL init ([dataplane] eal_args)"))?;
            let ids = cfg
                .ports
                .iter()
                .map(|p| match p {
                    PortRef::Id(id) => Ok(*id),
                    PortRef::Name(name) => {
                        port_by_name(&eal, name).map_err(dp_err("[dataplane] ports"))
                    }
                })
                .collect::<Result<Vec<u16>, _>>()?;
            let sockets: Vec<Option<u32>> = ids.iter().map(|&id| port_socket(&eal, id)).collect();
            warn_off_node(
                &Host::new(std::path::Path::new("/")),
                &cfg.cores,
                &sockets,
                usize::from(cfg.workers_per_port),
            );
            // One pool per NUMA node holding a port, on that node: the NIC
            // writes every frame into it and the node's workers read them.
            let mut pools = BTreeMap::new();
            let mut ports = Vec::new();
            let mut sources = Vec::new();
            for (&id, &socket) in ids.iter().zip(&sockets) {
                let pool = match pools.entry(socket) {
                    Entry::Occupied(e) => e.into_mut(),
                    Entry::Vacant(e) => e.insert(
                        Mempool::on_socket(
                            &eal,
                            &socket
                                .map_or_else(|| "calea_rx".to_owned(), |s| format!("calea_rx{s}")),
                            cfg.mbufs,
                            POOL_CACHE,
                            MBUF_DATA_ROOM,
                            socket,
                        )
                        .map_err(dp_err("mbuf pool ([dataplane] mbufs)"))?,
                    ),
                };
                let port = Port::configure(
                    id,
                    cfg.workers_per_port,
                    RX_DESC,
                    pool,
                    RxOptions {
                        timestamps: clock == Clock::Source,
                        mtu: cfg.port_mtu(),
                    },
                )
                .map_err(dp_err("port configure"))?;
                for q in 0..cfg.workers_per_port {
                    sources.push(DpdkSource::new(
                        port.rx_queue(q).map_err(dp_err("rx queue"))?,
                    ));
                }
                port.start().map_err(dp_err("port start"))?;
                ports.push(port);
            }
            if sources.is_empty() {
                return Err(DaemonError::Dataplane(
                    "[dataplane] ports is empty and no pcap_file is set".into(),
                ));
            }
            (
                Sources::Dpdk(sources),
                ports,
                pools.into_values().collect(),
                Some(eal),
            )
        };
        let workers = match &sources {
            Sources::Pcap(s) => s.len(),
            Sources::Dpdk(s) => s.len(),
        };
        Ok(Self {
            sources: Some(sources),
            workers,
            ports,
            _pools: pools,
            _eal: eal,
            clock,
            handoff_capacity: cfg.handoff_capacity,
            frame_capacity: cfg.frame_capacity,
            cores: cfg.cores.clone(),
            armed: Arc::new(AtomicBool::new(false)),
            quit: Arc::new(AtomicBool::new(false)),
            stats: (0..workers)
                .map(|_| Arc::new(WorkerStats::default()))
                .collect(),
            threads: Vec::new(),
        })
    }

    /// Number of workers (one per RX queue).
    pub(super) fn workers(&self) -> usize {
        self.workers
    }

    /// One hand-off channel per worker.
    pub(super) fn handoff_channels(&self) -> (Vec<HandoffProducer>, Vec<HandoffConsumer>) {
        (0..self.workers)
            .map(|_| channel(self.handoff_capacity, self.frame_capacity))
            .unzip()
    }

    /// Gives each of `producers` (one per worker) a signalling ring of as many
    /// records as its hand-off ring; returns them and the rings' inputs of the
    /// signalling path.
    pub(super) fn signalling_channels(
        &self,
        producers: Vec<HandoffProducer>,
    ) -> (Vec<HandoffProducer>, Vec<SignallingInput>) {
        let frame_capacity = self.frame_capacity.min(SIGNALLING_FRAME_CAPACITY);
        producers
            .into_iter()
            .zip(&self.stats)
            .map(|(p, stats)| {
                let (ring, consumer) = channel(self.handoff_capacity, frame_capacity);
                let input = SignallingInput {
                    ring: consumer,
                    stats: Arc::clone(stats),
                };
                (p.with_signalling(ring), input)
            })
            .unzip()
    }

    /// Starts the workers, unarmed: worker i on `cores[i]` if configured.
    pub(super) fn spawn(
        &mut self,
        replicas: Vec<TableReplica>,
        producers: Vec<HandoffProducer>,
    ) -> Result<(), DaemonError> {
        match self.sources.take() {
            Some(Sources::Pcap(s)) => self.spawn_all(s, replicas, producers),
            Some(Sources::Dpdk(s)) => self.spawn_all(s, replicas, producers),
            None => Ok(()),
        }
    }

    fn spawn_all<S: PacketSource + Send + 'static>(
        &mut self,
        sources: Vec<S>,
        replicas: Vec<TableReplica>,
        producers: Vec<HandoffProducer>,
    ) -> Result<(), DaemonError> {
        let parts = sources.into_iter().zip(replicas).zip(producers);
        for (i, ((source, tables), handoff)) in parts.enumerate() {
            let ctx = WorkerCtx {
                id: u16::try_from(i).unwrap_or(u16::MAX),
                source,
                tables,
                handoff,
                stats: self.stats[i].clone(),
                clock: self.clock,
                update_budget: UPDATE_BUDGET,
                armed: self.armed.clone(),
            };
            let t = spawn(ctx, self.cores.get(i).copied(), self.quit.clone())
                .map_err(|e| DaemonError::Dataplane(format!("spawning worker {i}: {e}")))?;
            self.threads.push(t);
        }
        Ok(())
    }

    /// Lets the workers poll packets.
    pub(super) fn arm(&self) {
        self.armed.store(true, Ordering::Release);
    }

    /// A sampler for the metrics task.
    pub(super) fn sampler(&self, metrics: ProbeMetrics) -> Sampler {
        Sampler {
            stats: self.stats.clone(),
            metrics,
        }
    }

    /// Publishes every port's NIC counters to the metrics.
    pub(super) fn observe_nics(&self, metrics: &ProbeMetrics) {
        for (i, n) in self.nic().iter().enumerate() {
            metrics.observe_nic(i, n);
        }
    }

    /// NIC counters per port.
    fn nic(&self) -> Vec<NicSample> {
        self.ports
            .iter()
            .enumerate()
            .map(|(port, p)| match p.stats() {
                Ok(s) => NicSample {
                    ipackets: s.ipackets,
                    ibytes: s.ibytes,
                    imissed: s.imissed,
                    ierrors: s.ierrors,
                    rx_nombuf: s.rx_nombuf,
                },
                Err(e) => {
                    tracing::warn!(port, error = %e, "cannot read NIC counters");
                    NicSample::default()
                }
            })
            .collect()
    }

    /// Stops and joins the workers; returns the final worker and NIC counters.
    pub(super) fn stop(&mut self) -> FinalCounters {
        self.quit.store(true, Ordering::Release);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        FinalCounters {
            workers: self.stats.iter().map(|s| sample(s)).collect(),
            nics: self.nic(),
        }
    }
}

/// Workers pinned to a core of another NUMA node than their port's (worker i
/// polls port i / `per_port`): (worker, core, the core's node, the port's node).
fn off_node(
    host: &Host,
    cores: &[usize],
    port_nodes: &[Option<u32>],
    per_port: usize,
) -> Vec<(usize, usize, u32, u32)> {
    cores
        .iter()
        .enumerate()
        .filter_map(|(worker, &core)| {
            let port = (*port_nodes.get(worker / per_port.max(1))?)?;
            let node = node_of_cpu(host, core)?;
            (node != port).then_some((worker, core, node, port))
        })
        .collect()
}

/// A warning for each worker [`off_node`]: every packet it reads crosses the interconnect.
fn warn_off_node(host: &Host, cores: &[usize], port_nodes: &[Option<u32>], per_port: usize) {
    for (worker, core, node, port_node) in off_node(host, cores, port_nodes, per_port) {
        tracing::warn!(
            worker,
            core,
            node,
            port_node,
            "worker pinned to a core of another NUMA node than its port's: every packet \
             crosses the interconnect (choose [dataplane] cores on the port's node; \
             calea-probe doctor lists them)"
        );
    }
}

fn sample(s: &WorkerStats) -> WorkerSample {
    let busy = s.busy_polls.load(Ordering::Relaxed);
    let idle = s.idle_polls.load(Ordering::Relaxed);
    #[allow(clippy::cast_precision_loss)]
    let busy_ratio = if busy + idle == 0 {
        0.0
    } else {
        busy as f64 / (busy + idle) as f64
    };
    WorkerSample {
        rx_packets: s.rx_packets.load(Ordering::Relaxed),
        rx_bytes: s.rx_bytes.load(Ordering::Relaxed),
        matches: s.matches.load(Ordering::Relaxed),
        handoff_drops: s.handoff_drops.load(Ordering::Relaxed),
        parse_errors: PARSE_ERROR_KINDS
            .iter()
            .zip(&s.parse_errors)
            .map(|(k, n)| (*k, n.load(Ordering::Relaxed)))
            .collect(),
        busy_ratio,
    }
}

/// Copies worker counters into the metrics (NIC counters are sampled by the
/// daemon thread, which owns the ports: [`Dataplane::observe_nics`]).
pub(super) struct Sampler {
    stats: Vec<Arc<WorkerStats>>,
    metrics: ProbeMetrics,
}

impl Sampler {
    /// One sample of every worker.
    pub(super) fn sample(&self) {
        for (i, s) in self.stats.iter().enumerate() {
            self.metrics.observe_worker(i, &sample(s));
        }
    }
}

/// Per-worker and per-port counters at shutdown, printed by the daemon.
pub(super) struct FinalCounters {
    workers: Vec<WorkerSample>,
    nics: Vec<NicSample>,
}

impl fmt::Display for FinalCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.workers.iter().enumerate() {
            writeln!(
                f,
                "worker {i}: rx_packets={} rx_bytes={} matches={} handoff_drops={} parse_errors={} busy_ratio={:.3}",
                s.rx_packets,
                s.rx_bytes,
                s.matches,
                s.handoff_drops,
                s.parse_errors.iter().map(|(_, n)| n).sum::<u64>(),
                s.busy_ratio,
            )?;
        }
        for (i, n) in self.nics.iter().enumerate() {
            writeln!(
                f,
                "port {i}: ipackets={} ibytes={} imissed={} ierrors={} rx_nombuf={}",
                n.ipackets, n.ibytes, n.imissed, n.ierrors, n.rx_nombuf
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_off_their_ports_node_are_found() {
        // Two nodes: cores 0-7 on node0, 8-15 on node1.
        let root =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/doctor/good");
        let host = Host::new(&root);
        // Port 0 on node0 (workers 0, 1), port 1 on node1 (workers 2, 3).
        let ports = [Some(0), Some(1)];
        assert_eq!(off_node(&host, &[2, 3, 10, 11], &ports, 2), []);
        assert_eq!(
            off_node(&host, &[2, 9, 3, 11], &ports, 2),
            [(1, 9, 1, 0), (2, 3, 0, 1)]
        );
        // A port of unknown node (vdev) and a core on no node: nothing to say.
        assert_eq!(off_node(&host, &[9, 99], &[None, Some(0)], 1), []);
    }
}
