//! Intercept rows: create, read, modify, state transitions, removal.

use dataplane::targets::Target;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::{Store, StoreError};
use crate::audit::{append_in_tx, AuditAction};
use crate::model::{
    format_time, mode_to_str, parse_mode, parse_target, parse_time, target_texts, Identity,
    Intercept, InterceptState, Liid, Origin, ValidatedPatch, ValidatedRequest, ValidationError,
};

const WHAT: &str = "intercept";

impl Store {
    /// Stores a new intercept in state `Scheduled` under the next never-used
    /// key, with the request's XID or a fresh one, and audits `intercept_create`.
    ///
    /// # Errors
    /// [`StoreError::Duplicate`] if the LIID or the XID was ever used;
    /// [`StoreError::UnknownDestination`]; database or audit failure.
    pub fn create_intercept(
        &self,
        req: &ValidatedRequest,
        created_by: &str,
        now: OffsetDateTime,
    ) -> Result<Intercept, StoreError> {
        self.audit.transact(|tx| {
            let xid = req.xid.unwrap_or_else(uuid::Uuid::new_v4);
            if tx
                .prepare_cached("SELECT 1 FROM intercepts WHERE xid = ?1")?
                .exists(params![xid.to_string()])?
            {
                return Err(StoreError::Duplicate {
                    what: "xid",
                    name: xid.to_string(),
                });
            }
            if load(tx, &req.liid)?.is_some() {
                return Err(StoreError::Duplicate {
                    what: WHAT,
                    name: req.liid.to_string(),
                });
            }
            check_destinations(tx, &req.destinations)?;
            tx.execute(
                "INSERT INTO intercepts (liid, xid, warrant_ref, issuing_authority, valid_from, \
                 valid_until, mode, created_by, created_at, state, origin) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    req.liid.as_str(),
                    xid.to_string(),
                    req.warrant_ref,
                    req.issuing_authority,
                    format_time(req.valid_from),
                    format_time(req.valid_until),
                    mode_to_str(req.mode),
                    created_by,
                    format_time(now),
                    InterceptState::Scheduled.as_str(),
                    req.origin.as_str(),
                ],
            )?;
            // The last key is the probe's own signalling intercept's.
            let key = u32::try_from(tx.last_insert_rowid())
                .ok()
                .filter(|&k| k != dataplane::handoff::SIGNALLING_KEY)
                .ok_or(StoreError::KeysExhausted)?;
            insert_targets(tx, key, &req.targets, &req.identities)?;
            write_destinations(tx, key, &req.destinations)?;
            let created = load(tx, &req.liid)?.ok_or_else(|| lost(&req.liid))?;
            append_in_tx(
                tx,
                created_by,
                AuditAction::InterceptCreate,
                created.liid.as_str(),
                &json!({
                    "key": created.key,
                    "xid": created.xid.to_string(),
                    "warrant_ref": created.warrant_ref,
                    "issuing_authority": created.issuing_authority,
                    "valid_from": format_time(created.valid_from),
                    "valid_until": format_time(created.valid_until),
                    "mode": mode_to_str(created.mode),
                    "targets": target_texts(&created.targets, &created.identities),
                    "destinations": created.destinations,
                    "origin": created.origin.as_str(),
                }),
            )?;
            Ok(created)
        })
    }

    /// The intercept with this LIID, in any state.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; database failure; unreadable row.
    pub fn get(&self, liid: &Liid) -> Result<Intercept, StoreError> {
        self.audit
            .read(|conn| load(conn, liid)?.ok_or_else(|| not_found(liid)))
    }

    /// The LIID of the intercept carrying `xid`, if any (in any state).
    ///
    /// # Errors
    /// Database failure; unreadable row.
    pub fn liid_by_xid(&self, xid: uuid::Uuid) -> Result<Option<Liid>, StoreError> {
        self.audit.read(|conn| {
            let liid: Option<String> = conn
                .query_row(
                    "SELECT liid FROM intercepts WHERE xid = ?1",
                    params![xid.to_string()],
                    |r| r.get(0),
                )
                .optional()?;
            liid.map(|l| Liid::try_from(l).map_err(corrupt)).transpose()
        })
    }

    /// Every intercept ever provisioned (removed ones are `Deactivated`), by key.
    ///
    /// # Errors
    /// Database failure; unreadable row.
    pub fn list(&self) -> Result<Vec<Intercept>, StoreError> {
        self.audit.read(|conn| {
            let mut stmt = conn.prepare("SELECT liid FROM intercepts ORDER BY key")?;
            let liids = stmt
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            liids
                .into_iter()
                .map(|l| {
                    let liid = Liid::try_from(l).map_err(corrupt)?;
                    load(conn, &liid)?.ok_or_else(|| lost(&liid))
                })
                .collect()
        })
    }

    /// Applies a patch (window end, targets, destinations) and audits
    /// `intercept_modify` with what changed.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Invalid`] (terminal state, window,
    /// targets); [`StoreError::UnknownDestination`]; database or audit failure.
    pub fn modify(
        &self,
        liid: &Liid,
        patch: &ValidatedPatch,
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<Intercept, StoreError> {
        self.audit.transact(|tx| {
            let old = load(tx, liid)?.ok_or_else(|| not_found(liid))?;
            let new = old.apply_patch(patch, now)?;
            let mut changes = serde_json::Map::new();
            if new.valid_until != old.valid_until {
                tx.execute(
                    "UPDATE intercepts SET valid_until = ?1 WHERE key = ?2",
                    params![format_time(new.valid_until), old.key],
                )?;
                changes.insert(
                    "valid_until".into(),
                    json!({"old": format_time(old.valid_until), "new": format_time(new.valid_until)}),
                );
            }
            if new.targets != old.targets || new.identities != old.identities {
                // Rewrite the list so positions stay dense and in order.
                tx.execute("DELETE FROM intercept_targets WHERE key = ?1", params![old.key])?;
                insert_targets(tx, old.key, &new.targets, &new.identities)?;
                changes.insert(
                    "add_targets".into(),
                    json!(target_texts(&patch.add_targets, &patch.add_identities)),
                );
                changes.insert(
                    "remove_targets".into(),
                    json!(target_texts(&patch.remove_targets, &patch.remove_identities)),
                );
            }
            if new.destinations != old.destinations {
                check_destinations(tx, &new.destinations)?;
                write_destinations(tx, old.key, &new.destinations)?;
                changes.insert(
                    "destinations".into(),
                    json!({"old": old.destinations, "new": new.destinations}),
                );
            }
            changes.insert("key".into(), json!(old.key));
            append_in_tx(
                tx,
                actor,
                AuditAction::InterceptModify,
                liid.as_str(),
                &Value::Object(changes),
            )?;
            load(tx, liid)?.ok_or_else(|| lost(liid))
        })
    }

    /// Moves an intercept to `state` and audits the matching action
    /// (`intercept_activate`, `_expire`, `_deactivate`). Asking for the state it
    /// is already in changes nothing and writes no record.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Invalid`] for an illegal
    /// transition (out of a terminal state, back to `Scheduled`); database or
    /// audit failure.
    pub fn set_state(
        &self,
        liid: &Liid,
        state: InterceptState,
        actor: &str,
    ) -> Result<Intercept, StoreError> {
        self.change_state(liid, state, actor, None)
    }

    /// Deactivates a live intercept the probe refuses to install (a target the
    /// policy refuses), auditing `intercept_deactivate` with `reason`.
    ///
    /// # Errors
    /// As [`Store::set_state`].
    pub fn deactivate_refused(
        &self,
        liid: &Liid,
        actor: &str,
        reason: &str,
    ) -> Result<Intercept, StoreError> {
        self.change_state(liid, InterceptState::Deactivated, actor, Some(reason))
    }

    fn change_state(
        &self,
        liid: &Liid,
        state: InterceptState,
        actor: &str,
        reason: Option<&str>,
    ) -> Result<Intercept, StoreError> {
        self.audit.transact(|tx| {
            let current = load(tx, liid)?.ok_or_else(|| not_found(liid))?;
            if current.state == state {
                return Ok(current);
            }
            let action = match state {
                InterceptState::Active => AuditAction::InterceptActivate,
                InterceptState::Expired => AuditAction::InterceptExpire,
                InterceptState::Deactivated => AuditAction::InterceptDeactivate,
                InterceptState::Scheduled => return Err(transition(&current, state)),
            };
            if !current.state.can_become(state) {
                return Err(transition(&current, state));
            }
            write_state(tx, &current, state, actor, action, reason)?;
            load(tx, liid)?.ok_or_else(|| lost(liid))
        })
    }

    /// Removes an intercept on an operator's request: it becomes `Deactivated`
    /// (rows are kept for the audit trail and its LIID is never reused) and
    /// `intercept_remove` is audited.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Invalid`] if it already ended;
    /// database or audit failure.
    pub fn delete(&self, liid: &Liid, actor: &str) -> Result<Intercept, StoreError> {
        self.audit.transact(|tx| {
            let current = load(tx, liid)?.ok_or_else(|| not_found(liid))?;
            if current.state.is_terminal() {
                return Err(ValidationError::State {
                    state: current.state.to_string(),
                    message: "already ended; nothing to remove".into(),
                }
                .into());
            }
            write_state(
                tx,
                &current,
                InterceptState::Deactivated,
                actor,
                AuditAction::InterceptRemove,
                None,
            )?;
            load(tx, liid)?.ok_or_else(|| lost(liid))
        })
    }
}

