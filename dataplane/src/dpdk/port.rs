//! Ethernet ports: configuration (RSS, MTU and scattered RX, RX timestamps),
//! start/stop, statistics.

use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use dpdk_sys as sys;

use super::error::{strerror, DpdkError};
use super::mtu::{self, DeviceLimits, Mtu};
use super::rx::RxQueue;
use super::shared::{PortShared, RxTimestamp, OWNED};
use super::Mempool;

/// Symmetric Toeplitz key (0x6d5a repeated): both directions of a flow hash to
/// the same queue, so one worker sees a whole conversation.
const SYMMETRIC_RSS_BYTE_PAIR: [u8; 2] = [0x6d, 0x5a];
const DEFAULT_RSS_KEY_LEN: usize = 40;

/// What a port is asked for besides its queues.
#[derive(Clone, Copy, Debug, Default)]
pub struct RxOptions {
    /// Device RX timestamps, where the driver's are wall time (see [`Port::has_timestamps`]).
    pub timestamps: bool,
    /// The MTU: frames up to it plus Ethernet and VLAN headers are received.
    pub mtu: Mtu,
}

/// How received packets are spread over the port's RX queues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RssMode {
    /// Symmetric RSS over IP/TCP/UDP with these `RTE_ETH_RSS_*` hash types.
    Symmetric(u64),
    /// No RSS: the device distributes (or not) by itself (e.g. one queue per `rx_pcap=`).
    Off,
}

/// Port counters from the device (`rte_eth_stats_get`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Packets received successfully.
    pub ipackets: u64,
    /// Bytes received successfully.
    pub ibytes: u64,
    /// Packets dropped by the hardware because no RX descriptor was free (workers too slow).
    pub imissed: u64,
    /// Erroneous received packets.
    pub ierrors: u64,
    /// RX mbuf allocation failures (pool exhausted).
    pub rx_nombuf: u64,
}

/// A configured Ethernet port. Stopped and closed when the `Port` and every
/// [`RxQueue`] taken from it are dropped.
#[derive(Debug)]
pub struct Port {
    shared: Arc<PortShared>,
}

fn check(port: u16, what: &'static str, rc: i32) -> Result<(), DpdkError> {
    if rc < 0 {
        return Err(DpdkError::Port {
            port,
            what,
            reason: strerror(rc),
        });
    }
    Ok(())
}

/// The ethdev port id of a device name, e.g. `net_pcap0` or `0000:3b:00.0`.
///
/// # Errors
/// [`DpdkError::Named`] if no such port exists.
pub fn port_by_name(_eal: &super::Eal, name: &str) -> Result<u16, DpdkError> {
    let cname = CString::new(name).map_err(|_| DpdkError::BadArgument)?;
    let mut id = 0u16;
    // SAFETY: EAL initialised (an Eal exists); both pointers valid for the call.
    let rc = unsafe { sys::rte_eth_dev_get_port_by_name(cname.as_ptr(), &mut id) };
    if rc < 0 {
        return Err(DpdkError::Named {
            what: "rte_eth_dev_get_port_by_name",
            name: name.to_owned(),
            reason: strerror(rc),
        });
    }
    Ok(id)
}

/// The NUMA node (socket) a port's device sits on; `None` when the device
/// does not say (vdevs, single-node hosts).
pub fn port_socket(_eal: &super::Eal, port_id: u16) -> Option<u32> {
    // SAFETY: EAL initialised (an Eal exists); a pure query (-1 for an unknown port).
    let socket = unsafe { sys::rte_eth_dev_socket_id(port_id) };
    u32::try_from(socket).ok()
}

/// Unit of the RX timestamp each driver stores, as a multiplier to ns since
/// the epoch. net_pcap stores the capture record's time in microseconds (it
/// opens even nanosecond captures at microsecond precision: sub-µs is lost). NIC
/// PMDs store raw device clock ticks, not wall time: those are not used.
fn timestamp_scale(driver: &str) -> Option<u64> {
    match driver {
        "net_pcap" => Some(1_000),
        _ => None,
    }
}

