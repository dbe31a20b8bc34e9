use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use super::*;
use crate::parse::{IpPair, MacPair, Transport};
use crate::targets::{replicas, Match, Mode, Slot, TableWriter};

const FROM: u64 = 1_000;
const UNTIL: u64 = 2_000;

fn spec(key: u32, mode: Mode) -> InterceptSpec {
    InterceptSpec {
        key,
        mode,
        valid_from_ns: FROM,
        valid_until_ns: UNTIL,
    }
}

fn v4(a: [u8; 4]) -> Ipv4Addr {
    Ipv4Addr::from(a)
}

fn pair4(src: [u8; 4], dst: [u8; 4]) -> IpPair {
    IpPair::V4 {
        src: v4(src),
        dst: v4(dst),
    }
}

/// One replica loaded with `updates`, all applied.
fn loaded(updates: &[Update]) -> (TableWriter, TableReplica) {
    // Nothing drains the ring during the send: room for all of it.
    let (mut w, mut r) = replicas(1, (3 * updates.len() + 1).max(1024));
    let mut r = r.remove(0);
    let e = w.send(updates);
    while r.epoch() < e {
        r.apply_pending(16);
    }
    (w, r)
}

fn run(r: &TableReplica, ips: &[IpPair], macs: &[MacPair], ts: u64) -> Vec<Match> {
    let mut d = Dissection::default();
    for &ip in ips {
        d.push_ip(ip).unwrap();
    }
    for &mac in macs {
        d.push_mac(mac).unwrap();
    }
    let mut out = Matches::new();
    r.classify(&d, ts, &mut out);
    let mut v = out.as_slice().to_vec();
    v.sort_by_key(|m| m.key);
    v
}

fn m(key: u32, mode: Mode, direction: Direction) -> Match {
    on(key, mode, direction, Layer::Ip(0))
}

fn on(key: u32, mode: Mode, direction: Direction, layer: Layer) -> Match {
    Match {
        key,
        mode,
        direction,
        layer,
    }
}

fn set(slot: u16, key: u32, mode: Mode) -> Update {
    Update::SetIntercept {
        slot: Slot(slot),
        spec: spec(key, mode),
    }
}

fn add(slot: u16, target: Target) -> Update {
    Update::AddTarget {
        slot: Slot(slot),
        target,
    }
}

#[test]
fn exact_ipv4_sets_direction_per_side_and_merges_to_both() {
    let (_w, r) = loaded(&[
        set(0, 10, Mode::Content),
        set(1, 11, Mode::Headers),
        add(0, Target::Ipv4(v4([10, 0, 0, 1]))),
        add(1, Target::Ipv4(v4([10, 0, 0, 2]))),
        add(0, Target::Ipv4(v4([10, 0, 0, 3]))),
    ]);
    let out = run(&r, &[pair4([10, 0, 0, 1], [10, 0, 0, 2])], &[], FROM);
    assert_eq!(
        out,
        vec![
            m(10, Mode::Content, Direction::FromTarget),
            m(11, Mode::Headers, Direction::ToTarget)
        ]
    );
    let out = run(&r, &[pair4([10, 0, 0, 3], [10, 0, 0, 1])], &[], FROM);
    assert_eq!(out, vec![m(10, Mode::Content, Direction::Both)]);
    assert!(run(&r, &[pair4([10, 0, 0, 4], [10, 0, 0, 5])], &[], FROM).is_empty());
    // An inner (tunnelled) layer matches as well as an outer one.
    let out = run(
        &r,
        &[
            pair4([1, 1, 1, 1], [2, 2, 2, 2]),
            pair4([9, 9, 9, 9], [10, 0, 0, 2]),
        ],
        &[],
        FROM,
    );
    assert_eq!(
        out,
        vec![on(11, Mode::Headers, Direction::ToTarget, Layer::Ip(1))]
    );
    // Found in both, the target's packet is the inner one.
    let out = run(
        &r,
        &[
            pair4([10, 0, 0, 2], [2, 2, 2, 2]),
            pair4([9, 9, 9, 9], [10, 0, 0, 2]),
        ],
        &[],
        FROM,
    );
    assert_eq!(
        out,
        vec![on(11, Mode::Headers, Direction::Both, Layer::Ip(1))]
    );
}

