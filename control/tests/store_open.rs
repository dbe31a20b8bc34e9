//! Opening the state database: a missing file starts a new one; anything else
//! that is not an intact calea-probe database is refused with a clear error,
//! never replaced by an empty one.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod store_support;

use control::audit::{verify, AuditError};
use control::model::InterceptState;
use control::store::{Store, StoreError, SCHEMA_VERSION};
use rusqlite::Connection;
use store_support::{now, open_with_destination, paths, validated};

fn open_err(p: &store_support::Paths) -> String {
    let err = Store::open(&p.db, &p.mirror).expect_err("open must be refused");
    err.to_string()
}

/// A store with one intercept, closed again.
fn populated() -> store_support::Paths {
    let p = paths();
    let store = open_with_destination(&p);
    for i in 0..20 {
        store
            .create_intercept(&validated(&format!("LI-{i}"), &["10.0.0.1"]), "desk", now())
            .unwrap();
    }
    drop(store);
    // Fold the WAL into the main file so byte-level damage hits real pages.
    let conn = Connection::open(&p.db).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    drop(conn);
    p
}

#[test]
fn missing_file_creates_a_versioned_wal_database() {
    let p = paths();
    let store = Store::open(&p.db, &p.mirror).unwrap();
    assert!(store.list().unwrap().is_empty());
    drop(store);
    let conn = Connection::open(&p.db).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!((version, mode.as_str()), (SCHEMA_VERSION, "wal"));
}

#[test]
fn garbage_file_is_refused() {
    let p = paths();
    std::fs::write(&p.db, vec![0xa5u8; 8192]).unwrap();
    let err = open_err(&p);
    assert!(
        err.contains("probe.db") && err.contains("not a database"),
        "{err}"
    );
    // The file was not replaced.
    assert_eq!(std::fs::read(&p.db).unwrap(), vec![0xa5u8; 8192]);
}

#[test]
fn empty_file_is_refused() {
    let p = paths();
    std::fs::write(&p.db, b"").unwrap();
    let err = open_err(&p);
    assert!(err.contains("file is empty"), "{err}");
}

#[test]
fn truncated_database_is_refused() {
    let p = populated();
    let len = std::fs::metadata(&p.db).unwrap().len();
    assert!(len > 4096 * 3, "fixture too small: {len}");
    let f = std::fs::OpenOptions::new().write(true).open(&p.db).unwrap();
    f.set_len(len / 2).unwrap();
    drop(f);
    let err = open_err(&p);
    assert!(err.contains("probe.db"), "{err}");
    assert!(
        err.contains("integrity check failed") || err.contains("malformed"),
        "{err}"
    );
}

#[test]
fn corrupted_pages_are_refused() {
    let p = populated();
    let mut bytes = std::fs::read(&p.db).unwrap();
    // Keep the header page, scribble over every later page's start.
    for page in (4096..bytes.len()).step_by(4096) {
        for b in &mut bytes[page..page + 64] {
            *b = 0x5a;
        }
    }
    std::fs::write(&p.db, &bytes).unwrap();
    let err = open_err(&p);
    assert!(
        err.contains("probe.db") && err.contains("integrity check failed"),
        "{err}"
    );
}

#[test]
fn newer_schema_is_refused() {
    let p = populated();
    let conn = Connection::open(&p.db).unwrap();
    conn.execute_batch("PRAGMA user_version = 99").unwrap();
    drop(conn);
    match Store::open(&p.db, &p.mirror) {
        Err(StoreError::NewerSchema {
            found: 99,
            supported,
        }) => {
            assert_eq!(supported, SCHEMA_VERSION);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn foreign_database_is_refused() {
    let p = paths();
    let conn = Connection::open(&p.db).unwrap();
    conn.execute_batch("CREATE TABLE customers (id INTEGER)")
        .unwrap();
    drop(conn);
    let err = open_err(&p);
    assert!(err.contains("no calea-probe schema version"), "{err}");
}

#[test]
fn mirror_missing_or_behind_is_refused() {
    let p = populated();
    std::fs::rename(&p.mirror, p.dir.path().join("moved.jsonl")).unwrap();
    match Store::open(&p.db, &p.mirror) {
        Err(StoreError::Audit(AuditError::MirrorMismatch(m))) => {
            assert!(
                m.contains("ends at seq 0 but the database at seq 21"),
                "{m}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn mirror_one_record_behind_is_repaired() {
    // A crash between the database commit and the mirror write leaves the
    // mirror exactly one record behind; reopening re-appends it.
    let p = populated();
    let text = std::fs::read_to_string(&p.mirror).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let cut: String = lines[..lines.len() - 1]
        .iter()
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&p.mirror, cut).unwrap();
    let store = Store::open(&p.db, &p.mirror).unwrap();
    assert_eq!(std::fs::read_to_string(&p.mirror).unwrap(), text);
    let it = store.list().unwrap().pop().unwrap();
    store
        .set_state(&it.liid, InterceptState::Active, "system")
        .unwrap();
    assert!(verify(&p.db, &p.mirror).unwrap().is_ok());
}

#[test]
fn mirror_ahead_of_database_is_refused() {
    let p = populated();
    let conn = Connection::open(&p.db).unwrap();
    conn.execute_batch("DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq = 21")
        .unwrap();
    drop(conn);
    let err = open_err(&p);
    assert!(err.contains("last record (seq 21)"), "{err}");
}

#[test]
fn deleted_database_with_surviving_mirror_is_refused() {
    let p = populated();
    std::fs::remove_file(&p.db).unwrap();
    let err = open_err(&p);
    assert!(err.contains("last record (seq 21)"), "{err}");
    // Still refused on the next start: an empty chain never replaces the mirror's.
    let err = open_err(&p);
    assert!(err.contains("last record (seq 21)"), "{err}");
}

#[test]
fn mirror_record_cut_mid_line_is_rewritten() {
    // Power lost during the mirror append: the last line is cut short.
    let p = populated();
    let text = std::fs::read_to_string(&p.mirror).unwrap();
    std::fs::write(&p.mirror, &text[..text.len() - 40]).unwrap();
    let store = Store::open(&p.db, &p.mirror).unwrap();
    assert_eq!(std::fs::read_to_string(&p.mirror).unwrap(), text);
    drop(store);
    assert!(verify(&p.db, &p.mirror).unwrap().is_ok());
}

#[test]
fn mirror_ending_in_foreign_bytes_is_refused() {
    let p = populated();
    let mut text = std::fs::read_to_string(&p.mirror).unwrap();
    text.push_str("{\"seq\":22,\"forged\"");
    std::fs::write(&p.mirror, &text).unwrap();
    let err = open_err(&p);
    assert!(
        err.contains("incomplete line that is not the start of record 22"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&p.mirror).unwrap(),
        text,
        "left untouched"
    );
}
