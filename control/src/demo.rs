//! `calea-probe demo`: the whole chain on one machine without hardware — a test
//! PKI, a generated capture on a `net_pcap` vdev, the real `calea-collector` over
//! TLS, the real daemon, one content and one headers intercept, a subscriber
//! (username) warrant and a voice (SIP address of record) warrant provisioned
//! through the HTTPS API, and a summary of what the collector received.
//!
//! The order problem (net_pcap replays its file once, and nothing may be missed):
//! the demo first runs the daemon on an empty capture file (no EAL) and provisions
//! through the API, then stops it and starts it on the vdev. At start-up the daemon
//! installs every stored intercept, waits until every worker applied it, and only
//! then arms the workers; net_pcap reads its file only when a worker polls, so the
//! first packet is classified against the full tables. This is also exactly the
//! restart path a production probe takes.
//!
//! The subscriber warrant names a username, bound to an address by RADIUS in the
//! capture itself: the address enters the tables only once the signalling was
//! applied, and a replay at full speed would run ahead of it. So the vdev reads a
//! FIFO the demo writes in stages: the Start, then (once every worker applied
//! the binding) the session's traffic, then the Stop and traffic after it.
//!
//! The voice warrant names a SIP address of record: a few synthetic calls
//! (`dataplane::synth::voice::demo`) follow, each call's RTP written once its
//! media is in every worker's tables; the collector files them per call.

use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use dataplane::synth::voice::{self, RtpId, Step};
use serde_json::json;

use crate::client::ApiClient;

/// The LIID of the subscriber warrant.
pub const SUBSCRIBER_LIID: &str = "DEMO-SUBSCRIBER";
/// The content-mode target of the demo.
pub const CONTENT_TARGET: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
/// The headers-mode target of the demo.
pub const HEADERS_TARGET: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 20);
/// Frames per subscriber in the capture.
const FRAMES_EACH: u16 = 50;
/// Other subscribers in the capture.
const OTHERS: u8 = 8;
/// The subscriber warrant's target: a RADIUS User-Name.
pub const SUBSCRIBER: &str = "alice@demo.example";
/// The address RADIUS binds to [`SUBSCRIBER`] for one session.
pub const SUBSCRIBER_ADDRESS: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 10);
/// Content packets of the subscriber during the session (tagged 1..=N by UDP
/// destination port), all delivered.
pub const SESSION_PACKETS: u16 = 10;
/// Packets of the address after the Stop (tagged from 101): none delivered.
pub const AFTER_STOP_PACKETS: u16 = 4;
/// The LIID of the voice warrant (content, on [`voice::TARGET`]).
pub const VOICE_LIID: &str = "DEMO-VOICE";
/// RTP packets each way of the voice warrant's answered call.
pub const VOICE_RTP_EACH: usize = 10;
/// The NAS whose accounting the probe trusts.
const NAS: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const NAS_SECRET: &[u8] = b"demo-nas-secret";
/// Where the subscriber talks to.
const PEER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 5);

/// Why the demo failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A step did not produce what it should have.
    #[error("{0}")]
    Step(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DemoError {
    let what = what.into();
    move |source| DemoError::Io { what, source }
}

fn step(e: impl std::fmt::Display) -> DemoError {
    DemoError::Step(e.to_string())
}

/// What the collector received for one LIID.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Received {
    /// LIID.
    pub liid: String,
    /// Content (CC) packets in `content.pcap`.
    pub content_packets: usize,
    /// Header reports: `headers.pcap` packets (every format writes them; a PS-PDU
    /// report is also a `report` line of `iri.jsonl`).
    pub header_reports: usize,
    /// Other IRI events (begin/end...) in `iri.jsonl`.
    pub iri_events: usize,
    /// Their TS 102 232-3 `accessEventType`s, in order.
    pub access_events: Vec<String>,
    /// Calls (by correlation number) of a voice warrant.
    pub calls: usize,
    /// SIP messages of those calls.
    pub sip_messages: usize,
    /// RTP packets of those calls.
    pub rtp_packets: usize,
    /// The LIID's output directory.
    pub dir: PathBuf,
}

/// A child process killed on drop (SIGTERM first when stopped explicitly).
struct Guard(Child);

