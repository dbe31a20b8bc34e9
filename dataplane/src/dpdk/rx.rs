//! RX queues and the bursts of mbufs they return.

use std::ptr;
use std::sync::Arc;

use dpdk_sys as sys;

use super::error::DpdkError;
use super::prefetch;
use super::shared::PortShared;

/// Mbufs asked for per `rte_eth_rx_burst` (DPDK's usual 32).
pub const BURST_SIZE: usize = 32;

/// One RX queue of a started port, owned by one worker thread.
#[derive(Debug)]
pub struct RxQueue {
    port: Arc<PortShared>,
    queue: u16,
    mbufs: [*mut sys::rte_mbuf; BURST_SIZE],
}

// SAFETY: the queue is single-consumer; `Port::rx_queue` hands it out once and
// it is not Sync, so it is polled from one thread at a time. The mbuf array
// holds no live mbuf between bursts (each Burst frees its mbufs on drop).
unsafe impl Send for RxQueue {}

impl RxQueue {
    pub(super) fn new(port: Arc<PortShared>, queue: u16) -> RxQueue {
        RxQueue {
            port,
            queue,
            mbufs: [ptr::null_mut(); BURST_SIZE],
        }
    }

    /// Receives up to [`BURST_SIZE`] frames. They are freed, with one
    /// `calea_pktmbuf_free_burst`, when the returned [`Burst`] is dropped.
    #[inline]
    pub fn recv(&mut self) -> Burst<'_> {
        let port = self.port.id;
        // SAFETY: the port is configured with this queue (Port::rx_queue checked
        // the range) and the array has room for BURST_SIZE pointers. Polling a
        // queue of a port not yet started returns 0.
        let n = unsafe {
            sys::rte_eth_rx_burst(port, self.queue, self.mbufs.as_mut_ptr(), BURST_SIZE as u16)
        };
        Burst {
            mbufs: &mut self.mbufs[..usize::from(n).min(BURST_SIZE)],
            timestamp: self.port.timestamp,
        }
    }

    /// Registers the calling thread with DPDK if it is not an EAL thread yet
    /// (see [`super::register_thread`]); the queue proves the EAL is up.
    /// Returns the thread's lcore id.
    ///
    /// # Errors
    /// [`DpdkError::Named`] if DPDK has no free lcore slot.
    pub fn register_thread(&self) -> Result<u32, DpdkError> {
        super::register_thread(self.port.pool.eal())
    }

    /// Port id.
    pub fn port_id(&self) -> u16 {
        self.port.id
    }

    /// Queue id on the port.
    pub fn queue_id(&self) -> u16 {
        self.queue
    }
}

/// Frames of one RX burst, valid until dropped (then returned to the pool).
#[derive(Debug)]
pub struct Burst<'q> {
    mbufs: &'q mut [*mut sys::rte_mbuf],
    timestamp: Option<super::shared::RxTimestamp>,
}

impl Burst<'_> {
    /// Number of frames.
    #[inline]
    pub fn len(&self) -> usize {
        self.mbufs.len()
    }

    /// Whether the burst is empty (the queue had nothing).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.mbufs.is_empty()
    }

    #[inline(always)]
    fn mbuf(&self, i: usize) -> &sys::rte_mbuf {
        // SAFETY: every pointer in `mbufs` is a live mbuf that rx_burst handed
        // us and that stays owned by this burst until drop.
        unsafe { &*self.mbufs[i] }
    }

    /// Bytes of frame `i`'s first segment (the whole frame unless
    /// [`Burst::is_segmented`]). Panics if `i >= len()`, like slice indexing.
    #[inline(always)]
    pub fn frame(&self, i: usize) -> &[u8] {
        let m = self.mbuf(i);
        // SAFETY: a received mbuf's first segment holds data_len initialised
        // bytes at buf_addr + data_off, inside its buffer, until freed.
        unsafe {
            let data = m.buf_addr.cast::<u8>().add(usize::from(m.data_off));
            std::slice::from_raw_parts(data, usize::from(m.data_len))
        }
    }

    /// Length of frame `i` on the wire (all segments).
    #[inline(always)]
    pub fn wire_len(&self, i: usize) -> u32 {
        self.mbuf(i).pkt_len
    }

    /// Whether frame `i` spans several segments ([`Burst::frame`] has only the first).
    #[inline(always)]
    pub fn is_segmented(&self, i: usize) -> bool {
        self.mbuf(i).nb_segs > 1
    }

    /// Puts the bytes of frame `i`'s segments after the first, in order, into
    /// `out`, as many as fit; returns how many it put. Panics if `i >= len()`.
    pub fn later_segments<'s>(&'s self, i: usize, out: &mut [&'s [u8]]) -> usize {
        let mut seg = self.mbuf(i).next;
        let mut n = 0;
        for slot in out.iter_mut() {
            if seg.is_null() {
                break;
            }
            // SAFETY: a received mbuf's chain (`next` links, NULL-terminated)
            // is owned with its first segment by this burst until drop; each
            // segment holds data_len initialised bytes at buf_addr + data_off.
            unsafe {
                let m = &*seg;
                let data = m.buf_addr.cast::<u8>().add(usize::from(m.data_off));
                *slot = std::slice::from_raw_parts(data, usize::from(m.data_len));
                seg = m.next;
            }
            n += 1;
        }
        n
    }

    /// Device RX timestamp of frame `i` in ns since the Unix epoch, when the
    /// port delivers one.
    #[inline(always)]
    pub fn timestamp_ns(&self, i: usize) -> Option<u64> {
        let ts = self.timestamp?;
        let m = self.mbuf(i);
        if m.ol_flags & ts.flag == 0 {
            return None;
        }
        // SAFETY: the offset was returned by rte_mbuf_dyn_rx_timestamp_register
        // and checked to fit an u64 inside rte_mbuf; the PMD wrote the field
        // (flag set). Dynfields are not 8-byte aligned in general: read unaligned.
        let raw = unsafe {
            ptr::read_unaligned(ptr::from_ref(m).cast::<u8>().add(ts.offset).cast::<u64>())
        };
        Some(raw.saturating_mul(ts.to_ns))
    }

    /// Prefetches the start of frame `i`'s data; out of range is a no-op.
    #[inline(always)]
    pub fn prefetch(&self, i: usize) {
        if let Some(&p) = self.mbufs.get(i) {
            // SAFETY: live mbuf (see `mbuf`); reads only the header fields.
            let m = unsafe { &*p };
            prefetch(
                m.buf_addr
                    .cast::<u8>()
                    .wrapping_add(usize::from(m.data_off)),
            );
        }
    }
}

impl Drop for Burst<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.mbufs.is_empty() {
            return;
        }
        // SAFETY: the pointers are live mbufs owned by this burst, freed once
        // here; no frame slice can outlive the burst (they borrow it).
        unsafe { sys::calea_pktmbuf_free_burst(self.mbufs.as_mut_ptr(), self.mbufs.len() as u32) };
    }
}
