use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::link::SCREENED_LABELS;
use super::*;
use crate::parse::dissect::dissect_general;
use crate::parse::ethernet::HEADER_LEN as ETH_HEADER_LEN;
use crate::parse::vlan::HEADER_LEN as VLAN_HEADER_LEN;
use crate::parse::{gtpu, vxlan};
use crate::synth::Frame;

/// Whenever the fast path accepts a frame, the general walker accepts it too and
/// reports exactly the same dissection.
fn agree(frame: &[u8]) -> Result<bool, TestCaseError> {
    let mut general = Dissection::default();
    let want = dissect_general(frame, &mut general);
    // Stale layers from an earlier, deeper frame must not leak through.
    let mut fast = Dissection::default();
    let deep = Frame::ethernet([7; 6], [8; 6])
        .ipv4([1, 1, 1, 1].into(), [2, 2, 2, 2].into())
        .gre()
        .ipv4([3, 3, 3, 3].into(), [4, 4, 4, 4].into())
        .tcp(1, 2)
        .build();
    prop_assert_eq!(dissect_general(&deep, &mut fast), Ok(()));
    let took = dissect_common(frame, &mut fast);
    let (screened4, screened6) = (common_ipv4(frame), common_ipv6(frame));
    // The worker's first screen: a shortcut of common_ipv4, never a
    // different answer.
    let untagged = common_ipv4_untagged(frame);
    prop_assert!(untagged.is_none() || untagged == screened4);
    let untagged6 = common_ipv6_untagged(frame);
    prop_assert!(untagged6.is_none() || untagged6 == screened6);
    let gtpu = common_gtpu_untagged(frame);
    prop_assert!(gtpu.is_none() || gtpu == common_tunnel_ipv4(frame).map(|t| t.layers));
    let tunnel = common_tunnel_ipv4(frame);
    let pseudowire = common_pseudowire(frame);
    let mixed = common_tunnel_ipv4_ipv6(frame);
    let over6 = common_tunnel_ipv6(frame);
    if took {
        prop_assert_eq!(want, Ok(()));
        prop_assert_eq!(&fast, &general);
        // The screens' addresses and MACs are the dissection's only layers
        // (a pseudowire's one IP layer has two MAC pairs: not screened).
        let one_mac = general.macs().len() == 1;
        prop_assert_eq!(screened4, general.single_v4().filter(|_| one_mac));
        prop_assert_eq!(screened6, general.single_v6().filter(|_| one_mac));
        prop_assert_eq!(tunnel.map(|t| t.layers), general.two_v4());
        let pw_addrs = general
            .single_v4()
            .map(Addrs::V4)
            .or(general.single_v6().map(Addrs::V6));
        prop_assert_eq!(pseudowire.map(|p| p.addrs), pw_addrs.filter(|_| !one_mac));
        prop_assert_eq!(mixed.map(|t| (t.outer, t.inner)), general.ipv4_ipv6());
        prop_assert_eq!(over6.map(|t| (t.outer, t.inner)), general.ipv6_tunnel());
        let mut macs = vec![mac_pair(frame)];
        let inner_eth = tunnel
            .and_then(|t| t.inner_eth)
            .or(mixed.and_then(|t| t.inner_eth))
            .or(over6.and_then(|t| t.inner_eth))
            .or(pseudowire.map(|p| p.inner_eth));
        if let Some(at) = inner_eth {
            macs.push(mac_pair(frame.get(at..).unwrap_or(&[])));
        }
        let screened = screened4.is_some() || screened6.is_some() || tunnel.is_some();
        if screened || pseudowire.is_some() || mixed.is_some() || over6.is_some() {
            prop_assert_eq!(general.macs(), &macs[..]);
        }
    } else {
        prop_assert_eq!((screened4, screened6, tunnel), (None, None, None));
        prop_assert_eq!((pseudowire, mixed, over6), (None, None, None));
    }
    Ok(took)
}

