//! The HTTPS accept loop: TLS 1.3 with a REQUIRED client certificate (rustls
//! verifies it against the configured client CA), identity = subject CN. A failed
//! handshake (no certificate, untrusted issuer, wrong protocol, too slow) or a
//! connection over a limit is refused here, since no HTTP request ever reaches
//! the router, and audited in aggregate ([`super::refusals`]).
//!
//! Under a flood the loop holds bounded work: connections in all and per
//! source, handshakes in flight, and how long a connection may take to finish
//! its handshake and each request's headers (also between keep-alive requests).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tower::Service;

use super::backend::Provisioning;
use super::refusals::{Reason, RefusalAudit, Source};
use super::routes::{router, ApiState, Peer};

/// Longest a client may take to complete the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest a connection may take to send a request's headers, counted from the
/// handshake or the previous response (so it is also the keep-alive idle limit).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Open connections (handshaking or established); more are closed at once.
pub const MAX_CONNECTIONS: usize = 1024;
/// TLS handshakes in flight; more connections are closed at once.
pub const MAX_HANDSHAKES: usize = 256;
/// Open connections from one source (IPv4 address or IPv6 /64).
pub const MAX_CONNECTIONS_PER_SOURCE: usize = 32;
/// Threads of the runtime's blocking pool, where every store call and audit
/// write runs: more requests wait for a thread instead of adding one.
pub const BLOCKING_THREADS: usize = 32;

/// Serves the API on `listener` until `shutdown` resolves. Connections already
/// accepted finish their current request; pending refusal counts are audited
/// before this returns.
///
/// # Errors
/// Only if accepting on the listener fails persistently (the error is returned).
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    state: Arc<ApiState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let refusals = Refusals {
        interface: "api",
        backend: state.backend.clone(),
        metrics: state.metrics.clone(),
    };
    serve_router(listener, tls, router(state), refusals, shutdown).await
}

/// Where a listener's refusals before authentication go: the audit log (in
/// aggregate) and the refusal metric.
#[derive(Clone)]
pub struct Refusals {
    /// The listener, named in each audit record (`api`, `x1`).
    pub interface: &'static str,
    /// Writes the aggregated audit records.
    pub backend: Arc<dyn Provisioning>,
    /// Counts refusals by reason.
    pub metrics: Option<crate::metrics::ProbeMetrics>,
}

/// The mutual-TLS accept loop shared by the API and X1, with the same limits
/// for both: each request reaches `app` with the connection's [`Peer`] as an
/// extension. Runs until `shutdown` resolves; pending refusal counts are
/// audited before it returns.
///
/// # Errors
/// Only if accepting on the listener fails persistently (the error is returned).
pub async fn serve_router(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: axum::Router,
    sink: Refusals,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    let admission = Arc::new(Admission::default());
    let refusals = Arc::new(RefusalAudit::new(sink.interface));
    let (stop_writer, writer_stopped) = tokio::sync::oneshot::channel::<()>();
    let writer = tokio::spawn(refusals.clone().run(sink.backend.clone(), async move {
        let _ = writer_stopped.await;
    }));
    tokio::pin!(shutdown);
    loop {
        let (tcp, addr) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "API accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let source = Source::of(addr.ip());
        let Some(slot) = admission.admit(source) else {
            drop(tcp);
            refuse(&sink, &refusals, source, Reason::ConnectionLimit, || {
                "too many connections".into()
            });
            continue;
        };
        let conn = Connection {
            acceptor: acceptor.clone(),
            app: app.clone(),
            sink: sink.clone(),
            refusals: refusals.clone(),
        };
        tokio::spawn(conn.serve(tcp, addr, source, slot));
    }
    let _ = stop_writer.send(());
    let _ = writer.await;
    Ok(())
}

/// Counts a refusal (metric labelled by reason only) and aggregates its audit.
fn refuse(
    sink: &Refusals,
    refusals: &RefusalAudit,
    source: Source,
    reason: Reason,
    message: impl FnOnce() -> String,
) {
    tracing::debug!(
        interface = sink.interface,
        reason = reason.as_str(),
        "connection refused"
    );
    if let Some(m) = &sink.metrics {
        m.api_refusals.with_label_values(&[reason.as_str()]).inc();
    }
    refusals.record(source, reason, message);
}

/// The connection limits.
struct Admission {
    open: Arc<Semaphore>,
    handshakes: Arc<Semaphore>,
    per_source: Arc<Mutex<HashMap<Source, usize>>>,
}

impl Default for Admission {
    fn default() -> Self {
        Self {
            open: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            handshakes: Arc::new(Semaphore::new(MAX_HANDSHAKES)),
            per_source: Arc::default(),
        }
    }
}

/// What one admitted connection holds; dropping it frees its places.
struct Slot {
    _open: OwnedSemaphorePermit,
    handshake: Option<OwnedSemaphorePermit>,
    source: Source,
    per_source: Arc<Mutex<HashMap<Source, usize>>>,
}

impl Admission {
    /// Places for a new connection from `source`, or None if any limit is reached.
    fn admit(&self, source: Source) -> Option<Slot> {
        let open = self.open.clone().try_acquire_owned().ok()?;
        let handshake = self.handshakes.clone().try_acquire_owned().ok()?;
        let mut counts = self
            .per_source
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(source).or_insert(0);
        if *count >= MAX_CONNECTIONS_PER_SOURCE {
            return None;
        }
        *count += 1;
        Some(Slot {
            _open: open,
            handshake: Some(handshake),
            source,
            per_source: self.per_source.clone(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self
            .per_source
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.source) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.source);
            }
        }
    }
}

/// What every connection task shares.
struct Connection {
    acceptor: TlsAcceptor,
    app: axum::Router,
    sink: Refusals,
    refusals: Arc<RefusalAudit>,
}

impl Connection {
    async fn serve(
        self,
        tcp: tokio::net::TcpStream,
        addr: SocketAddr,
        source: Source,
        mut slot: Slot,
    ) {
        let refused = |reason, message: String| {
            refuse(&self.sink, &self.refusals, source, reason, || message);
        };
        let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor.accept(tcp)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => return refused(Reason::of_handshake(&e), e.to_string()),
            Err(_) => return refused(Reason::HandshakeTimeout, "handshake timed out".into()),
        };
        slot.handshake = None;
        let cn = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|certs| certs.first())
            .and_then(crate::tls::subject_cn)
            .unwrap_or_default();
        let peer = Peer {
            cn,
            addr: addr.to_string(),
        };
        let app = self.app;
        let service =
            tower::service_fn(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(peer.clone());
                app.clone().call(req)
            });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .serve_connection(TokioIo::new(tls), TowerToHyperService::new(service));
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "API connection ended with an error");
        }
    }
}
