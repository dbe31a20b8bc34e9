//! The HTTPS provisioning API: REST/JSON over TLS 1.3 with client certificates.
//! Identity is the certificate's subject CN, mapped to a [`Role`] by configuration;
//! every refusal is audited. The probe behind it is a [`Provisioning`]
//! implementation (the daemon's controller).

mod backend;
mod error;
mod role;
mod routes;
mod server;

pub use backend::{Provisioned, Provisioning};
pub use error::{ApiError, Refusal};
pub use role::{Permission, Role};
pub use routes::{router, ApiState, Peer, ROUTES};
pub use server::{serve, serve_router, HandshakeRefused};
