//! Several probes under one ADMF (#28 §6): two real daemons, each reading its
//! own traffic through a FIFO on its own DPDK `net_pcap` vdev (own EAL file
//! prefix, no hugepages), are provisioned through X1 over TLS by one ADMF
//! identity with the CLI's X1 client: the SAME destination and task (XID) on
//! both. One real `calea-collector` then gets X2/X3 from both: the XID's one
//! directory holds, per probe, exactly that probe's target packets in order on
//! that probe's stream, none of the other subscriber on the same captures.
//! Every X1 document exchanged validates against the shared XSD.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod daemon_harness;
mod x1_support;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use control::collector::liid_dir;
use control::x1::message::{Kind, Request, TargetIdentifier};
use daemon_harness::{eventually, free_port, mkfifo, Feed, Probe, Setup};
use dataplane::synth::{read_pcap, Frame};
use uuid::Uuid;
use x1_support::*;

const TARGET: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const OTHER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);
/// Target frames in each probe's traffic.
const FRAMES: u8 = 40;

/// A frame from `src` tagged (`probe`, `i`) in its payload.
fn frame(probe: u8, src: Ipv4Addr, i: u8) -> Vec<u8> {
    Frame::ethernet([2, 0, 0, 0, 0, probe], [2, 0, 0, 0, 0, 9])
        .ipv4(src, Ipv4Addr::new(192, 0, 2, 1))
        .udp(40_000, 5_000)
        .payload(&[probe, i])
        .build()
}

/// (probe, i) of every packet the collector wrote for `xid`, in order.
fn delivered(out: &Path, xid: Uuid) -> Vec<(u8, u8)> {
    let path = liid_dir(out, &xid.to_string()).join("content.pcap");
    read_pcap(&path)
        .unwrap_or_default()
        .into_iter()
        // LINKTYPE_RAW: IPv4 (20) + UDP (8), then the payload.
        .map(|(_, p)| (p[28], p[29]))
        .collect()
}

/// The last sequence number the collector journaled per stream (client
/// certificate CN) of `xid`.
fn streams(out: &Path, xid: Uuid) -> BTreeMap<String, u64> {
    let journal = liid_dir(out, &xid.to_string()).join("journal.jsonl");
    let text = std::fs::read_to_string(journal).unwrap_or_default();
    let Some(last) = text.lines().last() else {
        return BTreeMap::new();
    };
    let entry: serde_json::Value = serde_json::from_str(last).unwrap();
    serde_json::from_value(entry["streams"].clone()).unwrap()
}

/// The types of the IRI records the collector wrote for `xid`, in order.
fn iri_types(out: &Path, xid: Uuid) -> Vec<String> {
    let iri = liid_dir(out, &xid.to_string()).join("iri.jsonl");
    std::fs::read_to_string(iri)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["type"].as_str().unwrap_or_default().to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_probes_one_admf_same_xid() {
    let a = Setup::new();
    let b = a.sibling();
    // (setup, tag in its traffic's payload, its X2/X3 client CN = stream).
    let probes = [(&a, 1u8, "probe"), (&b, 2, "probe-b")];
    let collector_port = free_port();
    let _collector = a.collector(collector_port, "out");
    let out = a.path("out");

    // Both daemons up, each on its own vdev fed through a FIFO.
    let mut running = Vec::new();
    for (setup, _, cn) in probes {
        let x1_port = free_port();
        mkfifo(&setup.path("feed.pcap"));
        let opening = Feed::open(&setup.path("feed.pcap"));
        let config = setup.write_net_pcap_config("feed.pcap", &x1_block(setup, x1_port, cn));
        let probe = Probe::start(&config);
        running.push((probe, opening.join().unwrap(), x1_port));
    }

    // One ADMF identity provisions the same destination and task on both NEs;
    // each answers OK only once every worker applied the task.
    let (did, xid) = (Uuid::new_v4(), Uuid::new_v4());
    let mut log = Vec::new();
    for ((setup, _, _), (_, _, x1_port)) in probes.into_iter().zip(&running) {
        let mut admf = Admf::new(setup, *x1_port, ADMF);
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
        assert_eq!(
            got.tasks.iter().map(|t| t.0.xid).collect::<Vec<_>>(),
            [xid],
            "{got:?}"
        );
        log.append(&mut admf.log);
    }

    // Each probe's X2 IRI-Begin of the task opens its stream (sequence 0).
    let mut want_streams: BTreeMap<String, u64> =
        probes.iter().map(|p| (p.2.to_owned(), 0)).collect();
    let reached = |want: &BTreeMap<String, u64>| {
        eventually(Duration::from_secs(30), || {
            let s = streams(&out, xid);
            want.iter().all(|(k, v)| s.get(k) >= Some(v)).then_some(s)
        })
    };
    assert_eq!(reached(&want_streams).as_ref(), Some(&want_streams));
    assert_eq!(iri_types(&out, xid), ["begin", "begin"]);

    // One probe's traffic at a time: what arrives in between is that probe's.
    let mut want: Vec<(u8, u8)> = Vec::new();
    for ((_, tag, cn), (_, feed, _)) in probes.into_iter().zip(&mut running) {
        // The other subscriber's frame before each target frame: one wrongly
        // delivered would arrive before the last target packet on this stream.
        for i in 0..FRAMES {
            feed.write(&frame(tag, OTHER, i));
            feed.write(&frame(tag, TARGET, i));
        }
        want.extend((0..FRAMES).map(|i| (tag, i)));
        want_streams.insert(cn.to_owned(), u64::from(FRAMES));
        let got = reached(&want_streams);
        assert_eq!(
            delivered(&out, xid),
            want,
            "{cn}: exactly its target packets, in order"
        );
        assert_eq!(got.as_ref(), Some(&want_streams), "{cn}: on its own stream");
    }
    assert_eq!(iri_types(&out, xid), ["begin", "begin"]);
    for (probe, feed, _) in running {
        drop(feed);
        probe.stop();
    }

    if let Some(shared) = shared_dir() {
        validate_all(a.dir.path(), &shared, &log);
    }
}
