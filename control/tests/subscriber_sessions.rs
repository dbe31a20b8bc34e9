//! Issue #27's legal test, end to end: a real daemon reading a capture through
//! a FIFO (so each stage's signalling is applied before its content is written),
//! through TLS into the real `calea-collector`. Subscriber warrants (username,
//! dhcp-client-mac) follow RADIUS and DHCPv4 bindings: the collector gets
//! exactly the target's packets during its bindings, none of the subscriber who
//! gets the address next, none after a Stop, a RELEASE or an Accounting-On,
//! the same after a forged Stop (bad authenticator) as before; signalling in
//! VLAN and QinQ; a DHCPv6 target (dhcpv6-duid) followed through a relayed
//! Reply with IA_NA and IA_PD, its Release, and its prefix given to another
//! DUID; a restarted probe keeps intercepting without new signalling, reports
//! the session in progress (startOfInterceptionWithSessionActive, not a second
//! sessionStart) and the lease that expired while it was down.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod daemon_harness;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use control::collector::liid_dir;
use control::handover::etsi102232::access_event;
use daemon_harness::{eventually, free_port, metric, mkfifo, Feed, Probe, Setup};
use dataplane::synth::{read_pcap, Frame};
use md5::{Digest, Md5};
use serde_json::{json, Value};

const MAC_NAS: [u8; 6] = [2, 0, 0, 0, 0, 0x10];
const MAC_T2: [u8; 6] = [2, 0, 0x5e, 0, 0x53, 1];
const NAS: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const DHCP_SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 67);
const RELAY: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const SECRET: &[u8] = b"nas-secret-1";
/// Bound by RADIUS to T, then to U.
const ADDR_A: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 10);
/// Leased by DHCPv4 to T'.
const ADDR_B: Ipv4Addr = Ipv4Addr::new(100, 64, 1, 20);
const PEER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 5);
const SERVER6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 0x547);
const RELAY6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 1);
const PEER6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xcafe, 0, 0, 0, 0, 5);
/// DUIDs (DUID-LL) of T6, the DHCPv6 target, and of U6.
const DUID_T6: [u8; 10] = [0, 3, 0, 1, 2, 0, 0x5e, 0, 0x53, 0x66];
const DUID_U6: [u8; 10] = [0, 3, 0, 1, 2, 0, 0x5e, 0, 0x53, 0x77];
/// T6's IA_NA address, then its short-lived second one.
const NA6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x66);
const NA6_SHORT: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x67);
/// Delegated to T6 (IA_PD), later to U6.
const PD6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x6600, 0, 0, 0, 0, 0);
/// A host inside PD6.
const IN_PD6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x6600, 0x12, 0, 0, 0, 0x99);
/// Valid lifetime of NA6_SHORT: it expires while the probe is down.
const SHORT_LIFE: u32 = 6;

/// A content frame of the subscriber at `addr`, tagged by its UDP destination port.
fn content(addr: impl Into<IpAddr>, tag: u16, to_subscriber: bool) -> Vec<u8> {
    let addr = addr.into();
    let peer = if addr.is_ipv4() {
        IpAddr::V4(PEER)
    } else {
        IpAddr::V6(PEER6)
    };
    let (src, dst) = if to_subscriber {
        (peer, addr)
    } else {
        (addr, peer)
    };
    Frame::ethernet(MAC_T2, MAC_NAS)
        .ip(src, dst)
        .udp(40_000, tag)
        .payload(b"subscriber content")
        .build()
}

fn attr(out: &mut Vec<u8>, kind: u8, value: &[u8]) {
    out.push(kind);
    out.push(u8::try_from(value.len() + 2).unwrap());
    out.extend_from_slice(value);
}

