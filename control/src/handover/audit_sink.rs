//! Where the delivery engine's audit records go.
//!
//! ADAPTER: the engine records delivery events through this small sink so that
//! link threads need no knowledge of the audit store. [`AuditSink::from_log`]
//! connects it to `control::audit::AuditLog`; records that cannot be appended
//! are logged as errors (delivery must go on).

use std::sync::Arc;

use serde_json::{json, Value};

type Append = dyn Fn(&'static str, &str, Value) + Send + Sync;

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
    pub fn new(append: impl Fn(&'static str, &str, Value) + Send + Sync + 'static) -> Self {
        AuditSink {
            append: Arc::new(append),
        }
    }

    /// A link came up.
    pub(crate) fn connect(&self, dest: &str, address: &str, tls: bool) {
        (self.append)(
            "delivery_connect",
            dest,
            json!({ "address": address, "tls": tls }),
        );
    }

    /// A link went down or could not be established.
    pub(crate) fn disconnect(&self, dest: &str, reason: &str) {
        (self.append)("delivery_disconnect", dest, json!({ "reason": reason }));
    }

    /// The spool crossed 80 % or is full (records lost).
    pub(crate) fn spool_alarm(&self, dest: &str, level: &str, bytes: u64, max: u64) {
        (self.append)(
            "delivery_spool_alarm",
            dest,
            json!({ "level": level, "spool_bytes": bytes, "spool_max_bytes": max }),
        );
    }

    /// A destination delivers without TLS.
    pub(crate) fn insecure_plaintext(&self, dest: &str, address: &str) {
        (self.append)(
            "insecure_plaintext_destination",
            dest,
            json!({ "address": address }),
        );
    }
}
