//! Deterministic synthetic traffic: target addresses, and UDP frames (64 bytes
//! on the wire for plain IPv4) plain or in the encapsulations of [`Encap`].
//!
//! Targets live in 100.64.0.0/10 (carrier-grade NAT space, where subscriber
//! addresses sit); other traffic uses 10.0.0.0/8 → 198.18.0.0/15, so a
//! packet matches only if the generator put a target address in it. IPv6
//! traffic carries the same addresses in 64:ff9b::/96 ([`ipv6_of`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use dataplane::synth::Frame;

/// Most targets the address plan can hold (a /10).
pub const MAX_TARGETS: u32 = 1 << 22;
const TARGET_BASE: u32 = 0x6440_0000; // 100.64.0.0
/// Odd multiplier: `i -> i * M mod 2^22` is a bijection, spreading targets over the /10.
const TARGET_STRIDE: u32 = 0x9E37_79B1;

/// The `i`-th target address (`i < MAX_TARGETS`); distinct for distinct `i`.
pub fn target_addr(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(TARGET_BASE | (i.wrapping_mul(TARGET_STRIDE) & (MAX_TARGETS - 1)))
}

/// SplitMix64: tiny, seeded, reproducible across runs and platforms.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator that always yields the same sequence for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`; negligible bias for the sizes used here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// The IPv6 form of a generated address: in the NAT64 well-known prefix
/// 64:ff9b::/96 (RFC 6052), so IPv6 runs keep the IPv4 address plan.
pub fn ipv6_of(a: Ipv4Addr) -> Ipv6Addr {
    Ipv6Addr::from(0x0064_ff9b_u128 << 96 | u128::from(u32::from(a)))
}

/// How a generated flow is carried on the link the probe taps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encap {
    /// Ethernet, then the flow's IP header.
    Plain,
    /// In a PPPoE session (802.1Q-tagged, session `id`), as a broadband
    /// access network carries a subscriber's traffic to its BNG.
    Pppoe,
    /// In GTP-U, as a mobile core's user plane carries it; `pdu_session`: with
    /// a PDU session container, as 5G's N3 does.
    Gtpu {
        /// Whether the GTP-U header has a PDU session container.
        pdu_session: bool,
    },
    /// In GRE (with key `id`), as a site-to-site tunnel carries it.
    Gre,
    /// In VXLAN, as a switch's or a cloud's traffic mirror delivers it.
    Vxlan,
    /// In ERSPAN type II (GRE with a sequence number), as a router's mirror
    /// session delivers it.
    Erspan,
    /// In IP directly (IP in IP, or 6in4 with IPv6 flows), as a plain
    /// tunnel between sites carries it.
    IpIp,
    /// In an MPLS pseudowire (label `id`, then the customer's Ethernet
    /// frame), as a metro or VPLS core carries it.
    Pseudowire {
        /// Whether a control word precedes the Ethernet frame (RFC 4448
        /// makes it optional; without it the MAC's first byte follows the
        /// label).
        control_word: bool,
    },
}

/// The IP family of a tunnel's outer header: the transport network's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Underlay {
    /// IPv4, from 192.0.2.x to 198.51.100.1.
    Ipv4,
    /// IPv6, the same addresses in 64:ff9b::/96 ([`ipv6_of`]): 20 bytes more.
    Ipv6,
}

impl Encap {
    /// The frame of flow `(src, dst)`, `(sport, dport)` over UDP, carried this
    /// way. `id` numbers the tunnel (TEID, VNI, session) and picks its outer
    /// source, 192.0.2.x; the outer destination, a gateway or the probe's
    /// collector address, is 198.51.100.1. With IPv4 inside (add 20 bytes for
    /// IPv6): plain 60 bytes (64 on the wire with the FCS), PPPoE 72, IP in
    /// IP 80, pseudowire 82 (78 without a control word), GRE 88, GTP-U 96 (104 with the PDU session
    /// container), VXLAN and ERSPAN 110.
    pub fn frame(self, flow: (IpAddr, IpAddr), ports: (u16, u16), id: u32) -> Vec<u8> {
        self.frame_over(Underlay::Ipv4, flow, ports, id)
    }

    /// Whether the encapsulation has an outer IP header (an [`Underlay`]).
    pub fn is_ip_tunnel(self) -> bool {
        !matches!(self, Encap::Plain | Encap::Pppoe | Encap::Pseudowire { .. })
    }

