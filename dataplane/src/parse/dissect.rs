//! [`dissect`]: one pass over a frame, outermost header first, through VLAN tags,
//! MPLS labels, PPPoE, IPv4/IPv6 (options, extension headers, fragments), TCP/UDP/
//! ICMP and the GRE/ERSPAN (types I to III)/VXLAN/GTP-U/IP-in-IP/MPLS-pseudowire
//! tunnels.
//!
//! Each header's function calls the next one's directly, so the common path is one
//! straight line. Every step consumes at least 4 bytes and every kind of repetition
//! has a limit (tunnels bound the recursion depth), so any input - including a loop
//! of tunnels or labels - ends quickly.

use super::erspan::ErspanView;
use super::ethernet::{EtherType, EthernetView, HEADER_LEN as ETH_HEADER_LEN};
use super::gre::GreView;
use super::gtpu::{self, GtpuView};
use super::icmp::{IcmpView, HEADER_LEN as ICMP_HEADER_LEN};
use super::ip::IpProtocol;
use super::ipv4::Ipv4View;
use super::ipv6::{Ipv6View, HEADER_LEN as IPV6_HEADER_LEN};
use super::ipv6ext::{AhView, Ipv6FragView, Ipv6OptView, FRAG_HEADER_LEN};
use super::mpls::{self, MplsView, Payload, HEADER_LEN as MPLS_HEADER_LEN};
use super::pppoe::{PppProtocol, PppoeView, HEADER_LEN as PPPOE_HEADER_LEN};
use super::tcp::TcpView;
use super::udp::{UdpView, HEADER_LEN as UDP_HEADER_LEN};
use super::vlan::{VlanView, HEADER_LEN as VLAN_HEADER_LEN};
use super::vxlan::{self, VxlanView, HEADER_LEN as VXLAN_HEADER_LEN};
use super::{Dissection, IpPair, MacPair, ParseError, Transport};

/// Most VLAN tags in one frame (all layers together).
pub const MAX_VLAN_TAGS: usize = 8;
/// Most MPLS label stack entries in one frame.
pub const MAX_MPLS_LABELS: usize = 16;
/// Most IPv6 extension headers (and AHs) in one frame.
pub const MAX_EXT_HEADERS: usize = 8;
/// Most tunnels (GRE, VXLAN, GTP-U, IP-in-IP, MPLS pseudowire) in one frame.
pub const MAX_TUNNELS: usize = 3;

/// Walks `frame` into `out`, overwriting it.
///
/// On success `out` holds every Ethernet and IP layer found (outermost first), the
/// innermost transport header, the outermost L3 offset and `header_len`, the end of
/// the innermost header parsed. Non-IP frames and unknown protocols are not errors:
/// parsing just stops there. On error, `out` still holds the layers parsed before
/// the malformed header, and the worker classifies the frame by them: a frame is
/// its sender's and receiver's communication even when a header inside it is bad.
///
/// A length field (IPv4 total length, IPv6 payload length, UDP, PPPoE or GTP-U
/// length) pointing past the bytes at hand does not stop the walk: it is what a
/// capture's snap length, a mirror session's truncation or a frame spanning
/// several mbufs leaves, and the headers in the bytes there still count.
/// The walk goes on over those bytes and then reports [`ParseError::BadLength`].
///
/// # Errors
/// [`ParseError::Truncated`] or [`ParseError::BadLength`] for a header that does not
/// fit or a length field that lies, [`ParseError::BadVersion`] for an IP version that
/// does not match its EtherType, [`ParseError::TooDeep`] past the nesting limits
/// ([`MAX_VLAN_TAGS`], [`MAX_MPLS_LABELS`], [`MAX_EXT_HEADERS`], [`MAX_TUNNELS`],
/// [`MAX_IP_LAYERS`](super::MAX_IP_LAYERS), [`MAX_ETH_LAYERS`](super::MAX_ETH_LAYERS)),
/// and [`ParseError::BadLength`] for a frame longer than 65535 bytes.
#[inline]
pub fn dissect(frame: &[u8], out: &mut Dissection) -> Result<(), ParseError> {
    if super::fast::dissect_common(frame, out) {
        return Ok(());
    }
    dissect_general(frame, out)
}