/// The IPv6 form of `a` in [`addrs`].
fn wide(a: u32) -> u128 {
    0x2001_0db8_u128 << 96 | u128::from(a)
}

/// [`addrs`] as table keys.
fn layer(v6: bool, (src, dst): (u32, u32)) -> Addrs {
    if v6 {
        Addrs::V6([wide(src), wide(dst)])
    } else {
        Addrs::V4([src, dst])
    }
}

/// IPv4 addresses, or IPv6 ones when `v6` (the IPv4 ones in their low bits).
fn addrs(v6: bool, src: u32, dst: u32) -> (IpAddr, IpAddr) {
    if v6 {
        let ip6 = |a: u32| IpAddr::V6(Ipv6Addr::from(wide(a)));
        (ip6(src), ip6(dst))
    } else {
        (Ipv4Addr::from(src).into(), Ipv4Addr::from(dst).into())
    }
}

/// What a frame has between its Ethernet header and its IP header, in
/// this order.
#[derive(Clone, Debug, Default)]
struct Link {
    /// VLAN tags (TPID, VLAN id).
    tags: Vec<(u16, u16)>,
    /// A PPPoE session header, with this session id.
    pppoe: Option<u16>,
    /// MPLS labels.
    labels: Vec<u32>,
}

impl Link {
    /// `f` with these layers.
    fn add(&self, mut f: Frame) -> Frame {
        for &(tpid, vid) in &self.tags {
            f = f.vlan_tpid(tpid, vid);
        }
        if let Some(session) = self.pppoe {
            f = f.pppoe(session);
        }
        f.mpls(&self.labels)
    }

    /// Whether the fast path takes these layers: PPPoE carries no MPLS
    /// the walker reads.
    fn fast(&self) -> bool {
        self.tags.len() <= 2
            && self.labels.len() <= SCREENED_LABELS
            && (self.pppoe.is_none() || self.labels.is_empty())
    }
}

/// Up to three VLAN tags of any TPID the walker knows (the screens take
/// two), a PPPoE session header or not, and up to five MPLS labels (the
/// screens take four).
fn links() -> impl Strategy<Value = Link> {
    let tpid = prop::sample::select(vec![0x8100u16, 0x88a8, 0x9100]);
    let tags = proptest::collection::vec((tpid, 0u16..4096), 0..=3);
    let labels = proptest::collection::vec(0u32..1 << 20, 0..=5);
    (tags, proptest::option::of(any::<u16>()), labels).prop_map(|(tags, pppoe, labels)| Link {
        tags,
        pppoe,
        labels,
    })
}

/// A packet's transport: the fast path takes all three.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum L4 {
    Tcp,
    Udp,
    /// An echo request: ICMP, or ICMPv6 under IPv6.
    Icmp,
}

fn l4s() -> impl Strategy<Value = L4> {
    prop::sample::select(vec![L4::Tcp, L4::Udp, L4::Icmp])
}

/// Whether a frame's innermost transport goes to a tunnel port (UDP to
/// VXLAN or GTP-U), which the fast path leaves to the walker.
fn to_tunnel_port(l4: L4, ports: (u16, u16)) -> bool {
    l4 == L4::Udp && (ports.1 == vxlan::UDP_PORT || ports.1 == gtpu::UDP_PORT)
}

/// Ethernet with the layers of `link`, what `ip` adds (IP layers, a
/// tunnel), then `l4` (on `ports`, but ICMP) and `payload` bytes.
fn frame_with(
    link: &Link,
    ip: impl FnOnce(Frame) -> Frame,
    l4: L4,
    ports: (u16, u16),
    payload: usize,
) -> Vec<u8> {
    let f = ip(link.add(Frame::ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])));
    let f = match l4 {
        L4::Tcp => f.tcp(ports.0, ports.1),
        L4::Udp => f.udp(ports.0, ports.1),
        L4::Icmp => f.icmp(),
    };
    f.payload(&vec![0xab; payload]).build()
}

