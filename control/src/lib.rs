//! calea-probe control plane: everything off the per-packet path — configuration,
//! the intercept model, SQLite state, the tamper-evident audit log, the HTTPS
//! provisioning API, handover (encoding, TLS delivery, spool) and metrics.
//!
//! The `demo` feature (off by default) adds `demo` (`calea-probe demo`) and
//! `pki` (a throw-away CA for tests, the demo and `calea-probe certs`).
#![forbid(unsafe_code)]

pub mod api;
pub mod audit;
pub mod client;
pub mod collector;
pub mod config;
#[cfg(feature = "dpdk")]
pub mod daemon;
#[cfg(feature = "demo")]
pub mod demo;
pub mod doctor;
pub mod error;
pub mod handover;
pub mod metrics;
pub mod model;
pub mod outdir;
#[cfg(feature = "demo")]
pub mod pki;
pub mod sessions;
pub mod store;
pub mod time;
pub mod tls;
pub mod voice;
pub mod x1;
