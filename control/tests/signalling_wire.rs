//! `sessions::wire::Verifier` on real signalling: RADIUS packets signed with a
//! known secret (and sent by FreeRADIUS's own `radclient`), DHCPv4 and DHCPv6
//! messages from dhcproto's encoder, and their forged, truncated and
//! misaddressed variants, each refused for the right reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use control::model::{Identity, IdentityKind};
use control::sessions::signal::Assigned;
use control::sessions::wire::{sign_radius, Verifier, VerifierError};
use control::sessions::{Protocol, Refusal, SessionsConfig, SignalEvent, SignalPacket, Transport};
use dataplane::targets::Target;
use dhcproto::v4::{self, relay};
use dhcproto::v6;
use dhcproto::Encodable;
use hmac::{Hmac, Mac};
use md5::Md5;

const SECRET: &[u8] = b"s3cret-of-bng1";
const NAS: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const SERVER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 200));
const DHCP4_SERVER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 67));
const DHCP6_RELAY: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));

/// A verifier trusting NAS 127.0.0.1 with `secret_text` in a 0600 file.
fn verifier_with(dir: &Path, secret_text: &[u8]) -> Verifier {
    let secret_file = dir.join("bng1.secret");
    std::fs::write(&secret_file, secret_text).unwrap();
    std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    Verifier::from_config(&config(secret_file)).unwrap()
}

fn config(secret_file: std::path::PathBuf) -> SessionsConfig {
    toml::from_str::<SessionsConfig>(&format!(
        r#"dhcp_servers = ["192.0.2.67"]
           dhcp_relays = ["2001:db8::1"]
           [[nas]]
           address = "127.0.0.1"
           secret_file = {:?}
           name = "bng1""#,
        secret_file.display().to_string()
    ))
    .unwrap()
}

fn verifier() -> (tempfile::TempDir, Verifier) {
    let dir = tempfile::tempdir().unwrap();
    let v = verifier_with(dir.path(), SECRET);
    (dir, v)
}

fn packet(src: IpAddr, dst: IpAddr, ports: (u16, u16), payload: &[u8]) -> SignalPacket<'_> {
    SignalPacket {
        ts_ns: 1_700_000_000_000_000_000,
        src,
        dst,
        src_port: ports.0,
        dst_port: ports.1,
        transport: Transport::Udp,
        payload,
    }
}

/// From the NAS to the accounting server.
fn accounting(payload: &[u8]) -> SignalPacket<'_> {
    packet(NAS, SERVER, (40_000, 1813), payload)
}

/// A RADIUS packet of `code` with `attrs`, authenticated as a NAS or server
/// with `secret` does: accounting over 16 zeros, a response over
/// `request_auth`; an Access-Request gets a fixed Request Authenticator and a
/// Message-Authenticator.
fn radius(
    code: u8,
    id: u8,
    attrs: &[(u8, &[u8])],
    secret: &[u8],
    request_auth: Option<[u8; 16]>,
) -> Vec<u8> {
    let mut p = vec![code, id, 0, 0];
    p.extend_from_slice(&request_auth.unwrap_or([0; 16]));
    for (t, v) in attrs {
        p.extend_from_slice(&[*t, u8::try_from(v.len() + 2).unwrap()]);
        p.extend_from_slice(v);
    }
    let access_request = code == 1;
    if access_request {
        p[4..20].copy_from_slice(&[0x5a; 16]);
        p.extend_from_slice(&[80, 18]);
        p.extend_from_slice(&[0; 16]);
    }
    let len = u16::try_from(p.len()).unwrap().to_be_bytes();
    p[2..4].copy_from_slice(&len);
    if access_request {
        let mut mac = Hmac::<Md5>::new_from_slice(secret).unwrap();
        mac.update(&p);
        let at = p.len() - 16;
        p[at..].copy_from_slice(&mac.finalize().into_bytes());
    } else {
        sign_radius(&mut p, secret, &request_auth.unwrap_or([0; 16]));
    }
    p
}

fn status(kind: u32) -> [u8; 4] {
    kind.to_be_bytes()
}

