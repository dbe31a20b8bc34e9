//! Audit records and the actions they name.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::hash::HashInput;

/// What an audit record reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditAction {
    /// The daemon started.
    ProbeStart,
    /// The daemon stopped.
    ProbeStop,
    /// An intercept was provisioned.
    InterceptCreate,
    /// An intercept's window, targets or destinations changed.
    InterceptModify,
    /// An intercept became active on every worker.
    InterceptActivate,
    /// An intercept was stopped before the end of its window.
    InterceptDeactivate,
    /// An intercept's window ended.
    InterceptExpire,
    /// An intercept was removed by an operator.
    InterceptRemove,
    /// A destination was added.
    DestinationCreate,
    /// A destination changed.
    DestinationModify,
    /// A destination was removed.
    DestinationRemove,
    /// A static customer's addresses were set or replaced.
    StaticAssignmentPut,
    /// A static customer's addresses were removed.
    StaticAssignmentRemove,
    /// A delivery link came up.
    DeliveryConnect,
    /// A delivery link went down.
    DeliveryDisconnect,
    /// A destination's spool passed its alarm size.
    DeliverySpoolAlarm,
    /// Intercepted data could not be delivered or stored (first loss, then a
    /// summary per interval while losses go on).
    DeliveryDataLost,
    /// An authenticated request was refused (role, validation, state).
    RequestRefused,
    /// A request without a valid client certificate was refused.
    RequestUnauthenticated,
    /// A destination delivers without TLS.
    InsecurePlaintextDestination,
}

impl AuditAction {
    /// Every action, for parsing and documentation.
    pub const ALL: [AuditAction; 20] = [
        Self::ProbeStart,
        Self::ProbeStop,
        Self::InterceptCreate,
        Self::InterceptModify,
        Self::InterceptActivate,
        Self::InterceptDeactivate,
        Self::InterceptExpire,
        Self::InterceptRemove,
        Self::DestinationCreate,
        Self::DestinationModify,
        Self::DestinationRemove,
        Self::StaticAssignmentPut,
        Self::StaticAssignmentRemove,
        Self::DeliveryConnect,
        Self::DeliveryDisconnect,
        Self::DeliverySpoolAlarm,
        Self::DeliveryDataLost,
        Self::RequestRefused,
        Self::RequestUnauthenticated,
        Self::InsecurePlaintextDestination,
    ];

    /// The snake_case name stored and hashed.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProbeStart => "probe_start",
            Self::ProbeStop => "probe_stop",
            Self::InterceptCreate => "intercept_create",
            Self::InterceptModify => "intercept_modify",
            Self::InterceptActivate => "intercept_activate",
            Self::InterceptDeactivate => "intercept_deactivate",
            Self::InterceptExpire => "intercept_expire",
            Self::InterceptRemove => "intercept_remove",
            Self::DestinationCreate => "destination_create",
            Self::DestinationModify => "destination_modify",
            Self::DestinationRemove => "destination_remove",
            Self::StaticAssignmentPut => "static_assignment_put",
            Self::StaticAssignmentRemove => "static_assignment_remove",
            Self::DeliveryConnect => "delivery_connect",
            Self::DeliveryDisconnect => "delivery_disconnect",
            Self::DeliverySpoolAlarm => "delivery_spool_alarm",
            Self::DeliveryDataLost => "delivery_data_lost",
            Self::RequestRefused => "request_refused",
            Self::RequestUnauthenticated => "request_unauthenticated",
            Self::InsecurePlaintextDestination => "insecure_plaintext_destination",
        }
    }

    /// Inverse of [`AuditAction::as_str`].
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == text)
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One link of the hash chain, as stored, mirrored and served to auditors.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    /// Position in the chain, from 1, without gaps.
    pub seq: u64,
    /// When it was recorded: RFC 3339, UTC, nanosecond precision.
    pub time: String,
    /// Certificate subject CN of the caller, or "system".
    pub actor: String,
    /// What happened.
    pub action: AuditAction,
    /// What it happened to (LIID, destination name, peer address; may be empty).
    pub object: String,
    /// Action-specific facts (JSON object).
    pub details: Value,
    /// `hash` of the previous record ([`super::GENESIS_HASH`] for the first).
    pub prev_hash: String,
    /// SHA-256 over the canonical encoding (see [`super::hash`]), lower-case hex.
    pub hash: String,
}

impl AuditRecord {
    /// Recomputes the hash from the other fields.
    #[must_use]
    pub fn compute_hash(&self) -> String {
        HashInput {
            seq: self.seq,
            time: &self.time,
            actor: &self.actor,
            action: self.action.as_str(),
            object: &self.object,
            details: &super::hash::canonical_json(&self.details),
            prev_hash: &self.prev_hash,
        }
        .hash()
    }
}
