//! The DPDK Environment Abstraction Layer: one per process.

use std::cell::RefCell;
use std::ffi::CString;
use std::os::raw::c_char;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::error::{last_error, DpdkError};

/// `rte_lcore_id()` of a thread DPDK does not know (`LCORE_ID_ANY`).
const LCORE_ID_ANY: u32 = u32::MAX;

/// DPDK refuses a second `rte_eal_init` in a process, even after cleanup.
static INITIALISED: AtomicBool = AtomicBool::new(false);

/// Handle on the initialised EAL. Clones share it; `rte_eal_cleanup` runs when
/// the last clone (including those held by pools and ports) is dropped.
#[derive(Clone, Debug)]
pub struct Eal {
    _guard: Arc<EalGuard>,
}

#[derive(Debug)]
struct EalGuard;

impl Drop for EalGuard {
    fn drop(&mut self) {
        // SAFETY: the EAL was initialised (a guard exists only after a
        // successful rte_eal_init) and every DPDK object holds a clone of the
        // guard, so none is alive any more.
        let rc = unsafe { dpdk_sys::rte_eal_cleanup() };
        if rc != 0 {
            tracing::warn!(rc, "rte_eal_cleanup failed");
        }
    }
}

impl Eal {
    /// Initialises the EAL with `args` (as on a DPDK command line, `args[0]`
    /// being the program name), e.g. `["probe", "--no-huge", "-m", "512",
    /// "--no-pci", "--file-prefix", "t1", "--vdev", "net_pcap0,rx_pcap=a.pcap"]`.
    ///
    /// # Errors
    /// [`DpdkError::EalAlreadyInitialised`] on a second call in the process,
    /// [`DpdkError::EalInit`] with DPDK's reason otherwise.
    pub fn init(args: &[String]) -> Result<Eal, DpdkError> {
        if INITIALISED.swap(true, Ordering::SeqCst) {
            return Err(DpdkError::EalAlreadyInitialised);
        }
        let owned: Vec<CString> = args
            .iter()
            .map(|a| CString::new(a.as_str()))
            .collect::<Result<_, _>>()
            .map_err(|_| DpdkError::BadArgument)?;
        // rte_eal_init may permute argv; give it its own array, keep the strings alive.
        let mut argv: Vec<*mut c_char> = owned.iter().map(|s| s.as_ptr().cast_mut()).collect();
        let argc = i32::try_from(argv.len()).map_err(|_| DpdkError::BadArgument)?;
        // SAFETY: argv holds argc valid NUL-terminated strings that outlive the
        // call; DPDK only reorders the pointer array, which we own. The
        // INITIALISED flag guarantees a single call per process.
        let rc = unsafe { dpdk_sys::rte_eal_init(argc, argv.as_mut_ptr()) };
        if rc < 0 {
            return Err(DpdkError::EalInit {
                reason: last_error(),
            });
        }
        tracing::info!(lcore = Self::lcore_id(), "DPDK EAL initialised");
        Ok(Eal {
            _guard: Arc::new(EalGuard),
        })
    }

    /// The calling thread's DPDK lcore id (`u32::MAX` for unregistered threads).
    pub fn lcore_id() -> u32 {
        // SAFETY: reads a thread-local; valid on any thread.
        unsafe { dpdk_sys::rte_lcore_id() }
    }

    /// Number of ethdev ports the EAL found (probed vdevs and NICs).
    pub fn port_count(&self) -> u16 {
        // SAFETY: the EAL is initialised (self exists).
        unsafe { dpdk_sys::rte_eth_dev_count_avail() }
    }
}

/// Registers the calling non-EAL thread with DPDK so it gets an lcore id and,
/// with it, a per-lcore mempool cache (without one every mbuf alloc/free goes
/// to the shared ring). Call once at the start of each worker thread; a thread
/// that already has an lcore id keeps it. The registration lasts until the
/// thread exits, which releases the lcore id (`rte_thread_unregister`), so
/// threads that come and go do not use up DPDK's `RTE_MAX_LCORE` slots; it
/// keeps the EAL up until then.
///
/// # Errors
/// [`DpdkError::Named`] if DPDK has no free lcore slot.
pub fn register_thread(eal: &Eal) -> Result<u32, DpdkError> {
    if Eal::lcore_id() != LCORE_ID_ANY {
        return Ok(Eal::lcore_id());
    }
    // SAFETY: `eal` proves the EAL is initialised.
    let rc = unsafe { dpdk_sys::rte_thread_register() };
    if rc != 0 {
        return Err(DpdkError::Named {
            what: "rte_thread_register",
            name: std::thread::current().name().unwrap_or("?").to_owned(),
            reason: last_error(),
        });
    }
    REGISTRATION.with(|r| *r.borrow_mut() = Some(Registration { _eal: eal.clone() }));
    Ok(Eal::lcore_id())
}

thread_local! {
    /// The calling thread's registration, if [`register_thread`] made one:
    /// dropped when the thread exits.
    static REGISTRATION: RefCell<Option<Registration>> = const { RefCell::new(None) };
}

/// A thread's registration with DPDK; holds the EAL up while it lasts.
struct Registration {
    _eal: Eal,
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: runs on the thread that registered (a thread-local's
        // destructor), whose lcore id rte_thread_register assigned; the EAL is
        // still up (this registration holds a clone of it, dropped after).
        unsafe { dpdk_sys::rte_thread_unregister() };
    }
}