fn common_frame(
    link: &Link,
    (src, dst): (IpAddr, IpAddr),
    l4: L4,
    ports: (u16, u16),
    payload: usize,
) -> Vec<u8> {
    frame_with(link, |f| f.ip(src, dst), l4, ports, payload)
}

/// A tunnelled frame: `inner` (then `l4`) in what `encap` adds after the
/// outer IP header between `outer`; each pair IPv6 when its flag in `v6` is
/// set.
#[allow(clippy::too_many_arguments)]
fn tunnel_frame(
    link: &Link,
    v6: (bool, bool),
    outer: (u32, u32),
    encap: impl FnOnce(Frame) -> Frame,
    inner: (u32, u32),
    l4: L4,
    ports: (u16, u16),
    payload: usize,
) -> Vec<u8> {
    let (outer_ips, inner_ips) = (addrs(v6.0, outer.0, outer.1), addrs(v6.1, inner.0, inner.1));
    let ip = |f: Frame| encap(f.ip(outer_ips.0, outer_ips.1)).ip(inner_ips.0, inner_ips.1);
    frame_with(link, ip, l4, ports, payload)
}

/// A tunnel of `kind` that carries IP: 0, a GTP-U G-PDU (a user plane)
/// with sequence number `seq` and `exts` PDU session containers; 1, GRE
/// with a checksum when `exts` is odd and `seq` as key and sequence
/// number; 2, none (IP in IP).
fn ip_tunnel(kind: u8, id: u32, (seq, exts): (Option<u16>, u8)) -> impl FnOnce(Frame) -> Frame {
    move |f| match kind {
        0 => f.gtpu_with(id, seq, exts),
        1 => {
            let seq = seq.map(u32::from);
            f.gre_with(exts & 1 != 0, seq, seq)
        }
        _ => f,
    }
}

/// Source and destination MAC of the frame inside a mirror tunnel.
const INNER_MACS: ([u8; 6], [u8; 6]) = ([2, 0, 0, 0, 0, 3], [2, 0, 0, 0, 0, 4]);

/// A traffic mirror's tunnel of `kind` (0: VXLAN, network `id`; 1: ERSPAN
/// type II, 2: type III, 3: type III with its platform subheader, session
/// `id`; 4: GRE-TAP, key `id`, a checksum when `id` is odd), then an inner
/// Ethernet header with the layers of `link`.
fn mirror(kind: u8, id: u32, link: &Link) -> impl FnOnce(Frame) -> Frame + '_ {
    move |f| {
        let session = (id & 0x3ff) as u16;
        let f = match kind {
            0 => f.vxlan(id & 0x00ff_ffff),
            1 => f.erspan2(session),
            2 | 3 => f.erspan3(session, kind == 3),
            _ => f.gre_with(id & 1 != 0, Some(id), None),
        };
        link.add(f.inner_ethernet(INNER_MACS.0, INNER_MACS.1))
    }
}

/// The outer layers of an MPLS pseudowire: `link`'s tags and labels (one
/// at least), no PPPoE.
fn pseudowire_links() -> impl Strategy<Value = Link> {
    links().prop_map(|mut link| {
        link.pppoe = None;
        if link.labels.is_empty() {
            link.labels.push(16);
        }
        link
    })
}

/// Ethernet over MPLS: after `link`, a pseudowire control word, then an
/// inner Ethernet header with the layers of `inner_link`, IP between
/// `ips` and `l4`.
fn pseudowire_frame(
    link: &Link,
    inner_link: &Link,
    ips: (IpAddr, IpAddr),
    l4: L4,
    ports: (u16, u16),
    payload: usize,
) -> Vec<u8> {
    let ip = |f: Frame| {
        let inner = f
            .pw_control_word()
            .inner_ethernet(INNER_MACS.0, INNER_MACS.1);
        inner_link.add(inner).ip(ips.0, ips.1)
    };
    frame_with(link, ip, l4, ports, payload)
}

