//! An LIID is data, never a file name: LIIDs that look like the destination's
//! own files, hidden, dash-led, with slashes, non-ASCII or 256 octets long each
//! get a directory of their own, in a `pcap-dir` destination and in the real
//! `calea-collector`, with their data intact across a restart. Data that cannot
//! be written is audited as well as counted.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod delivery_common;

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use control::collector::liid_dir;
use dataplane::targets::{Direction, Mode};
use delivery_common::*;

const TS0: u64 = 1_700_000_000_000_000_000;

/// LIIDs a warrant may carry (the model accepts each) that name something
/// else as a path.
const ODD: [&str; 7] = [
    "sequences.json",
    ".hidden",
    "...",
    "-rf",
    "journal.jsonl",
    "liid",
    "%2Ehidden",
];

/// (timestamp, IP packet) per LIID.
type Sent = Vec<Vec<(u64, Vec<u8>)>>;

/// Checks each LIID's own directory: its `liid` file, a usable name, and
/// content.pcap holding exactly `sent` (read whole by pcap-file and tshark).
fn assert_own_dirs(out: &Path, liids: &[String], sent: &Sent) {
    let mut seen = HashSet::new();
    for (liid, sent) in liids.iter().zip(sent) {
        let dir = liid_dir(out, liid);
        assert!(seen.insert(dir.clone()), "{liid:?} shares {dir:?}");
        assert_eq!(dir.parent().unwrap(), out.join("liid"));
        let name = dir.file_name().unwrap().to_str().unwrap();
        assert!(
            !name.starts_with(['.', '-']) && !name.contains('.'),
            "{name}"
        );
        assert_eq!(std::fs::read(dir.join("liid")).unwrap(), liid.as_bytes());
        let pcap = dir.join("content.pcap");
        let got = read_pcap(&pcap);
        assert_eq!(got.len(), sent.len(), "{liid:?}");
        for ((ts, ip), (gts, data, orig)) in sent.iter().zip(&got) {
            assert_eq!((gts, data), (ts, ip), "{liid:?}");
            assert_eq!(*orig as usize, ip.len());
        }
        assert_eq!(tshark_packets(&pcap), sent.len(), "{liid:?}");
    }
}

/// One engine run over a `pcap-dir`: `n` content records from `first`, spread
/// over the LIIDs in turn.
fn pcap_dir_run(out: &Path, first: u32, n: u32, sent: &mut Sent) {
    let (engine, mut producer, trail) = start_engine(vec![pcap_dir("local", out)], 256);
    for (k, liid) in (1..).zip(ODD) {
        engine.add_route(route(k, liid, Mode::Content, "local", TARGET_CC));
    }
    for i in first..first + n {
        let k = i as usize % ODD.len();
        let f = frame(i, TARGET_CC, 60 + i as usize);
        let ts = TS0 + u64::from(i) * 1_000;
        push(
            &mut producer,
            &f,
            k as u32 + 1,
            Mode::Content,
            Direction::ToTarget,
            ts,
        );
        let (l3, _) = expected(&f);
        sent[k].push((ts, f[l3..].to_vec()));
    }
    wait_for(60, "all records written", || {
        engine.stats().destinations[0].pdus == u64::from(n)
    });
    assert_eq!(engine.stats().destinations[0].lost_chunks, 0);
    engine.shutdown(Duration::from_secs(30));
    let trail = trail.lock().unwrap();
    assert!(
        !trail.iter().any(|a| a.0 == "delivery_data_lost"),
        "{trail:?}"
    );
}

#[test]
fn pcap_dir_gives_every_liid_its_own_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut sent: Sent = vec![Vec::new(); ODD.len()];
    pcap_dir_run(&out, 0, 140, &mut sent);
    // Resumed from the directories' own `liid` files: numbering and files go on.
    pcap_dir_run(&out, 140, 70, &mut sent);
    let liids: Vec<String> = ODD.iter().map(|l| (*l).to_owned()).collect();
    assert_own_dirs(&out, &liids, &sent);
    // The destination's own state is untouched, and nothing else is beside it.
    let seqs: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("sequences.json")).unwrap()).unwrap();
    assert_eq!(seqs.as_object().unwrap().len(), ODD.len(), "{seqs}");
    let mut top: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    top.sort();
    assert_eq!(top, ["liid", "sequences.json"]);
}

