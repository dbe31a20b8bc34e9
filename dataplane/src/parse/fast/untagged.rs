//! The untagged lanes' screens: a common shape (IPv4, IPv6, IPv4 in GTP-U)
//! of an untagged frame read at fixed offsets, for the worker's first loops.

use super::ip::{ipv4_addrs, ipv6_addrs, tunnel_port};
use crate::parse::bytes::be16;
use crate::parse::bytes::be32;
use crate::parse::ethernet::{self, EtherType, HEADER_LEN as ETH_HEADER_LEN};
use crate::parse::gtpu;
use crate::parse::icmp::HEADER_LEN as ICMP_HEADER_LEN;
use crate::parse::ip::IpProtocol;
use crate::parse::ipv4::{self, Ipv4View, HEADER_LEN as IPV4_HEADER_LEN};
use crate::parse::ipv6::{self, Ipv6View, HEADER_LEN as IPV6_HEADER_LEN};
use crate::parse::tcp::{TcpView, HEADER_LEN as TCP_MIN_HEADER_LEN};
use crate::parse::udp::{self, UdpView, HEADER_LEN as UDP_HEADER_LEN};

/// Whether an untagged frame's header `h` is IPv4 without options and no
/// fragment. The EtherType and the IPv4 header's first byte are the 24 high
/// bits of one word: tested with one load (through a helper that read them
/// apart, the EtherType test took two loads instead of one).
#[inline(always)]
fn untagged_plain_ipv4(h: &[u8]) -> bool {
    const IP: usize = ETH_HEADER_LEN;
    let want = (u32::from(u16::from(EtherType::Ipv4)) << 8) | u32::from(ipv4::VER_IHL_NO_OPTIONS);
    be32(h, ethernet::field::ETHERTYPE.start) >> 8 == want
        && be16(h, IP + ipv4::field::FLG_OFF.start) & ipv4::FRAG_MASK == 0
}

/// [`common_ipv4`](super::common_ipv4) of an untagged frame of at least 54 bytes (Ethernet, IPv4
/// and a minimal TCP header: every frame on the wire, padded to 60, has
/// them), read in the fewest instructions: fixed offsets into one array and
/// one branch a check. Some only where [`common_ipv4`](super::common_ipv4) gives the same
/// addresses; None for every tagged, shorter or less common frame, which the
/// worker then screens in full. On most links nearly every frame is one of
/// these, and the worker's time a frame is in its budget of a few ns.
#[inline(always)]
pub fn common_ipv4_untagged(frame: &[u8]) -> Option<[u32; 2]> {
    const IP: usize = ETH_HEADER_LEN;
    const L4: usize = IP + IPV4_HEADER_LEN;
    let h = frame.first_chunk::<{ L4 + TCP_MIN_HEADER_LEN }>()?;
    if !untagged_plain_ipv4(h) {
        return None;
    }
    // The packet lies in the frame, and the transport header in the packet
    // (`link`, `ip_header` and `transport` take no other).
    let total = usize::from(be16(h, IP + ipv4::field::LENGTH.start));
    if total < IPV4_HEADER_LEN || total > frame.len() - IP || frame.len() > usize::from(u16::MAX) {
        return None;
    }
    let l4_len = total - IPV4_HEADER_LEN;
    let proto = h[IP + ipv4::field::PROTOCOL];
    let taken = h
        .get(L4..)
        .is_some_and(|l4| common_transport(proto, l4, l4_len));
    taken.then(|| ipv4_addrs(h, IP))
}

/// The port on `side` (0: the source's, 1: the destination's) of a frame
/// [`common_ipv4_untagged`] takes, and whether it is TCP; None for one of
/// neither TCP nor UDP (ICMP). For another frame, whatever its bytes there say.
#[inline(always)]
pub fn common_ipv4_untagged_port(frame: &[u8], side: usize) -> Option<(u16, bool)> {
    const IP: usize = ETH_HEADER_LEN;
    const L4: usize = IP + IPV4_HEADER_LEN;
    let tcp = match IpProtocol::from(*frame.get(IP + ipv4::field::PROTOCOL)?) {
        IpProtocol::Tcp => true,
        IpProtocol::Udp => false,
        _ => return None,
    };
    Some((be16(frame, L4 + 2 * side.min(1)), tcp))
}

/// Whether the transport header at the start of `l4`, in an IP payload of
/// `l4_len` bytes that lies in the frame, is one [`transport`](super::ip::transport) takes: the
/// untagged screens' last check.
#[inline(always)]
fn common_transport(proto: u8, l4: &[u8], l4_len: usize) -> bool {
    // Past `l4`'s end the views read zeros: a length of 0, which no range
    // below contains.
    match IpProtocol::from(proto) {
        IpProtocol::Udp => {
            let udp = UdpView::new_unchecked(l4);
            (UDP_HEADER_LEN..=l4_len).contains(&usize::from(udp.len()))
                && !tunnel_port(udp.dst_port())
        }
        IpProtocol::Tcp => {
            (TCP_MIN_HEADER_LEN..=l4_len).contains(&TcpView::new_unchecked(l4).header_len())
        }
        IpProtocol::Icmp | IpProtocol::Icmpv6 => l4_len >= ICMP_HEADER_LEN,
        _ => false,
    }
}

