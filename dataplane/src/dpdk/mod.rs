//! Safe RAII wrappers over DPDK, and the huge-page memory the packet path's
//! tables live in (the only unsafe code in dataplane).
//!
//! Ownership mirrors DPDK's rules: [`Eal`] (one per process) outlives every
//! [`Mempool`], which outlives every [`Port`] using it, which outlives every
//! [`RxQueue`] taken from it. Each handle keeps the one it depends on alive,
//! so teardown (queue → port stop/close → pool free → `rte_eal_cleanup`)
//! happens in the right order whatever order the caller drops them in.

#[cfg(feature = "dpdk")]
mod eal;
#[cfg(feature = "dpdk")]
mod error;
mod hugemem;
#[cfg(feature = "dpdk")]
mod mempool;
// Without DPDK only the configured `Mtu` is used; the device-side rules serve `port`.
#[cfg_attr(not(feature = "dpdk"), allow(dead_code))]
mod mtu;
#[cfg(feature = "dpdk")]
mod port;
#[cfg(feature = "dpdk")]
mod rx;
#[cfg(feature = "dpdk")]
mod shared;

#[cfg(feature = "dpdk")]
pub use eal::{register_thread, Eal};
#[cfg(feature = "dpdk")]
pub use error::DpdkError;
pub use hugemem::HugeArray;
#[cfg(feature = "dpdk")]
pub use mempool::Mempool;
pub use mtu::{Mtu, FRAME_OVERHEAD, MIN_MTU};
#[cfg(feature = "dpdk")]
pub use port::{port_by_name, port_socket, Port, PortStats, RssMode, RxOptions};
#[cfg(feature = "dpdk")]
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
    #[cfg(all(not(target_arch = "x86_64"), feature = "dpdk"))]
    // SAFETY: rte_prefetch0 is a hint and never dereferences `p`.
    unsafe {
        dpdk_sys::rte_prefetch0(p.cast())
    };
    // Elsewhere without DPDK there is no portable hint: a plain lookup.
    #[cfg(not(any(target_arch = "x86_64", feature = "dpdk")))]
    let _ = p;
}

/// Hints the CPU to pull the cache line at `p` in for writing: owned by this
/// core at once, where [`prefetch`] would fetch a line another core last read
/// shared, and the write would then ask for it again. For the hand-off's
/// records, which the control plane's core reads between two fills.
///
/// Never faults, even on a dangling address.
#[inline(always)]
pub fn prefetch_write<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetchw is a hint; it never dereferences or faults. Every
    // x86-64 CPU runs it (older Intel ones as a no-op), and it changes no
    // register or flag.
    unsafe {
        core::arch::asm!("prefetchw [{}]", in(reg) p, options(nostack, preserves_flags, readonly));
    }
    #[cfg(not(target_arch = "x86_64"))]
    prefetch(p);
}
