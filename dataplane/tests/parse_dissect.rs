//! `dissect` on every encapsulation the synthesiser builds: exact addresses, MACs,
//! transport, L3 offset and header length; truncation, bogus lengths and loops.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{Ipv4Addr, Ipv6Addr};

use dataplane::parse::{dissect, Dissection, IpPair, MacPair, ParseError, Transport};
use dataplane::synth::Frame;

const A: [u8; 6] = [2, 0, 0, 0, 0, 1];
const B: [u8; 6] = [2, 0, 0, 0, 0, 2];
const C: [u8; 6] = [2, 0, 0, 0, 0, 3];
const D: [u8; 6] = [2, 0, 0, 0, 0, 4];
/// A vendor MAC (first nibble 4) behind a pseudowire without control word.
const PW_MAC: [u8; 6] = [0x40, 0xa8, 0xf0, 0, 0, 5];
/// A Cisco HSRP group's virtual MAC: its first 16 bits are zero.
const HSRP_MAC: [u8; 6] = [0x00, 0x00, 0x0c, 0x07, 0xac, 0x01];
const PAYLOAD: &[u8] = b"payload bytes";

fn v4(a: u8, b: u8) -> IpPair {
    IpPair::V4 {
        src: Ipv4Addr::new(10, 0, 0, a),
        dst: Ipv4Addr::new(10, 0, 0, b),
    }
}
fn s4(a: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, a)
}
fn s6(a: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, a)
}
fn v6(a: u16, b: u16) -> IpPair {
    IpPair::V6 {
        src: s6(a),
        dst: s6(b),
    }
}
fn udp(s: u16, d: u16) -> Option<Transport> {
    Some(Transport {
        proto: 17,
        src_port: s,
        dst_port: d,
    })
}
fn tcp(s: u16, d: u16) -> Option<Transport> {
    Some(Transport {
        proto: 6,
        src_port: s,
        dst_port: d,
    })
}
fn macs(pairs: &[([u8; 6], [u8; 6])]) -> Vec<MacPair> {
    pairs
        .iter()
        .map(|&(src, dst)| MacPair { src, dst })
        .collect()
}

/// One encapsulation and the dissection it must give.
struct Case {
    name: &'static str,
    frame: Frame,
    ips: Vec<IpPair>,
    macs: Vec<MacPair>,
    transport: Option<Transport>,
    l3: Option<u16>,
    header_len: u16,
}

fn case(
    name: &'static str,
    frame: Frame,
    ips: Vec<IpPair>,
    macs: Vec<MacPair>,
    transport: Option<Transport>,
    l3: Option<u16>,
    header_len: u16,
) -> Case {
    Case {
        name,
        frame: frame.payload(PAYLOAD),
        ips,
        macs,
        transport,
        l3,
        header_len,
    }
}

