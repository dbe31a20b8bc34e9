//! Classification of real frames (built by `synth`, parsed by `dissect`) in every
//! encapsulation, against exact, CIDR, MAC and UDP endpoint targets: frame by
//! frame, the set of intercepts and directions must be exactly the expected one.
//!
//! The corpus here is shared with the worker tests (`#[path]` include).
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use dataplane::parse::{dissect, Dissection};
use dataplane::synth::Frame;
use dataplane::targets::{
    replicas, Direction, InterceptSpec, KeyHashes, Matches, Mode, Slot, TableReplica, TableWriter,
    Target, Update,
};

/// Every record payload is this marker, so a headers-mode copy can be checked for it.
pub(crate) const PAYLOAD: &[u8] = b"\xde\xad\xbe\xefPAYLOAD-MARKER\xde\xad\xbe\xef";

pub(crate) const M_T: [u8; 6] = [0x02, 0xaa, 0, 0, 0, 0x77];
const A: [u8; 6] = [2, 0, 0, 0, 0, 1];
const B: [u8; 6] = [2, 0, 0, 0, 0, 2];

/// Intercepts of the corpus: (slot, key, mode, targets).
pub(crate) fn intercepts() -> Vec<(u16, u32, Mode, Vec<Target>)> {
    let mut many: Vec<Target> = (1..=50)
        .map(|i| Target::Ipv4(Ipv4Addr::new(10, 9, 0, i)))
        .collect();
    many.push(Target::Ipv6(six(0x99, 1)));
    vec![
        (0, 100, Mode::Content, vec![Target::Ipv4(t4())]),
        (1, 101, Mode::Headers, vec![Target::Ipv6(t6())]),
        (
            2,
            102,
            Mode::Content,
            vec![Target::Ipv4Net(Ipv4Addr::new(172, 16, 0, 0), 12)],
        ),
        (
            3,
            103,
            Mode::Headers,
            vec![Target::Ipv6Net(six(0xff, 0), 48)],
        ),
        (4, 104, Mode::Headers, vec![Target::Mac(M_T)]),
        // One target in two intercepts (0 and 5).
        (5, 105, Mode::Headers, vec![Target::Ipv4(t4())]),
        // Many targets in one intercept.
        (6, 106, Mode::Content, many),
        // A call's media: UDP endpoints, two on addresses other intercepts
        // target (0 and 5, 1), two on addresses no other one does.
        (
            7,
            107,
            Mode::Content,
            vec![
                Target::Ipv4Udp(t4(), EP4_PORT),
                Target::Ipv6Udp(t6(), EP6_PORT),
                Target::Ipv4Udp(e4(), EP4_PORT),
                Target::Ipv6Udp(e6(), EP6_PORT),
            ],
        ),
        // TCP endpoints on the addresses and ports of some UDP ones: the
        // protocol tells them apart.
        (
            8,
            108,
            Mode::Headers,
            vec![
                Target::Ipv4Tcp(t4(), EP4_PORT),
                Target::Ipv4Tcp(e4(), EP4_PORT),
                Target::Ipv6Tcp(e6(), EP6_PORT),
            ],
        ),
    ]
}

/// The updates that install [`intercepts`] with an always-open window.
pub(crate) fn load_updates() -> Vec<Update> {
    load_updates_but(&[])
}

/// The prefix intercepts (a /12 and a /48: shorter than the CIDR gate, they
/// let every frame of their family through stage 2).
pub(crate) const PREFIX_KEYS: [u32; 2] = [102, 103];

/// [`load_updates`] without the intercepts `skip`.
pub(crate) fn load_updates_but(skip: &[u32]) -> Vec<Update> {
    let mut ups = Vec::new();
    for (slot, key, mode, targets) in intercepts().into_iter().filter(|i| !skip.contains(&i.1)) {
        let slot = Slot(slot);
        ups.push(Update::SetIntercept {
            slot,
            spec: InterceptSpec::always_open(key, mode),
        });
        ups.extend(
            targets
                .into_iter()
                .map(|target| Update::AddTarget { slot, target }),
        );
    }
    ups
}

/// The mode of intercept `key` in the corpus.
pub(crate) fn mode_of(key: u32) -> Mode {
    intercepts()
        .into_iter()
        .find(|i| i.1 == key)
        .map(|i| i.2)
        .unwrap()
}

pub(crate) fn t4() -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, 1)
}
pub(crate) fn t6() -> Ipv6Addr {
    "2001:db8::1".parse().unwrap()
}
/// 2001:db8:`sub`::`host`
pub(crate) fn six(sub: u16, host: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, sub, 0, 0, 0, 0, host)
}
/// Addresses of endpoint targets alone, and the endpoints' ports.
pub(crate) fn e4() -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, 9)
}
pub(crate) fn e6() -> Ipv6Addr {
    "2001:db8::9".parse().unwrap()
}
pub(crate) const EP4_PORT: u16 = 5004;
pub(crate) const EP6_PORT: u16 = 5006;

