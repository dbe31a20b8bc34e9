//! Packet synthesiser: a small builder for well-formed frames through any
//! encapsulation the parser understands, with correct lengths and checksums, plus
//! nanosecond pcap read/write. Used by tests, perf traffic generation and the demo.
//!
//! Layers are listed outermost first; each layer's "next protocol" field (EtherType,
//! IP protocol, GRE protocol, PPP protocol) is derived from the layer after it.
//!
//! ```
//! use dataplane::synth::Frame;
//! let f = Frame::ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
//!     .vlan(100)
//!     .ipv4("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap())
//!     .udp(1234, 5060)
//!     .payload(b"hello")
//!     .build();
//! assert_eq!(f.len(), 14 + 4 + 20 + 8 + 5);
//! ```
#![forbid(unsafe_code)]

pub mod voice;

use std::fs::File;
use std::io::{self, BufReader, BufWriter};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};
use pcap_file::{DataLink, PcapError, TsResolution};

use crate::parse::checksum;
use crate::parse::erspan::ErspanRepr;
use crate::parse::ethernet::{EtherType, EthernetRepr, EthernetView};
use crate::parse::gre::GreRepr;
use crate::parse::gtpu::{self, GtpuRepr};
use crate::parse::icmp::{self, IcmpRepr, IcmpView};
use crate::parse::ip::IpProtocol;
use crate::parse::ipv4::{Ipv4Repr, Ipv4View};
use crate::parse::ipv6::{Ipv6Repr, Ipv6View};
use crate::parse::ipv6ext::{AhRepr, AhView, Ipv6FragRepr, Ipv6FragView, Ipv6OptRepr, Ipv6OptView};
use crate::parse::mpls::{MplsRepr, MplsView, PW_CONTROL_WORD_LEN};
use crate::parse::pppoe::{PppProtocol, PppoeRepr, PppoeView};
use crate::parse::tcp::{self, TcpRepr, TcpView};
use crate::parse::udp::{UdpRepr, UdpView};
use crate::parse::vlan::{VlanRepr, VlanView};
use crate::parse::vxlan::{self, VxlanRepr, VxlanView};

/// TTL / hop limit of built IP headers.
const TTL: u8 = 64;

/// One layer of a frame under construction.
#[derive(Clone, Debug)]
enum Layer {
    Ethernet {
        src: [u8; 6],
        dst: [u8; 6],
    },
    Vlan {
        tpid: EtherType,
        vid: u16,
    },
    Mpls {
        label: u32,
    },
    Pppoe {
        session: u16,
    },
    Ipv4 {
        src: Ipv4Addr,
        dst: Ipv4Addr,
        frag_offset: u16,
        more_frags: bool,
        options_len: usize,
    },
    Ipv6 {
        src: Ipv6Addr,
        dst: Ipv6Addr,
    },
    /// Hop-by-hop, routing or destination options (by protocol number).
    Ipv6Opt {
        kind: IpProtocol,
    },
    Ipv6Frag {
        offset: u16,
        more: bool,
    },
    Ah,
    Esp {
        spi: u32,
    },
    Tcp {
        src_port: u16,
        dst_port: u16,
        seq: u32,
        ack: u32,
        flags: u16,
        options_len: usize,
    },
    Udp {
        src_port: u16,
        dst_port: u16,
    },
    Icmp,
    PwControlWord,
    Gre {
        checksum: bool,
        key: Option<u32>,
        seq: Option<u32>,
    },
    Erspan {
        type3: bool,
        session: u16,
        platform_subheader: bool,
    },
    Vxlan {
        vni: u32,
    },
    Gtpu {
        teid: u32,
        seq: Option<u16>,
        extensions: u8,
    },
}

/// Source port of built VXLAN datagrams (the outer flow-entropy port).
const VXLAN_SRC_PORT: u16 = 49152;

/// A frame under construction: call layer methods outermost first, then
/// [`build`](Frame::build).
#[derive(Clone, Debug)]
pub struct Frame {
    /// Layers with an optional override of their next-protocol field.
    layers: Vec<(Layer, Option<u16>)>,
    payload: Vec<u8>,
}

