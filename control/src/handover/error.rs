//! Errors of the delivery engine, its spool and its links.

use std::path::PathBuf;

/// Why the handover engine, a link or a spool operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandoverError {
    /// A spool or sequence-state file could not be read or written.
    #[error("spool {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A destination's TLS material could not be loaded.
    #[error("destination {name}: {source}")]
    Tls {
        /// Destination name.
        name: String,
        /// The TLS error.
        #[source]
        source: crate::tls::TlsError,
    },
    /// A destination is configured in a way the engine cannot deliver to.
    #[error("destination {name}: {reason}")]
    Destination {
        /// Destination name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The probe's identity does not fit a PS-PDU header.
    #[error("probe identity: {0}")]
    Identity(#[from] super::pdu::EncodeError),
    /// A Prometheus metric could not be registered.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// A control-plane thread could not be started.
    #[error("thread: {0}")]
    Thread(std::io::Error),
}

impl HandoverError {
    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| HandoverError::Io { path, source }
    }
}