fn write_state(
    tx: &Connection,
    current: &Intercept,
    state: InterceptState,
    actor: &str,
    action: AuditAction,
    reason: Option<&str>,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE intercepts SET state = ?1 WHERE key = ?2",
        params![state.as_str(), current.key],
    )?;
    let mut details =
        json!({"key": current.key, "from": current.state.as_str(), "to": state.as_str()});
    if let Some(reason) = reason {
        details["reason"] = reason.into();
    }
    append_in_tx(tx, actor, action, current.liid.as_str(), &details)?;
    Ok(())
}

fn transition(current: &Intercept, to: InterceptState) -> StoreError {
    ValidationError::State {
        state: current.state.to_string(),
        message: format!("cannot become {to}"),
    }
    .into()
}

/// Address targets then identities, one row each in list order.
fn insert_targets(
    tx: &Connection,
    key: u32,
    targets: &[Target],
    identities: &[Identity],
) -> Result<(), StoreError> {
    let mut stmt =
        tx.prepare_cached("INSERT INTO intercept_targets (key, pos, target) VALUES (?1, ?2, ?3)")?;
    for (pos, t) in target_texts(targets, identities).iter().enumerate() {
        stmt.execute(params![key, pos, t])?;
    }
    Ok(())
}

fn write_destinations(tx: &Connection, key: u32, names: &[String]) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM intercept_destinations WHERE key = ?1",
        params![key],
    )?;
    let mut stmt = tx.prepare_cached(
        "INSERT INTO intercept_destinations (key, pos, destination) VALUES (?1, ?2, ?3)",
    )?;
    for (pos, name) in names.iter().enumerate() {
        stmt.execute(params![key, pos, name])?;
    }
    Ok(())
}