impl Guard {
    fn terminate(mut self) -> Result<(), DemoError> {
        let pid = self.0.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .map_err(io("kill -TERM"))?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.0.try_wait().map_err(io("wait"))?.is_none() {
            if Instant::now() > deadline {
                return Err(step("child did not stop within 60 s"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A TCP port on 127.0.0.1 that is free now, for a listener a child process
/// opens later. It comes from outside the kernel's ephemeral range, so no
/// outgoing connection made in between can take it as its source port; each
/// process starts at its own offset and never hands a port out twice, so
/// parallel pickers rarely meet.
pub fn free_port() -> std::io::Result<u16> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let (low, span) = unclaimed_ports(ephemeral_range());
    let start = std::process::id().wrapping_mul(7919) % span;
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = u16::try_from(low + (start + n) % span).unwrap_or(0);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrNotAvailable,
        format!("no free TCP port in {low}..{} on 127.0.0.1", low + span),
    ))
}

/// The kernel's ephemeral port range (Linux's default when it cannot be read).
fn ephemeral_range() -> (u32, u32) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut it = text.split_whitespace().map(str::parse::<u32>);
            Some((it.next()?.ok()?, it.next()?.ok()?))
        })
        .unwrap_or((32768, 60999))
}

/// The start and length of the larger run of unprivileged ports the
/// ephemeral range leaves alone; 10000..30000 when it leaves almost none.
fn unclaimed_ports((lo, hi): (u32, u32)) -> (u32, u32) {
    const FIRST: u32 = 10_000;
    const END: u32 = 65_536;
    let below = (FIRST, lo.clamp(FIRST, END) - FIRST);
    let above_start = (hi + 1).clamp(FIRST, END);
    let above = (above_start, END - above_start);
    let best = if below.1 >= above.1 { below } else { above };
    if best.1 >= 1000 {
        best
    } else {
        (FIRST, 20_000)
    }
}

/// The capture: both targets talking to outside hosts (both directions), plus
/// other subscribers' traffic that must never reach the collector.
fn capture() -> Vec<(u64, Vec<u8>)> {
    let mac = |b: u8| [2, 0, 0, 0, 0, b];
    let server = Ipv4Addr::new(203, 0, 113, 80);
    let mut subscribers = vec![CONTENT_TARGET, HEADERS_TARGET];
    subscribers.extend((1..=OTHERS).map(|i| Ipv4Addr::new(198, 51, 100, 100 + i)));
    let mut frames = Vec::new();
    for i in 0..FRAMES_EACH {
        for (n, s) in subscribers.iter().enumerate() {
            let n = u8::try_from(n).unwrap_or(0);
            let up = dataplane::synth::Frame::ethernet(mac(n), mac(200))
                .ipv4(*s, server)
                .tcp(40_000 + u16::from(n), 443)
                .payload(format!("request {i} from subscriber {n}").as_bytes())
                .build();
            let down = dataplane::synth::Frame::ethernet(mac(200), mac(n))
                .ipv4(server, *s)
                .tcp(443, 40_000 + u16::from(n))
                .payload(b"response payload")
                .build();
            frames.push((0, up));
            frames.push((0, down));
        }
    }
    frames
}

const MAC_NAS: [u8; 6] = [2, 0, 0, 0, 0, 0x10];
const MAC_ROUTER: [u8; 6] = [2, 0, 0, 0, 0, 200];

/// A RADIUS Accounting-Request (RFC 2866) of the NAS for [`SUBSCRIBER`] with
/// [`SUBSCRIBER_ADDRESS`], signed with the NAS's secret. `status`: 1 Start, 2 Stop.
fn accounting(status: u32) -> Vec<u8> {
    let mut p = vec![4, u8::try_from(status).unwrap_or(0), 0, 0];
    p.extend_from_slice(&[0; 16]);
    for (kind, value) in [
        (40, &status.to_be_bytes()[..]),
        (1, SUBSCRIBER.as_bytes()),
        (44, b"demo-session-1"),
        (4, &NAS.octets()),
        (32, b"demo-bng"),
        (8, &SUBSCRIBER_ADDRESS.octets()),
    ] {
        p.push(kind);
        p.push(u8::try_from(value.len() + 2).unwrap_or(u8::MAX));
        p.extend_from_slice(value);
    }
    let len = u16::try_from(p.len()).unwrap_or(u16::MAX);
    p[2..4].copy_from_slice(&len.to_be_bytes());
    crate::sessions::wire::sign_radius(&mut p, NAS_SECRET, &[0; 16]);
    dataplane::synth::Frame::ethernet(MAC_NAS, MAC_ROUTER)
        .ipv4(NAS, Ipv4Addr::new(192, 0, 2, 2))
        .udp(50_000, 1813)
        .payload(&p)
        .build()
}

