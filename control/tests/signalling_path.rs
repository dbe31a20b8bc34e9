//! The signalling path end to end below the session and voice glues: a real
//! worker replays a capture with its signalling ring, the signalling thread
//! drains it into recording sinks. Exact datagrams, the port filter, receive
//! order, a watermark that never goes back and never passes a datagram not yet
//! given; a full ring counted, alarmed and audited; SIP over UDP and TCP to
//! the voice sink (segments reordered, repeated, resynced after a hole); IP
//! fragments reassembled, refused or expired, bounded.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use control::audit::AuditAction;
use control::daemon::signalling::{
    SignalSink, SignallingInput, SignallingPath, Watermark, SIGNALLING_KEY,
};
use control::handover::AuditSink;
use control::metrics::ProbeMetrics;
use control::sessions::{SessionsConfig, SignalPacket, Transport};
use control::voice::VoiceConfig;
use dataplane::handoff::{channel, DEFAULT_FRAME_CAPACITY};
use dataplane::source::PcapSource;
use dataplane::synth::{write_pcap, Frame};
use dataplane::targets::{replicas, InterceptSpec, Mode, Slot, Target, Update};
use dataplane::worker::{spawn, Clock, Exit, WorkerCtx, WorkerStats};

const BASE_NS: u64 = 1_700_000_000_000_000_000;
const WAIT: Duration = Duration::from_secs(30);
const A: [u8; 6] = [2, 0, 0, 0, 0, 1];
const B: [u8; 6] = [2, 0, 0, 0, 0, 2];

fn nas() -> Ipv4Addr {
    Ipv4Addr::new(10, 9, 0, 1)
}
fn dhcp() -> Ipv4Addr {
    Ipv4Addr::new(10, 9, 0, 2)
}
fn dhcp6() -> Ipv6Addr {
    "2001:db8:d::1".parse().unwrap()
}
fn other(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, i)
}
fn e() -> Frame {
    Frame::ethernet(A, B)
}

/// What the sinks were told, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Signal {
        /// Which sink.
        to: &'static str,
        transport: Transport,
        ts: u64,
        src: IpAddr,
        dst: IpAddr,
        ports: (u16, u16),
        payload: Vec<u8>,
    },
    Idle(&'static str, u64),
}

/// A sink named `.0` recording into `.1` (shared by the sinks of one path).
#[derive(Clone)]
struct Recorder(&'static str, Arc<Mutex<Vec<Seen>>>);

impl Default for Recorder {
    fn default() -> Self {
        Recorder("sessions", Arc::default())
    }
}

impl Recorder {
    /// A sink named `to` recording beside this one.
    fn beside(&self, to: &'static str) -> Recorder {
        Recorder(to, Arc::clone(&self.1))
    }

    fn seen(&self) -> Vec<Seen> {
        self.1.lock().unwrap().clone()
    }

    fn signals(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| matches!(s, Seen::Signal { .. }))
            .collect()
    }
}

impl SignalSink for Recorder {
    fn signal(&mut self, p: &SignalPacket<'_>) {
        self.1.lock().unwrap().push(Seen::Signal {
            to: self.0,
            transport: p.transport,
            ts: p.ts_ns,
            src: p.src,
            dst: p.dst,
            ports: (p.src_port, p.dst_port),
            payload: p.payload.to_vec(),
        });
    }
    fn idle(&mut self, watermark_ns: u64) {
        let mut seen = self.1.lock().unwrap();
        // Idle passes repeat the same watermark: keep one of each.
        let idle = Seen::Idle(self.0, watermark_ns);
        if !seen.iter().rev().take(2).any(|s| *s == idle) {
            seen.push(idle);
        }
    }
}

/// A UDP datagram as the sink `to` sees it.
fn udp(
    to: &'static str,
    ts: u64,
    src: IpAddr,
    dst: IpAddr,
    ports: (u16, u16),
    payload: &[u8],
) -> Seen {
    Seen::Signal {
        to,
        transport: Transport::Udp,
        ts,
        src,
        dst,
        ports,
        payload: payload.to_vec(),
    }
}

