//! Issue #27's legal test, end to end: a real daemon reading a capture through
//! a FIFO (so each stage's signalling is applied before its content is written),
//! through TLS into the real `calea-collector`. Subscriber warrants (username,
//! dhcp-client-mac) follow RADIUS and DHCPv4 bindings: the collector gets
//! exactly the target's packets during its bindings, none of the subscriber who
//! gets the address next, none after a Stop, a RELEASE or an Accounting-On,
//! the same after a forged Stop (bad authenticator) as before; signalling in
//! VLAN and QinQ; a restarted probe keeps intercepting without new signalling.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod daemon_harness;

use std::net::Ipv4Addr;
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

/// A content frame of the subscriber at `addr`, tagged by its UDP destination port.
fn content(addr: Ipv4Addr, tag: u16, to_subscriber: bool) -> Vec<u8> {
    let (src, dst) = if to_subscriber {
        (PEER, addr)
    } else {
        (addr, PEER)
    };
    Frame::ethernet(MAC_T2, MAC_NAS)
        .ipv4(src, dst)
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
                .map(|(_, p)| u16::from_be_bytes([p[22], p[23]]))
                .collect()
        })
        .unwrap_or_default()
}

/// The session IRI of `liid`, in order, as lower-case event names
/// (`sessionstart`, `sessionexpired`, ...).
fn session_iri(setup: &Setup, liid: &str) -> Vec<String> {
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
            let event = access_event(ipiri(&v)?)?;
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
        "{dest}\n[sessions]\ndhcp_servers = [\"{DHCP_SERVER}\"]\ndhcp_relays = [\"{RELAY}\"]\n\
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

    // T once more, then the probe restarts in the middle of the session.
    feed.write(&accounting(
        1,
        Some("t@isp.example"),
        "T-3",
        Some(ADDR_A),
        false,
    ));
    feed.until(&setup, "T bound a third time", bound(4.0)).await;
    feed.write(&content(ADDR_A, 8, false));
    let expect_before = [1, 2, 3, 6, 8];
    eventually(Duration::from_secs(30), || {
        (delivered(&setup, "LIID-T").len() >= expect_before.len()).then_some(())
    })
    .expect("T's content delivered");
    drop(feed);
    probe.stop();

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