/// A packet of the subscriber's address, tagged by its UDP destination port;
/// even tags go to the subscriber.
fn subscriber_packet(tag: u16) -> Vec<u8> {
    let (src, dst) = if tag.is_multiple_of(2) {
        (PEER, SUBSCRIBER_ADDRESS)
    } else {
        (SUBSCRIBER_ADDRESS, PEER)
    };
    dataplane::synth::Frame::ethernet(MAC_ROUTER, MAC_NAS)
        .ipv4(src, dst)
        .udp(40_000, tag)
        .payload(b"subscriber content")
        .build()
}

/// The `accessEventType` of each IRI record (header reports excluded) in an
/// `iri.jsonl`, in order: the intercept's IRI-Begin, then the session IRI.
fn access_events(iri_jsonl: &str) -> Vec<String> {
    iri_jsonl
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] != "report")
        .filter_map(|v| v["record"]["accessEventType"].as_str().map(str::to_owned))
        .collect()
}

fn config(
    out: &Path,
    pki: &crate::pki::Bundle,
    pcap: &str,
    api: u16,
    metrics: u16,
    lea: u16,
) -> Result<String, DemoError> {
    let (probe_cert, probe_key) = pki
        .client("probe")
        .ok_or_else(|| step("no probe certificate"))?;
    let dataplane = if pcap.is_empty() {
        format!("pcap_file = \"{}\"", out.join("empty.pcap").display())
    } else {
        format!(
            "eal_args = [\"--no-huge\", \"-m\", \"512\", \"--no-pci\", \"--file-prefix\", \"demo-{pid}\", \"--vdev\", \"net_pcap0,rx_pcap={pcap}\"]\nports = [\"net_pcap0\"]",
            pid = std::process::id()
        )
    };
    Ok(format!(
        r#"[probe]
name = "demo-probe"
operator_id = "DEMO"
country_code = "US"
[dataplane]
{dataplane}
[api]
listen = "127.0.0.1:{api}"
cert = "{server}"
key = "{server_key}"
client_ca = "{ca}"
[[api.identities]]
subject_cn = "admin"
role = "admin"
[metrics]
listen = "127.0.0.1:{metrics}"
[state]
database = "{db}"
audit_mirror = "{mirror}"
[sessions]
[[sessions.nas]]
address = "{NAS}"
secret_file = "{secret}"
name = "demo-bng"
[voice]
sip_servers = ["{sip_server}"]
[[destinations]]
name = "lea"
address = "127.0.0.1:{lea}"
format = "etsi-102232"
spool_dir = "{spool}"
[destinations.tls]
ca = "{ca}"
cert = "{probe_cert}"
key = "{probe_key}"
server_name = "localhost"
"#,
        server = pki.server_cert.display(),
        server_key = pki.server_key.display(),
        ca = pki.ca.display(),
        db = out.join("probe.db").display(),
        mirror = out.join("audit.jsonl").display(),
        spool = out.join("spool").display(),
        secret = out.join("nas.secret").display(),
        probe_cert = probe_cert.display(),
        probe_key = probe_key.display(),
        sip_server = voice::SIP_SERVER,
    ))
}

/// The daemon as a child process, and what it prints after start-up.
struct ProbeChild {
    guard: Guard,
    stdout: std::thread::JoinHandle<Vec<String>>,
}

impl ProbeChild {
    /// Stops the daemon (SIGTERM) and returns what it printed after its
    /// `listening` line: its final counters.
    fn terminate(self) -> Result<Vec<String>, DemoError> {
        self.guard.terminate()?;
        self.stdout
            .join()
            .map_err(|_| step("reading the probe's output failed"))
    }
}

