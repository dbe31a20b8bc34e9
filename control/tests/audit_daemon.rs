//! The real daemon anchors its audit chain: signed checkpoints reach a real
//! HTTPS receiver, a syslog-over-TLS collector (mutual TLS on 127.0.0.1) and
//! a file at the configured interval, on every activation and at stop; the
//! newest is served by the API; a chain broken in the middle raises the alarm
//! metric at start-up.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod daemon_harness;

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::body::Bytes;
use control::audit::{AuditAction, AuditRecord, Checkpoint, PublicKey};
use daemon_harness::{free_port, Probe, Setup};
use dataplane::synth::write_pcap;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// A port on 127.0.0.1 held by this test from now on: bound but not yet
/// listening, so a connection to it is refused until `receiver` opens it.
/// Holding it closes the window in which another socket could take a port
/// picked earlier.
fn reserve_port() -> (tokio::net::TcpSocket, u16) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(([127, 0, 0, 1], 0).into()).unwrap();
    let port = socket.local_addr().unwrap().port();
    (socket, port)
}

/// An HTTPS endpoint on the reserved `socket` that accepts POSTed
/// checkpoints (client certificate required).
async fn receiver(
    setup: &Setup,
    socket: tokio::net::TcpSocket,
) -> mpsc::UnboundedReceiver<Checkpoint> {
    let c = &setup.certs;
    let tls = control::tls::server_config(&c.server_cert, &c.server_key, &c.ca).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let listener = socket.listen(64).unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/checkpoints",
        axum::routing::post(move |body: Bytes| async move {
            tx.send(serde_json::from_slice::<Checkpoint>(&body).unwrap())
                .unwrap();
            "ok"
        }),
    );
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), TowerToHyperService::new(app))
                    .await;
            });
        }
    });
    rx
}

/// A syslog collector over mutual TLS (RFC 5425): every checkpoint in every
/// octet-counted frame it receives.
async fn syslog_receiver(setup: &Setup) -> (u16, mpsc::UnboundedReceiver<Checkpoint>) {
    use tokio::io::AsyncReadExt;
    let c = &setup.certs;
    let tls = control::tls::server_config(&c.server_cert, &c.server_key, &c.ca).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut stream = acceptor.accept(tcp).await.unwrap();
            let mut bytes = Vec::new();
            stream.read_to_end(&mut bytes).await.unwrap();
            let mut rest = bytes.as_slice();
            while !rest.is_empty() {
                let space = rest.iter().position(|&b| b == b' ').unwrap();
                let len: usize = std::str::from_utf8(&rest[..space])
                    .unwrap()
                    .parse()
                    .unwrap();
                let msg = std::str::from_utf8(&rest[space + 1..space + 1 + len]).unwrap();
                assert!(msg.starts_with("<109>1 "), "{msg}");
                let json = msg.split_once(" calea-probe - checkpoint - ").unwrap().1;
                tx.send(serde_json::from_str(json).unwrap()).unwrap();
                rest = &rest[space + 1 + len..];
            }
        }
    });
    (port, rx)
}

/// The pinned CA and the probe's client certificate, as a sink's TOML keys.
fn client_tls(setup: &Setup) -> String {
    let (cert, key) = setup.certs.client("probe").unwrap();
    format!(
        "ca = {:?}\ncert = {:?}\nkey = {:?}\n",
        setup.certs.ca, cert, key
    )
}

/// `[audit]` with a fresh key (returned: the public key), the HTTPS receiver
/// at `port` and a file sink.
fn audit_config(setup: &Setup, port: u16, interval_secs: u64) -> (String, PathBuf) {
    let (private, public) = control::audit::checkpoint::generate_key_pem().unwrap();
    let (key, public_path) = (setup.path("anchor.pem"), setup.path("anchor.pub.pem"));
    std::fs::write(&key, private).unwrap();
    std::fs::write(&public_path, public).unwrap();
    let toml = format!(
        "[audit]\ncheckpoint_key = \"{}\"\ncheckpoint_interval_secs = {interval_secs}\n\
         checkpoint_file = \"checkpoints.jsonl\"\n\
         [audit.checkpoint_http]\nurl = \"https://localhost:{port}/checkpoints\"\n{}",
        key.display(),
        client_tls(setup)
    );
    (toml, public_path)
}

