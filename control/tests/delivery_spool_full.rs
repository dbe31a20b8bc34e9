//! A full spool refuses new records and counts them as loss, loudly: metric,
//! audit records at 80 % and when full, and the collector sees the gap in the
//! sequence numbers once the link is back.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod delivery_common;

use std::time::Duration;

use control::collector::liid_dir;
use control::model::DestinationFormat;
use dataplane::targets::{Direction, Mode};
use delivery_common::*;

const TS0: u64 = 1_700_000_000_000_000_000;

#[test]
fn full_spool_counts_loss_and_alarms() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(tmp.path());
    let port = free_port();
    let mut dest = destination(
        "lea",
        &format!("127.0.0.1:{port}"),
        DestinationFormat::Etsi102232,
        &pki,
        &tmp.path().join("spool"),
    );
    dest.spool_max_bytes = 1 << 20;
    let (engine, mut producer, trail) = start_engine(vec![dest], 64);
    engine.add_route(route(1, "LIID-FULL", Mode::Content, "lea", TARGET_CC));
    for i in 0..1500u32 {
        let f = frame(i, TARGET_CC, 1400);
        push(
            &mut producer,
            &f,
            1,
            Mode::Content,
            Direction::Both,
            TS0 + u64::from(i) * 1_000,
        );
        if i % 50 == 0 {
            std::thread::sleep(Duration::from_millis(2)); // several chunks
        }
    }
    wait_for(30, "loss counted", || {
        engine.stats().destinations[0].lost_chunks > 0
    });
    let st = engine.stats();
    assert!(st.destinations[0].spool_bytes <= 1 << 20, "{st:?}");
    {
        let trail = trail.lock().unwrap();
        let levels: Vec<_> = trail
            .iter()
            .filter(|a| a.0 == "delivery_spool_alarm")
            .map(|a| a.2["level"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            levels,
            ["above_80_percent", "full_records_lost"],
            "{trail:?}"
        );
        // The loss itself is audited: at once, not once per lost chunk.
        let lost: Vec<_> = trail
            .iter()
            .filter(|a| a.0 == "delivery_data_lost")
            .collect();
        assert_eq!(lost.len(), 1, "{trail:?}");
        assert_eq!(lost[0].1, "lea");
        assert_eq!(lost[0].2["reason"], "spool full");
        assert_eq!(lost[0].2["lost_chunks"], 1);
    }
    // Link back: the spool is replayed, later records arrive, the gap is visible.
    let out = tmp.path().join("out");
    let collector = CollectorProc::start(&pki, &out, port);
    wait_for(60, "spool replayed", || {
        let d = &engine.stats().destinations[0];
        d.connected && d.spool_bytes == 0
    });
    for i in 1500..1600u32 {
        let f = frame(i, TARGET_CC, 1400);
        push(
            &mut producer,
            &f,
            1,
            Mode::Content,
            Direction::Both,
            TS0 + u64::from(i) * 1_000,
        );
    }
    let lost_chunks = engine.stats().destinations[0].lost_chunks;
    engine.shutdown(Duration::from_secs(30));
    // The losses after the first are summed into one more record.
    let audited: Vec<u64> = trail
        .lock()
        .unwrap()
        .iter()
        .filter(|a| a.0 == "delivery_data_lost")
        .map(|a| a.2["lost_chunks"].as_u64().unwrap())
        .collect();
    assert_eq!(audited.len(), 2, "{audited:?}");
    assert_eq!(audited.iter().sum::<u64>(), lost_chunks);
    let summary = collector.stop();
    let s = &summary["liids"]["LIID-FULL"];
    let got = s["content_packets"].as_u64().unwrap();
    let gaps = s["gaps"].as_u64().unwrap();
    assert!(gaps > 0, "{summary}");
    assert_eq!(got + gaps, 1600, "{summary}");
    // Whatever arrived is intact and in order.
    let pcap = read_pcap(&liid_dir(&out, "LIID-FULL").join("content.pcap"));
    assert_eq!(pcap.len() as u64, got);
    let ts: Vec<u64> = pcap.iter().map(|p| p.0).collect();
    assert!(ts.windows(2).all(|w| w[0] < w[1]), "{ts:?}");
}