/// Drivers that chain a frame larger than one mbuf without offering
/// `RTE_ETH_RX_OFFLOAD_SCATTER` (net_pcap copies into as many as it needs).
fn chains_unasked(driver: &str) -> bool {
    driver == "net_pcap"
}

impl Port {
    /// Configures `port_id` with `rx_queues` RX queues of `rx_desc` descriptors
    /// each, filled from `pool`, no TX queue, promiscuous. Symmetric RSS on
    /// IP/TCP/UDP where the device supports it; the MTU of `opts`, with
    /// scattered RX where its frames exceed one of `pool`'s mbufs; RX
    /// timestamps as `opts` asks and the device allows.
    /// Call [`Port::start`] afterwards.
    ///
    /// # Errors
    /// [`DpdkError::Unsupported`] if the device has fewer queues or cannot take
    /// the MTU, [`DpdkError::Port`] with DPDK's reason if a configuration step fails.
    pub fn configure(
        port_id: u16,
        rx_queues: u16,
        rx_desc: u16,
        pool: &Mempool,
        opts: RxOptions,
    ) -> Result<Port, DpdkError> {
        // SAFETY: pure check on the port id.
        if unsafe { sys::rte_eth_dev_is_valid_port(port_id) } == 0 {
            return Err(DpdkError::Unsupported {
                port: port_id,
                reason: "no such port".to_owned(),
            });
        }
        let owned = OWNED
            .get(usize::from(port_id))
            .ok_or_else(|| DpdkError::Unsupported {
                port: port_id,
                reason: "port id out of range".to_owned(),
            })?;
        if owned.swap(true, Ordering::AcqRel) {
            return Err(DpdkError::Unsupported {
                port: port_id,
                reason: "port already configured by a live Port".to_owned(),
            });
        }
        let port = Self::setup(port_id, rx_queues, rx_desc, pool, opts);
        if port.is_err() {
            owned.store(false, Ordering::Release);
        }
        port
    }