fn id(kind: IdentityKind, value: &str) -> Identity {
    Identity::new("test", kind, value).unwrap()
}

fn forever(target: Target) -> Assigned {
    Assigned {
        target,
        lifetime_secs: None,
    }
}

#[test]
fn accounting_start_names_the_subscriber_its_addresses_and_session() {
    let (_dir, v) = verifier();
    let start = status(1);
    let msg = radius(
        4,
        1,
        &[
            (40, &start),
            (1, b"alice@ISP.Example"),
            (31, b"02-00-5e-00-53-01"),
            (87, b"ge-0/0/1.100"),
            (32, b"bng1.pop3"),
            (4, &[203, 0, 113, 10]),
            (44, b"sess-0001"),
            (8, &[100, 64, 0, 7]),
            (97, &[0, 64, 0x20, 1, 0x0d, 0xb8, 0, 7, 0, 0, 0, 0]),
            (123, &[0, 56, 0x20, 1, 0x0d, 0xb8, 0x80, 0x07, 0]),
            (
                168,
                &"2001:db8:0:7::1".parse::<Ipv6Addr>().unwrap().octets(),
            ),
        ],
        SECRET,
        None,
    );
    let mut padded = msg.clone();
    padded.extend_from_slice(&[0xee; 5]);
    let s = v.parse(&accounting(&padded)).unwrap();
    assert_eq!(s.protocol, Protocol::Radius);
    assert_eq!(s.event, SignalEvent::AccountingStart);
    assert_eq!(s.session_id.as_deref(), Some("sess-0001"));
    let nas = s.nas.as_ref().unwrap();
    assert_eq!(nas.address, IpAddr::from([203, 0, 113, 10]));
    assert_eq!(nas.identifier.as_deref(), Some("bng1.pop3"));
    assert_eq!(
        s.identities,
        vec![
            id(IdentityKind::Username, "alice@isp.example"),
            id(IdentityKind::CallingStationId, "02-00-5e-00-53-01"),
            id(IdentityKind::NasPortId, "bng1.pop3/ge-0/0/1.100"),
        ]
    );
    assert_eq!(
        s.assigned,
        vec![
            forever(Target::Ipv4(Ipv4Addr::new(100, 64, 0, 7))),
            forever(Target::Ipv6Net("2001:db8:7::".parse().unwrap(), 64)),
            forever(Target::Ipv6Net("2001:db8:8007::".parse().unwrap(), 56)),
            forever(Target::Ipv6("2001:db8:0:7::1".parse().unwrap())),
        ]
    );
    assert_eq!(s.message, padded, "the datagram as received, for X2");
}

#[test]
fn every_accounting_status_is_an_event() {
    let (_dir, v) = verifier();
    for (kind, event) in [
        (2, SignalEvent::AccountingStop),
        (3, SignalEvent::AccountingInterim),
        (7, SignalEvent::AccountingOn),
        (8, SignalEvent::AccountingOff),
    ] {
        let st = status(kind);
        let msg = radius(4, 2, &[(40, &st), (44, b"s1"), (87, b"p1")], SECRET, None);
        let s = v.parse(&accounting(&msg)).unwrap();
        assert_eq!(s.event, event);
        // No NAS-Identifier: the configured name.
        assert_eq!(
            s.identity(IdentityKind::NasPortId),
            Some(&id(IdentityKind::NasPortId, "bng1/p1"))
        );
        assert_eq!(s.nas.unwrap().address, NAS, "no NAS-IP-Address: the sender");
    }
    let on = status(7);
    let msg = radius(4, 3, &[(40, &on)], SECRET, None);
    assert_eq!(
        v.parse(&accounting(&msg)).unwrap().event,
        SignalEvent::AccountingOn,
        "no session id needed"
    );
    let failed = status(15);
    let msg = radius(4, 3, &[(40, &failed), (44, b"s1")], SECRET, None);
    assert_eq!(v.parse(&accounting(&msg)), Err(Refusal::NotSignalling));
}

