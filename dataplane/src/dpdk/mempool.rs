//! Packet-buffer pools.

use std::ffi::CString;
use std::ptr::NonNull;
use std::sync::Arc;

use super::error::{last_error, DpdkError};
use super::Eal;

/// A DPDK pktmbuf pool. Clones share it; it is freed when the last clone
/// (including those held by ports) is dropped.
#[derive(Clone, Debug)]
pub struct Mempool {
    inner: Arc<PoolInner>,
}

#[derive(Debug)]
struct PoolInner {
    raw: NonNull<dpdk_sys::rte_mempool>,
    data_room: u16,
    eal: Eal,
}

// SAFETY: DPDK mempools are multi-producer/multi-consumer safe; the pointer is
// only used through DPDK's thread-safe API.
unsafe impl Send for PoolInner {}
// SAFETY: as above.
unsafe impl Sync for PoolInner {}

impl Drop for PoolInner {
    fn drop(&mut self) {
        // SAFETY: the pool came from rte_pktmbuf_pool_create (or its packed
        // form), and every port
        // whose queues draw from it holds a clone, so no queue uses it any more.
        unsafe { dpdk_sys::rte_mempool_free(self.raw.as_ptr()) };
    }
}

impl Mempool {
    /// Creates a pool of `n` mbufs (`n = 2^k - 1` is optimal) with a per-lcore
    /// cache of `cache` and `data_room` bytes of data room each (headroom
    /// included; 2176 fits a 2048-byte frame).
    ///
    /// # Errors
    /// [`DpdkError::Named`] if the name is taken or memory is short.
    pub fn new(
        eal: &Eal,
        name: &str,
        n: u32,
        cache: u32,
        data_room: u16,
    ) -> Result<Mempool, DpdkError> {
        Self::on_socket(eal, name, n, cache, data_room, None)
    }

    /// As [`Mempool::new`], with the memory on NUMA node `socket` (a port's:
    /// its NIC writes every frame there); `None`: the calling thread's node.
    ///
    /// # Errors
    /// [`DpdkError::Named`] if the name is taken or memory is short (on that node).
    pub fn on_socket(
        eal: &Eal,
        name: &str,
        n: u32,
        cache: u32,
        data_room: u16,
        socket: Option<u32>,
    ) -> Result<Mempool, DpdkError> {
        let cname = CString::new(name).map_err(|_| DpdkError::BadArgument)?;
        // SAFETY: the EAL is initialised (`eal`).
        let packed = unsafe { dpdk_sys::calea_mbufs_may_span_pages() } != 0;
        // Without hugepages DPDK gives each mbuf a 4 KiB page of its own; all
        // then share one L1 set and a worker reading a burst's headers and
        // frames missed L1 on each (perf/results/dataplane-2026-12-06.md).
        // With hugepages DPDK packs them itself.
        let what = if packed {
            "calea_pktmbuf_pool_create_packed"
        } else {
            "rte_pktmbuf_pool_create"
        };
        tracing::debug!(pool = name, packed, ?socket, "creating mbuf pool");
        // SAFETY: the EAL is initialised; cname is a valid C string for the call.
        let raw = unsafe {
            let socket = socket.map_or_else(
                || dpdk_sys::rte_socket_id() as i32,
                |s| i32::try_from(s).unwrap_or(-1),
            );
            if packed {
                dpdk_sys::calea_pktmbuf_pool_create_packed(
                    cname.as_ptr(),
                    n,
                    cache,
                    data_room,
                    socket,
                )
            } else {
                dpdk_sys::rte_pktmbuf_pool_create(cname.as_ptr(), n, cache, 0, data_room, socket)
            }
        };
        let raw = NonNull::new(raw).ok_or_else(|| DpdkError::Named {
            what,
            name: name.to_owned(),
            reason: last_error(),
        })?;
        Ok(Mempool {
            inner: Arc::new(PoolInner {
                raw,
                data_room,
                eal: eal.clone(),
            }),
        })
    }

    /// Mbufs currently free in the pool (ring plus caches).
    pub fn available(&self) -> u32 {
        // SAFETY: valid pool pointer (kept alive by self).
        unsafe { dpdk_sys::rte_mempool_avail_count(self.inner.raw.as_ptr()) }
    }

    /// Bytes of frame one mbuf holds: its data room less DPDK's headroom.
    pub fn frame_room(&self) -> u16 {
        self.inner
            .data_room
            .saturating_sub(dpdk_sys::CALEA_PKTMBUF_HEADROOM)
    }

    /// The EAL the pool lives in.
    pub(super) fn eal(&self) -> &Eal {
        &self.inner.eal
    }

    pub(super) fn as_ptr(&self) -> *mut dpdk_sys::rte_mempool {
        self.inner.raw.as_ptr()
    }
}