fn sessions_config() -> SessionsConfig {
    toml::from_str(&format!(
        "dhcp_servers = [\"{}\", \"{}\"]\n[[nas]]\naddress = \"{}\"\nsecret_file = \"/nonexistent\"\n",
        dhcp(),
        dhcp6(),
        nas()
    ))
    .unwrap()
}

struct Worker {
    input: SignallingInput,
    stats: Arc<WorkerStats>,
    armed: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<Exit>,
    _dir: tempfile::TempDir,
}

/// Receive time of the `i`th frame of a capture built by [`worker`].
fn ts(i: u64) -> u64 {
    BASE_NS + 1000 * i
}

/// A worker (unarmed) on a capture of `frames` (1 µs apart) with the
/// signalling intercept on `cfg`'s addresses and a signalling ring of `records`.
fn worker(frames: &[Vec<u8>], cfg: &SessionsConfig, records: usize) -> Worker {
    let stamped: Vec<(u64, Vec<u8>)> = frames
        .iter()
        .enumerate()
        .map(|(i, f)| (ts(i as u64), f.clone()))
        .collect();
    worker_on(&stamped, &cfg.signalling_addresses(), records)
}

/// A worker (unarmed) on a capture of `stamped` frames with the signalling
/// intercept on `addrs` and a signalling ring of `records`.
fn worker_on(stamped: &[(u64, Vec<u8>)], addrs: &[IpAddr], records: usize) -> Worker {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.pcap");
    write_pcap(&path, stamped).unwrap();
    let (mut writer, mut rs) = replicas(1, 1024);
    let (content, _content_rx) = channel(16, DEFAULT_FRAME_CAPACITY);
    let (sig, ring) = channel(records, DEFAULT_FRAME_CAPACITY);
    let stats = Arc::new(WorkerStats::default());
    let armed = Arc::new(AtomicBool::new(false));
    let ctx = WorkerCtx {
        id: 0,
        source: PcapSource::open(&path, 4).unwrap(),
        tables: rs.remove(0),
        handoff: content.with_signalling(sig),
        stats: Arc::clone(&stats),
        clock: Clock::Source,
        update_budget: 64,
        armed: Arc::clone(&armed),
    };
    let handle = spawn(ctx, None, Arc::new(AtomicBool::new(false))).unwrap();
    let mut updates = vec![Update::SetIntercept {
        slot: Slot(0),
        spec: InterceptSpec::always_open(SIGNALLING_KEY, Mode::Content),
    }];
    updates.extend(addrs.iter().map(|&a| Update::AddTarget {
        slot: Slot(0),
        target: match a {
            IpAddr::V4(v4) => Target::Ipv4(v4),
            IpAddr::V6(v6) => Target::Ipv6(v6),
        },
    }));
    let e = writer.send(&updates);
    assert!(writer.wait_applied(e, WAIT));
    Worker {
        input: SignallingInput {
            ring,
            stats: Arc::clone(&stats),
        },
        stats,
        armed,
        handle,
        _dir: dir,
    }
}

type Audited = Arc<Mutex<Vec<(AuditAction, String, serde_json::Value)>>>;

fn audit() -> (AuditSink, Audited) {
    let got: Audited = Arc::default();
    let to = Arc::clone(&got);
    let sink = AuditSink::new(move |a, o, d| to.lock().unwrap().push((a, o.to_owned(), d)));
    (sink, got)
}

fn metric(m: &ProbeMetrics, line: &str) -> bool {
    m.render().lines().any(|l| l == line)
}

/// Asserts `calea_signalling_packets_total{result}` of each `(result, n)`.
fn assert_results(m: &ProbeMetrics, want: &[(&str, u64)]) {
    for (result, n) in want {
        let line = format!("calea_signalling_packets_total{{result=\"{result}\"}} {n}");
        assert!(metric(m, &line), "{line}\n{}", m.render());
    }
}

