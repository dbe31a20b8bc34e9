//! The session tracker's rules, through its public interface: RADIUS
//! sessions, DHCPv4 and DHCPv6 leases, address reuse, NAS restarts, forged
//! releases, expiry, restore, static assignments, and (property test) that
//! whatever the signalling, an address has one holder and the identity index
//! agrees with a scan.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use control::model::{Identity, IdentityKind};
use control::sessions::signal::Assigned;
use control::sessions::tracker::Tracker;
use control::sessions::{
    Binding, BindingChange, BindingId, EndReason, Nas, NasRestart, Protocol, SessionsConfig,
    Signal, SignalEvent,
};
use dataplane::targets::Target;
use proptest::prelude::*;

const S: u64 = 1_000_000_000;
const RADIUS_TIMEOUT: u32 = 600;
const GRACE: u32 = 60;

fn tracker() -> Tracker {
    Tracker::new(&SessionsConfig {
        nas: Vec::new(),
        radius_accounting_ports: vec![1813],
        radius_auth_ports: vec![1812],
        dhcp_servers: Vec::new(),
        dhcp_relays: Vec::new(),
        radius_session_timeout_secs: RADIUS_TIMEOUT,
        dhcp_lease_grace_secs: GRACE,
    })
}

fn id(kind: IdentityKind, v: &str) -> Identity {
    Identity::new("t", kind, v).unwrap()
}
fn user(v: &str) -> Identity {
    id(IdentityKind::Username, v)
}
fn mac(v: &str) -> Identity {
    id(IdentityKind::DhcpClientMac, v)
}
fn duid(v: &str) -> Identity {
    id(IdentityKind::Dhcpv6Duid, v)
}
fn v4(s: &str) -> Target {
    Target::Ipv4(s.parse().unwrap())
}
fn net6(s: &str, len: u8) -> Target {
    Target::Ipv6Net(s.parse().unwrap(), len)
}
fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}
fn nas(a: &str) -> Option<Nas> {
    Some(Nas {
        address: ip(a),
        identifier: None,
    })
}

fn signal(ts: u64, protocol: Protocol, event: SignalEvent) -> Signal {
    Signal {
        ts_ns: ts,
        protocol,
        event,
        session_id: None,
        identities: Vec::new(),
        assigned: Vec::new(),
        nas: None,
        message: Vec::new(),
    }
}

/// RADIUS accounting of `sid` at NAS `at` for `who`, assigning `addrs`.
fn acct(
    ts: u64,
    event: SignalEvent,
    at: &str,
    sid: &str,
    who: &[Identity],
    addrs: &[Target],
) -> Signal {
    Signal {
        session_id: Some(sid.to_owned()),
        identities: who.to_vec(),
        assigned: addrs
            .iter()
            .map(|&target| Assigned {
                target,
                lifetime_secs: None,
            })
            .collect(),
        nas: nas(at),
        ..signal(ts, Protocol::Radius, event)
    }
}

fn nas_event(ts: u64, event: SignalEvent, at: &str) -> Signal {
    Signal {
        nas: nas(at),
        ..signal(ts, Protocol::Radius, event)
    }
}

/// DHCP `event` from server `srv` for client `who` of `addr` with `life`.
fn dhcp(
    ts: u64,
    protocol: Protocol,
    event: SignalEvent,
    srv: &str,
    who: &[Identity],
    addr: Target,
    life: Option<u32>,
) -> Signal {
    Signal {
        identities: who.to_vec(),
        assigned: vec![Assigned {
            target: addr,
            lifetime_secs: life,
        }],
        nas: nas(srv),
        ..signal(ts, protocol, event)
    }
}

fn apply(t: &mut Tracker, s: &Signal) -> Vec<BindingChange> {
    let mut out = Vec::new();
    t.apply(s, &mut out);
    out
}

/// (kind, first identity value, start or end time, end reason) of each change.
fn summary(changes: &[BindingChange]) -> Vec<(&'static str, String, u64, Option<EndReason>)> {
    let who = |b: &Binding| {
        b.identities
            .first()
            .map_or_else(String::new, |i| i.value().to_owned())
    };
    changes
        .iter()
        .map(|c| match c {
            BindingChange::Started(b) => ("started", who(b), b.started_ns, None),
            BindingChange::Updated { new, .. } => ("updated", who(new), new.updated_ns, None),
            BindingChange::Refreshed(b) => ("refreshed", who(b), b.updated_ns, None),
            BindingChange::Ended {
                binding,
                at_ns,
                reason,
            } => ("ended", who(binding), *at_ns, Some(*reason)),
        })
        .collect()
}

/// The first identity of each current binding, sorted.
fn live(t: &Tracker) -> Vec<String> {
    let mut all: Vec<String> = t
        .iter()
        .map(|b| b.identities[0].value().to_owned())
        .collect();
    all.sort();
    all
}

fn holder(t: &Tracker, a: &str) -> Option<String> {
    t.binding_of_address(ip(a))
        .and_then(|b| b.identities.first())
        .map(|i| i.value().to_owned())
}

