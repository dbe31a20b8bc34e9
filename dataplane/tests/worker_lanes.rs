//! The worker's untagged-IPv4, untagged-IPv6 and GTP-U loops ("lanes") on
//! the links they are built for and the links they step aside on: a link of
//! IPv6 alone, a dual-stack link, a mobile core's user plane, and links where
//! tagged, tunnelled or unusual frames come between. On each, the burst path
//! hands off exactly the frames with a target address, in order, whichever
//! lane or screen took them.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use dataplane::handoff;
use dataplane::source::FrameBuf;
use dataplane::synth::Frame;
use dataplane::targets::{replicas, InterceptSpec, Mode, Slot, TableReplica, Target, Update};
use dataplane::worker::{BurstPath, Clock};

/// IPv6 targets: hosts 1, 3, 5, … of 2001:db8:1::/64 (a subscriber block);
/// the even hosts beside them are near misses.
const TARGETS6: u16 = 2000;

fn target6(i: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2 * i + 1)
}

fn near6(i: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2 * i + 2)
}

/// A host elsewhere on the Internet (the same /32 as the targets for half of
/// them: the gate lets those through, the filter must not).
fn other6(i: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8 + (i % 2), 0x77, 0, 0, 0, 0, i)
}

fn target4(i: u16) -> Ipv4Addr {
    Ipv4Addr::new(100, 64, (i >> 8) as u8, i as u8)
}

fn other4(i: u16) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, (i >> 8) as u8, i as u8)
}

/// A replica with `updates` applied.
fn loaded(updates: &[Update]) -> TableReplica {
    let (mut w, mut rs) = replicas(1, 8192);
    let mut r = rs.remove(0);
    let e = w.send(updates);
    r.apply_pending(usize::MAX);
    assert!(w.wait_applied(e, Duration::from_secs(1)));
    r
}

fn tables() -> TableReplica {
    let mut ups = vec![
        Update::SetIntercept {
            slot: Slot(0),
            spec: InterceptSpec::always_open(600, Mode::Content),
        },
        Update::SetIntercept {
            slot: Slot(1),
            spec: InterceptSpec::always_open(400, Mode::Content),
        },
    ];
    ups.extend((0..TARGETS6).map(|i| Update::AddTarget {
        slot: Slot(0),
        target: Target::Ipv6(target6(i)),
    }));
    ups.extend((0..256).map(|i| Update::AddTarget {
        slot: Slot(1),
        target: Target::Ipv4(target4(i)),
    }));
    loaded(&ups)
}

/// The frame of flow `i` on an IPv6 link, whether it carries a target, and
/// its shape: TCP, UDP or ICMPv6, a target at either end or at neither.
fn frame6(i: u16) -> (Vec<u8>, bool) {
    let t = i % TARGETS6;
    let (src, dst, hit) = match i % 5 {
        0 => (target6(t), other6(i), true),
        1 => (other6(i), target6(t), true),
        2 => (near6(t), other6(i), false),
        3 => (other6(i), near6(t), false),
        _ => (other6(i), other6(i + 1), false),
    };
    let f = Frame::ethernet([2; 6], [4; 6]).ipv6(src, dst);
    let f = match i % 3 {
        0 => f.tcp(40000, 443),
        1 => f.udp(5353, 53).payload(&[1; 12]),
        _ => f.icmp(),
    };
    (f.build(), hit)
}

/// The frame of flow `i` on an IPv4 link: one in seven has a target, at
/// either end.
fn frame4(i: u16) -> (Vec<u8>, bool) {
    let (src, dst) = match i % 14 {
        0 => (target4(i % 256), other4(i + 1)),
        7 => (other4(i + 1), target4(i % 256)),
        _ => (other4(i), other4(i + 1)),
    };
    let f = Frame::ethernet([2; 6], [4; 6])
        .ipv4(src, dst)
        .udp(1000, 2000)
        .payload(&[0; 18]);
    (f.build(), i.is_multiple_of(7))
}

/// The frame of flow `i` on a mobile core's user plane: IPv4 in GTP-U, with
/// no optional word, a sequence number, one PDU session container or two
/// (which the GTP-U lane leaves to the screens); one in five has a target
/// subscriber inside, at either end.
fn frame_gtpu(i: u16) -> (Vec<u8>, bool) {
    let hit = i.is_multiple_of(5);
    let subscriber = if hit { target4(i % 256) } else { other4(i) };
    let (src, dst) = if i.is_multiple_of(2) {
        (subscriber, other4(i + 1))
    } else {
        (other4(i + 1), subscriber)
    };
    let f = Frame::ethernet([2; 6], [4; 6])
        .ipv4(Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2))
        .gtpu_with(
            u32::from(i),
            (i.is_multiple_of(3)).then_some(i),
            (i % 4 % 3) as u8,
        )
        .ipv4(src, dst)
        .udp(1000, 2000)
        .payload(&[0; 18]);
    (f.build(), hit)
}

