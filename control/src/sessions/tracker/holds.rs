//! Which binding holds each address and prefix: an ordered map of prefixes
//! (hosts are /32 and /128), so the holders of everything overlapping a new
//! prefix, and the longest prefix holding an address, are found without a scan.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use dataplane::targets::Target;

/// An IPv4 or IPv6 prefix with its host bits cleared; IPv4 in the low 32 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct Prefix {
    v6: bool,
    net: u128,
    len: u8,
}

impl Prefix {
    /// The prefix an address target covers; `None` for a MAC or an impossible length.
    pub(super) fn of(target: &Target) -> Option<Self> {
        match *target {
            Target::Ipv4(a) => Some(Self::v4(a, 32)),
            Target::Ipv6(a) => Some(Self::v6(a, 128)),
            Target::Ipv4Net(a, len) if len <= 32 => Some(Self::v4(a, len)),
            Target::Ipv6Net(a, len) if len <= 128 => Some(Self::v6(a, len)),
            Target::Ipv4Net(..)
            | Target::Ipv6Net(..)
            | Target::Mac(_)
            | Target::Ipv4Udp(..)
            | Target::Ipv6Udp(..)
            | Target::Ipv4Tcp(..)
            | Target::Ipv6Tcp(..) => None,
        }
    }

    /// The host prefix of `addr`.
    pub(super) fn host(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(a) => Self::v4(a, 32),
            IpAddr::V6(a) => Self::v6(a, 128),
        }
    }

    fn v4(a: Ipv4Addr, len: u8) -> Self {
        Self {
            v6: false,
            net: u128::from(u32::from(a)) & mask(32, len),
            len,
        }
    }

    fn v6(a: Ipv6Addr, len: u8) -> Self {
        Self {
            v6: true,
            net: u128::from(a) & mask(128, len),
            len,
        }
    }

    fn width(self) -> u8 {
        if self.v6 {
            128
        } else {
            32
        }
    }

    /// The same network cut to `len` bits (`len` ≤ its own length).
    fn shortened(self, len: u8) -> Self {
        Self {
            net: self.net & mask(self.width(), len),
            len,
            ..self
        }
    }

    /// Its last address.
    fn last(self) -> u128 {
        self.net | !mask(self.width(), self.len) & mask(self.width(), self.width())
    }

    /// Whether the two share an address (one contains the other).
    pub(super) fn overlaps(self, other: Self) -> bool {
        let len = self.len.min(other.len);
        self.v6 == other.v6 && self.shortened(len) == other.shortened(len)
    }

    /// The target it is, in the canonical form (hosts as addresses).
    pub(super) fn target(self) -> Target {
        // Truncations are exact: an IPv4 network is below 2^32.
        let v4 = Ipv4Addr::from(u32::try_from(self.net).unwrap_or(0));
        match (self.v6, self.len) {
            (false, 32) => Target::Ipv4(v4),
            (false, len) => Target::Ipv4Net(v4, len),
            (true, 128) => Target::Ipv6(Ipv6Addr::from(self.net)),
            (true, len) => Target::Ipv6Net(Ipv6Addr::from(self.net), len),
        }
    }
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.target() {
            Target::Ipv4(a) => write!(f, "{a}"),
            Target::Ipv6(a) => write!(f, "{a}"),
            Target::Ipv4Net(a, l) => write!(f, "{a}/{l}"),
            Target::Ipv6Net(a, l) => write!(f, "{a}/{l}"),
            Target::Mac(_)
            | Target::Ipv4Udp(..)
            | Target::Ipv6Udp(..)
            | Target::Ipv4Tcp(..)
            | Target::Ipv6Tcp(..) => Ok(()),
        }
    }
}

/// The top `len` of `width` bits set (as a u128 whose low `width` bits count).
fn mask(width: u8, len: u8) -> u128 {
    let len = len.min(width);
    let ones = |n: u8| u128::MAX.checked_shr(128 - u32::from(n)).unwrap_or(0);
    if len == 0 {
        0
    } else {
        ones(width) & !ones(width - len)
    }
}

/// Prefix → the slot of the binding holding it, with a count per prefix
/// length so a longest-prefix look-up tries only lengths in use.
pub(super) struct Holds {
    map: BTreeMap<Prefix, u32>,
    lens: [[u32; 129]; 2],
}

impl Default for Holds {
    fn default() -> Self {
        Self {
            map: BTreeMap::new(),
            lens: [[0; 129]; 2],
        }
    }
}

impl Holds {
    pub(super) fn get(&self, p: Prefix) -> Option<u32> {
        self.map.get(&p).copied()
    }