fn check_destinations(conn: &Connection, names: &[String]) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached("SELECT 1 FROM destinations WHERE name = ?1")?;
    for name in names {
        if !stmt.exists(params![name])? {
            return Err(StoreError::UnknownDestination(name.clone()));
        }
    }
    Ok(())
}

/// Reads one intercept with its targets and destinations.
fn load(conn: &Connection, liid: &Liid) -> Result<Option<Intercept>, StoreError> {
    type Row = (
        u32,
        String,
        String,
        String,
        String,
        String,
        String,
        String,
        String,
        String,
        String,
    );
    let row: Option<Row> = conn
        .query_row(
            "SELECT key, xid, warrant_ref, issuing_authority, valid_from, valid_until, mode, \
             created_by, created_at, state, origin FROM intercepts WHERE liid = ?1",
            params![liid.as_str()],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                    r.get(10)?,
                ))
            },
        )
        .optional()?;
    let Some((
        key,
        xid,
        warrant_ref,
        issuing_authority,
        from,
        until,
        mode,
        created_by,
        created_at,
        state,
        origin,
    )) = row
    else {
        return Ok(None);
    };
    let mut stmt =
        conn.prepare_cached("SELECT target FROM intercept_targets WHERE key = ?1 ORDER BY pos")?;
    let mut targets = Vec::new();
    let mut identities = Vec::new();
    for text in stmt.query_map(params![key], |r| r.get::<_, String>(0))? {
        let text = text?;
        match Identity::parse("target", &text) {
            Some(id) => identities.push(id.map_err(corrupt)?),
            None => targets.push(parse_target("target", &text).map_err(corrupt)?),
        }
    }
    let mut stmt = conn.prepare_cached(
        "SELECT destination FROM intercept_destinations WHERE key = ?1 ORDER BY pos",
    )?;
    let destinations = stmt
        .query_map(params![key], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Intercept {
        key,
        liid: liid.clone(),
        xid: xid
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("intercept {key}: xid: {e}")))?,
        warrant_ref,
        issuing_authority,
        valid_from: parse_time("valid_from", &from).map_err(corrupt)?,
        valid_until: parse_time("valid_until", &until).map_err(corrupt)?,
        mode: parse_mode(&mode).map_err(corrupt)?,
        targets,
        identities,
        destinations,
        created_by,
        created_at: parse_time("created_at", &created_at).map_err(corrupt)?,
        state: InterceptState::parse(&state).map_err(corrupt)?,
        origin: Origin::parse(&origin).map_err(corrupt)?,
    }))
}

fn corrupt(e: ValidationError) -> StoreError {
    StoreError::Corrupt(format!("stored intercept: {e}"))
}

fn not_found(liid: &Liid) -> StoreError {
    StoreError::NotFound {
        what: WHAT,
        name: liid.to_string(),
    }
}

fn lost(liid: &Liid) -> StoreError {
    StoreError::Corrupt(format!("intercept {liid} vanished inside its transaction"))
}
