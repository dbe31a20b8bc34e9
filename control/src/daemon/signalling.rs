//! The signalling path: datagrams of the configured NAS, DHCP servers and
//! relays, on rings of their own beside the content hand-off, to one consumer
//! (the session tracker) in each worker's receive order.
//!
//! The addresses are the targets of the probe's own intercept
//! ([`SIGNALLING_KEY`]), so every encapsulation a worker screens finds them
//! with no work of its own on the fast path. [`SignallingPath`] drains each
//! worker's signalling ring, keeps the UDP datagrams on the signalling ports
//! and gives them to a [`SignalSink`], then advances the [`Watermark`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use dataplane::handoff::SIGNALLING_KEY;
use dataplane::handoff::{HandoffConsumer, PacketKind, Record};
use dataplane::parse::IpPair;
use dataplane::worker::WorkerStats;
use prometheus::IntCounter;

use crate::handover::{AuditSink, LossAudit};
use crate::metrics::ProbeMetrics;
use crate::sessions::{SessionsConfig, SignalPacket};

/// Receive time up to which every signalling datagram of every worker has been
/// given to the sink: content received before it may be judged against the
/// bindings the sink knows.
#[derive(Clone, Debug, Default)]
pub struct Watermark(Arc<AtomicU64>);

impl Watermark {
    /// The current watermark, ns since the Unix epoch.
    #[must_use]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// Raises it to `ns` (never lowers it).
    pub fn advance(&self, ns: u64) {
        self.0.fetch_max(ns, Ordering::AcqRel);
    }
}

/// Where signalling goes: called on the signalling thread, in each worker's order.
pub trait SignalSink: Send + 'static {
    /// One datagram.
    fn signal(&mut self, packet: &SignalPacket<'_>);
    /// Between drains: every datagram received before `watermark_ns` was given.
    fn idle(&mut self, watermark_ns: u64);
}

/// Records drained from one worker's ring per pass: bounds how long the
/// other workers' rings wait.
const BATCH: usize = 256;
/// Sleep of the thread when every ring was empty.
const IDLE_SLEEP: Duration = Duration::from_micros(100);
/// How long the alarm gauge stays up after a drop.
const ALARM_HOLD: Duration = Duration::from_secs(60);
/// DHCPv4 server and client ports, DHCPv6 client and server/relay ports.
const DHCP_PORTS: [u16; 4] = [67, 68, 546, 547];

/// What the path decided about one record (the `result` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// Given to the sink.
    Passed,
    /// Not an IP packet carrying UDP.
    NotUdp,
    /// UDP on no signalling port.
    WrongPort,
    /// An IP fragment (a datagram is read only whole).
    Fragment,
    /// The UDP header cut short, or a UDP length below its header's.
    Truncated,
}

impl Outcome {
    const ALL: [Outcome; 5] = [
        Outcome::Passed,
        Outcome::NotUdp,
        Outcome::WrongPort,
        Outcome::Fragment,
        Outcome::Truncated,
    ];

    fn label(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::NotUdp => "not_udp",
            Outcome::WrongPort => "wrong_port",
            Outcome::Fragment => "fragment",
            Outcome::Truncated => "truncated",
        }
    }
}

/// One worker's signalling ring and the counters it publishes.
pub struct SignallingInput {
    /// The consumer side of its signalling ring.
    pub ring: HandoffConsumer,
    /// Its counters: `handed_off_until_ns` and `signalling_drops`.
    pub stats: Arc<WorkerStats>,
}

/// The signalling rings of every worker, drained into one sink.
pub struct SignallingPath {
    inputs: Vec<SignallingInput>,
    ports: Vec<u16>,
    sink: Box<dyn SignalSink>,
    watermark: Watermark,
    outcomes: [IntCounter; Outcome::ALL.len()],
    metrics: ProbeMetrics,
    loss: LossAudit,
    drops_seen: u64,
    last_drop: Option<Instant>,
}

impl SignallingPath {
    /// A path over `inputs` (one per worker) into `sink`, passing the UDP
    /// ports `cfg` reads RADIUS on and the DHCP/DHCPv6 ports, advancing
    /// `watermark`. Losses are audited through `audit`.
    pub fn new(
        inputs: Vec<SignallingInput>,
        cfg: &SessionsConfig,
        sink: Box<dyn SignalSink>,
        watermark: Watermark,
        metrics: &ProbeMetrics,
        audit: AuditSink,
    ) -> Self {
        let mut ports: Vec<u16> = cfg
            .radius_accounting_ports
            .iter()
            .chain(&cfg.radius_auth_ports)
            .chain(&DHCP_PORTS)
            .copied()
            .collect();
        ports.sort_unstable();
        ports.dedup();
        let outcomes =
            Outcome::ALL.map(|o| metrics.signalling_packets.with_label_values(&[o.label()]));
        SignallingPath {
            inputs,
            ports,
            sink,
            watermark,
            outcomes,
            metrics: metrics.clone(),
            loss: LossAudit::new(audit, "signalling"),
            drops_seen: 0,
            last_drop: None,
        }
    }