#[test]
fn forged_misaddressed_and_broken_accounting_is_refused() {
    let (_dir, v) = verifier();
    let start = status(1);
    let attrs: &[(u8, &[u8])] = &[
        (40, &start),
        (1, b"alice"),
        (44, b"s1"),
        (8, &[10, 0, 0, 1]),
    ];
    let good = radius(4, 9, attrs, SECRET, None);
    assert!(v.parse(&accounting(&good)).is_ok());

    let wrong_secret = radius(4, 9, attrs, b"guess", None);
    assert_eq!(
        v.parse(&accounting(&wrong_secret)),
        Err(Refusal::BadAuthenticator)
    );
    let mut moved = good.clone();
    let last = moved.len() - 1;
    moved[last] = 2; // Framed-IP-Address 10.0.0.2
    assert_eq!(v.parse(&accounting(&moved)), Err(Refusal::BadAuthenticator));

    let stranger = IpAddr::from([198, 51, 100, 9]);
    assert_eq!(
        v.parse(&packet(stranger, SERVER, (40_000, 1813), &good)),
        Err(Refusal::UnknownSender)
    );
    assert_eq!(
        v.parse(&packet(NAS, SERVER, (40_000, 9999), &good)),
        Err(Refusal::NotSignalling)
    );
    // An Accounting-Response from the server: says nothing new.
    let response = radius(5, 9, &[], SECRET, Some([0; 16]));
    assert_eq!(
        v.parse(&packet(SERVER, NAS, (1813, 40_000), &response)),
        Err(Refusal::NotSignalling)
    );

    assert!(matches!(
        v.parse(&accounting(&good[..good.len() - 1])),
        Err(Refusal::Malformed(_))
    ));
    assert!(matches!(
        v.parse(&accounting(&good[..10])),
        Err(Refusal::Malformed(_))
    ));
    let mut overrun = good.clone();
    overrun[21] = 60; // Acct-Status-Type claims more octets than the packet has
    assert!(matches!(
        v.parse(&accounting(&overrun)),
        Err(Refusal::Malformed(_))
    ));
    let mut short_length = good.clone();
    short_length[3] -= 3; // Length ends inside the last attribute
    assert!(matches!(
        v.parse(&accounting(&short_length)),
        Err(Refusal::Malformed(_))
    ));
    let no_session = radius(4, 9, &[(40, &start), (1, b"alice")], SECRET, None);
    assert!(matches!(
        v.parse(&accounting(&no_session)),
        Err(Refusal::Malformed(_))
    ));
    let bad_ip = radius(
        4,
        9,
        &[(40, &start), (44, b"s"), (8, &[10, 0, 1])],
        SECRET,
        None,
    );
    assert!(matches!(
        v.parse(&accounting(&bad_ip)),
        Err(Refusal::Malformed(_))
    ));
}

#[test]
fn access_exchange_needs_message_authenticator_and_the_matching_request() {
    let (_dir, v) = verifier();
    let auth = |payload| packet(NAS, SERVER, (40_001, 1812), payload);
    let reply = |payload| packet(SERVER, NAS, (1812, 40_001), payload);
    let request = radius(1, 42, &[(1, b"bob"), (31, b"cpe-7")], SECRET, None);
    let s = v.parse(&auth(&request)).unwrap();
    assert_eq!(s.event, SignalEvent::AccessRequest);
    assert_eq!(
        s.identity(IdentityKind::Username),
        Some(&id(IdentityKind::Username, "bob"))
    );

    let request_auth: [u8; 16] = request[4..20].try_into().unwrap();
    let accept = radius(2, 42, &[(8, &[100, 64, 9, 9])], SECRET, Some(request_auth));
    let s = v.parse(&reply(&accept)).unwrap();
    assert_eq!(s.event, SignalEvent::AccessAccept);
    assert_eq!(
        s.assigned,
        vec![forever(Target::Ipv4(Ipv4Addr::new(100, 64, 9, 9)))]
    );
    assert_eq!(s.nas.unwrap().address, NAS);
    assert_eq!(
        v.parse(&reply(&accept)),
        Err(Refusal::BadAuthenticator),
        "a replayed response"
    );

    v.parse(&auth(&request)).unwrap();
    let forged = radius(
        2,
        42,
        &[(8, &[100, 64, 9, 9])],
        b"guess",
        Some(request_auth),
    );
    assert_eq!(v.parse(&reply(&forged)), Err(Refusal::BadAuthenticator));
    let unasked = radius(3, 43, &[], SECRET, Some(request_auth));
    assert_eq!(v.parse(&reply(&unasked)), Err(Refusal::BadAuthenticator));

    let wrong_key = radius(1, 44, &[(1, b"bob")], b"guess", None);
    assert_eq!(v.parse(&auth(&wrong_key)), Err(Refusal::BadAuthenticator));
    let mut without = radius(1, 45, &[(1, b"bob")], SECRET, None);
    without.truncate(without.len() - 18);
    let len = u16::try_from(without.len()).unwrap().to_be_bytes();
    without[2..4].copy_from_slice(&len);
    assert_eq!(v.parse(&auth(&without)), Err(Refusal::BadAuthenticator));
}

