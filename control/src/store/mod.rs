//! Durable control-plane state in SQLite: intercepts (with their targets and
//! destinations), destinations, and the audit chain.
//!
//! WAL with `synchronous = FULL`: once a method returns `Ok`, the change and its
//! audit record survive a crash or power loss. Every mutation is one transaction
//! together with its audit record. The API is synchronous; async callers use
//! `spawn_blocking`.

mod bindings;
mod destinations;
mod intercepts;
mod schema;

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub use bindings::{StaticAssignment, StaticAssignmentRequest};
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
    /// Another process holds the state's lock: a second daemon on the same state.
    #[error(
        "state {} is in use by another calea-probe ({holder}); \
         stop it first, or give this one its own [state]",
        path.display()
    )]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// Who holds it, as far as the lock file tells.
        holder: String,
    },
    /// A state directory is missing and cannot be created, or the lock file
    /// cannot be opened.
    #[error("state {}: {source}", path.display())]
    Io {
        /// The directory or file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
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
    /// A static assignment's address or prefix overlaps another
    /// subscriber's: one address has one static holder.
    #[error("{address} overlaps {other}")]
    AssignmentOverlap {
        /// The refused address or prefix.
        address: String,
        /// What it overlaps, and whose.
        other: String,
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

/// Exclusive ownership of a probe's state (database and audit mirror) for the
/// life of one daemon: an advisory `flock` on `<file>.lock` beside each, so a
/// second daemon on the same state stops before it writes anything. The kernel
/// drops the locks when the process ends, however it ends.
#[derive(Debug)]
pub struct StateLock {
    _files: Vec<File>,
}

impl StateLock {
    /// Creates the directories holding `db_path` and `mirror_path` if missing
    /// (mode 0700) and locks `<db_path>.lock` and `<mirror_path>.lock`, writing
    /// this process's pid into them.
    ///
    /// # Errors
    /// [`StoreError::Locked`] when another process holds either lock;
    /// [`StoreError::Io`] when a directory or lock file cannot be created.
    pub fn acquire(db_path: &Path, mirror_path: &Path) -> Result<StateLock, StoreError> {
        let mut paths: Vec<PathBuf> = [db_path, mirror_path]
            .iter()
            .map(|p| {
                let mut name = p.as_os_str().to_owned();
                name.push(".lock");
                PathBuf::from(name)
            })
            .collect();
        // flock conflicts between two opens of one file even in one process.
        paths.dedup();
        let files = paths
            .iter()
            .map(|p| lock_file(p))
            .collect::<Result<_, _>>()?;
        Ok(StateLock { _files: files })
    }
}

/// Creates `dir` and its missing parents with mode 0700 (state and spools hold
/// intercepted data and warrants); an existing directory is left as it is.
///
/// # Errors
/// [`StoreError::Io`] naming the directory.
pub fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| StoreError::Io {
            path: dir.to_owned(),
            source,
        })
}

fn lock_file(path: &Path) -> Result<File, StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        create_private_dir(dir)?;
    }
    // Not truncated on open: the holder's pid stays readable for the message.
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let holder = match pid.trim() {
                "" => "pid unknown".to_owned(),
                pid => format!("pid {pid}"),
            };
            return Err(StoreError::Locked {
                path: path.to_owned(),
                holder,
            });
        }
        Err(TryLockError::Error(e)) => return Err(io(e)),
    }
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    writeln!(file, "{}", std::process::id()).map_err(io)?;
    Ok(file)
}