/// Every encapsulation in the brief, with header sizes summed by hand.
fn cases() -> Vec<Case> {
    let e = || Frame::ethernet(A, B);
    let ab = macs(&[(A, B)]);
    let abcd = macs(&[(A, B), (C, D)]);
    vec![
        case(
            "eth-ipv4-udp",
            e().ipv4(s4(1), s4(2)).udp(1000, 53),
            vec![v4(1, 2)],
            ab.clone(),
            udp(1000, 53),
            Some(14),
            14 + 20 + 8,
        ),
        case(
            "eth-ipv4opts-tcp",
            e().ipv4(s4(1), s4(2)).options(12).tcp(80, 9000).options(12),
            vec![v4(1, 2)],
            ab.clone(),
            tcp(80, 9000),
            Some(14),
            14 + 32 + 32,
        ),
        case(
            "eth-ipv6-tcp",
            e().ipv6(s6(1), s6(2)).tcp(443, 5000),
            vec![v6(1, 2)],
            ab.clone(),
            tcp(443, 5000),
            Some(14),
            14 + 40 + 20,
        ),
        case(
            "eth-ipv4-icmp",
            e().ipv4(s4(1), s4(2)).icmp(),
            vec![v4(1, 2)],
            ab.clone(),
            Some(Transport {
                proto: 1,
                src_port: 0,
                dst_port: 0,
            }),
            Some(14),
            14 + 20 + 8,
        ),
        case(
            "eth-ipv6-icmpv6",
            e().ipv6(s6(1), s6(2)).icmp(),
            vec![v6(1, 2)],
            ab.clone(),
            Some(Transport {
                proto: 58,
                src_port: 0,
                dst_port: 0,
            }),
            Some(14),
            14 + 40 + 8,
        ),
        case(
            "vlan",
            e().vlan(100).ipv4(s4(1), s4(2)).udp(1, 2),
            vec![v4(1, 2)],
            ab.clone(),
            udp(1, 2),
            Some(18),
            18 + 28,
        ),
        case(
            "qinq",
            e().qinq(10).vlan(20).ipv6(s6(1), s6(2)).udp(1, 2),
            vec![v6(1, 2)],
            ab.clone(),
            udp(1, 2),
            Some(22),
            22 + 48,
        ),
        case(
            "qinq-9100",
            e().vlan_tpid(0x9100, 10)
                .vlan(20)
                .ipv4(s4(1), s4(2))
                .udp(1, 2),
            vec![v4(1, 2)],
            ab.clone(),
            udp(1, 2),
            Some(22),
            22 + 28,
        ),
        case(
            "mpls-ipv4",
            e().mpls(&[16, 17, 18]).ipv4(s4(1), s4(2)).udp(1, 2),
            vec![v4(1, 2)],
            ab.clone(),
            udp(1, 2),
            Some(26),
            26 + 28,
        ),
        case(
            "mpls-ipv6",
            e().vlan(5).mpls(&[16]).ipv6(s6(1), s6(2)).tcp(1, 2),
            vec![v6(1, 2)],
            ab.clone(),
            tcp(1, 2),
            Some(22),
            22 + 60,
        ),
        case(
            "mpls-pw-ethernet",
            e().mpls(&[16, 17])
                .pw_control_word()
                .inner_ethernet(C, D)
                .ipv4(s4(3), s4(4))
                .udp(1, 2),
            vec![v4(3, 4)],
            abcd.clone(),
            udp(1, 2),
            Some(40),
            40 + 28,
        ),
        case(
            // No control word, and a destination MAC whose first nibble is IPv4's.
            "mpls-pw-ethernet-no-control-word",
            e().mpls(&[16, 19])
                .inner_ethernet(C, PW_MAC)
                .ipv6(s6(5), s6(6))
                .tcp(1, 2),
            vec![v6(5, 6)],
            macs(&[(A, B), (C, PW_MAC)]),
            tcp(1, 2),
            Some(36),
            36 + 60,
        ),
        case(
            // An HSRP gateway's MAC (first 16 bits zero, as a control word's)
            // and a tag: either reading looks whole; the MAC one is taken.
            "mpls-pw-ethernet-no-control-word-hsrp-vlan",
            e().mpls(&[16, 19])
                .inner_ethernet(C, HSRP_MAC)
                .vlan(5)
                .ipv4(s4(7), s4(8))
                .udp(1, 2),
            vec![v4(7, 8)],
            macs(&[(A, B), (C, HSRP_MAC)]),
            udp(1, 2),
            Some(40),
            40 + 28,
        ),
        case(
            "pppoe-ipv4",
            e().pppoe(7).ipv4(s4(1), s4(2)).tcp(1, 2),
            vec![v4(1, 2)],
            ab.clone(),
            tcp(1, 2),
            Some(22),
            22 + 40,
        ),
        case(
            "pppoe-ipv6",
            e().vlan(3).pppoe(7).ipv6(s6(1), s6(2)).udp(1, 2),
            vec![v6(1, 2)],
            ab.clone(),
            udp(1, 2),
            Some(26),
            26 + 48,
        ),
        case(
            "ipv4-first-fragment",
            e().ipv4(s4(1), s4(2)).fragment(0, true).udp(1, 2),
            vec![v4(1, 2)],
            ab.clone(),
            udp(1, 2),
            Some(14),
            14 + 28,
        ),
        case(
            "ipv4-later-fragment",
            e().ipv4(s4(1), s4(2)).fragment(185, false).udp(1, 2),
            vec![v4(1, 2)],
            ab.clone(),
            None,
            Some(14),
            14 + 20,
        ),
        case(
            "ipv6-ext-chain",
            e().ipv6(s6(1), s6(2))
                .hop_by_hop()
                .routing()
                .dest_opts()
                .udp(1, 2),
            vec![v6(1, 2)],
            ab.clone(),
            udp(1, 2),
            Some(14),
            14 + 40 + 24 + 8,
        ),
        case(
            "ipv6-first-fragment",
            e().ipv6(s6(1), s6(2)).fragment(0, true).tcp(1, 2),
            vec![v6(1, 2)],
            ab.clone(),
            tcp(1, 2),
            Some(14),
            14 + 48 + 20,
        ),
        case(
            "ipv6-later-fragment",
            e().ipv6(s6(1), s6(2))
                .hop_by_hop()
                .fragment(100, true)
                .tcp(1, 2),
            vec![v6(1, 2)],
            ab.clone(),
            None,
            Some(14),
            14 + 56,
        ),
        case(
            "ipv6-ah",
            e().ipv6(s6(1), s6(2)).ah().tcp(1, 2),
            vec![v6(1, 2)],
            ab.clone(),
            tcp(1, 2),
            Some(14),
            14 + 64 + 20,
        ),
        case(
            "ipv4-ah",
            e().ipv4(s4(1), s4(2)).ah().udp(1, 2),
            vec![v4(1, 2)],
            ab.clone(),
            udp(1, 2),
            Some(14),
            14 + 44 + 8,
        ),
        case(
            "ipv6-esp",
            e().ipv6(s6(1), s6(2)).dest_opts().esp(9),
            vec![v6(1, 2)],
            ab.clone(),
            None,
            Some(14),
            14 + 48,
        ),
        case(
            "ipv4-unknown-proto",
            e().ipv4(s4(1), s4(2)).next_protocol(253),
            vec![v4(1, 2)],
            ab.clone(),
            None,
            Some(14),
            14 + 20,
        ),
        case(
            "arp",
            e().next_protocol(0x0806),
            vec![],
            ab.clone(),
            None,
            None,
            14,
        ),
        case(
            "vlan-lldp",
            e().vlan(9).next_protocol(0x88cc),
            vec![],
            ab.clone(),
            None,
            None,
            18,
        ),
        case(
            "ipip",
            e().ipv4(s4(1), s4(2)).ipv4(s4(3), s4(4)).udp(1, 2),
            vec![v4(1, 2), v4(3, 4)],
            ab.clone(),
            udp(1, 2),
            Some(14),
            14 + 40 + 8,
        ),
        case(
            "6in4",
            e().ipv4(s4(1), s4(2)).ipv6(s6(3), s6(4)).tcp(1, 2),
            vec![v4(1, 2), v6(3, 4)],
            ab.clone(),
            tcp(1, 2),
            Some(14),
            14 + 60 + 20,
        ),
        case(
            "gre-ipv4",
            e().ipv4(s4(1), s4(2)).gre().ipv4(s4(3), s4(4)).udp(1, 2),
            vec![v4(1, 2), v4(3, 4)],
            ab.clone(),
            udp(1, 2),
            Some(14),
            14 + 24 + 28,
        ),
        case(
            "gre-ckey-seq-ipv6",
            e().ipv6(s6(1), s6(2))
                .gre_with(true, Some(7), Some(8))
                .ipv6(s6(3), s6(4))
                .tcp(1, 2),
            vec![v6(1, 2), v6(3, 4)],
            ab.clone(),
            tcp(1, 2),
            Some(14),
            14 + 40 + 16 + 60,
        ),
        case(
            "gre-teb",
            e().ipv4(s4(1), s4(2))
                .gre_with(false, Some(1), None)
                .inner_ethernet(C, D)
                .ipv4(s4(3), s4(4))
                .udp(1, 2),
            vec![v4(1, 2), v4(3, 4)],
            abcd.clone(),
            udp(1, 2),
            Some(14),
            14 + 28 + 14 + 28,
        ),
        case(
            "gre-mpls",
            e().ipv4(s4(1), s4(2))
                .gre()
                .mpls(&[20])
                .ipv4(s4(3), s4(4))
                .udp(1, 2),
            vec![v4(1, 2), v4(3, 4)],
            ab.clone(),
            udp(1, 2),
            Some(14),
            14 + 24 + 4 + 28,
        ),
        case(
            "erspan2",
            e().ipv4(s4(1), s4(2))
                .erspan2(5)
                .inner_ethernet(C, D)
                .vlan(7)
                .ipv4(s4(3), s4(4))
                .tcp(1, 2),
            vec![v4(1, 2), v4(3, 4)],
            abcd.clone(),
            tcp(1, 2),
            Some(14),
            14 + 20 + 8 + 8 + 18 + 40,
        ),
        case(
            "erspan3",
            e().ipv4(s4(1), s4(2))
                .erspan3(5, false)
                .inner_ethernet(C, D)
                .ipv6(s6(3), s6(4))
                .udp(1, 2),
            vec![v4(1, 2), v6(3, 4)],
            abcd.clone(),
            udp(1, 2),
            Some(14),
            14 + 20 + 8 + 12 + 14 + 48,
        ),
        case(
            "erspan3-platform",
            e().ipv4(s4(1), s4(2))
                .erspan3(5, true)
                .inner_ethernet(C, D)
                .ipv4(s4(3), s4(4))
                .udp(1, 2),
            vec![v4(1, 2), v4(3, 4)],
            abcd.clone(),
            udp(1, 2),
            Some(14),
            14 + 20 + 8 + 20 + 14 + 28,
        ),
        case(
            "erspan1",
            e().ipv4(s4(1), s4(2))
                .erspan1()
                .inner_ethernet(C, D)
                .ipv4(s4(3), s4(4))
                .tcp(1, 2),
            vec![v4(1, 2), v4(3, 4)],
            abcd.clone(),
            tcp(1, 2),
            Some(14),
            14 + 20 + 4 + 14 + 40,
        ),
        case(
            "vxlan",
            e().ipv4(s4(1), s4(2))
                .vxlan(42)
                .inner_ethernet(C, D)
                .ipv4(s4(3), s4(4))
                .tcp(1, 2),
            vec![v4(1, 2), v4(3, 4)],
            abcd.clone(),
            tcp(1, 2),
            Some(14),
            14 + 28 + 8 + 14 + 40,
        ),
        case(
            "vxlan-arp",
            e().ipv6(s6(1), s6(2))
                .vxlan(42)
                .inner_ethernet(C, D)
                .next_protocol(0x0806),
            vec![v6(1, 2)],
            abcd.clone(),
            udp(49152, 4789),
            Some(14),
            14 + 48 + 8 + 14,
        ),
        case(
            "gtpu",
            e().vlan(1)
                .ipv4(s4(1), s4(2))
                .gtpu(0x1234)
                .ipv4(s4(3), s4(4))
                .udp(1, 2),
            vec![v4(1, 2), v4(3, 4)],
            ab.clone(),
            udp(1, 2),
            Some(18),
            18 + 28 + 8 + 28,
        ),
        case(
            "gtpu-seq-ext",
            e().ipv6(s6(1), s6(2))
                .gtpu_with(9, Some(3), 2)
                .ipv6(s6(3), s6(4))
                .tcp(1, 2),
            vec![v6(1, 2), v6(3, 4)],
            ab.clone(),
            tcp(1, 2),
            Some(14),
            14 + 48 + 12 + 8 + 60,
        ),
        case(
            "three-tunnels",
            e().ipv4(s4(1), s4(2))
                .gre()
                .ipv4(s4(3), s4(4))
                .gtpu(1)
                .ipv4(s4(5), s4(6))
                .vxlan(2)
                .inner_ethernet(C, D)
                .ipv4(s4(7), s4(8))
                .udp(1, 2),
            vec![v4(1, 2), v4(3, 4), v4(5, 6), v4(7, 8)],
            abcd,
            udp(1, 2),
            Some(14),
            14 + 24 + 28 + 8 + 28 + 8 + 14 + 28,
        ),
    ]
}

