//! `[sessions]`: which signalling the probe trusts, and how long sessions last
//! without it.

use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A RADIUS client (NAS) whose accounting the probe reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NasConfig {
    /// The address its RADIUS packets come from.
    pub address: IpAddr,
    /// File holding the RADIUS shared secret (mode 0600 or stricter).
    pub secret_file: PathBuf,
    /// A name for logs and IRI when the NAS sends no NAS-Identifier.
    #[serde(default)]
    pub name: Option<String>,
}

/// `[sessions]` of `probe.toml`; absent: no session tracking.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionsConfig {
    /// RADIUS clients.
    #[serde(default)]
    pub nas: Vec<NasConfig>,
    /// UDP ports RADIUS accounting is read on (default 1813 and the old 1646).
    #[serde(default = "default_acct_ports")]
    pub radius_accounting_ports: Vec<u16>,
    /// UDP ports RADIUS authentication is read on (default 1812, 1645).
    #[serde(default = "default_auth_ports")]
    pub radius_auth_ports: Vec<u16>,
    /// Addresses of DHCPv4 and DHCPv6 servers whose replies are trusted.
    #[serde(default)]
    pub dhcp_servers: Vec<IpAddr>,
    /// Addresses of DHCP relay agents whose relayed messages are trusted.
    #[serde(default)]
    pub dhcp_relays: Vec<IpAddr>,
    /// A RADIUS session without an interim update for this long has ended.
    #[serde(default = "default_radius_timeout")]
    pub radius_session_timeout_secs: u32,
    /// Grace added to a DHCP lease's own lifetime before it is taken as expired.
    #[serde(default = "default_lease_grace")]
    pub dhcp_lease_grace_secs: u32,
}

fn default_acct_ports() -> Vec<u16> {
    vec![1813, 1646]
}
fn default_auth_ports() -> Vec<u16> {
    vec![1812, 1645]
}
fn default_radius_timeout() -> u32 {
    // Operators' Acct-Interim-Interval is 5 to 60 minutes: two missed hourly updates.
    2 * 3600 + 300
}
fn default_lease_grace() -> u32 {
    60
}

impl SessionsConfig {
    /// Every address whose traffic the signalling path must see.
    #[must_use]
    pub fn signalling_addresses(&self) -> Vec<IpAddr> {
        let mut all: Vec<IpAddr> = self
            .nas
            .iter()
            .map(|n| n.address)
            .chain(self.dhcp_servers.iter().copied())
            .chain(self.dhcp_relays.iter().copied())
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }
}

impl SessionsConfig {
    /// Checks values against their rules; `Err((key, message))` as
    /// `Config::validate` reports them.
    ///
    /// # Errors
    /// A NAS listed twice, an empty port list, a zero timeout.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |key: &str, message: String| Err((format!("sessions.{key}"), message));
        let mut seen = std::collections::HashSet::new();
        for n in &self.nas {
            if !seen.insert(n.address) {
                return bad("nas.address", format!("{} listed twice", n.address));
            }
            if n.secret_file.as_os_str().is_empty() {
                return bad("nas.secret_file", format!("empty for NAS {}", n.address));
            }
        }
        for (key, ports) in [
            ("radius_accounting_ports", &self.radius_accounting_ports),
            ("radius_auth_ports", &self.radius_auth_ports),
        ] {
            if ports.is_empty() || ports.contains(&0) {
                return bad(key, "at least one port, none of them 0".into());
            }
        }
        if let Some(p) = self
            .radius_accounting_ports
            .iter()
            .find(|p| self.radius_auth_ports.contains(p))
        {
            return bad(
                "radius_auth_ports",
                format!("{p} is also an accounting port"),
            );
        }
        if self.radius_session_timeout_secs == 0 {
            return bad("radius_session_timeout_secs", "must be at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn parse(text: &str) -> SessionsConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn defaults_validate_and_mistakes_name_their_key() {
        let nas = "[[nas]]\naddress = \"192.0.2.1\"\nsecret_file = \"s\"\n";
        assert_eq!(parse(nas).validate(), Ok(()));
        for (text, key) in [
            (format!("{nas}{nas}"), "sessions.nas.address"),
            (
                format!("radius_accounting_ports = []\n{nas}"),
                "sessions.radius_accounting_ports",
            ),
            (
                format!("radius_auth_ports = [0]\n{nas}"),
                "sessions.radius_auth_ports",
            ),
            (
                format!("radius_auth_ports = [1813]\n{nas}"),
                "sessions.radius_auth_ports",
            ),
            (
                format!("radius_session_timeout_secs = 0\n{nas}"),
                "sessions.radius_session_timeout_secs",
            ),
        ] {
            assert_eq!(parse(&text).validate().unwrap_err().0, key, "{text}");
        }
    }
}
