//! The state a port shares with its RX queues: whichever is dropped last stops
//! and closes the device, and gives up the port's ownership.

use std::sync::atomic::{AtomicBool, Ordering};

use dpdk_sys as sys;

use super::port::RssMode;
use super::Mempool;

/// Ports owned by a live [`Port`](super::Port): a second owner would stop and close the
/// device under the first one's queues.
pub(super) static OWNED: [AtomicBool; sys::RTE_MAX_ETHPORTS as usize] =
    [const { AtomicBool::new(false) }; sys::RTE_MAX_ETHPORTS as usize];

/// How to read the RX timestamp a PMD stores in an mbuf dynamic field.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RxTimestamp {
    /// Byte offset of the `rte_mbuf_timestamp_t` dynfield in the mbuf.
    pub(crate) offset: usize,
    /// `ol_flags` bit telling that the field is valid for this mbuf.
    pub(crate) flag: u64,
    /// Multiply the stored value by this to get ns since the Unix epoch.
    pub(crate) to_ns: u64,
}

/// What a [`Port`](super::Port) and its RX queues share; the last one dropped
/// stops and closes the device.
#[derive(Debug)]
pub(crate) struct PortShared {
    pub(crate) id: u16,
    pub(crate) rx_queues: u16,
    pub(crate) timestamp: Option<RxTimestamp>,
    pub(crate) rss: RssMode,
    pub(crate) mtu: u16,
    pub(crate) scatter: bool,
    /// Per RX queue: already handed out as an [`RxQueue`](super::RxQueue).
    pub(crate) taken: Vec<AtomicBool>,
    pub(crate) started: AtomicBool,
    pub(crate) pool: Mempool,
}

impl Drop for PortShared {
    fn drop(&mut self) {
        // SAFETY: no RxQueue is alive (each holds this Arc), so nothing polls
        // the port; stop and close are the documented teardown.
        unsafe {
            if self.started.load(Ordering::Acquire) {
                sys::rte_eth_dev_stop(self.id);
            }
            sys::rte_eth_dev_close(self.id);
        }
        if let Some(owned) = OWNED.get(usize::from(self.id)) {
            owned.store(false, Ordering::Release);
        }
    }
}
