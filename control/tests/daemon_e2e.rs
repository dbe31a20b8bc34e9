//! End-to-end tests of `calea-probe run`: warrant windows exact to the packet on
//! capture timestamps, restart restoring intercepts before the first packet, and
//! no acknowledged intercept lost to kill -9. Real daemon, collector, TLS, SQLite.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod daemon_harness;

use std::net::Ipv4Addr;
use std::time::Duration;

use control::collector::liid_dir;
use daemon_harness::{eventually, free_port, scrape_until, Probe, Setup};
use dataplane::synth::{read_pcap, write_pcap, Frame};
use serde_json::{json, Value};

const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 1];
const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 2];
/// 2030-01-01T00:00:00Z and +10 s, in ns.
const FROM_NS: u64 = 1_893_456_000_000_000_000;
const UNTIL_NS: u64 = FROM_NS + 10_000_000_000;
const WINDOW_TARGET: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const OPEN_TARGET: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 8);
const OTHER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);

/// A UDP frame from `src` whose destination port tags it (`tag`).
fn frame(src: Ipv4Addr, tag: u16) -> Vec<u8> {
    Frame::ethernet(MAC_A, MAC_B)
        .ipv4(src, OTHER)
        .udp(40_000, tag)
        .payload(b"payload")
        .build()
}

fn request(liid: &str, target: Ipv4Addr, from: &str, until: &str) -> Value {
    json!({
        "liid": liid,
        "warrant_ref": "W-1",
        "issuing_authority": "Court",
        "valid_from": from,
        "valid_until": until,
        "mode": "content",
        "targets": [target.to_string()],
        "destinations": ["lea"],
    })
}

