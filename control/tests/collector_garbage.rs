//! The real collector refuses a stream that is neither BER PS-PDUs nor X2/X3 and
//! one whose PDUs do not decode, closes the connection, counts it, and writes
//! nothing.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod delivery_common;

use std::io::{Read, Write};
use std::time::Duration;

use delivery_common::*;

fn send(pki: &Pki, addr: &str, bytes: &[u8]) {
    let cfg = control::tls::client_config(&pki.ca, &pki.client_cert, &pki.client_key).unwrap();
    let mut conn =
        rustls::ClientConnection::new(cfg, control::tls::server_name("localhost").unwrap())
            .unwrap();
    let mut sock = std::net::TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    tls.write_all(bytes).unwrap();
    let mut buf = [0u8; 64];
    // The collector closes the connection on garbage.
    let r = tls.read(&mut buf);
    assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");
}

#[test]
fn refuses_unknown_format_and_undecodable_pdus() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(tmp.path());
    let out = tmp.path().join("out");
    let collector = CollectorProc::start(&pki, &out, 0);
    send(&pki, &collector.addr, b"GET / HTTP/1.1\r\n\r\n");
    // Starts like a BER SEQUENCE, but is not a PS-PDU.
    send(&pki, &collector.addr, &[0x30, 0x03, 0x02, 0x01, 0x05]);
    let summary = collector.stop();
    assert_eq!(summary["decode_errors"], 2, "{summary}");
    assert_eq!(summary["liids"], serde_json::json!({}));
    // No LIID directory.
    assert_eq!(std::fs::read_dir(out.join("liid")).unwrap().count(), 0);
}
