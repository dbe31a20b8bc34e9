//! One tunnel around a common packet: GTP-U, VXLAN, ERSPAN, GRE, IP in IP
//! or an MPLS pseudowire.

use super::ip::{ip_header, ip_packet, udp, IpHeader};
use super::link::link;
use super::{common, Addrs, Common};
use crate::parse::erspan::ErspanView;
use crate::parse::ethernet::EtherType;
use crate::parse::gre::GreView;
use crate::parse::gtpu::{self, GtpuView};
use crate::parse::ip::IpProtocol;
use crate::parse::udp::HEADER_LEN as UDP_HEADER_LEN;
use crate::parse::vxlan::{self, VxlanView};

/// A common packet (`inner`, its offsets counted from the start of the
/// frame) and the tunnel around it, if any: the outer IP layer, at `l3` (a
/// pseudowire has none: `l3` is then the inner packet's), and for a tunnel
/// carrying Ethernet the offset of the inner Ethernet header.
pub(super) struct Tunnel {
    pub(super) l3: usize,
    pub(super) outer: Option<Addrs>,
    pub(super) inner_eth: Option<usize>,
    pub(super) inner: Common,
}

impl Tunnel {
    /// A common frame's packet, in no tunnel.
    #[inline(always)]
    pub(super) fn none(c: Common) -> Tunnel {
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
    pub(super) fn ip(
        l3: usize,
        outer: Addrs,
        version: EtherType,
        packet: &[u8],
        at: usize,
    ) -> Option<Tunnel> {
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
    pub(super) fn ethernet(
        l3: usize,
        outer: Addrs,
        inner: &[u8],
        inner_at: usize,
    ) -> Option<Tunnel> {
        Some(Tunnel {
            l3,
            outer: Some(outer),
            ..Tunnel::pseudowire(inner, inner_at)?
        })
    }

    /// A common Ethernet frame `inner`, at `inner_at` in the frame, in a
    /// tunnel with no IP layer of its own: an MPLS pseudowire.
    #[inline(always)]
    pub(super) fn pseudowire(inner: &[u8], inner_at: usize) -> Option<Tunnel> {
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
/// a few MPLS labels ([`link`]) or a PPPoE session; IPv4 without options or fragmentation, or
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
/// GRE-TAP, pseudowire) as [`common`](super::common) takes it.
/// The tunnel headers are checked by the walker's own views, so both agree.
/// None for every other frame (a fragment or IPv4 options inside, a malformed
/// header, ...).
#[inline(always)]
pub(super) fn common_tunnel(frame: &[u8]) -> Option<Tunnel> {
    match link(frame)? {
        (EtherType::TransparentEthernet, at, inner) => Tunnel::pseudowire(inner, at),
        (ethertype, l3, packet) => tunnel(ethertype, l3, packet),
    }
}

/// [`common_tunnel`] from the outer IP `packet`, of `ethertype`, at `l3` in
/// the frame.
#[inline(always)]
pub(super) fn tunnel(ethertype: EtherType, l3: usize, packet: &[u8]) -> Option<Tunnel> {
    tunnel_after::<false>(l3, ip_header(ethertype, packet)?)
}

/// [`tunnel`] once its outer IP header, at `l3`, is read; with `V4_ONLY`
/// ([`screen_ipv4`]) the packet in GTP-U, GRE or IP is taken as IPv4 alone.
#[inline(always)]
pub(super) fn tunnel_after<const V4_ONLY: bool>(l3: usize, outer: IpHeader<'_>) -> Option<Tunnel> {
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
