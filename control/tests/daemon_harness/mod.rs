//! Shared harness of the daemon end-to-end tests: a temp dir with a generated PKI,
//! a probe configuration, the real `calea-probe run` as a child process, and the
//! real `calea-collector`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use control::client::ApiClient;
use control::pki::{generate_bundle, Bundle};
use dataplane::synth::{Frame, PcapStream};

/// Client identities with certificates; all but "stranger" and the probes get a role.
pub const CLIENTS: &[&str] = &[
    "admin", "prov", "auditor", "viewer", "stranger", "probe", "probe-b",
];

/// A free port for a listener opened later (the config refuses two `:0`
/// listeners); see `control::demo::free_port` for why not port 0's pick.
pub fn free_port() -> u16 {
    control::demo::free_port().unwrap()
}

/// Temp dir + PKI + fixed ports for one probe (kept across restarts).
pub struct Setup {
    /// Everything lives here.
    pub dir: tempfile::TempDir,
    /// Certificates.
    pub certs: Bundle,
    api_port: u16,
    metrics_port: u16,
}

impl Setup {
    /// Generates the PKI.
    pub fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let certs = generate_bundle(dir.path(), CLIENTS).unwrap();
        Setup {
            dir,
            certs,
            api_port: free_port(),
            metrics_port: free_port(),
        }
    }

    /// Another probe's setup under the same PKI (its own dir and ports).
    pub fn sibling(&self) -> Setup {
        Setup {
            dir: tempfile::tempdir().unwrap(),
            certs: self.certs.clone(),
            api_port: free_port(),
            metrics_port: free_port(),
        }
    }

    /// A path in the temp dir.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `probe.toml` reading `pcap` (relative to the dir) with `destinations` (TOML).
    pub fn write_config(&self, pcap: &str, destinations: &str) -> PathBuf {
        let c = &self.certs;
        let config = format!(
            r#"
[probe]
name = "probe-test"
operator_id = "TESTOP"
country_code = "US"
[dataplane]
pcap_file = "{pcap}"
timestamps = "device"
[api]
listen = "127.0.0.1:{api}"
cert = "{server}"
key = "{server_key}"
client_ca = "{ca}"
[[api.identities]]
subject_cn = "admin"
role = "admin"
[[api.identities]]
subject_cn = "prov"
role = "provisioner"
[[api.identities]]
subject_cn = "auditor"
role = "auditor"
[[api.identities]]
subject_cn = "viewer"
role = "viewer"
[metrics]
listen = "127.0.0.1:{metrics}"
[state]
database = "probe.db"
audit_mirror = "audit.jsonl"
{destinations}
"#,
            api = self.api_port,
            metrics = self.metrics_port,
            server = c.server_cert.display(),
            server_key = c.server_key.display(),
            ca = c.ca.display(),
        );
        let path = self.path("probe.toml");
        std::fs::write(&path, config).unwrap();
        path
    }

    /// [`Setup::write_config`], reading `pcap` (a file or a FIFO) through a
    /// `net_pcap` port (real EAL, own file prefix, host clock) instead of the
    /// `pcap_file` source.
    pub fn write_net_pcap_config(&self, pcap: &str, destinations: &str) -> PathBuf {
        let path = self.write_config(pcap, destinations);
        let port = format!(
            "eal_args = [\"--no-huge\", \"-m\", \"512\", \"--no-pci\", \"--file-prefix\", \
             \"h{}-{}\", \"--vdev\", \"net_pcap0,rx_pcap={}\"]\nports = [\"net_pcap0\"]",
            std::process::id(),
            self.api_port,
            self.path(pcap).display()
        );
        let text = std::fs::read_to_string(&path).unwrap().replace(
            &format!("pcap_file = \"{pcap}\"\ntimestamps = \"device\""),
            &port,
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A TLS `etsi-102232` destination `name` at `port`, spooling under the dir.
    pub fn tls_destination(&self, name: &str, port: u16) -> String {
        let (cert, key) = self.certs.client("probe").unwrap();
        format!(
            r#"
[[destinations]]
name = "{name}"
address = "127.0.0.1:{port}"
format = "etsi-102232"
spool_dir = "spool-{name}"
[destinations.tls]
ca = "{ca}"
cert = "{cert}"
key = "{key}"
server_name = "localhost"
"#,
            ca = self.certs.ca.display(),
            cert = cert.display(),
            key = key.display(),
        )
    }

    /// Base URL of the probe's API.
    pub fn api_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.api_port)
    }

    /// URL of the probe's Prometheus exposition.
    pub fn metrics_url(&self) -> String {
        format!("http://127.0.0.1:{}/metrics", self.metrics_port)
    }

    /// Asserts that `calea-probe audit verify` passes on the state's database and mirror.
    pub fn assert_audit_verifies(&self) {
        let verify = Command::new(env!("CARGO_BIN_EXE_calea-probe"))
            .args(["audit", "verify", "--database"])
            .arg(self.path("probe.db"))
            .arg("--mirror")
            .arg(self.path("audit.jsonl"))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&verify.stdout);
        assert!(verify.status.success(), "{stdout}");
        assert!(stdout.starts_with("audit log OK"), "{stdout}");
    }

    /// The audit mirror's records of `action`.
    pub fn audited(&self, action: &str) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.path("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|r| r["action"] == action)
            .collect()
    }

    /// A client of the probe's API as `cn`.
    pub fn client(&self, cn: &str) -> ApiClient {
        let (cert, key) = self.certs.client(cn).unwrap();
        ApiClient::new(&self.api_url(), &self.certs.ca, cert, key).unwrap()
    }

    /// Starts `calea-collector` on `port` writing under `out` (log in `out.log`;
    /// killed when the returned guard drops, also on a failed assertion).
    pub fn collector(&self, port: u16, out: &str) -> Collector {
        let log = std::fs::File::create(self.path(&format!("{out}.log"))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_calea-collector"))
            .args(["--listen", &format!("127.0.0.1:{port}"), "--out"])
            .arg(self.path(out))
            .arg("--cert")
            .arg(&self.certs.server_cert)
            .arg("--key")
            .arg(&self.certs.server_key)
            .arg("--client-ca")
            .arg(&self.certs.ca)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Collector(child)
    }
}