/// [`dissect`] for a frame that had `wire_len` bytes on the wire, of which
/// `frame` holds the first (a capture's snap length, the first segment of a
/// multi-segment mbuf). What a header alone cannot tell, the lengths after
/// it do: after an MPLS label stack, an IP packet and an Ethernet
/// pseudowire's frame are told apart by the packet's length against the
/// bytes on the wire, not those at hand. A whole frame is [`dissect`]ed.
///
/// # Errors
/// As [`dissect`]; a cut frame reports [`ParseError::BadLength`] as there.
#[inline]
pub fn dissect_cut(frame: &[u8], wire_len: usize, out: &mut Dissection) -> Result<(), ParseError> {
    match wire_len.checked_sub(frame.len()) {
        Some(missing @ 1..) => walk(frame, missing, out),
        _ => dissect(frame, out),
    }
}

/// The general walker behind [`dissect`], for every frame its fast path declines.
/// Public so the fuzz target can check that [`dissect`] gives the same result on
/// every input (the fast path may only be faster, never different).
#[inline(never)]
pub fn dissect_general(frame: &[u8], out: &mut Dissection) -> Result<(), ParseError> {
    walk(frame, 0, out)
}

/// The general walker over `frame`, `missing` bytes short of the frame on the wire.
#[inline(never)]
fn walk(frame: &[u8], missing: usize, out: &mut Dissection) -> Result<(), ParseError> {
    out.clear();
    if frame.len() > usize::from(u16::MAX) {
        return Err(ParseError::BadLength);
    }
    let mut walk = Walk {
        frame,
        off: 0,
        end: frame.len(),
        vlans: 0,
        labels: 0,
        exts: 0,
        tunnels: 0,
        cut: false,
        missing,
        out,
    };
    walk.ethernet()?;
    if walk.cut {
        return Err(ParseError::BadLength);
    }
    Ok(())
}

/// Position in the frame and the nesting counters.
struct Walk<'a, 'o> {
    frame: &'a [u8],
    /// Start of the next header.
    off: usize,
    /// End of the innermost enclosing length-delimited unit (IP packet, UDP datagram...).
    end: usize,
    vlans: usize,
    labels: usize,
    exts: usize,
    tunnels: usize,
    /// A length field pointed past the end of its enclosing unit.
    cut: bool,
    /// Bytes the frame had on the wire past `frame`.
    missing: usize,
    out: &'o mut Dissection,
}

/// Counts one more of something, failing past `max`.
#[inline]
fn bump(count: &mut usize, max: usize) -> Result<(), ParseError> {
    *count += 1;
    if *count > max {
        return Err(ParseError::TooDeep);
    }
    Ok(())
}

