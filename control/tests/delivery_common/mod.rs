//! Shared fixtures of the delivery and collector tests: a throw-away PKI (rcgen,
//! including an expired and a foreign-CA client certificate), the REAL
//! `calea-collector` binary as a child process, the engine fed through a real
//! hand-off channel, and pcap/summary readers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use control::handover::{AuditSink, HandoverEngine, Identity, InterceptRoute, LinkTuning, ProbeId};
use control::model::{ContentScope, DestTls, Destination, DestinationFormat, Liid};
use dataplane::handoff::{channel, HandoffProducer, Layer, Match, RxFrame};
use dataplane::parse::{dissect, Dissection};
use dataplane::synth::Frame;
use dataplane::targets::{Direction, Mode, Target};
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};

/// Payload marker: must never appear in a header report.
pub const MARKER: &[u8] = b"PAYLOAD-MARKER-must-not-leak!";

pub struct Pki {
    pub dir: PathBuf,
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub expired_cert: PathBuf,
    pub expired_key: PathBuf,
    pub foreign_ca: PathBuf,
    pub foreign_cert: PathBuf,
    pub foreign_key: PathBuf,
}

fn ca(cn: &str) -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, cn);
    (p.self_signed(&key).unwrap(), key)
}

fn leaf(
    dir: &Path,
    stem: &str,
    cn: &str,
    server: bool,
    expired: bool,
    issuer: &(rcgen::Certificate, KeyPair),
) -> (PathBuf, PathBuf) {
    let key = KeyPair::generate().unwrap();
    let sans = if server {
        vec!["localhost".to_string(), "127.0.0.1".to_string()]
    } else {
        vec![]
    };
    let mut p = CertificateParams::new(sans).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.extended_key_usages = vec![if server {
        ExtendedKeyUsagePurpose::ServerAuth
    } else {
        ExtendedKeyUsagePurpose::ClientAuth
    }];
    if expired {
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let cert = p.signed_by(&key, &issuer.0, &issuer.1).unwrap();
    let (c, k) = (
        dir.join(format!("{stem}.pem")),
        dir.join(format!("{stem}.key")),
    );
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c, k)
}

impl Pki {
    pub fn new(dir: &Path) -> Pki {
        let root = ca("test LEA CA");
        let other = ca("foreign CA");
        let ca_path = dir.join("ca.pem");
        std::fs::write(&ca_path, root.0.pem()).unwrap();
        let foreign_ca = dir.join("foreign-ca.pem");
        std::fs::write(&foreign_ca, other.0.pem()).unwrap();
        let (server_cert, server_key) = leaf(dir, "server", "collector", true, false, &root);
        let (client_cert, client_key) = leaf(dir, "probe", "probe-1", false, false, &root);
        let (expired_cert, expired_key) = leaf(dir, "expired", "probe-old", false, true, &root);
        let (foreign_cert, foreign_key) = leaf(dir, "foreign", "intruder", false, false, &other);
        Pki {
            dir: dir.to_owned(),
            ca: ca_path,
            server_cert,
            server_key,
            client_cert,
            client_key,
            expired_cert,
            expired_key,
            foreign_ca,
            foreign_cert,
            foreign_key,
        }
    }
}

/// The real collector binary, as a child process.
pub struct CollectorProc {
    pub child: Child,
    pub addr: String,
    pub out: PathBuf,
    pub summary: PathBuf,
}

/// A free port for a listener opened later (the config refuses two `:0`
/// listeners); see `control::demo::free_port` for why not port 0's pick.
pub fn free_port() -> u16 {
    control::demo::free_port().unwrap()
}

impl CollectorProc {
    /// Starts `calea-collector` on `127.0.0.1:port` (0 = any) and waits until it listens.
    pub fn start(pki: &Pki, out: &Path, port: u16) -> CollectorProc {
        Self::spawn(Some(pki), out, port, &[])
    }

    /// `--insecure-plaintext` collector (no TLS).
    pub fn start_plaintext(out: &Path, port: u16) -> CollectorProc {
        Self::spawn(None, out, port, &[])
    }

    /// `--insecure-plaintext` collector with more arguments.
    pub fn start_plaintext_with(out: &Path, port: u16, args: &[&str]) -> CollectorProc {
        Self::spawn(None, out, port, args)
    }

