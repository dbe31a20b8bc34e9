//! The signalling path: datagrams of the configured NAS, DHCP servers and
//! relays, and SIP of the configured SIP servers, on rings of their own beside
//! the content hand-off, to their consumers (the session glue, the voice glue)
//! in each worker's receive order.
//!
//! The addresses are the targets of the probe's own intercept
//! ([`SIGNALLING_KEY`]), so every encapsulation a worker screens finds them
//! with no work of its own on the fast path. [`SignallingPath`] drains each
//! worker's signalling ring, puts IP fragments back together, keeps the UDP
//! datagrams on the signalling ports and the TCP segments on the SIP ports
//! (cut into SIP messages), gives them to the [`SignalSink`] whose ports they
//! are on, then advances the [`Watermark`].

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use dataplane::handoff::SIGNALLING_KEY;
use dataplane::handoff::{HandoffConsumer, PacketKind, Record};
use dataplane::parse::IpPair;
use dataplane::worker::WorkerStats;
use prometheus::IntCounter;

use super::reassembly::{FragKey, Fragment, Reassembler};
use crate::handover::{AuditSink, LossAudit};
use crate::metrics::ProbeMetrics;
use crate::sessions::{SessionsConfig, SignalPacket, Transport};
use crate::voice::stream::{FlowKey, Segment, SipStreams, StreamStats};
use crate::voice::VoiceConfig;

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
/// Datagrams waiting for fragments, their bytes together, and how long each waits.
const FRAG_DATAGRAMS: usize = 1024;
const FRAG_BYTES: usize = 16 << 20;
const FRAG_TIMEOUT_NS: u64 = 5_000_000_000;
/// SIP over TCP: flows followed at once, and how long an idle one is kept.
const SIP_FLOWS: usize = 16_384;
const SIP_FLOW_IDLE_NS: u64 = 300_000_000_000;

/// What the path decided about one record (the `result` label); the
/// `fragment_expired` and `sip_tcp_*` labels count datagrams and stream events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// A datagram given to a sink.
    Passed,
    /// Neither UDP nor (with `[voice]`) TCP on a SIP port.
    NotUdp,
    /// UDP on no signalling port.
    WrongPort,
    /// An IP fragment held until its datagram is whole.
    Fragment,
    /// An IP fragment refused with its datagram (overlap, oversize, full).
    FragmentRefused,
    /// A datagram whose fragments did not all come in time.
    FragmentExpired,
    /// The UDP or TCP header cut short, or a UDP length below its header's.
    Truncated,
    /// A TCP segment taken into a SIP stream.
    Segment,
    /// A SIP message cut out of a TCP stream and given to the voice sink.
    SipTcpMessage,
    /// A hole in a SIP stream given up on (a partial message dropped).
    SipTcpGap,
    /// A SIP message over TCP without a usable Content-Length or too long.
    SipTcpMalformed,
    /// A segment of a new SIP flow refused (too many flows).
    SipTcpRefused,
}

impl Outcome {
    const ALL: [Outcome; 12] = [
        Outcome::Passed,
        Outcome::NotUdp,
        Outcome::WrongPort,
        Outcome::Fragment,
        Outcome::FragmentRefused,
        Outcome::FragmentExpired,
        Outcome::Truncated,
        Outcome::Segment,
        Outcome::SipTcpMessage,
        Outcome::SipTcpGap,
        Outcome::SipTcpMalformed,
        Outcome::SipTcpRefused,
    ];

    fn label(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::NotUdp => "not_udp",
            Outcome::WrongPort => "wrong_port",
            Outcome::Fragment => "fragment",
            Outcome::FragmentRefused => "fragment_refused",
            Outcome::FragmentExpired => "fragment_expired",
            Outcome::Truncated => "truncated",
            Outcome::Segment => "tcp_segment",
            Outcome::SipTcpMessage => "sip_tcp_message",
            Outcome::SipTcpGap => "sip_tcp_gap",
            Outcome::SipTcpMalformed => "sip_tcp_malformed",
            Outcome::SipTcpRefused => "sip_tcp_refused",
        }
    }
}

/// The counters of every [`Outcome`].
struct Outcomes([IntCounter; Outcome::ALL.len()]);

