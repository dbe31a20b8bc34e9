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

use super::bytes::{array, be16, be32, Field};
use super::erspan::ErspanView;
use super::ethernet::{EtherType, HEADER_LEN as ETH_HEADER_LEN};
use super::gre::GreView;
use super::gtpu::GtpuView;
use super::icmp::HEADER_LEN as ICMP_HEADER_LEN;
use super::ip::IpProtocol;
use super::ipv4::{Ipv4View, HEADER_LEN as IPV4_HEADER_LEN};
use super::ipv6::{Ipv6View, HEADER_LEN as IPV6_HEADER_LEN};
use super::mpls::{self, MplsView, Payload, HEADER_LEN as MPLS_HEADER_LEN};
use super::pppoe::{PppProtocol, PppoeView, HEADER_LEN as PPPOE_HEADER_LEN};
use super::tcp::{TcpView, HEADER_LEN as TCP_MIN_HEADER_LEN};
use super::udp::{UdpView, HEADER_LEN as UDP_HEADER_LEN};
use super::vlan::HEADER_LEN as VLAN_HEADER_LEN;
use super::vxlan::VxlanView;
use super::{ethernet, gtpu, ipv4, ipv6, udp, vlan, vxlan};
use super::{Dissection, IpKeys, IpSpan, MacPair, Transport};

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

/// The addresses of a frame that [`dissect`](super::dissect) takes its fast path
/// for, when its one IP layer is IPv4: on such a frame `dissect` succeeds, with
/// these addresses (source, destination) as its only IP layer and
/// [`mac_pair`]`(frame)` as its only MAC pair. None for every other frame.
///
/// The worker screens frames with this alone and dissects only those it returns
/// None for, or that the target filters let through: most frames of a link never
/// fill a [`Dissection`].
#[inline(always)]
pub fn common_ipv4(frame: &[u8]) -> Option<[u32; 2]> {
    match screen_ipv4(frame)? {
        Ipv4Screen::Plain(a) => Some(a),
        Ipv4Screen::Tunnel(_) => None,
    }
}

/// [`common_ipv4`] of an untagged frame of at least 54 bytes (Ethernet, IPv4
/// and a minimal TCP header: every frame on the wire, padded to 60, has
/// them), read in the fewest instructions: fixed offsets into one array and
/// one branch a check. Some only where [`common_ipv4`] gives the same
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

/// The addresses (source, destination) of the IPv4 header at `at` in `h`.
#[inline(always)]
fn ipv4_addrs(h: &[u8], at: usize) -> [u32; 2] {
    [
        be32(h, at + ipv4::field::SRC.start),
        be32(h, at + ipv4::field::DST.start),
    ]
}

/// Whether the transport header at the start of `l4`, in an IP payload of
/// `l4_len` bytes that lies in the frame, is one [`transport`] takes: the
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

/// [`common_ipv6`] of an untagged frame of at least 62 bytes (Ethernet, IPv6
/// and a UDP or ICMPv6 header; a TCP header needs 74, which every frame
/// carrying one has), read at fixed offsets as [`common_ipv4_untagged`]
/// reads IPv4: Some only where [`common_ipv6`] gives the same addresses,
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

/// The addresses (source, destination) of the IPv6 header at `at` in `h`.
#[inline(always)]
fn ipv6_addrs(h: &[u8], at: usize) -> [u128; 2] {
    let addr = |f: Field| u128::from_be_bytes(array(h, at + f.start..at + f.end));
    [addr(ipv6::field::SRC), addr(ipv6::field::DST)]
}

/// [`common_tunnel_ipv4`] of an untagged frame of IPv4 in GTP-U in IPv4 (a
/// mobile core's user plane, S1-U or N3) whose GTP-U header has at most the
/// optional word and one extension header of four bytes (a PDU session
/// container), read at fixed offsets as [`common_ipv4_untagged`] reads plain
/// IPv4: the outer and inner addresses, Some only where
/// [`common_tunnel_ipv4`] gives the same; None for every other frame, which
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
    if flags & gtpu::VERSION_PT_MASK != gtpu::V1_GTP || h[GTP + gtpu::field::MSG_TYPE] != gtpu::MSG_G_PDU {
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

/// [`common_ipv4`] for a common frame whose one IP layer is IPv6: its addresses
/// (source, destination), None for every other frame.
#[inline(always)]
pub fn common_ipv6(frame: &[u8]) -> Option<[u128; 2]> {
    match screen_ipv6(frame)? {
        Ipv6Screen::Plain(a) => Some(a),
        Ipv6Screen::Tunnel(_) => None,
    }
}

/// What [`screen_ipv4`] finds in a frame whose outer IP layer is IPv4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ipv4Screen {
    /// A common frame, its one IP layer's addresses: [`common_ipv4`].
    Plain([u32; 2]),
    /// IPv4 in one tunnel in IPv4: [`common_tunnel_ipv4`].
    Tunnel(TunnelV4),
}

/// [`common_ipv4`] and [`common_tunnel_ipv4`] in one pass: the link and the
/// outer IPv4 header are read once, then its payload as a transport or as a
/// tunnel (the two never both take a frame). None for every frame neither
/// takes. The worker screens every frame with this first.
#[inline(always)]
pub fn screen_ipv4(frame: &[u8]) -> Option<Ipv4Screen> {
    Link::of(frame)?.screen_ipv4()
}

/// A frame's link layers (Ethernet, VLAN tags, then MPLS labels or a PPPoE
/// session), read once: the worker hands them to one screen after another
/// instead of each reading them again (an MPLS pseudowire's frame reaches
/// the fourth).
#[derive(Clone, Copy, Debug)]
pub struct Link<'a> {
    ty: EtherType,
    l3: usize,
    packet: &'a [u8],
}

impl<'a> Link<'a> {
    /// The link layers of `frame`; None where no screen takes the frame.
    #[inline(always)]
    pub fn of(frame: &'a [u8]) -> Option<Link<'a>> {
        let (ty, l3, packet) = link(frame)?;
        Some(Link { ty, l3, packet })
    }

    /// Where the layer after the link starts, and its bytes, if it is of `ty`.
    #[inline(always)]
    fn of_type(self, ty: EtherType) -> Option<(usize, &'a [u8])> {
        (self.ty == ty).then_some((self.l3, self.packet))
    }

    /// [`screen_ipv4`] of the frame.
    #[inline(always)]
    pub fn screen_ipv4(self) -> Option<Ipv4Screen> {
        let (l3, packet) = self.of_type(EtherType::Ipv4)?;
        let outer = ip_header(EtherType::Ipv4, packet)?;
        let Addrs::V4(addrs) = outer.addrs else {
            return None;
        };
        if transport(outer.proto, outer.payload).is_some() {
            return Some(Ipv4Screen::Plain(addrs));
        }
        match tunnel_after::<true>(l3, outer)? {
            Tunnel {
                outer: Some(Addrs::V4(outer)),
                inner_eth,
                inner:
                    Common {
                        ip: Addrs::V4(inner),
                        ..
                    },
                ..
            } => Some(Ipv4Screen::Tunnel(TunnelV4 {
                layers: [outer, inner],
                inner_eth,
            })),
            _ => None,
        }
    }

    /// [`screen_ipv6`] of the frame.
    #[inline(always)]
    pub fn screen_ipv6(self) -> Option<Ipv6Screen> {
        let (l3, packet) = self.of_type(EtherType::Ipv6)?;
        let outer = ip_header(EtherType::Ipv6, packet)?;
        let Addrs::V6(addrs) = outer.addrs else {
            return None;
        };
        if transport(outer.proto, outer.payload).is_some() {
            return Some(Ipv6Screen::Plain(addrs));
        }
        tunnel_in_ipv6(l3, packet).map(Ipv6Screen::Tunnel)
    }

    /// [`common_tunnel_ipv4_ipv6`] of the frame.
    #[inline(always)]
    pub fn tunnel_ipv4_ipv6(self) -> Option<TunnelV4V6> {
        let (l3, packet) = self.of_type(EtherType::Ipv4)?;
        match tunnel(EtherType::Ipv4, l3, packet)? {
            Tunnel {
                outer: Some(Addrs::V4(outer)),
                inner_eth,
                inner:
                    Common {
                        ip: Addrs::V6(inner),
                        ..
                    },
                ..
            } => Some(TunnelV4V6 {
                outer,
                inner,
                inner_eth,
            }),
            _ => None,
        }
    }

    /// [`common_pseudowire`] of the frame.
    #[inline(always)]
    pub fn pseudowire(self) -> Option<Pseudowire> {
        let (at, inner) = self.of_type(EtherType::TransparentEthernet)?;
        Some(Pseudowire {
            addrs: Tunnel::pseudowire(inner, at)?.inner.ip,
            inner_eth: at,
        })
    }
}

/// What [`screen_ipv6`] finds in a frame whose outer IP layer is IPv6.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ipv6Screen {
    /// A common frame, its one IP layer's addresses: [`common_ipv6`].
    Plain([u128; 2]),
    /// Either family in one tunnel in IPv6: [`common_tunnel_ipv6`].
    Tunnel(TunnelV6),
}