/// A RADIUS Accounting-Request (RFC 2866) with a valid Request Authenticator,
/// or a forged one (`forged`: wrong secret).
fn accounting(
    status: u32,
    user: Option<&str>,
    session: &str,
    addr: Option<Ipv4Addr>,
    forged: bool,
) -> Vec<u8> {
    let mut attrs = Vec::new();
    attr(&mut attrs, 40, &status.to_be_bytes());
    if let Some(u) = user {
        attr(&mut attrs, 1, u.as_bytes());
        attr(&mut attrs, 31, b"02-00-5e-00-53-99");
    }
    attr(&mut attrs, 44, session.as_bytes());
    attr(&mut attrs, 4, &NAS.octets());
    attr(&mut attrs, 32, b"bng-1");
    if let Some(a) = addr {
        attr(&mut attrs, 8, &a.octets());
    }
    let len = u16::try_from(20 + attrs.len()).unwrap();
    let mut p = vec![4, u8::try_from(session.len()).unwrap()];
    p.extend_from_slice(&len.to_be_bytes());
    p.extend_from_slice(&[0; 16]);
    p.extend_from_slice(&attrs);
    let mut md5 = Md5::new();
    md5.update(&p);
    md5.update(if forged {
        b"guessed-secret".as_slice()
    } else {
        SECRET
    });
    let auth = md5.finalize();
    p[4..20].copy_from_slice(&auth);
    Frame::ethernet(MAC_NAS, MAC_T2)
        .ipv4(NAS, Ipv4Addr::new(192, 0, 2, 2))
        .udp(50_000, 1813)
        .payload(&p)
        .build()
}

/// A DHCPv4 message (RFC 2131) of T' through the relay: ACK from the server
/// (`yiaddr` = ADDR_B, one hour), or the client's RELEASE relayed to it.
fn dhcp4(ack: bool, outer: impl Fn(Frame) -> Frame) -> Vec<u8> {
    let mut m = vec![if ack { 2 } else { 1 }, 1, 6, 1];
    m.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    m.extend_from_slice(&[0; 4]);
    m.extend_from_slice(&(if ack { Ipv4Addr::UNSPECIFIED } else { ADDR_B }).octets());
    m.extend_from_slice(&(if ack { ADDR_B } else { Ipv4Addr::UNSPECIFIED }).octets());
    m.extend_from_slice(&DHCP_SERVER.octets());
    m.extend_from_slice(&RELAY.octets());
    m.extend_from_slice(&MAC_T2);
    m.extend_from_slice(&[0; 10 + 64 + 128]);
    m.extend_from_slice(&[99, 130, 83, 99]);
    m.extend_from_slice(&[53, 1, if ack { 5 } else { 7 }]);
    m.extend_from_slice(&[54, 4]);
    m.extend_from_slice(&DHCP_SERVER.octets());
    if ack {
        m.extend_from_slice(&[51, 4]);
        m.extend_from_slice(&3600u32.to_be_bytes());
    }
    m.push(255);
    let (src, dst, sport, dport) = if ack {
        (DHCP_SERVER, RELAY, 67, 67)
    } else {
        (RELAY, DHCP_SERVER, 67, 67)
    };
    outer(Frame::ethernet(MAC_NAS, MAC_T2))
        .ipv4(src, dst)
        .udp(sport, dport)
        .payload(&m)
        .build()
}

fn option6(out: &mut Vec<u8>, code: u16, value: &[u8]) {
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
    out.extend_from_slice(value);
}

/// A DHCPv6 (RFC 8415) message of `duid` through the relay: the server's
/// Reply (in a Relay-Reply to the relay) or the client's Release (in the
/// relay's Relay-Forward to the server), with an IA_NA of `na` and an IA_PD
/// of `pd`/56, each valid for `life` seconds.
fn dhcp6(
    reply: bool,
    duid: &[u8],
    na: Option<Ipv6Addr>,
    pd: Option<Ipv6Addr>,
    life: u32,
) -> Vec<u8> {
    let mut m = vec![if reply { 7 } else { 8 }, 0x12, 0x34, 0x56];
    option6(&mut m, 1, duid);
    option6(&mut m, 2, &[0, 3, 0, 1, 2, 0, 0, 0, 0x05, 0x47]);
    let ia = |addr_option: Vec<u8>| {
        // IAID, T1, T2.
        let mut v = vec![0, 0, 0, 1];
        v.extend_from_slice(&(life / 2).to_be_bytes());
        v.extend_from_slice(&(life / 5 * 4).to_be_bytes());
        v.extend_from_slice(&addr_option);
        v
    };
    if let Some(a) = na {
        let mut iaaddr = a.octets().to_vec();
        iaaddr.extend_from_slice(&life.to_be_bytes());
        iaaddr.extend_from_slice(&life.to_be_bytes());
        let mut o = Vec::new();
        option6(&mut o, 5, &iaaddr);
        option6(&mut m, 3, &ia(o));
    }
    if let Some(p) = pd {
        let mut iaprefix = life.to_be_bytes().to_vec();
        iaprefix.extend_from_slice(&life.to_be_bytes());
        iaprefix.push(56);
        iaprefix.extend_from_slice(&p.octets());
        let mut o = Vec::new();
        option6(&mut o, 26, &iaprefix);
        option6(&mut m, 25, &ia(o));
    }
    // Relay-Reply / Relay-Forward: hop count, link-address, peer-address.
    let mut relayed = vec![if reply { 13 } else { 12 }, 0];
    relayed.extend_from_slice(&RELAY6.octets());
    relayed.extend_from_slice(&Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x66).octets());
    option6(&mut relayed, 9, &m);
    let (src, dst) = if reply {
        (SERVER6, RELAY6)
    } else {
        (RELAY6, SERVER6)
    };
    Frame::ethernet(MAC_NAS, MAC_T2)
        .ipv6(src, dst)
        .udp(547, 547)
        .payload(&relayed)
        .build()
}