fn check(c: &Case, bytes: &[u8]) {
    let mut d = Dissection::default();
    assert_eq!(dissect(bytes, &mut d), Ok(()), "{}", c.name);
    check_layers(c, &d);
}

fn check_layers(c: &Case, d: &Dissection) {
    assert_eq!(d.ips().collect::<Vec<_>>(), c.ips, "{} ips", c.name);
    assert_eq!(d.macs(), &c.macs[..], "{} macs", c.name);
    assert_eq!(d.transport, c.transport, "{} transport", c.name);
    assert_eq!(d.l3_offset, c.l3, "{} l3_offset", c.name);
    assert_eq!(d.header_len, c.header_len, "{} header_len", c.name);
}

#[test]
fn dissects_every_encapsulation_exactly() {
    for c in cases() {
        let bytes = c.frame.build();
        check(&c, &bytes);
        // Ethernet padding after the IP packet changes nothing.
        let mut padded = bytes.clone();
        padded.extend_from_slice(&[0; 20]);
        check(&c, &padded);
    }
}

#[test]
fn header_len_never_reaches_the_payload() {
    for c in cases() {
        let bytes = c.frame.build();
        let mut d = Dissection::default();
        dissect(&bytes, &mut d).unwrap();
        assert!(
            usize::from(d.header_len) <= bytes.len() - PAYLOAD.len(),
            "{}",
            c.name
        );
    }
}