#[test]
fn unsafe_or_empty_secret_files_are_refused_and_a_newline_is_not_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    for (text, mode) in [(&b"secret"[..], 0o640), (b"secret", 0o604), (b"\n", 0o600)] {
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        let e = Verifier::from_config(&config(path.clone())).err();
        assert!(
            matches!(e, Some(VerifierError::Secret { .. })),
            "{text:?} {mode:o}"
        );
    }
    let missing = Verifier::from_config(&config(dir.path().join("none"))).err();
    assert!(matches!(missing, Some(VerifierError::Secret { .. })));

    let v = verifier_with(dir.path(), b"s3cret-of-bng1\n");
    let start = status(1);
    let msg = radius(4, 1, &[(40, &start), (44, b"s")], SECRET, None);
    assert!(v.parse(&accounting(&msg)).is_ok());
}

fn dhcp4_reply(kind: v4::MessageType, yiaddr: Ipv4Addr, ciaddr: Ipv4Addr) -> v4::Message {
    let mac = [0x02, 0, 0x5e, 0, 0x53, 0x01];
    let mut m = v4::Message::new(
        ciaddr,
        yiaddr,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::new(10, 0, 0, 1),
        &mac,
    );
    m.set_opcode(v4::Opcode::BootReply);
    m.opts_mut().insert(v4::DhcpOption::MessageType(kind));
    m.opts_mut().insert(v4::DhcpOption::AddressLeaseTime(3600));
    m.opts_mut().insert(v4::DhcpOption::ClientIdentifier(vec![
        1, 2, 0, 0x5e, 0, 0x53, 1,
    ]));
    let mut info = relay::RelayAgentInformation::default();
    info.insert(relay::RelayInfo::AgentCircuitId(b"olt1/1/3".to_vec()));
    info.insert(relay::RelayInfo::AgentRemoteId(vec![0xca, 0xfe]));
    m.opts_mut()
        .insert(v4::DhcpOption::RelayAgentInformation(info));
    m
}

fn from_dhcp4_server(payload: &[u8]) -> SignalPacket<'_> {
    packet(DHCP4_SERVER, IpAddr::from([10, 0, 0, 1]), (67, 67), payload)
}

