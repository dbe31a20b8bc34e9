//! The X1 listener: the API's mutual-TLS accept loop ([`crate::api::serve_router`])
//! in front of one route, `POST /X1/NE`, whose body is read up to
//! [`MAX_BODY`](super::xml::MAX_BODY) and handed to [`X1Service`].

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Router};
use tokio::net::TcpListener;

use super::error::X1Error;
use super::handler::{Reply, X1Service};
use super::xml::MAX_BODY;
use crate::api::{Peer, Provisioning};

/// The path an ADMF posts X1 requests to.
pub const X1_PATH: &str = "/X1/NE";

/// The X1 router (one route).
pub fn router(service: Arc<X1Service>) -> Router {
    Router::new()
        .route(X1_PATH, post(handle))
        .with_state(service)
}

async fn handle(
    State(service): State<Arc<X1Service>>,
    Extension(peer): Extension<Peer>,
    body: Body,
) -> Response {
    let body = axum::body::to_bytes(body, MAX_BODY).await;
    let reply = tokio::task::spawn_blocking(move || match body {
        Ok(bytes) => service.handle(&peer, &bytes),
        Err(e) => {
            let refused = X1Error::schema(format!("body unreadable or over {MAX_BODY} bytes: {e}"));
            let mut reply = service.top_level(&peer, &refused);
            reply.status = StatusCode::PAYLOAD_TOO_LARGE.as_u16();
            reply
        }
    })
    .await;
    match reply {
        Ok(Reply { status, body }) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "X1 request task failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Serves X1 on `listener` until `shutdown` resolves; failed handshakes (no or
/// untrusted certificate) and connections over the limits are refused as on
/// the API and audited in aggregate as `request_unauthenticated`.
///
/// # Errors
/// Only if accepting on the listener fails persistently.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    service: Arc<X1Service>,
    backend: Arc<dyn Provisioning>,
    metrics: Option<crate::metrics::ProbeMetrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let refusals = crate::api::Refusals {
        interface: "x1",
        backend,
        metrics,
    };
    crate::api::serve_router(listener, tls, router(service), refusals, shutdown).await
}
