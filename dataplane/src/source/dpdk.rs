//! [`PacketSource`] over one DPDK RX queue: the production source of a worker.

use super::{PacketSource, Poll, RxBurst};
use crate::dpdk::{Burst, RxQueue};

/// Reads bursts from one RX queue; each burst is freed with one bulk free
/// after the callback has seen it. Allocates nothing per burst.
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
    type Burst<'a> = Burst<'a>;

    #[inline]
    fn poll_burst<F: FnOnce(&Burst<'_>)>(&mut self, f: F) -> Poll {
        if !self.registered {
            self.register();
        }
        let burst = self.rx.recv();
        let n = burst.len();
        if n == 0 {
            return Poll::Idle;
        }
        f(&burst);
        // Counted after the callback: the mbuf headers are in cache by then.
        for i in 0..n {
            if burst.is_segmented(i) {
                self.segmented += 1;
            }
        }
        Poll::Frames(n)
    }
}

impl RxBurst for Burst<'_> {
    #[inline(always)]
    fn len(&self) -> usize {
        Burst::len(self)
    }

    #[inline(always)]
    fn frame(&self, i: usize) -> &[u8] {
        if i < Burst::len(self) {
            Burst::frame(self, i)
        } else {
            &[]
        }
    }

    #[inline(always)]
    fn timestamp(&self, i: usize) -> Option<u64> {
        if i < Burst::len(self) {
            self.timestamp_ns(i)
        } else {
            None
        }
    }

    #[inline(always)]
    fn prefetch(&self, i: usize) {
        Burst::prefetch(self, i);
    }
}