/// Cut anywhere, a frame gives the outer part of its whole dissection: its
/// first IP layers and MAC pairs, headers ending inside the cut. Cut anywhere
/// after its headers (a snap length, a mirror's truncation), it gives all of
/// it, and reports the IP length the cut made a lie of (a frame without IP
/// has none).
#[test]
fn a_cut_frame_keeps_the_layers_before_the_cut() {
    for c in cases() {
        let bytes = c.frame.build();
        for cut in 0..bytes.len() {
            let mut d = Dissection::default();
            let got = dissect(&bytes[..cut], &mut d);
            let name = format!("{} cut at {cut}: {got:?}", c.name);
            let ips: Vec<IpPair> = d.ips().collect();
            assert!(usize::from(d.header_len) <= cut, "{name}");
            assert!(c.ips.starts_with(&ips), "{name}: {ips:?}");
            assert!(c.macs.starts_with(d.macs()), "{name}: {:?}", d.macs());
            if cut >= usize::from(c.header_len) {
                let lie = if c.ips.is_empty() {
                    Ok(())
                } else {
                    Err(ParseError::BadLength)
                };
                assert_eq!(got, lie, "{name}");
                check_layers(&c, &d);
            }
        }
    }
}

#[test]
fn reuses_a_dissection_without_leftovers() {
    let mut d = Dissection::default();
    let tunnel = Frame::ethernet(A, B)
        .ipv4(s4(1), s4(2))
        .vxlan(1)
        .inner_ethernet(C, D)
        .ipv4(s4(3), s4(4))
        .udp(1, 2)
        .build();
    dissect(&tunnel, &mut d).unwrap();
    let arp = Frame::ethernet(A, B)
        .next_protocol(0x0806)
        .payload(&[0; 28])
        .build();
    dissect(&arp, &mut d).unwrap();
    assert_eq!(d.ips().count(), 0);
    assert_eq!(d.macs().len(), 1);
    assert_eq!((d.transport, d.l3_offset, d.header_len), (None, None, 14));
}

