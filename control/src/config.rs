//! `probe.toml`: the daemon's configuration. Every table refuses unknown keys,
//! and every error names the file, the table and the key, so a typo never
//! silently falls back to a default. Relative paths are resolved against the
//! directory holding the file. `examples/probe.toml` documents every field.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use dataplane::dpdk::{Mtu, FRAME_OVERHEAD, MIN_MTU};
use serde::{Deserialize, Serialize};

use crate::model::{Destination, TargetPolicy, ValidationError};

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// TOML syntax, unknown key, missing key or wrong type.
    #[error("{file}: {message} in {table} (line {line}){hint}")]
    Parse {
        /// File name.
        file: String,
        /// What is wrong (e.g. "unknown field `foo`").
        message: String,
        /// Where: `[api]`, `[[destinations]]` or `the top level`.
        table: String,
        /// 1-based line.
        line: usize,
        /// Extra help from the parser (expected keys), possibly empty.
        hint: String,
    },
    /// A key has a value outside its rules.
    #[error("{file}: {key}: {message}")]
    Invalid {
        /// File name.
        file: String,
        /// Dotted key (e.g. `dataplane.burst`).
        key: String,
        /// What is wrong, with the offending value.
        message: String,
    },
}

/// The whole configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Identity of this network element.
    pub probe: ProbeConfig,
    /// Packet capture.
    pub dataplane: DataplaneConfig,
    /// Provisioning API.
    pub api: ApiConfig,
    /// Prometheus exposition.
    pub metrics: MetricsConfig,
    /// Durable state.
    pub state: StateConfig,
    /// Delivery tunables.
    #[serde(default)]
    pub handover: HandoverConfig,
    /// Delivery destinations, synchronised into the store at start-up.
    #[serde(default)]
    pub destinations: Vec<Destination>,
    /// `[intercepts]`: which targets a warrant may name.
    #[serde(default)]
    pub intercepts: TargetPolicy,
    /// Signed checkpoints of the audit chain.
    #[serde(default)]
    pub audit: crate::audit::AuditConfig,
    /// ETSI TS 103 221-1 X1 interface for an ADMF (off when absent).
    #[serde(default)]
    pub x1: Option<X1Config>,
    /// `[sessions]`: subscriber session tracking from RADIUS and DHCP (off when absent).
    #[serde(default)]
    pub sessions: Option<crate::sessions::SessionsConfig>,
    /// `[voice]`: voice interception from SIP (off when absent).
    #[serde(default)]
    pub voice: Option<crate::voice::VoiceConfig>,
}

/// `[x1]`: the X1 network-element interface (ETSI TS 103 221-1) an ADMF
/// provisions this probe through: HTTPS, TLS 1.3, client certificates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct X1Config {
    /// Listen address.
    pub listen: SocketAddr,
    /// Server certificate (PEM); absent: `[api] cert` (then also its key and client CA).
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// Server private key (PEM).
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// CA that the ADMF's client certificate must chain to (PEM).
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
    /// Subject CNs of the ADMF's client certificates; anyone else is refused (and audited).
    pub admf_identities: Vec<String>,
    /// The `neIdentifier` this probe answers to; absent: `[probe] name`.
    #[serde(default)]
    pub ne_identifier: Option<String>,
    /// TLS and spool of the X2/X3 links to destinations the ADMF creates
    /// (absent: CreateDestination is refused).
    #[serde(default)]
    pub delivery: Option<X1Delivery>,
}

/// `[x1.delivery]`: how destinations created over X1 are reached.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct X1Delivery {
    /// CA the collectors' certificates must chain to (PEM).
    pub ca: PathBuf,
    /// Our client certificate (PEM).
    pub cert: PathBuf,
    /// Our private key (PEM).
    pub key: PathBuf,
    /// Name the collectors' certificates carry; absent: the destination's IP address.
    #[serde(default)]
    pub server_name: Option<String>,
    /// Each X1 destination spools in `<spool_dir>/<dId>`.
    pub spool_dir: PathBuf,
}

impl X1Config {
    /// Server certificate, key and client CA: this table's, else `[api]`'s.
    #[must_use]
    pub fn tls_paths<'a>(&'a self, api: &'a ApiConfig) -> (&'a Path, &'a Path, &'a Path) {
        match (&self.cert, &self.key, &self.client_ca) {
            (Some(c), Some(k), Some(ca)) => (c, k, ca),
            _ => (&api.cert, &api.key, &api.client_ca),
        }
    }
}

