//! etsi102232 (being written).
