//! Durable subscriber bindings (so a restarted probe keeps intercepting a
//! session before its first packet) and the static assignment table.
//!
//! Bindings are written for every signalling message (thousands a second in a
//! login storm): one cached upsert each, not audited (they are observations,
//! not provisioning). Static assignments are provisioning: audited like
//! intercepts.

use std::net::IpAddr;

use dataplane::targets::Target;
use rusqlite::{params, OptionalExtension, Row};
use serde_json::json;

use super::{Store, StoreError};
use crate::audit::{append_in_tx, AuditAction};
use crate::model::{
    parse_target, target_to_string, Identity, IdentityKind, TargetPolicy, ValidationError,
};
use crate::sessions::tracker::overlap;
use crate::sessions::{Binding, BindingId, Nas, NasRestart, Protocol};

/// A static customer's addresses, provisioned by name (`subscriber-id:<name>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticAssignment {
    /// `subscriber-id:...`.
    pub subscriber: Identity,
    /// Its addresses and prefixes.
    pub addresses: Vec<Target>,
}

/// `PUT /v1/static-assignments/{subscriber_id}` as received (JSON).
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticAssignmentRequest {
    /// IPv4/IPv6 addresses and CIDR prefixes (1.., distinct).
    pub addresses: Vec<String>,
}

impl StaticAssignmentRequest {
    /// The assignment of `subscriber_id` (the name after `subscriber-id:`),
    /// its addresses checked against `policy` as intercept targets are.
    ///
    /// # Errors
    /// A bad name; an address that does not parse, is refused by the policy,
    /// is a MAC or a duplicate; no addresses.
    pub fn validate(
        &self,
        subscriber_id: &str,
        policy: &TargetPolicy,
    ) -> Result<StaticAssignment, ValidationError> {
        let subscriber = Identity::new("subscriber_id", IdentityKind::SubscriberId, subscriber_id)?;
        let addresses = self
            .addresses
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let field = format!("addresses[{i}]");
                let t = parse_target(&field, text)?;
                policy.check(&field, &t)?;
                Ok(t)
            })
            .collect::<Result<_, ValidationError>>()?;
        let a = StaticAssignment {
            subscriber,
            addresses,
        };
        check_assignment(&a)?;
        Ok(a)
    }
}

/// As the API shows it: `{"subscriber_id": "acme", "addresses": [...]}`.
impl serde::Serialize for StaticAssignment {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        json!({
            "subscriber_id": self.subscriber.value(),
            "addresses": self.addresses.iter().map(target_to_string).collect::<Vec<_>>(),
        })
        .serialize(s)
    }
}

const PUT_BINDING: &str = "INSERT OR REPLACE INTO bindings (id, protocol, identities, addresses, \
     nas_address, nas_identifier, session_id, started_ns, updated_ns, expires_ns) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

impl Store {
    /// Saves (inserts or replaces) a current binding. Each call is one
    /// durable commit (an fsync): per signalling message, use
    /// [`Store::write_bindings`] with everything one drain pass changed.
    ///
    /// # Errors
    /// As [`Store::write_bindings`].
    pub fn put_binding(&self, binding: &Binding) -> Result<(), StoreError> {
        self.write_bindings(std::slice::from_ref(binding), &[])
    }

    /// Deletes an ended binding (no error if absent); one durable commit.
    ///
    /// # Errors
    /// [`StoreError::Db`].
    pub fn remove_binding(&self, id: &BindingId) -> Result<(), StoreError> {
        self.write_bindings(&[], std::slice::from_ref(id))
    }

    /// Saves `puts` (one upsert each) then deletes `removes` (no error if
    /// absent), in one transaction: one fsync for a whole batch (10k bindings in
    /// a few tens of ms, where 10k single commits take seconds).
    ///
    /// # Errors
    /// [`StoreError::Db`]; [`StoreError::Invalid`] for a time past 2262 other
    /// than `expires_ns == u64::MAX` (never). Nothing is written then.
    pub fn write_bindings(
        &self,
        puts: &[Binding],
        removes: &[BindingId],
    ) -> Result<(), StoreError> {
        self.write_sessions(puts, removes, &[], &[])
    }