/// Sets the bytes `flips` names, then cuts the frame to `cut` bytes.
fn corrupt(frame: &mut Vec<u8>, flips: &[(usize, u8)], cut: usize) {
    for &(at, v) in flips {
        if let Some(b) = frame.get_mut(at) {
            *b = v;
        }
    }
    frame.truncate(cut);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn ip_tunnel_frames_take_the_fast_path_and_ipv4_ones_are_screened(
        link in links(),
        kind in 0u8..3,
        v6: (bool, bool),
        outer: (u32, u32),
        seq: Option<u16>,
        exts in 0u8..3,
        inner: (u32, u32),
        l4 in l4s(),
        ports: (u16, u16),
        payload in 0usize..64,
    ) {
        let encap = ip_tunnel(kind, outer.0 ^ inner.1, (seq, exts));
        let frame = tunnel_frame(&link, v6, outer, encap, inner, l4, ports, payload);
        let fast = !to_tunnel_port(l4, ports) && link.fast();
        prop_assert_eq!(agree(&frame)?, fast);
        let ipv4 = fast && v6 == (false, false);
        let want = ipv4.then_some([[outer.0, outer.1], [inner.0, inner.1]]);
        let screened = common_tunnel_ipv4(&frame);
        prop_assert_eq!(screened.map(|t| t.layers), want);
        prop_assert_eq!(screened.and_then(|t| t.inner_eth), None);
        // The worker's GTP-U lane takes every untagged one with at most
        // one extension header.
        let untagged = link.tags.is_empty() && link.pppoe.is_none() && link.labels.is_empty();
        let lane = kind == 0 && untagged && exts <= 1;
        prop_assert_eq!(common_gtpu_untagged(&frame), want.filter(|_| lane));
        let mixed = common_tunnel_ipv4_ipv6(&frame);
        let want = (fast && v6 == (false, true))
            .then_some(([outer.0, outer.1], [wide(inner.0), wide(inner.1)]));
        prop_assert_eq!(mixed.map(|t| (t.outer, t.inner)), want);
        prop_assert_eq!(mixed.and_then(|t| t.inner_eth), None);
        let over6 = common_tunnel_ipv6(&frame);
        let want = (fast && v6.0).then_some(([wide(outer.0), wide(outer.1)], layer(v6.1, inner)));
        prop_assert_eq!(over6.map(|t| (t.outer, t.inner)), want);
        prop_assert_eq!(over6.and_then(|t| t.inner_eth), None);
    }

    #[test]
    fn corrupted_or_cut_ip_tunnel_frames_never_disagree(
        link in links(),
        kind in 0u8..3,
        v6: (bool, bool),
        seq: Option<u16>,
        exts in 0u8..3,
        l4 in l4s(),
        payload in 0usize..40,
        flips in proptest::collection::vec((0usize..160, any::<u8>()), 0..4),
        cut in 0usize..180,
    ) {
        let encap = ip_tunnel(kind, 7, (seq, exts));
        let mut frame =
            tunnel_frame(&link, v6, (1, 2), encap, (3, 4), l4, (1000, 80), payload);
        corrupt(&mut frame, &flips, cut);
        agree(&frame)?;
    }

    #[test]
    fn valid_common_frames_take_the_fast_path_with_the_same_result(
        link in links(),
        v6: bool,
        l4 in l4s(),
        src: u32,
        dst: u32,
        ports: (u16, u16),
        payload in 0usize..64,
    ) {
        let frame = common_frame(&link, addrs(v6, src, dst), l4, ports, payload);
        let fast = !to_tunnel_port(l4, ports) && link.fast();
        prop_assert_eq!(agree(&frame)?, fast);
        // The worker's first screen takes every untagged one of them
        // that has a TCP header's room.
        let untagged = link.tags.is_empty() && link.pppoe.is_none() && link.labels.is_empty();
        let taken = fast && !v6 && untagged && frame.len() >= 54;
        prop_assert_eq!(common_ipv4_untagged(&frame), taken.then_some([src, dst]));
        let taken6 = fast && v6 && untagged && frame.len() >= 62;
        prop_assert_eq!(
            common_ipv6_untagged(&frame),
            taken6.then_some([wide(src), wide(dst)])
        );
    }

    #[test]
    fn corrupted_or_cut_frames_never_disagree(
        link in links(),
        v6: bool,
        l4 in l4s(),
        ports: (u16, u16),
        payload in 0usize..40,
        flips in proptest::collection::vec((0usize..100, any::<u8>()), 0..4),
        cut in 0usize..120,
    ) {
        let ips = addrs(v6, 0x0a00_0001, 0x0a00_0002);
        let mut frame = common_frame(&link, ips, l4, ports, payload);
        corrupt(&mut frame, &flips, cut);
        agree(&frame)?;
    }

    /// A PPPoE session's length bounds its packet (a frame is often
    /// padded past it), whatever the length field says.
    #[test]
    fn pppoe_frames_of_any_length_field_never_disagree(
        tags in 0usize..=2,
        v6: bool,
        l4 in l4s(),
        payload in 0usize..40,
        padding in 0usize..20,
        // Mostly below a packet's length: a shorter field must cut it.
        length in prop_oneof![0u16..128, any::<u16>()],
    ) {
        let link = Link { tags: vec![(0x8100, 7); tags], pppoe: Some(9), labels: vec![] };
        let ips = addrs(v6, 0x0a00_0001, 0x0a00_0002);
        let mut frame = common_frame(&link, ips, l4, (1000, 80), payload);
        let at = ETH_HEADER_LEN + tags * VLAN_HEADER_LEN + 4;
        let cut = frame.len();
        let [hi, lo] = length.to_be_bytes();
        // Both bytes in the length field's place, then padding.
        frame.extend(std::iter::repeat_n(0, padding));
        corrupt(&mut frame, &[(at, hi), (at + 1, lo)], cut + padding);
        agree(&frame)?;
    }

    /// An MPLS pseudowire's inner frame is dissected on the fast path,
    /// with the walker's result: its one IP layer and both MAC pairs;
    /// and it is screened, with either family inside.
    #[test]
    fn pseudowire_frames_take_the_fast_path(
        link in pseudowire_links(),
        inner_link in links(),
        v6: bool,
        src: u32,
        dst: u32,
        l4 in l4s(),
        ports: (u16, u16),
        payload in 0usize..64,
    ) {
        let frame = pseudowire_frame(&link, &inner_link, addrs(v6, src, dst), l4, ports, payload);
        let fast = !to_tunnel_port(l4, ports) && link.fast() && inner_link.fast();
        prop_assert_eq!(agree(&frame)?, fast);
        let screened = common_pseudowire(&frame).map(|p| p.addrs);
        prop_assert_eq!(screened, fast.then(|| layer(v6, (src, dst))));
        let mut d = Dissection::default();
        prop_assert_eq!(dissect_general(&frame, &mut d), Ok(()));
        if fast {
            let want = (!v6).then_some([src, dst]);
            prop_assert_eq!(d.single_v4(), want);
            prop_assert_eq!(d.ips().count(), 1);
            let outer = MacPair { dst: [2, 0, 0, 0, 0, 2], src: [2, 0, 0, 0, 0, 1] };
            let inner = MacPair { dst: INNER_MACS.1, src: INNER_MACS.0 };
            prop_assert_eq!(d.macs(), &[outer, inner][..]);
        }
    }

    #[test]
    fn corrupted_or_cut_pseudowire_frames_never_disagree(
        link in pseudowire_links(),
        inner_link in links(),
        v6: bool,
        l4 in l4s(),
        payload in 0usize..40,
        flips in proptest::collection::vec((0usize..140, any::<u8>()), 0..4),
        cut in 0usize..160,
    ) {
        let ips = addrs(v6, 0x0a00_0001, 0x0a00_0002);
        let mut frame = pseudowire_frame(&link, &inner_link, ips, l4, (1000, 80), payload);
        corrupt(&mut frame, &flips, cut);
        agree(&frame)?;
    }

    /// An IP length field bounds the transport header (a frame is often
    /// padded past its packet), whatever it says.
    #[test]
    fn ip_length_fields_of_any_value_never_disagree(
        v6: bool,
        l4 in l4s(),
        payload in 0usize..40,
        // Mostly around the headers' lengths: a shorter field must cut them.
        length in prop_oneof![0u16..80, any::<u16>()],
    ) {
        let ips = addrs(v6, 0x0a00_0001, 0x0a00_0002);
        let mut frame = common_frame(&Link::default(), ips, l4, (1000, 80), payload);
        let at = ETH_HEADER_LEN + if v6 { 4 } else { 2 };
        let [hi, lo] = length.to_be_bytes();
        let cut = frame.len();
        corrupt(&mut frame, &[(at, hi), (at + 1, lo)], cut);
        agree(&frame)?;
    }

    /// The fields the GTP-U lane reads, each set to any value (mostly
    /// near a valid one) in an untagged IPv4-in-GTP-U frame, with or
    /// without the optional word and extensions, whole or cut: the lane
    /// never takes a frame the screen would not, nor with other
    /// addresses.
    #[test]
    fn gtpu_fields_of_any_value_never_disagree(
        seq: Option<u16>,
        exts in 0u8..3,
        l4 in l4s(),
        payload in 0usize..40,
        field in 0usize..9,
        value in prop_oneof![0u16..100, any::<u16>()],
        cut in prop_oneof![Just(usize::MAX), 40usize..140],
    ) {
        let encap = ip_tunnel(0, 7, (seq, exts));
        let mut frame =
            tunnel_frame(&Link::default(), (false, false), (1, 2), encap, (3, 4), l4, (1000, 80), payload);
        const GTP: usize = ETH_HEADER_LEN + IPV4_HEADER_LEN + UDP_HEADER_LEN;
        let opt = seq.is_some() || exts > 0;
        let inner = GTP + if opt { gtpu::OPT_HEADER_LEN + 4 * usize::from(exts) } else { gtpu::HEADER_LEN };
        // (offset, bytes written): outer total length, UDP length, GTP
        // flags, GTP length, next extension type, the first extension's
        // length and next type, inner version and IHL, inner total length.
        let (at, wide) = [
            (ETH_HEADER_LEN + 2, true),
            (ETH_HEADER_LEN + IPV4_HEADER_LEN + 4, true),
            (GTP, false),
            (GTP + 2, true),
            (GTP + 11, false),
            (GTP + 12, false),
            (GTP + 15, false),
            (inner, false),
            (inner + 2, true),
        ][field];
        let [hi, lo] = value.to_be_bytes();
        let flips = if wide { vec![(at, hi), (at + 1, lo)] } else { vec![(at, lo)] };
        let cut = cut.min(frame.len());
        corrupt(&mut frame, &flips, cut);
        agree(&frame)?;
    }

    /// Ethernet right after Ethernet (EtherType 0x6558 outside a tunnel)
    /// is no pseudowire: the walker stops at it, and so does the fast path.
    #[test]
    fn ethernet_in_ethernet_is_not_a_tunnel(
        tags in 0usize..=2,
        inner_link in links(),
        l4 in l4s(),
    ) {
        let link = Link { tags: vec![(0x8100, 7); tags], ..Link::default() };
        let ip = |f: Frame| {
            let inner = f.inner_ethernet(INNER_MACS.0, INNER_MACS.1);
            inner_link.add(inner).ipv4([10, 0, 0, 1].into(), [10, 0, 0, 2].into())
        };
        let frame = frame_with(&link, ip, l4, (1000, 80), 8);
        prop_assert!(!agree(&frame)?);
    }

    /// The two-load MAC read gives each address of [`mac_pair`] as its
    /// 48-bit big-endian value, on any bytes of any length.
    #[test]
    fn mac_words_are_the_mac_pair_as_integers(
        bytes in proptest::collection::vec(any::<u8>(), 0..20),
    ) {
        let be48 = |m: [u8; 6]| m.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b));
        let pair = mac_pair(&bytes);
        prop_assert_eq!(mac_words(&bytes), [be48(pair.dst), be48(pair.src)]);
    }

    #[test]
    fn random_bytes_never_disagree(
        head in prop::sample::select(vec![
            vec![0x08u8, 0x00, 0x45],
            vec![0x81, 0x00, 0x00, 0x01, 0x08, 0x00, 0x45],
            vec![0x81, 0x00, 0x00, 0x01, 0x81, 0x00],
            vec![0x86, 0xdd],
            vec![0x86, 0xdd, 0x60],
            vec![0x81, 0x00, 0x00, 0x01, 0x86, 0xdd, 0x60],
        ]),
        bytes in proptest::collection::vec(any::<u8>(), 0..120),
    ) {
        let mut frame = vec![2u8; 12];
        frame.extend_from_slice(&head);
        frame.extend_from_slice(&bytes);
        agree(&frame)?;
    }
}