/// Arms a worker, lets it replay its capture through `path` and stops the
/// path once every record was given (the watermark at its end).
fn run(
    armed: &AtomicBool,
    worker: std::thread::JoinHandle<Exit>,
    path: SignallingPath,
    watermark: &Watermark,
) {
    let path = path.spawn().unwrap();
    armed.store(true, Ordering::Release);
    assert_eq!(worker.join().unwrap(), Exit::Exhausted);
    let deadline = Instant::now() + WAIT;
    while watermark.get() != u64::MAX {
        assert!(Instant::now() < deadline, "watermark stuck");
        std::thread::sleep(Duration::from_millis(1));
    }
    path.stop();
}

#[test]
fn gives_exactly_the_signalling_datagrams_in_order_below_a_monotone_watermark() {
    let cfg = sessions_config();
    let radius = |f: Frame, payload: &[u8]| {
        f.ipv4(nas(), other(9))
            .udp(50000, 1813)
            .payload(payload)
            .build()
    };
    // Ethernet padding after the IP packet is no part of the datagram.
    let mut padded = e()
        .vlan(10)
        .ipv4(dhcp(), other(20))
        .udp(67, 68)
        .payload(b"dhcp-ack")
        .build();
    padded.extend([0xee; 12]);
    let frames = vec![
        radius(e(), b"acct-start"),
        e().ipv4(other(1), other(2)).udp(50000, 1813).build(),
        e().ipv4(nas(), other(9)).tcp(1, 1813).build(),
        e().ipv4(nas(), other(9))
            .udp(50000, 5000)
            .payload(b"x")
            .build(),
        e().ipv4(nas(), other(9))
            .fragment(0, true)
            .udp(50000, 1813)
            .payload(b"fragment")
            .build(),
        padded,
        e().ipv4(other(3), other(4))
            .gre()
            .ipv6(dhcp6(), "2001:db8:d::2".parse().unwrap())
            .udp(547, 546)
            .payload(b"dhcp6-reply")
            .build(),
        radius(e().qinq(20).vlan(30), b"acct-stop"),
    ];
    let w = worker(&frames, &cfg, 64);
    let sink = Recorder::default();
    let metrics = ProbeMetrics::unregistered().unwrap();
    let (audit, audited) = audit();
    let watermark = Watermark::default();
    let path = SignallingPath::new(vec![w.input], watermark.clone(), &metrics, audit)
        .sessions(&cfg, Box::new(sink.clone()));
    run(&w.armed, w.handle, path, &watermark);

    let s = "sessions";
    let want = vec![
        udp(
            s,
            ts(0),
            nas().into(),
            other(9).into(),
            (50000, 1813),
            b"acct-start",
        ),
        udp(
            s,
            ts(5),
            dhcp().into(),
            other(20).into(),
            (67, 68),
            b"dhcp-ack",
        ),
        udp(
            s,
            ts(6),
            dhcp6().into(),
            "2001:db8:d::2".parse::<Ipv6Addr>().unwrap().into(),
            (547, 546),
            b"dhcp6-reply",
        ),
        udp(
            s,
            ts(7),
            nas().into(),
            other(9).into(),
            (50000, 1813),
            b"acct-stop",
        ),
    ];
    let seen = sink.seen();
    assert_eq!(sink.signals(), want);
    // Every idle call: the watermark never went back, and every datagram
    // received before it had been given.
    let mut last = 0;
    for (at, s) in seen.iter().enumerate() {
        if let Seen::Idle(_, w) = *s {
            assert!(w >= last, "watermark went back");
            last = w;
            for (i, x) in want.iter().enumerate() {
                if let Seen::Signal { ts, .. } = x {
                    if *ts < w {
                        assert!(
                            seen[..at].contains(x),
                            "idle({w}) before datagram {i} was given"
                        );
                    }
                }
            }
        }
    }
    assert_eq!(last, u64::MAX);
    // The lone first fragment waits, then expires at the end.
    assert_results(
        &metrics,
        &[
            ("passed", 4),
            ("not_udp", 1),
            ("wrong_port", 1),
            ("fragment", 1),
            ("fragment_expired", 1),
        ],
    );
    assert_eq!(w.stats.signalling_drops.load(Ordering::Relaxed), 0);
    assert!(metric(&metrics, "calea_signalling_alarm 0"));
    assert!(audited.lock().unwrap().is_empty());
}

