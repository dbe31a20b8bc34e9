//! [`Anchor`]: the daemon's audit watch. At start it verifies the whole chain
//! in the background (alarm on any break); with a signing key configured it
//! makes a signed [`Checkpoint`] at a fixed interval, on every activation and
//! at stop, and sends it to the operator's sinks. A sink failure is logged,
//! counted and retried; it never holds up provisioning.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use prometheus::{IntCounterVec, IntGauge, Opts, Registry};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;

use super::checkpoint::{Checkpoint, SigningKey};
use super::{record_time, verify, AnchorState, AuditError, AuditLog};

/// `[audit]`: checkpoints of the audit chain, sent outside the probe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// Ed25519 private key (PKCS#8 PEM) that signs checkpoints; unset: none are made.
    #[serde(default)]
    pub checkpoint_key: Option<PathBuf>,
    /// Seconds between checkpoints (one is also made on every activation).
    #[serde(default = "default_interval")]
    pub checkpoint_interval_secs: u64,
    /// Append each checkpoint as one JSON line to this file.
    #[serde(default)]
    pub checkpoint_file: Option<PathBuf>,
    /// POST each checkpoint as JSON to an HTTP(S) endpoint.
    #[serde(default)]
    pub checkpoint_http: Option<HttpSinkConfig>,
    /// Send each checkpoint as a syslog message over TLS (RFC 5425).
    #[serde(default)]
    pub checkpoint_syslog: Option<SyslogSinkConfig>,
}

fn default_interval() -> u64 {
    60
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            checkpoint_key: None,
            checkpoint_interval_secs: default_interval(),
            checkpoint_file: None,
            checkpoint_http: None,
            checkpoint_syslog: None,
        }
    }
}

/// `[audit.checkpoint_http]`: where checkpoints are POSTed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSinkConfig {
    /// Endpoint URL (`https://...`; `http://` only on a trusted network).
    pub url: String,
    /// CA the endpoint's certificate must chain to (PEM; required for https).
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// Client certificate to present (PEM), with `key`.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// Client key (PEM), with `cert`.
    #[serde(default)]
    pub key: Option<PathBuf>,
}

/// `[audit.checkpoint_syslog]`: a syslog collector over mutual TLS (RFC 5425).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogSinkConfig {
    /// Collector address, host:port (6514 is the registered port).
    pub address: String,
    /// Name (DNS or IP) the collector's certificate must carry.
    pub server_name: String,
    /// The only CA the collector's certificate may chain to (PEM).
    pub ca: PathBuf,
    /// Our client certificate (PEM).
    pub cert: PathBuf,
    /// Our client key (PEM).
    pub key: PathBuf,
}

impl AuditConfig {
    /// Checks the keys' rules; `Err((key, message))` like the rest of the config.
    ///
    /// # Errors
    /// The first key that breaks a rule.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |key: &str, message: &str| Err((format!("audit.{key}"), message.to_owned()));
        if !(1..=86_400).contains(&self.checkpoint_interval_secs) {
            return bad("checkpoint_interval_secs", "not in 1..=86400");
        }
        let has_sink = self.checkpoint_file.is_some()
            || self.checkpoint_http.is_some()
            || self.checkpoint_syslog.is_some();
        if has_sink && self.checkpoint_key.is_none() {
            return bad("checkpoint_key", "required to sign checkpoints for a sink");
        }
        if let Some(h) = &self.checkpoint_http {
            let https = h.url.starts_with("https://");
            if !https && !h.url.starts_with("http://") {
                return bad("checkpoint_http.url", "must start with https:// or http://");
            }
            if https && h.ca.is_none() {
                return bad("checkpoint_http.ca", "required for an https:// url");
            }
            if h.cert.is_some() != h.key.is_some() {
                return bad("checkpoint_http.cert", "cert and key go together");
            }
        }
        Ok(())
    }

    /// Resolves relative paths against the config file's directory.
    pub fn resolve_paths(&mut self, base: &Path) {
        let mut paths: Vec<&mut PathBuf> = Vec::new();
        paths.extend(self.checkpoint_key.as_mut());
        paths.extend(self.checkpoint_file.as_mut());
        if let Some(h) = &mut self.checkpoint_http {
            paths.extend(h.ca.as_mut());
            paths.extend(h.cert.as_mut());
            paths.extend(h.key.as_mut());
        }
        if let Some(s) = &mut self.checkpoint_syslog {
            paths.extend([&mut s.ca, &mut s.cert, &mut s.key]);
        }
        for p in paths {
            *p = base.join(&*p);
        }
    }
}

