//! Keepalives: an idle link to the real collector stays up (the collector answers
//! every keepalive), and a peer that completes the TLS handshake but then stalls
//! (reads nothing, answers nothing) is declared dead, audited, and reconnected to.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod delivery_common;

use std::net::TcpListener;
use std::time::Duration;

use control::model::DestinationFormat;
use delivery_common::*;

#[test]
fn idle_link_stays_up_on_answered_keepalives() {
    for format in [DestinationFormat::Etsi102232, DestinationFormat::X2x3] {
        let tmp = tempfile::tempdir().unwrap();
        let pki = Pki::new(tmp.path());
        let collector = CollectorProc::start(&pki, &tmp.path().join("out"), 0);
        let dest = destination(
            "lea",
            &collector.addr,
            format,
            &pki,
            &tmp.path().join("spool"),
        );
        let (engine, _producer, trail) = start_engine(vec![dest], 16);
        wait_for(60, "link up", || engine.stats().destinations[0].connected);
        std::thread::sleep(Duration::from_secs(5)); // 5 keepalive periods
        let st = engine.stats();
        assert!(st.destinations[0].connected, "{format:?}: {st:?}");
        assert_eq!(st.destinations[0].reconnects, 0, "{format:?}");
        assert!(st.destinations[0].bytes_sent > 0, "no keepalive was sent");
        engine.shutdown(Duration::from_secs(10));
        let summary = collector.stop();
        assert_eq!(summary["decode_errors"], 0);
        assert_eq!(
            summary["liids"],
            serde_json::json!({}),
            "keepalives are not intercepts"
        );
        let trail = trail.lock().unwrap();
        assert_eq!(
            trail.iter().filter(|a| a.0 == "delivery_connect").count(),
            1,
            "{trail:?}"
        );
    }
}

#[test]
fn stalled_peer_is_declared_dead() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(tmp.path());
    let server = control::tls::server_config(&pki.server_cert, &pki.server_key, &pki.ca).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    // Completes handshakes, then neither reads nor answers.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for sock in listener.incoming() {
            let mut sock = sock.unwrap();
            let mut conn = rustls::ServerConnection::new(server.clone()).unwrap();
            while conn.is_handshaking() {
                if conn.complete_io(&mut sock).is_err() {
                    break;
                }
            }
            while conn.wants_write() {
                let _ = conn.write_tls(&mut sock);
            }
            held.push((sock, conn));
        }
    });
    let dest = destination(
        "lea",
        &addr,
        DestinationFormat::X2x3,
        &pki,
        &tmp.path().join("spool"),
    );
    let (engine, _producer, trail) = start_engine(vec![dest], 16);
    wait_for(60, "stall detected", || {
        trail
            .lock()
            .unwrap()
            .iter()
            .any(|a| a.0 == "delivery_disconnect" && a.2["reason"] == "keepalive not answered")
    });
    wait_for(60, "reconnect", || {
        engine.stats().destinations[0].reconnects >= 1
    });
    engine.shutdown(Duration::from_secs(2));
}
