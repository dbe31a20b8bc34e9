//! collector (being written).
