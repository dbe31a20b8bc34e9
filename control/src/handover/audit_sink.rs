//! Where the delivery engine's audit records go.
//!
//! The engine records delivery events through this small sink so that link
//! threads need no handle on the audit store: the daemon connects it to
//! `control::audit::AuditLog` (records that cannot be appended are logged as
//! errors: delivery must go on), tests collect the records.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::audit::AuditAction;

type Append = dyn Fn(AuditAction, &str, Value) + Send + Sync;

/// Cheap to clone; shared by the engine and every link thread.
#[derive(Clone)]
pub struct AuditSink {
    append: Arc<Append>,
}

impl std::fmt::Debug for AuditSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditSink")
    }
}

impl AuditSink {
    /// A sink calling `append(action, object, details)` for every record.
    pub fn new(append: impl Fn(AuditAction, &str, Value) + Send + Sync + 'static) -> Self {
        AuditSink {
            append: Arc::new(append),
        }
    }

    /// A link came up.
    pub(crate) fn connect(&self, dest: &str, address: &str, tls: bool) {
        (self.append)(
            AuditAction::DeliveryConnect,
            dest,
            json!({ "address": address, "tls": tls }),
        );
    }

    /// A link went down or could not be established.
    pub(crate) fn disconnect(&self, dest: &str, reason: &str) {
        (self.append)(
            AuditAction::DeliveryDisconnect,
            dest,
            json!({ "reason": reason }),
        );
    }

    /// The spool crossed 80 % or is full (records lost).
    pub(crate) fn spool_alarm(&self, dest: &str, level: &str, bytes: u64, max: u64) {
        (self.append)(
            AuditAction::DeliverySpoolAlarm,
            dest,
            json!({ "level": level, "spool_bytes": bytes, "spool_max_bytes": max }),
        );
    }

    /// A destination delivers without TLS.
    pub(crate) fn insecure_plaintext(&self, dest: &str, address: &str) {
        (self.append)(
            AuditAction::InsecurePlaintextDestination,
            dest,
            json!({ "address": address }),
        );
    }
}