    fn spawn(pki: Option<&Pki>, out: &Path, port: u16, args: &[&str]) -> CollectorProc {
        static STARTS: AtomicU32 = AtomicU32::new(0);
        let n = STARTS.fetch_add(1, Ordering::Relaxed);
        let summary = out.parent().unwrap().join(format!("summary-{n}.json"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_calea-collector"));
        cmd.args(["--listen", &format!("127.0.0.1:{port}"), "--out"])
            .arg(out);
        match pki {
            Some(pki) => cmd
                .arg("--cert")
                .arg(&pki.server_cert)
                .arg("--key")
                .arg(&pki.server_key)
                .arg("--client-ca")
                .arg(&pki.ca),
            None => cmd.arg("--insecure-plaintext"),
        };
        let mut child = cmd
            .args(args)
            .arg("--summary-json")
            .arg(&summary)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines() {
                let line = line.unwrap_or_default();
                eprintln!("[collector] {line}");
                if !sent && line.contains("collector ready") {
                    let addr = line
                        .split("listen=")
                        .nth(1)
                        .and_then(|s| s.split_whitespace().next())
                        .unwrap_or_default()
                        .to_owned();
                    let _ = tx.send(addr);
                    sent = true;
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("collector did not start");
        CollectorProc {
            child,
            addr,
            out: out.to_owned(),
            summary,
        }
    }

    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, wait, and return the summary JSON.
    pub fn stop(mut self) -> serde_json::Value {
        let st = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "collector exited with {status}");
                break;
            }
            assert!(Instant::now() < deadline, "collector did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
        serde_json::from_slice(&std::fs::read(&self.summary).unwrap()).unwrap()
    }
}

/// A test that fails, or never stops its collector, leaves no process behind.
impl Drop for CollectorProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn identity() -> Identity {
    Identity {
        operator_id: "OPERATOR".into(),
        network_element_id: "probe-1".into(),
        country_code: "DE".into(),
    }
}

pub fn destination(
    name: &str,
    addr: &str,
    format: DestinationFormat,
    pki: &Pki,
    spool: &Path,
) -> Destination {
    Destination {
        name: name.into(),
        address: addr.into(),
        format,
        tls: Some(DestTls {
            ca: pki.ca.clone(),
            cert: pki.client_cert.clone(),
            key: pki.client_key.clone(),
            server_name: "localhost".into(),
        }),
        insecure_plaintext: false,
        keepalive_secs: 1,
        spool_dir: Some(spool.to_owned()),
        spool_max_bytes: 1 << 30,
        directory: None,
        content_scope: ContentScope::default(),
    }
}

/// A `pcap-dir` destination writing into `dir`.
pub fn pcap_dir(name: &str, dir: &Path) -> Destination {
    Destination {
        name: name.into(),
        address: String::new(),
        format: DestinationFormat::PcapDir,
        tls: None,
        insecure_plaintext: false,
        keepalive_secs: 1,
        spool_dir: None,
        spool_max_bytes: 1 << 30,
        directory: Some(dir.to_owned()),
        content_scope: ContentScope::default(),
    }
}

/// Audit records the engine produced: (action, object, details).
pub type AuditTrail = Arc<Mutex<Vec<(String, String, serde_json::Value)>>>;

pub fn audit() -> (AuditSink, AuditTrail) {
    let trail: AuditTrail = Arc::default();
    let t2 = Arc::clone(&trail);
    let sink = AuditSink::new(move |action, object, details| {
        t2.lock()
            .unwrap()
            .push((action.as_str().to_owned(), object.to_owned(), details));
    });
    (sink, trail)
}

pub fn tuning() -> LinkTuning {
    LinkTuning {
        write_timeout: Duration::from_secs(5),
        backoff_max: Duration::from_secs(1),
        ..LinkTuning::default()
    }
}

pub const TARGET_CC: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
pub const TARGET_HDR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 8);

pub fn route(key: u32, liid: &str, mode: Mode, dest: &str, target: Ipv4Addr) -> InterceptRoute {
    InterceptRoute {
        key,
        liid: Liid::try_from(liid.to_owned()).unwrap(),
        xid: uuid::Uuid::from_u128(0x1234_0000_0000_4000_8000_0000_0000_0000 | u128::from(key)),
        mode,
        destinations: vec![dest.to_owned()],
        targets: vec![Target::Ipv4(target)],
        gated: false,
        calls: false,
    }
}

/// Frame `i` to/from `target`: TCP with a payload that holds the marker and `i`.
pub fn frame(i: u32, target: Ipv4Addr, payload_len: usize) -> Vec<u8> {
    let peer = Ipv4Addr::new(203, 0, 113, (i % 200) as u8 + 1);
    let (src, dst) = if i.is_multiple_of(2) {
        (target, peer)
    } else {
        (peer, target)
    };
    let mut payload = MARKER.to_vec();
    payload.extend_from_slice(&i.to_be_bytes());
    payload.resize(payload_len.max(payload.len()), (i % 251) as u8);
    let f = Frame::ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let f = if i.is_multiple_of(3) { f.vlan(100) } else { f };
    f.ipv4(src, dst)
        .tcp(40000 + (i % 1000) as u16, 443)
        .payload(&payload)
        .build()
}

/// Pushes a frame through the real hand-off producer, as a worker would, as
/// matched on its innermost IP layer.
pub fn push(p: &mut HandoffProducer, frame: &[u8], key: u32, mode: Mode, dir: Direction, ts: u64) {
    let mut d = Dissection::default();
    dissect(frame, &mut d).unwrap();
    let innermost = d.ips().count().saturating_sub(1);
    let m = Match {
        key,
        mode,
        direction: dir,
        layer: Layer::Ip(u8::try_from(innermost).unwrap()),
    };
    loop {
        let pushed = p.push(RxFrame::whole(frame), &d, &[m], ts, 0);
        if pushed.records == 1 {
            return;
        }
        // The test's ring is full: the engine is behind. Wait (a worker would count a drop).
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Offsets used to compute the expected bytes of a record.
pub fn expected(frame: &[u8]) -> (usize, usize) {
    let mut d = Dissection::default();
    dissect(frame, &mut d).unwrap();
    (usize::from(d.l3_offset.unwrap()), usize::from(d.header_len))
}

/// (timestamp ns, captured bytes, orig_len) of every packet in a pcap file.
pub fn read_pcap(path: &Path) -> Vec<(u64, Vec<u8>, u32)> {
    read_pcap_of(path, pcap_file::DataLink::RAW)
}

/// The packets of a nanosecond pcap of link type `link`: (timestamp, data, original length).
pub fn read_pcap_of(path: &Path, link: pcap_file::DataLink) -> Vec<(u64, Vec<u8>, u32)> {
    let raw = std::fs::read(path).unwrap();
    assert_eq!(raw[..4], 0xa1b2_3c4du32.to_le_bytes(), "nanosecond pcap");
    let f = std::fs::File::open(path).unwrap();
    let mut r = pcap_file::pcap::PcapReader::new(f).unwrap();
    assert_eq!(r.header().datalink, link);
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        let p = p.unwrap();
        out.push((
            p.timestamp.as_nanos() as u64,
            p.data.into_owned(),
            p.orig_len,
        ));
    }
    out
}

pub fn start_engine(
    dests: Vec<Destination>,
    ring: usize,
) -> (HandoverEngine, HandoffProducer, AuditTrail) {
    start_engine_tuned(dests, ring, tuning())
}

pub fn start_engine_tuned(
    dests: Vec<Destination>,
    ring: usize,
    tuning: LinkTuning,
) -> (HandoverEngine, HandoffProducer, AuditTrail) {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_ansi(false)
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .try_init();
    let (producer, consumer) = channel(ring, 2048);
    let (sink, trail) = audit();
    let registry = prometheus::Registry::new();
    let engine = HandoverEngine::start_tuned(
        ProbeId::new(identity()).unwrap(),
        dests,
        vec![consumer],
        sink,
        &registry,
        tuning,
    )
    .unwrap();
    (engine, producer, trail)
}

/// Waits until `f` holds or panics after `secs`.
pub fn wait_for(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The PS-PDU of `liid` numbered `seq` carrying the IP packet of
/// `frame(seq, ..)`, and (timestamp, IP packet). Built by the real encoder, then
/// given `liid` whatever its length: the encoder holds LIIDs to the standard's
/// 25 octets, a collector must cope with whatever arrives.
pub fn ps_pdu(liid: &str, seq: u32) -> (Vec<u8>, (u64, Vec<u8>)) {
    use control::handover::pdu::{Event, Format, PduHeader};
    let id = identity();
    // PS-PDU timestamps are microseconds.
    let ts = 1_700_000_000_000_000_000 + u64::from(seq) * 1_000;
    let f = frame(seq, TARGET_CC, 60 + seq as usize % 300);
    let (l3, _) = expected(&f);
    let h = PduHeader {
        liid: "PLACEHOLDER",
        xid: uuid::Uuid::nil(),
        cin: 1,
        sequence: seq,
        timestamp_ns: ts,
        identity: &id,
    };
    let content = Event::Content {
        ip_packet: &f[l3..],
        direction: control::handover::pdu::Direction::ToTarget,
    };
    let mut one = Vec::new();
    Format::Etsi102232
        .encoder()
        .encode(&h, &content, &mut one)
        .unwrap();
    (with_liid(&one, liid), (ts, f[l3..].to_vec()))
}

/// `pdu` (one PS-PDU) with its LIID replaced by `liid`.
fn with_liid(pdu: &[u8], liid: &str) -> Vec<u8> {
    use control::handover::ber::{Reader, Tag, Writer};
    let mut seq = Reader::new(pdu).nested(Tag::SEQUENCE).unwrap();
    let mut header = seq.nested(Tag::ctx_cons(1)).unwrap();
    let mut out = Vec::new();
    let mut w = Writer::new(&mut out);
    let outer = w.open(Tag::SEQUENCE, pdu.len() + liid.len());
    let inner = w.open(Tag::ctx_cons(1), 128 + liid.len());
    let (oid, v) = header.tlv().unwrap();
    w.primitive(oid, v);
    header.expect(Tag::ctx(1)).unwrap();
    w.primitive(Tag::ctx(1), liid.as_bytes());
    while !header.is_empty() {
        let (t, v) = header.tlv().unwrap();
        w.primitive(t, v);
    }
    w.close(inner);
    while !seq.is_empty() {
        let (t, v) = seq.tlv().unwrap();
        w.primitive(t, v);
    }
    w.close(outer);
    out
}

/// Sends `wire` to a plaintext collector at `addr`, then a keepalive, and
/// returns the open connection once its answer arrived: everything before it
/// has been written.
pub fn send_synced(addr: &str, wire: &[u8]) -> std::net::TcpStream {
    use control::handover::pdu::{decode_next, DecodedKind, Event, Format, PduHeader};
    use std::io::{Read, Write};
    let mut sock = std::net::TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    sock.write_all(wire).unwrap();
    let id = identity();
    let h = PduHeader {
        liid: "keepalive",
        xid: uuid::Uuid::nil(),
        cin: 0,
        sequence: 0,
        timestamp_ns: 1,
        identity: &id,
    };
    let mut ka = Vec::new();
    Format::Etsi102232
        .encoder()
        .encode(&h, &Event::Keepalive, &mut ka)
        .unwrap();
    sock.write_all(&ka).unwrap();
    let mut reply = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        if let Some((pdu, _)) = decode_next(Format::Etsi102232, &reply).unwrap() {
            assert_eq!(pdu.kind, DecodedKind::KeepaliveAck);
            return sock;
        }
        let n = sock.read(&mut buf).unwrap();
        assert!(n > 0, "collector closed the connection");
        reply.extend_from_slice(&buf[..n]);
    }
}

/// Packets tshark reads from `path`, failing on any error (a cut-short file).
pub fn tshark_packets(path: &Path) -> usize {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(path)
        .args(["-T", "fields", "-e", "frame.number"])
        .output()
        .unwrap();
    assert!(
        out.status.success() && !String::from_utf8_lossy(&out.stderr).contains("cut short"),
        "tshark on {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// Open file descriptors of process `pid` ("self" for this one).
pub fn open_fds(pid: &str) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}
