//! The target's own packet, not the carrier's tunnel: for every encapsulation
//! the synth builder makes, a frame is classified by the real tables, handed
//! off by the real producer and delivered by the engine through ETSI
//! (to the real `calea-collector`), X2/X3 (likewise) and a `pcap-dir`
//! destination. Packet by packet, content is exactly the target's IP packet,
//! a header report exactly its headers (never a payload byte, fields of the
//! inner layer), and `content_scope = "as-captured"` the whole frame as
//! captured (X2/X3 "Ethernet frame", pcap-dir likewise: content-eth.pcap; a
//! PS-PDU cannot carry it: counted and audited as lost). tshark reads every content.pcap as raw IP
//! and decodes the target's addresses. A MAC target's frame with no IP packet
//! is delivered as that Ethernet frame (its Ethernet header in headers mode).
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod delivery_common;
mod encode_support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use control::handover::etsi102232::json_ip;
use control::model::{ContentScope, Destination, DestinationFormat};
use dataplane::handoff::{Layer, RxFrame};
use dataplane::parse::{dissect, Dissection};
use dataplane::synth::Frame;
use dataplane::targets::{
    replicas, InterceptSpec, Matches, Mode, Slot, TableReplica, Target, Update,
};
use delivery_common::*;
use pcap_file::DataLink;

const TS0: u64 = 1_700_000_000_000_000_000;
const A: [u8; 6] = [2, 0, 0, 0, 0, 1];
const B: [u8; 6] = [2, 0, 0, 0, 0, 2];
const T4: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 7);
const P4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);

fn t6() -> Ipv6Addr {
    "2001:db8:7::7".parse().unwrap()
}
fn p6() -> Ipv6Addr {
    "2001:db8:9::9".parse().unwrap()
}
fn o4(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, i)
}
fn o6(i: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, i)
}

/// The target's packet: what follows the carrier's headers.
#[derive(Clone, Copy)]
enum Inner {
    /// IPv4 from the target, TCP.
    V4,
    /// IPv6 to the target, TCP.
    V6,
    /// IPv6 to the target with a hop-by-hop header, TCP.
    V6Ext,
}

impl Inner {
    fn add(self, f: Frame) -> Frame {
        match self {
            Inner::V4 => f.ipv4(T4, P4).tcp(40000, 443),
            Inner::V6 => f.ipv6(p6(), t6()).tcp(443, 40001),
            Inner::V6Ext => f.ipv6(p6(), t6()).hop_by_hop().tcp(443, 40002),
        }
        .payload(MARKER)
    }

    /// The packet alone, as the target sent or received it.
    fn packet(self) -> Vec<u8> {
        self.add(Frame::ethernet(A, B)).build()[14..].to_vec()
    }

    /// (source, destination) of the target's packet.
    fn addrs(self) -> (IpAddr, IpAddr) {
        match self {
            Inner::V4 => (T4.into(), P4.into()),
            Inner::V6 | Inner::V6Ext => (p6().into(), t6().into()),
        }
    }
}