#[test]
fn radius_session_starts_refreshes_updates_and_stops() {
    use SignalEvent::*;
    let mut t = tracker();
    let alice = [user("alice@isp.example")];
    let addrs = [v4("192.0.2.10"), net6("2001:db8:10::", 56)];
    let c = apply(
        &mut t,
        &acct(S, AccountingStart, "10.0.0.1", "s1", &alice, &addrs),
    );
    let [BindingChange::Started(b)] = c.as_slice() else {
        panic!("{c:?}")
    };
    assert_eq!(b.protocol, Protocol::Radius);
    assert_eq!(b.addresses, addrs.to_vec());
    assert_eq!(b.session_id.as_deref(), Some("s1"));
    assert_eq!(
        (b.started_ns, b.expires_ns),
        (S, S + u64::from(RADIUS_TIMEOUT) * S)
    );

    // The same addresses: only a new expiry.
    let c = apply(
        &mut t,
        &acct(300 * S, AccountingInterim, "10.0.0.1", "s1", &alice, &addrs),
    );
    let [BindingChange::Refreshed(b)] = c.as_slice() else {
        panic!("{c:?}")
    };
    assert_eq!((b.started_ns, b.updated_ns), (S, 300 * S));
    assert_eq!(b.expires_ns, 300 * S + u64::from(RADIUS_TIMEOUT) * S);

    // An interim without address attributes keeps them.
    let c = apply(
        &mut t,
        &acct(400 * S, AccountingInterim, "10.0.0.1", "s1", &alice, &[]),
    );
    assert!(matches!(c.as_slice(), [BindingChange::Refreshed(b)] if b.addresses == addrs.to_vec()));

    // A new address: Updated, old and new.
    let c = apply(
        &mut t,
        &acct(
            500 * S,
            AccountingInterim,
            "10.0.0.1",
            "s1",
            &alice,
            &[v4("192.0.2.11")],
        ),
    );
    let [BindingChange::Updated { old, new }] = c.as_slice() else {
        panic!("{c:?}")
    };
    assert_eq!(old.addresses, addrs.to_vec());
    assert_eq!(new.addresses, vec![v4("192.0.2.11")]);
    assert_eq!(holder(&t, "192.0.2.10"), None);
    assert_eq!(
        holder(&t, "192.0.2.11").as_deref(),
        Some("alice@isp.example")
    );

    let c = apply(
        &mut t,
        &acct(900 * S, AccountingStop, "10.0.0.1", "s1", &alice, &[]),
    );
    assert_eq!(
        summary(&c),
        [(
            "ended",
            "alice@isp.example".into(),
            900 * S,
            Some(EndReason::Signalled)
        )]
    );
    assert!(t.is_empty());
    // A second Stop is counted, changes nothing.
    assert!(apply(
        &mut t,
        &acct(901 * S, AccountingStop, "10.0.0.1", "s1", &alice, &[])
    )
    .is_empty());
    assert_eq!(t.ignored().unknown_session, 1);
}

#[test]
fn an_interim_for_an_unknown_session_starts_it() {
    let mut t = tracker();
    let c = apply(
        &mut t,
        &acct(
            7 * S,
            SignalEvent::AccountingInterim,
            "10.0.0.1",
            "s9",
            &[user("bob")],
            &[v4("192.0.2.9")],
        ),
    );
    assert_eq!(summary(&c), [("started", "bob".into(), 7 * S, None)]);
    assert_eq!(holder(&t, "192.0.2.9").as_deref(), Some("bob"));
}

/// The legal sequence: A bound to T, released, then bound to U. The changes
/// say T held A from t1 to t2, U from t3; at no time does A have two holders.
#[test]
fn a_released_address_bound_to_another_subscriber() {
    use SignalEvent::*;
    let mut t = tracker();
    let (tm, um) = ([mac("02:00:00:00:00:01")], [mac("02:00:00:00:00:02")]);
    let a = v4("198.51.100.7");
    let mut all = Vec::new();
    all.extend(apply(
        &mut t,
        &dhcp(
            10 * S,
            Protocol::Dhcp4,
            LeaseGranted,
            "10.9.0.1",
            &tm,
            a,
            Some(3600),
        ),
    ));
    assert_eq!(
        holder(&t, "198.51.100.7").as_deref(),
        Some("02:00:00:00:00:01")
    );
    all.extend(apply(
        &mut t,
        &dhcp(
            20 * S,
            Protocol::Dhcp4,
            LeaseReleased,
            "10.9.0.1",
            &tm,
            a,
            None,
        ),
    ));
    assert_eq!(holder(&t, "198.51.100.7"), None);
    all.extend(apply(
        &mut t,
        &dhcp(
            30 * S,
            Protocol::Dhcp4,
            LeaseGranted,
            "10.9.0.1",
            &um,
            a,
            Some(3600),
        ),
    ));
    assert_eq!(
        summary(&all),
        [
            ("started", "02:00:00:00:00:01".into(), 10 * S, None),
            (
                "ended",
                "02:00:00:00:00:01".into(),
                20 * S,
                Some(EndReason::Signalled)
            ),
            ("started", "02:00:00:00:00:02".into(), 30 * S, None),
        ]
    );
    assert_eq!(
        holder(&t, "198.51.100.7").as_deref(),
        Some("02:00:00:00:00:02")
    );
    assert!(t.bindings_of(&tm[0]).is_empty());
    assert_eq!(t.bindings_of(&um[0]).len(), 1);
}

/// A missed Stop: the address given to U ends T's hold first, at U's start.
#[test]
fn a_missed_stop_is_superseded_before_the_new_start() {
    use SignalEvent::*;
    let mut t = tracker();
    let a = v4("192.0.2.20");
    apply(
        &mut t,
        &acct(S, AccountingStart, "10.0.0.1", "t1", &[user("t")], &[a]),
    );
    // T also held a v6 prefix in a second session, and a /48 in a third.
    apply(
        &mut t,
        &acct(
            S,
            AccountingStart,
            "10.0.0.1",
            "t2",
            &[user("t")],
            &[v4("192.0.2.21"), net6("2001:db8:1::", 56)],
        ),
    );
    apply(
        &mut t,
        &acct(
            S,
            AccountingStart,
            "10.0.0.1",
            "t3",
            &[user("t")],
            &[net6("2001:db8:100::", 48)],
        ),
    );
    let c = apply(
        &mut t,
        &acct(
            5 * S,
            AccountingStart,
            "10.0.0.2",
            "u1",
            &[user("u")],
            &[a, v4("192.0.2.21"), net6("2001:db8:100:200::", 56)],
        ),
    );
    assert_eq!(c.len(), 4, "{c:#?}");
    // Whole sessions superseded, the partly overlapped one updated, then U.
    let ended: Vec<_> = c[..3]
        .iter()
        .filter_map(|x| match x {
            BindingChange::Ended {
                binding,
                at_ns,
                reason,
            } => Some((binding.session_id.clone(), *at_ns, *reason)),
            _ => None,
        })
        .collect();
    assert!(ended.contains(&(Some("t1".into()), 5 * S, EndReason::Superseded)));
    assert!(
        ended.contains(&(Some("t3".into()), 5 * S, EndReason::Superseded)),
        "a /56 inside T's /48"
    );
    assert!(c[..3].iter().any(|x| matches!(x,
        BindingChange::Updated { old, new } if old.session_id.as_deref() == Some("t2")
            && new.addresses == vec![net6("2001:db8:1::", 56)])));
    assert!(matches!(&c[3], BindingChange::Started(b) if b.session_id.as_deref() == Some("u1")));
    assert_eq!(holder(&t, "2001:db8:1::5").as_deref(), Some("t"));
    assert_eq!(holder(&t, "2001:db8:100:2ff::1").as_deref(), Some("u"));
    assert_eq!(
        holder(&t, "2001:db8:100:300::1"),
        None,
        "T lost its whole /48"
    );
}

