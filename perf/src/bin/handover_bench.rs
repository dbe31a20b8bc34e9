//! Handover throughput: one content intercept of 1500-byte frames fed through a
//! real hand-off ring → HandoverEngine (encode, sequence) → TLS 1.3 → receiver on
//! loopback, in Gbps of intercepted frame bytes. Two receivers: the real
//! collector (decode + pcap files + journal) and a minimal TLS sink that only
//! decodes. Beside them, raw TCP loopback throughput of the same byte count in
//! the same run, and the ratio.
//!
//! `cargo run --release -p perf --bin handover_bench -- [--packets N] [--format etsi|x2x3]`
#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use control::collector::{BulkTls, Collector, CollectorOptions};
use control::handover::pdu::{decode_next, DecodedKind, Format};
use control::handover::{
    AuditSink, HandoverEngine, HandoverStats, Identity, InterceptRoute, LinkTuning, ProbeId,
};
use control::model::{ContentScope, DestTls, Destination, DestinationFormat, Liid};
use dataplane::handoff::{channel, Layer, Match, RxFrame};
use dataplane::parse::{dissect, Dissection};
use dataplane::synth::Frame;
use dataplane::targets::{Direction, Mode, Target};

#[derive(Parser, Debug)]
struct Args {
    /// Frames per run.
    #[arg(long, default_value_t = 1_000_000)]
    packets: u64,
    /// Frame length in bytes.
    #[arg(long, default_value_t = 1500)]
    frame_len: usize,
    /// Link send-queue high-water mark in MiB (above it records go to the spool).
    #[arg(long, default_value_t = 256)]
    queue_mib: usize,
    /// Offered load in Gbps of frames (0 = as fast as the producer can push;
    /// the link then falls behind and the spool absorbs the excess).
    #[arg(long, default_value_t = 0.0)]
    rate_gbps: f64,
    /// Wire format: etsi or x2x3.
    #[arg(long, default_value = "etsi")]
    format: String,
    /// Receivers to run, comma-separated: discard, sink, collector.
    #[arg(long, default_value = "discard,sink,collector")]
    receivers: String,
}

const LIID: &str = "BENCH-1";

struct Run {
    secs: f64,
    encoded_bytes: u64,
}

fn frame(len: usize) -> anyhow::Result<(Vec<u8>, Dissection)> {
    let target = std::net::Ipv4Addr::new(198, 51, 100, 7);
    let hdr = Frame::ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(target, std::net::Ipv4Addr::new(203, 0, 113, 9))
        .udp(5000, 6000)
        .build();
    let payload = vec![0x5a; len.saturating_sub(hdr.len())];
    let f = Frame::ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(target, std::net::Ipv4Addr::new(203, 0, 113, 9))
        .udp(5000, 6000)
        .payload(&payload)
        .build();
    let mut d = Dissection::default();
    dissect(&f, &mut d).map_err(|e| anyhow::anyhow!("dissect: {e:?}"))?;
    Ok((f, d))
}

/// Receiver that completes the TLS handshake and then discards the ciphertext
/// unread by TLS: isolates the probe side (encode + encrypt + send).
fn spawn_discard(
    cfg: Arc<rustls::ServerConfig>,
) -> anyhow::Result<(String, thread::JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?.to_string();
    let h = thread::spawn(move || {
        let Ok((mut sock, _)) = listener.accept() else {
            return;
        };
        let Ok(mut conn) = rustls::ServerConnection::new(cfg) else {
            return;
        };
        while conn.is_handshaking() {
            if conn.complete_io(&mut sock).is_err() {
                return;
            }
        }
        while conn.wants_write() {
            if conn.write_tls(&mut sock).is_err() {
                return;
            }
        }
        let mut buf = vec![0u8; 1 << 20];
        while matches!(sock.read(&mut buf), Ok(n) if n > 0) {}
    });
    Ok((addr, h))
}