    /// As [`Store::write_bindings`], and in the same transaction records the
    /// NAS restarts `begun` (whose sessions' ends are pending) and deletes
    /// those `done` (all of their sessions' ends written).
    ///
    /// # Errors
    /// As [`Store::write_bindings`]; [`StoreError::Invalid`] also for a
    /// restart time past 2262.
    pub fn write_sessions(
        &self,
        puts: &[Binding],
        removes: &[BindingId],
        begun: &[NasRestart],
        done: &[NasRestart],
    ) -> Result<(), StoreError> {
        self.audit.transact(|tx| {
            let mut put = tx.prepare_cached(PUT_BINDING)?;
            for b in puts {
                let expires = match b.expires_ns {
                    u64::MAX => None,
                    ns => Some(ns_field("expires_ns", ns)?),
                };
                let nas = b.nas.as_ref();
                put.execute(params![
                    b.id.0,
                    protocol_str(b.protocol),
                    text_list(b.identities.iter().map(Identity::to_string)),
                    text_list(b.addresses.iter().map(target_to_string)),
                    nas.map(|n| n.address.to_string()),
                    nas.and_then(|n| n.identifier.as_deref()),
                    b.session_id,
                    ns_field("started_ns", b.started_ns)?,
                    ns_field("updated_ns", b.updated_ns)?,
                    expires,
                ])?;
            }
            let mut remove = tx.prepare_cached("DELETE FROM bindings WHERE id = ?1")?;
            for id in removes {
                remove.execute(params![id.0])?;
            }
            let mut mark = tx.prepare_cached(
                "INSERT OR IGNORE INTO nas_restarts (nas, at_ns) VALUES (?1, ?2)",
            )?;
            for r in begun {
                mark.execute(params![r.nas.to_string(), ns_field("at_ns", r.at_ns)?])?;
            }
            let mut clear =
                tx.prepare_cached("DELETE FROM nas_restarts WHERE nas = ?1 AND at_ns = ?2")?;
            for r in done {
                clear.execute(params![r.nas.to_string(), ns_field("at_ns", r.at_ns)?])?;
            }
            Ok(())
        })
    }