#[test]
fn accounting_on_ends_exactly_that_nas_sessions() {
    use SignalEvent::*;
    let mut t = tracker();
    // "10.0.0.10" shares a text prefix with "10.0.0.1".
    for (at, sid, who, addr) in [
        ("10.0.0.1", "a", "a", "192.0.2.1"),
        ("10.0.0.1", "b", "b", "192.0.2.2"),
        ("10.0.0.10", "a", "c", "192.0.2.3"),
    ] {
        apply(
            &mut t,
            &acct(S, AccountingStart, at, sid, &[user(who)], &[v4(addr)]),
        );
    }
    let lease = [mac("02:00:00:00:00:09")];
    apply(
        &mut t,
        &dhcp(
            S,
            Protocol::Dhcp4,
            LeaseGranted,
            "10.0.0.1",
            &lease,
            v4("192.0.2.4"),
            Some(60),
        ),
    );
    let mut c = apply(&mut t, &nas_event(9 * S, AccountingOn, "10.0.0.1"));
    c.sort_by_key(|x| format!("{:?}", summary(std::slice::from_ref(x))));
    assert_eq!(
        summary(&c),
        [
            ("ended", "a".into(), 9 * S, Some(EndReason::NasRestart)),
            ("ended", "b".into(), 9 * S, Some(EndReason::NasRestart)),
        ]
    );
    assert_eq!(t.len(), 2);
    let c = apply(&mut t, &nas_event(10 * S, AccountingOff, "10.0.0.10"));
    assert_eq!(
        summary(&c),
        [("ended", "c".into(), 10 * S, Some(EndReason::NasRestart))]
    );
    assert_eq!(
        holder(&t, "192.0.2.4").as_deref(),
        Some("02:00:00:00:00:09")
    );
}

/// Every change is an end at `at` by a NAS restart; their number.
fn restart_ends(changes: &[BindingChange], at: u64) -> usize {
    for c in changes {
        assert!(
            matches!(c, BindingChange::Ended { at_ns, reason: EndReason::NasRestart, .. } if *at_ns == at),
            "{c:?}"
        );
    }
    changes.len()
}

#[test]
fn a_nas_restart_ends_a_large_nas_in_bounded_passes_at_its_own_time() {
    use control::sessions::tracker::END_PER_PASS;
    use SignalEvent::*;
    const N: u32 = 200_000;
    let mut t = tracker();
    let addr = |i: u32| Target::Ipv4(Ipv4Addr::from(0x6440_0000 + i));
    let sid = |i: u32| format!("{i:06}");
    for i in 0..N {
        let who = [user(&format!("u{i}"))];
        t.apply(
            &acct(S, AccountingStart, "10.0.0.1", &sid(i), &who, &[addr(i)]),
            &mut Vec::new(),
        );
    }
    apply(
        &mut t,
        &acct(
            S,
            AccountingStart,
            "10.0.0.10",
            "a",
            &[user("other")],
            &[v4("192.0.2.1")],
        ),
    );
    let on = 9 * S;
    let mut ended = restart_ends(&apply(&mut t, &nas_event(on, AccountingOn, "10.0.0.1")), on);
    assert!(ended <= END_PER_PASS, "the On's own pass: {ended}");
    // Ended at once for whoever asks, though not all reported yet.
    let last = N - 1;
    assert!(t.bindings_of(&user(&format!("u{last}"))).is_empty());
    assert_eq!(t.binding_of_address(ip("100.64.0.5")), None);
    assert!(t.iter().all(|b| b.identities == [user("other")]));
    // A Stop after the On: the session had ended at the On.
    let c = apply(
        &mut t,
        &acct(10 * S, AccountingStop, "10.0.0.1", &sid(last), &[], &[]),
    );
    ended += restart_ends(&c, on);
    assert_eq!(c.len(), 1);
    // A new session after the reboot that meets old session `old`: its Stop
    // time is the On's, then the new one starts.
    let mut starts_after = |ts: u64, sid: &str, who: &str, old: u32| {
        let c = apply(
            &mut t,
            &acct(
                ts,
                AccountingStart,
                "10.0.0.1",
                sid,
                &[user(who)],
                &[addr(old)],
            ),
        );
        let ended_old = ("ended", format!("u{old}"), on, Some(EndReason::NasRestart));
        assert_eq!(summary(&c), [ended_old, ("started", who.into(), ts, None)]);
    };
    // The NAS reuses a session id after its reboot.
    starts_after(11 * S, &sid(N - 2), "new", N - 2);
    // An old session's address given to a new one.
    starts_after(12 * S, "fresh", "fresh", N - 3);
    ended += 2;
    // A targeted session's end is reported when asked, at the On's time.
    let mut settled = Vec::new();
    t.settle(
        &BindingId(format!("radius|10.0.0.1|{}", sid(N - 4))),
        &mut settled,
    );
    ended += restart_ends(&settled, on);
    assert_eq!(settled.len(), 1);
    // The rest, a bounded chunk per pass.
    let mut passes = 0;
    loop {
        let mut c = Vec::new();
        let more = t.end_pending(&mut c);
        assert!(c.len() <= END_PER_PASS, "pass {passes}: {}", c.len());
        ended += restart_ends(&c, on);
        passes += 1;
        assert!(passes <= N as usize / END_PER_PASS + 2, "bounded");
        if !more {
            break;
        }
    }
    assert_eq!(ended, N as usize, "each old session ended once");
    assert_eq!(live(&t), ["fresh", "new", "other"]);
    assert_eq!(t.len(), 3);
}