/// Targets added one request at a time, as an operator adds them: the writer
/// grows every exact table ahead (a replacement on the ring), the CIDR
/// tables' per-length ones included, so the worker never rehashes one
/// itself, and every key and slot survives each swap.
#[test]
fn tables_grow_on_the_writer_side_and_keep_every_target() {
    let (mut w, mut rs) = replicas(2, 64);
    w.send(&[set(0, 10, Mode::Content), set(1, 11, Mode::Headers)]);
    let ip4 = |i: u32| Target::Ipv4(Ipv4Addr::from(0x0a00_0000 + i));
    let ip6 = |i: u32| Target::Ipv6(Ipv6Addr::from(0x2001_0db8_u128 << 96 | u128::from(i)));
    let mac = |i: u32| {
        let [_, b, c, d] = i.to_be_bytes();
        Target::Mac([2, 0, 0, b, c, d])
    };
    // Subscriber prefixes, apart from the hosts: 172.16.0.0/12 in /24s,
    // 2001:db9::/32 in /56s.
    let net4 = |i: u32| Ipv4Addr::from(0xac10_0000 + (i << 8));
    let net6 = |i: u32| Ipv6Addr::from(0x2001_0db9_u128 << 96 | u128::from(i) << 72);
    let n = 3000;
    let mut retired = 0;
    for i in 0..n {
        let mut ups = vec![
            add(0, ip4(i)),
            add(0, ip6(i)),
            add(0, Target::Ipv4Net(net4(i), 24)),
            add(0, Target::Ipv6Net(net6(i), 56)),
        ];
        if i % 10 == 0 {
            // Shared with a second intercept: a spilled slot list.
            ups.extend([add(1, ip4(i)), add(1, mac(i))]);
        }
        let e = w.send(&ups);
        for r in &mut rs {
            while r.epoch() < e {
                r.apply_pending(16);
            }
            retired += r.ring.retired.len();
        }
    }
    // Swapped-out tables go back to the writer, which frees them.
    assert!(retired > 0);
    assert!(w.wait_applied(w.epoch(), Duration::from_secs(1)));
    assert!(rs.iter().all(|r| r.ring.retired.is_empty()));
    let macs = n / 10;
    for r in &rs {
        assert_eq!(r.target_count(), (4 * n + macs) as usize);
        assert_eq!(
            (
                r.exact4.grown_by_add,
                r.exact6.grown_by_add,
                r.mac.grown_by_add,
                r.cidr4.table(24).grown_by_add,
                r.cidr6.table(56).grown_by_add
            ),
            (0, 0, 0, 0, 0),
            "a worker rehashed a table itself"
        );
        assert!(r.exact4.capacity() >= 2 * n as usize);
        assert!(r.cidr6.table(56).capacity() >= 2 * n as usize);
        assert_eq!(
            r.spill_bytes,
            r.exact4.spilled_bytes(),
            "spilled lists counted"
        );
        assert!(r.spill_bytes > 0);
        for i in 0..n {
            let expect = if i % 10 == 0 {
                vec![
                    m(10, Mode::Content, Direction::FromTarget),
                    m(11, Mode::Headers, Direction::FromTarget),
                ]
            } else {
                vec![m(10, Mode::Content, Direction::FromTarget)]
            };
            let Target::Ipv4(a) = ip4(i) else {
                unreachable!()
            };
            assert_eq!(
                run(
                    r,
                    &[IpPair::V4 {
                        src: a,
                        dst: v4([192, 0, 2, 1])
                    }],
                    &[],
                    FROM
                ),
                expect
            );
            let Target::Ipv6(a) = ip6(i) else {
                unreachable!()
            };
            let p6 = IpPair::V6 {
                src: a,
                dst: Ipv6Addr::LOCALHOST,
            };
            assert_eq!(
                run(r, &[p6], &[], FROM),
                vec![m(10, Mode::Content, Direction::FromTarget)]
            );
            // A host inside each prefix, as the destination.
            let in4 = Ipv4Addr::from(u32::from(net4(i)) | 0x7f);
            let in6 = Ipv6Addr::from(u128::from(net6(i)) | 0xab << 64 | 1);
            for pair in [
                IpPair::V4 {
                    src: v4([192, 0, 2, 1]),
                    dst: in4,
                },
                IpPair::V6 {
                    src: Ipv6Addr::LOCALHOST,
                    dst: in6,
                },
            ] {
                assert_eq!(
                    run(r, &[pair], &[], FROM),
                    vec![m(10, Mode::Content, Direction::ToTarget)],
                    "prefix {i} in {pair:?}"
                );
            }
        }
        let Target::Mac(src) = mac(10) else {
            unreachable!()
        };
        let pair = MacPair { src, dst: [2; 6] };
        assert_eq!(
            run(r, &[], &[pair], FROM),
            vec![on(
                11,
                Mode::Headers,
                Direction::FromTarget,
                Layer::Ethernet(0)
            )]
        );
    }
    // Without the writer, the same adds rehash the table on its owner.
    let mut t = ExactTable::<u32>::default();
    let mut spill = 0;
    for i in 0..n {
        t.add(i, Slot(0), &mut spill);
    }
    assert!(t.grown_by_add > 0);
}

