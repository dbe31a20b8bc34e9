//! The HTTPS accept loop: TLS 1.3 with a REQUIRED client certificate (rustls
//! verifies it against the configured client CA), identity = subject CN. A failed
//! handshake (no certificate, untrusted issuer, wrong protocol) is audited as
//! `request_unauthenticated` here, since no HTTP request ever reaches the router.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::Service;

use super::routes::{router, ApiState, Peer};

/// Longest a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves the API on `listener` until `shutdown` resolves. Connections already
/// accepted finish their current request.
///
/// # Errors
/// Only if accepting on the listener fails persistently (the error is returned).
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    state: Arc<ApiState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state.clone());
    let refused = move |addr: SocketAddr, reason: String| {
        tracing::info!(reason = %reason, "API TLS handshake refused");
        if let Some(m) = &state.metrics {
            m.api_refusals.with_label_values(&["tls_handshake"]).inc();
        }
        let details = serde_json::json!({ "peer": addr.to_string(), "reason": reason });
        state
            .backend
            .audit_refusal(true, "unauthenticated", details);
    };
    serve_router(listener, tls, app, Arc::new(refused), shutdown).await
}

/// Called (on a blocking thread) for each failed TLS handshake with the peer's
/// address and the reason, to audit it.
pub type HandshakeRefused = Arc<dyn Fn(SocketAddr, String) + Send + Sync>;

/// The mutual-TLS accept loop shared by the API and X1: each request reaches
/// `app` with the connection's [`Peer`] as an extension; `refused` records
/// every failed handshake. Runs until `shutdown` resolves.
///
/// # Errors
/// Only if accepting on the listener fails persistently (the error is returned).
pub async fn serve_router(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: axum::Router,
    refused: HandshakeRefused,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    tokio::pin!(shutdown);
    loop {
        let (tcp, addr) = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        let refused = refused.clone();
        tokio::spawn(async move {
            serve_connection(acceptor, tcp, addr, app, refused).await;
        });
    }
}

async fn serve_connection(
    acceptor: TlsAcceptor,
    tcp: tokio::net::TcpStream,
    addr: SocketAddr,
    app: axum::Router,
    refused: HandshakeRefused,
) {
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => return refuse_handshake(refused, addr, e.to_string()).await,
        Err(_) => return refuse_handshake(refused, addr, "handshake timed out".into()).await,
    };
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
    let service = tower::service_fn(move |mut req: axum::http::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(peer.clone());
        app.clone().call(req)
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(tls), TowerToHyperService::new(service));
    if let Err(e) = conn.await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

async fn refuse_handshake(refused: HandshakeRefused, addr: SocketAddr, reason: String) {
    let _ = tokio::task::spawn_blocking(move || refused(addr, reason)).await;
}
