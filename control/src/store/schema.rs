//! Opening the database: refuse anything that is not an intact calea-probe
//! database of a schema we understand; create a new one only where no file exists.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::StoreError;

/// Schema version stored in `PRAGMA user_version`.
pub const SCHEMA_VERSION: i64 = 4;

const SCHEMA_V1: &str = "
CREATE TABLE destinations (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL
);
CREATE TABLE intercepts (
    key INTEGER PRIMARY KEY AUTOINCREMENT,
    liid TEXT NOT NULL UNIQUE,
    xid TEXT NOT NULL UNIQUE,
    warrant_ref TEXT NOT NULL,
    issuing_authority TEXT NOT NULL,
    valid_from TEXT NOT NULL,
    valid_until TEXT NOT NULL,
    mode TEXT NOT NULL CHECK (mode IN ('headers', 'content')),
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('scheduled', 'active', 'expired', 'deactivated'))
);
CREATE TABLE intercept_targets (
    key INTEGER NOT NULL REFERENCES intercepts(key),
    pos INTEGER NOT NULL,
    target TEXT NOT NULL,
    PRIMARY KEY (key, pos),
    UNIQUE (key, target)
);
CREATE TABLE intercept_destinations (
    key INTEGER NOT NULL REFERENCES intercepts(key),
    pos INTEGER NOT NULL,
    destination TEXT NOT NULL,
    PRIMARY KEY (key, pos),
    UNIQUE (key, destination)
);
CREATE INDEX intercept_destinations_by_name ON intercept_destinations(destination);
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    object TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
";

/// Version 2: which interface provisioned each intercept (REST or X1). Rows
/// of a version-1 database were all provisioned over REST.
const MIGRATE_V2: &str = "
ALTER TABLE intercepts ADD COLUMN origin TEXT NOT NULL DEFAULT 'rest'
    CHECK (origin IN ('rest', 'x1'));
";

/// Version 3: subscriber sessions. Identity targets share `intercept_targets`
/// (as `kind:value`, after the addresses), so old intercepts simply have none.
/// `bindings` holds each current session's hold on addresses (times in ns since
/// the Unix epoch, `expires_ns` NULL: never); `static_assignments` the addresses
/// of static customers by subscriber id. Lists are JSON arrays of canonical text.
const MIGRATE_V3: &str = "
CREATE TABLE bindings (
    id TEXT PRIMARY KEY,
    protocol TEXT NOT NULL CHECK (protocol IN ('radius', 'dhcp4', 'dhcp6', 'static')),
    identities TEXT NOT NULL,
    addresses TEXT NOT NULL,
    nas_address TEXT,
    nas_identifier TEXT,
    session_id TEXT,
    started_ns INTEGER NOT NULL,
    updated_ns INTEGER NOT NULL,
    expires_ns INTEGER
) WITHOUT ROWID;
CREATE TABLE static_assignments (
    subscriber TEXT PRIMARY KEY,
    addresses TEXT NOT NULL
);
";

/// Version 4: NAS restarts (Accounting-On/Off) whose sessions are still being
/// ended in passes. Written in the transaction of the restart's first pass and
/// deleted in that of its last, so a crash in between cannot restore the rest
/// of its sessions as live. Old databases simply have none pending.
const MIGRATE_V4: &str = "
CREATE TABLE nas_restarts (
    nas TEXT NOT NULL,
    at_ns INTEGER NOT NULL,
    PRIMARY KEY (nas, at_ns)
) WITHOUT ROWID;
";

/// Opens (or, if the file does not exist, creates) the database, checks it and
/// brings the schema to [`SCHEMA_VERSION`].
pub(crate) fn open(path: &Path) -> Result<Connection, StoreError> {
    let refuse = |reason: String| StoreError::Open {
        path: path.to_owned(),
        reason,
    };
    let exists = match std::fs::metadata(path) {
        Ok(m) if m.len() == 0 => {
            return Err(refuse(
                "file is empty, not a database (remove it to start afresh)".into(),
            ))
        }
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(refuse(e.to_string())),
    };
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if !exists {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags).map_err(|e| refuse(e.to_string()))?;
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| refuse(format!("integrity check failed: {e}")))?;
    if check != "ok" {
        return Err(refuse(format!("integrity check failed: {check}")));
    }
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| refuse(e.to_string()))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(refuse(format!(
            "cannot enable WAL (journal_mode is {mode})"
        )));
    }
    conn.execute_batch(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
    )
    .map_err(|e| refuse(e.to_string()))?;
    migrate(&conn).map_err(|e| match e {
        StoreError::Db(e) => refuse(e.to_string()),
        StoreError::Corrupt(m) => refuse(m),
        other => other,
    })?;
    Ok(conn)
}

fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    let mut steps = String::new();
    if version == 0 {
        let objects: i64 =
            conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
        if objects != 0 {
            return Err(StoreError::Corrupt(
                "database has tables but no calea-probe schema version".into(),
            ));
        }
        steps.push_str(SCHEMA_V1);
    }
    if version < 2 {
        steps.push_str(MIGRATE_V2);
    }
    if version < 3 {
        steps.push_str(MIGRATE_V3);
    }
    steps.push_str(MIGRATE_V4);
    conn.execute_batch(&format!(
        "BEGIN IMMEDIATE; {steps} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
    ))?;
    Ok(())
}