impl Frame {
    /// Starts a frame with an Ethernet II header.
    pub fn ethernet(src: [u8; 6], dst: [u8; 6]) -> Self {
        Self {
            layers: Vec::new(),
            payload: Vec::new(),
        }
        .push(Layer::Ethernet { src, dst })
    }

    fn push(mut self, layer: Layer) -> Self {
        self.layers.push((layer, None));
        self
    }

    /// Adds an inner Ethernet header (after GRE/ERSPAN/VXLAN/MPLS pseudowire).
    pub fn inner_ethernet(self, src: [u8; 6], dst: [u8; 6]) -> Self {
        self.push(Layer::Ethernet { src, dst })
    }

    /// Adds an 802.1Q tag (TPID 0x8100).
    pub fn vlan(self, vid: u16) -> Self {
        self.push(Layer::Vlan {
            tpid: EtherType::Vlan,
            vid,
        })
    }

    /// Adds an 802.1ad service tag (TPID 0x88a8): the outer tag of QinQ.
    pub fn qinq(self, vid: u16) -> Self {
        self.push(Layer::Vlan {
            tpid: EtherType::Qinq,
            vid,
        })
    }

    /// Adds a VLAN tag with any TPID (e.g. 0x9100).
    pub fn vlan_tpid(self, tpid: u16, vid: u16) -> Self {
        self.push(Layer::Vlan {
            tpid: EtherType::from(tpid),
            vid,
        })
    }

    /// Adds an MPLS label stack; the last label gets the bottom-of-stack bit.
    pub fn mpls(mut self, labels: &[u32]) -> Self {
        for &label in labels {
            self = self.push(Layer::Mpls { label });
        }
        self
    }

    /// Adds a PPPoE session header (PPP protocol from the next layer).
    pub fn pppoe(self, session: u16) -> Self {
        self.push(Layer::Pppoe { session })
    }

    /// Adds an IPv4 header (IP-in-IP if it follows another IP layer).
    pub fn ipv4(self, src: Ipv4Addr, dst: Ipv4Addr) -> Self {
        self.push(Layer::Ipv4 {
            src,
            dst,
            frag_offset: 0,
            more_frags: false,
            options_len: 0,
        })
    }

    /// Adds an IPv6 header (IP-in-IP if it follows another IP layer).
    pub fn ipv6(self, src: Ipv6Addr, dst: Ipv6Addr) -> Self {
        self.push(Layer::Ipv6 { src, dst })
    }