/// Loads targets `0..n` (by `target`) into one intercept and `n..n + 100`
/// into another, removes the first half one request at a time, then clears
/// the first intercept: the writer sends fresh tables before a quarter of
/// `table`'s keys are stale, so the worker never rebuilds a filter, and
/// lookups (`probe(i)`: a packet from target `i`) stay exact.
fn filters_rebuilt_by_the_writer<K: Key>(
    n: u32,
    target: impl Fn(u32) -> Target,
    probe: impl Fn(u32) -> IpPair,
    table: impl Fn(&TableReplica) -> &ExactTable<K>,
) {
    let mut ups = vec![set(0, 10, Mode::Content), set(1, 11, Mode::Content)];
    ups.extend((0..n).map(|i| add(0, target(i))));
    ups.extend((n..n + 100).map(|i| add(1, target(i))));
    let (mut w, mut r) = loaded(&ups);
    let found = |r: &TableReplica, i: u32| !run(r, &[probe(i)], &[], FROM).is_empty();
    let mut fresh = 0;
    for i in 0..n / 2 {
        let e = w.send(&[Update::RemoveTarget {
            slot: Slot(0),
            target: target(i),
        }]);
        while r.epoch() < e {
            r.apply_pending(16);
        }
        let (stale, rebuilds_itself) = table(&r).staleness();
        assert!(!rebuilds_itself);
        assert!(stale * 4 <= table(&r).len(), "stale past a quarter");
        fresh += usize::from(stale == 0);
    }
    assert!(fresh > 1, "the writer sent fresh tables");
    assert!((0..n / 2).all(|i| !found(&r, i)));
    assert!((n / 2..n + 100).all(|i| found(&r, i)));
    let e = w.send(&[Update::ClearIntercept { slot: Slot(0) }]);
    while r.epoch() < e {
        r.apply_pending(64);
    }
    assert_eq!((table(&r).len(), table(&r).staleness().0), (100, 0));
    assert!((0..n).all(|i| !found(&r, i)));
    assert!((n..n + 100).all(|i| found(&r, i)));
}

#[test]
fn filters_are_rebuilt_on_the_writer_side_as_targets_go() {
    let ip4 = |i: u32| Ipv4Addr::from(0x0a00_0000 + i);
    filters_rebuilt_by_the_writer(
        4000,
        |i| Target::Ipv4(ip4(i)),
        |i| IpPair::V4 {
            src: ip4(i),
            dst: v4([192, 0, 2, 1]),
        },
        |r| &r.exact4,
    );
}

/// The same for a CIDR table's per-length table, with IPv6 /56s probed by
/// a host inside each.
#[test]
fn prefix_filters_are_rebuilt_on_the_writer_side_as_targets_go() {
    let net6 = |i: u32| 0x2001_0db9_u128 << 96 | u128::from(i) << 72;
    filters_rebuilt_by_the_writer(
        2000,
        |i| Target::Ipv6Net(net6(i).into(), 56),
        |i| IpPair::V6 {
            src: (net6(i) | 0x5a << 64 | 7).into(),
            dst: Ipv6Addr::LOCALHOST,
        },
        |r| r.cidr6.table(56),
    );
}

#[test]
fn warrant_window_is_checked_per_packet() {
    let (_w, r) = loaded(&[
        set(3, 7, Mode::Content),
        add(3, Target::Ipv4(v4([1, 2, 3, 4]))),
    ]);
    let p = [pair4([1, 2, 3, 4], [5, 6, 7, 8])];
    assert!(run(&r, &p, &[], FROM - 1).is_empty());
    assert_eq!(run(&r, &p, &[], FROM).len(), 1);
    assert_eq!(run(&r, &p, &[], UNTIL - 1).len(), 1);
    assert!(run(&r, &p, &[], UNTIL).is_empty());
}

#[test]
fn target_without_intercept_never_matches() {
    let (_w, r) = loaded(&[add(4, Target::Ipv4(v4([1, 2, 3, 4])))]);
    assert_eq!(r.target_count(), 1);
    assert!(run(&r, &[pair4([1, 2, 3, 4], [5, 6, 7, 8])], &[], FROM).is_empty());
}

#[test]
fn cleared_slot_reused_does_not_inherit_old_targets() {
    let old = Target::Ipv4(v4([1, 2, 3, 4]));
    let new = Target::Ipv6(Ipv6Addr::LOCALHOST);
    let (mut w, mut r) = loaded(&[set(2, 1, Mode::Content), add(2, old)]);
    let e = w.send(&[
        Update::ClearIntercept { slot: Slot(2) },
        set(2, 99, Mode::Headers),
        add(2, new),
    ]);
    while r.epoch() < e {
        r.apply_pending(1);
    }
    assert_eq!(r.target_count(), 1);
    assert!(run(&r, &[pair4([1, 2, 3, 4], [5, 6, 7, 8])], &[], FROM).is_empty());
    let p6 = IpPair::V6 {
        src: Ipv6Addr::UNSPECIFIED,
        dst: Ipv6Addr::LOCALHOST,
    };
    assert_eq!(
        run(&r, &[p6], &[], FROM),
        vec![m(99, Mode::Headers, Direction::ToTarget)]
    );
}

