//! One probe connection: TLS handshake (client certificate required), format
//! detection, decode loop, keepalive answers, journaled writes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::{ServerConfig, ServerConnection};

use super::tlsio::BulkTls;
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

impl Io for BulkTls {
    fn finish(&mut self) {
        BulkTls::finish(self);
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
    Some((Box::new(BulkTls::new(conn, sock)), stream))
}

/// Receive buffer (grows if a PDU does not fit).
const RECV_BUF: usize = 4 << 20;
/// Least free space offered to one read.
const MIN_READ: usize = 512 << 10;
/// Decoded bytes after which the journal is written.
const COMMIT_BYTES: usize = 4 << 20;
/// Longest time between journal writes while data arrives.
const COMMIT_EVERY: Duration = Duration::from_millis(50);

fn commit(shared: &Shared) -> Result<(), String> {
    shared
        .dir
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .commit()
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
    // Plaintext is read straight into `buf[end..]`; PDUs are decoded in place
    // from `buf[start..end]` and written from there (no copy per PDU).
    let mut buf = vec![0u8; RECV_BUF];
    let (mut start, mut end) = (0usize, 0usize);
    let mut format: Option<Format> = None;
    let mut reply = Vec::new();
    let mut uncommitted = 0usize;
    let mut last_commit = Instant::now();
    let why = loop {
        if stop.load(Ordering::Acquire) {
            break "collector stopping".to_owned();
        }
        if buf.len() - end < MIN_READ {
            buf.copy_within(start..end, 0);
            (start, end) = (0, end - start);
            if buf.len() - end < MIN_READ {
                buf.resize(buf.len() * 2, 0);
            }
        }
        let n = match io.read(&mut buf[end..]) {
            Ok(0) => break "peer closed".to_owned(),
            Ok(n) => n,
            Err(e) if transient(&e) => {
                if uncommitted > 0 {
                    if let Err(e) = commit(shared) {
                        break e;
                    }
                    uncommitted = 0;
                }
                continue;
            }
            Err(e) => break format!("read: {e}"),
        };
        end += n;
        let fmt = match format {
            Some(f) => f,
            None => match Format::detect(&buf[start..end]) {
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
        let mut failed = None;
        {
            let mut dir = shared
                .dir
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            loop {
                let (pdu, used) = match decode_next(fmt, &buf[start..end]) {
                    Ok(Some(x)) => x,
                    Ok(None) => break,
                    Err(e) => {
                        failed = Some(format!("decode: {e}"));
                        break;
                    }
                };
                start += used;
                uncommitted += used;
                if pdu.kind == DecodedKind::Keepalive {
                    let h = PduHeader {
                        liid: "keepalive",
                        xid: uuid::Uuid::nil(),
                        cin: 0,
                        sequence: pdu.sequence,
                        timestamp_ns: crate::time::now_ns(),
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
                if let Err(e) = dir.accept(&stream, &pdu) {
                    failed = Some(e);
                    break;
                }
            }
            // Journal in batches: the probe's resend window covers far more than
            // COMMIT_BYTES, so a crash before a commit loses nothing.
            if failed.is_none()
                && (uncommitted >= COMMIT_BYTES || last_commit.elapsed() >= COMMIT_EVERY)
            {
                if let Err(e) = dir.commit() {
                    failed = Some(e);
                }
                uncommitted = 0;
                last_commit = Instant::now();
            }
        }
        if start == end {
            (start, end) = (0, 0);
        }
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
    // What was accepted is journaled before the connection is let go.
    let end = match commit(shared) {
        Ok(()) => why,
        Err(e) => format!("{why}; {e}"),
    };
    tracing::info!(%peer, reason = %end, "probe connection closed");
    io.finish();
}