    /// [`Self::frame`] with a tunnel's outer header in `underlay` (ignored
    /// by the encapsulations without one).
    pub fn frame_over(
        self,
        underlay: Underlay,
        (src, dst): (IpAddr, IpAddr),
        (sport, dport): (u16, u16),
        id: u32,
    ) -> Vec<u8> {
        let link = match self {
            Encap::Plain => Frame::ethernet(MAC_A, MAC_B),
            Encap::Pppoe => Frame::ethernet(MAC_A, MAC_B)
                .vlan((id & 0xfff) as u16)
                .pppoe(id as u16),
            Encap::Gtpu { pdu_session } => {
                tunnel_outer(underlay, id).gtpu_with(id, None, u8::from(pdu_session))
            }
            Encap::Gre => tunnel_outer(underlay, id).gre_with(false, Some(id), None),
            Encap::Vxlan => tunnel_outer(underlay, id)
                .vxlan(id & 0x00ff_ffff)
                .inner_ethernet(INNER_MAC_A, INNER_MAC_B),
            Encap::Erspan => tunnel_outer(underlay, id)
                .erspan2((id & 0x3ff) as u16)
                .inner_ethernet(INNER_MAC_A, INNER_MAC_B),
            Encap::IpIp => tunnel_outer(underlay, id),
            Encap::Pseudowire { control_word } => {
                // Labels 0-15 are reserved.
                let labelled = Frame::ethernet(MAC_A, MAC_B).mpls(&[16 + id % 0xf_fff0]);
                let labelled = if control_word {
                    labelled.pw_control_word()
                } else {
                    labelled
                };
                labelled.inner_ethernet(INNER_MAC_A, INNER_MAC_B)
            }
        };
        // 8 UDP + 18 payload: 60 bytes for plain IPv4.
        link.ip(src, dst)
            .udp(sport, dport)
            .payload(&[0u8; 18])
            .build()
    }
}

/// MAC addresses of the tapped link, and of the frame inside a mirror tunnel.
const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 1];
const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 2];
const INNER_MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 3];
const INNER_MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 4];

/// The outer Ethernet and IP header of a tunnel frame: from 192.0.2.x (x the
/// low byte of `id`) to 198.51.100.1, in `underlay`'s family.
fn tunnel_outer(underlay: Underlay, id: u32) -> Frame {
    let [_, _, _, node] = id.to_be_bytes();
    let (src, dst) = (
        Ipv4Addr::new(192, 0, 2, node),
        Ipv4Addr::new(198, 51, 100, 1),
    );
    let eth = Frame::ethernet(MAC_A, MAC_B);
    match underlay {
        Underlay::Ipv4 => eth.ipv4(src, dst),
        Underlay::Ipv6 => eth.ipv6(ipv6_of(src), ipv6_of(dst)),
    }
}

/// A random non-target flow: 10.0.0.0/8 → 198.18.0.0/15, UDP to port 53.
pub fn background_flow(rng: &mut Rng) -> (Ipv4Addr, Ipv4Addr, u16, u16) {
    let r = rng.next_u64();
    let src = Ipv4Addr::from(0x0A00_0000 | (r as u32 & 0x00FF_FFFF));
    let dst = Ipv4Addr::from(0xC612_0000 | ((r >> 32) as u32 & 0x0001_FFFF));
    (src, dst, 1024 + (r >> 49) as u16 % 60000, 53)
}

#[cfg(test)]
mod test {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn target_addresses_are_distinct_and_in_cgnat_space() {
        let n = 200_000;
        let set: HashSet<Ipv4Addr> = (0..n).map(target_addr).collect();
        assert_eq!(set.len(), n as usize);
        assert!(set
            .iter()
            .all(|a| a.octets()[0] == 100 && a.octets()[1] & 0xC0 == 64));
    }

    #[test]
    fn background_never_uses_target_space_and_frames_are_60_bytes() {
        let mut rng = Rng::new(7);
        for _ in 0..10_000 {
            let (s, d, sp, dp) = background_flow(&mut rng);
            assert_eq!(s.octets()[0], 10);
            assert_eq!(&d.octets()[..2], &[198, 18 | (d.octets()[1] & 1)]);
            assert_eq!(
                Encap::Plain.frame((s.into(), d.into()), (sp, dp), 0).len(),
                60
            );
            let (s6, d6) = (ipv6_of(s).into(), ipv6_of(d).into());
            assert_eq!(Encap::Plain.frame((s6, d6), (sp, dp), 0).len(), 80);
        }
    }