/// UDP destination ports (tags) and timestamps of the packets the collector wrote for `liid`.
fn delivered(setup: &Setup, liid: &str) -> Vec<(u64, u16)> {
    let path = liid_dir(&setup.path("out"), liid).join("content.pcap");
    let Ok(packets) = read_pcap(&path) else {
        return Vec::new();
    };
    // LINKTYPE_RAW: IPv4 header (20 bytes), then UDP dst port at bytes 2..4.
    packets
        .iter()
        .map(|(ts, p)| (*ts, u16::from_be_bytes([p[22], p[23]])))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn window_is_exact_to_the_packet_and_restart_restores_intercepts() {
    let setup = Setup::new();
    let lea_port = free_port();
    let _collector = setup.collector(lea_port, "out");
    write_pcap(setup.path("empty.pcap"), &[]).unwrap();
    let dest = setup.tls_destination("lea", lea_port);

    // Provision on a probe with no traffic yet.
    let probe = Probe::start(&setup.write_config("empty.pcap", &dest));
    let prov = setup.client("prov");
    let windowed = prov
        .create_intercept(&request(
            "LIID-WIN",
            WINDOW_TARGET,
            "2030-01-01T00:00:00Z",
            "2030-01-01T00:00:10Z",
        ))
        .await
        .unwrap();
    assert_eq!(windowed["state"], json!("scheduled"));
    assert_eq!(windowed["active"], json!(false));
    let open = prov
        .create_intercept(&request(
            "LIID-OPEN",
            OPEN_TARGET,
            "2026-01-01T00:00:00Z",
            "2099-01-01T00:00:00Z",
        ))
        .await
        .unwrap();
    assert_eq!(open["active"], json!(true));
    probe.stop();

    // The capture: window target at from-1ns, from, from+1ns, until-1ns, until,
    // until+1ns (tags 1..=6); the open target's packets (tags 101..=106) at the
    // same instants; other subscribers' traffic (tags 201..).
    let instants = [
        FROM_NS - 1,
        FROM_NS,
        FROM_NS + 1,
        UNTIL_NS - 1,
        UNTIL_NS,
        UNTIL_NS + 1,
    ];
    let mut frames = Vec::new();
    for (i, ts) in instants.iter().enumerate() {
        let i = u16::try_from(i).unwrap();
        frames.push((*ts, frame(WINDOW_TARGET, 1 + i)));
        frames.push((*ts, frame(OPEN_TARGET, 101 + i)));
        frames.push((*ts, frame(OTHER, 201 + i)));
    }
    write_pcap(setup.path("traffic.pcap"), &frames).unwrap();

    // Restart on the traffic: stored intercepts are installed before the first packet.
    let probe = Probe::start(&setup.write_config("traffic.pcap", &dest));
    let all_open = eventually(Duration::from_secs(60), || {
        let got = delivered(&setup, "LIID-OPEN");
        (got.len() >= 6).then_some(got)
    })
    .expect("open-window intercept delivered");
    // The collector's content.pcap has microsecond timestamps: compare at that resolution.
    let expect_open: Vec<(u64, u16)> = instants
        .iter()
        .zip(101..)
        .map(|(t, g)| (t / 1000 * 1000, g))
        .collect();
    assert_eq!(all_open, expect_open);
    let window = eventually(Duration::from_secs(30), || {
        let got = delivered(&setup, "LIID-WIN");
        (got.len() >= 3).then_some(got)
    })
    .expect("windowed intercept delivered");
    // Give a wrongly matched packet time to arrive before the exact comparison.
    std::thread::sleep(Duration::from_millis(500));
    let window_now = delivered(&setup, "LIID-WIN");
    assert_eq!(window, window_now);
    let tags: Vec<u16> = window_now.iter().map(|(_, tag)| *tag).collect();
    assert_eq!(
        tags,
        vec![2, 3, 4],
        "from-1ns excluded, from included, until excluded"
    );
    let listed = setup
        .client("auditor")
        .get_intercept("LIID-OPEN")
        .await
        .unwrap();
    assert_eq!(listed["state"], json!("active"));
    assert!(!liid_dir(&setup.path("out"), "203.0.113.9").exists());

    // The running daemon's metrics count every frame and every matched one, and
    // name no LIID and no target.
    let text = scrape_until(&setup, "calea_worker_rx_packets_total{worker=\"0\"} 18").await;
    assert!(
        text.contains("calea_worker_matches_total{worker=\"0\"} 9"),
        "{text}"
    );
    assert!(text.contains("calea_intercepts_active 1"), "{text}");
    for secret in ["LIID-WIN", "LIID-OPEN", "198.51.100.7", "198.51.100.8"] {
        assert!(!text.contains(secret), "metrics expose {secret}");
    }
    // SIGINT stops it as cleanly as SIGTERM, with the worker's final
    // counters: every frame of the capture, none dropped (a capture file has
    // no port; the demo's test checks a net_pcap port's counters).
    let out = probe.stop_with("INT");
    let bytes: usize = frames.iter().map(|(_, f)| f.len()).sum();
    let counted = format!(
        "worker 0: rx_packets=18 rx_bytes={bytes} matches=9 handoff_drops=0 parse_errors=0 "
    );
    assert!(
        out.iter().any(|l| l.starts_with(&counted)),
        "no {counted:?} in {out:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_provisioning_loses_no_acknowledged_intercept() {
    let setup = Setup::new();
    write_pcap(setup.path("empty.pcap"), &[]).unwrap();
    let dest = setup.tls_destination("lea", free_port());
    let config = setup.write_config("empty.pcap", &dest);
    let probe = Probe::start(&config);
    let prov = setup.client("prov");
    let (acked_tx, mut acked_rx) = tokio::sync::mpsc::unbounded_channel();
    let burst = tokio::spawn(async move {
        for i in 0..200u32 {
            let target = Ipv4Addr::from(0xC633_6400 + i); // 198.51.100.x
            let req = request(
                &format!("K-{i}"),
                target,
                "2026-01-01T00:00:00Z",
                "2099-01-01T00:00:00Z",
            );
            match prov.create_intercept(&req).await {
                Ok(v) => {
                    let _ = acked_tx.send(v["liid"].as_str().unwrap().to_owned());
                }
                Err(_) => return,
            }
        }
    });
    // Kill once some intercepts were acknowledged, while requests are in flight.
    let mut acked = Vec::new();
    while acked.len() < 15 {
        acked.push(acked_rx.recv().await.expect("burst ended early"));
    }
    probe.kill9();
    burst.await.unwrap();
    while let Ok(l) = acked_rx.try_recv() {
        acked.push(l);
    }

    let probe = Probe::start(&config);
    let listed = setup.client("auditor").list_intercepts().await.unwrap();
    let stored: Vec<(&str, &str)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["liid"].as_str().unwrap(), i["state"].as_str().unwrap()))
        .collect();
    for liid in &acked {
        assert!(
            stored.contains(&(liid.as_str(), "active")),
            "acknowledged {liid} missing or not active after restart: {stored:?}"
        );
    }
    probe.stop();
    setup.assert_audit_verifies();
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn scheduler_activates_and_expires_on_time_with_audit_records() {
    let setup = Setup::new();
    write_pcap(setup.path("empty.pcap"), &[]).unwrap();
    let dest = setup.tls_destination("lea", free_port());
    let probe = Probe::start(&setup.write_config("empty.pcap", &dest));
    let prov = setup.client("prov");
    let now = time::OffsetDateTime::now_utc();
    let from = now + time::Duration::seconds(2);
    let created = prov
        .create_intercept(&request(
            "SCHED",
            WINDOW_TARGET,
            &rfc3339(from),
            &rfc3339(now + time::Duration::hours(1)),
        ))
        .await
        .unwrap();
    assert_eq!(created["state"], json!("scheduled"));
    // Shorten the window through the API: it must end 4 s from now.
    let until = now + time::Duration::seconds(4);
    let patched = prov
        .modify_intercept("SCHED", &json!({ "valid_until": rfc3339(until) }))
        .await
        .unwrap();
    assert_eq!(patched["state"], json!("scheduled"));
    let auditor = setup.client("auditor");
    let state = |v: Value| v["state"].as_str().unwrap().to_owned();
    let active_at = eventually(Duration::from_secs(30), || {
        let s = block_on(auditor.get_intercept("SCHED"));
        (state(s) == "active").then(time::OffsetDateTime::now_utc)
    })
    .expect("activated");
    assert!(active_at >= from, "activated before valid_from");
    let expired_at = eventually(Duration::from_secs(30), || {
        let s = block_on(auditor.get_intercept("SCHED"));
        (state(s) == "expired").then(time::OffsetDateTime::now_utc)
    })
    .expect("expired");
    assert!(expired_at >= until, "expired before valid_until");
    let audit = auditor.audit(0, 1000).await.unwrap();
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    for a in [
        "probe_start",
        "intercept_create",
        "intercept_modify",
        "intercept_activate",
        "intercept_expire",
    ] {
        assert!(actions.contains(&a), "{a} missing: {actions:?}");
    }
    probe.stop();
}

/// Runs a client future to completion from synchronous polling code.
fn block_on<F: std::future::Future<Output = Result<Value, control::client::ClientError>>>(
    f: F,
) -> Value {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f)).unwrap()
}

