//! Warrants that would intercept everyone or no one, against the real
//! `calea-probe run` (child process, real TLS, real SQLite): refused on create and
//! modify through the API and audited; an intercept an older version stored with
//! such a target is deactivated at start-up, never installed.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod daemon_harness;

use std::net::{Ipv4Addr, Ipv6Addr};

use control::client::ClientError;
use control::model::{Liid, Origin, ValidatedRequest};
use control::store::Store;
use daemon_harness::{free_port, scrape_until, Probe, Setup};
use dataplane::synth::{write_pcap, Frame};
use dataplane::targets::{Mode, Target};
use serde_json::{json, Value};

/// What issue 25 found accepted and installed.
const CATCH_ALL: &[&str] = &[
    "0.0.0.0/0",
    "::/0",
    "224.0.0.0/4",
    "ff00::/8",
    "0.0.0.0",
    "::",
    "127.0.0.1",
    "::1",
    "ff:ff:ff:ff:ff:ff",
    "01:00:5e:00:00:01",
    "33:33:00:00:00:01",
    "00:00:00:00:00:00",
];

const TARGET: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

fn request(liid: &str, targets: &[&str]) -> Value {
    json!({
        "liid": liid,
        "warrant_ref": "W-2026-001",
        "issuing_authority": "District Court",
        "valid_from": "2026-01-01T00:00:00Z",
        "valid_until": "2099-01-01T00:00:00Z",
        "mode": "content",
        "targets": targets,
        "destinations": ["lea"],
    })
}

fn api_code(e: ClientError) -> (u16, String) {
    match e {
        ClientError::Api { status, code, .. } => (status, code),
        other => panic!("expected an API error, got {other}"),
    }
}

/// Audit records (action, details) as the auditor reads them through the API.
async fn audit(setup: &Setup) -> Vec<(String, String, Value)> {
    let records = setup.client("auditor").audit(0, 10_000).await.unwrap();
    records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_owned(),
                r["object"].as_str().unwrap_or_default().to_owned(),
                r["details"].clone(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn catch_all_targets_are_refused_on_create_and_modify() {
    let setup = Setup::new();
    write_pcap(setup.path("in.pcap"), &[]).unwrap();
    let dest = setup.tls_destination("lea", free_port());
    let probe = Probe::start(&setup.write_config("in.pcap", &dest));
    let prov = setup.client("prov");
    let ok = TARGET.to_string();
    prov.create_intercept(&request("LIID-OK", &[&ok]))
        .await
        .unwrap();

    for (i, bad) in CATCH_ALL.iter().enumerate() {
        let e = prov
            .create_intercept(&request(&format!("LIID-BAD-{i}"), &["203.0.113.9", bad]))
            .await
            .unwrap_err();
        assert_eq!(api_code(e), (400, "refused_target".into()), "create {bad}");
        let e = prov
            .modify_intercept("LIID-OK", &json!({ "add_targets": [bad] }))
            .await
            .unwrap_err();
        assert_eq!(api_code(e), (400, "refused_target".into()), "modify {bad}");
    }

    // Nothing of it was stored.
    let all = setup.client("auditor").list_intercepts().await.unwrap();
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["targets"], json!([ok]));
    // Every refusal is audited with its code and the reason.
    let refused: Vec<Value> = audit(&setup)
        .await
        .into_iter()
        .filter(|(action, _, d)| action == "request_refused" && d["code"] == "refused_target")
        .map(|(_, _, d)| d)
        .collect();
    assert_eq!(refused.len(), 2 * CATCH_ALL.len(), "{refused:?}");
    assert!(
        refused[0]["reason"]
            .as_str()
            .unwrap()
            .contains("0.0.0.0/0 refused: prefix /0 is shorter than the minimum /8"),
        "{refused:?}"
    );
    probe.stop();
}

/// A UDP frame between `src` and an outside host.
fn frame(src: Ipv4Addr) -> Vec<u8> {
    Frame::ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src, Ipv4Addr::new(203, 0, 113, 80))
        .udp(40_000, 53)
        .payload(b"payload")
        .build()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stored_catch_all_intercept_is_deactivated_not_installed_after_restart() {
    let setup = Setup::new();
    write_pcap(setup.path("empty.pcap"), &[]).unwrap();
    let dest = r#"
[[destinations]]
name = "lea"
format = "pcap-dir"
directory = "out"
"#;
    // A probe that knows the destination, with one ordinary intercept.
    let probe = Probe::start(&setup.write_config("empty.pcap", dest));
    let ok = TARGET.to_string();
    setup
        .client("prov")
        .create_intercept(&request("LIID-GOOD", &[&ok]))
        .await
        .unwrap();
    probe.stop();

    // What an older version stored without complaint: everyone, both families.
    let store = Store::open(&setup.path("probe.db"), &setup.path("audit.jsonl")).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let everyone = ValidatedRequest {
        liid: Liid::try_from("LIID-ALL".to_owned()).unwrap(),
        warrant_ref: "W-OLD".into(),
        issuing_authority: "Court".into(),
        valid_from: now - time::Duration::hours(1),
        valid_until: now + time::Duration::days(1),
        mode: Mode::Content,
        targets: vec![
            Target::Ipv4Net(Ipv4Addr::UNSPECIFIED, 0),
            Target::Ipv6Net(Ipv6Addr::UNSPECIFIED, 0),
        ],
        identities: Vec::new(),
        destinations: vec!["lea".into()],
        xid: None,
        origin: Origin::Rest,
    };
    store.create_intercept(&everyone, "prov", now).unwrap();
    drop(store);

    // Traffic of the target and of three other subscribers, the target's last,
    // inside both windows (the capture's timestamps are the packets' time).
    let at = u64::try_from(now.unix_timestamp_nanos()).unwrap();
    let mut frames: Vec<(u64, Vec<u8>)> = (1..=3)
        .map(|i| (at, frame(Ipv4Addr::new(198, 51, 100, 100 + i))))
        .collect();
    frames.push((at, frame(TARGET)));
    write_pcap(setup.path("traffic.pcap"), &frames).unwrap();
    let probe = Probe::start(&setup.write_config("traffic.pcap", dest));
    scrape_until(&setup, "calea_worker_rx_packets_total{worker=\"0\"} 4").await;

    let auditor = setup.client("auditor");
    let all = auditor.get_intercept("LIID-ALL").await.unwrap();
    assert_eq!(all["state"], json!("deactivated"), "{all}");
    let good = auditor.get_intercept("LIID-GOOD").await.unwrap();
    assert_eq!(good["state"], json!("active"), "{good}");
    let records = audit(&setup).await;
    let deactivated: Vec<&Value> = records
        .iter()
        .filter(|(action, object, _)| action == "intercept_deactivate" && object == "LIID-ALL")
        .map(|(_, _, d)| d)
        .collect();
    assert_eq!(deactivated.len(), 1, "{records:?}");
    assert!(
        deactivated[0]["reason"]
            .as_str()
            .unwrap()
            .contains("targets[0]: 0.0.0.0/0 refused"),
        "{deactivated:?}"
    );

    // Only the target's frame matched: the others' traffic went nowhere.
    let counters = probe.stop_with("INT");
    assert!(
        counters
            .iter()
            .any(|l| l.starts_with("worker 0: rx_packets=4 ") && l.contains(" matches=1 ")),
        "{counters:?}"
    );
    setup.assert_audit_verifies();
}