fn err(bytes: &[u8]) -> Result<(), ParseError> {
    dissect(bytes, &mut Dissection::default())
}

#[test]
fn rejects_ipv4_total_length_past_frame() {
    let mut f = Frame::ethernet(A, B)
        .ipv4(s4(1), s4(2))
        .udp(1, 2)
        .payload(PAYLOAD)
        .build();
    f[14 + 2] = 0x05; // total length 1280+
    assert_eq!(err(&f), Err(ParseError::BadLength));
}

#[test]
fn rejects_ipv4_header_length_below_minimum() {
    let mut f = Frame::ethernet(A, B).ipv4(s4(1), s4(2)).udp(1, 2).build();
    f[14] = 0x44;
    assert_eq!(err(&f), Err(ParseError::BadLength));
}

#[test]
fn rejects_ipv6_payload_length_past_frame() {
    let mut f = Frame::ethernet(A, B).ipv6(s6(1), s6(2)).udp(1, 2).build();
    f[14 + 4] = 0x10;
    assert_eq!(err(&f), Err(ParseError::BadLength));
}

#[test]
fn rejects_udp_length_past_ip_packet() {
    let mut f = Frame::ethernet(A, B)
        .ipv4(s4(1), s4(2))
        .udp(1, 2)
        .payload(PAYLOAD)
        .build();
    f.extend_from_slice(&[0; 32]); // padding must not count as UDP payload
    f[34 + 5] = 8 + PAYLOAD.len() as u8 + 1;
    assert_eq!(err(&f), Err(ParseError::BadLength));
}

