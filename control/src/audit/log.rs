//! [`AuditLog`]: appends chained records in the database and mirrors them.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use serde_json::Value;
use time::OffsetDateTime;

use super::checkpoint::Checkpoint;
use super::hash::{canonical_json, HashInput, GENESIS_HASH};
use super::mirror::{self, Mirror};
use super::{AuditAction, AuditError, AuditRecord};

/// The tamper-evident audit log. Cheap to clone and usable from any thread; it
/// shares the store's database connection, so a store mutation and its audit
/// record commit in one transaction.
#[derive(Clone, Debug)]
pub struct AuditLog {
    inner: Arc<Mutex<Inner>>,
    anchor: Arc<AnchorState>,
}

/// What the checkpoint task shares with writers and readers, apart from the
/// log's lock so neither waits for the other.
#[derive(Debug, Default)]
pub(crate) struct AnchorState {
    /// The newest checkpoint made.
    pub latest: Mutex<Option<Checkpoint>>,
    /// Woken when an `intercept_activate` record is committed.
    pub activated: tokio::sync::Notify,
}

#[derive(Debug)]
struct Inner {
    conn: Connection,
    mirror: Mirror,
    /// Last seq known to be in the mirror.
    mirrored_seq: u64,
}

impl AuditLog {
    /// Takes over the store's connection (schema already in place) and opens
    /// the mirror. The mirror must end at the database's last record, or one
    /// before it (a crash between commit and mirror write), which is repaired.
    pub(crate) fn open(conn: Connection, mirror_path: &Path) -> Result<Self, AuditError> {
        let db_last = last_link(&conn)?.map_or(0, |(seq, _)| seq);
        let tail = mirror::tail(mirror_path)?;
        let mirror_last = match tail.last {
            None => 0,
            Some(Err(why)) => {
                return Err(AuditError::MirrorMismatch(format!(
                    "{}: last line: {why}",
                    mirror_path.display()
                )))
            }
            Some(Ok(rec)) => {
                let in_db = read_range(&conn, rec.seq, 1)?;
                if in_db.first() != Some(&rec) {
                    return Err(AuditError::MirrorMismatch(format!(
                        "{}: last record (seq {}) is not the database's record {}; \
                         run `calea-probe audit verify`",
                        mirror_path.display(),
                        rec.seq,
                        rec.seq
                    )));
                }
                rec.seq
            }
        };
        if let Some(partial) = tail.partial {
            // Power lost mid-append: the cut line must be the start of the
            // next committed record, which is then written again in full.
            let next = read_range(&conn, mirror_last + 1, 1)?;
            let expected = match next.first() {
                Some(rec) => serde_json::to_vec(rec).map_err(AuditError::Json)?,
                None => Vec::new(),
            };
            if next.is_empty() || !expected.starts_with(&partial.bytes) {
                return Err(AuditError::MirrorMismatch(format!(
                    "{}: ends with an incomplete line that is not the start of record {}",
                    mirror_path.display(),
                    mirror_last + 1
                )));
            }
            tracing::warn!(
                seq = mirror_last + 1,
                "audit mirror ends with a cut-off record (interrupted write); rewriting it"
            );
            mirror::truncate(mirror_path, partial.offset)?;
        }
        if db_last > mirror_last + 1 {
            return Err(AuditError::MirrorMismatch(format!(
                "{} ends at seq {mirror_last} but the database at seq {db_last}; \
                 run `calea-probe audit verify`",
                mirror_path.display()
            )));
        }
        let mut inner = Inner {
            conn,
            mirror: Mirror::open(mirror_path)?,
            mirrored_seq: mirror_last,
        };
        if db_last > mirror_last {
            tracing::warn!(
                seq = db_last,
                "audit mirror was one record behind the database (interrupted write); re-appending it"
            );
        }
        inner.sync_mirror()?;
        Ok(Self {
            inner: Arc::new(Mutex::new(inner)),
            anchor: Arc::default(),
        })
    }

    /// Appends one record (its own transaction) and mirrors it.
    ///
    /// # Errors
    /// Database or mirror failure. If the mirror write fails after the commit,
    /// the record is in the database and the next append retries the mirror.
    pub fn append(
        &self,
        actor: &str,
        action: AuditAction,
        object: &str,
        details: Value,
    ) -> Result<AuditRecord, AuditError> {
        self.transact(|tx| append_in_tx(tx, actor, action, object, &details))
    }

    /// Records from `from_seq` on (inclusive), at most `limit`, in chain order.
    ///
    /// # Errors
    /// Database failure or an unreadable row.
    pub fn list(&self, from_seq: u64, limit: usize) -> Result<Vec<AuditRecord>, AuditError> {
        let inner = self.lock()?;
        read_range(&inner.conn, from_seq, limit)
    }

    /// Seq of the newest record (0 when the log is empty).
    ///
    /// # Errors
    /// Database failure.
    pub fn last_seq(&self) -> Result<u64, AuditError> {
        let inner = self.lock()?;
        Ok(last_link(&inner.conn)?.map_or(0, |(seq, _)| seq))
    }

    /// The newest record's (seq, hash); (0, genesis hash) when the log is empty.
    ///
    /// # Errors
    /// Database failure.
    pub fn head(&self) -> Result<(u64, String), AuditError> {
        let inner = self.lock()?;
        Ok(last_link(&inner.conn)?.unwrap_or((0, GENESIS_HASH.to_owned())))
    }