    /// The NAS restarts whose sessions' ends were pending when last written,
    /// earliest first.
    ///
    /// # Errors
    /// [`StoreError::Db`]; [`StoreError::Corrupt`] for a row that does not parse.
    pub fn nas_restarts(&self) -> Result<Vec<NasRestart>, StoreError> {
        self.audit.read(|conn| {
            let mut stmt =
                conn.prepare("SELECT nas, at_ns FROM nas_restarts ORDER BY at_ns, nas")?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(nas, at)| {
                    let corrupt =
                        |why: &str| StoreError::Corrupt(format!("NAS restart row: {why}"));
                    Ok(NasRestart {
                        nas: nas.parse().map_err(|_| corrupt("unreadable NAS address"))?,
                        at_ns: u64::try_from(at).map_err(|_| corrupt("negative time"))?,
                    })
                })
                .collect()
        })
    }

    /// Every saved binding, by id.
    ///
    /// # Errors
    /// [`StoreError::Db`]; [`StoreError::Corrupt`] for a row that does not parse.
    pub fn bindings(&self) -> Result<Vec<Binding>, StoreError> {
        self.audit.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT id, protocol, identities, addresses, nas_address, nas_identifier, \
                 session_id, started_ns, updated_ns, expires_ns FROM bindings ORDER BY id",
            )?;
            let rows = stmt
                .query_map([], RawBinding::read)?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter().map(RawBinding::parse).collect()
        })
    }

    /// Every static assignment, by subscriber id.
    ///
    /// # Errors
    /// [`StoreError::Db`]; [`StoreError::Corrupt`] for a row that does not parse.
    pub fn static_assignments(&self) -> Result<Vec<StaticAssignment>, StoreError> {
        self.audit.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT subscriber, addresses FROM static_assignments ORDER BY subscriber",
            )?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(s, a)| parse_assignment(&s, &a))
                .collect()
        })
    }

    /// The static assignment of `subscriber`, if any.
    ///
    /// # Errors
    /// [`StoreError::Db`]; [`StoreError::Corrupt`] for a row that does not parse.
    pub fn static_assignment(
        &self,
        subscriber: &Identity,
    ) -> Result<Option<StaticAssignment>, StoreError> {
        self.audit.read(|conn| load_assignment(conn, subscriber))
    }

    /// Sets (creates or replaces) a static customer's addresses and audits
    /// `static_assignment_put` with the old and new lists. Returns the old one.
    ///
    /// # Errors
    /// [`StoreError::Invalid`]: not a `subscriber-id`, no addresses, a MAC, a
    /// duplicate; [`StoreError::AssignmentOverlap`]: an address or prefix
    /// overlapping another subscriber's (nothing is stored); database or audit failure.
    pub fn put_static_assignment(
        &self,
        assignment: &StaticAssignment,
        actor: &str,
    ) -> Result<Option<StaticAssignment>, StoreError> {
        check_assignment(assignment)?;
        let subscriber = assignment.subscriber.to_string();
        let addresses: Vec<String> = assignment.addresses.iter().map(target_to_string).collect();
        self.audit.transact(|tx| {
            let mut others = tx.prepare_cached(
                "SELECT subscriber, addresses FROM static_assignments WHERE subscriber != ?1",
            )?;
            let rows = others
                .query_map(params![subscriber], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            for (s, a) in rows {
                let other = parse_assignment(&s, &a)?;
                for t in &assignment.addresses {
                    if let Some(o) = other.addresses.iter().find(|o| overlap(t, o)) {
                        return Err(StoreError::AssignmentOverlap {
                            address: target_to_string(t),
                            other: format!("{} of {s}", target_to_string(o)),
                        });
                    }
                }
            }
            let old = load_assignment(tx, &assignment.subscriber)?;
            tx.execute(
                "INSERT OR REPLACE INTO static_assignments (subscriber, addresses) VALUES (?1, ?2)",
                params![subscriber, text_list(addresses.iter().cloned())],
            )?;
            let old_addresses = old
                .as_ref()
                .map(|o| o.addresses.iter().map(target_to_string).collect::<Vec<_>>());
            append_in_tx(
                tx,
                actor,
                AuditAction::StaticAssignmentPut,
                &subscriber,
                &json!({"old": old_addresses, "new": addresses}),
            )?;
            Ok(old)
        })
    }

    /// Deletes a static customer's addresses and audits
    /// `static_assignment_remove`. Returns what was removed.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; database or audit failure.
    pub fn delete_static_assignment(
        &self,
        subscriber: &Identity,
        actor: &str,
    ) -> Result<StaticAssignment, StoreError> {
        self.audit.transact(|tx| {
            let old = load_assignment(tx, subscriber)?.ok_or_else(|| StoreError::NotFound {
                what: "static assignment",
                name: subscriber.value().to_owned(),
            })?;
            tx.execute(
                "DELETE FROM static_assignments WHERE subscriber = ?1",
                params![subscriber.to_string()],
            )?;
            append_in_tx(
                tx,
                actor,
                AuditAction::StaticAssignmentRemove,
                &subscriber.to_string(),
                &json!({"old": old.addresses.iter().map(target_to_string).collect::<Vec<_>>()}),
            )?;
            Ok(old)
        })
    }
}

