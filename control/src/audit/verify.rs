//! Verification: recompute the chain in the database and compare it, record
//! by record, with the mirror and, when given one, a signed [`Checkpoint`].

use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use super::checkpoint::{Checkpoint, PublicKey};
use super::hash::{canonical_json, HashInput, GENESIS_HASH};
use super::mirror::{self, MirrorLine};
use super::{AuditAction, AuditError, AuditLog, AuditRecord};

/// What is wrong with the first bad record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
#[non_exhaustive]
pub enum Problem {
    /// The stored hash is not the hash of the record's fields (a field was edited).
    HashMismatch,
    /// `prev_hash` is not the previous record's hash (a record before it changed).
    BrokenLink,
    /// The record hashes correctly only under another seq: records were swapped.
    Reordered {
        /// The seq the record was written with.
        original_seq: u64,
    },
    /// The database has no record with this seq but has later ones (deleted).
    Gap,
    /// The mirror has this record but the database ends before it (tail truncated).
    MissingInDb,
    /// The database has this record but the mirror ends before it.
    MissingInMirror,
    /// Database and mirror disagree on this record.
    DiffersFromMirror,
    /// The mirror line at this position cannot be read.
    MirrorUnreadable {
        /// Why.
        reason: String,
    },
    /// The database row cannot be read (bad JSON in details, bad seq).
    DbUnreadable {
        /// Why.
        reason: String,
    },
    /// Database and mirror both end before the signed checkpoint's seq: the
    /// records from this one to the checkpoint's were cut off both.
    RemovedBeforeCheckpoint {
        /// Seq the checkpoint covers.
        checkpoint_seq: u64,
        /// When the checkpoint was made.
        checkpoint_time: String,
    },
    /// The record's hash is not the head hash the signed checkpoint holds for
    /// this seq: the chain was rewritten up to here.
    DiffersFromCheckpoint {
        /// When the checkpoint was made.
        checkpoint_time: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HashMismatch => f.write_str("hash mismatch (record edited)"),
            Self::BrokenLink => f.write_str("prev_hash does not match the previous record"),
            Self::Reordered { original_seq } => {
                write!(f, "reordered (record was written as seq {original_seq})")
            }
            Self::Gap => f.write_str("missing from the database (deleted)"),
            Self::MissingInDb => {
                f.write_str("in the mirror but not in the database (tail truncated)")
            }
            Self::MissingInMirror => f.write_str("in the database but not in the mirror"),
            Self::DiffersFromMirror => f.write_str("database and mirror differ"),
            Self::MirrorUnreadable { reason } => write!(f, "mirror line unreadable: {reason}"),
            Self::DbUnreadable { reason } => write!(f, "database record unreadable: {reason}"),
            Self::RemovedBeforeCheckpoint {
                checkpoint_seq,
                checkpoint_time,
            } => write!(
                f,
                "missing from both the database and the mirror, but the signed checkpoint \
                 of {checkpoint_time} covers the log up to seq {checkpoint_seq}: \
                 records were cut off the end"
            ),
            Self::DiffersFromCheckpoint { checkpoint_time } => write!(
                f,
                "hash differs from the signed checkpoint of {checkpoint_time} \
                 (the chain was rewritten)"
            ),
        }
    }
}

/// The first bad record found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BadRecord {
    /// Its seq (the expected seq where the record is missing).
    pub seq: u64,
    /// What is wrong.
    pub problem: Problem,
}