/// Longest wait before a failed sink is tried again.
const MAX_RETRY: Duration = Duration::from_secs(30);
/// Longest one send to a network sink may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
struct AnchorMetrics {
    chain_broken: IntGauge,
    checkpoint_seq: IntGauge,
    sent: IntCounterVec,
    failed: IntCounterVec,
}

impl AnchorMetrics {
    fn new(r: &Registry) -> Result<Self, prometheus::Error> {
        let chain_broken = IntGauge::new(
            "calea_audit_chain_broken",
            "1 if the start-up verification found the audit chain broken (see the log)",
        )?;
        let checkpoint_seq = IntGauge::new(
            "calea_audit_checkpoint_seq",
            "Seq covered by the newest signed audit checkpoint",
        )?;
        let sent = IntCounterVec::new(
            Opts::new(
                "calea_audit_checkpoints_sent_total",
                "Audit checkpoints a sink accepted",
            ),
            &["sink"],
        )?;
        let failed = IntCounterVec::new(
            Opts::new(
                "calea_audit_checkpoint_failures_total",
                "Audit checkpoint sends that failed (retried)",
            ),
            &["sink"],
        )?;
        r.register(Box::new(chain_broken.clone()))?;
        r.register(Box::new(checkpoint_seq.clone()))?;
        r.register(Box::new(sent.clone()))?;
        r.register(Box::new(failed.clone()))?;
        Ok(Self {
            chain_broken,
            checkpoint_seq,
            sent,
            failed,
        })
    }
}

/// Where checkpoints go.
enum Sink {
    File(PathBuf),
    Http {
        client: reqwest::Client,
        url: String,
    },
    Syslog {
        tls: tokio_rustls::TlsConnector,
        address: String,
        server_name: rustls::pki_types::ServerName<'static>,
    },
}

impl Sink {
    fn label(&self) -> &'static str {
        match self {
            Self::File(_) => "file",
            Self::Http { .. } => "http",
            Self::Syslog { .. } => "syslog",
        }
    }

    async fn send(&self, cp: &Checkpoint) -> Result<(), String> {
        let body = serde_json::to_vec(cp).map_err(|e| e.to_string())?;
        match self {
            Self::File(path) => {
                append_line(path, body).map_err(|e| format!("{}: {e}", path.display()))
            }
            Self::Http { client, url } => {
                let resp = client
                    .post(url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| format!("{url}: {e}"))?;
                if resp.status().is_success() {
                    Ok(())
                } else {
                    Err(format!("{url}: HTTP {}", resp.status()))
                }
            }
            Self::Syslog {
                tls,
                address,
                server_name,
            } => {
                let frame = syslog_frame(cp, &body);
                let send = async {
                    let tcp = tokio::net::TcpStream::connect(address.as_str()).await?;
                    let mut stream = tls.connect(server_name.clone(), tcp).await?;
                    stream.write_all(&frame).await?;
                    stream.shutdown().await
                };
                match tokio::time::timeout(SEND_TIMEOUT, send).await {
                    Ok(sent) => sent.map_err(|e| format!("{address}: {e}")),
                    Err(_) => Err(format!("{address}: timed out")),
                }
            }
        }
    }
}

/// An RFC 5425 frame (octet count, space, message) holding an RFC 5424
/// message: facility log audit (13), severity notice (5), MSGID `checkpoint`,
/// the checkpoint's JSON as MSG.
fn syslog_frame(cp: &Checkpoint, json: &[u8]) -> Vec<u8> {
    // RFC 5424 allows at most six fractional digits; audit time has nine.
    let time = match cp.time.split_once('.') {
        Some((secs, frac)) => {
            let micros: String = frac.trim_end_matches('Z').chars().take(6).collect();
            format!("{secs}.{micros}Z")
        }
        None => cp.time.clone(),
    };
    let mut msg = format!("<109>1 {time} {} calea-probe - checkpoint - ", cp.probe).into_bytes();
    msg.extend_from_slice(json);
    let mut frame = format!("{} ", msg.len()).into_bytes();
    frame.extend(msg);
    frame
}

