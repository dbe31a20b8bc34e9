//! Zero loss through outages, with the REAL collector: (a) the collector is
//! killed with SIGKILL mid-stream and restarted ~3 s later on the same port and
//! directory; (b) the destination refuses connections for ~3 s; (c) the probe
//! stops with the collector down and restarts (spool replay, sequence numbers
//! continue), with a torn spool tail. In every case each packet arrives exactly
//! once, in order, with contiguous sequence numbers.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod delivery_common;

use std::path::Path;
use std::time::{Duration, Instant};

use control::collector::liid_dir;
use control::model::DestinationFormat;
use dataplane::handoff::HandoffProducer;
use dataplane::targets::{Direction, Mode};
use delivery_common::*;

const TS0: u64 = 1_700_000_000_000_000_000;
const LIID: &str = "LIID-ZL-1";

/// Pushes frames `range` at roughly `per_sec`, returning (ts, frame) of each.
fn feed(p: &mut HandoffProducer, range: std::ops::Range<u32>, per_sec: u32) -> Vec<(u64, Vec<u8>)> {
    let start = Instant::now();
    let mut sent = Vec::new();
    for (n, i) in range.enumerate() {
        let ts = TS0 + u64::from(i) * 1_000;
        let f = frame(i, TARGET_CC, 200 + (i as usize * 13 % 1200));
        push(p, &f, 1, Mode::Content, Direction::Both, ts);
        sent.push((ts, f));
        let due = start + Duration::from_secs_f64((n + 1) as f64 / f64::from(per_sec));
        if let Some(d) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
    }
    sent
}

fn assert_exactly_once(out: &Path, summary: &serde_json::Value, sent: &[(u64, Vec<u8>)]) {
    let s = &summary["liids"][LIID];
    assert_eq!(s["gaps"], 0, "{summary}");
    assert_eq!(s["content_packets"], sent.len() as u64, "{summary}");
    assert_eq!(summary["decode_errors"], 0, "{summary}");
    let got = read_pcap(&liid_dir(out, LIID).join("content.pcap"));
    assert_eq!(got.len(), sent.len());
    for (i, ((ts, f), (gts, data, _))) in sent.iter().zip(&got).enumerate() {
        let (l3, _) = expected(f);
        assert_eq!(*gts, *ts, "packet {i}");
        assert_eq!(data.as_slice(), &f[l3..], "packet {i}");
    }
}

#[test]
fn collector_killed_and_restarted_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(tmp.path());
    let out = tmp.path().join("out");
    let collector = CollectorProc::start(&pki, &out, 0);
    let addr = collector.addr.clone();
    let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
    let dest = destination(
        "lea",
        &addr,
        DestinationFormat::Etsi102232,
        &pki,
        &tmp.path().join("spool"),
    );
    let (engine, mut producer, trail) = start_engine(vec![dest], 256);
    engine.add_route(route(1, LIID, Mode::Content, "lea", TARGET_CC));
    let mut sent = feed(&mut producer, 0..6000, 4000);
    collector.kill9(); // while records are in flight
    sent.extend(feed(&mut producer, 6000..18000, 4000)); // ~3 s with no collector
    let collector = CollectorProc::start(&pki, &out, port);
    sent.extend(feed(&mut producer, 18000..24000, 4000));
    wait_for(60, "reconnect", || {
        engine.stats().destinations[0].reconnects >= 1
    });
    engine.shutdown(Duration::from_secs(60));
    let summary = collector.stop();
    assert_exactly_once(&out, &summary, &sent);
    // The resend window replayed what the killed collector had already stored.
    assert!(
        summary["liids"][LIID]["duplicates"].as_u64().unwrap() > 0,
        "{summary}"
    );
    let trail = trail.lock().unwrap();
    assert!(
        trail.iter().any(|a| a.0 == "delivery_disconnect"),
        "{trail:?}"
    );
    assert!(
        trail.iter().filter(|a| a.0 == "delivery_connect").count() >= 2,
        "{trail:?}"
    );
}

#[test]
fn refused_connections_for_three_seconds_lose_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(tmp.path());
    let out = tmp.path().join("out");
    let port = free_port();
    let dest = destination(
        "lea",
        &format!("127.0.0.1:{port}"),
        DestinationFormat::X2x3,
        &pki,
        &tmp.path().join("spool"),
    );
    let (engine, mut producer, _trail) = start_engine(vec![dest], 256);
    let r = route(1, LIID, Mode::Content, "lea", TARGET_CC);
    let xid = r.xid.to_string();
    engine.add_route(r);
    let mut sent = feed(&mut producer, 0..3000, 1000);
    assert!(!engine.stats().destinations[0].connected);
    assert!(engine.stats().destinations[0].spool_bytes > 0);
    let collector = CollectorProc::start(&pki, &out, port);
    sent.extend(feed(&mut producer, 3000..4000, 1000));
    engine.shutdown(Duration::from_secs(60));
    let summary = collector.stop();
    // X2/X3 output is per XID.
    std::fs::rename(liid_dir(&out, &xid), liid_dir(&out, LIID)).unwrap();
    let mut summary = summary;
    summary["liids"][LIID] = summary["liids"][&xid].clone();
    assert_eq!(summary["liids"][LIID]["duplicates"], 0);
    assert_exactly_once(&out, &summary, &sent);
}

#[test]
fn probe_restart_replays_spool_and_continues_sequence_after_torn_tail() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(tmp.path());
    let out = tmp.path().join("out");
    let spool = tmp.path().join("spool");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    // The same engine, route and spool in both runs of the probe.
    let start = || {
        let (engine, producer, _) = start_engine(
            vec![destination(
                "lea",
                &addr,
                DestinationFormat::Etsi102232,
                &pki,
                &spool,
            )],
            256,
        );
        engine.add_route(route(1, LIID, Mode::Content, "lea", TARGET_CC));
        (engine, producer)
    };
    // Run 1: the collector is down the whole time; everything goes to the spool.
    let (engine, mut producer) = start();
    engine.intercept_started(1, TS0);
    let mut sent = feed(&mut producer, 0..800, 4000);
    engine.shutdown(Duration::from_secs(10));
    drop(producer);
    // A crash mid-append leaves a torn record at the end of the last segment.
    let mut segs: Vec<_> = std::fs::read_dir(spool.join("lea"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    segs.sort();
    assert!(!segs.is_empty(), "nothing spooled");
    let last = segs.last().unwrap();
    let mut raw = std::fs::read(last).unwrap();
    raw.extend_from_slice(&[0xff, 0xff, 0, 0, 0xde, 0xad]);
    std::fs::write(last, raw).unwrap();
    // Run 2: collector up; the spool is replayed first, numbering continues.
    let collector = CollectorProc::start(&pki, &out, port);
    let (engine, mut producer) = start();
    sent.extend(feed(&mut producer, 800..1600, 4000));
    engine.intercept_ended(1, TS0 + 1);
    engine.shutdown(Duration::from_secs(60));
    let summary = collector.stop();
    assert_eq!(summary["liids"][LIID]["pdus"], 1602, "{summary}");
    assert_eq!(summary["liids"][LIID]["iri"], 2, "{summary}");
    assert_exactly_once(&out, &summary, &sent);
    let leftover = std::fs::read_dir(spool.join("lea"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|e| e == "seg")
        })
        .count();
    assert_eq!(leftover, 0, "spool not emptied after replay");
}