/// A non-target IPv4 address.
pub(crate) fn o4(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, i)
}
/// A non-target IPv6 address.
pub(crate) fn o6(i: u16) -> Ipv6Addr {
    six(1, i)
}

/// One frame and the intercepts it must match.
pub(crate) struct Case {
    pub(crate) name: &'static str,
    pub(crate) frame: Vec<u8>,
    pub(crate) expect: Vec<(u32, Direction)>,
}

impl Case {
    /// The matches it must give with [`load_updates_but`]`(skip)`.
    pub(crate) fn expect_without(&self, skip: &[u32]) -> Vec<(u32, Direction)> {
        self.expect
            .iter()
            .copied()
            .filter(|(k, _)| !skip.contains(k))
            .collect()
    }
}

use Direction::{Both, FromTarget as From, ToTarget as To};

fn case(name: &'static str, f: Frame, mut expect: Vec<(u32, Direction)>) -> Case {
    expect.sort_by_key(|e| e.0);
    Case {
        name,
        frame: f.payload(PAYLOAD).build(),
        expect,
    }
}

/// Target and non-target traffic, both directions, every encapsulation.
pub(crate) fn corpus() -> Vec<Case> {
    let mut cases = address_corpus();
    cases.extend(endpoint_corpus());
    cases
}

/// What comes before the innermost IP layer, in every encapsulation `synth`
/// builds (by name): each frame of [`endpoint_corpus`] is one of them
/// around an IP packet.
#[allow(clippy::type_complexity)]
fn encapsulations() -> Vec<(&'static str, Box<dyn Fn() -> Frame>)> {
    let e = || Frame::ethernet(A, B);
    vec![
        ("plain", Box::new(e)),
        ("vlan", Box::new(move || e().vlan(11))),
        ("qinq", Box::new(move || e().qinq(21).vlan(31))),
        ("mpls", Box::new(move || e().mpls(&[16, 17]))),
        ("pppoe", Box::new(move || e().pppoe(8))),
        ("gre", Box::new(move || e().ipv4(o4(130), o4(131)).gre())),
        (
            "gre key over ipv6",
            Box::new(move || e().ipv6(o6(130), o6(131)).gre_with(true, Some(6), None)),
        ),
        ("ip in ip", Box::new(move || e().ipv4(o4(132), o4(133)))),
        ("ip in ipv6", Box::new(move || e().ipv6(o6(132), o6(133)))),
        (
            "erspan1",
            Box::new(move || e().ipv4(o4(134), o4(135)).erspan1().inner_ethernet(B, A)),
        ),
        (
            "erspan2",
            Box::new(move || e().ipv4(o4(134), o4(135)).erspan2(3).inner_ethernet(B, A)),
        ),
        (
            "erspan3",
            Box::new(move || {
                e().ipv4(o4(134), o4(135))
                    .erspan3(4, true)
                    .inner_ethernet(B, A)
            }),
        ),
        (
            "vxlan",
            Box::new(move || e().ipv4(o4(136), o4(137)).vxlan(47).inner_ethernet(A, B)),
        ),
        (
            "vxlan over ipv6",
            Box::new(move || e().ipv6(o6(136), o6(137)).vxlan(48).inner_ethernet(A, B)),
        ),
        (
            "gtpu",
            Box::new(move || e().ipv4(o4(138), o4(139)).gtpu(19)),
        ),
        (
            "gtpu over ipv6",
            Box::new(move || e().ipv6(o6(138), o6(139)).gtpu_with(20, None, 1)),
        ),
        (
            "pseudowire",
            Box::new(move || e().mpls(&[48]).pw_control_word().inner_ethernet(A, B)),
        ),
        (
            "pseudowire without control word",
            Box::new(move || {
                e().mpls(&[49])
                    .inner_ethernet(A, [0x00, 0x1b, 0x21, 7, 8, 9])
            }),
        ),
    ]
}