/// [`screen_ipv4`] for a frame whose outer IP layer is IPv6: [`common_ipv6`]
/// and [`common_tunnel_ipv6`] in one pass, the link and the outer header read
/// once. An IPv4 frame is declined at its EtherType. The worker screens with
/// this the frames `screen_ipv4` declines.
#[inline(always)]
pub fn screen_ipv6(frame: &[u8]) -> Option<Ipv6Screen> {
    Link::of(frame)?.screen_ipv6()
}

/// The tunnel half of [`screen_ipv6`], out of line: only the IPv6 frames
/// with no common transport get here. It reads the outer header again (in
/// cache by then): handed over instead, the header was staged in memory for
/// every IPv6 frame, plain ones included.
#[inline(never)]
fn tunnel_in_ipv6(l3: usize, packet: &[u8]) -> Option<TunnelV6> {
    match tunnel(EtherType::Ipv6, l3, packet)? {
        Tunnel {
            outer: Some(Addrs::V6(outer)),
            inner_eth,
            inner,
            ..
        } => Some(TunnelV6 {
            outer,
            inner: inner.ip,
            inner_eth,
        }),
        _ => None,
    }
}

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
struct Common {
    ip: Addrs,
    transport: Transport,
    /// Offset of the IP header.
    l3: usize,
    /// Bytes from the IP header to the end of the transport header.
    l3_len: usize,
}

/// Fills `out` and returns true if `frame` is a common TCP/UDP/ICMP-over-IP
/// frame, or one in a tunnel ([`common_tunnel`]); returns
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
fn common(frame: &[u8]) -> Option<Common> {
    let (ethertype, l3, packet) = link(frame)?;
    let (ip, transport, l3_len) = ip_packet(ethertype, packet)?;
    Some(Common {
        ip,
        transport,
        l3,
        l3_len,
    })
}

/// The EtherType after Ethernet, at most two VLAN tags (802.1Q, or QinQ's
/// 802.1ad or pre-standard outer tag), then at most [`SCREENED_LABELS`] MPLS
/// labels or a PPPoE session header; the offset of what follows, and its
/// bytes (up to the PPPoE length, if any). After labels the type is what
/// the walker finds ([`mpls::payload`]: IPv4, IPv6, or a pseudowire's
/// Ethernet, given as [`EtherType::TransparentEthernet`] with its offset,
/// past the control word if there is one), after PPPoE the PPP protocol's (IPv4 or IPv6;
/// None for anything else). None as well for a frame too short for two
/// tags, or longer than 65535, and for the EtherType 0x6558 itself, which
/// the walker does not follow.
#[inline(always)]
fn link(frame: &[u8]) -> Option<(EtherType, usize, &[u8])> {
    let eth = frame.first_chunk::<{ ETH_HEADER_LEN + 2 * VLAN_HEADER_LEN }>()?;
    if frame.len() > usize::from(u16::MAX) {
        return None;
    }
    let raw = be16(eth, ethernet::field::ETHERTYPE.start);
    // Untagged IPv4 first, before the EtherType match: on most links nearly
    // every frame (7 instructions a frame fewer, callgrind).
    if raw == u16::from(EtherType::Ipv4) {
        return Some((
            EtherType::Ipv4,
            ETH_HEADER_LEN,
            frame.get(ETH_HEADER_LEN..)?,
        ));
    }
    let tag = |t: EtherType| matches!(t, EtherType::Vlan | EtherType::Qinq | EtherType::QinqLegacy);
    let mut t = EtherType::from(raw);
    let mut l3 = ETH_HEADER_LEN;
    // A tag's EtherType is the TPID of the next tag, if any.
    if tag(t) {
        t = EtherType::from(be16(eth, l3 + vlan::field::ETHERTYPE.start));
        l3 += VLAN_HEADER_LEN;
        if tag(t) {
            t = EtherType::from(be16(eth, l3 + vlan::field::ETHERTYPE.start));
            l3 += VLAN_HEADER_LEN;
        }
    }
    match t {
        EtherType::Mpls | EtherType::MplsMulticast => {
            let (t, l3) = labels(frame, l3)?;
            Some((t, l3, frame.get(l3..)?))
        }
        EtherType::PppoeSession => pppoe(frame, l3),
        EtherType::TransparentEthernet => None,
        _ => Some((t, l3, frame.get(l3..)?)),
    }
}

/// The PPPoE session header at `at` (checked by the walker's view), then IPv4
/// or IPv6 by its PPP protocol: a broadband access network's subscriber
/// traffic.
#[inline(always)]
fn pppoe(frame: &[u8], at: usize) -> Option<(EtherType, usize, &[u8])> {
    let session = PppoeView::new_checked(frame.get(at..)?).ok()?;
    let t = match session.protocol() {
        PppProtocol::Ipv4 => EtherType::Ipv4,
        PppProtocol::Ipv6 => EtherType::Ipv6,
        PppProtocol::Unknown(_) => return None,
    };
    Some((t, at + PPPOE_HEADER_LEN, session.payload()))
}

/// Most MPLS labels the screens skip (a core's transport and service labels);
/// deeper stacks go to the walker.
const SCREENED_LABELS: usize = 4;

/// The label stack at `at` up to its bottom entry, then what
/// [`mpls::payload`] finds after it, as the walker does: IPv4, IPv6, or a
/// pseudowire's Ethernet, whose offset is returned.
#[inline(always)]
fn labels(frame: &[u8], mut at: usize) -> Option<(EtherType, usize)> {
    for _ in 0..SCREENED_LABELS {
        let entry = MplsView::new_unchecked(frame.get(at..at + MPLS_HEADER_LEN)?);
        at += MPLS_HEADER_LEN;
        if entry.bottom() {
            return match mpls::payload(frame.get(at..)?) {
                Payload::Ipv4 => Some((EtherType::Ipv4, at)),
                Payload::Ipv6 => Some((EtherType::Ipv6, at)),
                // The caller bounds the control word with the frame.
                Payload::Ethernet { at: eth } => Some((EtherType::TransparentEthernet, at + eth)),
                Payload::Unknown => None,
            };
        }
    }
    None
}