#[test]
fn refuses_bad_config_and_corrupt_database_with_clear_errors() {
    let setup = Setup::new();
    write_pcap(setup.path("empty.pcap"), &[]).unwrap();
    let dest = setup.tls_destination("lea", free_port());
    let config = setup.write_config("empty.pcap", &dest);
    let run = |config: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_calea-probe"))
            .args(["run", "--config"])
            .arg(config)
            .output()
            .unwrap()
    };
    let text = std::fs::read_to_string(&config).unwrap();
    let bad = setup.path("bad.toml");
    std::fs::write(
        &bad,
        text.replace("[metrics]\n", "[metrics]\ncolour = \"red\"\n"),
    )
    .unwrap();
    let out = run(&bad);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("colour"), "{err}");

    std::fs::write(
        setup.path("probe.db"),
        b"this is not a database, just garbage bytes ......",
    )
    .unwrap();
    let out = run(&config);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("probe.db"), "{err}");
    // Never replaced by an empty database.
    assert_eq!(
        std::fs::read(setup.path("probe.db")).unwrap(),
        b"this is not a database, just garbage bytes ......"
    );
}

/// IRI-Begin carries the time interception began (activation acknowledged by
/// every worker), not the warrant's valid_from, long past here.
#[tokio::test(flavor = "multi_thread")]
async fn iri_begin_carries_the_time_interception_began() {
    let setup = Setup::new();
    let lea_port = free_port();
    let _collector = setup.collector(lea_port, "out");
    write_pcap(setup.path("empty.pcap"), &[]).unwrap();
    let dest = setup.tls_destination("lea", lea_port);
    let probe = Probe::start(&setup.write_config("empty.pcap", &dest));
    let prov = setup.client("prov");
    let ns = |t: time::OffsetDateTime| u64::try_from(t.unix_timestamp_nanos()).unwrap();
    let before = ns(time::OffsetDateTime::now_utc());
    let created = prov
        .create_intercept(&request(
            "LIID-BEGAN",
            OPEN_TARGET,
            "2026-01-01T00:00:00Z",
            "2099-01-01T00:00:00Z",
        ))
        .await
        .unwrap();
    assert_eq!(created["active"], json!(true));
    let after = ns(time::OffsetDateTime::now_utc());
    let iri = liid_dir(&setup.path("out"), "LIID-BEGAN").join("iri.jsonl");
    let begin = eventually(Duration::from_secs(60), || {
        let text = std::fs::read_to_string(&iri).ok()?;
        text.lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|l| l["type"] == "begin")
            .and_then(|l| l["timestamp_ns"].as_u64())
    })
    .expect("IRI-Begin delivered");
    // PS-PDU timestamps are microseconds.
    assert!(
        (before / 1000 * 1000..=after).contains(&begin),
        "begin {begin} not in {before}..={after}"
    );
    probe.stop();
}