/// The next checkpoint the receiver gets, within `secs`.
async fn next(rx: &mut mpsc::UnboundedReceiver<Checkpoint>, secs: u64) -> Checkpoint {
    tokio::time::timeout(Duration::from_secs(secs), rx.recv())
        .await
        .expect("no checkpoint in time")
        .unwrap()
}

fn request(liid: &str) -> Value {
    let fmt = &time::format_description::well_known::Rfc3339;
    let now = time::OffsetDateTime::now_utc();
    json!({
        "liid": liid,
        "warrant_ref": "W-1",
        "issuing_authority": "Court",
        "valid_from": (now - time::Duration::minutes(1)).format(fmt).unwrap(),
        "valid_until": (now + time::Duration::hours(1)).format(fmt).unwrap(),
        "mode": "content",
        "targets": ["10.9.8.7"],
        "destinations": ["lea"],
    })
}

/// Seq of the newest record with `action` in the probe's audit log.
async fn seq_of(setup: &Setup, action: &str) -> u64 {
    let records = setup.client("auditor").audit(0, 1000).await.unwrap();
    records
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == action)
        .map(|r| r["seq"].as_u64().unwrap())
        .max()
        .unwrap_or_else(|| panic!("no {action} record"))
}

fn verify_cli(setup: &Setup, checkpoint: &Path, key: &Path) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_calea-probe"))
        .args(["audit", "verify", "--database"])
        .arg(setup.path("probe.db"))
        .arg("--mirror")
        .arg(setup.path("audit.jsonl"))
        .arg("--checkpoint")
        .arg(checkpoint)
        .arg("--checkpoint-key")
        .arg(key)
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8(out.stdout).unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn checkpoints_on_start_activation_and_stop_reach_https_and_syslog_receivers() {
    let setup = Setup::new();
    write_pcap(setup.path("empty.pcap"), &[]).unwrap();
    let (socket, port) = reserve_port();
    let mut rx = receiver(&setup, socket).await;
    // An interval far beyond the test: every checkpoint after the first is event-driven.
    let (audit, public) = audit_config(&setup, port, 3600);
    let (syslog_port, mut syslog) = syslog_receiver(&setup).await;
    let syslog_sink = format!(
        "[audit.checkpoint_syslog]\naddress = \"127.0.0.1:{syslog_port}\"\n\
         server_name = \"localhost\"\n{}",
        client_tls(&setup)
    );
    let dest = setup.tls_destination("lea", free_port());
    let probe =
        Probe::start(&setup.write_config("empty.pcap", &format!("{dest}{audit}{syslog_sink}")));
    let key = PublicKey::from_file(&public).unwrap();

    let first = next(&mut rx, 10).await;
    key.verify(&first).unwrap();
    assert_eq!(first.probe, "probe-test");
    assert_eq!(
        next(&mut syslog, 10).await,
        first,
        "syslog got another checkpoint"
    );

    setup
        .client("prov")
        .create_intercept(&request("ANCHOR-1"))
        .await
        .unwrap();
    let activated = seq_of(&setup, "intercept_activate").await;
    let on_activation = loop {
        let cp = next(&mut rx, 10).await;
        if cp.seq >= activated {
            break cp;
        }
    };
    key.verify(&on_activation).unwrap();

    // The status call serves the newest checkpoint to auditors, not to viewers.
    let served: Checkpoint =
        serde_json::from_value(setup.client("auditor").audit_checkpoint().await.unwrap()).unwrap();
    key.verify(&served).unwrap();
    assert!(served.seq >= activated);
    let refused = setup.client("viewer").audit_checkpoint().await.unwrap_err();
    assert!(refused.to_string().contains("403"), "{refused}");

    probe.stop();
    let mut last = on_activation;
    while let Ok(cp) = rx.try_recv() {
        last = cp;
    }
    // The last one covers probe_stop: the whole log up to the end verifies against it.
    let mirror = std::fs::read_to_string(setup.path("audit.jsonl")).unwrap();
    let stop: AuditRecord = serde_json::from_str(mirror.lines().last().unwrap()).unwrap();
    assert_eq!(stop.action, AuditAction::ProbeStop);
    assert_eq!(
        (last.seq, &last.head_hash),
        (stop.seq, &stop.hash),
        "no checkpoint after probe_stop"
    );
    let cp_path = setup.path("last-checkpoint.json");
    std::fs::write(&cp_path, serde_json::to_vec(&last).unwrap()).unwrap();
    let (ok, out) = verify_cli(&setup, &cp_path, &public);
    assert!(ok, "{out}");
    // The file sink got the same checkpoints, one JSON line each.
    let (ok, out) = verify_cli(&setup, &setup.path("checkpoints.jsonl"), &public);
    assert!(ok, "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn checkpoints_follow_the_interval() {
    let setup = Setup::new();
    write_pcap(setup.path("empty.pcap"), &[]).unwrap();
    let (socket, port) = reserve_port();
    let mut rx = receiver(&setup, socket).await;
    let (audit, public) = audit_config(&setup, port, 1);
    let probe = Probe::start(&setup.write_config("empty.pcap", &audit));
    let key = PublicKey::from_file(&public).unwrap();
    let mut times = Vec::new();
    for _ in 0..4 {
        let cp = next(&mut rx, 10).await;
        key.verify(&cp).unwrap();
        times.push(
            time::OffsetDateTime::parse(&cp.time, &time::format_description::well_known::Rfc3339)
                .unwrap(),
        );
    }
    probe.stop();
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= time::Duration::milliseconds(900) && gap <= time::Duration::seconds(3),
            "checkpoints {gap} apart: {times:?}"
        );
    }
}

