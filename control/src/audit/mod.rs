//! The append-only, SHA-256 hash-chained audit log: every provisioning change,
//! state transition, delivery event, refused request and probe start/stop.
//!
//! Records live in the `audit` table of the store's database and are mirrored,
//! one JSON line each, to an append-only file; [`verify`] recomputes the chain and
//! compares the two, so editing, deleting, reordering or truncating either side is
//! detected. The hashed encoding is documented in [`hash`].
//!
//! Cutting the same records off the end of both is caught by [`checkpoint`]s:
//! the signed head of the chain, sent outside the probe by [`Anchor`], which
//! also verifies the whole chain in the background at start-up.

mod anchor;
pub mod checkpoint;
pub mod hash;
mod log;
mod mirror;
mod record;
mod verify;

use std::path::{Path, PathBuf};

pub use anchor::{Anchor, AuditConfig, HttpSinkConfig, SyslogSinkConfig};
pub use checkpoint::{Checkpoint, PublicKey, SigningKey};
pub use hash::GENESIS_HASH;
pub use log::AuditLog;
pub(crate) use log::{append_in_tx, record_time, AnchorState};
pub use record::{AuditAction, AuditRecord};
pub use verify::{verify, verify_checkpoint, BadRecord, Problem, VerifyReport};

/// Why the audit log could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// SQLite failed.
    #[error("audit database: {0}")]
    Db(#[from] rusqlite::Error),
    /// A file could not be opened, read, written or synced.
    #[error("audit file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A record could not be encoded.
    #[error("audit record encoding: {0}")]
    Json(serde_json::Error),
    /// A stored record cannot be read back.
    #[error("audit log corrupt: {0}")]
    Corrupt(String),
    /// At start-up, the mirror does not end where the database does.
    #[error("audit mirror inconsistent with the database: {0}")]
    MirrorMismatch(String),
    /// A thread panicked while holding the log.
    #[error("audit log lock poisoned")]
    Poisoned,
    /// A checkpoint signing or verification key is unusable.
    #[error("audit checkpoint key {path}: {reason}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A checkpoint was refused (bad signature, wrong format).
    #[error("checkpoint REJECTED: {0}")]
    BadCheckpoint(String),
    /// A checkpoint sink could not be set up.
    #[error("audit checkpoint sink: {0}")]
    Sink(String),
}

impl AuditError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }

    pub(crate) fn key(path: &Path, reason: String) -> Self {
        Self::Key {
            path: path.to_owned(),
            reason,
        }
    }
}