#[test]
fn a_forged_release_by_another_client_does_nothing() {
    use SignalEvent::*;
    let mut t = tracker();
    let a = v4("198.51.100.8");
    let victim = [mac("02:00:00:00:00:01")];
    apply(
        &mut t,
        &dhcp(
            S,
            Protocol::Dhcp4,
            LeaseGranted,
            "10.9.0.1",
            &victim,
            a,
            Some(3600),
        ),
    );
    for ev in [LeaseReleased, LeaseDeclined] {
        let forged = dhcp(
            2 * S,
            Protocol::Dhcp4,
            ev,
            "10.9.0.1",
            &[mac("02:00:00:00:00:66")],
            a,
            None,
        );
        assert!(apply(&mut t, &forged).is_empty());
    }
    // The victim's chaddr with another client identifier is not the victim either.
    let spoof = [victim[0].clone(), id(IdentityKind::DhcpClientId, "ff01")];
    let with_id = dhcp(
        S,
        Protocol::Dhcp4,
        LeaseGranted,
        "10.9.0.1",
        &spoof,
        v4("198.51.100.9"),
        Some(3600),
    );
    apply(&mut t, &with_id);
    let other_id = [victim[0].clone(), id(IdentityKind::DhcpClientId, "ff02")];
    assert!(apply(
        &mut t,
        &dhcp(
            3 * S,
            Protocol::Dhcp4,
            LeaseReleased,
            "10.9.0.1",
            &other_id,
            v4("198.51.100.9"),
            None
        )
    )
    .is_empty());
    assert_eq!(t.ignored().foreign_release, 3);
    assert_eq!(
        holder(&t, "198.51.100.8").as_deref(),
        Some("02:00:00:00:00:01")
    );

    // DHCPv6: another DUID's Release of a held prefix.
    let p = net6("2001:db8:77::", 56);
    apply(
        &mut t,
        &dhcp(
            S,
            Protocol::Dhcp6,
            LeaseGranted,
            "10.9.0.1",
            &[duid("0001aa")],
            p,
            Some(3600),
        ),
    );
    assert!(apply(
        &mut t,
        &dhcp(
            2 * S,
            Protocol::Dhcp6,
            LeaseReleased,
            "10.9.0.1",
            &[duid("0001bb")],
            p,
            None
        )
    )
    .is_empty());
    assert_eq!(t.ignored().foreign_release, 4);
    assert_eq!(holder(&t, "2001:db8:77::1").as_deref(), Some("0001aa"));

    // The victim's own RELEASE, with a client identifier its ACK did not echo, ends it.
    let own = [
        victim[0].clone(),
        id(IdentityKind::DhcpClientId, "01020000000001"),
    ];
    let c = apply(
        &mut t,
        &dhcp(
            4 * S,
            Protocol::Dhcp4,
            LeaseReleased,
            "10.9.0.1",
            &own,
            a,
            None,
        ),
    );
    assert_eq!(
        summary(&c),
        [(
            "ended",
            "02:00:00:00:00:01".into(),
            4 * S,
            Some(EndReason::Signalled)
        )]
    );
}

#[test]
fn dhcp4_renewal_relay_and_nak() {
    use SignalEvent::*;
    let mut t = tracker();
    let me = [
        mac("02:00:00:00:00:01"),
        id(IdentityKind::DhcpCircuitId, "0a0b"),
    ];
    let a = v4("198.51.100.1");
    let c = apply(
        &mut t,
        &dhcp(
            S,
            Protocol::Dhcp4,
            LeaseGranted,
            "10.9.0.2",
            &me,
            a,
            Some(100),
        ),
    );
    let [BindingChange::Started(b)] = c.as_slice() else {
        panic!("{c:?}")
    };
    assert_eq!(b.expires_ns, S + u64::from(100 + GRACE) * S);
    // A unicast renewal straight from the server: no option 82, the same lease.
    let c = apply(
        &mut t,
        &dhcp(
            50 * S,
            Protocol::Dhcp4,
            LeaseGranted,
            "10.9.0.1",
            &me[..1],
            a,
            Some(100),
        ),
    );
    let [BindingChange::Refreshed(b)] = c.as_slice() else {
        panic!("{c:?}")
    };
    assert_eq!(b.identities, me.to_vec(), "the circuit id is kept");
    assert_eq!(b.expires_ns, 50 * S + u64::from(100 + GRACE) * S);
    apply(
        &mut t,
        &dhcp(
            S,
            Protocol::Dhcp4,
            LeaseGranted,
            "10.9.0.3",
            &me,
            v4("198.51.100.2"),
            Some(100),
        ),
    );
    // A NAK from 10.9.0.1 ends the lease last renewed through it, not the one from 10.9.0.3.
    assert!(apply(
        &mut t,
        &dhcp(
            60 * S,
            Protocol::Dhcp4,
            LeaseRefused,
            "10.9.0.2",
            &me[..1],
            v4("0.0.0.0"),
            None
        )
    )
    .is_empty());
    let c = apply(
        &mut t,
        &dhcp(
            60 * S,
            Protocol::Dhcp4,
            LeaseRefused,
            "10.9.0.1",
            &me[..1],
            v4("0.0.0.0"),
            None,
        ),
    );
    assert_eq!(c.len(), 1);
    assert!(
        matches!(&c[0], BindingChange::Ended { binding, reason: EndReason::Signalled, .. } if binding.addresses == vec![a])
    );
    assert_eq!(
        holder(&t, "198.51.100.2").as_deref(),
        Some("02:00:00:00:00:01")
    );
}