/// Every encapsulation the synth builder makes, around each kind of packet.
fn cases() -> Vec<(&'static str, Frame, Inner)> {
    let e = || Frame::ethernet(A, B);
    let mut v = vec![
        ("plain", e(), Inner::V4),
        ("plain ipv6", e(), Inner::V6),
        ("vlan", e().vlan(100), Inner::V4),
        ("qinq", e().qinq(20).vlan(30), Inner::V4),
        ("mpls", e().mpls(&[16, 17]), Inner::V4),
        ("mpls ipv6", e().mpls(&[16]), Inner::V6),
        ("pppoe", e().pppoe(7), Inner::V4),
        ("pppoe ipv6", e().pppoe(7), Inner::V6),
        ("gre", e().ipv4(o4(1), o4(2)).gre(), Inner::V4),
        (
            "gre key over ipv6",
            e().ipv6(o6(1), o6(2)).gre_with(true, Some(5), None),
            Inner::V6,
        ),
        (
            "erspan1",
            e().ipv4(o4(3), o4(4)).erspan1().inner_ethernet(B, A),
            Inner::V4,
        ),
        (
            "erspan2",
            e().ipv4(o4(3), o4(4)).erspan2(3).inner_ethernet(B, A),
            Inner::V4,
        ),
        (
            "erspan3",
            e().ipv4(o4(3), o4(4)).erspan3(4, true).inner_ethernet(B, A),
            Inner::V6,
        ),
        (
            "vxlan",
            e().ipv4(o4(5), o4(6)).vxlan(42).inner_ethernet(A, B),
            Inner::V4,
        ),
        (
            "vxlan over ipv6, vlan inside",
            e().ipv6(o6(3), o6(4))
                .vxlan(43)
                .inner_ethernet(A, B)
                .vlan(7),
            Inner::V6,
        ),
        ("gtpu", e().ipv4(o4(7), o4(8)).gtpu(0x1234), Inner::V4),
        (
            "gtpu with extension",
            e().ipv4(o4(7), o4(8)).gtpu_with(0x1235, Some(9), 1),
            Inner::V4,
        ),
        (
            "gtpu ipv6 inside",
            e().ipv4(o4(7), o4(8)).gtpu(0x1236),
            Inner::V6,
        ),
        (
            "gtpu over ipv6",
            e().ipv6(o6(5), o6(6)).gtpu(0x1237),
            Inner::V4,
        ),
        (
            "gtpu, extension headers inside",
            e().ipv4(o4(7), o4(8)).gtpu(0x1238),
            Inner::V6Ext,
        ),
        ("ip in ip", e().ipv4(o4(9), o4(10)), Inner::V4),
        ("6in4", e().ipv4(o4(9), o4(10)), Inner::V6),
        ("4in6", e().ipv6(o6(7), o6(8)), Inner::V4),
        (
            "pseudowire",
            e().mpls(&[16, 17]).inner_ethernet(A, B),
            Inner::V4,
        ),
        (
            "pseudowire with control word",
            e().mpls(&[16, 17]).pw_control_word().inner_ethernet(A, B),
            Inner::V4,
        ),
        (
            "pseudowire ipv6",
            e().mpls(&[18]).pw_control_word().inner_ethernet(A, B),
            Inner::V6,
        ),
    ];
    v.push(("plain, extension headers", e(), Inner::V6Ext));
    v
}

/// Intercepts: (key, mode, destination, LIID); all of the same two targets.
const ROUTES: [(u32, Mode, &str, &str); 3] = [
    (1, Mode::Content, "cc", "LIID-CC-1"),
    (2, Mode::Headers, "hdr", "LIID-HDR-2"),
    (3, Mode::Content, "raw", "LIID-RAW-3"),
];

fn tables() -> TableReplica {
    let (mut w, mut r) = replicas(1, 1024);
    let mut r = r.remove(0);
    let mut ups = Vec::new();
    for (slot, (key, mode, _, _)) in (0u16..).zip(ROUTES) {
        let slot = Slot(slot);
        ups.push(Update::SetIntercept {
            slot,
            spec: InterceptSpec::always_open(key, mode),
        });
        for target in [Target::Ipv4(T4), Target::Ipv6(t6())] {
            ups.push(Update::AddTarget { slot, target });
        }
    }
    let e = w.send(&ups);
    while r.epoch() < e {
        r.apply_pending(64);
    }
    r
}

/// Where one output's three destinations write (each alone in its directory,
/// so the test does not depend on how a LIID or XID names it).
struct Output {
    dests: Vec<Destination>,
    outs: Vec<PathBuf>,
    collectors: Vec<CollectorProc>,
    /// PS-PDU (and pcap-dir) header reports are rebuilt from IPIRIOnly fields.
    rebuilt: bool,
}

fn output(format: DestinationFormat, tmp: &Path, pki: &Pki) -> Output {
    let mut o = Output {
        dests: Vec::new(),
        outs: Vec::new(),
        collectors: Vec::new(),
        rebuilt: format != DestinationFormat::X2x3,
    };
    for (_, _, name, _) in ROUTES {
        let out = tmp.join(format!("out-{name}"));
        let mut dest = if format == DestinationFormat::PcapDir {
            pcap_dir(name, &out)
        } else {
            let c = CollectorProc::start(pki, &out, 0);
            let d = destination(name, &c.addr, format, pki, &tmp.join("spool"));
            o.collectors.push(c);
            d
        };
        if name == "raw" {
            dest.content_scope = ContentScope::AsCaptured;
        }
        o.dests.push(dest);
        o.outs.push(out);
    }
    o
}

