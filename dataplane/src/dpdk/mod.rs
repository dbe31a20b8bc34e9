//! Safe RAII wrappers over DPDK, and the huge-page memory the packet path's
//! tables live in (the only unsafe code in dataplane).
//!
//! Ownership mirrors DPDK's rules: [`Eal`] (one per process) outlives every
//! [`Mempool`], which outlives every [`Port`] using it, which outlives every
//! [`RxQueue`] taken from it. Each handle keeps the one it depends on alive,
//! so teardown (queue → port stop/close → pool free → `rte_eal_cleanup`)
//! happens in the right order whatever order the caller drops them in.

mod eal;
mod error;
mod hugemem;
mod mempool;
mod mtu;
mod port;
mod rx;
mod shared;

pub use eal::{register_thread, Eal};
pub use error::DpdkError;
pub use hugemem::HugeArray;
pub use mempool::Mempool;
pub use mtu::{Mtu, FRAME_OVERHEAD, MIN_MTU};
pub use port::{port_by_name, port_socket, Port, PortStats, RssMode, RxOptions};
pub use rx::{Burst, RxQueue, BURST_SIZE};

/// Hints the CPU to pull the cache line at `p` into all cache levels.
///
/// Used on frame `i + 3` while frame `i` is classified. Never faults, even on
/// a dangling address.
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: prefetch is a hint; it never dereferences or faults, and SSE
        // is part of the x86_64 baseline.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: rte_prefetch0 is a hint and never dereferences `p`.
    unsafe {
        dpdk_sys::rte_prefetch0(p.cast())
    };
}
