//! A SIGTERM while records are being delivered loses nothing: the daemon drains
//! its hand-off rings into the link or the spool before it exits, and the next
//! start delivers the rest, each record once. With the destination unreachable
//! the records in flight go to the spool: no `delivery_data_lost` is audited
//! and no spool bytes are left after the replay. Real daemon, collector, TLS,
//! SQLite.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod daemon_harness;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use control::collector::liid_dir;
use daemon_harness::{eventually, free_port, Probe, Setup};
use dataplane::synth::{read_pcap, write_pcap, Frame};
use serde_json::json;

const TARGET: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const OTHER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);
/// Frames in the capture: even ones the target's, odd ones another subscriber's.
/// The target's fit in the hand-off ring: a pcap file is read faster than any
/// link, and a full ring is a counted drop, which this test would report as loss.
const FRAMES: u32 = 6_000;
/// 2030-01-01T00:00:00Z in ns: inside the warrant window.
const AT_NS: u64 = 1_893_456_000_000_000_000;

/// Frame `i`: its sequence number rides in the payload, so every delivered
/// packet names the capture frame it came from.
fn frame(i: u32) -> Vec<u8> {
    let src = if i.is_multiple_of(2) { TARGET } else { OTHER };
    Frame::ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src, Ipv4Addr::new(192, 0, 2, 1))
        .udp(40_000, 5_000)
        .payload(&i.to_be_bytes())
        .build()
}

/// How often each capture frame reached the collector (by the payload's number).
fn delivered(setup: &Setup) -> BTreeMap<u32, usize> {
    let path = liid_dir(&setup.path("out"), "LIID-TERM").join("content.pcap");
    let mut seen = BTreeMap::new();
    for (_, p) in read_pcap(&path).unwrap_or_default() {
        // LINKTYPE_RAW: IPv4 (20) + UDP (8), then the frame's number.
        let n = u32::from_be_bytes(p[28..32].try_into().unwrap());
        *seen.entry(n).or_insert(0) += 1;
    }
    seen
}

/// Bytes of the files under `dir`.
fn walk_len(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| {
                let e = e.unwrap();
                let m = e.metadata().unwrap();
                if m.is_dir() {
                    walk_len(&e.path())
                } else {
                    m.len()
                }
            })
            .sum()
        })
        .unwrap_or(0)
}

/// The number of frames the worker received, from the daemon's final counters.
fn received(counters: &[String]) -> u32 {
    let line = counters
        .iter()
        .find(|l| l.starts_with("worker 0: "))
        .unwrap_or_else(|| panic!("no worker counters in {counters:?}"));
    let rx = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("rx_packets="))
        .unwrap();
    assert!(line.contains(" handoff_drops=0 "), "{line}");
    rx.parse().unwrap()
}

/// Provisions the target on a probe with no traffic, then starts it on the
/// capture and stops it with SIGTERM as soon as it is up (records still on
/// their way); restarts it on no traffic and checks that every target frame it
/// received reaches the collector exactly once. `collector_up` says whether the
/// collector listens during the SIGTERM (records in flight on the link) or not
/// (records in the spool).
async fn sigterm_loses_nothing(collector_up: bool) {
    let setup = Setup::new();
    let port = free_port();
    write_pcap(setup.path("empty.pcap"), &[]).unwrap();
    let frames: Vec<(u64, Vec<u8>)> = (0..FRAMES)
        .map(|i| (AT_NS + u64::from(i), frame(i)))
        .collect();
    write_pcap(setup.path("traffic.pcap"), &frames).unwrap();
    let dest = setup.tls_destination("lea", port);

    let probe = Probe::start(&setup.write_config("empty.pcap", &dest));
    setup
        .client("prov")
        .create_intercept(&json!({
            "liid": "LIID-TERM",
            "warrant_ref": "W-1",
            "issuing_authority": "Court",
            "valid_from": "2026-01-01T00:00:00Z",
            "valid_until": "2099-01-01T00:00:00Z",
            "mode": "content",
            "targets": [TARGET.to_string()],
            "destinations": ["lea"],
        }))
        .await
        .unwrap();
    probe.stop();

    let collector = collector_up.then(|| setup.collector(port, "out"));
    let probe = Probe::start(&setup.write_config("traffic.pcap", &dest));
    let rx = received(&probe.stop_with("TERM"));
    assert!(rx > 0, "the worker received nothing before SIGTERM");
    // Nothing was given up at the stop: a loss would be audited (and counted).
    assert_eq!(
        setup.audited("delivery_data_lost"),
        Vec::<serde_json::Value>::new()
    );
    if !collector_up {
        let spooled: u64 = walk_len(&setup.path("spool-lea"));
        assert!(spooled > 0, "records in flight were spooled at SIGTERM");
    }
    let expected: BTreeMap<u32, usize> = (0..rx)
        .filter(|i| i.is_multiple_of(2))
        .map(|i| (i, 1))
        .collect();

    let _collector = collector.unwrap_or_else(|| setup.collector(port, "out"));
    let probe = Probe::start(&setup.write_config("empty.pcap", &dest));
    let all = eventually(Duration::from_secs(60), || {
        let seen = delivered(&setup);
        (seen.len() >= expected.len()).then_some(seen)
    });
    probe.stop();
    let seen = all.unwrap_or_else(|| delivered(&setup));
    assert_eq!(seen.len(), expected.len(), "target frames delivered");
    assert_eq!(seen, expected, "every target frame received, once each");
    assert_eq!(
        setup.audited("delivery_data_lost"),
        Vec::<serde_json::Value>::new()
    );
    setup.assert_audit_verifies();
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_while_delivering_loses_nothing() {
    sigterm_loses_nothing(true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_while_the_destination_is_down_loses_nothing() {
    sigterm_loses_nothing(false).await;
}
