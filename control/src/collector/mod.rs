//! The sample collection function behind `calea-collector`: a TLS 1.3 server that
//! requires a client certificate, detects each connection's format (BER PS-PDU
//! vs X2/X3), decodes every PDU, answers keepalives, drops duplicates and counts
//! gaps by sequence number per (LIID/XID, stream), and writes per LIID
//! `content.pcap`, `headers.pcap`, `iri.jsonl` and the calls of voice
//! warrants (`calls.jsonl`, `calls/<cin>/`) crash-consistently, in
//! `OUT/liid/<encoded LIID>/` ([`liid_dir`]).
//!
//! The stream of a connection is the client certificate's subject CN (the
//! probe's identity), or `plaintext`.

mod conn;
mod tlsio;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::outdir::{
    liid_dir, raise_open_files_limit, CallRecord, EndReason, LiidSummary, OutDir, Phase, RtpFlow,
    SdpMedia, Side, DEFAULT_MAX_OPEN,
};
pub use tlsio::BulkTls;

/// Why the collector could not start or write.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CollectorError {
    /// Listening socket or output directory.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// How the collector runs.
#[derive(Clone, Debug)]
pub struct CollectorOptions {
    /// Address to listen on (port 0 = any free port).
    pub listen: SocketAddr,
    /// Output directory (one subdirectory of `out/liid/` per LIID/XID).
    pub out: PathBuf,
    /// LIIDs whose files are kept open at once (4 descriptors each).
    pub max_open_liids: usize,
    /// TLS server configuration (client certificate required); `None` = plaintext.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// Everything received, per LIID/XID directory.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Per LIID (or XID).
    pub liids: BTreeMap<String, LiidSummary>,
    /// The directory of each LIID (or XID).
    #[serde(default)]
    pub directories: BTreeMap<String, PathBuf>,
    /// Connections whose bytes could not be decoded (closed).
    pub decode_errors: u64,
    /// TLS handshakes refused.
    pub handshake_failures: u64,
}

/// State shared by all connections.
pub(crate) struct Shared {
    dir: Mutex<OutDir>,
    decode_errors: AtomicU64,
    handshake_failures: AtomicU64,
}

impl Shared {
    fn summary(&self) -> Summary {
        let dir = self
            .dir
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Summary {
            liids: dir.summaries(),
            directories: dir.directories(),
            decode_errors: self.decode_errors.load(Ordering::Relaxed),
            handshake_failures: self.handshake_failures.load(Ordering::Relaxed),
        }
    }
}

/// A bound collector.
pub struct Collector {
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    shared: Arc<Shared>,
}

impl Collector {
    /// Binds the listener and resumes the output of every LIID already in `out`
    /// (truncating data files back to their journals).
    ///
    /// # Errors
    /// The address cannot be bound or the output directory cannot be used.
    pub fn bind(opts: CollectorOptions) -> Result<Self, CollectorError> {
        let io = |what: String| move |source| CollectorError::Io { what, source };
        let dir = OutDir::open(&opts.out, opts.max_open_liids)
            .map_err(|(what, source)| CollectorError::Io { what, source })?;
        let listener =
            TcpListener::bind(opts.listen).map_err(io(format!("listen {}", opts.listen)))?;
        listener
            .set_nonblocking(true)
            .map_err(io("listener".into()))?;
        Ok(Collector {
            listener,
            tls: opts.tls,
            shared: Arc::new(Shared {
                dir: Mutex::new(dir),
                decode_errors: AtomicU64::new(0),
                handshake_failures: AtomicU64::new(0),
            }),
        })
    }

    /// The bound address.
    ///
    /// # Errors
    /// The OS cannot report it.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts connections until `stop` is set, then lets open connections finish
    /// what they received, commits every journal and returns the summary.
    pub fn run(&self, stop: &Arc<AtomicBool>) -> Summary {
        let mut handles: Vec<thread::JoinHandle<()>> = Vec::new();
        while !stop.load(Ordering::Acquire) {
            match self.listener.accept() {
                Ok((sock, peer)) => {
                    let shared = Arc::clone(&self.shared);
                    let tls = self.tls.clone();
                    let stop = Arc::clone(stop);
                    let spawned = thread::Builder::new()
                        .name("collector-conn".into())
                        .spawn(move || conn::serve(sock, peer, tls, &shared, &stop));
                    match spawned {
                        Ok(h) => handles.push(h),
                        Err(e) => tracing::error!(error = %e, "cannot start connection thread"),
                    }
                    handles.retain(|h| !h.is_finished());
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    thread::sleep(Duration::from_millis(20));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    thread::sleep(Duration::from_millis(20));
                }
            }
        }
        for h in handles {
            let _joined = h.join();
        }
        self.shared.summary()
    }

    /// The summary so far.
    pub fn summary(&self) -> Summary {
        self.shared.summary()
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{:<28} {:>10} {:>10} {:>10} {:>8} {:>10} {:>8}  directory",
            "LIID/XID", "pdus", "content", "headers", "iri", "duplicates", "gaps"
        )?;
        for (k, s) in &self.liids {
            // An LIID off the wire may hold control characters.
            let liid = k.escape_debug().to_string();
            let dir = self
                .directories
                .get(k)
                .map(|d| d.display().to_string())
                .unwrap_or_default();
            writeln!(
                f,
                "{:<28} {:>10} {:>10} {:>10} {:>8} {:>10} {:>8}  {}",
                liid, s.pdus, s.content_packets, s.header_reports, s.iri, s.duplicates, s.gaps, dir
            )?;
        }
        write!(
            f,
            "decode errors: {}, refused handshakes: {}",
            self.decode_errors, self.handshake_failures
        )
    }
}