fn start_probe(exe: &Path, config: &Path, log: &Path) -> Result<ProbeChild, DemoError> {
    let log = std::fs::File::create(log).map_err(io("probe log"))?;
    let mut child = Command::new(exe)
        .args(["run", "--config"])
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .map_err(io(format!("starting {}", exe.display())))?;
    let stdout = child.stdout.take().ok_or_else(|| step("no probe stdout"))?;
    let guard = Guard(child);
    let mut lines = BufReader::new(stdout).lines();
    loop {
        match lines.next() {
            Some(Ok(l)) if l.starts_with("listening api=") => break,
            Some(Ok(_)) => {}
            _ => return Err(step("the probe exited during start-up (see probe.log)")),
        }
    }
    // Drained to the end, so the daemon never blocks on a full pipe.
    let stdout = std::thread::spawn(move || lines.map_while(Result::ok).collect());
    Ok(ProbeChild { guard, stdout })
}

/// SIP messages the probe has parsed and applied.
const SIP_PARSED: &str = "calea_voice_sip_messages_total{result=\"parsed\"}";
/// Media endpoints installed that some worker has not applied yet.
const MEDIA_PENDING: &str = "calea_voice_media_installs_pending";

/// The value of metric `name` (with its labels) in `text`; 0 if absent.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Writes filler (a frame no intercept matches) every ms until `done`: the
/// vdev's worker blocks reading the FIFO until its burst is full, and applies
/// table updates between bursts.
fn feed_until(
    feed: &mut dataplane::synth::PcapStream,
    what: &str,
    mut done: impl FnMut() -> bool,
) -> Result<(), DemoError> {
    let filler = dataplane::synth::Frame::ethernet(MAC_ROUTER, MAC_NAS)
        .ipv4(Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2))
        .udp(9, 9)
        .payload(b"filler")
        .build();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        if Instant::now() > deadline {
            return Err(step(format!("{what} did not happen within 60 s")));
        }
        for _ in 0..10 {
            feed.write(&filler).map_err(io("writing the capture"))?;
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    Ok(())
}

/// One call of a voice warrant as the collector wrote it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeliveredCall {
    /// Its correlation number (the name of its directory).
    pub cin: u64,
    /// Its SIP messages (`sip.txt`, each after a line ending `(<n> bytes)`).
    pub sip: Vec<Vec<u8>>,
    /// Its RTP packets (`rtp.pcap`, raw IP).
    pub rtp: Vec<RtpId>,
}

/// The messages of a collector's `sip.txt`; stops at anything else.
fn sip_messages(text: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
        let n = std::str::from_utf8(&rest[..nl])
            .ok()
            .filter(|h| h.starts_with("--- "))
            .and_then(|h| h.rsplit_once('('))
            .and_then(|(_, n)| n.strip_suffix(" bytes)"))
            .and_then(|n| n.parse::<usize>().ok());
        let Some(message) = n.and_then(|n| rest.get(nl + 1..nl + 1 + n)) else {
            break;
        };
        out.push(message.to_vec());
        rest = &rest[nl + 1 + message.len()..];
        rest = rest.strip_prefix(b"\n").unwrap_or(rest);
    }
    out
}

/// The RTP header of each raw IP packet of an `rtp.pcap`.
fn rtp_ids(pcap: &Path) -> Vec<RtpId> {
    let packets = dataplane::synth::read_pcap(pcap).unwrap_or_default();
    packets
        .iter()
        .filter_map(|(_, p)| {
            let ip = match p.first()? >> 4 {
                4 => usize::from(p.first()? & 15) * 4,
                _ => 40,
            };
            RtpId::of(p.get(ip + 8..)?)
        })
        .collect()
}

/// The calls the collector wrote in an LIID's (or XID's) directory `dir`
/// (`calls/<cin>/sip.txt`, `calls/<cin>/rtp.pcap`), by correlation number.
#[must_use]
pub fn delivered_calls(dir: &Path) -> Vec<DeliveredCall> {
    let Ok(entries) = std::fs::read_dir(dir.join("calls")) else {
        return Vec::new();
    };
    let mut calls: Vec<DeliveredCall> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let cin = e.file_name().to_str()?.parse().ok()?;
            let path = e.path();
            Some(DeliveredCall {
                cin,
                sip: sip_messages(&std::fs::read(path.join("sip.txt")).unwrap_or_default()),
                rtp: rtp_ids(&path.join("rtp.pcap")),
            })
        })
        .collect();
    calls.sort_by_key(|c| c.cin);
    calls
}