#[test]
fn dhcp4_ack_release_decline_nak() {
    let (_dir, v) = verifier();
    let zero = Ipv4Addr::UNSPECIFIED;
    let lease = Ipv4Addr::new(100, 64, 1, 2);
    let ack = dhcp4_reply(v4::MessageType::Ack, lease, zero)
        .to_vec()
        .unwrap();
    let s = v.parse(&from_dhcp4_server(&ack)).unwrap();
    assert_eq!(
        (s.protocol, s.event),
        (Protocol::Dhcp4, SignalEvent::LeaseGranted)
    );
    assert_eq!(
        s.assigned,
        vec![Assigned {
            target: Target::Ipv4(lease),
            lifetime_secs: Some(3600)
        }]
    );
    assert_eq!(
        s.identities,
        vec![
            id(IdentityKind::DhcpClientMac, "02:00:5e:00:53:01"),
            id(IdentityKind::DhcpCircuitId, &hex::encode(b"olt1/1/3")),
            id(IdentityKind::DhcpRemoteId, "cafe"),
            id(IdentityKind::DhcpClientId, "0102005e005301"),
        ]
    );
    let nas = s.nas.unwrap();
    assert_eq!((nas.address, nas.identifier), (DHCP4_SERVER, None));

    let inform_ack = dhcp4_reply(v4::MessageType::Ack, zero, lease)
        .to_vec()
        .unwrap();
    assert_eq!(
        v.parse(&from_dhcp4_server(&inform_ack)),
        Err(Refusal::NotSignalling)
    );
    let offer = dhcp4_reply(v4::MessageType::Offer, lease, zero)
        .to_vec()
        .unwrap();
    assert_eq!(
        v.parse(&from_dhcp4_server(&offer)),
        Err(Refusal::NotSignalling)
    );

    let release = dhcp4_reply(v4::MessageType::Release, zero, lease)
        .to_vec()
        .unwrap();
    let s = v.parse(&from_dhcp4_server(&release)).unwrap();
    assert_eq!(s.event, SignalEvent::LeaseReleased);
    assert_eq!(s.assigned[0].target, Target::Ipv4(lease));
    let no_ciaddr = dhcp4_reply(v4::MessageType::Release, zero, zero)
        .to_vec()
        .unwrap();
    assert!(matches!(
        v.parse(&from_dhcp4_server(&no_ciaddr)),
        Err(Refusal::Malformed(_))
    ));

    let mut decline = dhcp4_reply(v4::MessageType::Decline, zero, zero);
    decline
        .opts_mut()
        .insert(v4::DhcpOption::RequestedIpAddress(lease));
    let s = v
        .parse(&from_dhcp4_server(&decline.to_vec().unwrap()))
        .unwrap();
    assert_eq!(
        (s.event, s.assigned[0].target),
        (SignalEvent::LeaseDeclined, Target::Ipv4(lease))
    );

    let nak = dhcp4_reply(v4::MessageType::Nak, zero, zero)
        .to_vec()
        .unwrap();
    let s = v.parse(&from_dhcp4_server(&nak)).unwrap();
    assert_eq!((s.event, s.assigned.len()), (SignalEvent::LeaseRefused, 0));

    // The client itself (or anyone else) is not believed.
    let client = packet(
        IpAddr::from([100, 64, 1, 2]),
        DHCP4_SERVER,
        (68, 67),
        &release,
    );
    assert_eq!(v.parse(&client), Err(Refusal::UnknownSender));
    assert!(matches!(
        v.parse(&from_dhcp4_server(&ack[..100])),
        Err(Refusal::Malformed(_))
    ));
    let mut long_hlen = ack.clone();
    long_hlen[2] = 200;
    assert!(
        v.parse(&from_dhcp4_server(&long_hlen)).is_ok(),
        "a bad hlen only drops chaddr"
    );
}

/// Relay-Repl `hops` deep around `inner`, each with Interface-Id, Remote-Id
/// and Client Link-Layer Address options.
fn relayed(inner: &[u8], hops: usize) -> Vec<u8> {
    let mut msg = inner.to_vec();
    for hop in 0..hops {
        let mut r = vec![13, u8::try_from(hop).unwrap()];
        r.extend_from_slice(&[0; 32]);
        let mut opt = |code: u16, value: &[u8]| {
            r.extend_from_slice(&code.to_be_bytes());
            r.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
            r.extend_from_slice(value);
        };
        opt(18, b"olt1/1/3");
        opt(37, &[0, 0, 0x0d, 0xe9, 0xbe, 0xef]);
        opt(79, &[0, 1, 0x02, 0, 0x5e, 0, 0x53, 0x02]);
        opt(9, &msg);
        msg = r;
    }
    msg
}