    #[test]
    fn gtpu_frames_carry_the_flow_inside_a_g_pdu() {
        use dataplane::parse::{dissect, Dissection, IpKeys, IpPair};
        let (src, dst) = (Ipv4Addr::new(10, 1, 2, 3), Ipv4Addr::new(198, 18, 0, 9));
        let gtpu = Encap::Gtpu { pdu_session: false };
        let frame = gtpu.frame((src.into(), dst.into()), (1234, 53), 0x0102_0304);
        assert_eq!(frame.len(), 96);
        let n3 = Encap::Gtpu { pdu_session: true }.frame((src.into(), dst.into()), (1234, 53), 9);
        assert_eq!(n3.len(), 104);
        let mut d = Dissection::default();
        dissect(&frame, &mut d).unwrap();
        let layers: Vec<[u32; 2]> = d
            .ip_keys()
            .map(|k| match k {
                IpKeys::V4(a) => a,
                IpKeys::V6(_) => panic!("IPv6 layer"),
            })
            .collect();
        assert_eq!(
            layers,
            vec![
                [
                    u32::from(Ipv4Addr::new(192, 0, 2, 4)),
                    u32::from(Ipv4Addr::new(198, 51, 100, 1))
                ],
                [u32::from(src), u32::from(dst)]
            ]
        );
        let inner6 = (ipv6_of(src), ipv6_of(dst));
        let frame = gtpu.frame((inner6.0.into(), inner6.1.into()), (1234, 53), 7);
        assert_eq!(frame.len(), 116);
        dissect(&frame, &mut d).unwrap();
        let inner = d.ips().nth(1);
        let want = IpPair::V6 {
            src: inner6.0,
            dst: inner6.1,
        };
        assert_eq!(inner, Some(want));
        assert_eq!(inner6.0.to_string(), "64:ff9b::a01:203");
    }

    #[test]
    fn pppoe_gre_and_mirror_frames_carry_the_flow() {
        use dataplane::parse::{dissect, Dissection, IpPair, MacPair};
        let (src, dst) = (Ipv4Addr::new(10, 1, 2, 3), Ipv4Addr::new(198, 18, 0, 9));
        let frame = Encap::Vxlan.frame((src.into(), dst.into()), (1234, 53), 0x0102_0304);
        assert_eq!(frame.len(), 110);
        let mut d = Dissection::default();
        dissect(&frame, &mut d).unwrap();
        assert_eq!(d.macs().len(), 2);
        assert_eq!(d.ips().nth(1), Some(IpPair::V4 { src, dst }));
        let six = Encap::Vxlan.frame((ipv6_of(src).into(), ipv6_of(dst).into()), (1, 2), 5);
        assert_eq!(six.len(), 130);
        let pppoe = Encap::Pppoe.frame((src.into(), dst.into()), (1234, 53), 0x1_2345);
        assert_eq!(pppoe.len(), 72);
        let gre = Encap::Gre.frame((src.into(), dst.into()), (1234, 53), 5);
        assert_eq!(gre.len(), 88);
        dissect(&gre, &mut d).unwrap();
        assert_eq!(d.ips().nth(1), Some(IpPair::V4 { src, dst }));
        dissect(&pppoe, &mut d).unwrap();
        assert_eq!(d.ips().collect::<Vec<_>>(), vec![IpPair::V4 { src, dst }]);
        let span = Encap::Erspan.frame((src.into(), dst.into()), (1234, 53), 9);
        assert_eq!(span.len(), 110);
        dissect(&span, &mut d).unwrap();
        assert_eq!(d.macs().len(), 2);
        assert_eq!(d.ips().nth(1), Some(IpPair::V4 { src, dst }));
        let ipip = Encap::IpIp.frame((src.into(), dst.into()), (1234, 53), 9);
        assert_eq!(ipip.len(), 80);
        dissect(&ipip, &mut d).unwrap();
        assert_eq!(d.ips().nth(1), Some(IpPair::V4 { src, dst }));
        let over6 = Encap::Gtpu { pdu_session: false }.frame_over(
            Underlay::Ipv6,
            (src.into(), dst.into()),
            (1234, 53),
            9,
        );
        assert_eq!(over6.len(), 116);
        dissect(&over6, &mut d).unwrap();
        let outer = IpPair::V6 {
            src: ipv6_of(Ipv4Addr::new(192, 0, 2, 9)),
            dst: ipv6_of(Ipv4Addr::new(198, 51, 100, 1)),
        };
        let want = vec![outer, IpPair::V4 { src, dst }];
        assert_eq!(d.ips().collect::<Vec<_>>(), want);
        for (control_word, len) in [(true, 82), (false, 78)] {
            let pw = Encap::Pseudowire { control_word };
            let frame = pw.frame((src.into(), dst.into()), (1234, 53), 0xf_ffff);
            assert_eq!(frame.len(), len);
            dissect(&frame, &mut d).unwrap();
            let inner = MacPair {
                dst: INNER_MAC_B,
                src: INNER_MAC_A,
            };
            assert_eq!(d.macs().get(1), Some(&inner), "{control_word}");
            assert_eq!(d.ips().collect::<Vec<_>>(), vec![IpPair::V4 { src, dst }]);
        }
    }

    #[test]
    fn rng_is_reproducible() {
        let a: Vec<u64> = (0..5)
            .scan(Rng::new(42), |r, _| Some(r.next_u64()))
            .collect();
        let b: Vec<u64> = (0..5)
            .scan(Rng::new(42), |r, _| Some(r.next_u64()))
            .collect();
        assert_eq!(a, b);
        assert_ne!(
            a,
            (0..5)
                .scan(Rng::new(43), |r, _| Some(r.next_u64()))
                .collect::<Vec<_>>()
        );
    }
}
