//! Destination rows: the delivery targets intercepts refer to by name.

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::json;

use super::{Store, StoreError};
use crate::audit::{append_in_tx, AuditAction};
use crate::model::Destination;

const WHAT: &str = "destination";

impl Store {
    /// Adds a destination and audits `destination_create`.
    ///
    /// # Errors
    /// [`StoreError::Invalid`]; [`StoreError::Duplicate`]; database or audit failure.
    pub fn create_destination(&self, dest: &Destination, actor: &str) -> Result<(), StoreError> {
        dest.validate()?;
        self.audit.transact(|tx| {
            if load(tx, &dest.name)?.is_some() {
                return Err(StoreError::Duplicate {
                    what: WHAT,
                    name: dest.name.clone(),
                });
            }
            tx.execute(
                "INSERT INTO destinations (name, spec) VALUES (?1, ?2)",
                params![dest.name, spec_json(dest)?],
            )?;
            append_in_tx(
                tx,
                actor,
                AuditAction::DestinationCreate,
                &dest.name,
                &json!({ "destination": dest }),
            )?;
            Ok(())
        })
    }

    /// Replaces a destination's settings and audits `destination_modify` with
    /// the old and new values.
    ///
    /// # Errors
    /// [`StoreError::Invalid`]; [`StoreError::NotFound`]; database or audit failure.
    pub fn update_destination(&self, dest: &Destination, actor: &str) -> Result<(), StoreError> {
        dest.validate()?;
        self.audit.transact(|tx| {
            let old = load(tx, &dest.name)?.ok_or_else(|| not_found(&dest.name))?;
            tx.execute(
                "UPDATE destinations SET spec = ?2 WHERE name = ?1",
                params![dest.name, spec_json(dest)?],
            )?;
            append_in_tx(
                tx,
                actor,
                AuditAction::DestinationModify,
                &dest.name,
                &json!({ "old": old, "new": dest }),
            )?;
            Ok(())
        })
    }

    /// Removes a destination no scheduled or active intercept uses, and audits
    /// `destination_remove`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::InUse`]; database or audit failure.
    pub fn delete_destination(&self, name: &str, actor: &str) -> Result<(), StoreError> {
        self.audit.transact(|tx| {
            let old = load(tx, name)?.ok_or_else(|| not_found(name))?;
            let in_use = tx
                .prepare_cached(
                    "SELECT 1 FROM intercept_destinations d JOIN intercepts i ON i.key = d.key \
                     WHERE d.destination = ?1 AND i.state IN ('scheduled', 'active')",
                )?
                .exists(params![name])?;
            if in_use {
                return Err(StoreError::InUse(name.to_owned()));
            }
            tx.execute("DELETE FROM destinations WHERE name = ?1", params![name])?;
            append_in_tx(
                tx,
                actor,
                AuditAction::DestinationRemove,
                name,
                &json!({ "destination": old }),
            )?;
            Ok(())
        })
    }

    /// Makes the stored destinations include `dests` (from the config file):
    /// creates missing ones and updates changed ones, each audited; leaves
    /// others alone. Returns how many were created or changed.
    ///
    /// # Errors
    /// As [`Store::create_destination`] / [`Store::update_destination`].
    pub fn sync_destinations(
        &self,
        dests: &[Destination],
        actor: &str,
    ) -> Result<usize, StoreError> {
        let mut changed = 0;
        for dest in dests {
            match self.get_destination(&dest.name) {
                Ok(old) if old == *dest => continue,
                Ok(_) => self.update_destination(dest, actor)?,
                Err(StoreError::NotFound { .. }) => self.create_destination(dest, actor)?,
                Err(e) => return Err(e),
            }
            changed += 1;
        }
        Ok(changed)
    }

    /// One destination.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; database failure; unreadable row.
    pub fn get_destination(&self, name: &str) -> Result<Destination, StoreError> {
        self.audit
            .read(|conn| load(conn, name)?.ok_or_else(|| not_found(name)))
    }

    /// Every destination, by name.
    ///
    /// # Errors
    /// Database failure; unreadable row.
    pub fn list_destinations(&self) -> Result<Vec<Destination>, StoreError> {
        self.audit.read(|conn| {
            let mut stmt = conn.prepare("SELECT spec FROM destinations ORDER BY name")?;
            let specs = stmt
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            specs.iter().map(|s| parse_spec(s)).collect()
        })
    }
}

fn load(conn: &Connection, name: &str) -> Result<Option<Destination>, StoreError> {
    conn.query_row(
        "SELECT spec FROM destinations WHERE name = ?1",
        params![name],
        |r| r.get::<_, String>(0),
    )
    .optional()?
    .map(|s| parse_spec(&s))
    .transpose()
}

fn spec_json(dest: &Destination) -> Result<String, StoreError> {
    serde_json::to_string(dest)
        .map_err(|e| StoreError::Corrupt(format!("destination encoding: {e}")))
}

fn parse_spec(spec: &str) -> Result<Destination, StoreError> {
    serde_json::from_str(spec).map_err(|e| StoreError::Corrupt(format!("stored destination: {e}")))
}

fn not_found(name: &str) -> StoreError {
    StoreError::NotFound {
        what: WHAT,
        name: name.to_owned(),
    }
}