/// UDP endpoint targets (intercept 107) and TCP ones (108, on the same
/// addresses and ports) in every encapsulation: matched by address and port
/// on either side of the innermost datagram or segment, next to the address
/// targets of the same address; never another port, the other protocol, a
/// later fragment, or a tunnel's outer layer.
fn endpoint_corpus() -> Vec<Case> {
    let (t4, t6, e4, e6) = (t4(), t6(), e4(), e6());
    let (p4, p6) = (EP4_PORT, EP6_PORT);
    let mut cases = Vec::new();
    for (name, outer) in encapsulations() {
        let named =
            |what: &str| -> &'static str { Box::leak(format!("{name}: {what}").into_boxed_str()) };
        cases.extend([
            case(
                named("ipv4 endpoint from target"),
                outer().ipv4(e4, o4(140)).udp(p4, 7),
                vec![(107, From)],
            ),
            case(
                named("ipv4 endpoint to an address target"),
                outer().ipv4(o4(141), t4).udp(7, p4),
                vec![(100, To), (105, To), (107, To)],
            ),
            case(
                named("ipv6 endpoint to target"),
                outer().ipv6(o6(140), e6).udp(7, p6),
                vec![(107, To)],
            ),
            case(
                named("ipv6 endpoint both"),
                outer().ipv6(e6, t6).udp(p6, p6),
                vec![(101, To), (107, Both)],
            ),
            case(
                named("endpoint address, other port"),
                outer().ipv4(e4, o4(142)).udp(p4 + 1, p4),
                vec![],
            ),
            case(
                named("ipv6 udp endpoint's address and port over tcp"),
                outer().ipv6(o6(141), e6).tcp(7, p6),
                vec![(108, To)],
            ),
            case(
                named("ipv4 tcp endpoint from target"),
                outer().ipv4(e4, o4(147)).tcp(p4, 7),
                vec![(108, From)],
            ),
            case(
                named("ipv4 tcp endpoint to an address target"),
                outer().ipv4(o4(148), t4).tcp(7, p4),
                vec![(100, To), (105, To), (108, To)],
            ),
            case(
                named("ipv6 tcp endpoint from target"),
                outer().ipv6(e6, o6(143)).tcp(p6, 7),
                vec![(108, From)],
            ),
            case(
                named("tcp endpoint address, other port"),
                outer().ipv4(o4(149), e4).tcp(p4, p4 + 1),
                vec![],
            ),
            case(
                named("ipv6 udp endpoint on an address target, over tcp"),
                outer().ipv6(o6(144), t6).tcp(7, p6),
                vec![(101, To)],
            ),
        ]);
    }
    let e = || Frame::ethernet(A, B);
    cases.extend([
        case(
            "ipv4 endpoint first fragment",
            e().ipv4(e4, o4(143)).fragment(0, true).udp(p4, 7),
            vec![(107, From)],
        ),
        case(
            "ipv4 endpoint later fragment",
            e().ipv4(e4, o4(143)).fragment(185, false),
            vec![],
        ),
        case(
            "ipv6 endpoint first fragment",
            e().ipv6(o6(142), e6).fragment(0, true).udp(7, p6),
            vec![(107, To)],
        ),
        case(
            "ipv6 endpoint later fragment",
            e().ipv6(o6(142), e6).fragment(185, true),
            vec![],
        ),
        case(
            "ipv4 tcp endpoint first fragment",
            e().ipv4(o4(150), e4).fragment(0, true).tcp(7, p4),
            vec![(108, To)],
        ),
        case(
            "ipv6 tcp endpoint first fragment",
            e().ipv6(e6, o6(145)).fragment(0, true).tcp(p6, 7),
            vec![(108, From)],
        ),
        case(
            "ipv4 address target later fragment, endpoint's address",
            e().ipv4(t4, o4(143)).fragment(185, false),
            vec![(100, From), (105, From)],
        ),
        // The endpoint's address outside, its port inside: the ports are the
        // inner datagram's.
        case(
            "endpoint address in the outer layer",
            e().ipv4(e4, o4(144))
                .gtpu(21)
                .ipv4(o4(145), o4(146))
                .udp(p4, p4),
            vec![],
        ),
        case(
            "tcp endpoint address in the outer layer",
            e().ipv6(e6, o6(146))
                .gtpu_with(22, None, 1)
                .ipv4(o4(151), o4(152))
                .tcp(p6, p6),
            vec![],
        ),
    ]);
    cases
}