    pub(super) fn insert(&mut self, p: Prefix, slot: u32) {
        if self.map.insert(p, slot).is_none() {
            if let Some(n) = self.count(p) {
                *n += 1;
            }
        }
    }

    /// Removes `p` if `slot` holds it.
    pub(super) fn remove(&mut self, p: Prefix, slot: u32) {
        if self.map.get(&p) == Some(&slot) {
            self.map.remove(&p);
            if let Some(n) = self.count(p) {
                *n = n.saturating_sub(1);
            }
        }
    }

    fn count(&mut self, p: Prefix) -> Option<&mut u32> {
        self.lens
            .get_mut(usize::from(p.v6))
            .and_then(|l| l.get_mut(usize::from(p.len)))
    }

    fn in_use(&self, v6: bool, len: u8) -> bool {
        self.lens
            .get(usize::from(v6))
            .and_then(|l| l.get(usize::from(len)))
            .is_some_and(|&n| n > 0)
    }

    /// Appends every held prefix overlapping `p` (inside it, equal, or
    /// containing it) with its slot.
    pub(super) fn overlapping(&self, p: Prefix, out: &mut Vec<(Prefix, u32)>) {
        let from = Prefix { len: 0, ..p };
        let to = Prefix {
            net: p.last(),
            len: u8::MAX,
            ..p
        };
        out.extend(self.map.range(from..=to).map(|(&q, &s)| (q, s)));
        for len in (0..p.len).filter(|&l| self.in_use(p.v6, l)) {
            let q = p.shortened(len);
            // A shorter prefix starting at `p`'s first address was found by the range.
            if q.net != p.net {
                if let Some(s) = self.get(q) {
                    out.push((q, s));
                }
            }
        }
    }

    /// The slot holding the longest prefix that contains `addr`.
    pub(super) fn longest(&self, addr: IpAddr) -> Option<u32> {
        let host = Prefix::host(addr);
        (0..=host.len)
            .rev()
            .filter(|&l| self.in_use(host.v6, l))
            .find_map(|l| self.get(host.shortened(l)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net6(s: &str, len: u8) -> Prefix {
        Prefix::of(&Target::Ipv6Net(
            s.parse().unwrap_or(Ipv6Addr::UNSPECIFIED),
            len,
        ))
        .unwrap_or(Prefix::host(IpAddr::V4(Ipv4Addr::UNSPECIFIED)))
    }

    #[test]
    fn host_bits_are_cleared_and_hosts_are_addresses() {
        let p = Prefix::of(&Target::Ipv4Net(Ipv4Addr::new(10, 1, 2, 3), 16));
        assert_eq!(
            p.map(Prefix::target),
            Some(Target::Ipv4Net(Ipv4Addr::new(10, 1, 0, 0), 16))
        );
        let h = Prefix::of(&Target::Ipv4Net(Ipv4Addr::new(10, 1, 2, 3), 32));
        assert_eq!(
            h.map(Prefix::target),
            Some(Target::Ipv4(Ipv4Addr::new(10, 1, 2, 3)))
        );
        assert_eq!(
            Prefix::of(&Target::Ipv4Net(Ipv4Addr::UNSPECIFIED, 33)),
            None
        );
        assert_eq!(Prefix::of(&Target::Mac([0; 6])), None);
        let all = Prefix::of(&Target::Ipv6Net(Ipv6Addr::UNSPECIFIED, 0));
        assert_eq!(all.map(Prefix::last), Some(u128::MAX));
    }

    #[test]
    fn overlaps_in_both_directions_and_not_beside() {
        let mut h = Holds::default();
        h.insert(net6("2001:db8:1::", 48), 1);
        h.insert(net6("2001:db8:2:100::", 56), 2);
        h.insert(net6("2001:db8:3::", 48), 3);
        let mut out = Vec::new();
        // Inside slot 1's /48.
        h.overlapping(net6("2001:db8:1:200::", 56), &mut out);
        assert_eq!(out.iter().map(|&(_, s)| s).collect::<Vec<_>>(), [1]);
        out.clear();
        // Contains slot 2's /56.
        h.overlapping(net6("2001:db8:2::", 48), &mut out);
        assert_eq!(out.iter().map(|&(_, s)| s).collect::<Vec<_>>(), [2]);
        out.clear();
        h.overlapping(net6("2001:db8:4::", 48), &mut out);
        assert!(out.is_empty());
        let a = "2001:db8:2:1ff::1"
            .parse()
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_eq!(h.longest(a), Some(2));
        h.remove(net6("2001:db8:2:100::", 56), 9);
        assert_eq!(h.longest(a), Some(2), "only the holder removes its hold");
        h.remove(net6("2001:db8:2:100::", 56), 2);
        assert_eq!(h.longest(a), None);
    }
}
