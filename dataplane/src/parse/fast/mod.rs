//! The fast path of [`super::dissect`]: Ethernet, at most two VLAN tags, then
//! four MPLS labels or a PPPoE session (a broadband access network's
//! subscriber traffic), IPv4 without options or fragmentation or IPv6 without extension
//! headers, and TCP, ICMP or UDP to a non-tunnel port - nearly every frame a probe
//! sees - also inside one tunnel: GTP-U (a mobile core's user plane), VXLAN,
//! ERSPAN or GRE-TAP (traffic mirrors), GRE carrying IP or IP in IP, either
//! IP family outside and inside, or an MPLS pseudowire carrying Ethernet. A handful
//! of loads and compares, all on fixed-size arrays; anything else (or anything
//! odd) is left to the general walker, which gives the same result for every
//! frame this path accepts (property-tested). The worker's screens share it:
//! [`screen_ipv4`] ([`common_ipv4`], and [`common_tunnel_ipv4`] for IPv4 in
//! a tunnel in IPv4, in one pass), [`screen_ipv6`] ([`common_ipv6`], and
//! [`common_tunnel_ipv6`] for either family in a tunnel in IPv6, in one
//! pass), [`common_tunnel_ipv4_ipv6`] for IPv6 in a tunnel in IPv4, and
//! [`common_pseudowire`] for either family in a pseudowire.

mod ip;
mod link;
mod screen;
mod tunnel;
mod untagged;

use super::ip::IpProtocol;
use super::ipv4::HEADER_LEN as IPV4_HEADER_LEN;
use super::ipv6::HEADER_LEN as IPV6_HEADER_LEN;
use super::udp::HEADER_LEN as UDP_HEADER_LEN;
use super::{ipv4, ipv6};
use super::{Dissection, IpKeys, IpSpan, MacPair, Transport};
use ip::ip_packet;
use link::link;
use tunnel::{common_tunnel, Tunnel};

pub use screen::{
    common_ipv4, common_ipv6, common_pseudowire, common_tunnel_ipv4, common_tunnel_ipv4_ipv6,
    common_tunnel_ipv6, screen_ipv4, screen_ipv6, Ipv4Screen, Ipv6Screen, Link, Pseudowire,
    TunnelV4, TunnelV4V6, TunnelV6,
};
pub use untagged::{
    common_gtpu_untagged, common_ipv4_untagged, common_ipv4_untagged_port, common_ipv6_untagged,
};

/// The MAC pair at the start of `frame` (zeros where it is shorter).
#[inline(always)]
pub fn mac_pair(frame: &[u8]) -> MacPair {
    // Whole six-byte copies: the pair is often read back at once.
    let Some((dst, rest)) = frame.split_first_chunk::<6>() else {
        return MacPair::default();
    };
    let Some((src, _)) = rest.split_first_chunk::<6>() else {
        return MacPair::default();
    };
    MacPair {
        dst: *dst,
        src: *src,
    }
}

/// [`mac_pair`] as two 48-bit big-endian integers, `[dst, src]`, read with two
/// loads (zeros where the frame is shorter): how the worker screens a
/// frame's MACs against the MAC filter.
#[inline(always)]
pub fn mac_words(frame: &[u8]) -> [u64; 2] {
    let Some(eth) = frame.first_chunk::<12>() else {
        return [0, 0];
    };
    let [a, b, c, d, e, f, g, h, i, j, k, l] = *eth;
    let head = u64::from_be_bytes([a, b, c, d, e, f, g, h]);
    let tail = u32::from_be_bytes([i, j, k, l]);
    [head >> 16, (head & 0xffff) << 32 | u64::from(tail)]
}

/// The addresses (source, destination) of one IP layer, as table keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Addrs {
    /// IPv4, host byte order (`u32::from(Ipv4Addr)`).
    V4([u32; 2]),
    /// IPv6 (`u128::from(Ipv6Addr)`).
    V6([u128; 2]),
}

impl Addrs {
    /// The layer as the tables' keys, as a [`Dissection`]'s layers give them.
    #[inline(always)]
    pub fn keys(&self) -> IpKeys<'_> {
        match self {
            Addrs::V4(a) => IpKeys::V4(*a),
            Addrs::V6(a) => IpKeys::V6(a),
        }
    }
}