/// Minimal TLS receiver: handshake, decode every PDU, count content packets
/// (reading as the collector does, with [`BulkTls`]).
fn spawn_sink(
    cfg: Arc<rustls::ServerConfig>,
    format: Format,
    received: Arc<AtomicU64>,
) -> anyhow::Result<(String, thread::JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?.to_string();
    let h = thread::spawn(move || {
        let Ok((sock, _)) = listener.accept() else {
            return;
        };
        let _ = sock.set_nodelay(true);
        let Ok(mut conn) = rustls::ServerConnection::new(cfg) else {
            return;
        };
        let mut sock = sock;
        while conn.is_handshaking() {
            if conn.complete_io(&mut sock).is_err() {
                return;
            }
        }
        let mut tls = BulkTls::new(conn, sock);
        // Decrypted straight into `buf[end..]`, decoded in place from `buf[start..end]`.
        let mut buf = vec![0u8; 4 << 20];
        let (mut start, mut end) = (0usize, 0usize);
        loop {
            if buf.len() - end < (512 << 10) {
                buf.copy_within(start..end, 0);
                (start, end) = (0, end - start);
            }
            let n = match tls.read(&mut buf[end..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            end += n;
            let mut count = 0;
            while let Ok(Some((pdu, used))) = decode_next(format, &buf[start..end]) {
                start += used;
                count += u64::from(matches!(pdu.kind, DecodedKind::Content { .. }));
            }
            received.fetch_add(count, Ordering::Relaxed);
        }
        tls.finish();
    });
    Ok((addr, h))
}

fn run_engine(
    args: &Args,
    certs: &control::pki::Bundle,
    addr: &str,
    spool: &Path,
    done: &dyn Fn(&HandoverStats) -> bool,
) -> anyhow::Result<Run> {
    let (client_cert, client_key) = certs.client("probe").context("client cert")?;
    let dest = Destination {
        name: "bench".into(),
        address: addr.to_owned(),
        format: if args.format == "x2x3" {
            DestinationFormat::X2x3
        } else {
            DestinationFormat::Etsi102232
        },
        tls: Some(DestTls {
            ca: certs.ca.clone(),
            cert: client_cert.to_owned(),
            key: client_key.to_owned(),
            server_name: "localhost".into(),
        }),
        insecure_plaintext: false,
        keepalive_secs: 30,
        spool_dir: Some(spool.to_owned()),
        spool_max_bytes: 64 << 30,
        directory: None,
        content_scope: ContentScope::default(),
    };
    let (mut producer, consumer) = channel(8192, 2048);
    let identity = ProbeId::new(Identity {
        operator_id: "BENCH".into(),
        network_element_id: "probe".into(),
        country_code: "DE".into(),
    })?;
    let registry = prometheus::Registry::new();
    let tuning = LinkTuning {
        queue_high_water_bytes: args.queue_mib << 20,
        ..LinkTuning::default()
    };
    let engine = HandoverEngine::start_tuned(
        identity,
        vec![dest],
        vec![consumer],
        AuditSink::new(|_, _, _| {}),
        &registry,
        tuning,
    )?;
    engine.add_route(InterceptRoute {
        key: 1,
        liid: Liid::try_from(LIID.to_owned())?,
        xid: uuid_v(1),
        mode: Mode::Content,
        destinations: vec!["bench".into()],
        targets: vec![Target::Ipv4(std::net::Ipv4Addr::new(198, 51, 100, 7))],
        gated: false,
        calls: false,
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while !engine.stats().destinations.iter().all(|d| d.connected) {
        if Instant::now() > deadline {
            bail!("link did not come up");
        }
        thread::sleep(Duration::from_millis(10));
    }
    let (f, d) = frame(args.frame_len)?;
    let m = [Match {
        key: 1,
        mode: Mode::Content,
        direction: Direction::FromTarget,
        layer: Layer::Ip(0),
    }];
    let start = Instant::now();
    let mut pushed = 0u64;
    let ns_per_frame = if args.rate_gbps > 0.0 {
        args.frame_len as f64 * 8.0 / args.rate_gbps
    } else {
        0.0
    };
    while pushed < args.packets {
        if ns_per_frame > 0.0 && pushed.is_multiple_of(256) {
            let due = Duration::from_nanos((pushed as f64 * ns_per_frame) as u64);
            if let Some(ahead) = due.checked_sub(start.elapsed()) {
                thread::sleep(ahead);
            }
        }
        // A worker would count a drop; the bench waits so that every frame counts.
        if producer
            .push(
                RxFrame::whole(&f),
                &d,
                &m,
                1_700_000_000_000_000_000 + pushed,
                0,
            )
            .records
            == 1
        {
            pushed += 1;
        } else {
            // Ring full: leave the CPU to the engine (2-core machines).
            thread::sleep(Duration::from_micros(50));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut spool_peak = 0u64;
    loop {
        let st = engine.stats();
        spool_peak = spool_peak.max(st.destinations.first().map_or(0, |d| d.spool_bytes));
        if done(&st) {
            break;
        }
        if Instant::now() > deadline {
            bail!("not all {} frames delivered in time", args.packets);
        }
        thread::sleep(Duration::from_millis(1));
    }
    let secs = start.elapsed().as_secs_f64();
    let stats = engine.stats();
    engine.shutdown(Duration::from_secs(30));
    let encoded_bytes = stats.destinations.first().map_or(0, |d| d.bytes_sent);
    if spool_peak > 0 {
        println!(
            "  (link slower than the producer: spool used, peak {} MiB)",
            spool_peak >> 20
        );
    }
    Ok(Run {
        secs,
        encoded_bytes,
    })
}

fn uuid_v(n: u128) -> uuid::Uuid {
    uuid::Uuid::from_u128(0x1234_0000_0000_4000_8000_0000_0000_0000 | n)
}

/// Plain loopback TCP: write `bytes` in 256 KiB writes, read and discard.
fn raw_tcp(bytes: u64) -> anyhow::Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let reader = thread::spawn(move || -> std::io::Result<u64> {
        let (mut s, _) = listener.accept()?;
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            let n = s.read(&mut buf)?;
            if n == 0 {
                return Ok(total);
            }
            total += n as u64;
        }
    });
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    let chunk = vec![0xa5u8; 256 << 10];
    let start = Instant::now();
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        s.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    s.shutdown(std::net::Shutdown::Write)?;
    let got = reader
        .join()
        .map_err(|_| anyhow::anyhow!("reader panicked"))??;
    if got != bytes {
        bail!("raw TCP moved {got} of {bytes} bytes");
    }
    Ok(start.elapsed().as_secs_f64())
}

fn gbps(bytes: u64, secs: f64) -> f64 {
    bytes as f64 * 8.0 / secs / 1e9
}

fn scratch() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("handover-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = scratch()?;
    let certs = control::pki::generate_bundle(&dir, &["probe"])?;
    let server = control::tls::server_config(&certs.server_cert, &certs.server_key, &certs.ca)?;
    let format = if args.format == "x2x3" {
        Format::X2X3
    } else {
        Format::Etsi102232
    };
    let frame_bytes = args.packets * args.frame_len as u64;
    println!(
        "handover_bench: {} frames of {} bytes, format {}, offered {}, 1 content intercept, TLS 1.3 (ring/AES-GCM)",
        args.packets,
        args.frame_len,
        args.format,
        if args.rate_gbps > 0.0 { format!("{} Gbps", args.rate_gbps) } else { "unpaced".into() }
    );

    // 0. Encoding alone, for reference.
    let (f, d) = frame(args.frame_len)?;
    let l3 = usize::from(d.l3_offset.unwrap_or(0));
    let identity = Identity {
        operator_id: "BENCH".into(),
        network_element_id: "probe".into(),
        country_code: "DE".into(),
    };
    let mut out = Vec::with_capacity(1 << 20);
    let n_enc = 200_000u32;
    let t = Instant::now();
    for i in 0..n_enc {
        if out.len() > (1 << 20) - 4096 {
            out.clear();
        }
        let h = control::handover::pdu::PduHeader {
            liid: LIID,
            xid: uuid_v(1),
            cin: 1,
            sequence: i,
            timestamp_ns: 1_700_000_000_000_000_000 + u64::from(i),
            identity: &identity,
        };
        let e = control::handover::pdu::Event::Content {
            ip_packet: &f[l3..],
            direction: Direction::FromTarget,
        };
        format.encoder().encode(&h, &e, &mut out)?;
    }
    let enc_ns = t.elapsed().as_nanos() as f64 / f64::from(n_enc);
    println!(
        "encode only (1 thread)          : {enc_ns:>7.0} ns/PDU = {:.2} Gbps of frames",
        args.frame_len as f64 * 8.0 / enc_ns
    );

    let pdu_len = {
        let mut one = Vec::new();
        let h = control::handover::pdu::PduHeader {
            liid: LIID,
            xid: uuid_v(1),
            cin: 1,
            sequence: 7,
            timestamp_ns: 1_700_000_000_000_000_000,
            identity: &identity,
        };
        let e = control::handover::pdu::Event::Content {
            ip_packet: &f[l3..],
            direction: Direction::FromTarget,
        };
        format.encoder().encode(&h, &e, &mut one)?;
        one.len() as u64
    };

    let wanted = |r: &str| args.receivers.split(',').any(|x| x.trim() == r);
    let mut runs: Vec<(&str, Run)> = Vec::new();

    // 0b. Probe side only: the receiver discards the ciphertext.
    if wanted("discard") {
        let (daddr, discard) = spawn_discard(Arc::clone(&server))?;
        let r = run_engine(&args, &certs, &daddr, &dir.join("spool-discard"), &|st| {
            st.destinations
                .first()
                .is_some_and(|d| d.bytes_sent >= args.packets * pdu_len)
        })?;
        let _ = discard.join();
        runs.push(("engine -> TLS -> discard (probe side only)", r));
    }

    // 1. Minimal decoding TLS sink.
    if wanted("sink") {
        let received = Arc::new(AtomicU64::new(0));
        let (addr, sink) = spawn_sink(Arc::clone(&server), format, Arc::clone(&received))?;
        let r = run_engine(&args, &certs, &addr, &dir.join("spool-sink"), &|_| {
            received.load(Ordering::Relaxed) >= args.packets
        })?;
        let _ = sink.join();
        runs.push(("engine -> TLS -> decoding sink", r));
    }

    // 2. The real collector (decode + content.pcap + journal), in-process.
    if wanted("collector") {
        let collector = Arc::new(Collector::bind(CollectorOptions {
            listen: "127.0.0.1:0".parse()?,
            out: dir.join("collector-out"),
            max_open_liids: control::collector::DEFAULT_MAX_OPEN,
            tls: Some(Arc::clone(&server)),
        })?);
        let caddr = collector.local_addr()?.to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let c2 = Arc::clone(&collector);
        let s2 = Arc::clone(&stop);
        let ch = thread::spawn(move || c2.run(&s2));
        let r = run_engine(&args, &certs, &caddr, &dir.join("spool-collector"), &|_| {
            collector
                .summary()
                .liids
                .values()
                .map(|s| s.content_packets)
                .sum::<u64>()
                >= args.packets
        })?;
        stop.store(true, Ordering::Release);
        let _ = ch.join();
        runs.push(("engine -> TLS -> calea-collector", r));
    }

    // 3. Raw TCP loopback, same number of bytes as the encoded stream.
    let encoded = args.packets * pdu_len;
    let raw = gbps(encoded, raw_tcp(encoded)?);
    for (name, r) in &runs {
        println!(
            "{name:<43}: {:>6.2} Gbps of frames ({:.2} Gbps encoded), {:.0} kpps, {:.2} of raw TCP",
            gbps(frame_bytes, r.secs),
            gbps(r.encoded_bytes, r.secs),
            args.packets as f64 / r.secs / 1e3,
            gbps(r.encoded_bytes, r.secs) / raw,
        );
    }
    println!("{:<43}: {raw:>6.2} Gbps", "raw TCP loopback (same bytes)");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
