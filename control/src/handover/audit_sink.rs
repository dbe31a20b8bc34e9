//! Where the delivery engine's audit records go.
//!
//! The engine records delivery events through this small sink so that link
//! threads need no handle on the audit store: the daemon connects it to
//! `control::audit::AuditLog` (records that cannot be appended are logged as
//! errors: delivery must go on), tests collect the records.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// Least time between two `delivery_data_lost` records of one destination.
pub(crate) const LOSS_AUDIT_EVERY: Duration = Duration::from_secs(60);

/// Audits one destination's data losses, of any cause, without an fsynced
/// record per lost chunk: the first loss is recorded at once; losses after it
/// are summed into one record per [`LOSS_AUDIT_EVERY`], written by the next
/// loss or [`LossAudit::tick`] after the interval, or when the destination
/// closes.
pub(crate) struct LossAudit {
    sink: AuditSink,
    dest: String,
    /// Losses not recorded yet (a lock-free test for the per-chunk tick).
    pending: AtomicBool,
    state: Mutex<LossState>,
}

#[derive(Default)]
struct LossState {
    last_record: Option<Instant>,
    chunks: u64,
    bytes: u64,
    reason: String,
    total_chunks: u64,
}

impl LossAudit {
    pub(crate) fn new(sink: AuditSink, dest: &str) -> Self {
        LossAudit {
            sink,
            dest: dest.to_owned(),
            pending: AtomicBool::new(false),
            state: Mutex::default(),
        }
    }

    /// `chunks` chunks (`bytes` bytes) of intercepted data were lost.
    pub(crate) fn lost(&self, reason: &str, chunks: u64, bytes: u64) {
        let mut s = self.lock();
        s.chunks += chunks;
        s.bytes += bytes;
        s.total_chunks += chunks;
        reason.clone_into(&mut s.reason);
        self.pending.store(true, Ordering::Release);
        self.record_if_due(&mut s);
    }

    /// Records summed losses whose interval has passed.
    pub(crate) fn tick(&self) {
        if self.pending.load(Ordering::Acquire) {
            let mut s = self.lock();
            self.record_if_due(&mut s);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LossState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn record_if_due(&self, s: &mut LossState) {
        if s.last_record
            .is_none_or(|t| t.elapsed() >= LOSS_AUDIT_EVERY)
        {
            self.record(s);
        }
    }

    fn record(&self, s: &mut LossState) {
        if s.chunks == 0 {
            return;
        }
        (self.sink.append)(
            AuditAction::DeliveryDataLost,
            &self.dest,
            json!({
                "reason": s.reason,
                "lost_chunks": s.chunks,
                "lost_bytes": s.bytes,
                "lost_chunks_total": s.total_chunks,
            }),
        );
        s.chunks = 0;
        s.bytes = 0;
        s.last_record = Some(Instant::now());
        self.pending.store(false, Ordering::Release);
    }
}

impl Drop for LossAudit {
    fn drop(&mut self) {
        let mut s = std::mem::take(
            self.state
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        self.record(&mut s);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn a_sustained_loss_is_one_record_then_one_summary() {
        let trail: Arc<Mutex<Vec<(AuditAction, String, Value)>>> = Arc::default();
        let t = Arc::clone(&trail);
        let sink = AuditSink::new(move |a, o, d| t.lock().unwrap().push((a, o.to_owned(), d)));
        let loss = LossAudit::new(sink, "d1");
        for _ in 0..100 {
            loss.lost("disk full", 1, 10);
            loss.tick();
        }
        {
            let got = trail.lock().unwrap();
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].0, AuditAction::DeliveryDataLost);
            assert_eq!(got[0].1, "d1");
            assert_eq!(got[0].2["lost_chunks"], 1);
            assert_eq!(got[0].2["reason"], "disk full");
        }
        drop(loss);
        let got = trail.lock().unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].2["lost_chunks"], 99);
        assert_eq!(got[1].2["lost_bytes"], 990);
        assert_eq!(got[1].2["lost_chunks_total"], 100);
    }
}
