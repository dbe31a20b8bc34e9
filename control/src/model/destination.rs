//! Delivery destinations (LEA collection functions, mediation servers, local pcap).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ValidationError;

/// Longest destination name.
pub const MAX_DESTINATION_NAME: usize = 64;

/// Wire format a destination receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DestinationFormat {
    /// ETSI TS 102 232-1/-3 PS-PDUs (BER) over TLS.
    #[serde(rename = "etsi-102232")]
    Etsi102232,
    /// ETSI TS 103 221-2 X2/X3 PDUs over TLS.
    #[serde(rename = "x2x3")]
    X2x3,
    /// Local pcap files per LIID (testing and offline use only).
    #[serde(rename = "pcap-dir")]
    PcapDir,
}

impl DestinationFormat {
    /// Whether records leave the machine over a network link.
    #[must_use]
    pub fn is_network(self) -> bool {
        !matches!(self, Self::PcapDir)
    }
}

/// What a destination receives as a target's content of communication (and
/// header reports) when the target's packet travels in a carrier's tunnel
/// (GTP-U, VXLAN, GRE, ERSPAN, IP in IP, an MPLS pseudowire).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ContentScope {
    /// The IP packet the target sent or received: the innermost one carrying
    /// the target, without the carrier's transport around it.
    #[default]
    #[serde(rename = "target-packet")]
    TargetPacket,
    /// The frame as captured, from its first Ethernet byte, tunnels and all
    /// (for the rare warrant that asks for it). Header reports still describe
    /// the target's packet.
    #[serde(rename = "as-captured")]
    AsCaptured,
}

/// TLS material for one delivery link (mutual authentication, pinned CA).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestTls {
    /// CA certificate (PEM) the collector's certificate must chain to.
    pub ca: PathBuf,
    /// Our client certificate (PEM).
    pub cert: PathBuf,
    /// Our private key (PEM).
    pub key: PathBuf,
    /// Name the collector's certificate must carry (DNS name or IP).
    pub server_name: String,
}

fn default_keepalive() -> u32 {
    30
}

fn default_spool_max() -> u64 {
    1 << 30
}

/// Where and how intercepted records are delivered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    /// Unique name intercepts refer to (1–64 of `A-Z a-z 0-9 . _ -`).
    pub name: String,
    /// `host:port` of the collector (network formats; empty for `pcap-dir`).
    #[serde(default)]
    pub address: String,
    /// Wire format.
    pub format: DestinationFormat,
    /// TLS material; required unless `insecure_plaintext` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<DestTls>,
    /// Deliver without TLS. Only for lab use; audited at start-up.
    #[serde(default)]
    pub insecure_plaintext: bool,
    /// Seconds between keepalives on an idle link (1–3600).
    #[serde(default = "default_keepalive")]
    pub keepalive_secs: u32,
    /// Directory holding records while the destination is unreachable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spool_dir: Option<PathBuf>,
    /// Spool size at which the spool alarm is raised and audited.
    #[serde(default = "default_spool_max")]
    pub spool_max_bytes: u64,
    /// Output directory (`pcap-dir` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<PathBuf>,
    /// What is delivered of a tunnelled target's packets (always written, so
    /// that the audit record of a create or modify states it).
    #[serde(default)]
    pub content_scope: ContentScope,
}

impl Destination {
    /// Checks the fields against each other and the format.
    ///
    /// # Errors
    /// The first invalid field, named `destinations.<name>.<field>`.
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate_destination_name("name", &self.name)?;
        let field = |f: &str| format!("destinations.{}.{f}", self.name);
        let err = |f: &str, m: String| Err(ValidationError::field(field(f), m));
        if self.format.is_network() {
            validate_address(&field("address"), &self.address)?;
            match (&self.tls, self.insecure_plaintext) {
                (Some(_), true) => {
                    return err(
                        "tls",
                        "give either tls or insecure_plaintext = true, not both".into(),
                    )
                }
                (None, false) => {
                    return err(
                        "tls",
                        "required (plaintext delivery needs insecure_plaintext = true)".into(),
                    )
                }
                (Some(tls), false) => validate_tls(&field("tls"), tls)?,
                (None, true) => {}
            }
            if !(1..=3600).contains(&self.keepalive_secs) {
                return err(
                    "keepalive_secs",
                    format!("{} not in 1..=3600", self.keepalive_secs),
                );
            }
            if self
                .spool_dir
                .as_ref()
                .is_none_or(|p| p.as_os_str().is_empty())
            {
                return err("spool_dir", "required for network destinations".into());
            }
            if self.spool_max_bytes < 1 << 20 {
                return err(
                    "spool_max_bytes",
                    format!("{} is below 1 MiB", self.spool_max_bytes),
                );
            }
            if self.directory.is_some() {
                return err("directory", "only for format pcap-dir".into());
            }
        } else {
            if self
                .directory
                .as_ref()
                .is_none_or(|p| p.as_os_str().is_empty())
            {
                return err("directory", "required for format pcap-dir".into());
            }
            if !self.address.is_empty() || self.tls.is_some() || self.insecure_plaintext {
                return err(
                    "address",
                    "pcap-dir takes no address, tls or insecure_plaintext".into(),
                );
            }
        }
        Ok(())
    }

    /// Makes every relative path absolute against `base` (the config file's directory).
    pub fn resolve_paths(&mut self, base: &Path) {
        if let Some(tls) = &mut self.tls {
            for p in [&mut tls.ca, &mut tls.cert, &mut tls.key] {
                *p = base.join(&*p);
            }
        }
        for p in [&mut self.spool_dir, &mut self.directory]
            .into_iter()
            .flatten()
        {
            *p = base.join(&*p);
        }
    }
}

/// Destination names: 1–64 of `A-Z a-z 0-9 . _ -`, not starting with `.`.
///
/// # Errors
/// [`ValidationError::Field`] on `field`.
pub fn validate_destination_name(field: &str, name: &str) -> Result<(), ValidationError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_DESTINATION_NAME
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ValidationError::field(
            field,
            format!(
                "{name:?}: 1 to {MAX_DESTINATION_NAME} of A-Z a-z 0-9 . _ -, not starting with '.'"
            ),
        ))
    }
}

fn validate_address(field: &str, addr: &str) -> Result<(), ValidationError> {
    let bad = |why: &str| Err(ValidationError::field(field, format!("{addr:?}: {why}")));
    let Some((host, port)) = addr.rsplit_once(':') else {
        return bad("must be host:port");
    };
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("empty or invalid host");
    }
    match port.parse::<u16>() {
        Ok(p) if p != 0 => Ok(()),
        _ => bad("port must be 1..=65535"),
    }
}

fn validate_tls(field: &str, tls: &DestTls) -> Result<(), ValidationError> {
    for (name, p) in [("ca", &tls.ca), ("cert", &tls.cert), ("key", &tls.key)] {
        if p.as_os_str().is_empty() {
            return Err(ValidationError::field(
                format!("{field}.{name}"),
                "path is empty",
            ));
        }
    }
    if tls.server_name.is_empty() || tls.server_name.chars().any(char::is_whitespace) {
        return Err(ValidationError::field(
            format!("{field}.server_name"),
            format!("{:?} is not a server name", tls.server_name),
        ));
    }
    Ok(())
}