/// Address, prefix and MAC targets in every encapsulation.
fn address_corpus() -> Vec<Case> {
    let e = || Frame::ethernet(A, B);
    let t4 = t4();
    let t6 = t6();
    vec![
        case(
            "ipv4 from target",
            e().ipv4(t4, o4(1)).udp(1, 2),
            vec![(100, From), (105, From)],
        ),
        case(
            "ipv4 to target",
            e().ipv4(o4(1), t4).tcp(3, 4),
            vec![(100, To), (105, To)],
        ),
        case("ipv4 other", e().ipv4(o4(1), o4(2)).udp(1, 2), vec![]),
        case(
            "ipv4 target to target",
            e().ipv4(t4, t4).icmp(),
            vec![(100, Both), (105, Both)],
        ),
        case(
            "vlan",
            e().vlan(10).ipv4(o4(3), t4).udp(1, 2),
            vec![(100, To), (105, To)],
        ),
        case(
            "vlan other",
            e().vlan(10).ipv4(o4(3), o4(4)).udp(1, 2),
            vec![],
        ),
        case(
            "qinq",
            e().qinq(20).vlan(30).ipv4(t4, o4(3)).tcp(1, 2),
            vec![(100, From), (105, From)],
        ),
        case(
            "mpls cidr",
            e().mpls(&[16, 17])
                .ipv4(o4(5), Ipv4Addr::new(172, 20, 1, 1))
                .udp(1, 2),
            vec![(102, To)],
        ),
        // A source in 2001:db8:8100::/48: its bytes 4-5 sit where an
        // Ethernet header's EtherType would, and read as 802.1Q. Cut (a snap
        // length, a jumbo frame's first mbuf), the packet is told from a
        // pseudowire by its length against the bytes on the wire.
        case(
            "mpls ipv6 source reading as a tag to target",
            e().mpls(&[16, 18])
                .ipv6(Ipv6Addr::new(0x2001, 0xdb8, 0x8100, 0, 0, 0, 0, 5), t6)
                .tcp(1, 2),
            vec![(101, To)],
        ),
        case(
            "mpls other",
            e().mpls(&[16])
                .ipv4(o4(5), Ipv4Addr::new(172, 32, 0, 1))
                .udp(1, 2),
            vec![],
        ),
        case(
            "pppoe cidr",
            e().pppoe(7)
                .ipv4(Ipv4Addr::new(172, 16, 5, 5), o4(6))
                .tcp(1, 2),
            vec![(102, From)],
        ),
        case(
            "pppoe ipv6",
            e().pppoe(7).ipv6(o6(2), t6).udp(1, 2),
            vec![(101, To)],
        ),
        case(
            "gre inner",
            e().ipv4(o4(7), o4(8)).gre().ipv4(t4, o4(9)).udp(1, 2),
            vec![(100, From), (105, From)],
        ),
        case(
            "gre outer",
            e().ipv4(o4(7), t4).gre().ipv4(o4(1), o4(9)).udp(1, 2),
            vec![(100, To), (105, To)],
        ),
        case(
            "gre other",
            e().ipv4(o4(7), o4(8)).gre().ipv4(o4(1), o4(9)).udp(1, 2),
            vec![],
        ),
        case(
            "gre key over ipv6",
            e().ipv6(o6(3), o6(4))
                .gre_with(true, Some(5), None)
                .ipv4(o4(1), t4)
                .udp(1, 2),
            vec![(100, To), (105, To)],
        ),
        case(
            "erspan2 inner mac",
            e().ipv4(o4(10), o4(11))
                .erspan2(3)
                .inner_ethernet(A, M_T)
                .ipv4(o4(1), o4(2))
                .udp(1, 2),
            vec![(104, To)],
        ),
        case(
            "erspan3 many",
            e().ipv4(o4(10), o4(11))
                .erspan3(4, true)
                .inner_ethernet(B, A)
                .ipv4(o4(1), Ipv4Addr::new(10, 9, 0, 7))
                .udp(1, 2),
            vec![(106, To)],
        ),
        case(
            "erspan3 other",
            e().ipv4(o4(10), o4(11))
                .erspan3(4, false)
                .inner_ethernet(B, A)
                .ipv4(o4(1), o4(2))
                .udp(1, 2),
            vec![],
        ),
        case(
            "erspan1 inner target",
            e().ipv4(o4(10), o4(11))
                .erspan1()
                .inner_ethernet(B, A)
                .ipv4(t4, o4(2))
                .tcp(1, 2),
            vec![(100, From), (105, From)],
        ),
        case(
            "erspan1 other",
            e().ipv4(o4(10), o4(11))
                .erspan1()
                .inner_ethernet(B, A)
                .ipv4(o4(1), o4(2))
                .tcp(1, 2),
            vec![],
        ),
        case(
            "vxlan ipv6",
            e().ipv4(o4(12), o4(13))
                .vxlan(42)
                .inner_ethernet(A, B)
                .ipv6(t6, o6(5))
                .udp(1, 2),
            vec![(101, From)],
        ),
        case(
            "vxlan other",
            e().ipv4(o4(12), o4(13))
                .vxlan(42)
                .inner_ethernet(A, B)
                .ipv6(o6(6), o6(5))
                .udp(1, 2),
            vec![],
        ),
        case(
            "vxlan vlan inside to target",
            e().ipv6(o6(16), o6(17))
                .vxlan(43)
                .inner_ethernet(A, B)
                .vlan(7)
                .ipv4(o4(60), t4)
                .tcp(1, 2),
            vec![(100, To), (105, To)],
        ),
        case(
            "vxlan inner mac from target",
            e().ipv4(o4(61), o4(62))
                .vxlan(44)
                .inner_ethernet(M_T, B)
                .ipv4(o4(63), o4(64))
                .udp(1, 2),
            vec![(104, From)],
        ),
        case(
            "gtpu two intercepts",
            e().ipv4(o4(14), o4(15))
                .gtpu(0x1234)
                .ipv4(Ipv4Addr::new(10, 9, 0, 3), Ipv4Addr::new(172, 16, 0, 9))
                .tcp(1, 2),
            vec![(106, From), (102, To)],
        ),
        // The worker screens IPv4 in GTP-U in IPv4 without dissecting it: a
        // target in either layer, or by MAC, still matches.
        case(
            "gtpu inner exact to target",
            e().ipv4(o4(40), o4(41)).gtpu(7).ipv4(o4(42), t4).udp(1, 2),
            vec![(100, To), (105, To)],
        ),
        case(
            "gtpu outer exact from target",
            e().ipv4(t4, o4(43)).gtpu(8).ipv4(o4(44), o4(45)).tcp(1, 2),
            vec![(100, From), (105, From)],
        ),
        case(
            "gtpu vlan no target",
            e().vlan(5)
                .ipv4(o4(46), o4(47))
                .gtpu(9)
                .ipv4(o4(48), o4(49))
                .udp(1, 2),
            vec![],
        ),
        case(
            "gtpu mac only from target",
            Frame::ethernet(M_T, B)
                .ipv4(o4(50), o4(51))
                .gtpu(10)
                .ipv4(o4(52), o4(53))
                .udp(1, 2),
            vec![(104, From)],
        ),
        case(
            "gtpu ipv6 many",
            e().ipv6(o6(7), o6(8))
                .gtpu_with(9, Some(1), 1)
                .ipv6(o6(9), six(0x99, 1))
                .udp(1, 2),
            vec![(106, To)],
        ),
        // Mixed families take dissect's fast path: both layers still count.
        case(
            "gtpu n3 ipv6 inside ipv4 from target",
            e().ipv4(o4(54), o4(55))
                .gtpu_with(11, None, 1)
                .ipv6(t6, o6(12))
                .tcp(1, 2),
            vec![(101, From)],
        ),
        case(
            "gtpu ipv4 inside ipv6 cidr outer",
            e().ipv6(six(0xff, 3), o6(13))
                .gtpu(12)
                .ipv4(o4(56), o4(57))
                .udp(1, 2),
            vec![(103, From)],
        ),
        case(
            "gtpu ipv6 inside ipv4 other",
            e().vlan(6)
                .ipv4(o4(58), o4(59))
                .gtpu(13)
                .ipv6(o6(14), o6(15))
                .udp(1, 2),
            vec![],
        ),
        // IP in IP (screened like GTP-U when both layers are IPv4).
        case(
            "ipip inner from target",
            e().ipv4(o4(70), o4(71)).ipv4(t4, o4(72)).udp(1, 2),
            vec![(100, From), (105, From)],
        ),
        case(
            "ipip outer to target",
            e().ipv4(o4(73), t4).ipv4(o4(74), o4(75)).tcp(1, 2),
            vec![(100, To), (105, To)],
        ),
        case(
            "6in4 to target",
            e().ipv4(o4(76), o4(77)).ipv6(o6(20), t6).icmp(),
            vec![(101, To)],
        ),
        case(
            "ipip other",
            e().vlan(4)
                .ipv4(o4(78), o4(79))
                .ipv4(o4(80), o4(81))
                .udp(1, 2),
            vec![],
        ),
        // IPv6 in a tunnel in IPv4 (screened): either layer, by address,
        // prefix or MAC.
        case(
            "gtpu ipv6 inside ipv4 outer to target",
            e().ipv4(o4(89), t4).gtpu(14).ipv6(o6(22), o6(23)).udp(1, 2),
            vec![(100, To), (105, To)],
        ),
        case(
            "vxlan ipv6 inside ipv4 cidr inner",
            e().ipv4(o4(90), o4(91))
                .vxlan(45)
                .inner_ethernet(A, B)
                .ipv6(o6(24), six(0xff, 5))
                .tcp(1, 2),
            vec![(103, To)],
        ),
        case(
            "gre ipv6 inside ipv4 many",
            e().ipv4(o4(92), o4(93))
                .gre()
                .ipv6(six(0x99, 1), o6(25))
                .udp(1, 2),
            vec![(106, From)],
        ),
        case(
            "erspan ipv6 inside ipv4 inner mac to target",
            e().ipv4(o4(94), o4(95))
                .erspan2(5)
                .inner_ethernet(A, M_T)
                .ipv6(o6(26), o6(27))
                .udp(1, 2),
            vec![(104, To)],
        ),
        case(
            "6in4 other",
            Frame::ethernet(B, A)
                .ipv4(o4(96), o4(97))
                .ipv6(o6(28), o6(29))
                .tcp(1, 2),
            vec![],
        ),
        // Tunnels over IPv6 (screened, as are those above): either layer,
        // either family inside, by address, prefix or MAC.
        case(
            "gtpu ipv4 inside ipv6 inner to target",
            e().ipv6(o6(30), o6(31)).gtpu(15).ipv4(o4(98), t4).udp(1, 2),
            vec![(100, To), (105, To)],
        ),
        case(
            "gtpu ipv6 inside ipv6 outer from target",
            e().vlan(7)
                .ipv6(t6, o6(32))
                .gtpu_with(16, None, 1)
                .ipv6(o6(33), o6(34))
                .tcp(1, 2),
            vec![(101, From)],
        ),
        case(
            "4in6 cidr inner",
            e().ipv6(o6(35), o6(36))
                .ipv4(Ipv4Addr::new(172, 20, 0, 9), o4(99))
                .icmp(),
            vec![(102, From)],
        ),
        case(
            "vxlan over ipv6 inner mac to target",
            e().ipv6(o6(37), o6(38))
                .vxlan(46)
                .inner_ethernet(A, M_T)
                .ipv4(o4(100), o4(101))
                .udp(1, 2),
            vec![(104, To)],
        ),
        case(
            "gre over ipv6 cidr outer",
            e().ipv6(o6(39), six(0xff, 6))
                .gre()
                .ipv6(o6(40), o6(41))
                .udp(1, 2),
            vec![(103, To)],
        ),
        case(
            "4in6 inner from target",
            e().ipv6(o6(44), o6(45)).ipv4(t4, o4(104)).tcp(1, 2),
            vec![(100, From), (105, From)],
        ),
        case(
            "gre over ipv6 inner ipv6 from target",
            e().ipv6(o6(46), o6(47)).gre().ipv6(t6, o6(48)).udp(1, 2),
            vec![(101, From)],
        ),
        case(
            "gtpu ipv6 inside ipv6 cidr inner",
            e().ipv6(o6(49), o6(50))
                .gtpu(18)
                .ipv6(o6(51), six(0xff, 7))
                .udp(1, 2),
            vec![(103, To)],
        ),
        case(
            "gtpu over ipv6 other",
            Frame::ethernet(B, A)
                .ipv6(o6(42), o6(43))
                .gtpu(17)
                .ipv4(o4(102), o4(103))
                .tcp(1, 2),
            vec![],
        ),
        // MPLS pseudowires: either family inside is screened, with both MAC pairs.
        case(
            "pseudowire to target",
            e().mpls(&[30])
                .pw_control_word()
                .inner_ethernet(A, B)
                .ipv4(o4(82), t4)
                .udp(1, 2),
            vec![(100, To), (105, To)],
        ),
        case(
            "pseudowire inner mac from target",
            e().mpls(&[31, 32])
                .pw_control_word()
                .inner_ethernet(M_T, B)
                .ipv4(o4(83), o4(84))
                .udp(1, 2),
            vec![(104, From)],
        ),
        case(
            "pseudowire outer mac to target",
            Frame::ethernet(A, M_T)
                .mpls(&[33])
                .pw_control_word()
                .inner_ethernet(A, B)
                .ipv4(o4(85), o4(86))
                .tcp(1, 2),
            vec![(104, To)],
        ),
        case(
            "pseudowire ipv6 cidr",
            e().vlan(8)
                .mpls(&[34])
                .pw_control_word()
                .inner_ethernet(A, B)
                .ipv6(six(0xff, 4), o6(21))
                .udp(1, 2),
            vec![(103, From)],
        ),
        case(
            "pseudowire ipv6 to target",
            e().mpls(&[36, 37])
                .pw_control_word()
                .inner_ethernet(A, B)
                .ipv6(o6(52), t6)
                .tcp(1, 2),
            vec![(101, To)],
        ),
        case(
            "pseudowire ipv6 inner mac to target",
            e().mpls(&[38])
                .pw_control_word()
                .inner_ethernet(A, M_T)
                .ipv6(o6(53), o6(54))
                .udp(1, 2),
            vec![(104, To)],
        ),
        case(
            "pseudowire ipv6 other",
            e().mpls(&[39])
                .pw_control_word()
                .inner_ethernet(B, A)
                .ipv6(o6(55), o6(56))
                .udp(1, 2),
            vec![],
        ),
        case(
            "pseudowire other",
            e().mpls(&[35])
                .pw_control_word()
                .inner_ethernet(B, A)
                .vlan(9)
                .ipv4(o4(87), o4(88))
                .icmp(),
            vec![],
        ),
        // Ethernet pseudowires without a control word (RFC 4448 makes it
        // optional): the inner frame starts at once, with a destination MAC of
        // any first nibble, an IP version's included.
        case(
            "pseudowire without control word to target",
            e().mpls(&[40])
                .inner_ethernet(A, [0x40, 0xa8, 0xf0, 1, 2, 3])
                .ipv4(o4(89), t4)
                .udp(1, 2),
            vec![(100, To), (105, To)],
        ),
        case(
            "pseudowire without control word from target",
            e().mpls(&[41])
                .inner_ethernet(A, [0x00, 0x1b, 0x21, 7, 8, 9])
                .ipv4(t4, o4(93))
                .tcp(1, 2),
            vec![(100, From), (105, From)],
        ),
        case(
            "pseudowire without control word ipv6 from target",
            e().mpls(&[42, 43])
                .inner_ethernet(A, [0x64, 0x4b, 0xf0, 1, 2, 3])
                .ipv6(t6, o6(57))
                .tcp(1, 2),
            vec![(101, From)],
        ),
        case(
            "pseudowire without control word inner mac to target",
            e().mpls(&[44])
                .inner_ethernet(A, M_T)
                .ipv4(o4(94), o4(95))
                .udp(1, 2),
            vec![(104, To)],
        ),
        case(
            "pseudowire without control word vlan cidr",
            e().mpls(&[45])
                .inner_ethernet(B, [0xa4, 0x4c, 0xc8, 1, 2, 3])
                .vlan(3)
                .ipv4(o4(92), Ipv4Addr::new(172, 16, 1, 1))
                .udp(1, 2),
            vec![(102, To)],
        ),
        // An HSRP gateway's MAC starts with 16 zero bits, as a control word
        // does, and the tag after it makes either reading look whole: the
        // source MAC is found only if the frame is read from the label on.
        case(
            "pseudowire without control word hsrp vlan inner mac from target",
            e().mpls(&[47])
                .inner_ethernet(M_T, [0x00, 0x00, 0x0c, 0x07, 0xac, 0x01])
                .vlan(5)
                .ipv4(o4(96), o4(97))
                .tcp(1, 2),
            vec![(104, From)],
        ),
        case(
            "pseudowire without control word other",
            e().mpls(&[46])
                .inner_ethernet(B, [0x6c, 0x4b, 0x90, 4, 5, 6])
                .ipv4(o4(90), o4(91))
                .icmp(),
            vec![],
        ),
        case(
            "ipv6 ext headers cidr",
            e().ipv6(o6(10), six(0xff, 2))
                .hop_by_hop()
                .routing()
                .dest_opts()
                .tcp(1, 2),
            vec![(103, To)],
        ),
        case(
            "ipv6 first fragment",
            e().ipv6(t6, o6(11)).fragment(0, true).udp(1, 2),
            vec![(101, From)],
        ),
        case(
            "ipv6 later fragment",
            e().ipv6(t6, o6(11)).fragment(100, false),
            vec![(101, From)],
        ),
        case(
            "ipv4 later fragment",
            e().ipv4(o4(16), t4).fragment(200, true),
            vec![(100, To), (105, To)],
        ),
        case(
            "ipv4 other fragment",
            e().ipv4(o4(16), o4(17)).fragment(200, false),
            vec![],
        ),
        case(
            "mac and ip",
            Frame::ethernet(M_T, B).ipv4(t4, o4(1)).udp(1, 2),
            vec![(100, From), (104, From), (105, From)],
        ),
        // Common frames (the worker only screens them) whose sole match is a
        // prefix or a MAC, not an exact address.
        case(
            "cidr to target",
            e().ipv4(o4(1), Ipv4Addr::new(172, 31, 255, 254)).udp(1, 2),
            vec![(102, To)],
        ),
        case(
            "vlan cidr from target",
            e().vlan(5)
                .ipv4(Ipv4Addr::new(172, 16, 0, 1), o4(2))
                .tcp(1, 2),
            vec![(102, From)],
        ),
        case(
            "cidr edge other",
            e().ipv4(Ipv4Addr::new(172, 32, 0, 0), o4(2)).tcp(1, 2),
            vec![],
        ),
        case(
            "mac only to target",
            Frame::ethernet(A, M_T).ipv4(o4(7), o4(8)).udp(1, 2),
            vec![(104, To)],
        ),
        case(
            "arp from target mac",
            Frame::ethernet(M_T, B).next_protocol(0x0806),
            vec![(104, From)],
        ),
        case(
            "many targets both",
            e().ipv4(Ipv4Addr::new(10, 9, 0, 1), Ipv4Addr::new(10, 9, 0, 50))
                .udp(1, 2),
            vec![(106, Both)],
        ),
        case(
            "ipv6 other",
            e().ipv6(o6(12), six(0xfe, 1)).udp(1, 2),
            vec![],
        ),
        // Common IPv6 frames (screened too): exact, prefix, MAC and no match.
        case(
            "ipv6 from target",
            e().ipv6(t6, o6(13)).tcp(1, 2),
            vec![(101, From)],
        ),
        case(
            "vlan ipv6 to target",
            e().vlan(9).ipv6(o6(13), t6).udp(1, 2),
            vec![(101, To)],
        ),
        case(
            "ipv6 many to target",
            e().ipv6(o6(14), six(0x99, 1)).udp(1, 2),
            vec![(106, To)],
        ),
        case(
            "ipv6 cidr from target",
            e().ipv6(six(0xff, 3), o6(14)).tcp(1, 2),
            vec![(103, From)],
        ),
        case(
            "vlan ipv6 other",
            e().vlan(9).ipv6(o6(15), six(0x100, 1)).tcp(1, 2),
            vec![],
        ),
        case(
            "ipv6 mac only from target",
            Frame::ethernet(M_T, B).ipv6(o6(16), o6(17)).udp(1, 2),
            vec![(104, From)],
        ),
    ]
}

