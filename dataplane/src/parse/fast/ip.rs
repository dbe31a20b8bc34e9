//! The IP header and the transport the fast path takes.

use super::Addrs;
use crate::parse::bytes::{array, be32, Field};
use crate::parse::ethernet::EtherType;
use crate::parse::gtpu;
use crate::parse::icmp::HEADER_LEN as ICMP_HEADER_LEN;
use crate::parse::ip::IpProtocol;
use crate::parse::ipv4::{self, Ipv4View, HEADER_LEN as IPV4_HEADER_LEN};
use crate::parse::ipv6::{self, Ipv6View, HEADER_LEN as IPV6_HEADER_LEN};
use crate::parse::tcp::{TcpView, HEADER_LEN as TCP_MIN_HEADER_LEN};
use crate::parse::udp::{UdpView, HEADER_LEN as UDP_HEADER_LEN};
use crate::parse::vxlan;
use crate::parse::Transport;

/// The addresses (source, destination) of the IPv4 header at `at` in `h`.
#[inline(always)]
pub(super) fn ipv4_addrs(h: &[u8], at: usize) -> [u32; 2] {
    [
        be32(h, at + ipv4::field::SRC.start),
        be32(h, at + ipv4::field::DST.start),
    ]
}

/// The addresses (source, destination) of the IPv6 header at `at` in `h`.
#[inline(always)]
pub(super) fn ipv6_addrs(h: &[u8], at: usize) -> [u128; 2] {
    let addr = |f: Field| u128::from_be_bytes(array(h, at + f.start..at + f.end));
    [addr(ipv6::field::SRC), addr(ipv6::field::DST)]
}

/// An IP header the fast path takes: its addresses, the protocol it carries,
/// and that protocol's bytes (up to the packet's own length).
pub(super) struct IpHeader<'a> {
    pub(super) addrs: Addrs,
    pub(super) proto: u8,
    pub(super) header_len: usize,
    pub(super) payload: &'a [u8],
}

/// The IP header at the start of `ip`, by `ethertype`: IPv4 without options or
/// fragmentation, IPv6 with any next header (an extension header is then not a
/// transport the callers take). None for anything else, or a length that lies.
#[inline(always)]
pub(super) fn ip_header(ethertype: EtherType, ip: &[u8]) -> Option<IpHeader<'_>> {
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
pub(super) fn ip_packet(ethertype: EtherType, ip: &[u8]) -> Option<(Addrs, Transport, usize)> {
    let h = ip_header(ethertype, ip)?;
    // The transport header must fit in the IP packet (its own length).
    let (transport, l4_len) = transport(h.proto, h.payload)?;
    Some((h.addrs, transport, h.header_len + l4_len))
}

/// A TCP, ICMP (or ICMPv6, under either IP family, as the walker takes it)
/// or UDP header at the start of `l4` (the IP payload), UDP not to a tunnel
/// port: the transport (ICMP's without ports) and its header length.
#[inline(always)]
pub(super) fn transport(proto: u8, l4: &[u8]) -> Option<(Transport, usize)> {
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
pub(super) fn udp(l4: &[u8]) -> Option<([u16; 2], &[u8])> {
    let u = UdpView::new_unchecked(l4.first_chunk::<UDP_HEADER_LEN>()?);
    let payload = l4.get(UDP_HEADER_LEN..usize::from(u.len()))?;
    Some(([u.src_port(), u.dst_port()], payload))
}

/// Whether UDP to `port` carries a tunnel the fast path follows (its
/// transport is then not the frame's).
#[inline(always)]
pub(super) fn tunnel_port(port: u16) -> bool {
    port == vxlan::UDP_PORT || port == gtpu::UDP_PORT
}