/// `[probe]`: identifiers carried in every handover record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    /// Network element identifier (1–16 printable ASCII).
    pub name: String,
    /// Operator identifier (1–16 printable ASCII).
    pub operator_id: String,
    /// ISO 3166-1 alpha-2 country code (two upper-case letters).
    pub country_code: String,
}

/// A DPDK port, by ethdev name (`net_pcap0`, `0000:03:00.0`) or port id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PortRef {
    /// Port id.
    Id(u16),
    /// Device name.
    Name(String),
}

/// Where packet timestamps come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Timestamps {
    /// Host clock read once per burst.
    #[default]
    System,
    /// NIC hardware timestamps (where the device supports them).
    Device,
}

/// Largest accepted `burst`.
pub const MAX_BURST: u16 = 512;

/// `[dataplane]`: ports, queues, cores and buffers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataplaneConfig {
    /// Extra DPDK EAL arguments (e.g. `--no-huge`, `--vdev ...`).
    #[serde(default)]
    pub eal_args: Vec<String>,
    /// Ports to capture from.
    #[serde(default)]
    pub ports: Vec<PortRef>,
    /// RX queues (= workers) per port.
    #[serde(default = "one")]
    pub workers_per_port: u16,
    /// Core of each worker (worker i on `cores[i]`); empty: not pinned.
    #[serde(default)]
    pub cores: Vec<usize>,
    /// Packets per rx burst (1–512).
    #[serde(default = "default_burst")]
    pub burst: u16,
    /// Slots in each worker's hand-off ring.
    #[serde(default = "default_handoff")]
    pub handoff_capacity: usize,
    /// Bytes in each pre-allocated hand-off frame buffer (largest frame copied).
    #[serde(default = "default_frame")]
    pub frame_capacity: usize,
    /// Mbufs in the packet pool.
    #[serde(default = "default_mbufs")]
    pub mbufs: u32,
    /// MTU of every port (frames up to it plus Ethernet and two VLAN headers
    /// arrive whole). Unset: the largest whose frames fit `frame_capacity`,
    /// lowered to a device's maximum.
    #[serde(default)]
    pub mtu: Option<u16>,
    /// Timestamp source.
    #[serde(default)]
    pub timestamps: Timestamps,
    /// Read packets from this pcap file instead of DPDK (tests, offline analysis).
    #[serde(default)]
    pub pcap_file: Option<PathBuf>,
}

impl DataplaneConfig {
    /// The MTU to ask of each port.
    pub fn port_mtu(&self) -> Mtu {
        match self.mtu {
            Some(m) => Mtu::Exactly(m),
            None => {
                let fits = self
                    .frame_capacity
                    .saturating_sub(usize::from(FRAME_OVERHEAD));
                Mtu::UpTo(u16::try_from(fits).unwrap_or(u16::MAX))
            }
        }
    }
}

fn one() -> u16 {
    1
}
fn default_burst() -> u16 {
    32
}
fn default_handoff() -> usize {
    4096
}
fn default_frame() -> usize {
    9216
}
fn default_mbufs() -> u32 {
    8191
}

/// Role of an API client, granted by its certificate's subject CN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including destinations.
    Admin,
    /// Create, modify and remove intercepts.
    Provisioner,
    /// Read and verify the audit log.
    Auditor,
    /// Read intercept state (no targets).
    Viewer,
}

/// `[[api.identities]]`: one client certificate subject and its role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// Subject common name of the client certificate.
    pub subject_cn: String,
    /// What it may do.
    pub role: Role,
}

/// `[api]`: the HTTPS provisioning API (mutual TLS).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// Server certificate (PEM).
    pub cert: PathBuf,
    /// Server private key (PEM).
    pub key: PathBuf,
    /// CA that client certificates must chain to (PEM).
    pub client_ca: PathBuf,
    /// Known clients; anyone else is refused (and audited).
    #[serde(default)]
    pub identities: Vec<Identity>,
}

/// `[metrics]`: Prometheus exposition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Listen address (plain HTTP; bind to a management network).
    pub listen: SocketAddr,
}

/// `[state]`: durable state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// SQLite database (created if missing).
    pub database: PathBuf,
    /// Append-only JSON-lines mirror of the audit log (ideally on other storage).
    pub audit_mirror: PathBuf,
}

/// `[handover]`: delivery tunables.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoverConfig {
    /// LIIDs of each `pcap-dir` destination whose files stay open at once (4
    /// descriptors each); the least recently written is closed to open another.
    #[serde(default = "default_max_open_liids")]
    pub pcap_dir_max_open_liids: usize,
}

fn default_max_open_liids() -> usize {
    crate::collector::DEFAULT_MAX_OPEN
}