/// A frame [`common_tunnel_ipv4`] screens: IPv4 in one tunnel in IPv4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelV4 {
    /// Outer and inner addresses (`[outer, inner]`, each source then
    /// destination).
    pub layers: [[u32; 2]; 2],
    /// Offset of the inner Ethernet header (VXLAN, ERSPAN, GRE-TAP); None
    /// when the tunnel carries IP (GTP-U, GRE, IP in IP).
    pub inner_eth: Option<usize>,
}

/// The layers of a frame that [`dissect`](super::dissect)'s fast path takes
/// in one tunnel when both its IP layers are IPv4: on
/// such a frame `dissect` succeeds with exactly these two IP layers and, as
/// its MAC pairs, [`mac_pair`]`(frame)` and, for a mirror tunnel, the
/// [`mac_pair`] at `inner_eth`. None for every other frame (an IPv6 layer
/// included: [`common_tunnel_ipv4_ipv6`] screens IPv6 inside,
/// [`common_tunnel_ipv6`] IPv6 outside).
#[inline(always)]
pub fn common_tunnel_ipv4(frame: &[u8]) -> Option<TunnelV4> {
    match screen_ipv4(frame)? {
        Ipv4Screen::Tunnel(t) => Some(t),
        Ipv4Screen::Plain(_) => None,
    }
}

/// A frame [`common_tunnel_ipv4_ipv6`] screens: IPv6 in one tunnel in IPv4 (a
/// mobile core's IPv6 subscribers on an IPv4 transport, 6in4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelV4V6 {
    /// Outer source and destination.
    pub outer: [u32; 2],
    /// Inner source and destination.
    pub inner: [u128; 2],
    /// Offset of the inner Ethernet header, as in [`TunnelV4`].
    pub inner_eth: Option<usize>,
}

/// [`common_tunnel_ipv4`] for a frame whose IP layers are IPv4 outside and
/// IPv6 inside: on such a frame `dissect` succeeds with exactly these two IP
/// layers and MAC pairs as there. None for every other frame.
#[inline(always)]
pub fn common_tunnel_ipv4_ipv6(frame: &[u8]) -> Option<TunnelV4V6> {
    Link::of(frame)?.tunnel_ipv4_ipv6()
}

/// A frame [`common_tunnel_ipv6`] screens: IPv4 or IPv6 in one tunnel in
/// IPv6 (a mobile core's or a mirror's IPv6 transport network, 4in6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelV6 {
    /// Outer source and destination.
    pub outer: [u128; 2],
    /// Inner source and destination.
    pub inner: Addrs,
    /// Offset of the inner Ethernet header, as in [`TunnelV4`].
    pub inner_eth: Option<usize>,
}

/// [`common_tunnel_ipv4`] for a frame whose outer IP layer is IPv6: on such
/// a frame `dissect` succeeds with exactly these two IP layers and MAC pairs
/// as there. None for every other frame.
#[inline(always)]
pub fn common_tunnel_ipv6(frame: &[u8]) -> Option<TunnelV6> {
    match screen_ipv6(frame)? {
        Ipv6Screen::Tunnel(t) => Some(t),
        Ipv6Screen::Plain(_) => None,
    }
}

/// A frame [`common_pseudowire`] screens: IPv4 or IPv6 in an MPLS pseudowire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pseudowire {
    /// Source and destination of the one IP layer, inside.
    pub addrs: Addrs,
    /// Offset of the inner Ethernet header.
    pub inner_eth: usize,
}

/// The layers of an MPLS pseudowire's frame that [`dissect`](super::dissect)'s
/// fast path takes: on such a frame `dissect` succeeds with exactly these
/// addresses as its only IP layer (either family) and, as its MAC pairs,
/// [`mac_pair`]`(frame)` and the [`mac_pair`] at `inner_eth`. None for every
/// other frame.
#[inline(always)]
pub fn common_pseudowire(frame: &[u8]) -> Option<Pseudowire> {
    Link::of(frame)?.pseudowire()
}

/// A common packet (`inner`, its offsets counted from the start of the
/// frame) and the tunnel around it, if any: the outer IP layer, at `l3` (a
/// pseudowire has none: `l3` is then the inner packet's), and for a tunnel
/// carrying Ethernet the offset of the inner Ethernet header.
struct Tunnel {
    l3: usize,
    outer: Option<Addrs>,
    inner_eth: Option<usize>,
    inner: Common,
}

impl Tunnel {
    /// A common frame's packet, in no tunnel.
    #[inline(always)]
    fn none(c: Common) -> Tunnel {
        Tunnel {
            l3: c.l3,
            outer: None,
            inner_eth: None,
            inner: c,
        }
    }

    /// A common IP `packet` of `version`, at `at` in the frame, in a tunnel
    /// whose IP layer, at `l3`, is `outer`.
    #[inline(always)]
    fn ip(l3: usize, outer: Addrs, version: EtherType, packet: &[u8], at: usize) -> Option<Tunnel> {
        let (ip, transport, l3_len) = ip_packet(version, packet)?;
        Some(Tunnel {
            l3,
            outer: Some(outer),
            inner_eth: None,
            inner: Common {
                ip,
                transport,
                l3: at,
                l3_len,
            },
        })
    }

    /// A common Ethernet frame `inner`, at `inner_at` in the frame, in a
    /// tunnel whose IP layer, at `l3`, is `outer`.
    #[inline(always)]
    fn ethernet(l3: usize, outer: Addrs, inner: &[u8], inner_at: usize) -> Option<Tunnel> {
        Some(Tunnel {
            l3,
            outer: Some(outer),
            ..Tunnel::pseudowire(inner, inner_at)?
        })
    }

    /// A common Ethernet frame `inner`, at `inner_at` in the frame, in a
    /// tunnel with no IP layer of its own: an MPLS pseudowire.
    #[inline(always)]
    fn pseudowire(inner: &[u8], inner_at: usize) -> Option<Tunnel> {
        let c = common(inner)?;
        let l3 = inner_at + c.l3;
        Some(Tunnel {
            l3,
            outer: None,
            inner_eth: Some(inner_at),
            inner: Common { l3, ..c },
        })
    }
}

/// A common packet in one tunnel: Ethernet with at most two VLAN tags, then
/// [`SCREENED_LABELS`] MPLS labels or a PPPoE session; IPv4 without options or fragmentation, or
/// IPv6 without extension headers; then
/// - UDP to the GTP-U port and a GTPv1-U G-PDU, with or without the optional
///   word and extension headers (5G's PDU session container): a mobile core's
///   user plane;
/// - UDP to the VXLAN port and a VXLAN header with a valid VNI: a switch's or
///   a cloud's traffic mirror, or an overlay;
/// - GRE version 0 without routing, and an ERSPAN type II or III header (type
///   III's platform subheader included), or none (type I, without a GRE
///   sequence number): a router's mirror session;
/// - GRE version 0 without routing carrying IPv4, IPv6 or Ethernet (GRE-TAP):
///   a site or mirror tunnel;
/// - IPv4 or IPv6 directly (IP in IP, 6in4, 4in6);
/// - or, with no IP layer outside, an MPLS pseudowire's control word
///   (Ethernet over MPLS: a metro or VPLS core);
///
/// and inside, IP (GTP-U, GRE, IP in IP) or Ethernet (VXLAN, ERSPAN,
/// GRE-TAP, pseudowire) as [`common`] takes it.
/// The tunnel headers are checked by the walker's own views, so both agree.
/// None for every other frame (a fragment or IPv4 options inside, a malformed
/// header, ...).
#[inline(always)]
fn common_tunnel(frame: &[u8]) -> Option<Tunnel> {
    match link(frame)? {
        (EtherType::TransparentEthernet, at, inner) => Tunnel::pseudowire(inner, at),
        (ethertype, l3, packet) => tunnel(ethertype, l3, packet),
    }
}