/// Result of [`verify`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Records in the database.
    pub db_records: u64,
    /// Lines in the mirror.
    pub mirror_records: u64,
    /// The first bad record; `None` when database and mirror form one intact chain.
    pub first_bad: Option<BadRecord>,
    /// Seq of the signed checkpoint the chain was checked against, if any.
    pub checkpoint_seq: Option<u64>,
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.first_bad {
            Some(bad) => write!(
                f,
                "audit log INVALID at seq {}: {} ({} records in the database, {} in the mirror)",
                bad.seq, bad.problem, self.db_records, self.mirror_records
            ),
            None => {
                write!(
                    f,
                    "audit log OK: {} records in the database, {} in the mirror",
                    self.db_records, self.mirror_records
                )?;
                match self.checkpoint_seq {
                    Some(seq) => write!(f, "; the signed checkpoint at seq {seq} matches"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl VerifyReport {
    /// Whether the log verified.
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.first_bad.is_none()
    }
}

/// A database row as text, exactly as stored (nothing normalised before hashing).
struct Row {
    seq: i64,
    time: String,
    actor: String,
    action: String,
    object: String,
    details: String,
    prev_hash: String,
    hash: String,
}

impl Row {
    fn hash_as(&self, seq: u64) -> Result<String, String> {
        let details: serde_json::Value =
            serde_json::from_str(&self.details).map_err(|e| format!("details: {e}"))?;
        Ok(HashInput {
            seq,
            time: &self.time,
            actor: &self.actor,
            action: &self.action,
            object: &self.object,
            details: &canonical_json(&details),
            prev_hash: &self.prev_hash,
        }
        .hash())
    }

    fn to_record(&self) -> Result<AuditRecord, String> {
        Ok(AuditRecord {
            seq: u64::try_from(self.seq).map_err(|_| "negative seq".to_owned())?,
            time: self.time.clone(),
            actor: self.actor.clone(),
            action: AuditAction::parse(&self.action)
                .ok_or_else(|| format!("unknown action {:?}", self.action))?,
            object: self.object.clone(),
            details: serde_json::from_str(&self.details).map_err(|e| format!("details: {e}"))?,
            prev_hash: self.prev_hash.clone(),
            hash: self.hash.clone(),
        })
    }
}

/// Recomputes the chain stored in `db_path` and compares it record by record
/// with the mirror at `mirror_path`; reports the first bad record.
///
/// # Errors
/// Only when a file cannot be opened or read at all; any inconsistency is
/// reported in [`VerifyReport::first_bad`].
pub fn verify(db_path: &Path, mirror_path: &Path) -> Result<VerifyReport, AuditError> {
    let rows = read_db(db_path)?;
    let mirror = mirror::read_all(mirror_path)?;
    Ok(report(&rows, &mirror, None))
}

/// [`verify`], and then that the log still holds the head `checkpoint` signed
/// (checked with `key` first): so nothing up to the checkpoint was removed or
/// changed, even from both the database and the mirror.
///
/// # Errors
/// [`AuditError::BadCheckpoint`] if the signature does not verify; else as [`verify`].
pub fn verify_checkpoint(
    db_path: &Path,
    mirror_path: &Path,
    checkpoint: &Checkpoint,
    key: &PublicKey,
) -> Result<VerifyReport, AuditError> {
    key.verify(checkpoint)?;
    let rows = read_db(db_path)?;
    let mirror = mirror::read_all(mirror_path)?;
    Ok(report(&rows, &mirror, Some(checkpoint)))
}

/// Verifies records 1..=`upto` of a live log through its own connection, a
/// batch at a time so writers wait for one batch at most.
///
/// # Errors
/// The database or the mirror cannot be read.
pub(crate) fn verify_live(log: &AuditLog, upto: u64) -> Result<VerifyReport, AuditError> {
    const BATCH: i64 = 4096;
    let upto = i64::try_from(upto).unwrap_or(i64::MAX);
    let mut rows: Vec<Row> = Vec::new();
    loop {
        let after = rows.last().map_or(i64::MIN, |r| r.seq);
        let batch = log.read(|conn| read_rows(conn, after, upto, BATCH))?;
        let done = batch.len() < usize::try_from(BATCH).unwrap_or(usize::MAX);
        rows.extend(batch);
        if done {
            break;
        }
    }
    let mut mirror = mirror::read_all(&log.mirror_path()?)?;
    // Records after `upto` are still being written: not part of this check.
    mirror.truncate(usize::try_from(upto).unwrap_or(usize::MAX));
    Ok(report(&rows, &mirror, None))
}

fn report(rows: &[Row], mirror: &[MirrorLine], checkpoint: Option<&Checkpoint>) -> VerifyReport {
    let first_bad =
        first_bad(rows, mirror).or_else(|| checkpoint.and_then(|cp| checkpoint_bad(rows, cp)));
    VerifyReport {
        db_records: rows.len() as u64,
        mirror_records: mirror.len() as u64,
        first_bad,
        checkpoint_seq: checkpoint.map(|cp| cp.seq),
    }
}

/// On an intact chain (row i has seq i + 1): is the checkpoint's head still there?
fn checkpoint_bad(rows: &[Row], cp: &Checkpoint) -> Option<BadRecord> {
    let index = usize::try_from(cp.seq).ok()?.checked_sub(1)?;
    match rows.get(index) {
        None => Some(BadRecord {
            seq: rows.len() as u64 + 1,
            problem: Problem::RemovedBeforeCheckpoint {
                checkpoint_seq: cp.seq,
                checkpoint_time: cp.time.clone(),
            },
        }),
        Some(row) if row.hash != cp.head_hash => Some(BadRecord {
            seq: cp.seq,
            problem: Problem::DiffersFromCheckpoint {
                checkpoint_time: cp.time.clone(),
            },
        }),
        Some(_) => None,
    }
}

fn read_db(db_path: &Path) -> Result<Vec<Row>, AuditError> {
    if !db_path.exists() {
        return Err(AuditError::io(
            db_path,
            std::io::Error::from(std::io::ErrorKind::NotFound),
        ));
    }
    let conn = Connection::open_with_flags(
        db_path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    read_rows(&conn, i64::MIN, i64::MAX, i64::MAX)
}

/// Rows with `after < seq <= upto`, at most `limit`, in seq order.
fn read_rows(conn: &Connection, after: i64, upto: i64, limit: i64) -> Result<Vec<Row>, AuditError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, time, actor, action, object, details, prev_hash, hash FROM audit \
         WHERE seq > ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3",
    )?;
    let rows = stmt
        .query_map(rusqlite::params![after, upto, limit], |r| {
            Ok(Row {
                seq: r.get(0)?,
                time: r.get(1)?,
                actor: r.get(2)?,
                action: r.get(3)?,
                object: r.get(4)?,
                details: r.get(5)?,
                prev_hash: r.get(6)?,
                hash: r.get(7)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

fn first_bad(rows: &[Row], mirror: &[MirrorLine]) -> Option<BadRecord> {
    let bad = |seq: u64, problem: Problem| Some(BadRecord { seq, problem });
    let mut prev_hash = GENESIS_HASH.to_owned();
    for (i, expected) in (1..=rows.len().max(mirror.len()) as u64).enumerate() {
        let Some(row) = rows.get(i) else {
            return bad(expected, Problem::MissingInDb);
        };
        if row.seq != i64::try_from(expected).unwrap_or(i64::MAX) {
            // Rows are read in seq order, so a different seq means `expected` is gone.
            return bad(expected, Problem::Gap);
        }
        let computed = match row.hash_as(expected) {
            Ok(h) => h,
            Err(reason) => return bad(expected, Problem::DbUnreadable { reason }),
        };
        if computed != row.hash {
            return bad(expected, hash_problem(rows, row));
        }
        if row.prev_hash != prev_hash {
            return bad(expected, Problem::BrokenLink);
        }
        let record = match row.to_record() {
            Ok(r) => r,
            Err(reason) => return bad(expected, Problem::DbUnreadable { reason }),
        };
        match mirror.get(i) {
            None => return bad(expected, Problem::MissingInMirror),
            Some(Err(reason)) => {
                return bad(
                    expected,
                    Problem::MirrorUnreadable {
                        reason: reason.clone(),
                    },
                )
            }
            Some(Ok(m)) if *m != record => return bad(expected, Problem::DiffersFromMirror),
            Some(Ok(_)) => {}
        }
        prev_hash.clone_from(&row.hash);
    }
    None
}

/// A record whose hash does not match at its position: moved here from another
/// seq (swapped), or edited.
fn hash_problem(rows: &[Row], row: &Row) -> Problem {
    let seqs: HashSet<u64> = rows
        .iter()
        .filter_map(|r| u64::try_from(r.seq).ok())
        .collect();
    seqs.into_iter()
        .find(|&s| row.hash_as(s).is_ok_and(|h| h == row.hash))
        .map_or(Problem::HashMismatch, |original_seq| Problem::Reordered {
            original_seq,
        })
}
