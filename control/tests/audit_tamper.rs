//! Tamper evidence: every kind of edit to the database chain or the mirror is
//! reported at the first bad record, with the right seq and reason.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod store_support;

use control::audit::{verify, AuditAction, AuditRecord, BadRecord, Problem, GENESIS_HASH};
use control::model::InterceptState;
use rusqlite::{params, Connection};
use serde_json::json;
use store_support::{
    mirror_lines, now, open_with_destination, paths, rewrite_from, tamper_db, validated,
    write_mirror, Paths,
};

const RECORDS: u64 = 12;

/// A closed store whose log holds `RECORDS` records from several writers.
fn log() -> Paths {
    let p = paths();
    let store = open_with_destination(&p);
    let audit = store.audit().clone();
    audit
        .append(
            "system",
            AuditAction::ProbeStart,
            "",
            json!({"version": "test"}),
        )
        .unwrap();
    for i in 0..3 {
        let it = store
            .create_intercept(&validated(&format!("LI-{i}"), &["10.0.0.1"]), "desk", now())
            .unwrap();
        store
            .set_state(&it.liid, InterceptState::Active, "system")
            .unwrap();
    }
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let audit = audit.clone();
            std::thread::spawn(move || {
                audit
                    .append(
                        "system",
                        AuditAction::DeliveryConnect,
                        "lea",
                        json!({"n": i}),
                    )
                    .unwrap();
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(audit.last_seq().unwrap(), RECORDS);
    drop((store, audit));
    p
}

fn first_bad(p: &Paths) -> Option<BadRecord> {
    verify(&p.db, &p.mirror).unwrap().first_bad
}

fn bad(seq: u64, problem: Problem) -> Option<BadRecord> {
    Some(BadRecord { seq, problem })
}

#[test]
fn untouched_log_verifies() {
    let p = log();
    let report = verify(&p.db, &p.mirror).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(
        (report.db_records, report.mirror_records),
        (RECORDS, RECORDS)
    );
    let first: AuditRecord = serde_json::from_str(&mirror_lines(&p)[0]).unwrap();
    assert_eq!(first.prev_hash, GENESIS_HASH);
    assert_eq!(first.hash, first.compute_hash());
}

#[test]
fn append_only_triggers_block_sql_edits() {
    let p = log();
    let conn = Connection::open(&p.db).unwrap();
    let err = conn
        .execute("UPDATE audit SET actor = 'x' WHERE seq = 1", [])
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    assert!(conn.execute("DELETE FROM audit WHERE seq = 1", []).is_err());
}

#[test]
fn edited_field_is_a_hash_mismatch() {
    let p = log();
    tamper_db(&p)
        .execute("UPDATE audit SET actor = 'someone-else' WHERE seq = 5", [])
        .unwrap();
    assert_eq!(first_bad(&p), bad(5, Problem::HashMismatch));
}

#[test]
fn edited_details_are_a_hash_mismatch() {
    let p = log();
    tamper_db(&p)
        .execute(
            "UPDATE audit SET details = replace(details, '10.0.0.1', '10.0.0.9') WHERE seq = 3",
            [],
        )
        .unwrap();
    assert_eq!(first_bad(&p), bad(3, Problem::HashMismatch));
}

#[test]
fn rehashed_chain_differs_from_mirror() {
    // An attacker who recomputes every hash after the edit keeps the database
    // chain consistent; only the mirror gives it away.
    let p = log();
    rewrite_from(&p, 6);
    assert_eq!(first_bad(&p), bad(7, Problem::DiffersFromMirror));
}

#[test]
fn changed_link_is_a_broken_link() {
    let p = log();
    let conn = tamper_db(&p);
    let mut rec: AuditRecord = serde_json::from_str(&mirror_lines(&p)[5]).unwrap();
    rec.prev_hash = "ab".repeat(32);
    rec.hash = rec.compute_hash();
    conn.execute(
        "UPDATE audit SET prev_hash = ?1, hash = ?2 WHERE seq = 6",
        params![rec.prev_hash, rec.hash],
    )
    .unwrap();
    assert_eq!(first_bad(&p), bad(6, Problem::BrokenLink));
}

#[test]
fn deleted_record_is_a_gap() {
    let p = log();
    tamper_db(&p)
        .execute("DELETE FROM audit WHERE seq = 4", [])
        .unwrap();
    assert_eq!(first_bad(&p), bad(4, Problem::Gap));
}

#[test]
fn swapped_records_are_reordered() {
    let p = log();
    let conn = tamper_db(&p);
    conn.execute_batch(
        "UPDATE audit SET seq = -1 WHERE seq = 3;
         UPDATE audit SET seq = 3 WHERE seq = 4;
         UPDATE audit SET seq = 4 WHERE seq = -1;",
    )
    .unwrap();
    assert_eq!(
        first_bad(&p),
        bad(3, Problem::Reordered { original_seq: 4 })
    );
}

#[test]
fn truncated_db_tail_is_missing_in_db() {
    let p = log();
    tamper_db(&p)
        .execute("DELETE FROM audit WHERE seq >= 9", [])
        .unwrap();
    assert_eq!(first_bad(&p), bad(9, Problem::MissingInDb));
}

#[test]
fn truncated_mirror_is_missing_in_mirror() {
    let p = log();
    let lines = mirror_lines(&p);
    write_mirror(&p, &lines[..10]);
    assert_eq!(first_bad(&p), bad(11, Problem::MissingInMirror));
}

#[test]
fn mirror_cut_mid_line_is_unreadable() {
    let p = log();
    let text = std::fs::read_to_string(&p.mirror).unwrap();
    std::fs::write(&p.mirror, &text[..text.len() - 20]).unwrap();
    match first_bad(&p) {
        Some(BadRecord {
            seq: 12,
            problem: Problem::MirrorUnreadable { .. },
        }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn edited_mirror_differs() {
    let p = log();
    let mut lines = mirror_lines(&p);
    lines[5] = lines[5].replace("\"system\"", "\"intruder\"");
    assert!(lines[5].contains("intruder"));
    write_mirror(&p, &lines);
    assert_eq!(first_bad(&p), bad(6, Problem::DiffersFromMirror));
}

#[test]
fn verifies_while_the_store_is_open_and_writing() {
    let p = log();
    let store = open_with_destination(&p);
    store
        .audit()
        .append("system", AuditAction::ProbeStart, "", json!({}))
        .unwrap();
    let report = verify(&p.db, &p.mirror).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.db_records, RECORDS + 1);
}
