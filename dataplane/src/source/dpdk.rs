//! [`PacketSource`] over one DPDK RX queue: the production source of a worker.

use super::{PacketSource, Poll};
use crate::dpdk::RxQueue;

/// Frames of `i + PREFETCH_AHEAD` are prefetched while frame `i` is handled.
const PREFETCH_AHEAD: usize = 3;

/// Reads bursts from one RX queue; each burst is freed with one bulk free
/// after the callback has seen every frame. Allocates nothing per burst.
#[derive(Debug)]
pub struct DpdkSource {
    rx: RxQueue,
    segmented: u64,
    registered: bool,
}

impl DpdkSource {
    /// Wraps a queue taken with [`crate::dpdk::Port::rx_queue`].
    pub fn new(rx: RxQueue) -> DpdkSource {
        DpdkSource {
            rx,
            segmented: 0,
            registered: false,
        }
    }

    /// Frames that spanned several mbufs: only their first segment was passed
    /// on (a content intercept of one would be incomplete, so it is counted).
    pub fn segmented_frames(&self) -> u64 {
        self.segmented
    }

    /// The polling thread needs an lcore id for its mempool cache: without it
    /// every mbuf alloc/free hits the shared ring (slow, but still correct).
    #[cold]
    fn register(&mut self) {
        self.registered = true;
        if let Err(e) = self.rx.register_thread() {
            tracing::warn!(error = %e, "worker thread not registered with DPDK: no mempool cache");
        }
    }
}

impl PacketSource for DpdkSource {
    #[inline]
    fn poll<F: FnMut(&[u8], Option<u64>)>(&mut self, mut f: F) -> Poll {
        if !self.registered {
            self.register();
        }
        let burst = self.rx.recv();
        let n = burst.len();
        if n == 0 {
            return Poll::Idle;
        }
        for i in 0..PREFETCH_AHEAD.min(n) {
            burst.prefetch(i);
        }
        for i in 0..n {
            burst.prefetch(i + PREFETCH_AHEAD);
            if burst.is_segmented(i) {
                self.segmented += 1;
            }
            f(burst.frame(i), burst.timestamp_ns(i));
        }
        Poll::Frames(n)
    }
}
