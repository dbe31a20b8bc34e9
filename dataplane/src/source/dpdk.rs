//! [`PacketSource`] over one DPDK RX queue: the production source of a worker.

use super::{PacketSource, Poll, RxBurst};
use crate::dpdk::{Burst, RxQueue};

/// Reads bursts from one RX queue; each burst is freed with one bulk free
/// after the callback has seen it. Allocates nothing per burst.
#[derive(Debug)]
pub struct DpdkSource {
    rx: RxQueue,
    registered: bool,
}

impl DpdkSource {
    /// Wraps a queue taken with [`crate::dpdk::Port::rx_queue`].
    pub fn new(rx: RxQueue) -> DpdkSource {
        DpdkSource {
            rx,
            registered: false,
        }
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

    /// All segments': a frame spanning several mbufs is screened and dissected
    /// in its first, and [`RxBurst::later_segments`] gives the rest for
    /// content copies.
    #[inline(always)]
    fn wire_len(&self, i: usize) -> u32 {
        if i < Burst::len(self) {
            Burst::wire_len(self, i)
        } else {
            0
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

    fn later_segments<'s>(&'s self, i: usize, out: &mut [&'s [u8]]) -> usize {
        if i < Burst::len(self) {
            Burst::later_segments(self, i, out)
        } else {
            0
        }
    }
}
