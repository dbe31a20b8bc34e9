//! Handover: encode matched records in the standard formats and deliver them,
//! losing nothing, over mutually-authenticated TLS.
//!
//! Data flows one way: hand-off rings → [`HandoverEngine`] drain thread (encode,
//! number) → per-destination link thread (TLS; spool while down) → collector.

mod audit_sink;
pub mod ber;
mod engine;
mod error;
pub mod etsi102232;
pub mod format;
mod gate;
mod ipheader;
mod link;
mod metrics;
mod pcapdir;
pub mod pdu;
pub mod sequence;
mod signalling;
pub mod spool;
pub mod x2x3;

pub use audit_sink::AuditSink;
#[cfg(feature = "dpdk")]
pub(crate) use audit_sink::LossAudit;
pub use engine::{DestinationStats, HandoverEngine, HandoverStats, InterceptRoute};
pub use error::HandoverError;
pub use gate::{CallGate, SessionGate, HOLD_MAX_RECORDS, HOLD_MAX_WAIT};
pub use link::LinkTuning;
pub use pdu::{AccessEvent, Identity, ProbeId, SessionReport, SipReport};