#[test]
fn cidr_finds_all_containing_prefixes_and_host_bits_are_ignored() {
    let (mut w, mut r) = loaded(&[
        set(0, 1, Mode::Content),
        set(1, 2, Mode::Content),
        set(2, 3, Mode::Headers),
        add(0, Target::Ipv4Net(v4([10, 0, 0, 0]), 8)),
        add(1, Target::Ipv4Net(v4([10, 1, 2, 99]), 24)),
        add(
            2,
            Target::Ipv6Net("2001:db8::".parse().unwrap_or(Ipv6Addr::UNSPECIFIED), 32),
        ),
    ]);
    let out = run(&r, &[pair4([8, 8, 8, 8], [10, 1, 2, 3])], &[], FROM);
    assert_eq!(
        out,
        vec![
            m(1, Mode::Content, Direction::ToTarget),
            m(2, Mode::Content, Direction::ToTarget)
        ]
    );
    let p6 = IpPair::V6 {
        src: "2001:db8:1::5".parse().unwrap_or(Ipv6Addr::UNSPECIFIED),
        dst: Ipv6Addr::LOCALHOST,
    };
    assert_eq!(
        run(&r, &[p6], &[], FROM),
        vec![m(3, Mode::Headers, Direction::FromTarget)]
    );
    // Removing with other host bits names the same prefix.
    let e = w.send(&[Update::RemoveTarget {
        slot: Slot(1),
        target: Target::Ipv4Net(v4([10, 1, 2, 0]), 24),
    }]);
    while r.epoch() < e {
        r.apply_pending(8);
    }
    let out = run(&r, &[pair4([8, 8, 8, 8], [10, 1, 2, 3])], &[], FROM);
    assert_eq!(out, vec![m(1, Mode::Content, Direction::ToTarget)]);
}

/// Stage 2 lets through every frame that matches a CIDR or MAC target, and
/// screens out frames far from all of them - until a prefix shorter than the
/// gate length makes every address a candidate.
#[test]
fn stage_two_screens_cidr_and_mac_targets_without_losing_a_match() {
    let v6 = |s: &str| s.parse::<Ipv6Addr>().unwrap_or(Ipv6Addr::UNSPECIFIED);
    let mac = [2, 0, 0, 0, 0, 9];
    let (mut w, mut r) = loaded(&[
        set(0, 1, Mode::Content),
        add(0, Target::Ipv4Net(v4([100, 64, 7, 0]), 24)),
        add(0, Target::Ipv6Net(v6("2001:db8:aa:bb00::"), 56)),
        add(0, Target::Mac(mac)),
    ]);
    let may = |r: &TableReplica, ip: IpPair, macs: MacPair| {
        let mut d = Dissection::default();
        d.push_mac(macs).unwrap();
        d.push_ip(ip).unwrap();
        let mut kh = KeyHashes::default();
        r.hash_keys(&d, &mut kh);
        r.may_match(&d, &kh)
    };
    let other_macs = MacPair {
        src: [4; 6],
        dst: [6; 6],
    };
    let six = |src: &str, dst: &str| IpPair::V6 {
        src: v6(src),
        dst: v6(dst),
    };
    // Every frame of a target passes, whichever side it is on.
    assert!(may(&r, pair4([8, 8, 4, 4], [100, 64, 7, 200]), other_macs));
    assert!(may(&r, six("2001:db8:aa:bbff::1", "2600::1"), other_macs));
    assert!(may(&r, six("2600::1", "2001:db8:aa:bb00::7"), other_macs));
    let target_mac = MacPair {
        src: [4; 6],
        dst: mac,
    };
    assert!(may(&r, pair4([8, 8, 4, 4], [9, 9, 9, 9]), target_mac));
    // Frames of other networks and MACs do not.
    assert!(!may(&r, pair4([8, 8, 4, 4], [9, 9, 9, 9]), other_macs));
    assert!(!may(&r, six("2600::1", "2a00:1450::5"), other_macs));
    // A /8 is shorter than the IPv4 gate's /16 blocks: every IPv4 frame is a
    // candidate while it is stored, and stage 3 decides.
    let e = w.send(&[add(0, Target::Ipv4Net(v4([10, 0, 0, 0]), 8))]);
    while r.epoch() < e {
        r.apply_pending(8);
    }
    assert!(may(&r, pair4([8, 8, 4, 4], [9, 9, 9, 9]), other_macs));
    assert!(run(
        &r,
        &[pair4([8, 8, 4, 4], [9, 9, 9, 9])],
        &[other_macs],
        FROM
    )
    .is_empty());
    assert!(!may(&r, six("2600::1", "2a00:1450::5"), other_macs));
}