#[test]
fn rejects_tcp_data_offset_below_minimum() {
    let mut f = Frame::ethernet(A, B).ipv4(s4(1), s4(2)).tcp(1, 2).build();
    f[34 + 12] = 0x40;
    assert_eq!(err(&f), Err(ParseError::BadLength));
}

#[test]
fn rejects_ipv4_ethertype_with_version_6() {
    let f = Frame::ethernet(A, B)
        .ipv6(s6(1), s6(2))
        .next_protocol(59)
        .build();
    let mut f2 = f.clone();
    f2[12..14].copy_from_slice(&[0x08, 0x00]);
    assert_eq!(err(&f2), Err(ParseError::BadVersion));
}

#[test]
fn keeps_the_outer_layers_when_the_inner_packet_is_malformed() {
    let mut f = Frame::ethernet(A, B)
        .ipv4(s4(1), s4(2))
        .gre()
        .ipv4(s4(3), s4(4))
        .udp(1, 2)
        .build();
    f[14 + 24] = 0x43; // inner IHL 3
    let mut d = Dissection::default();
    assert_eq!(dissect(&f, &mut d), Err(ParseError::BadLength));
    assert_eq!(d.ips().collect::<Vec<_>>(), vec![v4(1, 2)]);
}

#[test]
fn stops_vlan_stacks_past_the_limit() {
    let mut f = Frame::ethernet(A, B);
    for v in 0..9 {
        f = f.vlan(v);
    }
    let bytes = f.ipv4(s4(1), s4(2)).udp(1, 2).build();
    assert_eq!(err(&bytes), Err(ParseError::TooDeep));
    let mut f = Frame::ethernet(A, B);
    for v in 0..8 {
        f = f.vlan(v);
    }
    assert_eq!(err(&f.ipv4(s4(1), s4(2)).udp(1, 2).build()), Ok(()));
}

#[test]
fn stops_label_stacks_without_bottom() {
    // 17 labels, none with the bottom-of-stack bit
    let mut f = Frame::ethernet(A, B).next_protocol(0x8847).build();
    for _ in 0..17 {
        f.extend_from_slice(&[0x00, 0x10, 0x00, 0x40]);
    }
    assert_eq!(err(&f), Err(ParseError::TooDeep));
}

#[test]
fn stops_tunnel_loops() {
    // Four nested GRE-in-IPv4 tunnels: one more than allowed.
    let mut f = Frame::ethernet(A, B).ipv4(s4(1), s4(2));
    for i in 0..4 {
        f = f.gre().ipv4(s4(10 + i), s4(20 + i));
    }
    assert_eq!(err(&f.udp(1, 2).build()), Err(ParseError::TooDeep));
    // Self-referencing IP-in-IP (ttl aside, the same 20 bytes repeated).
    let mut f = Frame::ethernet(A, B);
    for _ in 0..40 {
        f = f.ipv4(s4(1), s4(2));
    }
    assert_eq!(err(&f.build()), Err(ParseError::TooDeep));
}

