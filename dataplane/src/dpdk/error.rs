//! Errors from the DPDK layer, carrying DPDK's own explanation.

use std::ffi::CStr;

/// A DPDK call failed. `reason` is `rte_strerror` of the errno DPDK reported.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DpdkError {
    /// `rte_eal_init` failed (bad argument, no memory, already initialised...).
    #[error("EAL init failed: {reason}")]
    EalInit {
        /// DPDK's text for the error.
        reason: String,
    },
    /// The EAL is already initialised in this process (DPDK allows one per process).
    #[error("EAL already initialised in this process")]
    EalAlreadyInitialised,
    /// An EAL argument contains a NUL byte.
    #[error("EAL argument contains a NUL byte")]
    BadArgument,
    /// A named DPDK object could not be created or found.
    #[error("{what} `{name}`: {reason}")]
    Named {
        /// The operation that failed.
        what: &'static str,
        /// The object's name.
        name: String,
        /// DPDK's text for the error.
        reason: String,
    },
    /// An ethdev call failed on a port.
    #[error("port {port}: {what}: {reason}")]
    Port {
        /// Port id.
        port: u16,
        /// The operation that failed.
        what: &'static str,
        /// DPDK's text for the error.
        reason: String,
    },
    /// A request the device cannot satisfy (too many queues, queue taken twice...).
    #[error("port {port}: {reason}")]
    Unsupported {
        /// Port id.
        port: u16,
        /// What was asked and why it cannot be done.
        reason: String,
    },
}

/// DPDK's text for `errnum` (a positive errno or rte_errno value).
pub(crate) fn strerror(errnum: i32) -> String {
    // SAFETY: rte_strerror returns a pointer to a static or thread-local NUL-
    // terminated string, valid until the next call on this thread; we copy it.
    let p = unsafe { dpdk_sys::rte_strerror(errnum.abs()) };
    if p.is_null() {
        return format!("error {errnum}");
    }
    // SAFETY: non-null, NUL-terminated (see above).
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// DPDK's text for the calling thread's current `rte_errno`.
pub(crate) fn last_error() -> String {
    // SAFETY: reads the thread-local rte_errno; no preconditions.
    strerror(unsafe { dpdk_sys::calea_rte_errno() })
}