/// What the fast path finds in a common frame.
pub(super) struct Common {
    pub(super) ip: Addrs,
    pub(super) transport: Transport,
    /// Offset of the IP header.
    pub(super) l3: usize,
    /// Bytes from the IP header to the end of the transport header.
    pub(super) l3_len: usize,
}

/// Fills `out` and returns true if `frame` is a common TCP/UDP/ICMP-over-IP
/// frame, or one in a tunnel ([`common_tunnel`](tunnel::common_tunnel)); returns
/// false, leaving `out` untouched, for anything else.
#[inline(always)]
pub(super) fn dissect_common(frame: &[u8], out: &mut Dissection) -> bool {
    match common(frame) {
        Some(c) => fill(frame, Tunnel::none(c), out),
        None => dissect_common_tunnel(frame, out),
    }
}

/// The tunnel part of [`dissect_common`], out of line: only frames the common
/// parser declines get here.
#[inline(never)]
fn dissect_common_tunnel(frame: &[u8], out: &mut Dissection) -> bool {
    match common_tunnel(frame) {
        Some(t) => fill(frame, t, out),
        None => false,
    }
}

/// Writes the fast-path dissection of `frame`, `t`, into `out`. Layer by
/// layer, with no array between: values staged in memory by narrower stores
/// than the loads that read them back stalled every tunnelled frame.
#[inline(always)]
fn fill(frame: &[u8], t: Tunnel, out: &mut Dissection) -> bool {
    out.clear();
    let push = |out: &mut Dissection, layer: Addrs| match layer {
        Addrs::V4(a) => out.push_v4(a).is_ok(),
        Addrs::V6(a) => out.push_v6(a).is_ok(),
    };
    let pushed = t.outer.is_none_or(|outer| push(out, outer))
        && push(out, t.inner.ip)
        && out.push_mac(mac_pair(frame)).is_ok()
        && t.inner_eth.is_none_or(|at| {
            out.push_mac(mac_pair(frame.get(at..).unwrap_or(&[])))
                .is_ok()
        });
    // Not reached: a dissection holds more than two IP layers and MAC pairs.
    if !pushed {
        return false;
    }
    out.transport = Some(t.inner.transport);
    // l3 < end <= frame.len() <= u16::MAX (checked in `link`).
    out.l3_offset = Some(t.l3 as u16);
    out.header_len = (t.inner.l3 + t.inner.l3_len) as u16;
    // Where the layers are, as the walker records them. Every header the
    // fast path takes is a base one (IPv4 without options, IPv6 without
    // extension headers); of a tunnel's, only UDP is the outer layer's own
    // transport header.
    let base = |a: &Addrs| match a {
        Addrs::V4(_) => (IPV4_HEADER_LEN, ipv4::field::PROTOCOL),
        Addrs::V6(_) => (IPV6_HEADER_LEN, ipv6::field::NEXT_HEADER),
    };
    let (mut inner, header_len) = (0, out.header_len);
    if let (Some(outer), Some(span)) = (&t.outer, out.span_mut(0)) {
        let (len, proto_at) = base(outer);
        let proto = frame.get(t.l3 + proto_at).copied().unwrap_or(0);
        let l4 = t.l3 + len;
        let own = if proto == u8::from(IpProtocol::Udp) {
            UDP_HEADER_LEN
        } else {
            0
        };
        *span = IpSpan {
            at: t.l3 as u16,
            l4: l4 as u16,
            end: (l4 + own) as u16,
            proto,
        };
        inner = 1;
    }
    if let Some(span) = out.span_mut(inner) {
        *span = IpSpan {
            at: t.inner.l3 as u16,
            l4: (t.inner.l3 + base(&t.inner.ip).0) as u16,
            end: header_len,
            proto: t.inner.transport.proto,
        };
    }
    out.set_eth_at_of(0, 0);
    if let Some(at) = t.inner_eth {
        out.set_eth_at_of(1, at as u16);
    }
    true
}

/// The one parser behind [`common_ipv4`], [`common_ipv6`] and [`dissect_common`], so all accept
/// exactly the same frames. Inlined into each: what a caller does not use (the
/// transport fields, for the screen) is never computed.
#[inline(always)]
pub(super) fn common(frame: &[u8]) -> Option<Common> {
    let (ethertype, l3, packet) = link(frame)?;
    let (ip, transport, l3_len) = ip_packet(ethertype, packet)?;
    Some(Common {
        ip,
        transport,
        l3,
        l3_len,
    })
}

#[cfg(test)]
mod test;
