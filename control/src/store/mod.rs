//! Durable control-plane state in SQLite: intercepts (with their targets and
//! destinations), destinations, and the audit chain.
//!
//! WAL with `synchronous = FULL`: once a method returns `Ok`, the change and its
//! audit record survive a crash or power loss. Every mutation is one transaction
//! together with its audit record. The API is synchronous; async callers use
//! `spawn_blocking`.

mod destinations;
mod intercepts;
mod schema;

use std::path::{Path, PathBuf};

pub use schema::SCHEMA_VERSION;

use crate::audit::{AuditError, AuditLog};
use crate::model::ValidationError;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database file is unreadable, corrupt, or not a database. Never
    /// replaced by an empty one.
    #[error("state database {path}: {reason}")]
    Open {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Written by a newer calea-probe.
    #[error("state database schema version {found} is newer than supported version {supported}")]
    NewerSchema {
        /// `user_version` found.
        found: i64,
        /// Highest version this build understands.
        supported: i64,
    },
    /// An object with this name already exists (LIIDs are never reused).
    #[error("{what} {name:?} already exists")]
    Duplicate {
        /// "intercept" or "destination".
        what: &'static str,
        /// The LIID or destination name.
        name: String,
    },
    /// No such object.
    #[error("{what} {name:?} not found")]
    NotFound {
        /// "intercept" or "destination".
        what: &'static str,
        /// The LIID or destination name.
        name: String,
    },
    /// An intercept names a destination that is not configured.
    #[error("destination {0:?} is not configured")]
    UnknownDestination(String),
    /// A destination is still used by a scheduled or active intercept.
    #[error("destination {0:?} is used by a scheduled or active intercept")]
    InUse(String),
    /// The change is invalid against the stored object.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// Every intercept key (u32) has been used.
    #[error("intercept keys exhausted")]
    KeysExhausted,
    /// A stored row cannot be read back.
    #[error("state database corrupt: {0}")]
    Corrupt(String),
    /// The audit log failed; the change was not made.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// SQLite failed.
    #[error("state database: {0}")]
    Db(#[from] rusqlite::Error),
}

/// The control plane's state. Cheap to clone; all clones share one connection.
#[derive(Clone, Debug)]
pub struct Store {
    audit: AuditLog,
}

impl Store {
    /// Opens the database at `db_path` (creating it only if the file does not
    /// exist) and the audit mirror at `mirror_path`.
    ///
    /// # Errors
    /// [`StoreError::Open`] for an unreadable, corrupt, empty or foreign file;
    /// [`StoreError::NewerSchema`]; [`StoreError::Audit`] if the mirror does not
    /// match the database's audit chain.
    pub fn open(db_path: &Path, mirror_path: &Path) -> Result<Store, StoreError> {
        let conn = schema::open(db_path)?;
        Ok(Store {
            audit: AuditLog::open(conn, mirror_path)?,
        })
    }

    /// The audit log sharing this store's database.
    #[must_use]
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }
}