#[test]
fn mac_targets_match_any_ethernet_layer() {
    let mac = [2, 0, 0, 0, 0, 1];
    let (_w, r) = loaded(&[set(0, 5, Mode::Content), add(0, Target::Mac(mac))]);
    let macs = [
        MacPair::default(),
        MacPair {
            src: [9; 6],
            dst: mac,
        },
    ];
    assert_eq!(
        run(&r, &[], &macs, FROM),
        vec![on(
            5,
            Mode::Content,
            Direction::ToTarget,
            Layer::Ethernet(1)
        )]
    );
}

#[test]
fn a_mac_shared_by_two_intercepts_stays_until_both_remove_it() {
    let mac = [2, 0, 0, 0, 0, 7];
    let other = [2, 0, 0, 0, 0, 8];
    let (mut w, mut r) = loaded(&[
        set(0, 5, Mode::Content),
        set(1, 6, Mode::Headers),
        add(0, Target::Mac(mac)),
        add(1, Target::Mac(mac)),
        add(1, Target::Mac(other)),
    ]);
    let frame = [MacPair {
        src: mac,
        dst: other,
    }];
    let mut got = run(&r, &[], &frame, FROM);
    got.sort_by_key(|x| x.key);
    let eth = Layer::Ethernet(0);
    assert_eq!(
        got,
        vec![
            on(5, Mode::Content, Direction::FromTarget, eth),
            on(6, Mode::Headers, Direction::Both, eth)
        ]
    );
    let remove = |slot, target| Update::RemoveTarget {
        slot: Slot(slot),
        target,
    };
    let e = w.send(&[remove(1, Target::Mac(mac)), remove(1, Target::Mac(other))]);
    while r.epoch() < e {
        r.apply_pending(16);
    }
    assert_eq!(
        run(&r, &[], &frame, FROM),
        vec![on(5, Mode::Content, Direction::FromTarget, eth)]
    );
    assert_eq!(r.target_count(), 1);
}

#[test]
fn one_target_in_many_intercepts_and_many_targets_in_one() {
    let t = Target::Ipv4(v4([1, 1, 1, 1]));
    let mut ups: Vec<Update> = (0..20)
        .map(|s| set(s, 100 + u32::from(s), Mode::Content))
        .collect();
    ups.extend((0..20).map(|s| add(s, t)));
    ups.extend((0..50u8).map(|i| add(0, Target::Ipv4(v4([2, 2, 2, i])))));
    let (mut w, mut r) = loaded(&ups);
    assert_eq!(r.target_count(), 51);
    let out = run(&r, &[pair4([1, 1, 1, 1], [2, 2, 2, 7])], &[], FROM);
    let mut want: Vec<Match> = (0..20)
        .map(|s| m(100 + s, Mode::Content, Direction::FromTarget))
        .collect();
    want[0].direction = Direction::Both;
    assert_eq!(out, want);
    let e = w.send(&[Update::ClearIntercept { slot: Slot(0) }]);
    while r.epoch() < e {
        r.apply_pending(8);
    }
    assert_eq!(r.target_count(), 1);
    assert_eq!(
        run(&r, &[pair4([1, 1, 1, 1], [2, 2, 2, 7])], &[], FROM).len(),
        19
    );
}

#[test]
fn epoch_is_applied_only_when_every_worker_applied_it() {
    let (mut w, mut rs) = replicas(2, 64);
    let e = w.send(&[add(0, Target::Ipv4(v4([1, 1, 1, 1])))]);
    assert_eq!(e, 1);
    // The first IPv4 table (built by the writer), the add, the marker.
    assert_eq!(rs[0].apply_pending(usize::MAX), 3);
    assert_eq!(w.min_applied(), 0);
    assert!(!w.wait_applied(e, Duration::from_millis(20)));
    rs[1].apply_pending(2);
    assert!(
        !w.wait_applied(e, Duration::from_millis(20)),
        "marker not consumed yet"
    );
    rs[1].apply_pending(1);
    assert!(w.wait_applied(e, Duration::from_secs(5)));
    assert_eq!(w.min_applied(), 1);
    assert!(rs[1].memory_bytes() > 0);
    assert_eq!(rs[1].target_count(), 1);
}

#[test]
fn full_ring_makes_the_writer_wait_not_the_worker() {
    let (mut w, mut rs) = replicas(1, 4);
    let mut r = rs.remove(0);
    let ups: Vec<Update> = (0..1000u32)
        .map(|i| add(0, Target::Ipv4(Ipv4Addr::from(i))))
        .collect();
    std::thread::scope(|s| {
        let sender = s.spawn(|| w.send(&ups));
        while r.epoch() < 1 {
            r.apply_pending(3);
        }
        assert_eq!(sender.join().ok(), Some(1));
    });
    assert_eq!(r.target_count(), 1000);
    assert_eq!(r.epoch(), 1);
}