#[test]
fn dhcp6_reply_renew_zero_lifetime_release_decline() {
    use SignalEvent::*;
    let mut t = tracker();
    let me = [duid("000300010200000000aa")];
    let na = Target::Ipv6("2001:db8::a".parse().unwrap());
    let pd = net6("2001:db8:aa00::", 56);
    for target in [na, pd] {
        let c = apply(
            &mut t,
            &dhcp(
                S,
                Protocol::Dhcp6,
                LeaseGranted,
                "fe80::1",
                &me,
                target,
                Some(7200),
            ),
        );
        assert!(
            matches!(c.as_slice(), [BindingChange::Started(b)] if b.addresses == vec![target]
            && b.expires_ns == S + u64::from(7200 + GRACE) * S)
        );
    }
    let c = apply(
        &mut t,
        &dhcp(
            9 * S,
            Protocol::Dhcp6,
            LeaseGranted,
            "fe80::1",
            &me,
            pd,
            Some(7200),
        ),
    );
    assert!(matches!(c.as_slice(), [BindingChange::Refreshed(_)]));
    let c = apply(
        &mut t,
        &dhcp(
            10 * S,
            Protocol::Dhcp6,
            LeaseGranted,
            "fe80::1",
            &me,
            pd,
            Some(0),
        ),
    );
    assert!(
        matches!(c.as_slice(), [BindingChange::Ended { reason: EndReason::Signalled, at_ns, .. }] if *at_ns == 10 * S)
    );
    let c = apply(
        &mut t,
        &dhcp(
            11 * S,
            Protocol::Dhcp6,
            LeaseDeclined,
            "fe80::1",
            &me,
            na,
            None,
        ),
    );
    assert!(matches!(
        c.as_slice(),
        [BindingChange::Ended {
            reason: EndReason::Signalled,
            ..
        }]
    ));
    apply(
        &mut t,
        &dhcp(
            12 * S,
            Protocol::Dhcp6,
            LeaseGranted,
            "fe80::1",
            &me,
            pd,
            Some(7200),
        ),
    );
    let c = apply(
        &mut t,
        &dhcp(
            13 * S,
            Protocol::Dhcp6,
            LeaseReleased,
            "fe80::1",
            &me,
            pd,
            None,
        ),
    );
    assert!(matches!(
        c.as_slice(),
        [BindingChange::Ended {
            reason: EndReason::Signalled,
            ..
        }]
    ));
    assert!(t.is_empty());
}

#[test]
fn expiry_ends_in_expiry_order_at_expiry_time() {
    use SignalEvent::*;
    let mut t = tracker();
    for (client, life) in [(3, 300), (1, 100), (2, 200)] {
        let who = [mac(&format!("02:00:00:00:00:0{client}"))];
        let a = v4(&format!("198.51.100.{client}"));
        apply(
            &mut t,
            &dhcp(
                0,
                Protocol::Dhcp4,
                LeaseGranted,
                "10.9.0.1",
                &who,
                a,
                Some(life),
            ),
        );
    }
    apply(
        &mut t,
        &acct(
            0,
            AccountingStart,
            "10.0.0.1",
            "r",
            &[user("r")],
            &[v4("192.0.2.1")],
        ),
    );
    let mut out = Vec::new();
    t.expire(100 * S, &mut out);
    assert!(out.is_empty(), "a lease lasts its time plus the grace");
    assert_eq!(t.next_expiry_ns(), Some(u64::from(100 + GRACE) * S));
    t.expire(u64::from(300 + GRACE) * S, &mut out);
    assert_eq!(
        summary(&out),
        [
            (
                "ended",
                "02:00:00:00:00:01".into(),
                u64::from(100 + GRACE) * S,
                Some(EndReason::Expired)
            ),
            (
                "ended",
                "02:00:00:00:00:02".into(),
                u64::from(200 + GRACE) * S,
                Some(EndReason::Expired)
            ),
            (
                "ended",
                "02:00:00:00:00:03".into(),
                u64::from(300 + GRACE) * S,
                Some(EndReason::Expired)
            ),
        ]
    );
    out.clear();
    t.expire(u64::from(RADIUS_TIMEOUT) * S, &mut out);
    assert_eq!(
        summary(&out),
        [(
            "ended",
            "r".into(),
            u64::from(RADIUS_TIMEOUT) * S,
            Some(EndReason::Expired)
        )]
    );
    assert!(t.is_empty());
    assert_eq!(t.next_expiry_ns(), None);
}

fn saved(idv: &str, who: &str, addr: Target, started: u64, expires: u64) -> Binding {
    Binding {
        id: BindingId(idv.into()),
        protocol: Protocol::Radius,
        identities: vec![user(who)],
        addresses: vec![addr],
        nas: nas("10.0.0.1"),
        session_id: Some(idv.into()),
        started_ns: started,
        updated_ns: started,
        expires_ns: expires,
    }
}