    /// Adds an IPv4 or IPv6 header by address family; if the families differ, an
    /// IPv6 header with the IPv4 address mapped (`::ffff:a.b.c.d`).
    pub fn ip(self, src: IpAddr, dst: IpAddr) -> Self {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => self.ipv4(s, d),
            (s, d) => self.ipv6(to_v6(s), to_v6(d)),
        }
    }

    /// Makes the last IPv4 header a fragment (`offset` in 8-byte units, `more` the MF
    /// flag); after IPv6 or its extension headers, adds a fragment header instead.
    pub fn fragment(mut self, offset: u16, more: bool) -> Self {
        if let Some((
            Layer::Ipv4 {
                frag_offset,
                more_frags,
                ..
            },
            _,
        )) = self.layers.last_mut()
        {
            *frag_offset = offset;
            *more_frags = more;
            return self;
        }
        self.push(Layer::Ipv6Frag { offset, more })
    }

    /// Adds an IPv6 hop-by-hop options header (8 bytes, PadN).
    pub fn hop_by_hop(self) -> Self {
        self.push(Layer::Ipv6Opt {
            kind: IpProtocol::HopByHop,
        })
    }

    /// Adds an IPv6 routing header (8 bytes; its data is opaque to the parser).
    pub fn routing(self) -> Self {
        self.push(Layer::Ipv6Opt {
            kind: IpProtocol::Ipv6Route,
        })
    }

    /// Adds an IPv6 destination options header (8 bytes, PadN).
    pub fn dest_opts(self) -> Self {
        self.push(Layer::Ipv6Opt {
            kind: IpProtocol::Ipv6Opts,
        })
    }

    /// Adds an authentication header (24 bytes: 12-byte zero ICV), IPv4 or IPv6.
    pub fn ah(self) -> Self {
        self.push(Layer::Ah)
    }

    /// Adds an ESP header (SPI, sequence 1); what follows is opaque to the parser.
    pub fn esp(self, spi: u32) -> Self {
        self.push(Layer::Esp { spi })
    }

    /// Gives the last IPv4 or TCP header `len` bytes of NOP options (multiple of 4, ≤ 40).
    pub fn options(mut self, len: usize) -> Self {
        if let Some((Layer::Ipv4 { options_len, .. } | Layer::Tcp { options_len, .. }, _)) =
            self.layers.last_mut()
        {
            *options_len = len.min(40) / 4 * 4;
        }
        self
    }

    /// Adds a TCP header (ACK|PSH).
    pub fn tcp(self, src_port: u16, dst_port: u16) -> Self {
        self.tcp_segment(src_port, dst_port, 1, 1, tcp::flags::ACK | tcp::flags::PSH)
    }

    /// Adds a TCP header with the given sequence and acknowledgement numbers
    /// and flags (a stream's segments, a handshake).
    pub fn tcp_segment(self, src_port: u16, dst_port: u16, seq: u32, ack: u32, flags: u16) -> Self {
        self.push(Layer::Tcp {
            src_port,
            dst_port,
            seq,
            ack,
            flags,
            options_len: 0,
        })
    }

    /// Adds a UDP header.
    pub fn udp(self, src_port: u16, dst_port: u16) -> Self {
        self.push(Layer::Udp { src_port, dst_port })
    }

    /// Adds an ICMP echo request (ICMPv6 under IPv6), id 1 sequence 1.
    pub fn icmp(self) -> Self {
        self.push(Layer::Icmp)
    }

    /// Adds an MPLS pseudowire control word (then [`inner_ethernet`](Self::inner_ethernet)).
    pub fn pw_control_word(self) -> Self {
        self.push(Layer::PwControlWord)
    }

    /// Adds a plain GRE header (protocol from the next layer: IP, MPLS or Ethernet).
    pub fn gre(self) -> Self {
        self.gre_with(false, None, None)
    }

    /// Adds a GRE header with optional checksum, key and sequence number.
    pub fn gre_with(self, checksum: bool, key: Option<u32>, seq: Option<u32>) -> Self {
        self.push(Layer::Gre { checksum, key, seq })
    }

    /// Adds GRE without a sequence number, protocol 0x88be: ERSPAN type I, which
    /// has no header of its own; follow with [`inner_ethernet`](Self::inner_ethernet).
    pub fn erspan1(self) -> Self {
        self.gre().next_protocol(u16::from(EtherType::ErspanII))
    }

    /// Adds GRE (with sequence number) and an ERSPAN type II header; follow with
    /// [`inner_ethernet`](Self::inner_ethernet).
    pub fn erspan2(self, session: u16) -> Self {
        self.gre_with(false, None, Some(1)).push(Layer::Erspan {
            type3: false,
            session,
            platform_subheader: false,
        })
    }

    /// Adds GRE (with sequence number) and an ERSPAN type III header, with the 8-byte
    /// platform-specific subheader if asked; follow with
    /// [`inner_ethernet`](Self::inner_ethernet).
    pub fn erspan3(self, session: u16, platform_subheader: bool) -> Self {
        self.gre_with(false, None, Some(1)).push(Layer::Erspan {
            type3: true,
            session,
            platform_subheader,
        })
    }

    /// Adds UDP (49152 → 4789) and a VXLAN header; follow with
    /// [`inner_ethernet`](Self::inner_ethernet).
    pub fn vxlan(self, vni: u32) -> Self {
        self.udp(VXLAN_SRC_PORT, vxlan::UDP_PORT)
            .push(Layer::Vxlan { vni })
    }

    /// Adds UDP (2152 → 2152) and a GTP-U G-PDU header; follow with an IP layer.
    pub fn gtpu(self, teid: u32) -> Self {
        self.gtpu_with(teid, None, 0)
    }

    /// As [`gtpu`](Self::gtpu), with an optional sequence number and `extensions`
    /// PDU-session-container extension headers.
    pub fn gtpu_with(self, teid: u32, seq: Option<u16>, extensions: u8) -> Self {
        self.udp(gtpu::UDP_PORT, gtpu::UDP_PORT).push(Layer::Gtpu {
            teid,
            seq,
            extensions,
        })
    }

    /// Overrides the next-protocol field (EtherType, IP protocol, GRE or PPP protocol)
    /// of the last layer, e.g. for ARP payloads or unknown protocols.
    pub fn next_protocol(mut self, value: u16) -> Self {
        if let Some((_, over)) = self.layers.last_mut() {
            *over = Some(value);
        }
        self
    }

    /// Sets the bytes after the innermost header.
    pub fn payload(mut self, bytes: &[u8]) -> Self {
        self.payload = bytes.to_vec();
        self
    }

    /// Emits the frame, innermost layer first, so every length and checksum covers
    /// what follows it.
    pub fn build(&self) -> Vec<u8> {
        let mut inner = self.payload.clone();
        for i in (0..self.layers.len()).rev() {
            let hdr = self.emit_layer(i, &inner);
            let mut bytes = hdr;
            bytes.extend_from_slice(&inner);
            inner = bytes;
        }
        inner
    }

    /// The layer after `i`, if any.
    fn next(&self, i: usize) -> Option<&Layer> {
        self.layers.get(i + 1).map(|(l, _)| l)
    }

    /// Nearest IP layer before `i`: the one a transport checksum is computed under.
    fn enclosing_ip(&self, i: usize) -> Option<&Layer> {
        self.layers[..i]
            .iter()
            .rev()
            .map(|(l, _)| l)
            .find(|l| matches!(l, Layer::Ipv4 { .. } | Layer::Ipv6 { .. }))
    }

    fn ethertype_after(&self, i: usize) -> EtherType {
        if let Some(&(_, Some(v))) = self.layers.get(i) {
            return EtherType::from(v);
        }
        match self.next(i) {
            Some(Layer::Ipv4 { .. }) => EtherType::Ipv4,
            Some(Layer::Ipv6 { .. }) => EtherType::Ipv6,
            Some(Layer::Vlan { tpid, .. }) => *tpid,
            Some(Layer::Mpls { .. }) => EtherType::Mpls,
            Some(Layer::Pppoe { .. }) => EtherType::PppoeSession,
            Some(Layer::Ethernet { .. }) => EtherType::TransparentEthernet,
            Some(Layer::Erspan { type3: false, .. }) => EtherType::ErspanII,
            Some(Layer::Erspan { type3: true, .. }) => EtherType::ErspanIII,
            _ => EtherType::Unknown(0x88b5), // IEEE local experimental
        }
    }

    fn ip_protocol_after(&self, i: usize) -> IpProtocol {
        if let Some(&(_, Some(v))) = self.layers.get(i) {
            return IpProtocol::from(v as u8);
        }
        match self.next(i) {
            Some(Layer::Ipv4 { .. }) => IpProtocol::IpIp,
            Some(Layer::Ipv6 { .. }) => IpProtocol::Ipv6,
            Some(Layer::Tcp { .. }) => IpProtocol::Tcp,
            Some(Layer::Udp { .. }) => IpProtocol::Udp,
            Some(Layer::Ipv6Opt { kind }) => *kind,
            Some(Layer::Ipv6Frag { .. }) => IpProtocol::Ipv6Frag,
            Some(Layer::Ah) => IpProtocol::Ah,
            Some(Layer::Esp { .. }) => IpProtocol::Esp,
            Some(Layer::Gre { .. }) => IpProtocol::Gre,
            Some(Layer::Icmp) if self.under_ipv6(i + 1) => IpProtocol::Icmpv6,
            Some(Layer::Icmp) => IpProtocol::Icmp,
            _ => IpProtocol::NoNextHeader,
        }
    }

    /// Whether layer `i` is carried directly (through extension headers) in IPv6.
    fn under_ipv6(&self, i: usize) -> bool {
        matches!(self.enclosing_ip(i), Some(Layer::Ipv6 { .. }))
    }

    /// Pseudo-header sum for a transport header at layer `i` over `len` bytes.
    fn pseudo(&self, i: usize, proto: IpProtocol, len: usize) -> u32 {
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        match self.enclosing_ip(i) {
            Some(Layer::Ipv4 { src, dst, .. }) => {
                checksum::pseudo_v4(*src, *dst, proto.into(), len)
            }
            Some(Layer::Ipv6 { src, dst }) => checksum::pseudo_v6(*src, *dst, proto.into(), len),
            _ => 0,
        }
    }

    fn emit_layer(&self, i: usize, inner: &[u8]) -> Vec<u8> {
        let Some((layer, _)) = self.layers.get(i) else {
            return Vec::new();
        };
        match *layer {
            Layer::Ethernet { src, dst } => {
                let r = EthernetRepr {
                    src,
                    dst,
                    ethertype: self.ethertype_after(i),
                };
                emit(r.buffer_len(), |b| {
                    r.emit(&mut EthernetView::new_unchecked(b))
                })
            }
            Layer::Vlan { vid, .. } => {
                let r = VlanRepr {
                    pcp: 0,
                    dei: false,
                    vid,
                    ethertype: self.ethertype_after(i),
                };
                emit(r.buffer_len(), |b| r.emit(&mut VlanView::new_unchecked(b)))
            }
            Layer::Mpls { label } => {
                let bottom = !matches!(self.next(i), Some(Layer::Mpls { .. }));
                let r = MplsRepr {
                    label,
                    tc: 0,
                    bottom,
                    ttl: TTL,
                };
                emit(r.buffer_len(), |b| r.emit(&mut MplsView::new_unchecked(b)))
            }
            Layer::Pppoe { session } => {
                let protocol = match (self.layers.get(i).and_then(|l| l.1), self.next(i)) {
                    (Some(v), _) => PppProtocol::from(v),
                    (None, Some(Layer::Ipv4 { .. })) => PppProtocol::Ipv4,
                    (None, Some(Layer::Ipv6 { .. })) => PppProtocol::Ipv6,
                    (None, _) => PppProtocol::Unknown(0xc021), // LCP
                };
                let r = PppoeRepr {
                    session,
                    protocol,
                    payload_len: inner.len(),
                };
                emit(r.buffer_len(), |b| r.emit(&mut PppoeView::new_unchecked(b)))
            }
            Layer::Ipv4 {
                src,
                dst,
                frag_offset,
                more_frags,
                options_len,
            } => {
                let r = Ipv4Repr {
                    src,
                    dst,
                    protocol: self.ip_protocol_after(i),
                    payload_len: inner.len(),
                    ttl: TTL,
                    ident: 0x1234,
                    dont_frag: false,
                    more_frags,
                    frag_offset,
                    options_len,
                };
                emit(r.buffer_len(), |b| r.emit(&mut Ipv4View::new_unchecked(b)))
            }
            Layer::Ipv6 { src, dst } => {
                let r = Ipv6Repr {
                    src,
                    dst,
                    next_header: self.ip_protocol_after(i),
                    payload_len: inner.len(),
                    hop_limit: TTL,
                };
                emit(r.buffer_len(), |b| r.emit(&mut Ipv6View::new_unchecked(b)))
            }
            Layer::Tcp {
                src_port,
                dst_port,
                seq,
                ack,
                flags,
                options_len,
            } => {
                let r = TcpRepr {
                    src_port,
                    dst_port,
                    seq,
                    ack,
                    flags,
                    window: 0xffff,
                    options_len,
                };
                let mut h = emit(r.buffer_len(), |b| r.emit(&mut TcpView::new_unchecked(b)));
                let acc = self.pseudo(i, IpProtocol::Tcp, h.len() + inner.len());
                let sum = checksum::finish(checksum::sum(checksum::sum(acc, &h), inner));
                TcpView::new_unchecked(&mut h[..]).set_checksum(sum);
                h
            }
            Layer::Udp { src_port, dst_port } => {
                let r = UdpRepr {
                    src_port,
                    dst_port,
                    payload_len: inner.len(),
                };
                let mut h = emit(r.buffer_len(), |b| r.emit(&mut UdpView::new_unchecked(b)));
                let acc = self.pseudo(i, IpProtocol::Udp, h.len() + inner.len());
                let sum = match checksum::finish(checksum::sum(checksum::sum(acc, &h), inner)) {
                    0 => 0xffff, // RFC 768: a computed 0 is sent as all ones
                    s => s,
                };
                UdpView::new_unchecked(&mut h[..]).set_checksum(sum);
                h
            }
            Layer::Ipv6Opt { .. } => {
                let r = Ipv6OptRepr {
                    next_header: self.ip_protocol_after(i),
                    header_len: 8,
                };
                emit(r.buffer_len(), |b| {
                    r.emit(&mut Ipv6OptView::new_unchecked(b))
                })
            }
            Layer::Ipv6Frag { offset, more } => {
                let r = Ipv6FragRepr {
                    next_header: self.ip_protocol_after(i),
                    frag_offset: offset,
                    more_frags: more,
                    ident: 0x1234_5678,
                };
                emit(r.buffer_len(), |b| {
                    r.emit(&mut Ipv6FragView::new_unchecked(b))
                })
            }
            Layer::Ah => {
                let r = AhRepr {
                    next_header: self.ip_protocol_after(i),
                    spi: 0x100,
                    seq: 1,
                    icv_len: 12,
                };
                emit(r.buffer_len(), |b| r.emit(&mut AhView::new_unchecked(b)))
            }
            Layer::Esp { spi } => {
                let mut h = spi.to_be_bytes().to_vec();
                h.extend_from_slice(&1u32.to_be_bytes());
                h
            }
            Layer::Icmp => {
                let v6 = self.under_ipv6(i);
                let msg_type = if v6 {
                    icmp::ECHO_REQUEST_V6
                } else {
                    icmp::ECHO_REQUEST_V4
                };
                let r = IcmpRepr {
                    msg_type,
                    code: 0,
                    rest: 0x0001_0001,
                };
                let mut h = emit(r.buffer_len(), |b| r.emit(&mut IcmpView::new_unchecked(b)));
                let acc = if v6 {
                    self.pseudo(i, IpProtocol::Icmpv6, h.len() + inner.len())
                } else {
                    0
                };
                let sum = checksum::finish(checksum::sum(checksum::sum(acc, &h), inner));
                IcmpView::new_unchecked(&mut h[..]).set_checksum(sum);
                h
            }
            Layer::PwControlWord => vec![0; PW_CONTROL_WORD_LEN],
            Layer::Gre { checksum, key, seq } => {
                let r = GreRepr {
                    protocol: self.ethertype_after(i),
                    checksum,
                    key,
                    seq,
                };
                let mut h = emit(r.buffer_len(), |b| r.emit(b));
                r.fill_checksum(&mut h, inner);
                h
            }
            Layer::Erspan {
                type3,
                session,
                platform_subheader,
            } => {
                let r = ErspanRepr {
                    type3,
                    session,
                    platform_subheader,
                };
                emit(r.buffer_len(), |b| r.emit(b))
            }
            Layer::Vxlan { vni } => {
                let r = VxlanRepr { vni };
                emit(r.buffer_len(), |b| r.emit(&mut VxlanView::new_unchecked(b)))
            }
            Layer::Gtpu {
                teid,
                seq,
                extensions,
            } => {
                let r = GtpuRepr {
                    msg_type: gtpu::MSG_G_PDU,
                    teid,
                    seq,
                    extensions,
                    payload_len: inner.len(),
                };
                emit(r.buffer_len(), |b| r.emit(b))
            }
        }
    }
}

