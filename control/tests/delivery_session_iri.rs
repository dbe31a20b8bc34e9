//! Engine → TLS → real `calea-collector`: session IRI of an intercept reaches
//! its LIID's iri.jsonl in order with its content (same correlation, one
//! sequence), on both formats and in a pcap-dir destination's files.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod delivery_common;
mod encode_support;

use std::time::Duration;

use control::collector::liid_dir;
use control::handover::AccessEvent;
use control::model::DestinationFormat;
use control::sessions::Protocol;
use dataplane::targets::{Direction, Mode};
use delivery_common::*;
use encode_support::{radius, report};

const TS0: u64 = 1_700_000_000_000_000_000;

fn session_iri_follows_content(format: DestinationFormat) {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(tmp.path());
    let out = tmp.path().join("out");
    // A pcap-dir destination writes the collector's files itself.
    let (collector, dest) = if format == DestinationFormat::PcapDir {
        (None, pcap_dir("lea", &out))
    } else {
        let collector = CollectorProc::start(&pki, &out, 0);
        let spool = tmp.path().join("spool");
        let dest = destination("lea", &collector.addr, format, &pki, &spool);
        (Some(collector), dest)
    };
    let (engine, mut producer, _trail) = start_engine(vec![dest], 512);
    let r = route(1, "LIID-SUB-1", Mode::Content, "lea", TARGET_CC);
    let name = match format {
        DestinationFormat::X2x3 => r.xid.to_string(),
        _ => "LIID-SUB-1".to_owned(),
    };
    engine.add_route(r);
    engine.intercept_started(1, TS0);
    let mut at = TS0;
    // Each session IRI is awaited (by the PDUs encoded so far), so that it is
    // numbered before the packets pushed after it, as a real session's would be.
    let mut session = |engine: &control::handover::HandoverEngine, ev, msg: bool, pdus: u64| {
        at += 1_000;
        let mut rep = report(ev, msg.then(|| (Protocol::Radius, radius())));
        rep.at_ns = at;
        engine.session_event(1, rep);
        wait_for(30, "session IRI encoded", || {
            engine.stats().destinations[0].pdus >= pdus
        });
    };
    session(&engine, AccessEvent::StartWithSessionActive, false, 2);
    for i in 0..3 {
        push(
            &mut producer,
            &frame(i, TARGET_CC, 100),
            1,
            Mode::Content,
            Direction::FromTarget,
            TS0 + 2_000,
        );
    }
    session(&engine, AccessEvent::InterimUpdate, true, 6);
    for i in 3..5 {
        push(
            &mut producer,
            &frame(i, TARGET_CC, 100),
            1,
            Mode::Content,
            Direction::ToTarget,
            TS0 + 2_000,
        );
    }
    session(&engine, AccessEvent::SessionExpired, false, 9);
    engine.intercept_ended(1, TS0 + 1_000_000_000);
    if collector.is_some() {
        wait_for(60, "link up", || engine.stats().destinations[0].connected);
    }
    engine.shutdown(Duration::from_secs(30));
    if let Some(collector) = collector {
        let summary = collector.stop();
        let s = &summary["liids"][&name];
        assert_eq!(s["content_packets"], 5, "{summary}");
        assert_eq!(s["iri"], 5, "{summary}");
        assert_eq!(s["gaps"], 0);
    }
    let dir = liid_dir(&out, &name);
    assert_eq!(read_pcap(&dir.join("content.pcap")).len(), 5);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(dir.join("iri.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seqs: Vec<_> = lines
        .iter()
        .map(|l| l["sequence"].as_u64().unwrap())
        .collect();
    // Begin, the session in progress, 3 packets, interim, 2 packets, expiry, End.
    assert_eq!(seqs, [0, 1, 5, 8, 9], "{lines:?}");
    let event = |i: usize| control::handover::etsi102232::access_event(&lines[i]["record"]);
    assert_eq!(
        event(1),
        Some(AccessEvent::StartWithSessionActive),
        "{lines:?}"
    );
    assert_eq!(event(3), Some(AccessEvent::SessionExpired), "{lines:?}");
    assert_eq!(lines[3]["record"]["endReason"], "connectionTimeout");
    match format {
        // X2 carries the RADIUS packet itself.
        DestinationFormat::X2x3 => {
            assert_eq!(lines[2]["record"]["type"], "radius", "{lines:?}");
            assert_eq!(lines[2]["record"]["message"], hex::encode(radius()));
            assert_eq!(lines[2]["record"]["User-Name"], "alice@isp");
        }
        _ => {
            assert_eq!(event(2), Some(AccessEvent::InterimUpdate), "{lines:?}");
            assert_eq!(lines[2]["type"], "continue");
            assert_eq!(lines[2]["record"]["rawAAAData"], hex::encode(radius()));
        }
    }
}

#[test]
fn etsi_102232_session_iri_follows_content() {
    session_iri_follows_content(DestinationFormat::Etsi102232);
}

#[test]
fn x2x3_session_iri_follows_content() {
    session_iri_follows_content(DestinationFormat::X2x3);
}

#[test]
fn pcap_dir_session_iri_follows_content() {
    session_iri_follows_content(DestinationFormat::PcapDir);
}
