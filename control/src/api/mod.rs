//! The HTTPS provisioning API: REST/JSON over TLS 1.3 with client certificates.
//! Identity is the certificate's subject CN, mapped to a [`Role`] by configuration;
//! every refusal is audited. The probe behind it is a [`Provisioning`]
//! implementation (the daemon's controller).

mod backend;
mod error;
pub(crate) mod refusals;
mod role;
mod routes;
mod server;

pub use backend::{Provisioned, Provisioning};
pub use error::{ApiError, Refusal};
pub use role::{Permission, Role};
pub use routes::{router, ApiState, Peer, MAX_AUDIT_PAGE, MAX_BODY, ROUTES};
pub use server::{
    serve, serve_router, Refusals, BLOCKING_THREADS, HANDSHAKE_TIMEOUT, HEADER_TIMEOUT,
    MAX_CONNECTIONS, MAX_CONNECTIONS_PER_SOURCE, MAX_HANDSHAKES,
};
