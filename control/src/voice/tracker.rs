//! The call tracker: registrations and dialogs by Call-ID and tags, and the
//! media each call negotiated, from SIP messages in receive order.

use std::net::SocketAddr;

use super::call::{CallChange, Party};
use super::config::VoiceConfig;
use super::sip::SipMessage;

/// Every call and registration the mirror shows, targeted or not (a warrant
/// provisioned mid-call takes effect at once).
pub struct CallTracker {
    _private: (),
}

impl CallTracker {
    /// An empty tracker with `cfg`'s timeouts and call limit.
    #[must_use]
    pub fn new(cfg: &VoiceConfig) -> Self {
        let _ = cfg;
        todo!("voice-track")
    }

    /// Applies one message received at `ts_ns` from `src` to `dst`; appends
    /// what changed to `out`.
    pub fn apply(
        &mut self,
        ts_ns: u64,
        src: SocketAddr,
        dst: SocketAddr,
        msg: &SipMessage,
        out: &mut Vec<CallChange>,
    ) {
        let _ = (ts_ns, src, dst, msg, out);
        todo!("voice-track")
    }

    /// Ends calls and registrations whose timeout passed by `now_ns`.
    pub fn expire(&mut self, now_ns: u64, out: &mut Vec<CallChange>) {
        let _ = (now_ns, out);
        todo!("voice-track")
    }

    /// The calls in progress and their parties and media (for a warrant
    /// provisioned while they are up): appends a `Started` and a `MediaAdded`
    /// per current endpoint of each call naming one of `parties`.
    pub fn active(&self, parties: &dyn Fn(&Party) -> bool, out: &mut Vec<CallChange>) {
        let _ = (parties, out);
        todo!("voice-track")
    }

    /// Calls tracked now.
    #[must_use]
    pub fn calls(&self) -> usize {
        todo!("voice-track")
    }
}
