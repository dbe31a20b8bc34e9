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
    common_gtpu_untagged, common_ipv4, common_ipv4_untagged, common_ipv4_untagged_port,
    common_ipv6, common_ipv6_untagged, common_pseudowire, common_tunnel_ipv4,
    common_tunnel_ipv4_ipv6, common_tunnel_ipv6, mac_pair, mac_words, screen_ipv4, screen_ipv6,
    Addrs, Ipv4Screen, Ipv6Screen, Link, Pseudowire, TunnelV4, TunnelV4V6, TunnelV6,
};

pub use li_types::{MAX_ETH_LAYERS, MAX_IP_LAYERS};

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

/// Where one IP layer's headers are in the frame, as the walk found them: what
/// the hand-off needs to deliver that layer's packet (or only its headers)
/// without parsing the frame again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IpSpan {
    /// Offset of the IP header.
    pub at: u16,
    /// Offset of what the IP header (with its options or extension headers)
    /// carries: the transport header, a tunnel's header, or a fragment's data.
    pub l4: u16,
    /// End of the layer's own headers: past its TCP, UDP or ICMP header if it
    /// carries one (whole), else `l4`. Never past a payload byte of the layer.
    pub end: u16,
    /// The protocol at `l4` (after extension headers; 44 for a non-first
    /// IPv6 fragment).
    pub proto: u8,
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
    /// Where each IP layer is (see [`IpSpan`]).
    spans: [IpSpan; MAX_IP_LAYERS],
    macs: [MacPair; MAX_ETH_LAYERS],
    /// Offset of each Ethernet header.
    eth_at: [u16; MAX_ETH_LAYERS],
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
            && self.spans() == other.spans()
            && self.macs() == other.macs()
            && self.eth_offsets() == other.eth_offsets()
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
    /// Where each IP layer of [`Self::ips`] is in the frame, outermost first.
    pub fn spans(&self) -> &[IpSpan] {
        &self.spans[..usize::from(self.ip_count).min(MAX_IP_LAYERS)]
    }
    /// Offset of each Ethernet header of [`Self::macs`], outermost first.
    pub fn eth_offsets(&self) -> &[u16] {
        &self.eth_at[..usize::from(self.mac_count).min(MAX_ETH_LAYERS)]
    }
    /// The span of IP layer `i`, to fill in.
    #[inline]
    pub(crate) fn span_mut(&mut self, i: usize) -> Option<&mut IpSpan> {
        self.spans.get_mut(i)
    }
    /// The span of the IP layer pushed last, to fill in as the walk goes on.
    #[inline]
    pub(crate) fn last_span(&mut self) -> Option<&mut IpSpan> {
        let i = usize::from(self.ip_count).checked_sub(1)?;
        self.spans.get_mut(i)
    }
    /// Sets the offset of the Ethernet header pushed last.
    #[inline]
    pub(crate) fn set_eth_at(&mut self, at: u16) {
        if let Some(i) = usize::from(self.mac_count).checked_sub(1) {
            self.set_eth_at_of(i, at);
        }
    }
    /// Sets the offset of Ethernet header `i`.
    #[inline]
    pub(crate) fn set_eth_at_of(&mut self, i: usize, at: u16) {
        if let Some(slot) = self.eth_at.get_mut(i) {
            *slot = at;
        }
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
