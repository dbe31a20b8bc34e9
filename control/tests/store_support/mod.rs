//! Shared fixtures for the store and audit integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use control::model::{
    ContentScope, Destination, DestinationFormat, InterceptRequest, ValidatedRequest,
};
use control::store::Store;
use time::OffsetDateTime;

/// Database and mirror paths inside a temp dir.
pub struct Paths {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
    pub mirror: PathBuf,
}

pub fn paths() -> Paths {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("probe.db");
    let mirror = dir.path().join("audit.jsonl");
    Paths { dir, db, mirror }
}

pub fn open(p: &Paths) -> Store {
    Store::open(&p.db, &p.mirror).unwrap()
}

/// A plaintext lab destination (valid without certificate files).
pub fn destination(name: &str, spool: &Path) -> Destination {
    Destination {
        name: name.into(),
        address: "127.0.0.1:6543".into(),
        format: DestinationFormat::X2x3,
        tls: None,
        insecure_plaintext: true,
        keepalive_secs: 30,
        spool_dir: Some(spool.join(name)),
        spool_max_bytes: 1 << 20,
        directory: None,
        content_scope: ContentScope::default(),
    }
}

/// Opens a store that already knows destination "lea".
pub fn open_with_destination(p: &Paths) -> Store {
    let store = open(p);
    if store.get_destination("lea").is_err() {
        store
            .create_destination(&destination("lea", p.dir.path()), "admin")
            .unwrap();
    }
    store
}

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// A request valid from an hour ago to a day from now.
pub fn request(liid: &str, targets: &[&str]) -> InterceptRequest {
    let fmt = &time::format_description::well_known::Rfc3339;
    let now = now();
    InterceptRequest {
        liid: liid.into(),
        warrant_ref: "W-2026-0001".into(),
        issuing_authority: "District Court".into(),
        valid_from: (now - time::Duration::hours(1)).format(fmt).unwrap(),
        valid_until: (now + time::Duration::days(1)).format(fmt).unwrap(),
        mode: "content".into(),
        targets: targets.iter().map(|t| (*t).to_owned()).collect(),
        destinations: vec!["lea".into()],
    }
}

pub fn validated(liid: &str, targets: &[&str]) -> ValidatedRequest {
    request(liid, targets)
        .validate(now(), &control::model::TargetPolicy::default())
        .unwrap()
}

/// The mirror's lines.
pub fn mirror_lines(p: &Paths) -> Vec<String> {
    std::fs::read_to_string(&p.mirror)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

pub fn write_mirror(p: &Paths, lines: &[String]) {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&p.mirror, text).unwrap();
}

/// The schema version the database file has now (`PRAGMA user_version`).
pub fn user_version(p: &Paths) -> i64 {
    rusqlite::Connection::open(&p.db)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

/// The database with the append-only triggers removed, as an attacker with
/// file access would.
pub fn tamper_db(p: &Paths) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(&p.db).unwrap();
    conn.execute_batch("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;")
        .unwrap();
    conn
}

/// Sets record `at`'s actor to "nobody" in the database and recomputes every
/// hash from there on, as an attacker who keeps the chain consistent would;
/// returns the records as rewritten (the mirror is left as it was).
pub fn rewrite_from(p: &Paths, at: usize) -> Vec<control::audit::AuditRecord> {
    let conn = tamper_db(p);
    let mut records: Vec<control::audit::AuditRecord> = mirror_lines(p)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    records[at].actor = "nobody".into();
    for i in at..records.len() {
        if i > at {
            records[i].prev_hash = records[i - 1].hash.clone();
        }
        records[i].hash = records[i].compute_hash();
        conn.execute(
            "UPDATE audit SET actor = ?1, prev_hash = ?2, hash = ?3 WHERE seq = ?4",
            rusqlite::params![
                records[i].actor,
                records[i].prev_hash,
                records[i].hash,
                records[i].seq
            ],
        )
        .unwrap();
    }
    records
}