    /// One pass: reads each worker's published time, drains its ring (up to
    /// [`BATCH`] records) into the sink, then advances the watermark to the
    /// least time of the workers whose rings it emptied (none if one was
    /// not) and calls [`SignalSink::idle`]. Returns the records drained.
    pub fn pass(&mut self) -> usize {
        let mut until = u64::MAX;
        let mut drained = 0;
        for input in &mut self.inputs {
            // Before the drain: every record stamped up to it is in the ring now.
            let published = input.stats.handed_off_until_ns.load(Ordering::Acquire);
            let n = input.ring.drain(BATCH, |r| {
                let outcome = match datagram(r) {
                    Ok(p)
                        if self.ports.contains(&p.src_port) || self.ports.contains(&p.dst_port) =>
                    {
                        self.sink.signal(&p);
                        Outcome::Passed
                    }
                    Ok(_) => Outcome::WrongPort,
                    Err(o) => o,
                };
                if let Some(c) = self
                    .outcomes
                    .iter()
                    .zip(Outcome::ALL)
                    .find(|(_, o)| *o == outcome)
                {
                    c.0.inc();
                }
            });
            drained += n;
            until = if n == BATCH && input.ring.pending() > 0 {
                // Records up to `published` may still wait: no advance this pass.
                0
            } else {
                until.min(published)
            };
        }
        self.count_drops();
        self.watermark.advance(until);
        self.sink.idle(self.watermark.get());
        drained
    }

    /// Counts, alarms and audits the signalling the workers could not hand off.
    fn count_drops(&mut self) {
        let drops: u64 = self
            .inputs
            .iter()
            .map(|i| i.stats.signalling_drops.load(Ordering::Relaxed))
            .sum();
        let new = drops.saturating_sub(self.drops_seen);
        if new > 0 {
            self.drops_seen = drops;
            self.last_drop = Some(Instant::now());
            self.metrics.signalling_drops.inc_by(new);
            tracing::error!(
                lost = new,
                "SIGNALLING LOST: signalling ring full (bindings may be missed)"
            );
            self.loss.lost("signalling ring full", new, 0);
        } else {
            self.loss.tick();
        }
        let alarm = self.last_drop.is_some_and(|t| t.elapsed() < ALARM_HOLD);
        self.metrics.signalling_alarm.set(i64::from(alarm));
    }

    /// Runs passes on a thread of its own until [`SignallingThread::stop`],
    /// sleeping a little when every ring is empty.
    ///
    /// # Errors
    /// The thread cannot be created.
    pub fn spawn(mut self) -> std::io::Result<SignallingThread> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("signalling".into())
            .spawn(move || {
                while !flag.load(Ordering::Acquire) {
                    if self.pass() == 0 {
                        std::thread::sleep(IDLE_SLEEP);
                    }
                }
                // What the (stopped) workers left.
                while self.pass() > 0 {}
            })?;
        Ok(SignallingThread { stop, handle })
    }
}

/// The running [`SignallingPath`].
pub struct SignallingThread {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<()>,
}

impl SignallingThread {
    /// Stops it after a last drain of every ring (stop the workers first).
    pub fn stop(self) {
        self.stop.store(true, Ordering::Release);
        if self.handle.join().is_err() {
            tracing::error!("signalling thread panicked");
        }
    }
}

fn be16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]))
}

/// The UDP datagram of a record's packet: its addresses and ports, and the
/// payload bounded by the IP and UDP lengths and the bytes at hand.
fn datagram(r: &Record) -> Result<SignalPacket<'_>, Outcome> {
    let p = r.packet();
    let data = r.data();
    let at = usize::from(p.at);
    let (src, dst, ip_end) = match (p.kind, p.addrs) {
        (PacketKind::Ipv4, Some(IpPair::V4 { src, dst })) => {
            let frag = be16(data, at + 6).ok_or(Outcome::Truncated)?;
            if frag & 0x3fff != 0 {
                return Err(Outcome::Fragment);
            }
            let total = be16(data, at + 2).ok_or(Outcome::Truncated)?;
            (src.into(), dst.into(), at + usize::from(total))
        }
        (PacketKind::Ipv6, Some(IpPair::V6 { src, dst })) => {
            let payload = be16(data, at + 4).ok_or(Outcome::Truncated)?;
            (src.into(), dst.into(), at + 40 + usize::from(payload))
        }
        _ => return Err(Outcome::NotUdp),
    };
    match p.proto {
        17 => {}
        // IPv6 Fragment header.
        44 => return Err(Outcome::Fragment),
        _ => return Err(Outcome::NotUdp),
    }
    let l4 = usize::from(p.l4);
    let (Some((src_port, dst_port)), Some(udp_len)) = (p.ports, be16(data, l4 + 4)) else {
        return Err(Outcome::Truncated);
    };
    let udp_len = usize::from(udp_len);
    if udp_len < 8 || usize::from(p.end) < l4 + 8 {
        return Err(Outcome::Truncated);
    }
    let end = (l4 + udp_len).min(ip_end).min(data.len());
    let payload = data.get(l4 + 8..end).unwrap_or_default();
    Ok(SignalPacket {
        ts_ns: r.timestamp_ns(),
        src,
        dst,
        src_port,
        dst_port,
        transport: crate::sessions::Transport::Udp,
        payload,
    })
}
