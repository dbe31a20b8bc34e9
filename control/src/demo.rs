//! `calea-probe demo`: the whole chain on one machine without hardware — a test
//! PKI, a generated capture on a `net_pcap` vdev, the real `calea-collector` over
//! TLS, the real daemon, one content and one headers intercept provisioned through
//! the HTTPS API, and a summary of what the collector received.
//!
//! The order problem (net_pcap replays its file once, and nothing may be missed):
//! the demo first runs the daemon on an empty capture file (no EAL) and provisions
//! through the API, then stops it and starts it on the vdev. At start-up the daemon
//! installs every stored intercept, waits until every worker applied it, and only
//! then arms the workers; net_pcap reads its file only when a worker polls, so the
//! first packet is classified against the full tables. This is also exactly the
//! restart path a production probe takes.

use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::client::ApiClient;

/// The content-mode target of the demo.
pub const CONTENT_TARGET: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
/// The headers-mode target of the demo.
pub const HEADERS_TARGET: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 20);
/// Frames per subscriber in the capture.
const FRAMES_EACH: u16 = 50;
/// Other subscribers in the capture.
const OTHERS: u8 = 8;

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

fn free_port() -> Result<u16, DemoError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(io("picking a port"))?;
    Ok(l.local_addr().map_err(io("picking a port"))?.port())
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
        probe_cert = probe_cert.display(),
        probe_key = probe_key.display(),
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

/// Counts what the collector wrote for `liid` under `out`.
fn received(out: &Path, liid: &str) -> Received {
    let dir = crate::collector::liid_dir(out, liid);
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
    let frames = capture();
    dataplane::synth::write_pcap(&capture_path, &frames).map_err(io("writing the capture"))?;
    dataplane::synth::write_pcap(out.join("empty.pcap"), &[]).map_err(io("writing empty.pcap"))?;
    println!(
        "capture: {} ({} frames)",
        capture_path.display(),
        frames.len()
    );

    let (api, metrics, lea) = (free_port()?, free_port()?, free_port()?);
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
    let window = |target: Ipv4Addr, liid: &str, mode: &str| {
        json!({
            "liid": liid, "warrant_ref": "DEMO-WARRANT", "issuing_authority": "Demo Court",
            "valid_from": "2020-01-01T00:00:00Z", "valid_until": "2099-01-01T00:00:00Z",
            "mode": mode, "targets": [target.to_string()], "destinations": ["lea"],
        })
    };
    for (liid, target, mode) in [
        ("DEMO-CONTENT", CONTENT_TARGET, "content"),
        ("DEMO-HEADERS", HEADERS_TARGET, "headers"),
    ] {
        let created = rt
            .block_on(client.create_intercept(&window(target, liid, mode)))
            .map_err(|e| step(format!("provisioning {liid}: {e}")))?;
        println!("provisioned {liid} ({mode}) active={}", created["active"]);
    }
    probe.terminate()?;

    // Phase 2: the dataplane on the net_pcap vdev; stored intercepts in effect first.
    write_cfg(&capture_path.display().to_string())?;
    let probe = start_probe(&exe, &cfg_path, &out.join("probe.log"))?;
    let per_target = usize::from(FRAMES_EACH) * 2;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let c = received(&received_dir, "DEMO-CONTENT");
        let h = received(&received_dir, "DEMO-HEADERS");
        if c.content_packets >= per_target && h.header_reports >= per_target {
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
    ];
    let mut others = std::fs::read_dir(&received_dir)
        .map_err(io("reading received/"))?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("DEMO-"))
        .collect::<Vec<_>>();
    others.sort();
    println!(
        "\nreceived by the collector (expected {per_target} per target; other subscribers: none):"
    );
    for r in &results {
        println!(
            "  {:<13} content packets {:>4}  header reports {:>4}  IRI events {:>3}  in {}",
            r.liid,
            r.content_packets,
            r.header_reports,
            r.iri_events,
            r.dir.display()
        );
    }
    if !others.is_empty() {
        println!("  other entries in {}: {others:?}", received_dir.display());
    }
    println!(
        "files: probe config {}, audit {}, logs {}/*.log",
        cfg_path.display(),
        out.join("audit.jsonl").display(),
        out.display()
    );
    Ok(results)
}