/// One JSON line, one write, fsynced: the file is append-only.
fn append_line(path: &Path, mut line: Vec<u8>) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    line.push(b'\n');
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)?;
    f.write_all(&line)?;
    f.sync_data()
}

fn http_sink(h: &HttpSinkConfig) -> Result<Sink, AuditError> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| AuditError::io(p, e));
    let sink_err = |what: &str, e: reqwest::Error| AuditError::Sink(format!("{what}: {e}"));
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .timeout(SEND_TIMEOUT);
    if let Some(ca) = &h.ca {
        let cert = reqwest::Certificate::from_pem(&read(ca)?)
            .map_err(|e| sink_err(&format!("CA {}", ca.display()), e))?;
        builder = builder.add_root_certificate(cert);
    }
    if let (Some(cert), Some(key)) = (&h.cert, &h.key) {
        let mut pem = read(cert)?;
        pem.extend(read(key)?);
        let id = reqwest::Identity::from_pem(&pem)
            .map_err(|e| sink_err(&format!("client certificate {}", cert.display()), e))?;
        builder = builder.identity(id);
    }
    Ok(Sink::Http {
        client: builder.build().map_err(|e| sink_err("client", e))?,
        url: h.url.clone(),
    })
}

fn syslog_sink(s: &SyslogSinkConfig) -> Result<Sink, AuditError> {
    let tls_err = |e: crate::tls::TlsError| AuditError::Sink(format!("syslog: {e}"));
    let config = crate::tls::client_config(&s.ca, &s.cert, &s.key).map_err(tls_err)?;
    Ok(Sink::Syslog {
        tls: tokio_rustls::TlsConnector::from(config),
        address: s.address.clone(),
        server_name: crate::tls::server_name(&s.server_name).map_err(tls_err)?,
    })
}

/// The running audit watch; [`Anchor::stop`] makes a last checkpoint.
pub struct Anchor {
    stop: watch::Sender<bool>,
    checkpoints: Option<JoinHandle<()>>,
}

impl Anchor {
    /// Registers the audit metrics, starts the background verification of
    /// every record now in `log`, and, with a key configured, the checkpoints.
    ///
    /// # Errors
    /// Unusable key or sink material, or a metric registered twice.
    pub fn start(
        config: &AuditConfig,
        probe: &str,
        log: &AuditLog,
        registry: &Registry,
    ) -> Result<Self, AuditError> {
        let metrics = AnchorMetrics::new(registry).map_err(|e| AuditError::Sink(e.to_string()))?;
        let (stop, stop_rx) = watch::channel(false);
        let checkpoints = match &config.checkpoint_key {
            None => None,
            Some(key) => {
                let mut sinks = Vec::new();
                if let Some(h) = &config.checkpoint_http {
                    sinks.push(http_sink(h)?);
                }
                if let Some(s) = &config.checkpoint_syslog {
                    sinks.push(syslog_sink(s)?);
                }
                if let Some(f) = &config.checkpoint_file {
                    sinks.push(Sink::File(f.clone()));
                }
                let task = Checkpointer {
                    key: SigningKey::from_file(key)?,
                    probe: probe.to_owned(),
                    log: log.clone(),
                    state: log.anchor_state().clone(),
                    sinks,
                    metrics: metrics.clone(),
                };
                let interval = Duration::from_secs(config.checkpoint_interval_secs);
                Some(spawn("audit-checkpoint", move || {
                    task.run(interval, stop_rx)
                })?)
            }
        };
        let upto = log.head()?.0;
        let log = log.clone();
        spawn("audit-verify", move || {
            verify_at_start(&log, upto, &metrics.chain_broken)
        })?;
        Ok(Self { stop, checkpoints })
    }

