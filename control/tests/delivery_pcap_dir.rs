//! Engine → `pcap-dir` destination: per LIID content.pcap, headers.pcap and
//! iri.jsonl on this machine, through the same routing, numbering and Begin/End
//! as a network destination, and numbering that continues across a restart.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod delivery_common;

use std::path::Path;
use std::time::Duration;

use control::collector::liid_dir;
use dataplane::targets::{Direction, Mode};
use delivery_common::*;

const TS0: u64 = 1_700_000_000_000_000_000;

/// (timestamp, frame) of every record pushed.
type Records = Vec<(u64, Vec<u8>)>;

fn iri(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("iri.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// One engine run: Begin, `n` records from `first`, End. Returns (cc, hdr) frames.
fn run(out: &Path, first: u32, n: u32) -> (Records, Records) {
    let (engine, mut producer, _trail) = start_engine(vec![pcap_dir("local", out)], 512);
    engine.add_route(route(1, "LIID-CC-1", Mode::Content, "local", TARGET_CC));
    engine.add_route(route(2, "LIID-HDR-2", Mode::Headers, "local", TARGET_HDR));
    engine.intercept_started(1, TS0);
    engine.intercept_started(2, TS0);
    let (mut cc, mut hdr) = (Vec::new(), Vec::new());
    for i in first..first + n {
        let ts = TS0 + u64::from(i) * 1_000;
        let dir = if i % 2 == 0 {
            Direction::FromTarget
        } else {
            Direction::ToTarget
        };
        if i % 3 == 2 {
            let f = frame(i, TARGET_HDR, i as usize % 700);
            push(&mut producer, &f, 2, Mode::Headers, dir, ts);
            hdr.push((ts, f));
        } else {
            let f = frame(i, TARGET_CC, 40 + i as usize * 5 % 1400);
            push(&mut producer, &f, 1, Mode::Content, dir, ts);
            cc.push((ts, f));
        }
    }
    engine.intercept_ended(1, TS0 + 2_000_000_000);
    engine.intercept_ended(2, TS0 + 2_000_000_000);
    wait_for(60, "all records written", || {
        let s = engine.stats();
        s.destinations[0].pdus == u64::from(n) + 4
    });
    let s = engine.stats();
    assert_eq!(s.destinations[0].name, "local");
    assert_eq!(s.destinations[0].lost_chunks, 0);
    assert!(s.destinations[0].bytes_sent > 0);
    engine.shutdown(Duration::from_secs(30));
    (cc, hdr)
}

#[test]
fn pcap_dir_writes_every_record_per_liid_across_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let (mut cc, mut hdr) = run(&out, 0, 300);
    let (cc2, hdr2) = run(&out, 300, 90);
    cc.extend(cc2);
    hdr.extend(hdr2);

    let cc_dir = liid_dir(&out, "LIID-CC-1");
    let got = read_pcap(&cc_dir.join("content.pcap"));
    assert_eq!(got.len(), cc.len());
    for ((ts, f), (gts, data, orig)) in cc.iter().zip(&got) {
        let (l3, _) = expected(f);
        assert_eq!((*gts, data.as_slice()), (*ts, &f[l3..]));
        assert_eq!(*orig as usize, f.len() - l3);
    }
    let hdr_dir = liid_dir(&out, "LIID-HDR-2");
    let got = read_pcap(&hdr_dir.join("headers.pcap"));
    assert_eq!(got.len(), hdr.len());
    for ((ts, f), (gts, data, orig)) in hdr.iter().zip(&got) {
        let (l3, hl) = expected(f);
        assert_eq!((*gts, data.as_slice()), (*ts, &f[l3..hl]));
        assert_eq!(*orig as usize, f.len() - l3);
    }
    for name in ["headers.pcap", "iri.jsonl"] {
        let raw = std::fs::read(hdr_dir.join(name)).unwrap();
        assert!(
            !raw.windows(MARKER.len()).any(|w| w == MARKER),
            "payload in {name}"
        );
    }
    assert!(read_pcap(&hdr_dir.join("content.pcap")).is_empty());
    // Begin/End of both runs, numbered on from the first run: no reuse, no gap.
    for (dir, n1, n2) in [(&cc_dir, 200u64, 60u64), (&hdr_dir, 100, 30)] {
        let kinds: Vec<(String, u64)> = iri(dir)
            .iter()
            .filter(|l| l["type"] != "report")
            .map(|l| {
                (
                    l["type"].as_str().unwrap().to_owned(),
                    l["sequence"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("begin".to_owned(), 0),
                ("end".to_owned(), n1 + 1),
                ("begin".to_owned(), n1 + 2),
                ("end".to_owned(), n1 + n2 + 3),
            ]
        );
        let journal = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap();
        let last: serde_json::Value =
            serde_json::from_str(journal.lines().last().unwrap()).unwrap();
        assert_eq!(last["summary"]["gaps"], 0, "{last}");
        assert_eq!(last["summary"]["duplicates"], 0, "{last}");
        assert_eq!(last["summary"]["pdus"], n1 + n2 + 4, "{last}");
    }
}

/// Header reports of a GTP-U tunnel (IPv4 in IPv4/UDP/GTP-U), of IPv6/UDP and of
/// IPv4 with options/TCP with options, through the engine to a pcap-dir: a PS-PDU
/// report describes the innermost IP packet (the one whose transport header ends
/// the headers), and headers.pcap holds exactly that packet's IP+transport headers
/// with its original length.
#[test]
fn header_reports_describe_the_innermost_packet_exactly() {
    use dataplane::synth::Frame;
    use std::net::{Ipv4Addr, Ipv6Addr};
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let (engine, mut producer, _trail) = start_engine(vec![pcap_dir("local", &out)], 64);
    engine.add_route(route(3, "LIID-TUN-3", Mode::Headers, "local", TARGET_HDR));
    let eth = || Frame::ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let peer = Ipv4Addr::new(203, 0, 113, 5);
    let v6 = |last: u16| Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last);
    let frames = [
        eth()
            .ipv4(Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2))
            .gtpu(0x1234)
            .ipv4(TARGET_HDR, peer)
            .tcp(40000, 443)
            .payload(MARKER)
            .build(),
        eth()
            .ipv6(v6(1), v6(2))
            .udp(5060, 5061)
            .payload(MARKER)
            .build(),
        eth()
            .ipv4(peer, TARGET_HDR)
            .options(8)
            .tcp(443, 40000)
            .options(12)
            .payload(MARKER)
            .build(),
    ];
    // Offset of the reported (innermost) IP header in each frame.
    let inner = [14 + 20 + 8 + 8, 14, 14];
    for (i, f) in frames.iter().enumerate() {
        push(
            &mut producer,
            f,
            3,
            Mode::Headers,
            Direction::ToTarget,
            TS0 + i as u64 * 1_000,
        );
    }
    wait_for(60, "reports written", || {
        engine.stats().destinations[0].pdus == 3
    });
    engine.shutdown(Duration::from_secs(30));
    let got = read_pcap(&liid_dir(&out, "LIID-TUN-3").join("headers.pcap"));
    assert_eq!(got.len(), frames.len());
    for (((f, at), (ts, data, orig)), i) in frames.iter().zip(inner).zip(&got).zip(0u64..) {
        let (_, hl) = expected(f);
        assert_eq!(*ts, TS0 + i * 1_000);
        assert_eq!(data.as_slice(), &f[at..hl], "frame {i}");
        assert_eq!(*orig as usize, f.len() - at, "frame {i}");
        assert!(!data.windows(MARKER.len()).any(|w| w == MARKER));
    }
    let reports = iri(&liid_dir(&out, "LIID-TUN-3"));
    assert_eq!(reports[0]["record"]["source"], TARGET_HDR.to_string());
    assert_eq!(reports[0]["record"]["destinationPort"], 443);
    assert_eq!(reports[1]["record"]["transport"], "udp");
    assert_eq!(
        reports[2]["record"]["ipOptions"].as_str().unwrap().len(),
        16
    );
    assert_eq!(
        reports[2]["record"]["tcpOptions"].as_str().unwrap().len(),
        24
    );
}
