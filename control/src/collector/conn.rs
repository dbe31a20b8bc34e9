//! One probe connection: TLS handshake (client certificate required), format
//! detection, decode loop, keepalive answers, journaled writes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::{ServerConfig, ServerConnection, StreamOwned};

use super::liid::{safe_component, LiidOut};
use super::Shared;
use crate::handover::pdu::{decode_next, DecodedKind, Event, Format, Identity, PduHeader};

trait Io: Read + Write + Send {
    fn finish(&mut self);
}

impl Io for TcpStream {
    fn finish(&mut self) {
        let _ignored = self.shutdown(std::net::Shutdown::Both);
    }
}

impl Io for StreamOwned<ServerConnection, TcpStream> {
    fn finish(&mut self) {
        self.conn.send_close_notify();
        let _ignored = self.conn.complete_io(&mut self.sock);
        let _ignored = self.sock.shutdown(std::net::Shutdown::Both);
    }
}

fn transient(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock
            | std::io::ErrorKind::TimedOut
            | std::io::ErrorKind::Interrupted
    )
}

/// Handshake with a deadline; `Err` = refused (already logged and counted).
fn handshake(
    mut sock: TcpStream,
    peer: SocketAddr,
    cfg: Arc<ServerConfig>,
    shared: &Shared,
) -> Option<(Box<dyn Io>, String)> {
    let refuse = |why: String| {
        shared.handshake_failures.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(%peer, reason = %why, "TLS handshake refused");
    };
    let mut conn = match ServerConnection::new(cfg) {
        Ok(c) => c,
        Err(e) => {
            refuse(e.to_string());
            return None;
        }
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while conn.is_handshaking() {
        match conn.complete_io(&mut sock) {
            Ok(_) => {}
            Err(e) if transient(&e) && Instant::now() < deadline => {}
            Err(e) => {
                // Send the alert, if rustls queued one.
                let _ignored = conn.write_tls(&mut sock);
                refuse(e.to_string());
                return None;
            }
        }
    }
    let stream = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(crate::tls::subject_cn)
        .unwrap_or_else(|| "unnamed-client".to_owned());
    tracing::info!(%peer, client = %stream, "probe connected");
    Some((Box::new(StreamOwned::new(conn, sock)), stream))
}

fn detect(buf: &[u8]) -> Option<Option<Format>> {
    match buf {
        [] | [0x00] => None,
        [0x30, ..] => Some(Some(Format::Etsi102232)),
        [0x00, 0x02, ..] => Some(Some(Format::X2X3)),
        _ => Some(None),
    }
}

/// Serves one connection until it closes or `stop` is set.
pub(crate) fn serve(
    sock: TcpStream,
    peer: SocketAddr,
    tls: Option<Arc<ServerConfig>>,
    shared: &Shared,
    stop: &AtomicBool,
) {
    let setup = sock
        .set_nonblocking(false)
        .and_then(|()| sock.set_read_timeout(Some(Duration::from_millis(200))))
        .and_then(|()| sock.set_nodelay(true));
    if let Err(e) = setup {
        tracing::warn!(%peer, error = %e, "socket setup failed");
        return;
    }
    let (mut io, stream): (Box<dyn Io>, String) = match tls {
        Some(cfg) => match handshake(sock, peer, cfg, shared) {
            Some(x) => x,
            None => return,
        },
        None => (Box::new(sock), "plaintext".to_owned()),
    };
    let identity = Identity {
        operator_id: "collector".into(),
        network_element_id: "collector".into(),
        country_code: "XX".into(),
    };
    let mut buf: Vec<u8> = Vec::with_capacity(2 << 20);
    let mut tmp = vec![0u8; 1 << 20];
    let mut format: Option<Format> = None;
    let mut reply = Vec::new();
    let mut touched: Vec<String> = Vec::new();
    let end = loop {
        if stop.load(Ordering::Acquire) {
            break "collector stopping".to_owned();
        }
        let n = match io.read(&mut tmp) {
            Ok(0) => break "peer closed".to_owned(),
            Ok(n) => n,
            Err(e) if transient(&e) => continue,
            Err(e) => break format!("read: {e}"),
        };
        buf.extend_from_slice(&tmp[..n]);
        let fmt = match format {
            Some(f) => f,
            None => match detect(&buf) {
                None => continue,
                Some(Some(f)) => {
                    format = Some(f);
                    f
                }
                Some(None) => {
                    shared.decode_errors.fetch_add(1, Ordering::Relaxed);
                    break "unknown format (neither BER PS-PDU nor X2/X3)".to_owned();
                }
            },
        };
        let mut pos = 0;
        let mut failed = None;
        {
            let mut liids = shared
                .liids
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            loop {
                let (pdu, used) = match decode_next(fmt, &buf[pos..]) {
                    Ok(Some(x)) => x,
                    Ok(None) => break,
                    Err(e) => {
                        failed = Some(format!("decode: {e}"));
                        break;
                    }
                };
                pos += used;
                match pdu.kind {
                    DecodedKind::KeepaliveAck => continue,
                    DecodedKind::Keepalive => {
                        let h = PduHeader {
                            liid: "keepalive",
                            xid: uuid::Uuid::nil(),
                            cin: 0,
                            sequence: pdu.sequence,
                            timestamp_ns: crate::handover::now_ns(),
                            identity: &identity,
                        };
                        if fmt
                            .encoder()
                            .encode(&h, &Event::KeepaliveAck, &mut reply)
                            .is_err()
                        {
                            tracing::warn!(%peer, "cannot encode keepalive answer");
                        }
                        continue;
                    }
                    _ => {}
                }
                if !safe_component(&pdu.liid_or_xid) {
                    failed = Some("LIID/XID unusable as a directory name".to_owned());
                    break;
                }
                let out = match liids.get_mut(&pdu.liid_or_xid) {
                    Some(o) => o,
                    None => match LiidOut::open(&shared.out, &pdu.liid_or_xid) {
                        Ok(o) => liids.entry(pdu.liid_or_xid.clone()).or_insert(o),
                        Err(e) => {
                            failed = Some(format!("open output: {e}"));
                            break;
                        }
                    },
                };
                if let Err(e) = out.accept(&stream, &pdu) {
                    failed = Some(format!("write: {e}"));
                    break;
                }
                if !touched.contains(&pdu.liid_or_xid) {
                    touched.push(pdu.liid_or_xid);
                }
            }
            for name in touched.drain(..) {
                if let Some(out) = liids.get_mut(&name) {
                    if let Err(e) = out.commit() {
                        failed = Some(format!("journal: {e}"));
                    }
                }
            }
        }
        buf.drain(..pos);
        if !reply.is_empty() {
            if let Err(e) = io.write_all(&reply).and_then(|()| io.flush()) {
                break format!("write: {e}");
            }
            reply.clear();
        }
        if let Some(why) = failed {
            shared.decode_errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!(%peer, reason = %why, "closing connection");
            break why;
        }
    };
    tracing::info!(%peer, reason = %end, "probe connection closed");
    io.finish();
}