/// Counts what the collector wrote for `liid` under `out`.
fn received(out: &Path, liid: &str) -> Received {
    let dir = crate::collector::liid_dir(out, liid);
    let calls = delivered_calls(&dir);
    let count = |name: &str| dataplane::synth::read_pcap(dir.join(name)).map_or(0, |p| p.len());
    let iri = std::fs::read_to_string(dir.join("iri.jsonl")).unwrap_or_default();
    let reports = iri
        .lines()
        .filter(|l| l.contains("\"type\":\"report\""))
        .count();
    Received {
        liid: liid.to_owned(),
        content_packets: count("content.pcap"),
        header_reports: count("headers.pcap"),
        iri_events: iri.lines().count() - reports,
        access_events: access_events(&iri),
        calls: calls.len(),
        sip_messages: calls.iter().map(|c| c.sip.len()).sum(),
        rtp_packets: calls.iter().map(|c| c.rtp.len()).sum(),
        dir,
    }
}

/// Makes `out` an empty folder: created if missing, a previous demo's output
/// (its `probe.toml` present) removed, anything else refused rather than deleted.
fn fresh_dir(out: &Path) -> Result<(), DemoError> {
    let mut entries = match std::fs::read_dir(out) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return std::fs::create_dir_all(out).map_err(io(format!("creating {}", out.display())))
        }
        Err(e) => return Err(io(format!("reading {}", out.display()))(e)),
    };
    if entries.next().is_none() {
        return Ok(());
    }
    if !out.join("probe.toml").is_file() {
        return Err(step(format!(
            "{} is not empty and holds no earlier demo: choose another folder with --out",
            out.display()
        )));
    }
    std::fs::remove_dir_all(out)
        .map_err(io(format!("removing the earlier demo {}", out.display())))?;
    std::fs::create_dir_all(out).map_err(io(format!("creating {}", out.display())))
}

