//! The synthesiser builds what it says (checked through the views and checksums) and
//! its pcap files round-trip.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{Ipv4Addr, Ipv6Addr};

use dataplane::parse::checksum;
use dataplane::parse::ethernet::{EtherType, EthernetView};
use dataplane::parse::ip::IpProtocol;
use dataplane::parse::ipv4::Ipv4View;
use dataplane::parse::ipv6::Ipv6View;
use dataplane::parse::tcp::TcpView;
use dataplane::parse::udp::UdpView;
use dataplane::parse::vlan::VlanView;
use dataplane::synth::{read_pcap, write_pcap, Frame};

const A: [u8; 6] = [2, 0, 0, 0, 0, 1];
const B: [u8; 6] = [2, 0, 0, 0, 0, 2];

#[test]
fn builds_vlan_ipv4_udp_with_valid_checksums() {
    let src = Ipv4Addr::new(10, 0, 0, 1);
    let dst = Ipv4Addr::new(10, 0, 0, 2);
    let f = Frame::ethernet(A, B)
        .vlan(100)
        .ipv4(src, dst)
        .udp(1234, 5060)
        .payload(b"hello")
        .build();
    assert_eq!(f.len(), 14 + 4 + 20 + 8 + 5);
    let eth = EthernetView::new_checked(&f[..]).unwrap();
    assert_eq!(
        (eth.src(), eth.dst(), eth.ethertype()),
        (A, B, EtherType::Vlan)
    );
    let vlan = VlanView::new_checked(eth.payload()).unwrap();
    assert_eq!((vlan.vid(), vlan.ethertype()), (100, EtherType::Ipv4));
    let ip = Ipv4View::new_checked(vlan.payload()).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!(
        (ip.src_addr(), ip.dst_addr(), ip.protocol()),
        (src, dst, IpProtocol::Udp)
    );
    assert_eq!(ip.total_len(), 33);
    let udp = UdpView::new_checked(ip.payload()).unwrap();
    assert_eq!(
        (udp.src_port(), udp.dst_port(), udp.len()),
        (1234, 5060, 13)
    );
    assert_eq!(udp.payload(), b"hello");
    let pseudo = checksum::pseudo_v4(src, dst, 17, 13);
    assert_eq!(checksum::finish(checksum::sum(pseudo, ip.payload())), 0);
}

#[test]
fn builds_ipv6_tcp_with_valid_checksum() {
    let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
    let dst: Ipv6Addr = "2001:db8::2".parse().unwrap();
    let f = Frame::ethernet(A, B)
        .ipv6(src, dst)
        .tcp(443, 50000)
        .options(8)
        .payload(b"xyz")
        .build();
    let eth = EthernetView::new_checked(&f[..]).unwrap();
    assert_eq!(eth.ethertype(), EtherType::Ipv6);
    let ip = Ipv6View::new_checked(eth.payload()).unwrap();
    assert_eq!(
        (ip.src_addr(), ip.dst_addr(), ip.next_header()),
        (src, dst, IpProtocol::Tcp)
    );
    let tcp = TcpView::new_checked(ip.payload()).unwrap();
    assert_eq!(
        (tcp.src_port(), tcp.dst_port(), tcp.header_len()),
        (443, 50000, 28)
    );
    assert_eq!(tcp.payload(), b"xyz");
    let pseudo = checksum::pseudo_v6(src, dst, 6, 31);
    assert_eq!(checksum::finish(checksum::sum(pseudo, ip.payload())), 0);
}

#[test]
fn pcap_round_trips_with_nanosecond_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.pcap");
    let f1 = Frame::ethernet(A, B)
        .ipv4(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST)
        .udp(1, 2)
        .build();
    let f2 = Frame::ethernet(B, A)
        .next_protocol(0x0806)
        .payload(&[0u8; 28])
        .build();
    let frames = vec![
        (1_700_000_000_123_456_789u64, f1),
        (1_700_000_001_000_000_001, f2),
    ];
    write_pcap(&path, &frames).unwrap();
    assert_eq!(read_pcap(&path).unwrap(), frames);
}
