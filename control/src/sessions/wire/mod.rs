//! Signalling on the wire: RADIUS (RFC 2865/2866), DHCPv4 (RFC 2131, option 82)
//! and DHCPv6 (RFC 8415, relayed), authenticated against `[sessions]` and
//! parsed into [`Signal`]s.
//!
//! Who may say what: RADIUS requests only from a configured NAS with its
//! shared secret (Request Authenticator for accounting, Message-Authenticator
//! for Access-Request), Access-Accept/Reject only with the Response
//! Authenticator of a request the NAS was seen to send; DHCP only from a
//! configured server or relay. Nothing a subscriber can send on its own
//! changes a binding.

mod dhcp4;
mod dhcp6;
mod radius;

pub use radius::sign as sign_radius;

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::Path;

use super::{Nas, Protocol, Refusal, SessionsConfig, Signal, SignalEvent, SignalPacket};
use crate::model::{Identity, IdentityKind};

/// Longest signalling datagram parsed (RADIUS's own maximum, RFC 2865 §3; a
/// DHCP message on the mirror fits too): bounds every allocation and the
/// nesting depth a decoder can reach.
pub const MAX_MESSAGE: usize = 4096;

/// DHCPv4 server and client ports.
const DHCP4_PORTS: [u16; 2] = [67, 68];
/// DHCPv6 client and server/relay ports.
const DHCP6_PORTS: [u16; 2] = [546, 547];

/// Why `[sessions]` cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifierError {
    /// A NAS's secret file cannot be read, is empty or is readable by others.
    #[error("NAS {nas}: secret file {path}: {reason}")]
    Secret {
        /// The NAS address.
        nas: std::net::IpAddr,
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// A configured NAS: its secret, name and the Access-Requests it sent.
struct NasEntry {
    secret: Vec<u8>,
    name: Option<String>,
    requests: radius::RequestLog,
}

/// Authenticates and parses signalling datagrams against `[sessions]`.
pub struct Verifier {
    nas: HashMap<IpAddr, NasEntry>,
    acct_ports: Vec<u16>,
    auth_ports: Vec<u16>,
    dhcp_senders: HashSet<IpAddr>,
}

impl Verifier {
    /// Loads the NAS secrets.
    ///
    /// # Errors
    /// [`VerifierError`] for a missing, unreadable or world-readable secret.
    pub fn from_config(cfg: &SessionsConfig) -> Result<Self, VerifierError> {
        let mut nas = HashMap::new();
        for n in &cfg.nas {
            let secret = read_secret(&n.secret_file).map_err(|reason| VerifierError::Secret {
                nas: n.address,
                path: n.secret_file.clone(),
                reason,
            })?;
            let entry = NasEntry {
                secret,
                name: n.name.clone(),
                requests: radius::RequestLog::default(),
            };
            nas.insert(n.address, entry);
        }
        Ok(Self {
            nas,
            acct_ports: cfg.radius_accounting_ports.clone(),
            auth_ports: cfg.radius_auth_ports.clone(),
            dhcp_senders: cfg
                .dhcp_servers
                .iter()
                .chain(&cfg.dhcp_relays)
                .copied()
                .collect(),
        })
    }

    /// What `p` says, if it comes from a trusted sender and is well formed.
    ///
    /// # Errors
    /// [`Refusal`] naming why it changes no binding.
    pub fn parse(&self, p: &SignalPacket<'_>) -> Result<Signal, Refusal> {
        let radius_port =
            |port: u16| self.acct_ports.contains(&port) || self.auth_ports.contains(&port);
        let either = |ports: [u16; 2]| ports.contains(&p.src_port) || ports.contains(&p.dst_port);
        if radius_port(p.dst_port) || radius_port(p.src_port) {
            if let Some(nas) = self.nas.get(&p.src).filter(|_| radius_port(p.dst_port)) {
                let accounting = self.acct_ports.contains(&p.dst_port);
                radius::request(p, nas, accounting)
            } else if let Some(nas) = self.nas.get(&p.dst).filter(|_| radius_port(p.src_port)) {
                let auth = self.auth_ports.contains(&p.src_port);
                radius::response(p, nas, auth)
            } else {
                Err(Refusal::UnknownSender)
            }
        } else if either(DHCP4_PORTS) {
            self.dhcp_sender(p)?;
            dhcp4::parse(p)
        } else if either(DHCP6_PORTS) {
            self.dhcp_sender(p)?;
            dhcp6::parse(p)
        } else {
            Err(Refusal::NotSignalling)
        }
    }

    fn dhcp_sender(&self, p: &SignalPacket<'_>) -> Result<(), Refusal> {
        if !self.dhcp_senders.contains(&p.src) {
            return Err(Refusal::UnknownSender);
        }
        if p.payload.len() > MAX_MESSAGE {
            return Err(Refusal::Malformed("DHCP message longer than 4096 octets"));
        }
        Ok(())
    }
}

/// A NAS's shared secret: the file's content without a trailing newline,
/// refused when empty or readable by anyone but its owner.
fn read_secret(path: &Path) -> Result<Vec<u8>, String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "mode {:o} lets group or others read it (chmod 600)",
            mode & 0o777
        ));
    }
    let mut secret = std::fs::read(path).map_err(|e| e.to_string())?;
    for end in [b'\n', b'\r'] {
        if secret.last() == Some(&end) {
            secret.pop();
        }
    }
    if secret.is_empty() {
        return Err("empty".into());
    }
    Ok(secret)
}

/// A signal of `protocol` from the datagram `p`, with nothing extracted yet.
fn signal(p: &SignalPacket<'_>, protocol: Protocol, event: SignalEvent, nas: Nas) -> Signal {
    Signal {
        ts_ns: p.ts_ns,
        protocol,
        event,
        session_id: None,
        identities: Vec::new(),
        assigned: Vec::new(),
        nas: Some(nas),
        message: p.payload.to_vec(),
    }
}

/// The NAS entry of a DHCP sender: its address, no identifier.
fn dhcp_nas(p: &SignalPacket<'_>) -> Nas {
    Nas {
        address: p.src,
        identifier: None,
    }
}

/// Adds the identity of `kind` in raw `octets`, unless they cannot be one
/// (empty or too long): such a field names no subscriber a warrant can name.
fn push_octets(identities: &mut Vec<Identity>, kind: IdentityKind, octets: &[u8]) {
    if let Ok(id) = Identity::from_octets(kind, octets) {
        if !identities.contains(&id) {
            identities.push(id);
        }
    }
}

/// Adds the identity of `kind` with text `value`, unless it cannot be one.
fn push_text(identities: &mut Vec<Identity>, kind: IdentityKind, value: &str) {
    if let Ok(id) = Identity::new(kind.as_str(), kind, value) {
        if !identities.contains(&id) {
            identities.push(id);
        }
    }
}