/// (key, direction, layer) of every match of the IP `layers` whose innermost
/// one carries `transport`.
fn run_l4(
    r: &TableReplica,
    layers: &[IpPair],
    transport: Option<Transport>,
) -> Vec<(u32, Direction, Layer)> {
    let mut d = Dissection::default();
    for &ip in layers {
        d.push_ip(ip).unwrap();
    }
    d.transport = transport;
    let mut out = Matches::new();
    r.classify(&d, FROM, &mut out);
    let mut v: Vec<_> = out
        .as_slice()
        .iter()
        .map(|m| (m.key, m.direction, m.layer))
        .collect();
    v.sort_by_key(|m| m.0);
    v
}

fn udp(src_port: u16, dst_port: u16) -> Option<Transport> {
    Some(Transport {
        proto: 17,
        src_port,
        dst_port,
    })
}

fn tcp(src_port: u16, dst_port: u16) -> Option<Transport> {
    Some(Transport {
        proto: 6,
        src_port,
        dst_port,
    })
}

fn remove(slot: u16, target: Target) -> Update {
    Update::RemoveTarget {
        slot: Slot(slot),
        target,
    }
}

fn send(w: &mut TableWriter, r: &mut TableReplica, updates: &[Update]) {
    let e = w.send(updates);
    while r.epoch() < e {
        r.apply_pending(16);
    }
}

const E4: [u8; 4] = [10, 0, 0, 9];
const O4: [u8; 4] = [192, 0, 2, 1];

#[test]
fn an_endpoint_matches_its_address_and_udp_port_on_either_side() {
    let ep = Target::Ipv4Udp(v4(E4), 5004);
    let far = Target::Ipv4Udp(v4(O4), 6000);
    let (_w, r) = loaded(&[
        set(0, 10, Mode::Content),
        set(1, 11, Mode::Headers),
        add(0, ep),
        add(1, ep),
        add(1, far),
    ]);
    assert_eq!(r.target_count(), 2);
    let ip0 = Layer::Ip(0);
    let p = [pair4(E4, O4)];
    assert_eq!(
        run_l4(&r, &p, udp(5004, 7000)),
        vec![
            (10, Direction::FromTarget, ip0),
            (11, Direction::FromTarget, ip0)
        ]
    );
    // Both ends targets of intercept 1.
    assert_eq!(
        run_l4(&r, &p, udp(5004, 6000)),
        vec![(10, Direction::FromTarget, ip0), (11, Direction::Both, ip0)]
    );
    let back = [pair4(O4, E4)];
    assert_eq!(
        run_l4(&r, &back, udp(7000, 5004)),
        vec![
            (10, Direction::ToTarget, ip0),
            (11, Direction::ToTarget, ip0)
        ]
    );
    // The port on the other side, another port, TCP, no transport header (a
    // non-first fragment): no match.
    assert!(run_l4(&r, &p, udp(7000, 5004)).is_empty());
    assert!(run_l4(&r, &back, udp(5004, 7000)).is_empty());
    assert!(run_l4(&r, &p, udp(5005, 7000)).is_empty());
    assert!(run_l4(&r, &p, tcp(5004, 7000)).is_empty());
    assert!(run_l4(&r, &p, None).is_empty());
    // An address is no endpoint of the other family.
    let mapped = IpPair::V6 {
        src: v4(E4).to_ipv6_mapped(),
        dst: Ipv6Addr::LOCALHOST,
    };
    assert!(run_l4(&r, &[mapped], udp(5004, 7000)).is_empty());
}

#[test]
fn an_endpoint_matches_the_innermost_layer_only() {
    let e6: Ipv6Addr = "2001:db8::9".parse().unwrap();
    let (_w, r) = loaded(&[
        set(0, 10, Mode::Content),
        add(0, Target::Ipv4Udp(v4(E4), 5004)),
        add(0, Target::Ipv6Udp(e6, 5006)),
    ]);
    let inner6 = IpPair::V6 {
        src: Ipv6Addr::LOCALHOST,
        dst: e6,
    };
    // IPv6 inside an IPv4 tunnel whose outer source is the IPv4 endpoint's
    // address: the ports are the inner datagram's.
    assert_eq!(
        run_l4(&r, &[pair4(E4, O4), inner6], udp(5004, 5006)),
        vec![(10, Direction::ToTarget, Layer::Ip(1))]
    );
    assert!(run_l4(&r, &[pair4(E4, O4), inner6], udp(5004, 5007)).is_empty());
    assert_eq!(
        run_l4(&r, &[pair4(O4, O4), pair4(E4, O4)], udp(5004, 1)),
        vec![(10, Direction::FromTarget, Layer::Ip(1))]
    );
    // A TCP endpoint likewise: the inner segment's port, not the outer
    // layer's address.
    let (_w, r) = loaded(&[
        set(0, 10, Mode::Content),
        add(0, Target::Ipv4Tcp(v4(E4), 443)),
        add(0, Target::Ipv6Tcp(e6, 443)),
    ]);
    assert_eq!(
        run_l4(&r, &[pair4(E4, O4), inner6], tcp(1, 443)),
        vec![(10, Direction::ToTarget, Layer::Ip(1))]
    );
    assert!(run_l4(&r, &[pair4(E4, O4), inner6], udp(1, 443)).is_empty());
    assert!(run_l4(&r, &[pair4(E4, O4), pair4(O4, O4)], tcp(443, 1)).is_empty());
}