    fn setup(
        port_id: u16,
        rx_queues: u16,
        rx_desc: u16,
        pool: &Mempool,
        opts: RxOptions,
    ) -> Result<Port, DpdkError> {
        let mut info = sys::rte_eth_dev_info::default();
        // SAFETY: valid port; info is a properly sized out-parameter.
        check(port_id, "dev_info_get", unsafe {
            sys::rte_eth_dev_info_get(port_id, &mut info)
        })?;
        if rx_queues == 0 || rx_queues > info.max_rx_queues {
            return Err(DpdkError::Unsupported {
                port: port_id,
                reason: format!(
                    "{rx_queues} RX queues asked, device has {}",
                    info.max_rx_queues
                ),
            });
        }
        let driver = if info.driver_name.is_null() {
            String::new()
        } else {
            // SAFETY: non-null NUL-terminated driver name owned by the PMD.
            unsafe { CStr::from_ptr(info.driver_name) }
                .to_string_lossy()
                .into_owned()
        };

        let mut conf = sys::rte_eth_conf::default();
        let wanted = sys::CALEA_ETH_RSS_IP | sys::CALEA_ETH_RSS_TCP | sys::CALEA_ETH_RSS_UDP;
        let hash_types = wanted & info.flow_type_rss_offloads;
        let key_len = match usize::from(info.hash_key_size) {
            0 => DEFAULT_RSS_KEY_LEN,
            n => n,
        };
        let mut key: Vec<u8> = SYMMETRIC_RSS_BYTE_PAIR
            .iter()
            .copied()
            .cycle()
            .take(key_len)
            .collect();
        let rss = if hash_types != 0 {
            conf.rxmode.mq_mode = sys::RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_key = key.as_mut_ptr();
            conf.rx_adv_conf.rss_conf.rss_key_len = u8::try_from(key_len).unwrap_or(u8::MAX);
            conf.rx_adv_conf.rss_conf.rss_hf = hash_types;
            RssMode::Symmetric(hash_types)
        } else {
            RssMode::Off
        };
        let limits = DeviceLimits {
            min_mtu: info.min_mtu,
            max_mtu: info.max_mtu,
            scatter: info.rx_offload_capa & sys::CALEA_ETH_RX_OFFLOAD_SCATTER != 0,
        };
        let frames = mtu::choose(opts.mtu, limits, pool.frame_room()).map_err(|reason| {
            DpdkError::Unsupported {
                port: port_id,
                reason,
            }
        })?;
        conf.rxmode.mtu = u32::from(frames.mtu);
        if frames.scatter {
            conf.rxmode.offloads |= sys::CALEA_ETH_RX_OFFLOAD_SCATTER;
        }
        if frames.unscattered_overflow && !chains_unasked(&driver) {
            tracing::warn!(
                port = port_id,
                %driver,
                mtu = frames.mtu,
                mbuf_bytes = pool.frame_room(),
                "device offers no scattered RX: frames larger than one mbuf may be dropped \
                 by the device (lower the MTU or use larger mbufs)"
            );
        }
        // net_pcap stamps every mbuf without advertising the offload; NICs
        // that advertise it need it switched on.
        let scale = timestamp_scale(&driver).filter(|_| opts.timestamps);
        if scale.is_some() && info.rx_offload_capa & sys::CALEA_ETH_RX_OFFLOAD_TIMESTAMP != 0 {
            conf.rxmode.offloads |= sys::CALEA_ETH_RX_OFFLOAD_TIMESTAMP;
        }
        // SAFETY: valid port, not started; conf (and the key it points to) live
        // across the call, DPDK copies what it keeps.
        check(port_id, "dev_configure", unsafe {
            sys::rte_eth_dev_configure(port_id, rx_queues, 0, &conf)
        })?;
        drop(key);
        let mut mtu = 0u16;
        // SAFETY: configured port; mtu is a valid out-parameter.
        check(port_id, "get_mtu", unsafe {
            sys::rte_eth_dev_get_mtu(port_id, &mut mtu)
        })?;
        // SAFETY: valid port id.
        let socket = unsafe { sys::rte_eth_dev_socket_id(port_id) };
        let socket = u32::try_from(socket).unwrap_or(u32::MAX); // SOCKET_ID_ANY
        for q in 0..rx_queues {
            // SAFETY: configured port, q < rx_queues; NULL rxconf means device
            // defaults; the pool outlives the port (PortShared holds a clone).
            check(port_id, "rx_queue_setup", unsafe {
                sys::rte_eth_rx_queue_setup(
                    port_id,
                    q,
                    rx_desc,
                    socket,
                    std::ptr::null(),
                    pool.as_ptr(),
                )
            })?;
        }
        let timestamp = match scale {
            Some(to_ns) => Self::timestamp_field(port_id, to_ns)?,
            None => None,
        };
        // Some vdevs cannot change promiscuity (-ENOTSUP): they receive everything anyway.
        // SAFETY: valid configured port.
        let _ = unsafe { sys::rte_eth_promiscuous_enable(port_id) };
        tracing::info!(
            port = port_id,
            %driver,
            rx_queues,
            ?rss,
            mtu,
            scatter = frames.scatter,
            timestamps = timestamp.is_some(),
            "port configured"
        );
        Ok(Port {
            shared: Arc::new(PortShared {
                id: port_id,
                rx_queues,
                timestamp,
                rss,
                mtu,
                scatter: frames.scatter,
                taken: (0..rx_queues).map(|_| AtomicBool::new(false)).collect(),
                started: AtomicBool::new(false),
                pool: pool.clone(),
            }),
        })
    }

    fn timestamp_field(port: u16, to_ns: u64) -> Result<Option<RxTimestamp>, DpdkError> {
        let (mut offset, mut flag) = (0i32, 0u64);
        // SAFETY: out-parameters valid; registration is idempotent and returns
        // the field the PMD uses.
        check(port, "rx_timestamp_register", unsafe {
            sys::rte_mbuf_dyn_rx_timestamp_register(&mut offset, &mut flag)
        })?;
        Ok(match usize::try_from(offset) {
            Ok(offset) if offset + 8 <= std::mem::size_of::<sys::rte_mbuf>() => Some(RxTimestamp {
                offset,
                flag,
                to_ns,
            }),
            _ => None,
        })
    }

