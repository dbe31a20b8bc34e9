//! `[voice]`: which SIP servers the probe reads, on which ports, and how long
//! calls and registrations last without signalling.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// `[voice]` of `probe.toml`; absent: no voice interception.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoiceConfig {
    /// Addresses of the SIP proxies, registrars and SBCs whose signalling the
    /// mirror carries: every SIP message to or from one of them is read.
    pub sip_servers: Vec<IpAddr>,
    /// UDP and TCP ports SIP is read on (default 5060).
    #[serde(default = "default_sip_ports")]
    pub sip_ports: Vec<u16>,
    /// An established call with no signalling for this long has ended
    /// (a BYE the mirror missed). Default 4 hours.
    #[serde(default = "default_call_timeout")]
    pub call_timeout_secs: u32,
    /// A call not answered within this long has ended. Default 3 minutes.
    #[serde(default = "default_setup_timeout")]
    pub setup_timeout_secs: u32,
    /// Most calls tracked at once; beyond, new calls are counted and not tracked.
    #[serde(default = "default_max_calls")]
    pub max_calls: usize,
}

fn default_sip_ports() -> Vec<u16> {
    vec![5060]
}
fn default_call_timeout() -> u32 {
    4 * 3600
}
fn default_setup_timeout() -> u32 {
    180
}
fn default_max_calls() -> usize {
    1_000_000
}

impl VoiceConfig {
    /// Checks the values; `Err((key, message))` as the config reports it.
    ///
    /// # Errors
    /// No SIP server, no port, port 0, a zero timeout or call limit.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.sip_servers.is_empty() {
            return Err(("voice.sip_servers", "name at least one SIP server".into()));
        }
        if self.sip_ports.is_empty() || self.sip_ports.contains(&0) {
            return Err(("voice.sip_ports", "ports must be 1..=65535".into()));
        }
        if self.call_timeout_secs == 0 || self.setup_timeout_secs == 0 {
            return Err(("voice.call_timeout_secs", "timeouts must be above 0".into()));
        }
        if self.max_calls == 0 {
            return Err(("voice.max_calls", "must be above 0".into()));
        }
        Ok(())
    }
}
