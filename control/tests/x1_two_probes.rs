//! Several probes under one ADMF (#28 §6): two real daemons, each on its own
//! capture with its own traffic, provisioned through X1 by the CLI's ADMF
//! client with the SAME task (XID) and destination, deliver X2/X3 over TLS to
//! one real `calea-collector`. The collector's directory of that XID holds each
//! probe's own packets of the target, once each, from two streams (one per
//! probe); every X1 document exchanged validates against the shared XSD.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod daemon_harness;
mod x1_support;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use control::collector::liid_dir;
use control::x1::message::{Kind, Request, TargetIdentifier};
use daemon_harness::{eventually, free_port, Probe, Setup};
use dataplane::synth::{read_pcap, write_pcap, Frame};
use uuid::Uuid;
use x1_support::*;

const TARGET: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const OTHER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);
/// Target frames in each probe's capture.
const FRAMES: u8 = 40;
/// 2030-01-01T00:00:00Z in ns: after the activation.
const AT_NS: u64 = 1_893_456_000_000_000_000;

/// Probe `probe`'s capture: its target frames carry (`probe`, i) as payload,
/// interleaved with another subscriber's.
fn capture(setup: &Setup, probe: u8) {
    let frame = |src: Ipv4Addr, i: u8| {
        Frame::ethernet([2, 0, 0, 0, 0, probe], [2, 0, 0, 0, 0, 9])
            .ipv4(src, Ipv4Addr::new(192, 0, 2, 1))
            .udp(40_000, 5_000)
            .payload(&[probe, i])
            .build()
    };
    let frames: Vec<(u64, Vec<u8>)> = (0..FRAMES)
        .flat_map(|i| [frame(TARGET, i), frame(OTHER, i)])
        .enumerate()
        .map(|(n, f)| (AT_NS + n as u64, f))
        .collect();
    write_pcap(setup.path("traffic.pcap"), &frames).unwrap();
    write_pcap(setup.path("empty.pcap"), &[]).unwrap();
}

/// (probe, i) of every packet the collector wrote for `xid`.
fn delivered(out: &std::path::Path, xid: Uuid) -> Vec<(u8, u8)> {
    let path = liid_dir(out, &xid.to_string()).join("content.pcap");
    read_pcap(&path)
        .unwrap_or_default()
        .into_iter()
        // LINKTYPE_RAW: IPv4 (20) + UDP (8), then the payload.
        .map(|(_, p)| (p[28], p[29]))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_probes_one_admf_same_xid() {
    let a = Setup::new();
    let b = a.sibling();
    let probes = [
        (&a, 1u8, "probe", free_port()),
        (&b, 2, "probe-b", free_port()),
    ];
    let collector_port = free_port();
    let config = |(s, _, cn, x1): (&Setup, u8, &str, u16), pcap: &str| {
        s.write_config(pcap, &x1_block(s, x1, cn))
    };

    // One ADMF provisions the same destination and task on both NEs.
    let (did, xid) = (Uuid::new_v4(), Uuid::new_v4());
    let mut logs = Vec::new();
    for p in probes {
        capture(p.0, p.1);
        let probe = Probe::start(&config(p, "empty.pcap"));
        let mut admf = Admf::new(p.0, p.3, ADMF);
        admf.ok(
            Kind::CreateDestination,
            Request::Destination(destination(did, collector_port)),
        )
        .await;
        admf.ok(
            Kind::ActivateTask,
            Request::ActivateTask(task(xid, vec![TargetIdentifier::Ipv4(TARGET)], vec![did])),
        )
        .await;
        let got = admf.send(Kind::GetTaskDetails, Request::Xid(xid)).await;
        assert_eq!(got.tasks.len(), 1, "{got:?}");
        probe.stop();
        logs.push(admf.log);
    }

    // Each probe on its own traffic, both to one collector.
    let _collector = a.collector(collector_port, "out");
    let running: Vec<Probe> = probes
        .into_iter()
        .map(|p| Probe::start(&config(p, "traffic.pcap")))
        .collect();
    let out = a.path("out");
    let want = 2 * usize::from(FRAMES);
    let all = eventually(Duration::from_secs(60), || {
        let got = delivered(&out, xid);
        (got.len() >= want).then_some(got)
    });
    for p in running {
        p.stop();
    }
    let got = all.unwrap_or_else(|| delivered(&out, xid));
    let expected: BTreeSet<(u8, u8)> = [1, 2]
        .into_iter()
        .flat_map(|probe| (0..FRAMES).map(move |i| (probe, i)))
        .collect();
    assert_eq!(got.len(), want, "each target packet once");
    assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), expected);
    // Correlated by XID: one directory, named for it, fed by both probes' streams.
    let dir = liid_dir(&out, &xid.to_string());
    let journal = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(journal.lines().last().unwrap()).unwrap();
    let streams: BTreeSet<&str> = last["streams"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(streams, BTreeSet::from(["probe", "probe-b"]), "{last}");

    if let Some(shared) = shared_dir() {
        for (i, log) in logs.iter().enumerate() {
            validate_all(&a.path(&format!("x1-{i}")), &shared, log);
        }
    }
}
