//! Zero-copy header parsing. One file per protocol layer (smoltcp-style views);
//! [`dissect`] walks a whole frame, through any encapsulation, into a fixed-size
//! [`Dissection`] without allocating. No input byte sequence can make it panic.
#![forbid(unsafe_code)]

use std::net::{Ipv4Addr, Ipv6Addr};

#[macro_use]
mod bytes;
pub mod checksum;
mod dissect;
pub mod erspan;
pub mod ethernet;
mod fast;
pub mod gre;
pub mod gtpu;
pub mod icmp;
pub mod ip;
pub mod ipv4;
pub mod ipv6;
pub mod ipv6ext;
pub mod mpls;
pub mod pppoe;
pub mod tcp;
pub mod udp;
pub mod vlan;
pub mod vxlan;

pub use dissect::{
    dissect, dissect_cut, dissect_general, MAX_EXT_HEADERS, MAX_MPLS_LABELS, MAX_TUNNELS,
    MAX_VLAN_TAGS,
};
pub use fast::{
    common_gtpu_untagged, common_ipv4, common_ipv4_untagged, common_ipv6, common_ipv6_untagged,
    common_pseudowire, common_tunnel_ipv4, common_tunnel_ipv4_ipv6, common_tunnel_ipv6, mac_pair,
    mac_words, screen_ipv4, screen_ipv6, Addrs, Ipv4Screen, Ipv6Screen, Link, Pseudowire, TunnelV4,
    TunnelV4V6, TunnelV6,
};

/// Most IP layers recorded per frame (outer + tunnelled inner ones).
pub const MAX_IP_LAYERS: usize = 4;
/// Most Ethernet layers recorded per frame (outer + ERSPAN/VXLAN inner ones).
pub const MAX_ETH_LAYERS: usize = 3;

/// Why a frame could not be parsed. Small and `Copy`: it indexes drop counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseError {
    /// The buffer ends inside a header.
    Truncated,
    /// A length field is below its minimum or points past the buffer.
    BadLength,
    /// A version field holds a value this parser does not accept (e.g. IPv4 version != 4).
    BadVersion,
    /// More nested VLAN tags, MPLS labels, extension headers or tunnels than allowed.
    TooDeep,
}

impl ParseError {
    /// Number of variants, for sizing per-error counter arrays.
    pub const COUNT: usize = 4;
    /// Dense index of this error, `0..COUNT`.
    pub fn index(self) -> usize {
        match self {
            ParseError::Truncated => 0,
            ParseError::BadLength => 1,
            ParseError::BadVersion => 2,
            ParseError::TooDeep => 3,
        }
    }
}

/// Source and destination addresses of one IP layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpPair {
    /// An IPv4 header's addresses.
    V4 {
        /// Source address.
        src: Ipv4Addr,
        /// Destination address.
        dst: Ipv4Addr,
    },
    /// An IPv6 header's addresses.
    V6 {
        /// Source address.
        src: Ipv6Addr,
        /// Destination address.
        dst: Ipv6Addr,
    },
}

/// Source and destination MAC addresses of one Ethernet layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MacPair {
    /// Destination MAC (first, as on the wire: the fast path copies both at once).
    pub dst: [u8; 6],
    /// Source MAC.
    pub src: [u8; 6],
}

/// The innermost transport header found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transport {
    /// IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, ...).
    pub proto: u8,
    /// Source port (0 for ICMP).
    pub src_port: u16,
    /// Destination port (0 for ICMP).
    pub dst_port: u16,
}

/// The addresses of one IP layer as table keys, borrowed from a [`Dissection`]:
/// what classification reads, without copying IPv6 addresses around.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpKeys<'a> {
    /// IPv4 `[src, dst]`, host byte order (`u32::from(Ipv4Addr)`).
    V4([u32; 2]),
    /// IPv6 `[src, dst]` (`u128::from(Ipv6Addr)`).
    V6(&'a [u128; 2]),
}

/// Everything classification, hand-off and encoding need from one frame.
/// Fixed size, reused across frames: [`dissect`] overwrites it. Addresses are kept
/// as table keys (IPv4 as `u32`, IPv6 as `u128`, one array per family) so that
/// classification reads them in place.
#[derive(Clone, Copy, Debug, Default)]
pub struct Dissection {
    v4: [[u32; 2]; MAX_IP_LAYERS],
    v6: [[u128; 2]; MAX_IP_LAYERS],
    /// Bit `i` set: IP layer `i` is IPv6 (its addresses are in `v6[i]`).
    v6_layers: u8,
    ip_count: u8,
    macs: [MacPair; MAX_ETH_LAYERS],
    mac_count: u8,
    /// Innermost transport header, if the innermost IP packet is a first (or only)
    /// fragment carrying TCP/UDP/ICMP/ICMPv6.
    pub transport: Option<Transport>,
    /// Offset of the outermost IP header in the frame (after L2, VLANs, MPLS, PPPoE),
    /// `None` for non-IP frames. Content handover sends `frame[l3_offset..]`.
    pub l3_offset: Option<u16>,
    /// Bytes from the start of the frame up to the end of the innermost parsed header:
    /// the innermost transport header, else the innermost IP header with its extension
    /// headers/options, else the last L2 header. Headers-mode hand-off copies exactly
    /// `frame[..header_len]`: never a payload byte.
    pub header_len: u16,
}