/// TCP endpoints, in both families, match their address and port on either
/// side of a TCP segment only: a UDP datagram of the same address and port
/// is not theirs, nor is a TCP segment the UDP endpoint of the same address
/// and port; each protocol's endpoint stays when the other's goes.
#[test]
fn a_tcp_endpoint_matches_tcp_only_and_a_udp_one_udp_only() {
    let e6: Ipv6Addr = "2001:db8::9".parse().unwrap();
    let o6: Ipv6Addr = "2001:db8::1".parse().unwrap();
    let (t4, t6) = (Target::Ipv4Tcp(v4(E4), 443), Target::Ipv6Tcp(e6, 443));
    let u4 = Target::Ipv4Udp(v4(E4), 5004);
    let u6 = Target::Ipv6Udp(e6, 5004);
    let (mut w, mut r) = loaded(&[
        set(0, 10, Mode::Content),
        set(1, 11, Mode::Headers),
        add(0, t4),
        add(0, t6),
        add(1, u4),
        add(1, u6),
    ]);
    assert_eq!(r.target_count(), 4);
    let ip0 = Layer::Ip(0);
    let from = |key| vec![(key, Direction::FromTarget, ip0)];
    let to = |key| vec![(key, Direction::ToTarget, ip0)];
    let out4 = [pair4(E4, O4)];
    let in4 = [pair4(O4, E4)];
    let out6 = [IpPair::V6 { src: e6, dst: o6 }];
    let in6 = [IpPair::V6 { src: o6, dst: e6 }];
    for (out, back) in [(&out4, &in4), (&out6, &in6)] {
        assert_eq!(run_l4(&r, out, tcp(443, 50000)), from(10));
        assert_eq!(run_l4(&r, back, tcp(50000, 443)), to(10));
        assert_eq!(run_l4(&r, out, udp(5004, 50000)), from(11));
        assert_eq!(run_l4(&r, back, udp(50000, 5004)), to(11));
        // The same address and port over the other protocol, or another port.
        assert!(run_l4(&r, out, udp(443, 50000)).is_empty());
        assert!(run_l4(&r, back, udp(50000, 443)).is_empty());
        assert!(run_l4(&r, out, tcp(5004, 50000)).is_empty());
        assert!(run_l4(&r, back, tcp(50000, 5004)).is_empty());
        assert!(run_l4(&r, out, tcp(444, 50000)).is_empty());
        // The port on the far side, and no transport header (a non-first
        // fragment).
        assert!(run_l4(&r, out, tcp(50000, 443)).is_empty());
        assert!(run_l4(&r, out, None).is_empty());
    }
    // ICMP carries no ports: no endpoint.
    let icmp = Some(Transport {
        proto: 1,
        src_port: 443,
        dst_port: 443,
    });
    assert!(run_l4(&r, &out4, icmp).is_empty());
    // The UDP endpoint on port 443 added, then the TCP one removed: each
    // protocol's key is its own.
    let u443 = Target::Ipv4Udp(v4(E4), 443);
    send(&mut w, &mut r, &[add(1, u443), remove(0, t4)]);
    assert_eq!(run_l4(&r, &out4, udp(443, 1)), from(11));
    assert!(run_l4(&r, &out4, tcp(443, 1)).is_empty());
    assert_eq!(run_l4(&r, &out6, tcp(443, 1)), from(10));
    send(&mut w, &mut r, &[remove(1, u443), remove(1, u4)]);
    assert!(!r.exact4.is_marked(u32::from(v4(E4))));
    assert_eq!(r.target_count(), 2);
}

