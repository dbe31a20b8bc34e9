//! Choosing a port's MTU and whether its RX must scatter frames over several
//! mbufs. Kept apart from the FFI so every rule is tested without a NIC.
//!
//! A mirror or TAP port carries whatever the mirrored links carry, jumbo frames
//! and mirror encapsulation included; a NIC left at DPDK's 1500-byte default
//! drops the larger frames before any worker sees them, so an intercept would
//! silently miss them.

/// Bytes a frame adds to its MTU in the mbuf: Ethernet header and two VLAN
/// tags (QinQ); the FCS is stripped by the NIC.
pub const FRAME_OVERHEAD: u16 = 14 + 2 * 4;

/// Smallest MTU a port takes: IPv4's minimum (RFC 791). Some drivers report
/// a lower one (net_pcap: none at all).
pub const MIN_MTU: u16 = 68;

/// A common jumbo MTU, taken where nothing else is asked.
pub const JUMBO_MTU: u16 = 9000;

/// The MTU asked of a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mtu {
    /// This MTU, or the device's largest if that is lower.
    UpTo(u16),
    /// Exactly this MTU; refused if the device cannot take it.
    Exactly(u16),
}

impl Default for Mtu {
    fn default() -> Self {
        Mtu::UpTo(JUMBO_MTU)
    }
}

/// What the device reports about frame sizes (`rte_eth_dev_info`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct DeviceLimits {
    pub(crate) min_mtu: u16,
    pub(crate) max_mtu: u16,
    /// Whether the device offers `RTE_ETH_RX_OFFLOAD_SCATTER`.
    pub(crate) scatter: bool,
}

/// The receive setup chosen for a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RxFrames {
    pub(crate) mtu: u16,
    /// Switch on scattered RX: the largest frame exceeds one mbuf.
    pub(crate) scatter: bool,
    /// The largest frame exceeds one mbuf but the device offers no scattered
    /// RX: whether such frames arrive (chained) depends on the driver.
    pub(crate) unscattered_overflow: bool,
}

/// Picks the MTU for `asked` within `dev`'s limits, given mbufs holding
/// `mbuf_bytes` of frame each.
///
/// # Errors
/// A reason naming the device's range when `asked` cannot be met.
pub(crate) fn choose(asked: Mtu, dev: DeviceLimits, mbuf_bytes: u16) -> Result<RxFrames, String> {
    let min = dev.min_mtu.max(MIN_MTU);
    let range = || format!("the device takes MTU {min}..={}", dev.max_mtu);
    let mtu = match asked {
        Mtu::Exactly(m) if m < min || m > dev.max_mtu => {
            return Err(format!("MTU {m} asked, {}", range()))
        }
        Mtu::Exactly(m) => m,
        Mtu::UpTo(m) if m < min => return Err(format!("MTU {m} asked, {}", range())),
        Mtu::UpTo(m) => m.min(dev.max_mtu),
    };
    let overflow = u32::from(mtu) + u32::from(FRAME_OVERHEAD) > u32::from(mbuf_bytes);
    Ok(RxFrames {
        mtu,
        scatter: overflow && dev.scatter,
        unscattered_overflow: overflow && !dev.scatter,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NIC: DeviceLimits = DeviceLimits {
        min_mtu: 68,
        max_mtu: 9702,
        scatter: true,
    };
    const MBUF: u16 = 2048;

    #[test]
    fn the_default_is_a_jumbo_mtu_scattered_over_standard_mbufs() {
        let f = choose(Mtu::default(), NIC, MBUF).unwrap();
        assert_eq!(
            f,
            RxFrames {
                mtu: 9000,
                scatter: true,
                unscattered_overflow: false
            }
        );
    }

    #[test]
    fn up_to_is_lowered_to_the_device_maximum() {
        let small = DeviceLimits {
            max_mtu: 1500,
            ..NIC
        };
        assert_eq!(choose(Mtu::UpTo(9000), small, MBUF).unwrap().mtu, 1500);
        assert_eq!(choose(Mtu::UpTo(1400), NIC, MBUF).unwrap().mtu, 1400);
    }

    #[test]
    fn exactly_outside_the_device_range_is_refused_with_the_range() {
        let e = choose(Mtu::Exactly(9800), NIC, MBUF).unwrap_err();
        assert!(e.contains("9800") && e.contains("68..=9702"), "{e}");
        let e = choose(Mtu::Exactly(60), NIC, MBUF).unwrap_err();
        assert!(e.contains("60") && e.contains("68..=9702"), "{e}");
        assert!(choose(Mtu::UpTo(60), NIC, MBUF).is_err());
        assert_eq!(choose(Mtu::Exactly(9702), NIC, MBUF).unwrap().mtu, 9702);
        assert_eq!(choose(Mtu::Exactly(68), NIC, MBUF).unwrap().mtu, 68);
    }

    #[test]
    fn no_mtu_below_the_ipv4_minimum_even_where_the_device_reports_none() {
        let lax = DeviceLimits { min_mtu: 0, ..NIC };
        let e = choose(Mtu::Exactly(67), lax, MBUF).unwrap_err();
        assert!(e.contains("68..=9702"), "{e}");
        assert_eq!(choose(Mtu::Exactly(68), lax, MBUF).unwrap().mtu, 68);
    }

    #[test]
    fn scatter_is_asked_exactly_when_the_largest_frame_exceeds_one_mbuf() {
        // 2026 + 22 = 2048 fits; one byte more does not.
        let fits = choose(Mtu::Exactly(MBUF - FRAME_OVERHEAD), NIC, MBUF).unwrap();
        assert!(!fits.scatter && !fits.unscattered_overflow);
        let over = choose(Mtu::Exactly(MBUF - FRAME_OVERHEAD + 1), NIC, MBUF).unwrap();
        assert!(over.scatter && !over.unscattered_overflow);
    }

    #[test]
    fn a_device_without_scattered_rx_is_flagged_not_switched_on() {
        let plain = DeviceLimits {
            scatter: false,
            ..NIC
        };
        let f = choose(Mtu::Exactly(9000), plain, MBUF).unwrap();
        assert!(!f.scatter && f.unscattered_overflow);
        let f = choose(Mtu::Exactly(1500), plain, MBUF).unwrap();
        assert!(!f.scatter && !f.unscattered_overflow);
    }

    #[test]
    fn the_largest_mtu_with_tiny_mbufs_does_not_overflow_the_arithmetic() {
        let wide = DeviceLimits {
            max_mtu: u16::MAX,
            ..NIC
        };
        let f = choose(Mtu::Exactly(u16::MAX), wide, 0).unwrap();
        assert!(f.scatter && f.mtu == u16::MAX);
    }
}
