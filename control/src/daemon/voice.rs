//! The voice glue: the signalling path's SIP messages through the call
//! tracker into the tables (each targeted call's media endpoints, for the
//! call's lifetime) and into handover (each SIP message of a targeted call
//! as IRI; its media as CC with the call's correlation number).

use std::sync::Arc;

use super::controller::Controller;
use super::signalling::{SignalSink, Watermark};
use super::DaemonError;
use crate::metrics::ProbeMetrics;
use crate::sessions::SignalPacket;
use crate::voice::VoiceConfig;

/// The voice side of the signalling path.
pub struct VoiceGlue {
    _private: (),
}

impl VoiceGlue {
    /// A glue over `controller`, registered with it for intercepts naming
    /// voice identities and as handover's call gate; call after the stored
    /// intercepts are loaded and before the dataplane is armed.
    ///
    /// # Errors
    /// Reserved for state the glue cannot set up.
    pub fn new(
        cfg: &VoiceConfig,
        controller: Arc<Controller>,
        metrics: ProbeMetrics,
        watermark: Watermark,
    ) -> Result<Self, DaemonError> {
        let _ = (cfg, controller, metrics, watermark);
        todo!("voice-glue")
    }
}

impl SignalSink for VoiceGlue {
    fn signal(&mut self, packet: &SignalPacket<'_>) {
        let _ = packet;
        todo!("voice-glue")
    }

    fn idle(&mut self, watermark_ns: u64) {
        let _ = watermark_ns;
        todo!("voice-glue")
    }
}