#[test]
fn restore_ends_what_expired_while_down_and_keeps_the_rest() {
    let mut t = tracker();
    let list = vec![
        saved("radius|10.0.0.1|k", "kept", v4("192.0.2.1"), S, 1000 * S),
        saved("radius|10.0.0.1|g2", "gone2", v4("192.0.2.2"), S, 90 * S),
        saved("radius|10.0.0.1|g1", "gone1", v4("192.0.2.3"), S, 50 * S),
    ];
    let mut out = Vec::new();
    t.restore(list, &[], 100 * S, &mut out);
    assert_eq!(
        summary(&out),
        [
            ("ended", "gone1".into(), 50 * S, Some(EndReason::Expired)),
            ("ended", "gone2".into(), 90 * S, Some(EndReason::Expired)),
        ]
    );
    assert_eq!(t.len(), 1);
    assert_eq!(holder(&t, "192.0.2.1").as_deref(), Some("kept"));
    assert_eq!(t.bindings_of(&user("kept")).len(), 1);
    // It is a live session: its Stop ends it, its expiry would too.
    assert_eq!(t.next_expiry_ns(), Some(1000 * S));
    let c = apply(
        &mut t,
        &acct(
            200 * S,
            SignalEvent::AccountingStop,
            "10.0.0.1",
            "k",
            &[],
            &[],
        ),
    );
    assert_eq!(
        summary(&c),
        [("ended", "kept".into(), 200 * S, Some(EndReason::Signalled))]
    );
}

/// What a crash in the middle of a NAS restart's passes left: its marker and
/// some of its sessions. Restored, they end at the restart, never live.
#[test]
fn restore_ends_the_sessions_of_a_saved_nas_restart_at_its_time() {
    use SignalEvent::*;
    let mut t = tracker();
    let on = 50 * S;
    let restarts = [
        NasRestart {
            nas: ip("10.0.0.1"),
            at_ns: on,
        },
        NasRestart {
            nas: ip("10.0.0.1"),
            at_ns: 70 * S,
        },
    ];
    let far = 1000 * S;
    let list = vec![
        saved("radius|10.0.0.1|a", "a", v4("192.0.2.1"), S, far),
        saved("radius|10.0.0.1|b", "b", v4("192.0.2.2"), on, far),
        // Started between the two restarts: the second ended it.
        saved("radius|10.0.0.1|c", "c", v4("192.0.2.3"), 60 * S, far),
        // Started after both, by the rebooted NAS: live.
        saved("radius|10.0.0.1|d", "d", v4("192.0.2.4"), 80 * S, far),
        // Had expired before the restart.
        saved("radius|10.0.0.1|e", "e", v4("192.0.2.5"), S, 40 * S),
        // Another NAS's, and one whose key merely starts alike.
        saved("radius|10.0.0.2|f", "f", v4("192.0.2.6"), S, far),
        saved("radius|10.0.0.11|g", "g", v4("192.0.2.7"), S, far),
    ];
    let mut out = Vec::new();
    t.restore(list, &restarts, 100 * S, &mut out);
    assert_eq!(
        summary(&out),
        [
            ("ended", "e".into(), 40 * S, Some(EndReason::Expired)),
            ("ended", "a".into(), on, Some(EndReason::NasRestart)),
            ("ended", "b".into(), on, Some(EndReason::NasRestart)),
            ("ended", "c".into(), 70 * S, Some(EndReason::NasRestart)),
        ]
    );
    assert_eq!(live(&t), ["d", "f", "g"]);
    assert_eq!(holder(&t, "192.0.2.1"), None);
    assert!(t.bindings_of(&user("a")).is_empty());
    assert_eq!(t.pending_restarts().count(), 0, "nothing left to report");
    // Their Stops, late, find nothing.
    let c = apply(
        &mut t,
        &acct(101 * S, AccountingStop, "10.0.0.1", "a", &[], &[]),
    );
    assert!(c.is_empty());
}

#[test]
fn pending_restarts_are_those_with_ends_to_report() {
    use control::sessions::tracker::END_PER_PASS;
    use SignalEvent::*;
    let mut t = tracker();
    for i in 0..=END_PER_PASS {
        let who = [user(&format!("u{i}"))];
        let addr = Target::Ipv4(Ipv4Addr::from(0x6440_0000 + u32::try_from(i).unwrap()));
        t.apply(
            &acct(
                S,
                AccountingStart,
                "10.0.0.1",
                &format!("{i:06}"),
                &who,
                &[addr],
            ),
            &mut Vec::new(),
        );
    }
    let small = apply(&mut t, &nas_event(2 * S, AccountingOn, "10.0.0.2"));
    assert!(small.is_empty());
    assert_eq!(t.pending_restarts().count(), 0, "done in its own pass");
    apply(&mut t, &nas_event(3 * S, AccountingOff, "10.0.0.1"));
    let on = NasRestart {
        nas: ip("10.0.0.1"),
        at_ns: 3 * S,
    };
    assert_eq!(t.pending_restarts().collect::<Vec<_>>(), [on]);
    assert!(!t.end_pending(&mut Vec::new()));
    assert_eq!(t.pending_restarts().count(), 0);
}

#[test]
fn identity_index_follows_identity_changes() {
    use SignalEvent::*;
    let mut t = tracker();
    let csid = id(IdentityKind::CallingStationId, "0049301234");
    apply(
        &mut t,
        &acct(
            S,
            AccountingStart,
            "10.0.0.1",
            "s",
            &[user("old"), csid.clone()],
            &[v4("192.0.2.1")],
        ),
    );
    assert_eq!(t.bindings_of(&user("old")).len(), 1);
    // The interim renames the user and omits the Calling-Station-Id.
    let c = apply(
        &mut t,
        &acct(
            2 * S,
            AccountingInterim,
            "10.0.0.1",
            "s",
            &[user("new")],
            &[],
        ),
    );
    assert!(
        matches!(c.as_slice(), [BindingChange::Updated { new, .. }] if new.identities.contains(&user("new")))
    );
    assert!(t.bindings_of(&user("old")).is_empty());
    assert_eq!(t.bindings_of(&user("new")).len(), 1);
    assert_eq!(
        t.bindings_of(&csid).len(),
        1,
        "kinds the interim omits are kept"
    );
    let b = t.bindings_of(&csid)[0].id.clone();
    assert_eq!(t.get(&b).map(|b| b.started_ns), Some(S));
}