/// [`common_tunnel`] from the outer IP `packet`, of `ethertype`, at `l3` in
/// the frame.
#[inline(always)]
fn tunnel(ethertype: EtherType, l3: usize, packet: &[u8]) -> Option<Tunnel> {
    tunnel_after::<false>(l3, ip_header(ethertype, packet)?)
}

/// [`tunnel`] once its outer IP header, at `l3`, is read; with `V4_ONLY`
/// ([`screen_ipv4`]) the packet in GTP-U, GRE or IP is taken as IPv4 alone.
#[inline(always)]
fn tunnel_after<const V4_ONLY: bool>(l3: usize, outer: IpHeader<'_>) -> Option<Tunnel> {
    let payload_at = l3 + outer.header_len;
    match IpProtocol::from(outer.proto) {
        IpProtocol::Udp => {
            let ([_, port], datagram) = udp(outer.payload)?;
            let at = payload_at + UDP_HEADER_LEN;
            match port {
                gtpu::UDP_PORT => gtpu::<V4_ONLY>(l3, outer.addrs, datagram, at),
                vxlan::UDP_PORT => {
                    // A whole header first, as the walker's checked view needs.
                    let inner = datagram.get(vxlan::HEADER_LEN..)?;
                    if !VxlanView::new_unchecked(datagram).vni_valid() {
                        return None;
                    }
                    Tunnel::ethernet(l3, outer.addrs, inner, at + vxlan::HEADER_LEN)
                }
                _ => None,
            }
        }
        IpProtocol::Gre => gre::<V4_ONLY>(l3, outer.addrs, outer.payload, payload_at),
        IpProtocol::IpIp => Tunnel::ip(l3, outer.addrs, EtherType::Ipv4, outer.payload, payload_at),
        IpProtocol::Ipv6 if !V4_ONLY => {
            Tunnel::ip(l3, outer.addrs, EtherType::Ipv6, outer.payload, payload_at)
        }
        _ => None,
    }
}

/// The common packet in the GRE packet `packet` (an IP payload, at `at` in
/// the frame), in a tunnel whose IP layer, at `l3`, is `outer`: ERSPAN or
/// Ethernet (GRE-TAP) inside, or IP (with `V4_ONLY`, IPv4 alone).
#[inline(always)]
fn gre<const V4_ONLY: bool>(l3: usize, outer: Addrs, packet: &[u8], at: usize) -> Option<Tunnel> {
    let gre = GreView::new_checked(packet).ok()?;
    if gre.version() != 0 || gre.has_routing() {
        return None;
    }
    let (inner, at) = (gre.payload(), at + gre.header_len());
    match gre.protocol() {
        EtherType::ErspanII if !gre.has_seq() => Tunnel::ethernet(l3, outer, inner, at),
        EtherType::ErspanII | EtherType::ErspanIII => {
            let span = ErspanView::new_checked(inner).ok()?;
            Tunnel::ethernet(l3, outer, span.payload(), at + span.header_len())
        }
        EtherType::TransparentEthernet => Tunnel::ethernet(l3, outer, inner, at),
        v @ EtherType::Ipv4 => Tunnel::ip(l3, outer, v, inner, at),
        v @ EtherType::Ipv6 if !V4_ONLY => Tunnel::ip(l3, outer, v, inner, at),
        _ => None,
    }
}

/// The common IP packet in the GTP-U G-PDU `gtp` (a UDP datagram's payload,
/// at `at` in the frame), in a tunnel whose IP layer, at `l3`, is `outer`;
/// with `V4_ONLY`, an IPv4 packet alone.
#[inline(always)]
fn gtpu<const V4_ONLY: bool>(l3: usize, outer: Addrs, gtp: &[u8], at: usize) -> Option<Tunnel> {
    let view = GtpuView::new_unchecked(gtp);
    if gtp.len() < gtpu::HEADER_LEN || !view.is_v1_gtp() || view.msg_type() != gtpu::MSG_G_PDU {
        return None;
    }
    let gtp_len = view.header_len().ok()?;
    let tpdu = gtp.get(gtp_len..gtpu::HEADER_LEN + usize::from(view.length()))?;
    // The walker's guess of the T-PDU's version, by its first nibble.
    let version = match tpdu.first()? >> 4 {
        4 => EtherType::Ipv4,
        _ if V4_ONLY => return None,
        6 => EtherType::Ipv6,
        _ => return None,
    };
    Tunnel::ip(l3, outer, version, tpdu, at + gtp_len)
}

/// An IP header the fast path takes: its addresses, the protocol it carries,
/// and that protocol's bytes (up to the packet's own length).
struct IpHeader<'a> {
    addrs: Addrs,
    proto: u8,
    header_len: usize,
    payload: &'a [u8],
}

/// The IP header at the start of `ip`, by `ethertype`: IPv4 without options or
/// fragmentation, IPv6 with any next header (an extension header is then not a
/// transport the callers take). None for anything else, or a length that lies.
#[inline(always)]
fn ip_header(ethertype: EtherType, ip: &[u8]) -> Option<IpHeader<'_>> {
    match ethertype {
        EtherType::Ipv4 => {
            let h = ip.first_chunk::<IPV4_HEADER_LEN>()?;
            let view = Ipv4View::new_unchecked(h);
            if !view.is_plain() {
                return None;
            }
            Some(IpHeader {
                addrs: Addrs::V4(ipv4_addrs(h, 0)),
                proto: h[ipv4::field::PROTOCOL],
                header_len: IPV4_HEADER_LEN,
                payload: ip.get(IPV4_HEADER_LEN..usize::from(view.total_len()))?,
            })
        }
        EtherType::Ipv6 => {
            let h = ip.first_chunk::<IPV6_HEADER_LEN>()?;
            let view = Ipv6View::new_unchecked(h);
            if view.version() != 6 {
                return None;
            }
            let end = IPV6_HEADER_LEN + usize::from(view.payload_len());
            Some(IpHeader {
                addrs: Addrs::V6(ipv6_addrs(h, 0)),
                proto: h[ipv6::field::NEXT_HEADER],
                header_len: IPV6_HEADER_LEN,
                payload: ip.get(IPV6_HEADER_LEN..end)?,
            })
        }
        _ => None,
    }
}

/// An IP packet at the start of `ip` whose header [`ip_header`] takes and
/// whose transport [`transport`] takes: the addresses, the transport and the
/// bytes from the IP header to the end of the transport header.
#[inline(always)]
fn ip_packet(ethertype: EtherType, ip: &[u8]) -> Option<(Addrs, Transport, usize)> {
    let h = ip_header(ethertype, ip)?;
    // The transport header must fit in the IP packet (its own length).
    let (transport, l4_len) = transport(h.proto, h.payload)?;
    Some((h.addrs, transport, h.header_len + l4_len))
}

