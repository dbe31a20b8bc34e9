//! The signalling path end to end below the session glue: a real worker
//! replays a capture with its signalling ring, the signalling thread drains
//! it into a recording sink. Exact datagrams, the port filter, receive order,
//! a watermark that never goes back and never passes a datagram not yet
//! given; a full ring counted, alarmed and audited.
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
use control::sessions::{SessionsConfig, SignalPacket};
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

/// What the sink was told, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Signal {
        ts: u64,
        src: IpAddr,
        dst: IpAddr,
        ports: (u16, u16),
        payload: Vec<u8>,
    },
    Idle(u64),
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Seen>>>);

impl SignalSink for Recorder {
    fn signal(&mut self, p: &SignalPacket<'_>) {
        self.0.lock().unwrap().push(Seen::Signal {
            ts: p.ts_ns,
            src: p.src,
            dst: p.dst,
            ports: (p.src_port, p.dst_port),
            payload: p.payload.to_vec(),
        });
    }
    fn idle(&mut self, watermark_ns: u64) {
        let mut seen = self.0.lock().unwrap();
        // Idle passes repeat the same watermark: keep one of each.
        if seen.last() != Some(&Seen::Idle(watermark_ns)) {
            seen.push(Seen::Idle(watermark_ns));
        }
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

/// A worker (unarmed) on a capture of `frames` (1 µs apart) with the
/// signalling intercept on `cfg`'s addresses and a signalling ring of `records`.
fn worker(frames: &[Vec<u8>], cfg: &SessionsConfig, records: usize) -> Worker {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.pcap");
    let stamped: Vec<(u64, Vec<u8>)> = frames
        .iter()
        .enumerate()
        .map(|(i, f)| (BASE_NS + 1000 * i as u64, f.clone()))
        .collect();
    write_pcap(&path, &stamped).unwrap();
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
    updates.extend(
        cfg.signalling_addresses()
            .into_iter()
            .map(|a| Update::AddTarget {
                slot: Slot(0),
                target: match a {
                    IpAddr::V4(v4) => Target::Ipv4(v4),
                    IpAddr::V6(v6) => Target::Ipv6(v6),
                },
            }),
    );
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
            .payload(b"frag")
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
    let path = SignallingPath::new(
        vec![w.input],
        &cfg,
        Box::new(sink.clone()),
        watermark.clone(),
        &metrics,
        audit,
    )
    .spawn()
    .unwrap();
    w.armed.store(true, Ordering::Release);
    assert_eq!(w.handle.join().unwrap(), Exit::Exhausted);
    let deadline = Instant::now() + WAIT;
    while watermark.get() != u64::MAX {
        assert!(Instant::now() < deadline, "watermark stuck");
        std::thread::sleep(Duration::from_millis(1));
    }
    path.stop();

    let ts = |i: u64| BASE_NS + 1000 * i;
    let want = vec![
        Seen::Signal {
            ts: ts(0),
            src: nas().into(),
            dst: other(9).into(),
            ports: (50000, 1813),
            payload: b"acct-start".to_vec(),
        },
        Seen::Signal {
            ts: ts(5),
            src: dhcp().into(),
            dst: other(20).into(),
            ports: (67, 68),
            payload: b"dhcp-ack".to_vec(),
        },
        Seen::Signal {
            ts: ts(6),
            src: dhcp6().into(),
            dst: "2001:db8:d::2".parse::<Ipv6Addr>().unwrap().into(),
            ports: (547, 546),
            payload: b"dhcp6-reply".to_vec(),
        },
        Seen::Signal {
            ts: ts(7),
            src: nas().into(),
            dst: other(9).into(),
            ports: (50000, 1813),
            payload: b"acct-stop".to_vec(),
        },
    ];
    let seen = sink.0.lock().unwrap().clone();
    let signals: Vec<Seen> = seen
        .iter()
        .filter(|s| matches!(s, Seen::Signal { .. }))
        .cloned()
        .collect();
    assert_eq!(signals, want);
    // Every idle call: the watermark never went back, and every datagram
    // received before it had been given.
    let mut last = 0;
    for (at, s) in seen.iter().enumerate() {
        if let Seen::Idle(w) = *s {
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
    for (result, n) in [
        ("passed", 4),
        ("not_udp", 1),
        ("wrong_port", 1),
        ("fragment", 1),
    ] {
        let line = format!("calea_signalling_packets_total{{result=\"{result}\"}} {n}");
        assert!(metric(&metrics, &line), "{line}\n{}", metrics.render());
    }
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
    let mut path = SignallingPath::new(
        vec![w.input],
        &cfg,
        Box::new(sink.clone()),
        Watermark::default(),
        &metrics,
        audit,
    );
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
    assert_eq!(
        sink.0
            .lock()
            .unwrap()
            .iter()
            .filter(|s| matches!(s, Seen::Signal { .. }))
            .count(),
        2
    );
}