    /// Starts receiving.
    ///
    /// # Errors
    /// [`DpdkError::Port`] with DPDK's reason.
    pub fn start(&self) -> Result<(), DpdkError> {
        let id = self.shared.id;
        // SAFETY: configured port with all RX queues set up.
        check(id, "dev_start", unsafe { sys::rte_eth_dev_start(id) })?;
        self.shared.started.store(true, Ordering::Release);
        Ok(())
    }

    /// Stops receiving. Refused while an [`RxQueue`] of this port is alive,
    /// since DPDK forbids stopping a port that is being polled.
    ///
    /// # Errors
    /// [`DpdkError::Unsupported`] while queues are alive, [`DpdkError::Port`] otherwise.
    pub fn stop(&mut self) -> Result<(), DpdkError> {
        let id = self.shared.id;
        if Arc::strong_count(&self.shared) > 1 {
            return Err(DpdkError::Unsupported {
                port: id,
                reason: "stop refused: RX queues still in use".to_owned(),
            });
        }
        if self.shared.started.swap(false, Ordering::AcqRel) {
            // SAFETY: started port, and no queue handle exists (checked above).
            check(id, "dev_stop", unsafe { sys::rte_eth_dev_stop(id) })?;
        }
        Ok(())
    }

    /// Takes RX queue `queue` for one worker. Each queue can be taken once:
    /// DPDK RX queues are single-consumer.
    ///
    /// # Errors
    /// [`DpdkError::Unsupported`] if out of range or already taken.
    pub fn rx_queue(&self, queue: u16) -> Result<RxQueue, DpdkError> {
        let taken =
            self.shared
                .taken
                .get(usize::from(queue))
                .ok_or_else(|| DpdkError::Unsupported {
                    port: self.shared.id,
                    reason: format!(
                        "RX queue {queue} out of range (port has {})",
                        self.shared.rx_queues
                    ),
                })?;
        if taken.swap(true, Ordering::AcqRel) {
            return Err(DpdkError::Unsupported {
                port: self.shared.id,
                reason: format!("RX queue {queue} already taken"),
            });
        }
        Ok(RxQueue::new(Arc::clone(&self.shared), queue))
    }

    /// Device counters. Safe to call while workers poll.
    ///
    /// # Errors
    /// [`DpdkError::Port`] with DPDK's reason.
    pub fn stats(&self) -> Result<PortStats, DpdkError> {
        let mut s = sys::rte_eth_stats::default();
        let id = self.shared.id;
        // SAFETY: valid port; s is a properly sized out-parameter. Stats reads
        // are allowed concurrently with RX.
        check(id, "stats_get", unsafe {
            sys::rte_eth_stats_get(id, &mut s)
        })?;
        Ok(PortStats {
            ipackets: s.ipackets,
            ibytes: s.ibytes,
            imissed: s.imissed,
            ierrors: s.ierrors,
            rx_nombuf: s.rx_nombuf,
        })
    }

    /// Port id.
    pub fn id(&self) -> u16 {
        self.shared.id
    }

    /// Number of RX queues configured.
    pub fn rx_queue_count(&self) -> u16 {
        self.shared.rx_queues
    }

    /// Whether symmetric RSS is on, and over which hash types.
    pub fn rss(&self) -> RssMode {
        self.shared.rss
    }

    /// The MTU the device took.
    pub fn mtu(&self) -> u16 {
        self.shared.mtu
    }

    /// Whether scattered RX is on: a frame may span several mbufs.
    pub fn scatter(&self) -> bool {
        self.shared.scatter
    }

    /// Whether mbufs carry a device RX timestamp convertible to wall time.
    pub fn has_timestamps(&self) -> bool {
        self.shared.timestamp.is_some()
    }
}