/// A TCP, ICMP (or ICMPv6, under either IP family, as the walker takes it)
/// or UDP header at the start of `l4` (the IP payload), UDP not to a tunnel
/// port: the transport (ICMP's without ports) and its header length.
#[inline(always)]
fn transport(proto: u8, l4: &[u8]) -> Option<(Transport, usize)> {
    match IpProtocol::from(proto) {
        IpProtocol::Udp => {
            let ([src_port, dst_port], _) = udp(l4)?;
            if tunnel_port(dst_port) {
                return None;
            }
            let t = Transport {
                proto: IpProtocol::Udp.into(),
                src_port,
                dst_port,
            };
            Some((t, UDP_HEADER_LEN))
        }
        IpProtocol::Tcp => {
            let t = TcpView::new_unchecked(l4.first_chunk::<TCP_MIN_HEADER_LEN>()?);
            let hlen = t.header_len();
            if hlen < TCP_MIN_HEADER_LEN || hlen > l4.len() {
                return None;
            }
            let tr = Transport {
                proto: IpProtocol::Tcp.into(),
                src_port: t.src_port(),
                dst_port: t.dst_port(),
            };
            Some((tr, hlen))
        }
        p @ (IpProtocol::Icmp | IpProtocol::Icmpv6) if l4.len() >= ICMP_HEADER_LEN => {
            let t = Transport {
                proto: p.into(),
                src_port: 0,
                dst_port: 0,
            };
            Some((t, ICMP_HEADER_LEN))
        }
        _ => None,
    }
}

/// The UDP header at the start of `l4` (an IP payload), if its length field
/// fits the payload: the ports (source, destination) and the datagram's
/// payload.
#[inline(always)]
fn udp(l4: &[u8]) -> Option<([u16; 2], &[u8])> {
    let u = UdpView::new_unchecked(l4.first_chunk::<UDP_HEADER_LEN>()?);
    let payload = l4.get(UDP_HEADER_LEN..usize::from(u.len()))?;
    Some(([u.src_port(), u.dst_port()], payload))
}

/// Whether UDP to `port` carries a tunnel the fast path follows (its
/// transport is then not the frame's).
#[inline(always)]
fn tunnel_port(port: u16) -> bool {
    port == vxlan::UDP_PORT || port == gtpu::UDP_PORT
}

#[cfg(test)]
mod test {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use proptest::prelude::*;

    use super::*;
    use crate::parse::dissect::dissect_general;
    use crate::synth::Frame;

    /// Whenever the fast path accepts a frame, the general walker accepts it too and
    /// reports exactly the same dissection.
    fn agree(frame: &[u8]) -> Result<bool, TestCaseError> {
        let mut general = Dissection::default();
        let want = dissect_general(frame, &mut general);
        // Stale layers from an earlier, deeper frame must not leak through.
        let mut fast = Dissection::default();
        let deep = Frame::ethernet([7; 6], [8; 6])
            .ipv4([1, 1, 1, 1].into(), [2, 2, 2, 2].into())
            .gre()
            .ipv4([3, 3, 3, 3].into(), [4, 4, 4, 4].into())
            .tcp(1, 2)
            .build();
        prop_assert_eq!(dissect_general(&deep, &mut fast), Ok(()));
        let took = dissect_common(frame, &mut fast);
        let (screened4, screened6) = (common_ipv4(frame), common_ipv6(frame));
        // The worker's first screen: a shortcut of common_ipv4, never a
        // different answer.
        let untagged = common_ipv4_untagged(frame);
        prop_assert!(untagged.is_none() || untagged == screened4);
        let untagged6 = common_ipv6_untagged(frame);
        prop_assert!(untagged6.is_none() || untagged6 == screened6);
        let gtpu = common_gtpu_untagged(frame);
        prop_assert!(gtpu.is_none() || gtpu == common_tunnel_ipv4(frame).map(|t| t.layers));
        let tunnel = common_tunnel_ipv4(frame);
        let pseudowire = common_pseudowire(frame);
        let mixed = common_tunnel_ipv4_ipv6(frame);
        let over6 = common_tunnel_ipv6(frame);
        if took {
            prop_assert_eq!(want, Ok(()));
            prop_assert_eq!(&fast, &general);
            // The screens' addresses and MACs are the dissection's only layers
            // (a pseudowire's one IP layer has two MAC pairs: not screened).
            let one_mac = general.macs().len() == 1;
            prop_assert_eq!(screened4, general.single_v4().filter(|_| one_mac));
            prop_assert_eq!(screened6, general.single_v6().filter(|_| one_mac));
            prop_assert_eq!(tunnel.map(|t| t.layers), general.two_v4());
            let pw_addrs = general
                .single_v4()
                .map(Addrs::V4)
                .or(general.single_v6().map(Addrs::V6));
            prop_assert_eq!(pseudowire.map(|p| p.addrs), pw_addrs.filter(|_| !one_mac));
            prop_assert_eq!(mixed.map(|t| (t.outer, t.inner)), general.ipv4_ipv6());
            prop_assert_eq!(over6.map(|t| (t.outer, t.inner)), general.ipv6_tunnel());
            let mut macs = vec![mac_pair(frame)];
            let inner_eth = tunnel
                .and_then(|t| t.inner_eth)
                .or(mixed.and_then(|t| t.inner_eth))
                .or(over6.and_then(|t| t.inner_eth))
                .or(pseudowire.map(|p| p.inner_eth));
            if let Some(at) = inner_eth {
                macs.push(mac_pair(frame.get(at..).unwrap_or(&[])));
            }
            let screened = screened4.is_some() || screened6.is_some() || tunnel.is_some();
            if screened || pseudowire.is_some() || mixed.is_some() || over6.is_some() {
                prop_assert_eq!(general.macs(), &macs[..]);
            }
        } else {
            prop_assert_eq!((screened4, screened6, tunnel), (None, None, None));
            prop_assert_eq!((pseudowire, mixed, over6), (None, None, None));
        }
        Ok(took)
    }

    /// The IPv6 form of `a` in [`addrs`].
    fn wide(a: u32) -> u128 {
        0x2001_0db8_u128 << 96 | u128::from(a)
    }

    /// [`addrs`] as table keys.
    fn layer(v6: bool, (src, dst): (u32, u32)) -> Addrs {
        if v6 {
            Addrs::V6([wide(src), wide(dst)])
        } else {
            Addrs::V4([src, dst])
        }
    }

    /// IPv4 addresses, or IPv6 ones when `v6` (the IPv4 ones in their low bits).
    fn addrs(v6: bool, src: u32, dst: u32) -> (IpAddr, IpAddr) {
        if v6 {
            let ip6 = |a: u32| IpAddr::V6(Ipv6Addr::from(wide(a)));
            (ip6(src), ip6(dst))
        } else {
            (Ipv4Addr::from(src).into(), Ipv4Addr::from(dst).into())
        }
    }

    /// What a frame has between its Ethernet header and its IP header, in
    /// this order.
    #[derive(Clone, Debug, Default)]
    struct Link {
        /// VLAN tags (TPID, VLAN id).
        tags: Vec<(u16, u16)>,
        /// A PPPoE session header, with this session id.
        pppoe: Option<u16>,
        /// MPLS labels.
        labels: Vec<u32>,
    }

    impl Link {
        /// `f` with these layers.
        fn add(&self, mut f: Frame) -> Frame {
            for &(tpid, vid) in &self.tags {
                f = f.vlan_tpid(tpid, vid);
            }
            if let Some(session) = self.pppoe {
                f = f.pppoe(session);
            }
            f.mpls(&self.labels)
        }

