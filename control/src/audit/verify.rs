//! Offline verification: recompute the chain in the database and compare it,
//! record by record, with the mirror.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use super::hash::{canonical_json, HashInput, GENESIS_HASH};
use super::mirror::{self, MirrorLine};
use super::{AuditAction, AuditError, AuditRecord};

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
    let rows = read_rows(db_path)?;
    let mirror = mirror::read_all(mirror_path)?;
    Ok(VerifyReport {
        db_records: rows.len() as u64,
        mirror_records: mirror.len() as u64,
        first_bad: first_bad(&rows, &mirror),
    })
}

fn read_rows(db_path: &Path) -> Result<Vec<Row>, AuditError> {
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
    let mut stmt = conn.prepare(
        "SELECT seq, time, actor, action, object, details, prev_hash, hash FROM audit ORDER BY seq",
    )?;
    let rows = stmt
        .query_map([], |r| {
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
