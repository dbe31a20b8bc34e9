//! calea-probe control plane: everything off the per-packet path — configuration,
//! the intercept model, SQLite state, the tamper-evident audit log, the HTTPS
//! provisioning API, handover (encoding, TLS delivery, spool) and metrics.
#![forbid(unsafe_code)]

pub mod api;
pub mod audit;
pub mod client;
pub mod collector;
pub mod config;
#[cfg(feature = "dpdk")]
pub mod daemon;
pub mod demo;
pub mod doctor;
pub mod error;
pub mod handover;
pub mod metrics;
pub mod model;
pub mod outdir;
pub mod pki;
pub mod sessions;
pub mod store;
pub mod time;
pub mod tls;
pub mod voice;
pub mod x1;