fn dhcp6_message(kind: v6::MessageType, valid: u32) -> v6::Message {
    let mut m = v6::Message::new_with_id(kind, [1, 2, 3]);
    let duid = vec![0, 3, 0, 1, 0x02, 0, 0x5e, 0, 0x53, 0x02];
    m.opts_mut().insert(v6::DhcpOption::ClientId(duid));
    let addr = v6::IAAddr {
        addr: "2001:db8:1::7".parse().unwrap(),
        preferred_life: valid / 2,
        valid_life: valid,
        opts: v6::DhcpOptions::new(),
    };
    let mut na_opts = v6::DhcpOptions::new();
    na_opts.insert(v6::DhcpOption::IAAddr(addr));
    m.opts_mut().insert(v6::DhcpOption::IANA(v6::IANA {
        id: 1,
        t1: 0,
        t2: 0,
        opts: na_opts,
    }));
    let prefix = v6::IAPrefix {
        preferred_lifetime: valid / 2,
        valid_lifetime: valid,
        prefix_len: 56,
        prefix_ip: "2001:db8:ff00:1234::".parse().unwrap(),
        opts: v6::DhcpOptions::new(),
    };
    let mut pd_opts = v6::DhcpOptions::new();
    pd_opts.insert(v6::DhcpOption::IAPrefix(prefix));
    m.opts_mut().insert(v6::DhcpOption::IAPD(v6::IAPD {
        id: 2,
        t1: 0,
        t2: 0,
        opts: pd_opts,
    }));
    m
}

fn from_dhcp6_relay(payload: &[u8]) -> SignalPacket<'_> {
    packet(
        DHCP6_RELAY,
        IpAddr::from(Ipv6Addr::LOCALHOST),
        (547, 547),
        payload,
    )
}

#[test]
fn dhcp6_relayed_reply_release_decline() {
    let (_dir, v) = verifier();
    let reply = dhcp6_message(v6::MessageType::Reply, 7200)
        .to_vec()
        .unwrap();
    let s = v.parse(&from_dhcp6_relay(&relayed(&reply, 2))).unwrap();
    assert_eq!(
        (s.protocol, s.event),
        (Protocol::Dhcp6, SignalEvent::LeaseGranted)
    );
    assert_eq!(
        s.assigned,
        vec![
            Assigned {
                target: Target::Ipv6("2001:db8:1::7".parse().unwrap()),
                lifetime_secs: Some(7200)
            },
            Assigned {
                target: Target::Ipv6Net("2001:db8:ff00:1200::".parse().unwrap(), 56),
                lifetime_secs: Some(7200)
            },
        ]
    );
    assert_eq!(
        s.identities,
        vec![
            id(IdentityKind::DhcpCircuitId, &hex::encode(b"olt1/1/3")),
            id(IdentityKind::DhcpRemoteId, "beef"),
            id(IdentityKind::DhcpClientMac, "02:00:5e:00:53:02"),
            id(IdentityKind::Dhcpv6Duid, "0003000102005e005302"),
        ]
    );
    let ended = dhcp6_message(v6::MessageType::Reply, 0).to_vec().unwrap();
    let s = v.parse(&from_dhcp6_relay(&relayed(&ended, 1))).unwrap();
    assert!(
        s.assigned.iter().all(|a| a.lifetime_secs == Some(0)),
        "lifetime 0 is reported"
    );

    for (kind, event) in [
        (v6::MessageType::Release, SignalEvent::LeaseReleased),
        (v6::MessageType::Decline, SignalEvent::LeaseDeclined),
    ] {
        let m = dhcp6_message(kind, 0).to_vec().unwrap();
        let s = v.parse(&from_dhcp6_relay(&relayed(&m, 1))).unwrap();
        assert_eq!((s.event, s.assigned.len()), (event, 2));
    }
    let solicit = dhcp6_message(v6::MessageType::Solicit, 0).to_vec().unwrap();
    assert_eq!(
        v.parse(&from_dhcp6_relay(&relayed(&solicit, 1))),
        Err(Refusal::NotSignalling)
    );

    let stranger = packet(
        IpAddr::from(Ipv6Addr::LOCALHOST),
        DHCP6_RELAY,
        (546, 547),
        &reply,
    );
    assert_eq!(v.parse(&stranger), Err(Refusal::UnknownSender));
    assert!(matches!(
        v.parse(&from_dhcp6_relay(&relayed(&reply, 9))),
        Err(Refusal::Malformed(_))
    ));
    let whole = relayed(&reply, 1);
    assert!(matches!(
        v.parse(&from_dhcp6_relay(&whole[..whole.len() - 3])),
        Err(Refusal::Malformed(_))
    ));
    // A Status Code option shorter than its code, options after it: refused,
    // not dhcproto's overflow panic (debug builds) or a misread.
    let mut short_status = reply.clone();
    short_status.splice(4..4, [0, 13, 0, 1, 0]);
    assert!(matches!(
        v.parse(&from_dhcp6_relay(&relayed(&short_status, 1))),
        Err(Refusal::Malformed(_))
    ));
    // Reconfigure Accept (and Rapid Commit) with a value: dhcproto reads none
    // of it and would decode it as a Vendor Options option shorter than its
    // header (the fuzzer's find).
    let mut long_empty = reply.clone();
    long_empty.splice(4..4, [0, 20, 0, 8, 0, 17, 0, 0, 0, 3, 0, 0]);
    assert!(matches!(
        v.parse(&from_dhcp6_relay(&relayed(&long_empty, 1))),
        Err(Refusal::Malformed(_))
    ));
}

