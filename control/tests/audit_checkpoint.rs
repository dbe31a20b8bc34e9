//! Signed checkpoints anchor the audit chain outside the probe: records cut off
//! the end of both the database and the mirror, or a rewritten chain, are found
//! by `audit verify --checkpoint`; a forged checkpoint is refused.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod store_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use control::audit::{
    verify, verify_checkpoint, AuditAction, AuditError, AuditRecord, BadRecord, Checkpoint,
    Problem, PublicKey, SigningKey,
};
use serde_json::json;
use store_support::{
    mirror_lines, open_with_destination, paths, rewrite_from, tamper_db, write_mirror, Paths,
};

const RECORDS: u64 = 12;

/// A closed log of `RECORDS` records.
fn log() -> Paths {
    let p = paths();
    let store = open_with_destination(&p);
    let audit = store.audit().clone();
    while audit.last_seq().unwrap() < RECORDS {
        audit
            .append(
                "system",
                AuditAction::DeliveryConnect,
                "lea",
                json!({"n": 1}),
            )
            .unwrap();
    }
    drop((store, audit));
    p
}

/// `audit keygen` into the dir: (private key, public key).
fn keygen(dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
    let (key, public) = (
        dir.join(format!("{stem}.pem")),
        dir.join(format!("{stem}.pub.pem")),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_calea-probe"))
        .args(["audit", "keygen", "--key"])
        .arg(&key)
        .arg("--public")
        .arg(&public)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    (key, public)
}

/// A checkpoint of the log's current head, as the daemon signs it.
fn checkpoint(p: &Paths, key: &Path) -> Checkpoint {
    let last: AuditRecord = serde_json::from_str(mirror_lines(p).last().unwrap()).unwrap();
    SigningKey::from_file(key).unwrap().sign(
        "probe-test",
        last.seq,
        &last.hash,
        "2026-12-06T12:00:00.000000000Z",
    )
}

/// Cuts the last `k` records off both the database and the mirror.
fn truncate_both(p: &Paths, k: u64) {
    tamper_db(p)
        .execute(
            "DELETE FROM audit WHERE seq > ?1",
            [i64::try_from(RECORDS - k).unwrap()],
        )
        .unwrap();
    let lines = mirror_lines(p);
    write_mirror(p, &lines[..lines.len() - usize::try_from(k).unwrap()]);
}

/// `calea-probe audit verify` with optional checkpoint arguments: (success, stdout).
fn cli_verify(p: &Paths, checkpoint: Option<(&Path, &Path)>) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_calea-probe"));
    cmd.args(["audit", "verify", "--database"])
        .arg(&p.db)
        .arg("--mirror")
        .arg(&p.mirror);
    if let Some((cp, key)) = checkpoint {
        cmd.arg("--checkpoint")
            .arg(cp)
            .arg("--checkpoint-key")
            .arg(key);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    (out.status.success(), stdout)
}

fn write_checkpoint(p: &Paths, cp: &Checkpoint) -> PathBuf {
    let path = p.dir.path().join("checkpoint.json");
    std::fs::write(&path, serde_json::to_vec(cp).unwrap()).unwrap();
    path
}

#[test]
fn truncated_tail_is_caught_only_by_the_checkpoint() {
    let p = log();
    let (key, public) = keygen(p.dir.path(), "anchor");
    let cp_file = write_checkpoint(&p, &checkpoint(&p, &key));
    let (ok, out) = cli_verify(&p, Some((&cp_file, &public)));
    assert!(ok, "{out}");
    assert!(
        out.contains("the signed checkpoint at seq 12 matches"),
        "{out}"
    );

    truncate_both(&p, 3);
    // Database and mirror agree with each other: plain verification cannot tell.
    assert!(verify(&p.db, &p.mirror).unwrap().is_ok());
    let (ok, out) = cli_verify(&p, None);
    assert!(ok, "{out}");

    let (ok, out) = cli_verify(&p, Some((&cp_file, &public)));
    assert!(!ok, "{out}");
    assert!(out.contains("audit log INVALID at seq 10"), "{out}");
    assert!(out.contains("covers the log up to seq 12"), "{out}");
    assert!(out.contains("records were cut off the end"), "{out}");
    assert!(
        !out.contains("RemovedBeforeCheckpoint"),
        "Debug name in {out}"
    );
}

#[test]
fn forged_or_foreign_checkpoints_are_rejected() {
    let p = log();
    let (key, public) = keygen(p.dir.path(), "anchor");
    let real = checkpoint(&p, &key);
    truncate_both(&p, 3);
    // The attacker rewrites the checkpoint to match what is left.
    let last: AuditRecord = serde_json::from_str(mirror_lines(&p).last().unwrap()).unwrap();
    let forged = Checkpoint {
        seq: last.seq,
        head_hash: last.hash.clone(),
        ..real.clone()
    };
    let (ok, out) = cli_verify(&p, Some((&write_checkpoint(&p, &forged), &public)));
    assert!(!ok, "{out}");
    assert!(out.contains("checkpoint REJECTED"), "{out}");
    assert!(out.contains("does not verify"), "{out}");

    // Or signs one with a key of their own.
    let (own, _) = keygen(p.dir.path(), "attacker");
    let foreign =
        SigningKey::from_file(&own)
            .unwrap()
            .sign(&real.probe, last.seq, &last.hash, &real.time);
    let err = verify_checkpoint(
        &p.db,
        &p.mirror,
        &foreign,
        &PublicKey::from_file(&public).unwrap(),
    )
    .unwrap_err();
    assert!(matches!(err, AuditError::BadCheckpoint(_)), "{err}");
}

#[test]
fn rewritten_chain_differs_from_the_checkpoint() {
    // An attacker who edits a record and rehashes the rest in both the
    // database and the mirror leaves a consistent chain; the checkpoint's
    // head hash is what no longer matches.
    let p = log();
    let (key, public) = keygen(p.dir.path(), "anchor");
    let cp = checkpoint(&p, &key);
    let records = rewrite_from(&p, 4);
    let lines: Vec<String> = records
        .iter()
        .map(|r| serde_json::to_string(r).unwrap())
        .collect();
    write_mirror(&p, &lines);
    assert!(verify(&p.db, &p.mirror).unwrap().is_ok());
    let report = verify_checkpoint(
        &p.db,
        &p.mirror,
        &cp,
        &PublicKey::from_file(&public).unwrap(),
    )
    .unwrap();
    assert_eq!(
        report.first_bad,
        Some(BadRecord {
            seq: RECORDS,
            problem: Problem::DiffersFromCheckpoint {
                checkpoint_time: cp.time.clone()
            }
        })
    );
}

#[test]
fn verify_prints_readable_problems() {
    let p = log();
    tamper_db(&p)
        .execute("UPDATE audit SET actor = 'someone-else' WHERE seq = 5", [])
        .unwrap();
    let (ok, out) = cli_verify(&p, None);
    assert!(!ok);
    assert!(
        out.contains("audit log INVALID at seq 5: hash mismatch (record edited)"),
        "{out}"
    );
    assert!(!out.contains("HashMismatch"), "Debug name in {out}");
}