impl Outcomes {
    fn count(&self, outcome: Outcome, n: u64) {
        if let Some((c, _)) = self.0.iter().zip(Outcome::ALL).find(|(_, o)| *o == outcome) {
            c.inc_by(n);
        }
    }
}

/// One consumer of the path and the ports it reads.
struct Route {
    ports: Vec<u16>,
    sink: Box<dyn SignalSink>,
}

impl Route {
    fn new(ports: impl IntoIterator<Item = u16>, sink: Box<dyn SignalSink>) -> Self {
        let mut ports: Vec<u16> = ports.into_iter().collect();
        ports.sort_unstable();
        ports.dedup();
        Route { ports, sink }
    }

    fn wants(&self, src_port: u16, dst_port: u16) -> bool {
        self.ports.contains(&src_port) || self.ports.contains(&dst_port)
    }
}

/// An IP packet of a record: its addresses, and what follows its headers.
struct IpPacket<'a> {
    ts_ns: u64,
    src: IpAddr,
    dst: IpAddr,
    /// UDP, TCP, ... (of the whole datagram, for a fragment).
    proto: u8,
    /// Its payload (bounded by the IP length and the bytes at hand).
    payload: &'a [u8],
    /// For a fragment: identification, offset, more fragments.
    fragment: Option<(u32, usize, bool)>,
}

/// Everything between a record and the sinks.
struct Router {
    sessions: Option<Route>,
    voice: Option<Route>,
    streams: SipStreams,
    streams_seen: StreamStats,
    fragments: Reassembler,
    fragments_expired: u64,
    outcomes: Outcomes,
}

impl Router {
    fn record(&mut self, r: &Record) -> Outcome {
        let ip = match ip_packet(r) {
            Ok(ip) => ip,
            Err(o) => return o,
        };
        let Some((id, offset, more)) = ip.fragment else {
            return self.transport(&ip);
        };
        if !matches!(ip.proto, 6 | 17) {
            return Outcome::NotUdp;
        }
        let fragment = Fragment {
            ts_ns: ip.ts_ns,
            key: FragKey {
                src: ip.src,
                dst: ip.dst,
                id,
                proto: ip.proto,
            },
            offset,
            more,
            data: ip.payload,
        };
        match self.fragments.push(&fragment) {
            Ok(None) => Outcome::Fragment,
            Ok(Some(whole)) => self.transport(&IpPacket {
                payload: &whole,
                fragment: None,
                ..ip
            }),
            Err(e) => {
                tracing::debug!(error = %e, "signalling fragment refused");
                Outcome::FragmentRefused
            }
        }
    }

    /// A whole IP payload: a UDP datagram to the sinks whose ports it is on,
    /// a TCP segment on a SIP port into its stream.
    fn transport(&mut self, ip: &IpPacket<'_>) -> Outcome {
        let p = ip.payload;
        let (Some(src_port), Some(dst_port)) = (be16(p, 0), be16(p, 2)) else {
            return match ip.proto {
                6 | 17 => Outcome::Truncated,
                _ => Outcome::NotUdp,
            };
        };
        match ip.proto {
            17 => {
                let Some(len) = be16(p, 4)
                    .map(usize::from)
                    .filter(|&l| l >= 8 && p.len() >= 8)
                else {
                    return Outcome::Truncated;
                };
                let packet = SignalPacket {
                    ts_ns: ip.ts_ns,
                    src: ip.src,
                    dst: ip.dst,
                    src_port,
                    dst_port,
                    transport: Transport::Udp,
                    payload: p.get(8..len.min(p.len())).unwrap_or_default(),
                };
                let mut passed = false;
                for route in [&mut self.sessions, &mut self.voice].into_iter().flatten() {
                    if route.wants(src_port, dst_port) {
                        route.sink.signal(&packet);
                        passed = true;
                    }
                }
                if passed {
                    Outcome::Passed
                } else {
                    Outcome::WrongPort
                }
            }
            6 => {
                let Some(voice) = self.voice.as_mut().filter(|v| v.wants(src_port, dst_port))
                else {
                    return Outcome::NotUdp;
                };
                let header = p.get(12).map_or(0, |b| usize::from(b >> 4) * 4);
                let (Some(seq), Some(&flags), Some(payload)) =
                    (be32(p, 4), p.get(13), p.get(header.max(20)..))
                else {
                    return Outcome::Truncated;
                };
                let segment = Segment {
                    ts_ns: ip.ts_ns,
                    flow: FlowKey {
                        src: SocketAddr::new(ip.src, src_port),
                        dst: SocketAddr::new(ip.dst, dst_port),
                    },
                    seq,
                    flags,
                    payload,
                };
                self.streams.push(&segment, &mut |ts_ns, flow, message| {
                    voice.sink.signal(&SignalPacket {
                        ts_ns,
                        src: flow.src.ip(),
                        dst: flow.dst.ip(),
                        src_port: flow.src.port(),
                        dst_port: flow.dst.port(),
                        transport: Transport::Tcp,
                        payload: message,
                    });
                });
                Outcome::Segment
            }
            _ => Outcome::NotUdp,
        }
    }

