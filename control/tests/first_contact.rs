//! Start-up of the real `calea-probe run` as an operator meets it: one daemon per
//! state, nothing written before every check passed, one error line, state
//! directories created, and a dashboard that queries only exported metrics.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod daemon_harness;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use daemon_harness::{free_port, scrape_until, Probe, Setup};
use dataplane::synth::write_pcap;

const PCAP_DIR: &str = r#"
[[destinations]]
name = "lea"
format = "pcap-dir"
directory = "out"
"#;

/// `calea-probe run` that is expected to stop during start-up.
fn run_failing(config: &Path) -> String {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_calea-probe"))
        .args(["run", "--config"])
        .arg(config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "{out:?}");
    String::from_utf8(out.stderr).unwrap()
}

/// The error as one line, its OS cause not repeated.
fn assert_one_line(stderr: &str, cause: &str) {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert_eq!(lines[0].matches(cause).count(), 1, "{stderr}");
}

#[test]
fn a_second_daemon_on_the_same_state_writes_nothing() {
    let setup = Setup::new();
    write_pcap(setup.path("empty.pcap"), &[]).unwrap();
    // A local destination: the live daemon itself writes no record meanwhile.
    let config = setup.write_config("empty.pcap", PCAP_DIR);
    let probe = Probe::start(&config);
    let mirror = std::fs::read_to_string(setup.path("audit.jsonl")).unwrap();

    let stderr = run_failing(&config);
    assert_one_line(&stderr, "in use by another calea-probe (pid ");
    assert!(stderr.contains("probe.db.lock"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(setup.path("audit.jsonl")).unwrap(),
        mirror
    );

    probe.stop();
    setup.assert_audit_verifies();
    let mirror = std::fs::read_to_string(setup.path("audit.jsonl")).unwrap();
    for action in ["\"probe_start\"", "\"probe_stop\""] {
        assert_eq!(mirror.matches(action).count(), 1, "{mirror}");
    }
    // The lock went with the daemon: the state is usable again.
    Probe::start(&config).stop();
    setup.assert_audit_verifies();
}

#[test]
fn a_failed_check_at_start_up_writes_nothing_and_says_so_once() {
    let setup = Setup::new();
    write_pcap(setup.path("empty.pcap"), &[]).unwrap();
    let written = || {
        ["probe.db", "audit.jsonl", "spool-lea"]
            .into_iter()
            .filter(|f| setup.path(f).exists())
            .collect::<Vec<_>>()
    };

    // The API's address is taken by someone else.
    let api = setup.api_url();
    let port = api.rsplit(':').next().unwrap();
    let taken = std::net::TcpListener::bind(format!("127.0.0.1:{port}")).unwrap();
    let config = setup.write_config("empty.pcap", &setup.tls_destination("lea", free_port()));
    let stderr = run_failing(&config);
    assert_one_line(&stderr, "Address already in use");
    assert!(stderr.contains("[api] listen 127.0.0.1:"), "{stderr}");
    assert_eq!(written(), Vec::<&str>::new());
    drop(taken);

    // A destination's CA cannot be read.
    let missing = setup.path("no-such-ca.pem");
    let dest = setup.tls_destination("lea", free_port()).replace(
        &setup.certs.ca.display().to_string(),
        &missing.display().to_string(),
    );
    let stderr = run_failing(&setup.write_config("empty.pcap", &dest));
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(stderr.contains("destination lea: "), "{stderr}");
    assert!(stderr.contains("no-such-ca.pem"), "{stderr}");
    assert_eq!(written(), Vec::<&str>::new());
}

#[test]
fn missing_state_and_spool_directories_are_created_private() {
    let setup = Setup::new();
    write_pcap(setup.path("empty.pcap"), &[]).unwrap();
    let config = setup.write_config("empty.pcap", &setup.tls_destination("lea", free_port()));
    // examples/probe.toml's layout: state/ and spool/ do not exist yet.
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("\"probe.db\"", "\"state/probe.db\"")
        .replace("\"audit.jsonl\"", "\"state/audit.jsonl\"")
        .replace("\"spool-lea\"", "\"spool/lea\"");
    std::fs::write(&config, text).unwrap();
    let probe = Probe::start(&config);
    probe.stop();
    for dir in ["state", "spool", "spool/lea"] {
        let mode = std::fs::metadata(setup.path(dir))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "{dir}: {mode:o}");
    }
    assert!(setup.path("state/probe.db").is_file());
}

#[tokio::test(flavor = "multi_thread")]
async fn every_metric_the_dashboard_queries_is_exported() {
    let setup = Setup::new();
    write_pcap(setup.path("empty.pcap"), &[]).unwrap();
    // A net_pcap port: NIC counters exist only for ports.
    let config =
        setup.write_net_pcap_config("empty.pcap", &setup.tls_destination("lea", free_port()));
    let probe = Probe::start(&config);
    // A refused request, so the API's counters have a sample.
    assert!(setup.client("stranger").list_intercepts().await.is_err());
    let exported = scrape_until(&setup, "calea_nic_imissed_total{").await;
    let exported: BTreeSet<&str> = exported
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();

    let dashboard: serde_json::Value =
        serde_json::from_str(include_str!("../grafana-dashboard.json")).unwrap();
    let mut queried = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let mut rest = expr;
            while let Some(at) = rest.find("calea_") {
                let name: String = rest[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                rest = &rest[at + name.len()..];
                queried.insert(name);
            }
        }
    }
    for handover in [
        "calea_handover_connected",
        "calea_handover_spool_bytes",
        "calea_handover_spool_alarm",
        "calea_handover_pdus_total",
        "calea_handover_bytes_sent_total",
        "calea_handover_lost_chunks_total",
    ] {
        assert!(queried.contains(handover), "no panel for {handover}");
    }
    let missing: Vec<&String> = queried
        .iter()
        .filter(|q| !exported.contains(q.as_str()))
        .collect();
    assert!(missing.is_empty(), "not exported: {missing:?}");
    probe.stop();
}