#[test]
fn stops_extension_header_chains_past_the_limit() {
    let mut f = Frame::ethernet(A, B).ipv6(s6(1), s6(2));
    for _ in 0..9 {
        f = f.dest_opts();
    }
    assert_eq!(err(&f.udp(1, 2).build()), Err(ParseError::TooDeep));
}

#[test]
fn treats_port_4789_without_vxlan_flag_as_udp_payload() {
    let f = Frame::ethernet(A, B)
        .ipv4(s4(1), s4(2))
        .udp(5, 4789)
        .payload(&[0; 30])
        .build();
    let mut d = Dissection::default();
    dissect(&f, &mut d).unwrap();
    assert_eq!(
        (d.transport, d.header_len, d.ips().count()),
        (udp(5, 4789), 42, 1)
    );
}

#[test]
fn treats_port_2152_without_gtpv1_as_udp_payload() {
    let f = Frame::ethernet(A, B)
        .ipv4(s4(1), s4(2))
        .udp(5, 2152)
        .payload(&[0x48; 30])
        .build();
    let mut d = Dissection::default();
    dissect(&f, &mut d).unwrap();
    assert_eq!((d.transport, d.header_len), (udp(5, 2152), 42));
}

#[test]
fn tiny_first_fragment_still_yields_addresses() {
    // A first fragment cut inside the TCP header: addresses count, no transport.
    let mut f = Frame::ethernet(A, B)
        .ipv4(s4(1), s4(2))
        .fragment(0, true)
        .next_protocol(6)
        .payload(&[0; 8])
        .build();
    f.truncate(14 + 20 + 8);
    let mut d = Dissection::default();
    assert_eq!(dissect(&f, &mut d), Ok(()));
    assert_eq!(
        (d.ips().collect::<Vec<_>>(), d.transport, d.header_len),
        (vec![v4(1, 2)], None, 34)
    );
}

#[test]
fn rejects_frames_longer_than_65535() {
    assert_eq!(err(&vec![0u8; 70_000]), Err(ParseError::BadLength));
}

/// Writes one frame per case to a pcap and returns tshark's field output, one line per
/// frame, or `None` (with a notice) when tshark is not installed.
fn tshark_fields(extra: &[&str], fields: &[&str]) -> Option<String> {
    tshark_fields_of(extra, fields, false)
}