#[test]
fn a_full_ring_is_counted_alarmed_and_audited() {
    let cfg = sessions_config();
    let radius = e()
        .ipv4(nas(), other(9))
        .udp(50000, 1813)
        .payload(b"acct")
        .build();
    let w = worker(&vec![radius; 5], &cfg, 2);
    // The worker runs to the end before anyone drains: 2 records fit.
    w.armed.store(true, Ordering::Release);
    assert_eq!(w.handle.join().unwrap(), Exit::Exhausted);
    let sink = Recorder::default();
    let metrics = ProbeMetrics::unregistered().unwrap();
    let (audit, audited) = audit();
    let mut path = SignallingPath::new(vec![w.input], Watermark::default(), &metrics, audit)
        .sessions(&cfg, Box::new(sink.clone()));
    assert_eq!(path.pass(), 2);
    assert_eq!(w.stats.signalling_drops.load(Ordering::Relaxed), 3);
    assert!(metric(&metrics, "calea_signalling_drops_total 3"));
    assert!(metric(&metrics, "calea_signalling_alarm 1"));
    let audited = audited.lock().unwrap().clone();
    assert_eq!(audited.len(), 1, "{audited:?}");
    let (action, object, details) = &audited[0];
    assert_eq!(*action, AuditAction::DeliveryDataLost);
    assert_eq!(object, "signalling");
    assert_eq!(details["lost_chunks"], 3);
    assert_eq!(sink.signals().len(), 2);
}

fn sip_server() -> Ipv4Addr {
    Ipv4Addr::new(10, 9, 0, 5)
}
fn sip_server6() -> Ipv6Addr {
    "2001:db8:5::1".parse().unwrap()
}
fn client6() -> Ipv6Addr {
    "2001:db8:9::9".parse().unwrap()
}

fn voice_config() -> VoiceConfig {
    toml::from_str(&format!(
        "sip_servers = [\"{}\", \"{}\"]\nsip_ports = [5060, 5080]\n",
        sip_server(),
        sip_server6()
    ))
    .unwrap()
}

/// The signalling addresses of both `[sessions]` and `[voice]`.
fn all_addresses() -> Vec<IpAddr> {
    let mut addrs = sessions_config().signalling_addresses();
    addrs.extend(voice_config().sip_servers);
    addrs
}