/// A single replica loaded with `updates`, every update applied.
pub(crate) fn loaded(updates: &[Update]) -> (TableWriter, TableReplica) {
    // Room for the updates, the tables the writer sends ahead of them (at most
    // one per update), the endpoints' address marks and the epoch marker:
    // nothing drains the ring before `send` returns.
    let (mut w, mut rs) = replicas(1, 3 * updates.len() + 1);
    let e = w.send(updates);
    let mut r = rs.remove(0);
    r.apply_pending(usize::MAX);
    assert!(w.wait_applied(e, Duration::from_secs(1)));
    (w, r)
}

/// (key, direction) of every match of `frame`, sorted by key.
pub(crate) fn classify(r: &TableReplica, frame: &[u8], ts: u64) -> Vec<(u32, Direction)> {
    let mut d = Dissection::default();
    dissect(frame, &mut d).unwrap();
    let mut out = Matches::new();
    r.classify(&d, ts, &mut out);
    let mut v: Vec<(u32, Direction)> = out
        .as_slice()
        .iter()
        .map(|m| (m.key, m.direction))
        .collect();
    v.sort_by_key(|e| e.0);
    for m in out.as_slice() {
        assert_eq!(m.mode, mode_of(m.key));
    }
    v
}

#[test]
fn every_encapsulation_classifies_exactly() {
    let (_w, r) = loaded(&load_updates());
    for c in corpus() {
        assert_eq!(classify(&r, &c.frame, 1), c.expect, "case {:?}", c.name);
    }
}

