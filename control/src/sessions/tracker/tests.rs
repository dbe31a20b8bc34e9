//! The tracker's private helpers; its rules are tested through its public
//! interface in `control/tests/session_tracker.rs`.

use super::*;

fn id(kind: IdentityKind, v: &str) -> Identity {
    Identity::new("t", kind, v).unwrap_or_else(|_| unreachable!())
}

#[test]
fn identities_are_replaced_kind_by_kind() {
    let old = [
        id(IdentityKind::Username, "a"),
        id(IdentityKind::CallingStationId, "123"),
    ];
    let new = [id(IdentityKind::Username, "b")];
    assert_eq!(
        merged(&old, &new),
        vec![
            id(IdentityKind::Username, "b"),
            id(IdentityKind::CallingStationId, "123")
        ]
    );
    assert_eq!(merged(&old, &[]), old.to_vec());
}

#[test]
fn a_dhcp4_client_is_who_shares_an_id_and_contradicts_none() {
    let m1 = id(IdentityKind::DhcpClientMac, "02:00:00:00:00:01");
    let m2 = id(IdentityKind::DhcpClientMac, "02:00:00:00:00:02");
    let c1 = id(IdentityKind::DhcpClientId, "01");
    let c2 = id(IdentityKind::DhcpClientId, "02");
    let r = id(IdentityKind::DhcpRemoteId, "01");
    assert!(same_dhcp4_client(
        std::slice::from_ref(&m1),
        &[m1.clone(), c1.clone()]
    ));
    assert!(same_dhcp4_client(
        std::slice::from_ref(&c1),
        &[m2.clone(), c1.clone()]
    ));
    assert!(!same_dhcp4_client(
        &[m1.clone(), c1.clone()],
        &[m1.clone(), c2]
    ));
    assert!(!same_dhcp4_client(std::slice::from_ref(&m1), &[m2]));
    assert!(!same_dhcp4_client(&[m1], &[r]), "nothing in common");
    assert_eq!(dhcp4_client(std::slice::from_ref(&c1)), Some(&c1));
}

#[test]
fn addresses_are_canonical() {
    use std::net::Ipv4Addr;
    let a = Target::Ipv4(Ipv4Addr::new(10, 0, 0, 1));
    let got = canonical(
        [
            Target::Ipv4Net(Ipv4Addr::new(10, 0, 0, 9), 24),
            a,
            Target::Mac([2, 0, 0, 0, 0, 1]),
            Target::Ipv4Net(Ipv4Addr::new(10, 0, 0, 1), 32),
        ]
        .iter(),
    );
    assert_eq!(
        got,
        vec![Target::Ipv4Net(Ipv4Addr::new(10, 0, 0, 0), 24), a]
    );
}