/// An address target and endpoints on the same address, in other
/// intercepts: each matches by its own rule, and each survives the other's
/// removal; the mark goes with the last endpoint.
#[test]
fn address_and_endpoint_targets_on_one_address() {
    let addr = Target::Ipv4(v4(E4));
    let ep = Target::Ipv4Udp(v4(E4), 5004);
    let ep2 = Target::Ipv4Udp(v4(E4), 5005);
    let (mut w, mut r) = loaded(&[
        set(0, 10, Mode::Content),
        set(1, 11, Mode::Content),
        set(2, 12, Mode::Headers),
        add(0, addr),
        add(1, ep),
        add(2, ep),
        add(2, ep2),
    ]);
    assert_eq!(r.target_count(), 3);
    let p = [pair4(O4, E4)];
    let to = |key| (key, Direction::ToTarget, Layer::Ip(0));
    assert_eq!(run_l4(&r, &p, udp(1, 5004)), vec![to(10), to(11), to(12)]);
    assert_eq!(run_l4(&r, &p, udp(1, 5005)), vec![to(10), to(12)]);
    assert_eq!(run_l4(&r, &p, udp(1, 80)), vec![to(10)]);
    send(&mut w, &mut r, &[remove(0, addr)]);
    // The address is a target no more, its entry stays for the endpoints.
    assert_eq!(r.target_count(), 2);
    assert_eq!(run_l4(&r, &p, udp(1, 5004)), vec![to(11), to(12)]);
    assert!(run_l4(&r, &p, udp(1, 80)).is_empty());
    assert!(r.exact4.is_marked(u32::from(v4(E4))));
    // A spilled endpoint (two intercepts) shrinks to one.
    send(&mut w, &mut r, &[remove(2, ep)]);
    assert_eq!(run_l4(&r, &p, udp(1, 5004)), vec![to(11)]);
    assert_eq!(run_l4(&r, &p, udp(1, 5005)), vec![to(12)]);
    send(&mut w, &mut r, &[Update::ClearIntercept { slot: Slot(2) }]);
    assert!(run_l4(&r, &p, udp(1, 5005)).is_empty());
    assert!(r.exact4.is_marked(u32::from(v4(E4))));
    send(&mut w, &mut r, &[add(0, addr), remove(1, ep)]);
    assert_eq!(r.target_count(), 1);
    assert_eq!(run_l4(&r, &p, udp(1, 5004)), vec![to(10)]);
    assert!(!r.exact4.is_marked(u32::from(v4(E4))));
    send(&mut w, &mut r, &[remove(0, addr)]);
    assert_eq!(r.target_count(), 0);
    assert!(r.exact4.is_empty() && r.endpoints.is_empty());
    assert_eq!(r.spill_bytes, 0);
}

/// Endpoints added one request at a time (a call's media, as calls start):
/// the writer grows the endpoint table and the address tables ahead, the
/// rebuilt address tables keep their marks, and every endpoint still matches.
#[test]
fn endpoint_tables_grow_on_the_writer_side_and_keep_their_marks() {
    let (mut w, mut rs) = replicas(1, 64);
    let mut r = rs.remove(0);
    send(&mut w, &mut r, &[set(0, 10, Mode::Content)]);
    let addr = |i: u32| Ipv4Addr::from(0x0a00_0000 + i / 4);
    let addr6 = |i: u32| Ipv6Addr::from(0x2001_0db8_u128 << 96 | u128::from(i / 4));
    let port = |i: u32| 10_000 + (i % 4) as u16 * 2;
    let n = 3000;
    for i in 0..n {
        send(
            &mut w,
            &mut r,
            &[
                add(0, Target::Ipv4Udp(addr(i), port(i))),
                add(0, Target::Ipv6Udp(addr6(i), port(i))),
            ],
        );
    }
    assert_eq!(r.target_count(), 2 * n as usize);
    assert_eq!(
        (
            r.exact4.grown_by_add,
            r.exact6.grown_by_add,
            r.endpoints.grown_by_add
        ),
        (0, 0, 0),
        "a worker rehashed a table itself"
    );
    assert_eq!(r.exact4.len(), n as usize / 4);
    for i in 0..n {
        let p4 = IpPair::V4 {
            src: addr(i),
            dst: v4(O4),
        };
        let p6 = IpPair::V6 {
            src: Ipv6Addr::LOCALHOST,
            dst: addr6(i),
        };
        assert_eq!(run_l4(&r, &[p4], udp(port(i), 1)).len(), 1, "{i}");
        assert!(run_l4(&r, &[p4], udp(port(i) + 1, 1)).is_empty(), "{i}");
        assert_eq!(run_l4(&r, &[p6], udp(1, port(i))).len(), 1, "{i}");
    }
    // Removed again, one call at a time: the address tables are rebuilt
    // without the stale marks, and nothing is left.
    for i in 0..n {
        send(
            &mut w,
            &mut r,
            &[
                remove(0, Target::Ipv4Udp(addr(i), port(i))),
                remove(0, Target::Ipv6Udp(addr6(i), port(i))),
            ],
        );
    }
    assert_eq!(r.target_count(), 0);
    assert!(r.exact4.is_empty() && r.exact6.is_empty() && r.endpoints.is_empty());
    assert_eq!(r.exact4.staleness(), (0, false), "rebuilt by the writer");
}

/// A batch of many ports on few addresses (calls' media through a relay)
/// grows the address table for its addresses, not for every endpoint.
#[test]
fn endpoints_grow_the_address_table_by_their_addresses() {
    let mut ups = vec![set(0, 10, Mode::Content)];
    ups.extend((0..400u32).map(|i| {
        add(
            0,
            Target::Ipv4Udp(Ipv4Addr::from(0x0a00_0000 + i % 100), 10_000 + i as u16),
        )
    }));
    let (_w, r) = loaded(&ups);
    assert_eq!(r.target_count(), 400);
    assert_eq!(r.exact4.len(), 100);
    assert!(r.exact4.capacity() <= 256, "{}", r.exact4.capacity());
}