/// Two dissections are equal when every layer and field they report is: stale
/// entries past the layer counts do not count.
impl PartialEq for Dissection {
    fn eq(&self, other: &Self) -> bool {
        self.ips().eq(other.ips())
            && self.macs() == other.macs()
            && self.transport == other.transport
            && self.l3_offset == other.l3_offset
            && self.header_len == other.header_len
    }
}

impl Eq for Dissection {}

impl Dissection {
    /// IP layers, outermost first.
    pub fn ips(&self) -> impl Iterator<Item = IpPair> + '_ {
        self.ip_keys().map(|k| match k {
            IpKeys::V4([s, d]) => IpPair::V4 {
                src: Ipv4Addr::from(s),
                dst: Ipv4Addr::from(d),
            },
            IpKeys::V6(&[s, d]) => IpPair::V6 {
                src: Ipv6Addr::from(s),
                dst: Ipv6Addr::from(d),
            },
        })
    }
    /// Source and destination of the only IP layer, when it is IPv4: nearly
    /// every frame, which the per-packet lookups then take without walking
    /// [`Self::ip_keys`].
    #[inline(always)]
    pub fn single_v4(&self) -> Option<[u32; 2]> {
        (self.ip_count == 1 && self.v6_layers == 0).then_some(self.v4[0])
    }

    /// The addresses (`[outer, inner]`) of a frame whose only IP layers are two
    /// IPv4 ones, as [`common_tunnel_ipv4`] screens them.
    #[inline(always)]
    pub fn two_v4(&self) -> Option<[[u32; 2]; 2]> {
        (self.ip_count == 2 && self.v6_layers == 0).then_some([self.v4[0], self.v4[1]])
    }

    /// The addresses (`(outer, inner)`) of a frame whose only IP layers are
    /// IPv4 outside and IPv6 inside, as [`common_tunnel_ipv4_ipv6`] screens them.
    #[inline(always)]
    pub fn ipv4_ipv6(&self) -> Option<([u32; 2], [u128; 2])> {
        (self.ip_count == 2 && self.v6_layers == 0b10).then_some((self.v4[0], self.v6[1]))
    }

    /// The addresses (`(outer, inner)`) of a frame whose only IP layers are
    /// IPv6 outside and either family inside, as [`common_tunnel_ipv6`]
    /// screens them.
    pub fn ipv6_tunnel(&self) -> Option<([u128; 2], Addrs)> {
        let inner = if self.v6_layers & 0b10 != 0 {
            Addrs::V6(self.v6[1])
        } else {
            Addrs::V4(self.v4[1])
        };
        (self.ip_count == 2 && self.v6_layers & 1 != 0).then_some((self.v6[0], inner))
    }

    /// [`Self::single_v4`] for a frame whose only IP layer is IPv6.
    #[inline(always)]
    pub fn single_v6(&self) -> Option<[u128; 2]> {
        (self.ip_count == 1 && self.v6_layers == 1).then_some(self.v6[0])
    }

    /// IP layers as table keys, outermost first: [`Self::ips`] without conversions
    /// or copies, for the per-packet path.
    #[inline]
    pub fn ip_keys(&self) -> impl Iterator<Item = IpKeys<'_>> + '_ {
        let n = usize::from(self.ip_count).min(MAX_IP_LAYERS);
        self.v4[..n]
            .iter()
            .zip(&self.v6[..n])
            .enumerate()
            .map(|(i, (&v4, v6))| {
                if self.v6_layers & (1 << i) != 0 {
                    IpKeys::V6(v6)
                } else {
                    IpKeys::V4(v4)
                }
            })
    }
    /// Ethernet layers, outermost first.
    pub fn macs(&self) -> &[MacPair] {
        &self.macs[..usize::from(self.mac_count).min(MAX_ETH_LAYERS)]
    }
    /// Forgets every layer, as before the first [`dissect`]; cheaper than a new value.
    #[inline]
    pub fn clear(&mut self) {
        self.ip_count = 0;
        self.v6_layers = 0;
        self.mac_count = 0;
        self.transport = None;
        self.l3_offset = None;
        self.header_len = 0;
    }
    /// Records one more IP layer.
    #[inline]
    pub(crate) fn push_ip(&mut self, pair: IpPair) -> Result<(), ParseError> {
        match pair {
            IpPair::V4 { src, dst } => self.push_v4([src.into(), dst.into()]),
            IpPair::V6 { src, dst } => self.push_v6([src.into(), dst.into()]),
        }
    }
    /// Records one more IPv4 layer (`[src, dst]`).
    #[inline]
    pub(crate) fn push_v4(&mut self, addrs: [u32; 2]) -> Result<(), ParseError> {
        let i = usize::from(self.ip_count);
        *self.v4.get_mut(i).ok_or(ParseError::TooDeep)? = addrs;
        self.ip_count += 1;
        Ok(())
    }
    /// Records one more IPv6 layer (`[src, dst]`).
    #[inline]
    pub(crate) fn push_v6(&mut self, addrs: [u128; 2]) -> Result<(), ParseError> {
        let i = usize::from(self.ip_count);
        *self.v6.get_mut(i).ok_or(ParseError::TooDeep)? = addrs;
        self.v6_layers |= 1 << i;
        self.ip_count += 1;
        Ok(())
    }
    /// Records one more Ethernet layer.
    #[inline]
    pub(crate) fn push_mac(&mut self, pair: MacPair) -> Result<(), ParseError> {
        let slot = self
            .macs
            .get_mut(usize::from(self.mac_count))
            .ok_or(ParseError::TooDeep)?;
        *slot = pair;
        self.mac_count += 1;
        Ok(())
    }
}
