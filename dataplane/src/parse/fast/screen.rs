//! The worker's screens: what [`super::dissect_common`] would find in a
//! frame, read without filling a [`super::Dissection`], shape by shape.

use super::ip::{ip_header, transport};
use super::link::link;
use super::tunnel::{tunnel, tunnel_after, Tunnel};
use super::{Addrs, Common};
use crate::parse::ethernet::EtherType;

/// The addresses of a frame that [`dissect`](crate::parse::dissect) takes its fast path
/// for, when its one IP layer is IPv4: on such a frame `dissect` succeeds, with
/// these addresses (source, destination) as its only IP layer and
/// [`mac_pair`](super::mac_pair)`(frame)` as its only MAC pair. None for every other frame.
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

/// The layers of a frame that [`dissect`](crate::parse::dissect)'s fast path takes
/// in one tunnel when both its IP layers are IPv4: on
/// such a frame `dissect` succeeds with exactly these two IP layers and, as
/// its MAC pairs, [`mac_pair`](super::mac_pair)`(frame)` and, for a mirror tunnel, the
/// [`mac_pair`](super::mac_pair) at `inner_eth`. None for every other frame (an IPv6 layer
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

/// The layers of an MPLS pseudowire's frame that [`dissect`](crate::parse::dissect)'s
/// fast path takes: on such a frame `dissect` succeeds with exactly these
/// addresses as its only IP layer (either family) and, as its MAC pairs,
/// [`mac_pair`](super::mac_pair)`(frame)` and the [`mac_pair`](super::mac_pair) at `inner_eth`. None for every
/// other frame.
#[inline(always)]
pub fn common_pseudowire(frame: &[u8]) -> Option<Pseudowire> {
    Link::of(frame)?.pseudowire()
}