    /// The newest signed checkpoint, if checkpoints are configured and one was made.
    ///
    /// # Errors
    /// Only if the lock is poisoned.
    pub fn latest_checkpoint(&self) -> Result<Option<Checkpoint>, AuditError> {
        Ok(self
            .anchor
            .latest
            .lock()
            .map_err(|_| AuditError::Poisoned)?
            .clone())
    }

    pub(crate) fn anchor_state(&self) -> &Arc<AnchorState> {
        &self.anchor
    }

    /// Path of the mirror file.
    ///
    /// # Errors
    /// Only if the lock is poisoned.
    pub fn mirror_path(&self) -> Result<std::path::PathBuf, AuditError> {
        Ok(self.lock()?.mirror.path().to_owned())
    }

    /// Runs `f` in one IMMEDIATE transaction, commits, then mirrors every record
    /// it appended. On error nothing is committed (no change without its record,
    /// no record without its change).
    pub(crate) fn transact<T, E>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<AuditError>,
    {
        let mut inner = self.lock()?;
        let tx = inner
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(AuditError::Db)?;
        let out = f(&tx)?;
        tx.commit().map_err(AuditError::Db)?;
        if inner.sync_mirror()? {
            self.anchor.activated.notify_one();
        }
        Ok(out)
    }

    /// Runs a read-only query on the shared connection.
    pub(crate) fn read<T, E>(&self, f: impl FnOnce(&Connection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<AuditError>,
    {
        let inner = self.lock()?;
        f(&inner.conn)
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>, AuditError> {
        self.inner.lock().map_err(|_| AuditError::Poisoned)
    }
}

impl Inner {
    /// Appends to the mirror every committed record it does not hold yet;
    /// whether one of them is an activation (which calls for a checkpoint).
    fn sync_mirror(&mut self) -> Result<bool, AuditError> {
        let missing = read_range(&self.conn, self.mirrored_seq + 1, usize::MAX)?;
        for rec in &missing {
            self.mirror.append(rec)?;
            self.mirrored_seq = rec.seq;
        }
        Ok(missing
            .iter()
            .any(|r| r.action == AuditAction::InterceptActivate))
    }
}

/// Appends one record inside the caller's transaction (the store's mutations
/// call this so the change and its record commit together).
///
/// # Errors
/// Database failure.
pub(crate) fn append_in_tx(
    conn: &Connection,
    actor: &str,
    action: AuditAction,
    object: &str,
    details: &Value,
) -> Result<AuditRecord, AuditError> {
    let (prev_seq, prev_hash) = last_link(conn)?.unwrap_or((0, GENESIS_HASH.to_owned()));
    let seq = prev_seq + 1;
    let time = record_time(OffsetDateTime::now_utc());
    let details_text = canonical_json(details);
    let hash = HashInput {
        seq,
        time: &time,
        actor,
        action: action.as_str(),
        object,
        details: &details_text,
        prev_hash: &prev_hash,
    }
    .hash();
    conn.execute(
        "INSERT INTO audit (seq, time, actor, action, object, details, prev_hash, hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            sql_seq(seq)?,
            time,
            actor,
            action.as_str(),
            object,
            details_text,
            prev_hash,
            hash
        ],
    )?;
    Ok(AuditRecord {
        seq,
        time,
        actor: actor.to_owned(),
        action,
        object: object.to_owned(),
        details: details.clone(),
        prev_hash,
        hash,
    })
}

/// Audit time: RFC 3339, UTC, always nine fractional digits, so records sort
/// and compare as text.
pub(crate) fn record_time(t: OffsetDateTime) -> String {
    const FORMAT: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z"
    );
    let t = t.to_offset(time::UtcOffset::UTC);
    // Formatting fails only for years beyond 9999.
    t.format(FORMAT).unwrap_or_else(|_| format!("{t:?}"))
}

fn sql_seq(seq: u64) -> Result<i64, AuditError> {
    i64::try_from(seq).map_err(|_| AuditError::Corrupt(format!("seq {seq} out of range")))
}

fn last_link(conn: &Connection) -> Result<Option<(u64, String)>, AuditError> {
    let row = conn
        .query_row(
            "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
        )
        .optional()?;
    row.map(|(seq, hash)| {
        u64::try_from(seq)
            .map(|s| (s, hash))
            .map_err(|_| AuditError::Corrupt(format!("negative seq {seq}")))
    })
    .transpose()
}

fn read_range(
    conn: &Connection,
    from_seq: u64,
    limit: usize,
) -> Result<Vec<AuditRecord>, AuditError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, time, actor, action, object, details, prev_hash, hash FROM audit \
         WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let from = i64::try_from(from_seq).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![from, limit], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, String>(6)?,
            r.get::<_, String>(7)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, time, actor, action, object, details, prev_hash, hash) = row?;
        let corrupt = |why: String| AuditError::Corrupt(format!("audit record {seq}: {why}"));
        out.push(AuditRecord {
            seq: u64::try_from(seq).map_err(|_| corrupt("negative seq".into()))?,
            time,
            actor,
            action: AuditAction::parse(&action)
                .ok_or_else(|| corrupt(format!("unknown action {action:?}")))?,
            object,
            details: serde_json::from_str(&details)
                .map_err(|e| corrupt(format!("details: {e}")))?,
            prev_hash,
            hash,
        });
    }
    Ok(out)
}
