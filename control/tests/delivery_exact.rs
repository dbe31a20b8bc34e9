//! Engine → TLS → real `calea-collector`: every record arrives exactly once, in
//! order, with contiguous sequence numbers; CC bytes equal the input IP packets;
//! header reports carry no payload byte and the right original length; IRI has
//! begin and end.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod delivery_common;

use std::time::Duration;

use control::collector::liid_dir;
use control::model::DestinationFormat;
use dataplane::targets::{Direction, Mode};
use delivery_common::*;

const TS0: u64 = 1_700_000_000_000_000_000;

fn dir_name(format: DestinationFormat, key: u32, liid: &str) -> String {
    match format {
        DestinationFormat::X2x3 => route(key, liid, Mode::Content, "x", TARGET_CC)
            .xid
            .to_string(),
        _ => liid.to_owned(),
    }
}

fn delivers_everything_exactly_once(format: DestinationFormat) {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(tmp.path());
    let out = tmp.path().join("out");
    let collector = CollectorProc::start(&pki, &out, 0);
    let dest = destination(
        "lea",
        &collector.addr,
        format,
        &pki,
        &tmp.path().join("spool"),
    );
    let (engine, mut producer, trail) = start_engine(vec![dest], 512);
    engine.add_route(route(1, "LIID-CC-1", Mode::Content, "lea", TARGET_CC));
    engine.add_route(route(2, "LIID-HDR-2", Mode::Headers, "lea", TARGET_HDR));
    engine.intercept_started(1, TS0);
    engine.intercept_started(2, TS0);
    let n = 600u32;
    let mut cc = Vec::new();
    let mut hdr = Vec::new();
    for i in 0..n {
        // X2/X3 carries nanoseconds, a PS-PDU microseconds: both must come back exactly.
        let ns = if format == DestinationFormat::X2x3 {
            u64::from(i % 997)
        } else {
            0
        };
        let ts = TS0 + u64::from(i) * 1_000 + ns;
        let dir = if i % 2 == 0 {
            Direction::FromTarget
        } else {
            Direction::ToTarget
        };
        if i % 4 == 3 {
            let f = frame(i, TARGET_HDR, 40 + (i as usize % 900));
            push(&mut producer, &f, 2, Mode::Headers, dir, ts);
            hdr.push((ts, f));
        } else {
            let f = frame(i, TARGET_CC, 40 + (i as usize * 7 % 1400));
            push(&mut producer, &f, 1, Mode::Content, dir, ts);
            cc.push((ts, f));
        }
    }
    engine.intercept_ended(1, TS0 + 1_000_000_000);
    engine.intercept_ended(2, TS0 + 1_000_000_000);
    wait_for(60, "link up", || engine.stats().destinations[0].connected);
    let stats = engine.stats();
    engine.shutdown(Duration::from_secs(30));
    let summary = collector.stop();
    assert_eq!(stats.skipped_no_ip, 0);
    assert_eq!(stats.unrouted, 0);

    let (cc_id, hdr_id) = (
        dir_name(format, 1, "LIID-CC-1"),
        dir_name(format, 2, "LIID-HDR-2"),
    );
    let (cc_dir, hdr_dir) = (liid_dir(&out, &cc_id), liid_dir(&out, &hdr_id));
    let s_cc = &summary["liids"][&cc_id];
    let s_hdr = &summary["liids"][&hdr_id];
    assert_eq!(s_cc["iri"], 2);
    assert_eq!(s_hdr["iri"], 2);
    assert_eq!(s_cc["pdus"], cc.len() as u64 + 2, "{summary}");
    assert_eq!(s_cc["content_packets"], cc.len() as u64);
    assert_eq!(s_cc["gaps"], 0);
    assert_eq!(s_cc["duplicates"], 0);
    assert_eq!(s_hdr["pdus"], hdr.len() as u64 + 2);
    assert_eq!(s_hdr["header_reports"], hdr.len() as u64);
    assert_eq!(s_hdr["gaps"], 0);
    assert_eq!(summary["decode_errors"], 0);

    // Content: byte for byte, in order, original timestamps.
    let got = read_pcap(&cc_dir.join("content.pcap"));
    assert_eq!(got.len(), cc.len());
    for ((ts, f), (gts, data, orig)) in cc.iter().zip(&got) {
        let (l3, _) = expected(f);
        assert_eq!(*gts, *ts);
        assert_eq!(data.as_slice(), &f[l3..]);
        assert_eq!(*orig as usize, f.len() - l3);
    }
    // Headers: never the payload marker anywhere in the LIID's output.
    for f in ["headers.pcap", "iri.jsonl", "content.pcap"] {
        if let Ok(raw) = std::fs::read(hdr_dir.join(f)) {
            assert!(
                !raw.windows(MARKER.len()).any(|w| w == MARKER),
                "payload leaked in {f}"
            );
        }
    }
    assert!(
        !hdr_dir.join("content.pcap").exists()
            || read_pcap(&hdr_dir.join("content.pcap")).is_empty()
    );
    let iri = |dir: &std::path::Path| -> Vec<serde_json::Value> {
        std::fs::read_to_string(dir.join("iri.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    // Both formats: headers.pcap holds exactly the IP+transport headers of each
    // input packet (X2: the octets; PS-PDU: rebuilt from the IPIRIOnly fields),
    // the original IP length and the original timestamp.
    let got = read_pcap(&hdr_dir.join("headers.pcap"));
    assert_eq!(got.len(), hdr.len());
    for ((ts, f), (gts, data, orig)) in hdr.iter().zip(&got) {
        let (l3, hl) = expected(f);
        assert_eq!(*gts, *ts);
        assert_eq!(data.as_slice(), &f[l3..hl]);
        assert_eq!(*orig as usize, f.len() - l3);
    }
    if format == DestinationFormat::Etsi102232 {
        // The PS-PDU report is in iri.jsonl as well.
        let reports: Vec<_> = iri(&hdr_dir)
            .into_iter()
            .filter(|l| l["type"] == "report")
            .collect();
        assert_eq!(reports.len(), hdr.len());
        for ((ts, f), r) in hdr.iter().zip(&reports) {
            let (l3, _) = expected(f);
            assert_eq!(r["timestamp_ns"], *ts);
            assert_eq!(
                r["record"]["iPAggregatedNbrOfBytes"],
                (f.len() - l3) as u64,
                "{r}"
            );
            assert_eq!(r["record"]["destinationPort"], 443);
        }
    }
    // IRI: begin then end, sequence 0 and last.
    for (dir, count) in [(&cc_dir, cc.len()), (&hdr_dir, hdr.len())] {
        let lines: Vec<_> = iri(dir)
            .into_iter()
            .filter(|l| l["type"] != "report")
            .collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(
            (&lines[0]["type"], &lines[0]["sequence"]),
            (&"begin".into(), &0.into())
        );
        assert_eq!(
            (&lines[1]["type"], &lines[1]["sequence"]),
            (&"end".into(), &(count as u64 + 1).into())
        );
    }
    let actions: Vec<String> = trail.lock().unwrap().iter().map(|a| a.0.clone()).collect();
    assert!(
        actions.contains(&"delivery_connect".to_owned()),
        "{actions:?}"
    );
}

#[test]
fn etsi_102232_delivers_everything_exactly_once() {
    delivers_everything_exactly_once(DestinationFormat::Etsi102232);
}

#[test]
fn x2x3_delivers_everything_exactly_once() {
    delivers_everything_exactly_once(DestinationFormat::X2x3);
}

#[test]
fn plaintext_only_when_explicitly_allowed_and_audited() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(tmp.path());
    let out = tmp.path().join("out");
    let collector = CollectorProc::start_plaintext(&out, 0);
    let mut dest = destination(
        "lab",
        &collector.addr,
        DestinationFormat::X2x3,
        &pki,
        &tmp.path().join("spool"),
    );
    dest.tls = None;
    // Without the explicit opt-in there is no link at all.
    let (sink, _) = audit();
    let refused = control::handover::HandoverEngine::start(
        control::handover::ProbeId::new(identity()).unwrap(),
        vec![dest.clone()],
        vec![],
        sink,
        &prometheus::Registry::new(),
    );
    assert!(refused.is_err());
    dest.insecure_plaintext = true;
    let (engine, mut producer, trail) = start_engine(vec![dest], 64);
    let r = route(5, "LIID-PLAIN", Mode::Content, "lab", TARGET_CC);
    let xid = r.xid.to_string();
    engine.add_route(r);
    for i in 0..50 {
        let f = frame(i, TARGET_CC, 300);
        push(
            &mut producer,
            &f,
            5,
            Mode::Content,
            Direction::Both,
            TS0 + u64::from(i) * 1_000,
        );
    }
    engine.shutdown(Duration::from_secs(30));
    let summary = collector.stop();
    assert_eq!(summary["liids"][&xid]["content_packets"], 50, "{summary}");
    let trail = trail.lock().unwrap();
    assert!(
        trail
            .iter()
            .any(|a| a.0 == "insecure_plaintext_destination" && a.1 == "lab"),
        "{trail:?}"
    );
    assert!(trail
        .iter()
        .any(|a| a.0 == "delivery_connect" && a.2["tls"] == false));
}