impl<'a> Walk<'a, '_> {
    /// The bytes from the next header to the end of the enclosing unit.
    #[inline]
    fn rest(&self) -> &'a [u8] {
        self.frame.get(self.off..self.end).unwrap_or(&[])
    }

    /// Moves past a header of `len` bytes, which now ends the parsed headers.
    #[inline]
    fn advance(&mut self, len: usize) {
        self.off += len;
        // Frames are at most 65535 bytes and `off` never passes `end`.
        self.out.header_len = u16::try_from(self.off).unwrap_or(u16::MAX);
    }

    /// Ends the current unit (IP packet, UDP datagram, ...), starting at
    /// `start`, after the `len` bytes its length field states; past the end of
    /// the enclosing unit, the bytes there are walked and the cut is noted.
    #[inline]
    fn enclose(&mut self, start: usize, len: usize) {
        let end = start + len;
        if end <= self.end {
            self.end = end;
        } else {
            self.cut = true;
        }
    }

    /// Enters one more tunnel.
    #[inline]
    fn tunnel(&mut self) -> Result<(), ParseError> {
        bump(&mut self.tunnels, MAX_TUNNELS)
    }

    #[inline]
    fn ethernet(&mut self) -> Result<(), ParseError> {
        let eth = EthernetView::new_checked(self.rest())?;
        self.out.push_mac(MacPair {
            src: eth.src(),
            dst: eth.dst(),
        })?;
        self.out.set_eth_at(self.off16());
        self.advance(ETH_HEADER_LEN);
        self.ethertype(eth.ethertype())
    }

    #[inline]
    fn ethertype(&mut self, mut t: EtherType) -> Result<(), ParseError> {
        loop {
            match t {
                EtherType::Ipv4 => return self.ipv4(),
                EtherType::Ipv6 => return self.ipv6(),
                EtherType::Vlan | EtherType::Qinq | EtherType::QinqLegacy => {
                    bump(&mut self.vlans, MAX_VLAN_TAGS)?;
                    let tag = VlanView::new_checked(self.rest())?;
                    self.advance(VLAN_HEADER_LEN);
                    t = tag.ethertype();
                }
                EtherType::Mpls | EtherType::MplsMulticast => return self.mpls(),
                EtherType::PppoeSession => return self.pppoe(),
                _ => return Ok(()),
            }
        }
    }

    fn pppoe(&mut self) -> Result<(), ParseError> {
        let pppoe = PppoeView::new_unchecked(self.rest());
        pppoe.check_header()?;
        self.enclose(self.off, pppoe.end());
        self.advance(PPPOE_HEADER_LEN);
        match pppoe.protocol() {
            PppProtocol::Ipv4 => self.ipv4(),
            PppProtocol::Ipv6 => self.ipv6(),
            PppProtocol::Unknown(_) => Ok(()),
        }
    }

    /// The label stack, then what [`mpls::payload`] finds after it: IPv4,
    /// IPv6, or an Ethernet pseudowire (with or without control word).
    fn mpls(&mut self) -> Result<(), ParseError> {
        loop {
            bump(&mut self.labels, MAX_MPLS_LABELS)?;
            let label = MplsView::new_checked(self.rest())?;
            self.advance(MPLS_HEADER_LEN);
            if label.bottom() {
                break;
            }
        }
        // Bytes on the wire past those at hand, if the unit runs to the cut.
        let missing = if self.end == self.frame.len() {
            self.missing
        } else {
            0
        };
        match mpls::payload_of(self.rest(), missing) {
            Payload::Ipv4 => self.ipv4(),
            Payload::Ipv6 => self.ipv6(),
            Payload::Ethernet { at } if self.rest().len() >= at => {
                self.tunnel()?;
                self.advance(at);
                self.ethernet()
            }
            Payload::Ethernet { .. } | Payload::Unknown => Ok(()),
        }
    }

    /// The offset of the next header (frames are at most 65535 bytes).
    #[inline]
    fn off16(&self) -> u16 {
        u16::try_from(self.off).unwrap_or(u16::MAX)
    }

    /// Marks the start of an IP layer.
    #[inline]
    fn enter_ip(&mut self, pair: IpPair) -> Result<(), ParseError> {
        let at = self.off16();
        if self.out.l3_offset.is_none() {
            self.out.l3_offset = Some(at);
        }
        self.out.transport = None;
        self.out.push_ip(pair)?;
        self.carries(0);
        if let Some(span) = self.out.last_span() {
            span.at = at;
        }
        Ok(())
    }

    /// The current IP layer carries `proto`, whose header starts here.
    #[inline]
    fn carries(&mut self, proto: u8) {
        let at = self.off16();
        if let Some(span) = self.out.last_span() {
            (span.l4, span.end, span.proto) = (at, at, proto);
        }
    }

    /// The current IP layer's transport header ends here.
    #[inline]
    fn transport_ends(&mut self) {
        let at = self.off16();
        if let Some(span) = self.out.last_span() {
            span.end = at;
        }
    }

    #[inline]
    fn ipv4(&mut self) -> Result<(), ParseError> {
        let ip = Ipv4View::new_unchecked(self.rest());
        ip.check_header()?;
        self.enter_ip(IpPair::V4 {
            src: ip.src_addr(),
            dst: ip.dst_addr(),
        })?;
        self.enclose(self.off, usize::from(ip.total_len()));
        self.advance(ip.header_len());
        self.carries(ip.protocol().into());
        if ip.frag_offset() != 0 {
            return Ok(());
        }
        match ip.protocol() {
            IpProtocol::Ah => match self.extensions(IpProtocol::Ah)? {
                Some((proto, more)) => self.upper(proto, more || ip.more_frags()),
                None => Ok(()),
            },
            proto => self.upper(proto, ip.more_frags()),
        }
    }

    fn ipv6(&mut self) -> Result<(), ParseError> {
        let ip = Ipv6View::new_unchecked(self.rest());
        ip.check_header()?;
        self.enter_ip(IpPair::V6 {
            src: ip.src_addr(),
            dst: ip.dst_addr(),
        })?;
        self.enclose(self.off, IPV6_HEADER_LEN + usize::from(ip.payload_len()));
        self.advance(IPV6_HEADER_LEN);
        match self.extensions(ip.next_header())? {
            Some((proto, more)) => self.upper(proto, more),
            None => {
                self.carries(IpProtocol::Ipv6Frag.into());
                Ok(())
            }
        }
    }

    /// Follows extension headers (and AH) to the upper-layer protocol. Returns it and
    /// whether more fragments follow, or `None` for a non-first fragment.
    fn extensions(
        &mut self,
        mut proto: IpProtocol,
    ) -> Result<Option<(IpProtocol, bool)>, ParseError> {
        let mut more = false;
        loop {
            match proto {
                IpProtocol::HopByHop | IpProtocol::Ipv6Route | IpProtocol::Ipv6Opts => {
                    bump(&mut self.exts, MAX_EXT_HEADERS)?;
                    let ext = Ipv6OptView::new_checked(self.rest())?;
                    self.advance(ext.header_len());
                    proto = ext.next_header();
                }
                IpProtocol::Ipv6Frag => {
                    bump(&mut self.exts, MAX_EXT_HEADERS)?;
                    let frag = Ipv6FragView::new_checked(self.rest())?;
                    self.advance(FRAG_HEADER_LEN);
                    if frag.frag_offset() != 0 {
                        return Ok(None);
                    }
                    more |= frag.more_frags();
                    proto = frag.next_header();
                }
                IpProtocol::Ah => {
                    bump(&mut self.exts, MAX_EXT_HEADERS)?;
                    let ah = AhView::new_checked(self.rest())?;
                    self.advance(ah.header_len());
                    proto = ah.next_header();
                }
                _ => return Ok(Some((proto, more))),
            }
        }
    }

    /// The upper-layer protocol of an IP packet. In a first fragment (`more_frags`)
    /// the transport header may be cut, and tunnels are not followed.
    #[inline]
    fn upper(&mut self, proto: IpProtocol, more_frags: bool) -> Result<(), ParseError> {
        self.carries(proto.into());
        if more_frags {
            let step = match proto {
                IpProtocol::Udp => self.udp(true),
                IpProtocol::Tcp => self.tcp(),
                IpProtocol::Icmp | IpProtocol::Icmpv6 => self.icmp(proto),
                _ => Ok(()),
            };
            return match step {
                Err(ParseError::Truncated | ParseError::BadLength) => Ok(()),
                other => other,
            };
        }
        match proto {
            IpProtocol::Udp => self.udp(false),
            IpProtocol::Tcp => self.tcp(),
            IpProtocol::Icmp | IpProtocol::Icmpv6 => self.icmp(proto),
            IpProtocol::Gre => self.gre(),
            IpProtocol::IpIp => {
                self.tunnel()?;
                self.ipv4()
            }
            IpProtocol::Ipv6 => {
                self.tunnel()?;
                self.ipv6()
            }
            _ => Ok(()),
        }
    }

    #[inline]
    fn tcp(&mut self) -> Result<(), ParseError> {
        let tcp = TcpView::new_checked(self.rest())?;
        self.out.transport = Some(Transport {
            proto: 6,
            src_port: tcp.src_port(),
            dst_port: tcp.dst_port(),
        });
        self.advance(tcp.header_len());
        self.transport_ends();
        Ok(())
    }

    fn icmp(&mut self, proto: IpProtocol) -> Result<(), ParseError> {
        IcmpView::new_checked(self.rest())?;
        self.out.transport = Some(Transport {
            proto: proto.into(),
            src_port: 0,
            dst_port: 0,
        });
        self.advance(ICMP_HEADER_LEN);
        self.transport_ends();
        Ok(())
    }

    #[inline]
    fn udp(&mut self, more_frags: bool) -> Result<(), ParseError> {
        // In a first fragment the UDP length covers the reassembled datagram.
        let udp = UdpView::new_unchecked(self.rest());
        if !more_frags {
            udp.check_header()?;
        } else if self.rest().len() < UDP_HEADER_LEN {
            return Err(ParseError::Truncated);
        }
        self.out.transport = Some(Transport {
            proto: 17,
            src_port: udp.src_port(),
            dst_port: udp.dst_port(),
        });
        self.advance(UDP_HEADER_LEN);
        self.transport_ends();
        if more_frags {
            return Ok(());
        }
        self.enclose(self.off - UDP_HEADER_LEN, usize::from(udp.len()));
        match udp.dst_port() {
            vxlan::UDP_PORT => self.vxlan(),
            gtpu::UDP_PORT => self.gtpu(),
            _ => Ok(()),
        }
    }

    /// VXLAN by port; without a whole header and the I flag it is plain UDP payload.
    fn vxlan(&mut self) -> Result<(), ParseError> {
        match VxlanView::new_checked(self.rest()) {
            Ok(v) if v.vni_valid() => {
                self.tunnel()?;
                self.advance(VXLAN_HEADER_LEN);
                self.ethernet()
            }
            _ => Ok(()),
        }
    }

    /// GTP-U by port; anything but GTPv1 with PT = 1 is plain UDP payload.
    fn gtpu(&mut self) -> Result<(), ParseError> {
        let rest = self.rest();
        let gtp = GtpuView::new_unchecked(rest);
        if rest.len() < gtpu::HEADER_LEN || !gtp.is_v1_gtp() {
            return Ok(());
        }
        let hlen = gtp.headers_end()?;
        self.enclose(self.off, gtp.end());
        self.advance(hlen);
        if gtp.msg_type() != gtpu::MSG_G_PDU {
            return Ok(());
        }
        self.tunnel()?;
        match self.rest().first().map(|b| b >> 4) {
            Some(4) => self.ipv4(),
            Some(6) => self.ipv6(),
            _ => Ok(()),
        }
    }

    fn gre(&mut self) -> Result<(), ParseError> {
        let gre = GreView::new_checked(self.rest())?;
        if gre.version() != 0 || gre.has_routing() {
            return Ok(());
        }
        self.advance(gre.header_len());
        match gre.protocol() {
            EtherType::Ipv4 => {
                self.tunnel()?;
                self.ipv4()
            }
            EtherType::Ipv6 => {
                self.tunnel()?;
                self.ipv6()
            }
            EtherType::Mpls | EtherType::MplsMulticast => {
                self.tunnel()?;
                self.mpls()
            }
            EtherType::TransparentEthernet => {
                self.tunnel()?;
                self.ethernet()
            }
            // ERSPAN type I shares type II's protocol but has no sequence
            // number and no ERSPAN header: the mirrored frame follows GRE.
            EtherType::ErspanII if !gre.has_seq() => {
                self.tunnel()?;
                self.ethernet()
            }
            EtherType::ErspanII | EtherType::ErspanIII => {
                let erspan = ErspanView::new_checked(self.rest())?;
                self.advance(erspan.header_len());
                self.tunnel()?;
                self.ethernet()
            }
            _ => Ok(()),
        }
    }
}