/// [`tshark_fields`], with every frame cut after its headers if `cut`: as a
/// capture with a snap length stores it (its wire length kept).
fn tshark_fields_of(extra: &[&str], fields: &[&str], cut: bool) -> Option<String> {
    if std::process::Command::new("tshark")
        .arg("-v")
        .output()
        .is_err()
    {
        println!("NOTICE: tshark not installed, cross-check skipped");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("encaps.pcap");
    let all = cases();
    let frames: Vec<(u64, Vec<u8>, usize)> = all
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut f = c.frame.build();
            let len = f.len();
            if cut {
                f.truncate(usize::from(c.header_len));
            }
            (i as u64 * 1000, f, len)
        })
        .collect();
    let records = frames.iter().map(|(ts, f, len)| (*ts, &f[..], *len));
    dataplane::synth::write_pcap_cut(&path, records).unwrap();
    let mut cmd = std::process::Command::new("tshark");
    // The pseudowire cases' bottom labels are 17 and 19: tell tshark they carry
    // Ethernet with and without a control word (MPLS has no payload type field).
    cmd.args([
        "-n",
        "-d",
        "mpls.label==17,pwethcw",
        "-d",
        "mpls.label==19,pwethnocw",
    ])
    .args(extra)
    .arg("-r")
    .arg(&path);
    cmd.args(["-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

/// The synthesiser's checksums (IPv4, UDP, TCP, ICMP, ICMPv6, GRE) are right by an
/// independent implementation.
#[test]
fn tshark_finds_every_checksum_good() {
    let fields = [
        "ip.checksum.status",
        "udp.checksum.status",
        "tcp.checksum.status",
        "icmp.checksum.status",
        "icmpv6.checksum.status",
        "gre.checksum.status",
    ];
    let opts = [
        "-o",
        "ip.check_checksum:TRUE",
        "-o",
        "udp.check_checksum:TRUE",
        "-o",
        "tcp.check_checksum:TRUE",
    ];
    let Some(text) = tshark_fields(&opts, &fields) else {
        return;
    };
    let all = cases();
    let mut checked = [0usize; 6];
    for (c, line) in all.iter().zip(text.lines()) {
        for (i, col) in line.split('\t').enumerate() {
            for status in col.split(',').filter(|s| !s.is_empty()) {
                // 0 bad, 1 good, 2 not checked
                assert_ne!(status, "0", "{}: bad {} in {line:?}", c.name, fields[i]);
                if status == "1" {
                    checked[i] += 1;
                }
            }
        }
    }
    assert!(
        checked.iter().all(|&n| n > 0),
        "some checksum kind never verified: {checked:?}"
    );
}

/// Cross-check with an independent decoder: tshark's IP addresses for one frame per
/// encapsulation must equal ours, layer by layer.
#[test]
fn tshark_agrees_on_every_ip_layer() {
    tshark_agrees_on_ip_layers(false);
}

/// [`tshark_agrees_on_every_ip_layer`] on the frames cut after their headers,
/// as a capture with a snap length stores them.
#[test]
fn tshark_agrees_on_every_ip_layer_of_cut_frames() {
    tshark_agrees_on_ip_layers(true);
}

fn tshark_agrees_on_ip_layers(cut: bool) {
    let fields = ["ip.src", "ip.dst", "ipv6.src", "ipv6.dst"];
    let Some(text) = tshark_fields_of(&[], &fields, cut) else {
        return;
    };
    let all = cases();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), all.len());
    for (c, line) in all.iter().zip(lines) {
        let cols: Vec<Vec<&str>> = line
            .split('\t')
            .map(|f| f.split(',').filter(|s| !s.is_empty()).collect())
            .collect();
        let field = |i: usize| cols.get(i).cloned().unwrap_or_default();
        let ours_v4: Vec<(String, String)> = c
            .ips
            .iter()
            .filter_map(|p| match p {
                IpPair::V4 { src, dst } => Some((src.to_string(), dst.to_string())),
                IpPair::V6 { .. } => None,
            })
            .collect();
        let ours_v6: Vec<(String, String)> = c
            .ips
            .iter()
            .filter_map(|p| match p {
                IpPair::V6 { src, dst } => Some((src.to_string(), dst.to_string())),
                IpPair::V4 { .. } => None,
            })
            .collect();
        let zip = |s: Vec<&str>, d: Vec<&str>| -> Vec<(String, String)> {
            s.into_iter()
                .zip(d)
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        assert_eq!(
            zip(field(0), field(1)),
            ours_v4,
            "{}: tshark line {line:?}",
            c.name
        );
        assert_eq!(
            zip(field(2), field(3)),
            ours_v6,
            "{}: tshark line {line:?}",
            c.name
        );
    }
}

/// Cross-check with an independent decoder: tshark's MAC pairs for one frame
/// per encapsulation (an Ethernet pseudowire's and a mirror tunnel's inner
/// pair included) must equal ours, outermost first.
#[test]
fn tshark_agrees_on_every_mac_pair() {
    let Some(text) = tshark_fields(&[], &["eth.src", "eth.dst"]) else {
        return;
    };
    let all = cases();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), all.len());
    let mac = |m: &[u8; 6]| m.map(|b| format!("{b:02x}")).join(":");
    for (c, line) in all.iter().zip(lines) {
        let (src, dst) = line.split_once('\t').unwrap_or((line, ""));
        let theirs: Vec<(&str, &str)> = src.split(',').zip(dst.split(',')).collect();
        let ours: Vec<(String, String)> =
            c.macs.iter().map(|p| (mac(&p.src), mac(&p.dst))).collect();
        let ours: Vec<(&str, &str)> = ours.iter().map(|(s, d)| (&s[..], &d[..])).collect();
        assert_eq!(theirs, ours, "{}: tshark line {line:?}", c.name);
    }
}