#[test]
fn collector_gives_every_liid_its_own_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut liids: Vec<String> = ODD.iter().map(|l| (*l).to_owned()).collect();
    liids.extend([
        "a/b".to_owned(),
        "../../escape".to_owned(),
        "Überwachung/東京 ☎\n".to_owned(),
        // 256 octets: beyond a file name's 255.
        format!("{}{}", "L".repeat(128), "é".repeat(64)),
        // The same but its last character: a different directory.
        format!("{}{}x", "L".repeat(128), "é".repeat(63)),
    ]);
    assert_eq!(liids[liids.len() - 2].len(), 256);
    let mut sent: Sent = vec![Vec::new(); liids.len()];
    // Two collector runs: the second resumes every directory and sees the
    // probe's resend of 25..30 as duplicates.
    for (run, seqs) in [(0, 0..30), (1, 25..45)] {
        let collector = CollectorProc::start_plaintext(&out, 0);
        let mut wire = Vec::new();
        for (liid, sent) in liids.iter().zip(&mut sent) {
            for seq in seqs.clone() {
                let (pdu, packet) = ps_pdu(liid, seq);
                wire.extend(pdu);
                if run == 0 || seq >= 30 {
                    sent.push(packet);
                }
            }
        }
        drop(send_synced(&collector.addr, &wire));
        let summary = collector.stop();
        assert_eq!(summary["decode_errors"], 0, "{summary}");
        for liid in &liids {
            let s = &summary["liids"][liid];
            assert_eq!(s["content_packets"], 30 + 15 * run, "{liid:?}: {summary}");
            assert_eq!(s["duplicates"], 5 * run, "{liid:?}: {summary}");
            assert_eq!(s["gaps"], 0, "{liid:?}: {summary}");
            assert_eq!(
                summary["directories"][liid],
                liid_dir(&out, liid).to_str().unwrap(),
                "{summary}"
            );
        }
    }
    assert_own_dirs(&out, &liids, &sent);
    let top: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
    assert_eq!(top.len(), 1, "only liid/ in {out:?}");
}

#[test]
fn a_pcap_dir_write_failure_is_audited_once_then_summed() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    // A file where LIID-LOST's directory must go: every write of it fails.
    std::fs::create_dir_all(out.join("liid")).unwrap();
    std::fs::write(liid_dir(&out, "LIID-LOST"), b"in the way").unwrap();
    let (engine, mut producer, trail) = start_engine(vec![pcap_dir("local", &out)], 64);
    engine.add_route(route(1, "LIID-LOST", Mode::Content, "local", TARGET_CC));
    engine.add_route(route(2, "LIID-KEPT", Mode::Content, "local", TARGET_CC));
    let mut kept = Vec::new();
    for i in 0..200u32 {
        let f = frame(i, TARGET_CC, 200);
        let ts = TS0 + u64::from(i) * 1_000;
        let key = 1 + i % 2;
        push(&mut producer, &f, key, Mode::Content, Direction::Both, ts);
        if key == 2 {
            let (l3, _) = expected(&f);
            kept.push((ts, f[l3..].to_vec()));
        }
        if i % 20 == 0 {
            std::thread::sleep(Duration::from_millis(2)); // several chunks
        }
    }
    wait_for(60, "all records routed", || {
        engine.stats().destinations[0].pdus == 200
    });
    let lost = engine.stats().destinations[0].lost_chunks;
    assert!(lost > 1, "{lost}");
    let losses = |trail: &AuditTrail| -> Vec<serde_json::Value> {
        let trail = trail.lock().unwrap();
        trail
            .iter()
            .filter(|a| a.0 == "delivery_data_lost")
            .inspect(|a| assert_eq!(a.1, "local"))
            .map(|a| a.2.clone())
            .collect()
    };
    // The first loss at once, the rest summed: not one record per chunk.
    let first = losses(&trail);
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0]["lost_chunks"], 1);
    let reason = first[0]["reason"].as_str().unwrap();
    assert!(reason.starts_with("pcap-dir write failed"), "{reason}");
    engine.shutdown(Duration::from_secs(30));
    let all = losses(&trail);
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[1]["lost_chunks"], lost - 1);
    assert_eq!(all[1]["lost_chunks_total"], lost);
    // The other LIID of the same chunks is written whole.
    assert_own_dirs(&out, &["LIID-KEPT".to_owned()], &vec![kept]);
}