/// FreeRADIUS's `radclient` as the NAS: what it sends to a socket here must
/// verify with its secret and be refused with any other.
#[test]
fn radclient_packets_verify() {
    if std::process::Command::new("radclient")
        .arg("-h")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "radclient missing (scripts/install-deps.sh installs freeradius-utils)"
        );
        eprintln!("skipped: radclient not installed (apt-get install freeradius-utils)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let v = verifier_with(dir.path(), SECRET);
    let other = tempfile::tempdir().unwrap();
    let wrong = verifier_with(other.path(), b"another-secret");
    let cases: [(&str, &str, SignalEvent); 3] = [
        (
            "acct",
            "Acct-Status-Type = Start\nUser-Name = \"carol@Realm.example\"\nAcct-Session-Id = \"r-1\"\nFramed-IP-Address = 100.64.3.4\nNAS-Port-Id = \"eth1\"\n",
            SignalEvent::AccountingStart,
        ),
        (
            "acct",
            "Acct-Status-Type = Stop\nUser-Name = \"carol@Realm.example\"\nAcct-Session-Id = \"r-1\"\nFramed-IP-Address = 100.64.3.4\n",
            SignalEvent::AccountingStop,
        ),
        (
            "auth",
            "User-Name = \"carol@Realm.example\"\nUser-Password = \"pw\"\nMessage-Authenticator = 0x00\n",
            SignalEvent::AccessRequest,
        ),
    ];
    for (kind, attrs, event) in cases {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let port = sock.local_addr().unwrap().port();
        let mut child = std::process::Command::new("radclient")
            .args([
                "-r",
                "1",
                "-t",
                "5",
                "-x",
                &format!("127.0.0.1:{port}"),
                kind,
            ])
            .arg(std::str::from_utf8(SECRET).unwrap())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(attrs.as_bytes())
            .unwrap();
        let mut buf = [0u8; 4096];
        let (n, from) = sock.recv_from(&mut buf).unwrap();
        let _ = child.kill();
        let _ = child.wait();
        let dst_port = if kind == "acct" { 1813 } else { 1812 };
        let p = packet(from.ip(), NAS, (from.port(), dst_port), &buf[..n]);
        let s = v.parse(&p).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(s.event, event);
        assert_eq!(
            s.identity(IdentityKind::Username),
            Some(&id(IdentityKind::Username, "carol@realm.example"))
        );
        assert_eq!(
            wrong.parse(&p),
            Err(Refusal::BadAuthenticator),
            "{kind} with another secret"
        );
    }
}
