//! Property tests: no input panics `dissect`; random valid frames round-trip.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{Ipv4Addr, Ipv6Addr};

use dataplane::parse::{dissect, Dissection, IpPair, Transport};
use dataplane::synth::Frame;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut d = Dissection::default();
        let _ = dissect(&bytes, &mut d);
        prop_assert!(usize::from(d.header_len) <= bytes.len());
    }

    #[test]
    fn random_bytes_after_an_ip_header_never_panic(
        ethertype in prop::sample::select(vec![0x0800u16, 0x86dd, 0x8100, 0x8847, 0x8864]),
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut f = Frame::ethernet([2; 6], [4; 6]).next_protocol(ethertype).build();
        f.extend_from_slice(&bytes);
        let _ = dissect(&f, &mut Dissection::default());
    }

    #[test]
    fn valid_frames_round_trip(
        vlans in proptest::collection::vec(1u16..4095, 0..3),
        labels in proptest::collection::vec(16u32..1_048_575, 0..3),
        pppoe in any::<bool>(),
        exts in 0usize..4,
        v6 in any::<bool>(),
        tunnel in 0u8..5,
        inner_v6 in any::<bool>(),
        tcp in any::<bool>(),
        a in any::<[u8; 16]>(),
        b in any::<[u8; 16]>(),
        sport in any::<u16>(),
        dport in 1u16..2000,
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut f = Frame::ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
        for v in &vlans {
            f = f.vlan(*v);
        }
        f = f.mpls(&labels);
        // PPPoE runs directly over Ethernet/VLAN, not over MPLS.
        let pppoe = pppoe && labels.is_empty();
        if pppoe {
            f = f.pppoe(0x1234);
        }
        let mut want = Vec::new();
        let ip = |f: Frame, v6: bool, want: &mut Vec<IpPair>, salt: u8| {
            if v6 {
                let (s, d) = (Ipv6Addr::from(a), Ipv6Addr::from(b).to_bits() ^ u128::from(salt));
                want.push(IpPair::V6 { src: s, dst: Ipv6Addr::from_bits(d) });
                f.ipv6(s, Ipv6Addr::from_bits(d))
            } else {
                let s = Ipv4Addr::new(a[0], a[1], a[2], a[3]);
                let d = Ipv4Addr::new(b[0], b[1], b[2], b[3] ^ salt);
                want.push(IpPair::V4 { src: s, dst: d });
                f.ipv4(s, d)
            }
        };
        f = ip(f, v6, &mut want, 0);
        if v6 {
            for i in 0..exts {
                f = match i {
                    0 => f.hop_by_hop(),
                    1 => f.dest_opts(),
                    _ => f.fragment(0, false),
                };
            }
        }
        f = match tunnel {
            1 => ip(f.gre(), inner_v6, &mut want, 1),
            2 => ip(f.vxlan(7).inner_ethernet([2; 6], [3; 6]), inner_v6, &mut want, 1),
            3 => ip(f.gtpu(9), inner_v6, &mut want, 1),
            4 => ip(f.erspan3(1, true).inner_ethernet([2; 6], [3; 6]), inner_v6, &mut want, 1),
            _ => f,
        };
        f = if tcp { f.tcp(sport, dport) } else { f.udp(sport, dport) };
        let bytes = f.payload(&payload).build();
        let mut d = Dissection::default();
        prop_assert_eq!(dissect(&bytes, &mut d), Ok(()));
        prop_assert_eq!(d.ips().collect::<Vec<_>>(), want);
        let proto = if tcp { 6 } else { 17 };
        prop_assert_eq!(d.transport, Some(Transport { proto, src_port: sport, dst_port: dport }));
        prop_assert_eq!(usize::from(d.header_len), bytes.len() - payload.len());
        prop_assert_eq!(usize::from(d.l3_offset.unwrap()), 14 + 4 * vlans.len() + 4 * labels.len() + if pppoe { 8 } else { 0 });
    }
}
