//! Mutual authentication is enforced on both sides: a probe certificate from a
//! foreign CA, an expired probe certificate, a collector certificate the probe
//! does not trust, and a client without any certificate are all refused; the
//! probe audits the refusal and keeps the data in its spool, the collector
//! counts and logs it, and nothing is delivered.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod delivery_common;

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use control::model::DestinationFormat;
use dataplane::targets::{Direction, Mode};
use delivery_common::*;

fn refused(tweak: impl FnOnce(&mut control::model::Destination, &Pki), expect_reason: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(tmp.path());
    let out = tmp.path().join("out");
    let collector = CollectorProc::start(&pki, &out, 0);
    let mut dest = destination(
        "lea",
        &collector.addr,
        DestinationFormat::Etsi102232,
        &pki,
        &tmp.path().join("spool"),
    );
    tweak(&mut dest, &pki);
    let (engine, mut producer, trail) = start_engine(vec![dest], 64);
    engine.add_route(route(1, "LIID-TLS", Mode::Content, "lea", TARGET_CC));
    for i in 0..20 {
        push(
            &mut producer,
            &frame(i, TARGET_CC, 100),
            1,
            Mode::Content,
            Direction::Both,
            1 + u64::from(i),
        );
    }
    wait_for(60, "refusal audited", || {
        trail
            .lock()
            .unwrap()
            .iter()
            .any(|a| a.0 == "delivery_disconnect")
    });
    std::thread::sleep(Duration::from_millis(500));
    let stats = engine.stats();
    assert!(!stats.destinations[0].connected);
    assert!(
        stats.destinations[0].spool_bytes > 0,
        "undelivered data must be spooled"
    );
    engine.shutdown(Duration::from_secs(5));
    let summary = collector.stop();
    let trail = trail.lock().unwrap();
    assert!(
        !trail.iter().any(|a| a.0 == "delivery_connect"),
        "{trail:?}"
    );
    let reason = trail
        .iter()
        .find(|a| a.0 == "delivery_disconnect")
        .map(|a| a.2["reason"].as_str().unwrap().to_owned())
        .unwrap();
    assert!(reason.contains(expect_reason), "{reason}");
    assert!(
        summary["handshake_failures"].as_u64().unwrap() >= 1,
        "{summary}"
    );
    assert_eq!(summary["liids"], serde_json::json!({}), "{summary}");
}

#[test]
fn refuses_probe_certificate_from_foreign_ca() {
    refused(
        |d, pki| {
            let tls = d.tls.as_mut().unwrap();
            tls.cert = pki.foreign_cert.clone();
            tls.key = pki.foreign_key.clone();
        },
        "handshake",
    );
}

#[test]
fn refuses_expired_probe_certificate() {
    refused(
        |d, pki| {
            let tls = d.tls.as_mut().unwrap();
            tls.cert = pki.expired_cert.clone();
            tls.key = pki.expired_key.clone();
        },
        "handshake",
    );
}

#[test]
fn probe_refuses_collector_it_does_not_trust() {
    refused(
        |d, pki| d.tls.as_mut().unwrap().ca = pki.foreign_ca.clone(),
        "invalid peer certificate",
    );
}

#[test]
fn collector_refuses_client_without_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(tmp.path());
    let out = tmp.path().join("out");
    let collector = CollectorProc::start(&pki, &out, 0);
    let mut roots = rustls::RootCertStore::empty();
    for c in control::tls::load_certs(&pki.ca).unwrap() {
        roots.add(c).unwrap();
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut conn = rustls::ClientConnection::new(
        Arc::new(cfg),
        control::tls::server_name("localhost").unwrap(),
    )
    .unwrap();
    let mut sock = std::net::TcpStream::connect(&collector.addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    // The client may finish its half; the server's refusal arrives as an alert or close.
    let _ = tls.write_all(&[0x30, 0x03, 0x02, 0x01, 0x00]);
    let mut buf = [0u8; 16];
    let r = tls.read(&mut buf);
    assert!(
        matches!(r, Err(_) | Ok(0)),
        "collector accepted a client without certificate: {r:?}"
    );
    let summary = collector.stop();
    assert_eq!(summary["handshake_failures"], 1, "{summary}");
    assert_eq!(summary["liids"], serde_json::json!({}));
}
