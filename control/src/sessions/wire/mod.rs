//! Signalling on the wire: RADIUS (RFC 2865/2866), DHCPv4 (RFC 2131, option 82)
//! and DHCPv6 (RFC 8415, relayed), authenticated against `[sessions]` and
//! parsed into [`Signal`]s.

use super::{Refusal, SessionsConfig, Signal, SignalPacket};

/// Why `[sessions]` cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifierError {
    /// A NAS's secret file cannot be read or is unsafe.
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

/// Authenticates and parses signalling datagrams against `[sessions]`.
pub struct Verifier {}

impl Verifier {
    /// Loads the NAS secrets.
    ///
    /// # Errors
    /// [`VerifierError`] for a missing, unreadable or world-readable secret.
    pub fn from_config(cfg: &SessionsConfig) -> Result<Self, VerifierError> {
        let _ = cfg;
        todo!("provided by the sig-wire branch")
    }

    /// What `p` says, if it comes from a trusted sender and is well formed.
    ///
    /// # Errors
    /// [`Refusal`] naming why it changes no binding.
    pub fn parse(&self, p: &SignalPacket<'_>) -> Result<Signal, Refusal> {
        let _ = p;
        todo!("provided by the sig-wire branch")
    }
}