impl Default for HandoverConfig {
    fn default() -> Self {
        HandoverConfig {
            pcap_dir_max_open_liids: default_max_open_liids(),
        }
    }
}

impl Config {
    /// Reads and validates a config file.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file, table and key.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        Self::parse(&text, base, &name)
    }

    /// Parses and validates config text; relative paths resolve against `base_dir`.
    ///
    /// # Errors
    /// [`ConfigError`] (file name shown as `config`).
    pub fn from_str(text: &str, base_dir: &Path) -> Result<Config, ConfigError> {
        Self::parse(text, base_dir, "config")
    }

    fn parse(text: &str, base: &Path, file: &str) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| parse_error(text, file, &e))?;
        config
            .validate()
            .map_err(|(key, message)| ConfigError::Invalid {
                file: file.to_owned(),
                key,
                message,
            })?;
        config.resolve_paths(base);
        Ok(config)
    }

    fn resolve_paths(&mut self, base: &Path) {
        let mut paths = vec![
            &mut self.api.cert,
            &mut self.api.key,
            &mut self.api.client_ca,
            &mut self.state.database,
            &mut self.state.audit_mirror,
        ];
        paths.extend(self.dataplane.pcap_file.as_mut());
        if let Some(sessions) = &mut self.sessions {
            paths.extend(sessions.nas.iter_mut().map(|n| &mut n.secret_file));
        }
        if let Some(x1) = &mut self.x1 {
            paths.extend(
                [&mut x1.cert, &mut x1.key, &mut x1.client_ca]
                    .into_iter()
                    .flatten(),
            );
            if let Some(d) = &mut x1.delivery {
                paths.extend([&mut d.ca, &mut d.cert, &mut d.key, &mut d.spool_dir]);
            }
        }
        for p in paths {
            *p = base.join(&*p);
        }
        for d in &mut self.destinations {
            d.resolve_paths(base);
        }
        self.audit.resolve_paths(base);
    }

    /// Checks values against their rules; `Err((key, message))`.
    fn validate(&self) -> Result<(), (String, String)> {
        let bad = |key: &str, message: String| Err((key.to_owned(), message));
        let p = &self.probe;
        for (key, value) in [
            ("probe.name", &p.name),
            ("probe.operator_id", &p.operator_id),
        ] {
            if value.is_empty() || value.len() > 16 || !value.bytes().all(|b| b.is_ascii_graphic())
            {
                return bad(
                    key,
                    format!("{value:?}: 1 to 16 printable ASCII characters"),
                );
            }
        }
        if p.country_code.len() != 2 || !p.country_code.bytes().all(|b| b.is_ascii_uppercase()) {
            return bad(
                "probe.country_code",
                format!("{:?}: two upper-case letters (ISO 3166-1)", p.country_code),
            );
        }
        if self.handover.pcap_dir_max_open_liids == 0 {
            return bad(
                "handover.pcap_dir_max_open_liids",
                "must be at least 1".into(),
            );
        }
        let d = &self.dataplane;
        if d.burst == 0 || d.burst > MAX_BURST {
            return bad(
                "dataplane.burst",
                format!("{} not in 1..={MAX_BURST}", d.burst),
            );
        }
        if d.workers_per_port == 0 {
            return bad("dataplane.workers_per_port", "must be at least 1".into());
        }
        if d.ports.is_empty() && d.pcap_file.is_none() {
            return bad(
                "dataplane.ports",
                "at least one port (or a pcap_file)".into(),
            );
        }
        let workers = d.ports.len().max(1) * usize::from(d.workers_per_port);
        if !d.cores.is_empty() && d.cores.len() < workers {
            return bad(
                "dataplane.cores",
                format!("{} cores for {workers} workers", d.cores.len()),
            );
        }
        if d.cores.iter().collect::<HashSet<_>>().len() != d.cores.len() {
            return bad("dataplane.cores", "a core is listed twice".into());
        }
        if d.handoff_capacity < usize::from(d.burst) {
            return bad(
                "dataplane.handoff_capacity",
                format!("{} is below burst {}", d.handoff_capacity, d.burst),
            );
        }
        let smallest_frame = usize::from(MIN_MTU + FRAME_OVERHEAD);
        if !(smallest_frame..=65_535).contains(&d.frame_capacity) {
            return bad(
                "dataplane.frame_capacity",
                format!(
                    "{} not in {smallest_frame}..=65535 (the frames of MTU {MIN_MTU})",
                    d.frame_capacity
                ),
            );
        }
        if let Some(m) = d.mtu {
            let frame = usize::from(m) + usize::from(FRAME_OVERHEAD);
            if m < MIN_MTU || frame > d.frame_capacity {
                return bad(
                    "dataplane.mtu",
                    format!(
                        "{m} not in {MIN_MTU}..={}: its frames (up to {frame} bytes) must fit \
                         frame_capacity {}",
                        d.frame_capacity - usize::from(FRAME_OVERHEAD),
                        d.frame_capacity
                    ),
                );
            }
        }
        if d.mbufs < u32::from(d.burst) * 2 {
            return bad(
                "dataplane.mbufs",
                format!("{} is below twice the burst", d.mbufs),
            );
        }
        let mut cns = HashSet::new();
        for id in &self.api.identities {
            if id.subject_cn.trim().is_empty() {
                return bad("api.identities.subject_cn", "empty".into());
            }
            if !cns.insert(id.subject_cn.as_str()) {
                return bad(
                    "api.identities.subject_cn",
                    format!("{:?} listed twice", id.subject_cn),
                );
            }
        }
        self.intercepts
            .validate()
            .map_err(|(key, message)| (key.to_owned(), message))?;
        if self.metrics.listen == self.api.listen {
            return bad("metrics.listen", "same address as api.listen".into());
        }
        self.audit.validate()?;
        if let Some(sessions) = &self.sessions {
            sessions.validate()?;
        }
        if let Some(voice) = &self.voice {
            voice
                .validate()
                .map_err(|(key, message)| (key.to_owned(), message))?;
        }
        if let Some(x1) = &self.x1 {
            let tls = [&x1.cert, &x1.key, &x1.client_ca];
            if tls.iter().any(|p| p.is_some()) && !tls.iter().all(|p| p.is_some()) {
                return bad(
                    "x1.cert",
                    "give cert, key and client_ca together (or none: [api]'s are used)".into(),
                );
            }
            if x1.admf_identities.is_empty()
                || x1.admf_identities.iter().any(|cn| cn.trim().is_empty())
            {
                return bad("x1.admf_identities", "at least one non-empty CN".into());
            }
            if x1.listen == self.api.listen || x1.listen == self.metrics.listen {
                return bad("x1.listen", "same address as api or metrics".into());
            }
        }
        let mut names = HashSet::new();
        for dest in &self.destinations {
            dest.validate().map_err(|e| match e {
                ValidationError::Field { field, message } => (dest_key(&field), message),
                other => ("destinations".to_owned(), other.to_string()),
            })?;
            if !names.insert(dest.name.as_str()) {
                return bad(
                    "destinations.name",
                    format!("{:?} defined twice", dest.name),
                );
            }
        }
        Ok(())
    }
}