/// A static assignment names a `subscriber-id` and 1.. distinct IP addresses or
/// prefixes (policy checks are the caller's, as for intercept targets).
fn check_assignment(a: &StaticAssignment) -> Result<(), ValidationError> {
    if a.subscriber.kind() != IdentityKind::SubscriberId {
        return Err(ValidationError::field(
            "subscriber",
            format!("{} is not a subscriber-id", a.subscriber.kind().as_str()),
        ));
    }
    if a.addresses.is_empty() || a.addresses.len() > crate::model::MAX_TARGETS {
        return Err(ValidationError::field(
            "addresses",
            format!("must hold 1 to {} addresses", crate::model::MAX_TARGETS),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, t) in a.addresses.iter().enumerate() {
        if matches!(
            t,
            Target::Mac(_)
                | Target::Ipv4Udp(..)
                | Target::Ipv6Udp(..)
                | Target::Ipv4Tcp(..)
                | Target::Ipv6Tcp(..)
        ) {
            return Err(ValidationError::field(
                format!("addresses[{i}]"),
                "a MAC address is not an IP address or prefix",
            ));
        }
        if !seen.insert(t) {
            return Err(ValidationError::DuplicateTarget {
                field: "addresses".into(),
                target: target_to_string(t),
            });
        }
    }
    Ok(())
}

fn load_assignment(
    conn: &rusqlite::Connection,
    subscriber: &Identity,
) -> Result<Option<StaticAssignment>, StoreError> {
    let row: Option<String> = conn
        .prepare_cached("SELECT addresses FROM static_assignments WHERE subscriber = ?1")?
        .query_row(params![subscriber.to_string()], |r| r.get(0))
        .optional()?;
    row.map(|a| parse_assignment(&subscriber.to_string(), &a))
        .transpose()
}

fn parse_assignment(subscriber: &str, addresses: &str) -> Result<StaticAssignment, StoreError> {
    let corrupt = |why: &str| StoreError::Corrupt(format!("static assignment row: {why}"));
    let subscriber = match Identity::parse("subscriber", subscriber) {
        Some(Ok(id)) if id.kind() == IdentityKind::SubscriberId => id,
        _ => return Err(corrupt("subscriber is not a subscriber-id")),
    };
    let addresses = parse_list("addresses", addresses)
        .map_err(|e| corrupt(&e))?
        .iter()
        .map(|t| parse_target("address", t).map_err(|_| corrupt("unreadable address")))
        .collect::<Result<_, _>>()?;
    Ok(StaticAssignment {
        subscriber,
        addresses,
    })
}

/// A `bindings` row as stored, before parsing.
struct RawBinding {
    id: String,
    protocol: String,
    identities: String,
    addresses: String,
    nas_address: Option<String>,
    nas_identifier: Option<String>,
    session_id: Option<String>,
    started_ns: i64,
    updated_ns: i64,
    expires_ns: Option<i64>,
}

impl RawBinding {
    fn read(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            protocol: r.get(1)?,
            identities: r.get(2)?,
            addresses: r.get(3)?,
            nas_address: r.get(4)?,
            nas_identifier: r.get(5)?,
            session_id: r.get(6)?,
            started_ns: r.get(7)?,
            updated_ns: r.get(8)?,
            expires_ns: r.get(9)?,
        })
    }

    fn parse(self) -> Result<Binding, StoreError> {
        let corrupt = |why: &str| StoreError::Corrupt(format!("binding row: {why}"));
        let ns = |v: i64| u64::try_from(v).map_err(|_| corrupt("negative time"));
        let identities = parse_list("identities", &self.identities)
            .map_err(|e| corrupt(&e))?
            .iter()
            .map(|t| match Identity::parse("identity", t) {
                Some(Ok(i)) => Ok(i),
                _ => Err(corrupt("unreadable identity")),
            })
            .collect::<Result<_, _>>()?;
        let addresses = parse_list("addresses", &self.addresses)
            .map_err(|e| corrupt(&e))?
            .iter()
            .map(|t| parse_target("address", t).map_err(|_| corrupt("unreadable address")))
            .collect::<Result<_, _>>()?;
        let nas = match (self.nas_address, self.nas_identifier) {
            (Some(a), identifier) => Some(Nas {
                address: a
                    .parse::<IpAddr>()
                    .map_err(|_| corrupt("unreadable NAS address"))?,
                identifier,
            }),
            (None, None) => None,
            (None, Some(_)) => return Err(corrupt("NAS identifier without address")),
        };
        Ok(Binding {
            protocol: parse_protocol(&self.protocol).ok_or_else(|| corrupt("unknown protocol"))?,
            identities,
            addresses,
            nas,
            session_id: self.session_id,
            started_ns: ns(self.started_ns)?,
            updated_ns: ns(self.updated_ns)?,
            expires_ns: self.expires_ns.map_or(Ok(u64::MAX), ns)?,
            id: BindingId(self.id),
        })
    }
}

/// A time in ns as SQLite's signed integer.
fn ns_field(field: &str, ns: u64) -> Result<i64, ValidationError> {
    i64::try_from(ns).map_err(|_| ValidationError::field(field, format!("{ns} ns is out of range")))
}

fn protocol_str(p: Protocol) -> &'static str {
    match p {
        Protocol::Radius => "radius",
        Protocol::Dhcp4 => "dhcp4",
        Protocol::Dhcp6 => "dhcp6",
        Protocol::Static => "static",
    }
}

fn parse_protocol(text: &str) -> Option<Protocol> {
    Some(match text {
        "radius" => Protocol::Radius,
        "dhcp4" => Protocol::Dhcp4,
        "dhcp6" => Protocol::Dhcp6,
        "static" => Protocol::Static,
        _ => return None,
    })
}

fn text_list(items: impl Iterator<Item = String>) -> String {
    serde_json::Value::from(items.collect::<Vec<_>>()).to_string()
}

/// Corrupt-row messages name the column, never its value (identifiers may
/// reach an error log).
fn parse_list(column: &str, text: &str) -> Result<Vec<String>, String> {
    serde_json::from_str(text).map_err(|_| format!("{column} is not a list of strings"))
}
