//! daemon (being written).