        /// Whether the fast path takes these layers: PPPoE carries no MPLS
        /// the walker reads.
        fn fast(&self) -> bool {
            self.tags.len() <= 2
                && self.labels.len() <= SCREENED_LABELS
                && (self.pppoe.is_none() || self.labels.is_empty())
        }
    }

    /// Up to three VLAN tags of any TPID the walker knows (the screens take
    /// two), a PPPoE session header or not, and up to five MPLS labels (the
    /// screens take four).
    fn links() -> impl Strategy<Value = Link> {
        let tpid = prop::sample::select(vec![0x8100u16, 0x88a8, 0x9100]);
        let tags = proptest::collection::vec((tpid, 0u16..4096), 0..=3);
        let labels = proptest::collection::vec(0u32..1 << 20, 0..=5);
        (tags, proptest::option::of(any::<u16>()), labels).prop_map(|(tags, pppoe, labels)| Link {
            tags,
            pppoe,
            labels,
        })
    }

    /// A packet's transport: the fast path takes all three.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum L4 {
        Tcp,
        Udp,
        /// An echo request: ICMP, or ICMPv6 under IPv6.
        Icmp,
    }

    fn l4s() -> impl Strategy<Value = L4> {
        prop::sample::select(vec![L4::Tcp, L4::Udp, L4::Icmp])
    }

    /// Whether a frame's innermost transport goes to a tunnel port (UDP to
    /// VXLAN or GTP-U), which the fast path leaves to the walker.
    fn to_tunnel_port(l4: L4, ports: (u16, u16)) -> bool {
        l4 == L4::Udp && (ports.1 == vxlan::UDP_PORT || ports.1 == gtpu::UDP_PORT)
    }

    /// Ethernet with the layers of `link`, what `ip` adds (IP layers, a
    /// tunnel), then `l4` (on `ports`, but ICMP) and `payload` bytes.
    fn frame_with(
        link: &Link,
        ip: impl FnOnce(Frame) -> Frame,
        l4: L4,
        ports: (u16, u16),
        payload: usize,
    ) -> Vec<u8> {
        let f = ip(link.add(Frame::ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])));
        let f = match l4 {
            L4::Tcp => f.tcp(ports.0, ports.1),
            L4::Udp => f.udp(ports.0, ports.1),
            L4::Icmp => f.icmp(),
        };
        f.payload(&vec![0xab; payload]).build()
    }

    fn common_frame(
        link: &Link,
        (src, dst): (IpAddr, IpAddr),
        l4: L4,
        ports: (u16, u16),
        payload: usize,
    ) -> Vec<u8> {
        frame_with(link, |f| f.ip(src, dst), l4, ports, payload)
    }

    /// A tunnelled frame: `inner` (then `l4`) in what `encap` adds after the
    /// outer IP header between `outer`; each pair IPv6 when its flag in `v6` is
    /// set.
    #[allow(clippy::too_many_arguments)]
    fn tunnel_frame(
        link: &Link,
        v6: (bool, bool),
        outer: (u32, u32),
        encap: impl FnOnce(Frame) -> Frame,
        inner: (u32, u32),
        l4: L4,
        ports: (u16, u16),
        payload: usize,
    ) -> Vec<u8> {
        let (outer_ips, inner_ips) = (addrs(v6.0, outer.0, outer.1), addrs(v6.1, inner.0, inner.1));
        let ip = |f: Frame| encap(f.ip(outer_ips.0, outer_ips.1)).ip(inner_ips.0, inner_ips.1);
        frame_with(link, ip, l4, ports, payload)
    }

    /// A tunnel of `kind` that carries IP: 0, a GTP-U G-PDU (a user plane)
    /// with sequence number `seq` and `exts` PDU session containers; 1, GRE
    /// with a checksum when `exts` is odd and `seq` as key and sequence
    /// number; 2, none (IP in IP).
    fn ip_tunnel(kind: u8, id: u32, (seq, exts): (Option<u16>, u8)) -> impl FnOnce(Frame) -> Frame {
        move |f| match kind {
            0 => f.gtpu_with(id, seq, exts),
            1 => {
                let seq = seq.map(u32::from);
                f.gre_with(exts & 1 != 0, seq, seq)
            }
            _ => f,
        }
    }

    /// Source and destination MAC of the frame inside a mirror tunnel.
    const INNER_MACS: ([u8; 6], [u8; 6]) = ([2, 0, 0, 0, 0, 3], [2, 0, 0, 0, 0, 4]);

    /// A traffic mirror's tunnel of `kind` (0: VXLAN, network `id`; 1: ERSPAN
    /// type II, 2: type III, 3: type III with its platform subheader, session
    /// `id`; 4: GRE-TAP, key `id`, a checksum when `id` is odd), then an inner
    /// Ethernet header with the layers of `link`.
    fn mirror(kind: u8, id: u32, link: &Link) -> impl FnOnce(Frame) -> Frame + '_ {
        move |f| {
            let session = (id & 0x3ff) as u16;
            let f = match kind {
                0 => f.vxlan(id & 0x00ff_ffff),
                1 => f.erspan2(session),
                2 | 3 => f.erspan3(session, kind == 3),
                _ => f.gre_with(id & 1 != 0, Some(id), None),
            };
            link.add(f.inner_ethernet(INNER_MACS.0, INNER_MACS.1))
        }
    }

    /// The outer layers of an MPLS pseudowire: `link`'s tags and labels (one
    /// at least), no PPPoE.
    fn pseudowire_links() -> impl Strategy<Value = Link> {
        links().prop_map(|mut link| {
            link.pppoe = None;
            if link.labels.is_empty() {
                link.labels.push(16);
            }
            link
        })
    }

    /// Ethernet over MPLS: after `link`, a pseudowire control word, then an
    /// inner Ethernet header with the layers of `inner_link`, IP between
    /// `ips` and `l4`.
    fn pseudowire_frame(
        link: &Link,
        inner_link: &Link,
        ips: (IpAddr, IpAddr),
        l4: L4,
        ports: (u16, u16),
        payload: usize,
    ) -> Vec<u8> {
        let ip = |f: Frame| {
            let inner = f
                .pw_control_word()
                .inner_ethernet(INNER_MACS.0, INNER_MACS.1);
            inner_link.add(inner).ip(ips.0, ips.1)
        };
        frame_with(link, ip, l4, ports, payload)
    }

    /// Sets the bytes `flips` names, then cuts the frame to `cut` bytes.
    fn corrupt(frame: &mut Vec<u8>, flips: &[(usize, u8)], cut: usize) {
        for &(at, v) in flips {
            if let Some(b) = frame.get_mut(at) {
                *b = v;
            }
        }
        frame.truncate(cut);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        #[test]
        fn ip_tunnel_frames_take_the_fast_path_and_ipv4_ones_are_screened(
            link in links(),
            kind in 0u8..3,
            v6: (bool, bool),
            outer: (u32, u32),
            seq: Option<u16>,
            exts in 0u8..3,
            inner: (u32, u32),
            l4 in l4s(),
            ports: (u16, u16),
            payload in 0usize..64,
        ) {
            let encap = ip_tunnel(kind, outer.0 ^ inner.1, (seq, exts));
            let frame = tunnel_frame(&link, v6, outer, encap, inner, l4, ports, payload);
            let fast = !to_tunnel_port(l4, ports) && link.fast();
            prop_assert_eq!(agree(&frame)?, fast);
            let ipv4 = fast && v6 == (false, false);
            let want = ipv4.then_some([[outer.0, outer.1], [inner.0, inner.1]]);
            let screened = common_tunnel_ipv4(&frame);
            prop_assert_eq!(screened.map(|t| t.layers), want);
            prop_assert_eq!(screened.and_then(|t| t.inner_eth), None);
            // The worker's GTP-U lane takes every untagged one with at most
            // one extension header.
            let untagged = link.tags.is_empty() && link.pppoe.is_none() && link.labels.is_empty();
            let lane = kind == 0 && untagged && exts <= 1;
            prop_assert_eq!(common_gtpu_untagged(&frame), want.filter(|_| lane));
            let mixed = common_tunnel_ipv4_ipv6(&frame);
            let want = (fast && v6 == (false, true))
                .then_some(([outer.0, outer.1], [wide(inner.0), wide(inner.1)]));
            prop_assert_eq!(mixed.map(|t| (t.outer, t.inner)), want);
            prop_assert_eq!(mixed.and_then(|t| t.inner_eth), None);
            let over6 = common_tunnel_ipv6(&frame);
            let want = (fast && v6.0).then_some(([wide(outer.0), wide(outer.1)], layer(v6.1, inner)));
            prop_assert_eq!(over6.map(|t| (t.outer, t.inner)), want);
            prop_assert_eq!(over6.and_then(|t| t.inner_eth), None);
        }

        #[test]
        fn corrupted_or_cut_ip_tunnel_frames_never_disagree(
            link in links(),
            kind in 0u8..3,
            v6: (bool, bool),
            seq: Option<u16>,
            exts in 0u8..3,
            l4 in l4s(),
            payload in 0usize..40,
            flips in proptest::collection::vec((0usize..160, any::<u8>()), 0..4),
            cut in 0usize..180,
        ) {
            let encap = ip_tunnel(kind, 7, (seq, exts));
            let mut frame =
                tunnel_frame(&link, v6, (1, 2), encap, (3, 4), l4, (1000, 80), payload);
            corrupt(&mut frame, &flips, cut);
            agree(&frame)?;
        }

        #[test]
        fn valid_common_frames_take_the_fast_path_with_the_same_result(
            link in links(),
            v6: bool,
            l4 in l4s(),
            src: u32,
            dst: u32,
            ports: (u16, u16),
            payload in 0usize..64,
        ) {
            let frame = common_frame(&link, addrs(v6, src, dst), l4, ports, payload);
            let fast = !to_tunnel_port(l4, ports) && link.fast();
            prop_assert_eq!(agree(&frame)?, fast);
            // The worker's first screen takes every untagged one of them
            // that has a TCP header's room.
            let untagged = link.tags.is_empty() && link.pppoe.is_none() && link.labels.is_empty();
            let taken = fast && !v6 && untagged && frame.len() >= 54;
            prop_assert_eq!(common_ipv4_untagged(&frame), taken.then_some([src, dst]));
            let taken6 = fast && v6 && untagged && frame.len() >= 62;
            prop_assert_eq!(
                common_ipv6_untagged(&frame),
                taken6.then_some([wide(src), wide(dst)])
            );
        }

        #[test]
        fn corrupted_or_cut_frames_never_disagree(
            link in links(),
            v6: bool,
            l4 in l4s(),
            ports: (u16, u16),
            payload in 0usize..40,
            flips in proptest::collection::vec((0usize..100, any::<u8>()), 0..4),
            cut in 0usize..120,
        ) {
            let ips = addrs(v6, 0x0a00_0001, 0x0a00_0002);
            let mut frame = common_frame(&link, ips, l4, ports, payload);
            corrupt(&mut frame, &flips, cut);
            agree(&frame)?;
        }

        /// A PPPoE session's length bounds its packet (a frame is often
        /// padded past it), whatever the length field says.
        #[test]
        fn pppoe_frames_of_any_length_field_never_disagree(
            tags in 0usize..=2,
            v6: bool,
            l4 in l4s(),
            payload in 0usize..40,
            padding in 0usize..20,
            // Mostly below a packet's length: a shorter field must cut it.
            length in prop_oneof![0u16..128, any::<u16>()],
        ) {
            let link = Link { tags: vec![(0x8100, 7); tags], pppoe: Some(9), labels: vec![] };
            let ips = addrs(v6, 0x0a00_0001, 0x0a00_0002);
            let mut frame = common_frame(&link, ips, l4, (1000, 80), payload);
            let at = ETH_HEADER_LEN + tags * VLAN_HEADER_LEN + 4;
            let cut = frame.len();
            let [hi, lo] = length.to_be_bytes();
            // Both bytes in the length field's place, then padding.
            frame.extend(std::iter::repeat_n(0, padding));
            corrupt(&mut frame, &[(at, hi), (at + 1, lo)], cut + padding);
            agree(&frame)?;
        }

        /// An MPLS pseudowire's inner frame is dissected on the fast path,
        /// with the walker's result: its one IP layer and both MAC pairs;
        /// and it is screened, with either family inside.
        #[test]
        fn pseudowire_frames_take_the_fast_path(
            link in pseudowire_links(),
            inner_link in links(),
            v6: bool,
            src: u32,
            dst: u32,
            l4 in l4s(),
            ports: (u16, u16),
            payload in 0usize..64,
        ) {
            let frame = pseudowire_frame(&link, &inner_link, addrs(v6, src, dst), l4, ports, payload);
            let fast = !to_tunnel_port(l4, ports) && link.fast() && inner_link.fast();
            prop_assert_eq!(agree(&frame)?, fast);
            let screened = common_pseudowire(&frame).map(|p| p.addrs);
            prop_assert_eq!(screened, fast.then(|| layer(v6, (src, dst))));
            let mut d = Dissection::default();
            prop_assert_eq!(dissect_general(&frame, &mut d), Ok(()));
            if fast {
                let want = (!v6).then_some([src, dst]);
                prop_assert_eq!(d.single_v4(), want);
                prop_assert_eq!(d.ips().count(), 1);
                let outer = MacPair { dst: [2, 0, 0, 0, 0, 2], src: [2, 0, 0, 0, 0, 1] };
                let inner = MacPair { dst: INNER_MACS.1, src: INNER_MACS.0 };
                prop_assert_eq!(d.macs(), &[outer, inner][..]);
            }
        }

        #[test]
        fn corrupted_or_cut_pseudowire_frames_never_disagree(
            link in pseudowire_links(),
            inner_link in links(),
            v6: bool,
            l4 in l4s(),
            payload in 0usize..40,
            flips in proptest::collection::vec((0usize..140, any::<u8>()), 0..4),
            cut in 0usize..160,
        ) {
            let ips = addrs(v6, 0x0a00_0001, 0x0a00_0002);
            let mut frame = pseudowire_frame(&link, &inner_link, ips, l4, (1000, 80), payload);
            corrupt(&mut frame, &flips, cut);
            agree(&frame)?;
        }

        /// An IP length field bounds the transport header (a frame is often
        /// padded past its packet), whatever it says.
        #[test]
        fn ip_length_fields_of_any_value_never_disagree(
            v6: bool,
            l4 in l4s(),
            payload in 0usize..40,
            // Mostly around the headers' lengths: a shorter field must cut them.
            length in prop_oneof![0u16..80, any::<u16>()],
        ) {
            let ips = addrs(v6, 0x0a00_0001, 0x0a00_0002);
            let mut frame = common_frame(&Link::default(), ips, l4, (1000, 80), payload);
            let at = ETH_HEADER_LEN + if v6 { 4 } else { 2 };
            let [hi, lo] = length.to_be_bytes();
            let cut = frame.len();
            corrupt(&mut frame, &[(at, hi), (at + 1, lo)], cut);
            agree(&frame)?;
        }

        /// The fields the GTP-U lane reads, each set to any value (mostly
        /// near a valid one) in an untagged IPv4-in-GTP-U frame, with or
        /// without the optional word and extensions, whole or cut: the lane
        /// never takes a frame the screen would not, nor with other
        /// addresses.
        #[test]
        fn gtpu_fields_of_any_value_never_disagree(
            seq: Option<u16>,
            exts in 0u8..3,
            l4 in l4s(),
            payload in 0usize..40,
            field in 0usize..9,
            value in prop_oneof![0u16..100, any::<u16>()],
            cut in prop_oneof![Just(usize::MAX), 40usize..140],
        ) {
            let encap = ip_tunnel(0, 7, (seq, exts));
            let mut frame =
                tunnel_frame(&Link::default(), (false, false), (1, 2), encap, (3, 4), l4, (1000, 80), payload);
            const GTP: usize = ETH_HEADER_LEN + IPV4_HEADER_LEN + UDP_HEADER_LEN;
            let opt = seq.is_some() || exts > 0;
            let inner = GTP + if opt { gtpu::OPT_HEADER_LEN + 4 * usize::from(exts) } else { gtpu::HEADER_LEN };
            // (offset, bytes written): outer total length, UDP length, GTP
            // flags, GTP length, next extension type, the first extension's
            // length and next type, inner version and IHL, inner total length.
            let (at, wide) = [
                (ETH_HEADER_LEN + 2, true),
                (ETH_HEADER_LEN + IPV4_HEADER_LEN + 4, true),
                (GTP, false),
                (GTP + 2, true),
                (GTP + 11, false),
                (GTP + 12, false),
                (GTP + 15, false),
                (inner, false),
                (inner + 2, true),
            ][field];
            let [hi, lo] = value.to_be_bytes();
            let flips = if wide { vec![(at, hi), (at + 1, lo)] } else { vec![(at, lo)] };
            let cut = cut.min(frame.len());
            corrupt(&mut frame, &flips, cut);
            agree(&frame)?;
        }

        /// Ethernet right after Ethernet (EtherType 0x6558 outside a tunnel)
        /// is no pseudowire: the walker stops at it, and so does the fast path.
        #[test]
        fn ethernet_in_ethernet_is_not_a_tunnel(
            tags in 0usize..=2,
            inner_link in links(),
            l4 in l4s(),
        ) {
            let link = Link { tags: vec![(0x8100, 7); tags], ..Link::default() };
            let ip = |f: Frame| {
                let inner = f.inner_ethernet(INNER_MACS.0, INNER_MACS.1);
                inner_link.add(inner).ipv4([10, 0, 0, 1].into(), [10, 0, 0, 2].into())
            };
            let frame = frame_with(&link, ip, l4, (1000, 80), 8);
            prop_assert!(!agree(&frame)?);
        }

        /// The two-load MAC read gives each address of [`mac_pair`] as its
        /// 48-bit big-endian value, on any bytes of any length.
        #[test]
        fn mac_words_are_the_mac_pair_as_integers(
            bytes in proptest::collection::vec(any::<u8>(), 0..20),
        ) {
            let be48 = |m: [u8; 6]| m.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b));
            let pair = mac_pair(&bytes);
            prop_assert_eq!(mac_words(&bytes), [be48(pair.dst), be48(pair.src)]);
        }

        #[test]
        fn random_bytes_never_disagree(
            head in prop::sample::select(vec![
                vec![0x08u8, 0x00, 0x45],
                vec![0x81, 0x00, 0x00, 0x01, 0x08, 0x00, 0x45],
                vec![0x81, 0x00, 0x00, 0x01, 0x81, 0x00],
                vec![0x86, 0xdd],
                vec![0x86, 0xdd, 0x60],
                vec![0x81, 0x00, 0x00, 0x01, 0x86, 0xdd, 0x60],
            ]),
            bytes in proptest::collection::vec(any::<u8>(), 0..120),
        ) {
            let mut frame = vec![2u8; 12];
            frame.extend_from_slice(&head);
            frame.extend_from_slice(&bytes);
            agree(&frame)?;
        }
    }

    proptest! {
        // Five kinds of mirror tunnel share these cases.
        #![proptest_config(ProptestConfig::with_cases(8000))]

        #[test]
        fn mirror_frames_take_the_fast_path_and_ipv4_ones_are_screened(
            link in links(),
            v6: (bool, bool),
            outer: (u32, u32),
            kind in 0u8..5,
            id: u32,
            inner_link in links(),
            inner: (u32, u32),
            l4 in l4s(),
            ports: (u16, u16),
            payload in 0usize..64,
        ) {
            let encap = mirror(kind, id, &inner_link);
            let frame = tunnel_frame(&link, v6, outer, encap, inner, l4, ports, payload);
            let fast = !to_tunnel_port(l4, ports)
                && link.fast()
                && inner_link.fast();
            prop_assert_eq!(agree(&frame)?, fast);
            let screened = common_tunnel_ipv4(&frame);
            let want = (fast && v6 == (false, false)).then_some([[outer.0, outer.1], [inner.0, inner.1]]);
            prop_assert_eq!(screened.map(|t| t.layers), want);
            // The screen points at the inner frame's MAC pair.
            let inner_eth = screened.and_then(|t| t.inner_eth).and_then(|at| frame.get(at..at + 12));
            let macs = [INNER_MACS.1, INNER_MACS.0].concat();
            prop_assert_eq!(inner_eth, screened.is_some().then_some(&macs[..]));
            let mixed = common_tunnel_ipv4_ipv6(&frame);
            let want = (fast && v6 == (false, true))
                .then_some(([outer.0, outer.1], [wide(inner.0), wide(inner.1)]));
            prop_assert_eq!(mixed.map(|t| (t.outer, t.inner)), want);
            let inner_eth = mixed.and_then(|t| t.inner_eth).and_then(|at| frame.get(at..at + 12));
            prop_assert_eq!(inner_eth, mixed.is_some().then_some(&macs[..]));
            let over6 = common_tunnel_ipv6(&frame);
            let want = (fast && v6.0).then_some(([wide(outer.0), wide(outer.1)], layer(v6.1, inner)));
            prop_assert_eq!(over6.map(|t| (t.outer, t.inner)), want);
            let inner_eth = over6.and_then(|t| t.inner_eth).and_then(|at| frame.get(at..at + 12));
            prop_assert_eq!(inner_eth, over6.is_some().then_some(&macs[..]));
        }

        #[test]
        fn corrupted_or_cut_mirror_frames_never_disagree(
            v6: (bool, bool),
            kind in 0u8..5,
            inner_link in links(),
            l4 in l4s(),
            payload in 0usize..40,
            flips in proptest::collection::vec((0usize..160, any::<u8>()), 0..4),
            cut in 0usize..180,
        ) {
            let encap = mirror(kind, 42, &inner_link);
            let mut frame = tunnel_frame(&Link::default(), v6, (1, 2), encap, (3, 4), l4, (1000, 80), payload);
            corrupt(&mut frame, &flips, cut);
            agree(&frame)?;
        }
    }
}