/// Without the prefix targets (which let every frame through), stage 2's
/// filters alone must pass every frame with an exact or MAC match, on any layer.
#[test]
fn stage_2_passes_every_exact_match_without_prefix_targets() {
    let (_w, r) = loaded(&load_updates_but(&PREFIX_KEYS));
    for c in corpus() {
        let want = c.expect_without(&PREFIX_KEYS);
        let mut d = Dissection::default();
        dissect(&c.frame, &mut d).unwrap();
        let mut kh = KeyHashes::default();
        r.hash_keys(&d, &mut kh);
        if !want.is_empty() {
            assert!(r.may_match(&d, &kh), "case {:?}", c.name);
        }
        assert_eq!(classify(&r, &c.frame, 1), want, "case {:?}", c.name);
    }
}

#[test]
fn nothing_matches_before_tables_are_loaded_or_after_they_are_cleared() {
    let (mut w, mut rs) = replicas(1, 1024);
    let mut r = rs.remove(0);
    for c in corpus() {
        assert!(classify(&r, &c.frame, 1).is_empty(), "case {:?}", c.name);
    }
    w.send(&load_updates());
    let clear: Vec<Update> = intercepts()
        .iter()
        .map(|i| Update::ClearIntercept { slot: Slot(i.0) })
        .collect();
    let e = w.send(&clear);
    r.apply_pending(usize::MAX);
    assert!(w.wait_applied(e, Duration::from_secs(1)));
    assert_eq!(r.target_count(), 0);
    for c in corpus() {
        assert!(classify(&r, &c.frame, 1).is_empty(), "case {:?}", c.name);
    }
}

#[test]
fn removing_one_target_of_a_shared_address_keeps_the_other_intercept() {
    let (mut w, mut r) = loaded(&load_updates());
    let e = w.send(&[Update::RemoveTarget {
        slot: Slot(0),
        target: Target::Ipv4(t4()),
    }]);
    r.apply_pending(usize::MAX);
    assert!(w.wait_applied(e, Duration::from_secs(1)));
    let f = Frame::ethernet(A, B).ipv4(t4(), o4(1)).udp(1, 2).build();
    assert_eq!(classify(&r, &f, 1), vec![(105, From)]);
}