fn dest_key(field: &str) -> String {
    if field.starts_with("destinations") {
        field.to_owned()
    } else {
        format!("destinations.{field}")
    }
}

/// Turns a TOML/serde error into "file: message in [table] (line n)", naming
/// the key when the parser's message does not.
fn parse_error(text: &str, file: &str, e: &toml::de::Error) -> ConfigError {
    let mut at = e.span().map_or(0, |s| s.start).min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let line = text[..at].matches('\n').count() + 1;
    let line_start = text[..at].rfind('\n').map_or(0, |n| n + 1);
    let line_end = text[at..].find('\n').map_or(text.len(), |n| at + n);
    let this_line = text[line_start..line_end].trim();
    let mut message = e.message().trim().to_owned();
    let table = if this_line.starts_with('[') && message.starts_with("unknown field") {
        // An unknown table belongs to its parent table.
        let name = this_line.split('#').next().unwrap_or(this_line);
        let name = name.trim().trim_matches(|c| c == '[' || c == ']');
        name.rsplit_once('.')
            .map_or_else(|| TOP_LEVEL.to_owned(), |(parent, _)| format!("[{parent}]"))
    } else {
        // Search from the end of the error's line, so an error spanning a
        // table (missing key) is attributed to that table.
        text[..line_end]
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| l.starts_with('['))
            .map_or_else(
                || TOP_LEVEL.to_owned(),
                |l| l.split('#').next().unwrap_or(l).trim().to_owned(),
            )
    };
    if let Some((key, _)) = this_line
        .split_once('=')
        .filter(|_| !this_line.starts_with('['))
    {
        let key = key.trim();
        if !message.contains(&format!("`{key}`")) {
            message = format!("`{key}`: {message}");
        }
    }
    let (message, hint) = match message.split_once(", expected") {
        Some((m, rest)) => (m.to_owned(), format!(": expected{rest}")),
        None => (message, String::new()),
    };
    ConfigError::Parse {
        file: file.to_owned(),
        message,
        table,
        line,
        hint,
    }
}

const TOP_LEVEL: &str = "the top level";