fn warrant(liid: &str, target: &str) -> Value {
    json!({
        "liid": liid,
        "warrant_ref": "W-27",
        "issuing_authority": "Court",
        "valid_from": "2026-01-01T00:00:00Z",
        "valid_until": "2099-01-01T00:00:00Z",
        "mode": "content",
        "targets": [target],
        "destinations": ["lea"],
    })
}

/// Tags (UDP destination ports) of the content the collector wrote for `liid`.
fn delivered(setup: &Setup, liid: &str) -> Vec<u16> {
    let path = liid_dir(&setup.path("out"), liid).join("content.pcap");
    read_pcap(&path)
        .map(|ps| {
            ps.iter()
                .map(|(_, p)| {
                    // IPv4 or IPv6 (no options or extension headers), then UDP.
                    let at = if p[0] >> 4 == 6 { 42 } else { 22 };
                    u16::from_be_bytes([p[at], p[at + 1]])
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The IPIRI of `liid`'s session IRI, in order.
fn ipiri_records(setup: &Setup, liid: &str) -> Vec<Value> {
    fn ipiri(v: &Value) -> Option<&Value> {
        if v.get("accessEventType").is_some() {
            return Some(v);
        }
        match v {
            Value::Object(m) => m.values().find_map(ipiri),
            Value::Array(a) => a.iter().find_map(ipiri),
            _ => None,
        }
    }
    let path = liid_dir(&setup.path("out"), liid).join("iri.jsonl");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let v: Value = serde_json::from_str(l).ok()?;
            ipiri(&v).cloned()
        })
        .collect()
}

/// The session IRI of `liid`, in order, as lower-case event names
/// (`sessionstart`, `sessionexpired`, ...).
fn session_iri(setup: &Setup, liid: &str) -> Vec<String> {
    ipiri_records(setup, liid)
        .iter()
        .filter_map(|v| {
            let event = access_event(v)?;
            Some(format!("{event:?}").to_ascii_lowercase())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn subscriber_warrants_follow_their_bindings_exactly() {
    let setup = Setup::new();
    let lea_port = free_port();
    let _collector = setup.collector(lea_port, "out");
    let secret = setup.path("nas.secret");
    std::fs::write(&secret, SECRET).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = format!(
        "{dest}\n[sessions]\ndhcp_servers = [\"{DHCP_SERVER}\", \"{SERVER6}\"]\n\
         dhcp_relays = [\"{RELAY}\", \"{RELAY6}\"]\ndhcp_lease_grace_secs = 0\n\
         [[sessions.nas]]\naddress = \"{NAS}\"\nsecret_file = \"{secret}\"\nname = \"bng-1\"\n",
        dest = setup.tls_destination("lea", lea_port),
        secret = secret.display(),
    );
    mkfifo(&setup.path("feed1.pcap"));
    let opening = Feed::open(&setup.path("feed1.pcap"));
    let probe = Probe::start(&setup.write_net_pcap_config("feed1.pcap", &config));
    let mut feed = opening.join().unwrap();
    let prov = setup.client("prov");
    prov.create_intercept(&warrant("LIID-T", "username:t@isp.example"))
        .await
        .unwrap();
    prov.create_intercept(&warrant("LIID-T2", "dhcp-client-mac:02:00:5e:00:53:01"))
        .await
        .unwrap();
    prov.create_intercept(&warrant("LIID-T6", "dhcpv6-duid:0003000102005e005366"))
        .await
        .unwrap();
    let bound = |n: f64| move |m: &str| metric(m, "calea_binding_latency_seconds_count") >= n;
    let radius =
        |n: f64| move |m: &str| metric(m, "calea_session_bindings{source=\"radius\"}") == n;

    // T logs in with A: its traffic both ways is intercepted.
    feed.write(&accounting(
        1,
        Some("t@isp.example"),
        "T-1",
        Some(ADDR_A),
        false,
    ));
    feed.until(&setup, "T bound", bound(1.0)).await;
    feed.write(&content(ADDR_A, 1, false));
    feed.write(&content(ADDR_A, 2, true));
    // A forged Stop changes nothing.
    feed.write(&accounting(
        2,
        Some("t@isp.example"),
        "T-1",
        Some(ADDR_A),
        true,
    ));
    feed.until(&setup, "forgery counted", |m| {
        metric(
            m,
            "calea_session_signals_total{result=\"bad_authenticator\"}",
        ) >= 1.0
    })
    .await;
    feed.write(&content(ADDR_A, 3, false));
    // T logs off: nothing of A after the Stop, nor of U, who gets A next.
    feed.write(&accounting(
        2,
        Some("t@isp.example"),
        "T-1",
        Some(ADDR_A),
        false,
    ));
    feed.write(&content(ADDR_A, 4, false));
    feed.until(&setup, "T unbound", radius(0.0)).await;
    feed.write(&accounting(
        1,
        Some("u@isp.example"),
        "U-1",
        Some(ADDR_A),
        false,
    ));
    feed.until(&setup, "U bound", radius(1.0)).await;
    feed.write(&content(ADDR_A, 5, false));
    feed.write(&content(ADDR_A, 5, true));
    feed.write(&accounting(
        2,
        Some("u@isp.example"),
        "U-1",
        Some(ADDR_A),
        false,
    ));
    feed.until(&setup, "U unbound", radius(0.0)).await;

    // T' leases B by DHCPv4 (signalling in a VLAN), releases it (in QinQ).
    feed.write(&dhcp4(true, |f| f.vlan(100)));
    feed.until(&setup, "T' bound", bound(2.0)).await;
    feed.write(&content(ADDR_B, 11, false));
    feed.write(&dhcp4(false, |f| f.qinq(200).vlan(300)));
    feed.write(&content(ADDR_B, 12, false));
    feed.until(&setup, "T' released", |m| {
        metric(m, "calea_session_bindings{source=\"dhcp4\"}") == 0.0
    })
    .await;

    // T again; the NAS restarts (Accounting-On): its sessions end.
    feed.write(&accounting(
        1,
        Some("t@isp.example"),
        "T-2",
        Some(ADDR_A),
        false,
    ));
    feed.until(&setup, "T bound again", bound(3.0)).await;
    feed.write(&content(ADDR_A, 6, false));
    feed.write(&accounting(7, None, "on-1", None, false));
    feed.write(&content(ADDR_A, 7, false));
    feed.until(&setup, "Accounting-On applied", radius(0.0))
        .await;

    // T6 gets an address (IA_NA) and a /56 (IA_PD) by DHCPv6 through a relay.
    let dhcp6_bound =
        |n: f64| move |m: &str| metric(m, "calea_session_bindings{source=\"dhcp6\"}") == n;
    feed.write(&dhcp6(true, &DUID_T6, Some(NA6), Some(PD6), 3600));
    feed.until(&setup, "T6 bound", bound(5.0)).await;
    feed.write(&content(IN_PD6, 21, false));
    feed.write(&content(NA6, 22, false));
    feed.write(&content(IN_PD6, 23, true));
    // T6 releases both: nothing after, nor of U6, who is delegated the /56 next.
    feed.write(&dhcp6(false, &DUID_T6, Some(NA6), Some(PD6), 0));
    feed.write(&content(IN_PD6, 24, false));
    feed.write(&content(NA6, 25, true));
    feed.until(&setup, "T6 released", dhcp6_bound(0.0)).await;
    feed.write(&dhcp6(true, &DUID_U6, None, Some(PD6), 3600));
    feed.until(&setup, "U6 bound", dhcp6_bound(1.0)).await;
    feed.write(&content(IN_PD6, 26, false));
    feed.write(&content(IN_PD6, 26, true));

    // T once more, then the probe restarts in the middle of the session.
    feed.write(&accounting(
        1,
        Some("t@isp.example"),
        "T-3",
        Some(ADDR_A),
        false,
    ));
    feed.until(&setup, "T bound a third time", bound(6.0)).await;
    feed.write(&content(ADDR_A, 8, false));
    // T6 leases an address that lapses while the probe is down.
    let short = feed.write(&dhcp6(true, &DUID_T6, Some(NA6_SHORT), None, SHORT_LIFE));
    feed.until(&setup, "T6 bound again", bound(7.0)).await;
    feed.write(&content(NA6_SHORT, 27, false));
    let expect_before = [1, 2, 3, 6, 8];
    eventually(Duration::from_secs(30), || {
        (delivered(&setup, "LIID-T").len() >= expect_before.len()
            && delivered(&setup, "LIID-T6").len() >= 4)
            .then_some(())
    })
    .expect("T's and T6's content delivered");
    drop(feed);
    probe.stop();
    // Down until the short lease's end has passed (a time to reach, not a race).
    let lapse = std::time::UNIX_EPOCH
        + Duration::from_nanos(short)
        + Duration::from_secs(u64::from(SHORT_LIFE));
    if let Ok(left) = lapse.duration_since(std::time::SystemTime::now()) {
        std::thread::sleep(left + Duration::from_millis(100));
    }

    mkfifo(&setup.path("feed2.pcap"));
    let opening = Feed::open(&setup.path("feed2.pcap"));
    let probe = Probe::start(&setup.write_net_pcap_config("feed2.pcap", &config));
    let mut feed = opening.join().unwrap();
    // No signalling: the restored binding is in the tables before this packet.
    feed.write(&content(ADDR_A, 9, true));
    let expect_t = vec![1, 2, 3, 6, 8, 9];
    let got = eventually(Duration::from_secs(30), || {
        let got = delivered(&setup, "LIID-T");
        (got.len() >= expect_t.len()).then_some(got)
    })
    .expect("T's content after the restart");
    // Let a wrongly admitted packet arrive before the exact comparison.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(got, expect_t, "exactly T's packets during its bindings");
    assert_eq!(delivered(&setup, "LIID-T"), expect_t);
    assert_eq!(delivered(&setup, "LIID-T2"), vec![11]);
    assert_eq!(delivered(&setup, "LIID-T6"), vec![21, 22, 23, 27]);
    let resumed = |liid: &str, n: usize| {
        eventually(Duration::from_secs(30), || {
            let got = ipiri_records(&setup, liid);
            (got.len() >= n).then_some(got)
        })
        .expect("the IRI after the restart")
    };
    let t_iri = resumed("LIID-T", 7);
    assert_eq!(
        session_iri(&setup, "LIID-T"),
        [
            // IRI-Begin of the warrant: no session yet.
            "startwithsessionactive",
            "sessionstart",
            "sessionend",
            "sessionstart",
            "sessionexpired",
            "sessionstart",
            // The restarted probe resumes interception of T-3, in progress.
            "startwithsessionactive",
        ]
    );
    // It names the session as its sessionStart did: NAS, address, start time.
    for field in [
        "pOPIPAddress",
        "targetIPAddress",
        "startTime",
        "targetUsername",
    ] {
        assert_eq!(t_iri[6][field], t_iri[5][field], "{field}");
        assert!(!t_iri[6][field].is_null(), "{field}");
    }
    resumed("LIID-T6", 7);
    assert_eq!(
        session_iri(&setup, "LIID-T6"),
        [
            "startwithsessionactive",
            "sessionstart",
            "sessionstart",
            "sessionend",
            "sessionend",
            "sessionstart",
            // NA6_SHORT lapsed while the probe was down.
            "sessionexpired",
        ]
    );
    assert_eq!(
        session_iri(&setup, "LIID-T2"),
        ["startwithsessionactive", "sessionstart", "sessionend"]
    );
    drop(feed);
    probe.stop();
    setup.assert_audit_verifies();
    let audit = std::fs::read_to_string(setup.path("audit.jsonl")).unwrap();
    assert!(
        audit.contains("bad_authenticator"),
        "the forged Stop is audited"
    );
}