/// Runs the demo under `out` (created; an earlier demo's output there is
/// replaced) and returns what the collector received per LIID.
///
/// # Errors
/// Any step failing (with what it was doing).
pub fn run(out: &Path) -> Result<Vec<Received>, DemoError> {
    // Absolute: the paths written into probe.toml would otherwise be resolved
    // against the folder holding it (`out`) a second time.
    let out = &std::path::absolute(out).map_err(io(format!("resolving {}", out.display())))?;
    fresh_dir(out)?;
    let exe = std::env::current_exe().map_err(io("locating calea-probe"))?;
    let collector_exe = exe.with_file_name("calea-collector");
    let pki_dir = out.join("pki");
    std::fs::create_dir_all(&pki_dir).map_err(io("creating pki dir"))?;
    let pki = crate::pki::generate_bundle(&pki_dir, &["admin", "probe"]).map_err(step)?;
    let capture_path = out.join("capture.pcap");
    dataplane::synth::write_pcap(out.join("empty.pcap"), &[]).map_err(io("writing empty.pcap"))?;
    let secret = out.join("nas.secret");
    std::fs::write(&secret, NAS_SECRET).map_err(io("writing nas.secret"))?;
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600))
        .map_err(io("restricting nas.secret"))?;

    let port = || free_port().map_err(io("picking a port"));
    let (api, metrics, lea) = (port()?, port()?, port()?);
    let received_dir = out.join("received");
    let collector_log =
        std::fs::File::create(out.join("collector.log")).map_err(io("collector log"))?;
    let collector = Guard(
        Command::new(&collector_exe)
            .args(["--listen", &format!("127.0.0.1:{lea}"), "--out"])
            .arg(&received_dir)
            .arg("--cert")
            .arg(&pki.server_cert)
            .arg("--key")
            .arg(&pki.server_key)
            .arg("--client-ca")
            .arg(&pki.ca)
            .stdout(Stdio::null())
            .stderr(collector_log)
            .spawn()
            .map_err(io(format!("starting {}", collector_exe.display())))?,
    );

    // Phase 1: provision through the API (daemon on an empty file, no EAL).
    let cfg_path = out.join("probe.toml");
    let write_cfg = |pcap: &str| {
        config(out, &pki, pcap, api, metrics, lea)
            .and_then(|text| std::fs::write(&cfg_path, text).map_err(io("writing probe.toml")))
    };
    write_cfg("")?;
    let probe = start_probe(&exe, &cfg_path, &out.join("probe-provision.log"))?;
    let (cert, key) = pki
        .client("admin")
        .ok_or_else(|| step("no admin certificate"))?;
    let client =
        ApiClient::new(&format!("https://127.0.0.1:{api}"), &pki.ca, cert, key).map_err(step)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(io("tokio runtime"))?;
    let window = |target: &str, liid: &str, mode: &str| {
        json!({
            "liid": liid, "warrant_ref": "DEMO-WARRANT", "issuing_authority": "Demo Court",
            "valid_from": "2020-01-01T00:00:00Z", "valid_until": "2099-01-01T00:00:00Z",
            "mode": mode, "targets": [target], "destinations": ["lea"],
        })
    };
    for (liid, target, mode) in [
        ("DEMO-CONTENT", CONTENT_TARGET.to_string(), "content"),
        ("DEMO-HEADERS", HEADERS_TARGET.to_string(), "headers"),
        (SUBSCRIBER_LIID, format!("username:{SUBSCRIBER}"), "content"),
        (VOICE_LIID, voice::TARGET.to_owned(), "content"),
    ] {
        let created = rt
            .block_on(client.create_intercept(&window(&target, liid, mode)))
            .map_err(|e| step(format!("provisioning {liid}: {e}")))?;
        println!(
            "provisioned {liid} ({mode}) on {target} active={}",
            created["active"]
        );
    }
    probe.terminate()?;

    // Phase 2: the dataplane on the net_pcap vdev reading a FIFO; stored
    // intercepts in effect first.
    let fifo = out.join("capture.fifo");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .map_err(|e| io("creating capture.fifo")(e.into()))?;
    write_cfg(&fifo.display().to_string())?;
    // The vdev opens the FIFO during the daemon's start-up, and waits for its header.
    let opening = std::thread::spawn(move || dataplane::synth::PcapStream::open(&fifo));
    let probe = start_probe(&exe, &cfg_path, &out.join("probe.log"))?;
    let mut feed = opening
        .join()
        .map_err(|_| step("opening capture.fifo failed"))?
        .map_err(io("opening capture.fifo"))?;
    let metrics_text = || {
        rt.block_on(async {
            let r = reqwest::get(format!("http://127.0.0.1:{metrics}/metrics")).await?;
            r.text().await
        })
        .unwrap_or_default()
    };
    let frames = capture();
    for (_, frame) in &frames {
        feed.write(frame).map_err(io("writing the capture"))?;
    }
    feed.write(&accounting(1))
        .map_err(io("writing the capture"))?;
    feed_until(
        &mut feed,
        "the subscriber's binding on every worker",
        || metric(&metrics_text(), "calea_binding_latency_seconds_count") >= 1.0,
    )?;
    for tag in 1..=SESSION_PACKETS {
        feed.write(&subscriber_packet(tag))
            .map_err(io("writing the capture"))?;
    }
    // Delivered before the Stop is written: the Stop and the packets read in
    // one burst share its timestamp, and the binding ends at the Stop's.
    feed_until(&mut feed, "the session's packets delivered", || {
        received(&received_dir, SUBSCRIBER_LIID).content_packets >= usize::from(SESSION_PACKETS)
    })?;
    feed.write(&accounting(2))
        .map_err(io("writing the capture"))?;
    for tag in 101..101 + AFTER_STOP_PACKETS {
        feed.write(&subscriber_packet(tag))
            .map_err(io("writing the capture"))?;
    }
    feed_until(&mut feed, "the binding's end", || {
        metric(&metrics_text(), "calea_session_bindings{source=\"radius\"}") == 0.0
    })?;
    // The calls; each call's RTP once its media is in every worker's tables.
    let calls = voice::demo(VOICE_RTP_EACH);
    for step in &calls.steps {
        match step {
            Step::Frame(f) => feed.write(f).map(drop).map_err(io("writing the capture"))?,
            &Step::Settle { sip_messages } => {
                #[allow(clippy::cast_precision_loss)]
                let parsed = sip_messages as f64;
                feed_until(&mut feed, "a call's media installed", || {
                    let m = metrics_text();
                    metric(&m, SIP_PARSED) >= parsed && metric(&m, MEDIA_PENDING) == 0.0
                })?;
            }
        }
    }
    let target_calls = || calls.calls.iter().filter(|c| c.target);
    let voice_sip: usize = target_calls().map(|c| c.sip.len()).sum();
    let voice_rtp: usize = target_calls().map(|c| c.rtp.len()).sum();
    // What the probe read, as a file; closing the FIFO flushes the last burst.
    dataplane::synth::write_pcap(&capture_path, feed.written())
        .map_err(io("writing capture.pcap"))?;
    println!(
        "capture: {} ({} frames: {} of the address targets and others, then a RADIUS \
         Start of {SUBSCRIBER} with {SUBSCRIBER_ADDRESS}, {SESSION_PACKETS} packets, \
         the Stop, {AFTER_STOP_PACKETS} packets after it, SIP calls and their RTP, \
         and filler)",
        capture_path.display(),
        feed.written().len(),
        frames.len(),
    );
    drop(feed);
    let per_target = usize::from(FRAMES_EACH) * 2;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let c = received(&received_dir, "DEMO-CONTENT");
        let h = received(&received_dir, "DEMO-HEADERS");
        let s = received(&received_dir, SUBSCRIBER_LIID);
        let v = received(&received_dir, VOICE_LIID);
        if c.content_packets >= per_target
            && h.header_reports >= per_target
            && s.access_events.iter().any(|e| e == "sessionEnd")
            && v.sip_messages >= voice_sip
            && v.rtp_packets >= voice_rtp
        {
            break;
        }
        if Instant::now() > deadline {
            println!("timed out waiting for delivery (see {})", out.display());
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let counters = probe.terminate()?;
    collector.terminate()?;
    println!("\nthe probe's final counters:");
    for line in counters.iter().filter(|l| !l.is_empty()) {
        println!("  {line}");
    }
    let results = vec![
        received(&received_dir, "DEMO-CONTENT"),
        received(&received_dir, "DEMO-HEADERS"),
        received(&received_dir, SUBSCRIBER_LIID),
        received(&received_dir, VOICE_LIID),
    ];
    // One directory per LIID; anything else there is a foreign delivery.
    let liid_dir = crate::collector::liid_dir(&received_dir, SUBSCRIBER_LIID);
    let liids = liid_dir.parent().unwrap_or(&received_dir);
    let mut others = std::fs::read_dir(liids)
        .map_err(io(format!("reading {}", liids.display())))?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("DEMO-") && !n.starts_with('.'))
        .collect::<Vec<_>>();
    others.sort();
    println!(
        "\nreceived by the collector (expected {per_target} per target; other subscribers: none):"
    );
    for r in &results {
        println!(
            "  {:<15} content packets {:>4}  header reports {:>4}  IRI events {:>3}  in {}",
            r.liid,
            r.content_packets,
            r.header_reports,
            r.iri_events,
            r.dir.display()
        );
    }
    if let Some(s) = results.iter().find(|r| r.liid == SUBSCRIBER_LIID) {
        println!(
            "  {SUBSCRIBER_LIID} IRI: {} (expected: the intercept's IRI-Begin, then \
             sessionStart, sessionEnd; content: the {SESSION_PACKETS} packets of the \
             session, none of the {AFTER_STOP_PACKETS} after the Stop)",
            s.access_events.join(", ")
        );
    }
    if let Some(v) = results.iter().find(|r| r.liid == VOICE_LIID) {
        println!(
            "  {VOICE_LIID} on {}: calls {} SIP messages {} RTP packets {} (expected: {} calls, \
             {voice_sip} SIP messages, {voice_rtp} RTP packets; none of the other subscriber's \
             call on the same media ports)",
            voice::TARGET,
            v.calls,
            v.sip_messages,
            v.rtp_packets,
            target_calls().count(),
        );
    }
    if !others.is_empty() {
        println!("  other entries in {}: {others:?}", liids.display());
    }
    println!(
        "files: probe config {}, audit {}, logs {}/*.log",
        cfg_path.display(),
        out.join("audit.jsonl").display(),
        out.display()
    );
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::unclaimed_ports;

    #[test]
    fn ports_are_picked_outside_the_ephemeral_range() {
        assert_eq!(unclaimed_ports((32768, 60999)), (10_000, 22_768));
        assert_eq!(unclaimed_ports((10_000, 20_000)), (20_001, 45_535));
        assert_eq!(unclaimed_ports((40_000, 50_000)), (10_000, 30_000));
        // Nothing usable left: the old fixed span rather than none.
        assert_eq!(unclaimed_ports((1024, 65535)), (10_000, 20_000));
    }
}
