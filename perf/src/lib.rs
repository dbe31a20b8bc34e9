//! Benchmarks and traffic generators for calea-probe (`perf/run.sh` drives them).
#![forbid(unsafe_code)]

pub mod loaded;
pub mod signalling;
pub mod timing;
pub mod traffic;