/// Frames no lane takes, each a match, so that losing one shows: a
/// tagged IPv6 frame, IPv6 with a hop-by-hop header, IPv6 in GTP-U, and
/// tagged IPv4.
fn odd(i: u16) -> Vec<u8> {
    let t = i % TARGETS6;
    match i % 4 {
        0 => Frame::ethernet([2; 6], [4; 6])
            .vlan(7)
            .ipv6(other6(i), target6(t))
            .tcp(1, 2)
            .build(),
        1 => Frame::ethernet([2; 6], [4; 6])
            .ipv6(target6(t), other6(i))
            .hop_by_hop()
            .udp(1, 2)
            .build(),
        2 => Frame::ethernet([2; 6], [4; 6])
            .ipv4(other4(1), other4(2))
            .gtpu(9)
            .ipv6(other6(i), target6(t))
            .tcp(3, 4)
            .build(),
        _ => Frame::ethernet([2; 6], [4; 6])
            .vlan(8)
            .ipv4(other4(i), target4(i % 256))
            .tcp(5, 6)
            .build(),
    }
}

/// Runs `frames` through one burst path in bursts of 32, as a worker would
/// receive them, and checks that exactly the frames marked as hits come out.
fn hands_off_exactly(r: &TableReplica, frames: &[(Vec<u8>, bool)]) {
    let want: Vec<&[u8]> = frames
        .iter()
        .filter(|(_, hit)| *hit)
        .map(|(f, _)| &f[..])
        .collect();
    assert!(!want.is_empty() && want.len() < frames.len());
    let (mut producer, mut consumer) = handoff::channel(4096, 256);
    let mut path = BurstPath::default();
    let mut got = Vec::new();
    for burst in frames.chunks(32) {
        let mut b = FrameBuf::default();
        for (f, _) in burst {
            b.push(f, f.len() as u32, None);
        }
        path.process(&b, r, &mut producer, Clock::System, 0);
        consumer.drain(usize::MAX, |rec| got.push(rec.data().to_vec()));
    }
    assert_eq!(got.len(), want.len());
    assert!(
        got.iter().zip(&want).all(|(g, w)| g == w),
        "exactly the target frames, in order"
    );
    assert_eq!(path.matches(), want.len() as u64);
}

/// More bursts than a lane sits out after stepping aside, so that every
/// lane is seen switching off and on again.
const FRAMES: u16 = 32 * 150;

/// [`hands_off_exactly`] on a link whose `i`-th frame is `frame(i)`.
fn link_hands_off_exactly(frame: impl Fn(u16) -> (Vec<u8>, bool)) {
    let frames: Vec<_> = (0..FRAMES).map(frame).collect();
    hands_off_exactly(&tables(), &frames);
}

#[test]
fn an_ipv6_link_hands_off_exactly_the_target_frames() {
    link_hands_off_exactly(frame6);
}

#[test]
fn a_dual_stack_link_hands_off_exactly_the_target_frames() {
    link_hands_off_exactly(|i| {
        if i.is_multiple_of(2) {
            frame6(i / 2)
        } else {
            frame4(i / 2)
        }
    });
}

/// An address in the targets' /16 but not in their /24 (100.64.0/24): the
/// /16's gate lets it through, its /24's must not.
fn beside4(i: u16) -> Ipv4Addr {
    Ipv4Addr::new(100, 64, 1 + (i % 255) as u8, i as u8)
}

#[test]
fn an_ipv4_link_into_the_targets_busy_16_hands_off_exactly_the_target_frames() {
    // Each address of a frame is gated alone: a target at either end,
    // beside one in the same /16 at the other end, or elsewhere.
    link_hands_off_exactly(|i| {
        let t = target4(i % 256);
        let (src, dst, hit) = match i % 8 {
            0 => (t, beside4(i), true),
            1 => (beside4(i), t, true),
            2 => (other4(i), t, true),
            3 => (t, other4(i), true),
            4 => (beside4(i), beside4(i + 1), false),
            5 => (beside4(i), other4(i), false),
            6 => (other4(i), beside4(i), false),
            _ => (other4(i), other4(i + 1), false),
        };
        let f = Frame::ethernet([2; 6], [4; 6])
            .ipv4(src, dst)
            .udp(1000, 2000)
            .payload(&[0; 18]);
        (f.build(), hit)
    });
}

#[test]
fn a_mobile_user_plane_hands_off_exactly_the_target_frames() {
    link_hands_off_exactly(frame_gtpu);
}