/// [`common_ipv6`](super::common_ipv6) of an untagged frame of at least 62 bytes (Ethernet, IPv6
/// and a UDP or ICMPv6 header; a TCP header needs 74, which every frame
/// carrying one has), read at fixed offsets as [`common_ipv4_untagged`]
/// reads IPv4: Some only where [`common_ipv6`](super::common_ipv6) gives the same addresses,
/// None for every other frame, which the worker then screens in full.
#[inline(always)]
pub fn common_ipv6_untagged(frame: &[u8]) -> Option<[u128; 2]> {
    const IP: usize = ETH_HEADER_LEN;
    const L4: usize = IP + IPV6_HEADER_LEN;
    let h = frame.first_chunk::<{ L4 + UDP_HEADER_LEN }>()?;
    let ip = Ipv6View::new_unchecked(h.get(IP..)?);
    if be16(h, ethernet::field::ETHERTYPE.start) != u16::from(EtherType::Ipv6) || ip.version() != 6
    {
        return None;
    }
    // The payload lies in the frame, and the transport header in the
    // payload (`link`, `ip_header` and `transport` take no other).
    let l4_len = usize::from(ip.payload_len());
    if l4_len > frame.len() - L4 || frame.len() > usize::from(u16::MAX) {
        return None;
    }
    if !common_transport(h[IP + ipv6::field::NEXT_HEADER], frame.get(L4..)?, l4_len) {
        return None;
    }
    Some(ipv6_addrs(h, IP))
}

/// [`common_tunnel_ipv4`](super::common_tunnel_ipv4) of an untagged frame of IPv4 in GTP-U in IPv4 (a
/// mobile core's user plane, S1-U or N3) whose GTP-U header has at most the
/// optional word and one extension header of four bytes (a PDU session
/// container), read at fixed offsets as [`common_ipv4_untagged`] reads plain
/// IPv4: the outer and inner addresses, Some only where
/// [`common_tunnel_ipv4`](super::common_tunnel_ipv4) gives the same; None for every other frame, which
/// the worker then screens in full.
#[inline(always)]
pub fn common_gtpu_untagged(frame: &[u8]) -> Option<[[u32; 2]; 2]> {
    const IP: usize = ETH_HEADER_LEN;
    const UDP: usize = IP + IPV4_HEADER_LEN;
    const GTP: usize = UDP + UDP_HEADER_LEN;
    let h = frame.first_chunk::<{ GTP + gtpu::HEADER_LEN }>()?;
    let half = |at: usize| usize::from(be16(h, at));
    // The outer header as `common_ipv4_untagged` checks it.
    if !untagged_plain_ipv4(h)
        || h[IP + ipv4::field::PROTOCOL] != u8::from(IpProtocol::Udp)
        || half(UDP + udp::field::DST_PORT.start) != usize::from(gtpu::UDP_PORT)
    {
        return None;
    }
    // The packet lies in the frame, the datagram in the packet, the GTP-U
    // message in the datagram.
    let total = half(IP + ipv4::field::LENGTH.start);
    if total < IPV4_HEADER_LEN || total > frame.len() - IP || frame.len() > usize::from(u16::MAX) {
        return None;
    }
    let udp_len = half(UDP + udp::field::LENGTH.start);
    if !(UDP_HEADER_LEN + gtpu::HEADER_LEN..=total - IPV4_HEADER_LEN).contains(&udp_len) {
        return None;
    }
    // Version 1, protocol type GTP, a G-PDU.
    let flags = h[GTP + gtpu::field::FLAGS];
    if flags & gtpu::VERSION_PT_MASK != gtpu::V1_GTP
        || h[GTP + gtpu::field::MSG_TYPE] != gtpu::MSG_G_PDU
    {
        return None;
    }
    let end = gtpu::HEADER_LEN + half(GTP + gtpu::field::LENGTH.start);
    if end > udp_len - UDP_HEADER_LEN {
        return None;
    }
    let byte = |at: usize| frame.get(GTP + at).copied();
    let gtp_len = match (flags & gtpu::OPTIONAL_WORD, byte(gtpu::field::NEXT_EXT)?) {
        (0, _) => gtpu::HEADER_LEN,
        (_, 0) => gtpu::OPT_HEADER_LEN,
        // One extension of one 4-byte unit (its first byte, the length in
        // units, is 1), the last (its last byte, the next type, is 0).
        _ if byte(gtpu::OPT_HEADER_LEN)? == 1 && byte(gtpu::OPT_HEADER_LEN + 3)? == 0 => {
            gtpu::OPT_HEADER_LEN + 4
        }
        _ => return None,
    };
    // The inner packet lies in the message, with no options and unfragmented.
    let at = GTP + gtp_len;
    let tpdu_len = end.checked_sub(gtp_len)?;
    let inner = frame.get(at..)?.first_chunk::<IPV4_HEADER_LEN>()?;
    let view = Ipv4View::new_unchecked(inner);
    let inner_total = usize::from(view.total_len());
    if !view.is_plain() || !(IPV4_HEADER_LEN..=tpdu_len).contains(&inner_total) {
        return None;
    }
    let l4 = frame.get(at + IPV4_HEADER_LEN..)?;
    if !common_transport(
        inner[ipv4::field::PROTOCOL],
        l4,
        inner_total - IPV4_HEADER_LEN,
    ) {
        return None;
    }
    Some([ipv4_addrs(h, IP), ipv4_addrs(inner, 0)])
}