    /// Makes and sends a last checkpoint (covering `probe_stop`) and waits for it.
    pub fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.checkpoints.take() {
            let _ = t.join();
        }
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, AuditError> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .map_err(|e| AuditError::io(Path::new(name), e))
}

/// Verifies records 1..=`upto` and raises the alarm on any break.
fn verify_at_start(log: &AuditLog, upto: u64, broken: &IntGauge) {
    match verify::verify_live(log, upto) {
        Ok(report) if report.is_ok() => {
            tracing::info!(records = upto, "audit chain verified");
        }
        Ok(report) => {
            broken.set(1);
            tracing::error!("AUDIT CHAIN BROKEN at start-up: {report}");
        }
        Err(e) => {
            broken.set(1);
            tracing::error!(error = %e, "AUDIT CHAIN could not be verified at start-up");
        }
    }
}

struct Checkpointer {
    key: SigningKey,
    probe: String,
    log: AuditLog,
    state: Arc<AnchorState>,
    sinks: Vec<Sink>,
    metrics: AnchorMetrics,
}

impl Checkpointer {
    fn run(self, interval: Duration, stop: watch::Receiver<bool>) {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!(error = %e, "audit checkpoints disabled: no runtime");
                return;
            }
        };
        rt.block_on(self.serve(interval, stop));
    }

    async fn serve(self, interval: Duration, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Sinks whose last send failed, and when to try them again.
        let mut failed = vec![false; self.sinks.len()];
        let mut backoff = Duration::from_secs(1);
        let mut retry_at = tokio::time::Instant::now();
        let mut latest: Option<Checkpoint> = None;
        loop {
            let retrying = failed.contains(&true);
            let mut stopping = false;
            tokio::select! {
                _ = tick.tick() => {}
                () = self.state.activated.notified() => {}
                () = tokio::time::sleep_until(retry_at), if retrying => {
                    if let Some(cp) = &latest {
                        self.send(cp, &mut failed, true).await;
                    }
                    backoff = (backoff * 2).min(MAX_RETRY).min(interval);
                    retry_at = tokio::time::Instant::now() + backoff;
                    continue;
                }
                _ = stop.wait_for(|s| *s) => stopping = true,
            }
            if let Some(cp) = self.make().await {
                self.send(&cp, &mut failed, false).await;
                latest = Some(cp);
                if failed.contains(&true) && !retrying {
                    backoff = Duration::from_secs(1);
                    retry_at = tokio::time::Instant::now() + backoff;
                }
            }
            if stopping {
                return;
            }
        }
    }

    /// Signs the current head and publishes it to the status call.
    async fn make(&self) -> Option<Checkpoint> {
        let log = self.log.clone();
        let head = tokio::task::spawn_blocking(move || log.head()).await;
        let (seq, hash) = match head {
            Ok(Ok(h)) => h,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "audit checkpoint: cannot read the chain's head");
                return None;
            }
            Err(e) => {
                tracing::error!(error = %e, "audit checkpoint: head read failed");
                return None;
            }
        };
        let time = record_time(time::OffsetDateTime::now_utc());
        let cp = self.key.sign(&self.probe, seq, &hash, &time);
        self.metrics
            .checkpoint_seq
            .set(i64::try_from(seq).unwrap_or(i64::MAX));
        if let Ok(mut latest) = self.state.latest.lock() {
            *latest = Some(cp.clone());
        }
        Some(cp)
    }

    /// Sends `cp` to every sink (`only_failed`: to those whose last send failed).
    async fn send(&self, cp: &Checkpoint, failed: &mut [bool], only_failed: bool) {
        for (sink, failed) in self.sinks.iter().zip(failed.iter_mut()) {
            if only_failed && !*failed {
                continue;
            }
            match sink.send(cp).await {
                Ok(()) => {
                    self.metrics.sent.with_label_values(&[sink.label()]).inc();
                    *failed = false;
                }
                Err(e) => {
                    self.metrics.failed.with_label_values(&[sink.label()]).inc();
                    tracing::warn!(sink = sink.label(), seq = cp.seq, error = %e,
                        "audit checkpoint not delivered; will retry");
                    *failed = true;
                }
            }
        }
    }
}