#[test]
fn frames_no_lane_takes_are_screened_or_dissected_in_between() {
    // A run of each kind in turn: the lanes step aside on the runs of odd
    // frames and come back on the runs of common ones.
    link_hands_off_exactly(|i| match (i / 100) % 4 {
        0 => frame6(i),
        1 => (odd(i), true),
        2 => frame_gtpu(i),
        _ => {
            if i.is_multiple_of(3) {
                (odd(i), true)
            } else {
                frame4(i)
            }
        }
    });
}

/// Endpoint targets (a call's media) of intercept 700: UDP on port 5004
/// of 198.18.7.2k and TCP on 5060 of 198.18.7.(2k + 1), a /24 of endpoint
/// addresses alone; UDP on 5004 of 198.18.8.(10 + k), in a /24 that also
/// holds the address target 198.18.8.1; and UDP on 7000 of a target address.
fn ep_udp(k: u16) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 7, 2 * (k % 8) as u8)
}

fn ep_tcp(k: u16) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 7, 2 * (k % 8) as u8 + 1)
}

fn ep_mixed(k: u16) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 8, 10 + (k % 8) as u8)
}

const TARGET_IN_MIXED_24: Ipv4Addr = Ipv4Addr::new(198, 18, 8, 1);

fn tables_with_endpoints() -> TableReplica {
    let mut ups = vec![
        Update::SetIntercept {
            slot: Slot(1),
            spec: InterceptSpec::always_open(400, Mode::Content),
        },
        Update::SetIntercept {
            slot: Slot(2),
            spec: InterceptSpec::always_open(700, Mode::Content),
        },
        Update::AddTarget {
            slot: Slot(1),
            target: Target::Ipv4(TARGET_IN_MIXED_24),
        },
        Update::AddTarget {
            slot: Slot(2),
            target: Target::Ipv4Udp(target4(3), 7000),
        },
    ];
    ups.extend((0..256).map(|i| Update::AddTarget {
        slot: Slot(1),
        target: Target::Ipv4(target4(i)),
    }));
    for k in 0..8 {
        ups.extend(
            [
                Target::Ipv4Udp(ep_udp(k), 5004),
                Target::Ipv4Tcp(ep_tcp(k), 5060),
                Target::Ipv4Udp(ep_mixed(k), 5004),
            ]
            .map(|target| Update::AddTarget {
                slot: Slot(2),
                target,
            }),
        );
    }
    loaded(&ups)
}

/// Flow `i` towards (or from) the endpoints: on their port and protocol, on
/// another port, with their port on the other side, on the other protocol,
/// ICMP, or to an address beside them; whether it carries a target.
fn frame_media(i: u16) -> (Vec<u8>, bool) {
    let peer = Ipv4Addr::new(203, 0, 113, i as u8);
    let (k, f) = (i / 13, Frame::ethernet([2; 6], [4; 6]));
    let f = if (i / 13).is_multiple_of(2) {
        f
    } else {
        f.vlan(7)
    };
    let (f, hit) = match i % 13 {
        0 => (f.ipv4(peer, ep_udp(k)).udp(40000, 5004), true),
        1 => (f.ipv4(ep_udp(k), peer).udp(5004, 40000), true),
        2 => (f.ipv4(peer, ep_udp(k)).udp(40000, 5005), false),
        3 => (f.ipv4(peer, ep_udp(k)).udp(5004, 40000), false),
        4 => (f.ipv4(ep_udp(k), peer).udp(40000, 5004), false),
        5 => (f.ipv4(peer, ep_udp(k)).tcp(40000, 5004), false),
        6 => (f.ipv4(peer, ep_tcp(k)).tcp(40000, 5060), true),
        7 => (f.ipv4(peer, ep_tcp(k)).udp(40000, 5060), false),
        8 => (f.ipv4(peer, ep_tcp(k)).icmp(), false),
        9 => (f.ipv4(peer, ep_mixed(k)).udp(40000, 5004), true),
        10 => (f.ipv4(ep_mixed(k), peer).udp(5006, 5004), false),
        11 => (f.ipv4(peer, TARGET_IN_MIXED_24).udp(40000, 5006), true),
        _ => (
            f.ipv4(Ipv4Addr::new(198, 18, 7, 200), target4(3))
                .udp(5004, 7000),
            true,
        ),
    };
    (f.payload(&[0; 18]).build(), hit)
}

#[test]
fn media_endpoints_pass_on_their_own_ports_only_whichever_path_takes_them() {
    // Half the runs untagged (the IPv4 lane reads the ports), half tagged
    // (dissected): both hand off exactly the frames of an endpoint or an
    // address target.
    let frames: Vec<_> = (0..FRAMES).map(frame_media).collect();
    hands_off_exactly(&tables_with_endpoints(), &frames);
}
