//! More intercepts than open-file handles: a `pcap-dir` destination and the real
//! `calea-collector`, each capped at 8 LIIDs with open files, write 50 LIIDs
//! written to in turn (each write of one closes another), across a restart,
//! and every file is whole. Alone in its test binary: it counts this process's
//! descriptors.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod delivery_common;

use std::path::Path;
use std::time::Duration;

use control::collector::liid_dir;
use control::handover::LinkTuning;
use dataplane::targets::{Direction, Mode};
use delivery_common::*;

const CAP: usize = 8;
const LIIDS: u32 = 50;
/// Descriptors besides the LIIDs' that may come and go (sockets, pipes).
const SLACK: usize = 12;

fn liid(k: u32) -> String {
    format!("CAP-{k}")
}

/// Every LIID's content.pcap holds `per_liid` packets in order, read whole.
fn assert_whole(out: &Path, per_liid: usize) {
    for k in 0..LIIDS {
        let pcap = liid_dir(out, &liid(k)).join("content.pcap");
        let got = read_pcap(&pcap);
        assert_eq!(got.len(), per_liid, "{}", pcap.display());
        assert!(got.windows(2).all(|w| w[0].0 < w[1].0), "order");
        // tshark too, on a sample (it starts slowly).
        if k % 10 == 0 {
            assert_eq!(tshark_packets(&pcap), per_liid);
        }
    }
}

#[test]
fn pcap_dir_keeps_at_most_cap_liids_open() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let tuning = LinkTuning {
        pcap_dir_max_open_liids: CAP,
        ..tuning()
    };
    for run in 0..2u32 {
        let (engine, mut producer, trail) =
            start_engine_tuned(vec![pcap_dir("local", &out)], 64, tuning.clone());
        for k in 0..LIIDS {
            engine.add_route(route(k + 1, &liid(k), Mode::Content, "local", TARGET_CC));
        }
        let before = open_fds("self");
        let mut most = before;
        let rounds = 6;
        for i in 0..LIIDS * rounds {
            let n = run * LIIDS * rounds + i;
            let f = frame(n, TARGET_CC, 100 + n as usize % 500);
            let ts = 1_700_000_000_000_000_000 + u64::from(n) * 1_000;
            push(
                &mut producer,
                &f,
                i % LIIDS + 1,
                Mode::Content,
                Direction::Both,
                ts,
            );
            if i % 25 == 0 {
                std::thread::sleep(Duration::from_millis(1)); // several chunks
                most = most.max(open_fds("self"));
            }
        }
        wait_for(60, "all records written", || {
            engine.stats().destinations[0].pdus == u64::from(LIIDS * rounds)
        });
        most = most.max(open_fds("self"));
        assert!(most <= before + 4 * CAP + SLACK, "{before} -> {most}");
        assert_eq!(engine.stats().destinations[0].lost_chunks, 0);
        engine.shutdown(Duration::from_secs(30));
        assert!(!trail
            .lock()
            .unwrap()
            .iter()
            .any(|a| a.0 == "delivery_data_lost"));
    }
    assert_whole(&out, 12);
}

#[test]
fn collector_keeps_at_most_cap_liids_open() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    for (run, seqs) in [(1u64, 0..6), (2, 6..12)] {
        let collector =
            CollectorProc::start_plaintext_with(&out, 0, &["--max-open-liids", &CAP.to_string()]);
        let pid = collector.child.id().to_string();
        let before = open_fds(&pid);
        // Round-robin over the LIIDs: each PDU's LIID was the least recently written.
        let mut wire = Vec::new();
        for seq in seqs {
            for k in 0..LIIDS {
                wire.extend(ps_pdu(&liid(k), seq).0);
            }
        }
        let conn = send_synced(&collector.addr, &wire);
        let most = open_fds(&pid);
        drop(conn);
        assert!(most <= before + 4 * CAP + SLACK, "{before} -> {most}");
        let summary = collector.stop();
        for k in 0..LIIDS {
            let s = &summary["liids"][liid(k)];
            assert_eq!(s["content_packets"], 6 * run, "{summary}");
            assert_eq!((&s["gaps"], &s["duplicates"]), (&0.into(), &0.into()));
        }
    }
    assert_whole(&out, 12);
}
