//! The session glue: authenticated signalling → tracker → durable bindings →
//! the bound addresses of targeted subscribers in the tables, and session IRI.

use std::sync::Arc;

use super::controller::Controller;
use super::signalling::{SignalSink, Watermark};
use super::DaemonError;
use crate::metrics::ProbeMetrics;
use crate::sessions::{SessionsConfig, SignalPacket};
use crate::store::Store;

/// The [`SignalSink`] of a probe with `[sessions]`.
pub struct SessionGlue {}

impl SessionGlue {
    /// Restores the saved bindings (ending those that expired while the probe
    /// was down) and installs the bound addresses of every targeted subscriber;
    /// call after the stored intercepts are loaded and before the dataplane is armed.
    ///
    /// # Errors
    /// A NAS secret cannot be loaded; the store fails.
    pub fn new(
        cfg: &SessionsConfig,
        controller: Arc<Controller>,
        store: Store,
        metrics: ProbeMetrics,
        watermark: Watermark,
    ) -> Result<Self, DaemonError> {
        let _ = (cfg, controller, store, metrics, watermark);
        todo!("provided by the sub-glue branch")
    }
}

impl SignalSink for SessionGlue {
    fn signal(&mut self, packet: &SignalPacket<'_>) {
        let _ = packet;
        todo!("provided by the sub-glue branch")
    }

    fn idle(&mut self, watermark_ns: u64) {
        let _ = watermark_ns;
        todo!("provided by the sub-glue branch")
    }
}