proptest! {
    // Five kinds of mirror tunnel share these cases.
    #![proptest_config(ProptestConfig::with_cases(8000))]

    #[test]
    fn mirror_frames_take_the_fast_path_and_ipv4_ones_are_screened(
        link in links(),
        v6: (bool, bool),
        outer: (u32, u32),
        kind in 0u8..5,
        id: u32,
        inner_link in links(),
        inner: (u32, u32),
        l4 in l4s(),
        ports: (u16, u16),
        payload in 0usize..64,
    ) {
        let encap = mirror(kind, id, &inner_link);
        let frame = tunnel_frame(&link, v6, outer, encap, inner, l4, ports, payload);
        let fast = !to_tunnel_port(l4, ports)
            && link.fast()
            && inner_link.fast();
        prop_assert_eq!(agree(&frame)?, fast);
        let screened = common_tunnel_ipv4(&frame);
        let want = (fast && v6 == (false, false)).then_some([[outer.0, outer.1], [inner.0, inner.1]]);
        prop_assert_eq!(screened.map(|t| t.layers), want);
        // The screen points at the inner frame's MAC pair.
        let inner_eth = screened.and_then(|t| t.inner_eth).and_then(|at| frame.get(at..at + 12));
        let macs = [INNER_MACS.1, INNER_MACS.0].concat();
        prop_assert_eq!(inner_eth, screened.is_some().then_some(&macs[..]));
        let mixed = common_tunnel_ipv4_ipv6(&frame);
        let want = (fast && v6 == (false, true))
            .then_some(([outer.0, outer.1], [wide(inner.0), wide(inner.1)]));
        prop_assert_eq!(mixed.map(|t| (t.outer, t.inner)), want);
        let inner_eth = mixed.and_then(|t| t.inner_eth).and_then(|at| frame.get(at..at + 12));
        prop_assert_eq!(inner_eth, mixed.is_some().then_some(&macs[..]));
        let over6 = common_tunnel_ipv6(&frame);
        let want = (fast && v6.0).then_some(([wide(outer.0), wide(outer.1)], layer(v6.1, inner)));
        prop_assert_eq!(over6.map(|t| (t.outer, t.inner)), want);
        let inner_eth = over6.and_then(|t| t.inner_eth).and_then(|at| frame.get(at..at + 12));
        prop_assert_eq!(inner_eth, over6.is_some().then_some(&macs[..]));
    }

    #[test]
    fn corrupted_or_cut_mirror_frames_never_disagree(
        v6: (bool, bool),
        kind in 0u8..5,
        inner_link in links(),
        l4 in l4s(),
        payload in 0usize..40,
        flips in proptest::collection::vec((0usize..160, any::<u8>()), 0..4),
        cut in 0usize..180,
    ) {
        let encap = mirror(kind, 42, &inner_link);
        let mut frame = tunnel_frame(&Link::default(), v6, (1, 2), encap, (3, 4), l4, (1000, 80), payload);
        corrupt(&mut frame, &flips, cut);
        agree(&frame)?;
    }
}