/// A SIP message with a start line `start` and a body of `body` bytes (whose
/// last line ends, as SDP's does).
fn sip(start: &str, body: usize) -> Vec<u8> {
    let body = format!("{}\r\n", "a".repeat(body));
    format!(
        "{start}\r\nCall-ID: c1\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A path with a sessions and a voice sink recording into one list.
fn both_sinks(
    input: SignallingInput,
    watermark: &Watermark,
    metrics: &ProbeMetrics,
) -> (SignallingPath, Recorder) {
    let sessions = Recorder::default();
    let voice = sessions.beside("voice");
    let path = SignallingPath::new(vec![input], watermark.clone(), metrics, audit().0)
        .sessions(&sessions_config(), Box::new(sessions.clone()))
        .voice(&voice_config(), Box::new(voice));
    (path, sessions)
}

/// Replays `stamped` through a path with both sinks: what they saw, and the metrics.
fn replay(stamped: &[(u64, Vec<u8>)], records: usize) -> (Recorder, ProbeMetrics) {
    let w = worker_on(stamped, &all_addresses(), records);
    let metrics = ProbeMetrics::unregistered().unwrap();
    let watermark = Watermark::default();
    let (path, seen) = both_sinks(w.input, &watermark, &metrics);
    run(&w.armed, w.handle, path, &watermark);
    assert_eq!(w.stats.signalling_drops.load(Ordering::Relaxed), 0);
    (seen, metrics)
}

/// `frames` 1 µs apart.
fn stamp(frames: Vec<Vec<u8>>) -> Vec<(u64, Vec<u8>)> {
    (0..).map(ts).zip(frames).collect()
}

/// A SIP message over TCP as the voice sink sees it.
fn tcp(ts: u64, src: IpAddr, dst: IpAddr, ports: (u16, u16), payload: &[u8]) -> Seen {
    Seen::Signal {
        to: "voice",
        transport: Transport::Tcp,
        ts,
        src,
        dst,
        ports,
        payload: payload.to_vec(),
    }
}

#[test]
fn sip_goes_to_the_voice_sink_and_radius_to_the_sessions_sink() {
    let invite = sip("INVITE sip:bob@example.com SIP/2.0", 40);
    let ok = sip("SIP/2.0 200 OK", 40);
    let frames = vec![
        e().ipv4(nas(), other(9))
            .udp(50000, 1813)
            .payload(b"acct")
            .build(),
        e().ipv4(other(1), sip_server())
            .udp(5060, 5060)
            .payload(&invite)
            .build(),
        e().vlan(7)
            .ipv4(sip_server(), other(1))
            .udp(5080, 40000)
            .payload(&ok)
            .build(),
        e().ipv4(sip_server(), other(1))
            .udp(7000, 7001)
            .payload(b"x")
            .build(),
        e().ipv4(nas(), other(9)).tcp(1, 1813).build(),
        e().ipv6(sip_server6(), client6())
            .udp(5060, 5060)
            .payload(&invite)
            .build(),
    ];
    let (seen, metrics) = replay(&stamp(frames), 64);
    let (s6, c6) = (IpAddr::from(sip_server6()), IpAddr::from(client6()));
    let (sip4, o1) = (IpAddr::from(sip_server()), IpAddr::from(other(1)));
    assert_eq!(
        seen.signals(),
        vec![
            udp(
                "sessions",
                ts(0),
                nas().into(),
                other(9).into(),
                (50000, 1813),
                b"acct"
            ),
            udp("voice", ts(1), o1, sip4, (5060, 5060), &invite),
            udp("voice", ts(2), sip4, o1, (5080, 40000), &ok),
            udp("voice", ts(5), s6, c6, (5060, 5060), &invite),
        ]
    );
    let all = seen.seen();
    for to in ["sessions", "voice"] {
        assert!(all.contains(&Seen::Idle(to, u64::MAX)), "{to}: {all:?}");
    }
    assert_results(
        &metrics,
        &[("passed", 4), ("wrong_port", 1), ("not_udp", 1)],
    );
}

#[test]
fn sip_over_tcp_is_reordered_deduplicated_and_cut_into_messages() {
    let (client, server) = (other(1), sip_server());
    let seg = |from_client: bool, seq: u32, flags: u16, payload: &[u8]| {
        let f = if from_client {
            e().ipv4(client, server)
                .tcp_segment(40000, 5060, seq, 1, flags)
        } else {
            e().ipv4(server, client)
                .tcp_segment(5060, 40000, seq, 1, flags)
        };
        f.payload(payload).build()
    };
    let (syn, ack, fin) = (0x02, 0x18, 0x11);
    let m1 = sip("INVITE sip:bob@example.com SIP/2.0", 300);
    let (m2, m3) = (
        sip("ACK sip:bob@example.com SIP/2.0", 0),
        sip("BYE sip:bob@example.com SIP/2.0", 10),
    );
    let mut two = m2.clone();
    two.extend_from_slice(&m3);
    let ok = b"SIP/2.0 200 OK\r\nCall-ID: c1\r\nl: 0\r\n\r\n";
    let (a, b, c) = (&m1[..100], &m1[100..250], &m1[250..]);
    let at = |n: usize| 1001 + n as u32;
    let frames = vec![
        seg(true, 1000, syn, b""),
        seg(true, at(100), ack, b),
        seg(true, at(0), ack, a),
        seg(true, at(0), ack, a),
        seg(true, at(250), ack, c),
        seg(true, at(m1.len()), ack, &two),
        // The other direction, picked up mid-stream at a message start.
        seg(false, 77, ack, ok),
        seg(true, at(m1.len() + two.len()), fin, b""),
    ];
    let (seen, metrics) = replay(&stamp(frames), 64);
    let (c, s) = (IpAddr::from(client), IpAddr::from(server));
    assert_eq!(
        seen.signals(),
        vec![
            tcp(ts(4), c, s, (40000, 5060), &m1),
            tcp(ts(5), c, s, (40000, 5060), &m2),
            tcp(ts(5), c, s, (40000, 5060), &m3),
            tcp(ts(6), s, c, (5060, 40000), ok),
        ]
    );
    assert_results(
        &metrics,
        &[
            ("tcp_segment", 8),
            ("sip_tcp_message", 4),
            ("sip_tcp_gap", 0),
        ],
    );
}

#[test]
fn a_hole_in_a_sip_stream_resyncs_at_the_next_message() {
    let (client, server) = (other(1), sip_server());
    let seg = |seq: u32, flags: u16, payload: &[u8]| {
        e().ipv4(client, server)
            .tcp_segment(40000, 5060, seq, 1, flags)
            .payload(payload)
            .build()
    };
    let m1 = sip("INVITE sip:bob@example.com SIP/2.0", 300);
    let m2 = sip("ACK sip:bob@example.com SIP/2.0", 0);
    let m3 = sip("BYE sip:bob@example.com SIP/2.0", 0);
    let at = |n: usize| 1001 + n as u32;
    // m1's second half never comes; m2 waits behind it until m3, 2 s later.
    let late = ts(3) + 2_000_000_000;
    let stamped = vec![
        (ts(0), seg(1000, 0x02, b"")),
        (ts(1), seg(at(0), 0x18, &m1[..200])),
        (ts(2), seg(at(m1.len()), 0x18, &m2)),
        (late, seg(at(m1.len() + m2.len()), 0x18, &m3)),
    ];
    let (seen, metrics) = replay(&stamped, 64);
    let (c, s) = (IpAddr::from(client), IpAddr::from(server));
    assert_eq!(
        seen.signals(),
        vec![
            tcp(late, c, s, (40000, 5060), &m2),
            tcp(late, c, s, (40000, 5060), &m3),
        ]
    );
    assert_results(&metrics, &[("sip_tcp_gap", 1), ("sip_tcp_message", 2)]);
}

/// The UDP datagram (header and payload) from `src` to `dst` carrying `payload`.
fn udp_datagram(src: IpAddr, dst: IpAddr, ports: (u16, u16), payload: &[u8]) -> Vec<u8> {
    let whole = e()
        .ip(src, dst)
        .udp(ports.0, ports.1)
        .payload(payload)
        .build();
    let ip_header = if src.is_ipv4() { 20 } else { 40 };
    whole[14 + ip_header..].to_vec()
}

/// `datagram` cut into fragments of `size` bytes (a multiple of 8), in order.
fn fragments(src: IpAddr, dst: IpAddr, datagram: &[u8], size: usize) -> Vec<Vec<u8>> {
    datagram
        .chunks(size)
        .enumerate()
        .map(|(i, chunk)| {
            let more = (i + 1) * size < datagram.len();
            fragment(src, dst, (i * size / 8) as u16, more, chunk)
        })
        .collect()
}

/// One UDP fragment (offset in 8-byte units); IPv6 with a hop-by-hop header first.
fn fragment(src: IpAddr, dst: IpAddr, offset: u16, more: bool, data: &[u8]) -> Vec<u8> {
    let f = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => e().ipv4(s, d),
        (s, d) => e().ip(s, d).hop_by_hop(),
    };
    f.fragment(offset, more)
        .next_protocol(17)
        .payload(data)
        .build()
}

#[test]
fn fragmented_sip_and_radius_are_reassembled_ipv4_and_ipv6() {
    let invite = sip("INVITE sip:bob@example.com SIP/2.0", 1800);
    let (s4, c4) = (IpAddr::from(sip_server()), IpAddr::from(other(1)));
    let (s6, c6) = (IpAddr::from(sip_server6()), IpAddr::from(client6()));
    let (n, o9) = (IpAddr::from(nas()), IpAddr::from(other(9)));
    let mut v4 = fragments(s4, c4, &udp_datagram(s4, c4, (5060, 5060), &invite), 600);
    // Out of order: the last first.
    v4.rotate_right(1);
    let v6 = fragments(s6, c6, &udp_datagram(s6, c6, (5080, 5060), &invite), 600);
    let radius = fragments(n, o9, &udp_datagram(n, o9, (50000, 1813), &[7; 100]), 64);
    let (k4, k6, kr) = (v4.len() as u64, v6.len() as u64, radius.len() as u64);
    assert!(k4 >= 4 && k6 >= 4 && kr == 2);
    let frames: Vec<Vec<u8>> = v4.into_iter().chain(v6).chain(radius).collect();
    let (seen, metrics) = replay(&stamp(frames), 64);
    assert_eq!(
        seen.signals(),
        vec![
            udp("voice", ts(k4 - 1), s4, c4, (5060, 5060), &invite),
            udp("voice", ts(k4 + k6 - 1), s6, c6, (5080, 5060), &invite),
            udp("sessions", ts(k4 + k6 + 1), n, o9, (50000, 1813), &[7; 100]),
        ]
    );
    assert_results(
        &metrics,
        &[
            ("fragment", k4 + k6 + kr - 3),
            ("passed", 3),
            ("fragment_refused", 0),
        ],
    );
}

#[test]
fn overlapping_and_oversized_fragments_are_refused() {
    let (s4, c4) = (IpAddr::from(sip_server()), IpAddr::from(other(1)));
    let (s6, c6) = (IpAddr::from(sip_server6()), IpAddr::from(client6()));
    let datagram = udp_datagram(s4, c4, (5060, 5060), &sip("BYE sip:b@c SIP/2.0", 1500));
    let frames = vec![
        fragment(s4, c4, 0, true, &datagram[..600]),
        // Overlaps the first: both refused.
        fragment(s4, c4, 64, true, &datagram[512..1112]),
        // The rest alone never completes.
        fragment(s4, c4, 75, false, &datagram[600..]),
        // Past 65,535 bytes (another datagram).
        fragment(s4, other(2).into(), 8189, false, &datagram[..600]),
        fragment(s6, c6, 8191, false, &datagram[..600]),
    ];
    let (seen, metrics) = replay(&stamp(frames), 64);
    assert_eq!(seen.signals(), vec![]);
    assert_results(
        &metrics,
        &[
            ("fragment", 2),
            ("fragment_refused", 3),
            ("fragment_expired", 1),
            ("passed", 0),
        ],
    );
}

#[test]
fn a_flood_of_fragments_stays_bounded_and_gives_way_to_time() {
    let s4 = IpAddr::from(sip_server());
    // Distinct datagrams (each its own destination), never completed.
    let flood = 1100u16;
    let mut stamped: Vec<(u64, Vec<u8>)> = (0..flood)
        .map(|i| {
            let dst = IpAddr::from(Ipv4Addr::new(10, 10, (i >> 8) as u8, i as u8));
            (ts(u64::from(i)), fragment(s4, dst, 0, true, &[0; 512]))
        })
        .collect();
    // A whole fragmented SIP datagram after the flood's time passed.
    let c4 = IpAddr::from(other(1));
    let invite = sip("INVITE sip:bob@example.com SIP/2.0", 900);
    let later = ts(u64::from(flood)) + 6_000_000_000;
    for (i, f) in fragments(s4, c4, &udp_datagram(s4, c4, (5060, 5060), &invite), 600)
        .into_iter()
        .enumerate()
    {
        stamped.push((later + i as u64, f));
    }
    let (seen, metrics) = replay(&stamped, 2048);
    assert_eq!(
        seen.signals(),
        vec![udp("voice", later + 1, s4, c4, (5060, 5060), &invite)]
    );
    // 1024 datagrams wait at most; the rest of the flood is refused.
    assert_results(
        &metrics,
        &[
            ("fragment", 1025),
            ("fragment_refused", u64::from(flood) - 1024),
            ("fragment_expired", 1024),
            ("passed", 1),
        ],
    );
}