/// A running collector, killed on drop.
pub struct Collector(Child);

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The real daemon as a child process (killed on drop).
pub struct Probe {
    child: Child,
    /// Collects the daemon's stdout after its `listening` line, until it exits.
    stdout: Option<std::thread::JoinHandle<Vec<String>>>,
}

impl Probe {
    /// Starts `calea-probe run --config CONFIG` and waits until its API listens.
    pub fn start(config: &Path) -> Probe {
        let mut child = Command::new(env!("CARGO_BIN_EXE_calea-probe"))
            .args(["run", "--config"])
            .arg(config)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        loop {
            let line = lines
                .next()
                .expect("daemon exited before listening")
                .unwrap();
            if line.starts_with("listening api=") {
                break;
            }
        }
        // Keep draining stdout so the daemon never blocks on a full pipe.
        let stdout = std::thread::spawn(move || lines.map_while(Result::ok).collect());
        Probe {
            child,
            stdout: Some(stdout),
        }
    }

    /// The daemon's process id (for /proc/<pid>/status).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(self) {
        self.stop_with("TERM");
    }

    /// Sends `signal` (`TERM`, `INT`), waits for a clean exit and returns what
    /// the daemon printed after its `listening` line (its final counters).
    pub fn stop_with(mut self, signal: &str) -> Vec<String> {
        let pid = self.child.id().to_string();
        let sig = format!("-{signal}");
        Command::new("kill").args([&sig, &pid]).status().unwrap();
        let status = wait(&mut self.child, Duration::from_secs(60));
        assert!(status.success(), "daemon exit status {status}");
        self.stdout
            .take()
            .map(|h| h.join().unwrap())
            .unwrap_or_default()
    }

    /// SIGKILL (no clean-up at all).
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for `child` to exit within `timeout`.
pub fn wait(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < deadline, "child did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls `f` until it returns Some or `timeout` passes.
pub fn eventually<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Scrapes the daemon's metrics until `line` appears (the sampler runs every second).
pub async fn scrape_until(setup: &Setup, line: &str) -> String {
    let mut text = String::new();
    for _ in 0..60 {
        text = reqwest::get(setup.metrics_url())
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.contains(line) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("metrics never showed {line}:\n{text}");
}

/// Makes a FIFO at `path`.
pub fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(ok.success());
}

/// The value of metric `name` (with its labels) in `text`; 0 if absent.
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// The capture as the daemon reads it: a pcap stream into a FIFO, with
/// timestamps that follow the wall clock (bindings expire by it). A thread
/// writes a harmless frame every ms between the test's own: the worker blocks
/// reading the FIFO and applies table updates only between frames.
pub struct Feed {
    stream: Arc<Mutex<PcapStream>>,
    stop: Arc<AtomicBool>,
    filler: Option<std::thread::JoinHandle<()>>,
}

impl Feed {
    /// Opens `path` for writing in a thread (the daemon's open blocks until then).
    pub fn open(path: &Path) -> std::thread::JoinHandle<Feed> {
        let path = path.to_owned();
        std::thread::spawn(move || {
            let stream = Arc::new(Mutex::new(PcapStream::open(&path).unwrap()));
            let stop = Arc::new(AtomicBool::new(false));
            let filler = {
                let (stream, stop) = (Arc::clone(&stream), Arc::clone(&stop));
                let frame = Frame::ethernet([2, 0, 0, 0, 0, 0x10], [2, 0, 0x5e, 0, 0x53, 1])
                    .ipv4(Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2))
                    .udp(9, 9)
                    .payload(b"filler")
                    .build();
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        stream.lock().unwrap().write(&frame).unwrap();
                        std::thread::sleep(Duration::from_millis(1));
                    }
                })
            };
            Feed {
                stream,
                stop,
                filler: Some(filler),
            }
        })
    }

    /// Writes `frame`; returns its timestamp.
    pub fn write(&mut self, frame: &[u8]) -> u64 {
        self.stream.lock().unwrap().write(frame).unwrap()
    }

    /// Waits (bounded) until the metrics satisfy `done`; returns them.
    pub async fn until(
        &mut self,
        setup: &Setup,
        what: &str,
        done: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = String::new();
        while Instant::now() < deadline {
            last = reqwest::get(setup.metrics_url())
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            if done(&last) {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{what} never happened; metrics:\n{last}");
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.filler.take() {
            let _ = t.join();
        }
    }
}