#[test]
fn static_assignments_never_expire_and_are_removed() {
    let mut t = tracker();
    let cust = id(IdentityKind::SubscriberId, "acme-hq");
    let mut out = Vec::new();
    t.set_static(
        cust.clone(),
        vec![Target::Ipv4Net(Ipv4Addr::new(203, 0, 113, 0), 28)],
        S,
        &mut out,
    );
    assert!(
        matches!(out.as_slice(), [BindingChange::Started(b)] if b.protocol == Protocol::Static && b.expires_ns == u64::MAX)
    );
    out.clear();
    t.set_static(
        cust.clone(),
        vec![
            Target::Ipv6(Ipv6Addr::LOCALHOST),
            Target::Ipv4Net(Ipv4Addr::new(203, 0, 113, 0), 28),
        ],
        2 * S,
        &mut out,
    );
    assert!(
        matches!(out.as_slice(), [BindingChange::Updated { new, .. }] if new.addresses.len() == 2 && new.started_ns == S)
    );
    out.clear();
    t.expire(u64::MAX - 1, &mut out);
    assert!(out.is_empty());
    assert_eq!(holder(&t, "203.0.113.9").as_deref(), Some("acme-hq"));
    t.remove_static(&cust, 3 * S, &mut out);
    assert_eq!(
        summary(&out),
        [("ended", "acme-hq".into(), 3 * S, Some(EndReason::Removed))]
    );
    assert!(t.is_empty());
}

#[test]
fn a_static_assignment_is_authoritative_for_its_addresses() {
    use SignalEvent::*;
    let mut t = tracker();
    let cust = id(IdentityKind::SubscriberId, "acme-hq");
    // A dynamic session holds an address the static customer is then given.
    apply(
        &mut t,
        &acct(
            S,
            AccountingStart,
            "10.0.0.1",
            "d",
            &[user("dyn")],
            &[v4("203.0.113.5"), v4("198.51.100.1")],
        ),
    );
    let mut out = Vec::new();
    let block = Target::Ipv4Net(Ipv4Addr::new(203, 0, 113, 0), 28);
    t.set_static(
        cust.clone(),
        vec![block, net6("2001:db8:5::", 48)],
        2 * S,
        &mut out,
    );
    assert_eq!(
        summary(&out),
        [
            ("updated", "dyn".into(), S, None),
            ("started", "acme-hq".into(), 2 * S, None)
        ],
        "the static customer takes its address from the session"
    );
    assert_eq!(holder(&t, "203.0.113.5").as_deref(), Some("acme-hq"));
    assert_eq!(holder(&t, "198.51.100.1").as_deref(), Some("dyn"));
    // Dynamic signalling never takes a static address or prefix.
    for (ts, sig) in [
        (
            3,
            acct(
                3 * S,
                AccountingStart,
                "10.0.0.1",
                "e",
                &[user("thief")],
                &[v4("203.0.113.9")],
            ),
        ),
        (
            4,
            dhcp(
                4 * S,
                Protocol::Dhcp4,
                LeaseGranted,
                "10.0.0.2",
                &[mac("02:00:00:00:00:01")],
                v4("203.0.113.0"),
                Some(60),
            ),
        ),
        (
            5,
            dhcp(
                5 * S,
                Protocol::Dhcp6,
                LeaseGranted,
                "10.0.0.3",
                &[duid("0001cc")],
                net6("2001:db8:5:100::", 56),
                Some(60),
            ),
        ),
        (
            6,
            dhcp(
                6 * S,
                Protocol::Dhcp6,
                LeaseGranted,
                "10.0.0.3",
                &[duid("0001cc")],
                net6("2001:db8::", 32),
                Some(60),
            ),
        ),
    ] {
        assert_eq!(apply(&mut t, &sig), [], "refused at {ts} s");
    }
    assert_eq!(t.ignored().static_assigned, 4);
    // A session given a static address among others keeps the others only.
    let c = apply(
        &mut t,
        &acct(
            7 * S,
            AccountingInterim,
            "10.0.0.1",
            "d",
            &[],
            &[v4("203.0.113.6"), v4("198.51.100.2")],
        ),
    );
    assert!(
        matches!(c.as_slice(), [BindingChange::Updated { new, .. }] if new.addresses == [v4("198.51.100.2")]),
        "{c:?}"
    );
    assert_eq!(t.ignored().static_assigned, 5);
    assert_eq!(holder(&t, "203.0.113.6").as_deref(), Some("acme-hq"));
    assert_eq!(holder(&t, "2001:db8:5:1ff::1").as_deref(), Some("acme-hq"));
    // Once the assignment is removed, the address can be leased.
    t.remove_static(&cust, 8 * S, &mut out);
    let c = apply(
        &mut t,
        &acct(
            9 * S,
            AccountingStart,
            "10.0.0.1",
            "e",
            &[user("next")],
            &[v4("203.0.113.9")],
        ),
    );
    assert_eq!(summary(&c), [("started", "next".into(), 9 * S, None)]);
}

// ---- property: one holder per address, an exact identity index ----

#[derive(Clone, Debug)]
enum Op {
    Radius(SignalEvent, u8, u8, u8, Vec<u8>),
    NasOn(u8),
    Dhcp4(SignalEvent, u8, u8, u8, Option<u32>),
    Dhcp6(SignalEvent, u8, u8, Option<u32>),
    Expire(u16),
}

const POOL: u8 = 6;

fn addr_of(i: u8) -> Target {
    match i % 4 {
        0 => Target::Ipv4(Ipv4Addr::new(192, 0, 2, i % POOL)),
        1 => net6("2001:db8::", 48),
        2 => net6(&format!("2001:db8:0:{:x}00::", i % POOL), 56),
        _ => Target::Ipv4Net(Ipv4Addr::new(192, 0, 2, 0), 30),
    }
}