/// `addr` as IPv6, IPv4 addresses mapped.
fn to_v6(addr: IpAddr) -> Ipv6Addr {
    match addr {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

/// A zeroed header buffer of `len` bytes, filled by `fill`.
fn emit(len: usize, fill: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let mut h = vec![0u8; len];
    fill(&mut h);
    h
}

fn pcap_io(e: PcapError) -> io::Error {
    match e {
        PcapError::IoError(e) => e,
        other => io::Error::new(io::ErrorKind::InvalidData, other),
    }
}

/// Writes Ethernet `frames` as (timestamp in ns since the epoch, bytes) to a
/// nanosecond-resolution pcap file at `path`.
///
/// # Errors
/// Any I/O error creating or writing the file.
pub fn write_pcap(path: impl AsRef<Path>, frames: &[(u64, Vec<u8>)]) -> io::Result<()> {
    write_pcap_cut(
        path,
        frames.iter().map(|(ts, data)| (*ts, &data[..], data.len())),
    )
}

/// [`write_pcap`] for frames a capture may have cut short (a snap length, a
/// mirror's truncation): (timestamp in ns, bytes captured, length on the wire).
///
/// # Errors
/// Any I/O error creating or writing the file; `InvalidInput` for a frame
/// longer than a pcap record can state.
pub fn write_pcap_cut<'a>(
    path: impl AsRef<Path>,
    frames: impl IntoIterator<Item = (u64, &'a [u8], usize)>,
) -> io::Result<()> {
    let file = BufWriter::new(File::create(path)?);
    let header = PcapHeader {
        datalink: DataLink::ETHERNET,
        ts_resolution: TsResolution::NanoSecond,
        ..PcapHeader::default()
    };
    let mut w = PcapWriter::with_header(file, header).map_err(pcap_io)?;
    for (ts, data, wire_len) in frames {
        let len = u32::try_from(wire_len.max(data.len()))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        w.write_packet(&PcapPacket::new(Duration::from_nanos(ts), len, data))
            .map_err(pcap_io)?;
    }
    w.into_writer()
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()
}

/// A capture written as it is read (into a FIFO a `net_pcap` vdev or
/// `pcap_file` reads): each frame stamped with the wall clock (strictly
/// increasing) and written through at once, so a test or the demo can stage
/// what the probe sees. The frames are kept, to be saved as a file afterwards.
pub struct PcapStream {
    w: PcapWriter<File>,
    last_ns: u64,
    written: Vec<(u64, Vec<u8>)>,
}

impl PcapStream {
    /// Opens `path` for writing and writes the pcap header (on a FIFO this
    /// blocks until the reader opens it).
    ///
    /// # Errors
    /// Opening or writing failed.
    pub fn open(path: &Path) -> io::Result<Self> {
        let fifo = std::fs::OpenOptions::new().write(true).open(path)?;
        let header = PcapHeader {
            datalink: DataLink::ETHERNET,
            ts_resolution: TsResolution::NanoSecond,
            ..PcapHeader::default()
        };
        Ok(Self {
            w: PcapWriter::with_header(fifo, header).map_err(pcap_io)?,
            last_ns: 0,
            written: Vec::new(),
        })
    }

    /// Writes `frame`; returns its timestamp (ns since the Unix epoch).
    ///
    /// # Errors
    /// Writing failed (the reader went away).
    pub fn write(&mut self, frame: &[u8]) -> io::Result<u64> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let ts = now.max(self.last_ns + 1);
        self.last_ns = ts;
        let len = u32::try_from(frame.len())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        self.w
            .write_packet(&PcapPacket::new(Duration::from_nanos(ts), len, frame))
            .map_err(pcap_io)?;
        self.written.push((ts, frame.to_vec()));
        Ok(ts)
    }

    /// Every frame written so far, with its timestamp.
    #[must_use]
    pub fn written(&self) -> &[(u64, Vec<u8>)] {
        &self.written
    }
}

/// Reads a pcap file (either timestamp resolution) into (timestamp in ns, bytes).
///
/// # Errors
/// I/O errors, or `InvalidData` for a malformed file.
pub fn read_pcap(path: impl AsRef<Path>) -> io::Result<Vec<(u64, Vec<u8>)>> {
    let mut r = PcapReader::new(BufReader::new(File::open(path)?)).map_err(pcap_io)?;
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        let p = p.map_err(pcap_io)?;
        let ts = u64::try_from(p.timestamp.as_nanos()).unwrap_or(u64::MAX);
        out.push((ts, p.data.into_owned()));
    }
    Ok(out)
}
