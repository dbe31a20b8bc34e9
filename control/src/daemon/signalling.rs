//! The signalling path: datagrams of the configured NAS, DHCP servers and
//! relays, on rings of their own beside the content hand-off, to one consumer
//! (the session tracker) in each worker's receive order.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::sessions::SignalPacket;

/// Receive time up to which every signalling datagram of every worker has been
/// given to the sink: content received before it may be judged against the
/// bindings the sink knows.
#[derive(Clone, Debug, Default)]
pub struct Watermark(Arc<AtomicU64>);

impl Watermark {
    /// The current watermark, ns since the Unix epoch.
    #[must_use]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// Raises it to `ns` (never lowers it).
    pub fn advance(&self, ns: u64) {
        self.0.fetch_max(ns, Ordering::AcqRel);
    }
}

/// Where signalling goes: called on the signalling thread, in each worker's order.
pub trait SignalSink: Send + 'static {
    /// One datagram.
    fn signal(&mut self, packet: &SignalPacket<'_>);
    /// Between drains: every datagram received before `watermark_ns` was given.
    fn idle(&mut self, watermark_ns: u64);
}