/// The only LIID (or XID) directory in `out`: the one intercept's files.
fn only_dir(out: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(out.join("liid"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.into_iter().next().unwrap()
}

/// What an IPIRIOnly report can rebuild of `packet`'s headers: IPv6
/// extension headers are not carried (the base header then names the
/// transport).
fn rebuilt_headers(packet: &[u8], headers: usize, inner: Inner) -> Vec<u8> {
    match inner {
        Inner::V6Ext => {
            let mut h = packet[..40].to_vec();
            h[6] = 6;
            h.extend_from_slice(&packet[48..headers]);
            h
        }
        Inner::V4 | Inner::V6 => packet[..headers].to_vec(),
    }
}

/// tshark's link type and fields of every packet of `pcap`.
fn tshark(pcap: &Path) -> Vec<Vec<String>> {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(pcap)
        .args(["-T", "fields", "-E", "separator=|"])
        .args(["-e", "frame.protocols", "-e", "ip.src", "-e", "ip.dst"])
        .args(["-e", "ipv6.src", "-e", "ipv6.dst", "-e", "tcp.srcport"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split('|').map(str::to_owned).collect())
        .collect()
}

fn delivers_the_target_packet(format: DestinationFormat) {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(tmp.path());
    let out = output(format, tmp.path(), &pki);
    let (engine, mut producer, trail) = start_engine(out.dests.clone(), 256);
    for (key, mode, dest, liid) in ROUTES {
        engine.add_route(route(key, liid, mode, dest, T4));
    }
    let tables = tables();
    let mut d = Dissection::default();
    let mut matches = Matches::new();
    let cases = cases();
    let mut frames = Vec::new();
    for (i, (name, carrier, inner)) in cases.iter().enumerate() {
        let frame = inner.add(carrier.clone()).build();
        let packet = inner.packet();
        assert!(frame.ends_with(&packet), "{name}: the builder's packet");
        dissect(&frame, &mut d).unwrap();
        tables.classify(&d, 1, &mut matches);
        let innermost = Layer::Ip(u8::try_from(d.ips().count() - 1).unwrap());
        assert_eq!(matches.len(), ROUTES.len(), "{name}");
        assert!(
            matches.as_slice().iter().all(|m| m.layer == innermost),
            "{name}: {:?}",
            matches.as_slice()
        );
        let ts = TS0 + i as u64 * 1_000;
        let pushed = producer.push(RxFrame::whole(&frame), &d, matches.as_slice(), ts, 0);
        assert_eq!(pushed.dropped, 0);
        frames.push((ts, frame, packet));
    }
    let n = cases.len() as u64;
    // A PS-PDU has no frame CC: as-captured delivers nothing over ETSI.
    let frames_carried = format != DestinationFormat::Etsi102232;
    wait_for(60, "every record delivered", || {
        engine.stats().destinations.iter().all(|s| {
            s.pdus
                == if s.name == "raw" && !frames_carried {
                    0
                } else {
                    n
                }
        })
    });
    engine.shutdown(Duration::from_secs(30));
    for c in out.collectors {
        c.stop();
    }
    let [cc, hdr] = [0, 1].map(|i| only_dir(&out.outs[i]));

    // Content: the target's packet, byte for byte.
    let got = read_pcap(&cc.join("content.pcap"));
    assert_eq!(got.len(), frames.len());
    for ((name, _, _), ((ts, _, packet), (gts, data, orig))) in
        cases.iter().zip(frames.iter().zip(&got))
    {
        assert_eq!((gts, data), (ts, packet), "{name}: content");
        assert_eq!(*orig as usize, packet.len(), "{name}");
    }
    // As captured: the whole frame, from its first Ethernet byte.
    if frames_carried {
        let raw = only_dir(&out.outs[2]);
        let got = read_pcap_of(&raw.join("content-eth.pcap"), DataLink::ETHERNET);
        assert_eq!(got.len(), frames.len());
        for ((name, _, _), ((_, frame, _), (_, data, orig))) in
            cases.iter().zip(frames.iter().zip(&got))
        {
            assert_eq!(data, frame, "{name}: as captured");
            assert_eq!(*orig as usize, frame.len(), "{name}");
        }
        assert!(read_pcap(&raw.join("content.pcap")).is_empty());
    } else {
        assert_lost_audited(&trail, "raw", n);
    }
    // Header reports: the target's packet's headers, never a payload byte.
    let got = read_pcap(&hdr.join("headers.pcap"));
    assert_eq!(got.len(), frames.len());
    for ((name, _, inner), ((_, _, packet), (_, data, orig))) in
        cases.iter().zip(frames.iter().zip(&got))
    {
        let headers = packet.len() - MARKER.len();
        let want = if out.rebuilt {
            rebuilt_headers(packet, headers, *inner)
        } else {
            packet[..headers].to_vec()
        };
        assert_eq!(data, &want, "{name}: headers");
        assert_eq!(*orig as usize, packet.len(), "{name}: original length");
    }
    for name in ["headers.pcap", "iri.jsonl"] {
        let raw = std::fs::read(hdr.join(name)).unwrap_or_default();
        assert!(
            !raw.windows(MARKER.len()).any(|w| w == MARKER),
            "payload in {name}"
        );
    }
    if out.rebuilt {
        // IPIRIOnly fields of the inner layer.
        let reports: Vec<serde_json::Value> = std::fs::read_to_string(hdr.join("iri.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .filter(|l: &serde_json::Value| l["type"] == "report")
            .collect();
        assert_eq!(reports.len(), cases.len());
        for ((name, _, inner), r) in cases.iter().zip(&reports) {
            let (src, dst) = inner.addrs();
            let ip = |field| json_ip(&r["record"], field);
            assert_eq!(
                (ip("source"), ip("destination")),
                (Some(src), Some(dst)),
                "{name}"
            );
            assert_eq!(r["record"]["transport"], "tcp", "{name}");
        }
    }
    if encode_support::external("tshark", &["--version"]) {
        // Raw IP, read without a guess: every packet decodes as the target's.
        let got = tshark(&cc.join("content.pcap"));
        assert_eq!(got.len(), cases.len());
        for ((name, _, inner), fields) in cases.iter().zip(&got) {
            let (src, dst) = inner.addrs();
            let (proto, s, d) = match src {
                IpAddr::V4(_) => ("raw:ip:tcp", &fields[1], &fields[2]),
                IpAddr::V6(_) => ("raw:ipv6", &fields[3], &fields[4]),
            };
            assert!(fields[0].starts_with(proto), "{name}: {fields:?}");
            assert!(fields[0].contains(":tcp"), "{name}: {fields:?}");
            assert_eq!(
                (s.as_str(), d.as_str()),
                (&*src.to_string(), &*dst.to_string()),
                "{name}"
            );
        }
    }
}

#[test]
fn etsi_delivers_the_target_packet_of_every_encapsulation() {
    delivers_the_target_packet(DestinationFormat::Etsi102232);
}

#[test]
fn x2x3_delivers_the_target_packet_of_every_encapsulation() {
    delivers_the_target_packet(DestinationFormat::X2x3);
}

#[test]
fn pcap_dir_delivers_the_target_packet_of_every_encapsulation() {
    delivers_the_target_packet(DestinationFormat::PcapDir);
}

/// `dest` audited `n` records as lost (the engine has shut down, so every
/// pending loss record is written).
fn assert_lost_audited(trail: &AuditTrail, dest: &str, n: u64) {
    let lost: u64 = trail
        .lock()
        .unwrap()
        .iter()
        .filter(|(action, object, _)| action == "delivery_data_lost" && object == dest)
        .map(|(_, _, d)| d["lost_chunks"].as_u64().unwrap())
        .sum();
    assert_eq!(lost, n, "{dest}: audited losses");
}

/// An ARP request from `A`, in `vlans` 802.1Q tags: no IP packet inside.
fn arp(vlans: u16) -> (Vec<u8>, usize) {
    let mut f = [B, A].concat();
    for vid in 0..vlans {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&(100 + vid).to_be_bytes());
    }
    f.extend_from_slice(&[0x08, 0x06]);
    let header = f.len();
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&A);
    f.extend_from_slice(&[192, 0, 2, 1]);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&[192, 0, 2, 2]);
    f.extend_from_slice(MARKER);
    (f, header)
}

fn delivers_a_mac_targets_frame(format: DestinationFormat) {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(tmp.path());
    let out = output(format, tmp.path(), &pki);
    let (engine, mut producer, trail) = start_engine(out.dests.clone(), 256);
    for (key, mode, dest, liid) in ROUTES {
        engine.add_route(route(key, liid, mode, dest, T4));
    }
    let (mut w, mut r) = replicas(1, 1024);
    let mut tables = r.remove(0);
    let mut ups = Vec::new();
    for (slot, (key, mode, _, _)) in (0u16..).zip(ROUTES) {
        let slot = Slot(slot);
        ups.push(Update::SetIntercept {
            slot,
            spec: InterceptSpec::always_open(key, mode),
        });
        ups.push(Update::AddTarget {
            slot,
            target: Target::Mac(A),
        });
    }
    let e = w.send(&ups);
    while tables.epoch() < e {
        tables.apply_pending(64);
    }
    let mut d = Dissection::default();
    let mut matches = Matches::new();
    let frames: Vec<(u64, Vec<u8>, usize)> = (0..3)
        .map(|vlans| {
            let (frame, header) = arp(vlans);
            dissect(&frame, &mut d).unwrap();
            tables.classify(&d, 1, &mut matches);
            assert_eq!(matches.len(), ROUTES.len(), "{vlans} tags");
            let ts = TS0 + u64::from(vlans) * 1_000;
            let pushed = producer.push(RxFrame::whole(&frame), &d, matches.as_slice(), ts, 0);
            assert_eq!(pushed.dropped, 0);
            (ts, frame, header)
        })
        .collect();
    let n = frames.len() as u64;
    let carried = format != DestinationFormat::Etsi102232;
    wait_for(60, "every record handled", || {
        let s = engine.stats();
        s.destinations
            .iter()
            .all(|s| s.pdus == if carried { n } else { 0 })
    });
    let want_lost = if carried { 0 } else { n };
    engine.shutdown(Duration::from_secs(30));
    for c in out.collectors {
        c.stop();
    }
    for (_, _, name, _) in ROUTES {
        assert_lost_audited(&trail, name, want_lost);
    }
    if !carried {
        return;
    }
    let [cc, hdr, raw] = [0, 1, 2].map(|i| only_dir(&out.outs[i]));
    for dir in [&cc, &raw] {
        let got = read_pcap_of(&dir.join("content-eth.pcap"), DataLink::ETHERNET);
        let want: Vec<_> = frames
            .iter()
            .map(|(ts, f, _)| (*ts, f.clone(), f.len() as u32))
            .collect();
        assert_eq!(got, want, "{}", dir.display());
    }
    // Headers mode: the Ethernet header with its tags, never a byte past it.
    let got = read_pcap_of(&hdr.join("headers-eth.pcap"), DataLink::ETHERNET);
    let want: Vec<_> = frames
        .iter()
        .map(|(ts, f, h)| (*ts, f[..*h].to_vec(), f.len() as u32))
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        want.iter().map(|(_, h, _)| h.len()).collect::<Vec<_>>(),
        [14, 18, 22]
    );
    for entry in std::fs::read_dir(&hdr).unwrap() {
        let raw = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!raw.windows(MARKER.len()).any(|w| w == MARKER));
    }
    if encode_support::external("tshark", &["--version"]) {
        let got = tshark(&cc.join("content-eth.pcap"));
        assert_eq!(got.len(), frames.len());
        assert!(
            got.iter()
                .all(|f| f[0].starts_with("eth:") && f[0].contains("arp")),
            "{got:?}"
        );
    }
}

#[test]
fn x2x3_delivers_a_mac_targets_frame_without_ip() {
    delivers_a_mac_targets_frame(DestinationFormat::X2x3);
}

#[test]
fn etsi_counts_and_audits_a_frame_it_cannot_carry() {
    delivers_a_mac_targets_frame(DestinationFormat::Etsi102232);
}

#[test]
fn pcap_dir_delivers_a_mac_targets_frame_without_ip() {
    delivers_a_mac_targets_frame(DestinationFormat::PcapDir);
}