/// The value of a metric line `name value` in the daemon's exposition, once present.
async fn metric(setup: &Setup, name: &str) -> String {
    for _ in 0..100 {
        let text = reqwest::get(setup.metrics_url())
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if let Some(v) = text
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
        {
            return v.to_owned();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("metric {name} never exposed");
}

#[tokio::test(flavor = "multi_thread")]
async fn start_up_verification_raises_the_alarm_on_a_broken_middle_record() {
    let setup = Setup::new();
    write_pcap(setup.path("empty.pcap"), &[]).unwrap();
    let config = setup.write_config("empty.pcap", "");
    // Two runs write a log of a few records.
    Probe::start(&config).stop();
    Probe::start(&config).stop();
    // Edit a record in the middle; the tail (all start-up used to check) stays intact.
    let conn = rusqlite::Connection::open(setup.path("probe.db")).unwrap();
    conn.execute_batch("DROP TRIGGER audit_no_update;").unwrap();
    conn.execute("UPDATE audit SET actor = 'someone-else' WHERE seq = 2", [])
        .unwrap();
    drop(conn);
    let probe = Probe::start(&config);
    let mut broken = String::new();
    for _ in 0..100 {
        broken = metric(&setup, "calea_audit_chain_broken").await;
        if broken == "1" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(broken, "1", "no alarm for a broken chain");
    probe.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_sink_is_counted_and_retried_without_holding_up_provisioning() {
    let setup = Setup::new();
    write_pcap(setup.path("empty.pcap"), &[]).unwrap();
    // Nothing listens on the endpoint yet.
    let (socket, port) = reserve_port();
    let (audit, public) = audit_config(&setup, port, 3600);
    let dest = setup.tls_destination("lea", free_port());
    let probe = Probe::start(&setup.write_config("empty.pcap", &format!("{dest}{audit}")));
    let mut failures = String::new();
    for _ in 0..100 {
        failures = metric(
            &setup,
            r#"calea_audit_checkpoint_failures_total{sink="http"}"#,
        )
        .await;
        if failures != "0" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_ne!(failures, "0");
    let started = std::time::Instant::now();
    setup
        .client("prov")
        .create_intercept(&request("ANCHOR-2"))
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let activated = seq_of(&setup, "intercept_activate").await;
    // The endpoint comes up: the newest checkpoint arrives by retry, not by the hour's tick.
    let mut rx = receiver(&setup, socket).await;
    let cp = next(&mut rx, 20).await;
    PublicKey::from_file(&public).unwrap().verify(&cp).unwrap();
    assert!(cp.seq >= activated, "retried checkpoint is stale: {cp:?}");
    // The file sink was never held up by the other.
    let (ok, out) = verify_cli(&setup, &setup.path("checkpoints.jsonl"), &public);
    assert!(ok, "{out}");
    probe.stop();
}
