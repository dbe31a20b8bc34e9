//! ETSI TS 103 221-1 X1: the interface through which an operator's ADMF
//! provisions this probe as one of its network elements. HTTPS (TLS 1.3,
//! client certificates; the certificate CN must be a configured ADMF), XML
//! request containers read strictly against the schema, each message mapped onto
//! the same provisioning service as the REST API. [`client`] is the ADMF side
//! used by `calea-probe x1`.

pub mod client;
mod error;
mod handler;
pub mod message;
mod server;
mod xml;

pub use error::{ErrorCode, X1Error};
pub use handler::{Reply, X1Service};
pub use server::{router, serve, X1_PATH};
pub use xml::MAX_BODY;