fn op() -> impl Strategy<Value = Op> {
    use SignalEvent::*;
    let ev = prop_oneof![
        Just(AccountingStart),
        Just(AccountingInterim),
        Just(AccountingStop)
    ];
    let lease = prop_oneof![
        Just(LeaseGranted),
        Just(LeaseReleased),
        Just(LeaseDeclined),
        Just(LeaseRefused)
    ];
    let life = prop_oneof![Just(None), Just(Some(0)), (1u32..400).prop_map(Some)];
    prop_oneof![
        (
            ev,
            0..2u8,
            0..POOL,
            0..POOL,
            prop::collection::vec(0..24u8, 0..3)
        )
            .prop_map(|(e, n, s, u, a)| Op::Radius(e, n, s, u, a)),
        (0..2u8).prop_map(Op::NasOn),
        (lease.clone(), 0..2u8, 0..POOL, 0..24u8, life.clone())
            .prop_map(|(e, n, c, a, l)| Op::Dhcp4(e, n, c, a, l)),
        (lease, 0..POOL, 0..24u8, life).prop_map(|(e, c, a, l)| Op::Dhcp6(e, c, a, l)),
        (0..400u16).prop_map(Op::Expire),
    ]
}

fn identities_pool() -> Vec<Identity> {
    (0..POOL)
        .flat_map(|i| {
            [
                user(&format!("u{i}")),
                mac(&format!("02:00:00:00:00:{i:02x}")),
                duid(&format!("00{i:02x}")),
            ]
        })
        .collect()
}

fn range(t: &Target) -> (bool, u128, u128) {
    match *t {
        Target::Ipv4(a) => (false, u32::from(a).into(), u32::from(a).into()),
        Target::Ipv6(a) => (true, a.into(), a.into()),
        Target::Ipv4Net(a, l) => {
            let lo = u128::from(u32::from(a));
            (false, lo, lo + (1u128 << (32 - l)) - 1)
        }
        Target::Ipv6Net(a, l) => {
            let lo = u128::from(a);
            (true, lo, lo + ((1u128 << (128 - l)) - 1))
        }
        Target::Mac(_)
        | Target::Ipv4Udp(..)
        | Target::Ipv6Udp(..)
        | Target::Ipv4Tcp(..)
        | Target::Ipv6Tcp(..) => (false, 1, 0),
    }
}

fn overlap(a: &Target, b: &Target) -> bool {
    let (fa, la, ha) = range(a);
    let (fb, lb, hb) = range(b);
    fa == fb && la <= hb && lb <= ha
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn one_holder_per_address_and_an_exact_identity_index(ops in prop::collection::vec(op(), 1..60)) {
        let mut t = tracker();
        let mut model: BTreeMap<BindingId, Binding> = BTreeMap::new();
        let mut now = 0;
        for (k, o) in ops.into_iter().enumerate() {
            now += S;
            let mut out = Vec::new();
            match o {
                Op::Radius(e, n, s, u, a) => {
                    let addrs: Vec<Target> = a.iter().map(|&i| addr_of(i)).collect();
                    t.apply(&acct(now, e, &format!("10.0.0.{n}"), &format!("s{s}"), &[user(&format!("u{u}"))], &addrs), &mut out);
                }
                Op::NasOn(n) => t.apply(&nas_event(now, SignalEvent::AccountingOn, &format!("10.0.0.{n}")), &mut out),
                Op::Dhcp4(e, n, c, a, l) => t.apply(&dhcp(now, Protocol::Dhcp4, e, &format!("10.9.0.{n}"), &[mac(&format!("02:00:00:00:00:{c:02x}"))], addr_of(a), l), &mut out),
                Op::Dhcp6(e, c, a, l) => t.apply(&dhcp(now, Protocol::Dhcp6, e, "fe80::1", &[duid(&format!("00{c:02x}"))], addr_of(a), l), &mut out),
                Op::Expire(d) => t.expire(now.saturating_sub(u64::from(d) * S * 2), &mut out),
            }
            // The changes replayed give the tracker's state.
            for c in out {
                match c {
                    BindingChange::Started(b) => {
                        prop_assert!(model.insert(b.id.clone(), b).is_none(), "step {}: started twice", k);
                    }
                    BindingChange::Updated { old, new } => {
                        prop_assert_eq!(model.get(&new.id), Some(&old));
                        prop_assert!(old.addresses != new.addresses || old.identities != new.identities);
                        model.insert(new.id.clone(), new);
                    }
                    BindingChange::Refreshed(new) => {
                        let old = model.get(&new.id);
                        prop_assert_eq!(old.map(|o| (&o.addresses, &o.identities)), Some((&new.addresses, &new.identities)));
                        model.insert(new.id.clone(), new);
                    }
                    BindingChange::Ended { binding, .. } => {
                        prop_assert_eq!(model.remove(&binding.id), Some(binding));
                    }
                }
            }
            let live: Vec<&Binding> = t.iter().collect();
            prop_assert_eq!(live.len(), t.len());
            prop_assert_eq!(model.len(), t.len());
            for b in &live {
                prop_assert_eq!(model.get(&b.id), Some(*b));
            }
            for (i, a) in live.iter().enumerate() {
                for b in &live[i + 1..] {
                    for x in &a.addresses {
                        for y in &b.addresses {
                            prop_assert!(!overlap(x, y), "step {}: {:?} and {:?} both hold {:?}/{:?}", k, a.id, b.id, x, y);
                        }
                    }
                }
            }
            for who in identities_pool() {
                let mut got: Vec<&BindingId> = t.bindings_of(&who).into_iter().map(|b| &b.id).collect();
                let mut want: Vec<&BindingId> = live.iter().filter(|b| b.identities.contains(&who)).map(|b| &b.id).collect();
                got.sort();
                want.sort();
                prop_assert_eq!(got, want);
            }
        }
    }
}