    /// Between passes: expiries by receive time, and the streams' counts.
    fn idle(&mut self, watermark_ns: u64) {
        self.fragments.expire(watermark_ns);
        let expired = self.fragments.expired();
        self.outcomes
            .count(Outcome::FragmentExpired, expired - self.fragments_expired);
        self.fragments_expired = expired;
        self.streams
            .expire(watermark_ns.saturating_sub(SIP_FLOW_IDLE_NS));
        let (now, seen) = (self.streams.stats(), self.streams_seen);
        for (outcome, n) in [
            (Outcome::SipTcpMessage, now.messages - seen.messages),
            (Outcome::SipTcpGap, now.gaps - seen.gaps),
            (Outcome::SipTcpMalformed, now.malformed - seen.malformed),
            (Outcome::SipTcpRefused, now.refused - seen.refused),
        ] {
            self.outcomes.count(outcome, n);
        }
        self.streams_seen = now;
        for route in [&mut self.sessions, &mut self.voice].into_iter().flatten() {
            route.sink.idle(watermark_ns);
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

/// The signalling rings of every worker, drained into the sessions sink
/// (RADIUS and DHCP ports) and the voice sink (SIP ports, UDP and TCP).
pub struct SignallingPath {
    inputs: Vec<SignallingInput>,
    router: Router,
    watermark: Watermark,
    metrics: ProbeMetrics,
    loss: LossAudit,
    drops_seen: u64,
    last_drop: Option<Instant>,
}

impl SignallingPath {
    /// A path over `inputs` (one per worker) with no sink yet (add them with
    /// [`SignallingPath::sessions`] and [`SignallingPath::voice`]), advancing
    /// `watermark`. Losses are audited through `audit`.
    pub fn new(
        inputs: Vec<SignallingInput>,
        watermark: Watermark,
        metrics: &ProbeMetrics,
        audit: AuditSink,
    ) -> Self {
        let outcomes = Outcomes(
            Outcome::ALL.map(|o| metrics.signalling_packets.with_label_values(&[o.label()])),
        );
        SignallingPath {
            inputs,
            router: Router {
                sessions: None,
                voice: None,
                streams: SipStreams::new(SIP_FLOWS),
                streams_seen: StreamStats::default(),
                fragments: Reassembler::new(FRAG_DATAGRAMS, FRAG_BYTES, FRAG_TIMEOUT_NS),
                fragments_expired: 0,
                outcomes,
            },
            watermark,
            metrics: metrics.clone(),
            loss: LossAudit::new(audit, "signalling"),
            drops_seen: 0,
            last_drop: None,
        }
    }

    /// Gives the UDP datagrams on the ports `cfg` reads RADIUS on and the
    /// DHCP/DHCPv6 ports to `sink`.
    #[must_use]
    pub fn sessions(mut self, cfg: &SessionsConfig, sink: Box<dyn SignalSink>) -> Self {
        let ports = cfg
            .radius_accounting_ports
            .iter()
            .chain(&cfg.radius_auth_ports)
            .chain(&DHCP_PORTS)
            .copied();
        self.router.sessions = Some(Route::new(ports, sink));
        self
    }

    /// Gives SIP on `cfg`'s ports to `sink`: each UDP datagram, and each
    /// message cut out of a TCP stream.
    #[must_use]
    pub fn voice(mut self, cfg: &VoiceConfig, sink: Box<dyn SignalSink>) -> Self {
        self.router.voice = Some(Route::new(cfg.sip_ports.iter().copied(), sink));
        self
    }

    /// One pass: reads each worker's published time, drains its ring (up to
    /// [`BATCH`] records) into the sinks, then advances the watermark to the
    /// least time of the workers whose rings it emptied (none if one was
    /// not) and calls [`SignalSink::idle`]. Returns the records drained.
    pub fn pass(&mut self) -> usize {
        let mut until = u64::MAX;
        let mut drained = 0;
        let router = &mut self.router;
        for input in &mut self.inputs {
            // Before the drain: every record stamped up to it is in the ring now.
            let published = input.stats.handed_off_until_ns.load(Ordering::Acquire);
            let n = input.ring.drain(BATCH, |r| {
                let outcome = router.record(r);
                router.outcomes.count(outcome, 1);
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
        self.router.idle(self.watermark.get());
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

fn be32(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

/// IPv6 extension headers that may come before a Fragment header.
const IPV6_HOP_BY_HOP: u8 = 0;
const IPV6_ROUTING: u8 = 43;
const IPV6_FRAGMENT: u8 = 44;
const IPV6_DEST_OPTS: u8 = 60;

/// The IP packet of a record: its addresses, its payload bounded by the IP
/// length and the bytes at hand, and, for a fragment, where it goes.
fn ip_packet(r: &Record) -> Result<IpPacket<'_>, Outcome> {
    let p = r.packet();
    let data = r.data();
    let at = usize::from(p.at);
    let whole = |src: IpAddr, dst: IpAddr, ip_end: usize| IpPacket {
        ts_ns: r.timestamp_ns(),
        src,
        dst,
        proto: p.proto,
        payload: data
            .get(usize::from(p.l4)..ip_end.min(data.len()))
            .unwrap_or_default(),
        fragment: None,
    };
    // A fragment is reassembled only from every one of its bytes.
    let cut = |end: usize| {
        if end > data.len() || r.truncated() {
            Err(Outcome::Truncated)
        } else {
            Ok(())
        }
    };
    match (p.kind, p.addrs) {
        (PacketKind::Ipv4, Some(IpPair::V4 { src, dst })) => {
            let (Some(total), Some(id), Some(frag), Some(&vihl), Some(&proto)) = (
                be16(data, at + 2),
                be16(data, at + 4),
                be16(data, at + 6),
                data.get(at),
                data.get(at + 9),
            ) else {
                return Err(Outcome::Truncated);
            };
            let ip_end = at + usize::from(total);
            if frag & 0x3fff == 0 {
                return Ok(whole(src.into(), dst.into(), ip_end));
            }
            let start = at + usize::from(vihl & 0x0f) * 4;
            cut(ip_end)?;
            Ok(IpPacket {
                proto,
                payload: data.get(start..ip_end).unwrap_or_default(),
                fragment: Some((
                    u32::from(id),
                    usize::from(frag & 0x1fff) * 8,
                    frag & 0x2000 != 0,
                )),
                ..whole(src.into(), dst.into(), ip_end)
            })
        }
        (PacketKind::Ipv6, Some(IpPair::V6 { src, dst })) => {
            let payload_len = be16(data, at + 4).ok_or(Outcome::Truncated)?;
            let ip_end = at + 40 + usize::from(payload_len);
            // Walk to a Fragment header, if there is one.
            let (mut next, mut off) = (data.get(at + 6).copied(), at + 40);
            while let Some(IPV6_HOP_BY_HOP | IPV6_ROUTING | IPV6_DEST_OPTS) = next {
                let Some(&len) = data.get(off + 1) else {
                    return Err(Outcome::Truncated);
                };
                next = data.get(off).copied();
                off += (usize::from(len) + 1) * 8;
            }
            if next != Some(IPV6_FRAGMENT) {
                return Ok(whole(src.into(), dst.into(), ip_end));
            }
            let (Some(&proto), Some(frag), Some(id)) =
                (data.get(off), be16(data, off + 2), be32(data, off + 4))
            else {
                return Err(Outcome::Truncated);
            };
            cut(ip_end)?;
            Ok(IpPacket {
                proto,
                payload: data.get(off + 8..ip_end).unwrap_or_default(),
                fragment: Some((id, usize::from(frag & 0xfff8), frag & 1 != 0)),
                ..whole(src.into(), dst.into(), ip_end)
            })
        }
        _ => Err(Outcome::NotUdp),
    }
}
